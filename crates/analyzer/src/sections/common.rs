//! Pieces the event sections (faults, swap, mappings) share: rows counted
//! per process, rows counted per interval of the window, and ranked tables
//! cut to `--top`.

use crate::filter::Filter;
use crate::frame::{count_by, Frame, COUNT};
use crate::model::{Row, SectionReport, Table};
use crate::recording::{ReadError, Recording};
use polars::prelude::*;

/// The column [`Intervals::count`] puts each row's interval index into.
pub const BUCKET: &str = "bucket";

const S: i64 = 1_000_000_000;

/// The interval of the over-time tables: whole seconds, at most about 60
/// intervals over `span_ns`.
pub fn interval_ns(span_ns: i64) -> i64 {
    let n = (span_ns.max(0) + 60 * S - 1) / (60 * S);
    n.max(1) * S
}

/// The report's window (the recording cut by `--from`/`--to`) in intervals
/// of [`interval_ns`], numbered from 0 at its start.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub from: i64,
    pub to: i64,
    pub step: i64,
}

impl Intervals {
    pub fn of(rec: &Recording, f: &Filter) -> Self {
        let from = f.from_ns.unwrap_or(rec.start_ns).max(rec.start_ns);
        let to = f.to_ns.unwrap_or(rec.end_ns).min(rec.end_ns);
        Intervals {
            from,
            to,
            step: interval_ns(to - from),
        }
    }

    /// Rows of `lf` (which has `ts_ns`) per interval ([`BUCKET`], Int64)
    /// and `keys`, counted into [`COUNT`] next to the aggregates `also`.
    pub fn count(&self, lf: LazyFrame, keys: &[&str], also: Vec<Expr>) -> LazyFrame {
        let lf = lf.with_column(
            ((col("ts_ns") - lit(self.from)) / lit(self.step))
                .cast(DataType::Int64)
                .alias(BUCKET),
        );
        let mut by = vec![BUCKET];
        by.extend_from_slice(keys);
        count_by(lf, &by, also)
    }

    /// Where interval `bucket` begins (ns).
    pub fn begin(&self, bucket: i64) -> i64 {
        self.from + bucket * self.step
    }

    /// `n` events in interval `bucket` as a rate per second; the last
    /// interval may be cut short by the window's end.
    pub fn per_s(&self, bucket: i64, n: u64) -> f64 {
        let begin = self.begin(bucket);
        let span = (self.to.min(begin + self.step) - begin).max(1);
        n as f64 * 1e9 / span as f64
    }

    /// The interval in a table title: "per N s interval".
    pub fn per(&self) -> String {
        format!("per {} s interval", self.step / S)
    }
}

/// Rows counted per process (`tgid`, `comm`) and further `keys`.
pub struct ProcessCounts {
    pub tgid: Vec<u64>,
    pub comm: Vec<String>,
    /// Rows in each group.
    pub n: Vec<u64>,
    /// The groups, for the caller's keys and aggregates.
    pub frame: Frame,
}

impl ProcessCounts {
    pub fn len(&self) -> usize {
        self.n.len()
    }
}

/// Counts the rows of `lf` (read from `table`, with `tgid` and `comm`) per
/// process and `keys`, with the further aggregates `also`.
pub fn per_process(
    rec: &Recording,
    table: &str,
    lf: LazyFrame,
    keys: &[&str],
    also: Vec<Expr>,
) -> Result<ProcessCounts, ReadError> {
    let mut by = vec!["tgid", "comm"];
    by.extend_from_slice(keys);
    let frame = rec.fetch(table, count_by(lf, &by, also))?;
    Ok(ProcessCounts {
        tgid: frame.u64_or0("tgid")?,
        comm: frame.str_or_empty("comm")?,
        n: frame.u64_or0(COUNT)?,
        frame,
    })
}

/// Adds a table of rows already ranked, keeping the first `top` (0 keeps
/// all) and how many there were.
pub fn push_ranked<R: Row>(
    r: &mut SectionReport,
    id: &str,
    title: &str,
    rows: impl IntoIterator<Item = R>,
    top: usize,
) {
    let mut t = Table::of::<R>(id, title);
    for row in rows {
        t.push_row(row);
    }
    t.truncate(top);
    r.tables.push(t);
}

/// A memory cgroup's path as the recording names it (`meta.cgroups`);
/// `id N` when memrec did not see its path, `-` for none.
pub fn cgroup_name(rec: &Recording, id: u64) -> String {
    match rec.meta.cgroups.get(&id) {
        Some(p) => p.clone(),
        None if id == 0 => "-".to_string(),
        None => format!("id {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_whole_seconds_and_at_most_about_sixty() {
        assert_eq!(interval_ns(0), S);
        assert_eq!(interval_ns(5 * S), S);
        assert_eq!(interval_ns(60 * S), S);
        assert_eq!(interval_ns(61 * S), 2 * S);
        assert_eq!(interval_ns(600 * S), 10 * S);
        assert_eq!(interval_ns(3600 * S), 60 * S);
    }

    #[test]
    fn the_last_interval_is_rated_over_what_the_window_holds_of_it() {
        let w = Intervals {
            from: 10 * S,
            to: 12 * S + S / 2,
            step: S,
        };
        assert_eq!(w.begin(2), 12 * S);
        assert_eq!(w.per_s(0, 100), 100.0);
        assert_eq!(w.per_s(2, 100), 200.0);
        assert_eq!(w.per(), "per 1 s interval");
    }
}
