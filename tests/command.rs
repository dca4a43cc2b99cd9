//! `memrec record [OPTIONS] -- CMD`: memrec starts a command, records only
//! it and the processes it starts, ends with it and exits as it did. What a
//! user checks: the exit status, whose rows the file holds, and that the
//! recording ends when the command does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// `memrec record -o OUT --no-progress EXTRA... -- CMD...` to its end.
fn record_command(out: &Path, extra: &[&str], cmd: &[&str]) -> Output {
    let o = Command::new(bin("memrec"))
        .args(["record", "-o", out.to_str().unwrap(), "--no-progress"])
        .args(extra)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!("memrec: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The file's `filter.command`.
fn command_meta(f: &File) -> &serde_json::Value {
    let c = &f.meta["filter"]["command"];
    assert!(
        c.is_object(),
        "no command in the filter: {}",
        f.meta["filter"]
    );
    c
}

fn as_u32(v: &serde_json::Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap()
}

#[test]
fn root_records_exactly_the_command_and_ends_with_it() {
    if skip_unless_root("root_records_exactly_the_command_and_ends_with_it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oom.parquet");
    let truth_path = dir.path().join("oom.truth.json");
    let out = record_command(
        &path,
        &[],
        &[
            bin("memscen").to_str().unwrap(),
            "run",
            "oom",
            "--scale",
            "small",
            "--truth",
            truth_path.to_str().unwrap(),
        ],
    );
    // memscen exits 0 when the OOM kill happened; memrec exits as it did.
    assert_eq!(
        out.status.code(),
        Some(0),
        "memrec (memscen's status): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
    let memscen = as_u32(&truth["host"]["memscen_pid"]);
    let workers: BTreeSet<u32> = truth["worker_pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_u32)
        .collect();
    let victim = as_u32(&truth["oom"]["victim_pid"]);
    assert!(workers.contains(&victim), "{truth}");

    let f = read(&path);
    assert_eq!(f.meta["end_reason"], "command exited", "{}", f.meta);
    let c = command_meta(&f);
    assert_eq!(as_u32(&c["pid"]), memscen, "{c}");
    assert_eq!(c["follow"], true, "{c}");
    assert_eq!(c["exit_status"], 0, "{c}");
    assert!(
        c.get("not_followed").is_none_or(|n| n == 0),
        "every process was followed: {c}"
    );

    // The OOM kill the scenario made, of the worker the truth names.
    let victims = f.table("oom_victim");
    let pids: Vec<i128> = victims.iter().map(|r| r["victim_pid"].int()).collect();
    assert_eq!(pids, [i128::from(victim)], "oom_victim rows");

    // Every row about a task is about memscen or a worker it started, and
    // memscen's own process and each worker appear.
    let ours: BTreeSet<u32> = workers.iter().copied().chain([memscen]).collect();
    let mut seen = BTreeSet::new();
    let mut others = Vec::new();
    for b in &f.batches {
        let kinds = b.column_by_name("kind").unwrap();
        for i in 0..b.num_rows() {
            let kind = cell_text(kinds, i);
            // Kills are never filtered (whoever triggered them): checked above.
            if kind == "oom_victim" {
                continue;
            }
            let table = memtrace_schema::table(&kind).unwrap();
            let Some((pid_col, comm_col)) = table.task_columns() else {
                continue; // node and zone state: about no task
            };
            let pid = b.column_by_name(pid_col).and_then(|c| cell_u32(c, i));
            let Some(pid) = pid else { continue };
            if ours.contains(&pid) {
                seen.insert(pid);
            } else {
                let comm = b
                    .column_by_name(comm_col)
                    .map(|c| cell_text(c, i))
                    .unwrap_or_default();
                others.push(format!("{kind}: {pid} ({comm})"));
            }
        }
    }
    others.sort();
    others.dedup();
    assert!(
        others.is_empty(),
        "rows of processes that are not memscen ({memscen}) or its workers ({workers:?}): {others:?}"
    );
    let procstat: BTreeSet<u32> = f
        .table("procstat")
        .iter()
        .map(|r| u32::try_from(r["tgid"].int()).unwrap())
        .collect();
    assert!(
        procstat.contains(&memscen) && procstat.contains(&victim),
        "procstat samples of memscen ({memscen}) and its worker ({victim}): {procstat:?}"
    );

    // The recording ends when memscen does: its end is shortly after the
    // truth's end (memscen writes the truth, then exits; memrec looks every
    // 100 ms). Emulated CPUs are many times slower.
    let end_ns = f.meta["end_ns"].as_i64().unwrap();
    let truth_end = truth["end_boottime_ns"].as_i64().unwrap();
    let bound = if kernel::emulated().is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    };
    let after = end_ns - truth_end;
    assert!(
        after >= 0 && after < bound.as_nanos() as i64,
        "the recording ended {:.3} s after memscen's end (bound {bound:?})",
        after as f64 / 1e9
    );
}

fn cell_text(a: &arrow_array::ArrayRef, i: usize) -> String {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    a.as_string_opt::<i32>()
        .filter(|s| !s.is_null(i))
        .map(|s| s.value(i).to_string())
        .unwrap_or_default()
}

fn cell_u32(a: &arrow_array::ArrayRef, i: usize) -> Option<u32> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
    use arrow_array::Array;
    if a.is_null(i) {
        return None;
    }
    let v: i128 = if let Some(x) = a.as_primitive_opt::<UInt32Type>() {
        x.value(i).into()
    } else if let Some(x) = a.as_primitive_opt::<Int32Type>() {
        x.value(i).into()
    } else if let Some(x) = a.as_primitive_opt::<UInt64Type>() {
        x.value(i).into()
    } else if let Some(x) = a.as_primitive_opt::<Int64Type>() {
        x.value(i).into()
    } else {
        panic!("a task column of type {}", a.data_type());
    };
    u32::try_from(v).ok()
}

#[test]
fn root_the_commands_exit_status_is_memrecs() {
    if skip_unless_root("root_the_commands_exit_status_is_memrecs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (script, want) in [("exit 3", 3), ("kill -9 $$", 137), ("exit 0", 0)] {
        let path = dir.path().join("sh.parquet");
        let out = record_command(&path, &["--force"], &["sh", "-c", script]);
        assert_eq!(out.status.code(), Some(want), "sh -c '{script}'");
        // The file is whole, and says how the command ended.
        let f = read(&path);
        assert_eq!(f.meta["end_reason"], "command exited");
        assert_eq!(command_meta(&f)["exit_status"], want, "sh -c '{script}'");
        assert_eq!(command_meta(&f)["argv"][2], script);
    }
    // --all: the whole system while it runs, said in the file.
    let path = dir.path().join("all.parquet");
    let out = record_command(&path, &["--all"], &["sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let f = read(&path);
    assert_eq!(command_meta(&f)["follow"], false);
}

#[test]
fn root_a_command_that_cannot_run_leaves_nothing() {
    if skip_unless_root("root_a_command_that_cannot_run_leaves_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let out = record_command(&path, &[], &["memrec-test-no-such-command"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("memrec: cannot run `memrec-test-no-such-command`"),
        "{err}"
    );
    assert!(!path.exists());
    assert!(!dir.path().join("x.parquet.segments").exists());
}

/// SIGTERM (or SIGINT) sent to memrec by another process reaches the
/// command; memrec records until the command is gone, then finishes the
/// file and exits as the command did.
#[test]
fn root_signals_to_memrec_reach_the_command() {
    if skip_unless_root("root_signals_to_memrec_reach_the_command") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (sig, want) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let path = dir.path().join(format!("sig{sig}.parquet"));
        let rec = start_recording(&path, &["--", "sleep", "60"]);
        let mut child = rec.child;
        let started = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(want), "signal {sig}");
        assert!(started.elapsed() < Duration::from_secs(30), "memrec waited");
        let f = read(&path);
        assert_eq!(f.meta["end_reason"], "command exited");
        assert_eq!(command_meta(&f)["exit_status"], want);
    }
}
