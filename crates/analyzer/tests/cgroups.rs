//! Memory cgroups in reports, on the host fixtures: the OOM finding names
//! the victim, its memcg's path and the limit (from the kernel log, as the
//! truth file has them), memcg reclaim names its memcg, and `--cgroup`
//! keeps the rows of one memcg's tasks. A fixture of an older memrec (no
//! kernel-log columns, cgroup paths resolved too late) still reads, and
//! says what it derived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::memana;
use serde_json::Value as J;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn truth(name: &str) -> J {
    let p = fixtures().join(format!("{name}.truth.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn report(path: &Path, extra: &[&str]) -> J {
    let p = path.to_str().unwrap();
    let mut args = vec!["report", p, "--format", "json", "--top", "0"];
    args.extend_from_slice(extra);
    let (code, out, err) = memana(&args);
    assert_eq!(code, 0, "memana {args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

fn rows<'a>(rep: &'a J, section: &str, table: &str) -> &'a [J] {
    rep["sections"][section]["tables"][table]["rows"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The worker's memcg as the kernel names it (relative to the controller's
/// root), its absolute path, and its pid.
fn worker_memcg(t: &J) -> (String, String, u64) {
    let w = &t["workers"][0];
    let start = w["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "start")
        .unwrap();
    (
        start["data"]["memcg"].as_str().unwrap().to_string(),
        w["cgroup"].as_str().unwrap().to_string(),
        w["pid"].as_u64().unwrap(),
    )
}

#[test]
fn the_oom_finding_names_victim_memcg_path_and_limit() {
    let t = truth("oom");
    let (memcg, _, _) = worker_memcg(&t);
    let victim = t["oom"]["victim_pid"].as_u64().unwrap();
    let limit = t["oom"]["limit_bytes"].as_u64().unwrap();
    let rep = report(&fixtures().join("oom.parquet"), &[]);
    let f = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "oom_kill")
        .expect("an OOM finding");
    assert_eq!(f["rank"], 1, "the kill is the first finding: {f}");
    assert_eq!(f["pid"].as_u64(), Some(victim));
    assert_eq!(f["cgroup"].as_str(), Some(memcg.as_str()));
    let s = f["summary"].as_str().unwrap();
    let lim = format!("{:.2} MiB", limit as f64 / (1 << 20) as f64);
    assert!(
        s.starts_with(&format!("OOM kill (memcg {memcg}, limit {lim}): ")),
        "{s}"
    );
    assert!(s.contains(&format!(" pid {victim}, RSS ")), "{s}");
    assert!(s.contains("; load "), "{s}");
    // The kernel's own accounting, in the victims table.
    let [row] = rows(&rep, "oom", "victims") else {
        panic!("one victim")
    };
    assert_eq!(row["constraint"], "memcg");
    assert_eq!(row["oom_memcg"].as_str(), Some(memcg.as_str()));
    assert_eq!(row["cgroup"].as_str(), Some(memcg.as_str()));
    assert_eq!(row["memcg_limit"].as_u64(), Some(limit));
    // The usage the kernel printed is at the limit it hit (to the page).
    let usage = row["memcg_usage"].as_u64().unwrap();
    assert!(limit - usage < 4096 * 64, "usage {usage}, limit {limit}");
}

#[test]
fn memcg_reclaim_names_its_memcg() {
    let t = truth("memcg-reclaim");
    let (memcg, _, _) = worker_memcg(&t);
    let rep = report(&fixtures().join("memcg-reclaim.parquet"), &[]);
    let lat = rows(&rep, "reclaim", "latency");
    let m = lat
        .iter()
        .find(|r| r["reclaimer"] == "memcg")
        .expect("memcg reclaim");
    assert_eq!(m["cgroup"].as_str(), Some(memcg.as_str()), "{m}");
    let f = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "memcg_reclaim")
        .expect("a memcg reclaim finding");
    assert!(
        f["summary"].as_str().unwrap().contains(&memcg),
        "{}",
        f["summary"]
    );
    // The cgroups section has the memcg with its limit as memrec saw it.
    let cg = rows(&rep, "cgroups", "cgroups");
    let row = cg
        .iter()
        .find(|r| r["cgroup"] == memcg.as_str())
        .expect("the scenario's memcg");
    assert_eq!(
        row["limit"].as_u64(),
        t["memcg_reclaim"]["limit_bytes"].as_u64()
    );
}

#[test]
fn cgroup_filter_keeps_the_memcgs_tasks() {
    for name in ["oom", "memcg-reclaim"] {
        let t = truth(name);
        let (memcg, absolute, worker) = worker_memcg(&t);
        let path = fixtures().join(format!("{name}.parquet"));
        for given in [memcg.as_str(), absolute.as_str()] {
            let rep = report(&path, &["--cgroup", given]);
            assert_eq!(rep["filter"]["cgroup"].as_str(), Some(memcg.as_str()));
            let procs = rows(&rep, "growth", "processes");
            let tgids: Vec<u64> = procs.iter().filter_map(|r| r["tgid"].as_u64()).collect();
            // The worker, and only what ran in the memcg (the worker is
            // forked outside and moved in; it alone is ever inside).
            assert_eq!(tgids, [worker], "{name} --cgroup {given}");
            for r in rows(&rep, "reclaim", "latency") {
                assert_eq!(r["cgroup"].as_str(), Some(memcg.as_str()), "{r}");
            }
            for v in rows(&rep, "oom", "victims") {
                assert_eq!(v["victim_pid"].as_u64(), Some(worker));
            }
        }
    }
    // A memcg the recording never saw is a usage error naming those it saw.
    let p = fixtures().join("oom.parquet");
    let (code, _, err) = memana(&["report", p.to_str().unwrap(), "--cgroup", "/nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cgroup /nope"), "{err}");
    assert!(err.contains("it saw /"), "{err}");
}

/// A recording of an older memrec: no kernel-log columns (they read as
/// null), and the scenario's memcg is not in its path map. The report
/// says what it derived, and how it names an unresolved id.
#[test]
fn an_older_file_reads_and_says_what_it_derived() {
    // The 6.1 guest's OOM fixture as the memrec before the kernel-log
    // columns and first-sight cgroup paths recorded it (kept for this test).
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/older-memrec-6.1-oom.parquet");
    let rep = report(&old, &[]);
    let [row] = rows(&rep, "oom", "victims") else {
        panic!("one victim")
    };
    assert!(row["memcg_usage"].is_null() && row["oom_memcg"].is_null());
    let c = row["constraint"].as_str().unwrap();
    assert!(c == "memcg (derived)" || c == "unknown", "{c}");
    let f = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "oom_kill")
        .unwrap();
    let s = f["summary"].as_str().unwrap();
    assert!(
        s.contains("derived from memcg reclaim") || s.contains("memcg or global: unknown"),
        "{s}"
    );
}
