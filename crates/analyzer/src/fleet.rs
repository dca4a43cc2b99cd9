//! Many recordings read together: the files the arguments name, grouped into
//! recordings (segments of one recording stay one), each opened and checked
//! on its own. Host and recording are the fleet's dimensions.

use crate::inputs::Inputs;
use crate::model::{Column, SectionReport, Severity, Status, Table, Unit, Value};
use crate::recording::{segment_of, OpenError, Recording};
use crate::report::{FleetInfo, Report};
use memtrace_schema::integrity::Verified;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The recordings the arguments name, ordered by host, then start time.
#[derive(Debug)]
pub struct Fleet {
    pub recordings: Vec<Recording>,
    /// The arguments as given, for messages.
    pub name: String,
}

impl Fleet {
    /// Groups the files into recordings and opens each. Files of one
    /// recording (its segments and merged files) are one group, as
    /// [`Recording::open_files`] reads them; a file without segment
    /// information, or one the flight recorder wrote around a trigger, is
    /// a recording of its own. The resolver's notes go to every recording.
    pub fn open(inputs: &Inputs) -> Result<Fleet, OpenError> {
        let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for path in &inputs.files {
            let key = match segment_of(path) {
                Some(p) => match (&p.trigger, &p.segment) {
                    (None, Some(s)) => format!("id:{}", s.recording_id),
                    _ => format!("file:{}", path.display()),
                },
                // The full checks name what is wrong with it.
                None => format!("file:{}", path.display()),
            };
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(path.clone());
        }
        let single = order.len() == 1;
        let mut recordings = Vec::with_capacity(order.len());
        for key in &order {
            let paths = groups.remove(key).unwrap_or_default();
            let name = if single {
                inputs.name.clone()
            } else {
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut rec = Recording::open_files(&name, &paths)?;
            rec.warnings.splice(0..0, inputs.notes.iter().cloned());
            rec.notes.splice(0..0, inputs.notes.iter().cloned());
            recordings.push(rec);
        }
        recordings.sort_by(|a, b| {
            a.host()
                .cmp(b.host())
                .then(a.wall_start_ns().cmp(&b.wall_start_ns()))
                .then(a.id().cmp(&b.id()))
        });
        Ok(Fleet {
            recordings,
            name: inputs.name.clone(),
        })
    }

    /// One recording, read as before fleets.
    pub fn is_single(&self) -> bool {
        self.recordings.len() == 1
    }

    /// The distinct hosts, sorted.
    pub fn hosts(&self) -> Vec<&str> {
        let mut h: Vec<&str> = self.recordings.iter().map(|r| r.host()).collect();
        h.dedup();
        h
    }
}

impl Recording {
    /// The host that recorded it (`hostname` in the metadata).
    pub fn host(&self) -> &str {
        &self.meta.hostname
    }

    /// The recording's id: the one memrec gave its segments, else the
    /// name of its (one) file without `.parquet`.
    pub fn id(&self) -> String {
        if let Some(s) = &self.meta.segment {
            return s.recording_id.clone();
        }
        self.files
            .first()
            .and_then(|f| f.path.file_stem())
            .map_or_else(|| self.name.clone(), |s| s.to_string_lossy().into_owned())
    }

    /// Unix-epoch ns minus `ts_ns`, from the start anchor; None for a file
    /// without one.
    pub fn wall_offset_ns(&self) -> Option<i64> {
        self.meta
            .to_realtime_ns(self.start_ns)
            .and_then(|w| w.checked_sub(self.start_ns))
    }

    /// The recording's start as Unix-epoch ns, or its `ts_ns` without an
    /// anchor (sorts such files by boot time).
    pub fn wall_start_ns(&self) -> i64 {
        self.start_ns
            .saturating_add(self.wall_offset_ns().unwrap_or_default())
    }
}

/// One recording's place in a fleet: its host, id, and what shifts its
/// `ts_ns` to Unix-epoch ns.
#[derive(Debug, Clone)]
struct Member {
    host: String,
    id: String,
    offset_ns: i64,
}

impl Member {
    fn of(rec: &Recording) -> Member {
        Member {
            host: rec.host().to_string(),
            id: rec.id(),
            offset_ns: rec.wall_offset_ns().unwrap_or_default(),
        }
    }

    fn name(&self) -> String {
        format!("{} {}", self.host, self.id)
    }
}

/// Most recordings a note names before "and N more".
const NAMED: usize = 3;

/// One report over a fleet's recordings, each report computed on its own
/// recording with the same sections, in the same order:
/// - every table gains `host` and `recording` as its first columns, its
///   rows taken in turn from each recording (each one's first row, then
///   each one's second...), so a table cut to its first rows shows every
///   recording's top rows;
/// - every metric gains a `host` label, and a `recording` label when a
///   host has several recordings;
/// - findings name their host and recording;
/// - times are Unix-epoch ns (each recording's `ts_ns` plus its clock
///   anchor's offset), so recordings of different machines share one
///   time axis; the report's `wall_offset_ns` is 0.
///
/// `name` names the fleet (the arguments). A header table `recordings`
/// lists each one: host, id, kernel, start,
/// length, events, findings.
pub fn merge(name: &str, recs: &[&Recording], reports: Vec<Report>) -> Report {
    let members: Vec<Member> = recs.iter().map(|r| Member::of(r)).collect();
    let unique_hosts = repeated_host(recs).is_none();
    let mut hosts: Vec<String> = members.iter().map(|m| m.host.clone()).collect();
    hosts.sort();
    hosts.dedup();
    let shift = |i: usize, ts: i64| ts.saturating_add(members[i].offset_ns);
    let start_ns = (0..reports.len())
        .map(|i| shift(i, reports[i].start_ns))
        .min()
        .unwrap_or_default();
    let end_ns = (0..reports.len())
        .map(|i| shift(i, reports[i].end_ns))
        .max()
        .unwrap_or_default();
    let window = (
        (0..reports.len())
            .map(|i| shift(i, reports[i].window.0))
            .min()
            .unwrap_or_default(),
        (0..reports.len())
            .map(|i| shift(i, reports[i].window.1))
            .max()
            .unwrap_or_default(),
    );
    let mut warnings = Vec::new();
    for (i, rec) in recs.iter().enumerate() {
        if rec.wall_offset_ns().is_none() {
            warnings.push(format!(
                "{}: no clock anchor, so its times are boot times, not wall-clock times, \
                 and do not line up with the other recordings'",
                members[i].name()
            ));
        }
    }
    warnings.extend(notes_of(
        &members,
        reports.iter().map(|r| r.warnings.as_slice()).collect(),
    ));
    let mut chunks = Some(0usize);
    for r in &reports {
        chunks = match (chunks, r.verified) {
            (Some(c), Verified::Intact { chunks: n }) => Some(c + n),
            _ => None,
        };
    }
    let mut kernels: Vec<String> = reports.iter().map(|r| r.kernel.clone()).collect();
    kernels.sort();
    kernels.dedup();
    let mut sections = Vec::new();
    if let Some(first) = reports.first() {
        for (k, s0) in first.sections.iter().enumerate() {
            let parts: Vec<&SectionReport> =
                reports.iter().filter_map(|r| r.sections.get(k)).collect();
            sections.push(merge_section(s0, &parts, &members, unique_hosts));
        }
    }
    let mut report = Report {
        file: name.to_string(),
        host: hosts.join(", "),
        kernel: kernels.join(", "),
        schema_version: reports
            .iter()
            .map(|r| r.schema_version)
            .max()
            .unwrap_or_default(),
        start_ns,
        end_ns,
        window,
        wall_offset_ns: Some(0),
        filter: reports
            .first()
            .map(|r| r.filter.clone())
            .unwrap_or_default(),
        sections,
        verified: match chunks {
            Some(chunks) => Verified::Intact { chunks },
            None => Verified::Unchecked,
        },
        warnings,
        fleet: Some(FleetInfo {
            recordings: recs.len(),
            hosts,
        }),
    };
    let mut t = Table::of::<RecordingRow>("recordings", "Recordings");
    for (i, (rec, r)) in recs.iter().zip(&reports).enumerate() {
        let findings: usize = r
            .sections
            .iter()
            .map(|s| {
                s.findings
                    .iter()
                    .filter(|f| f.severity != Severity::Info)
                    .count()
            })
            .sum();
        t.push_row(RecordingRow {
            host: members[i].host.clone(),
            recording: members[i].id.clone(),
            kernel: r.kernel.clone(),
            start: shift(i, r.start_ns),
            seconds: (r.end_ns - r.start_ns) as f64 / 1e9,
            rows: rec.num_rows,
            findings: findings as u64,
        });
    }
    if let Some(h) = report.sections.iter_mut().find(|s| s.id == "header") {
        h.tables.insert(0, t);
    }
    report
}

crate::report_row! {
    /// One recording of a fleet.
    struct RecordingRow {
        host: String => None,
        recording: String => None,
        kernel: String => None,
        start: i64 => Timestamp,
        seconds: f64 => Seconds,
        rows: u64 => Count,
        findings: u64 => Count,
    }
}

/// Each recording's notes, one line per distinct note naming the
/// recordings that have it (none named when all do).
fn notes_of(members: &[Member], per: Vec<&[String]>) -> Vec<String> {
    let mut order: Vec<&str> = Vec::new();
    let mut who: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, notes) in per.iter().enumerate() {
        for n in notes.iter() {
            let e = who.entry(n.as_str()).or_default();
            if e.is_empty() {
                order.push(n.as_str());
            }
            if e.last() != Some(&i) {
                e.push(i);
            }
        }
    }
    order
        .into_iter()
        .map(|n| {
            let w = &who[n];
            if w.len() == members.len() {
                return n.to_string();
            }
            let mut names: Vec<String> = w.iter().take(NAMED).map(|&i| members[i].name()).collect();
            if w.len() > NAMED {
                names.push(format!("and {} more", w.len() - NAMED));
            }
            format!("{} ({})", n, names.join(", "))
        })
        .collect()
}

fn merge_section(
    s0: &SectionReport,
    parts: &[&SectionReport],
    members: &[Member],
    unique_hosts: bool,
) -> SectionReport {
    let mut out = SectionReport::new(s0.id, s0.title);
    out.status = if parts.iter().any(|p| p.status == Status::Ok) {
        Status::Ok
    } else if let Some(p) = parts.iter().find(|p| matches!(p.status, Status::NoData(_))) {
        p.status.clone()
    } else {
        s0.status.clone()
    };
    out.notes = notes_of(members, parts.iter().map(|p| p.notes.as_slice()).collect());
    out.lossy = parts.iter().any(|p| p.lossy);
    // Tables by id, in the order they first appear.
    let mut ids: Vec<&str> = Vec::new();
    for p in parts {
        for t in &p.tables {
            if !ids.contains(&t.id.as_str()) {
                ids.push(&t.id);
            }
        }
    }
    for id in ids {
        let of: Vec<(usize, &Table)> = parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.tables.iter().find(|t| t.id == id).map(|t| (i, t)))
            .collect();
        let Some((_, t0)) = of.first() else { continue };
        let mut t = Table {
            id: t0.id.clone(),
            title: t0.title.clone(),
            columns: Vec::with_capacity(t0.columns.len() + 2),
            rows: Vec::new(),
            total_rows: 0,
            text_limit: t0.text_limit,
        };
        t.columns.push(Column {
            name: "host".into(),
            unit: Unit::None,
        });
        t.columns.push(Column {
            name: "recording".into(),
            unit: Unit::None,
        });
        t.columns.extend(t0.columns.iter().cloned());
        let longest = of.iter().map(|(_, t)| t.rows.len()).max().unwrap_or(0);
        for k in 0..longest {
            for (i, ti) in &of {
                let Some(row) = ti.rows.get(k) else { continue };
                let mut r = Vec::with_capacity(t.columns.len());
                r.push(Value::Text(members[*i].host.clone()));
                r.push(Value::Text(members[*i].id.clone()));
                for (v, c) in row.iter().zip(&ti.columns) {
                    r.push(match (c.unit, v) {
                        (Unit::Timestamp, Value::Int(x)) => {
                            Value::Int(x.saturating_add(members[*i].offset_ns))
                        }
                        (Unit::Timestamp, Value::UInt(x)) => Value::Int(
                            i64::try_from(*x)
                                .unwrap_or(i64::MAX)
                                .saturating_add(members[*i].offset_ns),
                        ),
                        _ => v.clone(),
                    });
                }
                t.rows.push(r);
            }
        }
        t.total_rows = of
            .iter()
            .map(|(_, ti)| ti.total_rows.max(ti.rows.len()))
            .sum();
        out.tables.push(t);
    }
    for (i, p) in parts.iter().enumerate() {
        let m = &members[i];
        for metric in &p.metrics {
            let mut metric = metric.clone();
            metric.labels.push(("host".into(), m.host.clone()));
            if !unique_hosts {
                metric.labels.push(("recording".into(), m.id.clone()));
            }
            metric.labels.sort();
            out.metrics.push(metric);
        }
        for f in &p.findings {
            let mut f = f.clone();
            f.ts_ns = f.ts_ns.map(|t| t.saturating_add(m.offset_ns));
            f.summary = format!("{}: {}", m.host, f.summary);
            f.host = Some(m.host.clone());
            f.recording = Some(m.id.clone());
            out.findings.push(f);
        }
    }
    out
}

/// A one-recording report's metrics once per host, each copy with that
/// `host` label: the side of a `diff` (or a baseline) that is one
/// recording, set against a fleet's merged report, pairs with every host.
pub fn for_hosts(report: &Report, hosts: &[String]) -> Report {
    let mut out = report.clone();
    for s in &mut out.sections {
        let mut metrics = Vec::with_capacity(s.metrics.len() * hosts.len());
        for h in hosts {
            for m in &s.metrics {
                let mut m = m.clone();
                m.labels.push(("host".into(), h.clone()));
                m.labels.sort();
                metrics.push(m);
            }
        }
        s.metrics = metrics;
    }
    out
}

/// The first host with more than one recording, if any: `diff` and
/// baselines pair recordings by host, so each host must have one.
pub fn repeated_host(recs: &[&Recording]) -> Option<String> {
    let mut hosts: Vec<&str> = recs.iter().map(|r| r.host()).collect();
    hosts.sort();
    hosts
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0].to_string())
}
