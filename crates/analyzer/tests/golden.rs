//! Golden tests: figures computed independently from the raw rows (arrow-rs
//! reader, plain loops) against `memana report --format json`.
//!
//! Runs on the synthetic recording of `common::scenario` and on every
//! `fixtures/*.parquet` of the repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{memana, read_meta, read_rows, RawRow};
use serde_json::Value as J;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SEC: i64 = 1_000_000_000;

fn report(path: &Path, extra: &[&str]) -> J {
    let p = path.to_str().unwrap();
    let mut args = vec!["report", p, "--format", "json", "--top", "0"];
    args.extend_from_slice(extra);
    let (code, out, err) = memana(&args);
    assert_eq!(code, 0, "memana {args:?} failed: {err}");
    serde_json::from_str(&out).expect("json")
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-9
}

fn rows<'a>(rep: &'a J, section: &str, table: &str) -> &'a Vec<J> {
    static EMPTY: Vec<J> = Vec::new();
    rep["sections"][section]["tables"][table]["rows"]
        .as_array()
        .unwrap_or(&EMPTY)
}

fn metric(rep: &J, key: &str) -> Option<f64> {
    rep["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)
        .and_then(|m| m["value"].as_f64())
}

fn num(v: &J) -> Option<f64> {
    v.as_f64()
}

/// Nearest rank, from its definition: the smallest rank k with k >= p/100 * n.
fn nearest_rank(sorted: &[i64], p: u64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let mut k = 1u64;
    while 100 * k < p * n {
        k += 1;
    }
    Some(sorted[(k - 1) as usize])
}

/// Least squares, centred: (slope, r2).
fn fit(pts: &[(f64, f64)]) -> (Option<f64>, Option<f64>) {
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return (None, None);
    }
    let mut sx = 0.0;
    let mut sy = 0.0;
    for p in pts {
        sx += p.0;
        sy += p.1;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for p in pts {
        sxy += (p.0 - mx) * (p.1 - my);
        sxx += (p.0 - mx) * (p.0 - mx);
        syy += (p.1 - my) * (p.1 - my);
    }
    if sxx <= 0.0 {
        return (None, None);
    }
    (
        Some(sxy / sxx),
        if syy > 0.0 {
            Some(sxy * sxy / (sxx * syy))
        } else {
            None
        },
    )
}

fn opt_eq(got: &J, want: Option<f64>, what: &str) {
    match want {
        None => assert!(got.is_null(), "{what}: want null, got {got}"),
        Some(w) => {
            let g = got
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: want {w}, got {got}"));
            assert!(approx(g, w), "{what}: want {w}, got {g}");
        }
    }
}

struct Rec {
    rows: Vec<RawRow>,
    start: i64,
    end: i64,
}

impl Rec {
    fn load(path: &Path) -> Rec {
        let rows = read_rows(path);
        let meta = read_meta(path);
        let (start, end) = if meta.end_ns > meta.start_ns && meta.start_ns > 0 {
            (meta.start_ns, meta.end_ns)
        } else {
            (
                rows.iter().map(RawRow::ts).min().unwrap_or(0),
                rows.iter().map(RawRow::ts).max().unwrap_or(0),
            )
        };
        Rec { rows, start, end }
    }
    fn of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a RawRow> + 'a {
        self.rows.iter().filter(move |r| r.kind == kind)
    }
}

/// The process's name for a procstat row: the comm of the group leader's
/// (pid == tgid) rows, each name from the first time it was seen until the
/// next name; for a tgid without leader rows, the comm of its lowest pid
/// (the smallest such comm).
fn process_comm(rec: &Rec, row: &RawRow) -> String {
    process_name(rec, row.u("tgid"), row.ts())
}

fn process_name(rec: &Rec, tgid: u64, ts: i64) -> String {
    let mut first_seen: BTreeMap<String, i64> = BTreeMap::new();
    let mut lowest: Option<(u64, String)> = None;
    for r in rec.of("procstat").filter(|r| r.u("tgid") == tgid) {
        if r.u("pid") == tgid {
            let e = first_seen.entry(r.s("comm").to_string()).or_insert(r.ts());
            *e = (*e).min(r.ts());
        } else {
            let cand = (r.u("pid"), r.s("comm").to_string());
            if lowest.as_ref().is_none_or(|l| cand < *l) {
                lowest = Some(cand);
            }
        }
    }
    let mut epochs: Vec<(i64, String)> = first_seen.into_iter().map(|(c, t)| (t, c)).collect();
    epochs.sort();
    if epochs.is_empty() {
        return lowest.map(|l| l.1).unwrap_or_default();
    }
    let mut name = epochs[0].1.clone();
    for (t, c) in &epochs[1..] {
        if ts >= *t {
            name = c.clone();
        }
    }
    name
}

/// The earliest sample; of samples at one ts, the first in file order.
fn earliest<'a>(v: &[&'a RawRow]) -> Option<&'a RawRow> {
    v.iter().copied().min_by_key(|r| r.ts())
}

/// The latest sample; of samples at one ts, the first in file order.
fn latest<'a>(v: &[&'a RawRow]) -> Option<&'a RawRow> {
    v.iter()
        .copied()
        .reduce(|a, b| if b.ts() > a.ts() { b } else { a })
}

const FIELDS: [&str; 8] = [
    "rss_anon",
    "rss_file",
    "rss_shmem",
    "swap",
    "vsize",
    "pgtables",
    "stack",
    "data",
];

fn check_growth(
    rec: &Rec,
    rep: &J,
    keep: &dyn Fn(&RawRow) -> bool,
    kill_keep: &dyn Fn(&RawRow) -> bool,
) {
    // (tgid, comm) -> rows in file order
    let mut groups: BTreeMap<(u64, String), Vec<&RawRow>> = BTreeMap::new();
    for r in rec.of("procstat").filter(|r| keep(r)) {
        groups
            .entry((r.u("tgid"), process_comm(rec, r)))
            .or_default()
            .push(r);
    }
    // A victim is the (pid, name) it had at the kill; when no sample has that
    // name, the tgid's process seen last.
    let kills: BTreeSet<(u64, String)> = rec
        .of("oom_victim")
        .filter(|r| kill_keep(r))
        .map(|r| (r.u("victim_pid"), r.s("victim_comm").to_string()))
        .collect();
    let mut victims: BTreeSet<(u64, String)> = BTreeSet::new();
    for (pid, comm) in &kills {
        if groups.contains_key(&(*pid, comm.clone())) {
            victims.insert((*pid, comm.clone()));
        } else if let Some(((_, c), _)) = groups
            .iter()
            .filter(|((t, _), _)| t == pid)
            .max_by_key(|(_, rs)| rs.iter().map(|r| r.ts()).max().unwrap_or(0))
        {
            victims.insert((*pid, c.clone()));
        }
    }
    let got = rows(rep, "growth", "processes");
    assert_eq!(
        got.len(),
        groups.len(),
        "process count: want {:?}",
        groups.keys().collect::<Vec<_>>()
    );
    let total = |r: &RawRow| r.u("rss_anon") + r.u("rss_file") + r.u("rss_shmem");
    for ((tgid, comm), rs) in &groups {
        let g = got
            .iter()
            .find(|x| x["tgid"].as_u64() == Some(*tgid) && x["comm"] == comm.as_str())
            .unwrap_or_else(|| panic!("process {tgid} {comm} missing"));
        let what = format!("{tgid}/{comm}");
        assert_eq!(
            g["samples"].as_u64(),
            Some(rs.len() as u64),
            "{what} samples"
        );
        assert_eq!(
            g["first_ts"].as_i64(),
            earliest(rs).map(RawRow::ts),
            "{what} first_ts"
        );
        assert_eq!(
            g["last_ts"].as_i64(),
            latest(rs).map(RawRow::ts),
            "{what} last_ts"
        );
        // The exit sample never counts toward growth: first / last / max
        // come from the samples before it (from the exit samples only for
        // a process seen at nothing else, which then has no growth).
        let live: Vec<&RawRow> = rs
            .iter()
            .copied()
            .filter(|r| r.s("reason") != "exit")
            .collect();
        let basis: &[&RawRow] = if live.is_empty() { rs } else { &live };
        let (first, last) = (earliest(basis).unwrap(), latest(basis).unwrap());
        assert_eq!(
            g["rss_first"].as_u64(),
            Some(total(first)),
            "{what} rss_first"
        );
        assert_eq!(g["rss_last"].as_u64(), Some(total(last)), "{what} rss_last");
        let max = basis.iter().map(|r| total(r)).max();
        assert_eq!(g["rss_max"].as_u64(), max, "{what} rss_max");
        // VmHWM is a high-water mark, still right at the exit.
        let hwm = rs.iter().map(|r| r.u("rss_peak")).max();
        assert_eq!(g["rss_peak"].as_u64(), hwm, "{what} rss_peak (VmHWM)");
        let growth = (!live.is_empty()).then(|| total(last) as i64 - total(first) as i64);
        assert_eq!(g["rss_growth"].as_i64(), growth, "{what} rss_growth");
        let pts: Vec<(f64, f64)> = live
            .iter()
            .map(|r| ((r.ts() - rec.start) as f64 / 1e9, total(r) as f64))
            .collect();
        let (slope, r2) = fit(&pts);
        opt_eq(&g["growth_rate"], slope, &format!("{what} growth_rate"));
        opt_eq(&g["r2"], r2, &format!("{what} r2"));
        let exited = live.len() < rs.len();
        assert_eq!(g["exited"].as_bool(), Some(exited), "{what} exited");
        assert_eq!(
            g["oom_killed"].as_bool(),
            Some(victims.contains(&(*tgid, comm.clone()))),
            "{what} oom_killed"
        );
        let span = live.iter().map(|r| r.ts()).max().unwrap_or(0)
            - live.iter().map(|r| r.ts()).min().unwrap_or(0);
        assert_eq!(
            g["fit_samples"].as_u64(),
            Some(live.len() as u64),
            "{what} fit samples"
        );
        assert_eq!(g["fit_span"].as_i64(), Some(span), "{what} fit span");
        // Σ falls / Σ rises between consecutive samples in time order.
        let mut seq: Vec<(i64, u64)> = live.iter().map(|r| (r.ts(), total(r))).collect();
        seq.sort();
        let (mut up, mut down) = (0u64, 0u64);
        for w in seq.windows(2) {
            if w[1].1 > w[0].1 {
                up += w[1].1 - w[0].1;
            } else {
                down += w[0].1 - w[1].1;
            }
        }
        let given_back = (up > 0).then(|| down as f64 / up as f64);
        opt_eq(&g["given_back"], given_back, &format!("{what} given_back"));
        // The leak criterion at its defaults (docs/REPORTS.md), the first
        // test failed naming the verdict.
        let verdict = if live.len() < 10 {
            "too few samples"
        } else if span < 2 * SEC {
            "too short"
        } else if !slope.is_some_and(|s| s > 0.0) {
            "not growing"
        } else if growth.unwrap_or(0) < 1 << 20 {
            "grew little"
        } else if given_back.is_some_and(|x| x > 0.1) {
            "gave memory back"
        } else if !r2.is_some_and(|x| x >= 0.98) {
            "not linear"
        } else {
            "suspect"
        };
        assert_eq!(g["verdict"], verdict, "{what} verdict");
        assert_eq!(
            g["leak_suspect"].as_bool(),
            Some(verdict == "suspect"),
            "{what} leak"
        );
        for f in FIELDS {
            let row = rows(rep, "growth", "process_fields")
                .iter()
                .find(|x| {
                    x["tgid"].as_u64() == Some(*tgid)
                        && x["comm"] == comm.as_str()
                        && x["field"] == f
                })
                .unwrap_or_else(|| panic!("{what} {f} missing"));
            assert_eq!(row["first"].as_u64(), Some(first.u(f)), "{what} {f} first");
            assert_eq!(row["last"].as_u64(), Some(last.u(f)), "{what} {f} last");
            assert_eq!(
                row["peak"].as_u64(),
                basis.iter().map(|r| r.u(f)).max(),
                "{what} {f} peak"
            );
        }
    }
    let m = metric(rep, "growth.processes");
    assert_eq!(m, Some(groups.len() as f64));
}

fn check_reclaim(rec: &Rec, rep: &J) {
    let mut lru: BTreeMap<(String, String), [u64; 7]> = BTreeMap::new();
    for r in rec.of("lru_inactive") {
        let e = lru
            .entry((r.s("reclaimer").into(), r.s("lru").into()))
            .or_default();
        e[0] += 1;
        for (i, c) in [
            "nr_scanned",
            "nr_reclaimed",
            "nr_dirty",
            "nr_writeback",
            "nr_congested",
            "nr_immediate",
        ]
        .iter()
        .enumerate()
        {
            e[i + 1] += r.u(c);
        }
    }
    let got = rows(rep, "reclaim", "lru");
    for ((rc, l), e) in &lru {
        let g = got
            .iter()
            .find(|x| x["reclaimer"] == rc.as_str() && x["lru"] == l.as_str())
            .unwrap_or_else(|| panic!("lru {rc}/{l} missing"));
        assert_eq!(g["passes"].as_u64(), Some(e[0]));
        assert_eq!(g["scanned"].as_u64(), Some(e[1]));
        assert_eq!(g["reclaimed"].as_u64(), Some(e[2]));
        assert_eq!(g["dirty"].as_u64(), Some(e[3]));
        assert_eq!(g["writeback"].as_u64(), Some(e[4]));
        assert_eq!(g["congested"].as_u64(), Some(e[5]));
        assert_eq!(g["immediate"].as_u64(), Some(e[6]));
        let eff = if e[1] > 0 {
            Some(e[2] as f64 / e[1] as f64)
        } else {
            None
        };
        opt_eq(&g["efficiency"], eff, "efficiency");
        opt_eq(
            &g["dirty_share"],
            if e[1] > 0 {
                Some(e[3] as f64 / e[1] as f64)
            } else {
                None
            },
            "dirty share",
        );
        if let Some(eff) = eff {
            let m = metric(rep, &format!("reclaim.{rc}.{l}.efficiency")).unwrap();
            assert!(approx(m, eff));
        }
    }
    let total_scanned: u64 = lru.values().map(|e| e[1]).sum();
    assert_eq!(metric(rep, "reclaim.scanned"), Some(total_scanned as f64));

    // Latency per reclaimer.
    let mut durs: BTreeMap<String, (u64, Vec<i64>)> = BTreeMap::new();
    for r in rec.of("reclaim_end") {
        let e = durs.entry(r.s("reclaimer").into()).or_default();
        e.0 += 1;
        if let Some(d) = r.get("duration_ns").i64() {
            e.1.push(d);
        }
    }
    let got = rows(rep, "reclaim", "latency");
    for (rc, (n, d)) in &mut durs {
        d.sort();
        let g = got
            .iter()
            .find(|x| x["reclaimer"] == rc.as_str())
            .unwrap_or_else(|| panic!("latency {rc}"));
        assert_eq!(g["ends"].as_u64(), Some(*n), "{rc} ends");
        assert_eq!(g["timed"].as_u64(), Some(d.len() as u64));
        assert_eq!(g["p50"].as_i64(), nearest_rank(d, 50), "{rc} p50");
        assert_eq!(g["p90"].as_i64(), nearest_rank(d, 90), "{rc} p90");
        assert_eq!(g["p99"].as_i64(), nearest_rank(d, 99), "{rc} p99");
        assert_eq!(g["max"].as_i64(), d.last().copied(), "{rc} max");
        assert_eq!(
            g["total"].as_i64(),
            Some(d.iter().sum::<i64>()),
            "{rc} total"
        );
        if let Some(p) = nearest_rank(d, 99) {
            let m = metric(rep, &format!("reclaim.{rc}.p99_ms")).unwrap();
            assert!(approx(m, p as f64 / 1e6), "{rc} p99_ms");
        }
    }
    // Per process.
    let mut per: BTreeMap<(String, u64, String), Vec<i64>> = BTreeMap::new();
    for r in rec.of("reclaim_end") {
        let e = per
            .entry((r.s("reclaimer").into(), r.u("tgid"), r.s("comm").into()))
            .or_default();
        if let Some(d) = r.get("duration_ns").i64() {
            e.push(d);
        }
    }
    let got = rows(rep, "reclaim", "latency_by_process");
    assert_eq!(got.len(), per.len());
    for ((rc, tg, cm), d) in &mut per {
        d.sort();
        let g = got
            .iter()
            .find(|x| {
                x["reclaimer"] == rc.as_str()
                    && x["tgid"].as_u64() == Some(*tg)
                    && x["comm"] == cm.as_str()
            })
            .unwrap();
        assert_eq!(g["p90"].as_i64(), nearest_rank(d, 90));
        assert_eq!(g["total"].as_i64(), Some(d.iter().sum::<i64>()));
    }

    // kswapd: pair wake -> sleep per node in time order.
    let mut per_node: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for r in rec.of("kswapd") {
        per_node
            .entry(r.i("node"))
            .or_default()
            .push((r.ts(), r.s("event").to_string()));
    }
    let got = rows(rep, "reclaim", "kswapd");
    for (node, mut ev) in per_node {
        ev.sort_by_key(|e| e.0);
        let wakes = ev.iter().filter(|e| e.1 == "wake").count() as u64;
        let reqs = ev.iter().filter(|e| e.1 == "wakeup").count() as u64;
        let pairs: Vec<(i64, bool)> = ev
            .iter()
            .filter(|e| e.1 != "wakeup")
            .map(|e| (e.0, e.1 == "wake"))
            .collect();
        let mut awake = 0i64;
        let mut since: Option<i64> = None;
        for (i, (t, wake)) in pairs.iter().enumerate() {
            if *wake {
                if since.is_none() {
                    since = Some(*t);
                }
            } else if let Some(s) = since {
                awake += t - s;
                since = None;
            } else if i == 0 {
                awake += t - rec.start;
            }
        }
        if let Some(s) = since {
            awake += rec.end - s;
        }
        let g = got
            .iter()
            .find(|x| x["node"].as_i64() == Some(node))
            .unwrap();
        assert_eq!(g["wakes"].as_u64(), Some(wakes), "node {node} wakes");
        assert_eq!(g["wakeup_requests"].as_u64(), Some(reqs));
        assert_eq!(g["awake"].as_i64(), Some(awake), "node {node} awake");
    }

    // Slab.
    let mut slab: BTreeMap<String, (u64, u64, i64, Option<i64>)> = BTreeMap::new();
    for r in rec.of("slab_end") {
        let e = slab.entry(r.s("shrinker_fn").into()).or_default();
        e.0 += 1;
        if let Some(d) = r.get("duration_ns").i64() {
            e.1 += 1;
            e.2 += d;
            e.3 = Some(e.3.map_or(d, |m: i64| m.max(d)));
        }
    }
    let got = rows(rep, "reclaim", "slab");
    for (name, (n, timed, tot, max)) in slab {
        let g = got
            .iter()
            .find(|x| x["shrinker_fn"] == name.as_str())
            .unwrap();
        assert_eq!(g["calls"].as_u64(), Some(n));
        assert_eq!(g["timed"].as_u64(), Some(timed));
        assert_eq!(g["total"].as_i64(), Some(tot));
        assert_eq!(g["max"].as_i64(), max);
    }
}

fn check_paf(rec: &Rec, rep: &J) {
    let fails: Vec<&RawRow> = rec.of("paf").collect();
    assert_eq!(metric(rep, "paf.failures"), Some(fails.len() as f64));
    let zones: Vec<&RawRow> = rec.of("zone").collect();
    let mut idx: BTreeMap<String, u64> = BTreeMap::new();
    for z in &zones {
        idx.insert(z.s("zone").into(), z.u("zone_idx"));
    }
    let got = rows(rep, "paf", "failures");
    assert_eq!(got.len(), fails.len());
    for f in &fails {
        let t = f.ts();
        let hz = idx.get(f.s("highest_zone")).copied();
        let movable = f.s("migratetype_name") == "MIGRATE_MOVABLE";
        let mut seen = BTreeSet::new();
        let mut eligible = 0;
        let mut below = 0;
        // A zone above min that passes the order's check and holds a free
        // block of the order beyond free CMA (unmovable) and the atomic
        // reserve: the failure was not for fragmentation (REPORTS.md, paf).
        let mut block = false;
        for z in zones
            .iter()
            .filter(|z| z.ts() == t && z.s("trigger") == "alloc_fail")
        {
            if !seen.insert((z.u("node"), z.u("zone_idx"))) {
                continue;
            }
            if hz.is_some_and(|h| z.u("zone_idx") > h) {
                continue;
            }
            eligible += 1;
            let usable = z.u("free") as i64 - if movable { 0 } else { z.u("free_cma") as i64 };
            let bar = (z.u("min") + z.get("reserve").u64().unwrap_or(0)) as i64;
            if usable <= bar {
                below += 1;
            }
            let order = f.u("order");
            let blocks: Vec<u64> = (0..11)
                .map_while(|o| z.get(&format!("free_blocks_{o}")).u64())
                .collect();
            let big: u64 = blocks
                .iter()
                .enumerate()
                .skip(order as usize)
                .map(|(o, n)| n << o)
                .sum();
            let held = if movable { 0 } else { z.u("free_cma") } + z.u("reserved_highatomic");
            if usable > bar
                && usable - ((1i64 << order) - 1) > bar
                && !blocks.is_empty()
                && big > held
            {
                block = true;
            }
        }
        let verdict = if eligible == 0 {
            "unknown"
        } else if below == eligible {
            "exhaustion"
        } else if f.u("order") > 0 {
            if block {
                "other"
            } else {
                "fragmentation"
            }
        } else {
            "other"
        };
        let g = got
            .iter()
            .find(|x| x["ts_ns"].as_i64() == Some(t) && x["tgid"].as_u64() == Some(f.u("tgid")))
            .unwrap();
        assert_eq!(g["verdict"], verdict, "failure at {t}");
        assert_eq!(g["eligible_zones"].as_u64(), Some(eligible));
        assert_eq!(g["zones_below_min"].as_u64(), Some(below));
        let win = |kind: &'static str| {
            rec.of(kind)
                .filter(move |r| r.ts() >= t - 5 * SEC && r.ts() <= t)
        };
        assert_eq!(
            g["reclaim_begin"].as_u64(),
            Some(win("reclaim_begin").count() as u64)
        );
        assert_eq!(
            g["lru_scanned"].as_u64(),
            Some(win("lru_inactive").map(|r| r.u("nr_scanned")).sum())
        );
        assert_eq!(
            g["lru_reclaimed"].as_u64(),
            Some(win("lru_inactive").map(|r| r.u("nr_reclaimed")).sum())
        );
        assert_eq!(
            g["compact_try"].as_u64(),
            Some(win("compact_try").count() as u64)
        );
        assert_eq!(
            g["compact_suitable"].as_u64(),
            Some(win("compact_suitable").count() as u64)
        );
        assert_eq!(
            g["reclaim_retry"].as_u64(),
            Some(win("reclaim_retry").count() as u64)
        );
        assert_eq!(
            g["kswapd_wakes"].as_u64(),
            Some(win("kswapd").filter(|r| r.s("event") == "wake").count() as u64)
        );
    }
    // Zone summary over interval rows.
    let mut per: BTreeMap<(u64, String), Vec<&RawRow>> = BTreeMap::new();
    for z in zones.iter().filter(|z| z.s("trigger") == "interval") {
        per.entry((z.u("node"), z.s("zone").into()))
            .or_default()
            .push(z);
    }
    let got = rows(rep, "paf", "zone_summary");
    assert_eq!(got.len(), per.len());
    for ((node, zone), zs) in per {
        let g = got
            .iter()
            .find(|x| x["node"].as_u64() == Some(node) && x["zone"] == zone.as_str())
            .unwrap();
        assert_eq!(g["samples"].as_u64(), Some(zs.len() as u64));
        assert_eq!(g["free_min"].as_u64(), zs.iter().map(|z| z.u("free")).min());
        let le_min = zs.iter().filter(|z| z.u("free") <= z.u("min")).count() as u64;
        let le_low = zs.iter().filter(|z| z.u("free") <= z.u("low")).count() as u64;
        let le_high = zs.iter().filter(|z| z.u("free") <= z.u("high")).count() as u64;
        assert_eq!(g["samples_le_min"].as_u64(), Some(le_min));
        assert_eq!(g["samples_le_low"].as_u64(), Some(le_low));
        assert_eq!(g["samples_le_high"].as_u64(), Some(le_high));
        let mean = zs.iter().map(|z| z.u("free") as f64).sum::<f64>() / zs.len() as f64;
        opt_eq(&g["free_mean"], Some(mean), "free_mean");
    }
}

fn check_sysstat(rec: &Rec, rep: &J) {
    let fields: Vec<&str> = memtrace_schema::table("sysstat")
        .unwrap()
        .columns
        .iter()
        .filter(|c| {
            matches!(
                c.unit,
                memtrace_schema::Unit::Pages | memtrace_schema::Unit::HugePages
            )
        })
        .map(|c| c.name)
        .collect();
    let got = rows(rep, "sysstat", "fields");
    let mut nodes: BTreeMap<u64, Vec<&RawRow>> = BTreeMap::new();
    for r in rec.of("sysstat") {
        nodes.entry(r.u("node")).or_default().push(r);
    }
    for (node, mut rs) in nodes {
        rs.sort_by_key(|r| r.ts());
        for f in &fields {
            let pts: Vec<(i64, u64)> = rs
                .iter()
                .filter_map(|r| r.get(f).u64().map(|v| (r.ts(), v)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let g = got
                .iter()
                .find(|x| x["node"].as_u64() == Some(node) && x["field"] == *f)
                .unwrap();
            assert_eq!(g["samples"].as_u64(), Some(pts.len() as u64), "{f}");
            assert_eq!(g["first"].as_u64(), Some(pts[0].1), "{f} first");
            assert_eq!(g["last"].as_u64(), pts.last().map(|p| p.1), "{f} last");
            assert_eq!(g["min"].as_u64(), pts.iter().map(|p| p.1).min());
            assert_eq!(g["max"].as_u64(), pts.iter().map(|p| p.1).max());
            let mean = pts.iter().map(|p| p.1 as f64).sum::<f64>() / pts.len() as f64;
            opt_eq(&g["mean"], Some(mean), &format!("{f} mean"));
            let xy: Vec<(f64, f64)> = pts
                .iter()
                .map(|&(t, v)| ((t - rec.start) as f64 / 1e9, v as f64))
                .collect();
            opt_eq(&g["slope"], fit(&xy).0, &format!("{f} slope"));
            let mut rise: Option<(i64, i64)> = None;
            let mut fall: Option<(i64, i64)> = None;
            for w in pts.windows(2) {
                let d = w[1].1 as i64 - w[0].1 as i64;
                if d > 0 && rise.is_none_or(|r| d > r.0) {
                    rise = Some((d, w[1].0));
                }
                if d < 0 && fall.is_none_or(|r| d < r.0) {
                    fall = Some((d, w[1].0));
                }
            }
            assert_eq!(g["max_rise"].as_i64(), rise.map(|r| r.0), "{f} rise");
            assert_eq!(g["max_rise_ts"].as_i64(), rise.map(|r| r.1));
            assert_eq!(g["max_fall"].as_i64(), fall.map(|r| r.0), "{f} fall");
            let mm = metric(rep, &format!("sysstat.{f}.max{{node=\"{node}\"}}"));
            assert_eq!(mm, pts.iter().map(|p| p.1 as f64).reduce(f64::max));
        }
    }
}

fn check_oom(rec: &Rec, rep: &J) {
    let kills: Vec<&RawRow> = rec.of("oom_victim").collect();
    assert_eq!(metric(rep, "oom.kills"), Some(kills.len() as f64));
    let got = rows(rep, "oom", "victims");
    for k in kills {
        let g = got
            .iter()
            .find(|x| {
                x["ts_ns"].as_i64() == Some(k.ts())
                    && x["victim_pid"].as_u64() == Some(k.u("victim_pid"))
            })
            .unwrap();
        assert_eq!(g["anon_rss"].as_u64(), Some(k.u("anon_rss")));
        assert_eq!(
            g["rss"].as_u64(),
            Some(k.u("anon_rss") + k.u("file_rss") + k.u("shmem_rss"))
        );
        let mut before: Vec<(i64, u64)> = rec
            .of("procstat")
            .filter(|r| {
                r.u("tgid") == k.u("victim_pid")
                    && r.ts() <= k.ts()
                    && r.ts() >= k.ts() - 300 * SEC
                    && process_comm(rec, r) == process_name(rec, k.u("victim_pid"), k.ts())
            })
            .map(|r| (r.ts(), r.u("rss_anon") + r.u("rss_file") + r.u("rss_shmem")))
            .collect();
        before.sort_by_key(|p| p.0);
        assert_eq!(g["samples_before"].as_u64(), Some(before.len() as u64));
        assert_eq!(g["rss_first_before"].as_u64(), before.first().map(|p| p.1));
        assert_eq!(g["rss_last_before"].as_u64(), before.last().map(|p| p.1));
    }
}

fn check_header(rec: &Rec, rep: &J) {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rec.rows {
        *counts.entry(r.kind.as_str()).or_default() += 1;
    }
    for t in memtrace_schema::tables() {
        let got = metric(rep, &format!("header.rows{{table=\"{}\"}}", t.name));
        assert_eq!(
            got,
            Some(counts.get(t.name).copied().unwrap_or(0) as f64),
            "rows of {}",
            t.name
        );
    }
}

fn check_all(path: &Path) {
    let rec = Rec::load(path);
    let rep = report(path, &[]);
    check_header(&rec, &rep);
    check_growth(&rec, &rep, &|_| true, &|_| true);
    check_reclaim(&rec, &rep);
    check_paf(&rec, &rep);
    check_sysstat(&rec, &rep);
    check_oom(&rec, &rep);
    // Filters: a process, and a time window.
    if let Some(tgid) = rec.of("procstat").map(|r| r.u("tgid")).max() {
        let t = tgid.to_string();
        let rep = report(path, &["--section", "growth", "--pid", &t]);
        check_growth(&rec, &rep, &|r| r.u("tgid") == tgid, &|_| true);
    }
    let span = rec.end - rec.start;
    if span > 4 * SEC {
        let (lo, hi) = (
            rec.start + span / 4 / SEC * SEC,
            rec.start + span / 2 / SEC * SEC,
        );
        let from = format!("{}s", (lo - rec.start) / SEC);
        let to = format!("{}s", (hi - rec.start) / SEC);
        let rep = report(path, &["--section", "growth", "--from", &from, "--to", &to]);
        let inside = move |r: &RawRow| r.ts() >= lo && r.ts() < hi;
        check_growth(&rec, &rep, &inside, &inside);
    }
    let comm = rec.of("procstat").next().map(|r| process_comm(&rec, r));
    if let Some(c) = comm {
        let rep = report(path, &["--section", "growth", "--comm", &c]);
        check_growth(&rec, &rep, &|r| process_comm(&rec, r) == c, &|_| true);
    }
    let _ = num;
}

#[test]
fn synthetic_recording_matches_raw_rows() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("synthetic.parquet");
    let mut b = common::scenario::build(1);
    b.rows_per_group = 700; // several row groups per table
    b.write(&p);
    check_all(&p);
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
    v.sort();
    v
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Recordings made on other kernels (the kernel matrix), one directory per
/// kernel release: fixtures/kernels/<release>/.
fn kernel_fixture_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture_dir().join("kernels"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_dir());
    v.sort();
    v
}

/// The host kernel's fixtures, then every other kernel's.
fn fixtures() -> Vec<PathBuf> {
    let mut v = parquet_files(&fixture_dir());
    for dir in kernel_fixture_dirs() {
        v.extend(parquet_files(&dir));
    }
    v
}

/// Section names of a JSON report.
fn section_names(rep: &J) -> Vec<String> {
    rep["sections"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Table names of one section of a JSON report.
fn table_names(rep: &J, section: &str) -> Vec<String> {
    rep["sections"][section]["tables"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// A recording from another kernel is the common case in production: it
/// must report with the same sections and tables as the same scenario
/// recorded on the host's kernel.
#[test]
fn recordings_from_other_kernels_report_like_the_hosts() {
    let dirs = kernel_fixture_dirs();
    assert!(
        !dirs.is_empty(),
        "no fixtures/kernels/<release>/ (scripts/kernel-matrix.sh --fixtures makes them)"
    );
    for dir in dirs {
        let files = parquet_files(&dir);
        assert!(!files.is_empty(), "{}: no recordings", dir.display());
        for p in files {
            let host = fixture_dir().join(p.file_name().unwrap());
            assert!(
                host.exists(),
                "{}: no host fixture to compare with",
                p.display()
            );
            let (theirs, ours) = (report(&p, &[]), report(&host, &[]));
            assert_eq!(
                section_names(&theirs),
                section_names(&ours),
                "{}: sections differ from the host kernel's",
                p.display()
            );
            for s in section_names(&ours) {
                assert_eq!(
                    table_names(&theirs, &s),
                    table_names(&ours, &s),
                    "{}: tables of section {s} differ from the host kernel's",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn fixtures_match_raw_rows() {
    for p in fixtures() {
        eprintln!("fixture {}", p.display());
        let rows = read_rows(&p);
        if rows.is_empty() {
            let (code, _, err) = memana(&["report", p.to_str().unwrap()]);
            assert_eq!(code, 2, "{err}");
            continue;
        }
        check_all(&p);
    }
}

/// The processes a fixture's truth file says leaked: the workers of the
/// `leak` scenario (anonymous memory) and of `heap-leak` (malloc blocks);
/// no other scenario leaks (slab-hold closes its sockets before the end).
fn truth_leakers(truth: &J) -> BTreeSet<u64> {
    match truth["scenario"].as_str() {
        Some("leak" | "heap-leak") => truth["workers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["pid"].as_u64())
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Every fixture (host and other kernels): the leak suspects, growth's and
/// the leak findings, are exactly the processes the truth file says leaked;
/// the leaker is the first row of growth's table and the first leak
/// finding, and the text report names it in its first 25 lines.
#[test]
fn leak_suspects_are_the_truths_leakers() {
    let files = fixtures();
    assert!(!files.is_empty(), "no fixtures");
    for p in files {
        let truth_path = p.with_extension("truth.json");
        let truth: J = serde_json::from_str(
            &std::fs::read_to_string(&truth_path)
                .unwrap_or_else(|e| panic!("{}: {e}", truth_path.display())),
        )
        .unwrap();
        let want = truth_leakers(&truth);
        let rep = report(&p, &[]);
        let procs = rows(&rep, "growth", "processes");
        let suspects: BTreeSet<u64> = procs
            .iter()
            .filter(|r| r["leak_suspect"] == true)
            .filter_map(|r| r["tgid"].as_u64())
            .collect();
        let findings: Vec<&J> = rep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "leak_suspect")
            .collect();
        // A finding without a process (kernel memory) names no leaker: it
        // must not be there unless the truth says so, and no truth does.
        let found: BTreeSet<Option<u64>> = findings.iter().map(|f| f["pid"].as_u64()).collect();
        let what = format!("{} ({})", p.display(), truth["scenario"]);
        let mut all: BTreeSet<Option<u64>> = suspects.iter().map(|t| Some(*t)).collect();
        all.extend(found.iter().copied());
        assert_eq!(
            all,
            want.iter().map(|t| Some(*t)).collect(),
            "{what}: leak suspects {suspects:?} and leak findings {:?} against the truth's \
             leakers",
            findings.iter().map(|f| &f["summary"]).collect::<Vec<_>>()
        );
        // Every suspect of growth's table has its finding.
        for t in &suspects {
            assert!(
                found.contains(&Some(*t)),
                "{what}: suspect {t} has no finding"
            );
        }
        if want.is_empty() {
            continue;
        }
        assert!(!procs.is_empty(), "{what}: no process in growth's table");
        let top = procs[0]["tgid"].as_u64().unwrap();
        assert!(
            want.contains(&top),
            "{what}: first row of growth is {} {}, not a leaker",
            top,
            procs[0]["comm"]
        );
        let first = findings[0]["pid"].as_u64();
        assert!(
            first.is_some_and(|x| want.contains(&x)),
            "{what}: first leak finding is {}",
            findings[0]["summary"]
        );
        // The growth leaker's growth leaves its exit sample out: positive.
        for r in procs.iter().filter(|r| r["leak_suspect"] == true) {
            assert!(
                r["rss_growth"].as_i64().is_some_and(|g| g > 0),
                "{what}: suspect {} grew {}",
                r["tgid"],
                r["rss_growth"]
            );
        }
        let (code, text, err) = memana(&["report", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let head: Vec<&str> = text.lines().take(25).collect();
        for pid in &want {
            let comm = truth["workers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["pid"].as_u64() == Some(*pid))
                .and_then(|w| w["comm"].as_str())
                .unwrap_or_default();
            assert!(
                head.iter()
                    .any(|l| l.contains(&format!("pid {pid}")) && l.contains(comm)),
                "{what}: the first 25 lines do not name {comm} pid {pid}:\n{}",
                head.join("\n")
            );
        }
    }
}
