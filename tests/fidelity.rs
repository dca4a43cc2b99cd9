//! Fidelity on the running kernel (root): each memscen scenario, at small
//! scale, recorded fresh by memrec while memscen reads the kernel's counters
//! before and after, and the kernel prints its own copy of every failed page
//! allocation into a private tracefs instance. Then every recorded figure
//! (and the analyzer's) is checked against that ground truth with the checks
//! of tests/support/fidelity.rs, the same the fixture tests run; and the
//! machine is checked to be left as it was (memcgs, huge pages, swap, zram,
//! scratch files, processes, the tracefs instance).
//!
//! The scenarios run one after the other in one test: they share the
//! machine's memory and must never overlap.
//!
//! `cargo test --release -p memtrace --test fidelity -- --nocapture 2>&1 | grep FIDELITY`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use support::fidelity::{self, Case, Report};
use support::fidelity_compaction;
use support::fidelity_faults;
use support::fidelity_hugetlb;
use support::fidelity_mappings;
use support::fidelity_memleak;
use support::fidelity_swap;
use support::kernel::{self, KernelProbes};
use support::tracefs::KernelTrace;
use support::*;

const SCENARIOS: [&str; 7] = [
    "memcg-reclaim",
    "oom",
    "alloc-fail",
    "leak",
    "swap",
    "fragment",
    "mappings",
];

/// What memscen may touch on the machine, to check it is put back.
#[derive(Debug, PartialEq)]
struct HostState {
    nr_hugepages: String,
    swaps: BTreeSet<String>,
    zram: BTreeSet<String>,
    memcgs: BTreeSet<String>,
    scratch: BTreeSet<String>,
    workers: BTreeSet<String>,
    trace_instances: BTreeSet<String>,
}

fn names(dir: &Path, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| keep(n))
                .collect()
        })
        .unwrap_or_default()
}

impl HostState {
    fn read() -> Self {
        let swaps = std::fs::read_to_string("/proc/swaps")
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        let mut memcgs = BTreeSet::new();
        for root in [
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ] {
            memcgs.extend(
                names(Path::new(root), |n| n.starts_with("memscen-"))
                    .into_iter()
                    .map(|n| format!("{root}/{n}")),
            );
        }
        let workers = names(Path::new("/proc"), |n| {
            n.bytes().all(|b| b.is_ascii_digit())
        })
        .into_iter()
        .filter_map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            comm.trim()
                .starts_with("memscen")
                .then(|| format!("{pid} {}", comm.trim()))
        })
        .collect();
        HostState {
            nr_hugepages: std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
                .unwrap_or_default()
                .trim()
                .to_string(),
            swaps,
            zram: names(Path::new("/sys/block"), |n| n.starts_with("zram")),
            memcgs,
            scratch: names(Path::new("/var/tmp"), |n| n.starts_with("memscen-")),
            workers,
            trace_instances: support::tracefs::tracefs()
                .map(|t| names(&t.join("instances"), |n| n.starts_with("memtrace-fidelity")))
                .unwrap_or_default(),
        }
    }
}

/// Kills memrec if the test fails while it records.
struct StopOnDrop(Option<Recording>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(mut r) = self.0.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// `memscen run <name> --scale small --truth ...`: the truth, or why not.
fn run_scenario(name: &str, dir: &Path) -> Result<serde_json::Value, String> {
    let truth = dir.join(format!("{name}.truth.json"));
    let out = Command::new(bin("memscen"))
        .args([
            "run",
            name,
            "--scale",
            "small",
            "--truth",
            truth.to_str().unwrap(),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for l in stderr.lines().filter(|l| !l.contains(" INFO ")) {
        eprintln!("memscen: {l}");
    }
    let read = || -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(&truth).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    if !out.status.success() {
        // Exit 1: the situation did not happen. Under emulation the leak's
        // worker can fall behind its schedule; the recording is still
        // checked, its rate is not (the checks say why).
        if out.status.code() == Some(1) {
            if let Ok(t) = read() {
                if let Some(why) =
                    fidelity::leak_off_schedule_emulated(&t, kernel::emulated().as_deref())
                {
                    eprintln!("memscen run {name}: not produced: {why}");
                    return Ok(t);
                }
            }
        }
        return Err(format!(
            "memscen run {name} exited with {}: {stderr}",
            out.status
        ));
    }
    read()
}

/// These tests change the machine (memcgs, swap on zram, dropped caches)
/// and compare with its system-wide counters, so they must not overlap,
/// whatever `--test-threads` says: a swap device turned on by one would
/// let the other's memcg reclaim swap anonymous pages.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MACHINE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn root_fidelity_of_every_scenario() {
    if skip_unless_root("root_fidelity_of_every_scenario") {
        return;
    }
    let _machine = one_at_a_time();
    // MEMTRACE_FIDELITY_DIR keeps the recordings and truths there.
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("MEMTRACE_FIDELITY_DIR").map(PathBuf::from);
    if let Some(k) = &keep {
        std::fs::create_dir_all(k).unwrap();
    }
    let dir = keep.as_deref().unwrap_or(tmp.path());
    let memana = bin("memana");
    let mut r = Report::new();
    // What this kernel lacks: a program a recording says is missing must
    // be missing here too.
    let here = KernelProbes::here(&bin("memrec")).unwrap();
    let split = kernel::split_rss_here();
    r.note(
        "kernel",
        "per-thread RSS counting (before 6.2)",
        match &split {
            Ok(k) => format!("{} ({})", k.present, k.why),
            Err(e) => format!("unknown: {e}"),
        },
    );
    r.note(
        "kernel",
        "multi-generational LRU",
        kernel::mglru_here().unwrap_or_else(|| "off".into()),
    );
    r.note(
        "kernel",
        "emulated",
        kernel::emulated().unwrap_or_else(|| "no".into()),
    );
    let all = Instant::now();
    let trace_name = format!("memtrace-fidelity-{}", std::process::id());
    for s in SCENARIOS {
        let t = Instant::now();
        let before = HostState::read();
        r.check(
            s,
            "no memscen worker running before",
            before.workers.is_empty(),
            format!("{:?}", before.workers),
        );

        let events = fidelity::kernel_trace_events();
        let events: Vec<(&str, Option<&str>)> =
            events.iter().map(|(e, f)| (*e, f.as_deref())).collect();
        let trace = KernelTrace::start(&trace_name, &events).unwrap();
        let path: PathBuf = dir.join(format!("{s}.parquet"));
        let mut rec = StopOnDrop(Some(start_recording(
            &path,
            &["--force", "--probes", "+compaction,+mappings"],
        )));
        let truth = run_scenario(s, dir);
        let summary = rec.0.take().unwrap().stop();
        eprintln!("{summary}");
        trace.stop();
        let (printed, lost) = trace.events();
        drop(trace);

        // memscen put everything back.
        let after = HostState::read();
        r.check(s, "machine left as found (hugepages, swap, zram, memcgs, scratch files, workers, trace instance)", after == before, format!("before {before:?} | after {after:?}"));

        let truth = match truth {
            Ok(t) => t,
            Err(e) => {
                r.check(s, "memscen run", false, e);
                continue;
            }
        };
        let f = read(&path);
        let c = Case::live(s, &f, &truth, &here);
        fidelity::recording_is_complete(&c, &mut r);
        fidelity::reclaim(&c, &mut r);
        fidelity::oom(&c, &mut r);
        fidelity::alloc_failures(&c, &mut r);
        fidelity::vs_kernel_trace(&c, &printed, lost, &mut r);
        fidelity::gfp_text(&c, &mut r);
        fidelity::sysstat(&c, &mut r);
        fidelity::zones(&c, &mut r);
        fidelity::procstat(&c, &mut r);
        fidelity_mappings::mappings(&c, &mut r);
        fidelity_mappings::analyzer(&c, &memana, &path, &mut r);
        fidelity_compaction::compaction(&c, &mut r);
        fidelity_compaction::buddyinfo(&c, &mut r);
        if s == "leak" {
            let rate = fidelity::leak_rate(&c, &mut r);
            match fidelity::leak_off_schedule_emulated(&truth, c.emulated.as_deref()) {
                // leak_rate said why (skipped).
                Some(_) => {}
                None => r.check(
                    s,
                    "leak rate measured",
                    rate.is_some(),
                    format!("{rate:?} bytes/s"),
                ),
            }
        }
        match fidelity::analyzer_report(&memana, &path) {
            Ok(report) => {
                fidelity::analyzer(&c, &report, &mut r);
                fidelity_compaction::analyzer(&c, &report, &mut r);
            }
            Err(e) => r.check(s, "memana report --format json", false, e),
        }
        // A leak the emulator ran off schedule is no leak to name (the
        // leak checks above say so and skip too).
        match fidelity::leak_off_schedule_emulated(&truth, c.emulated.as_deref()) {
            Some(why) if s == "leak" => r.note(s, "first screen", format!("skipped: {why}")),
            _ => first_screen(
                s,
                &memana,
                &path,
                &truth,
                &["compaction", "mappings"],
                &mut r,
            ),
        }
        r.note(s, "runtime", format!("{:.1} s", t.elapsed().as_secs_f64()));
    }
    r.note(
        "all",
        "runtime",
        format!("{:.1} s", all.elapsed().as_secs_f64()),
    );
    r.finish();
}

/// /proc/PID/stat `minflt` and `majflt` of an exited, unreaped child.
fn fault_counts(pid: libc::pid_t) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state ppid pgrp session tty_nr tpgid flags minflt
    // cminflt majflt.
    (f[7].parse().unwrap(), f[9].parse().unwrap())
}

/// The faults group on a process the test makes: a child forked (no exec,
/// so every fault it takes is a hardware one) inside the recording writes
/// fresh anonymous pages, reads a file whose page cache was dropped (major
/// faults), writes its private copy (copy-on-write) and grows its heap.
/// Its rows must equal its own counters exactly; the system's, the
/// kernel's within the documented bounds.
#[test]
fn root_faults_of_a_known_process() {
    if skip_unless_root("root_faults_of_a_known_process") {
        return;
    }
    let _machine = one_at_a_time();
    const ANON_PAGES: usize = 4096;
    const FILE_PAGES: usize = 256;
    const HEAP_PAGES: usize = 64;
    const FILE_NAME: &str = "memtrace-faults-probe.dat";
    let tmp = tempfile::tempdir().unwrap();
    let page = 4096usize;
    let data = tmp.path().join(FILE_NAME);
    std::fs::write(&data, vec![7u8; FILE_PAGES * page]).unwrap();
    let file = std::fs::File::open(&data).unwrap();
    file.sync_all().unwrap();
    let path = tmp.path().join("faults.parquet");
    let mut rec = StopOnDrop(Some(start_recording(
        &path,
        &["--force", "--probes", "faults"],
    )));
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: the child only makes system calls and touches memory it maps,
    // then _exits; nothing of the parent's runtime runs in it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain system calls on memory this child maps itself.
        unsafe {
            libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
            let len = ANON_PAGES * page;
            let anon = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ) as *mut u8;
            if anon as *mut libc::c_void == libc::MAP_FAILED {
                libc::_exit(2);
            }
            // One fault per page, not one per 2 MiB.
            libc::madvise(anon as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE);
            for i in 0..ANON_PAGES {
                std::ptr::write_volatile(anon.add(i * page), 1);
            }
            let flen = FILE_PAGES * page;
            let mapped = libc::mmap(
                std::ptr::null_mut(),
                flen,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                fd,
                0,
            ) as *mut u8;
            if mapped as *mut libc::c_void == libc::MAP_FAILED {
                libc::_exit(3);
            }
            let mut sum = 0u8;
            for i in 0..FILE_PAGES {
                sum = sum.wrapping_add(std::ptr::read_volatile(mapped.add(i * page)));
            }
            for i in 0..FILE_PAGES {
                std::ptr::write_volatile(mapped.add(i * page), sum);
            }
            let heap = libc::sbrk((HEAP_PAGES * page) as libc::intptr_t) as *mut u8;
            if heap as isize == -1 {
                libc::_exit(4);
            }
            for i in 0..HEAP_PAGES {
                std::ptr::write_volatile(heap.add(i * page), 1);
            }
            libc::_exit(0);
        }
    }
    // Wait for the child's exit without reaping it: its counters stay
    // readable and final.
    // SAFETY: siginfo is plain data the call fills.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(rc, 0, "waitid");
    let (minflt, majflt) = fault_counts(pid);
    let mut status = 0;
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    let summary = rec.0.take().unwrap().stop();
    eprintln!("{summary}");

    let f = read(&path);
    let here = KernelProbes::here(&bin("memrec")).unwrap();
    let truth = serde_json::json!({});
    let c = Case::live("faults", &f, &truth, &here);
    let mut r = Report::new();
    let tgid = pid as u32;
    fidelity_faults::probes(&c, &mut r);
    fidelity_faults::faults(&c, &mut r);
    fidelity_faults::process(&c, &mut r, tgid, minflt, majflt);
    let anon = fidelity_faults::count_rows(&c, tgid, |x| {
        fidelity_faults::is(x, "anon", "write", "not-present")
    });
    r.check(
        "faults",
        "anonymous write faults on absent pages",
        anon >= ANON_PAGES,
        format!("{anon} rows, {ANON_PAGES} pages written"),
    );
    let in_file = |x: &support::Row| fidelity_faults::file_of(x) == Some(FILE_NAME);
    let cow = fidelity_faults::count_rows(&c, tgid, |x| {
        in_file(x) && fidelity_faults::is(x, "file", "write", "protection")
    });
    r.exact(
        "faults",
        "copy-on-write faults on the file's mapped pages",
        cow as i128,
        FILE_PAGES as i128,
    );
    let majors =
        fidelity_faults::count_rows(&c, tgid, |x| in_file(x) && fidelity_faults::is_major(x));
    r.check(
        "faults",
        "major faults on the file whose cache was dropped",
        majors >= 1 && majors as u64 <= majflt,
        format!("{majors} rows, majflt {majflt}"),
    );
    let heap = fidelity_faults::count_rows(&c, tgid, |x| {
        fidelity_faults::is(x, "heap", "write", "not-present")
    });
    r.check(
        "faults",
        "heap write faults",
        heap >= HEAP_PAGES,
        format!("{heap} rows, {HEAP_PAGES} pages written"),
    );
    match fidelity::analyzer_report(&bin("memana"), &path) {
        Ok(report) => fidelity_faults::analyzer(&c, &report, &mut r),
        Err(e) => r.check("faults", "memana report --format json", false, e),
    }
    r.finish();
}

/// Writes one byte in each of `pages` pages: every write faults here, in
/// this function, which the sampled stacks must name.
#[inline(never)]
fn touch_pages_for_stacks(base: *mut u8, pages: usize, page: usize) {
    for i in 0..pages {
        // SAFETY: the caller mapped `pages` pages at `base`.
        unsafe { std::ptr::write_volatile(base.add(i * page), 1) };
    }
}

/// `--fault-stacks 1`: every fault has its user stack, joined to its row
/// by ts_ns and pid, and memana names the function that faulted, from the
/// process's mappings memrec kept (this test binary, symbolized by its
/// build-id) — in every format.
#[test]
fn root_fault_stacks_name_the_faulting_function() {
    if skip_unless_root("root_fault_stacks_name_the_faulting_function") {
        return;
    }
    let _machine = one_at_a_time();
    const PAGES: usize = 1024;
    let page = 4096usize;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("stacks.parquet");
    let mut rec = StopOnDrop(Some(start_recording(
        &path,
        &["--force", "--probes", "faults", "--fault-stacks", "1"],
    )));
    // SAFETY: the child only maps memory, writes it, sleeps and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain system calls on memory this child maps itself.
        unsafe {
            let len = PAGES * page;
            let anon = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ) as *mut u8;
            if anon as *mut libc::c_void == libc::MAP_FAILED {
                libc::_exit(2);
            }
            libc::madvise(anon as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE);
            touch_pages_for_stacks(anon, PAGES, page);
            // Alive until memrec has read its mappings (it drains every
            // 100 ms): a process gone first has addresses only.
            libc::usleep(1_500_000);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    let summary = rec.0.take().unwrap().stop();
    eprintln!("{summary}");

    let f = read(&path);
    let tgid = pid as i128;
    let mine = |rows: Vec<support::Row>| -> Vec<support::Row> {
        rows.into_iter()
            .filter(|r| r["tgid"].int() == tgid)
            .collect()
    };
    let faults = mine(f.table("fault"));
    let samples = mine(f.table("fault_stack"));
    let key = |r: &support::Row| (r["ts_ns"].int(), r["pid"].int());
    let fault_keys: BTreeSet<(i128, i128)> = faults.iter().map(key).collect();
    let mut r = Report::new();
    r.exact(
        "fault-stacks",
        "stack samples of the child = its fault rows (every fault sampled)",
        samples.len() as i128,
        faults.len() as i128,
    );
    let joined = samples
        .iter()
        .filter(|s| fault_keys.contains(&key(s)))
        .count();
    r.exact(
        "fault-stacks",
        "samples joined to a fault row on ts_ns and pid",
        joined as i128,
        samples.len() as i128,
    );
    r.check(
        "fault-stacks",
        "the child's faults include its page writes",
        faults.len() >= PAGES,
        format!("{} fault rows, {PAGES} pages written", faults.len()),
    );
    let maps = mine(f.table("module_map"));
    let exe = std::env::current_exe().unwrap();
    r.check(
        "fault-stacks",
        "the child's mappings include this test binary, with its build-id",
        maps.iter().any(|m| {
            m["path"].text() == exe.to_str().unwrap() && m["build_id"] != support::Cell::Null
        }),
        format!("{} mappings", maps.len()),
    );
    for format in ["json", "text", "markdown"] {
        let out = Command::new(bin("memana"))
            .args(["report", path.to_str().unwrap(), "--section", "faults"])
            .args(["--format", format, "--pid", &pid.to_string()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            r.check(
                "fault-stacks",
                &format!("memana report --format {format}"),
                false,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
            continue;
        }
        if format == "json" {
            let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let top = &j["sections"]["faults"]["tables"]["stack_locations"]["rows"][0];
            let function = top["function"].as_str().unwrap_or("");
            r.check(
                "fault-stacks",
                "the top code location is the function that wrote the pages",
                function.ends_with("touch_pages_for_stacks"),
                format!("{top}"),
            );
            r.check(
                "fault-stacks",
                "its samples cover the pages written",
                top["samples"].as_u64().unwrap_or(0) >= PAGES as u64,
                format!("{} samples", top["samples"]),
            );
        } else {
            r.check(
                "fault-stacks",
                &format!("memana --format {format} names the function"),
                stdout.contains("touch_pages_for_stacks"),
                "the code locations table".to_string(),
            );
        }
    }
    r.finish();
}

/// The default probe groups, which every recording here has.
const DEFAULT_GROUPS: [&str; 5] = ["procstat", "sysstat", "paf", "pr", "oom"];

/// `memana report`'s first screen (120 columns) names what the scenario
/// did, as its truth says (support/first_screen.rs); `extra` are the groups
/// recorded beside the default ones.
fn first_screen(
    case: &str,
    memana: &Path,
    path: &Path,
    truth: &serde_json::Value,
    extra: &[&str],
    r: &mut Report,
) {
    let out = Command::new(memana)
        .args(["report", path.to_str().unwrap_or_default()])
        .env("COLUMNS", "120")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let groups: Vec<&str> = DEFAULT_GROUPS.iter().chain(extra).copied().collect();
    let screen = support::first_screen::check(&out, truth, &groups);
    r.check(
        case,
        "memana report's first 25 lines name the scenario's event",
        screen.is_ok(),
        screen.err().unwrap_or_default(),
    );
}

/// One group recorded (`--probes +GROUP`) during one memscen scenario at
/// small scale, then its fidelity checks and memana's figures against the
/// kernel's counters in the truth.
fn group_during_scenario(
    test: &str,
    group: &str,
    scenario: &str,
    case: &str,
    checks: fn(&Case, &mut Report),
    analyzer: fn(&Case, &serde_json::Value, &mut Report),
) {
    if skip_unless_root(test) {
        return;
    }
    let _machine = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(format!("{case}.parquet"));
    let probes = format!("+{group}");
    let mut rec = StopOnDrop(Some(start_recording(
        &path,
        &["--force", "--probes", &probes],
    )));
    let truth = support::scenario(scenario, "small", tmp.path());
    let summary = rec.0.take().unwrap().stop();
    eprintln!("{summary}");
    let f = read(&path);
    let here = KernelProbes::here(&bin("memrec")).unwrap();
    let c = Case::live(case, &f, &truth, &here);
    let mut r = Report::new();
    fidelity::recording_is_complete(&c, &mut r);
    checks(&c, &mut r);
    match fidelity::analyzer_report(&bin("memana"), &path) {
        Ok(report) => analyzer(&c, &report, &mut r),
        Err(e) => r.check(case, "memana report --format json", false, e),
    }
    first_screen(case, &bin("memana"), &path, &truth, &[group], &mut r);
    r.finish();
}

/// The swap group during memscen's swap scenario (a zram swap device):
/// swap-outs exactly the kernel's, swap-ins within the readahead bound.
#[test]
fn root_swap_matches_pswpin_pswpout() {
    group_during_scenario(
        "root_swap_matches_pswpin_pswpout",
        "swap",
        "swap",
        "swap-inout",
        fidelity_swap::swap,
        fidelity_swap::analyzer,
    );
}

/// The hugetlb group during memscen's hugetlb scenario: its faults exactly
/// the huge pages it touched, the pool after each fault and at every
/// snapshot as the kernel's /proc/meminfo, the htlb_buddy_alloc_* deltas.
#[test]
fn root_hugetlb_matches_meminfo_hugepages() {
    group_during_scenario(
        "root_hugetlb_matches_meminfo_hugepages",
        "hugetlb",
        "hugetlb",
        "hugetlb",
        fidelity_hugetlb::hugetlb,
        fidelity_hugetlb::analyzer,
    );
}

/// memleak during memscen's heap-leak scenario (a C worker that leaks
/// through one named call chain and churns through another), recorded by
/// comm (the worker starts after memrec, which attaches its uprobes to it),
/// once with every call and once sampled (`--alloc-sample 16K`): the
/// leak's outstanding bytes exactly (or within 4 σ of the sampling
/// estimate), the churn's 0, and memana naming the chain only once the
/// deleted program is given back through `--debuginfo`.
#[test]
fn root_memleak_matches_the_known_leak() {
    if skip_unless_root("root_memleak_matches_the_known_leak") {
        return;
    }
    let _machine = one_at_a_time();
    let here = KernelProbes::here(&bin("memrec")).unwrap();
    let mut r = Report::new();
    for (case, sample) in [("heap-leak", None), ("heap-leak-sampled", Some("16K"))] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(format!("{case}.parquet"));
        let mut args = vec!["--force", "--probes", "+memleak", "--comm", "memscen-heap"];
        args.extend(sample.iter().flat_map(|s| ["--alloc-sample", s]));
        let before = HostState::read();
        let mut rec = StopOnDrop(Some(start_recording(&path, &args)));
        let truth = support::scenario("heap-leak", "small", tmp.path());
        let summary = rec.0.take().unwrap().stop();
        eprintln!("{summary}");
        let after = HostState::read();
        r.check(
            case,
            "machine left as found (scratch program removed, no worker left)",
            after == before,
            format!("before {before:?} | after {after:?}"),
        );
        let f = read(&path);
        let c = Case::live(case, &f, &truth, &here);
        fidelity::recording_is_complete(&c, &mut r);
        fidelity_memleak::memleak(&c, &mut r);
        fidelity_memleak::analyzer(&c, &bin("memana"), &path, &mut r);
        first_screen(
            case,
            &bin("memana"),
            &path,
            &truth,
            &["memleak", "kmemleak"],
            &mut r,
        );
    }
    r.finish();
}

/// kmemleak during memscen's slab-hold scenario (a worker holding 4096 Unix
/// sockets), recorded by comm: its sock_inode_cache and filp objects
/// exactly, outstanding and freed, and /proc/slabinfo's change within what
/// SLUB's per-CPU slabs hide.
#[test]
fn root_kmemleak_matches_slabinfo() {
    if skip_unless_root("root_kmemleak_matches_slabinfo") {
        return;
    }
    let _machine = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("slab-hold.parquet");
    let before = HostState::read();
    let mut rec = StopOnDrop(Some(start_recording(
        &path,
        &["--force", "--probes", "+kmemleak", "--comm", "memscen-slab"],
    )));
    let truth = support::scenario("slab-hold", "small", tmp.path());
    let summary = rec.0.take().unwrap().stop();
    eprintln!("{summary}");
    let after = HostState::read();
    let f = read(&path);
    let here = KernelProbes::here(&bin("memrec")).unwrap();
    let c = Case::live("slab-hold", &f, &truth, &here);
    let mut r = Report::new();
    r.check(
        "slab-hold",
        "machine left as found (no worker left)",
        after == before,
        format!("before {before:?} | after {after:?}"),
    );
    fidelity::recording_is_complete(&c, &mut r);
    fidelity_memleak::kmemleak(&c, &mut r);
    first_screen(
        "slab-hold",
        &bin("memana"),
        &path,
        &truth,
        &["kmemleak"],
        &mut r,
    );
    r.finish();
}
