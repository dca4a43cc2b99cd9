//! Markdown: headings and pipe tables, values formatted as in the text output.

use super::{clean, clean_to, header, human, omitted_note, shown_rows, NOTE_CAP};
use crate::model::{SectionReport, Status, Table};
use crate::report::Report;
use std::fmt::Write;

/// A table cell or inline text: escaped and capped ([`clean`]), and `|`
/// escaped so a value cannot add columns or forge rows.
pub fn cell(s: &str) -> String {
    clean(s).replace('|', "\\|")
}

/// A sentence: as [`cell`], with the longer cap of notes.
pub fn note(s: &str) -> String {
    clean_to(s, NOTE_CAP).replace('|', "\\|")
}

pub fn table(out: &mut String, t: &Table, start_ns: i64) {
    let rows = shown_rows(t);
    let heads: Vec<String> = t
        .columns
        .iter()
        .map(|c| cell(&header(&c.name, c.unit)))
        .collect();
    let _ = writeln!(out, "| {} |", heads.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(heads.len()));
    for &i in &rows {
        let vals: Vec<String> = t.rows[i]
            .iter()
            .zip(&t.columns)
            // human() has cleaned text already.
            .map(|(v, c)| human(v, c.unit, start_ns).replace('|', "\\|"))
            .collect();
        let _ = writeln!(out, "| {} |", vals.join(" | "));
    }
    if let Some(n) = omitted_note(t, rows.len()) {
        let _ = writeln!(out, "\n_{n}_");
    }
}

pub fn section(out: &mut String, s: &SectionReport, start_ns: i64) {
    let _ = writeln!(out, "## {}\n", s.title);
    if let Some(m) = s.status.message() {
        let what = if matches!(s.status, Status::NotRecorded(_)) {
            "Not recorded"
        } else {
            "No data"
        };
        let _ = writeln!(out, "**{what}:** {}.\n", note(m));
    }
    for n in &s.notes {
        let _ = writeln!(out, "- {}", note(n));
    }
    if !s.notes.is_empty() {
        let _ = writeln!(out);
    }
    if s.status != Status::Ok {
        return;
    }
    for t in &s.tables {
        let _ = writeln!(out, "### {}\n", t.title);
        if t.rows.is_empty() {
            let _ = writeln!(out, "_(none)_\n");
            continue;
        }
        table(out, t, start_ns);
        let _ = writeln!(out);
    }
}

pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# memana report: `{}`\n\nHost `{}`, kernel `{}`, {:.3} s recorded.\n",
        cell(&r.file),
        cell(&r.host),
        cell(&r.kernel),
        (r.end_ns - r.start_ns) as f64 / 1e9
    );
    for w in &r.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", note(w));
    }
    if r.lossy() {
        let _ = writeln!(
            out,
            "> **Warning:** some figures rest on data with losses; see the sections' notes.\n"
        );
    }
    for s in &r.sections {
        section(&mut out, s, r.start_ns);
    }
    out
}
