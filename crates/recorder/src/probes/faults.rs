//! faults: every page fault the kernel accounts, with its VMA.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use libbpf_rs::Link;
use libbpf_sys::{PERF_COUNT_SW_PAGE_FAULTS_MAJ, PERF_COUNT_SW_PAGE_FAULTS_MIN};
use memtrace_schema::tables::faults::fault;
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::faults::{types, FaultsSkelBuilder};
use crate::writer::Tables;
use types::faults_probe as P;

// SAFETY: generated from a C struct of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::faults_fault {}

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
    needs_ksyms: false,
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
}

/// The file name in a record, shared.
pub fn file_name(raw: &[std::ffi::c_char]) -> Option<Text> {
    let bytes: Vec<u8> = raw
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    if bytes.is_empty() {
        return None;
    }
    Some(FILES.with(|f| {
        let mut f = f.borrow_mut();
        if let Some(t) = f.get(&bytes) {
            return t.clone();
        }
        // Bounded: a recording of many short-lived files keeps a fresh map.
        if f.len() >= 65536 {
            f.clear();
        }
        let t = Text::from(String::from_utf8_lossy(&bytes).into_owned());
        f.insert(bytes, t.clone());
        t
    }))
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    if kind != types::faults_kind::FAULTS_FAULT.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    let e: types::faults_fault = read(data)?;
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
            file: file_name(&e.file),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};
    use types::faults_flag as F;

    fn fault(flags: u32, vma: types::faults_vma, file: &str) -> types::faults_fault {
        let mut e = types::faults_fault {
            address: 0x7f00_0000_1234,
            ip: 0x5555_0000_0042,
            error_code: 0x6, // user write, not present
            flags: flags as u8,
            vma: vma.0 as u8,
            ..Default::default()
        };
        for (d, s) in e.file.iter_mut().zip(file.bytes()) {
            *d = s as _;
        }
        e.hdr.kind = types::faults_kind::FAULTS_FAULT.0 as u16;
        e.hdr.tgid = 7;
        e.hdr.pid = 8;
        e.hdr.comm = comm("toucher");
        e
    }

    fn one(e: &types::faults_fault) -> crate::probes::decode::testing::Decoded {
        let mut out = Collect::default();
        decode(&bytes(e), &mut ctx(), &mut out).unwrap();
        assert_eq!(out.rows.len(), 1);
        out.rows.remove(0)
    }

    #[test]
    fn a_minor_anonymous_write_fault_decodes() {
        let row = one(&fault(
            F::FAULTS_F_USER.0 | F::FAULTS_F_ERROR_CODE.0,
            types::faults_vma::FAULTS_VMA_ANON,
            "",
        ));
        assert_eq!(row.table, "fault");
        assert_eq!(row.hdr.comm.as_str(), "toucher");
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
        let row = one(&fault(
            F::FAULTS_F_MAJOR.0,
            types::faults_vma::FAULTS_VMA_FILE,
            "libc.so.6",
        ));
        assert_eq!(row.get("major"), &Val::Bool(true));
        assert_eq!(row.get("user"), &Val::Bool(false));
        assert_eq!(row.get("error_code"), &Val::Null);
        assert_eq!(row.get("access"), &Val::Null);
        assert_eq!(row.get("cause"), &Val::Null);
        assert_eq!(row.get("vma"), &Val::from("file"));
        assert_eq!(row.get("file"), &Val::from("libc.so.6"));
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
        let b = bytes(&fault(0, types::faults_vma::FAULTS_VMA_ANON, ""));
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }
}
