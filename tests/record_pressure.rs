//! The recorder on a real kernel under real pressure: a memcg that reclaims,
//! an OOM kill, order-9 allocation failures and a steady leak, made by
//! memscen while memrec records everything. The assertions are what an SRE
//! would check against the kernel's own counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::kernel::{self, ProbeState};
use support::*;

/// Why a table that any of these programs writes can have no rows: all of
/// them are missing on this kernel (as `memrec probes` agreed).
fn missing(meta: &serde_json::Value, programs: &[&str]) -> Option<String> {
    let why: Vec<String> = kernel::recorded_probes(meta)
        .into_iter()
        .filter(|p| programs.contains(&p.program.as_str()))
        .map(|p| match p.state {
            Ok(ProbeState::Missing) => Some(format!(
                "{} ({}) is missing on this kernel: {}",
                p.program, p.target, p.error
            )),
            _ => None,
        })
        .collect::<Option<Vec<String>>>()?;
    (!why.is_empty()).then(|| why.join("; "))
}

/// A line for the test's output even when it passes and the harness
/// captures (what this kernel lacks, what was skipped).
fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn sum(rows: &[&Row], col: &str) -> i128 {
    rows.iter().map(|r| r[col].int()).sum()
}

#[test]
fn root_records_every_group_under_memory_pressure() {
    if skip_unless_root("root_records_every_group_under_memory_pressure") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pressure.parquet");
    let rec = start_recording(&path, &[]);
    let reclaim = scenario("memcg-reclaim", "normal", dir.path());
    let oom = scenario("oom", "normal", dir.path());
    let alloc = scenario("alloc-fail", "normal", dir.path());
    let leak = scenario("leak", "small", dir.path());
    let summary = rec.stop();
    eprintln!("{summary}");
    let f = read(&path);

    // Nothing may be lost, or the exact comparisons below mean nothing.
    // Every program ran, stands by for one that runs, was not asked for,
    // or is missing on this kernel, as `memrec probes` here agrees: a
    // failed attach, or a "missing" this kernel does not confirm, fails.
    let here = kernel::KernelProbes::here(&bin("memrec")).unwrap();
    let mut bad = Vec::new();
    for p in kernel::recorded_probes(&f.meta) {
        let (ok, seen) = kernel::probe_verdict(&p, Some(&here));
        if p.state != Ok(ProbeState::Attached) {
            say(format!("probe {} ({}): {seen}", p.program, p.target));
        }
        if !ok {
            bad.push(format!("{} ({}): {seen}", p.program, p.target));
        }
        if p.lost != 0 {
            bad.push(format!("{}: lost {} events", p.target, p.lost));
        }
    }
    assert!(bad.is_empty(), "probes: {bad:#?}");
    for g in f.meta["groups"].as_array().unwrap() {
        assert_eq!(g["malformed"], 0, "malformed records in {}", g["name"]);
    }

    // Every probe group wrote rows, unless the programs that write a
    // table are missing on this kernel (said).
    for (table, programs) in [
        ("procstat", &["procstat_switch", "procstat_tick"][..]),
        ("sysstat", &["snapshot_now"][..]),
        ("zone", &["snapshot_now"][..]),
        ("paf", &["paf_page_alloc"][..]),
        ("lru_inactive", &["pr_lru_inactive"][..]),
        ("reclaim_begin", &["pr_direct_begin", "pr_memcg_begin"][..]),
        ("reclaim_end", &["pr_direct_end", "pr_memcg_end"][..]),
        ("oom_victim", &["oom_mark_victim"][..]),
    ] {
        if let Some(why) = missing(&f.meta, programs) {
            say(format!("SKIPPED: rows in {table}: {why}"));
            continue;
        }
        assert!(!f.table(table).is_empty(), "no {table} rows");
    }
    // The last sample of a process is its exit, written by the exit
    // tracepoint's program or the mmput() hook standing in for it.
    let exit = fidelity::exit_programs(&f.meta);
    say(format!(
        "exit samples: {}",
        exit.as_ref().unwrap_or_else(|e| e)
    ));

    // The OOM victim is the workload memscen started, and only it was killed.
    let victims = f.table("oom_victim");
    let victim_pid = oom["oom"]["victim_pid"].as_i64().unwrap() as i128;
    assert!(oom["oom"]["killed"].as_bool().unwrap());
    assert_eq!(
        victims.len() as i128,
        f.vmstat_delta("oom_kill"),
        "one row per oom_kill"
    );
    let v = victims
        .iter()
        .find(|v| v["victim_pid"].int() == victim_pid)
        .expect("victim row");
    assert_eq!(v["victim_comm"].text(), "memscen-oom");
    // The victim was killed at its limit: its anon RSS is most of 64 MiB.
    let limit = oom["oom"]["limit_bytes"].as_u64().unwrap() as i128;
    assert!(
        v["anon_rss"].int() > limit / 2 && v["anon_rss"].int() <= limit,
        "{v:?}"
    );

    // procstat follows the growing processes. memcg-reclaim grows its heap
    // within a few ms and frees it before exiting: the peak keeps it.
    let procstat = f.table("procstat");
    let samples_of = |truth: &serde_json::Value| -> Vec<&Row> {
        let pid = truth["worker_pids"][0].as_i64().unwrap() as i128;
        procstat.iter().filter(|r| r["tgid"].int() == pid).collect()
    };
    let s = samples_of(&reclaim);
    assert!(s.len() >= 2, "memcg-reclaim: {} procstat samples", s.len());
    let heap = reclaim["memcg_reclaim"]["heap_bytes"].as_u64().unwrap() as i128;
    let peak_rise = s.iter().map(|r| r["rss_peak"].int()).max().unwrap() - s[0]["rss_peak"].int();
    assert!(
        peak_rise >= heap * 9 / 10,
        "memcg-reclaim: rss_peak rose {peak_rise}, heap {heap}"
    );
    assert_eq!(
        s.last().unwrap()["reason"].text(),
        "exit",
        "last procstat sample; {exit:?}"
    );

    // The leak grows steadily: procstat's RSS follows /proc/PID/status.
    let s = samples_of(&leak);
    assert!(s.len() >= 10, "leak: {} procstat samples", s.len());
    let rate = leak["leak"]["rate_bytes_per_s"].as_f64().unwrap();
    let first = s[0]["rss_anon"].int();
    let max = s.iter().map(|r| r["rss_anon"].int()).max().unwrap();
    let status_max = leak["status_samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["rss_anon_kb"].as_u64())
        .max()
        .unwrap() as i128
        * 1024;
    assert!(
        max - first >= (rate * 2.0) as i128,
        "leak: rss_anon rose only {}",
        max - first
    );
    // /proc samples once a second, procstat at most every 100 ms: their
    // maxima differ by at most 100 ms of growth either way.
    let slack = (rate * 0.1) as i128 + (64 << 10);
    assert!(
        max + slack >= status_max,
        "leak: procstat max {max}, /proc max {status_max}"
    );
    assert!(
        max <= status_max + (rate * 1.2) as i128 + (1 << 20),
        "leak: {max} vs {status_max}"
    );
    // The peak follows VmHWM within the same sampling slack. (The kernel
    // updates hiwater_rss lazily, so memory freed before exit can take the
    // last 100 ms of growth out of VmHWM too.)
    let hwm_max = leak["status_samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["vm_hwm_kb"].as_u64())
        .max()
        .unwrap() as i128
        * 1024;
    let peak = s.iter().map(|r| r["rss_peak"].int()).max().unwrap();
    assert!(
        peak + slack >= hwm_max,
        "leak: rss_peak {peak}, VmHWM {hwm_max}"
    );
    assert_eq!(
        s.last().unwrap()["reason"].text(),
        "exit",
        "last procstat sample; {exit:?}"
    );

    // Reclaim: each global pgsteal/pgscan counter is exactly the sum over the
    // corresponding lru_shrink_inactive events (memcg reclaim counts only in
    // pgsteal_anon/file, kswapd and direct reclaim in both).
    let lru = f.table("lru_inactive");
    let all: Vec<&Row> = lru.iter().collect();
    let global: Vec<&Row> = lru
        .iter()
        .filter(|r| matches!(r["reclaimer"].text(), "kswapd" | "direct"))
        .collect();
    let steal = |keys: &[&str]| keys.iter().map(|k| f.vmstat_delta(k)).sum::<i128>();
    assert_eq!(
        sum(&all, "nr_reclaimed"),
        steal(&["pgsteal_anon", "pgsteal_file"])
    );
    assert_eq!(
        sum(&global, "nr_reclaimed"),
        steal(&["pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged"])
    );
    // With the multi-generational LRU the tracepoint's nr_scanned is what
    // evict_folios() scanned, not the isolated folios pgscan_* count.
    match kernel::mglru_here() {
        Some(why) => say(format!(
            "SKIPPED: Σ nr_scanned vs Δpgscan: {why} (recorded {} and {} (kswapd+direct), kernel {} and {})",
            sum(&all, "nr_scanned"),
            sum(&global, "nr_scanned"),
            steal(&["pgscan_anon", "pgscan_file"]),
            steal(&["pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged"])
        )),
        None => {
            assert_eq!(
                sum(&all, "nr_scanned"),
                steal(&["pgscan_anon", "pgscan_file"])
            );
            assert_eq!(
                sum(&global, "nr_scanned"),
                steal(&["pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged"])
            );
        }
    }
    assert!(sum(&all, "nr_reclaimed") > 0);
    assert!(
        lru.iter().any(|r| r["reclaimer"].text() == "memcg"),
        "memcg reclaim seen"
    );

    // Reclaim begin/end pair up with their latency.
    let ends = f.table("reclaim_end");
    assert!(ends
        .iter()
        .any(|r| r["reclaimer"].text() == "memcg" && r["duration_ns"].int() > 0));

    // Order-9 failures: exactly one paf row per failed hugetlb buddy
    // allocation, each with the zones at that moment.
    let paf = f.table("paf");
    let htlb: Vec<&Row> = paf
        .iter()
        .filter(|r| {
            let gfp = r["gfp"].text();
            r["order"].int() == 9
                && gfp.contains("__GFP_THISNODE")
                && gfp.contains("__GFP_RETRY_MAYFAIL")
        })
        .collect();
    let htlb_fail = alloc["alloc_fail"]["htlb_buddy_alloc_fail"]["delta"]
        .as_i64()
        .unwrap() as i128;
    assert!(htlb_fail >= 1);
    assert_eq!(htlb.len() as i128, htlb_fail, "order-9 hugetlb failures");
    assert_eq!(htlb.len() as i128, f.vmstat_delta("htlb_buddy_alloc_fail"));
    let zones = f.table("zone");
    for r in &htlb {
        let at: Vec<&Row> = zones
            .iter()
            .filter(|z| z["ts_ns"] == r["ts_ns"] && z["trigger"].text() == "alloc_fail")
            .collect();
        assert!(
            !at.is_empty(),
            "no zone snapshot for failure at {:?}",
            r["ts_ns"]
        );
        assert!(at
            .iter()
            .all(|z| z["reserve"] != Cell::Null && z["min"].int() > 0));
    }

    // System snapshots ran on the timer and at start and end.
    let sys = f.table("sysstat");
    for t in ["start", "end", "interval"] {
        assert!(
            sys.iter().any(|r| r["trigger"].text() == t),
            "no {t} snapshot"
        );
    }
}
