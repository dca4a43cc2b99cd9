//! Checks that make a missing privilege or kernel feature a one-line
//! message instead of a libbpf error deep in loading.

use std::path::Path;

use crate::kernel;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "memrec needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on older kernels); \
         run it with sudo"
    )]
    Privilege,
    #[error(
        "this kernel has no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF=y is needed \
         for CO-RE BPF programs)"
    )]
    Btf,
    #[error(
        "tracefs is not mounted and could not be mounted ({0}); mount it with \
         `mount -t tracefs tracefs /sys/kernel/tracing`"
    )]
    Tracefs(String),
}

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

pub fn check_privilege() -> Result<(), PreflightError> {
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    if (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN) {
        Ok(())
    } else {
        Err(PreflightError::Privilege)
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
    if kernel::tracefs_mounted() {
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
    if !kernel::tracefs_mounted() {
        return Err(PreflightError::Tracefs(
            "no events directory after mounting".into(),
        ));
    }
    Ok(true)
}
