//! Cleanup after a membench that died: its memcgs, tracefs instances and
//! scratch files. Its own module: it uses both sys and ftrace, and neither
//! of them needs the other.

use std::path::Path;

use tracing::{debug, warn};

use crate::ftrace;
use crate::sys::{remove_memcg, MEMCG_PREFIX, MEMCG_ROOT};

fn pid_alive_as(pid: i32, comm: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == comm)
        .unwrap_or(false)
}

/// Removes memcgs, tracefs instances and scratch files left by a membench
/// that died without cleaning up (its pid no longer runs membench).
pub fn remove_stale() {
    let dirs = [
        (Path::new(MEMCG_ROOT).to_path_buf(), true),
        (Path::new(ftrace::TRACEFS).join("instances"), false),
    ];
    for (dir, is_memcg) in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(MEMCG_PREFIX)
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if pid_alive_as(pid, "membench") {
                continue;
            }
            warn!("removing {} left by a dead membench", e.path().display());
            let r = if is_memcg {
                remove_memcg(&e.path())
            } else {
                ftrace::remove_instance(&e.path())
            };
            if let Err(err) = r {
                warn!("{err:#}");
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/var/tmp") {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(MEMCG_PREFIX)
                .and_then(|r| r.split(['-', '.']).next())
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(pid) = pid {
                if name.ends_with(".dat") && !pid_alive_as(pid, "membench") {
                    debug!("removing stale {}", e.path().display());
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
