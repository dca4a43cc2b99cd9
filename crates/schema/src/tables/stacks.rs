//! The stack store: user and kernel stacks and what symbolizes them offline.
//!
//! A group's rows name a stack by `stack_id`: faults through its sample
//! table (`fault_stack`, `--fault-stacks N`), memleak and kmemleak in their
//! allocation rows. Stacks are written once per recording, frame by frame
//! (`stack_frame`): a user stack once per process, a kernel stack once.
//! User addresses mean nothing off the machine, so each process's
//! executable mappings (`module_map`) are read from /proc when its first
//! stack arrives: a frame becomes a module and a file offset, and a function
//! name wherever a file with the module's build-id can be read. Kernel
//! addresses are named from the kernel's symbols as they were while
//! recording (`kernel_symbol`). The store's tables belong to the `stacks`
//! group, recorded whenever a group that records stacks is. A rotated or
//! flight-recorder file also holds the store's rows of every stack, process
//! mapping and kernel symbol first seen before it, with their earlier time
//! stamps, so that it names its stacks alone; several such files read as one
//! recording repeat those rows, and readers keep one of each.

crate::table! {
    /// One sampled user stack of a page fault: every `every`th fault of a
    /// CPU (`memrec record --fault-stacks N`). The header is the fault row's
    /// (same `ts_ns`, `pid`, `tgid`), so a sample joins its `fault` row on
    /// `ts_ns` and `pid`; counts of samples times `every` estimate faults.
    fault_stack, group = "faults", task = header, sources = "perf:page-faults-min, perf:page-faults-maj (bpf_get_stack, user stack)" {
        /// The stack (`stack_frame.stack_id`); null when the task had no
        /// readable user stack (a kernel thread, or `stack_error`).
        stack_id: Option<u64> => Id,
        /// The sampling period this sample stands for: one fault in this
        /// many per CPU had its stack taken.
        every: u32 => Count,
        /// The kernel's error when no user stack could be read (negative
        /// errno of `bpf_get_stack`, e.g. -14 EFAULT); null otherwise.
        stack_error: Option<i32> => None,
    }
}

crate::table! {
    /// One frame of a distinct stack, written with the first event that had
    /// it (a rotated or flight-recorder file also holds the frames of
    /// stacks first seen before it). A user stack is distinct per process (`tgid`): the same addresses
    /// in another address space are other code; a kernel stack is one for
    /// the whole recording. The header is that first event's. Frames come from the frame-pointer chain the
    /// kernel walks: code built without frame pointers shows its leaf
    /// function at depth 0 and may lose or misname callers beyond it.
    stack_frame, group = "stacks", task = header, sources = "bpf_get_stack" {
        /// The stack this frame belongs to.
        stack_id: u64 => Id,
        /// Position from the leaf: 0 is the instruction that was running
        /// (for a fault, the faulting one), 1 its caller's return address,
        /// and so on.
        depth: u32 => None,
        /// Virtual address (an instruction pointer, or a return address at
        /// depth ≥ 1): a user address, or a kernel one when `kernel`.
        ip: u64 => None,
        /// A kernel stack (`kernel_symbol` names its frames); a user stack
        /// (`module_map`) otherwise.
        kernel: bool => None,
    }
}

crate::table! {
    /// One executable file mapping of a process, read from /proc/PID/maps
    /// when the first stack of that process (`tgid`) was decoded, and again
    /// when a later stack had an address outside every mapping read (a
    /// library loaded since, or an exec; at most once a second). A
    /// process's first sample wakes memrec at once, but one that exited
    /// before memrec decoded it (a command that runs for a millisecond or
    /// two) has no rows: its frames stay addresses. The header is the
    /// sample's that caused the read: the maps were read shortly after its
    /// `ts_ns` (at most one drain interval, 100 ms).
    module_map, group = "stacks", task = header, sources = "/proc/PID/maps, the ELF build-id note" {
        /// First address of the mapping.
        start: u64 => None,
        /// Address just past the mapping.
        end: u64 => None,
        /// Offset in the file of the byte mapped at `start`.
        file_offset: u64 => Bytes,
        /// The file's path as the process sees it (its mount namespace),
        /// with ` (deleted)` if it was removed; or `[vdso]`.
        path: Text => None,
        /// The file's GNU build-id (hex), from its `.note.gnu.build-id`;
        /// null when the file has none or could not be read.
        build_id: Option<Text> => None,
    }
}

crate::table! {
    /// The kernel's text symbols as `/proc/kallsyms` listed them when the
    /// recording began (root sees the real addresses), written once when a
    /// group records kernel stacks or call sites: kernel frames and call
    /// sites are named from these rows on any machine. A symbol covers its
    /// address up to the next symbol's.
    kernel_symbol, group = "stacks", task = system, sources = "/proc/kallsyms" {
        /// The symbol's address.
        address: u64 => Address,
        /// The function (or other text symbol) name.
        name: Text => None,
        /// The module it belongs to (`[ext4]` without the brackets); null
        /// for the kernel image.
        module: Option<Text> => None,
    }
}

/// The store's tables, in file order (`fault_stack` is the faults group's).
pub const TABLES: &[&crate::Table] = &[
    &stack_frame::TABLE,
    &module_map::TABLE,
    &kernel_symbol::TABLE,
];
