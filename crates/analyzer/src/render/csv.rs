//! CSV: one long ("tidy") table, `section,table,row,column,value,unit`.

use crate::model::Table;
use crate::report::Report;
use std::fmt::Write;

pub const HEADER: &str = "section,table,row,column,value,unit";

/// Control characters escaped (`\x1b`, `\n`: a CSV piped to a terminal
/// must not drive it), then quoted when it holds a comma or quote.
pub fn field(s: &str) -> String {
    let s = memtrace_cli::error::escape(s);
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn table_rows(out: &mut String, section: &str, t: &Table) {
    for (i, r) in t.rows.iter().enumerate() {
        for (c, v) in t.columns.iter().zip(r) {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                field(section),
                field(&t.id),
                i,
                field(&c.name),
                field(&v.plain()),
                c.unit.name()
            );
        }
    }
}

pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    for (i, w) in r.warnings.iter().enumerate() {
        let _ = writeln!(out, "file,warnings,{i},warning,{},", field(w));
    }
    // The findings first, as the other formats: one row per field, `row`
    // the rank from 1.
    for (i, f) in r.findings().iter().enumerate() {
        let rank = i + 1;
        let mut cell = |name: &str, v: String, unit: &str| {
            let _ = writeln!(out, "report,findings,{rank},{name},{},{unit}", field(&v));
        };
        cell("severity", f.severity.name().into(), "");
        // The JSON name (`oom_kill`), from the one serde definition.
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        cell("kind", kind, "");
        cell("summary", f.summary.clone(), "");
        for d in &f.details {
            cell("detail", d.clone(), "");
        }
        if let Some(t) = f.ts_ns {
            cell("ts_ns", t.to_string(), "ts_ns");
        }
        if let Some(p) = f.pid {
            cell("pid", p.to_string(), "");
        }
        if let Some(c) = &f.comm {
            cell("comm", c.clone(), "");
        }
        if let Some(c) = &f.cgroup {
            cell("cgroup", c.clone(), "");
        }
        cell("section", f.section.into(), "");
    }
    for s in &r.sections {
        let _ = writeln!(out, "{},status,0,status,{},", s.id, s.status.id());
        if let Some(m) = s.status.message() {
            let _ = writeln!(out, "{},status,0,message,{},", s.id, field(m));
        }
        let _ = writeln!(out, "{},status,0,lossy,{},", s.id, s.lossy);
        for t in &s.tables {
            table_rows(&mut out, s.id, t);
        }
    }
    for (i, (s, m)) in r.metrics().into_iter().enumerate() {
        let _ = writeln!(
            out,
            "{},metrics,{},{},{},{}",
            s,
            i,
            field(&m.key()),
            field(&m.value.plain()),
            m.unit.name()
        );
    }
    out
}

/// A single table as a plain wide CSV (header = column names).
pub fn wide(t: &Table) -> String {
    let mut out = String::new();
    let names: Vec<String> = t.columns.iter().map(|c| field(&c.name)).collect();
    let _ = writeln!(out, "{}", names.join(","));
    for r in &t.rows {
        let vals: Vec<String> = r.iter().map(|v| field(&v.plain())).collect();
        let _ = writeln!(out, "{}", vals.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting() {
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(super::field("plain"), "plain");
        assert_eq!(super::field("a\u{1b}[2J\nb"), "a\\x1b[2J\\nb");
    }
}
