//! memrec: records the Linux memory subsystem's tracepoints into one
//! self-describing Parquet file.

mod bpf;
mod command;
mod hooks;
mod kernel;
mod kmsg;
mod output;
mod preflight;
mod printfmt;
mod probes;
mod protect;
mod record;
mod recover;
mod spool;
mod stacks;
mod timer;
mod trigger;
mod uprobes;
mod writer;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// memrec's exit statuses, in the top-level and `record` help.
const EXIT_STATUS: &str = "Exit status:
  0    done: the recording (or the recovered one) is written
  1    recording, writing or recovering failed (what was recorded until
       then is kept; `memrec recover` makes it readable)
  2    usage: a bad flag or value, or the host refused (privileges, BTF,
       the output path, a probe group named with -e it cannot record)
  With `-- CMD`, memrec exits as the command did (the recording ended well):
  N    the command's exit status
  128+S  the command was killed by signal S (137: SIGKILL), as shells say
  126  the command was found but could not be run
  127  the command was not found
  (1 and 2 as above when the recording itself failed)";

/// Record-and-replay tracer for the Linux memory subsystem: records kernel
/// memory tracepoints with eBPF into one zstd-compressed Parquet file, for
/// `memana` to analyse anywhere.
#[derive(Debug, Parser)]
#[command(name = "memrec", version, propagate_version = true,
    after_help = top_help())]
struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// The top-level help's examples and exit statuses.
fn top_help() -> String {
    format!(
        "Examples:\n  \
        memrec probes                                     # what this kernel can record\n  \
        memrec record -o run.parquet -d 30s               # the default groups for 30 s\n  \
        memrec record -o run.parquet -- memscen run oom   # a command and what it starts\n  \
        memrec recover run.parquet                        # after memrec was killed\n  \
        memana report run.parquet                         # what happened\n  \
        memrec completions bash > /etc/bash_completion.d/memrec\n\n{EXIT_STATUS}"
    )
}

/// The `record` help's examples and exit statuses.
fn record_help() -> String {
    format!(
        "Examples:\n  \
        memrec record -o run.parquet -d 1m30s             # until Ctrl-C or 90 s\n  \
        memrec record -o run.parquet -e +faults,-pr -p 1234  # add faults, drop pr; process 1234\n  \
        memrec record -o run.parquet -- make -j8          # make and all it starts, to its end\n  \
        memrec record -o run.parquet --all -- ./bench     # the whole system while ./bench runs\n  \
        memrec record -o run.parquet --cgroup system.slice/db.service --comm postgres\n  \
        memrec record -o runs/ --rotate 10m,2G --max-size 20G        # rotating files\n  \
        memrec record -o incidents/ --keep 5m --trigger oom,psi=150ms/2s  # flight recorder\n\n\
        Durations: 500ms, 10us, 30s, 1m30s, 2h, or a number of seconds (30).\n\n{EXIT_STATUS}"
    )
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record until Ctrl-C, SIGTERM or --duration (or, with `-- CMD`, until
    /// the command exits), then write the file.
    #[command(after_help = record_help())]
    Record(Box<RecordArgs>),
    /// List probe groups, what each records, and whether this kernel supports it.
    #[command(after_help = "Examples:\n  \
        memrec probes                # a table: group, supported, programs, tables\n  \
        memrec probes --json | jq -r '.[] | select(.supported != \"no\") | .group'")]
    Probes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make the recording of a memrec that was killed readable: merge its
    /// closed segments into one file and say what was kept and what was lost.
    #[command(after_help = "Examples:\n  \
        memrec recover run.parquet            # merges run.parquet.segments/ into run.parquet\n  \
        memrec recover run.parquet.segments/  # the same\n  \
        memrec recover runs/                  # a directory-mode recording's runs/.segments/")]
    Recover(RecoverArgs),
    /// Print a shell completion script for memrec to stdout.
    #[command(after_help = memtrace_cli::completions::completions_help("memrec"))]
    Completions(memtrace_cli::completions::Completions),
    /// Print memrec's man page, or write all its pages into a directory.
    #[command(after_help = memtrace_cli::completions::man_help("memrec"))]
    Man(memtrace_cli::completions::Man),
}

#[derive(Debug, clap::Args)]
struct RecoverArgs {
    /// The recording's file (its segments are in `FILE.segments/`), the
    /// segments directory itself, or a directory-mode output directory.
    path: PathBuf,
    /// Write the recovered recording here instead.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite the recording's file if it exists.
    #[arg(long)]
    force: bool,
    /// Keep the segments directory after merging it.
    #[arg(long)]
    keep_segments: bool,
}

#[derive(Debug, clap::Args)]
struct RecordArgs {
    /// Output file (Parquet).
    #[arg(short, long)]
    output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Stop after this long, e.g. 30s, 5m, 500ms (default: until Ctrl-C).
    #[arg(short, long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// How often the recording is made durable: a segment is closed, synced
    /// and renamed into place. If memrec is killed, or the machine loses
    /// power, at most this much is lost (`memrec recover` merges the rest).
    /// Each segment has a footer of about 45 KB: shorter checkpoints lose
    /// less and take more bytes per event at low rates.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    checkpoint: Duration,
    /// The OOM killer score adjustment memrec gives itself, so that it is
    /// not the victim of the incident it records (-1000..=1000; its memory
    /// is bounded).
    #[arg(long, default_value_t = protect::DEFAULT_OOM_SCORE_ADJ, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-1000..=1000))]
    oom_score_adj: i32,
    /// Leave memrec's oom_score_adj as it is.
    #[arg(long)]
    no_oom_protect: bool,
    /// Write rotating files into the directory -o names: a new file every
    /// TIME (`10m`, `1h`) and/or past SIZE (`2G`, `500M`), whichever comes
    /// first (`10m,2G`). As in `perf record --switch-output`, an upper-case
    /// unit is a size and a lower-case one a time. Files are named
    /// `memrec-<UTC start>-<NNNN>.parquet`; rotation happens at a checkpoint.
    #[arg(long, visible_alias = "switch-output", value_name = "TIME|SIZE", value_parser = parse_rotate)]
    rotate: Option<spool::Rotate>,
    /// With --rotate: delete the oldest files this run wrote while the
    /// directory holds more than SIZE of them.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "rotate")]
    max_size: Option<u64>,
    /// Flight recorder: record continuously, keep only the last DURATION
    /// (on disk, in -o's segments directory), and write a file only when a
    /// trigger fires: the DURATION before it and --tail after it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "rotate")]
    keep: Option<Duration>,
    /// Flight recorder: what to record after a trigger before writing.
    #[arg(long, default_value = "30s", value_parser = parse_duration, requires = "keep")]
    tail: Duration,
    /// Flight recorder: what fires it, comma-separated: `oom` (an OOM kill),
    /// `alloc-fail` (a page allocation failure the kernel reports; `=all`
    /// adds the `__GFP_NOWARN` ones, which fall back quietly and are
    /// constant on a fragmented machine), `direct-reclaim-over=100ms`,
    /// `memcg-reclaim-over=100ms`, `compaction-over=50ms` (an allocating
    /// task stalled longer than that), `psi=150ms/2s` (tasks stalled on
    /// memory that long within a window; without CAP_SYS_RESOURCE the kernel
    /// takes only whole multiples of 2 s). Default: oom. -o names a
    /// directory; one file per trigger.
    #[arg(long, value_name = "LIST", value_parser = parse_triggers, requires = "keep")]
    trigger: Option<trigger::TriggerList>,
    /// Flight recorder: stop after the first file, written for these
    /// triggers (same syntax as --trigger); -o then names that file.
    #[arg(long, value_name = "LIST", value_parser = parse_triggers, requires = "keep")]
    until: Option<trigger::TriggerList>,
    /// Flight recorder: least time between two files; triggers in between
    /// are counted, not written.
    #[arg(long, default_value = "1m", value_parser = parse_duration, requires = "keep")]
    trigger_gap: Duration,
    /// Probe groups to record, comma-separated: group names, `all` (every
    /// group this kernel supports), or `+GROUP`/`-GROUP` to add to or take
    /// from the default groups (`memrec probes` lists them all). A group
    /// named here that this kernel cannot record is an error; others are
    /// skipped with a warning.
    #[arg(short = 'e', long, value_delimiter = ',', value_name = "GROUPS")]
    probes: Option<Vec<String>>,
    /// Only record events of this process (tgid). Node-wide state is always recorded.
    #[arg(short, long, conflicts_with = "command")]
    pid: Option<u32>,
    /// Only record events of tasks with this command name (exact, ≤ 15 bytes).
    #[arg(long)]
    comm: Option<String>,
    /// Only record events of tasks in this memory cgroup or below it: a path
    /// in the memory controller's hierarchy, absolute or relative to its root.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// Interval of timed node and zone snapshots.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// Minimum time between two procstat samples of one process.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    procstat_interval: Duration,
    /// How a process that keeps running is sampled between context switches:
    /// `timer` (a per-CPU timer every --procstat-interval; cheapest) or `rss`
    /// (on every change of its RSS counters, rate-limited; costs on every
    /// page fault). `timer` falls back to `rss` where perf events are missing.
    #[arg(long, value_enum, default_value_t = Sampler::Timer)]
    procstat_sampler: Sampler,
    /// Minimum time between two snapshots of a node taken at pressure events.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    snapshot_gap: Duration,
    /// Ring buffer size per probe group in MiB (rounded up to a power of two).
    #[arg(long, default_value_t = 8)]
    ring_mb: u32,
    /// Rows the decoder hands to the writer at a time.
    #[arg(long, default_value_t = 4096)]
    batch_rows: usize,
    /// Most rows per Parquet row group of one table (the small tables of a
    /// segment share one). Each row group lists every column in the footer,
    /// which a merge keeps in memory for the whole file it writes.
    #[arg(long, default_value_t = 2 << 20)]
    row_group_rows: usize,
    /// zstd compression level (1-22).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
    zstd_level: i32,
    /// Load test: also write this many synthetic procstat rows per second
    /// (reason `synthetic`, the full cost of a real sample each), to measure
    /// what the recorder sustains on this host. For benchmarks, not for
    /// recordings of interest.
    #[arg(long, value_name = "ROWS_PER_S")]
    load_test: Option<u64>,
    /// No live progress line on stderr.
    #[arg(long)]
    no_progress: bool,
    /// Sample the user stack of every Nth page fault per CPU (faults group;
    /// off by default). Each sample also records the process's executable
    /// mappings and their build-ids, so `memana` names the code that
    /// faults, on this machine or another: e.g.
    /// `memrec record -o run.parquet --probes +faults --fault-stacks 100`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    fault_stacks: Option<u32>,
    /// Allocation groups (kmemleak, memleak): sample allocations by bytes,
    /// one sample per this many bytes allocated on average, as tcmalloc's
    /// heap profiler does; each sample stands for 1/p allocations, with p
    /// in the file's `sample_bytes` column. Default: every allocation, e.g.
    /// `memrec record -o run.parquet --probes +kmemleak --alloc-sample 512K`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    alloc_sample: Option<u64>,
    /// Allocation groups: leave out allocations smaller than SIZE (e.g. 4K).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    alloc_min_size: Option<u64>,
    /// Allocation groups: no stack per allocation (cheaper; leaks are then
    /// grouped by call site or cache only).
    #[arg(long)]
    no_alloc_stacks: bool,
    /// kmemleak: only record these slab caches (as /proc/slabinfo names
    /// them; comma-separated or repeated; at most 8). A kmalloc cache is
    /// named as in the file: `kmalloc-64`, `kmalloc-cg-1k`. Pages and percpu
    /// allocations are then left out, e.g.
    /// `memrec record -o run.parquet --probes +kmemleak --kmem-cache filp,dentry`.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    kmem_cache: Vec<String>,
    /// With `-- CMD`: record every process while the command runs, not
    /// only the command and the processes it starts.
    #[arg(long, requires = "command")]
    all: bool,
    /// The command to run and record: started once every probe is live;
    /// only it and the processes it forks, however deep (in any cgroup),
    /// are recorded (`--all`: every process). The recording ends when it
    /// exits, and memrec exits with its status. Ctrl-C reaches it from the
    /// terminal; SIGINT, SIGTERM or SIGHUP sent to memrec are passed on.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// Programs the options leave out.
fn disabled_programs(a: &RecordArgs) -> Vec<String> {
    let mut off = Vec::new();
    if a.procstat_sampler == Sampler::Rss {
        off.push("procstat_tick".to_string());
    }
    if a.load_test.is_none() {
        off.extend(
            probes::GROUPS
                .iter()
                .filter_map(|g| g.load_test)
                .map(str::to_string),
        );
    }
    off
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sampler {
    Timer,
    Rss,
}

/// A duration in the syntax both tools share (`500ms`, `30s`, `1m30s`, a
/// number of seconds), more than zero: every duration flag of memrec is a
/// length of time or an interval that must advance.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = memtrace_cli::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!("`{}` must be more than zero", s.trim()));
    }
    Ok(d)
}

/// `--rotate`: times and sizes, comma-separated (see its help).
fn parse_rotate(s: &str) -> Result<spool::Rotate, String> {
    let mut r = spool::Rotate::default();
    for item in s.split(',').map(str::trim) {
        let unit = item.trim_end_matches(['B', 'i']).chars().last();
        if unit.is_some_and(|c| matches!(c, 'K' | 'M' | 'G' | 'T')) {
            r.size = Some(parse_size(item)?.max(1));
        } else {
            r.every = Some(parse_duration(item).map_err(|e| {
                format!("{e} (a time such as 10m, or a size such as 2G with an upper-case unit)")
            })?);
        }
    }
    Ok(r)
}

fn parse_triggers(s: &str) -> Result<trigger::TriggerList, String> {
    trigger::parse_list(s).map_err(|e| e.to_string())
}

/// One file, rotated files or the flight recorder, from the flags.
fn mode_of(a: &RecordArgs) -> (spool::Mode, Vec<trigger::TriggerSpec>) {
    if let Some(rotate) = a.rotate {
        return (
            spool::Mode::Rotate {
                rotate,
                max_size: a.max_size,
            },
            Vec::new(),
        );
    }
    let Some(keep) = a.keep else {
        return (spool::Mode::File, Vec::new());
    };
    let mut triggers: Vec<trigger::TriggerSpec> = a
        .trigger
        .iter()
        .chain(&a.until)
        .flat_map(|l| l.0.iter().cloned())
        .collect();
    if triggers.is_empty() {
        triggers.push(trigger::TriggerSpec::Oom);
    }
    triggers.dedup();
    (
        spool::Mode::Flight(spool::Flight {
            keep,
            tail: a.tail,
            until: a.until.is_some(),
            min_gap: a.trigger_gap,
        }),
        triggers,
    )
}

/// A size in bytes in the syntax both tools share (`4096`, `512K`, `1M`).
fn parse_size(s: &str) -> Result<u64, String> {
    memtrace_cli::parse_size(s).map_err(|e| e.to_string())
}

fn probes_command(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for g in probes::GROUPS {
        // The plan `memrec record` would make here, without turning anything off.
        let plan = record::plan_programs(g, &[]);
        let progs: Vec<serde_json::Value> = g
            .programs
            .iter()
            .map(|p| {
                let left_out = plan.left_out(p.name);
                let state = match left_out {
                    None => "available",
                    Some(record::LeftOut::Missing(_)) => "missing",
                    Some(_) => "standby",
                };
                serde_json::json!({
                    "program": p.name,
                    "target": p.target,
                    "method": p.method.name(),
                    "state": state,
                    "available": state != "missing",
                    "why": left_out.map(|_| plan.why(p.name)),
                })
            })
            .collect();
        let primaries = g
            .programs
            .iter()
            .filter(|p| !g.programs.iter().any(|q| q.fallback == Some(p.name)));
        let none = primaries.clone().all(|p| {
            matches!(plan.left_out(p.name), Some(record::LeftOut::Missing(_)))
                && p.fallback.is_none_or(|f| plan.left_out(f).is_some())
        });
        let tables: Vec<&str> = g.tables.iter().map(|t| t.name).collect();
        let options: Vec<serde_json::Value> = stacks::SAMPLERS
            .iter()
            .filter(|s| s.group == g.name)
            .map(|s| serde_json::json!({ "flag": s.flag, "cost": s.cost }))
            .collect();
        rows.push(serde_json::json!({
            "group": g.name,
            "about": g.about,
            "tables": tables,
            "default_on": g.default_on,
            "implies": g.implies,
            "supported": if none { "no" } else if plan.degraded() { "partly" } else { "yes" },
            "programs": progs,
            "options": options,
        }));
    }
    if json {
        return print_stdout(&(serde_json::to_string_pretty(&rows)? + "\n"));
    }
    let mut out = String::new();
    match kernel::tracefs() {
        kernel::Tracefs::Readable => {}
        kernel::Tracefs::NotMounted => eprintln!(
            "note: tracefs is not mounted at {}; support is guessed from nothing. \
             `memrec record` mounts it, or run `mount -t tracefs tracefs {}`",
            kernel::TRACEFS,
            kernel::TRACEFS
        ),
        kernel::Tracefs::Unreadable { mode, .. } => eprintln!(
            "note: tracefs at {} (mode {mode:o}) is not readable here; support is guessed \
             from nothing. Run as root or with CAP_DAC_READ_SEARCH",
            kernel::TRACEFS
        ),
    }
    out.push_str(&format!("{:<10} {:<9} records\n", "group", "supported"));
    for r in &rows {
        out.push_str(&format!(
            "{:<10} {:<9} {}\n",
            r["group"].as_str().unwrap_or(""),
            r["supported"].as_str().unwrap_or(""),
            r["about"].as_str().unwrap_or("")
        ));
        for p in r["programs"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{:<20} {:<9} {}{}\n",
                "",
                p["method"].as_str().unwrap_or(""),
                p["target"].as_str().unwrap_or(""),
                match p["state"].as_str() {
                    Some("missing") => "  [missing on this kernel]",
                    Some("standby") => "  [standby: stands in where needed]",
                    _ => "",
                }
            ));
        }
        for o in r["options"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{:<20} option    {} N: {}\n",
                "",
                o["flag"].as_str().unwrap_or(""),
                o["cost"].as_str().unwrap_or("")
            ));
        }
        out.push_str(&format!(
            "{:<20} tables: {}\n",
            "",
            r["tables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    print_stdout(&out)
}

/// Writes all of `text` to stdout; a full or broken stdout is an error
/// that says it was stdout.
fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing the probe list to stdout")
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`memrec probes |
    // head`) would panic. Die of it quietly instead, like other Unix tools:
    // memrec prints only lists and the final summary, after the file is done.
    // SAFETY: restoring a default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // Batches are built on one thread and freed on the writer's: with one
    // malloc arena per thread, freed memory strands in each. Two arenas and
    // an early trim keep the resident size near what is in use.
    // SAFETY: mallopt only sets allocator parameters, before other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 10);
    }
    let cli: Cli = memtrace_cli::error::parse_args("memrec");
    // MEMREC_LOG was memrec's own name for MEMTRACE_LOG; it still works.
    if std::env::var_os(memtrace_cli::logging::LOG_ENV).is_none() {
        if let Some(v) = std::env::var_os("MEMREC_LOG") {
            // No other thread exists yet.
            std::env::set_var(memtrace_cli::logging::LOG_ENV, v);
        }
    }
    memtrace_cli::logging::init(cli.verbose);
    let result = match cli.command {
        Command::Probes { json } => probes_command(json).map(|()| None),
        Command::Completions(a) => {
            let mut stdout = std::io::stdout().lock();
            memtrace_cli::completions::run_completions::<Cli>(&a, &mut stdout);
            stdout
                .flush()
                .context("writing the completions to stdout")
                .map(|()| None)
        }
        Command::Man(a) => {
            let mut stdout = std::io::stdout().lock();
            memtrace_cli::completions::run_man::<Cli>(&a, &mut stdout)
                .map_err(anyhow::Error::from)
                .and_then(|files| {
                    for f in files {
                        writeln!(stdout, "{}", f.display()).context("writing to stdout")?;
                    }
                    Ok(None)
                })
        }
        Command::Recover(a) => recover::recover(&recover::RecoverOptions {
            path: a.path,
            output: a.output,
            force: a.force,
            keep_segments: a.keep_segments,
        })
        .and_then(|r| {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(recover::report(&r).as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing the report to stdout")
                .map(|()| None)
        }),
        Command::Record(a) => {
            let ring_mb = a.ring_mb.clamp(1, 1024).next_power_of_two();
            let (mode, triggers) = mode_of(&a);
            // A rotation period shorter than the checkpoint closes segments
            // that often.
            let checkpoint = match a.rotate.and_then(|r| r.every) {
                Some(every) => a.checkpoint.min(every),
                None => a.checkpoint,
            };
            let disabled = disabled_programs(&a);
            record::record(record::RecordOptions {
                output: a.output,
                force: a.force,
                duration: a.duration,
                groups: a.probes,
                pid: a.pid,
                comm: a.comm,
                cgroup: a.cgroup,
                interval: a.interval,
                procstat_interval: a.procstat_interval,
                disabled_programs: disabled,
                load_test: a.load_test,
                snapshot_gap: a.snapshot_gap,
                ring_bytes: ring_mb * 1024 * 1024,
                writer: writer::WriterOptions {
                    batch_rows: a.batch_rows.max(1),
                    row_group_rows: a.row_group_rows.max(1),
                    zstd_level: a.zstd_level,
                    ..Default::default()
                },
                progress: !a.no_progress,
                stack_every: a.fault_stacks.map(|n| ("faults", n)).into_iter().collect(),
                alloc: probes::alloc::AllocSettings {
                    sample_bytes: a.alloc_sample.unwrap_or(0),
                    min_size: a.alloc_min_size.unwrap_or(0),
                    stacks: !a.no_alloc_stacks,
                },
                kmem_caches: a.kmem_cache.clone(),
                checkpoint,
                mode,
                triggers,
                oom_score_adj: (!a.no_oom_protect).then_some(a.oom_score_adj),
                command_line: std::env::args_os()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                command: (!a.command.is_empty()).then(|| command::CommandSpec {
                    argv: a.command.clone(),
                    follow: !a.all,
                }),
            })
            .map(|o| o.command_status)
        }
    };
    match result {
        // The command's status, as a shell gives it (0..=255).
        Ok(Some(status)) => ExitCode::from(u8::try_from(status.clamp(0, 255)).unwrap_or(255)),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memrec: {}", memtrace_cli::error::one_line(&e));
            if let Some(c) = e.downcast_ref::<command::CommandError>() {
                ExitCode::from(c.exit_code())
            } else if e.downcast_ref::<record::UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        // Every duration flag of memrec parses through the shared syntax
        // (memana's too): the same value, only zero refused on top.
        for s in [
            "1m30s", "500ms", "10us", "30", "1.5s", "2h 5m", "0.25ms", "ten",
        ] {
            assert_eq!(
                parse_duration(s).ok(),
                memtrace_cli::parse_duration(s).ok(),
                "{s}"
            );
        }
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0s").is_err());
        // Too large for the recording's i64 nanoseconds: an error, not a panic.
        let e = parse_duration("99999999999999999999h").unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
