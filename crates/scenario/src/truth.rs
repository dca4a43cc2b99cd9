//! The ground truth document (`memscen run --truth FILE.json`).
//!
//! It states what memscen did and what the kernel's own counters said
//! around it, so a recording made by `memrec` at the same time can be
//! checked against it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cgroup::{CgroupVersion, MemCgroup, MemcgSnapshot};
use crate::procfs::{self, BuddyZone, ZoneSummary};
use crate::supervise::{StatusSample, Worker, WorkerTruth};
use crate::sys::{self, Stamp};
use crate::zram::MmStat;

/// Version of this document's layout; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Ground truth of one `memscen run`.
///
/// Units: `*_ns` are nanoseconds, `*_kb` kB (1024 bytes, as /proc prints
/// them), `*_bytes` bytes, `*_pages` base pages; vmstat/memory.stat values
/// are exactly the kernel's (counters or gauges, in the kernel's units).
///
/// Fields:
/// - `schema_version`: [`SCHEMA_VERSION`].
/// - `scenario`: `memcg-reclaim`, `oom`, `alloc-fail`, `leak`, `swap`, `fragment`, `mappings`, `hugetlb`, `heap-leak` or `slab-hold`.
/// - `scale`: `small` or `normal`.
/// - `produced`: whether the situation the scenario is meant to create
///   happened (exit code 0 if true, 1 if false); `verdict` says why in words.
/// - `summary`: the human summary lines also printed on stderr.
/// - `host`: kernel release, page size, MemTotal, CPU count.
/// - `start_boottime_ns`, `start_realtime_ns`, `end_boottime_ns`,
///   `end_realtime_ns`: the window in which the situation was created
///   (CLOCK_BOOTTIME matches BPF/trace timestamps; CLOCK_REALTIME the wall
///   clock). `start` is taken right after the `before` snapshot, `end` right
///   before the `after` snapshot.
/// - `worker_pids`: pids of the workload processes (also in `workers`).
/// - `workers`: per worker: `pid`, `comm` (e.g. `memscen-oom`), `args`,
///   `cgroup`, `spawned`/`exited` stamps, `exit_code`, `signal`,
///   `signal_name`, `timed_out`, and `events`: the worker's own timestamped
///   phase markers (`name`, `boottime_ns`, `data`), e.g. `write-start`,
///   `heap-done`, `grow-progress`.
/// - `cgroup`: absolute path of the memory cgroup used, if any.
/// - `cgroup_version`: `v1` or `v2`, the memory cgroup interface memscen
///   used on this kernel (v1 where its memory controller is mounted).
/// - `before`, `after`: [`SystemSnapshot`]s — the whole /proc/vmstat and
///   /proc/meminfo as maps, /proc/zoneinfo raw and parsed, /proc/buddyinfo
///   parsed, and the memcg's memory.stat / memory.oom_control (v2:
///   memory.events) / usage counters where a memcg is used.
/// - `vmstat_delta`: `after.vmstat - before.vmstat` for every entry that changed.
/// - `status_samples`: /proc/PID/status of the worker(s) over time: `pid`,
///   `boottime_ns`, `realtime_ns`, `name`, `state`, `vm_rss_kb`,
///   `rss_anon_kb`, `rss_file_kb`, `rss_shmem_kb`, `vm_swap_kb`,
///   `vm_hwm_kb`, `vm_size_kb`, `vm_data_kb`, `vm_stk_kb`, `vm_pte_kb`.
/// - One scenario section, named after the scenario with `_` for `-`:
///   `memcg_reclaim`, `oom`, `alloc_fail`, `leak`, `swap`, `fragment`, `mappings`, `hugetlb`,
///   `heap_leak`, `slab_hold`
///   (see each struct).
#[derive(Debug, Serialize)]
pub struct GroundTruth {
    pub schema_version: u32,
    pub scenario: String,
    pub scale: String,
    pub produced: bool,
    pub verdict: String,
    pub summary: Vec<String>,
    pub host: HostInfo,
    pub start_boottime_ns: u64,
    pub start_realtime_ns: u64,
    pub end_boottime_ns: u64,
    pub end_realtime_ns: u64,
    pub worker_pids: Vec<i32>,
    pub workers: Vec<WorkerTruth>,
    pub cgroup: Option<String>,
    pub cgroup_version: Option<CgroupVersion>,
    pub before: Option<SystemSnapshot>,
    pub after: Option<SystemSnapshot>,
    pub vmstat_delta: BTreeMap<String, i64>,
    pub status_samples: Vec<StatusSample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memcg_reclaim: Option<MemcgReclaimTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom: Option<OomTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alloc_fail: Option<AllocFailTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak: Option<LeakTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragment: Option<FragmentTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mappings: Option<crate::scenarios::mappings::MappingsTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hugetlb: Option<crate::scenarios::hugetlb::HugetlbTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap_leak: Option<crate::scenarios::heap_leak::HeapLeakTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slab_hold: Option<crate::scenarios::slab_hold::SlabHoldTruth>,
}

#[derive(Debug, Serialize)]
pub struct HostInfo {
    pub kernel_release: String,
    pub page_size: u64,
    pub mem_total_kb: u64,
    pub cpus: usize,
    /// pid of the `memscen run` process itself.
    pub memscen_pid: i32,
    /// /sys/kernel/mm/lru_gen/enabled as read (absent without the
    /// multi-generational LRU): with it on, reclaim's scanned-page counts
    /// mean something else (docs/FIDELITY.md, "Kernels").
    pub lru_gen_enabled: Option<String>,
}

/// The system's memory counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct SystemSnapshot {
    pub boottime_ns: u64,
    pub realtime_ns: u64,
    /// /proc/vmstat, name → value.
    pub vmstat: BTreeMap<String, u64>,
    /// /proc/meminfo, name → value (kB, or a count for HugePages_*).
    pub meminfo: BTreeMap<String, u64>,
    /// /proc/zoneinfo as text.
    pub zoneinfo_raw: String,
    /// Per zone: `node`, `zone`, `free`, `min`, `low`, `high`, `spanned`,
    /// `present`, `managed` (pages).
    pub zones: Vec<ZoneSummary>,
    /// /proc/buddyinfo: per zone `free_blocks[order]`.
    pub buddyinfo: Vec<BuddyZone>,
    /// The scenario's memcg: `path`, `version`, `stat` (memory.stat),
    /// `oom_control`, `events` (v2), `usage_in_bytes`, `max_usage_in_bytes`,
    /// `limit_in_bytes`, `failcnt`, `memsw_usage_in_bytes`,
    /// `memsw_limit_in_bytes` (v1 names; see [`MemcgSnapshot`] for v2).
    pub memcg: Option<MemcgSnapshot>,
}

impl SystemSnapshot {
    pub fn take(memcg: Option<&MemCgroup>) -> Result<Self> {
        let stamp = Stamp::now();
        let zoneinfo_raw = procfs::read_text("/proc/zoneinfo")?;
        Ok(SystemSnapshot {
            boottime_ns: stamp.boottime_ns,
            realtime_ns: stamp.realtime_ns,
            vmstat: procfs::read_vmstat()?,
            meminfo: procfs::read_meminfo()?,
            zones: procfs::parse_zoneinfo(&zoneinfo_raw),
            zoneinfo_raw,
            buddyinfo: procfs::read_buddyinfo()?,
            memcg: memcg.map(MemCgroup::snapshot).transpose()?,
        })
    }

    pub fn vm(&self, name: &str) -> u64 {
        self.vmstat.get(name).copied().unwrap_or(0)
    }
}

/// Counter value before, after and the difference.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Delta {
    pub before: u64,
    pub after: u64,
    pub delta: i64,
}

impl Delta {
    pub fn new(before: u64, after: u64) -> Self {
        Delta {
            before,
            after,
            delta: after as i64 - before as i64,
        }
    }
}

/// `memcg_reclaim`: file write + read + heap growth in a limited memcg.
#[derive(Debug, Serialize)]
pub struct MemcgReclaimTruth {
    pub limit_bytes: u64,
    pub file_path: String,
    pub file_bytes: u64,
    pub heap_bytes: u64,
    /// memory.failcnt after the run: times the charge hit the limit
    /// (v2: memory.events `max`, raised before each memcg reclaim the limit
    /// forces; v1 counts every failed attempt, so it is higher).
    pub failcnt: u64,
    /// v2: memory.peak (0 on kernels before 5.19, which lack it).
    pub max_usage_in_bytes: u64,
    /// memory.oom_control oom_kill of the memcg (v2: memory.events
    /// `oom_kill`); must stay 0.
    pub memcg_oom_kill: Delta,
    /// memory.stat pgpgin/pgpgout of the memcg (pages): v1 only, null on
    /// v2 (see `null_fields`).
    pub memcg_pgpgin: Option<Delta>,
    pub memcg_pgpgout: Option<Delta>,
    /// memory.stat pgmajfault (events), on both versions.
    pub memcg_pgmajfault: Delta,
    /// memory.stat pgscan/pgsteal (pages scanned/reclaimed by any reclaim
    /// of the memcg): v2 only, null on v1.
    pub memcg_pgscan: Option<Delta>,
    pub memcg_pgsteal: Option<Delta>,
    /// Each null counter field above and why it is null.
    pub null_fields: BTreeMap<String, String>,
    /// Seconds each worker phase took.
    pub write_seconds: Option<f64>,
    pub read_seconds: Option<f64>,
    pub heap_seconds: Option<f64>,
    /// Peak VmRSS of the worker seen in the samples, kB.
    pub vm_rss_peak_kb: u64,
}

/// `oom`: the memcg OOM killer killing the worker.
#[derive(Debug, Serialize)]
pub struct OomTruth {
    pub limit_bytes: u64,
    /// memory.memsw.limit_in_bytes set to the same value (no swap escape;
    /// v2: memory.swap.max set to 0).
    pub memsw_limited: bool,
    pub max_bytes: u64,
    pub max_seconds: u64,
    /// The worker's pid: the process expected to be killed.
    pub victim_pid: i32,
    /// The worker died by SIGKILL while the memcg's oom_kill rose.
    pub killed: bool,
    pub exit_signal: Option<i32>,
    /// memory.oom_control `oom_kill` of the memcg (v2: memory.events).
    pub memcg_oom_kill: Delta,
    /// /proc/vmstat `oom_kill`.
    pub vmstat_oom_kill: Delta,
    /// Last `touched_bytes` the worker reported before dying.
    pub touched_bytes_last_report: Option<u64>,
    /// pid(s) the kernel log (/dev/kmsg) named in "Killed process N".
    pub kernel_log_killed_pids: Vec<i32>,
    /// Kernel log lines about the OOM during the run.
    pub kernel_log: Vec<String>,
}

/// `alloc_fail`: order-9 (huge page pool) allocation failures.
#[derive(Debug, Serialize)]
pub struct AllocFailTruth {
    pub hugepage_size_kb: u64,
    /// nr_hugepages before the run (restored afterwards).
    pub original: u64,
    /// Value written to /proc/sys/vm/nr_hugepages.
    pub requested: u64,
    /// nr_hugepages read back: how many the kernel managed to allocate.
    pub allocated: u64,
    /// nr_hugepages after restoring.
    pub restored: u64,
    /// The huge page order (log2 of huge page size / page size).
    pub order: u32,
    pub htlb_buddy_alloc_fail: Delta,
    pub htlb_buddy_alloc_success: Delta,
    /// Wall time of the write to nr_hugepages.
    pub write_seconds: f64,
}

/// `leak`: steady anonymous growth.
#[derive(Debug, Serialize)]
pub struct LeakTruth {
    /// Configured growth rate.
    pub rate_bytes_per_s: u64,
    pub duration_s: f64,
    pub step_ms: u64,
    /// rate × duration rounded down to pages.
    pub expected_total_bytes: u64,
    /// What the worker says it allocated and touched.
    pub allocated_bytes: Option<u64>,
    /// Worker's own marks of growth start/end (CLOCK_BOOTTIME).
    pub grow_start_boottime_ns: Option<u64>,
    pub grow_end_boottime_ns: Option<u64>,
    /// Least-squares slope of RssAnon over the samples taken during growth.
    pub observed_rate_bytes_per_s: Option<f64>,
    pub sample_interval_ms: u64,
}

/// `swap`: anonymous pages pushed to zram swap and faulted back.
#[derive(Debug, Serialize)]
pub struct SwapTruth {
    pub zram_device: String,
    pub zram_hot_added: bool,
    pub disksize_bytes: u64,
    /// "mkswap" or "builtin".
    pub swap_header_by: String,
    pub swap_priority: i32,
    pub limit_bytes: u64,
    pub worker_bytes: u64,
    pub pswpin: Delta,
    pub pswpout: Delta,
    /// Highest VmSwap seen in the worker's status samples.
    pub vm_swap_peak_kb: u64,
    /// Pages whose read-back content differed (must be 0).
    pub bad_pages: Option<u64>,
    /// zram mm_stat while the worker still held its data (after read-back).
    pub zram_mm_stat: Option<MmStat>,
}

/// `fragment`: fragmented free memory and high-order requests.
#[derive(Debug, Serialize)]
pub struct FragmentTruth {
    /// Size of the worker's region; every other page of it was freed.
    pub region_bytes: u64,
    pub freed_bytes: Option<u64>,
    pub nr_hugepages_original: u64,
    /// One entry per raise of nr_hugepages.
    pub rounds: Vec<FragmentRound>,
    pub nr_hugepages_restored: u64,
    /// Whether 1 was written to /proc/sys/vm/compact_memory.
    pub compact_memory_written: bool,
    pub compact_stall: Delta,
    pub compact_fail: Delta,
    pub compact_success: Delta,
    pub compact_migrate_scanned: Delta,
    pub compact_free_scanned: Delta,
    pub compact_isolated: Delta,
    pub htlb_buddy_alloc_fail: Delta,
    pub htlb_buddy_alloc_success: Delta,
}

#[derive(Debug, Serialize)]
pub struct FragmentRound {
    /// Free order>=9 blocks (in huge pages) the buddy lists had before.
    pub free_order9_blocks: u64,
    /// Memory not yet handed to the buddy allocator (MemFree minus the
    /// zones' free pages), in huge pages; lazily initialised kernels have it.
    pub uninitialised_hugepages: u64,
    pub requested: u64,
    pub allocated: u64,
    pub seconds: f64,
}

impl GroundTruth {
    pub fn new(scenario: &str, scale: &str) -> Self {
        let meminfo = procfs::read_meminfo().unwrap_or_default();
        GroundTruth {
            schema_version: SCHEMA_VERSION,
            scenario: scenario.to_string(),
            scale: scale.to_string(),
            produced: false,
            verdict: String::new(),
            summary: Vec::new(),
            host: HostInfo {
                kernel_release: sys::kernel_release(),
                page_size: sys::page_size(),
                mem_total_kb: meminfo.get("MemTotal").copied().unwrap_or(0),
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                memscen_pid: sys::pid(),
                lru_gen_enabled: std::fs::read_to_string("/sys/kernel/mm/lru_gen/enabled")
                    .ok()
                    .map(|s| s.trim().to_string()),
            },
            start_boottime_ns: 0,
            start_realtime_ns: 0,
            end_boottime_ns: 0,
            end_realtime_ns: 0,
            worker_pids: Vec::new(),
            workers: Vec::new(),
            cgroup: None,
            cgroup_version: None,
            before: None,
            after: None,
            vmstat_delta: BTreeMap::new(),
            status_samples: Vec::new(),
            memcg_reclaim: None,
            oom: None,
            alloc_fail: None,
            leak: None,
            swap: None,
            fragment: None,
            mappings: None,
            hugetlb: None,
            heap_leak: None,
            slab_hold: None,
        }
    }

    /// Takes the `before` snapshot, then stamps the start.
    pub fn begin(&mut self, memcg: Option<&MemCgroup>) -> Result<&SystemSnapshot> {
        self.cgroup = memcg.map(MemCgroup::path_string);
        let snap = SystemSnapshot::take(memcg).context("taking the before snapshot")?;
        let start = Stamp::now();
        self.start_boottime_ns = start.boottime_ns;
        self.start_realtime_ns = start.realtime_ns;
        Ok(self.before.insert(snap))
    }

    /// Stamps the end, then takes the `after` snapshot.
    pub fn end(&mut self, memcg: Option<&MemCgroup>) -> Result<&SystemSnapshot> {
        let end = Stamp::now();
        self.end_boottime_ns = end.boottime_ns;
        self.end_realtime_ns = end.realtime_ns;
        let snap = SystemSnapshot::take(memcg).context("taking the after snapshot")?;
        if let Some(before) = &self.before {
            self.vmstat_delta = snap
                .vmstat
                .iter()
                .filter_map(|(k, &a)| {
                    let b = before.vmstat.get(k).copied().unwrap_or(0);
                    (a != b).then(|| (k.clone(), a as i64 - b as i64))
                })
                .collect();
        }
        Ok(self.after.insert(snap))
    }

    /// Copies a worker's record and samples in (call after it exited).
    pub fn add_worker(&mut self, w: &Worker) {
        self.worker_pids.push(w.pid);
        self.workers.push(w.truth.clone());
        self.status_samples.extend(w.samples.iter().cloned());
    }

    /// Both snapshots; fails only if `begin`/`end` were skipped.
    pub fn snapshots(&self) -> Result<(&SystemSnapshot, &SystemSnapshot)> {
        let before = self.before.as_ref().context("no before snapshot")?;
        let after = self.after.as_ref().context("no after snapshot")?;
        Ok((before, after))
    }

    pub fn vm_delta(&self, name: &str) -> Result<Delta> {
        let (b, a) = self.snapshots()?;
        Ok(Delta::new(b.vm(name), a.vm(name)))
    }

    pub fn note(&mut self, line: impl Into<String>) {
        self.summary.push(line.into());
    }

    pub fn set_verdict(&mut self, produced: bool, verdict: impl Into<String>) {
        self.produced = produced;
        self.verdict = verdict.into();
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).context("serialising the ground truth")?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// The short human summary on stderr.
    pub fn print_summary(&self) {
        let secs = self.end_boottime_ns.saturating_sub(self.start_boottime_ns) as f64 / 1e9;
        eprintln!("== memscen {} ({}) ==", self.scenario, self.scale);
        eprintln!(
            "produced: {}  ({})",
            if self.produced { "yes" } else { "NO" },
            self.verdict
        );
        eprintln!(
            "window: {secs:.2} s (boottime {} .. {})",
            self.start_boottime_ns, self.end_boottime_ns
        );
        for w in &self.workers {
            let how = match (w.exit_code, &w.signal_name) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(s)) => format!("killed by {s}"),
                (None, None) => "still running?".to_string(),
            };
            eprintln!(
                "worker {} ({}): {how}{}",
                w.pid,
                w.comm,
                if w.timed_out { ", timed out" } else { "" }
            );
        }
        if let Some(cg) = &self.cgroup {
            match self.cgroup_version {
                Some(CgroupVersion::V2) => eprintln!("memcg: {cg} (cgroup v2)"),
                _ => eprintln!("memcg: {cg}"),
            }
        }
        for line in &self.summary {
            eprintln!("  {line}");
        }
    }
}

/// Least-squares slope of y over x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        assert!((slope(&pts).unwrap() - 3.0).abs() < 1e-9);
        assert!(slope(&pts[..1]).is_none());
    }

    #[test]
    fn delta_sign() {
        assert_eq!(Delta::new(5, 3).delta, -2);
        assert_eq!(Delta::new(3, 5).delta, 2);
    }

    #[test]
    fn serialises_without_root() {
        let mut t = GroundTruth::new("leak", "small");
        t.set_verdict(true, "ok");
        let v: serde_json::Value = serde_json::to_value(&t).unwrap();
        assert_eq!(v["scenario"], "leak");
        assert_eq!(v["produced"], true);
        assert!(v.get("oom").is_none());
    }
}
