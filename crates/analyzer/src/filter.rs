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
            // and above, emulated kernels included); a compiler's or a
            // build's working set grows in phases (0.85-0.98 in the fixtures).
            min_r2: 0.99,
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
    /// Rows kept in ranked tables; 0 = all.
    pub top: usize,
    /// How far before an allocation failure to look for reclaim and compaction.
    pub window_ns: i64,
    /// How far before an OOM kill to look at the victim's growth.
    pub oom_window_ns: i64,
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
            top: 20,
            window_ns: 5_000_000_000,
            oom_window_ns: 300_000_000_000,
            leak: LeakCriterion::default(),
            debuginfo: Vec::new(),
        }
    }
}

impl Filter {
    pub fn has_task_filter(&self) -> bool {
        self.pid.is_some() || self.comm.is_some()
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
