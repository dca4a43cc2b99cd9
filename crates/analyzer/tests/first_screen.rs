//! The first screen of `memana report` on every fixture names the event of
//! the scenario it recorded, as the fixture's truth file states it (OOM
//! victim and cgroup, failing order, leaking process, reclaiming memcg...),
//! and the whole brief report fits one screen of 50 lines and 120 columns.

mod common;

#[path = "../../../tests/support/first_screen.rs"]
mod first_screen;

use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut dirs = vec![root.clone()];
    if let Ok(rd) = std::fs::read_dir(root.join("kernels")) {
        dirs.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
    }
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The probe groups a recording has, from `memana info --format json`.
fn groups(p: &Path) -> Vec<String> {
    let path = p.to_str().unwrap_or_default();
    let (code, out, err) = common::memana(&["info", path, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    j["sections"]["header"]["tables"]["groups"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["status"] == "attached" || r["status"] == "partial")
        .filter_map(|r| r["group"].as_str().map(String::from))
        .collect()
}

#[test]
fn every_fixture_names_its_event_on_the_first_screen() {
    let all = fixtures();
    assert!(all.len() >= 13, "fixtures: {all:?}");
    let mut failures = Vec::new();
    for p in &all {
        let Ok(text) = std::fs::read_to_string(p.with_extension("truth.json")) else {
            continue;
        };
        let truth: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let gs = groups(p);
        let gs: Vec<&str> = gs.iter().map(String::as_str).collect();
        assert!(
            !first_screen::expected(&truth, &gs).is_empty(),
            "{}: no expectation for scenario {}",
            p.display(),
            truth["scenario"]
        );
        // A terminal of 120 columns, the screen.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_memana"))
            .args(["report", p.to_str().unwrap_or_default()])
            .env("COLUMNS", "120")
            .output()
            .unwrap_or_else(|e| panic!("memana: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = String::from_utf8_lossy(&out.stdout);
        if let Err(e) = first_screen::check(&report, &truth, &gs) {
            failures.push(format!("{}: {e}", p.display()));
        }
        // One incident's report is one screen: 50 lines of 120 columns.
        let lines = report.lines().count();
        if lines > 50 {
            failures.push(format!("{}: {lines} lines", p.display()));
        }
        let widest = report.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        if widest > 120 {
            failures.push(format!("{}: a line of {widest} columns", p.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
