//! What a report looks at (time window, process) and how (top N, windows,
//! the leak criterion).

/// Error parsing a duration such as `10s`, `2m`, `1h30m` or `500ms`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration `{0}`: expected a number with a unit, e.g. 500ms, 10s, 2m, 1h")]
    Invalid(String),
    #[error("unknown unit `{unit}` in duration `{text}` (use ns, us, ms, s, m or h)")]
    Unit { text: String, unit: String },
    #[error("duration `{0}` is out of range")]
    Range(String),
}

/// Parses a duration into nanoseconds. A number alone means seconds; parts
/// add up (`1m30s`); decimals are allowed (`1.5s`).
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        if num_len == 0 {
            return Err(DurationError::Invalid(s.to_string()));
        }
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| DurationError::Invalid(s.to_string()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let scale = match unit {
            "" if rest.is_empty() && total == 0.0 => 1e9,
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" | "sec" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            "" => return Err(DurationError::Invalid(s.to_string())),
            other => {
                return Err(DurationError::Unit {
                    text: s.to_string(),
                    unit: other.to_string(),
                })
            }
        };
        total += num * scale;
    }
    if !total.is_finite() || total >= i64::MAX as f64 {
        return Err(DurationError::Range(s.to_string()));
    }
    Ok(total.round() as i64)
}

/// When a process's growth counts as a suspected leak: a positive slope of
/// total RSS that a straight line explains well, over enough samples and time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakCriterion {
    pub min_samples: usize,
    pub min_span_ns: i64,
    pub min_r2: f64,
}

impl Default for LeakCriterion {
    fn default() -> Self {
        LeakCriterion {
            min_samples: 10,
            min_span_ns: 2_000_000_000,
            min_r2: 0.9,
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
    /// Rows kept in ranked tables; 0 = all.
    pub top: usize,
    /// How far before an allocation failure to look for reclaim and compaction.
    pub window_ns: i64,
    /// How far before an OOM kill to look at the victim's growth.
    pub oom_window_ns: i64,
    pub leak: LeakCriterion,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            from_ns: None,
            to_ns: None,
            pid: None,
            comm: None,
            top: 20,
            window_ns: 5_000_000_000,
            oom_window_ns: 300_000_000_000,
            leak: LeakCriterion::default(),
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("42"), Ok(42_000_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration(" 3s "), Ok(3_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
    }

    #[test]
    fn bad_durations() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("abc"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("10x"),
            Err(DurationError::Unit { .. })
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("1s5"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("1..2s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999h"),
            Err(DurationError::Range(_))
        ));
    }

    #[test]
    fn window() {
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
