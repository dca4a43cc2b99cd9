//! The tracers compared: each runs as a child process, is started and
//! waited for until its probes are live, stopped with SIGINT, and reaped
//! with wait4(2) for its own CPU time and peak RSS.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{debug, warn};

use crate::ftrace::{self, FtraceSummary};
use crate::sys::{self, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// Nothing attached.
    None,
    Memrec,
    Bpftrace,
    Ftrace,
    Perf,
    /// The `memleak` of libbpf-tools (bcc), built outside this project:
    /// found through `$MEMLEAK_BIN` or `memleak` on the PATH.
    Memleak,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::None => "none",
            Tool::Memrec => "memrec",
            Tool::Bpftrace => "bpftrace",
            Tool::Ftrace => "ftrace",
            Tool::Perf => "perf",
            Tool::Memleak => "memleak",
        }
    }
}

/// Where the tools are and how to run them.
#[derive(Debug, Clone)]
pub struct ToolConfig {
    pub memrec: PathBuf,
    pub membench: PathBuf,
    pub bpftrace_script: PathBuf,
    /// Extra arguments to `memrec record`.
    pub memrec_args: Vec<String>,
    /// Per-CPU buffer of ftrace and perf, KiB (memrec's ring is 8 MiB per group).
    pub buffer_kb: u64,
    /// The tracepoints memrec attaches to, `system:event`: ftrace and perf
    /// record exactly these.
    pub tracepoints: Vec<String>,
    /// bpftrace's options before the program (e.g. `-p PID`), the program's
    /// positional parameters after it, and its environment.
    pub bpftrace_args: Vec<String>,
    pub bpftrace_params: Vec<String>,
    pub bpftrace_env: Vec<(String, String)>,
    /// libbpf-tools' memleak and its arguments.
    pub memleak: Option<PathBuf>,
    pub memleak_args: Vec<String>,
}

/// A tracer that is recording.
#[derive(Debug)]
pub struct Running {
    pub tool: Tool,
    child: Option<Child>,
    pub out: PathBuf,
    stderr: PathBuf,
    started: Instant,
    /// CPU the tool had used when it was ready (start-up, BPF loading).
    cpu_at_start: Option<(f64, f64)>,
}

/// What one recording cost and produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceResult {
    pub tool: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Records written (memrec: rows; bpftrace: lines; ftrace: raw events;
    /// perf: samples).
    pub events: u64,
    /// Records the tool says it lost (perf: LOST records, each one or more samples).
    pub lost: u64,
    /// memrec only: records the BPF side submitted (before decoding into rows).
    pub kernel_records: u64,
    pub usage: Usage,
    /// From start (probes live) to stop.
    pub seconds: f64,
    /// CPU the tool used while recording (from ready to the stop signal),
    /// without start-up and the final flush: (user, system) seconds.
    pub recording_cpu: (f64, f64),
    /// Tool-specific details (memrec: events and losses per probe).
    pub detail: serde_json::Value,
}

fn wait_for_text(path: &Path, needle: &str, child: &mut Child, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!("exited before it was ready ({st}): {}", text.trim());
        }
        if Instant::now() >= deadline {
            bail!("not ready after {timeout:?}: {}", text.trim());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a tracer writing into `dir/<tool>-<tag>*`, and returns once it records.
pub fn start(tool: Tool, cfg: &ToolConfig, dir: &Path, tag: &str) -> Result<Running> {
    let stderr = dir.join(format!("{}-{tag}.stderr", tool.name()));
    let mut cmd;
    let out;
    match tool {
        Tool::None => {
            return Ok(Running {
                tool,
                child: None,
                out: PathBuf::new(),
                stderr,
                started: Instant::now(),
                cpu_at_start: None,
            })
        }
        Tool::Memrec => {
            out = dir.join(format!("memrec-{tag}.parquet"));
            cmd = Command::new(&cfg.memrec);
            cmd.args(["record", "--force", "--no-progress", "-o"])
                .arg(&out)
                .args(&cfg.memrec_args);
            cmd.stdout(File::create(dir.join(format!("memrec-{tag}.summary")))?);
        }
        Tool::Bpftrace => {
            out = dir.join(format!("bpftrace-{tag}.txt"));
            cmd = Command::new("bpftrace");
            cmd.args(&cfg.bpftrace_args)
                .arg(&cfg.bpftrace_script)
                .args(&cfg.bpftrace_params)
                .envs(cfg.bpftrace_env.iter().map(|(k, v)| (k, v)))
                .stdout(File::create(&out)?);
        }
        Tool::Ftrace => {
            out = dir.join(format!("ftrace-{tag}"));
            cmd = Command::new(&cfg.membench);
            cmd.args(["ftrace", "--buffer-kb", &cfg.buffer_kb.to_string(), "--dir"])
                .arg(&out)
                .arg(format!("--tracepoints={}", cfg.tracepoints.join(",")));
            cmd.stdout(File::create(dir.join(format!("ftrace-{tag}.json")))?);
        }
        Tool::Perf => {
            out = dir.join(format!("perf-{tag}.data"));
            cmd = Command::new("perf");
            cmd.args(["record", "-a", "-z", "-q", "-m"])
                .arg(format!("{}K", cfg.buffer_kb))
                .arg("-o")
                .arg(&out);
            for tp in cfg.tracepoints.iter().filter(|t| ftrace::has_tracepoint(t)) {
                cmd.args(["-e", tp]);
                if tp == "kmem:mm_page_alloc" {
                    cmd.args(["--filter", ftrace::PAGE_ALLOC_FILTER]);
                }
            }
            cmd.stdout(Stdio::null());
        }
        Tool::Memleak => {
            out = dir.join(format!("memleak-{tag}.txt"));
            let bin = cfg
                .memleak
                .as_ref()
                .context("no libbpf-tools memleak (set MEMLEAK_BIN)")?;
            // Line-buffered, so that its "Attaching to" line (printed once
            // its probes are attached) is in the file when it is.
            cmd = Command::new("stdbuf");
            cmd.arg("-oL")
                .arg(bin)
                .args(&cfg.memleak_args)
                .stdout(File::create(&out)?);
        }
    }
    cmd.stderr(File::create(&stderr)?).stdin(Stdio::null());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", tool.name()))?;
    let ready = match tool {
        Tool::Memrec => wait_for_text(
            &stderr,
            "memrec: recording to",
            &mut child,
            Duration::from_secs(60),
        ),
        Tool::Ftrace => wait_for_text(
            &stderr,
            "membench ftrace: recording",
            &mut child,
            Duration::from_secs(30),
        ),
        Tool::Bpftrace => wait_for_text(&out, "Attaching", &mut child, Duration::from_secs(120))
            .map(|()| {
                // The line comes before the probes attach; attaching takes < 1 s.
                std::thread::sleep(Duration::from_millis(1500));
            }),
        Tool::Perf => {
            // perf says nothing when its events are open; they are within a second.
            std::thread::sleep(Duration::from_millis(2000));
            match child.try_wait() {
                Ok(Some(st)) => Err(anyhow::anyhow!(
                    "perf exited ({st}): {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default().trim()
                )),
                _ => Ok(()),
            }
        }
        Tool::Memleak => wait_for_text(&out, "Attaching to", &mut child, Duration::from_secs(60)),
        Tool::None => Ok(()),
    };
    if let Err(e) = ready {
        sys::signal(child.id() as i32, libc::SIGKILL);
        let _ = sys::wait_child(&mut child, Duration::from_secs(10));
        return Err(e.context(format!("{} did not start", tool.name())));
    }
    let cpu_at_start = sys::proc_cpu(child.id());
    Ok(Running {
        tool,
        child: Some(child),
        out,
        stderr,
        started: Instant::now(),
        cpu_at_start,
    })
}

/// Stops a tracer and measures what it wrote.
pub fn stop(mut r: Running) -> Result<TraceResult> {
    let seconds = r.started.elapsed().as_secs_f64();
    let mut res = TraceResult {
        tool: r.tool.name().into(),
        seconds,
        ..Default::default()
    };
    let Some(mut child) = r.child.take() else {
        return Ok(res);
    };
    if let (Some(a), Some(b)) = (r.cpu_at_start, sys::proc_cpu(child.id())) {
        res.recording_cpu = (b.0 - a.0, b.1 - a.1);
    }
    sys::signal(child.id() as i32, libc::SIGINT);
    res.usage = sys::wait_child(&mut child, Duration::from_secs(180))?;
    let stderr = std::fs::read_to_string(&r.stderr).unwrap_or_default();
    // perf re-raises the SIGINT it was stopped with: that is a clean stop.
    if res.usage.exit_code.is_some_and(|c| c != 0)
        || res.usage.signal.is_some_and(|s| s != libc::SIGINT)
    {
        warn!(
            tool = r.tool.name(),
            "exited with {:?}: {}",
            res.usage,
            stderr.trim()
        );
    }
    match r.tool {
        Tool::None => {}
        Tool::Memrec => memrec_result(&r.out, &mut res)?,
        Tool::Bpftrace => {
            res.bytes = file_size(&r.out);
            let text = std::fs::read_to_string(&r.out).unwrap_or_default();
            for line in text.lines() {
                if let Some(n) = lost_in_line(line) {
                    res.lost += n;
                } else if line.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) {
                    res.events += 1;
                }
            }
            res.lost += stderr.lines().filter_map(lost_in_line).sum::<u64>();
        }
        Tool::Ftrace => {
            let json_path = r
                .out
                .parent()
                .unwrap_or(Path::new("."))
                .join(format!("{}.json", file_name(&r.out)));
            let text = std::fs::read_to_string(&json_path).unwrap_or_default();
            let sum: FtraceSummary = serde_json::from_str(&text)
                .with_context(|| format!("ftrace summary {}: {text}", json_path.display()))?;
            let counts = ftrace::count_raw(&sum.files, sum.subbuf_bytes)?;
            res.bytes = sum.files.iter().map(|f| file_size(f)).sum();
            res.events = counts.events;
            res.lost = sum.lost.max(counts.missed);
            let by_name: serde_json::Map<String, serde_json::Value> = counts
                .by_id
                .iter()
                .map(|(id, n)| {
                    (
                        sum.ids.get(id).cloned().unwrap_or_else(|| id.to_string()),
                        (*n).into(),
                    )
                })
                .collect();
            res.detail = serde_json::json!({
                "events_by_tracepoint": by_name,
                "pages": counts.pages,
                "missed_in_pages": counts.missed,
                "stats_lost": sum.lost,
            });
        }
        Tool::Perf => perf_result(&r.out, &mut res)?,
        // It keeps outstanding allocations in maps and prints a summary:
        // no records, no loss count.
        Tool::Memleak => res.bytes = file_size(&r.out),
    }
    Ok(res)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// bpftrace reports ring losses as "Lost N events".
fn lost_in_line(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix("Lost ")?;
    let n = rest.split_whitespace().next()?.parse().ok()?;
    rest.contains("event").then_some(n)
}

pub fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// memrec's own counts from the recording's footer metadata.
pub fn read_meta(path: &Path) -> Result<memtrace_schema::FileMeta> {
    use parquet::file::metadata::ParquetMetaDataReader;
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let footer = ParquetMetaDataReader::new()
        .parse_and_finish(&f)
        .with_context(|| format!("reading {}", path.display()))?;
    let (_, meta) = memtrace_schema::FileMeta::from_parquet(footer.file_metadata())
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(meta)
}

fn memrec_result(path: &Path, res: &mut TraceResult) -> Result<()> {
    res.bytes = file_size(path);
    let meta = read_meta(path)?;
    res.events = meta.rows.values().sum();
    res.kernel_records = meta.probes.iter().map(|p| p.events).sum();
    res.lost = meta.total_lost();
    let probes: serde_json::Map<String, serde_json::Value> = meta
        .probes
        .iter()
        .filter(|p| p.events > 0 || p.lost > 0)
        .map(|p| {
            (
                p.program.clone(),
                serde_json::json!({ "events": p.events, "lost": p.lost }),
            )
        })
        .collect();
    res.detail = serde_json::json!({ "rows": meta.rows, "probes": probes });
    Ok(())
}

fn perf_result(path: &Path, res: &mut TraceResult) -> Result<()> {
    res.bytes = file_size(path);
    let out = Command::new("perf")
        .args(["report", "--stats", "-i"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("perf report --stats")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut in_total = true;
    let mut lost = 0;
    let mut samples = 0;
    for line in text.lines() {
        let l = line.trim();
        if l.ends_with("stats:") && !l.starts_with("Aggregated") {
            in_total = false; // per-event sections repeat the totals
        }
        if !in_total {
            continue;
        }
        let value = |key: &str| -> Option<u64> {
            l.strip_prefix(key)?.split_whitespace().next()?.parse().ok()
        };
        if let Some(n) = value("SAMPLE events:") {
            samples = n;
        }
        if let Some(n) = value("LOST_SAMPLES events:").or_else(|| value("LOST events:")) {
            lost += n;
        }
    }
    debug!("perf stats: {text}");
    res.events = samples;
    res.lost = lost;
    res.detail =
        serde_json::json!({ "perf_report_stats": text.lines().take(40).collect::<Vec<_>>() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpftrace_loss_lines() {
        assert_eq!(lost_in_line("Lost 1234 events"), Some(1234));
        assert_eq!(lost_in_line("123 0 5 5 bash 1 procstat"), None);
    }

    #[test]
    fn memrec_counts_come_from_the_footer() {
        use parquet::file::metadata::KeyValue;
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        use std::sync::Arc;

        let mut meta = memtrace_schema::FileMeta {
            schema_version: memtrace_schema::SCHEMA_VERSION,
            ..Default::default()
        };
        meta.rows.insert("procstat".into(), 41);
        let kv = vec![
            KeyValue::new(
                memtrace_schema::SCHEMA_VERSION_KEY.into(),
                memtrace_schema::SCHEMA_VERSION.to_string(),
            ),
            KeyValue::new(memtrace_schema::META_KEY.into(), meta.to_json().unwrap()),
        ];
        let path =
            std::env::temp_dir().join(format!("membench-meta-{}.parquet", std::process::id()));
        let schema = Arc::new(parse_message_type("message m { required int64 ts_ns; }").unwrap());
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(kv))
            .build();
        let w = SerializedFileWriter::new(File::create(&path).unwrap(), schema, Arc::new(props))
            .unwrap();
        w.close().unwrap();
        let got = read_meta(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(got.unwrap().rows.get("procstat"), Some(&41));
    }
}
