//! One self-contained HTML page: the findings, charts drawn by a vendored
//! chart library, then the tables.
//!
//! Everything is inline: the chart data as JSON in a
//! `<script type="application/json">`, uPlot (MIT, `assets/uplot/`) and the
//! page's own script and style, so the page opens offline and makes no
//! network request. Every text from the recording is HTML-escaped.

pub mod charts;

use super::{header, human_at, is_numeric, omitted_note, shown_rows, Clock, NOTE_CAP};
use crate::filter::Filter;
use crate::fleet::Fleet;
use crate::model::{SectionReport, Status, Table, Value};
use crate::report::Report;
use crate::sections::SectionError;
use std::fmt::Write;

const UPLOT_JS: &str = include_str!("../../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/uplot/uPlot.min.css");
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");
/// Runs first: records errors into the page, where a test (or a reader)
/// finds them.
const ERRORS_JS: &str = include_str!("errors.js");

/// The report page, with charts drawn from the recordings' rows;
/// `filters` holds each recording's filter, in fleet order.
pub fn page(report: &Report, fleet: &Fleet, filters: &[Filter]) -> Result<String, SectionError> {
    let charts = charts::build(report, fleet, filters)?;
    Ok(document(report, Some(&charts)))
}

/// A page of the report's findings and tables, without charts (for
/// `info`, `check` and the like).
pub fn tables_page(report: &Report) -> String {
    document(report, None)
}

/// Text safe inside HTML elements and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Recording text (names, notes) as the text report cleans it (control
/// characters escaped, capped), then HTML-escaped.
fn text(s: &str) -> String {
    esc(&super::clean_to(s, NOTE_CAP))
}

/// JSON safe inside a `<script>` element: no `<` (so no `</script>` or
/// `<!--`), and no line separators some parsers treat as line ends.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn document(r: &Report, charts: Option<&[charts::Chart]>) -> String {
    let clock = r.clock();
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("memana report: {}", r.file);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"memana {}\">\n<title>{}</title>\n\
         <script>{ERRORS_JS}</script>\n<style>{UPLOT_CSS}</style>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        text(&title)
    );
    out.push_str("<div id=\"page-errors\" class=\"errors\" hidden></div>\n");
    heading(&mut out, r, &clock);
    nav(&mut out, r, charts);
    out.push_str("<main>\n");
    findings(&mut out, r, &clock);
    if let Some(charts) = charts {
        chart_blocks(&mut out, charts);
    }
    out.push_str("<section id=\"tables\">\n<h2>Tables</h2>\n");
    for s in &r.sections {
        section(&mut out, s, &clock);
    }
    out.push_str("</section>\n</main>\n");
    let _ = writeln!(
        out,
        "<footer>Made by memana {} from {}. This page is self-contained: it loads nothing \
         from the network. Charts: uPlot (MIT licence).</footer>",
        env!("CARGO_PKG_VERSION"),
        text(&r.file)
    );
    if let Some(charts) = charts {
        let data = serde_json::Value::Array(charts.iter().map(charts::Chart::to_json).collect());
        let _ = writeln!(
            out,
            "<script type=\"application/json\" id=\"chart-data\">{}</script>",
            script_json(&data)
        );
        let _ = writeln!(out, "<script>{UPLOT_JS}</script>");
        let _ = writeln!(out, "<script>{PAGE_JS}</script>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn heading(out: &mut String, r: &Report, clock: &Clock) {
    let _ = writeln!(
        out,
        "<header>\n<h1>memana report <span class=\"file\">{}</span></h1>",
        text(&r.file)
    );
    let mut facts: Vec<(&str, String)> = vec![
        ("host", text(&r.host)),
        ("kernel", text(&r.kernel)),
        (
            "recorded",
            format!(
                "{:.3} s, {} to {}",
                (r.end_ns - r.start_ns) as f64 / 1e9,
                esc(&clock.date_time(r.start_ns)),
                esc(&clock.wall(r.end_ns).map_or_else(
                    || clock.offset(r.end_ns),
                    |w| w.format("%H:%M:%S%.3f").to_string()
                ))
            ),
        ),
    ];
    if r.window != (r.start_ns, r.end_ns) {
        facts.push((
            "window",
            format!(
                "{} to {}",
                esc(&clock.stamp(r.window.0)),
                esc(&clock.stamp(r.window.1))
            ),
        ));
    }
    let f = &r.filter;
    let mut filter = Vec::new();
    if let Some(p) = f.pid {
        filter.push(format!("tgid={p}"));
    }
    if let Some(c) = &f.comm {
        filter.push(format!("comm={}", text(c)));
    }
    if let Some(c) = &f.cgroup {
        filter.push(format!("cgroup={}", text(c)));
    }
    if !filter.is_empty() {
        facts.push((
            "filter",
            format!("{} (node-wide tables are not filtered)", filter.join(" ")),
        ));
    }
    out.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    out.push_str("</dl>\n");
    for w in &r.warnings {
        let _ = writeln!(
            out,
            "<p class=\"warning\"><strong>Warning:</strong> {}</p>",
            text(w)
        );
    }
    if r.lossy() {
        out.push_str(
            "<p class=\"warning\"><strong>Warning:</strong> some figures rest on data with \
             losses; see the sections' notes.</p>\n",
        );
    }
    out.push_str("</header>\n");
}

fn nav(out: &mut String, r: &Report, charts: Option<&[charts::Chart]>) {
    out.push_str("<nav><a href=\"#findings\">Findings</a>");
    if charts.is_some_and(|c| !c.is_empty()) {
        out.push_str(" <a href=\"#charts\">Charts</a>");
    }
    for s in &r.sections {
        let class = if s.status == Status::Ok {
            ""
        } else {
            " class=\"off\""
        };
        let _ = write!(
            out,
            " <a href=\"#s-{}\"{class}>{}</a>",
            esc(s.id),
            esc(s.id)
        );
    }
    out.push_str("</nav>\n");
}

fn findings(out: &mut String, r: &Report, clock: &Clock) {
    let list = r.findings();
    out.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    if list.is_empty() {
        out.push_str(
            "<p class=\"none\">None: no OOM kill, allocation failure, leak suspect, stall or loss.</p>\n</section>\n",
        );
        return;
    }
    let hosts = list.iter().any(|f| f.host.is_some());
    out.push_str("<table class=\"findings\">\n<thead><tr><th>#</th><th>severity</th><th>when</th>");
    if hosts {
        out.push_str("<th>host</th>");
    }
    out.push_str("<th>finding</th><th>details in</th></tr></thead>\n<tbody>\n");
    for (i, f) in list.iter().enumerate() {
        let sev = f.severity.name();
        let _ = write!(
            out,
            "<tr class=\"{sev}\"><td class=\"num\">{}</td><td><span class=\"sev {sev}\">{sev}</span></td><td class=\"when\">{}</td>",
            i + 1,
            esc(&f.ts_ns.map_or_else(|| "-".into(), |t| clock.stamp(t)))
        );
        if hosts {
            let _ = write!(out, "<td>{}</td>", text(f.host.as_deref().unwrap_or("-")));
        }
        let _ = write!(out, "<td><div class=\"summary\">{}</div>", text(&f.summary));
        if !f.details.is_empty() {
            out.push_str("<ul class=\"details\">");
            for d in &f.details {
                let _ = write!(out, "<li>{}</li>", text(d));
            }
            out.push_str("</ul>");
        }
        let _ = writeln!(
            out,
            "</td><td><a href=\"#s-{0}\">{0}</a></td></tr>",
            esc(f.section)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn chart_blocks(out: &mut String, charts: &[charts::Chart]) {
    if charts.is_empty() {
        return;
    }
    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n<div class=\"charts\">\n");
    for c in charts {
        let _ = writeln!(
            out,
            "<figure class=\"chart\" id=\"chart-{0}\" data-chart=\"{0}\" data-points=\"{1}\" data-drawn=\"0\">\
             <figcaption><h3>{2}</h3><p class=\"note\">{3}</p></figcaption><div class=\"plot\"></div></figure>",
            esc(&c.id),
            c.points(),
            text(&c.title),
            text(&c.note)
        );
    }
    out.push_str("</div>\n</section>\n");
}

fn section(out: &mut String, s: &SectionReport, clock: &Clock) {
    let class = if s.status == Status::Ok { "" } else { " off" };
    let _ = writeln!(
        out,
        "<section class=\"report-section{class}\" id=\"s-{}\">\n<h2>{}</h2>",
        esc(s.id),
        text(s.title)
    );
    if let Some(m) = s.status.message() {
        let what = if matches!(s.status, Status::NotRecorded(_)) {
            "Not recorded"
        } else {
            "No data"
        };
        let _ = writeln!(
            out,
            "<p class=\"status\"><strong>{what}:</strong> {}.</p>",
            text(m)
        );
    }
    if !s.notes.is_empty() {
        out.push_str("<ul class=\"notes\">");
        for n in &s.notes {
            let _ = write!(out, "<li>{}</li>", text(n));
        }
        out.push_str("</ul>\n");
    }
    if s.status == Status::Ok {
        for t in &s.tables {
            let _ = writeln!(
                out,
                "<h3 id=\"t-{}-{}\">{}</h3>",
                esc(s.id),
                esc(&t.id),
                text(&t.title)
            );
            if t.rows.is_empty() {
                out.push_str("<p class=\"none\">(none)</p>\n");
                continue;
            }
            table(out, t, clock);
        }
    }
    out.push_str("</section>\n");
}

/// One table: the rows the text formats show, cells as they read there.
pub fn table(out: &mut String, t: &Table, clock: &Clock) {
    let rows = shown_rows(t);
    let right: Vec<bool> = (0..t.columns.len())
        .map(|j| {
            let col = || rows.iter().map(|&i| &t.rows[i][j]);
            col().any(is_numeric) && col().all(|v| is_numeric(v) || *v == Value::Null)
        })
        .collect();
    out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for (c, &r) in t.columns.iter().zip(&right) {
        let class = if r { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(&header(&c.name, c.unit)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for &i in &rows {
        out.push_str("<tr>");
        for ((v, c), &r) in t.rows[i].iter().zip(&t.columns).zip(&right) {
            let class = if r { " class=\"num\"" } else { "" };
            // human_at() has cleaned text already.
            let _ = write!(out, "<td{class}>{}</td>", esc(&human_at(v, c.unit, clock)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
    if let Some(n) = omitted_note(t, rows.len()) {
        let _ = writeln!(out, "<p class=\"omitted\">{}</p>", esc(&n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        let j = serde_json::json!({"a": "</script><!-- \u{2028}"});
        let s = script_json(&j);
        assert!(!s.contains('<'), "{s}");
        let back: serde_json::Value =
            serde_json::from_str(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(back, j);
    }
}
