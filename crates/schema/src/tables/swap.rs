//! swap: pages read back from swap and written out to it.

crate::table! {
    /// A page read back from swap, as the fault that needed it: the kernel
    /// has no swap-in tracepoint, so a swap-in is a major fault (the
    /// page-faults-maj software perf event, where the kernel accounts the
    /// fault) on an anonymous or shmem VMA. The header is the faulting task
    /// and its memory cgroup.
    swap_in, group = "swap", task = header, sources = "perf:page-faults-maj" {
        /// Faulting virtual address.
        address: u64 => None,
        /// Kind of VMA: `anon`, `stack`, `heap` or `shmem`.
        vma: Text => None,
    }
}

crate::table! {
    /// Reclaim wrote a swap-backed (anonymous or shmem) folio out to swap
    /// (`vmscan:mm_vmscan_write_folio`; `mm_vmscan_writepage` before 6.3).
    /// The header is the reclaiming task (kswapd, or the task in direct
    /// reclaim), not the folio's owner.
    swap_out, group = "swap", task = header, sources = "vmscan:mm_vmscan_write_folio, vmscan:mm_vmscan_writepage" {
        /// Base pages in the folio.
        pages: u64 => Pages,
        /// Id of the memory cgroup the folio was charged to (0: none).
        owner_cgroup_id: u64 => Id,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&swap_in::TABLE, &swap_out::TABLE];
