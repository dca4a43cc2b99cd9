//! The command line: exit codes and one-line messages for bad input,
//! formats, check and diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hdr, scenario, Builder};
use std::path::{Path, PathBuf};
use std::process::Command;

fn memana(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memana"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run memana");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit 2 with exactly one line on stderr, naming `what`, and no panic.
fn unusable(args: &[&str], what: &str) {
    let (code, out, err) = memana(args);
    assert_eq!(code, 2, "{args:?}: stdout {out} stderr {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    assert!(
        err.contains(what),
        "{args:?}: {err:?} does not say {what:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

fn synthetic(dir: &Path) -> PathBuf {
    let p = dir.join("s.parquet");
    scenario::build(1).write(&p);
    p
}

#[test]
fn bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let missing = dir.join("missing.parquet");
    for cmd in ["report", "info", "check"] {
        let mut args = vec![cmd, missing.to_str().unwrap()];
        if cmd == "check" {
            args.extend(["--rule", "paf.failures == 0"]);
        }
        unusable(&args, "No such file");
    }
    let garbage = dir.join("garbage.parquet");
    std::fs::write(&garbage, "hello, world\n".repeat(100)).unwrap();
    unusable(&["report", garbage.to_str().unwrap()], "not a Parquet file");
    let zero = dir.join("zero.parquet");
    std::fs::write(&zero, b"").unwrap();
    unusable(&["report", zero.to_str().unwrap()], "empty file");
    let good = synthetic(dir);
    let bytes = std::fs::read(&good).unwrap();
    let trunc = dir.join("trunc.parquet");
    std::fs::write(&trunc, &bytes[..bytes.len() * 2 / 3]).unwrap();
    unusable(&["report", trunc.to_str().unwrap()], "truncated");
    unusable(&["info", trunc.to_str().unwrap()], "truncated");
    // A valid footer over damaged data pages.
    let mut bad = bytes.clone();
    let n = bad.len();
    for b in &mut bad[64..n / 2] {
        *b = 0x5a;
    }
    let damaged = dir.join("damaged.parquet");
    std::fs::write(&damaged, &bad).unwrap();
    let (code, _, err) = memana(&["report", damaged.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Empty recording.
    let empty = dir.join("empty.parquet");
    Builder::new(1, 2).write(&empty);
    unusable(&["report", empty.to_str().unwrap()], "empty recording");
    let (code, out, _) = memana(&["info", empty.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("no rows"));
    // Newer schema.
    let mut b = Builder::new(1, 2);
    b.version_text = Some("99".into());
    let newer = dir.join("newer.parquet");
    b.write(&newer);
    unusable(
        &["report", newer.to_str().unwrap()],
        "newer than this build",
    );
    // Bad arguments.
    let g = good.to_str().unwrap();
    unusable(&["report", g, "--from", "10x"], "unknown unit");
    unusable(
        &["report", g, "--from", "20s", "--to", "10s"],
        "must be before",
    );
    let (code, _, _) = memana(&["report", g, "--section", "nope"]);
    assert_eq!(code, 2);
}

#[test]
fn sections_not_recorded() {
    let d = tempfile::tempdir().unwrap();
    let mut b = Builder::new(1_000, 10_000_000_000);
    b.add(
        hdr(2_000, 5, 5, "x"),
        &memtrace_schema::tables::procstat::procstat::Row {
            reason: "switch".into(),
            ..Default::default()
        },
    );
    b.meta.groups.retain(|g| g.name == "procstat");
    b.meta.groups_requested = vec!["procstat".into()];
    b.count();
    let p = d.path().join("p.parquet");
    b.write(&p);
    let ps = p.to_str().unwrap();
    // All sections: the missing ones say so, the rest print, exit 0.
    let (code, out, err) = memana(&["report", ps]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Not recorded: probe group `paf` was not recorded"),
        "{out}"
    );
    assert!(out.contains("Per-process memory growth"));
    // Asked for explicitly: exit 2, one line.
    unusable(
        &["report", ps, "--section", "reclaim"],
        "probe group `pr` was not recorded",
    );
    // JSON says so too.
    let (code, out, _) = memana(&["report", ps, "--format", "json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["sections"]["oom"]["status"], "not_recorded");
    assert_eq!(j["sections"]["growth"]["status"], "ok");
}

#[test]
fn formats() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    let (code, out, err) = memana(&["report", ps]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("INCOMPLETE DATA"), "loss warning missing");
    assert!(out.contains("MiB"));
    let (code, out, _) = memana(&["report", ps, "--format", "csv"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("section,table,row,column,value,unit\n"));
    assert!(out.contains("\ngrowth,processes,0,tgid,"));
    let (code, out, _) = memana(&["report", ps, "--format", "markdown", "--section", "reclaim"]);
    assert_eq!(code, 0);
    assert!(out.contains("| reclaimer |"));
    let (code, out, _) = memana(&["report", ps, "--format", "json", "--section", "paf,oom"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["sections"]["growth"].is_null());
    assert_eq!(
        j["sections"]["oom"]["tables"]["victims"]["rows"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let (code, out, _) = memana(&["info", ps, "--format", "json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["recording"]["host"], "testhost");
    let (code, out, _) = memana(&["schema", "--markdown"]);
    assert_eq!(code, 0);
    assert_eq!(out, memtrace_schema::markdown::schema_markdown());
    // A broken pipe is not an error.
    let mut child = Command::new(env!("CARGO_BIN_EXE_memana"))
        .args(["report", ps, "--top", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn check_and_diff() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    let rules = d.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
rules = [
  "paf.failures >= 1",
  'growth.max_bytes_per_s{comm="leaky"} < 1MiB',
  "reclaim.direct.p99_ms < 50",
]
[[rule]]
expr = "oom.kills == 0"
description = "no OOM kill"
"#,
    )
    .unwrap();
    let (code, out, err) = memana(&["check", ps, "--rules", rules.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL  oom.kills == 0"), "{out}");
    assert!(out.contains("PASS  paf.failures >= 1"), "{out}");
    assert!(out.contains("4 rules, 1 broken"), "{out}");
    let (code, out, _) = memana(&[
        "check",
        ps,
        "--rule",
        "oom.kills == 1",
        "--rule",
        "paf.failures < 100",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = memana(&[
        "check",
        ps,
        "--rule",
        "nosuch.metric == 0",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["broken"], 1);
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "rules = [\"paf.failures =! 0\"]").unwrap();
    unusable(
        &["check", ps, "--rules", bad.to_str().unwrap()],
        "expected an operator",
    );

    // diff: the same file -> no change; a smaller scenario -> changes.
    let (code, out, err) = memana(&["diff", ps, ps, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = j["metrics"].as_array().unwrap();
    assert!(rows.len() > 50);
    assert!(rows
        .iter()
        .all(|r| r["change"].as_f64().is_none_or(|c| c == 0.0)));
    let mut b = scenario::build(2);
    b.meta.hostname = "other".into();
    let q = d.path().join("q.parquet");
    b.write(&q);
    let (code, out, _) = memana(&["diff", ps, q.to_str().unwrap(), "--changed-only"]);
    assert_eq!(code, 0);
    assert!(out.contains("reclaim.scanned"), "{out}");
    let (code, out, _) = memana(&["diff", ps, q.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = j["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "reclaim.kswapd.scanned")
        .unwrap();
    let (a, b2) = (r["before"].as_f64().unwrap(), r["after"].as_f64().unwrap());
    assert_eq!(r["change"].as_f64(), Some(b2 - a));
    assert!((r["change_rel"].as_f64().unwrap() - (b2 - a) / a).abs() < 1e-12);
}
