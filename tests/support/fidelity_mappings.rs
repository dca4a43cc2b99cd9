//! Fidelity of the `mappings` group (issue 12): memscen's mappings scenario
//! makes known numbers and sizes of each address-space call inside a window
//! it times itself. Recorded calls of its worker in that window must be
//! exactly those (per call: made, failed, bytes mapped and unmapped, each
//! failure's errno name), and the sizes recorded must be the worker's
//! VmSize changes that procstat sampled from its mm (exact: both are page
//! counts of the same address space). docs/FIDELITY.md, section mappings.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::fidelity::{Case, Report};
use super::rows::{self, opt_int, opt_text};
use super::Row;

// A null size or errno (a call that failed, or succeeded) counts 0 or "".
fn int(row: &Row, col: &str) -> i128 {
    opt_int(row, col).unwrap_or(0)
}

fn text<'r>(row: &'r Row, col: &str) -> &'r str {
    opt_text(row, col).unwrap_or("")
}

/// The worker's calls inside its own window: entry at or after its start,
/// return at or before its end.
fn window_rows(rows: &[Row], pid: i128, from: i128, to: i128) -> Vec<&Row> {
    let mut v: Vec<&Row> = rows
        .iter()
        .filter(|x| int(x, "tgid") == pid)
        .filter(|x| {
            let ts = int(x, "ts_ns");
            ts - int(x, "duration_ns") >= from && ts <= to
        })
        .collect();
    v.sort_by_key(|x| int(x, "ts_ns"));
    v
}

/// Recorded calls against the scenario's truth, and the sizes against the
/// worker's procstat samples. Does nothing for other scenarios.
pub fn mappings(c: &Case, r: &mut Report) {
    let t = &c.truth["mappings"];
    if t.is_null() {
        return;
    }
    let s = c.name;
    if let Some(why) = c.missing(&["mappings_enter", "mappings_exit"]) {
        r.skip(s, "mappings calls", why);
        return;
    }
    let rows = c.table("mapping_call");
    let pid = t["pid"].as_i64().unwrap() as i128;
    let (from, to) = (
        t["window_start_ns"].as_u64().unwrap() as i128,
        t["window_end_ns"].as_u64().unwrap() as i128,
    );
    let mine = window_rows(&rows, pid, from, to);
    let calls = t["calls"].as_object().unwrap();
    let mut planned = 0;
    for (name, want) in calls {
        let of: Vec<&&Row> = mine.iter().filter(|x| text(x, "call") == name).collect();
        let failed: Vec<&&Row> = of
            .iter()
            .copied()
            .filter(|x| opt_text(x, "error").is_some())
            .collect();
        let sum = |col: &str| of.iter().map(|x| int(x, col)).sum::<i128>();
        let n = |k: &str| want[k].as_u64().unwrap() as i128;
        planned += n("calls");
        r.exact(s, &format!("{name} calls"), of.len() as i128, n("calls"));
        r.exact(
            s,
            &format!("{name} failed"),
            failed.len() as i128,
            n("failed"),
        );
        r.exact(
            s,
            &format!("{name} bytes mapped"),
            sum("mapped"),
            n("mapped_bytes"),
        );
        r.exact(
            s,
            &format!("{name} bytes unmapped"),
            sum("unmapped"),
            n("unmapped_bytes"),
        );
    }
    r.exact(s, "calls in the window", mine.len() as i128, planned);
    // Each failure, in order, with the errno the kernel gave the worker.
    let got: Vec<String> = mine
        .iter()
        .filter(|x| !text(x, "error").is_empty())
        .map(|x| {
            format!(
                "{} {} ({})",
                text(x, "call"),
                text(x, "error"),
                int(x, "errno")
            )
        })
        .collect();
    let want: Vec<String> = t["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} ({})",
                f["call"].as_str().unwrap(),
                f["error"].as_str().unwrap(),
                f["errno"]
            )
        })
        .collect();
    r.check(
        s,
        "failed calls and their errno names",
        got == want,
        format!("recorded {got:?} | worker saw {want:?}"),
    );
    // Decoded names of the planned calls, as the UAPI headers name them.
    let names = |call: &str, col: &str| -> Vec<String> {
        mine.iter()
            .filter(|x| text(x, "call") == call && text(x, "error").is_empty())
            .map(|x| text(x, col).to_string())
            .collect()
    };
    let anon = "MAP_PRIVATE|MAP_ANONYMOUS";
    let mmaps = names("mmap", "flags_names");
    r.check(
        s,
        "mmap flags decoded",
        mmaps.iter().filter(|f| *f == anon).count() == 4
            && mmaps.iter().filter(|f| *f == "MAP_SHARED").count() == 2,
        format!("{mmaps:?}"),
    );
    r.check(
        s,
        "madvise advice decoded",
        names("madvise", "op_name") == ["MADV_DONTNEED", "MADV_DONTNEED"],
        format!("{:?}", names("madvise", "op_name")),
    );
    r.check(
        s,
        "mprotect protections decoded",
        names("mprotect", "prot_names") == ["PROT_READ", "PROT_READ|PROT_WRITE"],
        format!("{:?}", names("mprotect", "prot_names")),
    );
    r.check(
        s,
        "shmctl command decoded",
        names("shmctl", "op_name") == ["IPC_RMID"],
        format!("{:?}", names("shmctl", "op_name")),
    );
    // The file mappings name the scratch file, as /proc/PID/maps would.
    let file = t["file_path"].as_str().unwrap_or_default();
    let files = names("mmap", "file");
    r.check(
        s,
        "file mappings name their file",
        files.iter().filter(|f| *f == file).count() == 2,
        format!("{files:?} (file {file})"),
    );
    vsize(c, r, &rows, pid);
}

/// Bytes recorded between two procstat samples of the worker against its
/// VmSize change between them, per phase of the scenario. The samples
/// chosen lie outside the worker's calls (none in flight): the last before the
/// phase's first call and the first after its last (procstat samples only
/// when a counter changed: after a phase that changed none, the next sample
/// comes later, and the calls recorded up to it are counted too). Main-thread stack
/// growth changes VmSize without a call (the kernel grows the stack VMA on
/// a fault): VmStk (procstat's `stack`) moves with it, so it is taken out.
fn vsize(c: &Case, r: &mut Report, rows: &[Row], pid: i128) {
    let s = c.name;
    let t = &c.truth["mappings"];
    let procstat = c.table("procstat");
    let mut samples: Vec<&Row> = procstat.iter().filter(|x| int(x, "tgid") == pid).collect();
    samples.sort_by_key(|x| int(x, "ts_ns"));
    let at = |x: &Row| int(x, "vsize") - int(x, "stack");
    for p in t["phases"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let (start, end) = (
            p["start_ns"].as_u64().unwrap() as i128,
            p["end_ns"].as_u64().unwrap() as i128,
        );
        // A sample taken inside a call may or may not see its mapping (the
        // call's row is stamped at its exit): an emulated 6.1 guest took
        // one inside the previous phase's last mmap, and the check read a
        // mapping the sample already held. Only samples outside every
        // call of the worker are used.
        let in_call = |x: &Row| {
            let ts = int(x, "ts_ns");
            rows.iter()
                .filter(|c| int(c, "tgid") == pid)
                .any(|c| ts >= int(c, "ts_ns") - int(c, "duration_ns") && ts <= int(c, "ts_ns"))
        };
        let before = samples
            .iter()
            .rev()
            .find(|x| int(x, "ts_ns") < start && !in_call(x));
        let after = samples
            .iter()
            .find(|x| int(x, "ts_ns") > end && !in_call(x));
        let (Some(b), Some(a)) = (before, after) else {
            r.check(
                s,
                &format!("phase {name}: procstat samples around it"),
                false,
                format!("{} samples of worker {pid}", samples.len()),
            );
            continue;
        };
        let (tb, ta) = (int(b, "ts_ns"), int(a, "ts_ns"));
        let recorded: i128 = rows
            .iter()
            .filter(|x| int(x, "tgid") == pid)
            .filter(|x| int(x, "ts_ns") > tb && int(x, "ts_ns") <= ta)
            .map(|x| int(x, "mapped") - int(x, "unmapped"))
            .sum();
        r.exact(
            s,
            &format!("phase {name}: recorded bytes = procstat VmSize - VmStk change"),
            recorded,
            at(a) - at(b),
        );
        // The phase's own calls: what the worker did, as it counted it.
        let own: i128 = rows
            .iter()
            .filter(|x| int(x, "tgid") == pid)
            .filter(|x| {
                let ts = int(x, "ts_ns");
                ts - int(x, "duration_ns") >= start && ts <= end
            })
            .map(|x| int(x, "mapped") - int(x, "unmapped"))
            .sum();
        r.exact(
            s,
            &format!("phase {name}: recorded bytes of its calls = worker's own"),
            own,
            p["vm_delta_bytes"].as_i64().unwrap() as i128,
        );
    }
}

/// memana's mappings section over the worker's window (`--pid`, `--from`,
/// `--to` in whole ms around it: the worker naps 400 ms on either side)
/// against the truth.
pub fn analyzer(c: &Case, memana: &Path, file: &Path, r: &mut Report) {
    let t = &c.truth["mappings"];
    if t.is_null() || c.missing(&["mappings_enter", "mappings_exit"]).is_some() {
        return;
    }
    let s = c.name;
    let ms = 1_000_000i128;
    let from = (t["window_start_ns"].as_u64().unwrap() as i128 - c.start_ns()) / ms;
    let to = (t["window_end_ns"].as_u64().unwrap() as i128 - c.start_ns()) / ms + 2;
    let pid = t["pid"].to_string();
    let out = Command::new(memana)
        .args([
            "report",
            file.to_str().unwrap(),
            "--section",
            "mappings",
            "--format",
            "json",
            "--top",
            "0",
            "--pid",
            &pid,
            "--from",
            &format!("{from}ms"),
            "--to",
            &format!("{to}ms"),
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        r.check(
            s,
            "memana report --section mappings",
            false,
            String::from_utf8_lossy(&out.stderr),
        );
        return;
    }
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    let metric = |key: &str| rows::metric(&rep, key);
    for (name, want) in t["calls"].as_object().unwrap() {
        let n = |k: &str| want[k].as_u64().unwrap() as i128;
        let got = metric(&format!("mappings.calls{{call=\"{name}\"}}")).unwrap_or(0);
        r.exact(s, &format!("memana {name} calls"), got, n("calls"));
        let got = metric(&format!("mappings.failed{{call=\"{name}\"}}")).unwrap_or(0);
        r.exact(s, &format!("memana {name} failed"), got, n("failed"));
    }
    let sum = |k: &str| -> i128 {
        t["calls"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c[k].as_u64().unwrap() as i128)
            .sum()
    };
    r.exact(
        s,
        "memana mapped bytes",
        metric("mappings.mapped_bytes").unwrap_or(0),
        sum("mapped_bytes"),
    );
    r.exact(
        s,
        "memana unmapped bytes",
        metric("mappings.unmapped_bytes").unwrap_or(0),
        sum("unmapped_bytes"),
    );
    r.exact(
        s,
        "memana heap (brk) growth",
        metric("mappings.heap_growth_bytes").unwrap_or(0),
        t["calls"]["brk"]["mapped_bytes"].as_u64().unwrap() as i128
            - t["calls"]["brk"]["unmapped_bytes"].as_u64().unwrap() as i128,
    );
    r.exact(
        s,
        "memana shm segments",
        metric("mappings.shm_segments").unwrap_or(0),
        1,
    );
    for f in t["failures"].as_array().unwrap() {
        let key = format!(
            "mappings.errors{{call=\"{}\",error=\"{}\"}}",
            f["call"].as_str().unwrap(),
            f["error"].as_str().unwrap()
        );
        r.check(
            s,
            &format!("memana {key}"),
            metric(&key).unwrap_or(0) >= 1,
            format!("{:?}", metric(&key)),
        );
    }
}
