//! faults: every page fault the kernel accounts, with its VMA.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use libbpf_rs::Link;
use libbpf_sys::{PERF_COUNT_SW_PAGE_FAULTS_MAJ, PERF_COUNT_SW_PAGE_FAULTS_MIN};
use memtrace_schema::tables::faults::fault;
use memtrace_schema::tables::stacks::fault_stack;
use memtrace_schema::{Comm, Header, Text};

use super::decode::{read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::faults::{types, FaultsSkelBuilder};
use crate::writer::Tables;
use types::faults_probe as P;
use types::mt_hdr;

// SAFETY: generated from C structs of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::faults_fault {}
// SAFETY: as above.
unsafe impl plain::Plain for types::faults_fault_ctx {}

/// A software perf event that runs a program on every occurrence, on every
/// CPU (`Method::SwEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwEvent {
    /// PERF_COUNT_SW_PAGE_FAULTS_MIN: a fault accounted as minor.
    PageFaultsMin,
    /// PERF_COUNT_SW_PAGE_FAULTS_MAJ: a fault accounted as major.
    PageFaultsMaj,
}

impl SwEvent {
    fn config(self) -> u32 {
        match self {
            SwEvent::PageFaultsMin => PERF_COUNT_SW_PAGE_FAULTS_MIN,
            SwEvent::PageFaultsMaj => PERF_COUNT_SW_PAGE_FAULTS_MAJ,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SwEvent::PageFaultsMin => "page-faults-min",
            SwEvent::PageFaultsMaj => "page-faults-maj",
        }
    }

    /// Opens the event on `cpu` for every task, sampling every occurrence.
    pub fn open(self, cpu: u32) -> io::Result<OwnedFd> {
        crate::timer::open_software_event(self.config(), cpu, 1)
    }

    /// Whether the event can be opened here; the error says why not.
    pub fn available(self) -> Result<(), String> {
        let cpu = crate::kernel::online_cpus().first().copied().unwrap_or(0);
        self.open(cpu)
            .map(drop)
            .map_err(|e| format!("perf_event_open({}): {e}", self.name()))
    }

    /// Attaches a program to the event on every online CPU.
    pub fn attach(self, p: &libbpf_rs::ProgramMut<'_>) -> Result<Vec<Link>> {
        let mut links = Vec::new();
        for cpu in crate::kernel::online_cpus() {
            let fd = self
                .open(cpu)
                .with_context(|| format!("perf_event_open({}) on CPU {cpu}", self.name()))?;
            let link = p
                .attach_perf_event(fd.as_raw_fd())
                .with_context(|| format!("attaching to {} on CPU {cpu}", self.name()))?;
            // The link now holds the event open; libbpf closes it on detach.
            std::mem::forget(fd);
            links.push(link);
        }
        Ok(links)
    }
}

pub static GROUP: Group = Group {
    name: "faults",
    about: "every page fault: address, ip, access, minor/major, VMA kind and file",
    programs: &[
        Program {
            name: "faults_min",
            target: "page-faults-min",
            method: Method::SwEvent(SwEvent::PageFaultsMin),
            slot: P::FAULTS_PROBE_MIN.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "faults_maj",
            target: "page-faults-maj",
            method: Method::SwEvent(SwEvent::PageFaultsMaj),
            slot: P::FAULTS_PROBE_MAJ.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "faults_exc_user",
            target: "exceptions:page_fault_user",
            method: Method::TpBtf,
            slot: P::FAULTS_PROBE_EXC_USER.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "faults_exc_kernel",
            target: "exceptions:page_fault_kernel",
            method: Method::TpBtf,
            slot: P::FAULTS_PROBE_EXC_KERNEL.0,
            fallback: None,
            requires: None,
        },
    ],
    tables: memtrace_schema::tables::faults::TABLES,
    max_ring_bytes: 64 << 20,
    default_on: false,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(FaultsSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(FaultsSkelBuilder),
    decode: decode::<Tables>,
};

/// x86 page-fault error code bits (arch/x86/include/asm/trap_pf.h; the
/// hardware's own layout).
const X86_PF_PROT: u32 = 1;
const X86_PF_WRITE: u32 = 2;
const X86_PF_INSTR: u32 = 16;

/// Access and cause from an x86 error code.
pub fn decode_error_code(code: u32) -> (&'static str, &'static str) {
    let access = if code & X86_PF_INSTR != 0 {
        "exec"
    } else if code & X86_PF_WRITE != 0 {
        "write"
    } else {
        "read"
    };
    let cause = if code & X86_PF_PROT != 0 {
        "protection"
    } else {
        "not-present"
    };
    (access, cause)
}

/// The name of a `enum faults_vma` value.
pub fn vma_name(v: u8) -> &'static str {
    use types::faults_vma as V;
    match u32::from(v) {
        x if x == V::FAULTS_VMA_ANON.0 => "anon",
        x if x == V::FAULTS_VMA_FILE.0 => "file",
        x if x == V::FAULTS_VMA_SHMEM.0 => "shmem",
        x if x == V::FAULTS_VMA_STACK.0 => "stack",
        x if x == V::FAULTS_VMA_HEAP.0 => "heap",
        x if x == V::FAULTS_VMA_HUGETLB.0 => "hugetlb",
        x if x == V::FAULTS_VMA_IO.0 => "io",
        _ => "unknown",
    }
}

thread_local! {
    /// File names seen, shared by their rows: a storm of faults on one file
    /// allocates its name once.
    static FILES: RefCell<HashMap<Vec<u8>, Text>> = RefCell::new(HashMap::new());
    /// Each thread's context, from its last `FAULTS_FAULT_CTX` record.
    static TASKS: RefCell<Tasks> = RefCell::new(Tasks::default());
}

/// The file name in a record, shared.
pub fn file_name(raw: &[std::ffi::c_char]) -> Option<Text> {
    // SAFETY: c_char and u8 have the same size and alignment.
    let raw: &[u8] = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast(), raw.len()) };
    let bytes = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
    if bytes.is_empty() {
        return None;
    }
    Some(FILES.with(|f| {
        let mut f = f.borrow_mut();
        if let Some(t) = f.get(bytes) {
            return t.clone();
        }
        // Bounded: a recording of many short-lived files keeps a fresh map.
        if f.len() >= 65536 {
            f.clear();
        }
        let t = Text::from(String::from_utf8_lossy(bytes).into_owned());
        f.insert(bytes.to_vec(), t.clone());
        t
    }))
}

/// What a thread's plain faults take from its last context record.
#[derive(Debug, Clone)]
struct TaskCtx {
    comm: Comm,
    cgroup_id: u64,
    file: Option<Text>,
    /// When the context was sent (CLOCK_BOOTTIME ns).
    ts_ns: u64,
}

/// Contexts by thread id, and when they were last swept.
#[derive(Debug, Default)]
struct Tasks {
    by_pid: HashMap<u32, TaskCtx>,
    /// Latest record time seen.
    now: u64,
    since_sweep: u32,
}

/// Records between two sweeps of the contexts.
const SWEEP_EVERY: u32 = 1 << 16;

impl Tasks {
    /// Forgets threads whose context is old enough that their next record
    /// must carry it again (the BPF side re-sends every
    /// FAULTS_CTX_REFRESH_NS; twice that and more is kept for records of
    /// other CPUs arriving slightly out of time order).
    fn sweep(&mut self) {
        let keep = 3 * u64::from(FAULTS_CTX_REFRESH_NS);
        let now = self.now;
        self.by_pid
            .retain(|_, c| now.saturating_sub(c.ts_ns) < keep);
    }
}

/// FAULTS_CTX_REFRESH_NS of faults.h (a macro, so not in the skeleton).
const FAULTS_CTX_REFRESH_NS: u32 = 1_000_000_000;

/// The record kind, at `mt_hdr.kind`'s offset in every layout of this ring.
fn record_kind(data: &[u8]) -> Result<u16, DecodeError> {
    const AT: usize = std::mem::offset_of!(types::faults_fault, kind);
    const _: () = assert!(AT == std::mem::offset_of!(mt_hdr, kind));
    match data.get(AT..AT + 2) {
        Some(b) => Ok(u16::from_ne_bytes([b[0], b[1]])),
        None => Err(DecodeError::Short {
            got: data.len(),
            want: AT + 2,
        }),
    }
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    use types::faults_kind as K;
    let kind = record_kind(data)?;
    if kind == crate::stacks::KIND {
        return crate::stacks::decode(data, ctx, out, |s| fault_stack::Row {
            stack_id: s.stack_id,
            every: s.every,
            stack_error: s.error,
        });
    }
    let (e, task) = if kind == K::FAULTS_FAULT_CTX.0 as u16 {
        let f: types::faults_fault_ctx = read(data)?;
        let task = TaskCtx {
            comm: Comm(f.ctx.comm.map(|c| c as u8)),
            cgroup_id: f.ctx.cgroup_id,
            file: file_name(&f.ctx.file),
            ts_ns: f.fault.ts_ns,
        };
        ctx.cgroup_ids.insert(task.cgroup_id);
        TASKS.with(|t| t.borrow_mut().by_pid.insert(f.fault.pid, task.clone()));
        (f.fault, task)
    } else if kind == K::FAULTS_FAULT.0 as u16 {
        let e: types::faults_fault = read(data)?;
        let task = TASKS
            .with(|t| t.borrow().by_pid.get(&e.pid).cloned())
            .ok_or(DecodeError::Missing(
                "a fault of a thread whose context record never came",
            ))?;
        (e, task)
    } else {
        return Err(DecodeError::UnknownKind(kind));
    };
    TASKS.with(|t| {
        let mut t = t.borrow_mut();
        t.now = t.now.max(e.ts_ns);
        t.since_sweep += 1;
        if t.since_sweep >= SWEEP_EVERY {
            t.since_sweep = 0;
            t.sweep();
        }
    });
    let hdr = Header {
        ts_ns: e.ts_ns as i64,
        cpu: u32::from(e.cpu),
        pid: e.pid,
        tgid: e.tgid,
        comm: task.comm,
        cgroup_id: task.cgroup_id,
    };
    let flag = |f: types::faults_flag| u32::from(e.flags) & f.0 != 0;
    let code = flag(types::faults_flag::FAULTS_F_ERROR_CODE).then_some(e.error_code);
    let decoded = code.map(decode_error_code);
    out.push(
        &hdr,
        &fault::Row {
            address: e.address,
            ip: e.ip,
            user: flag(types::faults_flag::FAULTS_F_USER),
            major: flag(types::faults_flag::FAULTS_F_MAJOR),
            error_code: code,
            access: decoded.map(|(a, _)| Text::from(a)),
            cause: decoded.map(|(_, c)| Text::from(c)),
            vma: Text::from(vma_name(e.vma)),
            file: task.file,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};
    use types::faults_flag as F;

    fn plain(pid: u32, flags: u32, vma: types::faults_vma) -> types::faults_fault {
        types::faults_fault {
            ts_ns: 1000,
            address: 0x7f00_0000_1234,
            ip: 0x5555_0000_0042,
            pid,
            tgid: 7,
            cpu: 1,
            error_code: 0x6, // user write, not present
            flags: flags as u8,
            vma: vma.0 as u8,
            kind: types::faults_kind::FAULTS_FAULT.0 as u16,
            ..Default::default()
        }
    }

    fn with_ctx(
        pid: u32,
        flags: u32,
        vma: types::faults_vma,
        file: &str,
    ) -> types::faults_fault_ctx {
        let mut e = types::faults_fault_ctx {
            fault: plain(pid, flags, vma),
            ..Default::default()
        };
        e.fault.kind = types::faults_kind::FAULTS_FAULT_CTX.0 as u16;
        e.ctx.comm = comm("toucher");
        e.ctx.cgroup_id = 42;
        for (d, s) in e.ctx.file.iter_mut().zip(file.bytes()) {
            *d = s as _;
        }
        e
    }

    fn decode_all(
        records: &[Vec<u8>],
    ) -> Vec<Result<crate::probes::decode::testing::Decoded, DecodeError>> {
        let mut c = ctx();
        records
            .iter()
            .map(|r| {
                let mut out = Collect::default();
                decode(r, &mut c, &mut out)?;
                assert_eq!(out.rows.len(), 1);
                Ok(out.rows.remove(0))
            })
            .collect()
    }

    #[test]
    fn a_minor_anonymous_write_fault_decodes() {
        let row = decode_all(&[bytes(&with_ctx(
            8,
            F::FAULTS_F_USER.0 | F::FAULTS_F_ERROR_CODE.0,
            types::faults_vma::FAULTS_VMA_ANON,
            "",
        ))])
        .remove(0)
        .unwrap();
        assert_eq!(row.table, "fault");
        assert_eq!(row.hdr.comm.as_str(), "toucher");
        assert_eq!((row.hdr.pid, row.hdr.tgid, row.hdr.cpu), (8, 7, 1));
        assert_eq!((row.hdr.ts_ns, row.hdr.cgroup_id), (1000, 42));
        assert_eq!(row.get("address"), &Val::U64(0x7f00_0000_1234));
        assert_eq!(row.get("ip"), &Val::U64(0x5555_0000_0042));
        assert_eq!(row.get("user"), &Val::Bool(true));
        assert_eq!(row.get("major"), &Val::Bool(false));
        assert_eq!(row.get("error_code"), &Val::U32(6));
        assert_eq!(row.get("access"), &Val::from("write"));
        assert_eq!(row.get("cause"), &Val::from("not-present"));
        assert_eq!(row.get("vma"), &Val::from("anon"));
        assert_eq!(row.get("file"), &Val::Null);
    }

    #[test]
    fn a_major_file_fault_names_its_file_and_lacks_an_unknown_error_code() {
        let row = decode_all(&[bytes(&with_ctx(
            9,
            F::FAULTS_F_MAJOR.0,
            types::faults_vma::FAULTS_VMA_FILE,
            "libc.so.6",
        ))])
        .remove(0)
        .unwrap();
        assert_eq!(row.get("major"), &Val::Bool(true));
        assert_eq!(row.get("user"), &Val::Bool(false));
        assert_eq!(row.get("error_code"), &Val::Null);
        assert_eq!(row.get("access"), &Val::Null);
        assert_eq!(row.get("cause"), &Val::Null);
        assert_eq!(row.get("vma"), &Val::from("file"));
        assert_eq!(row.get("file"), &Val::from("libc.so.6"));
    }

    #[test]
    fn a_plain_fault_takes_its_threads_context() {
        let file = types::faults_vma::FAULTS_VMA_FILE;
        let mut next = plain(10, F::FAULTS_F_USER.0, file);
        next.ts_ns = 2000;
        next.address += 4096;
        let other = with_ctx(11, 0, types::faults_vma::FAULTS_VMA_ANON, "");
        let rows = decode_all(&[
            bytes(&with_ctx(10, F::FAULTS_F_USER.0, file, "data.bin")),
            bytes(&other),
            bytes(&next),
        ]);
        let row = rows[2].as_ref().unwrap();
        assert_eq!(row.hdr.comm.as_str(), "toucher");
        assert_eq!(
            (row.hdr.pid, row.hdr.ts_ns, row.hdr.cgroup_id),
            (10, 2000, 42)
        );
        assert_eq!(row.get("address"), &Val::U64(0x7f00_0000_1234 + 4096));
        assert_eq!(row.get("vma"), &Val::from("file"));
        // Thread 11's context (no file) came in between: 10 keeps its own.
        assert_eq!(row.get("file"), &Val::from("data.bin"));
    }

    #[test]
    fn a_plain_fault_without_a_context_is_refused_not_misattributed() {
        let got = decode_all(&[bytes(&plain(12, 0, types::faults_vma::FAULTS_VMA_ANON))]);
        assert!(
            matches!(got[0], Err(DecodeError::Missing(_))),
            "{:?}",
            got[0].as_ref().err()
        );
    }

    #[test]
    fn old_contexts_are_forgotten_new_ones_kept() {
        let mut t = Tasks::default();
        let task = |ts_ns| TaskCtx {
            comm: Comm([0; 16]),
            cgroup_id: 0,
            file: None,
            ts_ns,
        };
        let refresh = u64::from(FAULTS_CTX_REFRESH_NS);
        t.by_pid.insert(1, task(0));
        t.by_pid.insert(2, task(3 * refresh));
        t.now = 3 * refresh + 1;
        t.sweep();
        assert!(!t.by_pid.contains_key(&1));
        assert!(t.by_pid.contains_key(&2));
    }

    #[test]
    fn records_with_a_header_share_the_kind_offset() {
        // A record of this ring that starts with an mt_hdr (a sampled
        // stack) is told apart by the same two bytes.
        let mut h = vec![0u8; std::mem::size_of::<mt_hdr>()];
        let at = std::mem::offset_of!(mt_hdr, kind);
        h[at..at + 2].copy_from_slice(&0x7f00u16.to_ne_bytes());
        assert_eq!(record_kind(&h).unwrap(), 0x7f00);
        let e = plain(1, 0, types::faults_vma::FAULTS_VMA_ANON);
        assert_eq!(
            record_kind(&bytes(&e)).unwrap(),
            types::faults_kind::FAULTS_FAULT.0 as u16
        );
    }

    #[test]
    fn error_codes_decode_as_the_hardware_sets_them() {
        assert_eq!(decode_error_code(0x14), ("exec", "not-present"));
        assert_eq!(decode_error_code(0x7), ("write", "protection"));
        assert_eq!(decode_error_code(0x4), ("read", "not-present"));
        assert_eq!(decode_error_code(0x0), ("read", "not-present"));
    }

    #[test]
    fn every_vma_kind_has_a_name() {
        use types::faults_vma as V;
        let names: Vec<&str> = [
            V::FAULTS_VMA_UNKNOWN,
            V::FAULTS_VMA_ANON,
            V::FAULTS_VMA_FILE,
            V::FAULTS_VMA_SHMEM,
            V::FAULTS_VMA_STACK,
            V::FAULTS_VMA_HEAP,
            V::FAULTS_VMA_HUGETLB,
            V::FAULTS_VMA_IO,
        ]
        .iter()
        .map(|v| vma_name(v.0 as u8))
        .collect();
        assert_eq!(
            names,
            ["unknown", "anon", "file", "shmem", "stack", "heap", "hugetlb", "io"]
        );
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        for b in [
            bytes(&with_ctx(13, 0, types::faults_vma::FAULTS_VMA_ANON, "")),
            bytes(&plain(13, 0, types::faults_vma::FAULTS_VMA_ANON)),
        ] {
            let mut out = Collect::default();
            let e = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
            assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
            assert!(out.rows.is_empty());
        }
    }
}
