//! `membench gen`: a storm of memory events at a controlled rate.
//!
//! What memrec records (with its default probes) and so what a generator
//! must cause:
//! - procstat: one sample of a process when one of its threads leaves a CPU
//!   or changes its RSS (kmem:rss_stat), at most once per
//!   `--procstat-interval` (100 ms) per process and only when a counter
//!   changed, plus one at exit. Many *processes* are needed for many samples:
//!   a short-lived process gives 2 (its first fault, its exit).
//! - pr: reclaim in a small memcg gives memcg_reclaim begin/end, one
//!   lru_shrink_inactive/active per LRU scanned and shrink_slab start/end per
//!   shrinker, per 32 pages reclaimed.
//! - paf: only failed allocations (rare from user space), sysstat: one
//!   snapshot per second and per pressure event (rate-limited), oom: none.
//!
//! Parts, each in its own processes (so memrec's per-process limit applies
//! to each): `spawn` (short-lived processes, CLONE_VM so creation is cheap;
//! each is its own thread group and faults one page), `residents` (many
//! processes that fault at 20 Hz each: ≤ 10 samples/s each with the default
//! interval), `churn` (a few processes doing mmap/touch/munmap as fast as the
//! rate says: one sample per operation only when memrec's procstat interval
//! is shorter than the operation period), `reclaim` (one reader of a file
//! larger than its memcg's limit).

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{info, warn};

use crate::sys::{self, Mapping, Memcg, Pacer, ScratchFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Short-lived processes + resident faulters + memcg reclaim; the rate is
    /// split so that, with memrec's defaults, recorded events ≈ rate.
    Storm,
    /// Short-lived processes only: rate/2 processes per second.
    Spawn,
    /// mmap/touch/munmap loops in --workers processes: rate operations/s.
    Churn,
    /// Reclaim in a small memcg only.
    Reclaim,
}

/// Settings of one generator run.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct GenArgs {
    /// What to generate.
    #[arg(long, value_enum, default_value = "storm")]
    pub mode: Mode,
    /// Target recorded events per second (see the mode for how it is split).
    #[arg(long, default_value_t = 100_000.0)]
    pub rate: f64,
    /// How long to generate, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Processes for `churn`.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Resident faulting processes in `storm` (each ≤ 10 samples/s).
    #[arg(long, default_value_t = 256)]
    pub residents: usize,
    /// Reclaim reader's read rate in MiB/s (`storm` and `reclaim`; 0: none
    /// in storm). About 50 rows per MiB; the reads cost a lot of kernel CPU
    /// (charge and reclaim per page), which the other parts need.
    #[arg(long, default_value_t = 40.0)]
    pub reclaim_mibps: f64,
    /// Memory limit of the reclaim memcg, MiB.
    #[arg(long, default_value_t = 16)]
    pub memcg_mib: u64,
    /// Size of the file the reclaim reader reads over and over, MiB.
    #[arg(long, default_value_t = 64)]
    pub file_mib: u64,
    /// Most short-lived processes alive at once.
    #[arg(long, default_value_t = 64)]
    pub max_children: usize,
}

/// Counters the generator processes share (a MAP_SHARED page).
#[repr(C)]
struct Shared {
    spawned: AtomicU64,
    spawn_failed: AtomicU64,
    churn_ops: AtomicU64,
    resident_ops: AtomicU64,
    reclaim_bytes: AtomicU64,
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GenReport {
    pub mode: String,
    pub target_rate: f64,
    pub seconds: f64,
    pub spawned: u64,
    pub spawn_failed: u64,
    pub spawn_target_per_s: f64,
    pub churn_ops: u64,
    pub resident_ops: u64,
    pub residents: usize,
    pub reclaim_bytes: u64,
    pub load: String,
}

struct SharedMap {
    ptr: *mut Shared,
}

impl SharedMap {
    fn new() -> Result<Self> {
        // SAFETY: a fresh shared anonymous mapping, checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!("mmap shared counters: {}", std::io::Error::last_os_error());
        }
        // Zero-filled memory is a valid `Shared` (atomics of 0).
        Ok(SharedMap {
            ptr: p as *mut Shared,
        })
    }

    fn get(&self) -> &Shared {
        // SAFETY: the page lives until drop and holds only atomics.
        unsafe { &*self.ptr }
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: unmapping what new() mapped.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, 4096) };
    }
}

/// Forks a helper that runs `f` and exits; the helper dies with us.
fn fork_helper(name: &str, f: impl FnOnce() -> Result<()>) -> Result<libc::pid_t> {
    // SAFETY: the generator is single-threaded when it forks, and the child
    // only runs `f` and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork {name}: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        sys::die_with_parent();
        let code = match f() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("membench gen {name}: {e:#}");
                1
            }
        };
        // SAFETY: leave without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// The body of a short-lived process: its own thread group in our address
/// space. It drops and re-faults its own page (two rss_stat events), then
/// exits. Only raw system calls: it shares the parent's memory.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let page = arg as *mut u8;
    // SAFETY: `page` is this child's own page in the spawner's mapping.
    unsafe {
        libc::madvise(page as *mut libc::c_void, 4096, libc::MADV_DONTNEED);
        std::ptr::write_volatile(page, 1);
        libc::_exit(0)
    }
}

fn spawner(rate: f64, deadline: Instant, max_children: usize, shared: &Shared) -> Result<()> {
    const STACK: usize = 64 * 1024;
    let page = sys::page_size();
    let n = max_children.max(1);
    let stacks = Mapping::anon(n * STACK, false)?;
    let pages = Mapping::anon(n * page, false)?;
    let mut free: Vec<usize> = (0..n).collect();
    let mut running: HashMap<libc::pid_t, usize> = HashMap::new();
    let mut pacer = Pacer::new(rate);
    let reap = |block: bool, running: &mut HashMap<libc::pid_t, usize>, free: &mut Vec<usize>| loop {
        let mut st = 0;
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: waiting for our own children.
        let pid = unsafe { libc::waitpid(-1, &mut st, flags) };
        if pid <= 0 {
            break;
        }
        if let Some(slot) = running.remove(&pid) {
            free.push(slot);
        }
        if block {
            break;
        }
    };
    while Instant::now() < deadline && !sys::stopping() {
        reap(false, &mut running, &mut free);
        let due = pacer.due();
        if due == 0 {
            pacer.wait(Duration::from_millis(2));
            continue;
        }
        for _ in 0..due {
            let Some(slot) = free.pop() else {
                reap(true, &mut running, &mut free);
                break;
            };
            // SAFETY: the stack and page are this slot's alone until it is
            // reaped; the stack grows down from its top.
            let pid = unsafe {
                let top = stacks.ptr.add((slot + 1) * STACK) as *mut libc::c_void;
                let arg = pages.ptr.add(slot * page) as *mut libc::c_void;
                libc::clone(child_main, top, libc::CLONE_VM | libc::SIGCHLD, arg)
            };
            if pid < 0 {
                free.push(slot);
                shared.spawn_failed.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
                break;
            }
            running.insert(pid, slot);
            pacer.done += 1;
            shared.spawned.fetch_add(1, Ordering::Relaxed);
        }
    }
    while !running.is_empty() {
        reap(true, &mut running, &mut free);
    }
    Ok(())
}

/// One mmap, one page fault, one munmap. The mapping is 1 or 2 pages in
/// turn so that total_vm (part of procstat's change fingerprint) differs
/// from one operation to the next: with a procstat interval shorter than an
/// operation, each operation is one recorded sample (its fault's rss_stat).
fn churn_op(i: u64, page: usize) -> Result<()> {
    let pages = 1 + (i % 2) as usize;
    let m = Mapping::anon(pages * page, false)?;
    // SAFETY: the first byte of the fresh mapping.
    unsafe { std::ptr::write_volatile(m.ptr, 1) };
    Ok(())
}

fn churner(rate: f64, deadline: Instant, counter: &AtomicU64) -> Result<()> {
    let page = sys::page_size();
    let mut pacer = Pacer::new(rate);
    let mut i = 0u64;
    while Instant::now() < deadline && !sys::stopping() {
        let due = pacer.due().min(4096);
        if due == 0 {
            pacer.wait(Duration::from_millis(2));
            continue;
        }
        for _ in 0..due {
            churn_op(i, page)?;
            i += 1;
        }
        pacer.done += due;
        counter.fetch_add(due, Ordering::Relaxed);
    }
    Ok(())
}

fn reclaimer(
    mibps: f64,
    deadline: Instant,
    memcg: &Memcg,
    file: &std::path::Path,
    shared: &Shared,
) -> Result<()> {
    memcg.enter()?;
    let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    sys::no_readahead(&f);
    let mut buf = vec![0u8; 1 << 20];
    // One "operation" per 1 MiB chunk.
    let mut pacer = Pacer::new(if mibps > 0.0 { mibps } else { 1e9 });
    while Instant::now() < deadline && !sys::stopping() {
        if pacer.due() == 0 {
            pacer.wait(Duration::from_millis(5));
            continue;
        }
        let n = f.read(&mut buf).context("reading the scratch file")?;
        if n == 0 {
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(0)).context("rewinding")?;
            continue;
        }
        pacer.done += 1;
        shared.reclaim_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Runs the generator to its end and says what it did.
pub fn run(a: &GenArgs) -> Result<GenReport> {
    let shared = SharedMap::new()?;
    let s = shared.get();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.seconds);
    let mut pids: Vec<libc::pid_t> = Vec::new();

    let (spawn_rate, residents, churn_rate, reclaim) = match a.mode {
        Mode::Storm => {
            let residents = a.residents.min((a.rate / 10.0 / 4.0) as usize);
            let rest = (a.rate - 10.0 * residents as f64).max(0.0);
            (rest / 2.0, residents, 0.0, a.reclaim_mibps > 0.0)
        }
        Mode::Spawn => (a.rate / 2.0, 0, 0.0, false),
        Mode::Churn => (0.0, 0, a.rate, false),
        Mode::Reclaim => (0.0, 0, 0.0, true),
    };

    // The reclaim memcg and its file outlive the helpers (dropped last).
    let mut _reclaim_guard: Option<(Memcg, ScratchFile)> = None;
    if reclaim {
        let file = ScratchFile::create("gen", a.file_mib << 20)?;
        let memcg = Memcg::create("gen", a.memcg_mib << 20)?;
        let path = file.path.clone();
        let mibps = a.reclaim_mibps;
        let memcg_ref = &memcg;
        pids.push(fork_helper("reclaim", || {
            reclaimer(mibps, deadline, memcg_ref, &path, s)
        })?);
        _reclaim_guard = Some((memcg, file));
    }
    for r in 0..residents {
        // Each resident faults at 20 Hz with its own phase.
        let phase = Duration::from_micros((r as u64 * 50_000 / residents.max(1) as u64) % 50_000);
        pids.push(fork_helper("resident", || {
            std::thread::sleep(phase);
            churner(20.0, deadline, &s.resident_ops)
        })?);
    }
    if churn_rate > 0.0 {
        let w = a.workers.max(1);
        for _ in 0..w {
            let per = churn_rate / w as f64;
            pids.push(fork_helper("churn", || {
                churner(per, deadline, &s.churn_ops)
            })?);
        }
    }
    if spawn_rate > 0.0 {
        let max = a.max_children;
        pids.push(fork_helper("spawn", || {
            spawner(spawn_rate, deadline, max, s)
        })?);
    }
    info!(
        helpers = pids.len(),
        spawn_rate, residents, churn_rate, reclaim, "generating"
    );

    // Wait for every helper; anything still alive 10 s past the deadline is killed.
    let hard = deadline + Duration::from_secs(10);
    let mut left: Vec<libc::pid_t> = pids.clone();
    while !left.is_empty() {
        left.retain(|&pid| {
            let mut st = 0;
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid && libc::WIFEXITED(st) && libc::WEXITSTATUS(st) != 0 {
                warn!(
                    pid,
                    code = libc::WEXITSTATUS(st),
                    "a generator helper failed"
                );
            }
            r == 0
        });
        if Instant::now() > hard {
            for &pid in &left {
                sys::signal(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(GenReport {
        mode: format!("{:?}", a.mode).to_lowercase(),
        target_rate: a.rate,
        seconds,
        spawned: s.spawned.load(Ordering::Relaxed),
        spawn_failed: s.spawn_failed.load(Ordering::Relaxed),
        spawn_target_per_s: spawn_rate,
        churn_ops: s.churn_ops.load(Ordering::Relaxed),
        resident_ops: s.resident_ops.load(Ordering::Relaxed),
        residents,
        reclaim_bytes: s.reclaim_bytes.load(Ordering::Relaxed),
        load: sys::load_string(),
    })
}
