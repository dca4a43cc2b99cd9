//! Fidelity of the hugetlb group against the kernel's huge page pool
//! (/proc/meminfo `HugePages_*`, read by memscen) and allocation counters
//! (/proc/vmstat `htlb_buddy_alloc_*`), read with the arrow-rs reader
//! (independent of the analyzer).
//!
//! Every recording with the group:
//! - The default size's pool at memrec's start and end snapshots equals
//!   memscen's /proc/meminfo before and after it: exact (nothing else
//!   changes the pool in the second between them).
//! - Δ`htlb_buddy_alloc_success` and Δ`htlb_buddy_alloc_fail` over the
//!   recording equal memscen's over its window: exact, likewise.
//!
//! memscen's hugetlb scenario (known faults and pool changes):
//! - Fault rows of its faulting thread = the huge pages it touched, and of
//!   its process the same, each of the default size, inside its touching
//!   window, and their bytes = the process's `HugetlbPages`: exact (one
//!   write per huge page: one fault, accounted once).
//! - After the k-th fault the pool holds the grown pool's free pages less
//!   k and the mapping's reservations less k, and its total is the grown
//!   pool: exact (each fault takes one free, reserved page).
//! - Each pool state memscen made (grown, mapped, touched, unmapped), held
//!   1.5 s, is seen by an interval snapshot taken while it held, and every
//!   snapshot in between shows it, the next one, or the pool after one of
//!   memscen's faults (a snapshot can land between a change and memscen's
//!   read of it, or between two faults). memrec snapshots every
//!   second, late by at most one 100 ms drain.
//! - Δ`htlb_buddy_alloc_success` = the pages the pool grew by.
#![allow(dead_code)]

use serde_json::Value;

use super::fidelity::{Case, Report};
use super::rows::{group_recorded, int, metric, text};
use super::Row;

/// Whether the recording holds the hugetlb group.
pub fn recorded(c: &Case) -> bool {
    group_recorded(c.meta(), "hugetlb")
}

/// The default huge page size in bytes (memscen's `Hugepagesize`).
fn default_size(c: &Case) -> Option<i128> {
    c.truth["before"]["meminfo"]["Hugepagesize"]
        .as_u64()
        .map(|kb| i128::from(kb) * 1024)
}

/// The pool as (total, free, reserved, surplus).
type Pool = [i128; 4];

fn meminfo_pool(snapshot: &Value) -> Option<Pool> {
    let m = &snapshot["meminfo"];
    let v = |k: &str| m[k].as_u64().map(i128::from);
    Some([
        v("HugePages_Total")?,
        v("HugePages_Free")?,
        v("HugePages_Rsvd")?,
        v("HugePages_Surp")?,
    ])
}

fn truth_pool(step: &Value) -> Option<Pool> {
    let p = &step["pool"];
    let v = |k: &str| p[k].as_u64().map(i128::from);
    Some([v("total")?, v("free")?, v("reserved")?, v("surplus")?])
}

fn row_pool(row: &Row) -> Pool {
    [
        int(row, "total"),
        int(row, "free"),
        int(row, "reserved"),
        int(row, "surplus"),
    ]
}

/// The default size's pool snapshots, in time order.
fn default_pools(c: &Case, size: i128) -> Vec<Row> {
    let mut rows: Vec<Row> = c
        .table("hugetlb_pool")
        .iter()
        .filter(|x| int(x, "page_size") == size)
        .cloned()
        .collect();
    rows.sort_by_key(|x| int(x, "ts_ns"));
    rows
}

/// A /proc/vmstat counter's change over memscen's window.
fn vm_truth_delta(c: &Case, key: &str) -> Option<i128> {
    let at = |side: &str| c.truth[side]["vmstat"][key].as_u64().map(i128::from);
    Some(at("after")? - at("before")?)
}

/// The pool and the allocation counters against memscen's reads, and the
/// scenario's own checks where it is memscen's hugetlb scenario.
pub fn hugetlb(c: &Case, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        r.skip(
            s,
            "hugetlb pool vs /proc/meminfo HugePages_*",
            "the hugetlb group was not recorded",
        );
        return;
    }
    let Some(size) = default_size(c) else {
        r.skip(s, "hugetlb pool", "the truth has no Hugepagesize");
        return;
    };
    let pools = default_pools(c, size);
    for (trigger, side) in [("start", "before"), ("end", "after")] {
        let rows: Vec<&Row> = pools
            .iter()
            .filter(|x| text(x, "trigger") == trigger)
            .collect();
        let Some(kernel) = meminfo_pool(&c.truth[side]) else {
            r.skip(
                s,
                "hugetlb pool",
                format!("the truth has no {side} meminfo"),
            );
            continue;
        };
        let [row] = rows[..] else {
            r.check(
                s,
                &format!("one {trigger} pool snapshot of the default size"),
                false,
                format!("{} rows", rows.len()),
            );
            continue;
        };
        let got = row_pool(row);
        for (i, name) in ["Total", "Free", "Rsvd", "Surp"].iter().enumerate() {
            r.exact(
                s,
                &format!("hugetlb_pool at {trigger} vs memscen's {side} HugePages_{name}"),
                got[i],
                kernel[i],
            );
        }
    }
    for key in ["htlb_buddy_alloc_success", "htlb_buddy_alloc_fail"] {
        if let Some(truth) = vm_truth_delta(c, key) {
            r.exact(
                s,
                &format!("Δ{key} over the recording vs memscen's"),
                c.vmstat_delta(key),
                truth,
            );
        }
    }
    if c.truth["hugetlb"].is_object() {
        scenario(c, r, size, &pools);
    }
}

/// memscen's hugetlb scenario: its faults and the pool states it made.
fn scenario(c: &Case, r: &mut Report, size: i128, pools: &[Row]) {
    let s = c.name;
    let h = &c.truth["hugetlb"];
    let n = |k: &str| h[k].as_i64().map(i128::from).unwrap_or(-1);
    let (tid, pid, touched) = (n("tid"), n("pid"), n("touched_pages"));
    let faults = c.table("hugetlb_fault");
    let mut mine: Vec<&Row> = faults.iter().filter(|x| int(x, "pid") == tid).collect();
    mine.sort_by_key(|x| int(x, "ts_ns"));
    r.exact(
        s,
        "hugetlb_fault rows of memscen's faulting thread vs huge pages it touched",
        mine.len() as i128,
        touched,
    );
    let process: Vec<&Row> = faults.iter().filter(|x| int(x, "tgid") == pid).collect();
    r.exact(
        s,
        "hugetlb_fault rows of memscen's process vs huge pages it touched",
        process.len() as i128,
        touched,
    );
    r.exact(
        s,
        "Σ page_size of the process's faults vs its HugetlbPages (/proc/PID/status)",
        process.iter().map(|x| int(x, "page_size")).sum(),
        n("status_hugetlb_kb") * 1024,
    );
    r.check(
        s,
        "memscen's faults: default page size, inside its touching window",
        mine.iter().all(|x| {
            int(x, "page_size") == size
                && (n("touch_start_ns")..=n("touch_end_ns")).contains(&int(x, "ts_ns"))
        }),
        format!(
            "page sizes {:?} | times {:?} | window {}..={}",
            mine.iter().map(|x| int(x, "page_size")).collect::<Vec<_>>(),
            mine.iter().map(|x| int(x, "ts_ns")).collect::<Vec<_>>(),
            n("touch_start_ns"),
            n("touch_end_ns")
        ),
    );
    let steps: Vec<&Value> = h["steps"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let step = |name: &str| {
        steps
            .iter()
            .find(|x| x["step"] == name)
            .and_then(|x| truth_pool(x))
    };
    // The pool after each of memscen's faults, from its steps: each takes
    // one free, reserved page.
    let between: Vec<Pool> = match (step("grown"), step("mapped")) {
        (Some(grown), Some(mapped)) => (1..=touched)
            .map(|k| [grown[0], grown[1] - k, mapped[2] - k, grown[3]])
            .collect(),
        _ => Vec::new(),
    };
    if !between.is_empty() {
        let after: Vec<Pool> = mine
            .iter()
            .map(|x| {
                [
                    int(x, "pool_total"),
                    int(x, "pool_free"),
                    int(x, "pool_reserved"),
                    int(x, "pool_surplus"),
                ]
            })
            .collect();
        let want = &between;
        r.check(
            s,
            "pool after each fault: free and reserved one less per fault, total the grown pool",
            after == *want,
            format!("recorded {after:?} | memscen's steps give {want:?}"),
        );
    }
    // Each state from the time memscen read it to the next step's read.
    let mut states: Vec<(String, i128, Pool)> = Vec::new();
    if let Some(before) = meminfo_pool(&c.truth["before"]) {
        let t0 = c.truth["start_boottime_ns"]
            .as_i64()
            .map(i128::from)
            .unwrap_or(0);
        states.push(("before".into(), t0, before));
    }
    for x in &steps {
        if let (Some(name), Some(ts), Some(p)) =
            (x["step"].as_str(), x["boottime_ns"].as_i64(), truth_pool(x))
        {
            states.push((name.to_string(), i128::from(ts), p));
        }
    }
    let intervals: Vec<&Row> = pools
        .iter()
        .filter(|x| text(x, "trigger") == "interval")
        .collect();
    // The last (the pool restored) is the end snapshot's, checked above.
    for (i, (name, from, pool)) in states.iter().enumerate().skip(1) {
        let Some((_, to, next)) = states.get(i + 1) else {
            break;
        };
        let (to, next) = (*to, Some(*next));
        let seen: Vec<Pool> = intervals
            .iter()
            .filter(|x| (*from..to).contains(&int(x, "ts_ns")))
            .map(|x| row_pool(x))
            .collect();
        let ok = seen.contains(pool)
            && seen
                .iter()
                .all(|p| p == pool || Some(*p) == next || between.contains(p));
        r.check(
            s,
            &format!("interval pool snapshots while `{name}` held"),
            ok,
            format!("memscen read {pool:?} | snapshots {seen:?} | next {next:?}"),
        );
    }
    r.exact(
        s,
        "memscen's Δhtlb_buddy_alloc_success vs the pages the pool grew by",
        vm_truth_delta(c, "htlb_buddy_alloc_success").unwrap_or(-1),
        n("allocated") - n("original"),
    );
}

/// memana's hugetlb section against the rows and the counters.
pub fn analyzer(c: &Case, report: &Value, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        return;
    }
    r.exact(
        s,
        "memana hugetlb.faults vs rows",
        metric(report, "hugetlb.faults").unwrap_or(-1),
        c.table("hugetlb_fault").len() as i128,
    );
    for key in ["htlb_buddy_alloc_success", "htlb_buddy_alloc_fail"] {
        r.exact(
            s,
            &format!("memana hugetlb.{key} vs Δ{key}"),
            metric(report, &format!("hugetlb.{key}")).unwrap_or(-1),
            c.vmstat_delta(key),
        );
    }
    if let Some(size) = default_size(c) {
        let pools = default_pools(c, size);
        if let (Some(first), Some(last)) = (pools.first(), pools.last()) {
            let label = format!("{}kB", size / 1024);
            for (at, row) in [("first", first), ("last", last)] {
                r.exact(
                    s,
                    &format!("memana hugetlb.pool_total at {at} vs the snapshot"),
                    metric(
                        report,
                        &format!("hugetlb.pool_total{{at=\"{at}\",page_size=\"{label}\"}}"),
                    )
                    .unwrap_or(-1),
                    int(row, "total"),
                );
            }
        }
    }
}
