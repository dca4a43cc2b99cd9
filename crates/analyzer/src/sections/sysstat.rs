//! System state per node from `sysstat` snapshots.

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::model::{Metric, SectionReport, Status, Table, Unit, Value};
use crate::recording::Recording;
use crate::report_row;
use crate::stats::{ExactFit, Fit};
use std::collections::BTreeMap;

/// The counter columns of `sysstat`: every column in pages or huge pages.
pub fn fields() -> Vec<&'static memtrace_schema::Column> {
    memtrace_schema::table("sysstat")
        .map(|t| {
            t.columns
                .iter()
                .filter(|c| {
                    matches!(
                        c.unit,
                        memtrace_schema::Unit::Pages | memtrace_schema::Unit::HugePages
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Figures of one counter on one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldStats {
    pub samples: u64,
    pub first: u64,
    pub last: u64,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub fit: Option<Fit>,
    /// Largest increase between consecutive samples, and the ts_ns of the later one.
    pub max_rise: Option<(i64, i64)>,
    /// Largest decrease (a negative number) and when.
    pub max_fall: Option<(i64, i64)>,
}

/// Figures of a series of (ts_ns, value) sorted by time.
pub fn field_stats(points: &[(i64, u64)], t0: i64) -> FieldStats {
    let n = points.len();
    if n == 0 {
        return FieldStats::default();
    }
    let mut s = FieldStats {
        samples: n as u64,
        first: points[0].1,
        last: points[n - 1].1,
        min: u64::MAX,
        max: 0,
        ..Default::default()
    };
    let mut sum: u128 = 0;
    for &(_, v) in points {
        s.min = s.min.min(v);
        s.max = s.max.max(v);
        sum += u128::from(v);
    }
    s.mean = sum as f64 / n as f64;
    let _ = t0;
    let xy: Vec<(i64, i64)> = points.iter().map(|&(t, v)| (t, v as i64)).collect();
    s.fit = Some(ExactFit::of(&xy));
    for w in points.windows(2) {
        let d = w[1].1 as i64 - w[0].1 as i64;
        if d > 0 && s.max_rise.is_none_or(|(m, _)| d > m) {
            s.max_rise = Some((d, w[1].0));
        }
        if d < 0 && s.max_fall.is_none_or(|(m, _)| d < m) {
            s.max_fall = Some((d, w[1].0));
        }
    }
    s
}

report_row! {
    /// One counter of one node over the window.
    struct FieldRow {
        node: u64 => None,
        field: &'static str => None,
        samples: u64 => Count,
        first: u64 => Pages,
        last: u64 => Pages,
        min: u64 => Pages,
        mean: f64 => Pages,
        max: u64 => Pages,
        slope: Option<f64> => PagesPerSec,
        max_rise: Option<i64> => Pages,
        max_rise_ts: Option<i64> => Timestamp,
        max_fall: Option<i64> => Pages,
        max_fall_ts: Option<i64> => Timestamp,
    }
}

pub static SECTION: Section = Section {
    id: "sysstat",
    title: "System state per node (sysstat)",
    required: &["sysstat"],
    optional: &[],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let fields = fields();
    let mut t = Table::of::<FieldRow>(
        "fields",
        "Node counters (pages, as /proc/vmstat): range, trend, largest changes between snapshots",
    );
    let mut rows: Vec<FieldRow> = Vec::new();
    let mut cols = vec!["ts_ns", "node"];
    cols.extend(fields.iter().map(|c| c.name));
    let fr = rec.fetch("sysstat", rec.scan("sysstat", f, &cols)?)?;
    let snapshots = fr.height();
    let ts = fr.i64_or0("ts_ns")?;
    let node = fr.u64_or0("node")?;
    let mut order: Vec<usize> = (0..fr.height()).collect();
    order.sort_by_key(|&i| (node[i], ts[i]));
    for c in &fields {
        let vals = fr.u64(c.name)?;
        let mut per_node: BTreeMap<u64, Vec<(i64, u64)>> = BTreeMap::new();
        for &i in &order {
            if let Some(v) = vals[i] {
                per_node.entry(node[i]).or_default().push((ts[i], v));
            }
        }
        for (nd, pts) in per_node {
            let s = field_stats(&pts, rec.start_ns);
            let slope = s.fit.and_then(|x| x.slope);
            rows.push(FieldRow {
                node: nd,
                field: c.name,
                samples: s.samples,
                first: s.first,
                last: s.last,
                min: s.min,
                mean: s.mean,
                max: s.max,
                slope,
                max_rise: s.max_rise.map(|x| x.0),
                max_rise_ts: s.max_rise.map(|x| x.1),
                max_fall: s.max_fall.map(|x| x.0),
                max_fall_ts: s.max_fall.map(|x| x.1),
            });
            let m = |k: &str, v: Value, u: Unit| {
                Metric::new(format!("sysstat.{}.{k}", c.name), v, u).label("node", nd)
            };
            r.metrics.push(m("min", s.min.into(), Unit::Pages));
            r.metrics.push(m("mean", s.mean.into(), Unit::Pages));
            r.metrics.push(m("max", s.max.into(), Unit::Pages));
            if let Some(sl) = slope {
                r.metrics
                    .push(m("slope_per_s", sl.into(), Unit::PagesPerSec));
            }
        }
    }
    // Rows sorted by node, then field in schema order (they come by field,
    // then node).
    let order: Vec<&str> = fields.iter().map(|c| c.name).collect();
    rows.sort_by_key(|row| {
        let fi = order.iter().position(|x| *x == row.field);
        (row.node, fi.unwrap_or(usize::MAX))
    });
    for row in rows {
        t.push_row(row);
    }
    if snapshots == 0 {
        r.status = Status::NoData("no sysstat snapshots in the selected window".into());
    } else {
        r.notes.push(format!(
            "{snapshots} snapshots (every trigger: interval, start, end and pressure events); \
             huge-page counters are in huge pages."
        ));
    }
    r.tables.push(t);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_series() {
        let s = field_stats(
            &[
                (0, 10),
                (1_000_000_000, 30),
                (2_000_000_000, 5),
                (3_000_000_000, 15),
            ],
            0,
        );
        assert_eq!(
            (s.first, s.last, s.min, s.max, s.samples),
            (10, 15, 5, 30, 4)
        );
        assert_eq!(s.mean, 15.0);
        assert_eq!(s.max_rise, Some((20, 1_000_000_000)));
        assert_eq!(s.max_fall, Some((-25, 2_000_000_000)));
    }

    #[test]
    fn fields_come_from_the_schema() {
        let f = fields();
        assert!(f.iter().any(|c| c.name == "nr_free_pages"));
        assert!(!f.iter().any(|c| c.name == "node" || c.name == "trigger"));
    }
}
