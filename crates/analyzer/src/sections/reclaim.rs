//! Reclaim efficiency: LRU scanning, reclaim latency, kswapd, slab shrinkers.

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{
    Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, Unit, Value,
};
use crate::recording::Recording;
use crate::report_row;
use crate::stats::{ratio, Latency};
use polars::prelude::*;
use std::collections::BTreeMap;

report_row! {
    /// Inactive-list reclaim of one reclaimer and LRU (or `all`).
    struct LruRow {
        reclaimer: String => None,
        lru: String => None,
        passes: u64 => Count,
        scanned: u64 => Pages,
        reclaimed: u64 => Pages,
        efficiency: Option<f64> => Ratio,
        dirty: u64 => Pages,
        writeback: u64 => Pages,
        congested: u64 => Pages,
        immediate: u64 => Pages,
        dirty_share: Option<f64> => Ratio,
        writeback_share: Option<f64> => Ratio,
        congested_share: Option<f64> => Ratio,
        immediate_share: Option<f64> => Ratio,
    }
}

report_row! {
    /// Scan passes of one reclaimer at one priority.
    struct PriorityRow {
        reclaimer: String => None,
        priority: i64 => None,
        passes: u64 => Count,
        passes_share: Option<f64> => Ratio,
        scanned: u64 => Pages,
        reclaimed: u64 => Pages,
    }
}

report_row! {
    /// Active-list aging of one reclaimer and LRU.
    struct LruActiveRow {
        reclaimer: String => None,
        lru: String => None,
        passes: u64 => Count,
        taken: u64 => Pages,
        deactivated: u64 => Pages,
        kept_active: u64 => Pages,
        referenced: u64 => Pages,
    }
}

report_row! {
    /// Reclaim calls and their latency, per reclaimer.
    struct LatencyRow {
        reclaimer: String => None,
        /// For memcg reclaim, the memory cgroups of the tasks that
        /// reclaimed (a memcg's reclaim is done by the tasks charging to it,
        /// in it or below it), most calls first; none for node-wide reclaim.
        cgroup: Option<String> => None,
        begins: u64 => Count,
        ends: u64 => Count,
        reclaimed: u64 => Pages,
        timed: u64 => Count,
        p50: Option<i64> => Ns,
        p90: Option<i64> => Ns,
        p99: Option<i64> => Ns,
        max: Option<i64> => Ns,
        total: i64 => Ns,
    }
}

report_row! {
    /// Reclaim calls and their latency, per reclaimer and process.
    struct ProcLatencyRow {
        reclaimer: String => None,
        tgid: u64 => None,
        comm: String => None,
        ends: u64 => Count,
        reclaimed: u64 => Pages,
        timed: u64 => Count,
        p50: Option<i64> => Ns,
        p90: Option<i64> => Ns,
        p99: Option<i64> => Ns,
        max: Option<i64> => Ns,
        total: i64 => Ns,
    }
}

report_row! {
    /// kswapd activity on one node.
    struct KswapdRow {
        node: i64 => None,
        wakes: u64 => Count,
        sleeps: u64 => Count,
        wakeup_requests: u64 => Count,
        awake: i64 => Ns,
        awake_share: Option<f64> => Ratio,
    }
}

report_row! {
    /// One slab shrinker's calls and time.
    struct SlabRow {
        shrinker_fn: String => None,
        calls: u64 => Count,
        timed: u64 => Count,
        freed: i64 => Count,
        scanned: i64 => Count,
        total: i64 => Ns,
        mean: Option<f64> => Ns,
        max: Option<i64> => Ns,
    }
}

const RECLAIMERS: &[&str] = &[
    "kswapd",
    "direct",
    "memcg",
    "memcg_softlimit",
    "node",
    "other",
];

/// Sort key: known reclaimers in a fixed order, then by name; `all` last.
fn reclaimer_key(r: &str) -> (usize, String) {
    match RECLAIMERS.iter().position(|x| *x == r) {
        Some(p) => (p, String::new()),
        None if r == "all" => (usize::MAX, String::new()),
        None => (RECLAIMERS.len(), r.to_string()),
    }
}

fn lru_key(l: &str) -> (usize, String) {
    match l {
        "file" => (0, String::new()),
        "anon" => (1, String::new()),
        "all" => (3, String::new()),
        o => (2, o.to_string()),
    }
}

/// Sums over `lru_inactive` rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LruSums {
    pub passes: u64,
    pub scanned: u64,
    pub reclaimed: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub congested: u64,
    pub immediate: u64,
}

impl LruSums {
    fn add(&mut self, o: &LruSums) {
        self.passes += o.passes;
        self.scanned += o.scanned;
        self.reclaimed += o.reclaimed;
        self.dirty += o.dirty;
        self.writeback += o.writeback;
        self.congested += o.congested;
        self.immediate += o.immediate;
    }
}

/// kswapd activity on one node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Kswapd {
    pub wakes: u64,
    pub sleeps: u64,
    pub requests: u64,
    pub awake_ns: i64,
}

/// Time awake from `wake`/`sleep` events of one node sorted by time, within
/// [lo, hi): from the first `wake` after a `sleep` (or the window start when
/// the first event is a `sleep`) to the next `sleep` (or the window end).
pub fn awake_time(events: &[(i64, bool)], lo: i64, hi: i64) -> i64 {
    let mut since: Option<i64> = None;
    let mut total = 0;
    for (i, &(ts, wake)) in events.iter().enumerate() {
        if wake {
            if since.is_none() {
                since = Some(ts);
            }
        } else if let Some(s) = since.take() {
            total += ts - s;
        } else if i == 0 {
            total += ts - lo;
        }
    }
    if let Some(s) = since {
        total += (hi - s).max(0);
    }
    total
}

pub static SECTION: Section = Section {
    id: "reclaim",
    title: "Reclaim efficiency (pr)",
    required: &["pr"],
    optional: &[],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let mut any = false;
    any |= lru_inactive(rec, f, &mut r)?;
    any |= lru_active(rec, f, &mut r)?;
    any |= latency(rec, f, &mut r)?;
    any |= kswapd(rec, f, &mut r)?;
    any |= slab(rec, f, &mut r)?;
    findings(rec, f, &mut r)?;
    if !any {
        r.status = Status::NoData("no reclaim rows in the selected window".into());
    }
    Ok(r)
}

fn lru_inactive(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<bool, SectionError> {
    let mut groups: BTreeMap<(String, String), LruSums> = BTreeMap::new();
    let base = rec.scan(
        "lru_inactive",
        f,
        &[
            "reclaimer",
            "lru",
            "priority",
            "nr_scanned",
            "nr_reclaimed",
            "nr_dirty",
            "nr_writeback",
            "nr_congested",
            "nr_immediate",
        ],
    )?;
    // Per (reclaimer, lru, priority), counted by polars; both tables derive
    // from it. A null priority counts as 0.
    const SUMS: [&str; 6] = [
        "nr_scanned",
        "nr_reclaimed",
        "nr_dirty",
        "nr_writeback",
        "nr_congested",
        "nr_immediate",
    ];
    let q = count_by(
        base.with_column(col("priority").cast(DataType::Int64).fill_null(lit(0i64))),
        &["reclaimer", "lru", "priority"],
        SUMS.iter()
            .map(|c| col(*c).cast(DataType::UInt64).sum().alias(*c))
            .collect(),
    );
    let fr = rec.fetch("lru_inactive", q)?;
    let (rc, lr, pr) = (
        fr.str_or_empty("reclaimer")?,
        fr.str_or_empty("lru")?,
        fr.i64_or0("priority")?,
    );
    let n = fr.u64_or0(COUNT)?;
    let c: Vec<Vec<u64>> = SUMS
        .iter()
        .map(|name| fr.u64_or0(name))
        .collect::<Result<_, _>>()?;
    let mut by_prio: BTreeMap<(String, i64), (u64, u64, u64)> = BTreeMap::new();
    for i in 0..fr.height() {
        let s = LruSums {
            passes: n[i],
            scanned: c[0][i],
            reclaimed: c[1][i],
            dirty: c[2][i],
            writeback: c[3][i],
            congested: c[4][i],
            immediate: c[5][i],
        };
        groups
            .entry((rc[i].clone(), lr[i].clone()))
            .or_default()
            .add(&s);
        let e = by_prio.entry((rc[i].clone(), pr[i])).or_default();
        e.0 += s.passes;
        e.1 += s.scanned;
        e.2 += s.reclaimed;
    }
    let mut prio: Vec<(String, i64, u64, u64, u64)> = by_prio
        .into_iter()
        .map(|((r, p), (n, sc, rc))| (r, p, n, sc, rc))
        .collect();
    // Totals per reclaimer and overall.
    let mut per_r: BTreeMap<String, LruSums> = BTreeMap::new();
    let mut all = LruSums::default();
    for ((rc, _), s) in &groups {
        per_r.entry(rc.clone()).or_default().add(s);
        all.add(s);
    }
    let mut rows: Vec<(String, String, LruSums)> = groups
        .iter()
        .map(|((a, b), s)| (a.clone(), b.clone(), *s))
        .collect();
    rows.extend(
        per_r
            .iter()
            .map(|(a, s)| (a.clone(), "all".to_string(), *s)),
    );
    if !groups.is_empty() {
        rows.push(("all".into(), "all".into(), all));
    }
    rows.sort_by_key(|a| (reclaimer_key(&a.0), lru_key(&a.1)));

    let mut t = Table::of::<LruRow>(
        "lru",
        "Inactive-list reclaim per reclaimer and LRU (shares are of scanned pages)",
    );
    for (rc, lru, s) in &rows {
        t.push_row(LruRow {
            reclaimer: rc.clone(),
            lru: lru.clone(),
            passes: s.passes,
            scanned: s.scanned,
            reclaimed: s.reclaimed,
            efficiency: ratio(s.reclaimed, s.scanned),
            dirty: s.dirty,
            writeback: s.writeback,
            congested: s.congested,
            immediate: s.immediate,
            dirty_share: ratio(s.dirty, s.scanned),
            writeback_share: ratio(s.writeback, s.scanned),
            congested_share: ratio(s.congested, s.scanned),
            immediate_share: ratio(s.immediate, s.scanned),
        });
        let prefix = match (rc.as_str(), lru.as_str()) {
            ("all", _) => "reclaim".to_string(),
            (rc, "all") => format!("reclaim.{rc}"),
            (rc, lru) => format!("reclaim.{rc}.{lru}"),
        };
        r.metrics.push(Metric::new(
            format!("{prefix}.scanned"),
            s.scanned,
            Unit::Pages,
        ));
        r.metrics.push(Metric::new(
            format!("{prefix}.reclaimed"),
            s.reclaimed,
            Unit::Pages,
        ));
        if let Some(e) = ratio(s.reclaimed, s.scanned) {
            r.metrics
                .push(Metric::new(format!("{prefix}.efficiency"), e, Unit::Ratio));
        }
        if lru != "all" {
            for (name, v) in [
                ("dirty_share", s.dirty),
                ("writeback_share", s.writeback),
                ("congested_share", s.congested),
                ("immediate_share", s.immediate),
            ] {
                if let Some(x) = ratio(v, s.scanned) {
                    r.metrics
                        .push(Metric::new(format!("{prefix}.{name}"), x, Unit::Ratio));
                }
            }
        }
    }
    if groups.is_empty() {
        r.metrics
            .push(Metric::new("reclaim.scanned", 0u64, Unit::Pages));
        r.metrics
            .push(Metric::new("reclaim.reclaimed", 0u64, Unit::Pages));
    }
    r.tables.push(t);

    prio.sort_by_key(|a| (reclaimer_key(&a.0), std::cmp::Reverse(a.1)));
    let mut p = Table::of::<PriorityRow>(
        "priority",
        "Scan priority distribution (12 = light, 0 = desperate)",
    );
    for (rc, pr, n, s, rcl) in prio {
        let total = per_r.get(&rc).map_or(0, |x| x.passes);
        p.push_row(PriorityRow {
            reclaimer: rc,
            priority: pr,
            passes: n,
            passes_share: ratio(n, total),
            scanned: s,
            reclaimed: rcl,
        });
    }
    r.tables.push(p);
    Ok(!groups.is_empty())
}

fn lru_active(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<bool, SectionError> {
    let mut t = Table::of::<LruActiveRow>("lru_active", "Active-list aging per reclaimer and LRU");
    let lf = rec.scan(
        "lru_active",
        f,
        &[
            "reclaimer",
            "lru",
            "nr_taken",
            "nr_active",
            "nr_deactivated",
            "nr_referenced",
        ],
    )?;
    let sum = |c: &str| col(c).cast(DataType::UInt64).sum().alias(c);
    let q = count_by(
        lf,
        &["reclaimer", "lru"],
        vec![
            sum("nr_taken"),
            sum("nr_deactivated"),
            sum("nr_active"),
            sum("nr_referenced"),
        ],
    );
    let fr = rec.fetch("lru_active", q)?;
    let (rc, lr) = (fr.str_or_empty("reclaimer")?, fr.str_or_empty("lru")?);
    let cols = [
        fr.u64_or0(COUNT)?,
        fr.u64_or0("nr_taken")?,
        fr.u64_or0("nr_deactivated")?,
        fr.u64_or0("nr_active")?,
        fr.u64_or0("nr_referenced")?,
    ];
    // Merged by name: a null name and an empty one both read as "".
    let mut acc: BTreeMap<(String, String), [u64; 5]> = BTreeMap::new();
    for i in 0..fr.height() {
        let e = acc.entry((rc[i].clone(), lr[i].clone())).or_default();
        for (k, c) in cols.iter().enumerate() {
            e[k] += c[i];
        }
    }
    let mut rows: Vec<(String, String, [u64; 5])> =
        acc.into_iter().map(|((r, l), v)| (r, l, v)).collect();
    rows.sort_by_key(|x| (reclaimer_key(&x.0), lru_key(&x.1)));
    for (rc, lru, v) in rows {
        t.push_row(LruActiveRow {
            reclaimer: rc.clone(),
            lru: lru.clone(),
            passes: v[0],
            taken: v[1],
            deactivated: v[2],
            kept_active: v[3],
            referenced: v[4],
        });
        r.metrics.push(Metric::new(
            format!("reclaim.{rc}.{lru}.deactivated"),
            v[2],
            Unit::Pages,
        ));
    }
    let any = !t.rows.is_empty();
    r.tables.push(t);
    Ok(any)
}

fn latency(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<bool, SectionError> {
    // reclaim_begin rows per reclaimer.
    let mut begins: BTreeMap<String, u64> = BTreeMap::new();
    let q = count_by(
        rec.scan("reclaim_begin", f, &["reclaimer"])?,
        &["reclaimer"],
        vec![],
    );
    let fr = rec.fetch("reclaim_begin", q)?;
    let (rc, n) = (fr.str_or_empty("reclaimer")?, fr.u64_or0(COUNT)?);
    for i in 0..fr.height() {
        begins.insert(rc[i].clone(), n[i]);
    }
    // Per process: counts and sums (percentiles below, for the rows shown).
    let mut procs: Vec<ProcLat> = Vec::new();
    let mut per_r: BTreeMap<String, (u64, Vec<i64>, u64)> = BTreeMap::new();
    let lf = rec.scan(
        "reclaim_end",
        f,
        &["reclaimer", "tgid", "comm", "nr_reclaimed", "duration_ns"],
    )?;
    let q = count_by(
        lf,
        &["reclaimer", "tgid", "comm"],
        vec![
            col("nr_reclaimed")
                .cast(DataType::UInt64)
                .sum()
                .alias("nr_reclaimed"),
            col("duration_ns").cast(DataType::Int64).alias("durations"),
        ],
    );
    let fr = rec.fetch("reclaim_end", q)?;
    let (rc, tg, cm) = (
        fr.str_or_empty("reclaimer")?,
        fr.u64_or0("tgid")?,
        fr.str_or_empty("comm")?,
    );
    let (n, nr, du) = (
        fr.u64_or0(COUNT)?,
        fr.u64_or0("nr_reclaimed")?,
        fr.i64_lists("durations")?,
    );
    // Merged by name: a null name and an empty one both read as "".
    let mut accs: BTreeMap<(String, u64, String), EndSums> = BTreeMap::new();
    for (i, d) in du.into_iter().enumerate() {
        let a = accs
            .entry((rc[i].clone(), tg[i], cm[i].clone()))
            .or_default();
        a.0 += n[i];
        a.1 += nr[i];
        a.2.extend(d);
    }
    for ((name, tgid, comm), (n, rcl, mut d)) in accs {
        let e = per_r.entry(name.clone()).or_default();
        e.0 += n;
        e.2 += rcl;
        e.1.extend_from_slice(&d);
        procs.push(ProcLat {
            reclaimer: name,
            tgid,
            comm,
            ends: n,
            total: d.iter().sum(),
            reclaimed: rcl,
            lat: Latency::of(&mut d),
        });
    }
    for rc in begins.keys() {
        per_r.entry(rc.clone()).or_default();
    }
    let memcgs = memcg_names(rec, f)?;
    let mut t = Table::of::<LatencyRow>(
        "latency",
        "Time in direct / memcg / node reclaim (reclaim_end.duration_ns; nearest-rank percentiles)",
    );
    let mut keys: Vec<String> = per_r.keys().cloned().collect();
    keys.sort_by_key(|k| reclaimer_key(k));
    for rc in keys {
        let Some((n, d, rcl)) = per_r.get_mut(&rc) else {
            continue;
        };
        let l = Latency::of(d);
        let b = begins.get(&rc).copied().unwrap_or(0);
        t.push_row(LatencyRow {
            reclaimer: rc.clone(),
            cgroup: memcgs.get(&rc).cloned(),
            begins: b,
            ends: *n,
            reclaimed: *rcl,
            timed: l.count,
            p50: l.p50,
            p90: l.p90,
            p99: l.p99,
            max: l.max,
            total: l.sum,
        });
        let m = |name: &str, v: Value, u: Unit| Metric::new(format!("reclaim.{rc}.{name}"), v, u);
        let ms = |v: Option<i64>| Value::from(v.map(|x| x as f64 / 1e6));
        r.metrics.push(m("calls", (*n).into(), Unit::Count));
        r.metrics.push(m("begins", b.into(), Unit::Count));
        if l.count > 0 {
            r.metrics.push(m("p50_ms", ms(l.p50), Unit::Ms));
            r.metrics.push(m("p90_ms", ms(l.p90), Unit::Ms));
            r.metrics.push(m("p99_ms", ms(l.p99), Unit::Ms));
            r.metrics.push(m("max_ms", ms(l.max), Unit::Ms));
        }
        r.metrics.push(m("total_ms", ms(Some(l.sum)), Unit::Ms));
    }
    let any = !t.rows.is_empty();
    r.tables.push(t);

    // Per process, by total time; percentiles for the rows kept.
    procs.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then(reclaimer_key(&a.reclaimer).cmp(&reclaimer_key(&b.reclaimer)))
            .then(a.tgid.cmp(&b.tgid))
            .then(a.comm.cmp(&b.comm))
    });
    let total_procs = procs.len();
    if f.top > 0 {
        procs.truncate(f.top);
    }
    let mut pt = Table::of::<ProcLatencyRow>(
        "latency_by_process",
        "Reclaim latency per process, by total time",
    );
    for p in procs {
        pt.push_row(ProcLatencyRow {
            reclaimer: p.reclaimer,
            tgid: p.tgid,
            comm: p.comm,
            ends: p.ends,
            reclaimed: p.reclaimed,
            timed: p.lat.count,
            p50: p.lat.p50,
            p90: p.lat.p90,
            p99: p.lat.p99,
            max: p.lat.max,
            total: p.lat.sum,
        });
    }
    pt.total_rows = total_procs;
    r.tables.push(pt);
    Ok(any)
}

/// Per memcg reclaimer (`memcg`, `memcg_softlimit`): the cgroups of the
/// tasks that reclaimed, most calls first (three named, then how many more).
fn memcg_names(rec: &Recording, f: &Filter) -> Result<BTreeMap<String, String>, SectionError> {
    let q = count_by(
        rec.scan("reclaim_end", f, &["reclaimer", "cgroup_id"])?,
        &["reclaimer", "cgroup_id"],
        vec![],
    );
    let fr = rec.fetch("reclaim_end", q)?;
    let (rc, cg, n) = (
        fr.str_or_empty("reclaimer")?,
        fr.u64_or0("cgroup_id")?,
        fr.u64_or0(COUNT)?,
    );
    let mut by: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for i in 0..fr.height() {
        if matches!(rc[i].as_str(), "memcg" | "memcg_softlimit") {
            let name = super::common::cgroup_name(rec, cg[i]);
            by.entry(rc[i].clone()).or_default().push((n[i], name));
        }
    }
    const SHOWN: usize = 3;
    Ok(by
        .into_iter()
        .map(|(r, mut v)| {
            v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let more = v.len().saturating_sub(SHOWN);
            let mut names: Vec<String> = v.into_iter().take(SHOWN).map(|x| x.1).collect();
            if more > 0 {
                names.push(format!("+{more} more"));
            }
            (r, names.join(", "))
        })
        .collect())
}

/// Per reclaimer and process: calls, pages reclaimed, the durations.
type EndSums = (u64, u64, Vec<i64>);

/// Per shrinker: calls, timed calls, freed, scanned, total ns, max ns.
type SlabSums = (u64, u64, i64, i64, i64, Option<i64>);

/// One process's reclaim latency.
#[derive(Debug, Clone)]
struct ProcLat {
    reclaimer: String,
    tgid: u64,
    comm: String,
    ends: u64,
    total: i64,
    reclaimed: u64,
    lat: Latency,
}

fn kswapd(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<bool, SectionError> {
    let mut per_node: BTreeMap<i64, (Kswapd, Vec<(i64, bool)>)> = BTreeMap::new();
    // Events per node and kind, counted by polars.
    let q = count_by(
        rec.scan("kswapd", f, &["event", "node"])?,
        &["node", "event"],
        vec![],
    );
    let fr = rec.fetch("kswapd", q)?;
    let (ev, node, n) = (
        fr.str_or_empty("event")?,
        fr.i64_or0("node")?,
        fr.u64_or0(COUNT)?,
    );
    for i in 0..fr.height() {
        let e = per_node.entry(node[i]).or_default();
        match ev[i].as_str() {
            "wake" => e.0.wakes += n[i],
            "sleep" => e.0.sleeps += n[i],
            "wakeup" => e.0.requests += n[i],
            _ => {}
        }
    }
    // The wakes and sleeps themselves, for the time awake.
    let fr = rec.fetch(
        "kswapd",
        rec.scan("kswapd", f, &["ts_ns", "event", "node"])?,
    )?;
    let (ts, ev, node) = (
        fr.i64_or0("ts_ns")?,
        fr.str_or_empty("event")?,
        fr.i64_or0("node")?,
    );
    for i in 0..fr.height() {
        let awake = match ev[i].as_str() {
            "wake" => true,
            "sleep" => false,
            _ => continue,
        };
        per_node.entry(node[i]).or_default().1.push((ts[i], awake));
    }
    let (lo, hi) = rec.window(f);
    let mut t = Table::of::<KswapdRow>(
        "kswapd",
        "kswapd per node: balancing runs (wake), sleeps, wake-up requests, time awake",
    );
    let (mut wakes, mut awake) = (0u64, 0i64);
    for (node, (mut k, mut ev)) in per_node {
        ev.sort_by_key(|e| e.0);
        k.awake_ns = awake_time(&ev, lo, hi);
        wakes += k.wakes;
        awake += k.awake_ns;
        let share = if hi > lo {
            Some(k.awake_ns as f64 / (hi - lo) as f64)
        } else {
            None
        };
        t.push_row(KswapdRow {
            node,
            wakes: k.wakes,
            sleeps: k.sleeps,
            wakeup_requests: k.requests,
            awake: k.awake_ns,
            awake_share: share,
        });
        r.metrics
            .push(Metric::new("reclaim.kswapd.wakeups", k.wakes, Unit::Count).label("node", node));
        r.metrics.push(
            Metric::new(
                "reclaim.kswapd.awake_s",
                k.awake_ns as f64 / 1e9,
                Unit::Seconds,
            )
            .label("node", node),
        );
    }
    r.metrics
        .push(Metric::new("reclaim.kswapd.wakeups", wakes, Unit::Count));
    r.metrics.push(Metric::new(
        "reclaim.kswapd.awake_s",
        awake as f64 / 1e9,
        Unit::Seconds,
    ));
    let any = !t.rows.is_empty();
    r.tables.push(t);
    Ok(any)
}

fn slab(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<bool, SectionError> {
    let mut t = Table::of::<SlabRow>("slab", "Slab shrinkers by total time (slab_end)");
    let (mut calls, mut total) = (0u64, 0i64);
    let lf = rec.scan(
        "slab_end",
        f,
        &["shrinker_fn", "freed", "total_scan", "duration_ns"],
    )?;
    let du = || col("duration_ns").cast(DataType::Int64);
    let q = count_by(
        lf,
        &["shrinker_fn"],
        vec![
            du().count().cast(DataType::UInt64).alias("timed"),
            col("freed").cast(DataType::Int64).sum().alias("freed"),
            col("total_scan")
                .cast(DataType::Int64)
                .sum()
                .alias("scanned"),
            du().sum().alias("total"),
            du().max().alias("max"),
        ],
    );
    let fr = rec.fetch("slab_end", q)?;
    let (sf, n, timed) = (
        fr.str_or_empty("shrinker_fn")?,
        fr.u64_or0(COUNT)?,
        fr.u64_or0("timed")?,
    );
    let (freed, scanned) = (fr.i64_or0("freed")?, fr.i64_or0("scanned")?);
    let (tot, max) = (fr.i64_or0("total")?, fr.i64("max")?);
    // Merged by name: a null name and an empty one both read as "".
    let mut acc: BTreeMap<String, SlabSums> = BTreeMap::new();
    for i in 0..fr.height() {
        let e = acc.entry(sf[i].clone()).or_default();
        e.0 += n[i];
        e.1 += timed[i];
        e.2 += freed[i];
        e.3 += scanned[i];
        e.4 += tot[i];
        e.5 = e.5.max(max[i]);
    }
    let mut rows: Vec<(String, SlabSums)> = acc.into_iter().collect();
    rows.sort_by(|a, b| b.1 .4.cmp(&a.1 .4).then(a.0.cmp(&b.0)));
    for (name, (n, timed, freed, scanned, tot, max)) in rows {
        calls += n;
        total += tot;
        let mean = if timed > 0 {
            Some(tot as f64 / timed as f64)
        } else {
            None
        };
        t.push_row(SlabRow {
            shrinker_fn: name.clone(),
            calls: n,
            timed,
            freed,
            scanned,
            total: tot,
            mean,
            max,
        });
        let lab = |m: Metric| m.label("shrinker", &name);
        r.metrics
            .push(lab(Metric::new("reclaim.slab.calls", n, Unit::Count)));
        r.metrics.push(lab(Metric::new(
            "reclaim.slab.total_ms",
            tot as f64 / 1e6,
            Unit::Ms,
        )));
        if let Some(m) = max {
            r.metrics.push(lab(Metric::new(
                "reclaim.slab.max_ms",
                m as f64 / 1e6,
                Unit::Ms,
            )));
        }
    }
    r.metrics
        .push(Metric::new("reclaim.slab.calls", calls, Unit::Count));
    r.metrics.push(Metric::new(
        "reclaim.slab.total_ms",
        total as f64 / 1e6,
        Unit::Ms,
    ));
    let any = !t.rows.is_empty();
    t.truncate(f.top);
    r.tables.push(t);
    Ok(any)
}

/// Reclaim as findings: per reclaimer (and, for memcg reclaim, per memory
/// cgroup of the reclaiming task), how often tasks reclaimed, how long the
/// longest pass took, and who waited. A pass of `--stall` or longer makes a
/// warning; memcg reclaim is worth knowing even when short (a cgroup at its
/// limit); direct and node reclaim only when they stalled.
fn findings(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let lf = rec.scan(
        "reclaim_end",
        f,
        &[
            "ts_ns",
            "tgid",
            "comm",
            "cgroup_id",
            "reclaimer",
            "nr_reclaimed",
            "duration_ns",
        ],
    )?;
    let fr = rec.fetch("reclaim_end", lf)?;
    // Text read in place, not copied out a row at a time: millions of
    // passes are common.
    let (comm, who) = (fr.chunked_str("comm")?, fr.chunked_str("reclaimer")?);
    let (ts, tgid, cg, nr, dur) = (
        fr.i64_or0("ts_ns")?,
        fr.u64_or0("tgid")?,
        fr.u64_or0("cgroup_id")?,
        fr.u64_or0("nr_reclaimed")?,
        fr.i64("duration_ns")?,
    );
    #[derive(Default)]
    struct Acc {
        passes: u64,
        reclaimed: u64,
        total_ns: i64,
        stalls: u64,
        first_ts: Option<i64>,
        /// (duration, row) of the longest pass.
        worst: Option<(i64, usize)>,
    }
    let mut by: BTreeMap<(&str, u64), Acc> = BTreeMap::new();
    for (i, who) in who.iter().enumerate().take(ts.len()) {
        let who = who.unwrap_or("");
        // Only memcg reclaim is told per cgroup: the others reclaim the node.
        let key_cg = if who == "memcg" { cg[i] } else { 0 };
        let a = by.entry((who, key_cg)).or_default();
        a.passes += 1;
        a.reclaimed += nr[i];
        a.first_ts = Some(a.first_ts.map_or(ts[i], |t: i64| t.min(ts[i])));
        if let Some(d) = dur[i] {
            a.total_ns += d;
            if d >= f.stall_ns {
                a.stalls += 1;
            }
            if a.worst.is_none_or(|(w, _)| d > w) {
                a.worst = Some((d, i));
            }
        }
    }
    let ms = |ns: i64| ns as f64 / 1e6;
    for ((name, cgroup_id), a) in by {
        let stalled = a.stalls > 0;
        if !stalled && name != "memcg" {
            continue;
        }
        let (sev, kind) = match (stalled, name) {
            (true, _) => (Severity::Warning, FindingKind::ReclaimStall),
            (false, _) => (Severity::Info, FindingKind::MemcgReclaim),
        };
        let where_ = if name == "memcg" {
            format!(" in memcg {}", super::common::cgroup_name(rec, cgroup_id))
        } else {
            String::new()
        };
        let comm_at = |i: usize| comm.get(i).unwrap_or("").to_string();
        let worst = a
            .worst
            .map(|(d, i)| {
                format!(
                    "; longest {:.3} ms by {} pid {}",
                    ms(d),
                    comm_at(i),
                    tgid[i]
                )
            })
            .unwrap_or_default();
        let stalls = if stalled {
            format!(", {} of them {:.0} ms or longer", a.stalls, ms(f.stall_ns))
        } else {
            String::new()
        };
        let mut fd = Finding::new(
            sev,
            kind,
            format!(
                "{} reclaim{where_}: {} passes{stalls}, {} pages reclaimed, {:.3} ms in all{worst}",
                match name {
                    "memcg" => "Memcg",
                    "direct" => "Direct",
                    "node" => "Node",
                    other => other,
                },
                a.passes,
                a.reclaimed,
                ms(a.total_ns),
            ),
        )
        .score(ms(a.worst.map_or(0, |w| w.0)) + a.passes as f64 / 1e6);
        if let Some(t) = a.first_ts {
            fd = fd.at(t);
        }
        if let Some((_, i)) = a.worst {
            fd = fd.task(tgid[i] as u32, comm_at(i));
        }
        if name == "memcg" {
            fd = fd.cgroup(super::common::cgroup_name(rec, cgroup_id));
        }
        r.findings.push(fd);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awake_pairs() {
        // wake 10, wake 15 (still awake), sleep 30, wake 50, end at 100.
        let ev = [(10, true), (15, true), (30, false), (50, true)];
        assert_eq!(awake_time(&ev, 0, 100), 20 + 50);
        // Awake at the start: first event is a sleep.
        assert_eq!(awake_time(&[(40, false)], 0, 100), 40);
        // A second sleep without a wake adds nothing.
        assert_eq!(
            awake_time(&[(10, true), (20, false), (25, false)], 0, 100),
            10
        );
        assert_eq!(awake_time(&[], 0, 100), 0);
    }
}
