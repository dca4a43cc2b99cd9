//! The kernel's own printout of the events memrec records: a private tracefs
//! instance with some tracepoints enabled (optionally filtered), stamped
//! with the boot clock like memrec's `ts_ns`. Removed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where tracefs is mounted (the first of the usual places that has events).
pub fn tracefs() -> Option<PathBuf> {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// One event as the kernel printed it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// CLOCK_BOOTTIME, ns (printed with microsecond resolution).
    pub ts_ns: i128,
    pub pid: i128,
    pub comm: String,
    /// Event name, e.g. `mm_page_alloc`.
    pub event: String,
    /// The `key=value` words of the printed line.
    pub fields: BTreeMap<String, String>,
}

impl TraceEvent {
    pub fn int(&self, key: &str) -> Option<i128> {
        self.fields.get(key)?.parse().ok()
    }
    pub fn text(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// A tracefs instance recording some events.
pub struct KernelTrace {
    dir: PathBuf,
    events: Vec<String>,
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

impl KernelTrace {
    /// Creates `instances/<name>` and enables each `system/event`, with its
    /// filter if given.
    pub fn start(name: &str, events: &[(&str, Option<&str>)]) -> std::io::Result<Self> {
        let root = tracefs().ok_or_else(|| std::io::Error::other("tracefs is not mounted"))?;
        let dir = root.join("instances").join(name);
        if dir.exists() {
            // Left behind by a killed earlier run.
            let _ = write(&dir.join("events/enable"), "0");
            std::fs::remove_dir(&dir)?;
        }
        std::fs::create_dir(&dir)?;
        let t = KernelTrace {
            dir,
            events: events.iter().map(|e| e.0.to_string()).collect(),
        };
        write(&t.dir.join("trace_clock"), "boot")?;
        write(&t.dir.join("buffer_size_kb"), "4096")?;
        for (event, filter) in events {
            let ev = t.dir.join("events").join(event);
            if let Some(f) = filter {
                write(&ev.join("filter"), f)?;
            }
            write(&ev.join("enable"), "1")?;
        }
        write(&t.dir.join("tracing_on"), "1")?;
        Ok(t)
    }

    /// Stops tracing; the buffer stays readable.
    pub fn stop(&self) {
        let _ = write(&self.dir.join("tracing_on"), "0");
        for e in &self.events {
            let _ = write(&self.dir.join("events").join(e).join("enable"), "0");
        }
    }

    /// The raw `trace` text.
    pub fn text(&self) -> String {
        std::fs::read_to_string(self.dir.join("trace")).unwrap_or_default()
    }

    /// Every event printed, and whether the buffer lost any.
    pub fn events(&self) -> (Vec<TraceEvent>, bool) {
        let text = self.text();
        let lost = text
            .lines()
            .any(|l| l.contains("LOST") && l.contains("EVENTS"));
        (text.lines().filter_map(parse_line).collect(), lost)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for KernelTrace {
    fn drop(&mut self) {
        self.stop();
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

/// `  memscen-10800   [001] .....  2962.176928: mm_page_alloc: page=... pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_...`
pub fn parse_line(line: &str) -> Option<TraceEvent> {
    if line.starts_with('#') {
        return None;
    }
    let (task, rest) = line.split_once(" [")?;
    let (comm, pid) = task.trim().rsplit_once('-')?;
    let (_, rest) = rest.split_once("] ")?;
    let (stamp, rest) = rest.split_once(": ")?;
    let ts = stamp.split_whitespace().last()?;
    let (secs, micros) = ts.split_once('.')?;
    let ts_ns = secs.parse::<i128>().ok()? * 1_000_000_000 + micros.parse::<i128>().ok()? * 1_000;
    let (event, body) = rest.split_once(": ")?;
    let fields = body
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(TraceEvent {
        ts_ns,
        pid: pid.parse().ok()?,
        comm: comm.to_string(),
        event: event.to_string(),
        fields,
    })
}
