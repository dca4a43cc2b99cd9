//! Facts about the running kernel and host, read from procfs, sysfs and
//! tracefs: what the file metadata records and what decoders need.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::path::{Path, PathBuf};

use memtrace_schema::{ClockAnchor, ZoneInfo};

/// Where tracefs is normally mounted.
pub const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

pub fn read(path: impl AsRef<Path>) -> Result<String, KernelError> {
    let path = path.as_ref();
    fs::read_to_string(path).map_err(|source| KernelError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// `uname` fields.
#[derive(Debug, Clone, Default)]
pub struct Uname {
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

fn cstr(field: &[libc::c_char]) -> String {
    // SAFETY: utsname fields are NUL-terminated arrays filled by the kernel.
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

pub fn uname() -> Uname {
    // SAFETY: uname fills a plain C struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Uname::default();
    }
    Uname {
        nodename: cstr(&u.nodename),
        release: cstr(&u.release),
        version: cstr(&u.version),
        machine: cstr(&u.machine),
    }
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

/// Base pages per PMD-sized huge page.
pub fn hpage_pmd_nr(page_size: u64) -> u64 {
    read("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|b| b / page_size.max(1))
        .unwrap_or(512)
}

/// Parses a sysfs CPU/node list such as `0-3,8,10-11`.
pub fn parse_list(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.parse() {
                    out.push(v)
                }
            }
        }
    }
    out
}

/// Online NUMA nodes (node 0 alone when the kernel has no NUMA).
pub fn online_nodes() -> Vec<u32> {
    let nodes = read("/sys/devices/system/node/online")
        .map(|s| parse_list(&s))
        .unwrap_or_default();
    if nodes.is_empty() {
        vec![0]
    } else {
        nodes
    }
}

/// Possible CPUs: the per-CPU counters to sum.
pub fn possible_cpus() -> u32 {
    read("/sys/devices/system/cpu/possible")
        .map(|s| parse_list(&s).into_iter().max().map(|m| m + 1).unwrap_or(1))
        .unwrap_or(1)
}

/// Online CPUs, from `/sys/devices/system/cpu/online`.
pub fn online_cpus() -> Vec<u32> {
    read("/sys/devices/system/cpu/online")
        .map(|s| parse_list(&s))
        .unwrap_or_else(|_| vec![0])
}

/// `/proc/vmstat` as name → value.
pub fn parse_vmstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

pub fn vmstat() -> Result<BTreeMap<String, u64>, KernelError> {
    Ok(parse_vmstat(&read("/proc/vmstat")?))
}

/// `/proc/zoneinfo`, every zone of every node in index order.
pub fn parse_zoneinfo(text: &str) -> Vec<ZoneInfo> {
    let mut zones: Vec<ZoneInfo> = Vec::new();
    let mut idx_in_node = 0u32;
    let mut last_node = u32::MAX;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Node ") {
            // "Node 0, zone      DMA"
            let Some((node, zone)) = rest.split_once(',') else {
                continue;
            };
            let node = node.trim().parse().unwrap_or(0);
            if node != last_node {
                last_node = node;
                idx_in_node = 0;
            }
            let zone = zone.trim().trim_start_matches("zone").trim().to_string();
            zones.push(ZoneInfo {
                node,
                zone,
                zone_idx: idx_in_node,
                ..Default::default()
            });
            idx_in_node += 1;
            continue;
        }
        let Some(z) = zones.last_mut() else { continue };
        if let Some(p) = t.strip_prefix("protection: (") {
            z.protection = p
                .trim_end_matches(')')
                .split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect();
            continue;
        }
        let mut it = t.split_whitespace();
        let (Some(key), Some(val)) = (it.next(), it.next()) else {
            continue;
        };
        let key = if key == "pages" && val == "free" {
            "free"
        } else {
            key
        };
        let val = if key == "free" {
            it.next().unwrap_or("")
        } else {
            val
        };
        let Ok(v) = val.parse::<u64>() else { continue };
        match key {
            "free" => z.free = v,
            "boost" => z.boost = v,
            "min" => z.min = v,
            "low" => z.low = v,
            "high" => z.high = v,
            "promo" => z.promo = v,
            "spanned" => z.spanned = v,
            "present" => z.present = v,
            "managed" => z.managed = v,
            "cma" => z.cma = v,
            "nr_free_cma" => z.free_cma = v,
            _ => {}
        }
    }
    zones
}

pub fn zoneinfo() -> Result<Vec<ZoneInfo>, KernelError> {
    Ok(parse_zoneinfo(&read("/proc/zoneinfo")?))
}

/// Zone names by index, from zoneinfo (every node has the same zones).
pub fn zone_names(zones: &[ZoneInfo]) -> Vec<String> {
    let first = zones.first().map(|z| z.node).unwrap_or(0);
    zones
        .iter()
        .filter(|z| z.node == first)
        .map(|z| z.zone.clone())
        .collect()
}

/// Migrate type names in enum order, from /proc/pagetypeinfo's header.
pub fn migratetype_names() -> Vec<String> {
    let Ok(text) = read("/proc/pagetypeinfo") else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some((_, rest)) = line.split_once(", type ") {
            let name = rest.split_whitespace().next().unwrap_or("").to_string();
            if names.contains(&name) {
                break;
            }
            names.push(name);
        }
    }
    names
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> (f64, f64, f64) {
    let text = read("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    (
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    )
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
    // SAFETY: clock_gettime writes a timespec we own.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// CLOCK_BOOTTIME now, the clock of every `ts_ns`.
pub fn boottime_ns() -> i64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// Reads the clocks back to back, boot time in the middle, so the pair is
/// off by at most one clock read.
pub fn clock_anchor() -> ClockAnchor {
    let realtime_a = clock_ns(libc::CLOCK_REALTIME);
    let boottime_ns = boottime_ns();
    let monotonic_ns = clock_ns(libc::CLOCK_MONOTONIC);
    let realtime_b = clock_ns(libc::CLOCK_REALTIME);
    ClockAnchor {
        boottime_ns,
        realtime_ns: realtime_a + (realtime_b - realtime_a) / 2,
        monotonic_ns,
    }
}

/// Whether tracefs is mounted where we look, and readable by us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracefs {
    Readable,
    /// Mounted, but its files cannot be read: recent kernels mount it
    /// mode 700 and its files 440, owned by root.
    Unreadable {
        mode: u32,
        uid: u32,
        error: String,
    },
    NotMounted,
}

pub fn tracefs() -> Tracefs {
    use std::os::unix::fs::MetadataExt;
    let Ok(path) = std::ffi::CString::new(TRACEFS) else {
        return Tracefs::NotMounted;
    };
    // statfs needs no permission on the mount point itself.
    // SAFETY: a valid path and a statfs we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    if rc != 0 || st.f_type != libc::TRACEFS_MAGIC {
        return Tracefs::NotMounted;
    }
    // A file every tracefs has, read as the tracepoint formats will be.
    match fs::read(Path::new(TRACEFS).join("events").join("header_page")) {
        Ok(_) => Tracefs::Readable,
        Err(e) => {
            let m = fs::metadata(TRACEFS).ok();
            Tracefs::Unreadable {
                mode: m.as_ref().map_or(0, |m| m.mode() & 0o7777),
                uid: m.as_ref().map_or(0, |m| m.uid()),
                error: e.to_string(),
            }
        }
    }
}

/// A tracepoint's `format` file, e.g. `kmem/mm_page_alloc`.
pub fn tracepoint_format(name: &str) -> Result<String, KernelError> {
    read(Path::new(TRACEFS).join("events").join(name).join("format"))
}

/// Whether this kernel has the tracepoint.
pub fn has_tracepoint(name: &str) -> bool {
    Path::new(TRACEFS).join("events").join(name).is_dir()
        || Path::new("/sys/kernel/debug/tracing/events")
            .join(name)
            .is_dir()
}

/// The memory controller: its index in css_set->subsys and where its
/// hierarchy is mounted (the v1 memory mount, or the v2 root).
#[derive(Debug, Clone)]
pub struct MemoryController {
    pub subsys_id: u32,
    pub mount: Option<PathBuf>,
    pub v1: bool,
}

/// /proc/cgroups lists controllers in subsystem-id order.
pub fn parse_memory_subsys(cgroups: &str) -> Option<(u32, bool)> {
    let mut id = 0u32;
    for line in cgroups.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let name = it.next()?;
        let hierarchy: u32 = it.next()?.parse().ok()?;
        if name == "memory" {
            return Some((id, hierarchy != 0));
        }
        id += 1;
    }
    None
}

/// Finds the mount point of the memory controller from mountinfo text.
pub fn parse_memory_mount(mountinfo: &str, v1: bool) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        let (pre, post) = line.split_once(" - ")?;
        let mut post = post.split_whitespace();
        let fstype = post.next()?;
        let _source = post.next();
        let opts = post.next().unwrap_or("");
        let mount_point = pre.split_whitespace().nth(4)?;
        let hit = if v1 {
            fstype == "cgroup" && opts.split(',').any(|o| o == "memory")
        } else {
            fstype == "cgroup2"
        };
        if hit {
            return Some(PathBuf::from(mount_point));
        }
    }
    None
}

pub fn memory_controller() -> Option<MemoryController> {
    let (subsys_id, v1) = parse_memory_subsys(&read("/proc/cgroups").ok()?)?;
    let mount = read("/proc/self/mountinfo")
        .ok()
        .and_then(|m| parse_memory_mount(&m, v1));
    Some(MemoryController {
        subsys_id,
        mount,
        v1,
    })
}

/// Finds the directories of cgroup ids (directory inode numbers) under
/// `root`, for the ids wanted. Walks at most `limit` directories.
pub fn find_cgroups(root: &Path, wanted: &[u64], limit: usize) -> BTreeMap<u64, PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        seen += 1;
        if seen > limit || out.len() == wanted.len() {
            break;
        }
        if let Ok(meta) = fs::metadata(&dir) {
            if wanted.contains(&meta.ino()) {
                out.insert(meta.ino(), dir.clone());
            }
        }
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    out
}

/// Maps cgroup ids to paths under `root` (see [`find_cgroups`]).
pub fn cgroup_paths(root: &Path, wanted: &[u64], limit: usize) -> BTreeMap<u64, String> {
    find_cgroups(root, wanted, limit)
        .into_iter()
        .map(|(id, dir)| (id, cgroup_rel_path(root, &dir)))
        .collect()
}

/// A cgroup directory's path as the kernel prints it: relative to the
/// controller's root, with a leading `/` (the root itself is `/`).
pub fn cgroup_rel_path(root: &Path, dir: &Path) -> String {
    let rel = dir
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("/{rel}")
}

/// A memory limit file's text (v1 `memory.limit_in_bytes`, v2 `memory.max`)
/// as bytes; `max`, or v1's "unlimited" (the page counter's maximum, about
/// 2^63 rounded down to a page), is no limit.
pub fn parse_memcg_limit(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    // No machine has 2^62 bytes: anything that large is "unlimited".
    (v < 1 << 62).then_some(v)
}

/// The memory limit of a memory cgroup's directory, if it has one.
pub fn memcg_limit(dir: &Path, v1: bool) -> Option<u64> {
    let file = if v1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    parse_memcg_limit(&read(dir.join(file)).ok()?)
}

/// Memory cgroup ids resolved to paths (and limits) as they are first
/// seen, while the cgroup still exists: a short-lived cgroup (a scenario's,
/// a job's) is gone by the end of the recording. Each id costs at most one
/// walk of the controller's hierarchy, shared by the ids new at that time;
/// an id the walk does not find (the cgroup went first) is not looked for
/// again.
#[derive(Debug)]
pub struct CgroupCache {
    root: PathBuf,
    v1: bool,
    paths: BTreeMap<u64, String>,
    limits: BTreeMap<u64, u64>,
    missed: std::collections::BTreeSet<u64>,
    /// Ids already looked at, to tell cheaply that nothing is new.
    looked: usize,
}

/// Directories walked at most per lookup.
const CGROUP_WALK_LIMIT: usize = 100_000;

impl CgroupCache {
    pub fn new(root: PathBuf, v1: bool) -> CgroupCache {
        CgroupCache {
            root,
            v1,
            paths: BTreeMap::new(),
            limits: BTreeMap::new(),
            missed: Default::default(),
            looked: 0,
        }
    }

    /// Resolves the ids of `seen` not looked at yet (one walk for all).
    pub fn resolve(&mut self, seen: &std::collections::BTreeSet<u64>) {
        // `seen` only grows: the same size means nothing new.
        if seen.len() == self.looked {
            return;
        }
        self.looked = seen.len();
        let new: Vec<u64> = seen
            .iter()
            .copied()
            .filter(|id| !self.paths.contains_key(id) && !self.missed.contains(id))
            .collect();
        if new.is_empty() {
            return;
        }
        let found = find_cgroups(&self.root, &new, CGROUP_WALK_LIMIT);
        for id in new {
            match found.get(&id) {
                Some(dir) => {
                    self.paths.insert(id, cgroup_rel_path(&self.root, dir));
                    if let Some(l) = memcg_limit(dir, self.v1) {
                        self.limits.insert(id, l);
                    }
                }
                None => {
                    self.missed.insert(id);
                }
            }
        }
    }

    /// Id → path relative to the controller's root.
    pub fn paths(&self) -> &BTreeMap<u64, String> {
        &self.paths
    }

    /// Id → memory limit in bytes, for the cgroups that had one when first seen.
    pub fn limits(&self) -> &BTreeMap<u64, u64> {
        &self.limits
    }
}

/// Kernel text symbols, to name addresses such as shrinker callbacks.
#[derive(Debug, Default)]
pub struct Ksyms {
    syms: Vec<(u64, String)>,
}

impl Ksyms {
    pub fn load() -> Self {
        let text = read("/proc/kallsyms").unwrap_or_default();
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let ty = it.next()?;
                let name = it.next()?;
                (addr != 0 && matches!(ty, "t" | "T" | "w" | "W")).then(|| (addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable();
        Ksyms { syms }
    }

    /// No symbols: /proc/kallsyms hid every address.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// `name` or `name+0xoff` for an address inside a function.
    pub fn name(&self, addr: u64) -> String {
        if addr == 0 {
            return String::new();
        }
        let i = self.syms.partition_point(|(a, _)| *a <= addr);
        match i.checked_sub(1).and_then(|i| self.syms.get(i)) {
            Some((a, n)) if *a == addr => n.clone(),
            Some((a, n)) if addr - a < 1 << 20 => format!("{n}+{:#x}", addr - a),
            _ => format!("{addr:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(parse_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_list("0"), vec![0]);
        assert!(parse_list("").is_empty());
    }

    #[test]
    fn parses_zoneinfo() {
        let text = "Node 0, zone      DMA\n  per-node stats\n      nr_inactive_anon 0\n  pages free     3840\n        boost    0\n        min      60\n        low      75\n        high     90\n        promo    105\n        spanned  4095\n        present  3998\n        managed  3840\n        cma      0\n        protection: (0, 3019, 4171, 4171, 4171)\n      nr_free_pages 3840\n      nr_free_cma  0\nNode 0, zone    DMA32\n  pages free     772917\n        min      12185\n        protection: (0, 0, 1152, 1152, 1152)\n";
        let z = parse_zoneinfo(text);
        assert_eq!(z.len(), 2);
        assert_eq!(
            (z[0].zone.as_str(), z[0].zone_idx, z[0].free, z[0].min),
            ("DMA", 0, 3840, 60)
        );
        assert_eq!(z[0].protection, vec![0, 3019, 4171, 4171, 4171]);
        assert_eq!(
            (z[1].zone.as_str(), z[1].zone_idx, z[1].free),
            ("DMA32", 1, 772917)
        );
        assert_eq!(zone_names(&z), vec!["DMA", "DMA32"]);
    }

    #[test]
    fn finds_memory_controller() {
        let cgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t2\t1\t1\ncpuacct\t4\t1\t1\nblkio\t5\t1\t1\nmemory\t6\t3\t1\n";
        assert_eq!(parse_memory_subsys(cgroups), Some((4, true)));
        let mi = "35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory\n36 25 0:31 / /sys/fs/cgroup/unified rw shared:15 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_memory_mount(mi, true),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            parse_memory_mount(mi, false),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn memcg_limits_parse_and_unlimited_is_none() {
        assert_eq!(parse_memcg_limit("33554432\n"), Some(32 << 20));
        assert_eq!(parse_memcg_limit("max\n"), None);
        // v1's unlimited: PAGE_COUNTER_MAX pages of 4 KiB.
        assert_eq!(parse_memcg_limit("9223372036854771712\n"), None);
        assert_eq!(parse_memcg_limit(""), None);
    }

    #[test]
    fn cgroup_cache_resolves_new_ids_once() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("job");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("memory.max"), "1048576\n").unwrap();
        let id = fs::metadata(&sub).unwrap().ino();
        let mut c = CgroupCache::new(dir.path().to_path_buf(), false);
        let mut seen: std::collections::BTreeSet<u64> = [id, 1].into();
        c.resolve(&seen);
        assert_eq!(c.paths().get(&id).map(String::as_str), Some("/job"));
        assert_eq!(c.limits().get(&id), Some(&1048576));
        assert!(c.missed.contains(&1));
        // Gone afterwards: what was resolved at first sight stays.
        fs::remove_file(sub.join("memory.max")).unwrap();
        fs::remove_dir(&sub).unwrap();
        seen.insert(2);
        c.resolve(&seen);
        assert_eq!(c.paths().get(&id).map(String::as_str), Some("/job"));
        assert!(c.missed.contains(&2));
    }

    #[test]
    fn parses_vmstat() {
        let v = parse_vmstat("nr_free_pages 10\npgsteal_direct 5\n");
        assert_eq!(v.get("pgsteal_direct"), Some(&5));
    }
}
