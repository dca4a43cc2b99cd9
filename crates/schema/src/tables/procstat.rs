//! procstat: per-process memory counters.

crate::table! {
    /// A process's memory counters, read from its `mm_struct` when one of its
    /// threads leaves a CPU (`sched:sched_switch`), while it keeps running (a
    /// per-CPU cpu-clock timer every `--procstat-interval`; or, with
    /// `--procstat-sampler rss` or where perf events are missing, when its own
    /// RSS changes, `kmem:rss_stat`), by memrec's sweep over the processes
    /// already seen at every snapshot (`--interval`; it catches a process
    /// that changed and went to sleep, or that reclaim changed), and when it
    /// exits. Recorded only when a counter changed, checked at most once per
    /// `--procstat-interval` per process (timer samples up to 1/8 sooner; the
    /// exit sample always). The RSS parts are exact sums of the kernel's
    /// per-CPU counters; each column names its `/proc/PID/status`
    /// counterpart.
    procstat, group = "procstat", task = header, sources = "sched:sched_switch, cpu-clock timer or kmem:rss_stat, iter/task, syscalls:sys_enter_{munmap,mremap,brk,madvise,shmdt,mmap}, sched:sched_process_exit or mmput()" {
        /// Why the sample was taken: `switch` (a thread left a CPU), `tick` (it
        /// was running when the timer fired), `rss` (its RSS changed while it
        /// ran), `sweep` (memrec's periodic sweep found it changed) or `exit`
        /// (the main thread is exiting, before its memory is released; the
        /// last sample). `synthetic` rows are memrec's load test, not the
        /// kernel's.
        reason: Text => None,
        /// Virtual size, `VmSize` (mm->total_vm).
        vsize: u64 => Bytes,
        /// Peak resident set, `VmHWM`: max(mm->hiwater_rss, current RSS, the
        /// exact RSS seen at earlier samples and right before each unmap
        /// (munmap, mremap, brk, madvise, shmdt, mmap MAP_FIXED)). The kernel
        /// updates its mark only at unmap, from approximate per-CPU counters,
        /// so its VmHWM can fall by up to a batch of pages per CPU and counter
        /// once the process unmaps; this one keeps the exact peak, so a spike
        /// shorter than the interval that ends in an unmap or exit shows here
        /// (one that reclaim ends shows in neither).
        rss_peak: u64 => Bytes,
        /// Resident anonymous memory, `RssAnon`.
        rss_anon: u64 => Bytes,
        /// Resident file mappings, `RssFile`.
        rss_file: u64 => Bytes,
        /// Resident shared memory (shmem, tmpfs, SysV shm), `RssShmem`.
        rss_shmem: u64 => Bytes,
        /// Anonymous memory swapped out, `VmSwap`.
        swap: u64 => Bytes,
        /// Private writable, non-stack mappings, `VmData`.
        data: u64 => Bytes,
        /// Stack mappings, `VmStk`.
        stack: u64 => Bytes,
        /// Page tables, `VmPTE`.
        pgtables: u64 => Bytes,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&procstat::TABLE];
