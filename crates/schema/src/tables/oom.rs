//! oom: OOM-killer victims.

crate::table! {
    /// The OOM killer chose a victim (`oom:mark_victim`). The header columns
    /// describe the task that ran the OOM killer; the victim is in these.
    /// Sizes are the tracepoint's (the kernel log's "Killed process" line) in bytes.
    /// Kernels whose `mark_victim` has only the pid (before 6.8, unless
    /// backported as in Debian's 6.1) leave every column but `victim_pid` null.
    oom_victim, group = "oom", task = (victim_pid, victim_comm), sources = "oom:mark_victim" {
        /// Victim's pid.
        victim_pid: u32 => Id,
        /// Victim's command name.
        victim_comm: Option<Text> => None,
        /// Victim's uid.
        uid: Option<u32> => Id,
        /// Victim's virtual size.
        total_vm: Option<u64> => Bytes,
        /// Victim's resident anonymous memory.
        anon_rss: Option<u64> => Bytes,
        /// Victim's resident file memory.
        file_rss: Option<u64> => Bytes,
        /// Victim's resident shared memory.
        shmem_rss: Option<u64> => Bytes,
        /// Victim's page tables.
        pgtables: Option<u64> => Bytes,
        /// Victim's oom_score_adj.
        oom_score_adj: Option<i32> => None,
        /// 1-minute load average when the recorder received the event
        /// (/proc/loadavg, within one drain interval of the kill).
        load1: f64 => Ratio,
        /// 5-minute load average, as `load1`.
        load5: f64 => Ratio,
        /// 15-minute load average, as `load1`.
        load15: f64 => Ratio,
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&oom_victim::TABLE];
