//! hugetlb: faults in hugetlb VMAs and the huge page pools.

crate::table! {
    /// A page fault in a hugetlb VMA (`MAP_HUGETLB`, a hugetlbfs file, SysV
    /// `SHM_HUGETLB`), written when the kernel accounts it: the page-fault
    /// software perf events (minor, major) in the faulting task, with the
    /// VMA looked up (`VM_HUGETLB`); there is no hugetlb fault tracepoint.
    /// Faults that end in an error (SIGBUS when the pool has no page) fire
    /// no perf event and have no row. The pool columns are the fault's huge
    /// page size's pool right after the fault, read from the kernel's pool
    /// (`struct hstate`). The header is the faulting task.
    hugetlb_fault, group = "hugetlb", task = header, sources = "perf:page-faults-min, perf:page-faults-maj" {
        /// Faulting virtual address.
        address: u64 => None,
        /// Size of the VMA's huge pages (from its hugetlbfs superblock).
        page_size: u64 => Bytes,
        /// Whether the kernel counted it as major; otherwise minor.
        major: bool => None,
        /// Whether the mapping is shared (`MAP_SHARED`, SysV shm).
        shared: bool => None,
        /// Huge pages of this size in the pool after the fault, `HugePages_Total`.
        pool_total: u64 => Count,
        /// Free huge pages of this size after the fault, `HugePages_Free`.
        pool_free: u64 => Count,
        /// Reserved (promised to mappings, not yet faulted) huge pages of
        /// this size after the fault, `HugePages_Rsvd`.
        pool_reserved: u64 => Count,
        /// Surplus huge pages of this size after the fault, `HugePages_Surp`.
        pool_surplus: u64 => Count,
    }
}

crate::table! {
    /// One huge page size's pool at one moment, read from the kernel's pool
    /// (`struct hstate`) by a BPF program memrec runs at the start, every
    /// `--interval` and at the end (next to its reads of /proc/vmstat).
    /// For the default size the counters are `/proc/meminfo`'s
    /// `HugePages_*`; for every size,
    /// `/sys/kernel/mm/hugepages/hugepages-<size>kB/`.
    hugetlb_pool, group = "hugetlb", task = system, sources = "BPF_PROG_TEST_RUN timer" {
        /// Why the snapshot was taken: `start`, `interval` or `end`.
        trigger: Text => None,
        /// Size of this pool's huge pages.
        page_size: u64 => Bytes,
        /// Huge pages in the pool, persistent and surplus, `HugePages_Total`
        /// (`nr_hugepages` in sysfs).
        total: u64 => Count,
        /// Free huge pages, `HugePages_Free` (`free_hugepages`).
        free: u64 => Count,
        /// Huge pages promised to mappings and not yet faulted in,
        /// `HugePages_Rsvd` (`resv_hugepages`).
        reserved: u64 => Count,
        /// Huge pages allocated past the persistent pool size (overcommit),
        /// `HugePages_Surp` (`surplus_hugepages`).
        surplus: u64 => Count,
        /// Surplus huge pages allowed, `nr_overcommit_hugepages`.
        overcommit: u64 => Count,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&hugetlb_fault::TABLE, &hugetlb_pool::TABLE];
