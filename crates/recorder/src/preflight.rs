//! Checks that make a missing privilege or kernel feature a one-line
//! message instead of a libbpf error deep in loading. The privilege check
//! names every capability that is missing and what it is needed for, so one
//! run tells an operator everything to grant.

use std::path::Path;

use crate::kernel::{self, Tracefs};

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("needs root, or these capabilities, which it lacks: {}", .0.join("; "))]
    Privilege(Vec<String>),
    #[error(
        "this kernel has no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y is needed \
         for CO-RE BPF programs)"
    )]
    Btf,
    #[error(
        "tracefs is not mounted at {dir} and could not be mounted ({0}); mount it with \
         `mount -t tracefs tracefs {dir}`", dir = kernel::TRACEFS
    )]
    Tracefs(String),
}

const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Effective capabilities from /proc/self/status.
fn effective_caps() -> u64 {
    kernel::read("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// `kernel.perf_event_paranoid`; 2, the upstream default, when unreadable.
fn perf_event_paranoid() -> i32 {
    kernel::read("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2)
}

/// What the recording needs that these capabilities do not give, each as
/// `CAPABILITY to DO SOMETHING (why)`. Empty when everything is there.
/// `paranoid` is `kernel.perf_event_paranoid`: above 2 (a setting of some
/// distributions' kernels, Debian's among them) perf events, which attach
/// tracepoint programs and the per-CPU timers, need CAP_SYS_ADMIN, and
/// CAP_PERFMON no longer does.
pub fn missing_privileges(caps: u64, tracefs: &Tracefs, paranoid: i32) -> Vec<String> {
    let has = |c: u32| caps & (1u64 << c) != 0;
    let mut missing = Vec::new();
    if paranoid > 2 && !has(CAP_SYS_ADMIN) {
        missing.push(format!(
            "CAP_SYS_ADMIN to load BPF programs and attach them to tracepoints and per-CPU \
             perf events (kernel.perf_event_paranoid is {paranoid}: this kernel refuses perf \
             events to everyone else, CAP_BPF and CAP_PERFMON included; \
             `sysctl kernel.perf_event_paranoid=2` lets those two do)"
        ));
    } else if !((has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN)) {
        let lacking: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
            .into_iter()
            .filter(|(c, _)| !has(*c))
            .map(|(_, n)| n)
            .collect();
        missing.push(format!(
            "{} (or CAP_SYS_ADMIN) to load BPF programs and attach them to tracepoints \
             and per-CPU perf events",
            lacking.join(" and ")
        ));
    }
    match tracefs {
        Tracefs::Readable => {}
        Tracefs::Unreadable { mode, uid, error } => {
            if !(has(CAP_DAC_READ_SEARCH) || has(CAP_DAC_OVERRIDE)) {
                missing.push(format!(
                    "CAP_DAC_READ_SEARCH to read the tracepoint formats in tracefs at {} \
                     (it is mounted, mode {mode:o}, owner uid {uid}: {error})",
                    kernel::TRACEFS
                ));
            }
        }
        Tracefs::NotMounted => {
            if !has(CAP_SYS_ADMIN) {
                missing.push(format!(
                    "CAP_SYS_ADMIN to mount tracefs at {} (it is not mounted; or mount it \
                     first with `mount -t tracefs tracefs {}`)",
                    kernel::TRACEFS,
                    kernel::TRACEFS
                ));
            }
        }
    }
    missing
}

pub fn check_privilege() -> Result<(), PreflightError> {
    let missing = missing_privileges(effective_caps(), &kernel::tracefs(), perf_event_paranoid());
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::Privilege(missing))
    }
}

pub fn check_btf() -> Result<(), PreflightError> {
    if Path::new("/sys/kernel/btf/vmlinux").exists() {
        Ok(())
    } else {
        Err(PreflightError::Btf)
    }
}

/// Mounts tracefs where libbpf looks for tracepoint ids, if it is not there.
pub fn ensure_tracefs() -> Result<bool, PreflightError> {
    if kernel::tracefs() != Tracefs::NotMounted {
        return Ok(false);
    }
    let cstr = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let (src, target, fstype) = (cstr("tracefs"), cstr(kernel::TRACEFS), cstr("tracefs"));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(PreflightError::Tracefs(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    if kernel::tracefs() != Tracefs::Readable {
        return Err(PreflightError::Tracefs(
            "its events directory cannot be read after mounting".into(),
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u64 = u64::MAX;

    fn caps(list: &[u32]) -> u64 {
        list.iter().fold(0, |a, c| a | 1 << c)
    }

    fn unreadable() -> Tracefs {
        Tracefs::Unreadable {
            mode: 0o700,
            uid: 0,
            error: "Permission denied (os error 13)".into(),
        }
    }

    #[test]
    fn root_needs_nothing() {
        assert!(missing_privileges(ALL, &Tracefs::Readable, 2).is_empty());
        assert!(missing_privileges(ALL, &unreadable(), 2).is_empty());
        assert!(missing_privileges(ALL, &Tracefs::NotMounted, 2).is_empty());
    }

    #[test]
    fn bpf_and_perfmon_alone_miss_tracefs_access() {
        // Exactly the case of an operator who read "CAP_BPF and CAP_PERFMON".
        let m = missing_privileges(caps(&[CAP_BPF, CAP_PERFMON]), &unreadable(), 2);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("CAP_DAC_READ_SEARCH to read"), "{m:?}");
        assert!(m[0].contains("it is mounted, mode 700"), "{m:?}");
        let e = PreflightError::Privilege(m).to_string();
        assert!(!e.contains("not mounted"), "{e}");
        assert!(missing_privileges(
            caps(&[CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH]),
            &unreadable(),
            2
        )
        .is_empty());
    }

    #[test]
    fn every_missing_capability_is_named() {
        let m = missing_privileges(0, &Tracefs::NotMounted, 2);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"));
        assert!(m[1].starts_with("CAP_SYS_ADMIN to mount tracefs"));
        let m = missing_privileges(caps(&[CAP_BPF]), &Tracefs::Readable, 2);
        assert!(m[0].starts_with("CAP_PERFMON (or CAP_SYS_ADMIN)"), "{m:?}");
        // CAP_SYS_ADMIN does everything but read a mode-700 tracefs.
        assert_eq!(
            missing_privileges(caps(&[CAP_SYS_ADMIN]), &unreadable(), 2).len(),
            1
        );
    }

    #[test]
    fn a_paranoid_kernel_needs_sys_admin_and_says_why() {
        let m = missing_privileges(
            caps(&[CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH]),
            &unreadable(),
            3,
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("CAP_SYS_ADMIN to load BPF programs"),
            "{m:?}"
        );
        assert!(m[0].contains("kernel.perf_event_paranoid is 3"), "{m:?}");
        // Nothing is said twice when nothing is held.
        let m = missing_privileges(0, &Tracefs::Readable, 3);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(missing_privileges(caps(&[CAP_SYS_ADMIN]), &Tracefs::Readable, 3).is_empty());
        assert!(missing_privileges(ALL, &unreadable(), 4).is_empty());
    }
}
