//! Renderers: aligned text, JSON, CSV and Markdown, over the table model.

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod text;

use crate::model::{Table, TextLimit, Unit, Value};

/// How much of a report the text and markdown formats print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The findings and the key tables, cut to fit one screen.
    Brief,
    /// Every table of every section, settings and empty sections included.
    Full,
}

/// How a report's times read: seconds from the recording's start, and the
/// wall-clock time when the recording has a clock anchor (every memrec
/// file has one; see `clock_anchors` in docs/SCHEMA.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub start_ns: i64,
    /// Unix-epoch ns minus `ts_ns` (CLOCK_BOOTTIME), from the start anchor.
    pub wall_offset_ns: Option<i64>,
}

impl Clock {
    /// Offsets only.
    pub fn offsets(start_ns: i64) -> Clock {
        Clock {
            start_ns,
            wall_offset_ns: None,
        }
    }

    /// The wall-clock time of a `ts_ns`, in UTC.
    pub fn wall(&self, ts_ns: i64) -> Option<chrono::DateTime<chrono::Utc>> {
        let unix = ts_ns.checked_add(self.wall_offset_ns?)?;
        Some(chrono::DateTime::from_timestamp_nanos(unix))
    }

    /// `+1.808s`.
    pub fn offset(&self, ts_ns: i64) -> String {
        format!("{:+.3}s", (ts_ns as f64 - self.start_ns as f64) / 1e9)
    }

    /// `08:09:05.060 +1.808s` (time of day in UTC, then the offset); the
    /// offset alone without an anchor.
    pub fn stamp(&self, ts_ns: i64) -> String {
        match self.wall(ts_ns) {
            Some(w) => format!("{} {}", w.format("%H:%M:%S%.3f"), self.offset(ts_ns)),
            None => self.offset(ts_ns),
        }
    }

    /// `2026-11-22 08:09:03.252 UTC`, or `-` without an anchor.
    pub fn date_time(&self, ts_ns: i64) -> String {
        self.wall(ts_ns).map_or_else(
            || "-".into(),
            |w| w.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        )
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
    Markdown,
    /// One self-contained page with charts (report), or the tables as a page.
    Html,
}

/// Most characters of one text field the text and markdown formats print.
/// Longer text (a damaged or hostile file's) is cut and says by how much, so
/// one field cannot pad a table to megabytes. JSON and CSV print it whole.
pub const TEXT_CAP: usize = 256;

/// Text safe to print on a terminal: control characters escaped (`\x1b`,
/// `\n`), so a process name cannot drive the terminal or forge lines, and
/// at most [`TEXT_CAP`] characters.
pub fn clean(s: &str) -> String {
    clean_to(s, TEXT_CAP)
}

/// Most characters of a sentence (a note, a status message) in the text
/// and markdown formats: they quote reasons from the file's metadata.
pub const NOTE_CAP: usize = 1024;

/// As [`clean`], with another cap.
pub fn clean_to(s: &str, cap: usize) -> String {
    let mut out = memtrace_cli::error::escape(s);
    if let Some((cut, _)) = out.char_indices().nth(cap) {
        let rest = out.len() - cut;
        out.truncate(cut);
        out.push_str(&format!("…(+{rest} bytes)"));
    }
    out
}

/// Human-readable bytes: B under 1 KiB, else KiB/MiB/GiB/TiB with 2 decimals.
pub fn human_bytes(v: f64) -> String {
    let a = v.abs();
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if a < 1024.0 {
        return if v.fract() == 0.0 {
            format!("{v:.0} B")
        } else {
            format!("{v:.1} B")
        };
    }
    let mut x = v;
    let mut i = 0;
    while x.abs() >= 1024.0 && i < UNITS.len() - 1 {
        x /= 1024.0;
        i += 1;
    }
    format!("{x:.2} {}", UNITS[i])
}

/// A cell as people read it; times as offsets from `start_ns`.
pub fn human(v: &Value, unit: Unit, start_ns: i64) -> String {
    human_at(v, unit, &Clock::offsets(start_ns))
}

/// A cell as people read it; times as wall-clock time and offset.
pub fn human_at(v: &Value, unit: Unit, clock: &Clock) -> String {
    let f = match v {
        Value::Null => return "-".into(),
        Value::Text(s) => return clean(s),
        Value::Bool(b) => return if *b { "yes".into() } else { "no".into() },
        other => other.as_f64().unwrap_or(0.0),
    };
    let int = matches!(v, Value::Int(_) | Value::UInt(_));
    match unit {
        Unit::Bytes => human_bytes(f),
        Unit::BytesPerSec => format!("{}/s", human_bytes(f)),
        Unit::Ns if f.abs() >= 1e10 => format!("{:.3} s", f / 1e9),
        Unit::Ns => format!("{:.3} ms", f / 1e6),
        Unit::Ms => format!("{f:.3} ms"),
        Unit::Seconds => format!("{f:.3} s"),
        Unit::Timestamp => match v {
            Value::Int(t) => clock.stamp(*t),
            Value::UInt(t) => i64::try_from(*t).map_or_else(|_| v.plain(), |t| clock.stamp(t)),
            _ => format!("{:+.3}s", (f - clock.start_ns as f64) / 1e9),
        },
        Unit::Ratio => format!("{:.2}%", f * 100.0),
        Unit::PagesPerSec => format!("{f:.3}"),
        Unit::None | Unit::Count | Unit::Pages => {
            if int {
                v.plain()
            } else {
                format!("{f:.3}")
            }
        }
    }
}

/// Header text of a column: the name, with the unit when values do not show it.
pub fn header(name: &str, unit: Unit) -> String {
    match unit {
        // Shown as wall-clock time and offset, not as ns.
        Unit::Timestamp if name == "ts_ns" => "time".to_string(),
        Unit::Pages => format!("{name} [pages]"),
        Unit::PagesPerSec => format!("{name} [pages/s]"),
        _ => name.to_string(),
    }
}

/// The row indexes the text and markdown renderers show.
pub fn shown_rows(t: &Table) -> Vec<usize> {
    let n = t.rows.len();
    match t.text_limit {
        TextLimit::Head(k) if n > k => (0..k).collect(),
        TextLimit::Sample(k) if n > k && k >= 2 => {
            let mut v: Vec<usize> = (0..k).map(|i| i * (n - 1) / (k - 1)).collect();
            v.dedup();
            v
        }
        _ => (0..n).collect(),
    }
}

/// The line that says rows were left out, if any.
pub fn omitted_note(t: &Table, shown: usize) -> Option<String> {
    if shown < t.total_rows {
        Some(format!(
            "({} of {} rows shown; --top 0 keeps all, --format json has every row kept)",
            shown, t.total_rows
        ))
    } else {
        None
    }
}

/// Columns the text report has: the terminal's when stdout is one, else
/// `COLUMNS`, else 120.
pub fn width() -> u16 {
    // SAFETY: TIOCGWINSZ fills a plain struct; the result is checked.
    let tty = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0)
            .then_some(ws.ws_col)
    };
    tty.or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&w: &u16| w >= 40)
        .unwrap_or(120)
}

/// A table the brief report shows: its section and id, the columns it keeps
/// (those the table has, in this order; empty keeps all) and how many rows.
#[derive(Debug)]
pub struct KeyTable {
    pub section: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub rows: usize,
}

/// The brief report's tables, in report order: what a reader checks after
/// the findings. A section with none of these shows no table when brief.
pub static KEY_TABLES: &[KeyTable] = &[
    // A report over several recordings: which ones.
    KeyTable {
        section: "header",
        table: "recordings",
        columns: &[],
        rows: 10,
    },
    KeyTable {
        section: "growth",
        table: "processes",
        columns: &[
            "tgid",
            "comm",
            "cgroup",
            "samples",
            "rss_last",
            "rss_growth",
            "growth_rate",
            "r2",
            "verdict",
            "leak_suspect",
            "exited",
        ],
        rows: 5,
    },
    KeyTable {
        section: "cgroups",
        table: "cgroups",
        columns: &[],
        rows: 3,
    },
    KeyTable {
        section: "paf",
        table: "by_kind",
        columns: &[],
        rows: 5,
    },
    KeyTable {
        section: "reclaim",
        table: "latency",
        columns: &[
            "reclaimer",
            "cgroup",
            "begins",
            "reclaimed",
            "p50",
            "p99",
            "max",
            "total",
        ],
        rows: 5,
    },
    KeyTable {
        section: "oom",
        table: "victims",
        columns: &[
            "ts_ns",
            "victim_pid",
            "victim_comm",
            "constraint",
            "cgroup",
            "rss",
        ],
        rows: 5,
    },
    KeyTable {
        section: "faults",
        table: "by_process",
        columns: &[],
        rows: 5,
    },
    KeyTable {
        section: "swap",
        table: "cgroups",
        columns: &[],
        rows: 5,
    },
    KeyTable {
        section: "mappings",
        table: "failures",
        columns: &[],
        rows: 5,
    },
    KeyTable {
        section: "compaction",
        table: "stalls",
        columns: &[
            "tgid", "comm", "stalls", "success", "fail", "p50", "p99", "max", "total",
        ],
        rows: 5,
    },
    KeyTable {
        section: "hugetlb",
        table: "processes",
        columns: &[],
        rows: 5,
    },
    KeyTable {
        section: "leaks",
        table: "user_outstanding",
        columns: &[
            "stack_id",
            "tgid",
            "comm",
            "bytes",
            "allocations",
            "oldest_age",
        ],
        rows: 5,
    },
    KeyTable {
        section: "leaks",
        table: "kernel_outstanding",
        columns: &[
            "stack_id",
            "kind",
            "cache",
            "bytes",
            "allocations",
            "oldest_age",
            "comms",
        ],
        rows: 5,
    },
];

/// The table cut to a key table's columns and rows (the full row count kept,
/// so the renderer says how many were left out).
/// The columns [`crate::fleet::merge`] puts first in every table.
pub const FLEET_COLUMNS: &[&str] = &["host", "recording"];

pub fn key_view(t: &Table, k: &KeyTable) -> Table {
    let keep: Vec<usize> = if k.columns.is_empty() {
        (0..t.columns.len()).collect()
    } else {
        // A fleet's tables lead with the recording's host and id.
        FLEET_COLUMNS
            .iter()
            .chain(k.columns)
            .filter_map(|name| t.columns.iter().position(|c| c.name == *name))
            .collect()
    };
    let shown = shown_rows(t);
    let mut out = Table {
        id: t.id.clone(),
        title: t.title.clone(),
        columns: keep.iter().map(|&j| t.columns[j].clone()).collect(),
        rows: shown
            .iter()
            .take(k.rows)
            .map(|&i| keep.iter().map(|&j| t.rows[i][j].clone()).collect())
            .collect(),
        total_rows: t.total_rows.max(t.rows.len()),
        text_limit: TextLimit::All,
    };
    out.text_limit = TextLimit::Head(k.rows);
    out
}

pub fn is_numeric(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::UInt(_) | Value::Float(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.50 KiB");
        assert_eq!(human_bytes(-3.0 * 1024.0 * 1024.0), "-3.00 MiB");
        assert_eq!(human_bytes(5.0 * 1024.0 * 1024.0 * 1024.0), "5.00 GiB");
    }

    #[test]
    fn cells() {
        assert_eq!(human(&Value::Int(1_500_000), Unit::Ns, 0), "1.500 ms");
        assert_eq!(
            human(&Value::Int(2_500_000_000), Unit::Timestamp, 1_000_000_000),
            "+1.500s"
        );
        assert_eq!(
            human(&Value::Int(500_000_000), Unit::Timestamp, 1_000_000_000),
            "-0.500s"
        );
        assert_eq!(human(&Value::Float(0.25), Unit::Ratio, 0), "25.00%");
        assert_eq!(human(&Value::Null, Unit::Bytes, 0), "-");
        assert_eq!(human(&Value::UInt(42), Unit::Pages, 0), "42");
    }

    #[test]
    fn text_is_escaped_and_capped() {
        let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\n";
        let shown = human(&Value::Text(hostile.into()), Unit::None, 0);
        assert_eq!(shown, "\\x1b]0;owned\\x07\\x1b[2J\\n");
        assert!(!shown.chars().any(char::is_control));
        let long = "x".repeat(1 << 20);
        let shown = clean(&long);
        assert!(shown.chars().count() < TEXT_CAP + 32, "{}", shown.len());
        assert!(shown.ends_with(&format!("…(+{} bytes)", (1 << 20) - TEXT_CAP)));
        assert_eq!(clean("bash"), "bash");
    }

    #[test]
    fn sampling() {
        let mut t = Table::new("t", "t", &[("a", Unit::Count)]);
        for i in 0..100u64 {
            t.push(vec![i.into()]);
        }
        t.text_limit = TextLimit::Sample(5);
        assert_eq!(shown_rows(&t), vec![0, 24, 49, 74, 99]);
        t.text_limit = TextLimit::Head(3);
        assert_eq!(shown_rows(&t), vec![0, 1, 2]);
    }
}
