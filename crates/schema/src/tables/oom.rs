//! oom: OOM-killer victims.

crate::table! {
    /// The OOM killer chose a victim (`oom:mark_victim`). The header columns
    /// describe the task that ran the OOM killer; the victim is in these.
    /// Sizes are the tracepoint's (the kernel log's "Killed process" line) in bytes.
    /// Kernels whose `mark_victim` has only the pid (before 6.8, unless
    /// backported as in Debian's 6.1) leave the victim's columns but
    /// `victim_pid` null. The constraint and memcg columns come from the
    /// kernel log's lines about the kill (/dev/kmsg), joined by pid.
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
        /// What ran out, from the kernel log's `oom-kill:constraint=` line:
        /// `memcg` (a memory cgroup hit its limit), `global` (the machine ran
        /// out: `CONSTRAINT_NONE`), `cpuset` or `mempolicy` (the allowed
        /// nodes ran out). Null when the log did not have the kill's lines
        /// (the kernel rate-limits them to 10 per 5 s; the log may have been
        /// overwritten or unreadable), and in files of older memrec.
        constraint: Option<Text> => None,
        /// Path of the memory cgroup whose limit was hit, relative to the
        /// controller's root as the kernel log prints it (`oom_memcg=`);
        /// null for a global OOM, and when `constraint` is null.
        oom_memcg: Option<Text> => None,
        /// Path of the victim's memory cgroup (`task_memcg=`); null when
        /// `constraint` is null.
        task_memcg: Option<Text> => None,
        /// The OOM memcg's memory usage when the killer ran (the log's
        /// `memory: usage` line, kB in the log); null for a global OOM.
        memcg_usage: Option<u64> => Bytes,
        /// The OOM memcg's memory limit (the same line); null for a global
        /// OOM or an unlimited memcg.
        memcg_limit: Option<u64> => Bytes,
    }
}

/// What restricted the allocation the OOM killer ran for: the kernel's
/// `enum oom_constraint`, as `oom-kill:constraint=` prints it (the recorder
/// reads it) and as `oom_victim.constraint` stores it (the analyzer reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomConstraint {
    /// `CONSTRAINT_MEMCG`: a memory cgroup reached its limit.
    Memcg,
    /// `CONSTRAINT_NONE`: the whole machine ran out.
    Global,
    /// `CONSTRAINT_CPUSET`: the cpuset's memory nodes ran out.
    Cpuset,
    /// `CONSTRAINT_MEMORY_POLICY`: the mempolicy's nodes ran out.
    Mempolicy,
}

impl OomConstraint {
    const ALL: [(OomConstraint, &'static str, &'static str); 4] = [
        (OomConstraint::Memcg, "CONSTRAINT_MEMCG", "memcg"),
        (OomConstraint::Global, "CONSTRAINT_NONE", "global"),
        (OomConstraint::Cpuset, "CONSTRAINT_CPUSET", "cpuset"),
        (
            OomConstraint::Mempolicy,
            "CONSTRAINT_MEMORY_POLICY",
            "mempolicy",
        ),
    ];

    /// From the kernel log's word (`CONSTRAINT_MEMCG`).
    pub fn from_kernel(text: &str) -> Option<OomConstraint> {
        Self::ALL.iter().find(|c| c.1 == text).map(|c| c.0)
    }

    /// From the column's value (`memcg`).
    pub fn parse(text: &str) -> Option<OomConstraint> {
        Self::ALL.iter().find(|c| c.2 == text).map(|c| c.0)
    }

    /// The column's value.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|c| c.0 == self).map_or("", |c| c.2)
    }
}

/// The group's tables, in file order.
pub const TABLES: &[&crate::Table] = &[&oom_victim::TABLE];
