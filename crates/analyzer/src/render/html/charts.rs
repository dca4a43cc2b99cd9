//! The page's charts: each a few aggregate queries per recording (polars
//! groups the rows into time buckets; Rust sees at most a bucket count of
//! rows per series), in the shape the page's script hands to uPlot.
//!
//! Downsampling keeps peaks: a level (RSS, free pages) is cut into at most
//! [`LEVEL_BUCKETS`] buckets and each bucket gives two points, its minimum
//! and its maximum, so a spike shorter than a bucket still shows; a rate
//! (faults, reclaimed pages) is the bucket's sum over its length, so every
//! event counts. Either way a series has at most about 2000 points, and a
//! chart at most [`MAX_SERIES`] series, whatever the recording's size.

use crate::filter::Filter;
use crate::fleet::Fleet;
use crate::frame::COUNT;
use crate::model::{Table, Value};
use crate::recording::{ReadError, Recording};
use crate::report::Report;
use crate::sections::leaks::{Leaks, Side, Sides};
use polars::prelude::*;
use serde_json::{json, Value as J};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Buckets of a level chart (two points each: min and max).
pub const LEVEL_BUCKETS: i64 = 1000;
/// Buckets of a rate chart (one point each).
pub const RATE_BUCKETS: i64 = 2000;
/// Shortest bucket of a rate: shorter ones turn single events into spikes
/// of a rate no one saw.
const MIN_RATE_STEP: i64 = 100_000_000;
/// Most series on one chart (processes, hosts).
pub const MAX_SERIES: usize = 8;
/// Most zone charts on a page.
const MAX_ZONES: usize = 4;
/// Most markers on a chart (OOM kills, allocation failures): one per
/// bucket, so this bounds them too.
const MAX_MARKS: usize = 500;

const BUCKET: &str = "bucket";

/// One chart, as the page's script reads it.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    /// What it shows and how it was cut, under the title.
    pub note: String,
    pub kind: Kind,
    pub x: XAxis,
    pub y_unit: &'static str,
    /// The right axis' unit, for series with `axis` 1.
    pub y2_unit: Option<&'static str>,
    pub xs: Vec<f64>,
    pub series: Vec<Series>,
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Levels: lines through each bucket's min and max.
    Line,
    /// Rates per bucket: steps.
    Step,
    /// A latency histogram: bars over log buckets.
    Histogram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Unix seconds, shown as UTC time of day.
    Wall,
    /// Seconds from the recording's start (no clock anchor).
    Offset,
    /// Half-octave latency buckets: x = k means 2^(k/2) ns and up.
    Log2Ns,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub axis: u8,
    pub values: Vec<Option<f64>>,
    /// Drawn dashed (watermarks).
    pub dash: bool,
}

#[derive(Debug, Clone)]
pub struct Mark {
    pub x: f64,
    pub label: String,
    /// `oom` or `fail`: the colour.
    pub kind: &'static str,
}

impl Chart {
    /// Points with a value, over every series.
    pub fn points(&self) -> usize {
        self.series
            .iter()
            .map(|s| s.values.iter().filter(|v| v.is_some()).count())
            .sum()
    }

    pub fn to_json(&self) -> J {
        let series: Vec<J> = self
            .series
            .iter()
            .map(|s| {
                json!({
                    "label": s.label,
                    "axis": s.axis,
                    "dash": s.dash,
                    "values": s.values.iter().map(|v| v.map_or(J::Null, num)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let marks: Vec<J> = self
            .marks
            .iter()
            .map(|m| json!({"x": num(m.x), "label": m.label, "kind": m.kind}))
            .collect();
        json!({
            "id": self.id,
            "kind": match self.kind { Kind::Line => "line", Kind::Step => "step", Kind::Histogram => "hist" },
            "x": match self.x { XAxis::Wall => "wall", XAxis::Offset => "offset", XAxis::Log2Ns => "log2ns" },
            "y_unit": self.y_unit,
            "y2_unit": self.y2_unit,
            "xs": self.xs.iter().map(|&x| num(x)).collect::<Vec<_>>(),
            "series": series,
            "marks": marks,
        })
    }
}

/// A number as short as it reads: integers without a fraction, others to
/// 6 decimals (times in seconds to the µs; a chart draws no finer).
fn num(v: f64) -> J {
    if !v.is_finite() {
        return J::Null;
    }
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        return J::from(v as i64);
    }
    let r = (v * 1e6).round() / 1e6;
    serde_json::Number::from_f64(r).map_or(J::Null, J::Number)
}

/// One recording as the charts place it on the common x axis.
struct Src<'a> {
    rec: &'a Recording,
    /// Added to `ts_ns` gives x in ns (Unix ns, or ns from its start).
    off: i64,
    host: String,
    /// Its filter (a window is on its own clock).
    filter: Filter,
    lo: i64,
    hi: i64,
}

/// Time buckets over every recording's window.
#[derive(Debug, Clone, Copy)]
struct Grid {
    from: i64,
    step: i64,
    n: i64,
}

impl Grid {
    fn over(srcs: &[Src], buckets: i64, min_step: i64) -> Grid {
        let from = srcs.iter().map(|s| s.lo + s.off).min().unwrap_or(0);
        let to = srcs.iter().map(|s| s.hi + s.off).max().unwrap_or(from);
        let span = (to - from).max(1);
        let step = ((span + buckets - 1) / buckets).max(min_step).max(1);
        Grid {
            from,
            step,
            n: span / step + 1,
        }
    }

    /// The bucket of each row, as a column; rows outside the grid dropped.
    fn bucketed(&self, lf: LazyFrame, off: i64) -> LazyFrame {
        let b = (col("ts_ns").cast(DataType::Int64) + lit(off - self.from))
            .floor_div(lit(self.step))
            .alias(BUCKET);
        lf.with_column(b).filter(
            col(BUCKET)
                .gt_eq(lit(0i64))
                .and(col(BUCKET).lt(lit(self.n))),
        )
    }

    /// x of a bucket's start, and of its middle, in seconds (to the µs:
    /// a bucket is at least 1 ms, so its middle needs less than a ms).
    fn x(&self, b: i64, half: bool) -> f64 {
        let ns = self.from + b * self.step + if half { self.step / 2 } else { 0 };
        secs(ns)
    }

    fn level_xs(&self) -> Vec<f64> {
        (0..self.n)
            .flat_map(|b| [self.x(b, false), self.x(b, true)])
            .collect()
    }

    fn rate_xs(&self) -> Vec<f64> {
        (0..self.n).map(|b| self.x(b, false)).collect()
    }

    /// Seconds in bucket `b` of a recording whose window ends at x `end`
    /// (ns): the last bucket may be cut short.
    fn secs(&self, b: i64, end: i64) -> f64 {
        let begin = self.from + b * self.step;
        let len = (end.min(begin + self.step) - begin)
            .max(self.step / 100)
            .max(1);
        len as f64 / 1e9
    }

    /// Whether bucket `b` overlaps the recording's window (a rate is 0
    /// there when nothing happened, and unknown outside it).
    fn covers(&self, b: i64, s: &Src) -> bool {
        let begin = self.from + b * self.step;
        begin < s.hi + s.off && begin + self.step > s.lo + s.off
    }
}

/// What the charts share: the recordings, the axis, labels.
struct Ctx<'a> {
    srcs: Vec<Src<'a>>,
    x: XAxis,
    /// Several recordings: series and markers name their host.
    fleet: bool,
}

impl Ctx<'_> {
    fn who(&self, s: &Src, what: &str) -> String {
        if self.fleet {
            format!("{}:{what}", s.host)
        } else {
            what.to_string()
        }
    }
}

/// Every chart the recordings have data for, in page order.
pub fn build(report: &Report, fleet: &Fleet, filters: &[Filter]) -> Result<Vec<Chart>, ReadError> {
    let anchored = fleet
        .recordings
        .iter()
        .all(|r| r.wall_offset_ns().is_some());
    let srcs: Vec<Src> = fleet
        .recordings
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            // One filter per recording; a caller with one for all gives one.
            let filter = filters
                .get(i)
                .or(filters.first())
                .cloned()
                .unwrap_or_default();
            let (lo, hi) = rec.window(&filter);
            Src {
                rec,
                off: if anchored {
                    rec.wall_offset_ns().unwrap_or_default()
                } else {
                    -rec.start_ns
                },
                host: rec.host().to_string(),
                filter,
                lo,
                hi,
            }
        })
        .collect();
    let cx = Ctx {
        srcs,
        x: if anchored { XAxis::Wall } else { XAxis::Offset },
        fleet: fleet.recordings.len() > 1,
    };
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    // The charts of the sections the report has (all, or `--section`'s).
    let has = |id: &str| report.sections.iter().any(|s| s.id == id);
    let oom = if has("oom") {
        oom_marks(&cx)?
    } else {
        OomMarks {
            marks: Vec::new(),
            victims: Vec::new(),
        }
    };
    if has("growth") {
        out.extend(rss(&cx, &oom)?);
    }
    if has("paf") {
        out.extend(zones(&cx)?);
    }
    if has("reclaim") {
        out.extend(reclaim(&cx)?);
        out.extend(latency(
            &cx,
            "reclaim_latency",
            "Reclaim latency",
            "reclaim_end",
            "reclaimer",
        )?);
    }
    if has("compaction") {
        out.extend(latency(
            &cx,
            "compaction_latency",
            "Compaction latency",
            "compaction_run",
            "runner",
        )?);
    }
    if has("faults") {
        out.extend(faults(&cx)?);
    }
    if has("swap") {
        out.extend(swap(&cx)?);
    }
    // From the growth and leaks sections' own tables.
    out.extend(leaks(&cx, report, &oom)?);
    tracing::debug!(
        charts = out.len(),
        ms = t.elapsed().as_millis() as u64,
        "html charts"
    );
    Ok(out)
}

/// A process: its recording (index) and tgid.
type Proc = (usize, u64);

/// The series of processes' RSS (anon + file + shmem), min and max per
/// bucket; `procs` in the order to draw, with their labels.
fn rss_series(cx: &Ctx, grid: &Grid, procs: &[(Proc, String)]) -> Result<Vec<Series>, ReadError> {
    let mut out: Vec<Series> = procs
        .iter()
        .map(|(_, label)| Series {
            label: label.clone(),
            axis: 0,
            values: vec![None; (grid.n * 2) as usize],
            dash: false,
        })
        .collect();
    for (ri, s) in cx.srcs.iter().enumerate() {
        let tgids: Vec<u64> = procs
            .iter()
            .filter(|((r, _), _)| *r == ri)
            .map(|((_, t), _)| *t)
            .collect();
        if tgids.is_empty() || !s.rec.may_have("procstat") {
            continue;
        }
        let lf = s.rec.scan(
            "procstat",
            &s.filter,
            &["ts_ns", "tgid", "rss_anon", "rss_file", "rss_shmem"],
        )?;
        let lf = lf
            .filter(col("tgid").cast(DataType::UInt64).is_in(
                lit(Series_::new("tgids".into(), tgids.clone())).implode(false),
                false,
            ))
            .with_column(rss_expr().alias("rss"));
        let q = grid
            .bucketed(lf, s.off)
            .group_by([col("tgid").cast(DataType::UInt64), col(BUCKET)])
            .agg([col("rss").min().alias("lo"), col("rss").max().alias("hi")]);
        let fr = s.rec.fetch("procstat", q)?;
        let (tg, b, lo, hi) = (
            fr.u64_or0("tgid")?,
            fr.i64_or0(BUCKET)?,
            fr.f64("lo")?,
            fr.f64("hi")?,
        );
        let index: HashMap<u64, usize> = procs
            .iter()
            .enumerate()
            .filter(|(_, ((r, _), _))| *r == ri)
            .map(|(i, ((_, t), _))| (*t, i))
            .collect();
        for i in 0..fr.height() {
            let (Some(&k), Ok(bi)) = (index.get(&tg[i]), usize::try_from(b[i])) else {
                continue;
            };
            out[k].values[2 * bi] = lo[i];
            out[k].values[2 * bi + 1] = hi[i];
        }
    }
    Ok(out)
}

/// One recording's allocations, read once for all its series.
fn leaks_of<'l>(
    loaded: &'l mut HashMap<usize, Leaks>,
    ri: usize,
    s: &Src,
) -> Result<&'l Leaks, ReadError> {
    Ok(match loaded.entry(ri) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Leaks::load(s.rec, &s.filter, Sides::default())?)
        }
    })
}

/// A level series from a running value's changes (ts_ns, value after it,
/// in time order): per bucket of the recording's window, the minimum and
/// maximum it held there, the value carried in from before included.
fn step_levels(grid: &Grid, s: &Src, steps: &[(i64, f64)], label: String, dash: bool) -> Series {
    let mut values = vec![None; (grid.n * 2) as usize];
    let bucket = |ts: i64| (ts + s.off - grid.from).div_euclid(grid.step);
    let (first, last) = (bucket(s.lo).max(0), bucket(s.hi).min(grid.n - 1));
    let mut now = 0.0;
    let mut next = steps.iter().peekable();
    for b in first..=last {
        let (mut lo, mut hi) = (now, now);
        while let Some(&&(ts, v)) = next.peek() {
            if bucket(ts) > b {
                break;
            }
            now = v;
            lo = f64::min(lo, v);
            hi = f64::max(hi, v);
            next.next();
        }
        if let Ok(i) = usize::try_from(b) {
            values[2 * i] = Some(lo);
            values[2 * i + 1] = Some(hi);
        }
    }
    Series {
        label,
        axis: 0,
        values,
        dash,
    }
}

type Series_ = polars::prelude::Series;

/// Total RSS, in integers (the sum of three byte counts fits a u64).
fn rss_expr() -> Expr {
    col("rss_anon").cast(DataType::UInt64)
        + col("rss_file").cast(DataType::UInt64)
        + col("rss_shmem").cast(DataType::UInt64)
}

/// Per recording, the processes with the largest RSS peak: (tgid, peak,
/// name). The name is the main thread's (its `comm` where `pid == tgid`),
/// else any thread's.
fn top_by_peak(s: &Src, f: &Filter, k: usize) -> Result<Vec<(u64, f64, String)>, ReadError> {
    if !s.rec.may_have("procstat") {
        return Ok(Vec::new());
    }
    // Integers only over the whole table (polars' fast aggregations); the
    // names come from the few processes kept.
    let lf = s.rec.scan(
        "procstat",
        f,
        &["tgid", "rss_anon", "rss_file", "rss_shmem"],
    )?;
    let q = lf
        .group_by([col("tgid").cast(DataType::UInt64)])
        .agg([rss_expr().max().alias("peak")])
        .sort(
            ["peak"],
            SortMultipleOptions::default()
                .with_order_descending(true)
                .with_nulls_last(true),
        )
        .limit(k as u32);
    let fr = s.rec.fetch("procstat", q)?;
    let (tg, peak) = (fr.u64_or0("tgid")?, fr.f64("peak")?);
    let lf = s.rec.scan("procstat", f, &["pid", "tgid", "comm"])?;
    let q = lf
        .filter(col("tgid").cast(DataType::UInt64).is_in(
            lit(Series_::new("tgids".into(), tg.clone())).implode(false),
            false,
        ))
        .with_column(
            when(col("pid").eq(col("tgid")))
                .then(col("comm"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("main"),
        )
        .group_by([col("tgid").cast(DataType::UInt64)])
        .agg([
            col("main").drop_nulls().last().alias("main"),
            col("comm").last().alias("any"),
        ]);
    let fr = s.rec.fetch("procstat", q)?;
    let (ntg, main, any) = (
        fr.u64_or0("tgid")?,
        fr.str("main")?,
        fr.str_or_empty("any")?,
    );
    let names: HashMap<u64, String> = (0..fr.height())
        .map(|i| (ntg[i], main[i].clone().unwrap_or_else(|| any[i].clone())))
        .collect();
    Ok(tg
        .iter()
        .zip(peak)
        .map(|(t, p)| {
            (
                *t,
                p.unwrap_or(0.0),
                names.get(t).cloned().unwrap_or_default(),
            )
        })
        .collect())
}

/// OOM kills, one marker per bucket of the level grid: (recording, x,
/// label), and the victims' tgids.
struct OomMarks {
    marks: Vec<(usize, i64, String)>,
    victims: Vec<(usize, u64, String)>,
}

fn oom_marks(cx: &Ctx) -> Result<OomMarks, ReadError> {
    let mut out = OomMarks {
        marks: Vec::new(),
        victims: Vec::new(),
    };
    for (ri, s) in cx.srcs.iter().enumerate() {
        if !s.rec.may_have("oom_victim") {
            continue;
        }
        let lf = s.rec.scan(
            "oom_victim",
            &s.filter,
            &["ts_ns", "victim_pid", "victim_comm"],
        )?;
        // One kill per victim is the rule; a flood of rows (a hostile or
        // odd file) is bounded by taking the first few.
        let q = lf
            .sort(["ts_ns"], SortMultipleOptions::default())
            .limit(MAX_MARKS as u32);
        let fr = s.rec.fetch("oom_victim", q)?;
        let (ts, pid, comm) = (
            fr.i64_or0("ts_ns")?,
            fr.u64_or0("victim_pid")?,
            fr.str("victim_comm")?,
        );
        for i in 0..fr.height() {
            let name = comm[i].clone().unwrap_or_else(|| "?".into());
            let label = format!("OOM kill: {} ({})", cx.who(s, &name), pid[i]);
            out.marks.push((ri, ts[i] + s.off, label));
            if !out.victims.iter().any(|v| v.0 == ri && v.1 == pid[i]) {
                out.victims.push((ri, pid[i], name));
            }
        }
    }
    Ok(out)
}

/// x in ns as seconds, to the µs.
fn secs(ns: i64) -> f64 {
    (ns as f64 / 1e3).round() / 1e6
}

fn to_marks(m: &[(usize, i64, String)], kind: &'static str) -> Vec<Mark> {
    m.iter()
        .take(MAX_MARKS)
        .map(|(_, x, label)| Mark {
            x: secs(*x),
            label: label.clone(),
            kind,
        })
        .collect()
}

/// RSS over time of the processes with the largest peaks, and of OOM
/// victims, with the kills marked.
fn rss(cx: &Ctx, oom: &OomMarks) -> Result<Option<Chart>, ReadError> {
    let mut cands: Vec<(Proc, f64, String)> = Vec::new();
    for (ri, s) in cx.srcs.iter().enumerate() {
        for (t, peak, name) in top_by_peak(s, &s.filter, MAX_SERIES)? {
            cands.push(((ri, t), peak, name));
        }
    }
    if cands.is_empty() {
        return Ok(None);
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1));
    // The victims first: their growth before the kill is the question.
    let mut procs: Vec<(Proc, String)> = Vec::new();
    for (ri, t, name) in &oom.victims {
        if procs.len() < MAX_SERIES / 2 {
            procs.push(((*ri, *t), name.clone()));
        }
    }
    for (p, _, name) in &cands {
        if procs.len() >= MAX_SERIES {
            break;
        }
        if !procs.iter().any(|(q, _)| q == p) {
            procs.push((*p, name.clone()));
        }
    }
    let labelled: Vec<(Proc, String)> = procs
        .iter()
        .map(|((ri, t), name)| {
            let s = &cx.srcs[*ri];
            ((*ri, *t), format!("{} ({t})", cx.who(s, name)))
        })
        .collect();
    let grid = Grid::over(&cx.srcs, LEVEL_BUCKETS, 1_000_000);
    let series = rss_series(cx, &grid, &labelled)?;
    let chart = Chart {
        id: "rss".into(),
        title: "RSS per process".into(),
        note: format!(
            "rss_anon + rss_file + rss_shmem of {} with the largest peak{}; \
             each point pair is the minimum and maximum of a {} bucket.",
            match series.len() {
                1 => "the process".to_string(),
                n => format!("the {n} processes"),
            },
            if oom.victims.is_empty() {
                String::new()
            } else {
                ", OOM victims first, kills marked".into()
            },
            duration(grid.step)
        ),
        kind: Kind::Line,
        x: cx.x,
        y_unit: "bytes",
        y2_unit: None,
        xs: grid.level_xs(),
        series,
        marks: to_marks(&oom.marks, "oom"),
    };
    Ok((chart.points() > 0).then_some(chart))
}

/// `1.234 s`, `25 ms`.
fn duration(ns: i64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} µs", ns as f64 / 1e3)
    }
}

/// Allocation failures, one marker per bucket: (recording, x, label).
fn failure_marks(cx: &Ctx, grids: &[Grid]) -> Result<Vec<(usize, i64, String)>, ReadError> {
    let mut out = Vec::new();
    for ((ri, s), grid) in cx.srcs.iter().enumerate().zip(grids) {
        if !s.rec.may_have("paf") {
            continue;
        }
        let lf = s.rec.scan("paf", &s.filter, &["ts_ns", "comm", "order"])?;
        let q = grid
            .bucketed(lf, s.off)
            .group_by([col(BUCKET)])
            .agg([
                len().cast(DataType::UInt64).alias(COUNT),
                col("ts_ns").min().alias("first"),
                col("comm")
                    .sort_by([col("ts_ns")], Default::default())
                    .first()
                    .alias("comm"),
                col("order").cast(DataType::Int64).min().alias("omin"),
                col("order").cast(DataType::Int64).max().alias("omax"),
            ])
            .sort([BUCKET], SortMultipleOptions::default())
            .limit(MAX_MARKS as u32);
        let fr = s.rec.fetch("paf", q)?;
        let (n, first, comm, omin, omax) = (
            fr.u64_or0(COUNT)?,
            fr.i64_or0("first")?,
            fr.str_or_empty("comm")?,
            fr.i64_or0("omin")?,
            fr.i64_or0("omax")?,
        );
        for i in 0..fr.height() {
            let order = if omin[i] == omax[i] {
                format!("order {}", omin[i])
            } else {
                format!("orders {}-{}", omin[i], omax[i])
            };
            let label = if n[i] == 1 {
                format!("allocation failure: {}, {order}", cx.who(s, &comm[i]))
            } else {
                format!(
                    "{} allocation failures, the first by {}, {order}",
                    n[i],
                    cx.who(s, &comm[i])
                )
            };
            out.push((ri, first[i] + s.off, label));
        }
    }
    Ok(out)
}

/// Free pages against the min/low/high watermarks, per zone (those that
/// came closest to their low watermark), allocation failures marked.
fn zones(cx: &Ctx) -> Result<Vec<Chart>, ReadError> {
    // A zone is one recording's: its chart spans that recording alone.
    let grids: Vec<Grid> = cx
        .srcs
        .iter()
        .map(|s| Grid::over(std::slice::from_ref(s), LEVEL_BUCKETS, 1_000_000))
        .collect();
    // (recording, node, zone) -> per bucket (free lo, free hi, min, low, high).
    type Cells = Vec<Option<[f64; 5]>>;
    let mut zs: BTreeMap<(usize, u64, String), Cells> = BTreeMap::new();
    for ((ri, s), grid) in cx.srcs.iter().enumerate().zip(&grids) {
        if !s.rec.may_have("zone") {
            continue;
        }
        let lf = s.rec.scan(
            "zone",
            &s.filter,
            &["ts_ns", "node", "zone", "free", "min", "low", "high"],
        )?;
        let q = grid
            .bucketed(lf, s.off)
            .group_by([col("node").cast(DataType::UInt64), col("zone"), col(BUCKET)])
            .agg([
                col("free").cast(DataType::Float64).min().alias("lo"),
                col("free").cast(DataType::Float64).max().alias("hi"),
                col("min").cast(DataType::Float64).max().alias("wmin"),
                col("low").cast(DataType::Float64).max().alias("wlow"),
                col("high").cast(DataType::Float64).max().alias("whigh"),
            ]);
        let fr = s.rec.fetch("zone", q)?;
        let (node, zone, b) = (
            fr.u64_or0("node")?,
            fr.str_or_empty("zone")?,
            fr.i64_or0(BUCKET)?,
        );
        let cols = [
            fr.f64("lo")?,
            fr.f64("hi")?,
            fr.f64("wmin")?,
            fr.f64("wlow")?,
            fr.f64("whigh")?,
        ];
        for i in 0..fr.height() {
            let Ok(bi) = usize::try_from(b[i]) else {
                continue;
            };
            let cells = zs
                .entry((ri, node[i], zone[i].clone()))
                .or_insert_with(|| vec![None; grid.n as usize]);
            cells[bi] = Some(cols.clone().map(|c| c[i].unwrap_or(0.0)));
        }
    }
    // The zones nearest their low watermark first; empty zones (no
    // watermarks) have nothing to show.
    let mut ranked: Vec<(f64, (usize, u64, String))> = zs
        .iter()
        .filter(|(_, c)| c.iter().flatten().any(|v| v[4] > 0.0))
        .map(|(k, c)| {
            let closest = c
                .iter()
                .flatten()
                .map(|v| v[0] / v[3].max(1.0))
                .fold(f64::INFINITY, f64::min);
            (closest, k.clone())
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let all = ranked.len();
    let fails = if ranked.is_empty() {
        Vec::new()
    } else {
        failure_marks(cx, &grids)?
    };
    let mut out = Vec::new();
    for (_, key) in ranked.into_iter().take(MAX_ZONES) {
        let (ri, node, zone) = &key;
        let cells = &zs[&key];
        let s = &cx.srcs[*ri];
        let grid = &grids[*ri];
        let mut series: Vec<Series> = ["free", "min", "low", "high"]
            .iter()
            .map(|l| Series {
                label: (*l).to_string(),
                axis: 0,
                values: vec![None; (grid.n * 2) as usize],
                dash: *l != "free",
            })
            .collect();
        for (bi, c) in cells.iter().enumerate() {
            let Some(v) = c else { continue };
            series[0].values[2 * bi] = Some(v[0]);
            series[0].values[2 * bi + 1] = Some(v[1]);
            for w in 0..3 {
                series[w + 1].values[2 * bi] = Some(v[w + 2]);
                series[w + 1].values[2 * bi + 1] = Some(v[w + 2]);
            }
        }
        let marks: Vec<(usize, i64, String)> =
            fails.iter().filter(|m| m.0 == *ri).cloned().collect();
        let name = cx.who(s, &format!("node {node} {zone}"));
        out.push(Chart {
            id: format!("zone-{}", out.len()),
            title: format!("Free pages against the watermarks: {name}"),
            note: format!(
                "Free pages (minimum and maximum per {} bucket) and the min/low/high watermarks \
                 (boost included){}.{}",
                duration(grid.step),
                if marks.is_empty() {
                    ""
                } else {
                    "; allocation failures marked"
                },
                if all > MAX_ZONES {
                    format!(
                        " The {MAX_ZONES} of {all} zones whose free pages came nearest their low watermark."
                    )
                } else {
                    String::new()
                }
            ),
            kind: Kind::Line,
            x: cx.x,
            y_unit: "pages",
            y2_unit: None,
            xs: grid.level_xs(),
            series,
            marks: to_marks(&marks, "fail"),
        });
    }
    Ok(out)
}

/// (bucket, [row count, sums...]) of one recording.
type Sums = Vec<(usize, Vec<f64>)>;
/// A value per bucket.
type PerBucket = HashMap<usize, f64>;

/// Per recording, per rate bucket: the sums of `sums` (column names) of
/// `lf`'s rows (plus the row count, first).
fn bucket_sums(
    s: &Src,
    table: &str,
    lf: LazyFrame,
    grid: &Grid,
    sums: &[&str],
) -> Result<Sums, ReadError> {
    // Sums in the columns' own integer types; floats only per bucket.
    let mut aggs = vec![len().alias(COUNT)];
    for c in sums {
        aggs.push(col(*c).sum().alias(*c));
    }
    let q = grid.bucketed(lf, s.off).group_by([col(BUCKET)]).agg(aggs);
    let fr = s.rec.fetch(table, q)?;
    let b = fr.i64_or0(BUCKET)?;
    let mut cols = vec![fr.f64(COUNT)?];
    for c in sums {
        cols.push(fr.f64(c)?);
    }
    Ok((0..fr.height())
        .filter_map(|i| {
            let bi = usize::try_from(b[i]).ok()?;
            Some((bi, cols.iter().map(|c| c[i].unwrap_or(0.0)).collect()))
        })
        .collect())
}

/// A rate series of one recording: `per_bucket` values over each bucket's
/// seconds, 0 in its window where nothing happened, null outside it.
fn rate_series(grid: &Grid, s: &Src, label: String, per_bucket: &HashMap<usize, f64>) -> Series {
    let values = (0..grid.n)
        .map(|b| {
            grid.covers(b, s).then(|| {
                per_bucket.get(&(b as usize)).copied().unwrap_or(0.0) / grid.secs(b, s.hi + s.off)
            })
        })
        .collect();
    Series {
        label,
        axis: 0,
        values,
        dash: false,
    }
}

/// The recordings with the most of something, at most [`MAX_SERIES`] /
/// `per` of them (each gives `per` series).
fn busiest(totals: &[(usize, f64)], per: usize) -> BTreeSet<usize> {
    let mut t: Vec<(usize, f64)> = totals.iter().filter(|t| t.1 > 0.0).copied().collect();
    t.sort_by(|a, b| b.1.total_cmp(&a.1));
    t.into_iter()
        .take((MAX_SERIES / per.max(1)).max(1))
        .map(|t| t.0)
        .collect()
}

/// Pages scanned and reclaimed per second (inactive LRU), and their ratio.
fn reclaim(cx: &Ctx) -> Result<Option<Chart>, ReadError> {
    let grid = Grid::over(&cx.srcs, RATE_BUCKETS, MIN_RATE_STEP);
    let mut per: Vec<(usize, Sums)> = Vec::new();
    for (ri, s) in cx.srcs.iter().enumerate() {
        if !s.rec.may_have("lru_inactive") {
            continue;
        }
        let lf = s.rec.scan(
            "lru_inactive",
            &s.filter,
            &["ts_ns", "nr_scanned", "nr_reclaimed"],
        )?;
        per.push((
            ri,
            bucket_sums(
                s,
                "lru_inactive",
                lf,
                &grid,
                &["nr_scanned", "nr_reclaimed"],
            )?,
        ));
    }
    let totals: Vec<(usize, f64)> = per
        .iter()
        // Passes, not pages: some kernels report no scanned pages.
        .map(|(ri, v)| (*ri, v.iter().map(|x| x.1[0]).sum()))
        .collect();
    let keep = busiest(&totals, 3);
    let mut series = Vec::new();
    for (ri, rows) in &per {
        if !keep.contains(ri) {
            continue;
        }
        let s = &cx.srcs[*ri];
        let scanned: HashMap<usize, f64> = rows.iter().map(|(b, v)| (*b, v[1])).collect();
        let reclaimed: HashMap<usize, f64> = rows.iter().map(|(b, v)| (*b, v[2])).collect();
        series.push(rate_series(&grid, s, cx.who(s, "scanned/s"), &scanned));
        series.push(rate_series(&grid, s, cx.who(s, "reclaimed/s"), &reclaimed));
        let eff = (0..grid.n as usize)
            .map(|b| {
                let sc = scanned.get(&b).copied().unwrap_or(0.0);
                (sc > 0.0).then(|| reclaimed.get(&b).copied().unwrap_or(0.0) / sc)
            })
            .collect();
        series.push(Series {
            label: cx.who(s, "efficiency"),
            axis: 1,
            values: eff,
            dash: true,
        });
    }
    if series.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        id: "reclaim".into(),
        title: "Reclaim: pages scanned and reclaimed".into(),
        note: format!(
            "Inactive-LRU pages scanned and reclaimed per second (all reclaimers) in {} buckets; \
             efficiency (right axis) is reclaimed / scanned in each bucket.",
            duration(grid.step)
        ),
        kind: Kind::Step,
        x: cx.x,
        y_unit: "pages/s",
        y2_unit: Some("ratio"),
        xs: grid.rate_xs(),
        series,
        marks: Vec::new(),
    }))
}

/// Half-octave log buckets of `duration_ns` per `by`: how many passes took
/// 2^(k/2) ns and up.
fn latency(
    cx: &Ctx,
    id: &str,
    title: &str,
    table: &str,
    by: &str,
) -> Result<Option<Chart>, ReadError> {
    let mut counts: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for s in &cx.srcs {
        if !s.rec.may_have(table) {
            continue;
        }
        let lf = s.rec.scan(table, &s.filter, &[by, "duration_ns"])?;
        let k = (col("duration_ns").cast(DataType::Float64).log(lit(2.0)) * lit(2.0))
            .floor()
            .cast(DataType::Int64)
            .alias("k");
        let q = lf
            .filter(col("duration_ns").gt(lit(0i64)))
            .with_column(k)
            .group_by([col(by), col("k")])
            .agg([len().cast(DataType::Float64).alias(COUNT)]);
        let fr = s.rec.fetch(table, q)?;
        let (who, k, n) = (fr.str_or_empty(by)?, fr.i64_or0("k")?, fr.f64(COUNT)?);
        for i in 0..fr.height() {
            let label = cx.who(s, &who[i]);
            let c = n[i].unwrap_or(0.0);
            *counts
                .entry(label.clone())
                .or_default()
                .entry(k[i])
                .or_default() += c;
            *totals.entry(label).or_default() += c;
        }
    }
    if counts.is_empty() {
        return Ok(None);
    }
    let mut order: Vec<(String, f64)> = totals.into_iter().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(MAX_SERIES);
    let (lo, hi) = order
        .iter()
        .flat_map(|(l, _)| counts[l].keys().copied())
        .fold((i64::MAX, i64::MIN), |(a, b), k| (a.min(k), b.max(k)));
    let xs: Vec<f64> = (lo..=hi).map(|k| k as f64).collect();
    let series = order
        .iter()
        .map(|(label, _)| Series {
            label: label.clone(),
            axis: 0,
            values: (lo..=hi)
                .map(|k| Some(counts[label].get(&k).copied().unwrap_or(0.0)))
                .collect(),
            dash: false,
        })
        .collect();
    Ok(Some(Chart {
        id: id.into(),
        title: format!("{title} distribution"),
        note: format!(
            "Passes per duration bucket ({table}.duration_ns, half-octave buckets: each is \
             about 1.41 times the one before), by {by}."
        ),
        kind: Kind::Histogram,
        x: XAxis::Log2Ns,
        y_unit: "count",
        y2_unit: None,
        xs,
        series,
        marks: Vec::new(),
    }))
}

/// Page faults per second, minor and major.
fn faults(cx: &Ctx) -> Result<Option<Chart>, ReadError> {
    let grid = Grid::over(&cx.srcs, RATE_BUCKETS, MIN_RATE_STEP);
    let mut per = Vec::new();
    for (ri, s) in cx.srcs.iter().enumerate() {
        if !s.rec.may_have("fault") {
            continue;
        }
        let lf = s
            .rec
            .scan("fault", &s.filter, &["ts_ns", "major"])?
            .with_column(col("major").cast(DataType::UInt64).alias("maj"));
        per.push((ri, bucket_sums(s, "fault", lf, &grid, &["maj"])?));
    }
    let totals: Vec<(usize, f64)> = per
        .iter()
        .map(|(ri, v)| (*ri, v.iter().map(|x| x.1[0]).sum()))
        .collect();
    let keep = busiest(&totals, 2);
    let mut series = Vec::new();
    for (ri, rows) in &per {
        if !keep.contains(ri) {
            continue;
        }
        let s = &cx.srcs[*ri];
        let minor: HashMap<usize, f64> = rows.iter().map(|(b, v)| (*b, v[0] - v[1])).collect();
        let major: HashMap<usize, f64> = rows.iter().map(|(b, v)| (*b, v[1])).collect();
        series.push(rate_series(&grid, s, cx.who(s, "minor/s"), &minor));
        series.push(rate_series(&grid, s, cx.who(s, "major/s"), &major));
    }
    if series.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        id: "faults".into(),
        title: "Page faults".into(),
        note: format!(
            "Recorded page faults per second, minor and major, in {} buckets.",
            duration(grid.step)
        ),
        kind: Kind::Step,
        x: cx.x,
        y_unit: "/s",
        y2_unit: None,
        xs: grid.rate_xs(),
        series,
        marks: Vec::new(),
    }))
}

/// Swap-ins (faults that read a page back) and pages swapped out, per second.
fn swap(cx: &Ctx) -> Result<Option<Chart>, ReadError> {
    let grid = Grid::over(&cx.srcs, RATE_BUCKETS, MIN_RATE_STEP);
    let mut per: Vec<(usize, PerBucket, PerBucket)> = Vec::new();
    for (ri, s) in cx.srcs.iter().enumerate() {
        let (has_in, has_out) = (s.rec.may_have("swap_in"), s.rec.may_have("swap_out"));
        if !has_in && !has_out {
            continue;
        }
        let mut ins = HashMap::new();
        if has_in {
            let lf = s.rec.scan("swap_in", &s.filter, &["ts_ns"])?;
            for (b, v) in bucket_sums(s, "swap_in", lf, &grid, &[])? {
                ins.insert(b, v[0]);
            }
        }
        let mut outs = HashMap::new();
        if has_out {
            // As the swap section: a page is swapped out by whoever reclaims,
            // so --pid/--comm do not apply.
            let lf = s
                .rec
                .scan_with("swap_out", &s.filter, &["ts_ns", "pages"], false)?;
            for (b, v) in bucket_sums(s, "swap_out", lf, &grid, &["pages"])? {
                outs.insert(b, v[1]);
            }
        }
        per.push((ri, ins, outs));
    }
    let totals: Vec<(usize, f64)> = per
        .iter()
        .map(|(ri, i, o)| (*ri, i.values().sum::<f64>() + o.values().sum::<f64>()))
        .collect();
    let keep = busiest(&totals, 2);
    let mut series = Vec::new();
    for (ri, ins, outs) in &per {
        if !keep.contains(ri) {
            continue;
        }
        let s = &cx.srcs[*ri];
        series.push(rate_series(&grid, s, cx.who(s, "swapped in/s"), ins));
        series.push(rate_series(&grid, s, cx.who(s, "swapped out/s"), outs));
    }
    if series.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        id: "swap".into(),
        title: "Swap in and out".into(),
        note: format!(
            "Pages read back from swap (swap-in faults) and pages written out, per second, in {} \
             buckets.",
            duration(grid.step)
        ),
        kind: Kind::Step,
        x: cx.x,
        y_unit: "pages/s",
        y2_unit: None,
        xs: grid.rate_xs(),
        series,
        marks: Vec::new(),
    }))
}

/// The rows of a report table with the named column's values.
fn cells<'t>(t: &'t Table, name: &str) -> Option<impl Iterator<Item = &'t Value> + 't> {
    let j = t.columns.iter().position(|c| c.name == name)?;
    Some(t.rows.iter().map(move |r| &r[j]))
}

/// The processes (host or "", tgid, name) of a table's rows that `keep`
/// picks, each once.
fn add_procs(wanted: &mut Vec<(String, u64, String)>, t: &Table, keep: impl Fn(usize) -> bool) {
    let (Some(tg), Some(cm)) = (cells(t, "tgid"), cells(t, "comm")) else {
        return;
    };
    let hosts: Vec<String> = cells(t, "host").map_or_else(
        || vec![String::new(); t.rows.len()],
        |h| h.map(|v| v.plain()).collect(),
    );
    for (i, (tg, cm)) in tg.zip(cm).enumerate() {
        let Some(tgid) = tg.as_f64() else { continue };
        if keep(i) && !wanted.iter().any(|w| w.0 == hosts[i] && w.1 == tgid as u64) {
            wanted.push((hosts[i].clone(), tgid as u64, cm.plain()));
        }
    }
}

/// RSS over time of the growth section's leak suspects and of the
/// processes holding the most outstanding heap (memleak), each beside its
/// outstanding heap where memleak recorded it; and the kernel allocations
/// outstanding (kmemleak).
fn leaks(cx: &Ctx, report: &Report, oom: &OomMarks) -> Result<Option<Chart>, ReadError> {
    let find = |sec: &str, tab: &str| {
        report
            .sections
            .iter()
            .filter(|s| s.id == sec)
            .flat_map(|s| s.tables.iter())
            .find(|t| t.id == tab)
    };
    // (host or "", tgid, name)
    let mut wanted: Vec<(String, u64, String)> = Vec::new();
    let mut why = Vec::new();
    if let Some(t) = find("growth", "processes") {
        if let Some(flags) = cells(t, "leak_suspect") {
            let flags: Vec<bool> = flags.map(|v| *v == Value::Bool(true)).collect();
            if flags.iter().any(|&b| b) {
                why.push("growth's leak suspects");
            }
            add_procs(&mut wanted, t, |i| flags[i]);
        }
    }
    let before = wanted.len();
    if let Some(t) = find("leaks", "user_outstanding") {
        add_procs(&mut wanted, t, |_| true);
    }
    if wanted.len() > before {
        why.push("the processes holding the most outstanding heap (memleak)");
    }
    let kernel = find("leaks", "kernel_outstanding").is_some_and(|t| !t.rows.is_empty());
    wanted.truncate(MAX_SERIES);
    if wanted.is_empty() && !kernel {
        return Ok(None);
    }
    let mut procs: Vec<(Proc, String)> = Vec::new();
    for (host, tgid, name) in &wanted {
        for (ri, s) in cx.srcs.iter().enumerate() {
            if host.is_empty() || *host == s.host {
                procs.push(((ri, *tgid), format!("{} ({tgid})", cx.who(s, name))));
            }
        }
    }
    procs.truncate(MAX_SERIES);
    let grid = Grid::over(&cx.srcs, LEVEL_BUCKETS, 1_000_000);
    let rss = rss_series(cx, &grid, &procs)?;
    // Each process's RSS, then its outstanding heap; the kernel's last.
    let mut series = Vec::new();
    let (mut heaps, mut kernels) = (0usize, 0usize);
    let mut loaded: HashMap<usize, Leaks> = HashMap::new();
    for (((ri, tgid), label), rss) in procs.iter().zip(rss) {
        series.push(rss);
        let s = &cx.srcs[*ri];
        if !s.rec.may_have("user_alloc") {
            continue;
        }
        let l = leaks_of(&mut loaded, *ri, s)?;
        let owner = u32::try_from(*tgid).ok();
        let steps = l.outstanding_steps(Side::User, owner);
        if !steps.is_empty() {
            series.push(step_levels(&grid, s, &steps, format!("{label} heap"), true));
            heaps += 1;
        }
    }
    if kernel {
        for (ri, s) in cx.srcs.iter().enumerate() {
            if !s.rec.may_have("kernel_alloc") {
                continue;
            }
            let l = leaks_of(&mut loaded, ri, s)?;
            let steps = l.outstanding_steps(Side::Kernel, None);
            if !steps.is_empty() {
                let label = cx.who(s, "kernel allocations outstanding");
                series.push(step_levels(&grid, s, &steps, label, true));
                kernels += 1;
            }
        }
    }
    series.truncate(MAX_SERIES);
    let mut shown = Vec::new();
    if !wanted.is_empty() {
        shown.push(format!("RSS of {}", why.join(" and ")));
    }
    if heaps > 0 {
        shown.push(
            "dashed, each one's heap outstanding (allocated in the window and not yet freed, \
             as memleak recorded it)"
                .to_string(),
        );
    }
    if kernels > 0 {
        shown.push("the kernel allocations outstanding (kmemleak), dashed".to_string());
    }
    let chart = Chart {
        id: "leaks".into(),
        title: if heaps + kernels == 0 {
            "Leak suspects: RSS over time".into()
        } else {
            "Leak suspects: RSS and outstanding allocations over time".into()
        },
        note: format!(
            "{}; minimum and maximum per {} bucket.",
            shown.join("; "),
            duration(grid.step)
        ),
        kind: Kind::Line,
        x: cx.x,
        y_unit: "bytes",
        y2_unit: None,
        xs: grid.level_xs(),
        series,
        marks: to_marks(&oom.marks, "oom"),
    };
    Ok((chart.points() > 0).then_some(chart))
}
