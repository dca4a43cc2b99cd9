//! Zone tables: per-zone summary and the watermark timeline.

use super::verdict::{Level, ZoneRow};
use crate::model::{Metric, Table, TextLimit, Unit};
use crate::report_row;
use std::collections::BTreeMap;

report_row! {
    /// One zone's free pages over the recording, against its watermarks.
    struct ZoneSummaryRow {
        node: u32 => None,
        zone: String => None,
        samples: u64 => Count,
        free_min: u64 => Pages,
        free_mean: f64 => Pages,
        free_max: u64 => Pages,
        samples_le_min: u64 => Count,
        samples_le_low: u64 => Count,
        samples_le_high: u64 => Count,
        min: Option<u64> => Pages,
        low: Option<u64> => Pages,
        high: Option<u64> => Pages,
    }
}

report_row! {
    /// One zone snapshot.
    struct TimelineRow {
        ts_ns: i64 => Timestamp,
        node: u32 => None,
        zone: String => None,
        free: u64 => Pages,
        min: u64 => Pages,
        low: u64 => Pages,
        high: u64 => Pages,
        level: &'static str => None,
    }
}

/// Per-zone summary and timeline of interval snapshots.
pub(super) fn zone_tables(rows: &[ZoneRow], metrics: &mut Vec<Metric>) -> (Table, Table) {
    let mut sum = Table::of::<ZoneSummaryRow>(
        "zone_summary",
        "Free pages against watermarks per zone (interval snapshots)",
    );
    let mut tl = Table::of::<TimelineRow>(
        "zone_timeline",
        "Timeline: free pages and watermarks per zone",
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
        sum.push_row(ZoneSummaryRow {
            node: *node,
            zone: zone.clone(),
            samples: n,
            free_min: fmin,
            free_mean: fsum as f64 / n as f64,
            free_max: fmax,
            samples_le_min: bmin,
            samples_le_low: blow,
            samples_le_high: bhigh,
            min: last.map(|z| z.min),
            low: last.map(|z| z.low),
            high: last.map(|z| z.high),
        });
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
        tl.push_row(TimelineRow {
            ts_ns: z.ts_ns,
            node: z.node,
            zone: z.zone.clone(),
            free: z.free,
            min: z.min,
            low: z.low,
            high: z.high,
            level: Level::of(z.free as i64, z.min, z.low, z.high, 0).name(),
        });
    }
    (sum, tl)
}
