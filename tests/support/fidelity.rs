//! Fidelity checks: every figure a recording holds, against the kernel's own
//! accounting of the same events (issue #4). Shared by the fixture tests
//! (committed recordings, no root) and the root tests (fresh recordings).
//!
//! Each check takes a [`Case`] (a recording read with the arrow-rs reader and
//! memscen's ground truth of the scenario run inside it) and writes what it
//! measured into a [`Report`]: one `FIDELITY` line per comparison with the
//! recorded figure, the kernel's, the difference and the tolerance. A
//! comparison outside its tolerance is a failure; [`Report::finish`] fails the
//! test with all of them at once. docs/FIDELITY.md explains every tolerance.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::kernel::{self, KernelProbes, ProbeState, SplitRss};
use super::{Cell, File, Row};

/// Pages a per-CPU `percpu_counter` may hold back from its shared count (the
/// kernel's `percpu_counter_batch` is max(32, 2 * nr_cpus)). mm counters
/// (RSS) are percpu_counters; `mm->hiwater_rss` is updated from their
/// approximate value.
pub fn percpu_batch(nr_cpus: u64) -> u64 {
    32.max(2 * nr_cpus)
}

/// Largest gap allowed between memrec's read of /proc/vmstat and its own
/// snapshot of the same counters (start and end). Well under the kernel's
/// `vm.stat_interval` (1 s), so that at most one per-CPU fold per CPU lands
/// between the two reads; that is what the sysstat tolerance allows for.
pub const SNAPSHOT_GAP_MAX_NS: i128 = 100_000_000;

/// Largest time between a recorded event and the kernel's own printout of
/// the same tracepoint call: both are stamped with the boot clock by
/// handlers of that call, one after the other (the printout rounded to
/// µs). Also the margin left at the edges of the recording, where a twin
/// could fall outside.
pub const PAIR_WINDOW_NS: i128 = 1_000_000;

/// How long an emulated CPU may stand still while the guest's clock runs
/// on: the host deschedules the thread that emulates it (or the guest takes
/// a slow interrupt), tens to hundreds of ms on a busy host; the 6.1 runs
/// saw 329 ms between two consecutive steps of memrec (its end snapshot and
/// its /proc/vmstat read). Natively such stalls are far below the bounds.
/// Bounds how late memscen's read of /proc/PID/status may come after the
/// time stamp it takes just before, and how far apart two handlers of one
/// tracepoint call may stamp the same event.
pub const EMULATED_STALL_NS: i128 = 500_000_000;

/// How late memscen's read of /proc/PID/status may come after its stamp,
/// under emulation (seen: about 110 ms).
pub const STATUS_READ_DELAY_EMULATED_NS: i128 = EMULATED_STALL_NS;

/// The same under emulation (TCG): the CPU can stall between the two
/// handlers (seen: 28 ms, a direct reclaim begin printed before memrec's
/// snapshot and reclaim programs ran).
pub const PAIR_WINDOW_EMULATED_NS: i128 = EMULATED_STALL_NS;

// ---------------------------------------------------------------------------
// Report

/// What a set of checks measured, and what failed.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub failures: Vec<String>,
    /// Put before every scope: which kernel's recordings are being checked.
    prefix: String,
}

impl Report {
    pub fn new() -> Self {
        Report::default()
    }

    /// Lines from now on are about recordings from `kernel` (a release),
    /// or, with "", about the host's own.
    pub fn kernel(&mut self, kernel: &str) {
        self.prefix = if kernel.is_empty() {
            String::new()
        } else {
            format!("{kernel}/")
        };
    }

    fn line(&mut self, scope: &str, figure: &str, text: String, ok: bool) {
        let l = format!(
            "FIDELITY {}{scope} | {figure} | {text}{}",
            self.prefix,
            if ok { "" } else { " | FAIL" }
        );
        eprintln!("{l}");
        if !ok {
            self.failures.push(l.clone());
        }
        self.lines.push(l);
    }

    /// Exact equality.
    pub fn exact(&mut self, scope: &str, figure: &str, recorded: i128, kernel: i128) {
        let d = recorded - kernel;
        self.line(
            scope,
            figure,
            format!("recorded {recorded} | kernel {kernel} | diff {d} | tolerance 0"),
            d == 0,
        );
    }

    /// Exact equality, unless `not_comparable` says why the two are not
    /// the same quantity on this kernel (then said, with both values).
    pub fn exact_unless(
        &mut self,
        not_comparable: Option<&str>,
        scope: &str,
        figure: &str,
        recorded: i128,
        kernel: i128,
    ) {
        match not_comparable {
            Some(why) => self.skip(
                scope,
                figure,
                format!("{why} (recorded {recorded}, kernel {kernel})"),
            ),
            None => self.exact(scope, figure, recorded, kernel),
        }
    }

    /// `|recorded - kernel| <= tolerance`.
    pub fn within(
        &mut self,
        scope: &str,
        figure: &str,
        recorded: f64,
        kernel: f64,
        tolerance: f64,
    ) {
        let d = recorded - kernel;
        let rel = if kernel != 0.0 {
            format!(" ({:+.2}%)", 100.0 * d / kernel)
        } else {
            String::new()
        };
        self.line(
            scope,
            figure,
            format!("recorded {recorded:.6} | kernel {kernel:.6} | diff {d:+.6}{rel} | tolerance {tolerance:.6}"),
            d.abs() <= tolerance,
        );
    }

    /// A check that cannot be made here, and why (said, not failed).
    pub fn skip(&mut self, scope: &str, figure: &str, why: impl Into<String>) {
        let l = format!(
            "FIDELITY {}{scope} | {figure} | SKIPPED: {}",
            self.prefix,
            why.into()
        );
        eprintln!("{l}");
        self.lines.push(l);
    }

    /// A condition, with what was seen.
    pub fn check(&mut self, scope: &str, figure: &str, ok: bool, seen: impl Into<String>) {
        self.line(scope, figure, seen.into(), ok);
    }

    pub fn note(&mut self, scope: &str, figure: &str, text: impl Into<String>) {
        let l = format!(
            "FIDELITY {}{scope} | {figure} | {}",
            self.prefix,
            text.into()
        );
        eprintln!("{l}");
        self.lines.push(l);
    }

    /// Fails the test with every failure, if any. First writes a summary
    /// straight to stderr, past the test harness's capture, so that a run
    /// without --nocapture (the kernel matrix's) still shows what was
    /// skipped and what this kernel or emulation changed.
    pub fn finish(self) {
        use std::io::Write;
        let special: Vec<&String> = self
            .lines
            .iter()
            .filter(|l| {
                l.contains("| SKIPPED:")
                    || l.starts_with("FIDELITY kernel |")
                    || l.contains("emulated (")
                    || l.contains("per-thread RSS counting")
                    || l.contains("memrec probes on this kernel agrees")
                    || l.contains("multi-generational LRU")
            })
            .collect();
        if special.is_empty() {
            // Nothing kernel-specific to say; failures speak for themselves.
            return self.fail_if_any();
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "FIDELITY summary: {} lines, {} failed, {} skipped; what this kernel or emulation changed:",
            self.lines.len(),
            self.failures.len(),
            self.lines.iter().filter(|l| l.contains("| SKIPPED:")).count()
        );
        for l in special {
            let _ = writeln!(err, "  {l}");
        }
        drop(err);
        self.fail_if_any();
    }

    fn fail_if_any(self) {
        assert!(
            self.failures.is_empty(),
            "{} fidelity check(s) failed:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// The recording and its ground truth

/// One scenario's recording with memscen's ground truth.
pub struct Case<'a> {
    pub name: &'a str,
    pub file: &'a File,
    pub truth: &'a Value,
    /// `memrec probes` on the recording's kernel: the running kernel's for
    /// a recording just made (root tests), the guest's as the kernel matrix
    /// kept it beside another kernel's fixture; None for the host's
    /// fixtures.
    pub here: Option<&'a KernelProbes>,
    /// Made just now on the running kernel (root tests).
    live: bool,
    /// The emulator the recording was made under: the environment's for a
    /// recording just made, the kernel matrix's note for a guest's fixture.
    pub emulated: Option<String>,
    /// Tables read once.
    tables: std::cell::RefCell<BTreeMap<String, std::rc::Rc<Vec<Row>>>>,
}

impl<'a> Case<'a> {
    /// A recording made elsewhere (a fixture).
    pub fn new(name: &'a str, file: &'a File, truth: &'a Value) -> Self {
        Case {
            name,
            file,
            truth,
            here: None,
            live: false,
            emulated: None,
            tables: Default::default(),
        }
    }

    /// A recording just made on the running kernel, whose `memrec probes`
    /// is `here`.
    pub fn live(name: &'a str, file: &'a File, truth: &'a Value, here: &'a KernelProbes) -> Self {
        Case {
            here: Some(here),
            live: true,
            emulated: kernel::emulated(),
            ..Case::new(name, file, truth)
        }
    }

    /// Why a check that needs the rows of these programs cannot be made:
    /// one of them is missing on this kernel (the probe check has
    /// cross-checked that with `memrec probes`).
    pub fn missing(&self, programs: &[&str]) -> Option<String> {
        let why: Vec<String> = kernel::recorded_probes(self.meta())
            .into_iter()
            .filter(|p| programs.contains(&p.program.as_str()))
            .filter(|p| p.state == Ok(ProbeState::Missing))
            .map(|p| {
                format!(
                    "{} ({}) is missing on this kernel: {}",
                    p.program, p.target, p.error
                )
            })
            .collect();
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// A fixture recorded under emulation (the kernel matrix's guests):
    /// `emulator` as the matrix wrote it beside the fixture.
    pub fn emulated_by(self, emulator: Option<String>) -> Self {
        Case {
            emulated: emulator,
            ..self
        }
    }

    /// A fixture from another kernel, with `memrec probes --json` as it
    /// ran there: its missing programs are cross-checked against that.
    pub fn probed_by(self, probes: Option<&'a KernelProbes>) -> Self {
        Case {
            here: probes,
            ..self
        }
    }

    /// Why `nr_scanned` is not `pgscan_*` here: the recording's kernel
    /// reclaims with the multi-generational LRU (the running kernel for a
    /// recording just made; what memscen read for a fixture).
    pub fn mglru(&self) -> Option<String> {
        if self.truth["host"].get("lru_gen_enabled").is_some() {
            return kernel::mglru_of(self.truth);
        }
        // A truth file from before memscen noted it: the running kernel's,
        // for a recording just made on it.
        self.live.then(kernel::mglru_here).flatten()
    }

    /// Per-thread RSS counting on the recording's kernel (before 6.2).
    pub fn split_rss(&self) -> SplitRss {
        kernel::split_rss_of(self.meta())
    }

    /// Largest gap allowed between memrec's read of /proc/vmstat and its
    /// own snapshot next to it, and why.
    pub fn snapshot_gap_max(&self) -> (i128, String) {
        match &self.emulated {
            None => (SNAPSHOT_GAP_MAX_NS, String::new()),
            // Emulated CPUs run memrec many times slower and are preempted
            // for longer; the sysstat tolerance only needs the two reads to
            // be less than one fold interval apart (at most one fold per
            // CPU between them).
            Some(emu) => {
                let fold = kernel::stat_interval_ns();
                (
                    fold - 1,
                    format!(
                        " (emulated ({emu}): below vm.stat_interval {} ms instead of {} ms)",
                        fold / 1_000_000,
                        SNAPSHOT_GAP_MAX_NS / 1_000_000
                    ),
                )
            }
        }
    }

    /// How long after its time stamp memscen's read of /proc/PID/status may
    /// be (memscen stamps a sample, then reads the file), and why.
    pub fn status_read_delay(&self) -> (i128, String) {
        match &self.emulated {
            None => (0, String::new()),
            Some(emu) => (
                STATUS_READ_DELAY_EMULATED_NS,
                format!(
                    "; emulated ({emu}): each status sample's read may come up to {} ms after its \
                     time stamp, so the procstat sample after it is taken from then",
                    STATUS_READ_DELAY_EMULATED_NS / 1_000_000
                ),
            ),
        }
    }

    /// Largest time between a recorded event and the kernel's printout of
    /// the same tracepoint call, and why.
    pub fn pair_window(&self) -> (i128, String) {
        match &self.emulated {
            None => (PAIR_WINDOW_NS, String::new()),
            Some(emu) => (
                PAIR_WINDOW_EMULATED_NS,
                format!(
                    " (emulated ({emu}): {} ms instead of {} ms)",
                    PAIR_WINDOW_EMULATED_NS / 1_000_000,
                    PAIR_WINDOW_NS / 1_000_000
                ),
            ),
        }
    }

    pub fn table(&self, kind: &str) -> std::rc::Rc<Vec<Row>> {
        self.tables
            .borrow_mut()
            .entry(kind.to_string())
            .or_insert_with(|| std::rc::Rc::new(self.file.table(kind)))
            .clone()
    }

    pub fn meta(&self) -> &Value {
        &self.file.meta
    }

    pub fn vmstat_delta(&self, key: &str) -> i128 {
        self.file.vmstat_delta(key)
    }

    pub fn nr_cpus(&self) -> u64 {
        self.meta()["nr_cpus"].as_u64().unwrap()
    }

    pub fn page_size(&self) -> u64 {
        self.meta()["page_size"].as_u64().unwrap()
    }

    pub fn start_ns(&self) -> i128 {
        self.meta()["start_ns"].as_i64().unwrap().into()
    }

    pub fn end_ns(&self) -> i128 {
        self.meta()["end_ns"].as_i64().unwrap().into()
    }

    /// Value of a gfp flag name in the recording's own table.
    pub fn gfp_bit(&self, name: &str) -> u64 {
        self.meta()["gfp_names"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[1] == name)
            .and_then(|p| p[0].as_u64())
            .unwrap_or_else(|| panic!("{name} is not in the recording's gfp_names"))
    }

    /// The workers memscen ran.
    pub fn workers(&self) -> Vec<&Value> {
        self.truth["workers"]
            .as_array()
            .map(|w| w.iter().collect())
            .unwrap_or_default()
    }

    /// A worker's phase marker.
    pub fn event_ns(worker: &Value, name: &str) -> Option<i128> {
        worker["events"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["boottime_ns"].as_u64())
            .map(i128::from)
    }
}

fn int(row: &Row, col: &str) -> i128 {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .int()
}

fn text<'r>(row: &'r Row, col: &str) -> &'r str {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .text()
}

fn sum(rows: &[&Row], col: &str) -> i128 {
    rows.iter().map(|r| int(r, col)).sum()
}

// ---------------------------------------------------------------------------
// Checks

/// Precondition of every exact comparison: all probes attached, nothing lost
/// in the kernel, nothing malformed in user space, and the scenario produced
/// its situation.
pub fn recording_is_complete(c: &Case, r: &mut Report) {
    let s = c.name;
    for p in kernel::recorded_probes(c.meta()) {
        let what = format!("probe {} ({})", p.program, p.target);
        // Attached, a fallback not needed, or not asked for: fine. Failed:
        // a fault. Missing: only where this kernel's `memrec probes` says
        // so too.
        let (ok, seen) = kernel::probe_verdict(&p, c.here);
        r.check(s, &format!("{what} state"), ok, seen);
        r.check(
            s,
            &format!("{what} lost"),
            p.lost == 0,
            format!("lost {}", p.lost),
        );
    }
    for g in c.meta()["groups"].as_array().unwrap() {
        r.check(
            s,
            &format!("group {} malformed", g["name"].as_str().unwrap_or("")),
            g["malformed"] == 0,
            format!("malformed {}", g["malformed"]),
        );
    }
    if c.truth["produced"] != true {
        if let Some(why) = leak_off_schedule_emulated(c.truth, c.emulated.as_deref()) {
            r.skip(
                s,
                "scenario produced its situation",
                format!("{why} ({})", c.truth["verdict"].as_str().unwrap_or("")),
            );
            return complete_window(c, r);
        }
    }
    r.check(
        s,
        "scenario produced its situation",
        c.truth["produced"] == true,
        format!(
            "produced {} ({})",
            c.truth["produced"],
            c.truth["verdict"].as_str().unwrap_or("")
        ),
    );
    complete_window(c, r);
}

/// memscen's window lies inside the recording's.
fn complete_window(c: &Case, r: &mut Report) {
    let s = c.name;
    let (ts, te) = (
        c.truth["start_boottime_ns"].as_u64().unwrap() as i128,
        c.truth["end_boottime_ns"].as_u64().unwrap() as i128,
    );
    r.check(
        s,
        "scenario window inside the recording",
        c.start_ns() <= ts && te <= c.end_ns(),
        format!(
            "recording {}..{}, scenario {ts}..{te}",
            c.start_ns(),
            c.end_ns()
        ),
    );
}

/// Reclaimed and scanned pages against pgsteal_* / pgscan_*. Exact: the
/// kernel counts each shrink_inactive_list() pass in these counters and
/// fires the tracepoint with the same numbers. memcg (limit) reclaim counts
/// only in pgsteal_anon/file; kswapd, direct and khugepaged in both.
pub fn reclaim(c: &Case, r: &mut Report) {
    let s = c.name;
    if let Some(why) = c.missing(&["pr_lru_inactive"]) {
        r.skip(s, "lru_inactive sums vs pgsteal/pgscan", why);
        return;
    }
    let lru = c.table("lru_inactive");
    let all: Vec<&Row> = lru.iter().collect();
    let global: Vec<&Row> = lru
        .iter()
        .filter(|x| matches!(text(x, "reclaimer"), "kswapd" | "direct"))
        .collect();
    let d = |keys: &[&str]| keys.iter().map(|k| c.vmstat_delta(k)).sum::<i128>();
    // With the multi-generational LRU the tracepoint's nr_scanned is not
    // what pgscan_* count (its nr_reclaimed still is pgsteal_*'s).
    let mglru = c.mglru();
    let mglru = mglru.as_deref();
    r.exact(
        s,
        "Σ lru_inactive.nr_reclaimed vs Δ(pgsteal_anon+pgsteal_file)",
        sum(&all, "nr_reclaimed"),
        d(&["pgsteal_anon", "pgsteal_file"]),
    );
    r.exact_unless(
        mglru,
        s,
        "Σ lru_inactive.nr_scanned vs Δ(pgscan_anon+pgscan_file)",
        sum(&all, "nr_scanned"),
        d(&["pgscan_anon", "pgscan_file"]),
    );
    r.exact(
        s,
        "Σ nr_reclaimed (kswapd+direct) vs Δ(pgsteal_kswapd+pgsteal_direct+pgsteal_khugepaged)",
        sum(&global, "nr_reclaimed"),
        d(&["pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged"]),
    );
    r.exact_unless(
        mglru,
        s,
        "Σ nr_scanned (kswapd+direct) vs Δ(pgscan_kswapd+pgscan_direct+pgscan_khugepaged)",
        sum(&global, "nr_scanned"),
        d(&["pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged"]),
    );
    // Where to look when these differ: rows outside the window between
    // memrec's /proc/vmstat reads (its start anchor and end snapshot bound
    // it) count in the sums but not in the deltas.
    let end_snap = c
        .table("sysstat")
        .iter()
        .filter(|x| text(x, "trigger") == "end")
        .map(|x| int(x, "ts_ns"))
        .min()
        .unwrap_or_else(|| c.end_ns());
    let early: Vec<&Row> = all
        .iter()
        .copied()
        .filter(|x| int(x, "ts_ns") < c.start_ns())
        .collect();
    let late: Vec<&Row> = all
        .iter()
        .copied()
        .filter(|x| int(x, "ts_ns") > end_snap)
        .collect();
    r.note(
        s,
        "lru_inactive rows outside memrec's /proc/vmstat reads",
        format!(
            "{} before the start read (Σ nr_reclaimed {}, Σ nr_scanned {}), {} after the end snapshot (Σ nr_reclaimed {}, Σ nr_scanned {})",
            early.len(),
            sum(&early, "nr_reclaimed"),
            sum(&early, "nr_scanned"),
            late.len(),
            sum(&late, "nr_reclaimed"),
            sum(&late, "nr_scanned")
        ),
    );
    // Per LRU list, too (pgsteal_anon and pgsteal_file separately).
    for (lru_name, steal, scan) in [
        ("anon", "pgsteal_anon", "pgscan_anon"),
        ("file", "pgsteal_file", "pgscan_file"),
    ] {
        let rows: Vec<&Row> = lru.iter().filter(|x| text(x, "lru") == lru_name).collect();
        r.exact(
            s,
            &format!("Σ nr_reclaimed (lru={lru_name}) vs Δ{steal}"),
            sum(&rows, "nr_reclaimed"),
            c.vmstat_delta(steal),
        );
        r.exact_unless(
            mglru,
            s,
            &format!("Σ nr_scanned (lru={lru_name}) vs Δ{scan}"),
            sum(&rows, "nr_scanned"),
            c.vmstat_delta(scan),
        );
    }
    // The scenarios that reclaim must have rows, or the equalities are 0 == 0.
    if matches!(s, "memcg-reclaim" | "swap") {
        r.check(
            s,
            "memcg reclaim recorded",
            all.iter().any(|x| text(x, "reclaimer") == "memcg"),
            format!("{} rows", all.len()),
        );
    }
}

/// One "Killed process" line of the kernel log, parsed.
#[derive(Debug, Default, PartialEq)]
pub struct KilledLine {
    pub pid: i128,
    pub comm: String,
    /// Field name (`total-vm`, `anon-rss`, ...) to value, kB or plain.
    pub fields: BTreeMap<String, i128>,
}

/// Parses the kernel's "Killed process N (comm) total-vm:XkB, anon-rss:..." line.
pub fn parse_killed(line: &str) -> Option<KilledLine> {
    let rest = &line[line.find("Killed process ")? + "Killed process ".len()..];
    let (pid, rest) = rest.split_once(" (")?;
    let close = rest.find(") total-vm:")?;
    let comm = rest[..close].to_string();
    let mut fields = BTreeMap::new();
    for part in rest[close + 2..].split_whitespace() {
        let part = part.trim_end_matches(',');
        let (k, v) = part.split_once(':')?;
        fields.insert(k.to_string(), v.trim_end_matches("kB").parse().ok()?);
    }
    Some(KilledLine {
        pid: pid.trim().parse().ok()?,
        comm,
        fields,
    })
}

/// OOM kills against /proc/vmstat `oom_kill`, and the victim against
/// memscen's worker and the kernel log's "Killed process" line.
pub fn oom(c: &Case, r: &mut Report) {
    let s = c.name;
    if let Some(why) = c.missing(&["oom_mark_victim"]) {
        r.skip(s, "oom_victim rows vs oom_kill and the kernel log", why);
        return;
    }
    let victims = c.table("oom_victim");
    r.exact(
        s,
        "oom_victim rows vs Δoom_kill",
        victims.len() as i128,
        c.vmstat_delta("oom_kill"),
    );
    let Some(o) = c.truth.get("oom") else { return };
    r.check(
        s,
        "worker OOM-killed",
        o["killed"] == true,
        format!("killed {}", o["killed"]),
    );
    let pid = o["victim_pid"].as_i64().unwrap() as i128;
    let mine: Vec<&Row> = victims
        .iter()
        .filter(|v| int(v, "victim_pid") == pid)
        .collect();
    r.exact(
        s,
        "oom_victim rows for memscen's worker",
        mine.len() as i128,
        1,
    );
    let klog: Vec<i128> = o["kernel_log_killed_pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap() as i128)
        .collect();
    r.check(
        s,
        "kernel log names the same victim",
        klog == vec![pid],
        format!("kernel log {klog:?}, worker {pid}"),
    );
    r.exact(
        s,
        "memcg oom_kill delta vs rows of its victim",
        o["memcg_oom_kill"]["delta"].as_i64().unwrap() as i128,
        mine.len() as i128,
    );
    let Some(v) = mine.first() else { return };
    let comm = c
        .workers()
        .first()
        .and_then(|w| w["comm"].as_str())
        .unwrap_or("")
        .to_string();
    r.check(
        s,
        "victim_comm",
        text(v, "victim_comm") == comm,
        format!("recorded {:?}, worker {comm:?}", text(v, "victim_comm")),
    );
    oom_memcg(c, v, o, r);
    // The tracepoint and the kernel's "Killed process" line read the same
    // mm counters within microseconds of each other, before the OOM reaper
    // runs: exact.
    let line = o["kernel_log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .find_map(parse_killed);
    let Some(k) = line else {
        r.check(s, "kernel log has a Killed process line", false, "none");
        return;
    };
    r.exact(s, "victim_pid vs kernel log", int(v, "victim_pid"), k.pid);
    r.check(
        s,
        "victim_comm vs kernel log",
        text(v, "victim_comm") == k.comm,
        format!("recorded {:?}, kernel {:?}", text(v, "victim_comm"), k.comm),
    );
    for (col, key, scale) in [
        ("total_vm", "total-vm", 1024),
        ("anon_rss", "anon-rss", 1024),
        ("file_rss", "file-rss", 1024),
        ("shmem_rss", "shmem-rss", 1024),
        ("pgtables", "pgtables", 1024),
        ("uid", "UID", 1),
        ("oom_score_adj", "oom_score_adj", 1),
    ] {
        match k.fields.get(key) {
            Some(&kv) => r.exact(
                s,
                &format!("oom_victim.{col} vs kernel log {key}"),
                int(v, col),
                kv * scale,
            ),
            None => r.check(
                s,
                &format!("kernel log has {key}"),
                false,
                format!("{:?}", k.fields),
            ),
        }
    }
}

/// The kill as the kernel log told it (memrec joins it to the tracepoint's
/// row by pid): a memcg OOM of the memcg memscen made, at the limit it set;
/// and the file's cgroup map names that memcg, with its limit, though
/// memscen removed it before the recording ended.
fn oom_memcg(c: &Case, v: &Row, o: &Value, r: &mut Report) {
    let s = c.name;
    let cell = |col: &str| v.get(col).cloned();
    let Some(constraint) = cell("constraint") else {
        r.skip(
            s,
            "oom_victim memcg columns vs memscen",
            "recorded by a memrec without them",
        );
        return;
    };
    let memcg = c
        .workers()
        .first()
        .and_then(|w| w["events"].as_array())
        .and_then(|e| e.iter().find(|e| e["name"] == "start"))
        .and_then(|e| e["data"]["memcg"].as_str())
        .unwrap_or("")
        .to_string();
    let limit = o["limit_bytes"].as_i64().unwrap_or(0) as i128;
    let is = |c: Option<Cell>, want: &str| matches!(c, Some(Cell::Text(t)) if t == want);
    r.check(
        s,
        "oom_victim.constraint",
        is(Some(constraint.clone()), "memcg"),
        format!("{constraint:?}"),
    );
    for col in ["oom_memcg", "task_memcg"] {
        r.check(
            s,
            &format!("oom_victim.{col} vs memscen's memcg"),
            is(cell(col), &memcg),
            format!("recorded {:?}, memscen {memcg:?}", cell(col)),
        );
    }
    let lim = match cell("memcg_limit") {
        Some(Cell::Int(l)) => l,
        _ => -1,
    };
    r.exact(s, "oom_victim.memcg_limit vs memscen's limit", lim, limit);
    let meta = c.meta();
    let id = meta["cgroups"]
        .as_object()
        .and_then(|m| m.iter().find(|(_, p)| p.as_str() == Some(memcg.as_str())))
        .map(|(id, _)| id.clone());
    r.check(
        s,
        "metadata cgroups names memscen's memcg",
        id.is_some(),
        format!("{memcg:?} in {}", meta["cgroups"]),
    );
    if let Some(id) = id {
        let l = meta["cgroup_limits"][id.as_str()].as_i64().unwrap_or(-1) as i128;
        r.exact(s, "metadata cgroup_limits vs memscen's limit", l, limit);
    }
}

/// The huge page order of this recording's host.
pub fn hugetlb_order(c: &Case) -> u32 {
    if let Some(o) = c.truth.get("alloc_fail").and_then(|a| a["order"].as_u64()) {
        return o as u32;
    }
    c.meta()["hpage_pmd_nr"].as_u64().unwrap().trailing_zeros()
}

/// paf rows that are hugetlb pool allocations: the huge page order with
/// __GFP_COMP | __GFP_THISNODE (alloc_pool_huge_folio), and without
/// __GFP_NOMEMALLOC, which every THP mask (GFP_TRANSHUGE*) has.
pub fn hugetlb_failures<'r>(c: &Case, paf: &'r [Row]) -> Vec<&'r Row> {
    let order = hugetlb_order(c) as i128;
    let want = c.gfp_bit("__GFP_COMP") | c.gfp_bit("__GFP_THISNODE");
    let nomemalloc = c.gfp_bit("__GFP_NOMEMALLOC");
    paf.iter()
        .filter(|p| {
            let g = int(p, "gfp_flags") as u64;
            int(p, "order") == order && g & want == want && g & nomemalloc == 0
        })
        .collect()
}

/// Failed allocations: hugetlb order-9 failures against
/// htlb_buddy_alloc_fail, each with the zones at that moment.
pub fn alloc_failures(c: &Case, r: &mut Report) {
    let s = c.name;
    if let Some(why) = c.missing(&["paf_page_alloc"]) {
        r.skip(s, "paf rows vs htlb_buddy_alloc_fail", why);
        return;
    }
    let paf = c.table("paf");
    let htlb = hugetlb_failures(c, &paf);
    r.exact(
        s,
        "hugetlb paf rows vs Δhtlb_buddy_alloc_fail",
        htlb.len() as i128,
        c.vmstat_delta("htlb_buddy_alloc_fail"),
    );
    let mut orders: BTreeMap<i128, usize> = BTreeMap::new();
    for p in paf.iter() {
        *orders.entry(int(p, "order")).or_default() += 1;
    }
    r.note(s, "paf rows by order", format!("{orders:?}"));
    if let Some(a) = c.truth.get("alloc_fail") {
        let d = a["htlb_buddy_alloc_fail"]["delta"].as_i64().unwrap() as i128;
        r.check(
            s,
            "alloc-fail made failures",
            d >= 1,
            format!("memscen Δhtlb_buddy_alloc_fail {d}"),
        );
        // memscen's window lies inside the recording and nothing else grows
        // the pool: the same count.
        r.exact(
            s,
            "hugetlb paf rows vs memscen's Δhtlb_buddy_alloc_fail",
            htlb.len() as i128,
            d,
        );
        let order = a["order"].as_i64().unwrap() as i128;
        r.check(
            s,
            "order of the hugetlb failures",
            htlb.iter().all(|p| int(p, "order") == order),
            format!("all order {order}"),
        );
    }
    // Each failure carries the zones at that moment, with the reserve the
    // failed allocation faced (lowmem_reserve, as in zoneinfo's
    // `protection`): memrec's read at start, or else at end, whichever has
    // no recomputation of the zone between it and the failure.
    let zones = c.table("zone");
    let setups = Recomputations::of(c);
    let reads = [
        (
            zones_of_meta(&c.meta()["zones_start"]),
            ReadTime::zones_start(c),
        ),
        (
            zones_of_meta(&c.meta()["zones_end"]),
            ReadTime::zones_end(c),
        ),
    ];
    let names = zone_names(c);
    for p in paf.iter() {
        let ts = int(p, "ts_ns");
        let at: Vec<&Row> = zones
            .iter()
            .filter(|z| int(z, "ts_ns") == ts && text(z, "trigger") == "alloc_fail")
            .collect();
        r.check(
            s,
            &format!("zone rows at the failure at {ts}"),
            !at.is_empty(),
            format!("{} zone rows", at.len()),
        );
        let highest = text(p, "highest_zone");
        let Some(hi) = names.iter().position(|n| n == highest) else {
            r.check(
                s,
                "paf.highest_zone is a zone of this kernel",
                false,
                format!("{highest} not in {names:?}"),
            );
            continue;
        };
        for z in &at {
            let (node, zone) = (int(z, "node"), text(z, "zone"));
            let what = format!("zone {zone} reserve vs zoneinfo protection[{highest}]");
            let Some(read) = reads
                .iter()
                .find(|(_, t)| setups.read_stands_for(node, zone, *t, ts))
            else {
                r.skip(
                    s,
                    &what,
                    "the zone was recomputed both before and after the failure",
                );
                continue;
            };
            let Some(k) = read
                .0
                .iter()
                .find(|k| k.node as i128 == node && k.zone == zone)
            else {
                continue;
            };
            let want = k.protection.get(hi).copied().map(i128::from);
            let got = match z.get("reserve") {
                Some(Cell::Int(v)) => Some(*v),
                _ => None,
            };
            r.check(
                s,
                &what,
                got == want,
                format!("recorded {got:?} | kernel {want:?}"),
            );
        }
    }
}

/// The kernel's trace_print_flags_seq() over the recording's flag table.
pub fn decode_gfp(names: &[(u64, String)], value: u64) -> String {
    if value == 0 {
        return "none".into();
    }
    let mut out: Vec<String> = Vec::new();
    let mut rest = value;
    for (mask, name) in names {
        if rest == 0 {
            break;
        }
        if rest & mask != *mask {
            continue;
        }
        rest &= !mask;
        out.push(name.clone());
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out.join("|")
}

pub fn gfp_names(c: &Case) -> Vec<(u64, String)> {
    c.meta()["gfp_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_str().unwrap().to_string()))
        .collect()
}

/// Every decoded gfp text equals the raw mask decoded the kernel's way with
/// the names the file carries.
pub fn gfp_text(c: &Case, r: &mut Report) {
    let s = c.name;
    let names = gfp_names(c);
    for (table, col, raw) in [
        ("paf", "gfp", "gfp_flags"),
        ("compact_try", "gfp", "gfp_flags"),
        ("reclaim_begin", "gfp", "gfp_flags"),
        ("slab_start", "gfp", "gfp_flags"),
        ("kswapd", "gfp", "gfp_flags"),
    ] {
        // Every row there is (a program missing here just writes none).
        let rows = c.table(table);
        let mut n = 0;
        let mut bad = Vec::new();
        for row in rows.iter() {
            let (Some(Cell::Int(v)), Some(Cell::Text(t))) = (row.get(raw), row.get(col)) else {
                continue;
            };
            n += 1;
            let want = decode_gfp(&names, *v as u64);
            if *t != want {
                bad.push(format!("{v:#x}: recorded {t:?}, decoded {want:?}"));
            }
        }
        r.check(
            s,
            &format!("{table}.{col} vs {table}.{raw} decoded"),
            bad.is_empty(),
            format!(
                "{n} rows, {} differ {:?}",
                bad.len(),
                bad.iter().take(3).collect::<Vec<_>>()
            ),
        );
    }
}

/// A zone as /proc/zoneinfo prints it, parsed here independently of memrec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneText {
    pub node: u32,
    pub zone: String,
    pub free: u64,
    pub boost: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub promo: u64,
    pub spanned: u64,
    pub present: u64,
    pub managed: u64,
    pub cma: u64,
    pub protection: Vec<u64>,
    /// `vm stats threshold` of each CPU's pageset.
    pub thresholds: Vec<u64>,
}

/// Parses /proc/zoneinfo text.
pub fn parse_zoneinfo(text: &str) -> Vec<ZoneText> {
    let mut out: Vec<ZoneText> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Node ") {
            let (node, zone) = rest.split_once(", zone").unwrap();
            out.push(ZoneText {
                node: node.trim().parse().unwrap(),
                zone: zone.trim().to_string(),
                ..Default::default()
            });
            continue;
        }
        let Some(z) = out.last_mut() else { continue };
        if let Some(p) = t.strip_prefix("protection: (") {
            z.protection = p
                .trim_end_matches(')')
                .split(',')
                .map(|v| v.trim().parse().unwrap())
                .collect();
        } else if let Some(v) = t.strip_prefix("vm stats threshold:") {
            z.thresholds.push(v.trim().parse().unwrap());
        } else if let Some(v) = t.strip_prefix("pages free") {
            z.free = v.trim().parse().unwrap();
        } else {
            let mut it = t.split_whitespace();
            let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "boost" => z.boost = v,
                "min" => z.min = v,
                "low" => z.low = v,
                "high" => z.high = v,
                "promo" => z.promo = v,
                "spanned" => z.spanned = v,
                "present" => z.present = v,
                "managed" => z.managed = v,
                "cma" => z.cma = v,
                _ => {}
            }
        }
    }
    out
}

/// memrec's own zoneinfo reads (`zones_start` / `zones_end`).
pub fn zones_of_meta(v: &Value) -> Vec<ZoneText> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|z| {
            let u = |k: &str| z[k].as_u64().unwrap_or(0);
            ZoneText {
                node: u("node") as u32,
                zone: z["zone"].as_str().unwrap().to_string(),
                free: u("free"),
                boost: u("boost"),
                min: u("min"),
                low: u("low"),
                high: u("high"),
                promo: u("promo"),
                spanned: u("spanned"),
                present: u("present"),
                managed: u("managed"),
                cma: u("cma"),
                protection: z["protection"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_u64().unwrap())
                    .collect(),
                thresholds: Vec::new(),
            }
        })
        .collect()
}

/// Zone names by index, as this kernel has them.
pub fn zone_names(c: &Case) -> Vec<String> {
    let zones = zones_of_meta(&c.meta()["zones_start"]);
    let first = zones.first().map(|z| z.node).unwrap_or(0);
    zones
        .iter()
        .filter(|z| z.node == first)
        .map(|z| z.zone.clone())
        .collect()
}

/// The per-CPU stat thresholds of the kernel the recording was made on:
/// from /proc/zoneinfo at the scenario's start (memscen keeps the raw text).
pub fn zone_thresholds(c: &Case) -> Vec<ZoneText> {
    c.truth["before"]["zoneinfo_raw"]
        .as_str()
        .map(parse_zoneinfo)
        .unwrap_or_default()
}

/// How far a snapshot of the kernel's memory counters may be from
/// /proc/vmstat read next to it (see [`sysstat`]), in each column's units.
#[derive(Debug, Clone, Copy)]
pub struct SysstatTolerance {
    pub node: i128,
    pub free_pages: i128,
    pub hugepages: i128,
}

impl SysstatTolerance {
    pub fn of(&self, col: &str) -> i128 {
        if col == "nr_free_pages" {
            self.free_pages
        } else if col.ends_with("hugepages") {
            self.hugepages
        } else {
            self.node
        }
    }
}

/// Both read the same counters (the node's and zones' atomics, which
/// /proc/vmstat sums over nodes and zones), so between two reads they move
/// only when a CPU flushes its pending per-CPU delta into them: on the 1 s
/// fold (at most its stat threshold), or when an update pushes that delta
/// past the threshold (the threshold plus that update). The largest single
/// update is one PMD-sized folio for the node counters (LRU sizes, mapped,
/// file, anon pages) and one block of the largest buddy order for
/// nr_free_pages, which is a zone counter summed over the zones. So, for
/// reads less than a fold interval apart, at most one flush per CPU:
///   node counter:  nr_cpus * (node threshold + hpage_pmd_nr)
///   nr_free_pages: nr_cpus * Σ zones (zone threshold + 2^max_order)
/// The node's threshold is the largest of its zones' (thresholds and the
/// buddy orders are read from memscen's copy of /proc/zoneinfo and
/// /proc/buddyinfo at the scenario's start).
pub fn sysstat_tolerance(c: &Case) -> (SysstatTolerance, String) {
    let zones = zone_thresholds(c);
    let nr_cpus = c.nr_cpus() as i128;
    let thp = c.meta()["hpage_pmd_nr"].as_u64().unwrap() as i128;
    let node_thr = zones
        .iter()
        .flat_map(|z| z.thresholds.iter().copied())
        .max()
        .unwrap_or(125) as i128;
    let orders = c.truth["before"]["buddyinfo"]
        .as_array()
        .and_then(|b| b.first())
        .and_then(|z| z["free_blocks"].as_array())
        .map_or(11, |o| o.len());
    let block = 1i128 << (orders - 1);
    let zone_tol: i128 = zones
        .iter()
        .filter(|z| z.managed > 0)
        .map(|z| z.thresholds.iter().copied().max().unwrap_or(0) as i128 + block)
        .sum();
    let node = nr_cpus * (node_thr + thp);
    let t = SysstatTolerance {
        node,
        free_pages: nr_cpus * zone_tol,
        hugepages: (node + thp - 1) / thp,
    };
    let why = format!(
        "{nr_cpus} CPUs, node stat threshold {node_thr}, hpage_pmd_nr {thp}, largest buddy block {block}: \
         {} pages per node counter, {} for nr_free_pages, {} huge pages",
        t.node, t.free_pages, t.hugepages
    );
    (t, why)
}

/// The sysstat `start` and `end` snapshots against memrec's /proc/vmstat
/// reads next to them, and how close in time they were.
pub fn sysstat(c: &Case, r: &mut Report) {
    let s = c.name;
    if let Some(why) = c.missing(&["snapshot_now"]) {
        r.skip(s, "sysstat snapshots vs /proc/vmstat", why);
        return;
    }
    let rows = c.table("sysstat");
    let (tol, why) = sysstat_tolerance(c);
    r.note(s, "sysstat tolerance", why);
    for (trigger, key) in [("start", "vmstat_start"), ("end", "vmstat_end")] {
        let snap: Vec<&Row> = rows
            .iter()
            .filter(|x| text(x, "trigger") == trigger)
            .collect();
        let nodes = c.meta()["nodes"].as_array().unwrap().len();
        r.exact(
            s,
            &format!("sysstat {trigger} snapshots (one per node)"),
            snap.len() as i128,
            nodes as i128,
        );
        let Some(first) = snap.first() else { continue };
        let ts = int(first, "ts_ns");
        // memrec reads /proc/vmstat after its start anchor and just before
        // the start snapshot; at the end just after the end snapshot and
        // before its end anchor.
        let gap = if trigger == "start" {
            ts - c.start_ns()
        } else {
            c.end_ns() - ts
        };
        let (gap_max, emu) = c.snapshot_gap_max();
        r.check(
            s,
            &format!("{trigger} snapshot next to memrec's /proc/vmstat read"),
            (0..=gap_max).contains(&gap),
            format!(
                "gap at most {:.3} ms | tolerance {:.0} ms{emu}",
                gap as f64 / 1e6,
                gap_max as f64 / 1e6
            ),
        );
        let vm = &c.meta()[key];
        for col in SYSSTAT_COLUMNS {
            let recorded: Option<i128> = snap
                .iter()
                .map(|x| match x.get(*col) {
                    Some(Cell::Int(v)) => Some(*v),
                    _ => None,
                })
                .sum();
            match (recorded, vm[*col].as_u64()) {
                (Some(v), Some(k)) => {
                    let tol = tol.of(col);
                    r.within(
                        s,
                        &format!("sysstat {trigger} {col} vs /proc/vmstat"),
                        v as f64,
                        k as f64,
                        tol as f64,
                    );
                }
                (None, None) => r.note(
                    s,
                    &format!("sysstat {trigger} {col}"),
                    "null, and /proc/vmstat has no such key",
                ),
                (v, k) => r.check(
                    s,
                    &format!("sysstat {trigger} {col} vs /proc/vmstat"),
                    false,
                    format!("recorded {v:?} | kernel {k:?}"),
                ),
            }
        }
    }
}

/// sysstat columns, named after their /proc/vmstat keys.
pub const SYSSTAT_COLUMNS: &[&str] = &[
    "nr_free_pages",
    "nr_active_anon",
    "nr_inactive_anon",
    "nr_active_file",
    "nr_inactive_file",
    "nr_unevictable",
    "nr_dirty",
    "nr_writeback",
    "nr_writeback_temp",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_shmem",
    "nr_kernel_misc_reclaimable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_anon_transparent_hugepages",
    "nr_shmem_hugepages",
];

/// The kernel's recomputations of zone watermarks during a recording (the
/// `wmark_setup` rows), by zone. The kernel changes a zone's watermarks,
/// sizes and reserves only when it recomputes them: `min_free_kbytes` or
/// `watermark_scale_factor` written, memory hotplug, or memory it
/// initialises late (kernels that defer struct page init grow their zones
/// on demand: on the CI machines the first scenario to exhaust memory saw
/// some 200 recomputations). A /proc/zoneinfo read therefore stands for the
/// kernel at a row's time exactly when no recomputation of the row's zone
/// lies between the two.
pub struct Recomputations {
    /// (node, zone) -> (ts_ns, [min, low, high, promo]) in time order.
    by_zone: BTreeMap<(i128, String), Vec<Setup>>,
}

/// One recomputation of a zone: when, and its new [min, low, high, promo].
type Setup = (i128, [i128; 4]);

/// When a /proc/zoneinfo read happened, as bounds on the boot clock
/// (`i128::MIN`/`MAX` where a bound is open).
#[derive(Debug, Clone, Copy)]
pub struct ReadTime {
    pub lo: i128,
    pub hi: i128,
}

impl ReadTime {
    /// memrec's read at start: right after its start snapshot while the
    /// probes record (older memrec: before attaching them, so before any
    /// recorded recomputation).
    pub fn zones_start(c: &Case) -> Self {
        ReadTime {
            lo: i128::MIN,
            hi: snapshot_ts(c, "start").unwrap_or_else(|| c.start_ns()) + SNAPSHOT_GAP_MAX_NS,
        }
    }

    /// memrec's read at end: right before its end snapshot while the probes
    /// record (older memrec: after its end anchor, `end_ns`).
    pub fn zones_end(c: &Case) -> Self {
        ReadTime {
            lo: snapshot_ts(c, "end").unwrap_or_else(|| c.end_ns()) - SNAPSHOT_GAP_MAX_NS,
            hi: i128::MAX,
        }
    }

    /// memscen's reads: `before` right before its start stamp, `after` right
    /// after its end stamp, both inside the recording.
    pub fn memscen(c: &Case, when: &str) -> Self {
        let stamp = |k: &str| c.truth[k].as_u64().map(i128::from);
        match when {
            "before" => ReadTime {
                lo: c.start_ns(),
                hi: stamp("start_boottime_ns").unwrap_or(i128::MAX),
            },
            _ => ReadTime {
                lo: stamp("end_boottime_ns").unwrap_or(i128::MIN),
                hi: c.end_ns(),
            },
        }
    }
}

/// When memrec took its start or end snapshot (its zone rows).
fn snapshot_ts(c: &Case, trigger: &str) -> Option<i128> {
    c.table("zone")
        .iter()
        .filter(|z| text(z, "trigger") == trigger)
        .map(|z| int(z, "ts_ns"))
        .min()
}

impl Recomputations {
    /// None recorded when the program is missing (an older kernel without
    /// the tracepoint): a recomputation then shows as a difference from
    /// /proc/zoneinfo in the exact comparisons.
    pub fn of(c: &Case) -> Self {
        let mut by_zone: BTreeMap<(i128, String), Vec<Setup>> = BTreeMap::new();
        if c.missing(&["paf_wmark_setup"]).is_none() {
            for w in c.table("wmark_setup").iter() {
                by_zone
                    .entry((int(w, "node"), text(w, "zone").to_string()))
                    .or_default()
                    .push((
                        int(w, "ts_ns"),
                        [
                            int(w, "min"),
                            int(w, "low"),
                            int(w, "high"),
                            int(w, "promo"),
                        ],
                    ));
            }
        }
        for v in by_zone.values_mut() {
            v.sort_by_key(|x| x.0);
        }
        Recomputations { by_zone }
    }

    fn of_zone(&self, node: i128, zone: &str) -> &[Setup] {
        self.by_zone
            .get(&(node, zone.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether the read stands for the kernel at `ts` for this zone.
    pub fn read_stands_for(&self, node: i128, zone: &str, read: ReadTime, ts: i128) -> bool {
        let (lo, hi) = (ts.min(read.lo), ts.max(read.hi));
        !self
            .of_zone(node, zone)
            .iter()
            .any(|(t, _)| *t >= lo && *t <= hi)
    }
}

/// Zone watermarks and sizes against /proc/zoneinfo: memrec's own reads at
/// start and end, and memscen's (parsed here) before and after the scenario.
/// Exact, where no recomputation of the zone lies between the row and the
/// read (see [`Recomputations`]); zoneinfo prints the same fields. Rows
/// after a recomputation are compared with it: the tracepoint prints the
/// watermarks the kernel has just stored. The boost (added to the printed
/// watermarks) moves with fragmentation events, so the base watermark
/// (printed value minus boost) is compared across time, the printed one
/// where the boosts are equal.
pub fn zones(c: &Case, r: &mut Report) {
    let s = c.name;
    if let Some(why) = c.missing(&["snapshot_now"]) {
        r.skip(s, "zone snapshots vs /proc/zoneinfo", why);
        return;
    }
    let rows = c.table("zone");
    let setups = Recomputations::of(c);
    match c.missing(&["paf_wmark_setup"]) {
        Some(why) => r.skip(s, "watermark recomputations vs /proc/zoneinfo", why),
        None => recomputations(c, &setups, &rows, r),
    }
    let mut refs: Vec<(&str, Vec<ZoneText>, ReadTime, Option<&str>)> = vec![
        (
            "memrec zones_start",
            zones_of_meta(&c.meta()["zones_start"]),
            ReadTime::zones_start(c),
            Some("start"),
        ),
        (
            "memrec zones_end",
            zones_of_meta(&c.meta()["zones_end"]),
            ReadTime::zones_end(c),
            Some("end"),
        ),
    ];
    for (name, when) in [("memscen before", "before"), ("memscen after", "after")] {
        if let Some(raw) = c.truth[when]["zoneinfo_raw"].as_str() {
            refs.push((name, parse_zoneinfo(raw), ReadTime::memscen(c, when), None));
        }
    }
    for (name, zones, read, trigger) in &refs {
        let populated: Vec<&ZoneText> = zones
            .iter()
            .filter(|z| z.present > 0 || z.managed > 0)
            .collect();
        let mut compared = 0;
        let mut apart = 0;
        let mut bad: Vec<String> = Vec::new();
        for z in rows.iter() {
            let Some(k) = populated
                .iter()
                .find(|k| k.node as i128 == int(z, "node") && k.zone == text(z, "zone"))
            else {
                bad.push(format!(
                    "zone {} of node {} not in {name}",
                    text(z, "zone"),
                    int(z, "node")
                ));
                continue;
            };
            if !setups.read_stands_for(int(z, "node"), &k.zone, *read, int(z, "ts_ns")) {
                apart += 1;
                continue;
            }
            let boost = int(z, "boost");
            let mut cmp = |field: &str, got: i128, want: u64| {
                if got != want as i128 {
                    bad.push(format!(
                        "{} {} {field}: recorded {got}, kernel {want} (ts {})",
                        k.zone,
                        text(z, "trigger"),
                        int(z, "ts_ns")
                    ));
                }
            };
            cmp("spanned", int(z, "spanned"), k.spanned);
            cmp("present", int(z, "present"), k.present);
            cmp("managed", int(z, "managed"), k.managed);
            cmp("cma", int(z, "cma"), k.cma);
            cmp("min - boost", int(z, "min") - boost, k.min - k.boost);
            cmp("low - boost", int(z, "low") - boost, k.low - k.boost);
            cmp("high - boost", int(z, "high") - boost, k.high - k.boost);
            if k.promo > 0 {
                cmp("promo - boost", int(z, "promo") - boost, k.promo - k.boost);
            }
            // The snapshot taken next to this zoneinfo read: the printed
            // values themselves when the boost did not move in between.
            if *trigger == Some(text(z, "trigger")) && boost == k.boost as i128 {
                cmp("min", int(z, "min"), k.min);
                cmp("low", int(z, "low"), k.low);
                cmp("high", int(z, "high"), k.high);
            }
            compared += 1;
        }
        let populated_names: Vec<String> = populated
            .iter()
            .map(|z| format!("{}:{}", z.node, z.zone))
            .collect();
        let what = format!("zone rows (watermarks, spanned, present, managed) vs {name}");
        if compared == 0 && apart > 0 && bad.is_empty() {
            r.skip(
                s,
                &what,
                format!("all {apart} rows have a recomputation of their zone between them and this read"),
            );
            continue;
        }
        r.check(
            s,
            &what,
            bad.is_empty() && compared > 0,
            format!(
                "{compared} rows of zones {populated_names:?} ({apart} left out: a recomputation between); {} differ {:?}",
                bad.len(),
                bad.iter().take(4).collect::<Vec<_>>()
            ),
        );
    }
    // Every populated zone in every snapshot.
    for trigger in ["start", "end"] {
        let n = rows
            .iter()
            .filter(|z| text(z, "trigger") == trigger)
            .count();
        let want = zones_of_meta(&c.meta()["zones_start"])
            .iter()
            .filter(|z| z.present > 0 || z.managed > 0)
            .count();
        r.exact(
            s,
            &format!("zone rows in the {trigger} snapshot vs populated zones in zoneinfo"),
            n as i128,
            want as i128,
        );
    }
}

/// The recorded recomputations against the kernel: each zone's last one,
/// when it surely came before memrec's /proc/zoneinfo read at the end,
/// holds the watermarks read there (less the boost; the probes record
/// until after that read, so a later one can follow it), and every zone
/// row after a recomputation carries the
/// watermarks it set. The kernel stores the watermarks just before it fires
/// the tracepoint, so a snapshot can see the new values up to `window`
/// before the row that announces them.
fn recomputations(c: &Case, setups: &Recomputations, rows: &[Row], r: &mut Report) {
    let s = c.name;
    let n: usize = setups.by_zone.values().map(Vec::len).sum();
    let end = zones_of_meta(&c.meta()["zones_end"]);
    let end_read = ReadTime::zones_end(c);
    let mut bad: Vec<String> = Vec::new();
    let mut near_end = 0;
    for ((node, zone), list) in &setups.by_zone {
        let Some((ts, last)) = list.last() else {
            continue;
        };
        if *ts >= end_read.lo {
            near_end += 1;
            continue;
        }
        let Some(k) = end
            .iter()
            .find(|k| k.node as i128 == *node && &k.zone == zone)
        else {
            bad.push(format!("zone {zone} of node {node} not in zones_end"));
            continue;
        };
        let want = [
            k.min - k.boost,
            k.low - k.boost,
            k.high - k.boost,
            k.promo.saturating_sub(k.boost),
        ]
        .map(i128::from);
        // zoneinfo prints promo only on kernels that have it.
        let same = last[..3] == want[..3] && (k.promo == 0 || last[3] == want[3]);
        if !same {
            bad.push(format!(
                "{node}:{zone} at {ts}: recorded {last:?}, zones_end {want:?}"
            ));
        }
    }
    r.check(
        s,
        "last watermark recomputation of each zone vs memrec zones_end (less boost)",
        bad.is_empty(),
        format!(
            "{n} wmark_setup rows over {} zones ({near_end} left out: recomputed next to the end read); {} differ {:?}",
            setups.by_zone.len(),
            bad.len(),
            bad.iter().take(4).collect::<Vec<_>>()
        ),
    );
    let (window, emu) = c.pair_window();
    let mut after = 0;
    let mut bad: Vec<String> = Vec::new();
    for z in rows {
        let (node, zone, ts) = (int(z, "node"), text(z, "zone"), int(z, "ts_ns"));
        let list = setups.of_zone(node, zone);
        let Some(i) = list.iter().rposition(|(t, _)| *t <= ts) else {
            continue;
        };
        after += 1;
        let boost = int(z, "boost");
        let got = [
            int(z, "min") - boost,
            int(z, "low") - boost,
            int(z, "high") - boost,
        ];
        let matches = |w: &[i128; 4]| w[..3] == got;
        let next_close = list
            .get(i + 1)
            .is_some_and(|(t, w)| *t - ts <= window && matches(w));
        if !matches(&list[i].1) && !next_close {
            bad.push(format!(
                "{zone} {} at {ts}: recorded {got:?}, recomputed at {} to {:?}",
                text(z, "trigger"),
                list[i].0,
                &list[i].1[..3]
            ));
        }
    }
    r.check(
        s,
        "zone rows after a recomputation vs the watermarks it set (less boost)",
        bad.is_empty(),
        format!(
            "{after} rows after one; {} differ{emu} {:?}",
            bad.len(),
            bad.iter().take(4).collect::<Vec<_>>()
        ),
    );
}

/// Where a workload only grows a counter: its procstat samples just before
/// and just after a /proc/PID/status sample must enclose it.
struct Phase {
    scenario: &'static str,
    from: &'static str,
    /// Worker event ending the phase; "" = the OOM kill (or its exit).
    to: &'static str,
    fields: &'static [&'static str],
}

/// The monotone phases of each scenario's worker (see worker.rs in memscen):
/// leak maps and touches and never frees until after `hold`; oom grows
/// anonymous memory (no swap to escape to) until the kill; memcg-reclaim
/// reads and writes with syscalls (its anonymous memory only grows) until
/// `hold`; swap's VmSwap only grows while it fills; fragment only touches
/// between touch-start and touch-done.
const PHASES: &[Phase] = &[
    Phase {
        scenario: "leak",
        from: "start",
        to: "hold",
        fields: &[
            "rss_anon",
            "rss_file",
            "rss_shmem",
            "swap",
            "vsize",
            "data",
            "stack",
            "pgtables",
            "rss_peak",
        ],
    },
    Phase {
        scenario: "oom",
        from: "start",
        to: "",
        fields: &["rss_anon", "vsize", "data", "pgtables"],
    },
    Phase {
        scenario: "memcg-reclaim",
        from: "start",
        to: "hold",
        fields: &["rss_anon", "vsize", "data", "pgtables"],
    },
    Phase {
        scenario: "swap",
        from: "fill-start",
        to: "fill-done",
        fields: &["swap", "vsize", "data", "pgtables"],
    },
    Phase {
        scenario: "fragment",
        from: "touch-start",
        to: "touch-done",
        fields: &["rss_anon", "vsize", "data", "pgtables"],
    },
];

/// /proc/PID/status field (kB) of each procstat column.
const STATUS_OF: &[(&str, &str)] = &[
    ("rss_anon", "rss_anon_kb"),
    ("rss_file", "rss_file_kb"),
    ("rss_shmem", "rss_shmem_kb"),
    ("swap", "vm_swap_kb"),
    ("vsize", "vm_size_kb"),
    ("data", "vm_data_kb"),
    ("stack", "vm_stk_kb"),
    ("pgtables", "vm_pte_kb"),
    ("rss_peak", "vm_hwm_kb"),
];

/// Which program wrote the exit samples (Ok), or why none could (Err):
/// neither the exit tracepoint's program nor the mmput() hook that stands
/// in for it where the tracepoint fires after exit_mm() was attached.
pub fn exit_programs(meta: &Value) -> Result<String, String> {
    let mut seen = Vec::new();
    for p in ["procstat_exit", "procstat_exit_mm"] {
        match kernel::state_of(meta, p) {
            Some((ProbeState::Attached, _)) => return Ok(format!("exit samples by {p}")),
            Some((st, e)) if e.is_empty() => seen.push(format!("{p} {}", st.as_str())),
            Some((st, e)) => seen.push(format!("{p} {}: {e}", st.as_str())),
            None => seen.push(format!("{p} not in this recording")),
        }
    }
    Err(format!("no exit program ran ({})", seen.join("; ")))
}

/// Fields of procstat that are the mm's RSS counters (`mm->rss_stat`):
/// the ones a thread caches on kernels with per-thread RSS counting.
const RSS_COUNTER_FIELDS: &[&str] = &["rss_anon", "rss_file", "rss_shmem", "swap"];

/// procstat against memscen's /proc/PID/status samples of its workers.
pub fn procstat(c: &Case, r: &mut Report) {
    let s = c.name;
    let procstat = c.table("procstat");
    let status = c.truth["status_samples"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let slack = (c.nr_cpus() * percpu_batch(c.nr_cpus()) * c.page_size()) as i128;
    for w in c.workers() {
        let pid = w["pid"].as_i64().unwrap() as i128;
        let mut samples: Vec<&Row> = procstat.iter().filter(|x| int(x, "tgid") == pid).collect();
        samples.sort_by_key(|x| int(x, "ts_ns"));
        let mine: Vec<&Value> = status
            .iter()
            .filter(|x| x["pid"].as_i64() == Some(pid as i64))
            .collect();
        r.check(
            s,
            &format!("procstat samples of worker {pid}"),
            samples.len() >= 2,
            format!("{} samples", samples.len()),
        );
        // The exit sample ends every worker's series. It needs a program
        // that sees the exiting process's mm: the exit tracepoint where it
        // fires before exit_mm(), else the mmput() hook standing in for it.
        let exit = exit_programs(c.meta());
        r.check(
            s,
            &format!("worker {pid}'s last procstat sample is its exit"),
            exit.is_ok() && samples.last().is_some_and(|x| text(x, "reason") == "exit"),
            format!(
                "last reason {:?}; {}",
                samples.last().map(|x| text(x, "reason")),
                exit.as_ref().unwrap_or_else(|e| e)
            ),
        );
        // Peak: the kernel's VmHWM never exceeds what procstat's rss_peak
        // reaches, except by the percpu_counter error of mm->hiwater_rss,
        // which the kernel updates from approximate RSS counters.
        let hwm = mine
            .iter()
            .filter_map(|x| x["vm_hwm_kb"].as_u64())
            .max()
            .map(|k| k as i128 * 1024);
        let peak = samples.iter().map(|x| int(x, "rss_peak")).max();
        if let (Some(hwm), Some(peak)) = (hwm, peak) {
            r.check(
                s,
                &format!("max procstat.rss_peak vs max VmHWM of worker {pid}"),
                peak + slack >= hwm,
                format!(
                    "recorded {peak} | kernel {hwm} | diff {} | tolerance -{slack}{}",
                    peak - hwm,
                    exit.as_ref()
                        .err()
                        .map(|e| format!(" | {e}: growth after the last sample is not seen"))
                        .unwrap_or_default()
                ),
            );
        }
        let Some(phase) = PHASES.iter().find(|p| p.scenario == s) else {
            continue;
        };
        let Some(from) = Case::event_ns(w, phase.from) else {
            r.check(
                s,
                &format!("worker {pid} reached {}", phase.from),
                false,
                "no such event",
            );
            continue;
        };
        let to = if phase.to.is_empty() {
            c.table("oom_victim")
                .iter()
                .filter(|v| int(v, "victim_pid") == pid)
                .map(|v| int(v, "ts_ns"))
                .min()
                .or_else(|| w["exited"]["boottime_ns"].as_u64().map(i128::from))
        } else {
            Case::event_ns(w, phase.to)
        };
        let Some(to) = to else {
            r.check(
                s,
                &format!("worker {pid} reached the end of its phase"),
                false,
                "no end",
            );
            continue;
        };
        // Before 6.2 each thread keeps up to SPLIT_RSS_PENDING_PAGES of
        // its own changes to each RSS counter out of the mm (what both
        // /proc and procstat read) and folds them in at once: a counter the
        // kernel moves one way directly and the other way through that
        // cache (VmSwap: swap-outs directly, swap-ins cached) steps back by
        // up to that much per thread. Threads: those seen in procstat.
        let split = c.split_rss();
        let threads = samples
            .iter()
            .map(|x| int(x, "pid"))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            .max(1) as i128;
        let cache = if split.present {
            kernel::SPLIT_RSS_PENDING_PAGES as i128 * threads * c.page_size() as i128
        } else {
            0
        };
        let tolerance = |field: &str| -> i128 {
            if RSS_COUNTER_FIELDS.contains(&field) {
                cache
            } else {
                0
            }
        };
        let tolerance_text = if split.present {
            format!(
                "tolerance {cache} bytes on {RSS_COUNTER_FIELDS:?} ({} pages x {threads} thread(s): \
                 per-thread RSS counting, {}), 0 on the others",
                kernel::SPLIT_RSS_PENDING_PAGES,
                split.why
            )
        } else {
            "tolerance 0".to_string()
        };
        let mut compared = 0;
        let mut worst: BTreeMap<&str, i128> = BTreeMap::new();
        let mut bad = Vec::new();
        // memscen stamps a status sample, reads /proc and stamps again: the
        // values are of some moment between the two stamps (memscen can be
        // preempted in between). Truth files without the second stamp, and
        // emulated guests, allow the read's delay after the first.
        let (delay, delay_why) = c.status_read_delay();
        let read_done = |st: &Value, t: i128| -> i128 {
            let done = st["read_done_boottime_ns"].as_u64().map_or(t, i128::from);
            done.max(t + delay)
        };
        for st in &mine {
            let t = st["boottime_ns"].as_u64().unwrap() as i128;
            let done = read_done(st, t);
            let before = samples.iter().rev().find(|x| int(x, "ts_ns") <= t);
            let after = samples.iter().find(|x| int(x, "ts_ns") >= done);
            let (Some(a), Some(b)) = (before, after) else {
                continue;
            };
            if int(a, "ts_ns") < from || int(b, "ts_ns") > to {
                continue;
            }
            compared += 1;
            for field in phase.fields {
                let key = STATUS_OF.iter().find(|(f, _)| f == field).unwrap().1;
                let Some(kb) = st[key].as_u64() else { continue };
                let v = kb as i128 * 1024;
                let (lo, hi) = (
                    int(a, field).min(int(b, field)),
                    int(a, field).max(int(b, field)),
                );
                let out = if v < lo {
                    lo - v
                } else if v > hi {
                    v - hi
                } else {
                    0
                };
                let e = worst.entry(field).or_default();
                *e = (*e).max(out);
                if out > tolerance(field) {
                    bad.push(format!(
                        "{field} at {t}: status {v} outside [{lo} at {}, {hi} at {}]",
                        int(a, "ts_ns"),
                        int(b, "ts_ns")
                    ));
                }
            }
        }
        // A /proc sample can only be bracketed by two procstat samples inside
        // the phase when it lies at least two procstat intervals from both
        // ends (procstat samples a growing process about once an interval).
        // If no /proc sample lies there, there is nothing to compare: said,
        // not counted as a failure.
        let interval = c.file.meta["settings"]["procstat_interval_ns"]
            .as_str()
            .and_then(|v| v.parse::<i128>().ok())
            .unwrap_or(100_000_000);
        let expected = mine
            .iter()
            .filter_map(|st| {
                let t = i128::from(st["boottime_ns"].as_u64()?);
                Some((t, read_done(st, t)))
            })
            .filter(|(t, done)| *t >= from + 2 * interval && *done <= to - 2 * interval)
            .count();
        let too_short = compared == 0 && expected == 0;
        r.check(
            s,
            &format!("/proc/{pid}/status samples between the procstat samples around them ({}..{}{})", phase.from, if phase.to.is_empty() { "kill" } else { phase.to }, if too_short { format!("; phase {} ms: no /proc sample two procstat intervals inside it, nothing to compare", (to - from) / 1_000_000) } else { String::new() }),
            (compared > 0 || too_short) && bad.is_empty(),
            format!("{compared} status samples compared; bytes outside per field {worst:?} | {tolerance_text}{delay_why} {:?}", bad.iter().take(3).collect::<Vec<_>>()),
        );
    }
}

/// How far behind its schedule the leak worker was, ms, at worst: at the
/// end (its own `grow-done` event: `seconds` taken against `duration_s`)
/// and at each of memscen's /proc/PID/status samples during the growth
/// (RssAnon less what the worker had before it grew, against the steps
/// due by then). memscen's samples are independent of memrec's.
pub fn leak_lateness_ms(truth: &Value) -> Option<f64> {
    let l = &truth["leak"];
    let worker = truth["workers"].as_array()?.first()?;
    let duration = l["duration_s"].as_f64()?;
    let end = worker["events"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == "grow-done")?["data"]["seconds"]
        .as_f64()?
        - duration;
    let rate = l["rate_bytes_per_s"].as_f64()?;
    let step = l["step_ms"].as_f64()? / 1000.0;
    let (from, to) = (
        l["grow_start_boottime_ns"].as_f64()?,
        l["grow_end_boottime_ns"].as_f64()?,
    );
    let pid = worker["pid"].as_i64()?;
    let mine: Vec<(f64, f64)> = truth["status_samples"]
        .as_array()?
        .iter()
        .filter(|x| x["pid"].as_i64() == Some(pid))
        .filter_map(|x| {
            Some((
                (x["boottime_ns"].as_f64()? - from) / 1e9,
                x["rss_anon_kb"].as_f64()? * 1024.0,
            ))
        })
        .collect();
    // What the worker had before it grew: its RssAnon after the growth
    // (memscen samples it at `hold`) less all it allocated.
    let allocated = l["allocated_bytes"].as_f64()?;
    let grown_s = (to - from) / 1e9;
    let mut worst = end;
    if let Some(&(_, after)) = mine.iter().rev().find(|(t, _)| *t >= grown_s) {
        let base = after - allocated;
        for &(t, rss) in mine.iter().filter(|(t, _)| (0.0..grown_s).contains(t)) {
            // Steps due by t; none after the last (the end's lateness says
            // the rest).
            let due = rate * ((t / step).floor() * step).min(duration);
            worst = worst.max((due - (rss - base)) / rate);
        }
    }
    Some(worst * 1000.0)
}

/// Why the leak's rate cannot be judged: under emulation (`emulated`) the
/// worker fell behind its absolute schedule by more than one step (plus,
/// on kernels with per-thread RSS counting, the time the pages a thread
/// holds back stand for), so its RSS did not follow the rate's line (its
/// emulated CPU was too slow or too busy; memscen then may report the rate
/// as not produced). None natively, or when the worker kept its schedule.
pub fn leak_off_schedule_emulated(truth: &Value, emulated: Option<&str>) -> Option<String> {
    let emu = emulated?;
    let step_ms = truth["leak"]["step_ms"].as_f64()?;
    let rate = truth["leak"]["rate_bytes_per_s"].as_f64()?;
    let late = leak_lateness_ms(truth)?;
    // memscen's workers have one thread; this is the running kernel's
    // recording (emulation is only ever that of the running kernel).
    let cache_ms = if kernel::split_rss_here().is_ok_and(|k| k.present) {
        (kernel::SPLIT_RSS_PENDING_PAGES * kernel::page_size()) as f64 / rate * 1000.0
    } else {
        0.0
    };
    (late > step_ms + cache_ms).then(|| {
        format!(
            "emulated ({emu}): the leak worker fell {late:.0} ms behind its schedule (by memscen's \
             status samples and its own end), more than one {step_ms} ms step{}, so its RSS is \
             not a staircase under the configured rate's line",
            if cache_ms > 0.0 {
                format!(" and {cache_ms:.0} ms of pages held back per thread")
            } else {
                String::new()
            }
        )
    })
}

/// How far below the line `rate * t` the leaking worker's recorded RSS may
/// lie, and whether the line holds at all.
pub struct LeakBand {
    /// Width of the band, bytes: one step of the staircase, plus on kernels
    /// with per-thread RSS counting the pages a thread may hold back.
    pub bytes: f64,
    pub why: String,
    /// Why no rate can be compared: the worker did not keep its schedule
    /// (under emulation only; natively that is a failure of the check).
    pub void: Option<String>,
}

impl LeakBand {
    pub fn of(c: &Case, pid: i128) -> Self {
        let l = &c.truth["leak"];
        let rate = l["rate_bytes_per_s"].as_f64().unwrap_or(0.0);
        let step_ms = l["step_ms"].as_f64().unwrap_or(0.0);
        let step = rate * step_ms / 1000.0;
        // Before 6.2 the mm's anon counter, which /proc and procstat read,
        // lags the faults by up to SPLIT_RSS_PENDING_PAGES per thread and
        // moves in steps of that size: the points lie that much further
        // under the line.
        let split = c.split_rss();
        let threads = c
            .table("procstat")
            .iter()
            .filter(|x| int(x, "tgid") == pid)
            .map(|x| int(x, "pid"))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            .max(1) as f64;
        let cache = if split.present {
            kernel::SPLIT_RSS_PENDING_PAGES as f64 * threads * c.page_size() as f64
        } else {
            0.0
        };
        let mut why = format!("one step {step:.0} bytes ({step_ms} ms at {rate:.0} bytes/s)");
        if split.present {
            why += &format!(
                " + {cache:.0} bytes held back per-thread ({} pages x {threads} thread(s): \
                 per-thread RSS counting, {})",
                kernel::SPLIT_RSS_PENDING_PAGES,
                split.why
            );
        }
        // The staircase keeps to the line only while the worker keeps its
        // absolute schedule; how late it finished says whether it did.
        if let Some(late) = leak_lateness_ms(c.truth) {
            why += &format!("; the worker was at most {late:.0} ms behind its schedule");
        }
        let void = leak_off_schedule_emulated(c.truth, c.emulated.as_deref());
        LeakBand {
            bytes: step + cache,
            why,
            void,
        }
    }
}

/// Least-squares slope and the bound on its error when every point lies
/// within ±half of the line: half * Σ|x - x̄| / Σ(x - x̄)².
pub fn slope_with_bound(points: &[(f64, f64)], half: f64) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sabs: f64 = points.iter().map(|p| (p.0 - mx).abs()).sum();
    (sxx > 0.0).then(|| (sxy / sxx, half * sabs / sxx))
}

/// The leak's growth rate from procstat against its known rate and against
/// the slope of its RssAnon in /proc/PID/status.
///
/// The worker maps and touches `rate * step` bytes every `step` on an
/// absolute schedule, so its RSS is a staircase under the line
/// `rate * t`: every point lies within [-step bytes, 0] of it, i.e. within
/// ±step/2 of a shifted line, and a least-squares slope over points at
/// times x is off by at most (step/2) Σ|x - x̄| / Σ(x - x̄)².
pub fn leak_rate(c: &Case, r: &mut Report) -> Option<f64> {
    let s = c.name;
    let l = c.truth.get("leak")?;
    let rate = l["rate_bytes_per_s"].as_f64().unwrap();
    let w = c.workers().into_iter().next()?;
    let pid = w["pid"].as_i64().unwrap() as i128;
    let band = LeakBand::of(c, pid);
    r.note(s, "leak: band of the RSS under the line", band.why.clone());
    if let Some(why) = &band.void {
        r.skip(
            s,
            "leak rate from procstat vs configured rate and VmRSS",
            why,
        );
        return None;
    }
    let step_bytes = band.bytes;
    let (from, to) = (
        l["grow_start_boottime_ns"].as_u64()? as i128,
        l["grow_end_boottime_ns"].as_u64()? as i128,
    );
    let pts: Vec<(f64, f64)> = c
        .table("procstat")
        .iter()
        .filter(|x| int(x, "tgid") == pid && text(x, "reason") != "exit")
        .filter(|x| (from..=to).contains(&int(x, "ts_ns")))
        .map(|x| (int(x, "ts_ns") as f64 / 1e9, int(x, "rss_anon") as f64))
        .collect();
    r.check(
        s,
        "procstat samples during the leak's growth",
        pts.len() >= 10,
        format!("{} samples", pts.len()),
    );
    let (got, bound) = slope_with_bound(&pts, step_bytes / 2.0)?;
    r.within(
        s,
        "leak rate from procstat.rss_anon vs configured rate (bytes/s)",
        got,
        rate,
        bound,
    );
    // Against /proc/PID/status: the slope of VmRSS (memscen's samples,
    // once a second) against the slope of procstat's RSS (anon + file +
    // shmem, VmRSS's parts) over the same growth window. Each is bounded as
    // above, so they differ by at most the sum of the two bounds.
    let vm: Vec<(f64, f64)> = c.truth["status_samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["pid"].as_i64() == Some(pid as i64))
        .filter(|x| (from..=to).contains(&(x["boottime_ns"].as_u64().unwrap() as i128)))
        .filter_map(|x| {
            Some((
                x["boottime_ns"].as_u64()? as f64 / 1e9,
                x["vm_rss_kb"].as_f64()? * 1024.0,
            ))
        })
        .collect();
    let total: Vec<(f64, f64)> = c
        .table("procstat")
        .iter()
        .filter(|x| int(x, "tgid") == pid && text(x, "reason") != "exit")
        .filter(|x| (from..=to).contains(&int(x, "ts_ns")))
        .map(|x| {
            let rss = int(x, "rss_anon") + int(x, "rss_file") + int(x, "rss_shmem");
            (int(x, "ts_ns") as f64 / 1e9, rss as f64)
        })
        .collect();
    match (
        slope_with_bound(&total, step_bytes / 2.0),
        slope_with_bound(&vm, step_bytes / 2.0),
    ) {
        (Some((got_rss, b1)), Some((vm_rate, b2))) => r.within(
            s,
            &format!(
                "leak rate from procstat RSS vs slope of {} VmRSS samples (bytes/s)",
                vm.len()
            ),
            got_rss,
            vm_rate,
            b1 + b2,
        ),
        _ => r.check(
            s,
            "VmRSS samples during the leak's growth",
            false,
            format!("{} samples", vm.len()),
        ),
    }
    if let Some(obs) = l["observed_rate_bytes_per_s"].as_f64() {
        r.note(
            s,
            "memscen's own RssAnon slope (bytes/s)",
            format!("{obs:.0}"),
        );
    }
    Some(got)
}

// ---------------------------------------------------------------------------
// The analyzer

/// `memana report FILE --format json --top 0` (every process), or why not.
pub fn analyzer_report(memana: &Path, file: &Path) -> Result<Value, String> {
    let out = Command::new(memana)
        .args([
            "report",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--top",
            "0",
        ])
        .output()
        .map_err(|e| format!("running memana: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "memana report failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("memana's JSON: {e}"))
}

fn metric(report: &Value, key: &str) -> Option<f64> {
    report["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)
        .and_then(|m| m["value"].as_f64())
}

/// The analyzer's figures against the same ground truth as the recorder's.
pub fn analyzer(c: &Case, report: &Value, r: &mut Report) {
    let s = &format!("{} memana", c.name);
    // Each part needs the rows of some programs: skipped, and said, where
    // one of them is missing on this kernel.
    type Part = fn(&Case, &Value, &mut Report, &str);
    let parts: [(&str, &[&str], Part); 5] = [
        ("reclaim figures", &["pr_lru_inactive"], analyzer_reclaim),
        ("oom figures", &["oom_mark_victim"], analyzer_oom),
        ("paf figures", &["paf_page_alloc"], analyzer_paf),
        ("sysstat min/max", &["snapshot_now"], analyzer_sysstat),
        ("growth figures", &["procstat_switch"], analyzer_workers),
    ];
    for (what, programs, part) in parts {
        match c.missing(programs) {
            Some(why) => r.skip(s, what, why),
            None => part(c, report, r, s),
        }
    }
}

/// A figure the report must have.
fn need(report: &Value, r: &mut Report, s: &str, key: &str) -> f64 {
    metric(report, key).unwrap_or_else(|| {
        r.check(s, key, false, "missing from the report");
        f64::NAN
    })
}

fn analyzer_reclaim(c: &Case, report: &Value, r: &mut Report, s: &str) {
    // Reclaim.
    let d = |keys: &[&str]| keys.iter().map(|k| c.vmstat_delta(k)).sum::<i128>() as f64;
    let v = need(report, r, s, "reclaim.reclaimed");
    r.within(
        s,
        "reclaim.reclaimed vs Δ(pgsteal_anon+pgsteal_file)",
        v,
        d(&["pgsteal_anon", "pgsteal_file"]),
        0.0,
    );
    let mglru = c.mglru();
    let v = need(report, r, s, "reclaim.scanned");
    r.exact_unless(
        mglru.as_deref(),
        s,
        "reclaim.scanned vs Δ(pgscan_anon+pgscan_file)",
        v as i128,
        d(&["pgscan_anon", "pgscan_file"]) as i128,
    );
    let opt = |k: &str| metric(report, k).unwrap_or(0.0);
    r.within(
        s,
        "reclaim.{kswapd,direct}.reclaimed vs Δ(pgsteal_kswapd+pgsteal_direct+pgsteal_khugepaged)",
        opt("reclaim.kswapd.reclaimed") + opt("reclaim.direct.reclaimed"),
        d(&["pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged"]),
        0.0,
    );
    r.exact_unless(
        mglru.as_deref(),
        s,
        "reclaim.{kswapd,direct}.scanned vs Δ(pgscan_kswapd+pgscan_direct+pgscan_khugepaged)",
        (opt("reclaim.kswapd.scanned") + opt("reclaim.direct.scanned")) as i128,
        d(&["pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged"]) as i128,
    );
}

fn analyzer_oom(c: &Case, report: &Value, r: &mut Report, s: &str) {
    // OOM kills: the count, the victim, and processes marked killed.
    let kills = c.vmstat_delta("oom_kill") as f64;
    let v = need(report, r, s, "oom.kills");
    r.within(s, "oom.kills vs Δoom_kill", v, kills, 0.0);
    let v = need(report, r, s, "growth.oom_killed");
    r.within(
        s,
        "growth.oom_killed (processes) vs Δoom_kill",
        v,
        kills,
        0.0,
    );
    if let Some(o) = c.truth.get("oom") {
        let pid = o["victim_pid"].as_i64().unwrap();
        let rows = report["sections"]["oom"]["tables"]["victims"]["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = rows.iter().find(|x| x["victim_pid"].as_i64() == Some(pid));
        r.check(
            s,
            "oom victims table names memscen's worker",
            found.is_some(),
            format!(
                "victims {:?}",
                rows.iter().map(|x| &x["victim_pid"]).collect::<Vec<_>>()
            ),
        );
        let line = o["kernel_log"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str())
            .find_map(parse_killed);
        if let (Some(row), Some(k)) = (found, line) {
            for (col, key) in [
                ("anon_rss", "anon-rss"),
                ("file_rss", "file-rss"),
                ("shmem_rss", "shmem-rss"),
                ("total_vm", "total-vm"),
                ("pgtables", "pgtables"),
            ] {
                let got = row[col].as_f64().unwrap_or(f64::NAN);
                let want = k.fields.get(key).copied().unwrap_or(-1) as f64 * 1024.0;
                r.within(
                    s,
                    &format!("oom victim {col} vs kernel log {key}"),
                    got,
                    want,
                    0.0,
                );
            }
        }
    }
}

fn analyzer_paf(c: &Case, report: &Value, r: &mut Report, s: &str) {
    // Failed allocations by order.
    let paf = c.table("paf");
    let v = need(report, r, s, "paf.failures");
    r.within(
        s,
        "paf.failures vs failed allocations recorded",
        v,
        paf.len() as f64,
        0.0,
    );
    let mut by_order: BTreeMap<i128, usize> = BTreeMap::new();
    for p in paf.iter() {
        *by_order.entry(int(p, "order")).or_default() += 1;
    }
    for (order, n) in by_order {
        let v = need(report, r, s, &format!("paf.failures{{order=\"{order}\"}}"));
        r.within(
            s,
            &format!("paf.failures{{order=\"{order}\"}} vs failed allocations of that order"),
            v,
            n as f64,
            0.0,
        );
    }
    let htlb = hugetlb_failures(c, &paf).len() as f64;
    if let Some(o) = metric(
        report,
        &format!("paf.failures{{order=\"{}\"}}", hugetlb_order(c)),
    ) {
        r.check(
            s,
            "paf.failures of the huge page order cover Δhtlb_buddy_alloc_fail",
            o >= c.vmstat_delta("htlb_buddy_alloc_fail") as f64,
            format!("{o} >= {}", c.vmstat_delta("htlb_buddy_alloc_fail")),
        );
    } else {
        r.within(
            s,
            "no huge page order failures: Δhtlb_buddy_alloc_fail",
            htlb,
            c.vmstat_delta("htlb_buddy_alloc_fail") as f64,
            0.0,
        );
    }
}

fn analyzer_sysstat(c: &Case, report: &Value, r: &mut Report, s: &str) {
    // Node state: memrec's /proc/vmstat reads at start and end lie within
    // the range the analyzer reports over the snapshots (its min and max),
    // give or take the snapshot-vs-/proc/vmstat tolerance of `sysstat`.
    if c.meta()["nodes"].as_array().is_some_and(|n| n.len() == 1) {
        let (tol, _) = sysstat_tolerance(c);
        let node = c.meta()["nodes"][0].as_u64().unwrap();
        let mut bad = Vec::new();
        let mut n = 0;
        for col in SYSSTAT_COLUMNS {
            let (Some(lo), Some(hi)) = (
                metric(report, &format!("sysstat.{col}.min{{node=\"{node}\"}}")),
                metric(report, &format!("sysstat.{col}.max{{node=\"{node}\"}}")),
            ) else {
                if c.meta()["vmstat_start"][*col].is_u64() {
                    bad.push(format!("{col}: no min/max"));
                }
                continue;
            };
            let t = tol.of(col) as f64;
            for key in ["vmstat_start", "vmstat_end"] {
                let Some(k) = c.meta()[key][*col].as_f64() else {
                    continue;
                };
                n += 1;
                if k < lo - t || k > hi + t {
                    bad.push(format!("{col}: {key} {k} outside [{lo}, {hi}] ± {t}"));
                }
            }
        }
        r.check(
            s,
            "sysstat.*.min/max cover /proc/vmstat at start and end",
            bad.is_empty() && n > 0,
            format!(
                "{n} readings, {} outside {:?}",
                bad.len(),
                bad.iter().take(3).collect::<Vec<_>>()
            ),
        );
    }
}

fn analyzer_workers(c: &Case, report: &Value, r: &mut Report, s: &str) {
    // Workers: peak RSS against VmHWM; the leak's growth rate.
    let procs = report["sections"]["growth"]["tables"]["processes"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let slack = (c.nr_cpus() * percpu_batch(c.nr_cpus()) * c.page_size()) as f64;
    let status = c.truth["status_samples"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for w in c.workers() {
        let pid = w["pid"].as_i64().unwrap();
        let comm = w["comm"].as_str().unwrap();
        let hwm = status
            .iter()
            .filter(|x| x["pid"].as_i64() == Some(pid))
            .filter_map(|x| x["vm_hwm_kb"].as_u64())
            .max();
        let key = format!("growth.peak_rss_bytes{{comm=\"{comm}\"}}");
        if let (Some(peak), Some(hwm)) = (metric(report, &key), hwm) {
            let hwm = hwm as f64 * 1024.0;
            r.check(
                s,
                &format!("{key} vs max VmHWM"),
                peak + slack >= hwm,
                format!(
                    "recorded {peak} | kernel {hwm} | diff {} | tolerance -{slack}",
                    peak - hwm
                ),
            );
        } else {
            r.check(
                s,
                &key,
                false,
                format!("metric {:?}, VmHWM {hwm:?}", metric(report, &key)),
            );
        }
        if let Some(l) = c.truth.get("leak") {
            let row = procs
                .iter()
                .find(|x| x["tgid"].as_i64() == Some(pid) && x["comm"] == comm);
            let Some(row) = row else {
                r.check(s, "growth table has the leaking worker", false, "not found");
                continue;
            };
            let rate = l["rate_bytes_per_s"].as_f64().unwrap();
            let band = LeakBand::of(c, pid as i128);
            match &band.void {
                Some(why) => r.skip(
                    s,
                    "growth_rate of the leaking worker vs configured rate (bytes/s)",
                    why,
                ),
                None => {
                    // Tolerance from the samples the analyzer fitted
                    // (non-exit procstat samples of the worker), as in
                    // `leak_rate`.
                    let pts: Vec<(f64, f64)> = c
                        .table("procstat")
                        .iter()
                        .filter(|x| {
                            int(x, "tgid") == pid as i128
                                && text(x, "comm") == comm
                                && text(x, "reason") != "exit"
                        })
                        .map(|x| (int(x, "ts_ns") as f64 / 1e9, 0.0))
                        .collect();
                    let bound = slope_with_bound(&pts, band.bytes / 2.0)
                        .map(|b| b.1)
                        .unwrap_or(f64::INFINITY);
                    r.within(
                        s,
                        "growth_rate of the leaking worker vs configured rate (bytes/s)",
                        row["growth_rate"].as_f64().unwrap_or(f64::NAN),
                        rate,
                        bound,
                    );
                }
            }
            // memana flags steady growth (a linear fit that explains the
            // samples): only what a worker on its schedule makes.
            match &band.void {
                Some(why) => r.skip(s, "leaking worker flagged as leak suspect", why),
                None => r.check(
                    s,
                    "leaking worker flagged as leak suspect",
                    row["leak_suspect"] == true,
                    format!("leak_suspect {}", row["leak_suspect"]),
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The kernel's own printout of the same events (root)

/// The tracepoints the root test has the kernel print in a tracefs instance
/// of its own, with filters: failed page allocations only (pfn == -1UL).
/// Watermark recomputations where the kernel has that tracepoint (6.3 on).
pub fn kernel_trace_events() -> Vec<(&'static str, Option<String>)> {
    let mut events = vec![
        ("kmem/mm_page_alloc", Some(format!("pfn == {}", u64::MAX))),
        ("vmscan/mm_vmscan_memcg_reclaim_begin", None),
        ("vmscan/mm_vmscan_direct_reclaim_begin", None),
        ("compaction/mm_compaction_try_to_compact_pages", None),
        ("vmscan/mm_vmscan_wakeup_kswapd", None),
    ];
    let wmarks = "kmem/mm_setup_per_zone_wmarks";
    if super::tracefs::tracefs().is_some_and(|t| t.join("events").join(wmarks).is_dir()) {
        events.push((wmarks, None));
    }
    events
}

/// One comparable event: who, what, and the fields both sides print.
#[derive(Debug, Clone, PartialEq)]
struct Ev {
    ts: i128,
    key: Vec<String>,
}

/// Recorded events against the kernel's printout of the same tracepoints:
/// each recorded event must be printed by the kernel with the same task,
/// order, gfp text (and migrate type, priority or node) within 1 ms, and
/// the other way round. Every event recorded while the probes were surely
/// attached (memrec's start anchor to its end snapshot) is compared; a
/// printed event is left out only within the pairing window of either
/// edge, where its twin could lie on the other side.
pub fn vs_kernel_trace(
    c: &Case,
    kernel: &[super::tracefs::TraceEvent],
    lost: bool,
    r: &mut Report,
) {
    let s = c.name;
    r.check(
        s,
        "kernel trace buffer lost nothing",
        !lost,
        format!("lost {lost}"),
    );
    let end = c
        .table("sysstat")
        .iter()
        .filter(|x| text(x, "trigger") == "end")
        .map(|x| int(x, "ts_ns"))
        .min()
        .unwrap_or_else(|| c.end_ns());
    let (window, emu) = c.pair_window();
    // Recorded while surely attached: memrec's start anchor to its end
    // snapshot. The kernel's instance ran across all of it, so each of
    // those has a printed twin. A printed event needs a recorded twin where
    // its own stamp is `window` inside those edges: the twin's stamp can
    // then not fall outside them (the two handlers of one call stamp at
    // most `window` apart).
    let attached = |ts: i128| ts > c.start_ns() && ts < end;
    let inside = |ts: i128| ts > c.start_ns() + window && ts < end - window;
    let cell = |row: &Row, col: &str| -> String {
        match row.get(col) {
            Some(Cell::Int(v)) => v.to_string(),
            Some(Cell::Text(t)) => t.clone(),
            other => format!("{other:?}"),
        }
    };
    let kfield = |e: &super::tracefs::TraceEvent, k: &str| e.text(k).unwrap_or("?").to_string();
    type Rec<'x> = &'x dyn Fn(&Row) -> Option<Vec<String>>;
    type Ker<'x> = &'x dyn Fn(&super::tracefs::TraceEvent) -> Vec<String>;
    let paf_rec = |p: &Row| {
        Some(vec![
            cell(p, "pid"),
            cell(p, "order"),
            cell(p, "migratetype"),
            cell(p, "gfp"),
        ])
    };
    let paf_ker = |e: &super::tracefs::TraceEvent| {
        vec![
            e.pid.to_string(),
            kfield(e, "order"),
            kfield(e, "migratetype"),
            kfield(e, "gfp_flags"),
        ]
    };
    let memcg_rec = |p: &Row| {
        (text(p, "reclaimer") == "memcg")
            .then(|| vec![cell(p, "pid"), cell(p, "order"), cell(p, "gfp")])
    };
    let direct_rec = |p: &Row| {
        (text(p, "reclaimer") == "direct")
            .then(|| vec![cell(p, "pid"), cell(p, "order"), cell(p, "gfp")])
    };
    let begin_ker = |e: &super::tracefs::TraceEvent| {
        vec![
            e.pid.to_string(),
            kfield(e, "order"),
            kfield(e, "gfp_flags"),
        ]
    };
    let compact_rec = |p: &Row| {
        Some(vec![
            cell(p, "pid"),
            cell(p, "order"),
            cell(p, "gfp"),
            cell(p, "priority"),
        ])
    };
    let compact_ker = |e: &super::tracefs::TraceEvent| {
        vec![
            e.pid.to_string(),
            kfield(e, "order"),
            kfield(e, "gfp_mask"),
            kfield(e, "priority"),
        ]
    };
    let wakeup_rec = |p: &Row| {
        (text(p, "event") == "wakeup").then(|| {
            vec![
                cell(p, "pid"),
                cell(p, "node"),
                cell(p, "order"),
                cell(p, "gfp"),
            ]
        })
    };
    let wakeup_ker = |e: &super::tracefs::TraceEvent| {
        vec![
            e.pid.to_string(),
            kfield(e, "nid"),
            kfield(e, "order"),
            kfield(e, "gfp_flags"),
        ]
    };
    let wmark_rec = |p: &Row| {
        Some(vec![
            cell(p, "node"),
            cell(p, "zone"),
            cell(p, "min"),
            cell(p, "low"),
            cell(p, "high"),
        ])
    };
    let wmark_ker = |e: &super::tracefs::TraceEvent| {
        vec![
            kfield(e, "node_id"),
            kfield(e, "name"),
            kfield(e, "min"),
            kfield(e, "low"),
            kfield(e, "high"),
        ]
    };
    let pairs: [(&str, &str, &str, Rec, Ker); 6] = [
        (
            "failed allocations",
            "paf",
            "mm_page_alloc",
            &paf_rec,
            &paf_ker,
        ),
        (
            "memcg reclaim begins",
            "reclaim_begin",
            "mm_vmscan_memcg_reclaim_begin",
            &memcg_rec,
            &begin_ker,
        ),
        (
            "direct reclaim begins",
            "reclaim_begin",
            "mm_vmscan_direct_reclaim_begin",
            &direct_rec,
            &begin_ker,
        ),
        (
            "direct compaction tries",
            "compact_try",
            "mm_compaction_try_to_compact_pages",
            &compact_rec,
            &compact_ker,
        ),
        (
            "kswapd wakeups",
            "kswapd",
            "mm_vmscan_wakeup_kswapd",
            &wakeup_rec,
            &wakeup_ker,
        ),
        (
            "watermark recomputations",
            "wmark_setup",
            "mm_setup_per_zone_wmarks",
            &wmark_rec,
            &wmark_ker,
        ),
    ];
    for (what, table, event, rec, ker) in pairs {
        let program = match event {
            "mm_page_alloc" => "paf_page_alloc",
            "mm_vmscan_memcg_reclaim_begin" => "pr_memcg_begin",
            "mm_vmscan_direct_reclaim_begin" => "pr_direct_begin",
            "mm_compaction_try_to_compact_pages" => "paf_compact_try",
            "mm_setup_per_zone_wmarks" => "paf_wmark_setup",
            _ => "pr_wakeup_kswapd",
        };
        if let Some(why) = c.missing(&[program]) {
            r.skip(
                s,
                &format!("{what}: recorded vs printed by the kernel ({event})"),
                why,
            );
            continue;
        }
        let fields = match table {
            "wmark_setup" => "zone and watermarks",
            _ => "task, order and gfp text",
        };
        let rows = c.table(table);
        let mut recorded: Vec<Ev> = rows
            .iter()
            .filter(|x| attached(int(x, "ts_ns")))
            .filter_map(|x| {
                Some(Ev {
                    ts: int(x, "ts_ns"),
                    key: rec(x)?,
                })
            })
            .collect();
        recorded.sort_by_key(|e| e.ts);
        let printed: Vec<Ev> = kernel
            .iter()
            .filter(|e| e.event == event)
            .map(|e| Ev {
                ts: e.ts_ns,
                key: ker(e),
            })
            .collect();
        let mut used = vec![false; printed.len()];
        let mut unmatched = Vec::new();
        let mut worst = 0i128;
        for e in &recorded {
            let hit = printed
                .iter()
                .enumerate()
                .find(|(i, k)| !used[*i] && k.key == e.key && (k.ts - e.ts).abs() <= window);
            match hit {
                Some((i, k)) => {
                    used[i] = true;
                    worst = worst.max((k.ts - e.ts).abs());
                }
                None => unmatched.push(format!("recorded {:?} at {}", e.key, e.ts)),
            }
        }
        let twins = used.iter().filter(|u| **u).count();
        let mut printed_alone = 0;
        for (k, _) in printed.iter().zip(&used).filter(|(_, u)| !**u) {
            if inside(k.ts) {
                printed_alone += 1;
                unmatched.push(format!("printed {:?} at {}", k.key, k.ts));
            }
        }
        // The kernel's count: the printed events that are the recording's
        // (twins), and those it should have had.
        r.exact(
            s,
            &format!("{what}: recorded vs printed by the kernel ({event})"),
            recorded.len() as i128,
            (twins + printed_alone) as i128,
        );
        r.check(
            s,
            &format!("{what}: each one's {fields} vs the kernel's printout"),
            unmatched.is_empty(),
            format!(
                "{} recorded, {twins} with a printed twin, {} without a twin; time stamps within {:.3} ms | tolerance {:.0} ms{emu} {:?}",
                recorded.len(),
                unmatched.len(),
                worst as f64 / 1e6,
                window as f64 / 1e6,
                unmatched.iter().take(3).collect::<Vec<_>>()
            ),
        );
        if s == "alloc-fail" && table == "paf" {
            r.check(
                s,
                "alloc-fail: failures compared with the kernel's printout",
                twins > 0,
                format!("{twins}"),
            );
        }
    }
}
