//! A synthetic recording that exercises every section.
#![allow(dead_code)]

use super::{hdr, Builder};
use memtrace_schema::tables::{oom, paf, pr, procstat, sysstat};
use memtrace_schema::Text;

pub const START: i64 = 1_000_000_000_000;
pub const SEC: i64 = 1_000_000_000;
const MIB: u64 = 1 << 20;

/// Deterministic pseudo-random numbers.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn ps(reason: &'static str, anon: u64, file: u64, shmem: u64) -> procstat::procstat::Row {
    procstat::procstat::Row {
        reason: reason.into(),
        vsize: 10 * anon + 100 * MIB,
        rss_peak: anon + file + shmem,
        rss_anon: anon,
        rss_file: file,
        rss_shmem: shmem,
        swap: anon / 16,
        data: anon + MIB,
        stack: 132 * 1024,
        pgtables: anon / 512 + 4096,
    }
}

/// `scale` multiplies the number of high-rate rows (reclaim passes, slab calls).
pub fn build(scale: usize) -> Builder {
    let mut b = Builder::new(START, START + 60 * SEC);
    let mut rng = Rng::new(42);
    // procstat
    for i in 0..30i64 {
        let t = START + i * 2 * SEC + 1000;
        let noise = rng.below(64) * 4096;
        b.add(
            hdr(t, 100, 100, "leaky"),
            &ps("switch", 50 * MIB + i as u64 * MIB + noise, 10 * MIB, MIB),
        );
        b.add(
            hdr(t + 7, 101, 101, "leaky"),
            &ps("switch", 20 * MIB + i as u64 * 64 * 1024, 5 * MIB, 0),
        );
    }
    for i in 0..12i64 {
        let t = START + i * 5 * SEC + 333;
        let osc = if i % 2 == 0 { 0 } else { 3 * MIB };
        b.add(
            hdr(t, 200, 200, "steady"),
            &ps("switch", 80 * MIB + osc, 30 * MIB, 2 * MIB),
        );
    }
    for i in 0..25i64 {
        let t = START + i * 2 * SEC + 500;
        b.add(
            hdr(t, 300, 300, "victim"),
            &ps("switch", 100 * MIB + i as u64 * 40 * MIB, 8 * MIB, 0),
        );
    }
    b.add(
        hdr(START + 50 * SEC + 100, 300, 300, "victim"),
        &ps("exit", 0, 0, 0),
    );
    // Threads of "steady" with their own names; "short" execs into "shorter".
    b.add(
        hdr(START + 7 * SEC, 201, 200, "worker#1"),
        &ps("switch", 80 * MIB, 30 * MIB, 2 * MIB),
    );
    b.add(
        hdr(START + 8 * SEC, 202, 200, "worker#2"),
        &ps("switch", 81 * MIB, 30 * MIB, 2 * MIB),
    );
    b.add(
        hdr(START + 9 * SEC, 451, 450, "nolead"),
        &ps("switch", MIB, 0, 0),
    );
    b.add(
        hdr(START + 5 * SEC, 400, 400, "shorter"),
        &ps("switch", 3 * MIB, MIB, 0),
    );
    b.add(
        hdr(START + 6 * SEC, 401, 400, "helper"),
        &ps("switch", 3 * MIB, MIB, 0),
    );
    b.add(
        hdr(START + 3 * SEC, 400, 400, "short"),
        &ps("switch", MIB, MIB, 0),
    );
    // Out of file order on purpose.
    b.add(
        hdr(START + SEC, 400, 400, "short"),
        &ps("switch", 2 * MIB, MIB, 0),
    );

    // sysstat + zone interval rows, 2 nodes.
    for s in 0..=60i64 {
        for node in 0..2u32 {
            let t = START + s * SEC + i64::from(node);
            let trig: &'static str = if s == 0 {
                "start"
            } else if s == 60 {
                "end"
            } else {
                "interval"
            };
            let free = 200_000u64.saturating_sub(s as u64 * 3000) + rng.below(500);
            b.add(
                hdr(t, 0, 0, "memrec"),
                &sysstat::sysstat::Row {
                    node,
                    trigger: trig.into(),
                    nr_free_pages: free,
                    nr_active_anon: 100_000 + s as u64 * 2500,
                    nr_inactive_anon: 50_000 + rng.below(1000),
                    nr_active_file: 80_000 - s as u64 * 100,
                    nr_inactive_file: 60_000,
                    nr_unevictable: 10,
                    nr_dirty: rng.below(2000),
                    nr_writeback: rng.below(50),
                    nr_writeback_temp: if s % 7 == 0 { None } else { Some(0) },
                    nr_anon_pages: 140_000 + s as u64 * 2400,
                    nr_mapped: 30_000,
                    nr_file_pages: 150_000,
                    nr_shmem: 5_000,
                    nr_kernel_misc_reclaimable: 0,
                    nr_slab_reclaimable: 20_000 + rng.below(100),
                    nr_slab_unreclaimable: 15_000,
                    nr_anon_transparent_hugepages: s as u64 / 10,
                    nr_shmem_hugepages: 0,
                },
            );
            for (zname, zidx, share) in [("DMA32", 1u32, 4u64), ("Normal", 2u32, 1u64)] {
                let zfree = free / (share + 1);
                b.add(
                    hdr(t, 0, 0, "memrec"),
                    &sysstat::zone::Row {
                        node,
                        zone: zname.into(),
                        zone_idx: zidx,
                        trigger: trig.into(),
                        free: zfree,
                        min: 8_000,
                        low: 10_000,
                        high: 12_000,
                        promo: 14_000,
                        boost: 0,
                        spanned: 1_000_000,
                        present: 1_000_000,
                        managed: 980_000,
                        cma: if zidx == 2 { 4096 } else { 0 },
                        free_cma: if zidx == 2 { 2000 } else { 0 },
                        reserved_highatomic: 0,
                        reserve: None,
                        ..buddy(zfree)
                    },
                );
            }
        }
    }

    // Allocation failures with their zone snapshots.
    let fails: [(i64, u32, &str, i32, &str, &str, &str); 4] = [
        (
            40,
            0,
            "GFP_KERNEL",
            0,
            "MIGRATE_UNMOVABLE",
            "Normal",
            "kworker/0:1",
        ),
        (
            45,
            3,
            "GFP_HIGHUSER_MOVABLE|__GFP_COMP",
            1,
            "MIGRATE_MOVABLE",
            "Normal",
            "victim",
        ),
        (
            47,
            2,
            "GFP_KERNEL|__GFP_COMP",
            0,
            "MIGRATE_UNMOVABLE",
            "DMA32",
            "victim",
        ),
        (
            48,
            0,
            "GFP_KERNEL",
            0,
            "MIGRATE_UNMOVABLE",
            "Normal",
            "kworker/0:1",
        ),
    ];
    for (k, &(s, order, gfp, mt, mtn, hz, comm)) in fails.iter().enumerate() {
        let t = START + s * SEC + 12345;
        let tg = if comm == "victim" { 300 } else { 50 };
        b.add(
            hdr(t, tg, tg, comm),
            &paf::paf::Row {
                order,
                gfp_flags: 0xcc0,
                gfp: Text::from(gfp.to_string()),
                migratetype: mt,
                migratetype_name: Text::from(mtn.to_string()),
                highest_zone: Text::from(hz.to_string()),
                node: 0,
            },
        );
        for node in 0..2u32 {
            for (zname, zidx) in [("DMA32", 1u32), ("Normal", 2u32)] {
                // Failure 1 (k = 1): plenty free -> fragmentation; others short.
                let free = match (k, zidx) {
                    (1, _) => 50_000,
                    (0, 2) => 9_000, // 9000 - 2000 CMA = 7000 <= 8000
                    (0, _) => 8_000,
                    (3, 1) => 20_000, // reserve 15000 -> 20000 <= 23000
                    _ => 7_000,
                };
                b.add(
                    hdr(t, tg, tg, comm),
                    &sysstat::zone::Row {
                        node,
                        zone: zname.into(),
                        zone_idx: zidx,
                        trigger: "alloc_fail".into(),
                        free,
                        min: 8_000,
                        low: 10_000,
                        high: 12_000,
                        promo: 14_000,
                        boost: 0,
                        spanned: 1_000_000,
                        present: 1_000_000,
                        managed: 980_000,
                        cma: if zidx == 2 { 4096 } else { 0 },
                        free_cma: if zidx == 2 { 2000 } else { 0 },
                        reserved_highatomic: 0,
                        reserve: Some(if zidx == 1 && hz == "Normal" {
                            15_000
                        } else {
                            0
                        }),
                        ..buddy(free)
                    },
                );
            }
        }
        for j in 0..3i64 {
            let tt = t - (j + 1) * SEC / 2;
            b.add(
                hdr(tt, tg, tg, comm),
                &paf::reclaim_retry::Row {
                    node: 0,
                    zone: "Normal".into(),
                    order: order as i32,
                    reclaimable: 1000,
                    available: 9000,
                    min_wmark: 8000,
                    no_progress_loops: j as i32,
                    wmark_check: j != 2,
                },
            );
            b.add(
                hdr(tt + 10, tg, tg, comm),
                &paf::compact_suitable::Row {
                    node: 0,
                    zone: "Normal".into(),
                    order: order as i32,
                    result: if j == 0 {
                        "continue".into()
                    } else {
                        "skipped".into()
                    },
                    result_code: if j == 0 { 1 } else { 2 },
                },
            );
        }
        if order > 0 {
            b.add(
                hdr(t - 100_000, tg, tg, comm),
                &paf::compact_try::Row {
                    order: order as i32,
                    gfp_flags: 0xcc0,
                    gfp: Text::from(gfp.to_string()),
                    priority: 1,
                },
            );
        }
    }

    // Reclaim.
    let n_passes = 2000 * scale;
    for i in 0..n_passes {
        let t = START + 20 * SEC + (i as i64 * 40 * SEC) / n_passes as i64;
        let (who, tg, comm): (&'static str, u32, &str) = match i % 5 {
            0..=2 => ("kswapd", 80, "kswapd0"),
            3 => ("direct", 300, "victim"),
            _ => ("memcg", 100, "leaky"),
        };
        let lru: &'static str = if i % 2 == 0 { "file" } else { "anon" };
        let scanned = 32 + rng.below(32);
        let reclaimed = rng.below(scanned + 1);
        b.add(
            hdr(t, tg, tg, comm),
            &pr::lru_inactive::Row {
                node: (i % 2) as i32,
                reclaimer: who.into(),
                lru: lru.into(),
                priority: 12 - (rng.below(4) as i32),
                nr_scanned: scanned,
                nr_reclaimed: reclaimed,
                nr_dirty: rng.below(4),
                nr_writeback: rng.below(3),
                nr_congested: rng.below(2),
                nr_immediate: rng.below(2),
                nr_activate_anon: 1,
                nr_activate_file: 2,
                nr_ref_keep: 3,
                nr_unmap_fail: 0,
            },
        );
        if i % 3 == 0 {
            b.add(
                hdr(t + 5, tg, tg, comm),
                &pr::lru_active::Row {
                    node: 0,
                    reclaimer: who.into(),
                    lru: lru.into(),
                    priority: 12,
                    nr_taken: 64,
                    nr_active: 10,
                    nr_deactivated: 54,
                    nr_referenced: 20,
                },
            );
        }
    }
    // Direct and memcg reclaim pairs.
    let n_pairs = 300 * scale;
    for i in 0..n_pairs {
        let t = START + 25 * SEC + (i as i64 * 30 * SEC) / n_pairs as i64;
        let (who, tg, comm): (&'static str, u32, &str) = if i % 3 == 0 {
            ("memcg", 100, "leaky")
        } else {
            ("direct", 300 + (i % 2) as u32, "victim")
        };
        let d = 1000 + rng.below(5_000_000) as i64;
        b.add(
            hdr(t, tg, tg, comm),
            &pr::reclaim_begin::Row {
                reclaimer: who.into(),
                order: Some(0),
                gfp_flags: 0xcc0,
                gfp: "GFP_KERNEL".into(),
                node: None,
            },
        );
        b.add(
            hdr(t + d, tg, tg, comm),
            &pr::reclaim_end::Row {
                reclaimer: who.into(),
                nr_reclaimed: rng.below(100),
                begin_ts_ns: Some(t),
                duration_ns: Some(d),
            },
        );
    }
    // An end whose begin was before the recording.
    b.add(
        hdr(START + 100, 300, 300, "victim"),
        &pr::reclaim_end::Row {
            reclaimer: "direct".into(),
            nr_reclaimed: 5,
            begin_ts_ns: None,
            duration_ns: None,
        },
    );
    // kswapd: node 0 awake at start (first event sleep), node 1 wakes and stays awake.
    let kev: [(i64, &'static str, i32); 7] = [
        (2, "sleep", 0),
        (10, "wake", 0),
        (11, "wakeup", 0),
        (12, "wake", 0),
        (30, "sleep", 0),
        (35, "wake", 1),
        (41, "wakeup", 1),
    ];
    for (s, ev, node) in kev {
        b.add(
            hdr(
                START + s * SEC,
                80 + node as u32,
                80 + node as u32,
                &format!("kswapd{node}"),
            ),
            &pr::kswapd::Row {
                event: ev.into(),
                node,
                zone: if ev == "sleep" {
                    None
                } else {
                    Some("Normal".into())
                },
                order: if ev == "sleep" { None } else { Some(0) },
                gfp_flags: if ev == "wakeup" { Some(0xcc0) } else { None },
                gfp: if ev == "wakeup" {
                    Some("GFP_KERNEL".into())
                } else {
                    None
                },
            },
        );
    }
    // Slab shrinkers.
    let n_slab = 500 * scale;
    for i in 0..n_slab {
        let t = START + 20 * SEC + (i as i64 * 35 * SEC) / n_slab as i64;
        let name: &'static str = [
            "super_cache_scan",
            "deferred_split_scan",
            "kfree_rcu_shrink_scan",
        ][i % 3];
        let d = 500 + rng.below(200_000) as i64;
        b.add(
            hdr(t, 80, 80, "kswapd0"),
            &pr::slab_start::Row {
                shrinker: 0xffff_0000 + (i % 3) as u64,
                shrinker_fn: name.into(),
                node: 0,
                priority: 12,
                nr_objects_to_shrink: 0,
                gfp_flags: 0xcc0,
                gfp: "GFP_KERNEL".into(),
                cache_items: 1000,
                delta: 100,
                total_scan: 100,
            },
        );
        let timed = i % 50 != 7;
        b.add(
            hdr(t + d, 80, 80, "kswapd0"),
            &pr::slab_end::Row {
                shrinker: 0xffff_0000 + (i % 3) as u64,
                shrinker_fn: name.into(),
                node: 0,
                freed: rng.below(100) as i32,
                unused_scan: 0,
                new_scan: 0,
                total_scan: 100,
                begin_ts_ns: if timed { Some(t) } else { None },
                duration_ns: if timed { Some(d) } else { None },
            },
        );
    }
    // OOM kill of the victim.
    b.add(
        hdr(START + 50 * SEC, 301, 300, "victim"),
        &oom::oom_victim::Row {
            victim_pid: 300,
            victim_comm: Some("victim".into()),
            uid: Some(1000),
            total_vm: Some(2000 * MIB),
            anon_rss: Some(1050 * MIB),
            file_rss: Some(8 * MIB),
            shmem_rss: Some(0),
            pgtables: Some(3 * MIB),
            oom_score_adj: Some(0),
            load1: 1.5,
            load5: 1.0,
            load15: 0.5,
            ..Default::default()
        },
    );
    b.count();
    // Some losses in the pr group.
    for p in b
        .meta
        .probes
        .iter_mut()
        .filter(|p| p.program == "handle_lru_inactive")
    {
        p.lost = 7;
    }
    for g in b.meta.groups.iter_mut().filter(|g| g.name == "pr") {
        g.lost = 7;
    }
    b
}

/// A zone's free pages as buddy blocks: order-9 blocks and single pages.
fn buddy(free: u64) -> sysstat::zone::Row {
    sysstat::zone::Row {
        orders: 11,
        free_blocks_0: Some(free % 512),
        free_blocks_1: Some(0),
        free_blocks_2: Some(0),
        free_blocks_3: Some(0),
        free_blocks_4: Some(0),
        free_blocks_5: Some(0),
        free_blocks_6: Some(0),
        free_blocks_7: Some(0),
        free_blocks_8: Some(0),
        free_blocks_9: Some(free / 512),
        free_blocks_10: Some(0),
        ..Default::default()
    }
}
