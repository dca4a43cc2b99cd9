//! memrec: records the Linux memory subsystem's tracepoints into one
//! self-describing Parquet file.

mod bpf;
mod kernel;
mod preflight;
mod printfmt;
mod probes;
mod record;
mod timer;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Record-and-replay tracer for the Linux memory subsystem: records kernel
/// memory tracepoints with eBPF into one zstd-compressed Parquet file, for
/// `memana` to analyse anywhere.
#[derive(Debug, Parser)]
#[command(name = "memrec", version, propagate_version = true)]
struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record until Ctrl-C, SIGTERM or --duration, then write the file.
    Record(Box<RecordArgs>),
    /// List probe groups, what each records, and whether this kernel supports it.
    Probes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
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
    /// Probe groups to record, comma-separated (default: all). Named groups
    /// that this kernel cannot record are an error; defaults are skipped.
    #[arg(short, long, value_delimiter = ',')]
    probes: Option<Vec<String>>,
    /// Only record events of this process (tgid). Node-wide state is always recorded.
    #[arg(long)]
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
    /// Most rows per Parquet row group (each holds one table).
    #[arg(long, default_value_t = 1 << 20)]
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
}

/// Programs the options leave out.
fn disabled_programs(a: &RecordArgs) -> Vec<String> {
    let mut off = Vec::new();
    if a.procstat_sampler == Sampler::Rss {
        off.push("procstat_tick".to_string());
    }
    if a.load_test.is_none() {
        off.push(probes::procstat::SYNTHETIC_PROGRAM.to_string());
    }
    off
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sampler {
    Timer,
    Rss,
}

/// Parses `500ms`, `30s`, `5m`, `2h` or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s or 5m"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("`{s}` must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn probes_command(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for g in probes::GROUPS {
        let progs: Vec<serde_json::Value> = g
            .programs
            .iter()
            .map(|p| {
                serde_json::json!({
                    "program": p.name,
                    "target": p.target,
                    "method": p.method.name(),
                    "available": p.available().is_ok(),
                })
            })
            .collect();
        let available = progs.iter().filter(|p| p["available"] == true).count();
        let tables: Vec<&str> = g.tables.iter().map(|t| t.name).collect();
        rows.push(serde_json::json!({
            "group": g.name,
            "about": g.about,
            "tables": tables,
            "supported": if available == progs.len() { "yes" } else if available == 0 { "no" } else { "partly" },
            "programs": progs,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if !kernel::tracefs_mounted() {
        eprintln!(
            "note: tracefs is not mounted at {}; support is guessed from nothing. \
             `memrec record` mounts it, or run `mount -t tracefs tracefs {}`",
            kernel::TRACEFS,
            kernel::TRACEFS
        );
    }
    println!("{:<10} {:<9} records", "group", "supported");
    for r in &rows {
        println!(
            "{:<10} {:<9} {}",
            r["group"].as_str().unwrap_or(""),
            r["supported"].as_str().unwrap_or(""),
            r["about"].as_str().unwrap_or("")
        );
        for p in r["programs"].as_array().into_iter().flatten() {
            println!(
                "{:<20} {:<9} {}{}",
                "",
                p["method"].as_str().unwrap_or(""),
                p["target"].as_str().unwrap_or(""),
                if p["available"] == true {
                    ""
                } else {
                    "  [missing on this kernel]"
                }
            );
        }
        println!(
            "{:<20} tables: {}",
            "",
            r["tables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEMREC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
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
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Probes { json } => probes_command(json),
        Command::Record(a) => {
            let ring_mb = a.ring_mb.clamp(1, 1024).next_power_of_two();
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
                command_line: std::env::args().collect(),
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memrec: {e:#}");
            if e.downcast_ref::<record::UsageError>().is_some() {
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
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
