//! Node and zone snapshots (`struct mt_snapshot`), written by sysstat on its
//! timer and at pressure events, and by paf at allocation failures.

use memtrace_schema::tables::sysstat::{sysstat, zone};
use memtrace_schema::{Header, Text};

use super::decode::{read, DecodeCtx, DecodeError, RowSink};
use crate::bpf::sysstat::types::{mt_snapshot, mt_trigger as T};

// SAFETY: generated from a C struct of fixed-width integers.
unsafe impl plain::Plain for mt_snapshot {}

/// Trigger names by `enum mt_trigger` value.
pub fn trigger_name(t: u32) -> Text {
    Text::Static(match T(t) {
        T::MT_TRIGGER_INTERVAL => "interval",
        T::MT_TRIGGER_START => "start",
        T::MT_TRIGGER_END => "end",
        T::MT_TRIGGER_KSWAPD_WAKE => "kswapd_wake",
        T::MT_TRIGGER_DIRECT_RECLAIM => "direct_reclaim",
        T::MT_TRIGGER_OOM => "oom",
        T::MT_TRIGGER_ALLOC_FAIL => "alloc_fail",
        _ => "unknown",
    })
}

/// Trigger values the recorder passes to the timer program.
pub const TRIGGER_INTERVAL: u64 = T::MT_TRIGGER_INTERVAL.0 as u64;
pub const TRIGGER_START: u64 = T::MT_TRIGGER_START.0 as u64;
pub const TRIGGER_END: u64 = T::MT_TRIGGER_END.0 as u64;

/// Writes one `sysstat` row and one `zone` row per populated zone.
pub fn decode<O: RowSink>(
    hdr: &Header,
    data: &[u8],
    ctx: &mut DecodeCtx,
    out: &mut O,
) -> Result<(), DecodeError> {
    let s: mt_snapshot = read(data)?;
    let n = &s.stats;
    let trigger = trigger_name(s.trigger);
    let thp = ctx.hpage_pmd_nr.max(1);
    out.push(
        hdr,
        &sysstat::Row {
            node: s.node,
            trigger: trigger.clone(),
            nr_free_pages: n.nr_free_pages,
            nr_active_anon: n.nr_active_anon,
            nr_inactive_anon: n.nr_inactive_anon,
            nr_active_file: n.nr_active_file,
            nr_inactive_file: n.nr_inactive_file,
            nr_unevictable: n.nr_unevictable,
            nr_dirty: n.nr_dirty,
            nr_writeback: n.nr_writeback,
            nr_writeback_temp: (n.nr_writeback_temp != u64::MAX).then_some(n.nr_writeback_temp),
            nr_anon_pages: n.nr_anon_pages,
            nr_mapped: n.nr_mapped,
            nr_file_pages: n.nr_file_pages,
            nr_shmem: n.nr_shmem,
            nr_kernel_misc_reclaimable: n.nr_kernel_misc_reclaimable,
            nr_slab_reclaimable: n.nr_slab_reclaimable,
            nr_slab_unreclaimable: n.nr_slab_unreclaimable,
            // /proc/vmstat prints THP counters in huge pages.
            nr_anon_transparent_hugepages: n.nr_anon_thp_pages / thp,
            nr_shmem_hugepages: n.nr_shmem_thp_pages / thp,
        },
    )?;
    let highest = (T(s.trigger) == T::MT_TRIGGER_ALLOC_FAIL)
        .then(|| ctx.fail_highest_zone.get(&hdr.cpu).copied())
        .flatten();
    let used = (s.nr_zones as usize).min(s.zones.len());
    for (idx, z) in s.zones[..used].iter().enumerate() {
        if z.present == 0 && z.managed == 0 {
            continue; // unpopulated
        }
        let boost = z.boost;
        // Orders the kernel has and the record holds; the rest are null.
        let kept = (z.nr_orders as usize).min(z.nr_free.len());
        let free = |o: usize| (o < kept).then(|| z.nr_free[o]);
        out.push(
            hdr,
            &zone::Row {
                node: s.node,
                zone: ctx.zone_name(idx as i64),
                zone_idx: idx as u32,
                trigger: trigger.clone(),
                free: z.free,
                min: z.wmark_min + boost,
                low: z.wmark_low + boost,
                high: z.wmark_high + boost,
                promo: z.wmark_promo + boost,
                boost,
                spanned: z.spanned,
                present: z.present,
                managed: z.managed,
                cma: z.cma,
                free_cma: z.free_cma,
                reserved_highatomic: z.reserved_highatomic,
                reserve: highest.and_then(|h| z.lowmem_reserve.get(h).copied()),
                orders: z.nr_orders as u32,
                free_blocks_0: free(0),
                free_blocks_1: free(1),
                free_blocks_2: free(2),
                free_blocks_3: free(3),
                free_blocks_4: free(4),
                free_blocks_5: free(5),
                free_blocks_6: free(6),
                free_blocks_7: free(7),
                free_blocks_8: free(8),
                free_blocks_9: free(9),
                free_blocks_10: free(10),
            },
        )?;
    }
    Ok(())
}
