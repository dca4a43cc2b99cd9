//! Query plumbing: the failures and zone snapshots as rows, and the
//! slow-path counts in the window before each failure.

use super::verdict::{Failure, ZoneRow};
use crate::filter::Filter;
use crate::frame::{values_i64_opt, values_u64};
use crate::recording::Recording;
use crate::sections::SectionError;
use memtrace_schema::file_column_name;
use polars::prelude::*;
use std::collections::HashMap;

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
pub(super) struct WindowSums {
    /// Failure times, ascending.
    tf: Vec<i64>,
    w: i64,
    rows: Vec<i64>,
    a: Vec<i128>,
    b: Vec<i128>,
    /// The last row's (i, j): rows come in time order, so the next row
    /// mostly has the same, checked in four comparisons instead of two
    /// binary searches.
    last: (usize, usize),
}

impl WindowSums {
    pub(super) fn new(tf: Vec<i64>, w: i64) -> Self {
        let n = tf.len() + 1;
        WindowSums {
            tf,
            w,
            rows: vec![0; n],
            a: vec![0; n],
            b: vec![0; n],
            last: (0, 0),
        }
    }

    /// A row at `ts` counts for every failure with ts <= tf <= ts + w.
    pub(super) fn add(&mut self, ts: i64, a: u64, b: u64) {
        let end = ts.saturating_add(self.w);
        let tf = &self.tf;
        // i = the first failure at or after ts; j = the first after end.
        let (li, lj) = self.last;
        let same_i = (li == 0 || tf.get(li - 1).is_some_and(|&t| t < ts))
            && tf.get(li).is_none_or(|&t| t >= ts);
        let same_j = (lj == 0 || tf.get(lj - 1).is_some_and(|&t| t <= end))
            && tf.get(lj).is_none_or(|&t| t > end);
        let i = if same_i {
            li
        } else {
            tf.partition_point(|&t| t < ts)
        };
        let j = if same_j {
            lj
        } else {
            tf.partition_point(|&t| t <= end)
        };
        self.last = (i, j);
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
    pub(super) fn totals(&self) -> Vec<(u64, u64, u64)> {
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
pub(super) fn merged_windows(ts: &[i64], w: i64) -> Vec<(i64, i64)> {
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

pub(super) fn load_failures(rec: &Recording, f: &Filter) -> Result<Vec<Failure>, SectionError> {
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

pub(super) fn load_zones(rec: &Recording, lf: LazyFrame) -> Result<Vec<ZoneRow>, SectionError> {
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
    let highatomic = fr.u64_or0("reserved_highatomic")?;
    let blocks = free_blocks(rec, &ts)?;
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
            reserved_highatomic: highatomic[i],
            free_blocks: blocks
                .get(&(ts[i], node[i], idx[i]))
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    out.sort_by_key(|a| (a.ts_ns, a.node, a.zone_idx));
    out.dedup_by(|b, a| (a.ts_ns, a.node, a.zone_idx) == (b.ts_ns, b.node, b.zone_idx));
    Ok(out)
}

pub(super) const ZONE_COLS: &[&str] = &[
    "ts_ns",
    "node",
    "zone",
    "zone_idx",
    "free",
    "min",
    "low",
    "high",
    "free_cma",
    "reserve",
    "reserved_highatomic",
];

/// Free blocks per order by (ts_ns, node, zone_idx).
type FreeBlocks = HashMap<(i64, u64, u64), Vec<u64>>;

/// Free blocks per order of the zone rows at these times; empty for
/// recordings without them (an older memrec).
fn free_blocks(rec: &Recording, ts: &[i64]) -> Result<FreeBlocks, SectionError> {
    let orders: Vec<String> = (0..11).map(|o| format!("free_blocks_{o}")).collect();
    let mut out = HashMap::new();
    if ts.is_empty() || !rec.columns.contains(&file_column_name("zone", &orders[0])) {
        return Ok(out);
    }
    let mut cols: Vec<&str> = vec!["ts_ns", "node", "zone_idx"];
    cols.extend(orders.iter().map(String::as_str));
    let lf = rec
        .scan_with("zone", &Filter::default(), &cols, false)?
        .filter(col("ts_ns").is_in(
            lit(Series::new("ts".into(), ts.to_vec())).implode(false),
            false,
        ));
    let fr = rec.fetch("zone", lf)?;
    let (t, node, idx) = (
        fr.i64_or0("ts_ns")?,
        fr.u64_or0("node")?,
        fr.u64_or0("zone_idx")?,
    );
    let mut per: Vec<Vec<Option<u64>>> = Vec::with_capacity(orders.len());
    for o in &orders {
        per.push(fr.u64(o)?);
    }
    for i in 0..fr.height() {
        // Orders the kernel has are non-null, from order 0 up.
        let b: Vec<u64> = per.iter().map_while(|c| c[i]).collect();
        out.insert((t[i], node[i], idx[i]), b);
    }
    Ok(out)
}

pub(super) fn contexts(
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
