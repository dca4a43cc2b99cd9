//! pr: page reclaim.

crate::table! {
    /// One pass of `shrink_inactive_list()` (or MGLRU's eviction) over one
    /// LRU list. Summed over a recording, `nr_reclaimed` equals the growth of
    /// the `pgsteal_*` counters in /proc/vmstat, `nr_scanned` that of `pgscan_*`.
    lru_inactive, group = "pr", task = header, sources = "vmscan:mm_vmscan_lru_shrink_inactive" {
        /// NUMA node reclaimed from.
        node: i32 => Id,
        /// Who reclaims: `kswapd`, `direct`, `memcg`, `memcg_softlimit`,
        /// `node`, or `other` (e.g. proactive or MADV_PAGEOUT).
        reclaimer: Text => None,
        /// LRU list: `file` or `anon`.
        lru: Text => None,
        /// Scan priority, 12 (light) down to 0 (desperate).
        priority: i32 => Count,
        /// Pages isolated and scanned.
        nr_scanned: u64 => Pages,
        /// Pages freed.
        nr_reclaimed: u64 => Pages,
        /// Scanned pages that were dirty.
        nr_dirty: u64 => Pages,
        /// Scanned pages under writeback.
        nr_writeback: u64 => Pages,
        /// Dirty pages whose backing device was congested.
        nr_congested: u64 => Pages,
        /// Pages under writeback marked for immediate reclaim.
        nr_immediate: u64 => Pages,
        /// Anonymous pages moved to the active list.
        nr_activate_anon: u64 => Pages,
        /// File pages moved to the active list.
        nr_activate_file: u64 => Pages,
        /// Referenced pages kept on the inactive list.
        nr_ref_keep: u64 => Pages,
        /// Pages that could not be unmapped.
        nr_unmap_fail: u64 => Pages,
    }
}

crate::table! {
    /// One pass of `shrink_active_list()`: pages aged from active to inactive.
    lru_active, group = "pr", task = header, sources = "vmscan:mm_vmscan_lru_shrink_active" {
        /// NUMA node.
        node: i32 => Id,
        /// Who reclaims; see `lru_inactive.reclaimer`.
        reclaimer: Text => None,
        /// LRU list: `file` or `anon`.
        lru: Text => None,
        /// Scan priority.
        priority: i32 => Count,
        /// Pages taken off the active list.
        nr_taken: u64 => Pages,
        /// Pages put back on the active list.
        nr_active: u64 => Pages,
        /// Pages moved to the inactive list.
        nr_deactivated: u64 => Pages,
        /// Referenced pages among them.
        nr_referenced: u64 => Pages,
    }
}

crate::table! {
    /// A task entered direct, memcg, memcg soft-limit or node reclaim.
    reclaim_begin, group = "pr", task = header, sources = "vmscan:mm_vmscan_{direct,memcg,memcg_softlimit,node}_reclaim_begin" {
        /// `direct`, `memcg`, `memcg_softlimit` or `node`.
        reclaimer: Text => None,
        /// Order of the allocation that needs the memory; null for node reclaim
        /// on kernels whose tracepoint lacks it.
        order: Option<i32> => Count,
        /// Its gfp mask, raw.
        gfp_flags: u64 => Flags,
        /// Its gfp mask decoded, as in `paf.gfp`.
        gfp: Text => None,
        /// Node, for node reclaim; null otherwise.
        node: Option<i32> => Id,
    }
}

crate::table! {
    /// A task left reclaim. Pair with `reclaim_begin` by `pid` and
    /// `begin_ts_ns`.
    reclaim_end, group = "pr", task = header, sources = "vmscan:mm_vmscan_{direct,memcg,memcg_softlimit,node}_reclaim_end" {
        /// As in `reclaim_begin`.
        reclaimer: Text => None,
        /// Pages the reclaim freed.
        nr_reclaimed: u64 => Pages,
        /// `ts_ns` of the matching begin on the same thread; null when the begin
        /// happened before the recording started.
        begin_ts_ns: Option<i64> => Nanoseconds,
        /// Time spent in reclaim: `ts_ns - begin_ts_ns`.
        duration_ns: Option<i64> => Nanoseconds,
    }
}

crate::table! {
    /// kswapd activity: a kswapd woke up, went to sleep, or an allocating task
    /// asked it to wake.
    kswapd, group = "pr", task = system, sources = "vmscan:mm_vmscan_kswapd_wake, vmscan:mm_vmscan_kswapd_sleep, vmscan:mm_vmscan_wakeup_kswapd" {
        /// `wake` (kswapd starts a balancing run), `sleep` (kswapd goes to
        /// sleep) or `wakeup` (an allocation asked for kswapd).
        event: Text => None,
        /// Node of the kswapd.
        node: i32 => Id,
        /// Highest zone to balance; null for `sleep`.
        zone: Option<Text> => None,
        /// Order to balance for; null for `sleep`.
        order: Option<i32> => Count,
        /// gfp mask of the allocation, for `wakeup`; null otherwise.
        gfp_flags: Option<u64> => Flags,
        /// That mask decoded; null otherwise.
        gfp: Option<Text> => None,
    }
}

crate::table! {
    /// A slab shrinker started.
    slab_start, group = "pr", task = header, sources = "vmscan:mm_shrink_slab_start" {
        /// Address of the shrinker: pairs start and end.
        shrinker: u64 => Address,
        /// Its scan function, symbolized with the recording host's kallsyms
        /// (e.g. `super_cache_scan`).
        shrinker_fn: Text => None,
        /// NUMA node.
        node: i32 => Id,
        /// Scan priority.
        priority: i32 => Count,
        /// Deferred work carried over from earlier calls.
        nr_objects_to_shrink: i64 => Count,
        /// gfp mask of the reclaim, raw.
        gfp_flags: u64 => Flags,
        /// That mask decoded.
        gfp: Text => None,
        /// Objects in the cache.
        cache_items: u64 => Count,
        /// Objects to scan this time before deferral.
        delta: u64 => Count,
        /// Objects to scan in total.
        total_scan: u64 => Count,
    }
}

crate::table! {
    /// A slab shrinker finished.
    slab_end, group = "pr", task = header, sources = "vmscan:mm_shrink_slab_end" {
        /// Address of the shrinker: pairs start and end.
        shrinker: u64 => Address,
        /// Its scan function, symbolized.
        shrinker_fn: Text => None,
        /// NUMA node.
        node: i32 => Id,
        /// Objects freed (the last scan call's return value).
        freed: i32 => Count,
        /// Deferred count before.
        unused_scan: i64 => Count,
        /// Deferred count after.
        new_scan: i64 => Count,
        /// Objects scanned.
        total_scan: i64 => Count,
        /// `ts_ns` of the matching start on the same thread; null if unseen.
        begin_ts_ns: Option<i64> => Nanoseconds,
        /// Time spent in the shrinker: `ts_ns - begin_ts_ns`.
        duration_ns: Option<i64> => Nanoseconds,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[
    &lru_inactive::TABLE,
    &lru_active::TABLE,
    &reclaim_begin::TABLE,
    &reclaim_end::TABLE,
    &kswapd::TABLE,
    &slab_start::TABLE,
    &slab_end::TABLE,
];
