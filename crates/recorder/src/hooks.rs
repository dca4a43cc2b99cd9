//! Function hooks (fentry) are optional extras: many kernels refuse them
//! (lockdown, a build or a sandbox that forbids BPF trampolines), so before
//! memrec chooses a program that needs one it attaches a trial hook to the
//! same function. A refusal there is a reason in the metadata, and the
//! tracepoint path runs instead.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

use libbpf_sys::{
    bpf_insn, bpf_prog_load_opts, BPF_ALU64, BPF_EXIT, BPF_JMP, BPF_K, BPF_MOV,
    BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY,
};

/// Trial results per function: the answer does not change while memrec runs.
static TRIED: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());

/// Whether a fentry program can be attached to `func` on this kernel; the
/// error says why not.
pub fn fentry_available(func: &str) -> Result<(), String> {
    let mut tried = TRIED.lock().unwrap_or_else(|e| e.into_inner());
    tried
        .entry(func.to_string())
        .or_insert_with(|| try_fentry(func))
        .clone()
}

/// Loads a program that does nothing (`r0 = 0; exit`) as a fentry hook on
/// `func`, attaches it and lets both go.
fn try_fentry(func: &str) -> Result<(), String> {
    let name = CString::new(func).map_err(|_| format!("bad function name {func:?}"))?;
    // SAFETY: a NUL-terminated name; libbpf parses the kernel's BTF.
    let id = unsafe { libbpf_sys::libbpf_find_vmlinux_btf_id(name.as_ptr(), BPF_TRACE_FENTRY) };
    if id < 0 {
        return Err(format!("function {func} is not in the kernel's BTF"));
    }
    let insns = [
        bpf_insn {
            code: (BPF_ALU64 | BPF_MOV | BPF_K) as u8,
            ..Default::default()
        },
        bpf_insn {
            code: (BPF_JMP | BPF_EXIT) as u8,
            ..Default::default()
        },
    ];
    let mut opts = bpf_prog_load_opts {
        sz: std::mem::size_of::<bpf_prog_load_opts>() as _,
        expected_attach_type: BPF_TRACE_FENTRY,
        attach_btf_id: id as u32,
        ..Default::default()
    };
    let prog_name = c"mt_fentry_try";
    let license = c"GPL";
    // SAFETY: the instructions and options outlive the call, which copies them.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            BPF_PROG_TYPE_TRACING,
            prog_name.as_ptr(),
            license.as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut opts,
        )
    };
    if fd < 0 {
        return Err(format!(
            "the kernel refuses fentry programs on {func}: loading one failed: {}",
            std::io::Error::from_raw_os_error(-fd)
        ));
    }
    // SAFETY: a descriptor just returned to us, owned from here on.
    let _prog = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a NULL name attaches a tracing program to its BTF target.
    let link = unsafe { libbpf_sys::bpf_raw_tracepoint_open(std::ptr::null(), fd) };
    if link < 0 {
        return Err(format!(
            "the kernel refuses fentry hooks on {func}: attaching one failed: {}",
            std::io::Error::from_raw_os_error(-link)
        ));
    }
    // SAFETY: as above; closing it detaches the trial hook.
    drop(unsafe { OwnedFd::from_raw_fd(link) });
    Ok(())
}
