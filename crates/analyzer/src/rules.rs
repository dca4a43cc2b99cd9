//! Regression gates: rules over the report's metrics.
//!
//! A rule is `metric{label="value",...} OP number[suffix]`, e.g.
//! `growth.max_bytes_per_s{comm="myapp"} < 1MiB`, or against a baseline
//! recording's value of the same metric, `reclaim.direct.p99_ms <= baseline
//! + 20%`. See docs/REPORTS.md.

use crate::metrics::{human_number, Metrics};
use crate::model::{metric_key, Unit, Value};
use crate::render;
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error("rule `{rule}`: {msg}")]
    Syntax { rule: String, msg: String },
    #[error("rules file: {0}")]
    File(String),
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

/// A number's suffix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Suffix {
    None,
    /// A byte multiple (KiB = 1024, KB = 1000, ...).
    Bytes(f64),
    /// `%`: divide by 100 (for ratio metrics).
    Percent,
    /// A duration in ns, converted to the metric's unit (ms, s or ns).
    Duration(f64),
}

/// A number as written, with its suffix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount {
    pub number: f64,
    pub suffix: Suffix,
}

impl Amount {
    /// The amount in the metric's unit.
    pub fn in_unit(&self, unit: Unit) -> Result<f64, String> {
        Ok(match self.suffix {
            Suffix::None => self.number,
            Suffix::Bytes(m) => self.number * m,
            Suffix::Percent => self.number / 100.0,
            Suffix::Duration(ns) => {
                let v = self.number * ns;
                match unit {
                    Unit::Ns => v,
                    Unit::Ms => v / 1e6,
                    Unit::Seconds => v / 1e9,
                    u => {
                        return Err(format!(
                            "a duration suffix needs a duration metric, not {}",
                            if u.name().is_empty() {
                                "text"
                            } else {
                                u.name()
                            }
                        ))
                    }
                }
            }
        })
    }
}

/// One step from the baseline's value to the limit; steps apply left to
/// right (`baseline * 1.2 + 1ms` is 1.2 × baseline, then 1 ms more).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `* F`: the value so far times F.
    Times(f64),
    /// `+ N%` / `- N%`: the value so far, N % more or less (relative, also
    /// for ratio metrics).
    Percent(f64),
    /// `+ N[suffix]` / `- N[suffix]`: an amount in the metric's unit.
    Plus(Amount),
}

/// What a metric is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// `NUMBER[SUFFIX]`.
    Fixed(Amount),
    /// `baseline [STEP]...`: the same metric in the baseline recording.
    Baseline(Vec<Step>),
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub text: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub op: Op,
    pub limit: Limit,
    /// What the rule is for (a rules file's `description`), printed on FAIL.
    pub description: Option<String>,
}

impl Rule {
    pub fn key(&self) -> String {
        metric_key(&self.name, &self.labels)
    }

    pub fn uses_baseline(&self) -> bool {
        matches!(self.limit, Limit::Baseline(_))
    }

    /// The limit in the metric's unit; `baseline` is the baseline's value
    /// of the metric (needed by a baseline rule only).
    pub fn threshold(&self, unit: Unit, baseline: Option<f64>) -> Result<f64, String> {
        match &self.limit {
            Limit::Fixed(a) => a.in_unit(unit),
            Limit::Baseline(steps) => {
                let mut v = baseline.ok_or("no baseline value")?;
                for s in steps {
                    v = match s {
                        Step::Times(f) => v * f,
                        Step::Percent(p) => v * (1.0 + p / 100.0),
                        Step::Plus(a) => v + a.in_unit(unit)?,
                    };
                }
                Ok(v)
            }
        }
    }
}

fn syntax(rule: &str, msg: impl Into<String>) -> RuleError {
    RuleError::Syntax {
        rule: rule.to_string(),
        msg: msg.into(),
    }
}

/// Splits a leading decimal number (sign, fraction, exponent) off `s`.
fn split_number(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    // An exponent only when digits follow: `5e` is 5 with a suffix `e`.
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            i = j;
        }
    }
    s.split_at(i)
}

fn parse_suffix(rule: &str, text: &str) -> Result<Suffix, RuleError> {
    Ok(match text {
        "" => Suffix::None,
        "%" => Suffix::Percent,
        "B" => Suffix::Bytes(1.0),
        "KiB" => Suffix::Bytes(1024.0),
        "MiB" => Suffix::Bytes(1024.0 * 1024.0),
        "GiB" => Suffix::Bytes(1024.0 * 1024.0 * 1024.0),
        "TiB" => Suffix::Bytes(1024.0 * 1024.0 * 1024.0 * 1024.0),
        "KB" | "kB" => Suffix::Bytes(1e3),
        "MB" => Suffix::Bytes(1e6),
        "GB" => Suffix::Bytes(1e9),
        "TB" => Suffix::Bytes(1e12),
        "ns" => Suffix::Duration(1.0),
        "us" => Suffix::Duration(1e3),
        "ms" => Suffix::Duration(1e6),
        "s" => Suffix::Duration(1e9),
        "m" | "min" => Suffix::Duration(60e9),
        "h" => Suffix::Duration(3600e9),
        other => return Err(syntax(rule, format!("unknown suffix `{other}`"))),
    })
}

/// A number and its optional suffix (spaces allowed between) at the start
/// of `s`, and what follows.
fn parse_amount<'s>(rule: &str, s: &'s str) -> Result<(Amount, &'s str), RuleError> {
    let (num, rest) = split_number(s);
    let number: f64 = num
        .parse()
        .map_err(|_| syntax(rule, "expected a number (or `baseline`) after the operator"))?;
    if !number.is_finite() {
        return Err(syntax(rule, "the number must be finite"));
    }
    let rest = rest.trim_start();
    let end = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c == '%'))
        .map_or(rest.len(), |(i, _)| i);
    let suffix = parse_suffix(rule, &rest[..end])?;
    Ok((Amount { number, suffix }, &rest[end..]))
}

/// `baseline`'s steps: `* F`, `+ N%`, `- N%`, `+ N[suffix]`, `- N[suffix]`.
fn parse_steps(rule: &str, mut s: &str) -> Result<Vec<Step>, RuleError> {
    let mut steps = Vec::new();
    loop {
        s = s.trim_start();
        let Some(op) = s.chars().next() else {
            return Ok(steps);
        };
        if !matches!(op, '*' | '+' | '-') {
            return Err(syntax(
                rule,
                format!(
                    "unexpected `{s}` after `baseline` (expected `* FACTOR`, `+ N%`, `- N%` or `+ N[unit]`)"
                ),
            ));
        }
        let after = s[1..].trim_start();
        if after.starts_with(['+', '-']) {
            return Err(syntax(rule, format!("a sign after `{op}`")));
        }
        let (a, rest) = parse_amount(rule, after)?;
        let sign = if op == '-' { -1.0 } else { 1.0 };
        steps.push(match (op, a.suffix) {
            ('*', Suffix::None) => Step::Times(a.number),
            ('*', _) => {
                return Err(syntax(
                    rule,
                    "`baseline *` takes a plain factor (1.2 for 20 % more)",
                ))
            }
            (_, Suffix::Percent) => Step::Percent(sign * a.number),
            (_, suffix) => Step::Plus(Amount {
                number: sign * a.number,
                suffix,
            }),
        });
        s = rest;
    }
}

/// Whether `s` starts with the word `baseline`.
fn strip_baseline(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("baseline")?;
    match rest.chars().next() {
        Some(c) if c.is_alphanumeric() || c == '_' || c == '.' => None,
        _ => Some(rest),
    }
}

/// Parses one rule.
pub fn parse_rule(text: &str) -> Result<Rule, RuleError> {
    let s = text.trim();
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || name.starts_with('.') || name.ends_with('.') {
        return Err(syntax(s, "expected a metric name such as `paf.failures`"));
    }
    let mut rest = &s[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r.trim_start();
        loop {
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let k_end = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .ok_or_else(|| syntax(s, "unterminated label list"))?;
            let key = &r[..k_end];
            if key.is_empty() {
                return Err(syntax(s, "expected a label name"));
            }
            r = r[k_end..].trim_start();
            r = r
                .strip_prefix('=')
                .ok_or_else(|| syntax(s, format!("expected `=` after label `{key}`")))?;
            r = r.trim_start();
            r = r
                .strip_prefix('"')
                .ok_or_else(|| syntax(s, "label values are double-quoted"))?;
            let mut val = String::new();
            let mut chars = r.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e)) => val.push(e),
                        None => break,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => val.push(c),
                }
            }
            let end = end.ok_or_else(|| syntax(s, "unterminated label value"))?;
            labels.push((key.to_string(), val));
            r = r[end + 1..].trim_start();
            if let Some(after) = r.strip_prefix(',') {
                r = after.trim_start();
            } else if !r.starts_with('}') {
                return Err(syntax(s, "expected `,` or `}` in the label list"));
            }
        }
    }
    labels.sort();
    let rest = rest.trim_start();
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(sym, op)| rest.strip_prefix(sym).map(|r| (*op, r)))
    .ok_or_else(|| syntax(s, "expected an operator: < <= > >= == !="))?;
    let rest = rest.trim();
    let limit = match strip_baseline(rest) {
        Some(steps) => Limit::Baseline(parse_steps(s, steps)?),
        None => {
            let (a, after) = parse_amount(s, rest)?;
            if !after.trim().is_empty() {
                return Err(syntax(
                    s,
                    format!("unexpected `{}` after the number", after.trim()),
                ));
            }
            Limit::Fixed(a)
        }
    };
    Ok(Rule {
        text: s.to_string(),
        name: name.to_string(),
        labels,
        op,
        limit,
        description: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    expr: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    rule: Vec<RuleTable>,
}

/// Parses a rules file: `rules = ["...", ...]` and/or `[[rule]]` tables
/// with `expr` and an optional `description`.
pub fn parse_rules_toml(text: &str) -> Result<Vec<Rule>, RuleError> {
    // The error's first line says where, its message what (an unknown field).
    let f: RulesFile = toml::from_str(text).map_err(|e| {
        RuleError::File(format!(
            "{}: {}",
            crate::recording::one_line(&e.to_string()),
            crate::recording::one_line(e.message())
        ))
    })?;
    let mut out = Vec::new();
    for r in &f.rules {
        out.push(parse_rule(r)?);
    }
    for t in &f.rule {
        let mut r = parse_rule(&t.expr)?;
        r.description = t
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        out.push(r);
    }
    if out.is_empty() {
        return Err(RuleError::File(
            "no rules (expected `rules = [\"...\"]` or [[rule]] tables)".into(),
        ));
    }
    Ok(out)
}

/// The verdict on one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub rule: String,
    pub key: String,
    pub ok: bool,
    pub value: Option<Value>,
    pub unit: Unit,
    /// The limit the value was compared with, in the metric's unit.
    pub threshold: Option<f64>,
    /// A baseline rule: the baseline's value of the metric.
    pub baseline: Option<Value>,
    pub description: Option<String>,
    /// Why it is broken without a comparison (missing metric, bad suffix).
    pub problem: Option<String>,
}

impl Outcome {
    /// What the rule saw, in the metric's unit: `oom.kills = 1`; a
    /// baseline rule adds the baseline's value and the limit it implied;
    /// a broken rule without a comparison says why.
    pub fn explain(&self) -> String {
        if let Some(p) = &self.problem {
            return p.clone();
        }
        let Some(v) = &self.value else {
            return String::new();
        };
        let mut s = format!("{} = {}", self.key, render::human(v, self.unit, 0));
        if let (Some(b), Some(t)) = (&self.baseline, self.threshold) {
            s.push_str(&format!(
                "; baseline {}, limit {}",
                render::human(b, self.unit, 0),
                human_number(t, self.unit, 0)
            ));
        }
        s
    }
}

/// Checks rules against a recording's metrics (and a baseline's, for
/// rules that use one). A rule whose metric is absent, here or in the
/// baseline, is broken and says why.
pub fn evaluate(rules: &[Rule], current: &Metrics, baseline: Option<&Metrics>) -> Vec<Outcome> {
    rules
        .iter()
        .map(|r| {
            let mut out = Outcome {
                rule: r.text.clone(),
                key: r.key(),
                ok: false,
                value: None,
                unit: Unit::None,
                threshold: None,
                baseline: None,
                description: r.description.clone(),
                problem: None,
            };
            let Some(m) = current.find(&r.name, &r.labels) else {
                out.problem = Some(current.why_absent(&r.name, &r.labels));
                return out;
            };
            out.value = Some(m.value.clone());
            out.unit = m.unit;
            let base = if r.uses_baseline() {
                let Some(b) = baseline else {
                    out.problem =
                        Some("the rule uses `baseline`, but no --baseline was given".into());
                    return out;
                };
                let Some(bm) = b.find(&r.name, &r.labels) else {
                    out.problem = Some(format!("baseline: {}", b.why_absent(&r.name, &r.labels)));
                    return out;
                };
                out.baseline = Some(bm.value.clone());
                match bm.value.as_f64() {
                    Some(v) => Some(v),
                    None => {
                        out.problem = Some("baseline: the metric has no value".into());
                        return out;
                    }
                }
            } else {
                None
            };
            match (r.threshold(m.unit, base), m.value.as_f64()) {
                (Err(e), _) => out.problem = Some(e),
                (Ok(_), None) => out.problem = Some("the metric has no value".into()),
                (Ok(t), Some(v)) => {
                    out.ok = r.op.holds(v, t);
                    out.threshold = Some(t);
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;

    fn limit(rule: &str, unit: Unit, base: Option<f64>) -> Option<f64> {
        parse_rule(rule).ok()?.threshold(unit, base).ok()
    }

    #[test]
    fn parses_rules() {
        let r = parse_rule(r#"growth.max_bytes_per_s{comm="myapp"} < 1MiB"#).ok();
        let r = r.as_ref();
        assert_eq!(r.map(|r| r.name.as_str()), Some("growth.max_bytes_per_s"));
        assert_eq!(
            r.map(|r| r.labels.clone()),
            Some(vec![("comm".to_string(), "myapp".to_string())])
        );
        assert_eq!(r.map(|r| r.op), Some(Op::Lt));
        assert_eq!(
            r.and_then(|r| r.threshold(Unit::BytesPerSec, None).ok()),
            Some(1048576.0)
        );

        let r = parse_rule("reclaim.direct.p99_ms < 50").ok();
        assert_eq!(
            r.as_ref().map(|r| r.limit.clone()),
            Some(Limit::Fixed(Amount {
                number: 50.0,
                suffix: Suffix::None
            }))
        );
        let r = parse_rule("paf.failures == 0").ok();
        assert_eq!(r.as_ref().map(|r| r.op), Some(Op::Eq));
        assert_eq!(
            limit("reclaim.direct.p99_ms<=0.5s", Unit::Ms, None),
            Some(500.0)
        );
        assert_eq!(
            limit("reclaim.efficiency >= 25%", Unit::Ratio, None),
            Some(0.25)
        );
        assert_eq!(limit("x.y < 1e3", Unit::Count, None), Some(1000.0));
        assert_eq!(limit("x.y < 2 KiB", Unit::Bytes, None), Some(2048.0));
        let r = parse_rule(r#"x.y{b="2", a="q\"uote"} != -1.5e3"#).ok();
        assert_eq!(
            r.as_ref().map(|r| r.labels.clone()),
            Some(vec![
                ("a".into(), "q\"uote".into()),
                ("b".into(), "2".into())
            ])
        );
        assert_eq!(
            r.as_ref().and_then(|r| r.threshold(Unit::Count, None).ok()),
            Some(-1500.0)
        );
        assert_eq!(
            r.map(|r| r.key()),
            Some(r#"x.y{a="q\"uote",b="2"}"#.to_string())
        );
    }

    #[test]
    fn baseline_rules() {
        let ms = Unit::Ms;
        assert_eq!(limit("a.b <= baseline", ms, Some(3.0)), Some(3.0));
        assert_eq!(limit("a.b <= baseline * 1.5", ms, Some(4.0)), Some(6.0));
        assert_eq!(limit("a.b <= baseline + 20%", ms, Some(10.0)), Some(12.0));
        assert_eq!(
            limit("a.b >= baseline - 10%", Unit::Ratio, Some(0.5)),
            Some(0.45)
        );
        assert_eq!(limit("a.b <= baseline+1ms", ms, Some(2.0)), Some(3.0));
        assert_eq!(
            limit("a.b <= baseline + 0.5s", Unit::Seconds, Some(1.0)),
            Some(1.5)
        );
        assert_eq!(
            limit("a.b <= baseline - 1KiB", Unit::Bytes, Some(4096.0)),
            Some(3072.0)
        );
        // Left to right.
        assert_eq!(
            limit("a.b <= baseline * 2 + 1", Unit::Count, Some(3.0)),
            Some(7.0)
        );
        assert_eq!(
            limit("a.b <= baseline + 1 * 2", Unit::Count, Some(3.0)),
            Some(8.0)
        );
        let r = parse_rule("a.b <= baseline + 20%").ok();
        assert!(r.as_ref().is_some_and(Rule::uses_baseline));
        assert!(r.is_some_and(|r| r.threshold(ms, None).is_err()));
        assert!(parse_rule("a.b <= 5").is_ok_and(|r| !r.uses_baseline()));
        // A duration step on a count metric is an error at evaluation.
        assert_eq!(limit("a.b <= baseline + 1ms", Unit::Count, Some(1.0)), None);
        for bad in [
            "a.b <= baseline 20%",
            "a.b <= baseline * 20%",
            "a.b <= baseline * 2ms",
            "a.b <= baseline + ",
            "a.b <= baseline ++20%",
            "a.b <= baseline + 2 parsecs",
            "a.b <= baselines",
            "a.b <= baseline.x",
            "a.b <= 5 + baseline",
        ] {
            assert!(parse_rule(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn rejects_bad_rules() {
        for bad in [
            "",
            "< 5",
            "paf.failures",
            "paf.failures = 0",
            "paf.failures == ",
            "paf.failures == abc",
            "paf.failures == 5 parsecs",
            "paf.failures == 5 5",
            r#"x{comm=foo} < 1"#,
            r#"x{comm="foo" < 1"#,
            r#"x{comm="foo} < 1"#,
        ] {
            assert!(parse_rule(bad).is_err(), "accepted {bad:?}");
        }
        let r = parse_rule("growth.processes < 5ms").ok();
        assert!(r.is_some_and(|r| r.threshold(Unit::Count, None).is_err()));
    }

    #[test]
    fn rules_files() {
        let ok = parse_rules_toml(
            "rules = [\"paf.failures == 0\"]\n[[rule]]\nexpr = \"oom.kills < 1\"\ndescription = \" no OOM kill \"\n",
        );
        let ok = ok.ok();
        assert_eq!(ok.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            ok.as_ref()
                .map(|v| (v[0].description.clone(), v[1].description.clone())),
            Some((None, Some("no OOM kill".to_string())))
        );
        assert!(matches!(
            parse_rules_toml("rules = 5"),
            Err(RuleError::File(_))
        ));
        assert!(matches!(parse_rules_toml(""), Err(RuleError::File(_))));
        assert!(matches!(
            parse_rules_toml("rulez = []"),
            Err(RuleError::File(_))
        ));
        assert!(matches!(
            parse_rules_toml("[[rule]]\nexpr = \"a.b < 1\"\ndescripton = \"x\"\n"),
            Err(RuleError::File(_))
        ));
        assert!(matches!(
            parse_rules_toml("rules = [\"nope\"]"),
            Err(RuleError::Syntax { .. })
        ));
    }

    #[test]
    fn evaluates() {
        let m1 = Metric::new("paf.failures", 0u64, Unit::Count);
        let m2 = Metric::new("growth.max_bytes_per_s", 2.0 * 1048576.0, Unit::BytesPerSec)
            .label("comm", "myapp");
        let m3 = Metric::new("reclaim.direct.p99_ms", 12.0, Unit::Ms);
        let cur = Metrics {
            list: vec![("paf", &m1), ("growth", &m2), ("reclaim", &m3)],
            sections: Vec::new(),
        };
        let b3 = Metric::new("reclaim.direct.p99_ms", 10.0, Unit::Ms);
        let base = Metrics {
            list: vec![("reclaim", &b3)],
            sections: Vec::new(),
        };
        let rules: Vec<Rule> = [
            "paf.failures == 0",
            r#"growth.max_bytes_per_s{comm="myapp"} < 1MiB"#,
            "oom.kills == 0",
            "reclaim.direct.p99_ms <= baseline + 20%",
            "reclaim.direct.p99_ms <= baseline + 10%",
            "paf.failures <= baseline",
        ]
        .iter()
        .filter_map(|r| parse_rule(r).ok())
        .collect();
        let out = evaluate(&rules, &cur, Some(&base));
        assert_eq!(
            out.iter().map(|o| o.ok).collect::<Vec<_>>(),
            vec![true, false, false, true, false, false]
        );
        assert!(out[2].problem.is_some());
        assert_eq!(out[3].baseline, Some(Value::Float(10.0)));
        assert_eq!(out[3].threshold, Some(12.0));
        assert!(
            out[5]
                .problem
                .as_deref()
                .is_some_and(|p| p.starts_with("baseline: no metric `paf.failures`")),
            "{:?}",
            out[5].problem
        );
        let out = evaluate(&rules, &cur, None);
        assert!(out[3]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("--baseline")));
    }
}
