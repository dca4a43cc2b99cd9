//! `memana diff`: every metric of two recordings side by side.

use crate::model::{Metric, Table, Unit, Value};
use crate::report_row;

/// One metric in both recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub section: String,
    pub key: String,
    pub unit: Unit,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Row {
    /// after - before, when both are numbers.
    pub fn change(&self) -> Option<f64> {
        Some(self.after.as_ref()?.as_f64()? - self.before.as_ref()?.as_f64()?)
    }

    /// (after - before) / |before|, when before is a non-zero number.
    pub fn relative(&self) -> Option<f64> {
        let b = self.before.as_ref()?.as_f64()?;
        if b == 0.0 {
            return None;
        }
        Some(self.change()? / b.abs())
    }
}

/// Joins two metric lists on their keys: `before`'s order, then keys only in `after`.
pub fn join(before: &[(&str, &Metric)], after: &[(&str, &Metric)]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (s, m) in before {
        index.insert(m.key(), rows.len());
        rows.push(Row {
            section: (*s).to_string(),
            key: m.key(),
            unit: m.unit,
            before: Some(m.value.clone()),
            after: None,
        });
    }
    for (s, m) in after {
        match index.get(&m.key()) {
            Some(&i) => rows[i].after = Some(m.value.clone()),
            None => {
                index.insert(m.key(), rows.len());
                rows.push(Row {
                    section: (*s).to_string(),
                    key: m.key(),
                    unit: m.unit,
                    before: None,
                    after: Some(m.value.clone()),
                });
            }
        }
    }
    // Keep sections together: stable sort by the section's report order.
    rows.sort_by_key(|r| crate::sections::position(&r.section));
    rows
}

report_row! {
    /// One metric of the diff table.
    struct DiffRow {
        section: String => None,
        metric: String => None,
        unit: &'static str => None,
        before: Option<Value> => None,
        after: Option<Value> => None,
        change: Option<f64> => None,
        change_rel: Option<f64> => Ratio,
    }
}

/// The diff as a table (for every renderer).
pub fn table(rows: &[Row], changed_only: bool) -> Table {
    let mut t = Table::of::<DiffRow>("diff", "Metrics: before, after, change");
    for r in rows {
        if changed_only && r.change() == Some(0.0) {
            continue;
        }
        t.push_row(DiffRow {
            section: r.section.clone(),
            metric: r.key.clone(),
            unit: r.unit.name(),
            before: r.before.clone(),
            after: r.after.clone(),
            change: r.change(),
            change_rel: r.relative(),
        });
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_changes() {
        let a1 = Metric::new("paf.failures", 2u64, Unit::Count);
        let a2 = Metric::new("oom.kills", 0u64, Unit::Count);
        let b1 = Metric::new("paf.failures", 3u64, Unit::Count);
        let b3 = Metric::new("growth.processes", 7u64, Unit::Count);
        let rows = join(
            &[("paf", &a1), ("oom", &a2)],
            &[("paf", &b1), ("growth", &b3)],
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].key, "growth.processes");
        assert_eq!(rows[0].before, None);
        assert_eq!(rows[1].change(), Some(1.0));
        assert_eq!(rows[1].relative(), Some(0.5));
        assert_eq!(rows[2].after, None);
        assert_eq!(rows[2].change(), None);
        assert_eq!(table(&rows, true).rows.len(), 3);
    }
}
