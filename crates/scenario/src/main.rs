//! memscen: creates named, bounded memory situations on the running kernel
//! (memcg reclaim, OOM kills, order-9 allocation failures, a steady leak,
//! swapping to zram, compaction) and writes down what happened, so a
//! recording taken at the same time can be checked against it.
//!
//! Exit codes of `memscen run`: 0 the situation happened, 1 it ran but the
//! situation did not happen, 2 setup or runtime error (not root, no memcg
//! controller, ...), 128+N when stopped by signal N (after cleaning up).

mod cgroup;
mod hugetlb;
mod kmsg;
mod procfs;
mod scenarios;
mod supervise;
mod sys;
mod truth;
mod worker;
mod zram;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use scenarios::{RunConfig, Scale, ScenarioName};

/// Create named, controlled memory situations on the running kernel and
/// record their ground truth.
#[derive(Debug, Parser)]
#[command(name = "memscen", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the scenarios with a one-line description.
    List,
    /// Run one scenario (as root). Exit 0: the situation happened; 1: it
    /// did not; 2: setup error.
    Run(RunArgs),
    /// A workload process (memscen re-executes itself; not for direct use).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario to run (see `memscen list`).
    #[arg(value_enum)]
    scenario: ScenarioName,
    /// Write the ground truth as JSON to this file.
    #[arg(long, value_name = "FILE.json")]
    truth: Option<PathBuf>,
    /// Sizes and durations: `small` finishes in seconds (CI), `normal` is full size.
    #[arg(long, value_enum, default_value_t = Scale::Normal)]
    scale: Scale,
    /// leak: growth rate in MiB/s [default: 4].
    #[arg(long, value_name = "MIB")]
    leak_rate: Option<u64>,
    /// leak: how long to grow, in seconds [default: 10, small: 3].
    #[arg(long, value_name = "SECONDS")]
    leak_seconds: Option<u64>,
    /// fragment: also write 1 to /proc/sys/vm/compact_memory (full compaction).
    #[arg(long)]
    compact_memory: bool,
}

fn run(args: RunArgs) -> Result<bool> {
    sys::install_signal_handlers()?;
    cgroup::remove_stale_mounts();
    let memcgs = cgroup::Hierarchy::detect()?;
    memcgs.remove_stale();
    scenarios::run(&RunConfig {
        memcgs: &memcgs,
        scenario: args.scenario,
        scale: args.scale,
        truth: args.truth,
        leak_rate_mib_per_s: args.leak_rate,
        leak_seconds: args.leak_seconds,
        compact_memory: args.compact_memory,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::List => {
            for s in ScenarioName::ALL {
                println!("{:<14} {}", s.as_str(), s.description());
            }
            ExitCode::SUCCESS
        }
        Cmd::Worker(args) => match worker::main(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("memscen worker: {e:#}");
                ExitCode::from(1)
            }
        },
        Cmd::Run(args) => {
            if sys::euid() != 0 {
                eprintln!("memscen: must run as root (euid {})", sys::euid());
                return ExitCode::from(2);
            }
            // Progress of a scenario is info: shown unless MEMTRACE_LOG says otherwise.
            memtrace_cli::logging::init(1);
            match run(args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    // Cleanup has already run: every guard lived inside `run`.
                    // A signal may also surface as another error (an
                    // interrupted write), so the pending signal decides.
                    if let Some(sig) = sys::pending_signal() {
                        if e.downcast_ref::<sys::Interrupted>().is_some() {
                            eprintln!("memscen: {e}, cleaned up");
                        } else {
                            eprintln!(
                                "memscen: {e:#} (interrupted by {}), cleaned up",
                                sys::signal_name(sig)
                            );
                        }
                        return ExitCode::from(128u8.saturating_add(sig as u8));
                    }
                    eprintln!("memscen: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
