//! Fidelity of the compaction group and of the zone snapshots' free blocks
//! per order: each figure against the kernel's own accounting, read with the
//! arrow-rs reader (independent of the analyzer).
//!
//! - Direct compaction: the attempts the rows make up (runs and deferral
//!   events carry the time of their thread's try_to_compact_pages()) equal
//!   `compact_stall`, and those the allocation's own reset follows equal
//!   `compact_success`, the rest `compact_fail`. Exact: the kernel counts
//!   one stall per attempt that returns more than COMPACT_SKIPPED, which an
//!   attempt does exactly when it deferred, compacted or found ready a zone,
//!   each of which leaves a row.
//! - Scans: every run's row holds the kernel's own totals
//!   (`cc->total_migrate_scanned` / `total_free_scanned`), which compact_zone()
//!   adds to `compact_migrate_scanned` / `compact_free_scanned` right before
//!   the end tracepoint: exact. kcompactd adds its runs' to
//!   `compact_daemon_*_scanned`, and its proactive runs' on newer kernels
//!   (not on 6.1): exact, one or the other.
//! - `compact_isolated`: the isolate tracepoints inside the runs, summed
//!   (skipped where `mm_compaction_fast_isolate_freepages` is missing, as on
//!   6.1: the free-list fast path then isolates unseen).
//!   Exact where nothing isolates outside compaction runs:
//!   alloc_contig_range() (CMA, gigantic huge pages, memory offlining) counts
//!   its isolations there too, and a fatal signal that cuts a migration scan
//!   counts its isolations without the tracepoint.
//! - kcompactd wake-ups equal `compact_daemon_wake`: exact.
//! - Free blocks per order in the start and end snapshots against
//!   /proc/buddyinfo read by memrec right before and right after each (see
//!   [`buddyinfo`] for the tolerance).
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

use super::fidelity::{Case, Report};
use super::rows::{flag, group_recorded, int, metric, opt_int, text};
use super::Row;

/// The group's programs whose rows the counter checks need.
const RUN_PROGRAMS: &[&str] = &[
    "cmp_begin",
    "cmp_end",
    "cmp_try",
    "cmp_isolate_migrate",
    "cmp_isolate_free",
    "cmp_deferred",
    "cmp_defer_reset",
];

/// Whether the recording holds the compaction group.
fn recorded(c: &Case) -> bool {
    group_recorded(c.meta(), "compaction")
}

/// One direct compaction attempt, from its rows.
#[derive(Debug, Default)]
struct Attempt {
    rows: u64,
    success: bool,
}

/// Direct compaction attempts by (thread, try_to_compact_pages() time).
fn attempts(c: &Case) -> BTreeMap<(i128, i128), Attempt> {
    let mut out: BTreeMap<(i128, i128), Attempt> = BTreeMap::new();
    for x in c.table("compaction_run").iter() {
        if let Some(at) = opt_int(x, "attempt_ts_ns") {
            out.entry((int(x, "pid"), at)).or_default().rows += 1;
        }
    }
    for x in c.table("compaction_defer").iter() {
        let Some(at) = opt_int(x, "attempt_ts_ns") else {
            continue;
        };
        let a = out.entry((int(x, "pid"), at)).or_default();
        match (text(x, "event"), flag(x, "after_return")) {
            ("defer_reset", true) => a.success = true,
            ("defer_reset", false) | ("deferred", _) => a.rows += 1,
            _ => {}
        }
    }
    out
}

/// The compaction group against the kernel's compact_* counters.
pub fn compaction(c: &Case, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        r.skip(
            s,
            "compaction rows vs compact_* counters",
            "the compaction group was not recorded",
        );
        return;
    }
    if let Some(why) = c.missing(RUN_PROGRAMS) {
        r.skip(s, "compaction rows vs compact_* counters", why);
        return;
    }
    let at = attempts(c);
    let stalls = at.values().filter(|a| a.rows > 0).count() as i128;
    let success = at.values().filter(|a| a.rows > 0 && a.success).count() as i128;
    r.exact(
        s,
        "direct compaction stalls vs compact_stall",
        stalls,
        c.vmstat_delta("compact_stall"),
    );
    r.exact(
        s,
        "stalls whose allocation got its page vs compact_success",
        success,
        c.vmstat_delta("compact_success"),
    );
    r.exact(
        s,
        "other stalls vs compact_fail",
        stalls - success,
        c.vmstat_delta("compact_fail"),
    );
    let runs = c.table("compaction_run");
    // Nulls (the sums of a run whose begin was not seen) add nothing.
    let sum = |col: &str| -> i128 { runs.iter().filter_map(|x| opt_int(x, col)).sum() };
    r.exact(
        s,
        "Σ compaction_run.migrate_scanned vs compact_migrate_scanned",
        sum("migrate_scanned"),
        c.vmstat_delta("compact_migrate_scanned"),
    );
    r.exact(
        s,
        "Σ compaction_run.free_scanned vs compact_free_scanned",
        sum("free_scanned"),
        c.vmstat_delta("compact_free_scanned"),
    );
    // Without its tracepoint (6.1) the free-list fast path isolates
    // unseen.
    match c.missing(&["cmp_fast_isolate_free"]) {
        Some(why) => r.skip(
            s,
            "Σ compaction_run.isolated_migrate + isolated_free vs compact_isolated",
            why,
        ),
        None => {
            // A run whose begin memrec did not see has no sums (null): said
            // with the check, which then fails by what they isolated.
            let unknown = runs
                .iter()
                .filter(|x| opt_int(x, "isolated_migrate").is_none())
                .count();
            r.note(
                s,
                "compaction runs without their begin (sums unknown)",
                format!("{unknown} of {}", runs.len()),
            );
            r.exact(
                s,
                "Σ compaction_run.isolated_migrate + isolated_free vs compact_isolated",
                sum("isolated_migrate") + sum("isolated_free"),
                c.vmstat_delta("compact_isolated"),
            )
        }
    }
    // kcompactd adds each run's totals to compact_daemon_*_scanned; its
    // proactive runs too on newer kernels, not on 6.1. Exact either way: the
    // check says which held.
    for (col, key) in [
        ("migrate_scanned", "compact_daemon_migrate_scanned"),
        ("free_scanned", "compact_daemon_free_scanned"),
    ] {
        let of = |runner: &str| -> i128 {
            runs.iter()
                .filter(|x| text(x, "runner") == runner)
                .map(|x| int(x, col))
                .sum()
        };
        let (woken, proactive) = (of("kcompactd"), of("proactive"));
        let kernel = c.vmstat_delta(key);
        let which = if kernel == woken + proactive {
            "kcompactd and proactive runs"
        } else if kernel == woken {
            "kcompactd runs (this kernel leaves proactive runs out)"
        } else {
            "neither kcompactd runs nor kcompactd and proactive runs"
        };
        r.check(
            s,
            &format!("Σ kcompactd runs' {col} (with or without proactive ones) vs {key}"),
            kernel == woken + proactive || kernel == woken,
            format!(
                "kcompactd {woken} | proactive {proactive} | kernel {kernel} | equal to {which} | tolerance 0"
            ),
        );
    }
    match c.missing(&["cmp_kcompactd_wake"]) {
        Some(why) => r.skip(s, "kcompactd wake-ups vs compact_daemon_wake", why),
        None => {
            let wakes = c
                .table("kcompactd")
                .iter()
                .filter(|x| text(x, "event") == "wake")
                .count();
            r.exact(
                s,
                "kcompactd wake-ups vs compact_daemon_wake",
                wakes as i128,
                c.vmstat_delta("compact_daemon_wake"),
            );
        }
    }
    // Every run of a direct attempt is a direct run, and the reverse.
    let direct_without = runs
        .iter()
        .filter(|x| (text(x, "runner") == "direct") != opt_int(x, "attempt_ts_ns").is_some())
        .count();
    r.check(
        s,
        "direct runs are exactly those with an attempt",
        direct_without == 0,
        format!("{direct_without} of {} runs differ", runs.len()),
    );
    if s == "fragment" || c.truth["scenario"] == "fragment" {
        // The scenario exists to make direct compaction.
        r.check(
            s,
            "the scenario made direct compaction, and it was recorded",
            stalls > 0 && c.vmstat_delta("compact_stall") > 0,
            format!("{stalls} stalls recorded"),
        );
    }
}

/// A zone's free blocks per order in a zone row; None when the row has none
/// (a recording from an older memrec).
fn free_blocks(row: &Row) -> Option<Vec<i128>> {
    let n = opt_int(row, "orders")?.min(11) as usize;
    (0..n)
        .map(|o| opt_int(row, &format!("free_blocks_{o}")))
        .collect()
}

/// Pages a set of free block counts holds.
fn pages(blocks: &[i128]) -> i128 {
    blocks.iter().enumerate().map(|(o, n)| n << o).sum()
}

/// The zone snapshots' free blocks per order against /proc/buddyinfo.
///
/// memrec reads /proc/buddyinfo right before and right after each of its
/// start and end snapshots, with nothing else in between (tens of
/// microseconds each). All three read `free_area[o].nr_free`, so the
/// snapshot's count of each order lies between the two reads' unless the
/// lists moved back and forth in between. The check counts the pages in
/// the blocks by which a snapshot lies outside its two reads, per zone; the
/// tolerance is one refill and one drain of every other CPU's per-CPU page
/// list in between (`batch` pages each): 2 × CPUs × the largest `batch`
/// from memscen's /proc/zoneinfo. Recordings from before the second read
/// are compared with the one read they have.
pub fn buddyinfo(c: &Case, r: &mut Report) {
    let s = c.name;
    let zones = c.table("zone");
    if zones.iter().all(|z| free_blocks(z).is_none()) {
        r.skip(
            s,
            "zone free blocks per order vs /proc/buddyinfo",
            "the zone snapshots have no free blocks per order (an older memrec)",
        );
        return;
    }
    let tol = pcp_tolerance(c);
    let read = |key: &str| -> Option<BTreeMap<(i128, String), Vec<i128>>> {
        let reads = c.meta()[key].as_array()?;
        Some(
            reads
                .iter()
                .map(|k| {
                    let node = k["node"].as_i64().unwrap_or(-1) as i128;
                    let zone = k["zone"].as_str().unwrap_or("").to_string();
                    let blocks = k["free_blocks"]
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(0) as i128).collect())
                        .unwrap_or_default();
                    ((node, zone), blocks)
                })
                .collect(),
        )
    };
    for (trigger, before, after) in [
        ("start", "buddyinfo_start_before", "buddyinfo_start"),
        ("end", "buddyinfo_end", "buddyinfo_end_after"),
    ] {
        let figure = format!("{trigger} snapshot's free blocks per order vs /proc/buddyinfo");
        let (b1, b2) = match (read(before), read(after)) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) | (None, Some(a)) => (a.clone(), a),
            (None, None) => {
                r.skip(
                    s,
                    &figure,
                    "no /proc/buddyinfo read in the metadata (an older memrec)",
                );
                continue;
            }
        };
        let snap: Vec<&Row> = zones
            .iter()
            .filter(|z| text(z, "trigger") == trigger)
            .collect();
        let mut within = 0;
        let mut bad: Vec<String> = Vec::new();
        let mut worst = 0i128;
        for ((node, zone), lo_read) in &b1 {
            let hi_read = b2.get(&(*node, zone.clone())).unwrap_or(lo_read);
            let Some(row) = snap
                .iter()
                .find(|z| int(z, "node") == *node && text(z, "zone") == zone)
            else {
                // buddyinfo prints populated zones; the snapshot skips unpopulated ones.
                if lo_read.iter().any(|&n| n > 0) {
                    bad.push(format!("{node}:{zone} missing from the {trigger} snapshot"));
                }
                continue;
            };
            let got = free_blocks(row).unwrap_or_default();
            if got.len() != lo_read.len() || got.len() != hi_read.len() {
                bad.push(format!(
                    "{node}:{zone}: {} orders recorded, {} in buddyinfo",
                    got.len(),
                    lo_read.len()
                ));
                continue;
            }
            // Pages in the blocks by which the snapshot lies outside the reads.
            let outside: i128 = (0..got.len())
                .map(|o| {
                    let (lo, hi) = (lo_read[o].min(hi_read[o]), lo_read[o].max(hi_read[o]));
                    ((lo - got[o]).max(0) + (got[o] - hi).max(0)) << o
                })
                .sum();
            worst = worst.max(outside);
            if outside == 0 {
                within += 1;
            } else if outside > tol.0 {
                bad.push(format!(
                    "{node}:{zone}: recorded {got:?} ({} pages), buddyinfo before {lo_read:?} \
                     ({} pages), after {hi_read:?} ({} pages)",
                    pages(&got),
                    pages(lo_read),
                    pages(hi_read)
                ));
            }
        }
        r.check(
            s,
            &figure,
            bad.is_empty() && !snap.is_empty(),
            format!(
                "{} zones, {within} within the reads before and after; largest difference \
                 {worst} pages in blocks | tolerance {} pages ({}){}",
                b1.len(),
                tol.0,
                tol.1,
                if bad.is_empty() {
                    String::new()
                } else {
                    format!(" | {bad:?}")
                }
            ),
        );
    }
}

/// Pages the CPUs can move between the free lists and their per-CPU lists
/// with one refill and one drain each: 2 × CPUs × the largest per-CPU list
/// `batch` in memscen's /proc/zoneinfo; and why.
fn pcp_tolerance(c: &Case) -> (i128, String) {
    let raw = c.truth["before"]["zoneinfo_raw"].as_str().unwrap_or("");
    let batch: i128 = raw
        .lines()
        .filter_map(|l| l.trim().strip_prefix("batch:"))
        .filter_map(|v| v.trim().parse::<i128>().ok())
        .max()
        .unwrap_or(0);
    let cpus = c.nr_cpus() as i128;
    (
        2 * cpus * batch,
        format!("2 × {cpus} CPUs × per-CPU list batch {batch}"),
    )
}

/// The analyzer's compaction figures against the same counters.
pub fn analyzer(c: &Case, report: &Value, r: &mut Report) {
    let s = &format!("{} memana", c.name);
    if !recorded(c) {
        r.skip(
            s,
            "compaction section",
            "the compaction group was not recorded",
        );
        return;
    }
    if let Some(why) = c.missing(RUN_PROGRAMS) {
        r.skip(s, "compaction section", why);
        return;
    }
    let memana = |key: &str| -> i128 {
        metric(report, key).unwrap_or_else(|| panic!("memana reports no whole metric {key}"))
    };
    let fast = c.missing(&["cmp_fast_isolate_free"]);
    for (m, k) in [
        ("compaction.stalls", "compact_stall"),
        ("compaction.success", "compact_success"),
        ("compaction.fail", "compact_fail"),
        ("compaction.migrate_scanned", "compact_migrate_scanned"),
        ("compaction.free_scanned", "compact_free_scanned"),
        ("compaction.isolated", "compact_isolated"),
        ("compaction.kcompactd_wakes", "compact_daemon_wake"),
    ] {
        match &fast {
            Some(why) if k == "compact_isolated" => r.skip(s, &format!("{m} vs {k}"), why.clone()),
            _ => r.exact(s, &format!("{m} vs {k}"), memana(m), c.vmstat_delta(k)),
        }
    }
}
