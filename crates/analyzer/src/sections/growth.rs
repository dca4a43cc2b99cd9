//! Per-process memory growth from `procstat` samples (and `oom_victim`).

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{values_i64_opt, values_u64, IntMap, StrIds};
use crate::model::{Metric, SectionReport, Status, Table, TextLimit, Unit};
use crate::recording::Recording;
use crate::report_row;
use crate::stats::{ExactFit, Fit};
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The procstat counters reported, in report order (all bytes).
pub const FIELDS: &[&str] = &[
    "rss_anon",
    "rss_file",
    "rss_shmem",
    "swap",
    "vsize",
    "pgtables",
    "stack",
    "data",
    "rss_peak",
];

/// Index of `rss_peak` (VmHWM) in FIELDS.
const HWM: usize = 8;

/// First / last / peak of one counter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Triple {
    pub first: u64,
    pub last: u64,
    pub peak: u64,
}

/// One process's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub tgid: u32,
    pub comm: String,
    pub samples: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Total RSS = rss_anon + rss_file + rss_shmem.
    pub rss: Triple,
    pub fields: Vec<Triple>,
    /// Fit of total RSS over time, exit samples left out.
    pub fit: Fit,
    /// Time between the first and the last sample of the fit.
    pub fit_span_ns: i64,
    pub leak: bool,
    pub exited: bool,
    pub oom_killed: bool,
}

impl Process {
    pub fn growth(&self) -> i64 {
        self.rss.last as i64 - self.rss.first as i64
    }
}

pub static SECTION: Section = Section {
    id: "growth",
    title: "Per-process memory growth (procstat)",
    required: &["procstat"],
    optional: &["oom"],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let mut procs = load(rec, f)?;
    // A victim is the process instance its pid and name were at the kill:
    // after an exec (or a rename) the same tgid is another process here.
    let victims: HashSet<(u64, String)> = {
        let lf = rec.scan_with("oom_victim", f, &["victim_pid", "victim_comm"], false)?;
        let fr = rec.fetch("oom_victim", lf)?;
        let pids = fr.u64("victim_pid")?;
        let comms = fr.str("victim_comm")?;
        pids.into_iter()
            .zip(comms)
            .filter_map(|(p, c)| Some((p?, c.unwrap_or_default())))
            .collect()
    };
    for (pid, comm) in &victims {
        let exact = procs
            .iter()
            .any(|p| u64::from(p.tgid) == *pid && p.comm == *comm);
        // Without a sample under the victim's name, the tgid's last process.
        let last = procs
            .iter()
            .filter(|p| u64::from(p.tgid) == *pid)
            .max_by_key(|p| p.last_ts)
            .map(|p| (p.comm.clone(), p.last_ts));
        for p in procs.iter_mut().filter(|p| u64::from(p.tgid) == *pid) {
            p.oom_killed |= if exact {
                p.comm == *comm
            } else {
                last.as_ref()
                    .is_some_and(|(c, t)| *c == p.comm && *t == p.last_ts)
            };
        }
    }
    for p in &mut procs {
        p.leak = is_leak(p, f);
    }
    rank(&mut procs);
    r.notes.push(format!(
        "Growth rate: least-squares slope of total RSS (rss_anon + rss_file + rss_shmem) over \
         ts_ns, exit samples left out. Leak suspected when slope > 0, R² >= {}, >= {} samples \
         over >= {} s.",
        f.leak.min_r2,
        f.leak.min_samples,
        f.leak.min_span_ns as f64 / 1e9
    ));
    let suspects: Vec<(u32, &str)> = procs
        .iter()
        .filter(|p| p.leak)
        .map(|p| (p.tgid, p.comm.as_str()))
        .collect();
    r.notes
        .extend(super::leaks::growth_links(rec, f, &suspects)?);
    if procs.is_empty() {
        r.status =
            Status::NoData("no procstat samples in the selected window and processes".into());
    }
    r.metrics = metrics(&procs);
    let (main, fields) = tables(&procs, f.top);
    r.tables.push(main);
    r.tables.push(fields);
    Ok(r)
}

/// The leak criterion (see docs/REPORTS.md).
pub fn is_leak(p: &Process, f: &Filter) -> bool {
    p.fit.slope.is_some_and(|s| s > 0.0)
        && p.fit.r2.is_some_and(|r2| r2 >= f.leak.min_r2)
        && p.fit.n >= f.leak.min_samples
        && p.fit_span_ns >= f.leak.min_span_ns
}

/// Highest growth rate first (no rate last), then largest growth, tgid, comm.
pub fn rank(procs: &mut [Process]) {
    procs.sort_by(|a, b| {
        let sa = a.fit.slope.unwrap_or(f64::NEG_INFINITY);
        let sb = b.fit.slope.unwrap_or(f64::NEG_INFINITY);
        sb.total_cmp(&sa)
            .then(b.growth().cmp(&a.growth()))
            .then(a.tgid.cmp(&b.tgid))
            .then(a.comm.cmp(&b.comm))
    });
}

/// How procstat rows map to processes and their names (see
/// [`Names::name`]), from every procstat row of the recording (only
/// `--pid` applies: a time window does not rename a process).
#[derive(Debug, Default)]
pub struct Names {
    /// Per tgid, the group leader's (pid == tgid) names with the time each
    /// was first seen, sorted by time.
    pub epochs: HashMap<u32, Vec<(i64, String)>>,
    /// Per tgid without leader rows: the comm of its lowest pid (the
    /// lexicographically smallest when that thread had several).
    pub lowest: HashMap<u32, (u32, String)>,
}

impl Names {
    pub fn load(rec: &Recording, f: &Filter) -> Result<Names, SectionError> {
        Self::load_for(rec, f.pid.map(|p| vec![p]).as_deref())
    }

    /// Names of the processes with these tgids (all when `None`).
    pub fn load_for(rec: &Recording, tgids: Option<&[u32]>) -> Result<Names, SectionError> {
        let mut lf = rec.scan_with(
            "procstat",
            &Filter::default(),
            &["ts_ns", "pid", "tgid", "comm"],
            false,
        )?;
        if let Some(t) = tgids {
            lf = lf.filter(col("tgid").is_in(
                lit(Series::new("t".into(), t.to_vec())).implode(false),
                false,
            ));
        }
        let mut names = Names::default();
        let mut ids = StrIds::default();
        // Per tgid: leader (first seen, comm id) list; lowest other (pid, comm id).
        let mut leaders: IntMap<u32, Vec<(i64, u32)>> = IntMap::default();
        let mut lowest: IntMap<u32, (u32, u32)> = IntMap::default();
        rec.stream("procstat", lf, |fr| {
            let ts = values_i64_opt(&fr.chunked_i64("ts_ns")?);
            let pid = values_u64(&fr.chunked_u64("pid")?);
            let tgid = values_u64(&fr.chunked_u64("tgid")?);
            let comm = ids.ids(&fr.chunked_str("comm")?);
            for i in 0..comm.len() {
                let (t, c, p, g) = (ts[i].unwrap_or(0), comm[i], pid[i] as u32, tgid[i] as u32);
                if p == g {
                    let v = leaders.entry(g).or_default();
                    match v.iter_mut().find(|e| e.1 == c) {
                        Some(e) => e.0 = e.0.min(t),
                        None => v.push((t, c)),
                    }
                } else {
                    match lowest.get_mut(&g) {
                        Some(e) if p < e.0 || (p == e.0 && ids.name(c) < ids.name(e.1)) => {
                            *e = (p, c)
                        }
                        Some(_) => {}
                        None => {
                            lowest.insert(g, (p, c));
                        }
                    }
                }
            }
            Ok(())
        })?;
        for (g, v) in leaders {
            names.epochs.insert(
                g,
                v.into_iter()
                    .map(|(t, c)| (t, ids.name(c).to_string()))
                    .collect(),
            );
        }
        for (g, (p, c)) in lowest {
            names.lowest.insert(g, (p, ids.name(c).to_string()));
        }
        for v in names.epochs.values_mut() {
            v.sort();
        }
        Ok(names)
    }

    /// Which of the tgid's leader names applies at `ts`: the last one first
    /// seen at or before `ts` (the first one before any was seen).
    pub fn epoch(&self, tgid: u32, ts: i64) -> usize {
        match self.epochs.get(&tgid) {
            Some(v) if v.len() > 1 => v.partition_point(|e| e.0 <= ts).saturating_sub(1),
            _ => 0,
        }
    }

    /// The process's name: the leader's comm in that epoch, else the comm
    /// of the lowest pid seen.
    pub fn name(&self, tgid: u32, epoch: usize) -> &str {
        match self.epochs.get(&tgid).and_then(|v| v.get(epoch)) {
            Some(e) => &e.1,
            None => self.lowest.get(&tgid).map_or("", |x| x.1.as_str()),
        }
    }
}

/// Running figures of one process.
#[derive(Debug, Clone)]
struct Acc {
    n: u64,
    first_ts: i64,
    last_ts: i64,
    /// Index 0: total RSS; then FIELDS.
    first: [u64; 10],
    last: [u64; 10],
    peak: [u64; 10],
    exits: u64,
    fit: ExactFit,
    fit_first_ts: i64,
    fit_last_ts: i64,
}

impl Acc {
    fn new() -> Self {
        Acc {
            n: 0,
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            first: [0; 10],
            last: [0; 10],
            peak: [0; 10],
            exits: 0,
            fit: ExactFit::default(),
            fit_first_ts: i64::MAX,
            fit_last_ts: i64::MIN,
        }
    }

    fn add(&mut self, ts: i64, exit: bool, v: &[u64; 10]) {
        self.n += 1;
        if ts < self.first_ts {
            self.first_ts = ts;
            self.first = *v;
        }
        if ts > self.last_ts {
            self.last_ts = ts;
            self.last = *v;
        }
        for (p, x) in self.peak.iter_mut().zip(v) {
            *p = (*p).max(*x);
        }
        if exit {
            self.exits += 1;
        } else {
            self.fit.add(ts, v[0] as i64);
            self.fit_first_ts = self.fit_first_ts.min(ts);
            self.fit_last_ts = self.fit_last_ts.max(ts);
        }
    }
}

/// A u64 column of a batch as a slice when it has one chunk and no nulls.
fn slice_or_vec(ca: &UInt64Chunked) -> std::borrow::Cow<'_, [u64]> {
    match ca.cont_slice() {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(ca.iter().map(|v| v.unwrap_or(0)).collect()),
    }
}

fn load(rec: &Recording, f: &Filter) -> Result<Vec<Process>, SectionError> {
    let names = Names::load(rec, f)?;
    let mut cols = vec!["ts_ns", "tgid", "reason"];
    cols.extend_from_slice(FIELDS);
    let no_comm = Filter {
        comm: None,
        ..f.clone()
    };
    let lf = rec.scan("procstat", &no_comm, &cols)?;
    let mut index: IntMap<(u32, usize), usize> = IntMap::default();
    let mut ids = StrIds::default();
    let mut accs: Vec<((u32, usize), Acc)> = Vec::new();
    rec.stream("procstat", lf, |fr| {
        let ts = fr.chunked_i64("ts_ns")?.rechunk().into_owned();
        let tgid = fr.chunked_u64("tgid")?.rechunk().into_owned();
        let reason = ids.ids(&fr.chunked_str("reason")?);
        let exit = ids.id_of("exit");
        // memrec's load test, not the kernel's: left out.
        let synthetic = ids.id_of("synthetic");
        let vals: Vec<UInt64Chunked> = FIELDS
            .iter()
            .map(|c| fr.chunked_u64(c).map(|x| x.rechunk().into_owned()))
            .collect::<Result<_, _>>()?;
        let vals: Vec<std::borrow::Cow<'_, [u64]>> = vals.iter().map(slice_or_vec).collect();
        let tg = slice_or_vec(&tgid);
        let tsv: Vec<i64> = ts.iter().map(|v| v.unwrap_or(0)).collect();
        for (i, r) in reason.iter().enumerate() {
            if *r == synthetic {
                continue;
            }
            let (t, g) = (tsv[i], tg[i] as u32);
            let mut v = [0u64; 10];
            for (k, c) in vals.iter().enumerate() {
                v[k + 1] = c[i];
            }
            v[0] = v[1] + v[2] + v[3];
            let key = (g, names.epoch(g, t));
            let slot = *index.entry(key).or_insert_with(|| {
                accs.push((key, Acc::new()));
                accs.len() - 1
            });
            accs[slot].1.add(t, *r == exit, &v);
        }
        Ok(())
    })?;
    let mut out = Vec::new();
    for ((tgid, epoch), a) in accs {
        let comm = names.name(tgid, epoch);
        if f.comm.as_deref().is_some_and(|want| want != comm) {
            continue;
        }
        let tri = |k: usize| Triple {
            first: a.first[k],
            last: a.last[k],
            peak: a.peak[k],
        };
        out.push(Process {
            tgid,
            comm: comm.to_string(),
            samples: a.n,
            first_ts: a.first_ts,
            last_ts: a.last_ts,
            rss: tri(0),
            fields: (1..10).map(tri).collect(),
            fit: a.fit.fit(1e9),
            fit_span_ns: if a.fit.n > 0 {
                a.fit_last_ts - a.fit_first_ts
            } else {
                0
            },
            leak: false,
            exited: a.exits > 0,
            oom_killed: false,
        });
    }
    Ok(out)
}

report_row! {
    /// One process: its total RSS over the recording and the fit of it.
    struct ProcessRow {
        tgid: u32 => None,
        comm: String => None,
        samples: u64 => Count,
        first_ts: i64 => Timestamp,
        last_ts: i64 => Timestamp,
        rss_first: u64 => Bytes,
        rss_last: u64 => Bytes,
        rss_max: u64 => Bytes,
        rss_peak: u64 => Bytes,
        rss_growth: i64 => Bytes,
        growth_rate: Option<f64> => BytesPerSec,
        r2: Option<f64> => None,
        fit_samples: usize => Count,
        fit_span: i64 => Ns,
        leak_suspect: bool => None,
        exited: bool => None,
        oom_killed: bool => None,
    }
}

report_row! {
    /// One procstat counter of one process.
    struct FieldRow {
        tgid: u32 => None,
        comm: String => None,
        field: &'static str => None,
        first: u64 => Bytes,
        last: u64 => Bytes,
        peak: u64 => Bytes,
        change: i64 => Bytes,
    }
}

fn tables(procs: &[Process], top: usize) -> (Table, Table) {
    let mut main = Table::of::<ProcessRow>("processes", "Processes by growth rate of total RSS");
    let mut fields = Table::of::<FieldRow>(
        "process_fields",
        "Counters of those processes: first / last / peak",
    );
    let shown = if top == 0 {
        procs.len()
    } else {
        top.min(procs.len())
    };
    for p in procs {
        main.push_row(ProcessRow {
            tgid: p.tgid,
            comm: p.comm.clone(),
            samples: p.samples,
            first_ts: p.first_ts,
            last_ts: p.last_ts,
            rss_first: p.rss.first,
            rss_last: p.rss.last,
            rss_max: p.rss.peak,
            rss_peak: p.fields[HWM].peak,
            rss_growth: p.growth(),
            growth_rate: p.fit.slope,
            r2: p.fit.r2,
            fit_samples: p.fit.n,
            fit_span: p.fit_span_ns,
            leak_suspect: p.leak,
            exited: p.exited,
            oom_killed: p.oom_killed,
        });
    }
    for p in procs.iter().take(shown) {
        for (name, t) in FIELDS.iter().zip(&p.fields) {
            fields.push_row(FieldRow {
                tgid: p.tgid,
                comm: p.comm.clone(),
                field: name,
                first: t.first,
                last: t.last,
                peak: t.peak,
                change: t.last as i64 - t.first as i64,
            });
        }
    }
    main.truncate(top);
    fields.total_rows = procs.len() * FIELDS.len();
    (main, fields.with_text_limit(TextLimit::All))
}

fn metrics(procs: &[Process]) -> Vec<Metric> {
    let count = |p: fn(&Process) -> bool| procs.iter().filter(|x| p(x)).count() as u64;
    let mut m = vec![
        Metric::new("growth.processes", procs.len() as u64, Unit::Count),
        Metric::new("growth.leak_suspects", count(|p| p.leak), Unit::Count),
        Metric::new("growth.exited", count(|p| p.exited), Unit::Count),
        Metric::new("growth.oom_killed", count(|p| p.oom_killed), Unit::Count),
    ];
    if let Some(max) = procs
        .iter()
        .filter_map(|p| p.fit.slope)
        .max_by(f64::total_cmp)
    {
        m.push(Metric::new(
            "growth.max_bytes_per_s",
            max,
            Unit::BytesPerSec,
        ));
    }
    if let Some(max) = procs.iter().map(|p| p.fields[HWM].peak).max() {
        m.push(Metric::new("growth.peak_rss_bytes", max, Unit::Bytes));
    }
    let mut by_comm: BTreeMap<&str, Vec<&Process>> = BTreeMap::new();
    for p in procs {
        by_comm.entry(p.comm.as_str()).or_default().push(p);
    }
    for (comm, ps) in by_comm {
        if let Some(max) = ps.iter().filter_map(|p| p.fit.slope).max_by(f64::total_cmp) {
            m.push(
                Metric::new("growth.max_bytes_per_s", max, Unit::BytesPerSec).label("comm", comm),
            );
        }
        let peak = ps.iter().map(|p| p.fields[HWM].peak).max().unwrap_or(0);
        m.push(Metric::new("growth.peak_rss_bytes", peak, Unit::Bytes).label("comm", comm));
        let growth = ps.iter().map(|p| p.growth()).max().unwrap_or(0);
        m.push(Metric::new("growth.rss_growth_bytes", growth, Unit::Bytes).label("comm", comm));
        let leaks = ps.iter().filter(|p| p.leak).count() as u64;
        m.push(Metric::new("growth.leak_suspects", leaks, Unit::Count).label("comm", comm));
        m.push(Metric::new("growth.processes", ps.len() as u64, Unit::Count).label("comm", comm));
    }
    m
}
