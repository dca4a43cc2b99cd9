//! The report options `report`, `check` and `diff` share, and the
//! [`Filter`] they make.

use anyhow::{bail, Context, Result};
use clap::Args;
use memtrace_analyzer::filter::{Filter, LeakCriterion};
use memtrace_analyzer::recording::Recording;

/// What a report looks at.
#[derive(Args, Clone, Debug)]
pub struct FilterArgs {
    /// Start of the window: an offset from the recording's start (500ms,
    /// 10s, 1m30s) or an RFC 3339 time (2026-11-30T08:09:00Z). A window
    /// that misses the recording is an error.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the window (excluded), as --from.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only rows of this process (tgid); OOM kills: this victim pid.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Only rows of this command name (exact match); OOM kills: this victim comm.
    #[arg(long)]
    pub comm: Option<String>,
    /// Only rows of tasks in this memory cgroup or below it, as reports show
    /// its path (/a/b) or with the controller's mount (/sys/fs/cgroup/memory/a/b);
    /// OOM kills: victims in it.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<String>,
    /// Rows kept in ranked tables (processes, per-process latency, shrinkers); 0 keeps all.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// How far before an allocation failure to count reclaim and compaction.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub window: String,
    /// A reclaim or compaction pass at least this long is a stall finding
    /// (a warning); shorter ones are reported as information.
    #[arg(long, value_name = "DURATION", default_value = "10ms")]
    pub stall: String,
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
    #[arg(long, default_value_t = 0.98)]
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
    if !(0.0..=1.0).contains(&a.leak_min_r2) {
        bail!("--leak-min-r2 must be between 0 and 1");
    }
    if !(0.0..=1.0).contains(&a.leak_max_given_back) {
        bail!("--leak-max-given-back must be between 0 and 1");
    }
    let min_growth = memtrace_cli::size::parse_size(&a.leak_min_growth)
        .with_context(|| format!("--leak-min-growth {}", a.leak_min_growth))?;
    let (from_ns, to_ns) = window(a.from.as_deref(), a.to.as_deref(), rec)?;
    let cgroup = a
        .cgroup
        .as_deref()
        .map(|c| memtrace_analyzer::filter::cgroup_scope(c, &rec.meta.cgroups))
        .transpose()
        .with_context(|| rec.name.clone())?;
    Ok(Filter {
        from_ns,
        to_ns,
        pid: a.pid,
        comm: a.comm.clone(),
        cgroup: cgroup.as_ref().map(|c| c.path.clone()),
        cgroup_scope: cgroup,
        top: a.top,
        window_ns: ns("window", &a.window)?,
        oom_window_ns: ns("oom-window", &a.oom_window)?,
        stall_ns: ns("stall", &a.stall)?,
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

/// `--from`/`--to` (offsets or RFC 3339 times) as the `[from, to)` window in
/// `ts_ns`; an error when it misses the recording.
pub fn window(
    from: Option<&str>,
    to: Option<&str>,
    rec: &Recording,
) -> Result<(Option<i64>, Option<i64>)> {
    let time = |flag: &str, v: &str| {
        memtrace_analyzer::filter::parse_time(v).with_context(|| format!("--{flag}"))
    };
    let from_t = from.map(|v| time("from", v)).transpose()?;
    let to_t = to.map(|v| time("to", v)).transpose()?;
    let wall_offset = rec
        .meta
        .to_realtime_ns(rec.start_ns)
        .and_then(|w| w.checked_sub(rec.start_ns));
    memtrace_analyzer::filter::window_at(
        rec.start_ns,
        rec.end_ns,
        wall_offset,
        from.zip(from_t),
        to.zip(to_t),
    )
    .with_context(|| rec.name.clone())
}
