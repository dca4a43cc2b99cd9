//! The scenarios. Each `run` sets up its situation, takes the before/after
//! snapshots around it, fills its section of the ground truth and says
//! whether the situation happened. Cleanup is by Drop guards declared in
//! the order of setup, so they undo it in reverse, also on error or signal.

mod alloc_fail;
mod fragment;
pub(crate) mod heap_leak;
pub(crate) mod hugetlb;
mod leak;
pub(crate) mod mappings;
mod memcg_reclaim;
mod oom;
pub(crate) mod slab_hold;
mod swap;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::ValueEnum;

use crate::cgroup::{Hierarchy, MemCgroup, MemcgStat};
use crate::supervise::Worker;
use crate::truth::GroundTruth;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioName {
    /// memcg reclaim, LRU shrinking, dirty/writeback in a 64 MiB memcg.
    MemcgReclaim,
    /// A worker grows until the memcg OOM killer kills it.
    Oom,
    /// Order-9 allocation failures by over-asking the huge page pool.
    AllocFail,
    /// Anonymous memory growing at a steady, known rate.
    Leak,
    /// Anonymous pages swapped out to zram and faulted back in.
    Swap,
    /// Fragmented free memory plus high-order requests: compaction.
    Fragment,
    /// Known counts and sizes of mmap, munmap, mremap, brk, madvise, mprotect and SysV shm calls.
    Mappings,
    /// Known hugetlb faults and huge page pool changes.
    Hugetlb,
    /// Heap blocks leaked through one named C call chain, churned through another.
    HeapLeak,
    /// Known numbers of slab objects held, then freed.
    SlabHold,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 10] = [
        ScenarioName::MemcgReclaim,
        ScenarioName::Oom,
        ScenarioName::AllocFail,
        ScenarioName::Leak,
        ScenarioName::Swap,
        ScenarioName::Fragment,
        ScenarioName::Mappings,
        ScenarioName::Hugetlb,
        ScenarioName::HeapLeak,
        ScenarioName::SlabHold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::MemcgReclaim => "memcg-reclaim",
            ScenarioName::Oom => "oom",
            ScenarioName::AllocFail => "alloc-fail",
            ScenarioName::Leak => "leak",
            ScenarioName::Swap => "swap",
            ScenarioName::Fragment => "fragment",
            ScenarioName::Mappings => "mappings",
            ScenarioName::Hugetlb => "hugetlb",
            ScenarioName::HeapLeak => "heap-leak",
            ScenarioName::SlabHold => "slab-hold",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ScenarioName::MemcgReclaim => {
                "write+read a 256 MiB file and grow a 40 MiB heap in a 64 MiB memcg: memcg reclaim, LRU shrinking, dirty/writeback, no OOM"
            }
            ScenarioName::Oom => {
                "grow the heap in a 64 MiB memcg (no swap) until the memcg OOM killer kills the worker"
            }
            ScenarioName::AllocFail => {
                "ask nr_hugepages for more 2 MiB pages than memory holds: order-9 buddy allocation failures, then restore"
            }
            ScenarioName::Leak => {
                "grow anonymous memory at 4 MiB/s for 10 s, touching every page, RSS sampled each second"
            }
            ScenarioName::Swap => {
                "zram swap + 64 MiB memcg: a worker fills ~200 MiB, pages go out to swap and are faulted back in"
            }
            ScenarioName::Fragment => {
                "free every other page of a large region, then raise nr_hugepages past the unfragmented memory: compaction"
            }
            ScenarioName::Mappings => {
                "a worker makes known numbers of mmap (anonymous and file), mremap, brk, mprotect, madvise, munmap and SysV shm calls, and 9 that fail with known errnos"
            }
            ScenarioName::Hugetlb => {
                "grow the huge page pool by 8 pages, map 6 (MAP_HUGETLB) and touch 4 of them (4 hugetlb faults), unmap, restore the pool"
            }
            ScenarioName::HeapLeak => {
                "a C worker leaks 4096 heap blocks of 4 sizes (small: 1024) through memtrace_leak_outer/middle/alloc and mallocs and frees 100 000 (small: 5000) through a churn chain; its program is deleted afterwards"
            }
            ScenarioName::SlabHold => {
                "a worker holds 16 384 Unix sockets (small: 4096) open for a second (sock_inode_cache and filp objects), then closes them; /proc/slabinfo read around each step"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Reduced sizes and durations: a few seconds per scenario (CI).
    Small,
    /// The full-size situation.
    Normal,
}

impl Scale {
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Normal => "normal",
        }
    }

    /// Picks the value for this scale.
    pub fn pick<T>(self, small: T, normal: T) -> T {
        match self {
            Scale::Small => small,
            Scale::Normal => normal,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig<'a> {
    /// Where the scenario's memcg is made (cgroup v1 or v2).
    pub memcgs: &'a Hierarchy,
    pub scenario: ScenarioName,
    pub scale: Scale,
    pub truth: Option<PathBuf>,
    pub leak_rate_mib_per_s: Option<u64>,
    pub leak_seconds: Option<u64>,
    pub compact_memory: bool,
}

/// Runs a scenario; Ok(true) when the situation happened.
pub fn run(cfg: &RunConfig) -> Result<bool> {
    let mut truth = GroundTruth::new(cfg.scenario.as_str(), cfg.scale.as_str());
    truth.cgroup_version = Some(cfg.memcgs.version());
    match cfg.scenario {
        ScenarioName::MemcgReclaim => memcg_reclaim::run(cfg, &mut truth)?,
        ScenarioName::Oom => oom::run(cfg, &mut truth)?,
        ScenarioName::AllocFail => alloc_fail::run(cfg, &mut truth)?,
        ScenarioName::Leak => leak::run(cfg, &mut truth)?,
        ScenarioName::Swap => swap::run(cfg, &mut truth)?,
        ScenarioName::Fragment => fragment::run(cfg, &mut truth)?,
        ScenarioName::Mappings => mappings::run(cfg, &mut truth)?,
        ScenarioName::Hugetlb => hugetlb::run(cfg, &mut truth)?,
        ScenarioName::HeapLeak => heap_leak::run(cfg, &mut truth)?,
        ScenarioName::SlabHold => slab_hold::run(cfg, &mut truth)?,
    }
    truth.print_summary();
    if let Some(path) = &cfg.truth {
        truth.write(path)?;
        tracing::info!(path = %path.display(), "ground truth written");
    }
    Ok(truth.produced)
}

/// The memcg name all scenarios use: memscen-<pid>-<scenario>.
pub fn memcg_name(scenario: ScenarioName) -> String {
    format!("memscen-{}-{}", crate::sys::pid(), scenario.as_str())
}

/// Spawns a worker with the given `memscen worker` arguments.
pub fn spawn_worker(
    args: &[&str],
    comm: &str,
    memcg: Option<&MemCgroup>,
    sample_every: Duration,
) -> Result<Worker> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Worker::spawn(&args, comm, memcg, sample_every)
}

/// Peak of one status field over the samples, kB.
pub fn peak_kb(w: &Worker, f: impl Fn(&crate::procfs::ProcStatus) -> Option<u64>) -> u64 {
    w.samples
        .iter()
        .filter_map(|s| f(&s.status))
        .max()
        .unwrap_or(0)
}

/// A number from a worker event's data.
pub fn event_u64(w: &Worker, event: &str, field: &str) -> Option<u64> {
    w.event(event)?.data.get(field)?.as_u64()
}

pub fn event_f64(w: &Worker, event: &str, field: &str) -> Option<f64> {
    w.event(event)?.data.get(field)?.as_f64()
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// Deletes a scratch file on drop (the worker may be killed before it can).
#[derive(Debug)]
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => tracing::info!(path = %self.0.display(), "removed scratch file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %self.0.display(), "removing scratch file: {e}"),
        }
    }
}

/// A memcg counter's delta out of the before/after snapshots; None when
/// the cgroup version in use has no such counter (see [`MemcgStat`]).
pub fn memcg_stat_delta(truth: &GroundTruth, stat: MemcgStat) -> Option<crate::truth::Delta> {
    let memcg = |s: &Option<crate::truth::SystemSnapshot>| s.as_ref().and_then(|s| s.memcg.clone());
    let (before, after) = (memcg(&truth.before), memcg(&truth.after));
    let version = after.as_ref().or(before.as_ref())?.version;
    stat.key(version)?;
    let get = |m: &Option<crate::cgroup::MemcgSnapshot>| {
        m.as_ref().and_then(|m| m.stat(stat)).unwrap_or(0)
    };
    Some(crate::truth::Delta::new(get(&before), get(&after)))
}

/// OOM kills in the memcg: v1 memory.oom_control, v2 memory.events.
pub fn memcg_oom_kill_delta(truth: &GroundTruth) -> crate::truth::Delta {
    let get = |s: &Option<crate::truth::SystemSnapshot>| {
        s.as_ref()
            .and_then(|s| s.memcg.as_ref())
            .and_then(|m| m.oom_kills())
            .unwrap_or(0)
    };
    crate::truth::Delta::new(get(&truth.before), get(&truth.after))
}
