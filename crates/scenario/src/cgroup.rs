//! A throw-away memory cgroup, removed on drop, on cgroup v1 or v2.
//!
//! v1 is used wherever its memory controller is mounted at
//! [`MEMCG_V1_ROOT`] (kernels with `CONFIG_MEMCG_V1`, hybrid layouts);
//! otherwise the memory controller of the cgroup2 hierarchy. The scenarios
//! ask for the same things on both (a limit, no swap escape, the counters)
//! and this module maps them onto each version's files.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::procfs;

/// Where the v1 memory controller is mounted when there is one.
pub const MEMCG_V1_ROOT: &str = "/sys/fs/cgroup/memory";

/// Name prefix of the cgroup2 mount memscen makes when none is mounted;
/// the pid of the memscen that made it follows.
const PRIVATE_MOUNT_PREFIX: &str = "memscen-cgroup2.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
}

/// What the memcg's counter files said at one moment.
///
/// The field names are cgroup v1's. On v2 each holds the v2 file that means
/// the same thing (see [`MemCgroup::snapshot`]), or null where v2 has none;
/// `version` says which files they came from.
#[derive(Debug, Clone, Serialize)]
pub struct MemcgSnapshot {
    /// Absolute path of the cgroup directory.
    pub path: String,
    pub version: CgroupVersion,
    /// `memory.stat`, with the kernel's own keys: on v1 cgroup-local and
    /// `total_*` values with `pgpgin`/`pgpgout`; on v2 hierarchical values
    /// with `anon`, `file`, `pgscan`, `pgsteal`, ... and no `total_*`.
    pub stat: BTreeMap<String, u64>,
    /// v1: `memory.oom_control` (`oom_kill_disable`, `under_oom`,
    /// `oom_kill`). v2 has no such file: `oom_kill` from `memory.events`.
    pub oom_control: BTreeMap<String, u64>,
    /// v2 only: `memory.events` (`low`, `high`, `max`, `oom`, `oom_kill`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<BTreeMap<String, u64>>,
    /// v2: `memory.current`.
    pub usage_in_bytes: Option<u64>,
    /// v2: `memory.peak` (kernels from 5.19).
    pub max_usage_in_bytes: Option<u64>,
    /// v2: `memory.max`; null when it is `max` (no limit).
    pub limit_in_bytes: Option<u64>,
    /// How often the charge hit the limit (each hit means reclaim).
    /// v2: `memory.events` `max`, raised once before each memcg reclaim
    /// the limit forces. v1's failcnt counts every failed attempt (the
    /// first, batch-sized one too), so it is higher for the same workload.
    pub failcnt: Option<u64>,
    /// v2: `memory.current` + `memory.swap.current`.
    pub memsw_usage_in_bytes: Option<u64>,
    /// v2: `memory.max` + `memory.swap.max` when both are finite.
    pub memsw_limit_in_bytes: Option<u64>,
}

impl MemcgSnapshot {
    /// OOM kills in the memcg so far (both versions count them in
    /// `oom_control`'s `oom_kill`, see the field).
    pub fn oom_kills(&self) -> Option<u64> {
        self.oom_control.get("oom_kill").copied()
    }

    /// A `memory.stat` counter by meaning; None where this version's
    /// memory.stat has no such counter.
    pub fn stat(&self, s: MemcgStat) -> Option<u64> {
        self.stat.get(s.key(self.version)?).copied()
    }
}

/// `memory.stat` counters the scenarios read, by meaning: the keys differ
/// between the versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemcgStat {
    /// Pages charged (v1 only: v2's memory.stat has no pgpgin).
    PagesIn,
    /// Pages uncharged: reclaimed or freed (v1 only).
    PagesOut,
    /// Major page faults (`pgmajfault` on both).
    MajorFaults,
    /// Pages scanned by reclaim (v2 only: v1's memory.stat has none).
    Scanned,
    /// Pages reclaimed (v2 only).
    Reclaimed,
}

impl MemcgStat {
    pub fn key(self, version: CgroupVersion) -> Option<&'static str> {
        use CgroupVersion::{V1, V2};
        match (self, version) {
            (MemcgStat::PagesIn, V1) => Some("pgpgin"),
            (MemcgStat::PagesOut, V1) => Some("pgpgout"),
            (MemcgStat::PagesIn | MemcgStat::PagesOut, V2) => None,
            (MemcgStat::MajorFaults, _) => Some("pgmajfault"),
            (MemcgStat::Scanned, V2) => Some("pgscan"),
            (MemcgStat::Reclaimed, V2) => Some("pgsteal"),
            (MemcgStat::Scanned | MemcgStat::Reclaimed, V1) => None,
        }
    }
}

/// Where the scenarios' memcgs are made: the v1 memory mount, or a cgroup2
/// mount with the memory controller enabled for its children.
#[derive(Debug)]
pub struct Hierarchy {
    version: CgroupVersion,
    /// The directory scenario cgroups are created in.
    root: PathBuf,
    /// A cgroup2 mount memscen made itself; unmounted on drop.
    private_mount: Option<PathBuf>,
}

impl Hierarchy {
    /// v1 if its memory controller is mounted at [`MEMCG_V1_ROOT`] (the
    /// layout of hybrid hosts), else cgroup v2: the first cgroup2 mount,
    /// or one memscen mounts itself, with `+memory` in its
    /// `cgroup.subtree_control`.
    pub fn detect() -> Result<Self> {
        let v1 = Path::new(MEMCG_V1_ROOT);
        if v1.join("memory.limit_in_bytes").exists() {
            if !v1.join("cgroup.procs").exists() {
                bail!("no cgroup v1 memory controller at {MEMCG_V1_ROOT} (cgroup.procs missing)");
            }
            return Ok(Hierarchy {
                version: CgroupVersion::V1,
                root: v1.to_path_buf(),
                private_mount: None,
            });
        }
        let mountinfo = procfs::read_text("/proc/self/mountinfo")?;
        let hier = match find_cgroup2_mount(&mountinfo) {
            Some(root) => Hierarchy {
                version: CgroupVersion::V2,
                root,
                private_mount: None,
            },
            None => {
                let at = mount_private_cgroup2()?;
                Hierarchy {
                    version: CgroupVersion::V2,
                    root: at.clone(),
                    private_mount: Some(at),
                }
            }
        };
        // Dropped on error from here: a private mount is undone.
        hier.enable_memory()?;
        info!(root = %hier.root.display(), "using the cgroup v2 memory controller");
        Ok(hier)
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// v2: makes the memory controller available to the root's children.
    /// Left enabled afterwards: other cgroups (and another memscen) may
    /// rely on it, and it costs nothing when unused.
    fn enable_memory(&self) -> Result<()> {
        let controllers = procfs::read_text(self.root.join("cgroup.controllers"))?;
        if !has_controller(&controllers, "memory") {
            bail!(
                "no memory controller on the cgroup2 hierarchy at {} (cgroup.controllers: {:?}): \
                 the kernel lacks CONFIG_MEMCG, or it is bound to a cgroup v1 hierarchy mounted elsewhere",
                self.root.display(),
                controllers.trim()
            );
        }
        let subtree = self.root.join("cgroup.subtree_control");
        if has_controller(&procfs::read_text(&subtree)?, "memory") {
            return Ok(());
        }
        procfs::write_text(&subtree, "+memory").with_context(|| {
            format!(
                "enabling the memory controller for the children of {} (a cgroup other than \
                 the root needs it enabled in every ancestor and must hold no processes)",
                self.root.display()
            )
        })?;
        info!(root = %self.root.display(), "enabled +memory in cgroup.subtree_control");
        Ok(())
    }

    /// Creates `<root>/<name>`. A leftover directory of the same name (a
    /// killed earlier run whose pid got reused) is removed first.
    pub fn create(&self, name: &str) -> Result<MemCgroup> {
        let path = self.root.join(name);
        if path.exists() {
            warn!(path = %path.display(), "removing a leftover memcg of the same name");
            remove_dir(&path)?;
        }
        std::fs::create_dir(&path).with_context(|| format!("creating memcg {}", path.display()))?;
        info!(path = %path.display(), "created memcg");
        Ok(MemCgroup {
            path,
            version: self.version,
        })
    }

    /// Removes `memscen-<pid>-*` memcgs (and reclaim scratch files) left by
    /// a memscen that was SIGKILLed before it could clean up, i.e. whose pid
    /// is no longer a running memscen. Best effort: failures are only logged.
    pub fn remove_stale(&self) {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in dir.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = stale_owner(&name) else {
                continue;
            };
            if is_memscen(pid) {
                continue; // another run, still going
            }
            warn!(memcg = %name, "removing a memcg left behind by a dead memscen");
            if let Err(e) = remove_dir(&entry.path()) {
                warn!(memcg = %name, "{e:#}");
            }
            let scratch = format!("/var/tmp/{name}.dat");
            if std::fs::remove_file(&scratch).is_ok() {
                warn!(path = %scratch, "removed a stale scratch file");
            }
        }
    }
}

impl Drop for Hierarchy {
    fn drop(&mut self) {
        if let Some(at) = self.private_mount.take() {
            unmount_private(&at);
        }
    }
}

/// Whether a controller is named in a `cgroup.controllers` or
/// `cgroup.subtree_control` file (space-separated names).
fn has_controller(list: &str, name: &str) -> bool {
    list.split_whitespace().any(|c| c == name)
}

/// One line of /proc/self/mountinfo, the fields we use.
#[derive(Debug, PartialEq, Eq)]
struct MountLine {
    /// The mounted directory of the filesystem ("/" for a whole cgroup2).
    root: String,
    mount_point: PathBuf,
    fstype: String,
}

fn parse_mountinfo_line(line: &str) -> Option<MountLine> {
    let (pre, post) = line.split_once(" - ")?;
    let mut pre = pre.split_whitespace();
    let root = pre.nth(3)?;
    let mount_point = pre.next()?;
    let fstype = post.split_whitespace().next()?;
    Some(MountLine {
        root: unescape_mount_field(root),
        mount_point: PathBuf::from(unescape_mount_field(mount_point)),
        fstype: fstype.to_string(),
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` (octal).
fn unescape_mount_field(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).unwrap_or_default();
        if b[i] == b'\\' && oct.len() == 3 && oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = oct
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup2 mount to make memcgs under: a mount of the whole hierarchy
/// (root "/") first, else any cgroup2 mount. Mounts other memscens made
/// for themselves are skipped: their owner unmounts them when it ends.
fn find_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    let mounts: Vec<MountLine> = mountinfo
        .lines()
        .filter_map(parse_mountinfo_line)
        .filter(|m| m.fstype == "cgroup2" && private_mount_owner(&m.mount_point).is_none())
        .collect();
    mounts
        .iter()
        .find(|m| m.root == "/")
        .or_else(|| mounts.first())
        .map(|m| m.mount_point.clone())
}

/// The pid in a private mount's path (`.../memscen-cgroup2.<pid>`).
fn private_mount_owner(path: &Path) -> Option<i32> {
    path.file_name()?
        .to_str()?
        .strip_prefix(PRIVATE_MOUNT_PREFIX)?
        .parse()
        .ok()
}

fn private_mount_dir() -> PathBuf {
    let base = if Path::new("/run").is_dir() {
        PathBuf::from("/run")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("{PRIVATE_MOUNT_PREFIX}{}", crate::sys::pid()))
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("path {} has a NUL byte", path.display()))
}

/// No cgroup2 is mounted anywhere (a bare system): mount the hierarchy at
/// a directory of our own for the run.
fn mount_private_cgroup2() -> Result<PathBuf> {
    let at = private_mount_dir();
    std::fs::create_dir_all(&at).with_context(|| format!("creating {}", at.display()))?;
    let target = c_path(&at)?;
    let fstype = c"cgroup2";
    // SAFETY: NUL-terminated strings that outlive the call; no data argument.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        let _ = std::fs::remove_dir(&at);
        return Err(err).with_context(|| {
            format!(
                "no cgroup v1 memory controller at {MEMCG_V1_ROOT} and no cgroup2 mounted; \
                 mounting cgroup2 at {}",
                at.display()
            )
        });
    }
    info!(at = %at.display(), "no cgroup2 was mounted: mounted one for this run");
    Ok(at)
}

fn unmount_private(at: &Path) {
    let Ok(target) = c_path(at) else { return };
    // SAFETY: a NUL-terminated path; MNT_DETACH lets a still-busy mount go
    // once its last user does (nothing of ours should use it any more).
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        warn!(at = %at.display(), "unmounting cgroup2: {}", std::io::Error::last_os_error());
        return;
    }
    match std::fs::remove_dir(at) {
        Ok(()) => info!(at = %at.display(), "unmounted a cgroup2 memscen had mounted"),
        Err(e) => warn!(at = %at.display(), "removing the mount point: {e}"),
    }
}

/// Unmounts cgroup2 mounts a dead memscen made for itself. Best effort.
pub fn remove_stale_mounts() {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for m in mountinfo.lines().filter_map(parse_mountinfo_line) {
        if m.fstype != "cgroup2" {
            continue;
        }
        let Some(pid) = private_mount_owner(&m.mount_point) else {
            continue;
        };
        if pid == crate::sys::pid() || is_memscen(pid) {
            continue;
        }
        warn!(at = %m.mount_point.display(), "unmounting a cgroup2 left by a dead memscen");
        unmount_private(&m.mount_point);
    }
}

fn is_memscen(pid: i32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim() == "memscen"
}

/// `memory.max`, `memory.swap.max`: a number of bytes, or `max` (None).
fn parse_max(text: &str) -> Result<Option<u64>> {
    match text.trim() {
        "max" => Ok(None),
        v => v
            .parse::<u64>()
            .map(Some)
            .with_context(|| format!("{v:?} is neither a number nor \"max\"")),
    }
}

/// v2's `memory.swap.max` for a v1-style memory+swap limit. v1's memsw
/// limit caps memory and swap together; v2's swap.max caps swap alone and
/// memory.max caps memory alone, so "memory+swap <= total" with memory
/// capped at `memory_max` leaves `total - memory_max` for swap.
fn swap_max_for_memsw(total: u64, memory_max: u64) -> u64 {
    total.saturating_sub(memory_max)
}

#[derive(Debug)]
pub struct MemCgroup {
    path: PathBuf,
    version: CgroupVersion,
}

impl MemCgroup {
    pub fn path_string(&self) -> String {
        self.path.display().to_string()
    }

    /// The file a pid is written to in order to move that process here.
    pub fn procs_file(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    /// The memory limit: v1 `memory.limit_in_bytes`, v2 `memory.max`.
    pub fn set_limit(&self, bytes: u64) -> Result<()> {
        let file = match self.version {
            CgroupVersion::V1 => "memory.limit_in_bytes",
            CgroupVersion::V2 => "memory.max",
        };
        procfs::write_text(self.path.join(file), &bytes.to_string())
    }

    /// Limits memory+swap together; `None` = unlimited. Call after
    /// [`set_limit`](Self::set_limit). Returns false when the kernel has no
    /// swap accounting (file absent).
    ///
    /// v1 writes `memory.memsw.limit_in_bytes`. v2 has no memory+swap limit,
    /// only a swap limit: `memory.swap.max` gets what the total leaves
    /// beside `memory.max` (a total equal to the memory limit: no swap).
    pub fn set_memsw_limit(&self, bytes: Option<u64>) -> Result<bool> {
        match self.version {
            CgroupVersion::V1 => {
                let file = self.path.join("memory.memsw.limit_in_bytes");
                if !file.exists() {
                    return Ok(false);
                }
                let value = bytes.map_or_else(|| "-1".to_string(), |b| b.to_string());
                procfs::write_text(file, &value)?;
                Ok(true)
            }
            CgroupVersion::V2 => {
                let file = self.path.join("memory.swap.max");
                if !file.exists() {
                    return Ok(false);
                }
                let value = match bytes {
                    None => "max".to_string(),
                    Some(total) => {
                        let max_file = self.path.join("memory.max");
                        let Some(memory_max) = parse_max(&procfs::read_text(&max_file)?)
                            .with_context(|| format!("reading {}", max_file.display()))?
                        else {
                            bail!(
                                "cgroup v2 cannot limit memory+swap to {total} bytes while \
                                 memory.max is unlimited: set the memory limit first"
                            );
                        };
                        swap_max_for_memsw(total, memory_max).to_string()
                    }
                };
                procfs::write_text(file, &value)?;
                Ok(true)
            }
        }
    }

    fn read_opt(&self, file: &str) -> Option<u64> {
        procfs::read_u64(self.path.join(file)).ok()
    }

    /// A `max`-or-number file; None when absent, unreadable or `max`.
    fn read_max_opt(&self, file: &str) -> Option<u64> {
        let text = std::fs::read_to_string(self.path.join(file)).ok()?;
        parse_max(&text).ok().flatten()
    }

    fn read_map(&self, file: &str) -> Result<BTreeMap<String, u64>> {
        Ok(procfs::parse_name_value(&procfs::read_text(
            self.path.join(file),
        )?))
    }

    pub fn snapshot(&self) -> Result<MemcgSnapshot> {
        let stat = self.read_map("memory.stat")?;
        match self.version {
            CgroupVersion::V1 => Ok(MemcgSnapshot {
                path: self.path_string(),
                version: self.version,
                stat,
                oom_control: self.read_map("memory.oom_control")?,
                events: None,
                usage_in_bytes: self.read_opt("memory.usage_in_bytes"),
                max_usage_in_bytes: self.read_opt("memory.max_usage_in_bytes"),
                limit_in_bytes: self.read_opt("memory.limit_in_bytes"),
                failcnt: self.read_opt("memory.failcnt"),
                memsw_usage_in_bytes: self.read_opt("memory.memsw.usage_in_bytes"),
                memsw_limit_in_bytes: self.read_opt("memory.memsw.limit_in_bytes"),
            }),
            CgroupVersion::V2 => {
                let events = self.read_map("memory.events")?;
                let current = self.read_opt("memory.current");
                let limit = self.read_max_opt("memory.max");
                Ok(MemcgSnapshot {
                    path: self.path_string(),
                    version: self.version,
                    stat,
                    oom_control: v2_oom_control(&events),
                    failcnt: events.get("max").copied(),
                    events: Some(events),
                    usage_in_bytes: current,
                    max_usage_in_bytes: self.read_opt("memory.peak"),
                    limit_in_bytes: limit,
                    memsw_usage_in_bytes: current
                        .zip(self.read_opt("memory.swap.current"))
                        .map(|(m, s)| m + s),
                    memsw_limit_in_bytes: limit
                        .zip(self.read_max_opt("memory.swap.max"))
                        .map(|(m, s)| m.saturating_add(s)),
                })
            }
        }
    }
}

/// The part of v1's `memory.oom_control` that v2 keeps (in memory.events):
/// the kill count. v2 has no `oom_kill_disable` or `under_oom`.
fn v2_oom_control(events: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    events
        .iter()
        .filter(|(k, _)| k.as_str() == "oom_kill")
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        match remove_dir(&self.path) {
            Ok(()) => info!(path = %self.path.display(), "removed memcg"),
            Err(e) => warn!(path = %self.path.display(), "could not remove memcg: {e:#}"),
        }
    }
}

/// The pid in a "memscen-<pid>-<scenario>" name.
fn stale_owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("memscen-")?;
    let (pid, scenario) = rest.split_once('-')?;
    if scenario.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Kills whatever is still in the cgroup and rmdirs it, retrying for a few
/// seconds: rmdir fails with EBUSY until the killed tasks have really exited.
fn remove_dir(path: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let procs = std::fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            debug!(pid, "killing a task left in the memcg");
            // SAFETY: plain kill(2); the pid was just listed in our own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("rmdir {}", path.display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_names() {
        assert_eq!(stale_owner("memscen-123-oom"), Some(123));
        assert_eq!(stale_owner("memscen-9-memcg-reclaim"), Some(9));
        assert_eq!(stale_owner("memscen-x-oom"), None);
        assert_eq!(stale_owner("memscen-12-"), None);
        assert_eq!(stale_owner("other"), None);
    }

    // A hybrid host (v1 controllers and cgroup2 at unified/), then a
    // cgroup2-only one, as /proc/self/mountinfo shows them.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V2_ONLY: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn cgroup2_mount_lookup() {
        assert_eq!(
            find_cgroup2_mount(HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            find_cgroup2_mount(V2_ONLY),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            find_cgroup2_mount("22 1 0:21 / /proc rw - proc proc rw\n"),
            None
        );
        assert_eq!(find_cgroup2_mount(""), None);
    }

    #[test]
    fn cgroup2_mount_prefers_the_whole_hierarchy_and_skips_private_mounts() {
        let text = "\
50 24 0:23 /user.slice /mnt/sub rw - cgroup2 cgroup2 rw
51 24 0:23 / /run/memscen-cgroup2.4242 rw - cgroup2 cgroup2 rw
52 24 0:23 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw
";
        assert_eq!(find_cgroup2_mount(text), Some(PathBuf::from("/mnt/cg two")));
        // Only a subtree mounted: that one.
        assert_eq!(
            find_cgroup2_mount(text.lines().next().unwrap_or_default()),
            Some(PathBuf::from("/mnt/sub"))
        );
        // Only another memscen's: none (this run mounts its own).
        assert_eq!(
            find_cgroup2_mount(text.lines().nth(1).unwrap_or_default()),
            None
        );
    }

    #[test]
    fn private_mount_names() {
        assert_eq!(
            private_mount_owner(Path::new("/run/memscen-cgroup2.77")),
            Some(77)
        );
        assert_eq!(private_mount_owner(Path::new("/sys/fs/cgroup")), None);
        assert_eq!(
            private_mount_owner(Path::new("/run/memscen-cgroup2.x")),
            None
        );
    }

    #[test]
    fn mount_field_escapes() {
        assert_eq!(unescape_mount_field("/a\\040b\\011c"), "/a b\tc");
        assert_eq!(unescape_mount_field("/plain"), "/plain");
        assert_eq!(unescape_mount_field("/odd\\"), "/odd\\");
        assert_eq!(unescape_mount_field("/odd\\04"), "/odd\\04");
    }

    #[test]
    fn memory_events() {
        let text = "low 0\nhigh 0\nmax 1523\noom 2\noom_kill 1\noom_group_kill 0\n";
        let events = procfs::parse_name_value(text);
        assert_eq!(events.get("max"), Some(&1523));
        assert_eq!(events.get("oom"), Some(&2));
        let oc = v2_oom_control(&events);
        assert_eq!(oc.len(), 1);
        assert_eq!(oc.get("oom_kill"), Some(&1));
    }

    #[test]
    fn max_files() {
        assert_eq!(parse_max("max\n").ok(), Some(None));
        assert_eq!(parse_max("33554432\n").ok(), Some(Some(33_554_432)));
        assert!(parse_max("lots").is_err());
    }

    #[test]
    fn memsw_intent_on_v2() {
        // memory+swap equal to the memory limit: no swap at all.
        assert_eq!(swap_max_for_memsw(64 << 20, 64 << 20), 0);
        assert_eq!(swap_max_for_memsw(96 << 20, 64 << 20), 32 << 20);
        assert_eq!(swap_max_for_memsw(1, 64 << 20), 0);
    }

    #[test]
    fn controller_lists() {
        assert!(has_controller("cpuset cpu io memory pids\n", "memory"));
        assert!(!has_controller("cpuset cpu io pids\n", "memory"));
        assert!(!has_controller("", "memory"));
    }

    #[test]
    fn stat_keys_by_version() {
        use CgroupVersion::{V1, V2};
        assert_eq!(MemcgStat::PagesOut.key(V1), Some("pgpgout"));
        assert_eq!(MemcgStat::PagesOut.key(V2), None);
        assert_eq!(MemcgStat::PagesIn.key(V2), None);
        assert_eq!(MemcgStat::MajorFaults.key(V1), Some("pgmajfault"));
        assert_eq!(MemcgStat::MajorFaults.key(V2), Some("pgmajfault"));
        assert_eq!(MemcgStat::Reclaimed.key(V2), Some("pgsteal"));
        assert_eq!(MemcgStat::Scanned.key(V1), None);
        let snap = MemcgSnapshot {
            path: "/sys/fs/cgroup/memscen-1-oom".into(),
            version: V2,
            stat: procfs::parse_name_value("anon 1024\nfile 0\npgsteal 12\npgmajfault 3\n"),
            oom_control: BTreeMap::new(),
            events: None,
            usage_in_bytes: None,
            max_usage_in_bytes: None,
            limit_in_bytes: None,
            failcnt: None,
            memsw_usage_in_bytes: None,
            memsw_limit_in_bytes: None,
        };
        assert_eq!(snap.stat(MemcgStat::Reclaimed), Some(12));
        assert_eq!(snap.stat(MemcgStat::PagesOut), None);
        assert_eq!(snap.oom_kills(), None);
    }
}
