//! Zone tables: per-zone summary and the watermark timeline.

use super::verdict::{Level, ZoneRow};
use crate::model::{Metric, Table, TextLimit, Unit};
use std::collections::BTreeMap;

/// Per-zone summary and timeline of interval snapshots.
pub(super) fn zone_tables(rows: &[ZoneRow], metrics: &mut Vec<Metric>) -> (Table, Table) {
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
