//! `memana sql`: the views with plain names over one recording and a fleet,
//! the output formats, and one-line errors for bad SQL and unknown tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");

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

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// The query's rows as JSON objects.
fn json_rows(args: &[&str]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let (code, out, err) = memana(&a);
    assert_eq!(code, 0, "{args:?}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    v.as_array()
        .expect("an array")
        .iter()
        .map(|r| r.as_object().expect("an object").clone())
        .collect()
}

/// Exit 2 with one line on stderr that says `what`.
fn one_line_error(args: &[&str], what: &str) -> String {
    let (code, out, err) = memana(args);
    assert_eq!(code, 2, "{args:?}: {out} {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(what), "{err:?} does not say {what:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn the_example_query_gives_each_commands_largest_rss_anon() {
    let oom = fixture("oom.parquet");
    let q =
        "SELECT comm, max(rss_anon) AS rss_anon FROM procstat GROUP BY comm ORDER BY rss_anon DESC";
    let (code, out, err) = memana(&["sql", &oom, q]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap_or("").contains("comm"), "{out}");
    assert!(out.contains("rss_anon"), "{out}");
    let rows = json_rows(&["sql", &oom, q]);
    assert!(!rows.is_empty());
    // The same figure as memana's own reader: the OOM victim's name has
    // the largest anonymous RSS of the recording.
    let victim = json_rows(&["sql", &oom, "SELECT victim_comm, anon_rss FROM oom_victim"]);
    assert_eq!(victim.len(), 1, "{victim:?}");
    let top = &rows[0];
    assert_eq!(top["comm"], victim[0]["victim_comm"], "{rows:?}");
    // CSV: a header line, then a line per row.
    let (code, csv, _) = memana(&["sql", &oom, q, "--format", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().next(), Some("comm,rss_anon"));
    assert_eq!(csv.lines().count(), rows.len() + 1);
    // Markdown: a table with its rule.
    let (code, md, _) = memana(&["sql", &oom, q, "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(md.starts_with("| comm | rss_anon |\n|---|---:|\n"), "{md}");
}

#[test]
fn views_have_plain_names_wall_clock_time_host_and_recording() {
    let oom = fixture("oom.parquet");
    let rows = json_rows(&[
        "sql",
        &oom,
        "SELECT ts_ns, time_ns, time, host, recording, victim_pid FROM oom_victim",
    ]);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let (ts, wall) = (r["ts_ns"].as_i64().unwrap(), r["time_ns"].as_i64().unwrap());
    // Unix-epoch ns of a recording made in this century.
    assert!(wall > 1_600_000_000_000_000_000 && wall != ts, "{r:?}");
    let time = r["time"].as_str().unwrap();
    assert!(time.starts_with("20"), "{time}");
    assert!(!r["recording"].as_str().unwrap().is_empty(), "{r:?}");
    assert!(!r["host"].as_str().unwrap().is_empty(), "{r:?}");
    // A kernel_alloc's own `kind` (the allocator) keeps its name.
    let (code, out, err) = memana(&["sql", "--list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\nkernel_alloc\n"), "{out}");
    assert!(out.contains("  victim_pid "), "{out}");
}

#[test]
fn a_fleet_is_one_view_per_table_with_host_and_recording() {
    let (a, b) = (fixture("oom.parquet"), fixture("swap.parquet"));
    let q = "SELECT host, recording, count(*) AS n FROM procstat GROUP BY host, recording ORDER BY recording";
    let rows = json_rows(&["sql", &a, &b, q]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_ne!(rows[0]["recording"], rows[1]["recording"], "{rows:?}");
    // Each recording's rows as when it is read alone.
    for file in [&a, &b] {
        let alone = json_rows(&["sql", file, q]);
        assert_eq!(alone.len(), 1, "{alone:?}");
        let row = rows
            .iter()
            .find(|r| r["recording"] == alone[0]["recording"])
            .unwrap_or_else(|| panic!("{file}: {alone:?} not in {rows:?}"));
        assert_eq!(row, &alone[0], "{file}");
    }
    // A join across tables within each recording.
    let kills = json_rows(&[
        "sql",
        &a,
        &b,
        "SELECT p.recording, max(p.rss_anon) AS rss FROM procstat p JOIN oom_victim o \
         ON p.recording = o.recording AND p.tgid = o.victim_pid GROUP BY p.recording",
    ]);
    assert_eq!(
        kills.len(),
        1,
        "one of the two recordings has an OOM kill: {kills:?}"
    );
}

#[test]
fn a_window_keeps_the_rows_in_it() {
    let oom = fixture("oom.parquet");
    let all = json_rows(&["sql", &oom, "SELECT count(*) AS n FROM procstat"]);
    let first = json_rows(&[
        "sql",
        &oom,
        "--to",
        "1s",
        "SELECT count(*) AS n, max(ts_ns) - min(ts_ns) AS span FROM procstat",
    ]);
    let (n_all, n_first) = (
        all[0]["n"].as_u64().unwrap(),
        first[0]["n"].as_u64().unwrap(),
    );
    assert!(n_first < n_all, "{all:?} {first:?}");
    assert!(first[0]["span"].as_i64().unwrap_or(0) < 1_000_000_000);
}

#[test]
fn a_wall_clock_window_over_a_fleet_leaves_out_the_recordings_it_misses() {
    let (a, b) = (fixture("oom.parquet"), fixture("swap.parquet"));
    let q =
        "SELECT recording, min(time_ns) AS first FROM procstat GROUP BY recording ORDER BY first";
    let both = json_rows(&["sql", &a, &b, q]);
    assert_eq!(both.len(), 2, "{both:?}");
    // From the later recording's first sample on: the earlier one (which
    // ended before it, in the fixtures) is left out.
    let later = both[1]["first"].as_i64().unwrap();
    let from = chrono::DateTime::from_timestamp_nanos(later).to_rfc3339();
    let (e0, e1) = (
        json_rows(&["sql", &a, q])[0]["first"].as_i64().unwrap(),
        json_rows(&["sql", &b, q])[0]["first"].as_i64().unwrap(),
    );
    assert!(e0.max(e1) == later, "{both:?}");
    let kept = json_rows(&["sql", &a, &b, "--from", &from, q]);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["recording"], both[1]["recording"]);
    // A window that misses them all is an error.
    one_line_error(
        &["sql", &a, &b, "--from", "2100-01-01T00:00:00Z", q],
        "the window misses every recording",
    );
}

#[test]
fn bad_sql_is_one_line_and_exit_2() {
    let oom = fixture("oom.parquet");
    one_line_error(&["sql", &oom, "SELEC comm FROM procstat"], "bad SQL");
    one_line_error(
        &["sql", &oom, "SELECT no_such_column FROM procstat"],
        "no_such_column",
    );
    // The query forgotten: the one argument is not taken for a recording.
    one_line_error(&["sql", &oom], "PATH... QUERY");
}

#[test]
fn an_unknown_table_names_the_views() {
    let oom = fixture("oom.parquet");
    let err = one_line_error(&["sql", &oom, "SELECT * FROM procstats"], "procstats");
    assert!(err.contains("procstat, sysstat"), "{err}");
    assert!(err.contains("oom_victim"), "{err}");
}

#[test]
fn output_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.csv");
    let oom = fixture("oom.parquet");
    let (code, stdout, err) = memana(&[
        "sql",
        &oom,
        "SELECT victim_pid FROM oom_victim",
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().next(), Some("victim_pid"));
    assert_eq!(text.lines().count(), 2);
}
