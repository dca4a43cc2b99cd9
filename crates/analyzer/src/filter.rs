//! What a report looks at (time window, process) and how (top N, windows,
//! the leak criterion).

use std::time::Duration;

/// A `--from`/`--to` window that selects nothing of the recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "--from {from} starts at or after the recording's end (the recording is {length} long)"
    )]
    FromPastEnd { from: String, length: String },
    #[error("--to {to} ends at the recording's start: the window is empty (the recording is {length} long)")]
    ToAtStart { to: String, length: String },
    #[error("--from ({from}) must be before --to ({to})")]
    Order { from: String, to: String },
    #[error("--{flag} {text}: the recording has no clock anchor to place a wall-clock time; give an offset from its start (30s, 1m30s)")]
    NoClock { flag: &'static str, text: String },
    #[error("--to {to} ends before the recording's start ({start}): the window is empty")]
    ToBeforeStart { to: String, start: String },
    #[error("--from {from} starts at or after the recording's end ({end})")]
    FromAfterEnd { from: String, end: String },
}

/// A `--from`/`--to` value: an offset from the recording's start, or a
/// wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePoint {
    Offset(Duration),
    /// Unix-epoch nanoseconds (an RFC 3339 time).
    Wall(i64),
}

/// A `--from`/`--to` value that is neither.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(pub String);

/// Parses an offset in the shared duration syntax, or an RFC 3339 time
/// (a date, `T` or a space, a time, and `Z` or an offset from UTC).
pub fn parse_time(text: &str) -> Result<TimePoint, TimeError> {
    let offset = memtrace_cli::parse_duration(text);
    if let Ok(d) = offset {
        return Ok(TimePoint::Offset(d));
    }
    let t = match chrono::DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => t,
        // No date in it: a mistyped offset, and the duration's reason says why.
        Err(_) if !text.contains('-') && !text.contains(':') => {
            return Err(TimeError(format!(
                "{} (or an RFC 3339 time, 2026-11-30T08:09:00Z)",
                offset
                    .err()
                    .map_or_else(|| text.to_string(), |e| e.to_string())
            )))
        }
        Err(_) => {
            return Err(TimeError(format!(
                "invalid time `{text}`: give an offset from the recording's start (500ms, 30s, \
                 1m30s) or an RFC 3339 time (2026-11-30T08:09:00Z, 2026-11-30T09:09:00.5+01:00)"
            )))
        }
    };
    t.timestamp_nanos_opt()
        .map(TimePoint::Wall)
        .ok_or_else(|| TimeError(format!("time `{text}` is out of range (1677 to 2262)")))
}

/// As [`window`], for offsets or wall-clock times: a wall-clock time is
/// placed with `wall_offset_ns` (Unix ns minus `ts_ns`, from the recording's
/// clock anchor). A window that misses the recording is an error naming its
/// span; one that overlaps it is cut to it by the report.
pub fn window_at(
    start_ns: i64,
    end_ns: i64,
    wall_offset_ns: Option<i64>,
    from: Option<(&str, TimePoint)>,
    to: Option<(&str, TimePoint)>,
) -> Result<(Option<i64>, Option<i64>), WindowError> {
    let wall = |flag: &'static str, text: &str, unix: i64| -> Result<i64, WindowError> {
        wall_offset_ns
            .map(|o| unix.saturating_sub(o))
            .ok_or_else(|| WindowError::NoClock {
                flag,
                text: text.to_string(),
            })
    };
    let when = |ts: i64| match wall_offset_ns {
        Some(o) => chrono::DateTime::from_timestamp_nanos(ts.saturating_add(o))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("+{}", length_text(ts - start_ns)),
    };
    // Offsets keep their checked rules; wall-clock times become ts_ns here.
    let (from_off, from_wall) = match from {
        Some((t, TimePoint::Offset(d))) => (Some((t, d)), None),
        Some((t, TimePoint::Wall(u))) => (None, Some((t, wall("from", t, u)?))),
        None => (None, None),
    };
    let (to_off, to_wall) = match to {
        Some((t, TimePoint::Offset(d))) => (Some((t, d)), None),
        Some((t, TimePoint::Wall(u))) => (None, Some((t, wall("to", t, u)?))),
        None => (None, None),
    };
    let mut from_ns = window(start_ns, end_ns, from_off, None)?.0;
    let mut to_ns = window(start_ns, end_ns, None, to_off)?.1;
    if let Some((text, v)) = from_wall {
        if v >= end_ns && end_ns > start_ns {
            return Err(WindowError::FromAfterEnd {
                from: text.to_string(),
                end: when(end_ns),
            });
        }
        from_ns = Some(v);
    }
    if let Some((text, v)) = to_wall {
        if v <= start_ns {
            return Err(WindowError::ToBeforeStart {
                to: text.to_string(),
                start: when(start_ns),
            });
        }
        to_ns = Some(v);
    }
    if let (Some(f), Some(t), Some((ft, _)), Some((tt, _))) = (from_ns, to_ns, from, to) {
        if f >= t {
            return Err(WindowError::Order {
                from: ft.to_string(),
                to: tt.to_string(),
            });
        }
    }
    Ok((from_ns, to_ns))
}

/// A recording length as people read it: `12.345 s`.
pub fn length_text(ns: i64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// The `[from, to)` window in absolute `ts_ns`, from durations relative to
/// the recording's start. Every sum is checked: `--to` past the end of time
/// means "to the end" (saturated), `--from` past the recording's end, or
/// `--to` at its start, is an error naming the recording's length.
pub fn window(
    start_ns: i64,
    end_ns: i64,
    from: Option<(&str, Duration)>,
    to: Option<(&str, Duration)>,
) -> Result<(Option<i64>, Option<i64>), WindowError> {
    let length = || length_text(end_ns.saturating_sub(start_ns));
    let abs =
        |d: Duration| memtrace_cli::duration::as_nanos_i64(d).and_then(|n| start_ns.checked_add(n));
    if let (Some((ft, f)), Some((tt, t))) = (from, to) {
        if f >= t {
            return Err(WindowError::Order {
                from: ft.to_string(),
                to: tt.to_string(),
            });
        }
    }
    let from_ns = match from {
        None => None,
        Some((text, d)) => match abs(d) {
            // An empty recording (start == end) still has its start.
            Some(v) if v < end_ns || (v == start_ns && end_ns == start_ns) => Some(v),
            _ => {
                return Err(WindowError::FromPastEnd {
                    from: text.to_string(),
                    length: length(),
                })
            }
        },
    };
    let to_ns = match to {
        None => None,
        Some((text, d)) if d.is_zero() => {
            return Err(WindowError::ToAtStart {
                to: text.to_string(),
                length: length(),
            })
        }
        Some((_, d)) => Some(abs(d).unwrap_or(i64::MAX)),
    };
    Ok((from_ns, to_ns))
}

/// The memory cgroups a `--cgroup PATH` covers: PATH and every cgroup below
/// it that the recording saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupScope {
    /// PATH as the recording names it (relative to the controller's root).
    pub path: String,
    /// Their ids (the `cgroup_id` column).
    pub ids: Vec<u64>,
    /// Their paths (`oom_victim.task_memcg`).
    pub paths: Vec<String>,
}

/// A `--cgroup` path the recording never saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--cgroup {given}: the recording saw no memory cgroup {given} (nor below it); {known}")]
pub struct UnknownCgroup {
    pub given: String,
    pub known: String,
}

/// Where cgroup filesystems are mounted on most hosts; a path under it is
/// taken as the controller's mount and stripped.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// How a `--cgroup` path may name a recorded one: as reports show it
/// (`/a/b`), or with the controller's mount in front
/// (`/sys/fs/cgroup/memory/a/b` on v1, `/sys/fs/cgroup/a/b` on v2). Most
/// stripped first.
fn cgroup_candidates(given: &str) -> Vec<String> {
    let norm = |p: &str| format!("/{}", p.trim_matches('/'));
    let mut out = Vec::new();
    if let Some(rest) = given.strip_prefix(CGROUP_MOUNT) {
        if rest.is_empty() || rest.starts_with('/') {
            let rest = rest.trim_start_matches('/');
            // A v1 hierarchy's mount (`memory`, `cpu,memory`) or v2's
            // `unified` beside v1 ones.
            if let Some((first, below)) = rest.split_once('/').or(Some((rest, ""))) {
                if first == "unified" || first.split(',').any(|c| c == "memory") {
                    out.push(norm(below));
                }
            }
            out.push(norm(rest));
        }
    }
    out.push(norm(given));
    out
}

/// Whether the cgroup at `path` is `scope` or below it.
pub fn cgroup_within(path: &str, scope: &str) -> bool {
    scope == "/"
        || path == scope
        || path
            .strip_prefix(scope)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Resolves `--cgroup` against the recording's id → path map: the first
/// reading of `given` ([`cgroup_candidates`]) that names a recorded cgroup,
/// with every recorded cgroup below it.
pub fn cgroup_scope(
    given: &str,
    cgroups: &std::collections::BTreeMap<u64, String>,
) -> Result<CgroupScope, UnknownCgroup> {
    for cand in cgroup_candidates(given) {
        let (ids, paths): (Vec<u64>, Vec<String>) = cgroups
            .iter()
            .filter(|(_, p)| cgroup_within(p, &cand))
            .map(|(id, p)| (*id, p.clone()))
            .unzip();
        if !ids.is_empty() {
            return Ok(CgroupScope {
                path: cand,
                ids,
                paths,
            });
        }
    }
    let mut paths: Vec<&str> = cgroups.values().map(String::as_str).collect();
    paths.sort_unstable();
    paths.dedup();
    const SHOWN: usize = 8;
    let known = if paths.is_empty() {
        "it names no cgroups (recorded without the memory controller, or by an older memrec)"
            .to_string()
    } else {
        let more = paths.len().saturating_sub(SHOWN);
        let list = paths[..paths.len().min(SHOWN)].join(", ");
        if more > 0 {
            format!("it saw {list} and {more} more")
        } else {
            format!("it saw {list}")
        }
    };
    Err(UnknownCgroup {
        given: given.to_string(),
        known,
    })
}

/// When a process's growth counts as a suspected leak (docs/REPORTS.md,
/// "Leak criterion"): over its samples before its exit, enough of them over
/// enough time, growth of at least `min_growth` bytes that was never given
/// back and that a straight line explains almost entirely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakCriterion {
    pub min_samples: usize,
    pub min_span_ns: i64,
    pub min_r2: f64,
    /// Bytes of total RSS gained from the first to the last sample.
    pub min_growth: u64,
    /// Largest share of its rises a process may give back (Σ falls / Σ
    /// rises between consecutive samples).
    pub max_given_back: f64,
}

impl Default for LeakCriterion {
    fn default() -> Self {
        LeakCriterion {
            min_samples: 10,
            min_span_ns: 2_000_000_000,
            // Memory lost at a steady rate is a line (memscen's leak: 0.997
            // and above, emulated kernels included); a compiler's working
            // set grows in phases that bend it (at most 0.966 in the
            // fixtures among those that gave nothing back). Between the
            // two, a leak may pause ~0.5 s in 3 s and stay a suspect.
            min_r2: 0.98,
            min_growth: 1 << 20,
            max_given_back: 0.1,
        }
    }
}

/// The rows a report covers and the knobs of its sections.
#[derive(Debug, Clone)]
pub struct Filter {
    /// First `ts_ns` included (absolute CLOCK_BOOTTIME ns); `None` = start.
    pub from_ns: Option<i64>,
    /// First `ts_ns` excluded; `None` = end.
    pub to_ns: Option<i64>,
    /// Only rows whose `tgid` is this (oom_victim: whose `victim_pid` is).
    pub pid: Option<u32>,
    /// Only rows whose `comm` is exactly this (oom_victim: `victim_comm`).
    pub comm: Option<String>,
    /// Only rows of tasks in this memory cgroup or below it (its path as
    /// the report shows it).
    pub cgroup: Option<String>,
    /// What `cgroup` covers in this recording ([`cgroup_scope`]).
    pub cgroup_scope: Option<CgroupScope>,
    /// Rows kept in ranked tables; 0 = all.
    pub top: usize,
    /// How far before an allocation failure to look for reclaim and compaction.
    pub window_ns: i64,
    /// How far before an OOM kill to look at the victim's growth.
    pub oom_window_ns: i64,
    /// A reclaim or compaction pass at least this long is a stall finding.
    pub stall_ns: i64,
    pub leak: LeakCriterion,
    /// Directories of debug files for symbolizing stacks (`--debuginfo`).
    pub debuginfo: Vec<std::path::PathBuf>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            from_ns: None,
            to_ns: None,
            pid: None,
            comm: None,
            cgroup: None,
            cgroup_scope: None,
            top: 20,
            window_ns: 5_000_000_000,
            oom_window_ns: 300_000_000_000,
            stall_ns: 10_000_000,
            leak: LeakCriterion::default(),
            debuginfo: Vec::new(),
        }
    }
}

impl Filter {
    pub fn has_task_filter(&self) -> bool {
        self.pid.is_some() || self.comm.is_some() || self.cgroup.is_some()
    }

    pub fn contains_ts(&self, ts: i64) -> bool {
        self.from_ns.is_none_or(|f| ts >= f) && self.to_ns.is_none_or(|t| ts < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        memtrace_cli::parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn windows_are_checked() {
        let (s, e) = (1_000_000_000, 11_000_000_000);
        assert_eq!(
            window(s, e, Some(("2s", d("2s"))), Some(("5s", d("5s")))),
            Ok((Some(3_000_000_000), Some(6_000_000_000)))
        );
        // Past the end of time: to the end, not an overflow that selects nothing.
        assert!(matches!(
            window(s, e, None, Some(("2562047h", d("2562047h")))),
            Ok((None, Some(t))) if t > e
        ));
        assert_eq!(
            window(s, e, None, Some(("max", memtrace_cli::duration::MAX))),
            Ok((None, Some(i64::MAX)))
        );
        // A start past the end, however far, is an error naming the length.
        for f in ["10s", "11s", "2562047h"] {
            let err = window(s, e, Some((f, d(f))), None).unwrap_err();
            assert!(err.to_string().contains("10.000 s long"), "{err}");
        }
        assert!(matches!(
            window(s, e, None, Some(("0", d("0")))),
            Err(WindowError::ToAtStart { .. })
        ));
        assert!(matches!(
            window(s, e, Some(("5s", d("5s"))), Some(("5s", d("5s")))),
            Err(WindowError::Order { .. })
        ));
        assert_eq!(
            window(s, e, Some(("9.999s", d("9.999s"))), None),
            Ok((Some(10_999_000_000), None))
        );
    }

    #[test]
    fn cgroup_paths_resolve_with_or_without_the_mount() {
        let map: std::collections::BTreeMap<u64, String> = [
            (1, "/".to_string()),
            (10, "/memscen-1-oom".to_string()),
            (11, "/memscen-1-oom/worker".to_string()),
            (12, "/memscen-1-oomx".to_string()),
        ]
        .into();
        for given in [
            "/memscen-1-oom",
            "memscen-1-oom/",
            "/sys/fs/cgroup/memory/memscen-1-oom",
            "/sys/fs/cgroup/memscen-1-oom",
            "/sys/fs/cgroup/unified/memscen-1-oom",
        ] {
            let s = cgroup_scope(given, &map).unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(s.path, "/memscen-1-oom", "{given}");
            assert_eq!(s.ids, [10, 11], "{given}");
        }
        assert_eq!(cgroup_scope("/", &map).map(|s| s.ids.len()), Ok(4));
        let e = cgroup_scope("/nope", &map).unwrap_err().to_string();
        assert!(e.contains("--cgroup /nope"), "{e}");
        assert!(e.contains("/memscen-1-oom/worker"), "{e}");
        let many: std::collections::BTreeMap<u64, String> =
            (0..20).map(|i| (i, format!("/c{i:02}"))).collect();
        let e = cgroup_scope("/nope", &many).unwrap_err().to_string();
        assert!(e.ends_with("and 12 more"), "{e}");
        let e = cgroup_scope("/x", &Default::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("names no cgroups"), "{e}");
    }

    #[test]
    fn wall_clock_windows() {
        // Recording from boottime 1 s to 11 s; boottime 0 is Unix 1_000 s.
        let (s, e, off) = (1_000_000_000, 11_000_000_000, Some(1_000_000_000_000));
        let t = |x: &str| parse_time(x).unwrap_or_else(|e| panic!("{x}: {e}"));
        assert_eq!(t("1m30s"), TimePoint::Offset(Duration::from_secs(90)));
        assert_eq!(
            t("1970-01-01T00:16:42Z"),
            TimePoint::Wall(1_002_000_000_000)
        );
        assert_eq!(
            t("1970-01-01T01:16:42.5+01:00"),
            TimePoint::Wall(1_002_500_000_000)
        );
        assert!(parse_time("yesterday").is_err());
        // 1002 s Unix is boottime 2 s: 1 s into the recording.
        let w = |f: Option<&str>, to: Option<&str>| {
            window_at(s, e, off, f.map(|x| (x, t(x))), to.map(|x| (x, t(x))))
        };
        assert_eq!(
            w(Some("1970-01-01T00:16:42Z"), Some("5s")),
            Ok((Some(2_000_000_000), Some(6_000_000_000)))
        );
        // A window before the start or after the end is an error.
        assert!(matches!(
            w(None, Some("1970-01-01T00:16:40Z")),
            Err(WindowError::ToBeforeStart { .. })
        ));
        assert!(matches!(
            w(Some("1970-01-01T00:17:00Z"), None),
            Err(WindowError::FromAfterEnd { .. })
        ));
        assert!(matches!(
            w(Some("1970-01-01T00:16:45Z"), Some("1970-01-01T00:16:44Z")),
            Err(WindowError::Order { .. })
        ));
        // Overlapping the start: kept, the report cuts it.
        assert_eq!(
            w(Some("1970-01-01T00:16:00Z"), None),
            Ok((Some(-40_000_000_000), None))
        );
        // Without an anchor a wall-clock time cannot be placed.
        assert!(matches!(
            window_at(s, e, None, Some(("x", TimePoint::Wall(5))), None),
            Err(WindowError::NoClock { .. })
        ));
    }

    #[test]
    fn contains_ts_window() {
        let f = Filter {
            from_ns: Some(10),
            to_ns: Some(20),
            ..Default::default()
        };
        assert!(f.contains_ts(10));
        assert!(f.contains_ts(19));
        assert!(!f.contains_ts(20));
        assert!(!f.contains_ts(9));
    }
}
