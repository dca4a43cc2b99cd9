//! pr: page reclaim (vmscan tracepoints).

use memtrace_schema::tables::pr::{
    kswapd, lru_active, lru_inactive, reclaim_begin, reclaim_end, slab_end, slab_start,
};
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError};
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::pr::{types, PrSkelBuilder};
use crate::writer::Tables;

// SAFETY: generated from C structs of fixed-width integers.
unsafe impl plain::Plain for types::pr_lru_inactive {}
unsafe impl plain::Plain for types::pr_lru_active {}
unsafe impl plain::Plain for types::pr_reclaim_begin {}
unsafe impl plain::Plain for types::pr_reclaim_end {}
unsafe impl plain::Plain for types::pr_kswapd {}
unsafe impl plain::Plain for types::pr_slab_start {}
unsafe impl plain::Plain for types::pr_slab_end {}

const fn tp(name: &'static str, target: &'static str, slot: u32) -> Program {
    Program {
        name,
        target,
        method: Method::Tp,
        slot,
        fallback: None,
    }
}

pub static GROUP: Group = Group {
    name: "pr",
    about: "page reclaim: LRU scans, direct/memcg/kswapd reclaim and their latency, slab shrinkers",
    programs: &[
        tp("pr_lru_inactive", "vmscan:mm_vmscan_lru_shrink_inactive", 0),
        tp("pr_lru_active", "vmscan:mm_vmscan_lru_shrink_active", 1),
        tp(
            "pr_direct_begin",
            "vmscan:mm_vmscan_direct_reclaim_begin",
            2,
        ),
        tp("pr_direct_end", "vmscan:mm_vmscan_direct_reclaim_end", 3),
        tp("pr_memcg_begin", "vmscan:mm_vmscan_memcg_reclaim_begin", 4),
        tp("pr_memcg_end", "vmscan:mm_vmscan_memcg_reclaim_end", 5),
        tp(
            "pr_softlimit_begin",
            "vmscan:mm_vmscan_memcg_softlimit_reclaim_begin",
            6,
        ),
        tp(
            "pr_softlimit_end",
            "vmscan:mm_vmscan_memcg_softlimit_reclaim_end",
            7,
        ),
        tp("pr_node_begin", "vmscan:mm_vmscan_node_reclaim_begin", 8),
        tp("pr_node_end", "vmscan:mm_vmscan_node_reclaim_end", 9),
        tp("pr_kswapd_wake", "vmscan:mm_vmscan_kswapd_wake", 10),
        tp("pr_kswapd_sleep", "vmscan:mm_vmscan_kswapd_sleep", 11),
        tp("pr_wakeup_kswapd", "vmscan:mm_vmscan_wakeup_kswapd", 12),
        tp("pr_slab_start", "vmscan:mm_shrink_slab_start", 13),
        tp("pr_slab_end", "vmscan:mm_shrink_slab_end", 14),
    ],
    tables: &[
        &lru_inactive::TABLE,
        &lru_active::TABLE,
        &reclaim_begin::TABLE,
        &reclaim_end::TABLE,
        &kswapd::TABLE,
        &slab_start::TABLE,
        &slab_end::TABLE,
    ],
    // Reclaim peaks near 30 k rows/s (4 MB/s): 2 MiB holds half a second,
    // five drain periods.
    max_ring_bytes: 2 << 20,
    load: |s, skip| load_skeleton!(PrSkelBuilder, s, skip),
    decode,
};

fn reclaimer(v: u32) -> Text {
    use types::pr_reclaimer as R;
    Text::Static(match v {
        x if x == R::PR_RECLAIMER_KSWAPD.0 => "kswapd",
        x if x == R::PR_RECLAIMER_DIRECT.0 => "direct",
        x if x == R::PR_RECLAIMER_MEMCG.0 => "memcg",
        x if x == R::PR_RECLAIMER_MEMCG_SOFTLIMIT.0 => "memcg_softlimit",
        x if x == R::PR_RECLAIMER_NODE.0 => "node",
        _ => "other",
    })
}

fn lru(file: u32) -> Text {
    Text::Static(if file != 0 { "file" } else { "anon" })
}

/// `begin_ts_ns` and `duration_ns` from a begin time that is 0 when unseen.
fn span(begin: u64, end_ts: i64) -> (Option<i64>, Option<i64>) {
    if begin == 0 {
        return (None, None);
    }
    let begin = begin as i64;
    (Some(begin), Some(end_ts - begin))
}

fn decode(data: &[u8], ctx: &mut DecodeCtx, out: &mut Tables) -> Result<(), DecodeError> {
    use types::pr_kind as K;
    let (hdr, kind) = header(data, ctx)?;
    match kind {
        k if k == K::PR_LRU_INACTIVE.0 as u16 => {
            let e: types::pr_lru_inactive = read(data)?;
            let row = lru_inactive::Row {
                node: e.node,
                reclaimer: reclaimer(e.reclaimer),
                lru: lru(e.file),
                priority: e.priority,
                nr_scanned: e.nr_scanned,
                nr_reclaimed: e.nr_reclaimed,
                nr_dirty: e.nr_dirty,
                nr_writeback: e.nr_writeback,
                nr_congested: e.nr_congested,
                nr_immediate: e.nr_immediate,
                nr_activate_anon: e.nr_activate_anon,
                nr_activate_file: e.nr_activate_file,
                nr_ref_keep: e.nr_ref_keep,
                nr_unmap_fail: e.nr_unmap_fail,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_LRU_ACTIVE.0 as u16 => {
            let e: types::pr_lru_active = read(data)?;
            let row = lru_active::Row {
                node: e.node,
                reclaimer: reclaimer(e.reclaimer),
                lru: lru(e.file),
                priority: e.priority,
                nr_taken: e.nr_taken,
                nr_active: e.nr_active,
                nr_deactivated: e.nr_deactivated,
                nr_referenced: e.nr_referenced,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_RECLAIM_BEGIN.0 as u16 => {
            let e: types::pr_reclaim_begin = read(data)?;
            let row = reclaim_begin::Row {
                reclaimer: reclaimer(e.reclaimer),
                order: Some(e.order),
                gfp_flags: e.gfp_flags,
                gfp: ctx.gfp.decode_cached(e.gfp_flags),
                node: (e.node >= 0).then_some(e.node),
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_RECLAIM_END.0 as u16 => {
            let e: types::pr_reclaim_end = read(data)?;
            let (begin_ts_ns, duration_ns) = span(e.begin_ts_ns, hdr.ts_ns);
            let row = reclaim_end::Row {
                reclaimer: reclaimer(e.reclaimer),
                nr_reclaimed: e.nr_reclaimed,
                begin_ts_ns,
                duration_ns,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_KSWAPD.0 as u16 => {
            use types::pr_kswapd_event as E;
            let e: types::pr_kswapd = read(data)?;
            let event = match e.event {
                x if x == E::PR_KSWAPD_WAKE.0 => "wake",
                x if x == E::PR_KSWAPD_SLEEP.0 => "sleep",
                _ => "wakeup",
            };
            let wakeup = event == "wakeup";
            let row = kswapd::Row {
                event: Text::Static(event),
                node: e.node,
                zone: (e.zone_idx >= 0).then(|| ctx.zone_name(e.zone_idx as i64)),
                order: (e.order >= 0).then_some(e.order),
                gfp_flags: wakeup.then_some(e.gfp_flags),
                gfp: wakeup.then(|| ctx.gfp.decode_cached(e.gfp_flags)),
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_SLAB_START.0 as u16 => {
            let e: types::pr_slab_start = read(data)?;
            let row = slab_start::Row {
                shrinker: e.shrinker,
                shrinker_fn: ctx.symbol(e.shrink_fn),
                node: e.node,
                priority: e.priority,
                nr_objects_to_shrink: e.nr_objects_to_shrink,
                gfp_flags: e.gfp_flags,
                gfp: ctx.gfp.decode_cached(e.gfp_flags),
                cache_items: e.cache_items,
                delta: e.delta,
                total_scan: e.total_scan,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_SLAB_END.0 as u16 => {
            let e: types::pr_slab_end = read(data)?;
            let (begin_ts_ns, duration_ns) = span(e.begin_ts_ns, hdr.ts_ns);
            let row = slab_end::Row {
                shrinker: e.shrinker,
                shrinker_fn: ctx.symbol(e.shrink_fn),
                node: e.node,
                freed: e.retval,
                unused_scan: e.unused_scan,
                new_scan: e.new_scan,
                total_scan: e.total_scan,
                begin_ts_ns,
                duration_ns,
            };
            out.push(&hdr, &row)?;
        }
        other => return Err(DecodeError::UnknownKind(other)),
    }
    Ok(())
}
