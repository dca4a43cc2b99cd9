//! paf: page-allocation failures and the slow path around them.

crate::table! {
    /// A page allocation that returned no page (`kmem:mm_page_alloc` with
    /// pfn -1). The zones of every node at that moment are in `zone` rows with
    /// the same `ts_ns` and `trigger` = `alloc_fail`.
    paf, group = "paf", task = header, sources = "kmem:mm_page_alloc" {
        /// Allocation order: 2^order contiguous pages were asked for.
        order: u32 => Count,
        /// The gfp mask, raw.
        gfp_flags: u64 => Flags,
        /// The gfp mask decoded with this kernel's own names, exactly as the
        /// tracepoint prints it (e.g. `GFP_HIGHUSER_MOVABLE|__GFP_COMP`).
        gfp: Text => None,
        /// Migrate type asked for, raw (enum migratetype).
        migratetype: i32 => Id,
        /// Migrate type name from this kernel's BTF, e.g. `MIGRATE_MOVABLE`.
        migratetype_name: Text => None,
        /// Highest zone the gfp mask allows (gfp_zone()), e.g. `Normal`; the
        /// index of `zone.reserve`.
        highest_zone: Text => None,
        /// NUMA node of the CPU that asked.
        node: u32 => Id,
    }
}

crate::table! {
    /// The allocator's verdict on retrying reclaim for one zone
    /// (`should_reclaim_retry()`), just before it gives up or goes on.
    reclaim_retry, group = "paf", task = header, sources = "oom:reclaim_retry_zone" {
        /// NUMA node.
        node: i32 => Id,
        /// Zone name.
        zone: Text => None,
        /// Allocation order.
        order: i32 => Count,
        /// Reclaimable pages the kernel estimated for the zone.
        reclaimable: u64 => Pages,
        /// Free plus reclaimable pages.
        available: u64 => Pages,
        /// The min watermark used.
        min_wmark: u64 => Pages,
        /// Reclaim rounds without progress so far.
        no_progress_loops: i32 => Count,
        /// Whether `available` passed the watermark check (so reclaim is retried).
        wmark_check: bool => None,
    }
}

crate::table! {
    /// Whether compaction is worth trying in a zone for an order.
    compact_suitable, group = "paf", task = header, sources = "compaction:mm_compaction_suitable" {
        /// NUMA node.
        node: i32 => Id,
        /// Zone name.
        zone: Text => None,
        /// Allocation order.
        order: i32 => Count,
        /// The kernel's verdict as the tracepoint prints it, e.g. `continue`,
        /// `skipped`, `not_suitable_zone`.
        result: Text => None,
        /// The verdict, raw (enum compact_result).
        result_code: i32 => Id,
    }
}

crate::table! {
    /// Direct compaction attempted for an allocation.
    compact_try, group = "paf", task = header, sources = "compaction:mm_compaction_try_to_compact_pages" {
        /// Allocation order.
        order: i32 => Count,
        /// The gfp mask, raw.
        gfp_flags: u64 => Flags,
        /// The gfp mask decoded, as in `paf.gfp`.
        gfp: Text => None,
        /// Compaction priority (lower is more thorough).
        priority: i32 => Count,
    }
}

crate::table! {
    /// A zone's watermarks were recomputed (boot, `min_free_kbytes` or
    /// `watermark_scale_factor` written, memory hotplug). Values without boost.
    wmark_setup, group = "paf", task = system, sources = "kmem:mm_setup_per_zone_wmarks" {
        /// NUMA node.
        node: i32 => Id,
        /// Zone name.
        zone: Text => None,
        /// New min watermark.
        min: u64 => Pages,
        /// New low watermark.
        low: u64 => Pages,
        /// New high watermark.
        high: u64 => Pages,
        /// New promotion watermark.
        promo: u64 => Pages,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[
    &paf::TABLE,
    &reclaim_retry::TABLE,
    &compact_suitable::TABLE,
    &compact_try::TABLE,
    &wmark_setup::TABLE,
];
