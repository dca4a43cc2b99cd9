//! ftrace the way trace-cmd records it: a tracefs instance of our own with
//! the tracepoints enabled, one reader per CPU splicing
//! `per_cpu/cpuN/trace_pipe_raw` into a file, and a final non-blocking
//! drain. (trace-cmd itself cannot run here: it writes
//! /proc/sys/kernel/ftrace_enabled, which this kernel refuses.)

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::sys;

pub const TRACEFS: &str = "/sys/kernel/tracing";

/// memrec records only failed page allocations (page == NULL, which the
/// tracepoint stores as pfn == -1UL); the other tools get the same filter.
pub const PAGE_ALLOC_FILTER: &str = "pfn == 18446744073709551615";

/// Whether this kernel has a tracepoint.
pub fn has_tracepoint(tp: &str) -> bool {
    Path::new(TRACEFS)
        .join("events")
        .join(tp.replace(':', "/"))
        .join("id")
        .exists()
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
}

/// Turns an instance off and removes it; retries while readers close.
pub fn remove_instance(path: &Path) -> Result<()> {
    let _ = std::fs::write(path.join("tracing_on"), "0");
    let _ = std::fs::write(path.join("events/enable"), "0");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("rmdir {}", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A tracefs instance, removed on drop.
#[derive(Debug)]
pub struct Instance {
    pub path: PathBuf,
}

impl Instance {
    pub fn create(buffer_kb: u64) -> Result<Self> {
        let root = Path::new(TRACEFS);
        if !root.join("instances").is_dir() {
            bail!("no tracefs at {TRACEFS}");
        }
        let path = root.join("instances").join(format!(
            "{}{}-ftrace",
            sys::MEMCG_PREFIX,
            std::process::id()
        ));
        if path.exists() {
            remove_instance(&path)?;
        }
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        let inst = Instance { path };
        write(&inst.path.join("tracing_on"), "0")?;
        write(&inst.path.join("buffer_size_kb"), &buffer_kb.to_string())?;
        Ok(inst)
    }

    /// Enables the tracepoints this kernel has; returns those enabled.
    pub fn enable(&self, tps: &[String]) -> Result<Vec<String>> {
        let mut on = Vec::new();
        for tp in tps {
            let dir = self.path.join("events").join(tp.replace(':', "/"));
            if !dir.join("enable").exists() {
                warn!("ftrace: no tracepoint {tp} on this kernel");
                continue;
            }
            if tp == "kmem:mm_page_alloc" {
                write(&dir.join("filter"), PAGE_ALLOC_FILTER)?;
            }
            write(&dir.join("enable"), "1")?;
            on.push(tp.to_string());
        }
        Ok(on)
    }

    pub fn set_on(&self, on: bool) -> Result<()> {
        write(&self.path.join("tracing_on"), if on { "1" } else { "0" })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = remove_instance(&self.path) {
            warn!("{e:#}");
        }
    }
}

/// What a recording left behind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FtraceSummary {
    pub files: Vec<PathBuf>,
    pub bytes: u64,
    /// Events overwritten or dropped in the kernel (per_cpu/*/stats).
    pub lost: u64,
    pub subbuf_bytes: usize,
    /// Event ids of the enabled tracepoints.
    pub ids: BTreeMap<u16, String>,
}

fn cpus_online() -> Vec<usize> {
    // "0-1" or "0,2-3".
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// Per CPU: splice full pages from trace_pipe_raw to the file through a
/// pipe until told to stop, then read what is left (partial pages).
fn reader(raw: PathBuf, out: PathBuf, page: usize, stop: Arc<AtomicBool>) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&raw)
        .with_context(|| format!("opening {}", raw.display()))?;
    let mut dst = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    let (pr, pw) = (fds[0], fds[1]);
    let chunk = page * 16;
    let mut total = 0u64;
    let sfd = src.as_raw_fd();
    let dfd = dst.as_raw_fd();
    while !stop.load(Ordering::SeqCst) {
        let mut p = libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 100) };
        loop {
            // SAFETY: splice between fds we own.
            let n = unsafe {
                libc::splice(
                    sfd,
                    std::ptr::null_mut(),
                    pw,
                    std::ptr::null_mut(),
                    chunk,
                    libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
                )
            };
            if n <= 0 {
                break;
            }
            let mut left = n as usize;
            while left > 0 {
                // SAFETY: as above.
                let m = unsafe {
                    libc::splice(
                        pr,
                        std::ptr::null_mut(),
                        dfd,
                        std::ptr::null_mut(),
                        left,
                        libc::SPLICE_F_MOVE,
                    )
                };
                if m <= 0 {
                    bail!(
                        "splice to {}: {}",
                        out.display(),
                        std::io::Error::last_os_error()
                    );
                }
                left -= m as usize;
            }
            total += n as u64;
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
    }
    // SAFETY: closing our pipe fds.
    unsafe {
        libc::close(pr);
        libc::close(pw);
    }
    // Final drain: read() also returns partly filled pages.
    let mut buf = vec![0u8; page];
    for _ in 0..1_000_000 {
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(sfd, buf.as_mut_ptr() as *mut libc::c_void, page) };
        if n <= 0 {
            break;
        }
        dst.write_all(&buf[..n as usize])
            .context("writing the raw buffer")?;
        total += n as u64;
    }
    dst.sync_all().ok();
    Ok(total)
}

fn stat_value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
}

/// `membench ftrace`: records `tracepoints` into `dir/cpuN.raw` until
/// SIGINT/SIGTERM or `max` elapses; prints the summary as JSON on stdout.
pub fn record(
    dir: &Path,
    tracepoints: &[String],
    buffer_kb: u64,
    max: Duration,
) -> Result<FtraceSummary> {
    sys::install_signal_handlers();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let inst = Instance::create(buffer_kb)?;
    let enabled = inst.enable(tracepoints)?;
    let subbuf_kb: usize = std::fs::read_to_string(inst.path.join("buffer_subbuf_size_kb"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4);
    let page = subbuf_kb * 1024;
    let mut ids = BTreeMap::new();
    for tp in &enabled {
        let id = std::fs::read_to_string(
            Path::new(TRACEFS)
                .join("events")
                .join(tp.replace(':', "/"))
                .join("id"),
        )
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok());
        if let Some(id) = id {
            ids.insert(id, tp.clone());
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut files = Vec::new();
    for cpu in cpus_online() {
        let raw = inst.path.join(format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
        let out = dir.join(format!("cpu{cpu}.raw"));
        files.push(out.clone());
        let stop = stop.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("ftrace-cpu{cpu}"))
                .spawn(move || reader(raw, out, page, stop))
                .context("starting a reader thread")?,
        );
    }
    inst.set_on(true)?;
    eprintln!("membench ftrace: recording {} tracepoints", enabled.len());
    let start = Instant::now();
    while !sys::stopping() && start.elapsed() < max {
        std::thread::sleep(Duration::from_millis(50));
    }
    inst.set_on(false)?;
    stop.store(true, Ordering::SeqCst);
    let mut bytes = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => bytes += n,
            Ok(Err(e)) => warn!("ftrace reader: {e:#}"),
            Err(_) => warn!("ftrace reader panicked"),
        }
    }
    let mut lost = 0;
    for cpu in cpus_online() {
        let text = std::fs::read_to_string(inst.path.join(format!("per_cpu/cpu{cpu}/stats")))
            .unwrap_or_default();
        debug!(cpu, "{text}");
        lost += stat_value(&text, "overrun:")
            + stat_value(&text, "commit overrun:")
            + stat_value(&text, "dropped events:");
    }
    drop(inst);
    Ok(FtraceSummary {
        files,
        bytes,
        lost,
        subbuf_bytes: page,
        ids,
    })
}

/// Events per tracepoint id in raw ring-buffer pages (the layout of
/// events/header_page and header_event), and the kernel's count of events
/// missed between pages.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RawCount {
    pub events: u64,
    pub by_id: BTreeMap<u16, u64>,
    pub missed: u64,
    pub pages: u64,
}

pub fn count_raw(files: &[PathBuf], page: usize) -> Result<RawCount> {
    let mut c = RawCount::default();
    for f in files {
        let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        for pg in data.chunks(page) {
            if pg.len() < 16 {
                continue;
            }
            c.pages += 1;
            let commit = u64::from_le_bytes(pg[8..16].try_into().unwrap_or_default());
            let len = (commit & ((1 << 30) - 1)) as usize;
            let body = &pg[16..(16 + len).min(pg.len())];
            if commit & (1 << 30) != 0 && 16 + len + 8 <= pg.len() {
                c.missed +=
                    u64::from_le_bytes(pg[16 + len..16 + len + 8].try_into().unwrap_or_default());
            }
            let mut i = 0;
            while i + 4 <= body.len() {
                let h = u32::from_le_bytes(body[i..i + 4].try_into().unwrap_or_default());
                let type_len = h & 0x1f;
                let arr0 = body
                    .get(i + 4..i + 8)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()));
                let (size, payload) = match type_len {
                    29 => {
                        if h >> 5 == 0 {
                            break; // null padding: rest of page
                        }
                        (arr0.unwrap_or(0) as usize + 4, None)
                    }
                    30 | 31 => (8, None),
                    0 => (arr0.unwrap_or(0) as usize + 4, Some(i + 8)),
                    n => (n as usize * 4 + 4, Some(i + 4)),
                };
                if let Some(p) = payload {
                    if let Some(b) = body.get(p..p + 2) {
                        let id = u16::from_le_bytes([b[0], b[1]]);
                        *c.by_id.entry(id).or_default() += 1;
                        c.events += 1;
                    }
                }
                if size == 0 {
                    break;
                }
                i += size;
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_pages_are_counted() {
        // One 4 KiB page: a time extend, two small events of id 7 and 9, one
        // long event (type_len 0) of id 7, then null padding.
        let mut body = Vec::new();
        body.extend_from_slice(&30u32.to_le_bytes()); // time extend
        body.extend_from_slice(&0u32.to_le_bytes());
        for id in [7u16, 9] {
            body.extend_from_slice(&(2u32 | (5 << 5)).to_le_bytes()); // 8 bytes of data
            body.extend_from_slice(&id.to_le_bytes());
            body.extend_from_slice(&[0u8; 6]);
        }
        body.extend_from_slice(&0u32.to_le_bytes()); // type_len 0
        body.extend_from_slice(&(4u32 + 120).to_le_bytes());
        body.extend_from_slice(&7u16.to_le_bytes());
        body.extend_from_slice(&[0u8; 118]);
        let mut page = vec![0u8; 4096];
        page[8..16].copy_from_slice(&(body.len() as u64).to_le_bytes());
        page[16..16 + body.len()].copy_from_slice(&body);
        let dir = std::env::temp_dir().join(format!("membench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("cpu0.raw");
        std::fs::write(&f, &page).unwrap();
        let c = count_raw(&[f], 4096).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.events, 3);
        assert_eq!(c.by_id.get(&7), Some(&2));
        assert_eq!(c.by_id.get(&9), Some(&1));
        assert_eq!(c.pages, 1);
    }
}
