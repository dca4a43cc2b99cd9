//! Aligned tables for a terminal.

use super::{clean, clean_to, header, human, is_numeric, omitted_note, shown_rows, NOTE_CAP};
use crate::model::{SectionReport, Status, Table, Unit, Value};
use crate::report::Report;
use std::fmt::Write;

/// Renders one table as aligned columns (two-column key/value tables as a list).
pub fn table(out: &mut String, t: &Table, start_ns: i64, indent: &str) {
    let rows = shown_rows(t);
    if t.columns.len() == 2 && t.columns[0].name == "key" {
        let w = t
            .rows
            .iter()
            .map(|r| human(&r[0], Unit::None, 0).len())
            .max()
            .unwrap_or(0);
        for &i in &rows {
            let r = &t.rows[i];
            let _ = writeln!(
                out,
                "{indent}{:<w$}  {}",
                human(&r[0], Unit::None, 0),
                human(&r[1], t.columns[1].unit, start_ns)
            );
        }
        return;
    }
    let heads: Vec<String> = t.columns.iter().map(|c| header(&c.name, c.unit)).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|&i| {
            t.rows[i]
                .iter()
                .zip(&t.columns)
                .map(|(v, c)| human(v, c.unit, start_ns))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = heads.iter().map(|h| h.chars().count()).collect();
    for r in &cells {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let right: Vec<bool> = (0..t.columns.len())
        .map(|j| {
            let col = || rows.iter().map(|&i| &t.rows[i][j]);
            col().any(is_numeric) && col().all(|v| is_numeric(v) || *v == Value::Null)
        })
        .collect();
    let line = |out: &mut String, vals: &[String]| {
        let mut s = String::from(indent);
        for (j, v) in vals.iter().enumerate() {
            if j > 0 {
                s.push_str("  ");
            }
            let pad = widths[j].saturating_sub(v.chars().count());
            if right[j] {
                s.push_str(&" ".repeat(pad));
                s.push_str(v);
            } else {
                s.push_str(v);
                if j + 1 < vals.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(out, &heads);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &rule);
    for r in &cells {
        line(out, r);
    }
    if let Some(n) = omitted_note(t, rows.len()) {
        let _ = writeln!(out, "{indent}{n}");
    }
}

pub fn section(out: &mut String, s: &SectionReport, start_ns: i64) {
    let _ = writeln!(out, "== {} ==", s.title);
    if let Some(m) = s.status.message() {
        let what = if matches!(s.status, Status::NotRecorded(_)) {
            "Not recorded"
        } else {
            "No data"
        };
        let _ = writeln!(out, "  {what}: {}.", clean_to(m, NOTE_CAP));
    }
    for n in &s.notes {
        let _ = writeln!(out, "  * {}", clean_to(n, NOTE_CAP));
    }
    if s.status != Status::Ok {
        let _ = writeln!(out);
        return;
    }
    for t in &s.tables {
        let _ = writeln!(out);
        let _ = writeln!(out, "  {}", t.title);
        if t.rows.is_empty() {
            let _ = writeln!(out, "    (none)");
            continue;
        }
        table(out, t, start_ns, "    ");
    }
    let _ = writeln!(out);
}

pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: host {}, kernel {}, {:.3} s recorded{}",
        clean(&r.file),
        clean(&r.host),
        clean(&r.kernel),
        (r.end_ns - r.start_ns) as f64 / 1e9,
        if r.window != (r.start_ns, r.end_ns) {
            format!(
                "  window +{:.3}s..+{:.3}s",
                (r.window.0 - r.start_ns) as f64 / 1e9,
                (r.window.1 - r.start_ns) as f64 / 1e9
            )
        } else {
            String::new()
        }
    );
    if r.filter.pid.is_some() || r.filter.comm.is_some() {
        let _ = writeln!(
            out,
            "filter: {}{}",
            r.filter
                .pid
                .map(|p| format!("tgid={p} "))
                .unwrap_or_default(),
            r.filter
                .comm
                .as_ref()
                .map(|c| format!("comm={}", clean(c)))
                .unwrap_or_default()
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "WARNING: {}", clean_to(w, NOTE_CAP));
    }
    if r.lossy() {
        let _ = writeln!(
            out,
            "WARNING: some figures rest on data with losses; see the sections' notes."
        );
    }
    let _ = writeln!(out);
    for s in &r.sections {
        section(&mut out, s, r.start_ns);
    }
    out
}
