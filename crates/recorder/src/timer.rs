//! Per-CPU timers for BPF programs: a cpu-clock software perf event on each
//! online CPU. Not a function hook and no tracepoint: it needs only
//! perf events, which any kernel that runs BPF tracing programs has.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use libbpf_sys::{
    perf_event_attr, PERF_COUNT_SW_CPU_CLOCK, PERF_FLAG_FD_CLOEXEC, PERF_TYPE_SOFTWARE,
};

/// Opens a cpu-clock event on `cpu` that fires every `period_ns`.
pub fn open_cpu_clock(cpu: u32, period_ns: u64) -> io::Result<OwnedFd> {
    open_software_event(PERF_COUNT_SW_CPU_CLOCK, cpu, period_ns)
}

/// Opens a software perf event (`PERF_COUNT_SW_*`) on `cpu`, for every task
/// there, that fires every `period` counts (ns for the clocks).
pub fn open_software_event(config: u32, cpu: u32, period: u64) -> io::Result<OwnedFd> {
    let mut attr = perf_event_attr {
        type_: PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<perf_event_attr>() as u32,
        config: u64::from(config),
        ..Default::default()
    };
    attr.__bindgen_anon_1.sample_period = period.max(1);
    // SAFETY: attr is a valid perf_event_attr that outlives the call; the
    // kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const perf_event_attr,
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            libc::c_ulong::from(PERF_FLAG_FD_CLOEXEC),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether per-CPU timers can be opened here; the error says why not.
pub fn available() -> Result<(), String> {
    let cpu = crate::kernel::online_cpus().first().copied().unwrap_or(0);
    open_cpu_clock(cpu, 1_000_000_000)
        .map(drop)
        .map_err(|e| format!("perf_event_open(cpu-clock): {e}"))
}
