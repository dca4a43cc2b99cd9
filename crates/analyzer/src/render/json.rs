//! The JSON report (documented in docs/REPORTS.md).

use crate::model::{Finding, Metric, SectionReport, Table};
use crate::report::Report;
use serde_json::{json, Map, Value as J};

/// Version of the JSON/CSV layout; bumped on incompatible changes.
pub const REPORT_FORMAT_VERSION: u32 = 1;

pub fn table(t: &Table) -> J {
    let columns: Vec<J> = t
        .columns
        .iter()
        .map(|c| json!({"name": c.name, "unit": c.unit.name()}))
        .collect();
    let rows: Vec<J> = t
        .rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            for (c, v) in t.columns.iter().zip(r) {
                m.insert(c.name.clone(), v.to_json());
            }
            J::Object(m)
        })
        .collect();
    json!({
        "title": t.title,
        "columns": columns,
        "total_rows": t.total_rows,
        "rows": rows,
    })
}

pub fn metric(section: &str, m: &Metric) -> J {
    let labels: Map<String, J> = m
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), J::String(v.clone())))
        .collect();
    json!({
        "key": m.key(),
        "name": m.name,
        "labels": labels,
        "value": m.value.to_json(),
        "unit": m.unit.name(),
        "section": section,
    })
}

pub fn section(s: &SectionReport) -> J {
    let mut tables = Map::new();
    for t in &s.tables {
        tables.insert(t.id.clone(), table(t));
    }
    json!({
        "title": s.title,
        "status": s.status.id(),
        "message": s.status.message(),
        "lossy": s.lossy,
        "notes": s.notes,
        "tables": tables,
    })
}

/// One finding; `rank` counts from 1.
pub fn finding(rank: usize, f: &Finding, r: &Report) -> J {
    let clock = r.clock();
    json!({
        "rank": rank,
        "severity": f.severity,
        "kind": f.kind,
        "summary": f.summary,
        "details": f.details,
        "ts_ns": f.ts_ns,
        "offset_s": f.ts_ns.map(|t| (t - r.start_ns) as f64 / 1e9),
        "time": f.ts_ns.and_then(|t| clock.wall(t)).map(|w| w.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        "pid": f.pid,
        "comm": f.comm,
        "cgroup": f.cgroup,
        "host": f.host,
        "recording": f.recording,
        "score": f.score,
        "section": f.section,
    })
}

pub fn report(r: &Report) -> J {
    let mut sections = Map::new();
    for s in &r.sections {
        sections.insert(s.id.to_string(), section(s));
    }
    let metrics: Vec<J> = r.metrics().into_iter().map(|(s, m)| metric(s, m)).collect();
    let f = &r.filter;
    let clock = r.clock();
    let rfc = |t: i64| {
        clock
            .wall(t)
            .map(|w| w.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    };
    let findings: Vec<J> = r
        .findings()
        .iter()
        .enumerate()
        .map(|(i, x)| finding(i + 1, x, r))
        .collect();
    json!({
        "format_version": REPORT_FORMAT_VERSION,
        "file": r.file,
        "findings": findings,
        // Several recordings: their times are Unix-epoch ns, each table
        // leads with host and recording, each metric has a host label.
        "fleet": r.fleet.as_ref().map(|f| json!({"recordings": f.recordings, "hosts": f.hosts})),
        "recording": {
            "host": r.host,
            "kernel_release": r.kernel,
            "schema_version": r.schema_version,
            "start_ns": r.start_ns,
            "end_ns": r.end_ns,
            "duration_s": (r.end_ns - r.start_ns) as f64 / 1e9,
            "start_time": rfc(r.start_ns),
            "end_time": rfc(r.end_ns),
        },
        "window": {
            "from_ns": r.window.0,
            "to_ns": r.window.1,
            "from_time": rfc(r.window.0),
            "to_time": rfc(r.window.1),
        },
        "filter": {
            "from_ns": f.from_ns,
            "to_ns": f.to_ns,
            "pid": f.pid,
            "comm": f.comm,
            "cgroup": f.cgroup,
            "top": f.top,
            "window_ns": f.window_ns,
            "oom_window_ns": f.oom_window_ns,
            "leak_min_samples": f.leak.min_samples,
            "leak_min_span_ns": f.leak.min_span_ns,
            "leak_min_r2": f.leak.min_r2,
            "leak_min_growth": f.leak.min_growth,
            "leak_max_given_back": f.leak.max_given_back,
            "stall_ns": f.stall_ns,
        },
        "lossy": r.lossy(),
        "integrity": r.integrity_json(),
        "warnings": r.warnings,
        "sections": sections,
        "metrics": metrics,
    })
}

/// Pretty-printed, newline-terminated.
pub fn to_string(v: &J) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}
