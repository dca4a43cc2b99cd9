//! compaction: memory compaction runs, zone deferrals, kcompactd,
//! migrate-type fallbacks and page migrations.

crate::table! {
    /// One compaction run of one zone (`compact_zone()`), from
    /// `mm_compaction_begin` to `mm_compaction_end` on the same thread; the
    /// row is written at the end. A direct compaction attempt
    /// (`try_to_compact_pages()`, one `compact_try` row of paf) runs zero or
    /// more of these, one per zone it compacts.
    compaction_run, group = "compaction", task = header, sources = "compaction:mm_compaction_begin, compaction:mm_compaction_end, compaction:mm_compaction_isolate_migratepages, compaction:mm_compaction_isolate_freepages, compaction:mm_compaction_fast_isolate_freepages, compaction:mm_compaction_migratepages, compaction:mm_compaction_try_to_compact_pages" {
        /// Who compacted: `direct` (an allocating task), `kcompactd`,
        /// `proactive` (kcompactd's proactive compaction) or `manual`
        /// (`vm.compact_memory` or a node's `compact` file).
        runner: Text => None,
        /// NUMA node.
        node: i32 => Id,
        /// Zone name.
        zone: Text => None,
        /// Order the run compacts for; null when it compacts the whole zone
        /// (manual and proactive runs).
        order: Option<i32> => Count,
        /// The result as the tracepoint prints it, from this kernel's own list,
        /// e.g. `success`, `complete`, `partial_skipped`, `contended`.
        status: Text => None,
        /// The result, raw (enum compact_result).
        status_code: i32 => Id,
        /// Migration mode by this kernel's name, e.g. `MIGRATE_ASYNC`,
        /// `MIGRATE_SYNC_LIGHT`.
        mode: Text => None,
        /// Whether the scanners started from the zone's ends instead of where
        /// the last run left them.
        whole_zone: bool => None,
        /// The gfp mask of the allocation behind a direct run (`GFP_KERNEL`
        /// for the others), raw.
        gfp_flags: u64 => Flags,
        /// `ts_ns` of the begin on the same thread; null when it happened
        /// before the recording.
        begin_ts_ns: Option<i64> => Nanoseconds,
        /// Time in the run: `ts_ns - begin_ts_ns`.
        duration_ns: Option<i64> => Nanoseconds,
        /// For direct runs: `ts_ns` of the thread's `try_to_compact_pages()`
        /// (paf's `compact_try` row), which identifies the attempt; null
        /// otherwise.
        attempt_ts_ns: Option<i64> => Nanoseconds,
        /// Pages the migration scanner looked at: the kernel's own total,
        /// which it adds to `compact_migrate_scanned` at the end of the run.
        migrate_scanned: u64 => Pages,
        /// Pages the free scanner looked at (`compact_free_scanned`).
        free_scanned: u64 => Pages,
        /// Pages isolated for migration (part of `compact_isolated`). This
        /// and the next three are summed from the run's begin to its end:
        /// null for a run whose begin was not seen.
        isolated_migrate: Option<u64> => Pages,
        /// Free pages isolated as migration targets (the rest of
        /// `compact_isolated`); without the free-list fast path's where the
        /// kernel lacks `mm_compaction_fast_isolate_freepages` (6.1).
        isolated_free: Option<u64> => Pages,
        /// Pages migrated (`mm_compaction_migratepages`' nr_migrated, summed).
        migrated: Option<u64> => Pages,
        /// Pages that failed to migrate.
        migrate_failed: Option<u64> => Pages,
        /// Where the migration scanner stopped (pfn).
        migrate_pfn: u64 => Address,
        /// Where the free scanner stopped (pfn).
        free_pfn: u64 => Address,
        /// First pfn of the zone.
        zone_start: u64 => Address,
        /// End pfn of the zone.
        zone_end: u64 => Address,
    }
}

crate::table! {
    /// A zone's compaction deferral: a zone skipped because compaction
    /// failed there recently (`deferred`), a failure that makes it skip the
    /// next ones (`defer_compaction`), or a success that clears it
    /// (`defer_reset`).
    compaction_defer, group = "compaction", task = header, sources = "compaction:mm_compaction_deferred, compaction:mm_compaction_defer_compaction, compaction:mm_compaction_defer_reset" {
        /// `deferred`, `defer_compaction` or `defer_reset`.
        event: Text => None,
        /// NUMA node.
        node: i32 => Id,
        /// Zone name.
        zone: Text => None,
        /// Order.
        order: i32 => Count,
        /// Attempts considered since the last deferral (`compact_considered`).
        considered: u32 => Count,
        /// Attempts skipped before the next try are 2^defer_shift.
        defer_shift: u32 => Count,
        /// Lowest order that failed (`compact_order_failed`).
        order_failed: i32 => Count,
        /// Inside a direct compaction attempt, or the allocation's reset right
        /// after it: `ts_ns` of its `try_to_compact_pages()`; null otherwise
        /// (kcompactd).
        attempt_ts_ns: Option<i64> => Nanoseconds,
        /// A `defer_reset` after the attempt returned: the allocation got its
        /// page (the kernel counts `compact_success` there).
        after_return: bool => None,
    }
}

crate::table! {
    /// kcompactd woke up to compact a node, or went back to sleep.
    kcompactd, group = "compaction", task = header, sources = "compaction:mm_compaction_kcompactd_wake, compaction:mm_compaction_kcompactd_sleep" {
        /// `wake` or `sleep`.
        event: Text => None,
        /// Node of the kcompactd.
        node: i32 => Id,
        /// Order it compacts for; null for `sleep`.
        order: Option<i32> => Count,
        /// Highest zone it compacts; null for `sleep`.
        highest_zone: Option<Text> => None,
    }
}

crate::table! {
    /// An allocation took a free block of another migrate type (a fallback,
    /// `kmem:mm_page_alloc_extfrag`): the long-term cause of fragmentation.
    extfrag, group = "compaction", task = header, sources = "kmem:mm_page_alloc_extfrag" {
        /// Order asked for.
        alloc_order: i32 => Count,
        /// Order of the block taken from the other type's free list.
        fallback_order: i32 => Count,
        /// Migrate type asked for, by this kernel's name.
        alloc_migratetype: Text => None,
        /// Migrate type the block was taken from.
        fallback_migratetype: Text => None,
        /// Whether the whole pageblock changed type (`change_ownership`).
        change_ownership: bool => None,
        /// Whether the block was smaller than a pageblock, so a pageblock is
        /// now mixed (the tracepoint's `fragmenting`).
        fragmenting: bool => None,
        /// First pfn of the block.
        pfn: u64 => Address,
    }
}

crate::table! {
    /// One `migrate_pages()` call, whatever asked for it.
    migrate_pages, group = "compaction", task = header, sources = "migrate:mm_migrate_pages" {
        /// Why, by this kernel's name: `compaction`, `numa_misplaced`,
        /// `demotion`, `contig_range`, `syscall_or_cpuset`, ...
        reason: Text => None,
        /// Migration mode by this kernel's name.
        mode: Text => None,
        /// Pages migrated.
        succeeded: u64 => Pages,
        /// Pages that failed.
        failed: u64 => Pages,
        /// THPs migrated.
        thp_succeeded: u64 => Count,
        /// THPs that failed.
        thp_failed: u64 => Count,
        /// THPs split to migrate.
        thp_split: u64 => Count,
        /// Large folios split; null where the tracepoint lacks it.
        large_folio_split: Option<u64> => Count,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[
    &compaction_run::TABLE,
    &compaction_defer::TABLE,
    &kcompactd::TABLE,
    &extfrag::TABLE,
    &migrate_pages::TABLE,
];
