//! hugetlb: known hugetlb faults and huge page pool changes. The pool
//! grows by a few default-size huge pages (`nr_hugepages`); a thread maps
//! some of them (`MAP_HUGETLB`, private: reserved at mmap) and touches
//! fewer, one write per huge page, so one fault each; then it unmaps, and
//! the pool is put back. The pool (/proc/meminfo `HugePages_*`) is read
//! after each step, and the thread naps after each so a recorder's
//! per-second pool snapshots see every state.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::RunConfig;
use crate::hugetlb::HugepagePool;
use crate::procfs;
use crate::sys;
use crate::truth::{Delta, GroundTruth};

/// The faulting thread's comm.
pub const COMM: &str = "memscen-htlb";

/// Huge pages added to the pool: few, so the scenario fits any machine.
const GROW: u64 = 8;
/// Huge pages mapped (each reserved at mmap) and, of them, touched.
const MAPPED: u64 = 6;
const TOUCHED: u64 = 4;

/// How long each state is held: a recorder snapshotting every second
/// (late by at most its 100 ms drain) takes at least one in each.
const HOLD: Duration = Duration::from_millis(1500);

/// The default huge page size's pool, as /proc/meminfo prints it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pool {
    pub total: u64,
    pub free: u64,
    pub reserved: u64,
    pub surplus: u64,
}

impl Pool {
    pub fn read() -> Result<Self> {
        let m = procfs::read_meminfo()?;
        let v = |k: &str| procfs::meminfo_value(&m, k);
        Ok(Pool {
            total: v("HugePages_Total")?,
            free: v("HugePages_Free")?,
            reserved: v("HugePages_Rsvd")?,
            surplus: v("HugePages_Surp")?,
        })
    }
}

/// The pool after one step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `grown`, `mapped`, `touched`, `unmapped` or `restored`.
    pub step: String,
    pub boottime_ns: u64,
    pub pool: Pool,
}

/// `hugetlb` section of the ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct HugetlbTruth {
    /// The default huge page size (`Hugepagesize`), which the mapping uses.
    pub page_size_kb: u64,
    /// `nr_hugepages` before, asked for, got, and put back.
    pub original: u64,
    pub requested: u64,
    pub allocated: u64,
    pub restored: u64,
    /// memscen's pid and its faulting thread's id.
    pub pid: i32,
    pub tid: i32,
    /// Huge pages mapped, and touched: the faults made (one per page).
    pub mapped_pages: u64,
    pub touched_pages: u64,
    /// CLOCK_BOOTTIME just before the first touch and just after the last.
    pub touch_start_ns: u64,
    pub touch_end_ns: u64,
    /// The process's `HugetlbPages` (/proc/PID/status) after the touches.
    pub status_hugetlb_kb: u64,
    /// The pool after each step, in order.
    pub steps: Vec<Step>,
    pub htlb_buddy_alloc_success: Delta,
    pub htlb_buddy_alloc_fail: Delta,
}

/// What the faulting thread saw.
struct Touched {
    tid: i32,
    start_ns: u64,
    end_ns: u64,
    status_hugetlb_kb: u64,
    steps: Vec<Step>,
}

fn step(name: &str) -> Result<Step> {
    Ok(Step {
        step: name.to_string(),
        boottime_ns: sys::Stamp::now().boottime_ns,
        pool: Pool::read()?,
    })
}

fn hugetlb_status_kb() -> Result<u64> {
    let text = procfs::read_text("/proc/self/status")?;
    text.lines()
        .find_map(|l| l.strip_prefix("HugetlbPages:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/self/status has no HugetlbPages")
}

/// Maps `MAPPED` huge pages, touches `TOUCHED`, unmaps; in its own thread
/// so its faults have their own thread id and comm.
fn map_and_touch(page: usize) -> Result<Touched> {
    sys::set_comm(COMM)?;
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    let len = page * MAPPED as usize;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB;
    // SAFETY: a new anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!(
            "mmap(MAP_HUGETLB, {len} bytes): {}",
            std::io::Error::last_os_error()
        );
    }
    let mut steps = vec![step("mapped")?];
    std::thread::sleep(HOLD);
    let start_ns = sys::Stamp::now().boottime_ns;
    for i in 0..TOUCHED as usize {
        // SAFETY: inside the mapping; one write faults the whole huge page in.
        unsafe { std::ptr::write_volatile((p as *mut u8).add(i * page), 1) };
    }
    let end_ns = sys::Stamp::now().boottime_ns;
    let status_hugetlb_kb = hugetlb_status_kb();
    steps.push(step("touched")?);
    std::thread::sleep(HOLD);
    // SAFETY: the mapping made above, no longer used.
    if unsafe { libc::munmap(p, len) } != 0 {
        bail!("munmap: {}", std::io::Error::last_os_error());
    }
    steps.push(step("unmapped")?);
    Ok(Touched {
        tid,
        start_ns,
        end_ns,
        status_hugetlb_kb: status_hugetlb_kb?,
        steps,
    })
}

pub fn run(_cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let meminfo = procfs::read_meminfo()?;
    let page_size_kb = procfs::meminfo_value(&meminfo, "Hugepagesize")?;
    if page_size_kb == 0 {
        bail!("Hugepagesize is 0: no hugetlb support");
    }
    let mut pool = HugepagePool::save()?;
    let original = pool.original();
    let requested = original + GROW;

    truth.begin(None)?;
    let allocated = pool.request(requested);
    let grown = step("grown");
    std::thread::sleep(HOLD);
    let touched = match (&allocated, grown) {
        (Ok(n), Ok(grown)) if *n == requested => {
            let page = (page_size_kb * 1024) as usize;
            std::thread::Builder::new()
                .name(COMM.to_string())
                .spawn(move || map_and_touch(page))
                .context("starting the faulting thread")?
                .join()
                .map_err(|_| anyhow::anyhow!("the faulting thread panicked"))?
                .map(|t| (grown, t))
        }
        (Ok(_), Err(e)) => Err(anyhow::anyhow!("reading /proc/meminfo: {e:#}")),
        (Ok(n), Ok(_)) => Err(anyhow::anyhow!(
            "the pool grew to {n} huge pages, not {requested}"
        )),
        (Err(e), _) => Err(anyhow::anyhow!("growing the pool: {e:#}")),
    };
    std::thread::sleep(HOLD);
    // Restore before anything else, even if a step failed.
    let restored = pool.restore()?;
    let restored_step = step("restored")?;
    truth.end(None)?;
    let (grown, t) = touched?;
    let allocated = allocated?;

    let success = truth.vm_delta("htlb_buddy_alloc_success")?;
    let fail = truth.vm_delta("htlb_buddy_alloc_fail")?;
    let mut steps = vec![grown];
    steps.extend(t.steps);
    steps.push(restored_step);
    let at = |name: &str| steps.iter().find(|s| s.step == name).map(|s| s.pool);
    let (g, m, tp) = (at("grown"), at("mapped"), at("touched"));
    let produced = matches!((g, m, tp), (Some(g), Some(m), Some(tp))
        if m.reserved == g.reserved + MAPPED
            && tp.free + TOUCHED == g.free
            && tp.reserved + TOUCHED == m.reserved)
        && t.status_hugetlb_kb == TOUCHED * page_size_kb
        && restored == original;
    truth.set_verdict(
        produced,
        if produced {
            format!(
                "{TOUCHED} hugetlb faults of {page_size_kb} kB by thread {}, pool {original} -> {allocated} -> {restored}",
                t.tid
            )
        } else {
            format!("the pool did not move as planned: {steps:?}")
        },
    );
    truth.note(format!(
        "pool {original} -> {allocated} ({page_size_kb} kB pages), {MAPPED} mapped, {TOUCHED} touched by {COMM} (tid {}), restored to {restored}",
        t.tid
    ));
    truth.note(format!(
        "htlb_buddy_alloc_success +{}, htlb_buddy_alloc_fail +{}",
        success.delta, fail.delta
    ));
    truth.hugetlb = Some(HugetlbTruth {
        page_size_kb,
        original,
        requested,
        allocated,
        restored,
        pid: sys::pid(),
        tid: t.tid,
        mapped_pages: MAPPED,
        touched_pages: TOUCHED,
        touch_start_ns: t.start_ns,
        touch_end_ns: t.end_ns,
        status_hugetlb_kb: t.status_hugetlb_kb,
        steps,
        htlb_buddy_alloc_success: success,
        htlb_buddy_alloc_fail: fail,
    });
    Ok(())
}
