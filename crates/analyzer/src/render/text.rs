//! Tables for a terminal: the findings first, then the key tables (brief)
//! or every table (full), each fitted to the terminal's width.

use super::{
    clean, clean_to, header, human_at, is_numeric, key_view, omitted_note, shown_rows, width,
    Clock, Detail, KEY_TABLES, NOTE_CAP,
};
use crate::model::{Finding, FindingKind, SectionReport, Status, Table, Unit, Value};
use crate::report::Report;
use comfy_table::{CellAlignment, ContentArrangement};
use std::fmt::Write;

/// Findings the brief report lists before it says how many more there are.
const BRIEF_FINDINGS: usize = 8;

/// Column gaps and a dashed rule under the header, no borders: what `ps`,
/// `free` and bcc's tools print, so it greps and pastes well.
pub(crate) const STYLE: &str = "     -             ";

/// A comfy table of `heads` and `cells`, fitted to `width` columns less the
/// indent; numeric columns right-aligned.
fn grid(heads: Vec<String>, cells: Vec<Vec<String>>, right: &[bool], width: u16) -> String {
    let w = usize::from(width);
    // Natural width of each column: its widest cell and comfy-table's
    // padding of one space each side. Text past WRAP_TEXT columns (a gfp
    // mask, a path) may wrap within its cell; numbers never do.
    const WRAP_TEXT: usize = 40;
    let natural: Vec<usize> = (0..heads.len())
        .map(|j| {
            let widest = cells
                .iter()
                .map(|r| r.get(j).map_or(0, |c| c.chars().count()))
                .chain([heads[j].chars().count()])
                .max()
                .unwrap_or(0);
            let text = right.get(j) != Some(&true);
            (if text { widest.min(WRAP_TEXT) } else { widest }) + 2
        })
        .collect();
    if natural.iter().sum::<usize>() <= w || heads.len() < 3 {
        return one_grid(
            &heads,
            &cells,
            right,
            width,
            &(0..heads.len()).collect::<Vec<_>>(),
        );
    }
    // Too wide: print the columns in parts that fit, each part led by the
    // row's identity (the first column, and the second when it is text, such
    // as tgid and comm), rather than squeezing every cell into a tall wrap.
    let keys = if right.get(1) == Some(&false) { 2 } else { 1 };
    let key_w: usize = natural[..keys].iter().sum();
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut part: Vec<usize> = Vec::new();
    let mut used = key_w;
    for (j, &nw) in natural.iter().enumerate().skip(keys) {
        if !part.is_empty() && used + nw > w {
            parts.push(std::mem::take(&mut part));
            used = key_w;
        }
        part.push(j);
        used += nw;
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
        .into_iter()
        .map(|p| {
            let cols: Vec<usize> = (0..keys).chain(p).collect();
            one_grid(&heads, &cells, right, width, &cols)
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// One comfy table of the columns `cols`.
fn one_grid(
    heads: &[String],
    cells: &[Vec<String>],
    right: &[bool],
    width: u16,
    cols: &[usize],
) -> String {
    let pick = |r: &[String]| -> Vec<String> {
        cols.iter()
            .map(|&j| r.get(j).cloned().unwrap_or_default())
            .collect()
    };
    let mut g = comfy_table::Table::new();
    g.load_preset(STYLE)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(pick(heads));
    for r in cells {
        g.add_row(pick(r));
    }
    for (k, &j) in cols.iter().enumerate() {
        if let Some(c) = g.column_mut(k) {
            if right.get(j) == Some(&true) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    g.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` as lines of at most `width` columns, broken at spaces (a word
/// longer than a line stays whole), the lines after the first indented by
/// `hang` spaces.
pub fn wrap(text: &str, width: u16, hang: usize) -> String {
    // The text's own indent leads its first line and adds to the hang.
    let body = text.trim_start_matches(' ');
    let lead = text.len() - body.len();
    let width = usize::from(width).max(lead + hang + 20);
    let mut out = String::new();
    let mut line = " ".repeat(lead);
    let mut empty = true;
    for word in body.split(' ').filter(|w| !w.is_empty()) {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(lead + hang);
        } else if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out
}

/// Writes a sentence wrapped to the width, continuation lines indented.
fn say(out: &mut String, text: &str, width: u16, hang: usize) {
    let _ = writeln!(out, "{}", wrap(text, width, hang));
}

/// Renders one table (two-column key/value tables as a list), indented.
pub fn table(out: &mut String, t: &Table, start_ns: i64, indent: &str) {
    table_at(out, t, &Clock::offsets(start_ns), indent, width());
}

/// As [`table`], with wall-clock times and a width.
pub fn table_at(out: &mut String, t: &Table, clock: &Clock, indent: &str, width: u16) {
    let rows = shown_rows(t);
    if t.columns.len() == 2 && t.columns[0].name == "key" {
        let w = t
            .rows
            .iter()
            .map(|r| human_at(&r[0], Unit::None, clock).len())
            .max()
            .unwrap_or(0);
        for &i in &rows {
            let r = &t.rows[i];
            let line = format!(
                "{indent}{:<w$}  {}",
                human_at(&r[0], Unit::None, clock),
                human_at(&r[1], t.columns[1].unit, clock)
            );
            // A long value wraps under itself.
            say(out, &line, width, w + 2);
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
                .map(|(v, c)| human_at(v, c.unit, clock))
                .collect()
        })
        .collect();
    let right: Vec<bool> = (0..t.columns.len())
        .map(|j| {
            let col = || rows.iter().map(|&i| &t.rows[i][j]);
            col().any(is_numeric) && col().all(|v| is_numeric(v) || *v == Value::Null)
        })
        .collect();
    let w = width.saturating_sub(indent.len() as u16).max(20);
    for line in grid(heads, cells, &right, w).lines() {
        if line.is_empty() {
            let _ = writeln!(out);
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
    if let Some(n) = omitted_note(t, rows.len()) {
        let _ = writeln!(out, "{indent}{n}");
    }
}

/// One section, whole.
pub fn section(out: &mut String, s: &SectionReport, clock: &Clock, width: u16) {
    let _ = writeln!(out, "== {} ==", s.title);
    if let Some(m) = s.status.message() {
        let what = if matches!(s.status, Status::NotRecorded(_)) {
            "Not recorded"
        } else {
            "No data"
        };
        say(
            out,
            &format!("  {what}: {}.", clean_to(m, NOTE_CAP)),
            width,
            4,
        );
    }
    for n in &s.notes {
        say(out, &format!("  * {}", clean_to(n, NOTE_CAP)), width, 4);
    }
    if s.status != Status::Ok {
        let _ = writeln!(out);
        return;
    }
    for t in &s.tables {
        let _ = writeln!(out);
        say(out, &format!("  {}", t.title), width, 4);
        if t.rows.is_empty() {
            let _ = writeln!(out, "    (none)");
            continue;
        }
        table_at(out, t, clock, "    ", width);
    }
    let _ = writeln!(out);
}

/// The first `n` names, then how many more.
fn name_some(names: &[String], n: usize) -> String {
    let mut s = names.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > n {
        s.push_str(&format!(" and {} more", names.len() - n));
    }
    s
}

/// The opening lines: file, host, kernel, span in wall-clock time, window,
/// filter, warnings.
fn heading(out: &mut String, r: &Report, clock: &Clock, width: u16) {
    let hosts = match &r.fleet {
        Some(f) => format!(
            "{} recordings on {} {} ({})",
            f.recordings,
            f.hosts.len(),
            if f.hosts.len() == 1 { "host" } else { "hosts" },
            clean(&name_some(&f.hosts, 5))
        ),
        None => format!("host {}", clean(&r.host)),
    };
    let line = format!(
        "{}: {}, kernel {}, {:.3} s recorded, {} to {}",
        clean(&r.file),
        hosts,
        clean(&r.kernel),
        (r.end_ns - r.start_ns) as f64 / 1e9,
        clock.date_time(r.start_ns),
        clock.wall(r.end_ns).map_or_else(
            || clock.offset(r.end_ns),
            |w| w.format("%H:%M:%S%.3f").to_string()
        ),
    );
    say(out, &line, width, 2);
    if r.window != (r.start_ns, r.end_ns) {
        let _ = writeln!(
            out,
            "window: {} to {}",
            clock.stamp(r.window.0),
            clock.stamp(r.window.1)
        );
    }
    let f = &r.filter;
    let mut filter = Vec::new();
    if let Some(p) = f.pid {
        filter.push(format!("tgid={p}"));
    }
    if let Some(c) = &f.comm {
        filter.push(format!("comm={}", clean(c)));
    }
    if let Some(c) = &f.cgroup {
        filter.push(format!("cgroup={}", clean(c)));
    }
    if !filter.is_empty() {
        let _ = writeln!(
            out,
            "filter: {} (node-wide tables are not filtered)",
            filter.join(" ")
        );
    }
    for w in &r.warnings {
        say(
            out,
            &format!("WARNING: {}", clean_to(w, NOTE_CAP)),
            width,
            2,
        );
    }
    // Losses qualify every figure below them: each one is said here, first.
    let losses: Vec<Finding> = r
        .findings()
        .into_iter()
        .filter(|f| f.kind == FindingKind::LostEvents)
        .collect();
    for f in &losses {
        say(
            out,
            &format!("WARNING: {}", clean_to(&f.summary, NOTE_CAP)),
            width,
            2,
        );
    }
    if r.lossy() && losses.is_empty() {
        let _ = writeln!(
            out,
            "WARNING: some figures rest on data with losses; see the sections' notes."
        );
    }
}

/// The ranked findings as a table: rank, severity, when, the section with
/// the details, and what happened.
pub fn findings(out: &mut String, list: &[Finding], clock: &Clock, width: u16, limit: usize) {
    if list.is_empty() {
        let _ = writeln!(
            out,
            "Findings: none (no OOM kill, allocation failure, leak suspect, stall or loss)."
        );
        return;
    }
    let _ = writeln!(out, "Findings, most severe first");
    let shown = list.len().min(limit.max(1));
    let cells: Vec<Vec<String>> = list[..shown]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut what = clean_to(&f.summary, NOTE_CAP);
            for d in &f.details {
                what.push('\n');
                what.push_str(&clean_to(d, NOTE_CAP));
            }
            vec![
                format!("{}", i + 1),
                f.severity.name().to_uppercase(),
                f.ts_ns.map_or_else(|| "-".into(), |t| clock.stamp(t)),
                f.section.to_string(),
                what,
            ]
        })
        .collect();
    // The finding last, so that it wraps as a paragraph.
    let heads = ["#", "severity", "when", "section", "finding"]
        .map(String::from)
        .to_vec();
    let w = width.saturating_sub(2).max(40);
    // One table, the finding wrapping as a paragraph (never split in parts).
    let right = [true, false, false, false, false];
    for line in one_grid(&heads, &cells, &right, w, &[0, 1, 2, 3, 4]).lines() {
        let _ = writeln!(out, "  {line}");
    }
    if shown < list.len() {
        let _ = writeln!(
            out,
            "  ({} more findings: --verbose lists them all, --format json has each)",
            list.len() - shown
        );
    }
}

/// The brief report: heading, findings, key tables, and one line naming
/// what was left out and how to see it.
fn brief(out: &mut String, r: &Report, clock: &Clock, width: u16) {
    let _ = writeln!(out);
    // Losses are in the heading already.
    let list: Vec<Finding> = r
        .findings()
        .into_iter()
        .filter(|f| f.kind != FindingKind::LostEvents)
        .collect();
    findings(out, &list, clock, width, BRIEF_FINDINGS);
    for s in &r.sections {
        if s.status != Status::Ok {
            continue;
        }
        for k in KEY_TABLES.iter().filter(|k| k.section == s.id) {
            let Some(t) = s.tables.iter().find(|t| t.id == k.table) else {
                continue;
            };
            if t.rows.is_empty() {
                continue;
            }
            let v = key_view(t, k);
            let _ = writeln!(out);
            say(out, &format!("{} [{}]", t.title, s.id), width, 2);
            let w = width.saturating_sub(2).max(40);
            let cells: Vec<Vec<String>> = v
                .rows
                .iter()
                .map(|row| {
                    row.iter()
                        .zip(&v.columns)
                        .map(|(x, c)| human_at(x, c.unit, clock))
                        .collect()
                })
                .collect();
            let right: Vec<bool> = (0..v.columns.len())
                .map(|j| {
                    v.rows.iter().any(|r| is_numeric(&r[j]))
                        && v.rows
                            .iter()
                            .all(|r| is_numeric(&r[j]) || r[j] == Value::Null)
                })
                .collect();
            let heads = v.columns.iter().map(|c| header(&c.name, c.unit)).collect();
            for line in grid(heads, cells, &right, w).lines() {
                if line.is_empty() {
                    let _ = writeln!(out);
                } else {
                    let _ = writeln!(out, "  {line}");
                }
            }
            let total = t.total_rows.max(t.rows.len());
            if total > v.rows.len() {
                let _ = writeln!(
                    out,
                    "  ({} of {total} rows; --section {} for all)",
                    v.rows.len(),
                    s.id
                );
            }
        }
    }
    let _ = writeln!(out);
    let missing: Vec<&str> = r
        .sections
        .iter()
        .filter(|s| matches!(s.status, Status::NotRecorded(_)))
        .map(|s| s.id)
        .collect();
    let empty: Vec<&str> = r
        .sections
        .iter()
        .filter(|s| matches!(s.status, Status::NoData(_)))
        .map(|s| s.id)
        .collect();
    if !missing.is_empty() {
        say(
            out,
            &format!(
                "Not recorded: {} (memrec record --probes +GROUP; memrec probes lists them).",
                missing.join(", ")
            ),
            width,
            2,
        );
    }
    if !empty.is_empty() {
        say(
            out,
            &format!("Nothing in the window: {}.", empty.join(", ")),
            width,
            2,
        );
    }
    say(
        out,
        "More: -v prints every table and the settings, --section ID one section whole, --format json everything.",
        width,
        2,
    );
}

/// The text report.
pub fn report(r: &Report, detail: Detail) -> String {
    let mut out = String::new();
    let clock = r.clock();
    let width = width();
    heading(&mut out, r, &clock, width);
    match detail {
        Detail::Brief => brief(&mut out, r, &clock, width),
        Detail::Full => {
            let _ = writeln!(out);
            findings(&mut out, &r.findings(), &clock, width, usize::MAX);
            let _ = writeln!(out);
            for s in &r.sections {
                section(&mut out, s, &clock, width);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces() {
        let w = wrap("aaa bbb ccc ddd eee fff ggg hhh iii jjj kkk", 20, 2);
        assert!(w.lines().all(|l| l.chars().count() <= 22), "{w}");
        assert_eq!(w.split_whitespace().count(), 11);
        assert!(w.lines().skip(1).all(|l| l.starts_with("  ")));
        assert_eq!(wrap("short", 80, 2), "short");
        // A leading indent stays, and continuation lines hang below it.
        let w = wrap("  * aaa bbb ccc ddd eee fff ggg hhh iii jjj", 24, 2);
        assert!(w.starts_with("  * aaa"), "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("    ")), "{w}");
    }
}
