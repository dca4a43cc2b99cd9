//! Page-allocation failures against the zone watermarks, and the slow path
//! (reclaim, compaction) that ran before them.

mod findings;
mod query;
mod slow_path;
mod verdict;
mod zones;

pub use query::Context;
pub use verdict::{judge, usable_free, Failure, Level, Verdict, ZoneRow};

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Table, TextLimit, Unit};
use crate::recording::Recording;
use crate::report_row;
use polars::prelude::*;
use query::{contexts, load_failures, load_zones, ZONE_COLS};
use slow_path::slow_path;
use std::collections::{BTreeMap, HashMap};
use zones::zone_tables;

report_row! {
    /// One allocation failure, its verdict and the slow path before it.
    struct FailureRow {
        ts_ns: i64 => Timestamp,
        tgid: u32 => None,
        comm: String => None,
        order: u32 => None,
        gfp: String => None,
        migratetype: String => None,
        highest_zone: String => None,
        node: u32 => None,
        verdict: &'static str => None,
        eligible_zones: usize => Count,
        zones_below_min: usize => Count,
        reclaim_begin: u64 => Count,
        lru_scanned: u64 => Pages,
        lru_reclaimed: u64 => Pages,
        compact_try: u64 => Count,
        compact_suitable: u64 => Count,
        reclaim_retry: u64 => Count,
        kswapd_wakes: u64 => Count,
    }
}

report_row! {
    /// One zone eligible for a failed allocation, at the failure.
    struct FailureZoneRow {
        ts_ns: i64 => Timestamp,
        tgid: u32 => None,
        order: u32 => None,
        node: u32 => None,
        zone: String => None,
        free: u64 => Pages,
        free_cma: u64 => Pages,
        usable: i64 => Pages,
        min: u64 => Pages,
        low: u64 => Pages,
        high: u64 => Pages,
        reserve: u64 => Pages,
        level: &'static str => None,
    }
}

report_row! {
    /// Failures of one order, gfp mask and highest zone, by verdict.
    struct KindRow {
        order: u32 => None,
        gfp: String => None,
        highest_zone: String => None,
        failures: u64 => Count,
        exhaustion: u64 => Count,
        fragmentation: u64 => Count,
        other: u64 => Count,
        unknown: u64 => Count,
    }
}

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
    let mut ft = Table::of::<FailureRow>(
        "failures",
        "Failures, with the slow path in the window before each",
    )
    .with_text_limit(if f.top == 0 {
        TextLimit::All
    } else {
        TextLimit::Head(f.top)
    });
    let mut zt = Table::of::<FailureZoneRow>(
        "failure_zones",
        "Eligible zones at each failure (usable = free - free_cma unless movable; \
         watermarks + reserve)",
    )
    .with_text_limit(if f.top == 0 {
        TextLimit::All
    } else {
        TextLimit::Head(f.top * 3)
    });
    let empty = Vec::new();
    let mut judged: Vec<(Failure, Verdict)> = Vec::with_capacity(failures.len());
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
        judged.push((fl.clone(), verdict));
        let e = by_kind
            .entry((fl.order, fl.gfp.clone(), fl.highest_zone.clone()))
            .or_default();
        e[0] += 1;
        e[vi + 1] += 1;
        let c = ctx.get(i).copied().unwrap_or_default();
        ft.push_row(FailureRow {
            ts_ns: fl.ts_ns,
            tgid: fl.tgid,
            comm: fl.comm.clone(),
            order: fl.order,
            gfp: fl.gfp.clone(),
            migratetype: fl.migratetype_name.clone(),
            highest_zone: fl.highest_zone.clone(),
            node: fl.node,
            verdict: verdict.name(),
            eligible_zones: elig.len(),
            zones_below_min: elig.iter().filter(|e| e.2 == Level::BelowMin).count(),
            reclaim_begin: c.reclaim_begin,
            lru_scanned: c.lru_scanned,
            lru_reclaimed: c.lru_reclaimed,
            compact_try: c.compact_try,
            compact_suitable: c.compact_suitable,
            reclaim_retry: c.reclaim_retry,
            kswapd_wakes: c.kswapd_wakes,
        });
        for (z, usable, level) in elig {
            zt.push_row(FailureZoneRow {
                ts_ns: fl.ts_ns,
                tgid: fl.tgid,
                order: fl.order,
                node: z.node,
                zone: z.zone.clone(),
                free: z.free,
                free_cma: z.free_cma,
                usable,
                min: z.min,
                low: z.low,
                high: z.high,
                reserve: z.reserve.unwrap_or(0),
                level: level.name(),
            });
        }
    }
    let mut kt = Table::of::<KindRow>("by_kind", "Failures by order x gfp x highest zone");
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
    for ((order, gfp, hz), c) in kinds {
        kt.push_row(KindRow {
            order,
            gfp,
            highest_zone: hz,
            failures: c[0],
            exhaustion: c[1],
            fragmentation: c[2],
            other: c[3],
            unknown: c[4],
        });
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
    // Failures per order and per highest zone, counted by polars; summed
    // into the maps as the failures table reads them (order as u32, a null
    // zone as "").
    let mut by_order: BTreeMap<u32, u64> = BTreeMap::new();
    let q = count_by(rec.scan("paf", f, &["order"])?, &["order"], vec![]);
    let fr = rec.fetch("paf", q)?;
    for (o, n) in fr.u64_or0("order")?.into_iter().zip(fr.u64_or0(COUNT)?) {
        *by_order.entry(o as u32).or_default() += n;
    }
    let mut by_zone: BTreeMap<String, u64> = BTreeMap::new();
    let q = count_by(
        rec.scan("paf", f, &["highest_zone"])?,
        &["highest_zone"],
        vec![],
    );
    let fr = rec.fetch("paf", q)?;
    for (z, n) in fr
        .str_or_empty("highest_zone")?
        .into_iter()
        .zip(fr.u64_or0(COUNT)?)
    {
        *by_zone.entry(z).or_default() += n;
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
    r.findings.extend(findings::failures(&judged));
    r.findings.extend(findings::compaction_tries(rec, f)?);
    r.findings.extend(findings::watermarks(&timeline));
    let (sum, tl) = zone_tables(&timeline, &mut r.metrics);
    r.tables.push(sum);
    r.tables.push(tl);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::query::{merged_windows, WindowSums};
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
            ..Default::default()
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

    /// The remembered (i, j) of the last row never changes a sum: rows in
    /// time order, out of order, repeated, and at the extremes, against
    /// sums taken one failure at a time.
    #[test]
    fn window_sums_equal_the_sums_taken_one_failure_at_a_time() {
        let tf = vec![-5, 0, 0, 7, 20, 21, 40, i64::MAX - 1];
        let w = 6;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rows: Vec<(i64, u64, u64)> = (0..400)
            .map(|k| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 60) as i64 - 10, k, 2 * k)
            })
            .collect();
        rows.extend([(i64::MIN, 1, 1), (i64::MAX, 1, 1), (i64::MAX - 3, 5, 5)]);
        let mut sorted = rows.clone();
        sorted.sort();
        for rows in [rows, sorted] {
            let mut s = WindowSums::new(tf.clone(), w);
            for &(t, a, b) in &rows {
                s.add(t, a, b);
            }
            let want: Vec<(u64, u64, u64)> = tf
                .iter()
                .map(|&f| {
                    rows.iter()
                        .filter(|r| r.0 <= f && f <= r.0.saturating_add(w))
                        .fold((0, 0, 0), |acc, r| (acc.0 + 1, acc.1 + r.1, acc.2 + r.2))
                })
                .collect();
            assert_eq!(s.totals(), want);
        }
    }
}
