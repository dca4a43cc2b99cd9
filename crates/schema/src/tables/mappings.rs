//! mappings: the calls that change an address space.

crate::table! {
    /// One call of `mmap`, `munmap`, `mremap`, `brk`, `madvise`,
    /// `mprotect`, `shmget`, `shmat`, `shmdt` or `shmctl`, written when it
    /// returned, with the arguments it was called with (entry and return are
    /// paired in the kernel, per thread). `ts_ns` is the return. Columns a
    /// call does not have are null. Flags are kept raw and decoded with the
    /// UAPI names (`MAP_PRIVATE|MAP_ANONYMOUS`, `PROT_READ|PROT_WRITE`).
    mapping_call, group = "mappings", task = header, sources = "syscalls:sys_enter_<call>, syscalls:sys_exit_<call>" {
        /// The call: `mmap`, `munmap`, `mremap`, `brk`, `madvise`,
        /// `mprotect`, `shmget`, `shmat`, `shmdt` or `shmctl`.
        call: Text => None,
        /// The address argument: mmap's hint, the start of munmap, mprotect
        /// and madvise, mremap's old address, the break brk asks for,
        /// shmat's and shmdt's shmaddr; null for shmget and shmctl.
        addr: Option<u64> => Address,
        /// The length argument: mmap, munmap, mprotect, madvise; mremap's
        /// old length; shmget's segment size.
        len: Option<u64> => Bytes,
        /// mremap's new length.
        new_len: Option<u64> => Bytes,
        /// mmap's and mprotect's protection, raw.
        prot: Option<u64> => Flags,
        /// `prot` decoded: `PROT_READ|PROT_WRITE`, `PROT_NONE`.
        prot_names: Option<Text> => None,
        /// Flags, raw: mmap's, mremap's, shmget's shmflg (with the mode in
        /// its low 9 bits), shmat's.
        flags: Option<u64> => Flags,
        /// `flags` decoded: `MAP_PRIVATE|MAP_ANONYMOUS`, `MREMAP_MAYMOVE`,
        /// `IPC_CREAT|0600`, `SHM_RDONLY`; unknown bits as hex.
        flags_names: Option<Text> => None,
        /// madvise's advice or shmctl's command, raw.
        op: Option<i32> => Id,
        /// `op` decoded: `MADV_DONTNEED`, `IPC_RMID`.
        op_name: Option<Text> => None,
        /// mmap's file descriptor (-1 for anonymous memory).
        fd: Option<i32> => Id,
        /// mmap's file offset.
        offset: Option<u64> => Bytes,
        /// shmget's key (0 is IPC_PRIVATE).
        key: Option<i64> => Id,
        /// The segment: shmat's and shmctl's argument, shmget's result.
        shmid: Option<i32> => Id,
        /// The raw return value (a negative errno on failure).
        ret: i64 => None,
        /// The error on failure: `ENOMEM`, `EINVAL`; null on success.
        error: Option<Text> => None,
        /// The errno on failure; null on success.
        errno: Option<i32> => Id,
        /// The address returned: mmap's, mremap's and shmat's mapping, the
        /// new break of brk; null on failure and for the other calls.
        result: Option<u64> => Address,
        /// brk: the break before the call.
        prev_brk: Option<u64> => Address,
        /// shmat and shmdt: the size of the attached segment's mapping (the
        /// VMA at the returned address, or at shmaddr before the detach).
        seg_bytes: Option<u64> => Bytes,
        /// Bytes the call added to the address space, as `VmSize` counts
        /// them: mmap's length rounded up to pages, mremap's growth, brk's
        /// page-rounded move up, shmat's `seg_bytes`; 0 for failed calls
        /// and the others; null where the size is unknown (a segment whose
        /// mapping was not found). An mmap with MAP_FIXED over existing
        /// mappings counts all of its length.
        mapped: Option<u64> => Bytes,
        /// Bytes the call removed from the address space, as `mapped`:
        /// munmap's length rounded up to pages (its whole range, mapped or
        /// not), mremap's shrinking, brk's move down, shmdt's `seg_bytes`.
        unmapped: Option<u64> => Bytes,
        /// An mmap of a file: its path, from the file's directory entry up
        /// through its mounts (as `/proc/PID/maps` names it), with a leading
        /// `.../` when it is deeper than the parts kept; null otherwise.
        file: Option<Text> => None,
        /// An mmap of a file: its inode number.
        ino: Option<u64> => Id,
        /// Time from the call's entry to its return.
        duration_ns: i64 => Nanoseconds,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&mapping_call::TABLE];
