//! The flat metrics of a report as `check` and `diff` see them: lookup,
//! why one is absent (with the nearest keys for a typo), key patterns, and
//! `memana metrics`' listing.

use crate::model::{Metric, Status, Table, Unit, Value};
use crate::render::{self, Format};
use crate::report::Report;
use crate::report_row;

/// A report's metrics and its sections' status.
#[derive(Debug, Clone, Default)]
pub struct Metrics<'a> {
    /// Every metric with its section id, in report order.
    pub list: Vec<(&'static str, &'a Metric)>,
    /// Every computed section and its status.
    pub sections: Vec<(&'static str, &'a Status)>,
}

impl<'a> Metrics<'a> {
    pub fn of(report: &'a Report) -> Self {
        Metrics {
            list: report.metrics(),
            sections: report.sections.iter().map(|s| (s.id, &s.status)).collect(),
        }
    }

    /// The metric with exactly this name and these (sorted) labels.
    pub fn find(&self, name: &str, labels: &[(String, String)]) -> Option<&'a Metric> {
        self.list
            .iter()
            .map(|(_, m)| *m)
            .find(|m| m.name == name && m.labels == labels)
    }

    /// Why there is no metric `name{labels}`: its section was not recorded
    /// or had no data, or the key is not one of this recording's (then with
    /// the nearest keys, for a misspelled name or label).
    pub fn why_absent(&self, name: &str, labels: &[(String, String)]) -> String {
        let key = crate::model::metric_key(name, labels);
        let section = name.split('.').next().unwrap_or(name);
        match self.sections.iter().find(|(id, _)| *id == section) {
            Some((_, Status::NotRecorded(why))) => {
                return format!("no metric `{key}`: section `{section}` was not recorded: {why}")
            }
            Some((_, Status::NoData(why))) => {
                return format!("no metric `{key}`: section `{section}` has no data: {why}")
            }
            _ => {}
        }
        let near = self.nearest(name, labels, 3);
        let mut s = format!("no metric `{key}` in this recording");
        if !near.is_empty() {
            s.push_str("; nearest: ");
            s.push_str(&near.join(", "));
        }
        // A figure that cannot be computed (a p99 without timed events) is
        // absent, not zero: the key may be right, and present in another
        // recording.
        s.push_str(" (misspelled, or without data here: memana metrics lists the keys present)");
        s
    }

    /// Up to `n` keys nearest to `name{labels}`, best first: the same name
    /// with other labels, then names that contain the given one (`p99ms`
    /// in `reclaim.direct.p99_ms`, ignoring `_` and `.`), then names close
    /// by edit distance.
    pub fn nearest(&self, name: &str, labels: &[(String, String)], n: usize) -> Vec<String> {
        let key = crate::model::metric_key(name, labels);
        let wanted = squash(name);
        let mut scored: Vec<(f64, String)> = Vec::new();
        let mut seen_names: Vec<&str> = Vec::new();
        for (_, m) in &self.list {
            let score = if m.name == name {
                // The name is right: rank its label sets by closeness.
                2.0 + strsim::normalized_levenshtein(&key, &m.key())
            } else {
                // One entry per name: its unlabelled key if it has one.
                if seen_names.contains(&m.name.as_str()) {
                    continue;
                }
                seen_names.push(&m.name);
                name_score(name, &wanted, &m.name)
            };
            if score < 0.75 {
                continue;
            }
            let shown = if m.name == name {
                m.key()
            } else {
                self.list
                    .iter()
                    .find(|(_, o)| o.name == m.name && o.labels.is_empty())
                    .map_or_else(|| m.key(), |(_, o)| o.key())
            };
            scored.push((score, shown));
        }
        // Stable: equal scores keep report order.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(n).map(|(_, k)| k).collect()
    }

    /// The entries whose key matches any of `patterns` (all when none).
    pub fn matching(&self, patterns: &[String]) -> Vec<(&'static str, &'a Metric)> {
        self.list
            .iter()
            .filter(|(_, m)| {
                patterns.is_empty() || {
                    let k = m.key();
                    patterns.iter().any(|p| key_matches(p, &k))
                }
            })
            .copied()
            .collect()
    }
}

/// Lowercase, without `_` and `.`: `p99ms` and `p99_ms` are one word.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// How close a metric name is to a misspelled one, 0..~1.5.
fn name_score(name: &str, squashed: &str, candidate: &str) -> f64 {
    let c = squash(candidate);
    if squashed.len() >= 3 && c.contains(squashed) {
        // Contained: the more of the candidate it covers, the better.
        return 1.0 + squashed.len() as f64 / c.len().max(1) as f64 / 2.0;
    }
    strsim::normalized_damerau_levenshtein(name, candidate)
        .max(strsim::jaro_winkler(name, candidate) - 0.1)
}

/// Whether a metric key matches a pattern: the key contains the pattern,
/// where `*` in it matches any characters (`p99`, `reclaim.*.p99_ms`,
/// `header.rows{table="paf"}`).
pub fn key_matches(pattern: &str, key: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut at) = key.find(first).map(|i| i + first.len()) else {
        return false;
    };
    for p in parts {
        match key[at..].find(p) {
            Some(i) => at += i + p.len(),
            None => return false,
        }
    }
    true
}

/// A number as people read it in `unit`: a whole number without decimals
/// (a count threshold of 5 prints `5`, not `5.000`).
pub fn human_number(v: f64, unit: Unit, start_ns: i64) -> String {
    // Whole and exactly representable: print as an integer.
    let value = if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::Int(v as i64)
    } else {
        Value::Float(v)
    };
    render::human(&value, unit, start_ns)
}

report_row! {
    /// One metric of `memana metrics`, as JSON and CSV give it (raw value).
    struct MetricRow {
        section: &'static str => None,
        metric: String => None,
        unit: &'static str => None,
        value: Value => None,
    }
}

report_row! {
    /// One metric as text and markdown show it (value with its unit).
    struct ShownMetric {
        metric: String => None,
        unit: &'static str => None,
        value: String => None,
    }
}

/// `memana metrics`: every metric (or those matching `patterns`) with its
/// unit and value, by section.
pub fn listing(report: &Report, patterns: &[String], format: Format) -> String {
    let all = Metrics::of(report);
    let shown = all.matching(patterns);
    let none_note = || {
        let mut s = format!("no metric matches {}", quoted(patterns));
        let near: Vec<String> = patterns
            .iter()
            .flat_map(|p| all.nearest(&p.replace('*', ""), &[], 3))
            .collect();
        if !near.is_empty() {
            s.push_str(&format!("; nearest: {}", near.join(", ")));
        }
        s
    };
    match format {
        Format::Json => {
            let list: Vec<serde_json::Value> = shown
                .iter()
                .map(|(s, m)| render::json::metric(s, m))
                .collect();
            let sections: serde_json::Map<String, serde_json::Value> = report
                .sections
                .iter()
                .map(|s| {
                    (
                        s.id.to_string(),
                        serde_json::json!({"status": s.status.id(), "message": s.status.message()}),
                    )
                })
                .collect();
            render::json::to_string(&serde_json::json!({
                "format_version": render::json::REPORT_FORMAT_VERSION,
                "file": report.file,
                "lossy": report.lossy(),
                "warnings": report.warnings,
                "sections": sections,
                "metrics": list,
            }))
        }
        Format::Csv => {
            let mut t = Table::of::<MetricRow>("metrics", "Metrics");
            for (s, m) in &shown {
                t.push_row(MetricRow {
                    section: s,
                    metric: m.key(),
                    unit: m.unit.name(),
                    value: m.value.clone(),
                });
            }
            render::csv::wide(&t)
        }
        Format::Text | Format::Markdown | Format::Html => {
            let md = format == Format::Markdown;
            let mut out = if md {
                format!(
                    "# memana metrics: `{}`\n\n",
                    render::markdown::cell(&report.file)
                )
            } else {
                format!("{}: ", render::clean(&report.file))
            };
            out.push_str(&format!(
                "{} of {} metrics; a rule is `KEY OP NUMBER[unit]` (docs/REPORTS.md)\n",
                shown.len(),
                all.list.len()
            ));
            for w in &report.warnings {
                out.push_str(&if md {
                    format!("\n**Warning**: {}\n", render::markdown::note(w))
                } else {
                    format!("WARNING: {}\n", render::clean_to(w, render::NOTE_CAP))
                });
            }
            if shown.is_empty() {
                out.push_str(&format!(
                    "{}\n",
                    render::clean_to(&none_note(), render::NOTE_CAP)
                ));
            }
            for s in &report.sections {
                let mut t = Table::of::<ShownMetric>(s.id, s.title);
                for (_, m) in shown.iter().filter(|(id, _)| *id == s.id) {
                    t.push_row(ShownMetric {
                        metric: m.key(),
                        unit: m.unit.name(),
                        value: render::human(&m.value, m.unit, report.start_ns),
                    });
                }
                let status = s.status.message().map(|why| {
                    let what = if matches!(s.status, Status::NotRecorded(_)) {
                        "Not recorded"
                    } else {
                        "No data"
                    };
                    format!("{what}: {why}")
                });
                // With a pattern, only sections it selects.
                if t.rows.is_empty() && (!patterns.is_empty() || status.is_none()) {
                    continue;
                }
                if md {
                    out.push_str(&format!("\n## {} (`{}`)\n\n", s.title, s.id));
                    if let Some(st) = &status {
                        out.push_str(&format!("{}\n\n", render::markdown::note(st)));
                    }
                    if !t.rows.is_empty() {
                        render::markdown::table(&mut out, &t, report.start_ns);
                    }
                } else {
                    out.push_str(&format!("\n== {} ({}) ==\n", s.title, s.id));
                    if let Some(st) = &status {
                        out.push_str(&format!("  {}\n", render::clean_to(st, render::NOTE_CAP)));
                    }
                    if !t.rows.is_empty() {
                        render::text::table(&mut out, &t, report.start_ns, "  ");
                    }
                }
            }
            out
        }
    }
}

fn quoted(patterns: &[String]) -> String {
    patterns
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ms: &[Metric]) -> Metrics<'_> {
        Metrics {
            list: ms.iter().map(|m| ("x", m)).collect(),
            sections: Vec::new(),
        }
    }

    #[test]
    fn patterns() {
        assert!(key_matches("p99", "reclaim.direct.p99_ms"));
        assert!(key_matches("reclaim.*.p99_ms", "reclaim.direct.p99_ms"));
        assert!(!key_matches("reclaim.*.p99_ms", "compaction.stall_p99_ms"));
        assert!(key_matches("*", "x"));
        assert!(key_matches(
            r#"rows{table="paf"}"#,
            r#"header.rows{table="paf"}"#
        ));
        assert!(!key_matches("p99*direct", "reclaim.direct.p99_ms"));
    }

    #[test]
    fn nearest_keys() {
        let ms = [
            Metric::new("reclaim.direct.p50_ms", 1.0, Unit::Ms),
            Metric::new("reclaim.direct.p99_ms", 1.0, Unit::Ms),
            Metric::new("reclaim.kswapd.p99_ms", 1.0, Unit::Ms),
            Metric::new("compaction.stall_p99_ms", 1.0, Unit::Ms),
            Metric::new("oom.kills", 1u64, Unit::Count),
            Metric::new("oom.kills", 1u64, Unit::Count).label("comm", "memscen-oom"),
            Metric::new("paf.failures", 0u64, Unit::Count),
        ];
        let s = set(&ms);
        let near = s.nearest("reclaim.direct.p99ms", &[], 3);
        assert_eq!(
            near.first().map(String::as_str),
            Some("reclaim.direct.p99_ms")
        );
        let near = s.nearest("p99ms", &[], 3);
        assert_eq!(near.len(), 3, "{near:?}");
        assert!(near.iter().all(|k| k.contains("p99_ms")), "{near:?}");
        let near = s.nearest("oom.kills", &[("comm".into(), "memscen-om".into())], 3);
        assert_eq!(
            near.first().map(String::as_str),
            Some(r#"oom.kills{comm="memscen-oom"}"#)
        );
        let near = s.nearest("paf.failure", &[], 3);
        assert_eq!(near, vec!["paf.failures".to_string()]);
        assert!(s.nearest("zzzz.qqqq", &[], 3).is_empty());
        let why = s.why_absent("reclaim.direct.p99ms", &[]);
        assert!(
            why.starts_with(
                "no metric `reclaim.direct.p99ms` in this recording; nearest: reclaim.direct.p99_ms, "
            ),
            "{why}"
        );
    }

    #[test]
    fn absent_sections_say_why() {
        let st = Status::NotRecorded("probe group `pr` was not recorded".into());
        let s = Metrics {
            list: Vec::new(),
            sections: vec![("reclaim", &st)],
        };
        assert_eq!(
            s.why_absent("reclaim.direct.p99_ms", &[]),
            "no metric `reclaim.direct.p99_ms`: section `reclaim` was not recorded: probe group `pr` was not recorded"
        );
    }
}
