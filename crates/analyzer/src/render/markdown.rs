//! Markdown: headings and pipe tables, values formatted as in the text output.

use super::{
    clean, clean_to, header, human_at, key_view, omitted_note, shown_rows, Clock, Detail,
    KEY_TABLES, NOTE_CAP,
};
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
    table_at(out, t, &Clock::offsets(start_ns));
}

/// As [`table`], times with wall-clock time.
pub fn table_at(out: &mut String, t: &Table, clock: &Clock) {
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
            .map(|(v, c)| human_at(v, c.unit, clock).replace('|', "\\|"))
            .collect();
        let _ = writeln!(out, "| {} |", vals.join(" | "));
    }
    if let Some(n) = omitted_note(t, rows.len()) {
        let _ = writeln!(out, "\n_{n}_");
    }
}

pub fn section(out: &mut String, s: &SectionReport, clock: &Clock) {
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
        table_at(out, t, clock);
        let _ = writeln!(out);
    }
}

pub fn report(r: &Report, detail: Detail) -> String {
    let clock = r.clock();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# memana report: `{}`\n\n{}, kernel `{}`, {:.3} s recorded from {} (+0.000s).\n",
        cell(&r.file),
        match &r.fleet {
            Some(f) => format!("{} recordings on hosts `{}`", f.recordings, cell(&r.host)),
            None => format!("Host `{}`", cell(&r.host)),
        },
        cell(&r.kernel),
        (r.end_ns - r.start_ns) as f64 / 1e9,
        clock.date_time(r.start_ns),
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
    let findings = r.findings();
    let _ = writeln!(out, "## Findings\n");
    if findings.is_empty() {
        let _ = writeln!(
            out,
            "None: no OOM kill, allocation failure, leak suspect, stall or loss.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "| # | severity | when | finding | details in |\n|---|---|---|---|---|"
        );
        for (i, f) in findings.iter().enumerate() {
            let mut what = note(&f.summary);
            for d in &f.details {
                what.push_str("<br>");
                what.push_str(&note(d));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                i + 1,
                f.severity.name(),
                f.ts_ns.map_or_else(|| "-".into(), |t| clock.stamp(t)),
                what,
                f.section
            );
        }
        let _ = writeln!(out);
    }
    match detail {
        Detail::Full => {
            for s in &r.sections {
                section(&mut out, s, &clock);
            }
        }
        Detail::Brief => {
            for s in r.sections.iter().filter(|s| s.status == Status::Ok) {
                for k in KEY_TABLES.iter().filter(|k| k.section == s.id) {
                    let Some(t) = s.tables.iter().find(|t| t.id == k.table) else {
                        continue;
                    };
                    if t.rows.is_empty() {
                        continue;
                    }
                    let _ = writeln!(out, "### {} ({})\n", t.title, s.id);
                    let mut v = key_view(t, k);
                    let (shown, total) = (v.rows.len(), v.total_rows);
                    v.total_rows = shown;
                    table_at(&mut out, &v, &clock);
                    if total > shown {
                        let _ = writeln!(
                            out,
                            "\n_{shown} of {total} rows; `--section {}` for all._",
                            s.id
                        );
                    }
                    let _ = writeln!(out);
                }
            }
            let _ = writeln!(out, "_Every table: `memana report -v --format markdown`._");
        }
    }
    out
}
