//! Per-process memory growth from `procstat` samples (and `oom_victim`).

use super::{start, Section, SectionError};
use crate::filter::{Filter, LeakCriterion};
use crate::frame::{values_i64_opt, values_u64, IntMap, StrIds};
use crate::model::{
    Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, TextLimit, Unit,
};
use crate::recording::Recording;
use crate::render::human_bytes;
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

/// Why a process is or is not a leak suspect: the first test of the
/// [`LeakCriterion`] it fails, in the criterion's order (docs/REPORTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Suspect,
    /// Fewer samples before its exit than `min_samples`.
    TooFewSamples,
    /// Those samples span less than `min_span`.
    TooShort,
    /// The fit's slope is not positive.
    NotGrowing,
    /// Grew less than `min_growth` from the first to the last sample.
    GrewLittle,
    /// Gave back more than `max_given_back` of what it took.
    GaveBack,
    /// The line explains less than `min_r2` of the samples' variance.
    NotLinear,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Suspect => "suspect",
            Verdict::TooFewSamples => "too few samples",
            Verdict::TooShort => "too short",
            Verdict::NotGrowing => "not growing",
            Verdict::GrewLittle => "grew little",
            Verdict::GaveBack => "gave memory back",
            Verdict::NotLinear => "not linear",
        }
    }

    /// Whether the samples were enough to judge the growth at all.
    pub fn judged(self) -> bool {
        !matches!(self, Verdict::TooFewSamples | Verdict::TooShort)
    }
}

/// One process's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub tgid: u32,
    pub comm: String,
    pub samples: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    /// Total RSS = rss_anon + rss_file + rss_shmem, over the samples before
    /// the exit (over the exit samples when there is nothing else).
    pub rss: Triple,
    /// The FIELDS, over the same samples as `rss`.
    pub fields: Vec<Triple>,
    /// The highest VmHWM of every sample, the exit's included (a high-water
    /// mark is still right at the exit).
    pub hwm: u64,
    /// Whether `rss` and `fields` come from samples before the exit.
    pub live: bool,
    /// Fit of total RSS over time, exit samples left out.
    pub fit: Fit,
    /// Time between the first and the last sample of the fit.
    pub fit_span_ns: i64,
    /// Σ falls / Σ rises of total RSS between consecutive samples of the
    /// fit; `None` when it never rose.
    pub given_back: Option<f64>,
    pub verdict: Verdict,
    pub exited: bool,
    pub oom_killed: bool,
}

impl Process {
    /// Last − first total RSS before the exit; `None` for a process seen
    /// only at its exit (the exit sample never counts toward growth).
    pub fn growth(&self) -> Option<i64> {
        self.live
            .then(|| self.rss.last as i64 - self.rss.first as i64)
    }

    pub fn suspect(&self) -> bool {
        self.verdict == Verdict::Suspect
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
        p.verdict = verdict(p, &f.leak);
    }
    rank(&mut procs);
    let c = &f.leak;
    r.notes.push(format!(
        "Growth: total RSS (rss_anon + rss_file + rss_shmem) over the samples before each \
         process's exit (the exit sample never counts); rate: its least-squares slope. Leak \
         suspect (verdict): >= {} samples over >= {} s, grew >= {}, gave back <= {:.0}% of its \
         rises, R² >= {}. Suspects first, by rate; then the processes judged, by rate; then \
         those with too few samples or too short, by growth.",
        c.min_samples,
        c.min_span_ns as f64 / 1e9,
        human_bytes(c.min_growth as f64),
        c.max_given_back * 100.0,
        c.min_r2,
    ));
    let suspects: Vec<(u32, &str)> = procs
        .iter()
        .filter(|p| p.suspect())
        .map(|p| (p.tgid, p.comm.as_str()))
        .collect();
    let links = super::leaks::growth_links(rec, f, &suspects)?;
    r.findings = procs
        .iter()
        .filter(|p| p.suspect())
        .map(|p| {
            // The heap's top stack, where memleak recorded it, says where.
            links
                .iter()
                .filter(|l| l.0 == p.tgid)
                .fold(finding(p), |x, l| x.detail(l.1.clone()))
        })
        .collect();
    r.notes.extend(links.into_iter().map(|l| l.1));
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

/// The leak criterion (see docs/REPORTS.md): the first test the process
/// fails, or [`Verdict::Suspect`].
pub fn verdict(p: &Process, c: &LeakCriterion) -> Verdict {
    if p.fit.n < c.min_samples {
        Verdict::TooFewSamples
    } else if p.fit_span_ns < c.min_span_ns {
        Verdict::TooShort
    } else if !p.fit.slope.is_some_and(|s| s > 0.0) {
        Verdict::NotGrowing
    } else if p.growth().unwrap_or(0) < i64::try_from(c.min_growth).unwrap_or(i64::MAX) {
        Verdict::GrewLittle
    } else if p.given_back.is_some_and(|g| g > c.max_given_back) {
        Verdict::GaveBack
    } else if !p.fit.r2.is_some_and(|r2| r2 >= c.min_r2) {
        Verdict::NotLinear
    } else {
        Verdict::Suspect
    }
}

/// Suspects first, then the processes the criterion could judge, both by
/// growth rate (highest first); then those with too few samples or too
/// short a span, whose rate means little, by growth. Ties: growth, rate,
/// tgid, comm.
pub fn rank(procs: &mut [Process]) {
    let tier = |p: &Process| match p.verdict {
        Verdict::Suspect => 0,
        v if v.judged() => 1,
        _ => 2,
    };
    let rate = |p: &Process| p.fit.slope.unwrap_or(f64::NEG_INFINITY);
    let growth = |p: &Process| p.growth().unwrap_or(i64::MIN);
    procs.sort_by(|a, b| {
        let (ta, tb) = (tier(a), tier(b));
        let first = if ta < 2 {
            rate(b).total_cmp(&rate(a)).then(growth(b).cmp(&growth(a)))
        } else {
            growth(b).cmp(&growth(a)).then(rate(b).total_cmp(&rate(a)))
        };
        ta.cmp(&tb)
            .then(first)
            .then(a.tgid.cmp(&b.tgid))
            .then(a.comm.cmp(&b.comm))
    });
}

/// A suspect's finding: what it grew, how fast, over how long, how well
/// the line fits.
fn finding(p: &Process) -> Finding {
    let rate = p.fit.slope.unwrap_or(0.0);
    Finding::new(
        Severity::Warning,
        FindingKind::LeakSuspect,
        format!(
            "Leak suspect: {} pid {} grew {} at {}/s for {:.1} s (R² {:.3}, {} samples)",
            p.comm,
            p.tgid,
            human_bytes(p.growth().unwrap_or(0) as f64),
            human_bytes(rate),
            p.fit_span_ns as f64 / 1e9,
            p.fit.r2.unwrap_or(0.0),
            p.fit.n,
        ),
    )
    .score(rate)
    .at(p.first_ts)
    .task(p.tgid, p.comm.clone())
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

/// First / last / peak of a set of samples. Index 0: total RSS; then FIELDS.
#[derive(Debug, Clone)]
struct Span {
    n: u64,
    first_ts: i64,
    last_ts: i64,
    first: [u64; 10],
    last: [u64; 10],
    peak: [u64; 10],
}

impl Span {
    fn new() -> Self {
        Span {
            n: 0,
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            first: [0; 10],
            last: [0; 10],
            peak: [0; 10],
        }
    }

    fn add(&mut self, ts: i64, v: &[u64; 10]) {
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
    }
}

/// Running figures of one process: every sample, and those before its exit.
#[derive(Debug, Clone)]
struct Acc {
    all: Span,
    live: Span,
    fit: ExactFit,
    /// (ts, total RSS) of the samples before the exit, for what it gave back.
    points: Vec<(i64, u64)>,
}

impl Acc {
    fn new() -> Self {
        Acc {
            all: Span::new(),
            live: Span::new(),
            fit: ExactFit::default(),
            points: Vec::new(),
        }
    }

    fn add(&mut self, ts: i64, exit: bool, v: &[u64; 10]) {
        self.all.add(ts, v);
        if !exit {
            self.live.add(ts, v);
            self.fit.add(ts, v[0] as i64);
            self.points.push((ts, v[0]));
        }
    }
}

/// Σ falls / Σ rises of the values between consecutive points in time
/// order (ties by value); `None` when nothing rose.
pub fn given_back(points: &mut [(i64, u64)]) -> Option<f64> {
    points.sort_unstable();
    let (mut up, mut down) = (0u128, 0u128);
    for w in points.windows(2) {
        let (a, b) = (w[0].1, w[1].1);
        if b > a {
            up += u128::from(b - a);
        } else {
            down += u128::from(a - b);
        }
    }
    (up > 0).then(|| down as f64 / up as f64)
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
    for ((tgid, epoch), mut a) in accs {
        let comm = names.name(tgid, epoch);
        if f.comm.as_deref().is_some_and(|want| want != comm) {
            continue;
        }
        let live = a.live.n > 0;
        let basis = if live { &a.live } else { &a.all };
        let tri = |k: usize| Triple {
            first: basis.first[k],
            last: basis.last[k],
            peak: basis.peak[k],
        };
        out.push(Process {
            tgid,
            comm: comm.to_string(),
            samples: a.all.n,
            first_ts: a.all.first_ts,
            last_ts: a.all.last_ts,
            rss: tri(0),
            fields: (1..10).map(tri).collect(),
            hwm: a.all.peak[HWM + 1],
            live,
            fit: a.fit.fit(1e9),
            fit_span_ns: if live {
                a.live.last_ts - a.live.first_ts
            } else {
                0
            },
            given_back: given_back(&mut a.points),
            verdict: Verdict::TooFewSamples,
            exited: a.live.n < a.all.n,
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
        rss_growth: Option<i64> => Bytes,
        growth_rate: Option<f64> => BytesPerSec,
        r2: Option<f64> => None,
        fit_samples: usize => Count,
        fit_span: i64 => Ns,
        given_back: Option<f64> => Ratio,
        verdict: &'static str => None,
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
            rss_peak: p.hwm,
            rss_growth: p.growth(),
            growth_rate: p.fit.slope,
            r2: p.fit.r2,
            fit_samples: p.fit.n,
            fit_span: p.fit_span_ns,
            given_back: p.given_back,
            verdict: p.verdict.name(),
            leak_suspect: p.suspect(),
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
        Metric::new("growth.leak_suspects", count(Process::suspect), Unit::Count),
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
    if let Some(max) = procs.iter().map(|p| p.hwm).max() {
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
        let peak = ps.iter().map(|p| p.hwm).max().unwrap_or(0);
        m.push(Metric::new("growth.peak_rss_bytes", peak, Unit::Bytes).label("comm", comm));
        if let Some(growth) = ps.iter().filter_map(|p| p.growth()).max() {
            m.push(Metric::new("growth.rss_growth_bytes", growth, Unit::Bytes).label("comm", comm));
        }
        let leaks = ps.iter().filter(|p| p.suspect()).count() as u64;
        m.push(Metric::new("growth.leak_suspects", leaks, Unit::Count).label("comm", comm));
        m.push(Metric::new("growth.processes", ps.len() as u64, Unit::Count).label("comm", comm));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hdr, Builder};
    use memtrace_schema::tables::procstat::procstat;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 100 * S;
    const MIB: u64 = 1 << 20;

    fn sample(b: &mut Builder, ts: i64, tgid: u32, comm: &str, reason: &'static str, anon: u64) {
        b.add(
            hdr(T0 + ts, tgid, tgid, comm),
            &procstat::Row {
                reason: reason.into(),
                rss_anon: anon,
                rss_peak: anon,
                ..Default::default()
            },
        );
    }

    fn run(b: Builder, f: &Filter) -> (SectionReport, Vec<Process>) {
        let mut b = b;
        b.count();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("growth.parquet");
        b.write(&p);
        let rec = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let r = compute(&rec, f).unwrap_or_else(|e| panic!("{e}"));
        let mut procs = load(&rec, f).unwrap_or_else(|e| panic!("{e}"));
        for p in &mut procs {
            p.verdict = verdict(p, &f.leak);
        }
        rank(&mut procs);
        (r, procs)
    }

    #[test]
    fn given_back_is_falls_over_rises_in_time_order() {
        // Out of order: sorted by time first. Rises 10 + 5, falls 3.
        let mut v = vec![(3, 12), (1, 0), (2, 10), (4, 17)];
        assert_eq!(given_back(&mut v), Some(0.0));
        let mut v = vec![(1, 0), (2, 10), (3, 7), (4, 12)];
        assert_eq!(given_back(&mut v), Some(3.0 / 15.0));
        assert_eq!(given_back(&mut [(1, 5), (2, 5), (3, 1)]), None);
        assert_eq!(given_back(&mut []), None);
    }

    #[test]
    fn the_exit_sample_never_counts_toward_growth() {
        let mut b = Builder::new(T0, T0 + 20 * S);
        for i in 0..12 {
            sample(&mut b, i * S, 10, "leaky", "switch", (10 + i as u64) * MIB);
        }
        // The exit sample, after the process let its memory go: below where
        // it started.
        sample(&mut b, 12 * S, 10, "leaky", "exit", MIB);
        // Seen only at its exit.
        sample(&mut b, 5 * S, 20, "brief", "exit", 7 * MIB);
        let (r, procs) = run(b, &Filter::default());
        let p = &procs[0];
        assert_eq!((p.tgid, p.verdict), (10, Verdict::Suspect));
        assert_eq!(p.growth(), Some(11 * MIB as i64));
        assert_eq!((p.rss.first, p.rss.last), (10 * MIB, 21 * MIB));
        assert_eq!(p.hwm, 21 * MIB);
        assert!(p.exited);
        assert_eq!(p.fit.n, 12);
        let brief = &procs[1];
        assert_eq!((brief.tgid, brief.growth()), (20, None));
        assert_eq!(brief.rss.last, 7 * MIB);
        assert_eq!(brief.verdict, Verdict::TooFewSamples);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(
            r.findings[0].summary,
            "Leak suspect: leaky pid 10 grew 11.00 MiB at 1.00 MiB/s for 11.0 s (R² 1.000, 12 \
             samples)"
        );
        assert_eq!(r.findings[0].pid, Some(10));
        assert_eq!(r.findings[0].score, MIB as f64);
    }

    #[test]
    fn each_test_of_the_criterion_has_its_verdict() {
        let mut b = Builder::new(T0, T0 + 30 * S);
        // 1: a line. 2: nine samples. 3: twelve samples over 1.1 s.
        // 4: shrinking. 5: 12 x 64 KiB. 6: up 2, down 1 (gives half back).
        // 7: a steady rise with a step in the middle (R² 0.83).
        for i in 0..12i64 {
            let u = i as u64;
            sample(&mut b, i * S, 1, "line", "switch", (100 + u) * MIB);
            if i < 9 {
                sample(&mut b, i * S, 2, "few", "switch", (100 + u) * MIB);
            }
            sample(&mut b, i * S / 10, 3, "short", "switch", (100 + u) * MIB);
            sample(&mut b, i * S, 4, "shrink", "switch", (100 - u) * MIB);
            sample(&mut b, i * S, 5, "small", "switch", 100 * MIB + u * 65536);
            let zigzag = 100 * MIB + (u / 2) * MIB + (u % 2) * 2 * MIB;
            sample(&mut b, i * S, 6, "zigzag", "switch", zigzag);
            let step = 100 * MIB + u * MIB / 4 + if i >= 6 { 8 * MIB } else { 0 };
            sample(&mut b, i * S, 7, "step", "switch", step);
        }
        let (_, procs) = run(b, &Filter::default());
        let got: Vec<(u32, Verdict)> = procs.iter().map(|p| (p.tgid, p.verdict)).collect();
        assert_eq!(
            got,
            vec![
                // Suspects first; then the judged ones by rate; then the
                // rest by growth.
                (1, Verdict::Suspect),
                (7, Verdict::NotLinear),
                (6, Verdict::GaveBack),
                (5, Verdict::GrewLittle),
                (4, Verdict::NotGrowing),
                (3, Verdict::TooShort),
                (2, Verdict::TooFewSamples),
            ]
        );
        // The flags loosen it: a short span and a low bar for R² let the
        // step in.
        let f = Filter {
            leak: LeakCriterion {
                min_r2: 0.8,
                min_span_ns: S,
                ..LeakCriterion::default()
            },
            ..Filter::default()
        };
        let (_, procs) = run(
            {
                let mut b = Builder::new(T0, T0 + 30 * S);
                for i in 0..12i64 {
                    let u = i as u64;
                    let step = 100 * MIB + u * MIB / 4 + if i >= 6 { 8 * MIB } else { 0 };
                    sample(&mut b, i * S, 7, "step", "switch", step);
                    sample(&mut b, i * S / 10, 3, "short", "switch", (100 + u) * MIB);
                }
                b
            },
            &f,
        );
        assert!(procs.iter().all(|p| p.suspect()), "{procs:?}");
    }
}
