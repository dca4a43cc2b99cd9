//! membench: the memtrace benchmark suite. Generates memory events at a
//! controlled rate, runs fixed memory workloads, records them with memrec,
//! bpftrace, ftrace (trace_pipe_raw) and perf, and reports loss, overhead,
//! size and the recorder's own CPU and memory. See docs/BENCHMARKS.md.

mod fleet;
mod ftrace;
mod gen;
mod memrec;
mod report;
mod report_memleak;
mod results;
mod stale;
mod suite;
mod sys;
mod tracers;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Benchmarks memrec against bpftrace, ftrace and perf (needs root).
#[derive(Debug, Parser)]
#[command(name = "membench", version)]
struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate memory events at a target rate (prints a JSON report).
    Gen(gen::GenArgs),
    /// Run one fixed workload and print its wall time as JSON.
    Work {
        /// Pin the workload to this CPU first.
        #[arg(long)]
        cpu: Option<usize>,
        #[command(subcommand)]
        workload: work::Workload,
    },
    /// Record memrec's tracepoints with ftrace into DIR/cpuN.raw until
    /// SIGINT (prints a JSON summary).
    Ftrace {
        /// Output directory.
        #[arg(long)]
        dir: PathBuf,
        /// Per-CPU ring buffer size, KiB.
        #[arg(long, default_value_t = 8192)]
        buffer_kb: u64,
        /// Stop after this many seconds at the latest.
        #[arg(long, default_value_t = 3600)]
        max_seconds: u64,
        /// Tracepoints to record, `system:event`, comma-separated (default:
        /// those of the memrec next to membench).
        #[arg(long, value_delimiter = ',')]
        tracepoints: Option<Vec<String>>,
    },
    /// Count the events in ftrace raw files (cpuN.raw).
    CountRaw {
        /// Raw files.
        files: Vec<PathBuf>,
        /// Sub-buffer size in bytes.
        #[arg(long, default_value_t = 4096)]
        page: usize,
    },
    /// Compressed bytes and encodings of each column of a Parquet file,
    /// largest first (where a recording's bytes go).
    Columns {
        /// The file.
        file: PathBuf,
    },
    /// The whole suite: throughput, overhead, size, recorder CPU and memory.
    Suite(suite::SuiteArgs),
    /// Copies of recordings under other host names and ids (fleet test data;
    /// prints a JSON summary).
    Fleet(fleet::FleetArgs),
    /// Remove memcgs, tracefs instances and scratch files of dead membench runs.
    Cleanup,
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Gen(a) => {
            sys::install_signal_handlers();
            let r = gen::run(&a)?;
            println!("{}", serde_json::to_string(&r)?);
        }
        Command::Work { cpu, workload } => {
            if let Some(cpu) = cpu {
                sys::pin_to_cpu(cpu)?;
            }
            let r = work::run(&workload)?;
            println!("{}", serde_json::to_string(&r)?);
        }
        Command::Ftrace {
            dir,
            buffer_kb,
            max_seconds,
            tracepoints,
        } => {
            let tracepoints = match tracepoints {
                Some(t) => t,
                None => {
                    let exe = std::env::current_exe().context("finding membench itself")?;
                    memrec::probes(&exe.with_file_name("memrec"))?.tracepoints
                }
            };
            let max = Duration::from_secs(max_seconds);
            let s = ftrace::record(&dir, &tracepoints, buffer_kb, max)?;
            println!("{}", serde_json::to_string(&s)?);
        }
        Command::CountRaw { files, page } => {
            let c = ftrace::count_raw(&files, page)?;
            println!("{}", serde_json::to_string_pretty(&c)?);
        }
        Command::Columns { file } => {
            let rows = suite::file_rows(&file)?;
            println!(
                "{:<32} {:>12} {:>8} {:>9}  encodings",
                "column", "bytes", "share", "B/row"
            );
            let cols = suite::column_details(&file)?;
            let total: u64 = cols.iter().map(|c| c.bytes).sum();
            for c in &cols {
                println!(
                    "{:<32} {:>12} {:>7.1}% {:>9.3}  {}",
                    c.name,
                    c.bytes,
                    100.0 * c.bytes as f64 / total.max(1) as f64,
                    c.bytes as f64 / rows.max(1) as f64,
                    c.encodings
                );
            }
            let size = std::fs::metadata(&file)?.len();
            println!(
                "{rows} rows; column chunks {total} B ({:.3} B/row); file {size} B ({:.3} B/row)",
                total as f64 / rows.max(1) as f64,
                size as f64 / rows.max(1) as f64
            );
        }
        Command::Suite(a) => suite::run(a)?,
        Command::Fleet(a) => println!("{}", serde_json::to_string(&fleet::run(&a)?)?),
        Command::Cleanup => stale::remove_stale(),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The suite reports progress at info: shown by default, -v for debug.
    memtrace_cli::logging::init(cli.verbose.saturating_add(1));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("membench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
