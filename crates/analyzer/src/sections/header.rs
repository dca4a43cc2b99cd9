//! The recording: host, kernel, time span, probes, events and losses.

use super::{Section, SectionError};
use crate::filter::Filter;
use crate::model::{Finding, FindingKind, Metric, SectionReport, Severity, Table, Unit, Value};
use crate::recording::Recording;
use crate::report_row;
use crate::stats::ratio;
use memtrace_schema::integrity::Verified;

report_row! {
    /// One fact about the recording; the value's type depends on the key.
    struct KeyValueRow {
        key: String => None,
        value: Value => None,
    }
}

report_row! {
    /// One probe group as the recorder left it.
    struct GroupRow {
        group: String => None,
        status: String => None,
        reason: Option<String> => None,
        decoded: u64 => Count,
        malformed: u64 => Count,
        lost: u64 => Count,
    }
}

report_row! {
    /// One probe: how it attached, what it wrote and lost.
    struct ProbeRow {
        group: String => None,
        target: String => None,
        method: String => None,
        state: &'static str => None,
        events: u64 => Count,
        lost: u64 => Count,
        lost_share: Option<f64> => Ratio,
        error: Option<String> => None,
    }
}

report_row! {
    /// One table of the file: its rows and the time they cover.
    struct TableRow {
        table: &'static str => None,
        group: &'static str => None,
        rows: Option<u64> => Count,
        first_ts: Option<i64> => Timestamp,
        last_ts: Option<i64> => Timestamp,
        time_covered: Option<f64> => Ratio,
    }
}

pub static SECTION: Section = Section {
    id: "header",
    title: "Recording",
    required: &[],
    optional: &[],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let m = &rec.meta;
    let mut r = SectionReport::new(SECTION.id, SECTION.title);
    let span = rec.end_ns - rec.start_ns;
    let (lo, hi) = rec.window(f);
    let mut t = Table::of::<KeyValueRow>("recording", "Recording");
    let mut kv = |k: &str, v: Value| {
        t.push_row(KeyValueRow {
            key: k.to_string(),
            value: v,
        })
    };
    kv("file", rec.name.as_str().into());
    kv("host", m.hostname.as_str().into());
    kv("kernel_release", m.kernel_release.as_str().into());
    kv("kernel_version", m.kernel_version.as_str().into());
    kv("machine", m.machine.as_str().into());
    kv("memrec_version", m.memrec_version.as_str().into());
    kv("schema_version", rec.schema_version.into());
    kv("page_size", m.page_size.into());
    kv("nr_cpus", m.nr_cpus.into());
    kv(
        "nodes",
        m.nodes
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
            .into(),
    );
    kv("start_time", m.start_time.as_str().into());
    kv("end_time", m.end_time.as_str().into());
    kv("start_ns", rec.start_ns.into());
    kv("end_ns", rec.end_ns.into());
    kv("duration_s", (span as f64 / 1e9).into());
    kv("end_reason", m.end_reason.as_str().into());
    kv(
        "checksums",
        match rec.verified {
            Verified::Intact { chunks } => format!("verified ({chunks} column chunks)"),
            Verified::Unchecked => "absent".to_string(),
        }
        .into(),
    );
    kv("rows", rec.num_rows.into());
    kv("window_from_ns", lo.into());
    kv("window_to_ns", hi.into());
    kv("window_s", ((hi - lo) as f64 / 1e9).into());
    kv(
        "window_share",
        Value::from(if span > 0 {
            Some((hi - lo) as f64 / span as f64)
        } else {
            None
        }),
    );
    kv("filter_pid", f.pid.into());
    kv("filter_comm", f.comm.clone().into());
    kv("filter_cgroup", f.cgroup.clone().into());
    let rf = &m.filter;
    let mut recf = Vec::new();
    if let Some(p) = rf.pid {
        recf.push(format!("pid={p}"));
    }
    if let Some(c) = &rf.comm {
        recf.push(format!("comm={c}"));
    }
    if let Some(c) = &rf.cgroup {
        recf.push(format!("cgroup={c}"));
    }
    if let Some(c) = &rf.command {
        // `memrec record -- CMD`: what ran, and whether only it was traced.
        recf.push(format!(
            "{}command=`{}` (pid {}{})",
            if c.follow {
                ""
            } else {
                "all processes during "
            },
            c.argv.join(" "),
            c.pid,
            c.exit_status
                .map(|s| format!(", exit status {s}"))
                .unwrap_or_default()
        ));
    }
    kv("recorded_filter", recf.join(" ").into());
    kv("command_line", m.command_line.join(" ").into());
    for (k, v) in &m.settings {
        kv(&format!("setting.{k}"), v.as_str().into());
    }
    r.tables.push(t);

    let mut g = Table::of::<GroupRow>("groups", "Probe groups");
    for x in &m.groups {
        g.push_row(GroupRow {
            group: x.name.clone(),
            status: x.status.clone(),
            reason: x.reason.clone(),
            decoded: x.decoded,
            malformed: x.malformed,
            lost: x.lost,
        });
    }
    r.tables.push(g);

    let mut p = Table::of::<ProbeRow>("probes", "Probes: events written and lost in the kernel");
    for x in &m.probes {
        p.push_row(ProbeRow {
            group: x.group.clone(),
            target: x.target.clone(),
            method: x.method.clone(),
            state: x.state().as_str(),
            events: x.events,
            lost: x.lost,
            lost_share: ratio(x.lost, x.events.saturating_add(x.lost)),
            error: x.error.clone(),
        });
    }
    r.tables.push(p);

    let mut tt =
        Table::of::<TableRow>("tables", "Tables: rows in the file and the time they cover");
    for t in memtrace_schema::tables() {
        let st = rec.tables.as_ref().and_then(|x| x.get(t.name)).cloned();
        let rows = rec.table_rows(t.name);
        let (first, last) = st
            .as_ref()
            .map_or((None, None), |s| (s.first_ts, s.last_ts));
        let covered = match (first, last) {
            (Some(a), Some(b)) if span > 0 => Some((b - a) as f64 / span as f64),
            _ => None,
        };
        tt.push_row(TableRow {
            table: t.name,
            group: t.group,
            rows,
            first_ts: first,
            last_ts: last,
            time_covered: covered,
        });
        if let Some(n) = rows {
            r.metrics
                .push(Metric::new("header.rows", n, Unit::Count).label("table", t.name));
        }
    }
    r.tables.push(tt);

    // Saturating: the counts come from the file.
    let sum = |v: &mut dyn Iterator<Item = u64>| v.fold(0u64, u64::saturating_add);
    let events = sum(&mut m.probes.iter().map(|p| p.events));
    let lost = sum(&mut m.probes.iter().map(|p| p.lost));
    let malformed = sum(&mut m.groups.iter().map(|g| g.malformed));
    if lost > 0 {
        r.lossy = true;
        r.notes.push(format!(
            "INCOMPLETE DATA: {lost} events were lost in the kernel ({:.3}% of {}); sections \
             resting on the affected groups say so",
            ratio(lost, events.saturating_add(lost)).unwrap_or(1.0) * 100.0,
            events.saturating_add(lost)
        ));
    }
    if malformed > 0 {
        r.lossy = true;
        r.notes.push(format!(
            "INCOMPLETE DATA: {malformed} records could not be decoded"
        ));
    }
    // Each group's losses (lost in the kernel, skipped as recursion,
    // undecodable) as a finding: the figures resting on it are lower bounds.
    let groups = memtrace_schema::groups();
    for note in rec.loss_notes(&groups).1 {
        r.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::LostEvents,
            note,
        ));
    }
    if let Some(c) = m.filter.command.as_ref().filter(|c| c.not_followed > 0) {
        r.lossy = true;
        r.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::LostEvents,
            format!(
                "INCOMPLETE DATA: {} processes the command started were not followed (memrec's \
                 table of followed processes was full): their events are missing",
                c.not_followed
            ),
        ));
    }
    if rec.num_rows == 0 {
        r.notes.push("The recording has no rows.".into());
    }
    for w in &rec.warnings {
        r.notes.push(format!("WARNING: {w}"));
    }
    for w in &m.warnings {
        r.notes.push(format!("Recorder warning: {w}"));
    }
    r.metrics.splice(
        0..0,
        [
            Metric::new("header.duration_s", span as f64 / 1e9, Unit::Seconds),
            Metric::new("header.window_s", (hi - lo) as f64 / 1e9, Unit::Seconds),
            Metric::new("header.events", events, Unit::Count),
            Metric::new("header.lost", lost, Unit::Count),
            Metric::new(
                "header.lost_share",
                ratio(lost, events.saturating_add(lost)).unwrap_or(0.0),
                Unit::Ratio,
            ),
            Metric::new("header.malformed", malformed, Unit::Count),
        ],
    );
    for gname in memtrace_schema::groups() {
        let gl = m
            .groups
            .iter()
            .find(|g| g.name == gname)
            .map(|g| g.lost)
            .unwrap_or_else(|| {
                sum(&mut m.probes.iter().filter(|p| p.group == gname).map(|p| p.lost))
            });
        r.metrics
            .push(Metric::new("header.lost", gl, Unit::Count).label("group", gname));
    }
    Ok(r)
}
