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
use support::fidelity_mappings;
use support::fidelity_compaction;
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

#[test]
fn root_fidelity_of_every_scenario() {
    if skip_unless_root("root_fidelity_of_every_scenario") {
        return;
    }
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
        r.note(s, "runtime", format!("{:.1} s", t.elapsed().as_secs_f64()));
    }
    r.note(
        "all",
        "runtime",
        format!("{:.1} s", all.elapsed().as_secs_f64()),
    );
    r.finish();
}
