//! Page-allocation failures against the zone watermarks, and the slow path
//! (reclaim, compaction) that ran before them.

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{values_i64_opt, values_u64};
use crate::model::{Metric, SectionReport, Table, TextLimit, Unit};
use crate::recording::Recording;
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// Zone names in `enum zone_type` order, for when the recording does not
/// tell a zone's index.
const CANONICAL_ZONES: &[&str] = &["DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"];

/// One failed allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub ts_ns: i64,
    pub tgid: u32,
    pub comm: String,
    pub order: u32,
    pub gfp: String,
    pub migratetype: i32,
    pub migratetype_name: String,
    pub highest_zone: String,
    pub node: u32,
}

impl Failure {
    /// Whether the allocation may use CMA pages (MIGRATE_MOVABLE).
    pub fn movable(&self) -> bool {
        if self.migratetype_name.is_empty() {
            self.migratetype == 1
        } else {
            self.migratetype_name == "MIGRATE_MOVABLE"
        }
    }
}

/// A zone snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZoneRow {
    pub ts_ns: i64,
    pub node: u32,
    pub zone: String,
    pub zone_idx: u32,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub free_cma: u64,
    pub reserve: Option<u64>,
}

/// Where free pages stood against the watermarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    BelowMin,
    BelowLow,
    BelowHigh,
    AboveHigh,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::BelowMin => "<=min",
            Level::BelowLow => "<=low",
            Level::BelowHigh => "<=high",
            Level::AboveHigh => ">high",
        }
    }

    /// `free` against watermarks raised by `reserve`: at or under a
    /// watermark counts as under it (the kernel passes only when
    /// free > watermark + reserve).
    pub fn of(free: i64, min: u64, low: u64, high: u64, reserve: u64) -> Level {
        let at = |w: u64| free <= (w + reserve) as i64;
        if at(min) {
            Level::BelowMin
        } else if at(low) {
            Level::BelowLow
        } else if at(high) {
            Level::BelowHigh
        } else {
            Level::AboveHigh
        }
    }
}

/// The verdict on one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every eligible zone was at or under min (+ reserve).
    Exhaustion,
    /// Some eligible zone had free pages above min (+ reserve) but the
    /// order > 0 allocation failed: no free block of that order.
    Fragmentation,
    /// Order 0 with free pages above min somewhere (cpuset, mempolicy, or a
    /// no-retry allocation).
    Other,
    /// No zone rows at the failure's ts_ns.
    Unknown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Exhaustion => "exhaustion",
            Verdict::Fragmentation => "fragmentation",
            Verdict::Other => "other",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Free pages the allocation could use in a zone: free minus free CMA pages
/// unless the allocation is movable.
pub fn usable_free(f: &Failure, z: &ZoneRow) -> i64 {
    let unusable = if f.movable() { 0 } else { z.free_cma };
    z.free as i64 - unusable as i64
}

/// Zone index of a zone name: from the recording's zone rows, else the
/// canonical order.
fn zone_index(map: &HashMap<String, u32>, name: &str) -> Option<u32> {
    map.get(name).copied().or_else(|| {
        CANONICAL_ZONES
            .iter()
            .position(|z| *z == name)
            .map(|p| p as u32)
    })
}

/// Eligible zones of a failure and the verdict.
pub fn judge<'a>(
    f: &Failure,
    zones: &'a [ZoneRow],
    idx: &HashMap<String, u32>,
) -> (Vec<(&'a ZoneRow, i64, Level)>, Verdict) {
    let hz = zone_index(idx, &f.highest_zone);
    let eligible: Vec<(&ZoneRow, i64, Level)> = zones
        .iter()
        .filter(|z| hz.is_none_or(|h| z.zone_idx <= h))
        .map(|z| {
            let u = usable_free(f, z);
            (
                z,
                u,
                Level::of(u, z.min, z.low, z.high, z.reserve.unwrap_or(0)),
            )
        })
        .collect();
    let verdict = if eligible.is_empty() {
        Verdict::Unknown
    } else if eligible.iter().all(|e| e.2 == Level::BelowMin) {
        Verdict::Exhaustion
    } else if f.order > 0 {
        Verdict::Fragmentation
    } else {
        Verdict::Other
    };
    (eligible, verdict)
}

/// Counts of slow-path events in a window before a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Context {
    pub reclaim_begin: u64,
    pub lru_scanned: u64,
    pub lru_reclaimed: u64,
    pub compact_try: u64,
    pub compact_suitable: u64,
    pub reclaim_retry: u64,
    pub kswapd_wakes: u64,
}

/// Per-failure sums of rows in [tf - w, tf], accumulated row by row with
/// difference arrays over the failures sorted by time.
#[derive(Debug)]
struct WindowSums {
    /// Failure times, ascending.
    tf: Vec<i64>,
    w: i64,
    rows: Vec<i64>,
    a: Vec<i128>,
    b: Vec<i128>,
}

impl WindowSums {
    fn new(tf: Vec<i64>, w: i64) -> Self {
        let n = tf.len() + 1;
        WindowSums {
            tf,
            w,
            rows: vec![0; n],
            a: vec![0; n],
            b: vec![0; n],
        }
    }

    /// A row at `ts` counts for every failure with ts <= tf <= ts + w.
    fn add(&mut self, ts: i64, a: u64, b: u64) {
        let i = self.tf.partition_point(|&t| t < ts);
        let j = self.tf.partition_point(|&t| t <= ts.saturating_add(self.w));
        if i < j {
            self.rows[i] += 1;
            self.rows[j] -= 1;
            self.a[i] += i128::from(a);
            self.a[j] -= i128::from(a);
            self.b[i] += i128::from(b);
            self.b[j] -= i128::from(b);
        }
    }

    /// (rows, Σa, Σb) per failure, in `tf` order.
    fn totals(&self) -> Vec<(u64, u64, u64)> {
        let (mut r, mut a, mut b) = (0i64, 0i128, 0i128);
        (0..self.tf.len())
            .map(|k| {
                r += self.rows[k];
                a += self.a[k];
                b += self.b[k];
                (r.max(0) as u64, a.max(0) as u64, b.max(0) as u64)
            })
            .collect()
    }
}

/// Merges [ts - w, ts] windows into disjoint intervals.
fn merged_windows(ts: &[i64], w: i64) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = ts.iter().map(|&t| (t.saturating_sub(w), t)).collect();
    v.sort();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn window_pred(w: &[(i64, i64)]) -> Expr {
    if w.len() > 64 {
        let lo = w.first().map_or(0, |x| x.0);
        let hi = w.last().map_or(0, |x| x.1);
        return col("ts_ns").gt_eq(lit(lo)).and(col("ts_ns").lt_eq(lit(hi)));
    }
    let mut e = lit(false);
    for &(lo, hi) in w {
        e = e.or(col("ts_ns").gt_eq(lit(lo)).and(col("ts_ns").lt_eq(lit(hi))));
    }
    e
}

fn load_failures(rec: &Recording, f: &Filter) -> Result<Vec<Failure>, SectionError> {
    let lf = rec.scan(
        "paf",
        f,
        &[
            "ts_ns",
            "tgid",
            "comm",
            "order",
            "gfp",
            "migratetype",
            "migratetype_name",
            "highest_zone",
            "node",
        ],
    )?;
    let fr = rec.fetch("paf", lf)?;
    let (ts, tgid, comm) = (
        fr.i64_or0("ts_ns")?,
        fr.u64_or0("tgid")?,
        fr.str_or_empty("comm")?,
    );
    let (order, gfp, mt) = (
        fr.u64_or0("order")?,
        fr.str_or_empty("gfp")?,
        fr.i64_or0("migratetype")?,
    );
    let (mtn, hz, node) = (
        fr.str_or_empty("migratetype_name")?,
        fr.str_or_empty("highest_zone")?,
        fr.u64_or0("node")?,
    );
    let mut out: Vec<Failure> = (0..fr.height())
        .map(|i| Failure {
            ts_ns: ts[i],
            tgid: tgid[i] as u32,
            comm: comm[i].clone(),
            order: order[i] as u32,
            gfp: gfp[i].clone(),
            migratetype: mt[i] as i32,
            migratetype_name: mtn[i].clone(),
            highest_zone: hz[i].clone(),
            node: node[i] as u32,
        })
        .collect();
    out.sort_by_key(|x| x.ts_ns);
    Ok(out)
}

fn load_zones(rec: &Recording, lf: LazyFrame) -> Result<Vec<ZoneRow>, SectionError> {
    let fr = rec.fetch("zone", lf)?;
    let (ts, node, zone, idx) = (
        fr.i64_or0("ts_ns")?,
        fr.u64_or0("node")?,
        fr.str_or_empty("zone")?,
        fr.u64_or0("zone_idx")?,
    );
    let (free, min, low, high) = (
        fr.u64_or0("free")?,
        fr.u64_or0("min")?,
        fr.u64_or0("low")?,
        fr.u64_or0("high")?,
    );
    let (cma, reserve) = (fr.u64_or0("free_cma")?, fr.u64("reserve")?);
    let mut out: Vec<ZoneRow> = (0..fr.height())
        .map(|i| ZoneRow {
            ts_ns: ts[i],
            node: node[i] as u32,
            zone: zone[i].clone(),
            zone_idx: idx[i] as u32,
            free: free[i],
            min: min[i],
            low: low[i],
            high: high[i],
            free_cma: cma[i],
            reserve: reserve[i],
        })
        .collect();
    out.sort_by_key(|a| (a.ts_ns, a.node, a.zone_idx));
    out.dedup_by(|b, a| (a.ts_ns, a.node, a.zone_idx) == (b.ts_ns, b.node, b.zone_idx));
    Ok(out)
}

const ZONE_COLS: &[&str] = &[
    "ts_ns", "node", "zone", "zone_idx", "free", "min", "low", "high", "free_cma", "reserve",
];

pub static SECTION: Section = Section {
    id: "paf",
    title: "Allocation failures vs watermarks (paf, zone)",
    required: &["paf"],
    optional: &["sysstat", "pr"],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != crate::model::Status::Ok {
        return Ok(r);
    }
    let failures = load_failures(rec, f)?;

    // Zone snapshots taken at the failures.
    let fail_zones: Vec<ZoneRow> =
        if !failures.is_empty() {
            let ts: Vec<i64> = failures.iter().map(|x| x.ts_ns).collect();
            let lf = rec
                .scan_with(
                    "zone",
                    &Filter::default(),
                    &[ZONE_COLS, &["trigger"]].concat(),
                    false,
                )?
                .filter(col("trigger").eq(lit("alloc_fail")).and(
                    col("ts_ns").is_in(lit(Series::new("ts".into(), ts)).implode(false), false),
                ));
            load_zones(rec, lf)?
        } else {
            Vec::new()
        };
    // Interval snapshots for the timeline.
    let timeline: Vec<ZoneRow> = {
        let lf = rec
            .scan("zone", f, &[ZONE_COLS, &["trigger"]].concat())?
            .filter(col("trigger").eq(lit("interval")));
        load_zones(rec, lf)?
    };
    let mut idx: HashMap<String, u32> = HashMap::new();
    for z in rec.meta.zones_start.iter().chain(&rec.meta.zones_end) {
        idx.insert(z.zone.clone(), z.zone_idx);
    }
    for z in fail_zones.iter().chain(&timeline) {
        idx.insert(z.zone.clone(), z.zone_idx);
    }
    let mut zones_at: BTreeMap<i64, Vec<ZoneRow>> = BTreeMap::new();
    for z in fail_zones {
        zones_at.entry(z.ts_ns).or_default().push(z);
    }

    // Slow-path context before each failure (all tasks, any time filter).
    let ctx = contexts(rec, &failures, f.window_ns)?;

    let mut by_kind: BTreeMap<(u32, String, String), [u64; 5]> = BTreeMap::new();
    let mut verdicts = [0u64; 4];
    let mut ft = Table::new(
        "failures",
        "Failures, with the slow path in the window before each",
        &[
            ("ts_ns", Unit::Timestamp),
            ("tgid", Unit::None),
            ("comm", Unit::None),
            ("order", Unit::None),
            ("gfp", Unit::None),
            ("migratetype", Unit::None),
            ("highest_zone", Unit::None),
            ("node", Unit::None),
            ("verdict", Unit::None),
            ("eligible_zones", Unit::Count),
            ("zones_below_min", Unit::Count),
            ("reclaim_begin", Unit::Count),
            ("lru_scanned", Unit::Pages),
            ("lru_reclaimed", Unit::Pages),
            ("compact_try", Unit::Count),
            ("compact_suitable", Unit::Count),
            ("reclaim_retry", Unit::Count),
            ("kswapd_wakes", Unit::Count),
        ],
    )
    .with_text_limit(if f.top == 0 {
        TextLimit::All
    } else {
        TextLimit::Head(f.top)
    });
    let mut zt = Table::new(
        "failure_zones",
        "Eligible zones at each failure (usable = free - free_cma unless movable; \
         watermarks + reserve)",
        &[
            ("ts_ns", Unit::Timestamp),
            ("tgid", Unit::None),
            ("order", Unit::None),
            ("node", Unit::None),
            ("zone", Unit::None),
            ("free", Unit::Pages),
            ("free_cma", Unit::Pages),
            ("usable", Unit::Pages),
            ("min", Unit::Pages),
            ("low", Unit::Pages),
            ("high", Unit::Pages),
            ("reserve", Unit::Pages),
            ("level", Unit::None),
        ],
    )
    .with_text_limit(if f.top == 0 {
        TextLimit::All
    } else {
        TextLimit::Head(f.top * 3)
    });
    let empty = Vec::new();
    for (i, fl) in failures.iter().enumerate() {
        let zs = zones_at.get(&fl.ts_ns).unwrap_or(&empty);
        let (elig, verdict) = judge(fl, zs, &idx);
        let vi = match verdict {
            Verdict::Exhaustion => 0,
            Verdict::Fragmentation => 1,
            Verdict::Other => 2,
            Verdict::Unknown => 3,
        };
        verdicts[vi] += 1;
        let e = by_kind
            .entry((fl.order, fl.gfp.clone(), fl.highest_zone.clone()))
            .or_default();
        e[0] += 1;
        e[vi + 1] += 1;
        let c = ctx.get(i).copied().unwrap_or_default();
        ft.push(vec![
            fl.ts_ns.into(),
            fl.tgid.into(),
            fl.comm.as_str().into(),
            fl.order.into(),
            fl.gfp.as_str().into(),
            fl.migratetype_name.as_str().into(),
            fl.highest_zone.as_str().into(),
            fl.node.into(),
            verdict.name().into(),
            elig.len().into(),
            elig.iter()
                .filter(|e| e.2 == Level::BelowMin)
                .count()
                .into(),
            c.reclaim_begin.into(),
            c.lru_scanned.into(),
            c.lru_reclaimed.into(),
            c.compact_try.into(),
            c.compact_suitable.into(),
            c.reclaim_retry.into(),
            c.kswapd_wakes.into(),
        ]);
        for (z, usable, level) in elig {
            zt.push(vec![
                fl.ts_ns.into(),
                fl.tgid.into(),
                fl.order.into(),
                z.node.into(),
                z.zone.as_str().into(),
                z.free.into(),
                z.free_cma.into(),
                usable.into(),
                z.min.into(),
                z.low.into(),
                z.high.into(),
                z.reserve.unwrap_or(0).into(),
                level.name().into(),
            ]);
        }
    }
    let mut kt = Table::new(
        "by_kind",
        "Failures by order x gfp x highest zone",
        &[
            ("order", Unit::None),
            ("gfp", Unit::None),
            ("highest_zone", Unit::None),
            ("failures", Unit::Count),
            ("exhaustion", Unit::Count),
            ("fragmentation", Unit::Count),
            ("other", Unit::Count),
            ("unknown", Unit::Count),
        ],
    );
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
    for ((order, gfp, hz), c) in kinds {
        kt.push(vec![
            order.into(),
            gfp.into(),
            hz.into(),
            c[0].into(),
            c[1].into(),
            c[2].into(),
            c[3].into(),
            c[4].into(),
        ]);
    }

    r.metrics.push(Metric::new(
        "paf.failures",
        failures.len() as u64,
        Unit::Count,
    ));
    for (name, v) in ["exhaustion", "fragmentation", "other", "unknown"]
        .iter()
        .zip(verdicts)
    {
        r.metrics
            .push(Metric::new(format!("paf.{name}"), v, Unit::Count));
    }
    let mut by_order: BTreeMap<u32, u64> = BTreeMap::new();
    let mut by_zone: BTreeMap<&str, u64> = BTreeMap::new();
    for fl in &failures {
        *by_order.entry(fl.order).or_default() += 1;
        *by_zone.entry(fl.highest_zone.as_str()).or_default() += 1;
    }
    for (o, n) in by_order {
        r.metrics
            .push(Metric::new("paf.failures", n, Unit::Count).label("order", o));
    }
    for (z, n) in by_zone {
        r.metrics
            .push(Metric::new("paf.failures", n, Unit::Count).label("zone", z));
    }

    let slow = slow_path(rec, f, &mut r)?;
    if failures.is_empty() {
        r.notes
            .push("No allocation failed in the selected window.".into());
    } else {
        r.notes.push(format!(
            "Context columns count rows of all tasks in [ts - {} s, ts] before each failure.",
            f.window_ns as f64 / 1e9
        ));
    }
    if !rec.may_have("zone") {
        r.notes.push(
            "No zone rows: verdicts and the watermark timeline need the sysstat group.".into(),
        );
    }
    r.tables.push(kt);
    r.tables.push(ft);
    r.tables.push(zt);
    r.tables.extend(slow);
    let (sum, tl) = zone_tables(&timeline, &mut r.metrics);
    r.tables.push(sum);
    r.tables.push(tl);
    Ok(r)
}

fn contexts(
    rec: &Recording,
    failures: &[Failure],
    window: i64,
) -> Result<Vec<Context>, SectionError> {
    if failures.is_empty() {
        return Ok(Vec::new());
    }
    // Failures are sorted by time, so per-failure results line up.
    let ts: Vec<i64> = failures.iter().map(|x| x.ts_ns).collect();
    let wins = merged_windows(&ts, window);
    let pred = window_pred(&wins);
    let all = Filter::default();
    let load = |table: &str,
                a: Option<&str>,
                b: Option<&str>,
                extra: Option<Expr>|
     -> Result<Vec<(u64, u64, u64)>, SectionError> {
        let mut sums = WindowSums::new(ts.clone(), window);
        let mut cols = vec!["ts_ns"];
        cols.extend(a);
        cols.extend(b);
        if table == "kswapd" {
            cols.push("event");
        }
        let mut lf = rec
            .scan_with(table, &all, &cols, false)?
            .filter(pred.clone());
        if let Some(e) = extra {
            lf = lf.filter(e);
        }
        let mut sel = vec![col("ts_ns")];
        sel.extend(a.map(|c| col(c).cast(DataType::UInt64).alias("a")));
        sel.extend(b.map(|c| col(c).cast(DataType::UInt64).alias("b")));
        let lf = lf.select(sel);
        rec.stream(table, lf, |fr| {
            let t = values_i64_opt(&fr.chunked_i64("ts_ns")?);
            let av = match a {
                Some(_) => values_u64(&fr.chunked_u64("a")?),
                None => vec![0; t.len()],
            };
            let bv = match b {
                Some(_) => values_u64(&fr.chunked_u64("b")?),
                None => vec![0; t.len()],
            };
            for i in 0..t.len() {
                sums.add(t[i].unwrap_or(0), av[i], bv[i]);
            }
            Ok(())
        })?;
        Ok(sums.totals())
    };
    let rb = load("reclaim_begin", None, None, None)?;
    let lru = load(
        "lru_inactive",
        Some("nr_scanned"),
        Some("nr_reclaimed"),
        None,
    )?;
    let ct = load("compact_try", None, None, None)?;
    let cs = load("compact_suitable", None, None, None)?;
    let rr = load("reclaim_retry", None, None, None)?;
    let kw = load("kswapd", None, None, Some(col("event").eq(lit("wake"))))?;
    Ok((0..failures.len())
        .map(|k| Context {
            reclaim_begin: rb[k].0,
            lru_scanned: lru[k].1,
            lru_reclaimed: lru[k].2,
            compact_try: ct[k].0,
            compact_suitable: cs[k].0,
            reclaim_retry: rr[k].0,
            kswapd_wakes: kw[k].0,
        })
        .collect())
}

/// Compaction and reclaim-retry verdicts in the window (filtered as the report).
fn slow_path(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
) -> Result<Vec<Table>, SectionError> {
    let mut out = Vec::new();
    let mut cs = Table::new(
        "compact_suitable",
        "Compaction suitability verdicts",
        &[
            ("order", Unit::None),
            ("zone", Unit::None),
            ("result", Unit::None),
            ("count", Unit::Count),
        ],
    );
    let mut total_cs = 0u64;
    let lf = rec
        .scan("compact_suitable", f, &["order", "zone", "result"])?
        .group_by([col("order"), col("zone"), col("result")])
        .agg([len().cast(DataType::UInt64).alias("n")]);
    let fr = rec.fetch("compact_suitable", lf)?;
    let (o, z, res, n) = (
        fr.i64_or0("order")?,
        fr.str_or_empty("zone")?,
        fr.str_or_empty("result")?,
        fr.u64_or0("n")?,
    );
    let mut rows: Vec<_> = (0..fr.height())
        .map(|i| (o[i], z[i].clone(), res[i].clone(), n[i]))
        .collect();
    rows.sort();
    let mut by_result: BTreeMap<String, u64> = BTreeMap::new();
    for (o, z, res, n) in rows {
        total_cs += n;
        *by_result.entry(res.clone()).or_default() += n;
        cs.push(vec![o.into(), z.into(), res.into(), n.into()]);
    }
    for (res, n) in by_result {
        r.metrics
            .push(Metric::new("paf.compact_suitable", n, Unit::Count).label("result", res));
    }
    r.metrics
        .push(Metric::new("paf.compact_suitable", total_cs, Unit::Count));
    out.push(cs);

    let mut ct = Table::new(
        "compact_try",
        "Direct compaction attempts",
        &[
            ("order", Unit::None),
            ("priority", Unit::None),
            ("count", Unit::Count),
        ],
    );
    let mut total_ct = 0u64;
    let lf = rec
        .scan("compact_try", f, &["order", "priority"])?
        .group_by([col("order"), col("priority")])
        .agg([len().cast(DataType::UInt64).alias("n")]);
    let fr = rec.fetch("compact_try", lf)?;
    let (o, p, n) = (
        fr.i64_or0("order")?,
        fr.i64_or0("priority")?,
        fr.u64_or0("n")?,
    );
    let mut rows: Vec<_> = (0..fr.height()).map(|i| (o[i], p[i], n[i])).collect();
    rows.sort();
    for (o, p, n) in rows {
        total_ct += n;
        ct.push(vec![o.into(), p.into(), n.into()]);
    }
    r.metrics
        .push(Metric::new("paf.compact_try", total_ct, Unit::Count));
    out.push(ct);

    let mut rr = Table::new(
        "reclaim_retry",
        "Reclaim-retry verdicts per zone and order",
        &[
            ("node", Unit::None),
            ("zone", Unit::None),
            ("order", Unit::None),
            ("checks", Unit::Count),
            ("retried", Unit::Count),
            ("gave_up", Unit::Count),
            ("max_no_progress_loops", Unit::Count),
        ],
    );
    let (mut total, mut gave_up) = (0u64, 0u64);
    let lf = rec
        .scan(
            "reclaim_retry",
            f,
            &["node", "zone", "order", "no_progress_loops", "wmark_check"],
        )?
        .group_by([col("node"), col("zone"), col("order")])
        .agg([
            len().cast(DataType::UInt64).alias("n"),
            col("wmark_check").cast(DataType::UInt64).sum().alias("ok"),
            col("no_progress_loops").max().alias("loops"),
        ]);
    let fr = rec.fetch("reclaim_retry", lf)?;
    let (nd, z, o) = (
        fr.i64_or0("node")?,
        fr.str_or_empty("zone")?,
        fr.i64_or0("order")?,
    );
    let (n, ok, loops) = (fr.u64_or0("n")?, fr.u64_or0("ok")?, fr.i64_or0("loops")?);
    let mut rows: Vec<_> = (0..fr.height())
        .map(|i| (nd[i], z[i].clone(), o[i], n[i], ok[i], loops[i]))
        .collect();
    rows.sort();
    for (nd, z, o, n, ok, loops) in rows {
        total += n;
        gave_up += n - ok;
        rr.push(vec![
            nd.into(),
            z.into(),
            o.into(),
            n.into(),
            ok.into(),
            (n - ok).into(),
            loops.into(),
        ]);
    }
    r.metrics
        .push(Metric::new("paf.reclaim_retry", total, Unit::Count));
    r.metrics.push(Metric::new(
        "paf.reclaim_retry_gave_up",
        gave_up,
        Unit::Count,
    ));
    out.push(rr);
    Ok(out)
}

/// Per-zone summary and timeline of interval snapshots.
fn zone_tables(rows: &[ZoneRow], metrics: &mut Vec<Metric>) -> (Table, Table) {
    let mut sum = Table::new(
        "zone_summary",
        "Free pages against watermarks per zone (interval snapshots)",
        &[
            ("node", Unit::None),
            ("zone", Unit::None),
            ("samples", Unit::Count),
            ("free_min", Unit::Pages),
            ("free_mean", Unit::Pages),
            ("free_max", Unit::Pages),
            ("samples_le_min", Unit::Count),
            ("samples_le_low", Unit::Count),
            ("samples_le_high", Unit::Count),
            ("min", Unit::Pages),
            ("low", Unit::Pages),
            ("high", Unit::Pages),
        ],
    );
    let mut tl = Table::new(
        "zone_timeline",
        "Timeline: free pages and watermarks per zone",
        &[
            ("ts_ns", Unit::Timestamp),
            ("node", Unit::None),
            ("zone", Unit::None),
            ("free", Unit::Pages),
            ("min", Unit::Pages),
            ("low", Unit::Pages),
            ("high", Unit::Pages),
            ("level", Unit::None),
        ],
    )
    .with_text_limit(TextLimit::Sample(24));
    let mut groups: BTreeMap<(u32, u32, String), Vec<&ZoneRow>> = BTreeMap::new();
    for z in rows {
        groups
            .entry((z.node, z.zone_idx, z.zone.clone()))
            .or_default()
            .push(z);
    }
    for ((node, _, zone), zs) in &groups {
        let n = zs.len() as u64;
        let level = |z: &ZoneRow| Level::of(z.free as i64, z.min, z.low, z.high, 0);
        let le = |l: Level| {
            zs.iter()
                .filter(|z| {
                    let x = level(z);
                    match l {
                        Level::BelowMin => x == Level::BelowMin,
                        Level::BelowLow => x == Level::BelowMin || x == Level::BelowLow,
                        _ => x != Level::AboveHigh,
                    }
                })
                .count() as u64
        };
        let (bmin, blow, bhigh) = (
            le(Level::BelowMin),
            le(Level::BelowLow),
            le(Level::BelowHigh),
        );
        let fmin = zs.iter().map(|z| z.free).min().unwrap_or(0);
        let fmax = zs.iter().map(|z| z.free).max().unwrap_or(0);
        let fsum: u64 = zs.iter().map(|z| z.free).sum();
        let last = zs.last();
        sum.push(vec![
            (*node).into(),
            zone.as_str().into(),
            n.into(),
            fmin.into(),
            (fsum as f64 / n as f64).into(),
            fmax.into(),
            bmin.into(),
            blow.into(),
            bhigh.into(),
            last.map(|z| z.min).into(),
            last.map(|z| z.low).into(),
            last.map(|z| z.high).into(),
        ]);
        let lab = |m: Metric| m.label("node", node).label("zone", zone);
        metrics.push(lab(Metric::new("paf.zone.free_min", fmin, Unit::Pages)));
        metrics.push(lab(Metric::new(
            "paf.zone.samples_le_min",
            bmin,
            Unit::Count,
        )));
        metrics.push(lab(Metric::new(
            "paf.zone.samples_le_low",
            blow,
            Unit::Count,
        )));
        metrics.push(lab(Metric::new(
            "paf.zone.samples_le_high",
            bhigh,
            Unit::Count,
        )));
    }
    let mut all: Vec<&ZoneRow> = rows.iter().collect();
    all.sort_by_key(|a| (a.node, a.zone_idx, a.ts_ns));
    for z in all {
        tl.push(vec![
            z.ts_ns.into(),
            z.node.into(),
            z.zone.as_str().into(),
            z.free.into(),
            z.min.into(),
            z.low.into(),
            z.high.into(),
            Level::of(z.free as i64, z.min, z.low, z.high, 0)
                .name()
                .into(),
        ]);
    }
    (sum, tl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(order: u32, mt: &str, hz: &str) -> Failure {
        Failure {
            ts_ns: 100,
            tgid: 1,
            comm: "x".into(),
            order,
            gfp: "GFP_KERNEL".into(),
            migratetype: 0,
            migratetype_name: mt.into(),
            highest_zone: hz.into(),
            node: 0,
        }
    }

    fn zone(name: &str, idx: u32, free: u64, cma: u64, reserve: u64) -> ZoneRow {
        ZoneRow {
            ts_ns: 100,
            node: 0,
            zone: name.into(),
            zone_idx: idx,
            free,
            min: 100,
            low: 125,
            high: 150,
            free_cma: cma,
            reserve: Some(reserve),
        }
    }

    #[test]
    fn levels_at_the_boundary() {
        assert_eq!(Level::of(100, 100, 125, 150, 0), Level::BelowMin);
        assert_eq!(Level::of(101, 100, 125, 150, 0), Level::BelowLow);
        assert_eq!(Level::of(126, 100, 125, 150, 0), Level::BelowHigh);
        assert_eq!(Level::of(151, 100, 125, 150, 0), Level::AboveHigh);
        assert_eq!(Level::of(151, 100, 125, 150, 60), Level::BelowMin);
    }

    #[test]
    fn verdicts() {
        let idx: HashMap<String, u32> =
            [("DMA32".to_string(), 1), ("Normal".to_string(), 2)].into();
        let zs = vec![zone("DMA32", 1, 90, 0, 0), zone("Normal", 2, 200, 150, 0)];
        // Unmovable: Normal's 150 free CMA pages do not count -> 50 usable <= min.
        let (e, v) = judge(&fail(0, "MIGRATE_UNMOVABLE", "Normal"), &zs, &idx);
        assert_eq!(e.len(), 2);
        assert_eq!(v, Verdict::Exhaustion);
        // Movable may use CMA: Normal has 200 > min: order 3 -> fragmentation.
        assert_eq!(
            judge(&fail(3, "MIGRATE_MOVABLE", "Normal"), &zs, &idx).1,
            Verdict::Fragmentation
        );
        assert_eq!(
            judge(&fail(0, "MIGRATE_MOVABLE", "Normal"), &zs, &idx).1,
            Verdict::Other
        );
        // Only DMA32 eligible.
        let (e, v) = judge(&fail(3, "MIGRATE_MOVABLE", "DMA32"), &zs, &idx);
        assert_eq!(e.len(), 1);
        assert_eq!(v, Verdict::Exhaustion);
        // The lowmem reserve raises the bar.
        let zs2 = vec![zone("DMA32", 1, 300, 0, 250)];
        assert_eq!(
            judge(&fail(2, "MIGRATE_MOVABLE", "Normal"), &zs2, &idx).1,
            Verdict::Exhaustion
        );
        assert_eq!(
            judge(&fail(2, "MIGRATE_MOVABLE", "Normal"), &[], &idx).1,
            Verdict::Unknown
        );
    }

    #[test]
    fn windows_merge_and_count() {
        assert_eq!(merged_windows(&[10, 12, 30], 5), vec![(5, 12), (25, 30)]);
        let mut s = WindowSums::new(vec![10, 12, 30], 5);
        for (t, a, b) in [
            (5, 1, 10),
            (7, 2, 20),
            (12, 4, 40),
            (13, 8, 80),
            (26, 16, 160),
            (31, 1, 1),
        ] {
            s.add(t, a, b);
        }
        // 10: rows 5, 7 | 12: 7, 12 | 30: 26
        assert_eq!(s.totals(), vec![(2, 3, 30), (2, 6, 60), (1, 16, 160)]);
    }
}
