//! The workload processes (`memscen worker ...`), run as re-executed
//! children of `memscen run`.
//!
//! Protocol with the parent: each notable moment is one JSON line on stdout
//! (`{"name":..., "boottime_ns":..., "data":{...}}`); when the parent must act
//! (take a sample at the peak, allocate huge pages while memory is
//! fragmented) the worker prints a line and blocks until it reads a line, or
//! EOF, on stdin. By the time the worker runs it is already in its cgroup
//! (the parent moves it before exec), so every page it touches is charged.

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::sys;

pub const COMM_RECLAIM: &str = "memscen-reclaim";
pub const COMM_OOM: &str = "memscen-oom";
pub const COMM_LEAK: &str = "memscen-leak";
pub const COMM_SWAP: &str = "memscen-swap";
pub const COMM_FRAGMENT: &str = "memscen-frag";

/// Exit code of `grow` when it reached its caps without being killed.
pub const EXIT_CAP_REACHED: u8 = 3;
/// Exit code of `swap` when the data read back differed from what was written.
pub const EXIT_CORRUPT: u8 = 4;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(subcommand)]
    pub kind: WorkerKind,
}

#[derive(Debug, Subcommand)]
pub enum WorkerKind {
    /// Write a file, read it back, then grow the heap (memcg-reclaim).
    Reclaim {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        file_bytes: u64,
        #[arg(long)]
        heap_bytes: u64,
    },
    /// Grow the heap until killed or a cap is reached (oom).
    Grow {
        #[arg(long)]
        max_bytes: u64,
        #[arg(long)]
        max_seconds: u64,
        #[arg(long)]
        step_bytes: u64,
        #[arg(long, default_value_t = 0)]
        step_ms: u64,
    },
    /// Grow the heap at a steady rate (leak).
    Leak {
        #[arg(long)]
        rate_bytes_per_s: u64,
        #[arg(long)]
        duration_ms: u64,
        #[arg(long)]
        step_ms: u64,
    },
    /// Fill memory with compressible-but-not-trivial data and read it back (swap).
    Swap {
        #[arg(long)]
        bytes: u64,
    },
    /// Touch a region, then free every other page (fragment).
    Fragment {
        #[arg(long)]
        bytes: u64,
    },
    /// Make known address-space calls (mappings).
    /// Hold N sockets open, then close them (slab-hold).
    SlabHold {
        #[arg(long)]
        sockets: u64,
    },
    Mappings {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        anon_bytes: u64,
        #[arg(long)]
        brk_bytes: u64,
        #[arg(long)]
        shm_bytes: u64,
    },
}

impl WorkerKind {
    pub fn comm(&self) -> &'static str {
        match self {
            WorkerKind::Reclaim { .. } => COMM_RECLAIM,
            WorkerKind::Grow { .. } => COMM_OOM,
            WorkerKind::Leak { .. } => COMM_LEAK,
            WorkerKind::Swap { .. } => COMM_SWAP,
            WorkerKind::Fragment { .. } => COMM_FRAGMENT,
            WorkerKind::Mappings { .. } => crate::scenarios::mappings::COMM,
            WorkerKind::SlabHold { .. } => crate::scenarios::slab_hold::COMM,
        }
    }
}

/// The memory cgroup's path in /proc/self/cgroup text: the v1 `memory`
/// hierarchy's line, else the cgroup2 line (`0::PATH`).
fn memcg_of(proc_cgroup: &str) -> String {
    let lines: Vec<(&str, &str, &str)> = proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
        .collect();
    lines
        .iter()
        .find(|(_, ctrl, _)| ctrl.split(',').any(|c| c == "memory"))
        .or_else(|| {
            lines
                .iter()
                .find(|(id, ctrl, _)| *id == "0" && ctrl.is_empty())
        })
        .map(|(_, _, path)| path.to_string())
        .unwrap_or_default()
}

/// Runs a worker; returns its exit code.
pub fn main(args: WorkerArgs) -> Result<u8> {
    sys::set_comm(args.kind.comm())?;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let memcg = memcg_of(&cgroup);
    emit("start", json!({ "pid": sys::pid(), "memcg": memcg }))?;
    match args.kind {
        WorkerKind::Reclaim {
            file,
            file_bytes,
            heap_bytes,
        } => reclaim(&file, file_bytes, heap_bytes),
        WorkerKind::Grow {
            max_bytes,
            max_seconds,
            step_bytes,
            step_ms,
        } => grow(
            max_bytes,
            Duration::from_secs(max_seconds),
            step_bytes,
            step_ms,
        ),
        WorkerKind::Leak {
            rate_bytes_per_s,
            duration_ms,
            step_ms,
        } => leak(rate_bytes_per_s, duration_ms, step_ms),
        WorkerKind::Swap { bytes } => swap(bytes),
        WorkerKind::Fragment { bytes } => fragment(bytes),
        WorkerKind::Mappings {
            file,
            anon_bytes,
            brk_bytes,
            shm_bytes,
        } => crate::scenarios::mappings::worker(&file, anon_bytes, brk_bytes, shm_bytes),
        WorkerKind::SlabHold { sockets } => crate::scenarios::slab_hold::worker(sockets),
    }
}

/// Prints one event line for the parent.
pub(crate) fn emit(name: &str, data: Value) -> Result<()> {
    let line = json!({
        "name": name,
        "boottime_ns": sys::clock_ns(libc::CLOCK_BOOTTIME),
        "data": data,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("writing an event to the parent")?;
    out.flush().context("flushing an event to the parent")
}

/// Announces `name` and blocks until the parent says go (a line or EOF).
pub(crate) fn hold(name: &str, data: Value) -> Result<()> {
    emit(name, data)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("waiting for the parent")?;
    Ok(())
}

/// An anonymous private mapping, unmapped on drop. Used instead of the
/// allocator so sizes, page touching and madvise are exactly what we say.
struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Region {
    fn new(len: u64) -> Result<Self> {
        let len = usize::try_from(len).context("region size")?;
        if len == 0 {
            bail!("empty region");
        }
        // SAFETY: anonymous mapping with no address hint; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("mmap {len} bytes"));
        }
        Ok(Region {
            ptr: ptr.cast(),
            len,
        })
    }

    fn madvise(&self, offset: usize, len: usize, advice: libc::c_int) -> Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            bail!("madvise range outside the region");
        }
        // SAFETY: the range lies inside our mapping.
        let rc = unsafe { libc::madvise(self.ptr.add(offset).cast(), len, advice) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("madvise");
        }
        Ok(())
    }

    /// Writes one non-zero byte into every page of [offset, offset+len):
    /// enough to fault each page in as a private anonymous page.
    fn touch(&mut self, offset: usize, len: usize, page: usize) {
        let end = offset.saturating_add(len).min(self.len);
        let mut off = offset;
        while off < end {
            // SAFETY: off < self.len, inside the writable mapping.
            unsafe { std::ptr::write_volatile(self.ptr.add(off), 0x5a) };
            off += page;
        }
    }

    fn as_mut_words(&mut self) -> &mut [u64] {
        // SAFETY: the mapping is page aligned, writable, zero-filled and ours alone.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<u64>(), self.len / 8) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping created in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn page() -> usize {
    sys::page_size() as usize
}

fn reclaim(file: &PathBuf, file_bytes: u64, heap_bytes: u64) -> Result<u8> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 251) as u8 ^ 0xa5;
    }

    emit("write-start", json!({ "path": file, "bytes": file_bytes }))?;
    let t = Instant::now();
    let mut f = File::create(file).with_context(|| format!("creating {}", file.display()))?;
    let mut written = 0u64;
    while written < file_bytes {
        let n = (file_bytes - written).min(CHUNK as u64) as usize;
        f.write_all(&buf[..n])
            .with_context(|| format!("writing {}", file.display()))?;
        written += n as u64;
    }
    // Wait for writeback so dirty/writeback pages are charged and throttled here.
    f.sync_all()
        .with_context(|| format!("fsync {}", file.display()))?;
    drop(f);
    emit(
        "write-done",
        json!({ "bytes": written, "seconds": t.elapsed().as_secs_f64() }),
    )?;

    emit("read-start", json!({ "bytes": file_bytes }))?;
    let t = Instant::now();
    let mut f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut read = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    emit(
        "read-done",
        json!({ "bytes": read, "seconds": t.elapsed().as_secs_f64() }),
    )?;

    emit("heap-start", json!({ "bytes": heap_bytes }))?;
    let t = Instant::now();
    let mut heap = Region::new(heap_bytes)?;
    let len = heap.len;
    heap.touch(0, len, page());
    emit(
        "heap-done",
        json!({ "bytes": len, "seconds": t.elapsed().as_secs_f64() }),
    )?;
    hold("hold", json!({}))?;
    drop(heap);
    Ok(0)
}

fn grow(max_bytes: u64, max_time: Duration, step_bytes: u64, step_ms: u64) -> Result<u8> {
    let mut region = Region::new(max_bytes)?;
    let step = usize::try_from(step_bytes.max(1)).context("step")?;
    let start = Instant::now();
    let mut touched = 0usize;
    let mut last_report = 0usize;
    emit(
        "grow-start",
        json!({ "max_bytes": max_bytes, "step_bytes": step_bytes }),
    )?;
    while touched < region.len && start.elapsed() < max_time {
        let n = step.min(region.len - touched);
        region.touch(touched, n, page());
        touched += n;
        // Progress every 8 MiB: the last one tells how far it got before the kill.
        if touched - last_report >= 8 << 20 {
            emit("grow-progress", json!({ "touched_bytes": touched }))?;
            last_report = touched;
        }
        if step_ms > 0 {
            std::thread::sleep(Duration::from_millis(step_ms));
        }
    }
    emit(
        "cap-reached",
        json!({ "touched_bytes": touched, "seconds": start.elapsed().as_secs_f64() }),
    )?;
    Ok(EXIT_CAP_REACHED)
}

fn leak(rate: u64, duration_ms: u64, step_ms: u64) -> Result<u8> {
    let pg = page() as u64;
    let step_ms = step_ms.max(1);
    let steps = duration_ms / step_ms;
    // One mapping per step, never freed: the address space grows with RSS,
    // like a real leak, rather than faulting into a pre-made reservation.
    let mut chunks: Vec<Region> = Vec::with_capacity(steps as usize);
    let mut allocated = 0u64;
    let start = Instant::now();
    emit(
        "grow-start",
        json!({ "rate_bytes_per_s": rate, "duration_ms": duration_ms, "step_ms": step_ms }),
    )?;
    for k in 1..=steps {
        // Pace against the absolute schedule so the rate does not drift.
        let due = start + Duration::from_millis(k * step_ms);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let target = (rate as u128 * (k * step_ms) as u128 / 1000) as u64 / pg * pg;
        if target > allocated {
            let mut r = Region::new(target - allocated)?;
            let len = r.len;
            r.touch(0, len, pg as usize);
            chunks.push(r);
            allocated = target;
        }
    }
    emit(
        "grow-done",
        json!({ "allocated_bytes": allocated, "chunks": chunks.len(), "seconds": start.elapsed().as_secs_f64() }),
    )?;
    hold("hold", json!({}))?;
    // A leak never frees: exit releases it. Unmapping here first would put a
    // drop in RSS, which a sample could catch, at the end of the growth.
    std::mem::forget(chunks);
    Ok(0)
}

/// Deterministic data for page `i`: the first half random-looking words,
/// the second half zero, so zram compresses it ~2:1 but can neither treat
/// it as a same-filled page nor shrink it to nothing.
fn fill_page(words: &mut [u64], i: u64) {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let half = words.len() / 2;
    for (j, w) in words.iter_mut().enumerate() {
        if j < half {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *w = x;
        } else {
            *w = 0;
        }
    }
}

fn swap(bytes: u64) -> Result<u8> {
    let mut region = Region::new(bytes)?;
    let words_per_page = page() / 8;
    let words = region.as_mut_words();
    let pages = words.len() / words_per_page;

    emit("fill-start", json!({ "bytes": bytes }))?;
    let t = Instant::now();
    for (i, p) in words.chunks_exact_mut(words_per_page).enumerate() {
        fill_page(p, i as u64);
    }
    emit(
        "fill-done",
        json!({ "pages": pages, "seconds": t.elapsed().as_secs_f64() }),
    )?;

    emit("readback-start", json!({}))?;
    let t = Instant::now();
    let mut expect = vec![0u64; words_per_page];
    let mut bad_pages = 0u64;
    for (i, p) in words.chunks_exact(words_per_page).enumerate() {
        fill_page(&mut expect, i as u64);
        if p != expect.as_slice() {
            bad_pages += 1;
        }
    }
    emit(
        "readback-done",
        json!({ "pages": pages, "bad_pages": bad_pages, "seconds": t.elapsed().as_secs_f64() }),
    )?;
    hold("hold", json!({}))?;
    drop(region);
    Ok(if bad_pages == 0 { 0 } else { EXIT_CORRUPT })
}

fn fragment(bytes: u64) -> Result<u8> {
    let pg = page();
    let mut region = Region::new(bytes)?;
    let len = region.len / (2 * pg) * (2 * pg);
    // Base pages only: a THP here would be freed as one piece and leave
    // contiguous free memory behind instead of holes.
    region.madvise(0, region.len, libc::MADV_NOHUGEPAGE)?;
    emit("touch-start", json!({ "bytes": len }))?;
    let t = Instant::now();
    region.touch(0, len, pg);
    emit(
        "touch-done",
        json!({ "seconds": t.elapsed().as_secs_f64() }),
    )?;

    let t = Instant::now();
    let mut freed = 0u64;
    let mut off = pg;
    while off < len {
        region.madvise(off, pg, libc::MADV_DONTNEED)?;
        freed += pg as u64;
        off += 2 * pg;
    }
    // Hold the remaining half while the parent asks for high-order pages.
    hold(
        "fragmented",
        json!({ "freed_bytes": freed, "kept_bytes": len as u64 - freed, "seconds": t.elapsed().as_secs_f64() }),
    )?;
    drop(region);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcg_path_on_v1_and_v2() {
        let hybrid = "12:memory:/memscen-5-oom\n1:name=systemd:/user.slice\n0::/user.slice\n";
        assert_eq!(memcg_of(hybrid), "/memscen-5-oom");
        assert_eq!(memcg_of("0::/memscen-5-oom\n"), "/memscen-5-oom");
        assert_eq!(memcg_of("3:cpu,cpuacct:/x\n"), "");
    }

    #[test]
    fn fill_page_is_deterministic_and_half_zero() {
        let mut a = vec![0u64; 512];
        let mut b = vec![0u64; 512];
        fill_page(&mut a, 7);
        fill_page(&mut b, 7);
        assert_eq!(a, b);
        assert!(a[..256].iter().all(|&w| w != 0));
        assert!(a[256..].iter().all(|&w| w == 0));
        fill_page(&mut b, 8);
        assert_ne!(a, b);
    }
}
