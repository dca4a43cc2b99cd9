//! faults: every page fault the kernel accounts.

crate::table! {
    /// One page fault, written when the kernel accounts it: the page-fault
    /// software perf events (minor, major) fire in `mm_account_fault()` in
    /// the faulting task, once per completed fault (a fault retried after
    /// dropping the mmap lock is one row). Faults that end in an error
    /// (SIGSEGV, SIGBUS, OOM) and faults taken on behalf of a process by
    /// get_user_pages (populate, mlock, exec's argument pages, ptrace,
    /// pinning) count in /proc/vmstat `pgfault` but fire no perf event, so
    /// they have no row. The header is the faulting task.
    fault, group = "faults", task = header, sources = "perf:page-faults-min, perf:page-faults-maj, exceptions:page_fault_user, exceptions:page_fault_kernel" {
        /// Faulting virtual address.
        address: u64 => None,
        /// Instruction pointer of the faulting instruction (a kernel address
        /// when the kernel touched user memory, e.g. in copy_to_user).
        ip: u64 => None,
        /// Whether the faulting instruction ran in user mode.
        user: bool => None,
        /// Whether the kernel counted it as major (it waited for I/O, or was
        /// retried after waiting): the task's `majflt`; otherwise `minflt`.
        major: bool => None,
        /// The x86 page-fault error code from `exceptions:page_fault_*`;
        /// null where those tracepoints do not exist (other architectures).
        error_code: Option<u32> => Flags,
        /// `read`, `write` or `exec`, from the error code; null with it.
        access: Option<Text> => None,
        /// `not-present` (no page mapped) or `protection` (a page was mapped
        /// but forbade the access, e.g. copy-on-write), from the error code;
        /// null with it.
        cause: Option<Text> => None,
        /// Kind of VMA: `anon`, `file`, `shmem` (tmpfs, memfd, shared
        /// anonymous, SysV shm), `stack` (the main stack), `heap` (brk),
        /// `hugetlb`, `io` (device memory), or `unknown` when the VMA could
        /// not be looked up without waiting (the mm was being changed).
        vma: Text => None,
        /// Name of the file a `file` or `shmem` VMA maps (its dentry name,
        /// e.g. `libc.so.6`); null for other VMAs.
        file: Option<Text> => None,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[
    &fault::TABLE,
    // Its stack samples (--fault-stacks); the stacks are the store's.
    &super::stacks::fault_stack::TABLE,
];
