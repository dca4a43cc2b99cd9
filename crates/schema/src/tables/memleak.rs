//! memleak: user-space heap allocations and frees of the traced processes,
//! from uprobes on their C library, with user stacks that symbolize on
//! another machine (the stack store).

crate::table! {
    /// One user allocation that returned memory (a failed call, returning
    /// NULL or an error, has no row), passed `--alloc-min-size` and was
    /// kept by the byte sampling (`--alloc-sample`). Written at the call's
    /// return, in the calling thread. Only allocations recorded here are
    /// tracked: `user_free` holds only their frees. A call the C library
    /// makes inside another traced call of the same thread (glibc's malloc
    /// of a large block calling mmap, musl's calloc calling malloc) is part
    /// of the outer call's row, not a row of its own.
    user_alloc, group = "memleak", task = header, sources = "uprobe/uretprobe: libc malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc, mmap" {
        /// The C library call: `malloc`, `calloc`, `realloc`,
        /// `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`,
        /// `valloc`, `pvalloc` or `mmap`. Where two of these are one
        /// function in the C library (glibc before 2.38 makes
        /// `aligned_alloc` the same function as `memalign`), its calls are
        /// recorded under the name listed first here.
        call: Text => None,
        /// The address returned (for posix_memalign, stored through its
        /// first argument).
        address: u64 => Address,
        /// Bytes asked for: malloc's size, calloc's count × size,
        /// realloc's new size, mmap's length.
        size: u64 => Bytes,
        /// The alignment asked for (posix_memalign, aligned_alloc,
        /// memalign; the page size for valloc and pvalloc); null otherwise.
        align: Option<u64> => Bytes,
        /// For realloc and reallocarray: the block it was given (0 for
        /// none); its free, if that block was tracked, is a `user_free` row
        /// at the same `ts_ns`.
        old_address: Option<u64> => Address,
        /// The user stack at the call's return (`stack_frame`): depth 0 is
        /// the return address in the caller of the C library function; null
        /// when stacks are off (`--no-alloc-stacks`) or none could be read.
        stack_id: Option<u64> => Id,
        /// The kernel's error when no stack could be read; null otherwise.
        stack_error: Option<i32> => None,
        /// The byte sampling period, as `kernel_alloc.sample_bytes` (over
        /// `size`); null when every allocation was recorded.
        sample_bytes: Option<u64> => Bytes,
    }
}

crate::table! {
    /// A free of an address that `user_alloc` recorded for the same
    /// process: `free`, the old block of a `realloc` (every realloc that
    /// returned a block, moved or in place, ends the old one; so does
    /// `realloc(p, 0)`; a failed one leaves it), or a `munmap` of a
    /// recorded `mmap` (at the address it returned).
    user_free, group = "memleak", task = header, sources = "uprobe: libc free, realloc, reallocarray, munmap" {
        /// The call: `free`, `realloc`, `reallocarray` or `munmap` (`free`
        /// when the C library's realloc frees the block through free, as
        /// glibc's `realloc(p, 0)` does).
        call: Text => None,
        /// The address freed.
        address: u64 => Address,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&user_alloc::TABLE, &user_free::TABLE];
