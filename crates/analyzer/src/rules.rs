//! Regression gates: rules over the report's metrics.
//!
//! A rule is `metric{label="value",...} OP number[suffix]`, e.g.
//! `growth.max_bytes_per_s{comm="myapp"} < 1MiB`. See docs/REPORTS.md.

use crate::model::{metric_key, Metric, Unit, Value};
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

/// The threshold's suffix.
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

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub text: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub op: Op,
    pub number: f64,
    pub suffix: Suffix,
}

impl Rule {
    pub fn key(&self) -> String {
        metric_key(&self.name, &self.labels)
    }

    /// The threshold in the metric's unit.
    pub fn threshold(&self, unit: Unit) -> Result<f64, String> {
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
                            u.name()
                        ))
                    }
                }
            }
        })
    }
}

fn syntax(rule: &str, msg: impl Into<String>) -> RuleError {
    RuleError::Syntax {
        rule: rule.to_string(),
        msg: msg.into(),
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
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    // `e` may start a suffix (none does), so parse greedily then back off.
    let (mut num_text, mut suffix_text) = (&rest[..num_end], rest[num_end..].trim());
    while !num_text.is_empty() && num_text.parse::<f64>().is_err() {
        let cut = num_text.len() - 1;
        suffix_text = rest[cut..].trim();
        num_text = &rest[..cut];
    }
    let number: f64 = num_text
        .parse()
        .map_err(|_| syntax(s, "expected a number after the operator"))?;
    if !number.is_finite() {
        return Err(syntax(s, "the number must be finite"));
    }
    let suffix = match suffix_text {
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
        other => return Err(syntax(s, format!("unknown suffix `{other}`"))),
    };
    Ok(Rule {
        text: s.to_string(),
        name: name.to_string(),
        labels,
        op,
        number,
        suffix,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    expr: String,
    #[serde(default)]
    #[allow(dead_code)]
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
/// with `expr` (and an optional `description`).
pub fn parse_rules_toml(text: &str) -> Result<Vec<Rule>, RuleError> {
    let f: RulesFile = toml::from_str(text)
        .map_err(|e| RuleError::File(crate::recording::one_line(&e.to_string())))?;
    let mut out = Vec::new();
    for r in f
        .rules
        .iter()
        .map(String::as_str)
        .chain(f.rule.iter().map(|r| r.expr.as_str()))
    {
        out.push(parse_rule(r)?);
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
    pub threshold: Option<f64>,
    /// Why it is broken without a comparison (missing metric, bad suffix).
    pub problem: Option<String>,
}

/// Checks rules against metrics. A rule whose metric is absent is broken.
pub fn evaluate(rules: &[Rule], metrics: &[&Metric]) -> Vec<Outcome> {
    rules
        .iter()
        .map(|r| {
            let key = r.key();
            let found = metrics
                .iter()
                .find(|m| m.name == r.name && m.labels == r.labels);
            let Some(m) = found else {
                return Outcome {
                    rule: r.text.clone(),
                    key,
                    ok: false,
                    value: None,
                    unit: Unit::None,
                    threshold: None,
                    problem: Some(
                        "no such metric in this recording (section not recorded, no data, \
                         or a misspelled name/label)"
                            .into(),
                    ),
                };
            };
            let base = Outcome {
                rule: r.text.clone(),
                key,
                ok: false,
                value: Some(m.value.clone()),
                unit: m.unit,
                threshold: None,
                problem: None,
            };
            match (r.threshold(m.unit), m.value.as_f64()) {
                (Err(e), _) => Outcome {
                    problem: Some(e),
                    ..base
                },
                (Ok(_), None) => Outcome {
                    problem: Some("the metric has no value".into()),
                    ..base
                },
                (Ok(t), Some(v)) => Outcome {
                    ok: r.op.holds(v, t),
                    threshold: Some(t),
                    ..base
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            r.and_then(|r| r.threshold(Unit::BytesPerSec).ok()),
            Some(1048576.0)
        );

        let r = parse_rule("reclaim.direct.p99_ms < 50").ok();
        assert_eq!(
            r.as_ref().map(|r| (r.number, r.suffix)),
            Some((50.0, Suffix::None))
        );
        let r = parse_rule("paf.failures == 0").ok();
        assert_eq!(r.as_ref().map(|r| r.op), Some(Op::Eq));
        let r = parse_rule("reclaim.direct.p99_ms<=0.5s").ok();
        assert_eq!(
            r.as_ref().and_then(|r| r.threshold(Unit::Ms).ok()),
            Some(500.0)
        );
        let r = parse_rule("reclaim.efficiency >= 25%").ok();
        assert_eq!(
            r.as_ref().and_then(|r| r.threshold(Unit::Ratio).ok()),
            Some(0.25)
        );
        let r = parse_rule(r#"x.y{b="2", a="q\"uote"} != -1.5e3"#).ok();
        assert_eq!(
            r.as_ref().map(|r| r.labels.clone()),
            Some(vec![
                ("a".into(), "q\"uote".into()),
                ("b".into(), "2".into())
            ])
        );
        assert_eq!(r.as_ref().map(|r| r.number), Some(-1500.0));
        assert_eq!(
            r.map(|r| r.key()),
            Some(r#"x.y{a="q\"uote",b="2"}"#.to_string())
        );
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
            r#"x{comm=foo} < 1"#,
            r#"x{comm="foo" < 1"#,
            r#"x{comm="foo} < 1"#,
        ] {
            assert!(parse_rule(bad).is_err(), "accepted {bad:?}");
        }
        let r = parse_rule("growth.processes < 5ms").ok();
        assert!(r.is_some_and(|r| r.threshold(Unit::Count).is_err()));
    }

    #[test]
    fn rules_files() {
        let ok = parse_rules_toml(
            "rules = [\"paf.failures == 0\"]\n[[rule]]\nexpr = \"oom.kills < 1\"\n",
        );
        assert_eq!(ok.map(|v| v.len()), Ok(2));
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
            parse_rules_toml("rules = [\"nope\"]"),
            Err(RuleError::Syntax { .. })
        ));
    }

    #[test]
    fn evaluates() {
        let m1 = Metric::new("paf.failures", 0u64, Unit::Count);
        let m2 = Metric::new("growth.max_bytes_per_s", 2.0 * 1048576.0, Unit::BytesPerSec)
            .label("comm", "myapp");
        let ms = [&m1, &m2];
        let rules: Vec<Rule> = [
            "paf.failures == 0",
            r#"growth.max_bytes_per_s{comm="myapp"} < 1MiB"#,
            "oom.kills == 0",
        ]
        .iter()
        .filter_map(|r| parse_rule(r).ok())
        .collect();
        let out = evaluate(&rules, &ms);
        assert_eq!(
            out.iter().map(|o| o.ok).collect::<Vec<_>>(),
            vec![true, false, false]
        );
        assert!(out[2].problem.is_some());
    }
}
