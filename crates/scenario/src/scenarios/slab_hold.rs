//! slab-hold: a worker holds a known number of kernel objects of known slab
//! caches for a while, then releases them, and memscen reads
//! /proc/slabinfo around each step, so a recording of kernel allocations
//! (memrec's kmemleak group) can be checked against the kernel's own count
//! of objects in use.
//!
//! The objects: N Unix datagram sockets. Each `socket()` takes exactly one
//! `sock_inode_cache` object (the socket's inode; a cache with a
//! constructor, which the slab allocator never merges with another) and one
//! `filp` (its open file), among others; `close()` gives them back, the
//! inode after an RCU grace period (and the file too before 6.7).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;

use super::{spawn_worker, RunConfig};
use crate::supervise::Waited;
use crate::truth::GroundTruth;
use crate::worker::{emit, hold};

/// The worker's comm.
pub const COMM: &str = "memscen-slab";

/// The caches read, the first the one the checks rely on.
pub const CACHES: [&str; 2] = ["sock_inode_cache", "filp"];

/// Reads of /proc/slabinfo before the worker opens anything, to see how
/// much the rest of the machine moves the counts meanwhile.
const IDLE_READS: u32 = 5;
const IDLE_GAP: Duration = Duration::from_millis(100);
/// How long the sockets are held (open) before they are closed.
const HOLD: Duration = Duration::from_millis(1000);
/// Writing 1 here runs rcu_barrier() (kernels with lazy RCU, 6.2+).
const RCU_BARRIER: &str = "/sys/module/rcutree/parameters/do_rcu_barrier";
/// Most time given to the RCU-delayed frees after the close.
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// `slab_hold` section of the ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct SlabHoldTruth {
    /// The worker's pid (one thread makes every call).
    pub pid: i32,
    pub comm: String,
    /// Sockets opened, held and closed.
    pub sockets: u64,
    pub nr_cpus: usize,
    /// CLOCK_BOOTTIME around the worker's `socket()` calls, and around its
    /// `close()` calls.
    pub open_start_ns: u64,
    pub open_end_ns: u64,
    pub close_start_ns: u64,
    pub close_end_ns: u64,
    /// When memscen read /proc/slabinfo with every socket open.
    pub held_ns: u64,
    /// memscen made the kernel run every queued RCU callback after the
    /// close (rcutree's `do_rcu_barrier`), so every object the close gave
    /// back was freed before the `after` read.
    pub rcu_barrier: bool,
    /// Each cache, by name.
    pub caches: BTreeMap<String, CacheTruth>,
}

/// One cache: /proc/slabinfo `active_objs` at each step, and the sizes
/// /sys/kernel/slab/<name>/ gives (what bounds the per-CPU caching).
#[derive(Debug, Clone, Serialize)]
pub struct CacheTruth {
    /// The cache is an alias of another (`/sys/kernel/slab/<name>` is a
    /// link to a merged cache): then /proc/slabinfo and the tracepoints
    /// name the merged cache, not this one.
    pub merged_into: Option<String>,
    pub object_size: Option<u64>,
    pub objs_per_slab: Option<u64>,
    /// Objects a CPU may keep in partial slabs of its own (`cpu_partial`).
    pub cpu_partial: Option<u64>,
    /// `active_objs` over the idle reads before the worker opened anything
    /// (the last is `before`).
    pub idle: Vec<u64>,
    pub before: Option<u64>,
    pub held: Option<u64>,
    pub after: Option<u64>,
    /// When `after` was read (the frees may wait for RCU).
    pub after_ns: u64,
}

/// `active_objs` of every cache in /proc/slabinfo.
fn slabinfo() -> Result<BTreeMap<String, u64>> {
    let text = crate::procfs::read_text("/proc/slabinfo")?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("slabinfo"))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect())
}

fn sys_value(cache: &str, file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/sys/kernel/slab/{cache}/{file}")).ok()?;
    // `cpu_partial` is a number; some files add per-node detail after it.
    text.split_whitespace().next()?.parse().ok()
}

fn merged_into(cache: &str) -> Option<String> {
    let link = std::fs::read_link(format!("/sys/kernel/slab/{cache}")).ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let sockets = cfg.scale.pick(4096u64, 16_384);
    let nr_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut caches: BTreeMap<String, CacheTruth> = CACHES
        .iter()
        .map(|&c| {
            (
                c.to_string(),
                CacheTruth {
                    merged_into: merged_into(c),
                    object_size: sys_value(c, "object_size"),
                    objs_per_slab: sys_value(c, "objs_per_slab"),
                    cpu_partial: sys_value(c, "cpu_partial"),
                    idle: Vec::new(),
                    before: None,
                    held: None,
                    after: None,
                    after_ns: 0,
                },
            )
        })
        .collect();

    truth.begin(None)?;
    let mut w = spawn_worker(
        &["slab-hold", "--sockets", &sockets.to_string()],
        COMM,
        None,
        Duration::from_secs(1),
    )?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let held_ns;
    let rcu_barrier;
    match w.wait_for(Some("ready"), deadline)? {
        Waited::Event => {
            for i in 0..IDLE_READS {
                if i > 0 {
                    std::thread::sleep(IDLE_GAP);
                }
                let s = slabinfo()?;
                for (name, c) in caches.iter_mut() {
                    c.idle.extend(s.get(name));
                    c.before = s.get(name).copied();
                }
            }
            w.resume()?;
        }
        Waited::Exited => bail!("the worker exited before it was ready"),
    }
    match w.wait_for(Some("opened"), deadline)? {
        Waited::Event => {
            held_ns = crate::sys::Stamp::now().boottime_ns;
            let s = slabinfo()?;
            for (name, c) in caches.iter_mut() {
                c.held = s.get(name).copied();
            }
            std::thread::sleep(HOLD);
            w.resume()?;
        }
        Waited::Exited => bail!("the worker exited before it opened its sockets"),
    }
    match w.wait_for(Some("closed"), deadline)? {
        Waited::Event => {
            // The inodes (and, before 6.7, the files) are freed by RCU
            // callbacks after a grace period, which lazy RCU (6.2+) may
            // hold back for up to 10 s: where the kernel lets user space
            // ask for an rcu_barrier() (waits until every queued callback
            // has run), ask; then wait until the cache is back where it
            // was, or for a bound.
            rcu_barrier = std::fs::write(RCU_BARRIER, "1")
                .map_err(|e| tracing::info!("{RCU_BARRIER}: {e}"))
                .is_ok();
            let settle = Instant::now() + SETTLE_MAX;
            let first = CACHES[0];
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let s = slabinfo()?;
                let now = crate::sys::Stamp::now().boottime_ns;
                for (name, c) in caches.iter_mut() {
                    c.after = s.get(name).copied();
                    c.after_ns = now;
                }
                let c = &caches[first];
                let back = match (c.before, c.after) {
                    (Some(b), Some(a)) => a <= b + sockets / 16,
                    _ => true,
                };
                if back || Instant::now() >= settle {
                    break;
                }
            }
            w.finish(deadline)?;
        }
        Waited::Exited => bail!("the worker exited before it closed its sockets"),
    }
    truth.add_worker(&w);
    truth.end(None)?;

    let wt = w.truth.clone();
    let ev = |name: &str, field: &str| {
        wt.events
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.data.get(field)?.as_u64())
    };
    let opened = ev("opened", "count");
    let first = &caches[CACHES[0]];
    let delta = first
        .held
        .zip(first.before)
        .map(|(h, b)| h as i64 - b as i64);
    let produced = wt.exit_code == Some(0)
        && opened == Some(sockets)
        && delta.is_some_and(|d| d > 0)
        && first.merged_into.is_none();
    truth.set_verdict(
        produced,
        match delta {
            Some(d) if produced => format!(
                "{sockets} sockets held: {} active_objs {d:+} in /proc/slabinfo",
                CACHES[0]
            ),
            _ => format!(
                "worker exit {:?}, opened {opened:?} of {sockets}, {} active_objs change {delta:?}, merged into {:?}",
                wt.exit_code, CACHES[0], first.merged_into
            ),
        },
    );
    for (name, c) in &caches {
        truth.note(format!(
            "{name}: active_objs idle {:?}, before {:?}, held {:?}, after {:?}{}",
            c.idle,
            c.before,
            c.held,
            c.after,
            c.merged_into
                .as_ref()
                .map(|m| format!(" (merged into {m})"))
                .unwrap_or_default()
        ));
    }
    truth.slab_hold = Some(SlabHoldTruth {
        pid: wt.pid,
        comm: COMM.to_string(),
        sockets,
        nr_cpus,
        open_start_ns: ev("opened", "start_ns").unwrap_or(0),
        open_end_ns: ev("opened", "end_ns").unwrap_or(0),
        close_start_ns: ev("closed", "start_ns").unwrap_or(0),
        close_end_ns: ev("closed", "end_ns").unwrap_or(0),
        held_ns,
        rcu_barrier,
        caches,
    });
    Ok(())
}

/// The worker: N sockets opened, held until memscen has read the counts,
/// closed, held again until memscen has seen them freed.
pub fn worker(sockets: u64) -> Result<u8> {
    let n = usize::try_from(sockets).context("socket count")?;
    let want = sockets + 64;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if lim.rlim_cur < want {
        lim.rlim_cur = want;
        lim.rlim_max = lim.rlim_max.max(want);
        // SAFETY: a valid rlimit; raising the hard limit needs root, which memscen has.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            bail!(
                "setrlimit(RLIMIT_NOFILE, {want}): {}",
                std::io::Error::last_os_error()
            );
        }
    }
    // Made before the window: the calls inside it are the sockets' alone.
    let mut fds: Vec<libc::c_int> = Vec::with_capacity(n);
    hold("ready", json!({}))?;
    let start_ns = crate::sys::Stamp::now().boottime_ns;
    for _ in 0..n {
        // SAFETY: plain system call.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            emit(
                "error",
                json!({ "socket": e.to_string(), "opened": fds.len() }),
            )?;
            break;
        }
        fds.push(fd);
    }
    let end_ns = crate::sys::Stamp::now().boottime_ns;
    let count = fds.len() as u64;
    hold(
        "opened",
        json!({ "count": count, "start_ns": start_ns, "end_ns": end_ns }),
    )?;
    let start_ns = crate::sys::Stamp::now().boottime_ns;
    for fd in fds.drain(..) {
        // SAFETY: a descriptor this process opened above.
        unsafe { libc::close(fd) };
    }
    let end_ns = crate::sys::Stamp::now().boottime_ns;
    hold("closed", json!({ "start_ns": start_ns, "end_ns": end_ns }))?;
    Ok(if count == sockets { 0 } else { 1 })
}
