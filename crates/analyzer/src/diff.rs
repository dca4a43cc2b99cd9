//! `memana diff`: every metric of two recordings side by side, largest
//! relative change first, and an optional gate on the relative change
//! (`--fail-over`).

use crate::metrics::{human_number, key_matches};
use crate::model::{Metric, Table, TextLimit, Unit, Value};
use crate::render::{self, Format};
use crate::report::Report;
use crate::report_row;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DiffError {
    #[error(
        "--fail-over `{0}`: expected a percentage such as 20, +20 or -20% (a relative change)"
    )]
    FailOver(String),
}

/// One metric in both recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub section: String,
    pub key: String,
    pub unit: Unit,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// How a metric changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Both sides have the same value.
    Same,
    /// Both are numbers and before is not 0: (after − before) / |before|.
    Relative(f64),
    /// From 0 to a number that is not: no finite relative change; the
    /// sign of the change.
    FromZero(f64),
    /// Only after has the metric (its section had no data, or the figure
    /// could not be computed, before).
    New,
    /// Only before has it.
    Gone,
    /// Different values that are not numbers.
    Other,
}

impl Change {
    /// The JSON and CSV `change_kind`.
    pub fn id(self) -> &'static str {
        match self {
            Change::Same => "same",
            Change::Relative(_) => "changed",
            Change::FromZero(_) => "from_zero",
            Change::New => "new",
            Change::Gone => "gone",
            Change::Other => "other",
        }
    }

    /// The relative change as the gate sees it: ±∞ from 0.
    fn gated(self) -> Option<f64> {
        match self {
            Change::Same => Some(0.0),
            Change::Relative(r) => Some(r),
            Change::FromZero(s) => Some(s.signum() * f64::INFINITY),
            Change::New | Change::Gone | Change::Other => None,
        }
    }

    /// The `relative` column as text and markdown show it.
    fn text(self) -> String {
        match self {
            Change::Same => "0%".into(),
            Change::Relative(r) => format!("{:+.1}%", r * 100.0),
            Change::FromZero(_) => "from 0".into(),
            Change::New => "new".into(),
            Change::Gone => "gone".into(),
            Change::Other => "changed".into(),
        }
    }
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

    pub fn kind(&self) -> Change {
        let (Some(b), Some(a)) = (&self.before, &self.after) else {
            return if self.before.is_none() {
                Change::New
            } else {
                Change::Gone
            };
        };
        match (b.as_f64(), a.as_f64()) {
            (Some(x), Some(y)) if x == y => Change::Same,
            (Some(0.0), Some(y)) => Change::FromZero(y),
            (Some(x), Some(y)) => Change::Relative((y - x) / x.abs()),
            _ if a == b => Change::Same,
            _ => Change::Other,
        }
    }

    /// A value in the metric's unit (`-` when absent).
    pub fn shown(&self, v: &Option<Value>) -> String {
        v.as_ref()
            .map_or_else(|| "-".into(), |v| render::human(v, self.unit, 0))
    }

    /// The relative change as text shows it: `+12.5%`, `from 0`, `new`.
    pub fn relative_text(&self) -> String {
        self.kind().text()
    }

    /// The change formatted in the metric's unit, signed; ratios in
    /// percentage points (the relative column has the percent change).
    fn change_text(&self) -> String {
        let Some(c) = self.change() else {
            return "-".into();
        };
        if c == 0.0 {
            return "0".into();
        }
        let sign = if c > 0.0 { "+" } else { "-" };
        let ints = [&self.before, &self.after]
            .iter()
            .all(|v| matches!(v, Some(Value::Int(_) | Value::UInt(_))));
        match self.unit {
            Unit::Ratio => format!("{sign}{:.2} pp", c.abs() * 100.0),
            // A difference of two times is a duration.
            Unit::Timestamp => format!("{sign}{}", human_number(c.abs(), Unit::Ns, 0)),
            // Counts print without decimals.
            u if ints => format!("{sign}{}", human_number(c.abs(), u, 0)),
            u => format!("{sign}{}", render::human(&Value::Float(c.abs()), u, 0)),
        }
    }
}

/// Which way a change must go to break `--fail-over`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `--fail-over 20`: up or down by more than 20 %.
    Either,
    /// `--fail-over +20`: up by more than 20 %.
    Up,
    /// `--fail-over -20`: down by more than 20 %.
    Down,
}

/// `--fail-over PCT [--only PATTERN]...`: fail when a metric's relative
/// change exceeds PCT percent.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub pct: f64,
    pub direction: Direction,
    /// Key patterns ([`key_matches`]); empty: every metric.
    pub only: Vec<String>,
}

impl Gate {
    /// Parses `20`, `20%`, `+20`, `-12.5%`.
    pub fn parse(text: &str, only: Vec<String>) -> Result<Gate, DiffError> {
        let t = text.trim();
        let (direction, rest) = if let Some(r) = t.strip_prefix('+') {
            (Direction::Up, r)
        } else if let Some(r) = t.strip_prefix('-') {
            (Direction::Down, r)
        } else {
            (Direction::Either, t)
        };
        let rest = rest.trim().strip_suffix('%').unwrap_or(rest).trim();
        let pct: f64 = rest
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0 && !rest.starts_with(['+', '-']))
            .ok_or_else(|| DiffError::FailOver(text.to_string()))?;
        Ok(Gate {
            pct,
            direction,
            only,
        })
    }

    /// `+20%`, `-20%`, `±20%`.
    pub fn describe(&self) -> String {
        let sign = match self.direction {
            Direction::Either => "±",
            Direction::Up => "+",
            Direction::Down => "-",
        };
        format!("{sign}{}%", self.pct)
    }

    /// Whether the gate looks at this row: its key matches `--only` and
    /// both sides are numbers (a metric on one side only has no relative
    /// change; its section's status, or a count going from or to 0, shows).
    pub fn applies(&self, r: &Row) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| key_matches(p, &r.key)))
            && r.kind().gated().is_some()
    }

    /// Whether the row breaks the gate.
    pub fn exceeds(&self, r: &Row) -> bool {
        if !self.applies(r) {
            return false;
        }
        let Some(rel) = r.kind().gated() else {
            return false;
        };
        let pct = rel * 100.0;
        match self.direction {
            Direction::Either => pct.abs() > self.pct,
            Direction::Up => pct > self.pct,
            Direction::Down => pct < -self.pct,
        }
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

/// Orders rows for a reviewer: metrics over the gate first, then the
/// other gated ones, then the rest; in each group from 0 (an infinite
/// relative change) first, then by |relative change|, largest first, then
/// metrics on one side only, then changed text, unchanged last. Ties keep
/// report order.
pub fn sort(rows: &mut [Row], gate: Option<&Gate>) {
    let rank = |r: &Row| -> (u8, f64) {
        let group = match gate {
            Some(g) if g.exceeds(r) => 0,
            Some(g) if g.applies(r) => 10,
            _ => 20,
        };
        let (class, size) = match r.kind() {
            Change::FromZero(_) => (0, 0.0),
            Change::Relative(x) => (1, -x.abs()),
            Change::New | Change::Gone => (2, 0.0),
            Change::Other => (3, 0.0),
            Change::Same => (4, 0.0),
        };
        (group + class, size)
    };
    rows.sort_by(|a, b| {
        let (ca, sa) = rank(a);
        let (cb, sb) = rank(b);
        ca.cmp(&cb).then(sa.total_cmp(&sb))
    });
}

/// Rows of both recordings, sorted, with the gate's verdict.
#[derive(Debug, Clone)]
pub struct Diff {
    pub rows: Vec<Row>,
    pub gate: Option<Gate>,
}

impl Diff {
    pub fn new(before: &Report, after: &Report, gate: Option<Gate>) -> Diff {
        let mut rows = join(&before.metrics(), &after.metrics());
        sort(&mut rows, gate.as_ref());
        Diff { rows, gate }
    }

    /// (metrics over the gate, metrics gated), when there is a gate.
    pub fn verdict(&self) -> Option<(usize, usize)> {
        let g = self.gate.as_ref()?;
        let gated = self.rows.iter().filter(|r| g.applies(r)).count();
        let over = self.rows.iter().filter(|r| g.exceeds(r)).count();
        Some((over, gated))
    }

    /// How many rows of each kind: (changed, from 0, new or gone, same).
    fn counts(&self) -> [usize; 4] {
        let mut c = [0; 4];
        for r in &self.rows {
            match r.kind() {
                Change::Relative(_) | Change::Other => c[0] += 1,
                Change::FromZero(_) => c[1] += 1,
                Change::New | Change::Gone => c[2] += 1,
                Change::Same => c[3] += 1,
            }
        }
        c
    }
}

report_row! {
    /// One metric of the diff, raw (JSON, CSV).
    struct DiffRow {
        section: String => None,
        metric: String => None,
        unit: &'static str => None,
        before: Option<Value> => None,
        after: Option<Value> => None,
        change: Option<f64> => None,
        change_rel: Option<f64> => Ratio,
        change_kind: &'static str => None,
        gated: Option<bool> => None,
        over: Option<bool> => None,
    }
}

report_row! {
    /// One metric of the diff as people read it (text, markdown).
    struct ShownRow {
        metric: String => None,
        before: String => None,
        after: String => None,
        change: String => None,
        relative: String => None,
    }
}

report_row! {
    /// [`ShownRow`] with the gate's verdict.
    struct GatedRow {
        metric: String => None,
        before: String => None,
        after: String => None,
        change: String => None,
        relative: String => None,
        gate: &'static str => None,
    }
}

/// The diff as a raw table (every row kept): JSON and CSV.
pub fn table(d: &Diff, changed_only: bool) -> Table {
    let mut t = Table::of::<DiffRow>("diff", "Metrics: before, after, change");
    for r in d.rows.iter().filter(|r| keep(r, changed_only)) {
        t.push_row(DiffRow {
            section: r.section.clone(),
            metric: r.key.clone(),
            unit: r.unit.name(),
            before: r.before.clone(),
            after: r.after.clone(),
            change: r.change(),
            change_rel: r.relative(),
            change_kind: r.kind().id(),
            gated: d.gate.as_ref().map(|g| g.applies(r)),
            over: d.gate.as_ref().map(|g| g.exceeds(r)),
        });
    }
    t
}

fn keep(r: &Row, changed_only: bool) -> bool {
    !(changed_only && r.kind() == Change::Same)
}

/// The diff with values in their units, the first `top` rows shown (0:
/// all): text and markdown.
pub fn shown_table(d: &Diff, changed_only: bool, top: usize) -> Table {
    let cells = |r: &Row| {
        (
            r.key.clone(),
            r.shown(&r.before),
            r.shown(&r.after),
            r.change_text(),
            r.relative_text(),
        )
    };
    let title = "Metrics, largest relative change first";
    let mut t = match &d.gate {
        None => Table::of::<ShownRow>("diff", title),
        Some(_) => Table::of::<GatedRow>("diff", title),
    };
    for r in d.rows.iter().filter(|r| keep(r, changed_only)) {
        let (metric, before, after, change, relative) = cells(r);
        match &d.gate {
            None => t.push_row(ShownRow {
                metric,
                before,
                after,
                change,
                relative,
            }),
            Some(g) => t.push_row(GatedRow {
                metric,
                before,
                after,
                change,
                relative,
                gate: if g.exceeds(r) {
                    "FAIL"
                } else if g.applies(r) {
                    "ok"
                } else {
                    ""
                },
            }),
        }
    }
    if top > 0 {
        t = t.with_text_limit(TextLimit::Head(top));
    }
    t
}

/// The gate's verdict in a sentence.
fn verdict_line(d: &Diff) -> Option<String> {
    let g = d.gate.as_ref()?;
    let (over, gated) = d.verdict()?;
    let only = if g.only.is_empty() {
        String::new()
    } else {
        format!(
            " matching {}",
            g.only
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    };
    Some(format!(
        "{}: {over} of {gated} metrics{only} changed by more than {}",
        if over > 0 { "FAIL" } else { "PASS" },
        g.describe()
    ))
}

/// Renders the diff. `top` cuts the text and markdown tables (0: all rows);
/// JSON and CSV have every row.
pub fn render(
    d: &Diff,
    a: &Report,
    b: &Report,
    format: Format,
    changed_only: bool,
    top: usize,
) -> String {
    let [changed, from_zero, one_side, same] = d.counts();
    let summary = format!(
        "{} metrics: {changed} changed, {from_zero} from 0, {one_side} on one side only, {same} unchanged",
        d.rows.len()
    );
    match format {
        Format::Json => {
            let t = table(d, changed_only);
            let gate = d.gate.as_ref().map(|g| {
                let (over, gated) = d.verdict().unwrap_or_default();
                serde_json::json!({
                    "fail_over_pct": g.pct,
                    "direction": match g.direction {
                        Direction::Either => "either",
                        Direction::Up => "up",
                        Direction::Down => "down",
                    },
                    "only": g.only,
                    "gated": gated,
                    "over": over,
                })
            });
            let v = serde_json::json!({
                "format_version": render::json::REPORT_FORMAT_VERSION,
                "before": a.file,
                "after": b.file,
                "lossy": a.lossy() || b.lossy(),
                "warnings": {"before": a.warnings, "after": b.warnings},
                "gate": gate,
                "metrics": render::json::table(&t)["rows"].clone(),
            });
            render::json::to_string(&v)
        }
        Format::Csv => render::csv::wide(&table(d, changed_only)),
        Format::Markdown | Format::Html => {
            let mut s = format!(
                "# memana diff: `{}` → `{}`\n\n",
                render::markdown::cell(&a.file),
                render::markdown::cell(&b.file)
            );
            for (which, r) in [("before", a), ("after", b)] {
                for w in &r.warnings {
                    s.push_str(&format!(
                        "**Warning** ({which}): {}\n\n",
                        render::markdown::note(w)
                    ));
                }
            }
            if let Some(v) = verdict_line(d) {
                s.push_str(&format!("**{}**\n\n", render::markdown::note(&v)));
            }
            render::markdown::table(&mut s, &shown_table(d, changed_only, top), 0);
            s.push_str(&format!("\n{summary}\n"));
            s
        }
        Format::Text => {
            let mut s = format!(
                "memana diff: before {}  after {}\n",
                render::clean(&a.file),
                render::clean(&b.file)
            );
            for (which, r) in [("before", a), ("after", b)] {
                for w in &r.warnings {
                    s.push_str(&format!(
                        "WARNING: {which}: {}\n",
                        render::clean_to(w, render::NOTE_CAP)
                    ));
                }
            }
            if a.lossy() || b.lossy() {
                s.push_str("WARNING: some figures rest on data with losses.\n");
            }
            if let Some(v) = verdict_line(d) {
                s.push_str(&render::clean_to(&v, render::NOTE_CAP));
                s.push('\n');
            }
            s.push('\n');
            render::text::table(&mut s, &shown_table(d, changed_only, top), 0, "");
            s.push_str(&format!("{summary}\n"));
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, before: Option<Value>, after: Option<Value>) -> Row {
        Row {
            section: "x".into(),
            key: key.into(),
            unit: Unit::Count,
            before,
            after,
        }
    }

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
        assert_eq!(rows[0].kind(), Change::New);
        assert_eq!(rows[1].change(), Some(1.0));
        assert_eq!(rows[1].relative(), Some(0.5));
        assert_eq!(rows[1].kind(), Change::Relative(0.5));
        assert_eq!(rows[1].change_text(), "+1");
        assert_eq!(rows[2].after, None);
        assert_eq!(rows[2].change(), None);
        assert_eq!(rows[2].kind(), Change::Gone);
    }

    #[test]
    fn sorts_by_relative_change() {
        let f = |x: f64| Some(Value::Float(x));
        let mut rows = vec![
            row("same", f(1.0), f(1.0)),
            row("small", f(100.0), f(110.0)),
            row("gone", f(1.0), None),
            row("big_down", f(30.828), f(4.476)),
            row("zero", f(0.0), f(0.0)),
            row("from_zero", f(0.0), f(3.0)),
            row("big_up", f(1.0), f(1.5)),
        ];
        sort(&mut rows, None);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "from_zero",
                "big_down",
                "big_up",
                "small",
                "gone",
                "same",
                "zero"
            ]
        );
        // An upward gate puts what breaks it first, then what it checked.
        let g = Gate::parse("+20", vec![]).ok();
        sort(&mut rows, g.as_ref());
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "from_zero",
                "big_up",
                "big_down",
                "small",
                "same",
                "zero",
                "gone"
            ]
        );
        let g = Gate::parse("50", vec!["s*l".into(), "zero".into()]).ok();
        sort(&mut rows, g.as_ref());
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "from_zero",
                "small",
                "zero",
                "big_down",
                "big_up",
                "gone",
                "same"
            ]
        );
    }

    #[test]
    fn gates() {
        let f = |x: f64| Some(Value::Float(x));
        let down = row("reclaim.memcg.p99_ms", f(30.0), f(4.5));
        let up = row("reclaim.direct.p99_ms", f(10.0), f(12.5));
        let new = row("x.new", None, f(1.0));
        let from0 = row("paf.failures", f(0.0), f(1.0));
        let either = Gate::parse("20", vec![]).ok();
        let upg = Gate::parse("+20%", vec![]).ok();
        let downg = Gate::parse("-20", vec![]).ok();
        let only = Gate::parse("20", vec!["direct".into()]).ok();
        let ex = |g: &Option<Gate>, r: &Row| g.as_ref().is_some_and(|g| g.exceeds(r));
        assert!(ex(&either, &down) && ex(&either, &up) && ex(&either, &from0));
        assert!(!ex(&either, &new));
        assert!(!either.as_ref().is_some_and(|g| g.applies(&new)));
        assert!(ex(&upg, &up) && !ex(&upg, &down) && ex(&upg, &from0));
        assert!(ex(&downg, &down) && !ex(&downg, &up) && !ex(&downg, &from0));
        assert!(ex(&only, &up) && !ex(&only, &down));
        assert!(!ex(&Gate::parse("25", vec![]).ok(), &up));
        for bad in ["", "x", "+-5", "--5", "5x", "-", "inf", "NaN"] {
            assert!(Gate::parse(bad, vec![]).is_err(), "accepted {bad:?}");
        }
        assert_eq!(upg.map(|g| g.describe()), Some("+20%".into()));
    }

    #[test]
    fn changes_in_units() {
        let mut r = row("a", Some(Value::UInt(1536)), Some(Value::UInt(512)));
        r.unit = Unit::Bytes;
        assert_eq!(r.change_text(), "-1.00 KiB");
        r.unit = Unit::Ratio;
        r.before = Some(Value::Float(0.5));
        r.after = Some(Value::Float(0.75));
        assert_eq!(r.change_text(), "+25.00 pp");
        assert_eq!(r.kind().text(), "+50.0%");
        r.unit = Unit::Ms;
        assert_eq!(r.change_text(), "+0.250 ms");
    }
}
