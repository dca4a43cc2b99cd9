//! The report options `report`, `check` and `diff` share, and the
//! [`Filter`] they make.

use anyhow::{bail, Context, Result};
use clap::Args;
use memtrace_analyzer::filter::{Filter, LeakCriterion};
use memtrace_analyzer::recording::Recording;

/// What a report looks at.
#[derive(Args, Clone, Debug)]
pub struct FilterArgs {
    /// Start of the window, relative to the recording start (500ms, 10s, 2m, 1h, 1m30s).
    #[arg(long, value_name = "DURATION")]
    pub from: Option<String>,
    /// End of the window (excluded), relative to the recording start.
    #[arg(long, value_name = "DURATION")]
    pub to: Option<String>,
    /// Only rows of this process (tgid); OOM kills: this victim pid.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Only rows of this command name (exact match); OOM kills: this victim comm.
    #[arg(long)]
    pub comm: Option<String>,
    /// Rows kept in ranked tables (processes, per-process latency, shrinkers); 0 keeps all.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// How far before an allocation failure to count reclaim and compaction.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub window: String,
    /// How far before an OOM kill to look at the victim's growth.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub oom_window: String,
    /// Leak criterion: at least this many procstat samples.
    #[arg(long, default_value_t = 10)]
    pub leak_min_samples: usize,
    /// Leak criterion: at least this long between the first and last sample.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub leak_min_span: String,
    /// Leak criterion: at least this R² of the linear fit.
    #[arg(long, default_value_t = 0.99)]
    pub leak_min_r2: f64,
    /// Leak criterion: total RSS grew at least this much (4096, 512K, 1M).
    #[arg(long, value_name = "SIZE", default_value = "1M")]
    pub leak_min_growth: String,
    /// Leak criterion: gave back at most this share of its rises (0 to 1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.1)]
    pub leak_max_given_back: f64,
    /// A directory of debug files for naming the code in sampled stacks
    /// (repeatable), searched by build-id (`DIR/.build-id/ab/cdef….debug`),
    /// by the recorded path under DIR, and by file name; /usr/lib/debug and
    /// the recorded paths themselves are searched too. A file is used only
    /// if its build-id is the recorded one.
    #[arg(long, value_name = "DIR")]
    pub debuginfo: Vec<std::path::PathBuf>,
}

pub fn build_filter(a: &FilterArgs, rec: &Recording) -> Result<Filter> {
    let dur =
        |flag: &str, v: &str| memtrace_cli::parse_duration(v).with_context(|| format!("--{flag}"));
    let ns = |flag: &str, v: &str| -> Result<i64> {
        let d = dur(flag, v)?;
        // Every parsed duration fits; the check keeps it so.
        memtrace_cli::duration::as_nanos_i64(d).with_context(|| format!("--{flag} {v}: too large"))
    };
    let from = a.from.as_deref().map(|v| dur("from", v)).transpose()?;
    let to = a.to.as_deref().map(|v| dur("to", v)).transpose()?;
    if !(0.0..=1.0).contains(&a.leak_min_r2) {
        bail!("--leak-min-r2 must be between 0 and 1");
    }
    if !(0.0..=1.0).contains(&a.leak_max_given_back) {
        bail!("--leak-max-given-back must be between 0 and 1");
    }
    let min_growth = memtrace_cli::size::parse_size(&a.leak_min_growth)
        .with_context(|| format!("--leak-min-growth {}", a.leak_min_growth))?;
    let (from_ns, to_ns) = memtrace_analyzer::filter::window(
        rec.start_ns,
        rec.end_ns,
        a.from.as_deref().zip(from),
        a.to.as_deref().zip(to),
    )
    .with_context(|| rec.name.clone())?;
    Ok(Filter {
        from_ns,
        to_ns,
        pid: a.pid,
        comm: a.comm.clone(),
        cgroup: None,
        top: a.top,
        window_ns: ns("window", &a.window)?,
        oom_window_ns: ns("oom-window", &a.oom_window)?,
        leak: LeakCriterion {
            min_samples: a.leak_min_samples,
            min_span_ns: ns("leak-min-span", &a.leak_min_span)?,
            min_r2: a.leak_min_r2,
            min_growth,
            max_given_back: a.leak_max_given_back,
        },
        debuginfo: a.debuginfo.clone(),
    })
}
