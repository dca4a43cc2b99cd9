//! The regression gates CI runs on the committed fixtures: `memana check`
//! with each fixture's rules, a gate that must break, and `memana diff`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

const MEMANA: &str = env!("CARGO_BIN_EXE_memana");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn memana(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(MEMANA)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_fixture_passes_its_gates() {
    let rules = root().join("fixtures/rules");
    let mut checked = 0;
    for entry in std::fs::read_dir(&rules).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let fixture = format!("fixtures/{name}.parquet");
        let (code, out, err) = memana(&["check", &fixture, "--rules", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{fixture}: {out}{err}");
        assert!(out.contains(" 0 broken"), "{fixture}: {out}");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} rule files");
}

#[test]
fn a_broken_gate_fails_and_says_which() {
    let (code, out, _) = memana(&[
        "check",
        "fixtures/oom.parquet",
        "--rule",
        "oom.kills == 0",
        "--rule",
        "header.lost == 0",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  oom.kills == 0  (oom.kills = 1)"),
        "{out}"
    );
    assert!(out.contains("2 rules, 1 broken"), "{out}");
}

#[test]
fn a_gate_on_missing_data_is_broken_not_passed() {
    let (code, out, _) = memana(&[
        "check",
        "fixtures/leak.parquet",
        "--rule",
        "reclaim.kswapd.p99_ms < 50",
    ]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn diff_shows_each_figure_with_its_change() {
    let (code, out, err) = memana(&[
        "diff",
        "fixtures/memcg-reclaim.parquet",
        "fixtures/swap.parquet",
    ]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains("reclaim.memcg.reclaimed "))
        .unwrap_or_else(|| panic!("no reclaim.memcg.reclaimed line in:\n{out}"));
    // Both values and the absolute and relative change.
    let fields: Vec<&str> = line.split_whitespace().collect();
    let a: f64 = fields[fields.len() - 4].parse().unwrap();
    let b: f64 = fields[fields.len() - 3].parse().unwrap();
    let change: f64 = fields[fields.len() - 2].parse().unwrap();
    assert_eq!(b - a, change, "{line}");
    assert!(fields[fields.len() - 1].ends_with('%'), "{line}");
}
