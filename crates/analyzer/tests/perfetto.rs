//! `memana export --perfetto` on the fixtures, read back with Perfetto's
//! own protos (the `perfetto` package from PyPI, through
//! tests/perfetto_check.py): the tracks, counter values, slices and
//! instants must be the recording's rows, counted here from the raw rows.
//! Without the package the test says SKIPPED; under
//! MEMTRACE_REQUIRE_ROOT=1 (CI) it fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{memana, read_meta, read_rows, RawRow};
use memtrace_cli::testing::REQUIRE_ROOT_ENV;
use serde_json::Value as J;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Width of the reclaim-rate intervals (the exporter's RATE_INTERVAL_NS).
const RATE_INTERVAL_NS: i64 = 100_000_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// The fixture recorded on Debian's 6.1 kernel.
fn kernel_61(name: &str) -> PathBuf {
    let dir = fixture("kernels");
    let release = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|r| r.starts_with("6.1."))
        .expect("fixtures/kernels/6.1.*");
    dir.join(release).join(name)
}

/// Exports `rec` with `extra` options and reads the trace back; None when
/// Perfetto's Python package is missing (and skipping is allowed).
fn export(rec: &Path, extra: &[&str]) -> Option<(J, String)> {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run.pftrace");
    let mut args = vec![
        "export",
        rec.to_str().unwrap(),
        "--perfetto",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = memana(&args);
    assert_eq!(code, 0, "memana {args:?}: {stderr}");
    assert!(stdout.contains(" packets, "), "{stdout}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/perfetto_check.py");
    let o = Command::new("python3")
        .arg(&script)
        .arg(&out)
        .output()
        .expect("run python3");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.code() == Some(3) {
        let why = format!("Perfetto's Python protos are missing ({})", err.trim());
        if std::env::var(REQUIRE_ROOT_ENV).is_ok_and(|v| v == "1") {
            panic!("{why}, and MEMTRACE_REQUIRE_ROOT=1 forbids skipping: pip install perfetto");
        }
        eprintln!("SKIPPED perfetto: {why}");
        return None;
    }
    assert!(o.status.success(), "perfetto_check.py: {err}");
    let j: J = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["bad"], J::Array(vec![]), "{}", j["bad"]);
    Some((j, stdout))
}

/// The rows of one table in the window (all of them without one).
fn of<'a>(rows: &'a [RawRow], kind: &'a str, w: Option<(i64, i64)>) -> Vec<&'a RawRow> {
    rows.iter()
        .filter(|r| r.kind == kind && w.is_none_or(|(lo, hi)| r.ts() >= lo && r.ts() < hi))
        .collect()
}

/// A counter track's points, sorted.
fn points(j: &J, track: &str) -> Vec<(i64, f64)> {
    let mut v: Vec<(i64, f64)> = j["counters"][track]
        .as_array()
        .unwrap_or_else(|| panic!("no counter track {track}"))
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

fn sorted(mut v: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Every check of one export against the rows of its window `[from, to)`
/// (the whole recording when none is given).
fn check(path: &Path, extra: &[&str], w: Option<(i64, i64)>) -> Option<J> {
    let (j, _) = export(path, extra)?;
    let rows = read_rows(path);
    let meta = read_meta(path);
    // The window as memana cuts it to the recording.
    let (lo, hi) = match w {
        Some((f, t)) => (f.max(meta.start_ns), t.min(meta.end_ns)),
        None => (meta.start_ns, meta.end_ns),
    };
    let what = format!("{} {extra:?}", path.display());

    // One sequence, cleared first; events on CLOCK_BOOTTIME, anchored to
    // wall-clock time by the recording's first clock anchor.
    assert_eq!(j["first_sequence_flags"], 1, "{what}");
    assert_eq!(j["sequence_ids"], serde_json::json!([1]), "{what}");
    assert_eq!(j["event_clock_ids"], serde_json::json!([6]), "{what}");
    let a = meta.clock_anchors.first().expect("clock anchor");
    assert_eq!(j["clock_snapshot"]["6"], a.boottime_ns, "{what}");
    assert_eq!(j["clock_snapshot"]["1"], a.realtime_ns, "{what}");

    // A process with RSS tracks per procstat tgid, named by its comm.
    let ps = of(&rows, "procstat", w);
    assert!(!ps.is_empty(), "{what}: no procstat rows");
    let tgids: BTreeSet<u64> = ps.iter().map(|r| r.u("tgid")).collect();
    let with_rss: BTreeSet<u64> = j["counters"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|k| k.strip_prefix("process ")?.strip_suffix("/RSS anon"))
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(with_rss, tgids, "{what}: processes with RSS tracks");
    for t in &tgids {
        let name = j["processes"][t.to_string()].as_str().unwrap_or_default();
        assert!(
            ps.iter().any(|r| r.u("tgid") == *t && r.s("comm") == name),
            "{what}: process {t} named {name:?}"
        );
    }
    // Every sample of every process, and each counter of the busiest.
    let mut per: BTreeMap<u64, Vec<&RawRow>> = BTreeMap::new();
    for r in &ps {
        per.entry(r.u("tgid")).or_default().push(r);
    }
    for (t, rs) in &per {
        assert_eq!(
            j["counters"][format!("process {t}/RSS")]
                .as_array()
                .map(Vec::len),
            Some(rs.len()),
            "{what}: samples of {t}"
        );
    }
    let (busiest, samples) = per.iter().max_by_key(|(_, v)| v.len()).unwrap();
    let want = |f: &dyn Fn(&RawRow) -> u64| {
        sorted(samples.iter().map(|r| (r.ts(), f(r) as f64)).collect())
    };
    let p = format!("process {busiest}");
    assert_eq!(
        points(&j, &format!("{p}/RSS")),
        want(&|r| r.u("rss_anon") + r.u("rss_file") + r.u("rss_shmem"))
    );
    for (track, col) in [
        ("RSS anon", "rss_anon"),
        ("RSS file", "rss_file"),
        ("RSS shmem", "rss_shmem"),
        ("swap", "swap"),
    ] {
        assert_eq!(
            points(&j, &format!("{p}/{track}")),
            want(&|r| r.u(col)),
            "{what}: {p}/{track}"
        );
    }
    assert_eq!(j["counter_tracks"][format!("{p}/RSS")]["unit"], 3);

    // Node free pages and each zone's free pages and watermarks.
    let ss = of(&rows, "sysstat", w);
    let nodes: BTreeSet<u64> = ss.iter().map(|r| r.u("node")).collect();
    for n in nodes {
        let want = sorted(
            ss.iter()
                .filter(|r| r.u("node") == n)
                .map(|r| (r.ts(), r.u("nr_free_pages") as f64))
                .collect(),
        );
        assert_eq!(
            points(&j, &format!("memory node {n}/free pages")),
            want,
            "{what}"
        );
    }
    let zs = of(&rows, "zone", w);
    let zones: BTreeSet<(u64, String)> = zs
        .iter()
        .map(|r| (r.u("node"), r.s("zone").to_string()))
        .collect();
    assert!(!zones.is_empty(), "{what}: no zone rows");
    for (n, z) in &zones {
        for c in ["free", "min", "low", "high"] {
            let want = sorted(
                zs.iter()
                    .filter(|r| r.u("node") == *n && r.s("zone") == z)
                    .map(|r| (r.ts(), r.u(c) as f64))
                    .collect(),
            );
            assert_eq!(
                points(&j, &format!("memory node {n}/zone {z}/{c}")),
                want,
                "{what}: zone {z} {c}"
            );
        }
    }

    // Reclaim rates: the stepped line's area is the pages of lru_inactive.
    let lru = of(&rows, "lru_inactive", w);
    let mut pages: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in &lru {
        let e = pages.entry(r.s("reclaimer").to_string()).or_default();
        e.0 += r.u("nr_scanned");
        e.1 += r.u("nr_reclaimed");
    }
    for (rc, (sc, rl)) in &pages {
        for (what_, want) in [("scanned", sc), ("reclaimed", rl)] {
            let pts = points(&j, &format!("reclaim rates/{rc} pages {what_}/s"));
            let area: f64 = pts
                .windows(2)
                .map(|w| w[0].1 * (w[1].0 - w[0].0) as f64 / 1e9)
                .sum();
            assert!(
                (area - *want as f64).abs() <= 1e-6 * (*want as f64).max(1.0),
                "{what}: {rc} {what_}: {area} vs {want}"
            );
            // Values change only at interval starts (or the window's end).
            for (t, _) in &pts {
                assert!((t - lo) % RATE_INTERVAL_NS == 0 || *t == hi, "{what}: {t}");
            }
        }
    }
    let rate_tracks = j["counter_tracks"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("reclaim rates/"))
        .count();
    assert_eq!(rate_tracks, 2 * pages.len(), "{what}");

    // Slices: every begin ends, on the track it began on.
    assert_eq!(j["unmatched_ends"], 0, "{what}");
    assert_eq!(j["unended"], 0, "{what}");
    let begins: u64 = j["slices"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(j["slice_ends"].as_u64(), Some(begins), "{what}");
    // Direct/memcg/node reclaim: one per begin in the window, and one per
    // end in it whose begin was before it (the fixtures lost no events).
    let name = |rc: &str| match rc {
        "memcg_softlimit" => "memcg soft-limit reclaim".to_string(),
        other => format!("{other} reclaim"),
    };
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in of(&rows, "reclaim_begin", w) {
        *want.entry(name(r.s("reclaimer"))).or_default() += 1;
    }
    for r in of(&rows, "reclaim_end", w) {
        if r.get("begin_ts_ns").i64().is_none_or(|b| b < lo) {
            *want.entry(name(r.s("reclaimer"))).or_default() += 1;
        }
    }
    // kswapd: awake spells per node (a wake after a sleep, or first; a
    // first sleep means it was awake at the start).
    let mut ks: BTreeMap<u64, Vec<(i64, bool)>> = BTreeMap::new();
    for r in of(&rows, "kswapd", w) {
        match r.s("event") {
            "wake" => ks.entry(r.u("node")).or_default().push((r.ts(), true)),
            "sleep" => ks.entry(r.u("node")).or_default().push((r.ts(), false)),
            _ => {}
        }
    }
    for evs in ks.values_mut() {
        evs.sort();
        let mut awake = false;
        for (i, &(_, wake)) in evs.iter().enumerate() {
            if !awake && (wake || i == 0) {
                *want.entry("kswapd reclaim".into()).or_default() += 1;
            }
            awake = wake;
        }
    }
    for r in of(&rows, "compaction_run", w) {
        *want
            .entry(format!("{} compaction", r.s("runner")))
            .or_default() += 1;
    }
    let got: BTreeMap<String, u64> = j["slices"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got, want, "{what}: slices");

    // Instants: each OOM kill on its victim's process, each allocation
    // failure on its node.
    let kills = of(&rows, "oom_victim", w);
    let mut want_i: BTreeMap<String, usize> = BTreeMap::new();
    for k in &kills {
        *want_i
            .entry(format!("process {}/OOM kill", k.u("victim_pid")))
            .or_default() += 1;
        let args = &j["instant_args"][format!("process {}/OOM kill", k.u("victim_pid"))];
        assert_eq!(args["victim_comm"], k.s("victim_comm"), "{what}");
        assert_eq!(
            args["rss"].as_u64(),
            Some(k.u("anon_rss") + k.u("file_rss") + k.u("shmem_rss")),
            "{what}"
        );
    }
    for f in of(&rows, "paf", w) {
        *want_i
            .entry(format!("memory node {}/allocation failures", f.u("node")))
            .or_default() += 1;
    }
    let got_i: BTreeMap<String, usize> = j["instants"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().unwrap().len()))
        .collect();
    assert_eq!(got_i, want_i, "{what}: instants");
    Some(j)
}

#[test]
fn fixtures_export_their_rows() {
    for (p, what) in [
        (fixture("oom.parquet"), "oom"),
        (fixture("memcg-reclaim.parquet"), "memcg reclaim"),
        (fixture("alloc-fail.parquet"), "alloc failures"),
        (fixture("compaction.parquet"), "compaction"),
        (kernel_61("oom.parquet"), "6.1 oom"),
        (kernel_61("memcg-reclaim.parquet"), "6.1 memcg reclaim"),
    ] {
        let Some(j) = check(&p, &[], None) else {
            return;
        };
        let slices = j["slices"].as_object().unwrap();
        let instants = j["instants"].as_object().unwrap();
        // What each scenario is about is in its trace.
        match what {
            "oom" | "6.1 oom" => {
                assert!(instants.keys().any(|k| k.ends_with("/OOM kill")), "{what}")
            }
            "memcg reclaim" | "6.1 memcg reclaim" => {
                assert!(slices.contains_key("memcg reclaim"), "{what}: {slices:?}")
            }
            "alloc failures" => assert!(
                instants.keys().any(|k| k.ends_with("/allocation failures")),
                "{what}"
            ),
            "compaction" => assert!(
                slices.contains_key("direct compaction"),
                "{what}: {slices:?}"
            ),
            _ => {}
        }
    }
}

#[test]
fn window_and_process_filters() {
    let p = fixture("memcg-reclaim.parquet");
    let m = read_meta(&p);
    // 1 s to 3 s into the recording.
    let w = (m.start_ns + 1_000_000_000, m.start_ns + 3_000_000_000);
    if check(&p, &["--from", "1s", "--to", "3s"], Some(w)).is_none() {
        return;
    }
    // --pid keeps that process's RSS; node-wide tracks stay.
    let rows = read_rows(&p);
    let mut n: BTreeMap<u64, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.kind == "procstat") {
        *n.entry(r.u("tgid")).or_default() += 1;
    }
    let (pid, samples) = n.iter().max_by_key(|(_, c)| **c).unwrap();
    let (j, _) = export(&p, &["--pid", &pid.to_string()]).unwrap();
    let procs: Vec<&String> = j["counters"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.ends_with("/RSS") && k.starts_with("process "))
        .collect();
    assert_eq!(procs, [&format!("process {pid}/RSS")]);
    assert_eq!(
        j["counters"][format!("process {pid}/RSS")]
            .as_array()
            .map(Vec::len),
        Some(*samples)
    );
    assert!(j["counters"]["memory node 0/free pages"].is_array());
}
