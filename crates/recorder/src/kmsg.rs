//! The kernel's own account of an OOM kill, from its log (/dev/kmsg): the
//! constraint (memcg or global), the memcg that hit its limit, the victim's
//! memcg, and the memcg's usage and limit. The `oom:mark_victim` tracepoint
//! carries none of these; the kernel prints them just before it fires
//! (mm/oom_kill.c `dump_header`, unchanged from 6.1 to 6.18):
//!
//! ```text
//! memscen-oom invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
//! memory: usage 65536kB, limit 65536kB, failcnt 0          (memcg OOMs only)
//! oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=memscen-oom,pid=8584,uid=0
//! ```
//!
//! `dump_header` is rate-limited (10 per 5 s), and the log may be cleared or
//! overwritten: a kill whose lines are not there has null columns, never
//! guessed ones.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use tracing::debug;

/// What restricted the allocation that ran out (the schema's one
/// definition, shared with memana).
pub use memtrace_schema::tables::oom::OomConstraint as Constraint;

/// One OOM kill as the kernel log told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomReport {
    pub pid: u32,
    pub constraint: Option<Constraint>,
    /// The memcg whose limit was hit (memcg OOMs only).
    pub oom_memcg: Option<String>,
    /// The victim's memcg.
    pub task_memcg: Option<String>,
    /// The OOM memcg's usage and limit in bytes (the `memory:` line).
    pub usage: Option<u64>,
    pub limit: Option<u64>,
}

/// Value of `key=` in the comma-separated summary, up to the next known key.
/// Paths and command names may hold commas, so each field ends where the
/// next field that follows it begins, searched from the right.
fn field<'a>(line: &'a str, key: &str, next: &[&str]) -> Option<&'a str> {
    let start = line.find(&format!(",{key}=")).map(|i| i + key.len() + 2)?;
    let rest = &line[start..];
    let end = next
        .iter()
        .filter_map(|n| rest.rfind(&format!(",{n}=")))
        .min()
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Parses the `oom-kill:` summary line.
pub fn parse_summary(line: &str) -> Option<OomReport> {
    let body = line.trim_end().strip_prefix("oom-kill:")?;
    // A leading comma lets every field be found the same way.
    let body = format!(",{body}");
    let constraint = field(&body, "constraint", &["nodemask"]).and_then(Constraint::from_kernel);
    let oom_memcg = field(&body, "oom_memcg", &["task_memcg", "task"]).map(str::to_string);
    let task_memcg = field(&body, "task_memcg", &["task"]).map(str::to_string);
    // The last `,pid=`: the command name before it may hold anything.
    let pid_at = body.rfind(",pid=")? + ",pid=".len();
    let pid = body[pid_at..].split(',').next()?.parse().ok()?;
    Some(OomReport {
        pid,
        constraint,
        oom_memcg,
        task_memcg,
        usage: None,
        limit: None,
    })
}

/// Parses `memory: usage 65536kB, limit 65536kB, failcnt 0` into bytes
/// (usage, limit); a limit of "unlimited" size is none.
pub fn parse_memory_line(line: &str) -> Option<(u64, Option<u64>)> {
    let rest = line.trim_end().strip_prefix("memory: usage ")?;
    let (usage, rest) = rest.split_once("kB, limit ")?;
    let (limit, _) = rest.split_once("kB")?;
    let usage: u64 = usage.parse().ok()?;
    let limit: u64 = limit.parse().ok()?;
    let limit = limit
        .checked_mul(1024)
        .and_then(|b| crate::kernel::parse_memcg_limit(&b.to_string()));
    Some((usage.checked_mul(1024)?, limit))
}

/// Kills told by the log, kept until the tracepoint's row asks for them.
#[derive(Debug, Default)]
pub struct OomParser {
    /// The `memory:` line of the OOM being printed.
    memory: Option<(u64, Option<u64>)>,
    found: VecDeque<OomReport>,
}

/// Kills kept waiting for their row: more means rows that never came.
const KEEP: usize = 64;

impl OomParser {
    /// Takes one log message (the record's first line).
    pub fn feed(&mut self, msg: &str) {
        if msg.contains(" invoked oom-killer: ") {
            // A new OOM's report begins: the last one's memory line is not its.
            self.memory = None;
        } else if let Some(m) = parse_memory_line(msg) {
            self.memory = Some(m);
        } else if let Some(mut r) = parse_summary(msg) {
            // The memory line is printed only for memcg OOMs.
            if r.constraint == Some(Constraint::Memcg) {
                if let Some((usage, limit)) = self.memory {
                    (r.usage, r.limit) = (Some(usage), limit);
                }
            }
            self.memory = None;
            if self.found.len() == KEEP {
                self.found.pop_front();
            }
            self.found.push_back(r);
        }
    }

    /// The latest kill of `pid` the log told, taken out.
    pub fn take(&mut self, pid: u32) -> Option<OomReport> {
        let i = self.found.iter().rposition(|r| r.pid == pid)?;
        self.found.remove(i)
    }
}

/// The kernel log read from where the recording started.
#[derive(Debug)]
pub struct KernelLog {
    file: Option<File>,
    parser: OomParser,
}

impl KernelLog {
    /// Opens /dev/kmsg after its last record: only what the kernel logs
    /// from now on is read.
    pub fn open_at_end() -> std::io::Result<KernelLog> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        file.seek(SeekFrom::End(0))?;
        Ok(KernelLog {
            file: Some(file),
            parser: OomParser::default(),
        })
    }

    /// A log fed by hand (tests).
    #[cfg(test)]
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> KernelLog {
        let mut parser = OomParser::default();
        lines.into_iter().for_each(|l| parser.feed(l));
        KernelLog { file: None, parser }
    }

    /// Reads what the kernel logged since the last call.
    fn read_new(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        // One read returns one record: "prio,seq,ts_us,flags;message\n"
        // then continuation lines; a record is at most about 8 KiB.
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some(first) = rec.split_once(';').and_then(|(_, m)| m.lines().next()) {
                        self.parser.feed(first);
                    }
                }
                // Records overwritten before they were read: go on from
                // the oldest one left.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("/dev/kmsg: {e}");
                    break;
                }
            }
        }
    }

    /// The kernel's account of the kill of `pid`, if its log has it. The
    /// lines come before the tracepoint fires, so they are there by the
    /// time its record is read.
    pub fn oom_kill(&mut self, pid: u32) -> Option<OomReport> {
        self.read_new();
        self.parser.take(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memcg OOM on 6.18 (cgroup v1), as this host's log has it.
    const V6_18: &[&str] = &[
        "memscen-oom invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        "memory: usage 65536kB, limit 65536kB, failcnt 0",
        "memory+swap: usage 65536kB, limit 65536kB, failcnt 0",
        "Memory cgroup stats for /memscen-8583-oom:",
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/memscen-8583-oom,task_memcg=/memscen-8583-oom,task=memscen-oom,pid=8584,uid=0",
        "Memory cgroup out of memory: Killed process 8584 (memscen-oom) total-vm:1054416kB, anon-rss:65024kB, file-rss:3524kB, shmem-rss:0kB, UID:0 pgtables:180kB oom_score_adj:0",
    ];

    /// A memcg OOM on Debian's 6.1 (cgroup v1).
    const V6_1: &[&str] = &[
        "memscen-oom invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0",
        "CPU: 1 PID: 232 Comm: memscen-oom Not tainted 6.1.0-57-amd64 #1  Debian 6.1.192-3",
        "memory: usage 32768kB, limit 32768kB, failcnt 41",
        "memory+swap: usage 32768kB, limit 32768kB, failcnt 0",
        "kmem: usage 412kB, limit 9007199254740988kB, failcnt 0",
        "Memory cgroup stats for /memscen-231-oom:",
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/memscen-231-oom,task_memcg=/memscen-231-oom,task=memscen-oom,pid=232,uid=0",
        "Memory cgroup out of memory: Killed process 232 (memscen-oom) total-vm:1054300kB, anon-rss:32580kB, file-rss:1944kB, shmem-rss:0kB, UID:0 pgtables:120kB oom_score_adj:0",
    ];

    #[test]
    fn a_memcg_kill_on_6_18_has_its_memcg_and_limit() {
        let mut log = KernelLog::from_lines(V6_18.iter().copied());
        let r = log.oom_kill(8584).unwrap();
        assert_eq!(r.constraint, Some(Constraint::Memcg));
        assert_eq!(r.oom_memcg.as_deref(), Some("/memscen-8583-oom"));
        assert_eq!(r.task_memcg.as_deref(), Some("/memscen-8583-oom"));
        assert_eq!(r.usage, Some(64 << 20));
        assert_eq!(r.limit, Some(64 << 20));
        // Taken once.
        assert_eq!(log.oom_kill(8584), None);
    }

    #[test]
    fn a_memcg_kill_on_6_1_has_its_memcg_and_limit() {
        let mut log = KernelLog::from_lines(V6_1.iter().copied());
        assert_eq!(log.oom_kill(999), None);
        let r = log.oom_kill(232).unwrap();
        assert_eq!(r.constraint, Some(Constraint::Memcg));
        assert_eq!(r.oom_memcg.as_deref(), Some("/memscen-231-oom"));
        assert_eq!(r.limit, Some(32 << 20));
        assert_eq!(r.usage, Some(32 << 20));
    }

    #[test]
    fn a_global_kill_has_no_memcg_nor_limit() {
        let mut log = KernelLog::from_lines([
            "stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
            // A previous memcg OOM's memory line must not leak into it.
            "Mem-Info:",
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-0.slice/session-1.scope,task=stress,pid=77,uid=0",
        ]);
        let r = log.oom_kill(77).unwrap();
        assert_eq!(r.constraint, Some(Constraint::Global));
        assert_eq!(r.oom_memcg, None);
        assert_eq!(
            r.task_memcg.as_deref(),
            Some("/user.slice/user-0.slice/session-1.scope")
        );
        assert_eq!((r.usage, r.limit), (None, None));
    }

    #[test]
    fn a_memory_line_belongs_to_its_own_oom_only() {
        let mut p = OomParser::default();
        p.feed("memory: usage 100kB, limit 100kB, failcnt 0");
        p.feed("a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0");
        p.feed("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=a,pid=5,uid=0");
        let r = p.take(5).unwrap();
        assert_eq!(r.task_memcg.as_deref(), Some("/a/b"));
        assert_eq!((r.usage, r.limit), (None, None));
    }

    #[test]
    fn commas_in_names_and_unknown_constraints() {
        let r = parse_summary(
            "oom-kill:constraint=CONSTRAINT_SOMETHING,nodemask=0,cpuset=/,mems_allowed=0,oom_memcg=/a,b,task_memcg=/a,b/c,task=x,y,pid=9,uid=1",
        )
        .unwrap();
        assert_eq!(r.constraint, None);
        assert_eq!(r.oom_memcg.as_deref(), Some("/a,b"));
        assert_eq!(r.task_memcg.as_deref(), Some("/a,b/c"));
        assert_eq!(r.pid, 9);
        assert_eq!(parse_summary("Out of memory: Killed process 9"), None);
        assert_eq!(
            parse_memory_line("memory: usage 1kB, limit 9007199254740988kB, failcnt 0"),
            Some((1024, None))
        );
    }
}
