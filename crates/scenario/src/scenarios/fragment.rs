//! fragment: free memory is fragmented, then high-order pages are asked for.
//!
//! A worker touches a large region of base pages and frees every other
//! page, leaving holes that cannot form an order-9 block. Then the huge
//! page pool is raised by as many pages as there are free order>=9 blocks
//! (plus memory not yet handed to the buddy allocator, which lazily
//! initialising kernels have), plus a bounded extra: the extra pages can
//! only come from compacting the worker's region (direct compaction:
//! `compact_stall`, `compact_success`/`compact_fail`, migrate/free
//! scanning). The extra is a small part of the holes, so the system keeps
//! most of the freed half of the region as free memory throughout.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{event_u64, memcg_name, mib, spawn_worker, RunConfig, ScenarioName, GIB, MIB};
use crate::hugetlb::{HugepagePool, NR_HUGEPAGES};
use crate::procfs;
use crate::supervise::Waited;
use crate::truth::{Delta, FragmentRound, FragmentTruth, GroundTruth};
use crate::worker::COMM_FRAGMENT;

const MAX_ROUNDS: usize = 4;

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let s = cfg.scale;
    let meminfo = procfs::read_meminfo()?;
    let avail_kb = procfs::meminfo_value(&meminfo, "MemAvailable")?;
    let total_kb = procfs::meminfo_value(&meminfo, "MemTotal")?;
    let huge_kb = procfs::meminfo_value(&meminfo, "Hugepagesize")?;
    if huge_kb == 0 {
        bail!("Hugepagesize is 0: no hugetlb support");
    }
    let page = crate::sys::page_size();
    let huge_bytes = huge_kb * 1024;
    let order = (huge_bytes / page).trailing_zeros() as usize;
    let region = (avail_kb * 1024 / 4).min(s.pick(GIB, 4 * GIB)) / huge_bytes * huge_bytes;
    if region < 64 * MIB {
        bail!(
            "only {} kB available: too little memory to fragment",
            avail_kb
        );
    }
    // Pages beyond the unfragmented memory: at most 1/8 of the region (a
    // quarter of its holes), at most 128.
    let extra = (region / huge_bytes / 8).min(s.pick(32, 128));

    let memcg = cfg.memcgs.create(&memcg_name(ScenarioName::Fragment))?;
    let mut pool = HugepagePool::save()?;
    let original = pool.original();
    let pool_cap = original + total_kb / huge_kb;

    truth.begin(Some(&memcg))?;
    let stall_before = truth.before.as_ref().map_or(0, |b| b.vm("compact_stall"));
    let mut w = spawn_worker(
        &["fragment", "--bytes", &region.to_string()],
        COMM_FRAGMENT,
        Some(&memcg),
        Duration::from_millis(500),
    )?;
    let deadline = Instant::now() + Duration::from_secs(s.pick(90, 240));
    let mut rounds = Vec::new();
    let mut compact_written = false;
    if let Waited::Event = w.wait_for(Some("fragmented"), deadline)? {
        w.sample_now();
        for _ in 0..MAX_ROUNDS {
            crate::sys::check_interrupted()?;
            let buddy = procfs::read_buddyinfo()?;
            let free9 = procfs::free_blocks_of_order(&buddy, order);
            let zones = procfs::parse_zoneinfo(&procfs::read_text("/proc/zoneinfo")?);
            let zone_free: u64 = zones.iter().filter_map(|z| z.free).sum();
            let memfree_pages =
                procfs::meminfo_value(&procfs::read_meminfo()?, "MemFree")? * 1024 / page;
            let uninit = memfree_pages.saturating_sub(zone_free) / (huge_bytes / page);
            let current = procfs::read_u64(NR_HUGEPAGES)?;
            let requested = (current + free9 + uninit + extra).min(pool_cap);
            let t = Instant::now();
            tracing::info!(
                current,
                free9,
                uninit,
                extra,
                requested,
                "raising the huge page pool"
            );
            let allocated = pool.request(requested)?;
            rounds.push(FragmentRound {
                free_order9_blocks: free9,
                uninitialised_hugepages: uninit,
                requested,
                allocated,
                seconds: t.elapsed().as_secs_f64(),
            });
            let stall = procfs::read_vmstat()?
                .get("compact_stall")
                .copied()
                .unwrap_or(0);
            // Done once compaction ran or the kernel could give no more.
            if stall > stall_before || allocated < requested || requested >= pool_cap {
                break;
            }
        }
        if cfg.compact_memory {
            procfs::write_text("/proc/sys/vm/compact_memory", "1")?;
            compact_written = true;
        }
    }
    let restored = pool.restore()?;
    w.finish(deadline + Duration::from_secs(10))?;
    truth.end(Some(&memcg))?;
    truth.add_worker(&w);

    let d = |n: &str| truth.vm_delta(n);
    let sec = FragmentTruth {
        region_bytes: region,
        freed_bytes: event_u64(&w, "fragmented", "freed_bytes"),
        nr_hugepages_original: original,
        rounds,
        nr_hugepages_restored: restored,
        compact_memory_written: compact_written,
        compact_stall: d("compact_stall")?,
        compact_fail: d("compact_fail")?,
        compact_success: d("compact_success")?,
        compact_migrate_scanned: d("compact_migrate_scanned")?,
        compact_free_scanned: d("compact_free_scanned")?,
        compact_isolated: d("compact_isolated")?,
        htlb_buddy_alloc_fail: d("htlb_buddy_alloc_fail")?,
        htlb_buddy_alloc_success: d("htlb_buddy_alloc_success")?,
    };
    let stall: Delta = sec.compact_stall;
    let scanned = sec.compact_migrate_scanned.delta;
    let produced =
        w.truth.exit_code == Some(0) && scanned > 0 && (stall.delta > 0 || compact_written);
    truth.set_verdict(
        produced,
        if produced {
            format!(
                "compaction: {} stalls ({} success, {} fail), {} pages migrate-scanned",
                stall.delta, sec.compact_success.delta, sec.compact_fail.delta, scanned
            )
        } else {
            format!(
                "no direct compaction (compact_stall +{}, migrate_scanned +{}), worker exit {:?}",
                stall.delta, scanned, w.truth.exit_code
            )
        },
    );
    truth.note(format!(
        "region {:.0} MiB with every other page freed; extra {} huge pages beyond the unfragmented memory",
        mib(region),
        extra
    ));
    for r in &sec.rounds {
        truth.note(format!(
            "round: free order>={order} blocks {}, uninitialised {}, requested {}, allocated {} in {:.2} s",
            r.free_order9_blocks, r.uninitialised_hugepages, r.requested, r.allocated, r.seconds
        ));
    }
    truth.note(format!(
        "compact_stall +{}, compact_success +{}, compact_fail +{}, migrate_scanned +{}, free_scanned +{}, isolated +{}; nr_hugepages restored to {restored}",
        stall.delta,
        sec.compact_success.delta,
        sec.compact_fail.delta,
        scanned,
        sec.compact_free_scanned.delta,
        sec.compact_isolated.delta
    ));
    truth.fragment = Some(sec);
    Ok(())
}
