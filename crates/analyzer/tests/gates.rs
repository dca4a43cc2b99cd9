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
        // Every gate says what it is for: that is what a failure prints.
        let (_, out, _) = memana(&[
            "check",
            &fixture,
            "--rules",
            path.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        for r in j["results"].as_array().unwrap() {
            assert!(
                r["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{}: rule without a description: {r}",
                path.display()
            );
        }
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
    // A fixture's gates on another recording: each FAIL says what broke.
    let (code, out, _) = memana(&[
        "check",
        "fixtures/leak.parquet",
        "--rules",
        "fixtures/rules/oom.toml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL  oom.kills == 1  (oom.kills = 0)\n      the memcg OOM killer killed exactly once\n"
        ),
        "{out}"
    );
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
fn a_recording_against_its_baseline() {
    // The same recording as its own baseline holds any margin >= 0; a
    // negative margin breaks, with the baseline's value and the limit.
    let (code, out, err) = memana(&[
        "check",
        "fixtures/memcg-reclaim.parquet",
        "--baseline",
        "fixtures/memcg-reclaim.parquet",
        "--rule",
        "reclaim.memcg.p99_ms <= baseline + 20%",
        "--rule",
        "reclaim.memcg.efficiency >= baseline - 5%",
        "--rule",
        "reclaim.memcg.reclaimed <= baseline - 1%",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("3 rules, 1 broken"), "{out}");
    let fail = out
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_default();
    assert!(
        fail.starts_with(
            "FAIL  reclaim.memcg.reclaimed <= baseline - 1%  (reclaim.memcg.reclaimed = "
        ) && fail.contains("; baseline ")
            && fail.contains(", limit "),
        "{out}"
    );
}

#[test]
fn diff_puts_the_largest_relative_change_first() {
    let (code, out, err) = memana(&[
        "diff",
        "fixtures/memcg-reclaim.parquet",
        "fixtures/swap.parquet",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = j["metrics"].as_array().unwrap();
    let r = rows
        .iter()
        .find(|r| r["metric"] == "reclaim.memcg.reclaimed")
        .unwrap();
    // Both values raw, and the absolute and relative change.
    let (a, b) = (r["before"].as_f64().unwrap(), r["after"].as_f64().unwrap());
    assert_eq!(r["change"].as_f64(), Some(b - a), "{r}");
    // To the last bit but one: the JSON number is printed and read back.
    let rel = r["change_rel"].as_f64().unwrap();
    assert!((rel - (b - a) / a).abs() <= 1e-15, "{r}");

    // The gate a reviewer runs: p99 latencies may not grow by more than
    // 20 %. The memcg's p99 fell (the row the reviewer wants), so it
    // passes, and that row comes first.
    let (code, out, err) = memana(&[
        "diff",
        "fixtures/memcg-reclaim.parquet",
        "fixtures/swap.parquet",
        "--fail-over",
        "+20",
        "--only",
        "p99_ms",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let first = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("metric"))
        .nth(2)
        .unwrap_or_default();
    let fields: Vec<&str> = first.split_whitespace().collect();
    let p99 = rows
        .iter()
        .find(|r| r["metric"] == "reclaim.memcg.p99_ms")
        .unwrap();
    let rel = p99["change_rel"].as_f64().unwrap();
    assert_eq!(fields.first(), Some(&"reclaim.memcg.p99_ms"), "{out}");
    // Values in ms, the relative change in percent.
    assert_eq!(
        fields,
        [
            "reclaim.memcg.p99_ms",
            &format!("{:.3}", p99["before"].as_f64().unwrap()),
            "ms",
            &format!("{:.3}", p99["after"].as_f64().unwrap()),
            "ms",
            &format!("{:+.3}", p99["change"].as_f64().unwrap()),
            "ms",
            &format!("{:+.1}%", rel * 100.0),
            "ok",
        ],
        "{out}"
    );
    // Either way, a fall of that size breaks a 20 % gate.
    let (code, out, _) = memana(&[
        "diff",
        "fixtures/memcg-reclaim.parquet",
        "fixtures/swap.parquet",
        "--fail-over",
        "20",
        "--only",
        "reclaim.memcg.p99_ms",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL: 1 of 1 metrics matching `reclaim.memcg.p99_ms` changed by more than ±20%"
        ),
        "{out}"
    );
}
