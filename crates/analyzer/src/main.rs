//! memana: reports, metadata, regression gates and diffs of memtrace recordings.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use memtrace_analyzer::filter::{parse_duration, Filter, LeakCriterion};
use memtrace_analyzer::model::{Status, Table, Unit};
use memtrace_analyzer::recording::Recording;
use memtrace_analyzer::render::{self, Format};
use memtrace_analyzer::report::Report;
use memtrace_analyzer::{diff, rules};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

/// Offline reports and regression gates over memtrace recordings.
///
/// Exit status: 0 success, 1 `check` found broken rules, 2 unusable input
/// (missing, corrupt, empty or too new a file, bad arguments or rules).
#[derive(Parser)]
#[command(name = "memana", version)]
struct Cli {
    /// More logging on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What a report looks at.
#[derive(Args, Clone, Debug)]
struct FilterArgs {
    /// Start of the window, relative to the recording start (500ms, 10s, 2m, 1h, 1m30s).
    #[arg(long, value_name = "DURATION")]
    from: Option<String>,
    /// End of the window (excluded), relative to the recording start.
    #[arg(long, value_name = "DURATION")]
    to: Option<String>,
    /// Only rows of this process (tgid); OOM kills: this victim pid.
    #[arg(long)]
    pid: Option<u32>,
    /// Only rows of this command name (exact match); OOM kills: this victim comm.
    #[arg(long)]
    comm: Option<String>,
    /// Rows kept in ranked tables (processes, per-process latency, shrinkers); 0 keeps all.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// How far before an allocation failure to count reclaim and compaction.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    window: String,
    /// How far before an OOM kill to look at the victim's growth.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    oom_window: String,
    /// Leak criterion: at least this many procstat samples.
    #[arg(long, default_value_t = 10)]
    leak_min_samples: usize,
    /// Leak criterion: at least this long between the first and last sample.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    leak_min_span: String,
    /// Leak criterion: at least this R² of the linear fit.
    #[arg(long, default_value_t = 0.9)]
    leak_min_r2: f64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the report: header, growth, paf, reclaim, sysstat, oom.
    Report {
        /// The recording (memrec record -o FILE).
        file: PathBuf,
        /// Only these sections (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', value_parser = ["header", "growth", "paf", "reclaim", "sysstat", "oom"])]
        section: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print the recording's metadata: host, kernel, probes, time span, events and losses.
    Info {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check rules over the report's metrics; exit 1 when one is broken.
    Check {
        file: PathBuf,
        /// TOML file: rules = ["paf.failures == 0", ...] and/or [[rule]] expr = "...".
        #[arg(long)]
        rules: Option<PathBuf>,
        /// A rule on the command line (repeatable), e.g. 'reclaim.direct.p99_ms < 50'.
        #[arg(long = "rule", value_name = "RULE")]
        rule: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Show every metric of two recordings with absolute and relative change.
    Diff {
        before: PathBuf,
        after: PathBuf,
        /// Leave out metrics that did not change.
        #[arg(long)]
        changed_only: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Print the recording schema.
    Schema {
        /// As Markdown (docs/SCHEMA.md).
        #[arg(long)]
        markdown: bool,
    },
}

/// Runs the command; every error is one line on stderr and exit status 2,
/// a panic included (no stack trace).
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
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match std::panic::catch_unwind(move || run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("memana: {}", one_line_chain(&e));
            ExitCode::from(2)
        }
        Err(_) => {
            let msg = PANIC
                .lock()
                .ok()
                .and_then(|p| p.clone())
                .unwrap_or_default();
            eprintln!("memana: internal error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn one_line_chain(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|c| memtrace_analyzer::recording::one_line(&c.to_string()))
        .collect();
    parts.join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "memana=debug,memtrace_analyzer=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn open(path: &Path) -> Result<Recording> {
    let rec = Recording::open(path)?;
    tracing::debug!(
        rows = rec.num_rows,
        start = rec.start_ns,
        end = rec.end_ns,
        "opened {}",
        rec.name
    );
    Ok(rec)
}

fn open_with_rows(path: &Path) -> Result<Recording> {
    let rec = open(path)?;
    rec.require_rows()?;
    Ok(rec)
}

fn build_filter(a: &FilterArgs, rec: &Recording) -> Result<Filter> {
    let dur = |flag: &str, v: &str| parse_duration(v).with_context(|| format!("--{flag}"));
    let from = a.from.as_deref().map(|v| dur("from", v)).transpose()?;
    let to = a.to.as_deref().map(|v| dur("to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            bail!(
                "--from ({}) must be before --to ({})",
                a.from.as_deref().unwrap_or(""),
                a.to.as_deref().unwrap_or("")
            );
        }
    }
    if !(0.0..=1.0).contains(&a.leak_min_r2) {
        bail!("--leak-min-r2 must be between 0 and 1");
    }
    Ok(Filter {
        from_ns: from.map(|d| rec.start_ns + d),
        to_ns: to.map(|d| rec.start_ns + d),
        pid: a.pid,
        comm: a.comm.clone(),
        top: a.top,
        window_ns: dur("window", &a.window)?,
        oom_window_ns: dur("oom-window", &a.oom_window)?,
        leak: LeakCriterion {
            min_samples: a.leak_min_samples,
            min_span_ns: dur("leak-min-span", &a.leak_min_span)?,
            min_r2: a.leak_min_r2,
        },
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

fn render_report(r: &Report, format: Format) -> String {
    match format {
        Format::Text => render::text::report(r),
        Format::Json => render::json::to_string(&render::json::report(r)),
        Format::Csv => render::csv::report(r),
        Format::Markdown => render::markdown::report(r),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Report {
            file,
            section,
            format,
            filter,
        } => {
            let rec = open_with_rows(&file)?;
            let f = build_filter(&filter, &rec)?;
            let report = build_report(&rec, &f, &section)?;
            emit(&render_report(&report, format))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Info { file, format } => {
            let rec = open(&file)?;
            let f = Filter::default();
            let report = build_report(&rec, &f, &["header".to_string()])?;
            emit(&render_report(&report, format))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check {
            file,
            rules: rules_file,
            rule,
            format,
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
            let rec = open_with_rows(&file)?;
            let f = build_filter(&filter, &rec)?;
            let report = build_report(&rec, &f, &[])?;
            let metrics: Vec<_> = report.metrics().into_iter().map(|(_, m)| m).collect();
            let outcomes = rules::evaluate(&parsed, &metrics);
            emit(&render_check(&outcomes, &report, format))?;
            let broken = outcomes.iter().filter(|o| !o.ok).count();
            Ok(if broken > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Diff {
            before,
            after,
            changed_only,
            format,
            filter,
        } => {
            let a = open_with_rows(&before)?;
            let b = open_with_rows(&after)?;
            let ra = build_report(&a, &build_filter(&filter, &a)?, &[])?;
            let rb = build_report(&b, &build_filter(&filter, &b)?, &[])?;
            let rows = diff::join(&ra.metrics(), &rb.metrics());
            let t = diff::table(&rows, changed_only);
            emit(&render_diff(&t, &ra, &rb, format))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Schema { markdown } => {
            if markdown {
                emit(&memtrace_schema::markdown::schema_markdown())?;
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
                emit(&s)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render_check(outcomes: &[rules::Outcome], report: &Report, format: Format) -> String {
    let mut t = Table::new(
        "check",
        "Rules",
        &[
            ("result", Unit::None),
            ("rule", Unit::None),
            ("metric", Unit::None),
            ("value", Unit::None),
            ("unit", Unit::None),
            ("threshold", Unit::None),
            ("problem", Unit::None),
        ],
    );
    for o in outcomes {
        t.push(vec![
            (if o.ok { "PASS" } else { "FAIL" }).into(),
            o.rule.as_str().into(),
            o.key.as_str().into(),
            o.value
                .clone()
                .unwrap_or(memtrace_analyzer::model::Value::Null),
            o.unit.name().into(),
            o.threshold.into(),
            o.problem.clone().into(),
        ]);
    }
    let broken = outcomes.iter().filter(|o| !o.ok).count();
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "format_version": render::json::REPORT_FORMAT_VERSION,
                "file": report.file,
                "lossy": report.lossy(),
                "rules": outcomes.len(),
                "broken": broken,
                "results": render::json::table(&t)["rows"].clone(),
            });
            render::json::to_string(&v)
        }
        Format::Csv => render::csv::wide(&t),
        Format::Markdown => {
            let mut s = format!("# memana check: `{}`\n\n", report.file);
            render::markdown::table(&mut s, &t, report.start_ns);
            s.push_str(&format!("\n{} rules, {} broken\n", outcomes.len(), broken));
            s
        }
        Format::Text => {
            let mut s = String::new();
            for o in outcomes {
                let value = match (&o.value, o.problem.as_deref()) {
                    (_, Some(p)) => p.to_string(),
                    (Some(v), None) => {
                        format!("{} = {}", o.key, render::human(v, o.unit, report.start_ns))
                    }
                    (None, None) => String::new(),
                };
                s.push_str(&format!(
                    "{}  {}  ({value})\n",
                    if o.ok { "PASS" } else { "FAIL" },
                    o.rule
                ));
            }
            if report.lossy() {
                s.push_str(
                    "WARNING: some figures rest on data with losses (memana report shows which).\n",
                );
            }
            s.push_str(&format!("{} rules, {} broken\n", outcomes.len(), broken));
            s
        }
    }
}

fn render_diff(t: &Table, a: &Report, b: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "format_version": render::json::REPORT_FORMAT_VERSION,
                "before": a.file,
                "after": b.file,
                "lossy": a.lossy() || b.lossy(),
                "metrics": render::json::table(t)["rows"].clone(),
            });
            render::json::to_string(&v)
        }
        Format::Csv => render::csv::wide(t),
        Format::Markdown => {
            let mut s = format!("# memana diff: `{}` → `{}`\n\n", a.file, b.file);
            render::markdown::table(&mut s, t, 0);
            s
        }
        Format::Text => {
            let mut s = format!("memana diff: before {}  after {}\n", a.file, b.file);
            if a.lossy() || b.lossy() {
                s.push_str("WARNING: some figures rest on data with losses.\n");
            }
            s.push('\n');
            render::text::table(&mut s, t, 0, "");
            s
        }
    }
}
