//! A throw-away cgroup v1 memory cgroup, removed on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::procfs;

pub const MEMCG_ROOT: &str = "/sys/fs/cgroup/memory";

/// What the memcg's counter files said at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct MemcgSnapshot {
    /// Absolute path of the cgroup directory.
    pub path: String,
    /// `memory.stat` (bytes and event counts, cgroup-local and `total_*`).
    pub stat: BTreeMap<String, u64>,
    /// `memory.oom_control`: `oom_kill_disable`, `under_oom`, `oom_kill`.
    pub oom_control: BTreeMap<String, u64>,
    pub usage_in_bytes: Option<u64>,
    pub max_usage_in_bytes: Option<u64>,
    pub limit_in_bytes: Option<u64>,
    /// How often the charge hit the limit (each hit means reclaim).
    pub failcnt: Option<u64>,
    pub memsw_usage_in_bytes: Option<u64>,
    pub memsw_limit_in_bytes: Option<u64>,
}

#[derive(Debug)]
pub struct MemCgroup {
    path: PathBuf,
}

/// Fails unless the cgroup v1 memory controller is mounted where we expect it.
pub fn check_available() -> Result<()> {
    let root = Path::new(MEMCG_ROOT);
    if !root.join("memory.limit_in_bytes").exists() || !root.join("cgroup.procs").exists() {
        bail!("no cgroup v1 memory controller at {MEMCG_ROOT} (memory.limit_in_bytes missing)");
    }
    Ok(())
}

impl MemCgroup {
    /// Creates `/sys/fs/cgroup/memory/<name>`. A leftover directory of the
    /// same name (a killed earlier run whose pid got reused) is removed first.
    pub fn create(name: &str) -> Result<Self> {
        check_available()?;
        let path = Path::new(MEMCG_ROOT).join(name);
        if path.exists() {
            warn!(path = %path.display(), "removing a leftover memcg of the same name");
            remove_dir(&path)?;
        }
        std::fs::create_dir(&path).with_context(|| format!("creating memcg {}", path.display()))?;
        info!(path = %path.display(), "created memcg");
        Ok(MemCgroup { path })
    }

    pub fn path_string(&self) -> String {
        self.path.display().to_string()
    }

    /// The file a pid is written to in order to move that process here.
    pub fn procs_file(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    pub fn set_limit(&self, bytes: u64) -> Result<()> {
        procfs::write_text(self.path.join("memory.limit_in_bytes"), &bytes.to_string())
    }

    /// Sets `memory.memsw.limit_in_bytes` (memory+swap); `None` = unlimited.
    /// Returns false when the kernel has no swap accounting (file absent).
    pub fn set_memsw_limit(&self, bytes: Option<u64>) -> Result<bool> {
        let file = self.path.join("memory.memsw.limit_in_bytes");
        if !file.exists() {
            return Ok(false);
        }
        let value = bytes.map_or_else(|| "-1".to_string(), |b| b.to_string());
        procfs::write_text(file, &value)?;
        Ok(true)
    }

    fn read_opt(&self, file: &str) -> Option<u64> {
        procfs::read_u64(self.path.join(file)).ok()
    }

    pub fn oom_control(&self) -> Result<BTreeMap<String, u64>> {
        Ok(procfs::parse_name_value(&procfs::read_text(
            self.path.join("memory.oom_control"),
        )?))
    }

    pub fn snapshot(&self) -> Result<MemcgSnapshot> {
        Ok(MemcgSnapshot {
            path: self.path_string(),
            stat: procfs::parse_name_value(&procfs::read_text(self.path.join("memory.stat"))?),
            oom_control: self.oom_control()?,
            usage_in_bytes: self.read_opt("memory.usage_in_bytes"),
            max_usage_in_bytes: self.read_opt("memory.max_usage_in_bytes"),
            limit_in_bytes: self.read_opt("memory.limit_in_bytes"),
            failcnt: self.read_opt("memory.failcnt"),
            memsw_usage_in_bytes: self.read_opt("memory.memsw.usage_in_bytes"),
            memsw_limit_in_bytes: self.read_opt("memory.memsw.limit_in_bytes"),
        })
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        match remove_dir(&self.path) {
            Ok(()) => info!(path = %self.path.display(), "removed memcg"),
            Err(e) => warn!(path = %self.path.display(), "could not remove memcg: {e:#}"),
        }
    }
}

/// Removes `memscen-<pid>-*` memcgs (and reclaim scratch files) left by a
/// memscen that was SIGKILLed before it could clean up, i.e. whose pid is
/// no longer a running memscen. Best effort: failures are only logged.
pub fn remove_stale() {
    let Ok(dir) = std::fs::read_dir(MEMCG_ROOT) else {
        return;
    };
    for entry in dir.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = stale_owner(&name) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "memscen" {
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
}
