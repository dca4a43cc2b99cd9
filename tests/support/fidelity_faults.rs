//! Fidelity of the faults group: its rows against the kernel's own fault
//! accounting, read with the arrow-rs reader (independent of the analyzer).
//!
//! The rows come from the page-fault software perf events, which the kernel
//! fires in mm_account_fault() right after it counts the fault in
//! /proc/vmstat `pgfault` and in the task's `min_flt`/`maj_flt`; the same
//! call decides minor or major. So:
//!
//! - Per process (exact): a process that lived inside the recording and
//!   only faulted through the hardware (no get_user_pages on its behalf, no
//!   exec) has as many rows, minor and major, as /proc/PID/stat's `minflt`
//!   and `majflt`.
//! - Over the system: Σ rows ≤ Δpgfault. What the kernel counts there with
//!   no event: faults by get_user_pages (mm_account_fault() without
//!   registers: populate, mlock, every exec's argument pages, ptrace,
//!   pinning) and faults that end in an error (SIGSEGV, SIGBUS, OOM: counted
//!   before the error check). The gap is allowed up to 1 % of Δpgfault. The
//!   other way, rows may exceed Δpgfault by the faults of the microseconds
//!   between memrec going live and reading /proc/vmstat (and the same at
//!   the end): at most 64.
//!   Before 6.4 pgfault also counted each attempt that a retried fault
//!   gave up (to wait for I/O or a page lock); a retried fault completes
//!   as a major one, so there the gap may also reach the major rows.
//! - Majors against Δpgmajfault, the same bounds: pgmajfault is counted
//!   where the I/O is started (filemap_fault, do_swap_page, shmem), for
//!   get_user_pages too; the event's major also covers faults retried after
//!   waiting (FAULT_FLAG_TRIED).
#![allow(dead_code)]

use memtrace_schema::ProbeState;
use serde_json::Value;

use super::fidelity::{Case, Report};
use super::rows::{count, flag, group_recorded, metric, opt_int, opt_text, probe_state};
use super::Row;

/// Rows beyond Δpgfault allowed: faults between going live and the
/// counter read at start, and between the counter read and going quiet at
/// the end (memrec does each pair back to back).
pub const BRACKET_MAX: i128 = 64;

/// The share of Δpgfault that may have no row: get_user_pages and failed
/// faults (see the module doc).
pub const UNMARKED_SHARE_MAX: f64 = 0.01;

/// Whether the recording holds the faults group.
pub fn recorded(c: &Case) -> bool {
    group_recorded(c.meta(), "faults")
}

/// Whether the exceptions tracepoints (the error code) were recorded.
fn has_error_codes(c: &Case) -> bool {
    probe_state(c.meta(), "faults_exc_user") == Some(ProbeState::Attached)
}

/// Fault rows and major fault rows among `rows`.
fn totals(rows: &[Row]) -> (i128, i128) {
    (rows.len() as i128, count(rows, is_major))
}

/// Every program's state (as `memrec probes` says for this kernel) and no
/// loss: for a recording without a scenario's truth.
pub fn probes(c: &Case, r: &mut Report) {
    for p in super::kernel::recorded_probes(c.meta()) {
        let what = format!("probe {} ({})", p.program, p.target);
        let (ok, seen) = super::kernel::probe_verdict(&p, c.here);
        r.check(c.name, &format!("{what} state"), ok, seen);
        r.check(
            c.name,
            &format!("{what} lost"),
            p.lost == 0,
            format!("lost {}", p.lost),
        );
    }
}

/// Σ rows and majors against Δpgfault and Δpgmajfault.
pub fn faults(c: &Case, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        r.skip(
            s,
            "fault rows vs pgfault",
            "the faults group was not recorded",
        );
        return;
    }
    let rows = c.table("fault");
    let (total, major) = totals(&rows);
    // Before 6.4 handle_mm_fault() counted pgfault on every attempt, the
    // ones that gave up the lock to wait (VM_FAULT_RETRY) included; the
    // event fires once, when the fault completes, and a retried fault
    // completes as a major one. 6.4 moved the count after the retry check
    // ("mm: do not increment pgfault stats when page fault handler
    // retries").
    let release = c.meta()["kernel_release"].as_str().unwrap_or("");
    let retries_counted = super::kernel::release_version(release).is_some_and(|v| v < (6, 4));
    for (figure, recorded, key) in [
        ("fault rows vs Δpgfault", total, "pgfault"),
        ("major fault rows vs Δpgmajfault", major, "pgmajfault"),
    ] {
        let kernel = c.vmstat_delta(key);
        let gap = kernel - recorded;
        let mut max = (kernel as f64 * UNMARKED_SHARE_MAX).ceil() as i128;
        let mut why = String::new();
        if retries_counted && key == "pgfault" {
            max += major;
            why = format!(
                "; + {major} major rows: kernel {release} (before 6.4) also counts each \
                 attempt a retried fault gave up"
            );
        }
        r.check(
            s,
            figure,
            (-BRACKET_MAX..=max).contains(&gap),
            format!(
                "recorded {recorded} | kernel {kernel} | Δ{key} - rows {gap} | tolerance \
                 -{BRACKET_MAX}..={max} (get_user_pages and failed faults have no event; \
                 the live switch and the counter read are microseconds apart{why})"
            ),
        );
    }
    // Every row names a kind of VMA; file names only on file and shmem VMAs.
    let bad_file = count(&rows, |x| {
        let named = opt_text(x, "file").is_some();
        let filed = matches!(opt_text(x, "vma"), Some("file" | "shmem"));
        named && !filed
    });
    r.check(
        s,
        "file names only on file and shmem VMAs",
        bad_file == 0,
        format!("{bad_file} rows name a file on another VMA kind"),
    );
    let unknown = count(&rows, |x| opt_text(x, "vma") == Some("unknown"));
    r.note(
        s,
        "faults whose VMA could not be looked up without waiting",
        format!("{unknown} of {total}"),
    );
    if has_error_codes(c) {
        // The stash is per task and matched by page: every accounted
        // hardware fault passed through the exception handler first.
        let without = count(&rows, |x| opt_int(x, "error_code").is_none());
        r.check(
            s,
            "every fault row has its exception's error code",
            without == 0,
            format!("{without} of {total} rows without"),
        );
    }
}

/// One process's rows against its /proc/PID/stat, exactly.
pub fn process(c: &Case, r: &mut Report, tgid: u32, minflt: u64, majflt: u64) {
    let s = c.name;
    let total = count_rows(c, tgid, |_| true) as i128;
    let major = count_rows(c, tgid, is_major) as i128;
    let minor = total - major;
    r.exact(
        s,
        &format!("process {tgid}: minor fault rows vs /proc/PID/stat minflt"),
        minor,
        i128::from(minflt),
    );
    r.exact(
        s,
        &format!("process {tgid}: major fault rows vs /proc/PID/stat majflt"),
        major,
        i128::from(majflt),
    );
}

/// Rows of one process matching a predicate.
pub fn count_rows(c: &Case, tgid: u32, keep: impl Fn(&Row) -> bool) -> usize {
    let tgid = Some(i128::from(tgid));
    count(&c.table("fault"), |x| opt_int(x, "tgid") == tgid && keep(x)) as usize
}

/// Access, cause and VMA kind of a row, for [`count_rows`].
pub fn is(row: &Row, vma: &str, access: &str, cause: &str) -> bool {
    opt_text(row, "vma") == Some(vma)
        && opt_text(row, "access") == Some(access)
        && opt_text(row, "cause") == Some(cause)
}

/// The file a row names.
pub fn file_of(row: &Row) -> Option<&str> {
    opt_text(row, "file")
}

/// Whether a row is a major fault.
pub fn is_major(row: &Row) -> bool {
    flag(row, "major")
}

/// memana's faults section against the rows.
pub fn analyzer(c: &Case, report: &Value, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        return;
    }
    let (total, major) = totals(&c.table("fault"));
    for (key, want) in [
        ("faults.total", total),
        ("faults.major", major),
        ("faults.minor", total - major),
    ] {
        r.exact(
            s,
            &format!("memana {key} vs rows"),
            metric(report, key).unwrap_or(-1),
            want,
        );
    }
}
