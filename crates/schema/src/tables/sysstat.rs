//! sysstat: node and zone memory state.

crate::table! {
    /// One NUMA node's memory counters at one moment, read from the kernel's
    /// node counters (the atomics `/proc/vmstat` and
    /// `/sys/devices/system/node/nodeN/vmstat` print; on a one-node machine
    /// the values equal `/proc/vmstat`'s). Taken every `--interval`, at start
    /// and end, and at pressure events (rate-limited per node). Columns are
    /// named after their `/proc/vmstat` keys and use its units.
    sysstat, group = "sysstat", task = system, sources = "BPF_PROG_TEST_RUN timer, vmscan:mm_vmscan_kswapd_wake, vmscan:mm_vmscan_direct_reclaim_begin, oom:mark_victim, kmem:mm_page_alloc (failures)" {
        /// NUMA node.
        node: u32 => Id,
        /// Why the snapshot was taken: `interval`, `start`, `end`,
        /// `kswapd_wake`, `direct_reclaim`, `oom` or `alloc_fail`.
        trigger: Text => None,
        /// Free pages in the node's zones, `nr_free_pages`.
        nr_free_pages: u64 => Pages,
        /// `nr_active_anon`.
        nr_active_anon: u64 => Pages,
        /// `nr_inactive_anon`.
        nr_inactive_anon: u64 => Pages,
        /// `nr_active_file`.
        nr_active_file: u64 => Pages,
        /// `nr_inactive_file`.
        nr_inactive_file: u64 => Pages,
        /// `nr_unevictable`.
        nr_unevictable: u64 => Pages,
        /// Dirty file pages, `nr_dirty`.
        nr_dirty: u64 => Pages,
        /// Pages under writeback, `nr_writeback`.
        nr_writeback: u64 => Pages,
        /// FUSE writeback temporaries, `nr_writeback_temp`; null on kernels
        /// that no longer have this counter.
        nr_writeback_temp: Option<u64> => Pages,
        /// Mapped anonymous pages, `nr_anon_pages`.
        nr_anon_pages: u64 => Pages,
        /// Mapped file pages, `nr_mapped`.
        nr_mapped: u64 => Pages,
        /// Page-cache pages, `nr_file_pages`.
        nr_file_pages: u64 => Pages,
        /// Shared memory pages, `nr_shmem`.
        nr_shmem: u64 => Pages,
        /// Other kernel memory the kernel can reclaim, `nr_kernel_misc_reclaimable`.
        nr_kernel_misc_reclaimable: u64 => Pages,
        /// Reclaimable slab, `nr_slab_reclaimable`.
        nr_slab_reclaimable: u64 => Pages,
        /// Unreclaimable slab, `nr_slab_unreclaimable`.
        nr_slab_unreclaimable: u64 => Pages,
        /// Anonymous transparent huge pages, `nr_anon_transparent_hugepages`.
        nr_anon_transparent_hugepages: u64 => HugePages,
        /// Shmem transparent huge pages, `nr_shmem_hugepages`.
        nr_shmem_hugepages: u64 => HugePages,
    }
}

crate::table! {
    /// One zone at one moment, with the fields of `/proc/zoneinfo`. Written
    /// with every `sysstat` row (same `ts_ns`, `node` and `trigger`) and with
    /// every allocation failure (`trigger` = `alloc_fail`, same `ts_ns` as the
    /// `paf` row).
    zone, group = "sysstat", task = system, sources = "as sysstat, and kmem:mm_page_alloc (failures)" {
        /// NUMA node.
        node: u32 => Id,
        /// Zone name as the kernel names it: `DMA`, `DMA32`, `Normal`, `Movable`, `Device`.
        zone: Text => None,
        /// Zone index within the node (enum zone_type).
        zone_idx: u32 => Id,
        /// Why the snapshot was taken; see `sysstat.trigger`.
        trigger: Text => None,
        /// Free pages, `pages free`.
        free: u64 => Pages,
        /// Min watermark with the boost added, `min` (as zoneinfo prints it).
        min: u64 => Pages,
        /// Low watermark with the boost added, `low`.
        low: u64 => Pages,
        /// High watermark with the boost added, `high`.
        high: u64 => Pages,
        /// Promotion watermark with the boost added, `promo`.
        promo: u64 => Pages,
        /// Temporary watermark boost after fragmentation events, `boost`.
        boost: u64 => Pages,
        /// `spanned`.
        spanned: u64 => Pages,
        /// `present`.
        present: u64 => Pages,
        /// Pages the buddy allocator manages, `managed`.
        managed: u64 => Pages,
        /// CMA pages in the zone, `cma`.
        cma: u64 => Pages,
        /// Free CMA pages, `nr_free_cma`. Allocations that may not use CMA do
        /// not count them as free.
        free_cma: u64 => Pages,
        /// Pages held back for high-order atomic allocations (nr_reserved_highatomic).
        reserved_highatomic: u64 => Pages,
        /// For `alloc_fail` rows: the lowmem reserve this zone keeps against the
        /// failed allocation's highest allowed zone (`protection` in zoneinfo,
        /// indexed by `paf.highest_zone`); null otherwise.
        reserve: Option<u64> => Pages,
        /// Buddy orders this kernel has (`NR_PAGE_ORDERS`, `MAX_ORDER` before
        /// 6.4); the `free_blocks_N` columns hold the first 11.
        orders: u32 => Count,
        /// Free blocks of order 0 (single pages) on the zone's free lists,
        /// `free_area[0].nr_free`: column 0 of `/proc/buddyinfo`. Null in
        /// recordings made before memrec kept them.
        free_blocks_0: Option<u64> => Count,
        /// Free blocks of order 1 (2 pages each), `free_area[1].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_1: Option<u64> => Count,
        /// Free blocks of order 2 (4 pages each), `free_area[2].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_2: Option<u64> => Count,
        /// Free blocks of order 3 (8 pages each), `free_area[3].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_3: Option<u64> => Count,
        /// Free blocks of order 4 (16 pages each), `free_area[4].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_4: Option<u64> => Count,
        /// Free blocks of order 5 (32 pages each), `free_area[5].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_5: Option<u64> => Count,
        /// Free blocks of order 6 (64 pages each), `free_area[6].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_6: Option<u64> => Count,
        /// Free blocks of order 7 (128 pages each), `free_area[7].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_7: Option<u64> => Count,
        /// Free blocks of order 8 (256 pages each), `free_area[8].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_8: Option<u64> => Count,
        /// Free blocks of order 9 (512 pages each), `free_area[9].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_9: Option<u64> => Count,
        /// Free blocks of order 10 (1024 pages each), `free_area[10].nr_free`;
        /// null where the kernel has fewer orders.
        free_blocks_10: Option<u64> => Count,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&sysstat::TABLE, &zone::TABLE];
