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
    // All sections: the missing ones say so, the rest print, exit 0; the
    // brief report names them on one line, -v gives each one's reason.
    let (code, out, err) = memana(&["report", ps]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Not recorded: paf, reclaim,"), "{out}");
    assert!(out.contains("[growth]"), "{out}");
    let (code, out, err) = memana(&["report", ps, "-v"]);
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
    assert!(
        out.contains("INCOMPLETE DATA"),
        "loss warning missing:\n{out}"
    );
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

/// Both recordings of the gate tests: the scenario at scales 1 and 2.
fn two(dir: &Path) -> (PathBuf, PathBuf) {
    let p = synthetic(dir);
    let mut b = scenario::build(2);
    b.meta.hostname = "other".into();
    let q = dir.join("q.parquet");
    b.write(&q);
    (p, q)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A metric's value in a recording, from `memana metrics --format json`.
fn metric_value(path: &str, key: &str) -> f64 {
    let (code, out, err) = memana(&["metrics", path, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    json(&out)["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_else(|| panic!("no {key} in {path}"))
}

#[test]
fn check_prints_descriptions() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    let rules = d.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
expr = "oom.kills == 0"
description = "no OOM kill"

[[rule]]
expr = "paf.failures >= 1"
description = "allocations failed, as the scenario makes them"
"#,
    )
    .unwrap();
    let r = rules.to_str().unwrap();
    let (code, out, err) = memana(&["check", ps, "--rules", r]);
    assert_eq!(code, 1, "{out}{err}");
    // On FAIL the description follows the rule's line; a PASS stays one line.
    assert!(
        out.contains("FAIL  oom.kills == 0  (oom.kills = 1)\n      no OOM kill\n"),
        "{out}"
    );
    assert!(!out.contains("as the scenario makes them"), "{out}");
    let (code, out, _) = memana(&["check", ps, "--rules", r, "--format", "json"]);
    assert_eq!(code, 1);
    let j = json(&out);
    assert_eq!(j["results"][0]["description"], "no OOM kill");
    assert_eq!(
        j["results"][1]["description"],
        "allocations failed, as the scenario makes them"
    );
    let (code, out, _) = memana(&["check", ps, "--rules", r, "--format", "csv"]);
    assert_eq!(code, 1);
    let header = out.lines().next().unwrap_or("");
    assert!(header.split(',').any(|c| c == "description"), "{header}");
    assert!(out.contains(",no OOM kill,"), "{out}");
    let (code, out, _) = memana(&["check", ps, "--rules", r, "--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(out.contains("| no OOM kill |"), "{out}");
    // A misspelt field is an error, not a silently dropped description.
    let bad = d.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nexpr = \"oom.kills == 0\"\ndescripton = \"x\"\n",
    )
    .unwrap();
    unusable(
        &["check", ps, "--rules", bad.to_str().unwrap()],
        "descripton",
    );
}

#[test]
fn unknown_metrics_get_the_nearest_keys() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    let (code, out, _) = memana(&["check", ps, "--rule", "reclaim.direct.p99ms < 50"]);
    // A rule on a metric that is not there is broken (exit 1), not a usage error.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL  reclaim.direct.p99ms < 50  (no metric `reclaim.direct.p99ms` in this recording; nearest: reclaim.direct.p99_ms, "
        ),
        "{out}"
    );
    let (_, out, _) = memana(&["check", ps, "--rule", "p99ms < 5", "--format", "json"]);
    let problem = json(&out)["results"][0]["problem"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let near: Vec<&str> = problem
        .split("nearest: ")
        .nth(1)
        .and_then(|s| s.split(" (").next())
        .map(|s| s.split(", ").collect())
        .unwrap_or_default();
    assert!(near.len() >= 2, "{problem}");
    assert!(near.iter().all(|k| k.contains("p99_ms")), "{problem}");
    let (code, out, _) = memana(&["check", ps, "--rule", "oom.kils == 1"]);
    assert_eq!(code, 1);
    assert!(out.contains("nearest: oom.kills"), "{out}");
    // A label that is not there: the same name's keys first.
    let (_, out, _) = memana(&["check", ps, "--rule", r#"oom.kills{comm="victm"} == 1"#]);
    assert!(
        out.contains(r#"nearest: oom.kills{comm="victim"}"#),
        "{out}"
    );
}

#[test]
fn metrics_lists_every_key_with_its_unit() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    let (code, out, err) = memana(&["metrics", ps, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let j = json(&out);
    let listed = j["metrics"].as_array().unwrap();
    assert!(listed.len() > 50, "{}", listed.len());
    for m in listed {
        assert!(
            m["unit"].as_str().is_some_and(|u| !u.is_empty()),
            "{m} has no unit"
        );
        assert!(
            m["key"]
                .as_str()
                .is_some_and(|k| k.starts_with(m["section"].as_str().unwrap_or("?"))),
            "{m}"
        );
    }
    // The same keys check and diff use: the report's metrics.
    let (_, rep, _) = memana(&["report", ps, "--format", "json"]);
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["key"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(keys(&j), keys(&json(&rep)));
    // Text: every key, by section, with its value in its unit.
    let (code, text, _) = memana(&["metrics", ps]);
    assert_eq!(code, 0);
    for k in keys(&j) {
        assert!(text.contains(&k), "{k} missing from:\n{text}");
    }
    assert!(text.contains("(reclaim) =="), "{text}");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("reclaim.direct.p99_ms"))
        .unwrap_or_else(|| panic!("no reclaim.direct.p99_ms line in:\n{text}"));
    assert!(line.ends_with(" ms"), "{line}");
    // --grep: only matching keys.
    let (code, out, _) = memana(&[
        "metrics",
        ps,
        "--grep",
        "reclaim.*.p99_ms",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let got = keys(&json(&out));
    assert!(!got.is_empty());
    assert!(
        got.iter()
            .all(|k| k.starts_with("reclaim.") && k.ends_with(".p99_ms")),
        "{got:?}"
    );
    let (code, out, _) = memana(&["metrics", ps, "--format", "csv", "--section", "oom"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("section,metric,unit,value\n"), "{out}");
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.starts_with("oom,oom.") || l.starts_with("oom,\"oom.")),
        "{out}"
    );
    let (code, out, _) = memana(&["metrics", ps, "--grep", "p99ms"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("no metric matches `p99ms`; nearest: "),
        "{out}"
    );
    let (code, out, _) = memana(&["metrics", ps, "--format", "markdown", "--grep", "oom."]);
    assert_eq!(code, 0);
    assert!(out.contains("| oom.kills | count | 1 |"), "{out}");
}

#[test]
fn baseline_rules() {
    let d = tempfile::tempdir().unwrap();
    let (p, q) = two(d.path());
    let (ps, qs) = (p.to_str().unwrap(), q.to_str().unwrap());
    let key = "reclaim.kswapd.scanned";
    let (a, b) = (metric_value(ps, key), metric_value(qs, key));
    assert!(b > a && a > 0.0, "{a} {b}");
    let pct = (b / a - 1.0) * 100.0;
    // Against itself: <= holds, < does not.
    let (code, out, err) = memana(&[
        "check",
        ps,
        "--baseline",
        ps,
        "--rule",
        &format!("{key} <= baseline"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("baseline {a}")), "{out}");
    assert!(out.contains(&format!("baseline: {ps}\n")), "{out}");
    let (code, _, _) = memana(&[
        "check",
        ps,
        "--baseline",
        ps,
        "--rule",
        &format!("{key} < baseline"),
    ]);
    assert_eq!(code, 1);
    // q grew by pct: a margin above it passes, one below fails, and the
    // output states the baseline's value and the limit it implied.
    let pass = format!("{key} <= baseline + {:.0}%", pct.ceil() + 1.0);
    let fail = format!("{key} <= baseline + {:.0}%", (pct.floor() - 1.0).max(0.0));
    let (code, out, err) = memana(&[
        "check",
        qs,
        "--baseline",
        ps,
        "--rule",
        &pass,
        "--rule",
        &fail,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let j = json(&out);
    assert_eq!(j["baseline"], ps);
    let r = &j["results"];
    assert_eq!(
        (r[0]["result"].as_str(), r[1]["result"].as_str()),
        (Some("PASS"), Some("FAIL")),
        "{r}"
    );
    assert_eq!(r[1]["baseline"].as_f64(), Some(a));
    let limit = a * (1.0 + (pct.floor() - 1.0).max(0.0) / 100.0);
    assert!(
        (r[1]["threshold"].as_f64().unwrap() - limit).abs() < 1e-6,
        "{r}"
    );
    let (_, text, _) = memana(&["check", qs, "--baseline", ps, "--rule", &fail]);
    assert!(
        text.contains(&format!("({key} = {b}; baseline {a}, limit ")),
        "{text}"
    );
    // A factor and an absolute margin.
    let (code, _, _) = memana(&[
        "check",
        qs,
        "--baseline",
        ps,
        "--rule",
        &format!("{key} <= baseline * {}", b / a + 0.01),
    ]);
    assert_eq!(code, 0);
    let (code, _, _) = memana(&[
        "check",
        qs,
        "--baseline",
        ps,
        "--rule",
        &format!("{key} <= baseline + {}", b - a - 1.0),
    ]);
    assert_eq!(code, 1);
    // A metric the baseline lacks: broken, saying so.
    let (code, out, _) = memana(&[
        "check",
        qs,
        "--baseline",
        ps,
        "--rule",
        "nosuch.metric <= baseline",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("no metric `nosuch.metric`"), "{out}");
    // `baseline` without --baseline, or a bad step: usage errors.
    unusable(&["check", qs, "--rule", &pass], "--baseline PATH");
    unusable(
        &[
            "check",
            qs,
            "--baseline",
            ps,
            "--rule",
            &format!("{key} <= baseline * 20%"),
        ],
        "plain factor",
    );
    unusable(
        &[
            "check",
            qs,
            "--baseline",
            "/nonexistent/b.parquet",
            "--rule",
            &pass,
        ],
        "--baseline",
    );
}

#[test]
fn diff_sorts_by_relative_change_and_gates() {
    let d = tempfile::tempdir().unwrap();
    let (p, q) = two(d.path());
    let (ps, qs) = (p.to_str().unwrap(), q.to_str().unwrap());
    let (code, out, err) = memana(&["diff", ps, qs, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let j = json(&out);
    let rows = j["metrics"].as_array().unwrap();
    // from 0 first, then |relative change| largest first, then one-sided,
    // then unchanged.
    let class = |r: &serde_json::Value| match r["change_kind"].as_str() {
        Some("from_zero") => 0,
        Some("changed") => 1,
        Some("new" | "gone") => 2,
        Some("other") => 3,
        Some("same") => 4,
        k => panic!("change_kind {k:?}"),
    };
    let classes: Vec<i32> = rows.iter().map(class).collect();
    assert!(classes.windows(2).all(|w| w[0] <= w[1]), "{classes:?}");
    let rels: Vec<f64> = rows
        .iter()
        .filter(|r| r["change_kind"] == "changed")
        .map(|r| r["change_rel"].as_f64().unwrap().abs())
        .collect();
    assert!(rels.len() > 5);
    assert!(rels.windows(2).all(|w| w[0] >= w[1]), "{rels:?}");
    for r in rows.iter().filter(|r| r["change_kind"] == "from_zero") {
        assert_eq!(r["before"].as_f64(), Some(0.0), "{r}");
        assert!(r["change_rel"].is_null(), "{r}");
    }
    assert!(rows.iter().all(|r| r["gated"].is_null()));
    // Text: the same order, values with units, cut to --top with a note.
    let (code, text, _) = memana(&["diff", ps, qs, "--top", "5"]);
    assert_eq!(code, 0);
    let first = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("metric"))
        .nth(2)
        .unwrap_or_default();
    assert_eq!(
        first.split_whitespace().next(),
        rows[0]["metric"].as_str(),
        "{text}"
    );
    assert!(
        text.contains(&format!("(5 of {} rows shown;", rows.len())),
        "{text}"
    );
    assert!(text.lines().count() < 20, "{text}");
    let (_, all, _) = memana(&["diff", ps, qs, "--top", "0"]);
    let line = all
        .lines()
        .find(|l| l.split_whitespace().next() == Some("reclaim.direct.p99_ms"))
        .unwrap_or_else(|| panic!("no reclaim.direct.p99_ms in:\n{all}"));
    assert!(
        line.contains(" ms ") && line.trim_end().ends_with('%'),
        "{line}"
    );

    // --fail-over: a gate on the relative change.
    let key = "reclaim.kswapd.scanned";
    let gate = |pct: &str| memana(&["diff", ps, qs, "--fail-over", pct, "--only", key]);
    let (code, out, _) = gate("0");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "FAIL: 1 of 1 metrics matching `{key}` changed by more than ±0%"
        )),
        "{out}"
    );
    let table_row = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_default();
    assert!(table_row.trim_end().ends_with("FAIL"), "{out}");
    assert_eq!(gate("1000000").0, 0);
    // It grew: an upward gate breaks, a downward one does not.
    assert_eq!(gate("+0").0, 1);
    let (code, out, err) = gate("-0%");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS: 0 of 1 metrics"), "{out}");
    // No change, no failure.
    assert_eq!(memana(&["diff", ps, ps, "--fail-over", "0"]).0, 0);
    // JSON says what was gated.
    let (code, out, _) = memana(&[
        "diff",
        ps,
        qs,
        "--fail-over",
        "0",
        "--only",
        key,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let j = json(&out);
    assert_eq!(
        (j["gate"]["gated"].as_u64(), j["gate"]["over"].as_u64()),
        (Some(1), Some(1))
    );
    // Usage errors.
    unusable(
        &["diff", ps, qs, "--fail-over", "0", "--only", "nosuch"],
        "no metric of both recordings matches",
    );
    unusable(&["diff", ps, qs, "--fail-over", "lots"], "--fail-over");
    let (code, _, err) = memana(&["diff", ps, qs, "--only", key]);
    assert_eq!(code, 2, "{err}");
}

/// The test cases and failures of a JUnit file, read back with quick-xml.
fn junit_cases(path: &Path) -> (Vec<String>, Vec<String>) {
    use quick_xml::events::Event;
    let xml = std::fs::read_to_string(path).unwrap();
    let mut r = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (Vec::new(), Vec::new());
    loop {
        match r.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let attr = |n: &str| {
                    e.try_get_attribute(n)
                        .ok()
                        .flatten()
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testcase" => cases.push(attr("name")),
                    b"failure" => failures.push(attr("message")),
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => panic!("{e}: {xml}"),
        }
    }
    (cases, failures)
}

#[test]
fn junit_reports() {
    let d = tempfile::tempdir().unwrap();
    let (p, q) = two(d.path());
    let (ps, qs) = (p.to_str().unwrap(), q.to_str().unwrap());
    let rules = d.path().join("rules.toml");
    std::fs::write(
        &rules,
        "rules = [\"paf.failures >= 1\", \"reclaim.direct.p99ms < 5\"]\n\
         [[rule]]\nexpr = \"oom.kills == 0\"\ndescription = \"no OOM <kill> & \\\"quotes\\\"\"\n",
    )
    .unwrap();
    let x = d.path().join("check.xml");
    let (code, out, err) = memana(&[
        "check",
        ps,
        "--rules",
        rules.to_str().unwrap(),
        "--junit",
        x.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let (cases, failures) = junit_cases(&x);
    assert_eq!(
        cases,
        [
            "paf.failures >= 1",
            "reclaim.direct.p99ms < 5",
            "oom.kills == 0"
        ]
    );
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures[0].contains("nearest: reclaim.direct.p99_ms"),
        "{failures:?}"
    );
    assert_eq!(
        failures[1],
        "oom.kills == 0 (oom.kills = 1): no OOM <kill> & \"quotes\""
    );
    let xml = std::fs::read_to_string(&x).unwrap();
    assert!(
        xml.contains("<testsuite name=\"memana check\" tests=\"3\" failures=\"2\""),
        "{xml}"
    );
    // Python's parser agrees, where there is one.
    if let Ok(o) = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
             print(len(list(r.iter('testcase'))), len(list(r.iter('failure'))))",
            x.to_str().unwrap(),
        ])
        .output()
    {
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "3 2");
        }
    }

    // diff: one case per gated metric.
    let y = d.path().join("diff.xml");
    let (code, out, _) = memana(&[
        "diff",
        ps,
        qs,
        "--fail-over",
        "+50",
        "--only",
        "reclaim.",
        "--format",
        "json",
        "--junit",
        y.to_str().unwrap(),
    ]);
    let j = json(&out);
    let (gated, over) = (
        j["gate"]["gated"].as_u64().unwrap(),
        j["gate"]["over"].as_u64().unwrap(),
    );
    assert_eq!(code, if over > 0 { 1 } else { 0 });
    let (cases, failures) = junit_cases(&y);
    assert_eq!(cases.len() as u64, gated);
    assert_eq!(failures.len() as u64, over);
    assert!(cases.iter().all(|c| c.contains("reclaim.")), "{cases:?}");
    assert!(
        failures.iter().all(|f| f.ends_with("over +50%")),
        "{failures:?}"
    );

    // An unwritable JUnit file: a broken gate still exits 1, a passing one 2.
    let nowhere = d.path().join("no/such/dir/x.xml");
    let (code, _, err) = memana(&[
        "check",
        ps,
        "--rule",
        "oom.kills == 0",
        "--junit",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot write the JUnit file") && err.contains("1 of 1 rules broken"),
        "{err}"
    );
    unusable(
        &[
            "check",
            ps,
            "--rule",
            "oom.kills == 1",
            "--junit",
            nowhere.to_str().unwrap(),
        ],
        "cannot write the JUnit file",
    );
}
