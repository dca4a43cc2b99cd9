//! JUnit XML for CI systems: one test case per rule (`check`) or per
//! gated metric (`diff --fail-over`), a failure for each broken one.

use crate::diff::Diff;
use crate::model::Value;
use crate::report::Report;
use crate::rules::Outcome;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The rule, or the metric's key.
    pub name: String,
    /// Groups cases in CI views: `memana.check`, `memana.diff.<section>`.
    pub classname: String,
    pub failure: Option<Failure>,
}

/// Why a case failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// One line: the rule or metric, the value, the limit, the description.
    pub message: String,
    /// `threshold` (the comparison failed), `absent` (no value to compare).
    pub kind: &'static str,
    /// Further lines, one fact each.
    pub details: Vec<String>,
}

/// One test suite (one memana run).
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// `memana check`, `memana diff`.
    pub name: String,
    /// Name/value pairs CI shows with the suite (the recording, the baseline).
    pub properties: Vec<(String, String)>,
    pub cases: Vec<Case>,
}

/// Text XML 1.0 can carry: control characters escaped as in the text
/// output (`\x1b`), noncharacters replaced; quick-xml escapes `<&"'`.
fn xml_text(s: &str) -> String {
    memtrace_cli::error::escape(s)
        .chars()
        .map(|c| match c {
            '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

impl Suite {
    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }

    /// The document: `<testsuites>` holding this one `<testsuite>`.
    pub fn to_xml(&self) -> String {
        self.write().unwrap_or_default()
    }

    fn write(&self) -> std::io::Result<String> {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let tests = self.cases.len().to_string();
        let failures = self.failures().to_string();
        let name = xml_text(&self.name);
        let counts = [
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", "0"),
            ("skipped", "0"),
        ];
        w.create_element("testsuites")
            .with_attribute(("name", name.as_str()))
            .with_attributes(counts)
            .write_inner_content(|w| {
                w.create_element("testsuite")
                    .with_attribute(("name", name.as_str()))
                    .with_attributes(counts)
                    .write_inner_content(|w| {
                        if !self.properties.is_empty() {
                            w.create_element("properties").write_inner_content(|w| {
                                for (k, v) in &self.properties {
                                    let (k, v) = (xml_text(k), xml_text(v));
                                    w.create_element("property")
                                        .with_attributes([
                                            ("name", k.as_str()),
                                            ("value", v.as_str()),
                                        ])
                                        .write_empty()?;
                                }
                                Ok(())
                            })?;
                        }
                        for c in &self.cases {
                            let (n, cl) = (xml_text(&c.name), xml_text(&c.classname));
                            let e = w.create_element("testcase").with_attributes([
                                ("name", n.as_str()),
                                ("classname", cl.as_str()),
                            ]);
                            match &c.failure {
                                None => {
                                    e.write_empty()?;
                                }
                                Some(f) => {
                                    e.write_inner_content(|w| {
                                        let m = xml_text(&f.message);
                                        // One fact a line: escape each, then join.
                                        let body = f
                                            .details
                                            .iter()
                                            .map(|d| xml_text(d))
                                            .collect::<Vec<_>>()
                                            .join("\n");
                                        w.create_element("failure")
                                            .with_attributes([
                                                ("message", m.as_str()),
                                                ("type", f.kind),
                                            ])
                                            .write_text_content(BytesText::new(&body))?;
                                        Ok(())
                                    })?;
                                }
                            }
                        }
                        Ok(())
                    })?;
                Ok(())
            })?;
        let mut out = String::from_utf8(w.into_inner())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        out.push('\n');
        Ok(out)
    }
}

/// `memana check`'s results: one case per rule.
pub fn check(outcomes: &[Outcome], report: &Report, baseline: Option<&Report>) -> Suite {
    let mut properties = vec![("recording".to_string(), report.file.clone())];
    if let Some(b) = baseline {
        properties.push(("baseline".into(), b.file.clone()));
    }
    let cases = outcomes
        .iter()
        .map(|o| Case {
            name: o.rule.clone(),
            classname: "memana.check".into(),
            failure: (!o.ok).then(|| {
                let mut message = format!("{} ({})", o.rule, o.explain());
                if let Some(d) = &o.description {
                    message.push_str(&format!(": {d}"));
                }
                let mut details = vec![format!("rule: {}", o.rule), format!("metric: {}", o.key)];
                if let Some(v) = &o.value {
                    details.push(format!("value: {} {}", v.plain(), o.unit.name()));
                }
                if let Some(t) = o.threshold {
                    details.push(format!("limit: {t} {}", o.unit.name()));
                }
                if let Some(b) = &o.baseline {
                    details.push(format!("baseline: {} {}", b.plain(), o.unit.name()));
                }
                if let Some(d) = &o.description {
                    details.push(format!("description: {d}"));
                }
                if let Some(p) = &o.problem {
                    details.push(format!("problem: {p}"));
                }
                Failure {
                    message,
                    kind: if o.problem.is_some() {
                        "absent"
                    } else {
                        "threshold"
                    },
                    details,
                }
            }),
        })
        .collect();
    Suite {
        name: "memana check".into(),
        properties,
        cases,
    }
}

/// `memana diff --fail-over`'s results: one case per gated metric.
pub fn diff(d: &Diff, before: &Report, after: &Report) -> Suite {
    let mut properties = vec![
        ("before".to_string(), before.file.clone()),
        ("after".to_string(), after.file.clone()),
    ];
    let Some(g) = &d.gate else {
        return Suite {
            name: "memana diff".into(),
            properties,
            cases: Vec::new(),
        };
    };
    properties.push(("fail_over".into(), g.describe()));
    let cases = d
        .rows
        .iter()
        .filter(|r| g.applies(r))
        .map(|r| Case {
            name: r.key.clone(),
            classname: format!("memana.diff.{}", r.section),
            failure: g.exceeds(r).then(|| {
                let (b, a) = (r.shown(&r.before), r.shown(&r.after));
                Failure {
                    message: format!(
                        "{}: {b} -> {a} ({}), over {}",
                        r.key,
                        r.relative_text(),
                        g.describe()
                    ),
                    kind: "threshold",
                    details: vec![
                        format!("metric: {}", r.key),
                        format!("before: {} {}", plain(&r.before), r.unit.name()),
                        format!("after: {} {}", plain(&r.after), r.unit.name()),
                        format!("relative change: {}", r.relative_text()),
                        format!("limit: {}", g.describe()),
                    ],
                }
            }),
        })
        .collect();
    Suite {
        name: "memana diff".into(),
        properties,
        cases,
    }
}

fn plain(v: &Option<Value>) -> String {
    v.as_ref().map_or_else(|| "-".into(), Value::plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    #[test]
    fn writes_parseable_junit() {
        let s = Suite {
            name: "memana check".into(),
            properties: vec![("recording".into(), "a<b>&\"c\".parquet".into())],
            cases: vec![
                Case {
                    name: "oom.kills == 0".into(),
                    classname: "memana.check".into(),
                    failure: Some(Failure {
                        message: "oom.kills = 1, limit == 0: no OOM \u{1b}[2J kill".into(),
                        kind: "threshold",
                        details: vec!["value: 1".into(), "a < b & c".into()],
                    }),
                },
                Case {
                    name: "paf.failures < 5".into(),
                    classname: "memana.check".into(),
                    failure: None,
                },
            ],
        };
        let xml = s.to_xml();
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{xml}"
        );
        let mut r = Reader::from_str(&xml);
        let mut names = Vec::new();
        let mut failure_msgs = Vec::new();
        loop {
            match r.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Start(e) | Event::Empty(e)) => {
                    names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                    if e.name().as_ref() == b"failure" {
                        let m = e
                            .try_get_attribute("message")
                            .ok()
                            .flatten()
                            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                        failure_msgs.push(m);
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("{e}: {xml}"),
            }
        }
        assert_eq!(
            names,
            [
                "testsuites",
                "testsuite",
                "properties",
                "property",
                "testcase",
                "failure",
                "testcase"
            ]
        );
        assert_eq!(
            failure_msgs,
            [Some(
                "oom.kills = 1, limit == 0: no OOM \\x1b[2J kill".to_string()
            )]
        );
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        // One fact a line, escaped for XML.
        assert!(
            xml.contains(">value: 1\na &lt; b &amp; c</failure>"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'));
    }
}
