//! `membench suite`: every measurement of issue #5 in one run, written to
//! `OUT/results.json` and `OUT/report.md`. One function per [`Section`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{info, warn};

use crate::gen::GenReport;
use crate::memrec;
use crate::report;
use crate::results::{
    AnalyzerRun, FaultRound, FaultRun, MemleakRound, Pair, ProgCost, Results, Round, Run, Step,
};
use crate::stale;
use crate::sys::{self, load_string};
use crate::tracers::{self, Tool, ToolConfig};
use crate::work::{WorkResult, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Storm with memrec's defaults: recorded events/s and losses per rate.
    Throughput,
    /// Recorder capacity: procstat interval 1 µs, mmap churn.
    Capacity,
    /// The same storm recorded by each tool: size and tool CPU.
    Storm,
    /// Fixed workloads under each tool: slowdown and size.
    Overhead,
    /// Per-program BPF run time (kernel.bpf_stats_enabled).
    Bpfcost,
    /// memana on the storm recording.
    Analyzer,
    /// The page-fault workload under memrec with one probe group at a time.
    Groups,
    /// The storm recorded by memrec at other zstd levels.
    Zstd,
    /// Page faults pinned to CPU 0, nothing and memrec alternately: pairs.
    Paired,
    /// memcg reclaim, nothing, memrec and ftrace one after the other: rounds.
    Triples,
    /// Every page fault recorded: the page-fault workload under nothing,
    /// memrec `--probes faults`, memrec's defaults, and ftrace, perf and
    /// bpftrace on the page-fault tracepoints, one after the other: rounds.
    Faults,
    /// memrec's own pipeline: `memrec record --load-test RATE` (synthetic
    /// rows written in the kernel, no generator limiting the rate).
    Loadtest,
    /// Allocation tracing: a malloc-heavy and a kmalloc-heavy workload under
    /// nothing, empty probes (the floor), memrec `memleak`/`kmemleak` (every
    /// allocation and sampled), libbpf-tools' memleak and bench/memleak.bt,
    /// one after the other: rounds.
    Memleak,
}

/// Settings of a suite run.
#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    /// Short runs (minutes, not an hour): check the suite, not the numbers.
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default: /var/tmp/membench-results/<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The memrec binary (default: next to membench).
    #[arg(long)]
    pub memrec: Option<PathBuf>,
    /// The bpftrace program.
    #[arg(long, default_value = "bench/memrec.bt")]
    pub script: PathBuf,
    /// Runs per (tool, workload) for the overhead medians (default 5; quick 2).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Seconds per throughput step (default 60; quick 8).
    #[arg(long)]
    pub step_seconds: Option<f64>,
    /// Storm target rates, events/s (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<f64>>,
    /// Load-test rates, rows/s (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub load_rates: Option<Vec<f64>>,
    /// Capacity (churn) target rates, events/s (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub capacity_rates: Option<Vec<f64>>,
    /// Tools to compare.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "none,memrec,bpftrace,ftrace,perf"
    )]
    pub tools: Vec<Tool>,
    /// Sections to run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "paired,triples,faults,overhead,groups,loadtest,throughput,capacity,storm,zstd,bpfcost,analyzer"
    )]
    pub sections: Vec<Section>,
    /// Per-CPU buffer for ftrace and perf, KiB.
    #[arg(long, default_value_t = 8192)]
    pub buffer_kb: u64,
    /// Before starting, wait up to this many seconds for the 1-minute load
    /// average to drop below --quiet-load.
    #[arg(long, default_value_t = 0)]
    pub wait_quiet: u64,
    /// The load average counted as a quiet machine.
    #[arg(long, default_value_t = 0.5)]
    pub quiet_load: f64,
}

fn cmd_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() {
                s = String::from_utf8_lossy(&o.stderr).trim().to_string();
            }
            s.lines().next().unwrap_or_default().to_string()
        })
        .unwrap_or_else(|e| format!("unavailable: {e}"))
}

fn machine(memrec: &Path) -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .unwrap_or("?")
        .trim()
        .to_string();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    serde_json::json!({
        "uname": cmd_output("uname", &["-srvm"]),
        "cpus": cmd_output("nproc", &[]),
        "cpu_model": model,
        "memory": mem,
        "memrec": cmd_output(&memrec.display().to_string(), &["--version"]),
        "bpftrace": cmd_output("bpftrace", &["--version"]),
        "perf": cmd_output("perf", &["--version"]),
        "stress_ng": cmd_output("stress-ng", &["--version"]),
        "trace_cmd": cmd_output("trace-cmd", &["--version"]),
        "trace_cmd_record": trace_cmd_probe(),
        "git_head": cmd_output("git", &["log", "-1", "--format=%h %s"]),
        "recorder_uncommitted": cmd_output("sh", &["-c", "git status --porcelain crates/recorder bpf crates/schema | wc -l"]),
        "load_at_start": load_string(),
        "uptime_at_start": cmd_output("uptime", &[]),
    })
}

/// Whether `trace-cmd record` works here. Where it does not (it writes
/// /proc/sys/kernel/ftrace_enabled, which some kernels refuse), ftrace is
/// measured through per-CPU trace_pipe_raw, the mechanism trace-cmd uses.
fn trace_cmd_probe() -> String {
    let dir = std::env::temp_dir().join(format!("membench-tracecmd-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return format!("not tried: {e}");
    }
    let out = Command::new("timeout")
        .args([
            "20",
            "trace-cmd",
            "record",
            "-e",
            "sched:sched_process_exit",
            "-o",
        ])
        .arg(dir.join("probe.dat"))
        .args(["sleep", "1"])
        .stdin(Stdio::null())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(o) if o.status.success() => "works".into(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let line = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            format!("fails ({}): {line}", o.status)
        }
        Err(e) => format!("not runnable: {e}"),
    }
}

/// Waits (bounded) for a quiet machine; returns the load it started at.
fn wait_quiet(max: u64, quiet: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(max);
    while sys::loadavg()[0] >= quiet && Instant::now() < deadline && !sys::stopping() {
        info!(load = %load_string(), "waiting for a quiet machine");
        std::thread::sleep(
            Duration::from_secs(30).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    load_string()
}

fn membench_cmd(exe: &Path, args: &[String]) -> Result<String> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running membench {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("membench {} failed ({})", args.join(" "), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Records one generator run with one tool.
fn gen_step(
    kind: &str,
    tool: Tool,
    cfg: &ToolConfig,
    dir: &Path,
    gen_args: &[String],
    rate: f64,
    keep: bool,
) -> Result<Step> {
    let load_before = load_string();
    let tag = format!("{kind}-{}", rate as u64);
    let running = tracers::start(tool, cfg, dir, &tag)?;
    let mut args: Vec<String> = vec!["gen".into(), format!("--rate={rate}")];
    args.extend(gen_args.iter().cloned());
    let gen = membench_cmd(&cfg.membench, &args);
    // Let the recorder drain what the last moments produced.
    std::thread::sleep(Duration::from_millis(500));
    let out = running.out.clone();
    let trace = tracers::stop(running)?;
    let gen: Option<GenReport> = match gen {
        Ok(text) => serde_json::from_str(&text).ok(),
        Err(e) => {
            warn!("{e:#}");
            None
        }
    };
    if !keep {
        remove_output(&out);
    }
    Ok(Step {
        kind: kind.into(),
        target_rate: rate,
        memrec_args: cfg.memrec_args.clone(),
        trace,
        gen,
        load_before,
        load_after: load_string(),
    })
}

/// Seconds of one `membench work` run (`args`) under `tool`; the
/// recording is removed.
fn timed_under(
    tool: Tool,
    cfg: &ToolConfig,
    dir: &Path,
    tag: &str,
    args: &[String],
) -> Result<WorkResult> {
    let running = tracers::start(tool, cfg, dir, tag)?;
    let text = membench_cmd(&cfg.membench, args);
    let path = running.out.clone();
    tracers::stop(running)?;
    remove_output(&path);
    Ok(serde_json::from_str::<WorkResult>(&text?)?)
}

/// Records `seconds` of memrec's load test at `rate` rows/s.
fn load_step(cfg: &ToolConfig, dir: &Path, rate: f64, seconds: f64) -> Result<Step> {
    let load_before = load_string();
    let mut c = cfg.clone();
    c.memrec_args = vec![format!("--load-test={}", rate as u64)];
    let running = tracers::start(Tool::Memrec, &c, dir, &format!("loadtest-{}", rate as u64))?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline && !sys::stopping() {
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = running.out.clone();
    let trace = tracers::stop(running)?;
    remove_output(&out);
    Ok(Step {
        kind: "loadtest".into(),
        target_rate: rate,
        memrec_args: c.memrec_args,
        trace,
        gen: None,
        load_before,
        load_after: load_string(),
    })
}

fn remove_output(p: &Path) {
    if p.as_os_str().is_empty() {
        return;
    }
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

/// kernel.bpf_stats_enabled on for as long as this lives.
struct BpfStats {
    before: String,
}

impl BpfStats {
    fn enable() -> Result<Self> {
        let before = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
            .context("reading kernel.bpf_stats_enabled")?
            .trim()
            .to_string();
        std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").context("enabling BPF stats")?;
        Ok(BpfStats { before })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", &self.before);
    }
}

/// Loaded BPF programs: id → (name, run_cnt, run_time_ns).
fn bpf_progs() -> BTreeMap<u64, (String, u64, u64)> {
    let out = Command::new("bpftool")
        .args(["prog", "show", "--json"])
        .stdin(Stdio::null())
        .output();
    let Ok(out) = out else { return BTreeMap::new() };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["id"].as_u64()?,
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p["run_cnt"].as_u64().unwrap_or(0),
                    p["run_time_ns"].as_u64().unwrap_or(0),
                ),
            ))
        })
        .collect()
}

fn workloads(quick: bool) -> Vec<Workload> {
    if quick {
        vec![
            Workload::Pagefault {
                mib: 256,
                rounds: 2,
            },
            Workload::Reclaim {
                limit_mib: 32,
                file_mib: 64,
                passes: 2,
            },
            Workload::Mixed {
                workers: 2,
                mib: 64,
                seconds: 2,
            },
        ]
    } else {
        vec![
            Workload::Pagefault {
                mib: 256,
                rounds: 8,
            },
            Workload::Reclaim {
                limit_mib: 32,
                file_mib: 128,
                passes: 6,
            },
            Workload::Mixed {
                workers: 2,
                mib: 64,
                seconds: 5,
            },
        ]
    }
}

impl Section {
    /// Every section in the order a suite runs them: fixed workloads first,
    /// while the machine is as quiet as it will be; the storms after them
    /// load it heavily themselves.
    const ORDER: [Section; 13] = [
        Section::Paired,
        Section::Triples,
        Section::Faults,
        Section::Memleak,
        Section::Overhead,
        Section::Groups,
        Section::Loadtest,
        Section::Throughput,
        Section::Capacity,
        Section::Storm,
        Section::Zstd,
        Section::Bpfcost,
        Section::Analyzer,
    ];

    /// The function that measures the section into the results.
    fn runner(self) -> fn(&Suite, &mut Results) -> Result<()> {
        match self {
            Section::Paired => paired,
            Section::Triples => triples,
            Section::Faults => faults,
            Section::Memleak => memleak,
            Section::Overhead => overhead,
            Section::Groups => groups,
            Section::Loadtest => loadtest,
            Section::Throughput => throughput,
            Section::Capacity => capacity,
            Section::Storm => storm,
            Section::Zstd => zstd,
            Section::Bpfcost => bpfcost,
            Section::Analyzer => analyzer,
        }
    }
}

/// What every section needs: the settings of the run, resolved.
struct Suite {
    quick: bool,
    out: PathBuf,
    memrec: PathBuf,
    /// memrec's probe groups, their programs and tracepoints.
    probes: memrec::Probes,
    cfg: ToolConfig,
    tools: Vec<Tool>,
    runs: usize,
    step_s: f64,
    rates: Vec<f64>,
    cap_rates: Vec<f64>,
    load_rates: Vec<f64>,
    /// The storm every tool records, events/s, and its `--seconds=` argument.
    storm_rate: f64,
    storm_s: String,
}

impl Suite {
    /// Writes the results so far: a run stopped early keeps what it measured.
    fn save(&self, res: &Results) -> Result<()> {
        std::fs::write(
            self.out.join("results.json"),
            serde_json::to_string_pretty(res)?,
        )?;
        std::fs::write(self.out.join("report.md"), report::markdown(res))?;
        Ok(())
    }

    fn secs(&self) -> String {
        format!("--seconds={}", self.step_s)
    }

    /// The storm recording memrec keeps for the column sizes and memana.
    fn storm_recording(&self) -> PathBuf {
        self.out.join(format!(
            "memrec-same-storm-{}.parquet",
            self.storm_rate as u64
        ))
    }
}

pub fn run(a: SuiteArgs) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the suite loads BPF programs and creates memcgs: run it as root");
    }
    sys::install_signal_handlers();
    stale::remove_stale();
    let membench = std::env::current_exe().context("finding membench itself")?;
    let memrec = match &a.memrec {
        Some(p) => p.clone(),
        None => membench.with_file_name("memrec"),
    };
    if !memrec.exists() {
        bail!(
            "no memrec at {} (build it, or pass --memrec)",
            memrec.display()
        );
    }
    let probes = memrec::probes(&memrec)?;
    let script = std::fs::canonicalize(&a.script)
        .with_context(|| format!("bpftrace program {}", a.script.display()))?;
    let out = match &a.out {
        Some(p) => p.clone(),
        None => PathBuf::from(format!(
            "/var/tmp/membench-results/{}{}",
            cmd_output("date", &["+%Y%m%d-%H%M%S"]),
            if a.quick { "-quick" } else { "" }
        )),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let runs = a.runs.unwrap_or(if a.quick { 2 } else { 5 });
    let step_s = a.step_seconds.unwrap_or(if a.quick { 8.0 } else { 60.0 });
    let rates = a.rates.clone().unwrap_or_else(|| {
        if a.quick {
            vec![20_000.0, 200_000.0]
        } else {
            vec![
                10_000.0,
                25_000.0,
                50_000.0,
                100_000.0,
                200_000.0,
                2_000_000.0,
            ]
        }
    });
    let cap_rates = a.capacity_rates.clone().unwrap_or_else(|| {
        if a.quick {
            vec![50_000.0, 2_000_000.0]
        } else {
            vec![25_000.0, 50_000.0, 100_000.0, 200_000.0, 2_000_000.0]
        }
    });
    let load_rates = a.load_rates.clone().unwrap_or_else(|| {
        if a.quick {
            vec![500_000.0, 2_000_000.0]
        } else {
            vec![
                250_000.0,
                500_000.0,
                1_000_000.0,
                1_500_000.0,
                2_000_000.0,
                3_000_000.0,
                4_000_000.0,
            ]
        }
    });
    let load = wait_quiet(a.wait_quiet, a.quiet_load);
    let mut res = Results {
        machine: machine(&memrec),
        quick: a.quick,
        command: std::env::args().collect(),
        started: cmd_output("date", &["-Is"]),
        ..Default::default()
    };
    info!(out = %out.display(), load, "suite starting");
    let suite = Suite {
        quick: a.quick,
        cfg: ToolConfig {
            memrec: memrec.clone(),
            membench: membench.clone(),
            bpftrace_script: script,
            memrec_args: Vec::new(),
            buffer_kb: a.buffer_kb,
            tracepoints: probes.tracepoints.clone(),
            bpftrace_args: Vec::new(),
            bpftrace_params: Vec::new(),
            bpftrace_env: Vec::new(),
            memleak: find_memleak(),
            memleak_args: Vec::new(),
        },
        out,
        memrec,
        probes,
        tools: a.tools.clone(),
        runs,
        step_s,
        rates,
        cap_rates,
        load_rates,
        storm_rate: if a.quick { 20_000.0 } else { 50_000.0 },
        storm_s: format!("--seconds={}", if a.quick { 8.0 } else { 30.0 }),
    };
    for section in Section::ORDER {
        if a.sections.contains(&section) && !sys::stopping() {
            section.runner()(&suite, &mut res)?;
        }
    }
    suite.save(&res)?;
    stale::remove_stale();
    println!("{}", report::markdown(&res));
    eprintln!("membench: results in {}", suite.out.display());
    Ok(())
}

fn paired(s: &Suite, res: &mut Results) -> Result<()> {
    let w = &workloads(s.quick)[0];
    let mut args = vec!["work".to_string(), "--cpu=0".into()];
    args.extend(w.args());
    // A first run after other work is slower (cold allocator state): discard it.
    let _ = membench_cmd(&s.cfg.membench, &args);
    for round in 0..s.runs * 2 {
        if sys::stopping() {
            break;
        }
        let load_before = load_string();
        let pair = (|| -> Result<Pair> {
            let none = timed_under(Tool::None, &s.cfg, &s.out, "paired", &args)?;
            let memrec = timed_under(Tool::Memrec, &s.cfg, &s.out, "paired", &args)?;
            Ok(Pair {
                none_s: none.seconds,
                memrec_s: memrec.seconds,
                none_cpu_s: none.cpu_seconds,
                memrec_cpu_s: memrec.cpu_seconds,
                load_before,
            })
        })();
        match pair {
            Ok(p) => {
                info!(
                    round,
                    none = p.none_s,
                    memrec = p.memrec_s,
                    "paired page faults"
                );
                res.paired.push(p);
            }
            Err(e) => warn!("paired run {round}: {e:#}"),
        }
    }
    s.save(res)
}

fn triples(s: &Suite, res: &mut Results) -> Result<()> {
    let w = &workloads(s.quick)[1];
    let mut args = vec!["work".to_string()];
    args.extend(w.args());
    let _ = membench_cmd(&s.cfg.membench, &args);
    let tools = [Tool::None, Tool::Memrec, Tool::Ftrace];
    for round in 0..s.runs * 2 {
        if sys::stopping() {
            break;
        }
        let load_before = load_string();
        let mut seconds = BTreeMap::new();
        // Rotate the order so no tool always follows the same one.
        for k in 0..tools.len() {
            let tool = tools[(round + k) % tools.len()];
            match timed_under(tool, &s.cfg, &s.out, "triple", &args).map(|w| w.seconds) {
                Ok(sec) => {
                    seconds.insert(tool.name().to_string(), sec);
                }
                Err(e) => warn!("triple {round} {}: {e:#}", tool.name()),
            }
        }
        info!(round, ?seconds, "memcg-reclaim round");
        res.triples.push(Round {
            workload: w.name().into(),
            seconds,
            load_before,
        });
    }
    s.save(res)
}

/// The recorders of the `faults` section: every page fault, each its own way.
fn fault_recorders(s: &Suite) -> Vec<(&'static str, Tool, ToolConfig)> {
    let mut faults = s.cfg.clone();
    faults.memrec_args = vec!["--probes=faults".into()];
    // ftrace and perf record faults' tracepoints (address, ip, error code
    // per fault); bpftrace prints the same fields from them.
    faults.tracepoints = s
        .probes
        .group_tracepoints
        .get("faults")
        .cloned()
        .unwrap_or_default();
    faults.bpftrace_script = s.cfg.bpftrace_script.with_file_name("faults.bt");
    vec![
        ("none", Tool::None, s.cfg.clone()),
        ("memrec-faults", Tool::Memrec, faults.clone()),
        ("memrec-defaults", Tool::Memrec, s.cfg.clone()),
        ("ftrace", Tool::Ftrace, faults.clone()),
        ("perf", Tool::Perf, faults.clone()),
        ("bpftrace", Tool::Bpftrace, faults),
    ]
}

fn faults(s: &Suite, res: &mut Results) -> Result<()> {
    let w = &workloads(s.quick)[0];
    let mut args = vec!["work".to_string(), "--cpu=0".into()];
    args.extend(w.args());
    let recorders = fault_recorders(s);
    // A first run after other work is slower (cold allocator state): discard it.
    let _ = membench_cmd(&s.cfg.membench, &args);
    for round in 0..s.runs {
        if sys::stopping() {
            break;
        }
        let load_before = load_string();
        let mut runs = BTreeMap::new();
        // Rotate the order so no recorder always follows the same one.
        for k in 0..recorders.len() {
            let (name, tool, cfg) = &recorders[(round + k) % recorders.len()];
            let tag = format!("faults-{name}-r{round}");
            let mut run = FaultRun {
                work: None,
                trace: None,
                error: None,
            };
            match tracers::start(*tool, cfg, &s.out, &tag) {
                Ok(running) => {
                    match membench_cmd(&cfg.membench, &args) {
                        Ok(text) => run.work = serde_json::from_str(&text).ok(),
                        Err(e) => run.error = Some(format!("{e:#}")),
                    }
                    let out = running.out.clone();
                    match tracers::stop(running) {
                        Ok(t) => run.trace = Some(t),
                        Err(e) => run.error = Some(format!("{e:#}")),
                    }
                    if *name == "memrec-faults" && round == 0 {
                        res.fault_columns = column_sizes(&out).unwrap_or_default();
                    }
                    remove_output(&out);
                }
                Err(e) => run.error = Some(format!("{e:#}")),
            }
            info!(recorder = name, round, seconds = ?run.work.as_ref().map(|w| w.seconds), "every fault recorded");
            runs.insert(name.to_string(), run);
        }
        res.faults.push(FaultRound { runs, load_before });
        s.save(res)?;
    }
    Ok(())
}

/// libbpf-tools' memleak: `$MEMLEAK_BIN`, or `memleak` on the PATH.
/// (Debian's libbpf-tools package does not ship it; bcc's sources build it.)
fn find_memleak() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MEMLEAK_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("memleak"))
            .find(|p| p.is_file())
    })
}

/// The workloads of the `memleak` section. Each waits on stdin until its
/// tracer is attached to its pid.
fn memleak_workloads(quick: bool) -> Vec<Workload> {
    vec![
        Workload::Malloc {
            pairs: if quick { 50_000 } else { 200_000 },
            leak_every: 1000,
            wait_stdin: true,
        },
        Workload::Kmalloc {
            ops: if quick { 20_000 } else { 100_000 },
            op: crate::work::KernelOp::Pipe,
            wait_stdin: true,
        },
    ]
}

/// Stands for the workload's pid in a recorder's arguments.
const PID: &str = "{pid}";

/// The recorders of the `memleak` section for one workload: (name, tool,
/// config with [`PID`] where the workload's pid goes).
fn memleak_recorders(s: &Suite, w: &Workload) -> Vec<(&'static str, Tool, ToolConfig)> {
    let user = matches!(w, Workload::Malloc { .. });
    let memrec = |args: &[&str]| {
        let mut c = s.cfg.clone();
        c.memrec_args = args.iter().map(|a| a.to_string()).collect();
        c
    };
    let mut floor = s.cfg.clone();
    floor.bpftrace_script = s.cfg.bpftrace_script.with_file_name("memleak-floor.bt");
    floor.bpftrace_args = vec!["-p".into(), PID.into()];
    let mut bt = floor.clone();
    bt.bpftrace_script = s.cfg.bpftrace_script.with_file_name("memleak.bt");
    bt.bpftrace_params = vec![PID.into()];
    // Its maps hold every outstanding allocation (bpftrace's default is 4096).
    bt.bpftrace_env = vec![("BPFTRACE_MAP_KEYS_MAX".into(), "262144".into())];
    // memleak traces a process's libc (-p) or, without -p, every kernel
    // allocation of the machine: it has no per-process kernel filter.
    let mut ml = s.cfg.clone();
    ml.memleak_args = if user {
        vec!["-p".into(), PID.into()]
    } else {
        Vec::new()
    };
    let group = if user {
        "--probes=memleak"
    } else {
        "--probes=kmemleak"
    };
    let pid = "--pid={pid}";
    let mut v = vec![
        ("none", Tool::None, s.cfg.clone()),
        ("floor", Tool::Bpftrace, floor),
        ("memrec", Tool::Memrec, memrec(&[group, pid])),
        (
            "memrec-sampled",
            Tool::Memrec,
            memrec(&[group, pid, "--alloc-sample=512K"]),
        ),
    ];
    if !user {
        // The same information as memleak's kernel mode: every process.
        v.push(("memrec-system", Tool::Memrec, memrec(&[group])));
    }
    if s.cfg.memleak.is_some() {
        v.push(("memleak", Tool::Memleak, ml));
    }
    v.push(("bpftrace", Tool::Bpftrace, bt));
    // --tools picks the tracers (the floor comes with bpftrace); nothing
    // attached is always the base.
    v.retain(|(_, t, _)| *t == Tool::None || s.tools.contains(t));
    v
}

/// `cfg` with the workload's pid in place of [`PID`].
fn with_pid(cfg: &ToolConfig, pid: u32) -> ToolConfig {
    let fill = |v: &[String]| -> Vec<String> {
        v.iter().map(|a| a.replace(PID, &pid.to_string())).collect()
    };
    let mut c = cfg.clone();
    c.memrec_args = fill(&cfg.memrec_args);
    c.bpftrace_args = fill(&cfg.bpftrace_args);
    c.bpftrace_params = fill(&cfg.bpftrace_params);
    c.memleak_args = fill(&cfg.memleak_args);
    c
}

/// A `membench work` that waits on stdin for its go.
struct Waiting {
    child: std::process::Child,
}

impl Waiting {
    fn spawn(membench: &Path, w: &Workload) -> Result<Self> {
        let mut args = vec!["work".to_string()];
        args.extend(w.args());
        let child = Command::new(membench)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("running membench {}", args.join(" ")))?;
        Ok(Waiting { child })
    }

    /// Lets it run and returns what it printed.
    fn go(mut self) -> Result<WorkResult> {
        use std::io::{Read, Write};
        if let Some(mut stdin) = self.child.stdin.take() {
            stdin.write_all(b"g").context("starting the workload")?;
        }
        let mut text = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut text)?;
        }
        let st = self.child.wait()?;
        if !st.success() {
            bail!("the workload failed ({st})");
        }
        serde_json::from_str(text.trim()).with_context(|| format!("workload output: {text}"))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // A workload not started (its tracer failed) is not left waiting.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The kmem and percpu tracepoints a workload run hits in its own task,
/// counted by `perf stat -p` over one run: events per operation.
fn kernel_events(s: &Suite, w: &Workload) -> Result<BTreeMap<String, u64>> {
    const EVENTS: &str = "kmem:kmalloc,kmem:kfree,kmem:kmem_cache_alloc,kmem:kmem_cache_free,kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_free_batched,percpu:percpu_alloc_percpu,percpu:percpu_free_percpu";
    let work = Waiting::spawn(&s.cfg.membench, w)?;
    let csv = s.out.join(format!("perf-stat-{}.csv", w.name()));
    let mut perf = Command::new("perf")
        .args(["stat", "-x", ",", "-e", EVENTS, "-o"])
        .arg(&csv)
        .arg("-p")
        .arg(work.child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("perf stat")?;
    // perf opens its counters within a moment.
    std::thread::sleep(Duration::from_millis(1500));
    let r = work.go();
    sys::wait_child(&mut perf, Duration::from_secs(30))?;
    let ops = r?.ops.max(1);
    let text = std::fs::read_to_string(&csv).unwrap_or_default();
    let mut counts = BTreeMap::new();
    counts.insert("ops".to_string(), ops);
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if let (Some(n), Some(ev)) = (f.first().and_then(|n| n.parse().ok()), f.get(2)) {
            counts.insert(ev.to_string(), n);
        }
    }
    Ok(counts)
}

/// The counts bench/memleak.bt prints at exit (`@allocs: N` ...).
fn bpftrace_counts(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.strip_prefix('@')?.split_once(": ")?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn memleak(s: &Suite, res: &mut Results) -> Result<()> {
    if s.cfg.memleak.is_none() {
        let note = "libbpf-tools memleak not found ($MEMLEAK_BIN or memleak on the PATH): skipped";
        warn!("{note}");
        res.notes.push(note.into());
    }
    for w in memleak_workloads(s.quick) {
        match kernel_events(s, &w) {
            Ok(c) => {
                res.memleak_kernel_events.insert(w.name().into(), c);
            }
            Err(e) => warn!("kernel events of {}: {e:#}", w.name()),
        }
        let recorders = memleak_recorders(s, &w);
        for round in 0..s.runs {
            if sys::stopping() {
                break;
            }
            let load_before = load_string();
            let mut runs = BTreeMap::new();
            // Rotate the order so no recorder always follows the same one.
            for k in 0..recorders.len() {
                let (name, tool, cfg) = &recorders[(round + k) % recorders.len()];
                let tag = format!("memleak-{}-{name}-r{round}", w.name());
                let run = memleak_run(s, &w, *tool, cfg, &tag, round == 0);
                if round == 0 && *name == "memrec" && run.trace.is_some() {
                    let file = s.out.join(format!("memrec-{tag}.parquet"));
                    res.memleak_columns
                        .insert(w.name().into(), column_sizes(&file).unwrap_or_default());
                }
                info!(workload = w.name(), recorder = name, round, cpu = ?run.work.as_ref().and_then(|w| w.cpu_seconds), error = ?run.error, "allocation tracing");
                runs.insert(name.to_string(), run);
            }
            res.memleak.push(MemleakRound {
                workload: w.name().into(),
                runs,
                load_before,
            });
            s.save(res)?;
        }
    }
    Ok(())
}

/// One workload run under one recorder; the first round's files are kept.
fn memleak_run(
    s: &Suite,
    w: &Workload,
    tool: Tool,
    cfg: &ToolConfig,
    tag: &str,
    keep: bool,
) -> FaultRun {
    let mut run = FaultRun {
        work: None,
        trace: None,
        error: None,
    };
    let r = (|| -> Result<()> {
        let work = Waiting::spawn(&s.cfg.membench, w)?;
        let cfg = with_pid(cfg, work.child.id());
        let running = tracers::start(tool, &cfg, &s.out, tag)?;
        let out = running.out.clone();
        let result = work.go();
        let mut trace = tracers::stop(running)?;
        if tool == Tool::Bpftrace {
            let counts = bpftrace_counts(&out);
            trace.events = ["allocs", "frees", "kallocs", "kfrees"]
                .iter()
                .filter_map(|k| counts.get(*k))
                .sum();
            trace.detail = serde_json::json!({ "counts": counts });
        }
        run.trace = Some(trace);
        if !keep {
            remove_output(&out);
        }
        run.work = Some(result?);
        Ok(())
    })();
    if let Err(e) = r {
        run.error = Some(format!("{e:#}"));
    }
    run
}

fn overhead(s: &Suite, res: &mut Results) -> Result<()> {
    for round in 0..s.runs {
        // Rotate the order so drift in machine load spreads over tools.
        let mut order = s.tools.clone();
        order.rotate_left(round % s.tools.len().max(1));
        for &tool in &order {
            for w in workloads(s.quick) {
                if sys::stopping() {
                    break;
                }
                let r = overhead_run(tool, &s.cfg, &s.out, &w, round);
                info!(tool = tool.name(), workload = w.name(), round, seconds = ?r.work.as_ref().map(|w| w.seconds), load = %r.load_before, "overhead run");
                res.overhead.push(r);
            }
        }
        s.save(res)?;
    }
    Ok(())
}

fn groups(s: &Suite, res: &mut Results) -> Result<()> {
    let w = &workloads(s.quick)[0];
    for round in 0..s.runs {
        for g in ["none", "all"]
            .into_iter()
            .chain(s.probes.groups.iter().map(String::as_str))
        {
            if sys::stopping() {
                break;
            }
            let mut c = s.cfg.clone();
            let tool = match g {
                "none" => Tool::None,
                "all" => Tool::Memrec,
                _ => {
                    c.memrec_args = vec![format!("--probes={g}")];
                    Tool::Memrec
                }
            };
            let mut r = overhead_run(tool, &c, &s.out, w, round + 1);
            r.tool = g.into();
            r.round = round;
            info!(group = g, round, seconds = ?r.work.as_ref().map(|w| w.seconds), "probe group attribution");
            res.groups.push(r);
        }
        s.save(res)?;
    }
    Ok(())
}

fn loadtest(s: &Suite, res: &mut Results) -> Result<()> {
    for &rate in s.load_rates.iter().take_while(|_| !sys::stopping()) {
        info!(rate, load = %load_string(), "load test step (memrec --load-test)");
        match load_step(&s.cfg, &s.out, rate, s.step_s) {
            Ok(step) => res.loadtest.push(step),
            Err(e) => warn!("load test step {rate}: {e:#}"),
        }
        s.save(res)?;
    }
    Ok(())
}

fn throughput(s: &Suite, res: &mut Results) -> Result<()> {
    for &rate in s.rates.iter().take_while(|_| !sys::stopping()) {
        info!(rate, load = %load_string(), "throughput step (memrec defaults, storm)");
        match gen_step(
            "storm",
            Tool::Memrec,
            &s.cfg,
            &s.out,
            &["--mode=storm".into(), s.secs()],
            rate,
            false,
        ) {
            Ok(step) => res.throughput.push(step),
            Err(e) => warn!("throughput step {rate}: {e:#}"),
        }
        s.save(res)?;
    }
    Ok(())
}

fn capacity(s: &Suite, res: &mut Results) -> Result<()> {
    let mut c = s.cfg.clone();
    c.memrec_args = vec![
        "--procstat-interval=0.001ms".into(),
        "--procstat-sampler=rss".into(),
    ];
    for &rate in s.cap_rates.iter().take_while(|_| !sys::stopping()) {
        info!(rate, load = %load_string(), "capacity step (procstat interval 1 us, churn)");
        let g = ["--mode=churn".into(), "--workers=2".into(), s.secs()];
        match gen_step("churn", Tool::Memrec, &c, &s.out, &g, rate, false) {
            Ok(step) => res.capacity.push(step),
            Err(e) => warn!("capacity step {rate}: {e:#}"),
        }
        s.save(res)?;
    }
    Ok(())
}

fn storm(s: &Suite, res: &mut Results) -> Result<()> {
    for &tool in s
        .tools
        .iter()
        .filter(|t| **t != Tool::None)
        .take_while(|_| !sys::stopping())
    {
        info!(tool = tool.name(), load = %load_string(), "storm recorded by each tool");
        match gen_step(
            "same-storm",
            tool,
            &s.cfg,
            &s.out,
            &["--mode=storm".into(), s.storm_s.clone()],
            s.storm_rate,
            tool == Tool::Memrec,
        ) {
            Ok(step) => {
                if tool == Tool::Memrec {
                    res.columns = column_sizes(&s.storm_recording()).unwrap_or_default();
                }
                res.storm.push(step)
            }
            Err(e) => warn!("storm under {}: {e:#}", tool.name()),
        }
        s.save(res)?;
    }
    Ok(())
}

fn zstd(s: &Suite, res: &mut Results) -> Result<()> {
    for level in [1, 9, 19].into_iter().take_while(|_| !sys::stopping()) {
        let mut c = s.cfg.clone();
        c.memrec_args = vec![format!("--zstd-level={level}")];
        match gen_step(
            &format!("zstd-{level}"),
            Tool::Memrec,
            &c,
            &s.out,
            &["--mode=storm".into(), s.storm_s.clone()],
            s.storm_rate,
            false,
        ) {
            Ok(step) => res.zstd.push(step),
            Err(e) => warn!("zstd {level}: {e:#}"),
        }
        s.save(res)?;
    }
    Ok(())
}

fn bpfcost(s: &Suite, res: &mut Results) -> Result<()> {
    match bpf_cost(&s.cfg, &s.probes, &s.out, s.quick) {
        Ok(c) => res.bpf_cost = c,
        Err(e) => warn!("bpf cost: {e:#}"),
    }
    s.save(res)
}

fn analyzer(s: &Suite, res: &mut Results) -> Result<()> {
    let memana = s.memrec.with_file_name("memana");
    let input = s.storm_recording();
    if memana.exists() && input.exists() {
        res.analyzer = analyzer_run(&memana, &input)
            .map_err(|e| warn!("memana: {e:#}"))
            .ok();
    } else {
        res.notes.push(format!(
            "memana not timed: {} or {} missing",
            memana.display(),
            input.display()
        ));
    }
    s.save(res)
}

fn overhead_run(tool: Tool, cfg: &ToolConfig, dir: &Path, w: &Workload, round: usize) -> Run {
    let load_before = load_string();
    let mut run = Run {
        tool: tool.name().into(),
        workload: w.name().into(),
        round,
        work: None,
        trace: None,
        error: None,
        load_before,
    };
    let tag = format!("{}-r{round}", w.name());
    let running = match tracers::start(tool, cfg, dir, &tag) {
        Ok(r) => r,
        Err(e) => {
            run.error = Some(format!("{e:#}"));
            return run;
        }
    };
    let mut args = vec!["work".to_string()];
    args.extend(w.args());
    match membench_cmd(&cfg.membench, &args) {
        Ok(text) => run.work = serde_json::from_str(&text).ok(),
        Err(e) => run.error = Some(format!("{e:#}")),
    }
    let out = running.out.clone();
    match tracers::stop(running) {
        Ok(t) => run.trace = Some(t),
        Err(e) => run.error = Some(format!("{e:#}")),
    }
    // Keep the first round's files for inspection; sizes are in the results.
    if round > 0 {
        remove_output(&out);
    }
    run
}

fn bpf_cost(
    cfg: &ToolConfig,
    probes: &memrec::Probes,
    dir: &Path,
    quick: bool,
) -> Result<Vec<ProgCost>> {
    let mut all = Vec::new();
    let mut pf = vec!["work".to_string()];
    pf.extend(workloads(quick)[0].args());
    let storm = vec![
        "gen".into(),
        "--mode=storm".into(),
        "--rate=50000".into(),
        format!("--seconds={}", if quick { 5 } else { 15 }),
    ];
    let churn = vec![
        "gen".into(),
        "--mode=churn".into(),
        "--workers=2".into(),
        "--rate=2000000".into(),
        format!("--seconds={}", if quick { 5 } else { 15 }),
    ];
    let every = vec![
        "--procstat-interval=0.001ms".to_string(),
        "--procstat-sampler=rss".to_string(),
    ];
    // Every group (`--probes all`): each program's cost per event on the
    // same workloads; groups whose events these workloads do not cause
    // (swap without swap space, hugetlb without a pool) show no runs.
    let every_group = vec!["--probes=all".to_string()];
    for (name, memrec_args, args) in [
        ("pagefault", Vec::new(), pf.clone()),
        ("storm", Vec::new(), storm.clone()),
        ("churn, procstat interval 1 us", every, churn.clone()),
        ("pagefault, --probes all", every_group.clone(), pf),
        ("storm, --probes all", every_group.clone(), storm),
        ("churn, --probes all", every_group, churn),
    ] {
        let _stats = BpfStats::enable()?;
        // Programs loaded before our memrec are someone else's.
        let others = bpf_progs();
        let mut c = cfg.clone();
        c.memrec_args = memrec_args;
        let running = tracers::start(
            Tool::Memrec,
            &c,
            dir,
            &format!("bpfcost-{}", name.split(',').next().unwrap_or(name)),
        )?;
        let before: BTreeMap<u64, (String, u64, u64)> = bpf_progs()
            .into_iter()
            .filter(|(id, _)| !others.contains_key(id))
            .collect();
        let r = membench_cmd(&cfg.membench, &args);
        let after = bpf_progs();
        let out = running.out.clone();
        tracers::stop(running)?;
        remove_output(&out);
        r?;
        for (id, (prog, cnt0, ns0)) in before {
            if let Some((_, cnt1, ns1)) = after.get(&id) {
                all.push(ProgCost {
                    during: name.into(),
                    group: probes.group_of(&prog).unwrap_or_default().to_string(),
                    program: prog,
                    run_cnt: cnt1.saturating_sub(cnt0),
                    run_time_ns: ns1.saturating_sub(ns0),
                });
            }
        }
    }
    Ok(all)
}

/// One column of a Parquet file over all its row groups.
pub struct ColumnDetail {
    pub name: String,
    /// Compressed bytes.
    pub bytes: u64,
    /// The encodings its chunks use, e.g. `DELTA_BINARY_PACKED RLE`.
    pub encodings: String,
}

/// Every column's compressed bytes and encodings, largest first; chunks of
/// all-null columns (other tables' row groups) count in their column.
pub fn column_details(path: &Path) -> Result<Vec<ColumnDetail>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)?;
    let mut cols: BTreeMap<String, (u64, std::collections::BTreeSet<String>)> = BTreeMap::new();
    for rg in reader.metadata().row_groups() {
        for c in rg.columns() {
            let e = cols.entry(c.column_path().string()).or_default();
            e.0 += c.compressed_size().max(0) as u64;
            // A chunk of nulls only says nothing about the column's encoding.
            if c.num_values() > 0
                && c.statistics()
                    .is_none_or(|s| s.null_count_opt() != Some(c.num_values() as u64))
            {
                e.1.extend(c.encodings().map(|e| format!("{e:?}")));
            }
        }
    }
    let mut v: Vec<ColumnDetail> = cols
        .into_iter()
        .map(|(name, (bytes, enc))| ColumnDetail {
            name,
            bytes,
            encodings: enc.into_iter().collect::<Vec<_>>().join(" "),
        })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.bytes));
    Ok(v)
}

/// Rows in a Parquet file (all row groups).
pub fn file_rows(path: &Path) -> Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}

/// Compressed bytes of each column over all row groups, largest first.
fn column_sizes(path: &Path) -> Result<Vec<(String, u64)>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)?;
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for rg in reader.metadata().row_groups() {
        for c in rg.columns() {
            *sizes.entry(c.column_path().string()).or_default() +=
                c.compressed_size().max(0) as u64;
        }
    }
    let mut v: Vec<(String, u64)> = sizes.into_iter().collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    Ok(v)
}

fn analyzer_run(memana: &Path, input: &Path) -> Result<AnalyzerRun> {
    let meta = tracers::read_meta(input)?;
    let command = vec![
        memana.display().to_string(),
        "report".into(),
        input.display().to_string(),
    ];
    let t = Instant::now();
    let mut child = Command::new(memana)
        .arg("report")
        .arg(input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("running memana")?;
    let usage = sys::wait_child(&mut child, Duration::from_secs(600))?;
    Ok(AnalyzerRun {
        command,
        input_bytes: tracers::file_size(input),
        input_rows: meta.rows.values().sum(),
        seconds: t.elapsed().as_secs_f64(),
        ok: usage.exit_code == Some(0),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_section_runs_once() {
        for s in Section::value_variants() {
            let n = Section::ORDER.iter().filter(|o| *o == s).count();
            assert_eq!(n, 1, "{s:?} runs {n} times");
        }
    }

    #[test]
    fn the_default_sections_run_in_the_suite_order() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            suite: SuiteArgs,
        }
        let a = Cli::parse_from(["membench"]).suite;
        let mut defaults = a.sections.clone();
        defaults.sort_by_key(|s| Section::ORDER.iter().position(|o| o == s));
        assert_eq!(a.sections, defaults);
    }
}
