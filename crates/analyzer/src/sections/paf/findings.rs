//! What the allocation-failure section tells first: the failures, by order
//! and verdict, and the zones whose free pages fell to their watermarks.

use super::verdict::{Failure, Level, Verdict, ZoneRow};
use crate::filter::Filter;
use crate::model::{Finding, FindingKind, Severity};
use crate::recording::{ReadError, Recording};
use std::collections::BTreeMap;

/// Why a verdict, in words a reader acts on.
fn because(v: Verdict, order: u32) -> String {
    match v {
        Verdict::Exhaustion => "every eligible zone was at or under its min watermark: memory ran out".into(),
        Verdict::Fragmentation => format!(
            "free pages were above the min watermark but no free block of order {order}: fragmentation"
        ),
        Verdict::Other => {
            "free pages were above min: a cpuset, mempolicy or no-retry allocation".into()
        }
        Verdict::Unknown => "no zone snapshot at the failure, so no verdict".into(),
    }
}

/// One finding per (order, verdict): how many, first when and by whom.
pub(super) fn failures(list: &[(Failure, Verdict)]) -> Vec<Finding> {
    let mut groups: BTreeMap<(u32, &'static str), Vec<&(Failure, Verdict)>> = BTreeMap::new();
    for x in list {
        groups.entry((x.0.order, x.1.name())).or_default().push(x);
    }
    let mut out = Vec::new();
    for ((order, _), xs) in groups {
        let Some(first) = xs.iter().min_by_key(|x| x.0.ts_ns) else {
            continue;
        };
        let (f, v) = (&first.0, first.1);
        let mut comms: Vec<&str> = xs.iter().map(|x| x.0.comm.as_str()).collect();
        comms.sort_unstable();
        comms.dedup();
        let n = xs.len();
        let mut summary = format!(
            "{n} order-{order} allocation failure{} ({}): {}",
            if n == 1 { "" } else { "s" },
            if f.gfp.is_empty() {
                "gfp unknown"
            } else {
                &f.gfp
            },
            because(v, order),
        );
        if !f.highest_zone.is_empty() {
            summary.push_str(&format!("; highest zone {}", f.highest_zone));
        }
        summary.push_str(&format!("; first by {} pid {}", f.comm, f.tgid));
        let mut fd = Finding::new(Severity::Critical, FindingKind::AllocFailure, summary)
            .score(n as f64)
            .at(f.ts_ns)
            .task(f.tgid, f.comm.clone());
        if comms.len() > 1 {
            let who = if comms.len() > 3 {
                format!("{}, … ({} commands)", comms[..3].join(", "), comms.len())
            } else {
                comms.join(", ")
            };
            fd = fd.detail(format!("by {who}"));
        }
        out.push(fd);
    }
    out
}

/// One finding per zone whose interval snapshots fell to its low watermark
/// or under (kswapd wakes at low; allocations stall at min).
pub(super) fn watermarks(timeline: &[ZoneRow]) -> Vec<Finding> {
    let mut groups: BTreeMap<(u32, u32, &str), Vec<&ZoneRow>> = BTreeMap::new();
    for z in timeline {
        groups
            .entry((z.node, z.zone_idx, z.zone.as_str()))
            .or_default()
            .push(z);
    }
    let mut out = Vec::new();
    for ((node, _, zone), zs) in groups {
        let level = |z: &ZoneRow| Level::of(z.free as i64, z.min, z.low, z.high, 0);
        let below_min = zs.iter().filter(|z| level(z) == Level::BelowMin).count();
        let below_low = zs
            .iter()
            .filter(|z| matches!(level(z), Level::BelowMin | Level::BelowLow))
            .count();
        if below_low == 0 {
            continue;
        }
        let Some(lowest) = zs.iter().min_by_key(|z| z.free) else {
            continue;
        };
        let first = zs
            .iter()
            .filter(|z| matches!(level(z), Level::BelowMin | Level::BelowLow))
            .map(|z| z.ts_ns)
            .min()
            .unwrap_or(lowest.ts_ns);
        let (sev, mark) = if below_min > 0 {
            (Severity::Warning, format!("at or under min in {below_min}"))
        } else {
            (Severity::Info, format!("at or under low in {below_low}"))
        };
        out.push(
            Finding::new(
                sev,
                FindingKind::WatermarkBreach,
                format!(
                    "Zone {zone} (node {node}): free pages {mark} of {} snapshots; lowest {} pages \
                     (min {}, low {}, high {})",
                    zs.len(),
                    lowest.free,
                    lowest.min,
                    lowest.low,
                    lowest.high
                ),
            )
            .score(below_low as f64 / zs.len() as f64)
            .at(first),
        );
    }
    out
}

/// Direct compaction seen from the allocator's side (the paf group's
/// `compact_try`): how often tasks compacted before allocating, and who.
/// The compaction group, when recorded, adds how long each one stalled.
pub(super) fn compaction_tries(rec: &Recording, f: &Filter) -> Result<Vec<Finding>, ReadError> {
    let fr = rec.fetch(
        "compact_try",
        rec.scan("compact_try", f, &["ts_ns", "tgid", "comm", "order"])?,
    )?;
    let (ts, tgid, comm, order) = (
        fr.i64_or0("ts_ns")?,
        fr.u64_or0("tgid")?,
        fr.str_or_empty("comm")?,
        fr.i64_or0("order")?,
    );
    // The compaction group, when recorded, has a finding of its own with
    // each stall's duration.
    if ts.is_empty() || rec.group_state("compaction") == crate::recording::GroupState::Recorded {
        return Ok(Vec::new());
    }
    let mut by: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for i in 0..ts.len() {
        *by.entry((tgid[i], comm[i].as_str())).or_default() += 1;
    }
    let mut who: Vec<((u64, &str), u64)> = by.into_iter().collect();
    who.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let list: Vec<String> = who
        .iter()
        .take(3)
        .map(|((p, c), n)| format!("{c} pid {p} ×{n}"))
        .collect();
    let (lo, hi) = (
        order.iter().min().copied().unwrap_or(0),
        order.iter().max().copied().unwrap_or(0),
    );
    let orders = if lo == hi {
        format!("order {lo}")
    } else {
        format!("orders {lo}-{hi}")
    };
    let first = ts.iter().min().copied().unwrap_or(0);
    let ((p, c), _) = who[0];
    Ok(vec![Finding::new(
        Severity::Info,
        FindingKind::CompactionStall,
        format!(
            "Direct compaction tried {} times ({orders}) before allocating, by {} (record \
             +compaction for its stalls and durations)",
            ts.len(),
            list.join(", "),
        ),
    )
    .score(ts.len() as f64)
    .at(first)
    .task(p as u32, c.to_string())])
}
