//! Many recordings read as a fleet: `report`, `info`, `check`, `diff` and
//! `metrics` over a directory of copies of the fixtures under other host
//! names, each recomputed against the same command on one recording.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fleet::{copy_id, copy_recording, CopyAs, DAY_NS};
use common::memana;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// `dir/<host>/<id>.parquet` for each host: a copy of `src` recorded on
/// that host, `back` days earlier for the host's index `i` (i * back).
fn copies(src: &Path, dir: &Path, hosts: &[&str], back_days: i64) -> Vec<PathBuf> {
    let id = src.file_stem().unwrap().to_string_lossy().into_owned();
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let d = dir.join(h);
            std::fs::create_dir_all(&d).unwrap();
            let rid = copy_id(&id, h);
            let dst = d.join(format!("{rid}.parquet"));
            copy_recording(
                src,
                &dst,
                &CopyAs {
                    host: (*h).to_string(),
                    recording_id: rid,
                    shift_ns: -(i as i64) * back_days * DAY_NS,
                },
            )
            .unwrap();
            dst
        })
        .collect()
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = memana(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const HOSTS: [&str; 3] = ["db-1", "db-2", "web-1"];

/// Every table of the fleet report is each recording's own table with
/// host and recording in front; every metric has a host label; the
/// findings are each recording's, naming its host.
#[test]
fn a_fleet_report_is_each_recordings_report_with_host_and_recording() {
    let d = tempfile::tempdir().unwrap();
    let files = copies(&fixture("oom.parquet"), d.path(), &HOSTS, 0);
    let fleet = json(&["report", s(d.path()), "--format", "json"]);
    assert_eq!(fleet["fleet"]["recordings"], 3, "{}", fleet["fleet"]);
    assert_eq!(fleet["fleet"]["hosts"], serde_json::json!(HOSTS));
    let recs = fleet["sections"]["header"]["tables"]["recordings"]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(recs.len(), 3);
    for (i, file) in files.iter().enumerate() {
        let one = json(&["report", s(file), "--format", "json"]);
        let host = HOSTS[i];
        let id = file.file_stem().unwrap().to_str().unwrap();
        assert_eq!(recs[i]["host"], host);
        assert_eq!(recs[i]["recording"], id);
        let sections = one["sections"].as_object().unwrap();
        for (sid, sec) in sections {
            let Some(tables) = sec["tables"].as_object() else {
                continue;
            };
            for (tid, t) in tables {
                let ft = &fleet["sections"][sid]["tables"][tid];
                let names: Vec<&str> = ft["columns"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{sid}.{tid} missing from the fleet report"))
                    .iter()
                    .map(|c| c["name"].as_str().unwrap())
                    .collect();
                assert_eq!(&names[..2], ["host", "recording"], "{sid}.{tid}");
                let times: Vec<&str> = t["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["unit"] == "ts_ns")
                    .map(|c| c["name"].as_str().unwrap())
                    .collect();
                let mine: Vec<&Value> = ft["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["host"] == host)
                    .collect();
                let rows = t["rows"].as_array().unwrap();
                assert_eq!(mine.len(), rows.len(), "{sid}.{tid} on {host}");
                for (a, b) in mine.iter().zip(rows) {
                    assert_eq!(a["recording"], id);
                    for (k, v) in b.as_object().unwrap() {
                        if times.contains(&k.as_str()) {
                            // Boot time there, Unix time here: the anchor's offset.
                            continue;
                        }
                        assert_eq!(&a[k], v, "{sid}.{tid}.{k} on {host}");
                    }
                }
            }
        }
        // Each metric once per host, with the host label.
        for m in one["metrics"].as_array().unwrap() {
            let mut labels = m["labels"].as_object().cloned().unwrap_or_default();
            labels.insert("host".into(), host.into());
            let found = fleet["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == m["name"] && f["labels"] == Value::Object(labels.clone()))
                .unwrap_or_else(|| panic!("{} {{host={host}}} missing", m["name"]));
            assert_eq!(found["value"], m["value"], "{}", m["name"]);
        }
        // Its findings, naming it.
        let n = one["findings"].as_array().unwrap().len();
        let of_host: Vec<&Value> = fleet["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["host"] == host)
            .collect();
        assert_eq!(of_host.len(), n, "findings of {host}");
        assert!(of_host.iter().all(|f| f["recording"] == id
            && f["summary"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{host}: "))));
    }
    // The first screen says what it covers and names each OOM kill's host.
    let (code, text, err) = memana(&["report", s(d.path())]);
    assert_eq!(code, 0, "{err}");
    let head: Vec<&str> = text.lines().take(30).collect();
    assert!(
        head[0].contains("3 recordings on 3 hosts (db-1, db-2, web-1)"),
        "{}",
        head[0]
    );
    for h in HOSTS {
        assert!(
            head.iter().any(|l| l.contains(&format!("{h}: OOM kill"))),
            "{h}'s OOM kill not in the first 30 lines:\n{text}"
        );
    }
    // A glob and several files name the same fleet.
    let glob = format!("{}/*/*.parquet", s(d.path()));
    let by_glob = json(&["report", &glob, "--format", "json"]);
    assert_eq!(by_glob["fleet"]["recordings"], 3);
    let (code, _, err) = memana(&["info", s(&files[0]), s(&files[2])]);
    assert_eq!(code, 0, "{err}");
}

/// `check` holds each recording to the rules and names the ones that
/// break them; the JUnit file has a case per recording.
#[test]
fn check_over_a_fleet_names_each_recording() {
    let d = tempfile::tempdir().unwrap();
    copies(
        &fixture("oom.parquet"),
        &d.path().join("oom"),
        &HOSTS[..2],
        0,
    );
    copies(
        &fixture("leak.parquet"),
        &d.path().join("leak"),
        &HOSTS[2..],
        0,
    );
    let junit = d.path().join("gates.xml");
    let (code, out, err) = memana(&[
        "check",
        s(&d.path().join("oom")),
        s(&d.path().join("leak")),
        "--rule",
        "oom.kills == 0",
        "--junit",
        s(&junit),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    let passes: Vec<&str> = out.lines().filter(|l| l.starts_with("PASS")).collect();
    assert_eq!(fails.len(), 2, "{out}");
    assert!(
        fails[0].contains("db-1 ") && fails[1].contains("db-2 "),
        "{out}"
    );
    assert_eq!(passes.len(), 1, "{out}");
    assert!(passes[0].contains("web-1 "), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 3, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 2, "{xml}");
}

/// A diff's rows as (metric, before, after), those of `host` with its
/// label taken off.
fn pairs(v: &Value, host: Option<&str>) -> std::collections::BTreeMap<String, (Value, Value)> {
    v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let key = r["metric"].as_str().unwrap();
            let key = match host {
                None => key.to_string(),
                Some(h) => {
                    let l = format!("host=\"{h}\"");
                    if !key.contains(&l) {
                        return None;
                    }
                    key.replace(&format!("{{{l}}}"), "")
                        .replace(&format!(",{l}"), "")
                        .replace(&format!("{l},"), "")
                }
            };
            Some((key, (r["before"].clone(), r["after"].clone())))
        })
        .collect()
}

/// `diff` pairs two fleets' recordings by host, and sets one recording
/// against each host of a fleet.
#[test]
fn diff_pairs_fleets_by_host() {
    let d = tempfile::tempdir().unwrap();
    let before = d.path().join("before");
    let after = d.path().join("after");
    copies(&fixture("oom.parquet"), &before, &HOSTS, 0);
    copies(
        &fixture("kernels/6.1.0-57-amd64/oom.parquet"),
        &after,
        &HOSTS,
        0,
    );
    let single = json(&[
        "diff",
        s(&fixture("oom.parquet")),
        s(&fixture("kernels/6.1.0-57-amd64/oom.parquet")),
        "--format",
        "json",
    ]);
    let want = pairs(&single, None);
    assert!(want.len() > 100, "{single}");
    // Each host's pairs are the single diff's, under the host label.
    let v = json(&["diff", s(&before), s(&after), "--format", "json"]);
    for h in HOSTS {
        assert_eq!(pairs(&v, Some(h)), want, "{h}");
    }
    assert_eq!(v["metrics"].as_array().unwrap().len(), want.len() * 3);
    // One recording before, a fleet after: compared with each host.
    let v = json(&[
        "diff",
        "--format",
        "json",
        s(&fixture("oom.parquet")),
        "--",
        s(&after),
    ]);
    for h in HOSTS {
        assert_eq!(pairs(&v, Some(h)), want, "{h}");
    }
    // Two recordings of one host cannot be paired.
    copies(
        &fixture("leak.parquet"),
        &after.join("again"),
        &HOSTS[..1],
        0,
    );
    let (code, _, err) = memana(&["diff", s(&before), s(&after)]);
    assert_eq!(code, 2);
    assert!(err.contains("host db-1 has several recordings"), "{err}");
}

/// A window given as a wall-clock time picks the recordings it covers;
/// one that covers none is an error naming the fleet.
#[test]
fn a_wall_clock_window_picks_recordings() {
    let d = tempfile::tempdir().unwrap();
    // db-1 today, db-2 a day earlier, web-1 two days earlier.
    copies(&fixture("oom.parquet"), d.path(), &HOSTS, 1);
    let all = json(&["report", s(d.path()), "--format", "json"]);
    let recs = all["sections"]["header"]["tables"]["recordings"]["rows"]
        .as_array()
        .unwrap()
        .clone();
    let db2 = recs.iter().find(|r| r["host"] == "db-2").unwrap();
    let start_ns = db2["start"].as_i64().unwrap();
    let from = chrono::DateTime::from_timestamp_nanos(start_ns)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let to = chrono::DateTime::from_timestamp_nanos(start_ns + 3_600_000_000_000)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (code, out, err) = memana(&[
        "report",
        s(d.path()),
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    // One recording left: its own report, no fleet.
    assert!(v["fleet"].is_null(), "{}", v["fleet"]);
    assert_eq!(v["recording"]["host"], "db-2");
    assert!(err.contains("left out"), "{err}");
    let (code, _, err) = memana(&[
        "report",
        s(d.path()),
        "--from",
        "2001-01-01T00:00:00Z",
        "--to",
        "2001-01-02T00:00:00Z",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("every recording of"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
