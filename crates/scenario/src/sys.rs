//! Small wrappers over libc: clocks, identity, signals.

use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{bail, Result};
use serde::Serialize;

/// Reads one clock in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; BOOTTIME/REALTIME always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// A point in time on both clocks the recorder and the user care about:
/// BOOTTIME matches the BPF/tracepoint timestamps, REALTIME the wall clock.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stamp {
    pub boottime_ns: u64,
    pub realtime_ns: u64,
}

impl Stamp {
    pub fn now() -> Self {
        Stamp {
            boottime_ns: clock_ns(libc::CLOCK_BOOTTIME),
            realtime_ns: clock_ns(libc::CLOCK_REALTIME),
        }
    }
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn pid() -> i32 {
    std::process::id() as i32
}

/// Sets this thread's comm (what `ps`, /proc/PID/comm and the recorder's
/// `comm` column show); the kernel truncates it to 15 bytes.
pub fn set_comm(name: &str) -> Result<()> {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        bail!(
            "prctl(PR_SET_NAME, {name}): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGABRT => "SIGABRT".into(),
        other => format!("signal {other}"),
    }
}

// --- SIGINT/SIGTERM -------------------------------------------------------

/// The last termination signal received (0 = none). The handler only
/// stores it; the polling loops notice and unwind, so every Drop guard runs.
static PENDING_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    PENDING_SIGNAL.store(sig, Ordering::SeqCst);
}

/// Error returned by [`check_interrupted`]; main maps it to exit 128+signal.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", signal_name(self.0))
    }
}

impl std::error::Error for Interrupted {}

pub fn install_signal_handlers() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            // No SA_RESTART: a long write to nr_hugepages should be cut short.
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            bail!("sigaction({sig}): {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn pending_signal() -> Option<i32> {
    match PENDING_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Fails with [`Interrupted`] once SIGINT/SIGTERM/SIGHUP arrived.
pub fn check_interrupted() -> Result<()> {
    if let Some(sig) = pending_signal() {
        return Err(Interrupted(sig).into());
    }
    Ok(())
}
