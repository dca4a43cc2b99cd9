//! memana: reports, metadata, regression gates and diffs of memtrace recordings.

use anyhow::{bail, Context, Result};
use args::{build_filter, FilterArgs};
use clap::{Args, Parser, Subcommand};
use memtrace_analyzer::filter::Filter;
use memtrace_analyzer::fleet::Fleet;
use memtrace_analyzer::inputs;
use memtrace_analyzer::metrics::{self, Metrics};
use memtrace_analyzer::model::{Status, Table};
use memtrace_analyzer::recording::{ranges_text, Recording};
use memtrace_analyzer::render::{self, Format};
use memtrace_analyzer::report::Report;
use memtrace_analyzer::sections::leaks;
use memtrace_analyzer::{diff, junit, rules};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

mod args;

/// See the workspace's Cargo.toml for why not the system's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Offline reports and regression gates over memtrace recordings.
///
/// PATH is a Parquet file, a directory (its *.parquet files, those of its
/// .segments/ and of its subdirectories), a glob ('fleet/**/*.parquet'), or
/// several of these. The files are grouped into recordings (the segments of
/// one recording are read as one); several recordings are a fleet, read
/// together with host and recording as dimensions. A PATH memrec did not
/// finish (PATH.segments/ but no PATH) is read from its closed segments,
/// with a warning.
///
/// Exit status: 0 success, 1 a gate broke: `check` found broken rules or
/// `diff --fail-over` a metric over the limit (even when stdout or the
/// JUnit file could not be written), 2 unusable input (missing, damaged,
/// empty or too new a file, bad arguments or rules) or output that could
/// not be written.
#[derive(Parser)]
#[command(name = "memana", version, after_help = MEMANA_EXAMPLES)]
struct Cli {
    /// How much memana logs on stderr. MEMTRACE_LOG (a tracing filter
    /// such as `debug`) overrides it.
    #[arg(
        long,
        value_enum,
        default_value = "warn",
        global = true,
        value_name = "LEVEL"
    )]
    log: LogLevel,
    #[command(subcommand)]
    cmd: Cmd,
}

/// `memana leaks`'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LeaksFormat {
    /// Each stack with its bytes, allocations, ages and frames (leaf first).
    Text,
    /// The same, with every frame's function, module, offset and address.
    Json,
    /// `comm;root;...;leaf bytes` lines, weighted by (estimated) bytes.
    Folded,
}

/// What `memana leaks` looks at.
#[derive(Args, Clone, Debug)]
struct LeaksArgs {
    /// Start of the window: an offset from the recording's start (500ms,
    /// 10s, 1m30s) or an RFC 3339 time (2026-11-30T08:09:00Z); only
    /// allocations made from then on count.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the window (excluded), as --from: what is not freed by then is outstanding.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Only allocations of this process (tgid).
    #[arg(long)]
    pid: Option<u32>,
    /// Only allocations made by tasks with this command name (exact match).
    #[arg(long)]
    comm: Option<String>,
    /// Stacks printed (text, json), largest first; 0 prints all. Folded output is never cut.
    #[arg(long, default_value_t = 20)]
    top: usize,
    #[arg(long, value_enum, default_value = "text")]
    format: LeaksFormat,
    /// Only the user heap (memleak).
    #[arg(long, conflicts_with = "kernel")]
    user: bool,
    /// Only kernel allocations (kmemleak).
    #[arg(long)]
    kernel: bool,
    /// A directory of debug files for naming user frames (repeatable), searched by
    /// build-id, by the recorded path under DIR and by file name; /usr/lib/debug and
    /// the recorded paths are searched too.
    #[arg(long, value_name = "DIR")]
    debuginfo: Vec<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    #[command(about = report_about(), long_about = report_long_about(), after_help = REPORT_EXAMPLES)]
    Report {
        /// The recording: a file (memrec record -o FILE), a directory of
        /// segments or merged files, a glob, or several of these; several
        /// recordings (hosts) are reported on as one fleet.
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Only these sections (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', value_parser = section_values())]
        section: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Every table of every section, the recording's settings and the
        /// sections with nothing to show (text and markdown; JSON and CSV
        /// always have everything).
        #[arg(short, long)]
        verbose: bool,
        /// Write the report to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print the recording's metadata: host, kernel, probes, time span, events and losses.
    #[command(after_help = "Examples:\n  \
        memana info run.parquet\n  \
        memana info runs/ --format json | jq .recording\n  \
        memana info 'fleet/host-*/run.parquet'   # several files as one recording")]
    Info {
        /// The recording: a file, a directory, a glob, or several.
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check rules over the report's metrics; exit 1 when one is broken.
    ///
    /// A rule compares a metric (`memana metrics` lists them) with a number,
    /// or with the same metric in a baseline recording. A broken rule prints
    /// FAIL with its value and, from a rules file, its description.
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// The recording: a file, a directory, a glob, or several.
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// TOML file: rules = ["paf.failures == 0", ...] and/or [[rule]] tables
        /// with expr = "..." and description = "...".
        #[arg(long)]
        rules: Option<PathBuf>,
        /// A rule on the command line (repeatable), e.g. 'reclaim.direct.p99_ms < 50'
        /// or 'reclaim.direct.p99_ms <= baseline + 20%'.
        #[arg(long = "rule", value_name = "RULE")]
        rule: Vec<String>,
        /// The recording rules with `baseline` compare with (a file, a
        /// directory or a glob; repeat for several files), read with the same
        /// report options.
        #[arg(long, value_name = "PATH")]
        baseline: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also write the results as JUnit XML (one test case per rule).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Show every metric of two recordings, largest relative change first.
    ///
    /// Each recording is a file, a directory or a glob; to give one as
    /// several paths, put `--` between the two: BEFORE... -- AFTER...
    /// Values print in their units in text and markdown (raw in JSON and
    /// CSV); --top cuts the text and markdown table. --fail-over PCT makes
    /// it a gate: exit 1 when a metric's relative change exceeds PCT.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff {
        /// BEFORE AFTER, or the paths of BEFORE when AFTER follows `--`.
        #[arg(required = true, value_name = "PATH")]
        before: Vec<PathBuf>,
        /// The paths of AFTER.
        #[arg(last = true, value_name = "AFTER")]
        after: Vec<PathBuf>,
        /// Leave out metrics that did not change.
        #[arg(long)]
        changed_only: bool,
        /// Exit 1 when a metric's relative change exceeds PCT percent: 20
        /// either way, +20 up only, -20 down only; from 0 counts as infinite.
        #[arg(long, value_name = "PCT", allow_hyphen_values = true)]
        fail_over: Option<String>,
        /// Gate only metrics whose key contains PATTERN (`*` matches any
        /// characters; repeatable): e.g. p99_ms, 'reclaim.*.efficiency'.
        #[arg(long, value_name = "PATTERN", requires = "fail_over")]
        only: Vec<String>,
        /// Also write the gate's results as JUnit XML (one test case per
        /// gated metric); needs --fail-over.
        #[arg(long, value_name = "FILE", requires = "fail_over")]
        junit: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// List every metric key with its unit and value, by section.
    ///
    /// These are the keys `check` rules and `diff` use. Text and markdown
    /// show values in their units; JSON and CSV give them raw.
    #[command(after_help = METRICS_EXAMPLES)]
    Metrics {
        /// The recording: a file, a directory, a glob, or several.
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Only keys containing PATTERN (`*` matches any characters;
        /// repeatable): e.g. p99, 'reclaim.*.p99_ms', 'comm="java"'.
        #[arg(long, value_name = "PATTERN")]
        grep: Vec<String>,
        /// Only these sections (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', value_parser = section_values())]
        section: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print the allocations outstanding at a window's end, by stack (memleak, kmemleak).
    ///
    /// Outstanding: allocated in [--from, --to) and not freed by its end; the
    /// user heap (memleak) and kernel allocations (kmemleak), with symbolized
    /// frames. Byte-sampled recordings (--alloc-sample) give estimates.
    #[command(after_help = "Examples:\n  \
        memana leaks run.parquet --from 30s --to 5m\n  \
        memana leaks run.parquet --user --pid 1234 --debuginfo ./debug\n  \
        memana leaks run.parquet --format folded > leaks.folded   # flamegraph.pl, inferno, speedscope")]
    Leaks {
        /// The recording (memrec record -o FILE --probes +memleak or +kmemleak):
        /// a file, a directory, a glob, or several.
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        args: LeaksArgs,
    },
    /// Write a recording in another tool's format: a Perfetto trace, or the
    /// hive layout that Spark, Trino and DuckDB read.
    #[command(after_help = "Examples:\n  \
        memana export run.parquet --perfetto run.pftrace   # open in ui.perfetto.dev\n  \
        memana export runs/ --hive lake/                   # lake/<table>/host=H/date=D/*.parquet")]
    Export {
        /// The recordings: files, directories, globs.
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Write a Perfetto trace (protobuf TracePacket stream) to FILE.
        #[arg(long, value_name = "FILE", required_unless_present = "hive")]
        perfetto: Option<PathBuf>,
        /// Write every table in the hive layout under DIR.
        #[arg(long, value_name = "DIR")]
        hive: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Run SQL over the recordings' tables, each a view with plain column names.
    ///
    /// Each table is a view named as the table (procstat, oom_victim, ...)
    /// with ts_ns, time_ns and time (wall clock, UTC), host, recording, the
    /// common columns and the table's own columns without their `table.`
    /// prefix (`memana sql --list` prints them; docs/SQL.md). Several
    /// recordings are one view per table; host and recording tell them
    /// apart. Polars SQL; only the tables the query names are read.
    #[command(after_help = SQL_EXAMPLES)]
    Sql {
        /// The recordings (files, directories, globs), then the query.
        #[arg(value_name = "PATH... QUERY", required_unless_present = "list")]
        args: Vec<String>,
        /// List the views and their columns.
        #[arg(long)]
        list: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: memtrace_analyzer::sql::SqlFormat,
        /// Write the result to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print a shell completion script for memana to stdout.
    #[command(after_help = memtrace_cli::completions::completions_help("memana"))]
    Completions(memtrace_cli::completions::Completions),
    /// Print memana's man page, or write all its pages into a directory.
    #[command(after_help = memtrace_cli::completions::man_help("memana"))]
    Man(memtrace_cli::completions::Man),
    /// Print the recording schema.
    #[command(after_help = "Examples:\n  \
        memana schema                 # every column with its type and unit\n  \
        memana schema --markdown      # docs/SCHEMA.md
        memana schema --sql duckdb    # sql/duckdb/views.sql (also spark, trino)")]
    Schema {
        /// As Markdown (docs/SCHEMA.md).
        #[arg(long)]
        markdown: bool,
        /// The views as SQL for an engine (the files under sql/).
        #[arg(long, value_enum, value_name = "ENGINE", conflicts_with = "markdown")]
        sql: Option<memtrace_analyzer::sql::Dialect>,
    },
}

const MEMANA_EXAMPLES: &str = "Examples:
  memana report run.parquet                      # what happened, findings first
  memana report runs/ --cgroup /db --from 2026-11-30T08:00:00Z --to 10m
  memana info 'incidents/*.parquet'              # host, kernel, probes, losses
  memana check run.parquet --rules gates.toml --junit gates.xml
  memana diff before.parquet after.parquet --fail-over 20
  memana diff fleet-main/ fleet-pr/               # two fleets, paired by host
  memana metrics run.parquet --grep p99          # the keys rules and diff use
  memana leaks run.parquet --format folded > leaks.folded
  memana completions bash > /etc/bash_completion.d/memana";

/// `--log`'s levels, as counts of the shared logging setup's `-v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogLevel {
    Warn = 0,
    Info = 1,
    Debug = 2,
    Trace = 3,
}

/// What a command produced: its output, and for a gate (`check`, `diff
/// --fail-over`) its verdict and JUnit file.
struct Done {
    text: String,
    gate: Option<Verdict>,
    /// Where to write the JUnit XML, and the document.
    junit: Option<(PathBuf, String)>,
}

/// A gate's verdict: `broken` of `total` checks failed, as stderr names
/// them when the output could not be written ("rules broken").
struct Verdict {
    broken: usize,
    total: usize,
    what: &'static str,
}

impl Done {
    fn ok(text: String) -> Done {
        Done {
            text,
            gate: None,
            junit: None,
        }
    }
}

/// Runs the command; every error is one line on stderr and exit status 2,
/// a panic included (no stack trace).
/// `report`'s one-line help: the sections, in report order.
fn report_about() -> String {
    let ids: Vec<&str> = memtrace_analyzer::sections::ids().collect();
    format!("Print the report: {}", ids.join(", "))
}

/// `report`'s long help: what it prints first.
fn report_long_about() -> String {
    format!(
        "{}\n\n\
         The text report opens with the findings, ranked: OOM kills, allocation \
         failures, leak suspects, reclaim and compaction stalls, watermark \
         breaches, lost events; each names the section with its details. The key \
         tables follow, cut to fit one screen; --verbose prints every table, \
         --section one section whole.",
        report_about()
    )
}

const REPORT_EXAMPLES: &str = "Examples:
  memana report run.parquet                          # findings and key tables
  memana report run.parquet -v                       # every table
  memana report run.parquet --section oom,reclaim    # two sections, whole
  memana report runs/ --from 2026-11-30T08:09:00Z --to 5m
  memana report run.parquet --cgroup /system.slice/db.service --pid 4242
  memana report run.parquet --format json | jq '.findings[0]'
  memana report run.parquet --format html -o report.html   # charts; one file, works offline
  memana report 'fleet/**/*.parquet'                 # many hosts and recordings as one fleet";

/// `--section`'s values: the ids of the sections' one list.
fn section_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(memtrace_analyzer::sections::ids())
}

fn main() -> ExitCode {
    static PANIC: Mutex<Option<String>> = Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut p) = PANIC.lock() {
            p.get_or_insert(format!("{msg}{at}"));
        }
    }));
    let cli: Cli = memtrace_cli::error::parse_args("memana");
    memtrace_cli::logging::init(cli.log as u8);
    match std::panic::catch_unwind(move || run(cli)) {
        Ok(Ok(done)) => finish(done),
        Ok(Err(e)) => {
            eprintln!("memana: {}", one_line(&e));
            ExitCode::from(2)
        }
        Err(_) => {
            let msg = PANIC
                .lock()
                .ok()
                .and_then(|p| p.clone())
                .unwrap_or_default();
            eprintln!(
                "memana: internal error: {}",
                memtrace_cli::error::escape(&msg)
            );
            ExitCode::from(2)
        }
    }
}

/// Writes the output (the JUnit file first) and picks the exit status. A
/// gate's verdict survives a failed write: a broken gate exits 1 whatever
/// happened to stdout or the JUnit file. A closed pipe (`| head`) ends a
/// successful run quietly; any other write error is an error naming what
/// could not be written, exit 2.
fn finish(done: Done) -> ExitCode {
    let junit = match &done.junit {
        Some((path, xml)) => std::fs::write(path, xml)
            .with_context(|| format!("cannot write the JUnit file {}", path.display())),
        None => Ok(()),
    };
    let stdout = emit(&done.text);
    let written = junit.and(stdout);
    let failed_gate = done.gate.filter(|v| v.broken > 0);
    match (written, failed_gate) {
        (Ok(()), None) => ExitCode::SUCCESS,
        (Ok(()), Some(_)) => ExitCode::from(1),
        (Err(e), None) if memtrace_cli::error::is_broken_pipe(&e) => ExitCode::SUCCESS,
        (Err(e), None) => {
            eprintln!("memana: {}", one_line(&e));
            ExitCode::from(2)
        }
        (Err(e), Some(v)) => {
            eprintln!(
                "memana: {}; {} of {} {}",
                one_line(&e),
                v.broken,
                v.total,
                v.what
            );
            ExitCode::from(1)
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    memtrace_cli::error::one_line(e)
}

fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    Ok(())
}

/// Opens the files the arguments name as one recording.
fn open(args: &[PathBuf]) -> Result<Recording> {
    let inputs = inputs::resolve(args)?;
    let rec = Recording::open_inputs(&inputs)?;
    tracing::debug!(
        rows = rec.num_rows,
        start = rec.start_ns,
        end = rec.end_ns,
        "opened {}",
        rec.name
    );
    Ok(rec)
}

/// Opens the files the arguments name as recordings: one, or a fleet.
fn open_fleet(args: &[PathBuf]) -> Result<Fleet> {
    let inputs = inputs::resolve(args)?;
    let fleet = Fleet::open(&inputs)?;
    for rec in &fleet.recordings {
        rec.require_rows()?;
    }
    Ok(fleet)
}

/// Each recording's filter, in fleet order. In a fleet, a recording the
/// window or the cgroup misses is left out (with a warning); the command
/// fails only when every recording is.
fn fleet_filters(args: &FilterArgs, fleet: &mut Fleet) -> Result<Vec<Filter>> {
    if fleet.is_single() {
        return fleet
            .recordings
            .iter()
            .map(|r| build_filter(args, r))
            .collect();
    }
    let mut filters = Vec::new();
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for rec in std::mem::take(&mut fleet.recordings) {
        match build_filter(args, &rec) {
            Ok(f) => {
                filters.push(f);
                kept.push(rec);
            }
            Err(e) => left_out.push((rec.name.clone(), e)),
        }
    }
    fleet.recordings = kept;
    if fleet.recordings.is_empty() {
        if let Some((_, e)) = left_out.pop() {
            let what = if e
                .downcast_ref::<memtrace_analyzer::filter::WindowError>()
                .is_some()
            {
                format!("the window misses every recording of {}", fleet.name)
            } else {
                format!("every recording of {} is left out", fleet.name)
            };
            return Err(e.context(what));
        }
    }
    for (name, e) in &left_out {
        tracing::warn!("left out {name}: {}", one_line(e));
    }
    Ok(filters)
}

/// The report over a fleet: one recording's own, or the recordings'
/// reports merged ([`memtrace_analyzer::fleet::merge`]).
fn fleet_report(fleet: &Fleet, filters: &[Filter], sections: &[String]) -> Result<Report> {
    let mut reports = Vec::with_capacity(fleet.recordings.len());
    for (rec, f) in fleet.recordings.iter().zip(filters) {
        reports.push(build_report(rec, f, sections)?);
    }
    one_or_merged(fleet, reports)
}

/// One recording's report as it is; several recordings' merged.
fn one_or_merged(fleet: &Fleet, mut reports: Vec<Report>) -> Result<Report> {
    if reports.len() == 1 {
        return reports.pop().context("no recording");
    }
    let recs: Vec<&Recording> = fleet.recordings.iter().collect();
    Ok(memtrace_analyzer::fleet::merge(&fleet.name, &recs, reports))
}

/// The fleet's hosts, sorted.
fn hosts_of(fleet: &Fleet) -> Vec<String> {
    fleet.hosts().into_iter().map(str::to_string).collect()
}

/// Writes a command's output to a file, naming it when that fails.
fn write_output(path: &std::path::Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn open_with_rows(args: &[PathBuf]) -> Result<Recording> {
    let rec = open(args)?;
    rec.require_rows()?;
    Ok(rec)
}

/// `diff`'s two recordings: `BEFORE AFTER`, or `BEFORE... -- AFTER...`.
fn diff_sides(before: Vec<PathBuf>, after: Vec<PathBuf>) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if !after.is_empty() {
        return Ok((before, after));
    }
    match <[PathBuf; 2]>::try_from(before) {
        Ok([a, b]) => Ok((vec![a], vec![b])),
        Err(v) => bail!(
            "diff takes two recordings, BEFORE AFTER (or BEFORE... -- AFTER...); {} {} given",
            v.len(),
            if v.len() == 1 {
                "path was"
            } else {
                "paths were"
            }
        ),
    }
}

memtrace_analyzer::report_row! {
    /// One fact about a recording's files.
    struct FilesRow {
        key: &'static str => None,
        value: memtrace_analyzer::model::Value => None,
    }
}

/// `info` on a recording of several files: how many, which segments of
/// which recording, and which are missing.
fn add_files(report: &mut Report, rec: &Recording) {
    if rec.files.len() < 2 {
        return;
    }
    let Some(header) = report.sections.iter_mut().find(|s| s.id == "header") else {
        return;
    };
    let mut t = Table::of::<FilesRow>("files", "Files of the recording");
    let mut row = |key, value: memtrace_analyzer::model::Value| {
        t.push_row(FilesRow { key, value });
    };
    row("files", rec.files.len().into());
    if let Some(s) = &rec.meta.segment {
        row("recording_id", s.recording_id.as_str().into());
    }
    let held: Vec<(u64, u64)> = rec
        .files
        .iter()
        .filter_map(|f| f.segment.as_ref().map(|s| (s.first, s.last)))
        .collect();
    row("segments", ranges_text(&merge_ranges(&held)).into());
    let missing = ranges_text(&rec.missing_segments);
    row(
        "missing_segments",
        if missing.is_empty() {
            memtrace_analyzer::model::Value::Null
        } else {
            missing.into()
        },
    );
    header.tables.insert(1, t);
}

/// Sorted ranges with adjacent ones joined: [(1,1),(2,5),(7,7)] -> [(1,5),(7,7)].
fn merge_ranges(r: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `memana leaks`'s window and process, as a report's filter.
fn leaks_filter(a: &LeaksArgs, rec: &Recording) -> Result<Filter> {
    let (from_ns, to_ns) = args::window(a.from.as_deref(), a.to.as_deref(), rec)?;
    Ok(Filter {
        from_ns,
        to_ns,
        pid: a.pid,
        comm: a.comm.clone(),
        top: a.top,
        debuginfo: a.debuginfo.clone(),
        ..Filter::default()
    })
}

fn build_report(rec: &Recording, filter: &Filter, sections: &[String]) -> Result<Report> {
    let report = Report::build(rec, filter, sections)?;
    if !sections.is_empty() {
        for s in &report.sections {
            if let Status::NotRecorded(why) = &s.status {
                bail!("{}: section `{}` cannot be computed: {why}", rec.name, s.id);
            }
        }
    }
    Ok(report)
}

fn render_report(r: &Report, format: Format, detail: render::Detail) -> String {
    match format {
        Format::Text => render::text::report(r, detail),
        Format::Json => render::json::to_string(&render::json::report(r)),
        Format::Csv => render::csv::report(r),
        Format::Markdown => render::markdown::report(r, detail),
        Format::Html => render::html::tables_page(r),
    }
}

fn run(cli: Cli) -> Result<Done> {
    match cli.cmd {
        Cmd::Report {
            files,
            section,
            format,
            verbose,
            output,
            filter,
        } => {
            let mut fleet = open_fleet(&files)?;
            let filters = fleet_filters(&filter, &mut fleet)?;
            let report = fleet_report(&fleet, &filters, &section)?;
            // One section asked for by name is shown whole.
            let detail = if verbose || !section.is_empty() {
                render::Detail::Full
            } else {
                render::Detail::Brief
            };
            let text = match format {
                Format::Html => render::html::page(&report, &fleet, &filters)?,
                _ => render_report(&report, format, detail),
            };
            match output {
                Some(path) => {
                    write_output(&path, &text)?;
                    Ok(Done::ok(String::new()))
                }
                None => Ok(Done::ok(text)),
            }
        }
        Cmd::Export {
            files,
            perfetto,
            hive,
            filter,
        } => {
            let fleet = open_fleet(&files)?;
            let mut said = String::new();
            if let Some(out) = &perfetto {
                let [rec] = fleet.recordings.as_slice() else {
                    bail!(
                        "--perfetto writes one recording's trace; {} names {} recordings",
                        fleet.name,
                        fleet.recordings.len()
                    );
                };
                let f = build_filter(&filter, rec)?;
                let w = memtrace_analyzer::export::perfetto::write(rec, &f, out)
                    .with_context(|| format!("--perfetto {}", out.display()))?;
                said.push_str(&format!("{}: {w}\n", out.display()));
            }
            if let Some(dir) = &hive {
                let mut fleet = fleet;
                let filters = fleet_filters(&filter, &mut fleet)?;
                let w = memtrace_analyzer::export::hive::write(&fleet, &filters, dir)
                    .with_context(|| format!("--hive {}", dir.display()))?;
                said.push_str(&format!("{}: {w}\n", dir.display()));
            }
            Ok(Done::ok(said))
        }
        Cmd::Info { files, format } => {
            let inputs = inputs::resolve(&files)?;
            let fleet = Fleet::open(&inputs)?;
            let header = ["header".to_string()];
            let mut reports = Vec::new();
            for rec in &fleet.recordings {
                let mut r = build_report(rec, &Filter::default(), &header)?;
                add_files(&mut r, rec);
                reports.push(r);
            }
            let report = one_or_merged(&fleet, reports)?;
            Ok(Done::ok(render_report(
                &report,
                format,
                render::Detail::Full,
            )))
        }
        Cmd::Check {
            files,
            rules: rules_file,
            rule,
            baseline,
            format,
            junit,
            filter,
        } => {
            let mut parsed = Vec::new();
            if let Some(p) = &rules_file {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
                parsed =
                    rules::parse_rules_toml(&text).with_context(|| format!("{}", p.display()))?;
            }
            for r in &rule {
                parsed.push(rules::parse_rule(r)?);
            }
            if parsed.is_empty() {
                bail!("no rules: give --rules FILE or --rule EXPR");
            }
            let uses_baseline = parsed.iter().find(|r| r.uses_baseline());
            match (uses_baseline, baseline.is_empty()) {
                (Some(r), true) => bail!(
                    "rule `{}` compares with `baseline`: give the baseline recording with --baseline PATH",
                    r.text
                ),
                (None, false) => {
                    tracing::warn!("--baseline is not used: no rule compares with `baseline`")
                }
                _ => {}
            }
            let mut fleet = open_fleet(&files)?;
            let filters = fleet_filters(&filter, &mut fleet)?;
            let base_fleet = match uses_baseline {
                Some(_) => {
                    let mut b = open_fleet(&baseline).context("--baseline")?;
                    let bf = fleet_filters(&filter, &mut b).context("--baseline")?;
                    Some((b, bf))
                }
                None => None,
            };
            let mut base_reports = Vec::new();
            if let Some((b, bf)) = &base_fleet {
                if !b.is_single() {
                    let recs: Vec<&Recording> = b.recordings.iter().collect();
                    if let Some(h) = memtrace_analyzer::fleet::repeated_host(&recs) {
                        bail!("--baseline: host {h} has several recordings; a baseline fleet pairs one recording per host");
                    }
                }
                for (rec, f) in b.recordings.iter().zip(bf) {
                    base_reports.push(build_report(rec, f, &[]).context("--baseline")?);
                }
            }
            // Each recording is held to the rules on its own; in a fleet
            // each outcome names its host and recording.
            let mut reports = Vec::with_capacity(fleet.recordings.len());
            let mut outcomes = Vec::new();
            for (rec, f) in fleet.recordings.iter().zip(&filters) {
                let report = build_report(rec, f, &[])?;
                let base = match base_reports.as_slice() {
                    [] => None,
                    [one] => Some(one),
                    many => Some(many.iter().find(|b| b.host == rec.host()).with_context(
                        || format!("--baseline has no recording of host {}", rec.host()),
                    )?),
                };
                let current = Metrics::of(&report);
                let base_metrics = base.map(Metrics::of);
                let mut got = rules::evaluate(&parsed, &current, base_metrics.as_ref());
                if !fleet.is_single() {
                    for o in &mut got {
                        o.rule = format!("{} {}: {}", rec.host(), rec.id(), o.rule);
                    }
                }
                outcomes.extend(got);
                reports.push(report);
            }
            let report = one_or_merged(&fleet, reports)?;
            let base_report = match &base_fleet {
                Some((b, _)) if !base_reports.is_empty() => Some(one_or_merged(b, base_reports)?),
                _ => None,
            };
            let broken = outcomes.iter().filter(|o| !o.ok).count();
            let junit = junit.map(|p| {
                let suite = junit::check(&outcomes, &report, base_report.as_ref());
                (p, suite.to_xml())
            });
            Ok(Done {
                text: render_check(&outcomes, &report, base_report.as_ref(), format),
                gate: Some(Verdict {
                    broken,
                    total: outcomes.len(),
                    what: "rules broken",
                }),
                junit,
            })
        }
        Cmd::Diff {
            before,
            after,
            changed_only,
            fail_over,
            only,
            junit,
            format,
            filter,
        } => {
            let gate = fail_over
                .as_deref()
                .map(|p| diff::Gate::parse(p, only))
                .transpose()?;
            let (before, after) = diff_sides(before, after)?;
            let mut a = open_fleet(&before)?;
            let mut b = open_fleet(&after)?;
            let fa = fleet_filters(&filter, &mut a)?;
            let fb = fleet_filters(&filter, &mut b)?;
            for (side, f) in [("BEFORE", &a), ("AFTER", &b)] {
                let recs: Vec<&Recording> = f.recordings.iter().collect();
                if let (false, Some(h)) = (
                    f.is_single(),
                    memtrace_analyzer::fleet::repeated_host(&recs),
                ) {
                    bail!("{side}: host {h} has several recordings; diff pairs the recordings of two fleets by host, one each");
                }
            }
            let ra = fleet_report(&a, &fa, &[])?;
            let rb = fleet_report(&b, &fb, &[])?;
            // One recording against a fleet: compared with each host's.
            let (ra, rb) = match (a.is_single(), b.is_single()) {
                (true, false) => (memtrace_analyzer::fleet::for_hosts(&ra, &hosts_of(&b)), rb),
                (false, true) => {
                    let rb = memtrace_analyzer::fleet::for_hosts(&rb, &hosts_of(&a));
                    (ra, rb)
                }
                _ => (ra, rb),
            };
            let d = diff::Diff::new(&ra, &rb, gate);
            let verdict = d.verdict();
            if let (Some((_, 0)), Some(g)) = (verdict, &d.gate) {
                // A gate over nothing would pass whatever changed.
                bail!(
                    "--only {}: no metric of both recordings matches (memana metrics lists the keys)",
                    g.only.join(" --only ")
                );
            }
            let junit = junit.map(|p| (p, junit::diff(&d, &ra, &rb).to_xml()));
            Ok(Done {
                text: diff::render(&d, &ra, &rb, format, changed_only, filter.top),
                gate: verdict.map(|(over, gated)| Verdict {
                    broken: over,
                    total: gated,
                    what: "metrics over the limit",
                }),
                junit,
            })
        }
        Cmd::Metrics {
            files,
            grep,
            section,
            format,
            filter,
        } => {
            let mut fleet = open_fleet(&files)?;
            let filters = fleet_filters(&filter, &mut fleet)?;
            let report = fleet_report(&fleet, &filters, &section)?;
            Ok(Done::ok(metrics::listing(&report, &grep, format)))
        }
        Cmd::Leaks { files, args } => {
            let rec = open_with_rows(&files)?;
            // This output has no place for warnings: how the files were
            // found (an unfinished recording, skipped partial segments, a
            // gap) goes to stderr.
            for w in &rec.notes {
                eprintln!("memana: warning: {w}");
            }
            let f = leaks_filter(&args, &rec)?;
            let sides = leaks::Sides {
                user: !args.kernel,
                kernel: !args.user,
            };
            let out = match leaks::outstanding(&rec, &f, sides, args.top) {
                Ok(o) => o,
                Err(leaks::LeaksError::NotRecorded(why)) => {
                    bail!("{}: no allocations to show: {why}", rec.name)
                }
                Err(leaks::LeaksError::Read(e)) => return Err(e.into()),
            };
            Ok(Done::ok(match args.format {
                LeaksFormat::Text => out.to_text(&rec.name),
                LeaksFormat::Json => render::json::to_string(&out.to_json(&rec.name)),
                LeaksFormat::Folded => out.to_folded(),
            }))
        }
        Cmd::Sql {
            args,
            list,
            format,
            output,
            filter,
        } => {
            let text = if list {
                memtrace_analyzer::sql::listing()
            } else {
                run_sql(&args, &filter, format)?
            };
            match output {
                Some(path) => {
                    write_output(&path, &text)?;
                    Ok(Done::ok(String::new()))
                }
                None => Ok(Done::ok(text)),
            }
        }
        Cmd::Completions(a) => {
            let mut out = Vec::new();
            memtrace_cli::completions::run_completions::<Cli>(&a, &mut out);
            Ok(Done::ok(String::from_utf8_lossy(&out).into_owned()))
        }
        Cmd::Man(a) => {
            let mut out = Vec::new();
            let written = memtrace_cli::completions::run_man::<Cli>(&a, &mut out)?;
            let mut text = String::from_utf8_lossy(&out).into_owned();
            for f in written {
                text.push_str(&format!("{}\n", f.display()));
            }
            Ok(Done::ok(text))
        }
        Cmd::Schema { markdown, sql } => {
            if let Some(d) = sql {
                Ok(Done::ok(memtrace_analyzer::sql::shipped(d)))
            } else if markdown {
                Ok(Done::ok(memtrace_schema::markdown::schema_markdown()))
            } else {
                let mut s = String::new();
                for c in memtrace_schema::COMMON {
                    s.push_str(&format!(
                        "{:<40} {:<8} {}\n",
                        c.name,
                        c.ty.name(),
                        c.unit.name()
                    ));
                }
                for t in memtrace_schema::tables() {
                    for c in t.columns {
                        let n = memtrace_schema::file_column_name(t.name, c.name);
                        s.push_str(&format!("{:<40} {:<8} {}\n", n, c.ty.name(), c.unit.name()));
                    }
                }
                Ok(Done::ok(s))
            }
        }
    }
}

memtrace_analyzer::report_row! {
    /// One rule's outcome.
    struct CheckRow {
        result: &'static str => None,
        rule: String => None,
        metric: String => None,
        value: Option<memtrace_analyzer::model::Value> => None,
        unit: &'static str => None,
        threshold: Option<f64> => None,
        baseline: Option<memtrace_analyzer::model::Value> => None,
        description: Option<String> => None,
        problem: Option<String> => None,
    }
}

fn render_check(
    outcomes: &[rules::Outcome],
    report: &Report,
    baseline: Option<&Report>,
    format: Format,
) -> String {
    let mut t = Table::of::<CheckRow>("check", "Rules");
    for o in outcomes {
        t.push_row(CheckRow {
            result: if o.ok { "PASS" } else { "FAIL" },
            rule: o.rule.clone(),
            metric: o.key.clone(),
            value: o.value.clone(),
            unit: o.unit.name(),
            threshold: o.threshold,
            baseline: o.baseline.clone(),
            description: o.description.clone(),
            problem: o.problem.clone(),
        });
    }
    let broken = outcomes.iter().filter(|o| !o.ok).count();
    let mut warnings: Vec<String> = report.warnings.clone();
    if let Some(b) = baseline {
        warnings.extend(b.warnings.iter().map(|w| format!("baseline: {w}")));
    }
    let lossy = report.lossy() || baseline.is_some_and(Report::lossy);
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "format_version": render::json::REPORT_FORMAT_VERSION,
                "file": report.file,
                "baseline": baseline.map(|b| &b.file),
                "lossy": lossy,
                "integrity": report.integrity_json(),
                "warnings": warnings,
                "rules": outcomes.len(),
                "broken": broken,
                "results": render::json::table(&t)["rows"].clone(),
            });
            render::json::to_string(&v)
        }
        Format::Csv => render::csv::wide(&t),
        Format::Markdown | Format::Html => {
            let mut s = format!(
                "# memana check: `{}`\n\n",
                render::markdown::cell(&report.file)
            );
            if let Some(b) = baseline {
                s.push_str(&format!(
                    "Baseline: `{}`\n\n",
                    render::markdown::cell(&b.file)
                ));
            }
            render::markdown::table(&mut s, &t, report.start_ns);
            s.push_str(&format!("\n{} rules, {} broken\n", outcomes.len(), broken));
            s
        }
        Format::Text => {
            let mut s = String::new();
            for o in outcomes {
                s.push_str(&format!(
                    "{}  {}  ({})\n",
                    if o.ok { "PASS" } else { "FAIL" },
                    render::clean(&o.rule),
                    render::clean_to(&o.explain(), render::NOTE_CAP)
                ));
                // What the rule is for, where a reviewer looks: under its FAIL.
                if let (false, Some(d)) = (o.ok, &o.description) {
                    s.push_str(&format!(
                        "      {}\n",
                        render::clean_to(d, render::NOTE_CAP)
                    ));
                }
            }
            if let Some(b) = baseline {
                s.push_str(&format!("baseline: {}\n", render::clean(&b.file)));
            }
            for w in &warnings {
                s.push_str(&format!(
                    "WARNING: {}\n",
                    render::clean_to(w, render::NOTE_CAP)
                ));
            }
            if lossy {
                s.push_str(
                    "WARNING: some figures rest on data with losses (memana report shows which).\n",
                );
            }
            s.push_str(&format!("{} rules, {} broken\n", outcomes.len(), broken));
            s
        }
    }
}

const CHECK_EXAMPLES: &str = "Examples:
  memana check run.parquet --rules fixtures/rules/oom.toml
  memana check run.parquet --rule 'paf.failures == 0' --rule 'reclaim.direct.p99_ms < 50'
  memana check run.parquet --baseline main.parquet --rule 'reclaim.direct.p99_ms <= baseline + 20%'
  memana check run.parquet --rules gates.toml --junit memana-check.xml   # CI test report
Exit status: 0 every rule holds, 1 a rule is broken, 2 bad rules or input.";

const DIFF_EXAMPLES: &str = "Examples:
  memana diff main.parquet pr.parquet                  # largest relative change first
  memana diff main.parquet pr.parquet --top 0 --changed-only
  memana diff main.parquet pr.parquet --fail-over +20 --only p99_ms --junit diff.xml
  memana diff runs/a/ -- runs/b/*.parquet --format json
Exit status: 0 done (no metric over --fail-over), 1 a gated metric changed by more than PCT, 2 bad input.";

const METRICS_EXAMPLES: &str = "Examples:
  memana metrics run.parquet                           # every key, by section
  memana metrics run.parquet --grep p99 --grep 'comm=\"java\"'
  memana metrics run.parquet --section reclaim --format json | jq '.metrics[].key'";

const SQL_EXAMPLES: &str = "Examples:
  memana sql run.parquet \"SELECT comm, max(rss_anon) FROM procstat GROUP BY comm\"
  memana sql 'fleet/**/*.parquet' \"SELECT host, recording, count(*) AS kills FROM oom_victim GROUP BY host, recording\"
  memana sql run.parquet \"SELECT reclaimer, count(*), max(duration_ns) FROM reclaim_end GROUP BY reclaimer\" --format csv
  memana sql run.parquet --from 10s --to 1m \"SELECT time, victim_comm FROM oom_victim\"
  memana sql --list                                    # the views and their columns
Exit status: 0 done, 2 bad SQL, an unknown table (the message names the views) or bad input.";

/// `memana sql PATH... QUERY`: the recordings, each with its window, and
/// the result in `format`.
fn run_sql(
    args: &[String],
    filter: &FilterArgs,
    format: memtrace_analyzer::sql::SqlFormat,
) -> Result<String> {
    let Some((query, paths)) = args.split_last() else {
        bail!("give the recordings, then the query: memana sql PATH... QUERY");
    };
    if paths.is_empty() {
        bail!(
            "memana sql takes the recordings, then the query (PATH... QUERY); only `{}` was given",
            memtrace_cli::error::escape(query)
        );
    }
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let mut fleet = open_fleet(&paths)?;
    let filters = fleet_filters(filter, &mut fleet)?;
    let recs: Vec<&Recording> = fleet.recordings.iter().collect();
    let df = memtrace_analyzer::sql::run(&recs, &filters, query)?;
    Ok(memtrace_analyzer::sql::render(&df, format))
}
