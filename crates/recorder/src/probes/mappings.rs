//! mappings: the calls that change an address space (mmap, munmap, mremap,
//! brk, madvise, mprotect, SysV shm), one row per call with its arguments,
//! result and latency.
//!
//! The kernel prints syscall arguments as bare numbers, so flags, advice and
//! commands are named here from the UAPI headers (asm-generic/mman-common.h,
//! mman.h, linux/mman.h, linux/ipc.h, linux/shm.h, asm-generic/errno*.h):
//! values fixed by the system-call ABI.

use memtrace_schema::tables::mappings::mapping_call;
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::mappings::{types, MappingsSkelBuilder};
use crate::writer::Tables;
use types::mappings_call_id as C;
use types::mappings_probe as P;

// SAFETY: generated from C structs of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::mappings_call {}
unsafe impl plain::Plain for types::mappings_call_file {}

const fn tp(name: &'static str, target: &'static str, slot: types::mappings_probe) -> Program {
    Program {
        name,
        target,
        method: Method::Tp,
        slot: slot.0,
        fallback: None,
        requires: None,
    }
}

/// Each call's entry and return tracepoints (CONFIG_FTRACE_SYSCALLS): the
/// programs run only for their own call.
pub static GROUP: Group = Group {
    name: "mappings",
    about: "mmap, munmap, mremap, brk, madvise, mprotect and SysV shm calls: arguments, result, errno, latency, file",
    programs: &[
        tp(
            "mappings_enter_mmap",
            "syscalls:sys_enter_mmap",
            P::MAPPINGS_PROBE_ENTER_MMAP,
        ),
        tp(
            "mappings_exit_mmap",
            "syscalls:sys_exit_mmap",
            P::MAPPINGS_PROBE_EXIT_MMAP,
        ),
        tp(
            "mappings_enter_munmap",
            "syscalls:sys_enter_munmap",
            P::MAPPINGS_PROBE_ENTER_MUNMAP,
        ),
        tp(
            "mappings_exit_munmap",
            "syscalls:sys_exit_munmap",
            P::MAPPINGS_PROBE_EXIT_MUNMAP,
        ),
        tp(
            "mappings_enter_mremap",
            "syscalls:sys_enter_mremap",
            P::MAPPINGS_PROBE_ENTER_MREMAP,
        ),
        tp(
            "mappings_exit_mremap",
            "syscalls:sys_exit_mremap",
            P::MAPPINGS_PROBE_EXIT_MREMAP,
        ),
        tp(
            "mappings_enter_brk",
            "syscalls:sys_enter_brk",
            P::MAPPINGS_PROBE_ENTER_BRK,
        ),
        tp(
            "mappings_exit_brk",
            "syscalls:sys_exit_brk",
            P::MAPPINGS_PROBE_EXIT_BRK,
        ),
        tp(
            "mappings_enter_madvise",
            "syscalls:sys_enter_madvise",
            P::MAPPINGS_PROBE_ENTER_MADVISE,
        ),
        tp(
            "mappings_exit_madvise",
            "syscalls:sys_exit_madvise",
            P::MAPPINGS_PROBE_EXIT_MADVISE,
        ),
        tp(
            "mappings_enter_mprotect",
            "syscalls:sys_enter_mprotect",
            P::MAPPINGS_PROBE_ENTER_MPROTECT,
        ),
        tp(
            "mappings_exit_mprotect",
            "syscalls:sys_exit_mprotect",
            P::MAPPINGS_PROBE_EXIT_MPROTECT,
        ),
        tp(
            "mappings_enter_shmget",
            "syscalls:sys_enter_shmget",
            P::MAPPINGS_PROBE_ENTER_SHMGET,
        ),
        tp(
            "mappings_exit_shmget",
            "syscalls:sys_exit_shmget",
            P::MAPPINGS_PROBE_EXIT_SHMGET,
        ),
        tp(
            "mappings_enter_shmat",
            "syscalls:sys_enter_shmat",
            P::MAPPINGS_PROBE_ENTER_SHMAT,
        ),
        tp(
            "mappings_exit_shmat",
            "syscalls:sys_exit_shmat",
            P::MAPPINGS_PROBE_EXIT_SHMAT,
        ),
        tp(
            "mappings_enter_shmdt",
            "syscalls:sys_enter_shmdt",
            P::MAPPINGS_PROBE_ENTER_SHMDT,
        ),
        tp(
            "mappings_exit_shmdt",
            "syscalls:sys_exit_shmdt",
            P::MAPPINGS_PROBE_EXIT_SHMDT,
        ),
        tp(
            "mappings_enter_shmctl",
            "syscalls:sys_enter_shmctl",
            P::MAPPINGS_PROBE_ENTER_SHMCTL,
        ),
        tp(
            "mappings_exit_shmctl",
            "syscalls:sys_exit_shmctl",
            P::MAPPINGS_PROBE_EXIT_SHMCTL,
        ),
    ],
    tables: memtrace_schema::tables::mappings::TABLES,
    // A malloc-heavy program makes thousands of these calls a second, and
    // an allocator returning memory makes them in bursts: memscen's
    // fragment worker, one madvise per other page of 444 MB, sent 54 k
    // records (8 MB) at once, and 4 MiB lost 7 k of them in an emulated
    // guest whose reader ran slow. The --ring-mb default (8) caps it.
    max_ring_bytes: 16 << 20,
    default_on: false,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(MappingsSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(MappingsSkelBuilder),
    decode: decode::<Tables>,
};

/// A call, by its id in `enum mappings_call_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Mmap,
    Munmap,
    Mremap,
    Brk,
    Madvise,
    Mprotect,
    Shmget,
    Shmat,
    Shmdt,
    Shmctl,
}

impl Call {
    pub fn from_id(id: u32) -> Option<Call> {
        Some(match id {
            x if x == C::MAPPINGS_MMAP.0 => Call::Mmap,
            x if x == C::MAPPINGS_MUNMAP.0 => Call::Munmap,
            x if x == C::MAPPINGS_MREMAP.0 => Call::Mremap,
            x if x == C::MAPPINGS_BRK.0 => Call::Brk,
            x if x == C::MAPPINGS_MADVISE.0 => Call::Madvise,
            x if x == C::MAPPINGS_MPROTECT.0 => Call::Mprotect,
            x if x == C::MAPPINGS_SHMGET.0 => Call::Shmget,
            x if x == C::MAPPINGS_SHMAT.0 => Call::Shmat,
            x if x == C::MAPPINGS_SHMDT.0 => Call::Shmdt,
            x if x == C::MAPPINGS_SHMCTL.0 => Call::Shmctl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Call::Mmap => "mmap",
            Call::Munmap => "munmap",
            Call::Mremap => "mremap",
            Call::Brk => "brk",
            Call::Madvise => "madvise",
            Call::Mprotect => "mprotect",
            Call::Shmget => "shmget",
            Call::Shmat => "shmat",
            Call::Shmdt => "shmdt",
            Call::Shmctl => "shmctl",
        }
    }
}

/// Bit names, in the order they are printed.
type Bits = &'static [(u64, &'static str)];

const PROT: Bits = &[
    (0x1, "PROT_READ"),
    (0x2, "PROT_WRITE"),
    (0x4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];

/// MAP_* above the mapping type (the low 4 bits).
const MAP: Bits = &[
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x1_0000, "MAP_NONBLOCK"),
    (0x2_0000, "MAP_STACK"),
    (0x4_0000, "MAP_HUGETLB"),
    (0x8_0000, "MAP_SYNC"),
    (0x10_0000, "MAP_FIXED_NOREPLACE"),
];
const MAP_TYPE: u64 = 0x0f;
const MAP_HUGETLB: u64 = 0x4_0000;
const MAP_UNINITIALIZED: u64 = 0x400_0000;
/// MAP_HUGE_* and SHM_HUGE_*: log2 of the huge page size in bits 26..31.
const HUGE_SHIFT: u32 = 26;
const HUGE_MASK: u64 = 0x3f;

const MREMAP: Bits = &[
    (0x1, "MREMAP_MAYMOVE"),
    (0x2, "MREMAP_FIXED"),
    (0x4, "MREMAP_DONTUNMAP"),
];
const MREMAP_DONTUNMAP: u64 = 0x4;

/// shmget's shmflg above the mode bits.
const SHMGET: Bits = &[
    (0o1000, "IPC_CREAT"),
    (0o2000, "IPC_EXCL"),
    (0o4000, "SHM_HUGETLB"),
    (0o10000, "SHM_NORESERVE"),
];
const SHM_HUGETLB: u64 = 0o4000;

const SHMAT: Bits = &[
    (0o10000, "SHM_RDONLY"),
    (0o20000, "SHM_RND"),
    (0o40000, "SHM_REMAP"),
    (0o100000, "SHM_EXEC"),
];

const MADV: &[(i64, &str)] = &[
    (0, "MADV_NORMAL"),
    (1, "MADV_RANDOM"),
    (2, "MADV_SEQUENTIAL"),
    (3, "MADV_WILLNEED"),
    (4, "MADV_DONTNEED"),
    (8, "MADV_FREE"),
    (9, "MADV_REMOVE"),
    (10, "MADV_DONTFORK"),
    (11, "MADV_DOFORK"),
    (12, "MADV_MERGEABLE"),
    (13, "MADV_UNMERGEABLE"),
    (14, "MADV_HUGEPAGE"),
    (15, "MADV_NOHUGEPAGE"),
    (16, "MADV_DONTDUMP"),
    (17, "MADV_DODUMP"),
    (18, "MADV_WIPEONFORK"),
    (19, "MADV_KEEPONFORK"),
    (20, "MADV_COLD"),
    (21, "MADV_PAGEOUT"),
    (22, "MADV_POPULATE_READ"),
    (23, "MADV_POPULATE_WRITE"),
    (24, "MADV_DONTNEED_LOCKED"),
    (25, "MADV_COLLAPSE"),
    (100, "MADV_HWPOISON"),
    (101, "MADV_SOFT_OFFLINE"),
    (102, "MADV_GUARD_INSTALL"),
    (103, "MADV_GUARD_REMOVE"),
];

const SHMCTL: &[(i64, &str)] = &[
    (0, "IPC_RMID"),
    (1, "IPC_SET"),
    (2, "IPC_STAT"),
    (3, "IPC_INFO"),
    (11, "SHM_LOCK"),
    (12, "SHM_UNLOCK"),
    (13, "SHM_STAT"),
    (14, "SHM_INFO"),
    (15, "SHM_STAT_ANY"),
];
/// Some C libraries add IPC_64 to the command (the 64-bit ipc structures).
const IPC_64: i64 = 0x100;

/// asm-generic/errno-base.h and errno.h, and the restart codes a syscall
/// may return to the exit tracepoint before the kernel restarts it.
const ERRNO: &[(i64, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (15, "ENOTBLK"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (33, "EDOM"),
    (34, "ERANGE"),
    (35, "EDEADLK"),
    (36, "ENAMETOOLONG"),
    (37, "ENOLCK"),
    (38, "ENOSYS"),
    (39, "ENOTEMPTY"),
    (40, "ELOOP"),
    (43, "EIDRM"),
    (61, "ENODATA"),
    (75, "EOVERFLOW"),
    (95, "EOPNOTSUPP"),
    (133, "EHWPOISON"),
    (512, "ERESTARTSYS"),
    (513, "ERESTARTNOINTR"),
    (514, "ERESTARTNOHAND"),
    (516, "ERESTART_RESTARTBLOCK"),
];

/// Names of the set bits, `|`-joined, with bits no name covers as hex.
fn bit_names(v: u64, names: Bits, out: &mut Vec<String>) {
    let mut rest = v;
    for &(bit, name) in names {
        if v & bit == bit {
            out.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
}

fn lookup(v: i64, names: &[(i64, &'static str)]) -> Option<&'static str> {
    names.iter().find(|(k, _)| *k == v).map(|(_, n)| *n)
}

/// `PROT_READ|PROT_WRITE`; `PROT_NONE` for 0.
pub fn prot_names(prot: u64) -> String {
    if prot == 0 {
        return "PROT_NONE".into();
    }
    let mut out = Vec::new();
    bit_names(prot, PROT, &mut out);
    out.join("|")
}

/// The huge page size of MAP_HUGE_* / SHM_HUGE_*: `2MB`, `1GB`.
fn huge_size(log2: u64) -> String {
    match log2 {
        30.. => format!("{}GB", 1u64 << (log2 - 30)),
        20.. => format!("{}MB", 1u64 << (log2 - 20)),
        10.. => format!("{}KB", 1u64 << (log2 - 10)),
        _ => format!("{}B", 1u64 << log2),
    }
}

/// `MAP_PRIVATE|MAP_ANONYMOUS`, with the huge page size of MAP_HUGE_*.
pub fn map_flags(flags: u64) -> String {
    let mut out = Vec::new();
    match flags & MAP_TYPE {
        0x1 => out.push("MAP_SHARED".to_string()),
        0x2 => out.push("MAP_PRIVATE".to_string()),
        0x3 => out.push("MAP_SHARED_VALIDATE".to_string()),
        t => out.push(format!("{t:#x}")),
    }
    let mut rest = flags & !MAP_TYPE;
    let huge = (flags >> HUGE_SHIFT) & HUGE_MASK;
    if flags & MAP_HUGETLB != 0 && huge != 0 {
        rest &= !(HUGE_MASK << HUGE_SHIFT);
    } else if flags & MAP_UNINITIALIZED != 0 {
        rest &= !MAP_UNINITIALIZED;
    }
    bit_names(rest, MAP, &mut out);
    if flags & MAP_HUGETLB != 0 && huge != 0 {
        out.push(format!("MAP_HUGE_{}", huge_size(huge)));
    } else if flags & MAP_UNINITIALIZED != 0 {
        out.push("MAP_UNINITIALIZED".to_string());
    }
    out.join("|")
}

pub fn mremap_flags(flags: u64) -> String {
    if flags == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    bit_names(flags, MREMAP, &mut out);
    out.join("|")
}

/// `IPC_CREAT|IPC_EXCL|0600`: the flags, then the mode in octal.
pub fn shmget_flags(flags: u64) -> String {
    let mode = flags & 0o777;
    let mut rest = flags & !0o777;
    let huge = (flags >> HUGE_SHIFT) & HUGE_MASK;
    if flags & SHM_HUGETLB != 0 && huge != 0 {
        rest &= !(HUGE_MASK << HUGE_SHIFT);
    }
    let mut out = Vec::new();
    bit_names(rest, SHMGET, &mut out);
    if flags & SHM_HUGETLB != 0 && huge != 0 {
        out.push(format!("SHM_HUGE_{}", huge_size(huge)));
    }
    out.push(format!("{mode:04o}"));
    out.join("|")
}

pub fn shmat_flags(flags: u64) -> String {
    if flags == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    bit_names(flags, SHMAT, &mut out);
    out.join("|")
}

pub fn madvise_name(advice: i64) -> String {
    lookup(advice, MADV).map_or_else(|| advice.to_string(), str::to_string)
}

pub fn shmctl_name(cmd: i64) -> String {
    let base =
        lookup(cmd & !IPC_64, SHMCTL).map_or_else(|| (cmd & !IPC_64).to_string(), str::to_string);
    if cmd & IPC_64 != 0 {
        format!("{base}|IPC_64")
    } else {
        base
    }
}

/// `ENOMEM` for 12; unknown numbers as `E<n>`.
pub fn errno_name(errno: i64) -> String {
    lookup(errno, ERRNO).map_or_else(|| format!("E{errno}"), str::to_string)
}

/// The errno of a failed call: a return in [-4095, -1] (the kernel's
/// IS_ERR_VALUE range); None on success.
fn errno_of(ret: i64) -> Option<i64> {
    (-4095..=-1).contains(&ret).then_some(-ret)
}

/// The path of a file-backed mapping from its dentry names (the file's
/// own name first).
fn file_path(e: &types::mappings_call_file) -> String {
    let n = (e.nparts as usize).min(e.parts.len());
    let mut parts: Vec<String> = e.parts[..n]
        .iter()
        .map(|p| {
            let bytes: Vec<u8> = p
                .head
                .iter()
                .chain(p.tail.iter())
                .map(|&c| c as u8)
                .take_while(|&b| b != 0)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect();
    parts.reverse();
    let head = if e.complete != 0 { "/" } else { ".../" };
    format!("{head}{}", parts.join("/"))
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    let (c, file) = match kind {
        k if k == types::mappings_kind::MAPPINGS_CALL.0 as u16 => {
            (read::<types::mappings_call>(data)?, None)
        }
        k if k == types::mappings_kind::MAPPINGS_CALL_FILE.0 as u16 => {
            let e: types::mappings_call_file = read(data)?;
            (e.c, Some((Text::from(file_path(&e)), e.ino)))
        }
        k => return Err(DecodeError::UnknownKind(k)),
    };
    let call = Call::from_id(c.call).ok_or(DecodeError::UnknownKind(kind))?;
    out.push(&hdr, &row(&c, call, file, ctx.page_size.max(1)))?;
    Ok(())
}

/// A change of the address space as (mapped, unmapped) bytes.
fn split(delta: Option<i64>) -> (Option<u64>, Option<u64>) {
    match delta {
        Some(d) => (Some(d.max(0) as u64), Some(d.min(0).unsigned_abs())),
        None => (None, None),
    }
}

fn row(
    c: &types::mappings_call,
    call: Call,
    file: Option<(Text, u64)>,
    page: u64,
) -> mapping_call::Row {
    let a = c.args;
    let errno = errno_of(c.ret);
    let ok = errno.is_none();
    let pages = |len: u64| len.div_ceil(page).saturating_mul(page) as i64;
    let seg = (c.has_vma != 0).then(|| c.vma_end.saturating_sub(c.vma_start));
    let mut r = mapping_call::Row {
        call: Text::from(call.name()),
        addr: None,
        len: None,
        new_len: None,
        prot: None,
        prot_names: None,
        flags: None,
        flags_names: None,
        op: None,
        op_name: None,
        fd: None,
        offset: None,
        key: None,
        shmid: None,
        ret: c.ret,
        error: errno.map(|e| Text::from(errno_name(e))),
        errno: errno.map(|e| e as i32),
        result: None,
        prev_brk: None,
        seg_bytes: None,
        mapped: Some(0),
        unmapped: Some(0),
        file: None,
        ino: None,
        duration_ns: c.duration_ns as i64,
    };
    let result = ok.then_some(c.ret as u64);
    match call {
        Call::Mmap => {
            r.addr = Some(a[0]);
            r.len = Some(a[1]);
            r.prot = Some(a[2]);
            r.prot_names = Some(prot_names(a[2]).into());
            r.flags = Some(a[3]);
            r.flags_names = Some(map_flags(a[3]).into());
            r.fd = Some(a[4] as i32);
            r.offset = Some(a[5]);
            r.result = result;
            if ok {
                r.mapped = Some(pages(a[1]) as u64);
            }
            if let Some((path, ino)) = file {
                r.file = Some(path);
                r.ino = Some(ino);
            }
        }
        Call::Munmap => {
            r.addr = Some(a[0]);
            r.len = Some(a[1]);
            if ok {
                r.unmapped = Some(pages(a[1]) as u64);
            }
        }
        Call::Mremap => {
            r.addr = Some(a[0]);
            r.len = Some(a[1]);
            r.new_len = Some(a[2]);
            r.flags = Some(a[3]);
            r.flags_names = Some(mremap_flags(a[3]).into());
            r.result = result;
            if ok {
                // With MREMAP_DONTUNMAP the old range stays mapped.
                let old = if a[3] & MREMAP_DONTUNMAP != 0 {
                    0
                } else {
                    pages(a[1])
                };
                (r.mapped, r.unmapped) = split(Some(pages(a[2]) - old));
            }
        }
        Call::Brk => {
            r.addr = Some(a[0]);
            r.result = Some(c.ret as u64);
            r.prev_brk = Some(c.prev_brk);
            // brk returns the break it ends with; a refused move returns the old one.
            (r.mapped, r.unmapped) = split(Some(pages(c.ret as u64) - pages(c.prev_brk)));
        }
        Call::Madvise => {
            r.addr = Some(a[0]);
            r.len = Some(a[1]);
            r.op = Some(a[2] as i32);
            r.op_name = Some(madvise_name(a[2] as i32 as i64).into());
        }
        Call::Mprotect => {
            r.addr = Some(a[0]);
            r.len = Some(a[1]);
            r.prot = Some(a[2]);
            r.prot_names = Some(prot_names(a[2]).into());
        }
        Call::Shmget => {
            r.key = Some(a[0] as i32 as i64);
            r.len = Some(a[1]);
            r.flags = Some(a[2] & 0xffff_ffff);
            r.flags_names = Some(shmget_flags(a[2] & 0xffff_ffff).into());
            r.shmid = ok.then_some(c.ret as i32);
        }
        Call::Shmat => {
            r.shmid = Some(a[0] as i32);
            r.addr = Some(a[1]);
            r.flags = Some(a[2] & 0xffff_ffff);
            r.flags_names = Some(shmat_flags(a[2] & 0xffff_ffff).into());
            r.result = result;
            r.seg_bytes = if ok { seg } else { None };
            if ok {
                (r.mapped, r.unmapped) = split(seg.map(|s| s as i64));
            }
        }
        Call::Shmdt => {
            r.addr = Some(a[0]);
            r.seg_bytes = seg;
            if ok {
                (r.mapped, r.unmapped) = split(seg.map(|s| -(s as i64)));
            }
        }
        Call::Shmctl => {
            r.shmid = Some(a[0] as i32);
            r.op = Some(a[1] as i32);
            r.op_name = Some(shmctl_name(a[1] as i32 as i64).into());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, decode_one, Collect, Val};

    fn call(id: types::mappings_call_id, args: [u64; 6], ret: i64) -> types::mappings_call {
        let mut c = types::mappings_call {
            duration_ns: 1500,
            args,
            ret,
            call: id.0,
            ..Default::default()
        };
        c.hdr.kind = types::mappings_kind::MAPPINGS_CALL.0 as u16;
        c.hdr.tgid = 42;
        c.hdr.comm = comm("app");
        c
    }

    #[test]
    fn an_anonymous_mmap_decodes_with_names_and_its_size() {
        let c = call(
            C::MAPPINGS_MMAP,
            [0, 5000, 0x3, 0x22 | 0x4000, u64::MAX, 0],
            0x7f00_0000_0000,
        );
        let row = decode_one(decode::<Collect>, &c);
        assert_eq!(row.table, "mapping_call");
        assert_eq!(row.hdr.comm.as_str(), "app");
        assert_eq!(row.get("call"), &Val::from("mmap"));
        assert_eq!(row.get("len"), &Val::U64(5000));
        assert_eq!(row.get("prot_names"), &Val::from("PROT_READ|PROT_WRITE"));
        assert_eq!(
            row.get("flags_names"),
            &Val::from("MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE")
        );
        assert_eq!(row.get("flags"), &Val::U64(0x4022));
        assert_eq!(row.get("fd"), &Val::I32(-1));
        assert_eq!(row.get("result"), &Val::U64(0x7f00_0000_0000));
        assert_eq!(row.get("error"), &Val::Null);
        // Two pages: the kernel maps whole pages.
        assert_eq!(row.get("mapped"), &Val::U64(8192));
        assert_eq!(row.get("unmapped"), &Val::U64(0));
        assert_eq!(row.get("duration_ns"), &Val::I64(1500));
        assert_eq!(row.get("file"), &Val::Null);
    }

    #[test]
    fn a_failed_call_has_its_errno_name_and_changes_nothing() {
        let c = call(C::MAPPINGS_MMAP, [0, 1 << 62, 0x3, 0x22, u64::MAX, 0], -12);
        let row = decode_one(decode::<Collect>, &c);
        assert_eq!(row.get("error"), &Val::from("ENOMEM"));
        assert_eq!(row.get("errno"), &Val::I32(12));
        assert_eq!(row.get("ret"), &Val::I64(-12));
        assert_eq!(row.get("result"), &Val::Null);
        assert_eq!(row.get("mapped"), &Val::U64(0));
        assert_eq!(row.get("unmapped"), &Val::U64(0));
    }

    #[test]
    fn a_file_mapping_is_named_from_its_dentries() {
        let mut e = types::mappings_call_file {
            c: call(
                C::MAPPINGS_MMAP,
                [0, 4096, 0x1, 0x2, 3, 8192],
                0x7f00_0000_0000,
            ),
            ino: 1234,
            nparts: 3,
            complete: 1,
            ..Default::default()
        };
        e.c.hdr.kind = types::mappings_kind::MAPPINGS_CALL_FILE.0 as u16;
        let long = "a-name-longer-than-thirty-two-bytes.bin";
        for (i, name) in [long, "tmp", "var"].iter().enumerate() {
            let p = &mut e.parts[i];
            for (d, b) in p.head.iter_mut().chain(p.tail.iter_mut()).zip(name.bytes()) {
                *d = b as _;
            }
        }
        let row = decode_one(decode::<Collect>, &e);
        assert_eq!(
            row.get("file"),
            &Val::from(format!("/var/tmp/{long}").as_str())
        );
        assert_eq!(row.get("ino"), &Val::U64(1234));
        assert_eq!(row.get("flags_names"), &Val::from("MAP_PRIVATE"));
        assert_eq!(row.get("offset"), &Val::U64(8192));
        assert_eq!(row.get("fd"), &Val::I32(3));
        e.complete = 0;
        let row = decode_one(decode::<Collect>, &e);
        assert_eq!(
            row.get("file"),
            &Val::from(format!(".../var/tmp/{long}").as_str())
        );
    }

    #[test]
    fn sizes_follow_what_each_call_does_to_the_address_space() {
        let delta = |c: types::mappings_call| {
            let row = decode_one(decode::<Collect>, &c);
            match (row.get("mapped"), row.get("unmapped")) {
                (Val::U64(m), Val::U64(u)) => Val::I64(*m as i64 - *u as i64),
                (Val::Null, Val::Null) => Val::Null,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            delta(call(C::MAPPINGS_MUNMAP, [0x1000, 4096, 0, 0, 0, 0], 0)),
            Val::I64(-4096)
        );
        assert_eq!(
            delta(call(
                C::MAPPINGS_MREMAP,
                [0x1000, 4096, 3 * 4096, 1, 0, 0],
                0x9000
            )),
            Val::I64(2 * 4096)
        );
        assert_eq!(
            delta(call(
                C::MAPPINGS_MREMAP,
                [0x1000, 4096, 4096, 1 | 4, 0, 0],
                0x9000
            )),
            Val::I64(4096)
        );
        let mut brk = call(
            C::MAPPINGS_BRK,
            [0x10_0000 + 100, 0, 0, 0, 0, 0],
            0x10_0000 + 100,
        );
        brk.prev_brk = 0x0f_f000 + 10;
        let row = decode_one(decode::<Collect>, &brk);
        // The kernel maps up to the page-rounded break: 0x100000 to 0x101000.
        assert_eq!(row.get("mapped"), &Val::U64(0x1000));
        assert_eq!(row.get("prev_brk"), &Val::U64(0x0f_f000 + 10));
        // A refused brk returns the old break: nothing changed.
        let mut no = call(C::MAPPINGS_BRK, [1 << 46, 0, 0, 0, 0, 0], 0x10_0000);
        no.prev_brk = 0x10_0000;
        assert_eq!(delta(no), Val::I64(0));
        let mut at = call(
            C::MAPPINGS_SHMAT,
            [7, 0, 0o10000, 0, 0, 0],
            0x7f00_0000_0000,
        );
        (at.has_vma, at.vma_start, at.vma_end) = (1, 0x7f00_0000_0000, 0x7f00_0010_0000);
        let row = decode_one(decode::<Collect>, &at);
        assert_eq!(row.get("mapped"), &Val::U64(0x10_0000));
        assert_eq!(row.get("seg_bytes"), &Val::U64(0x10_0000));
        assert_eq!(row.get("flags_names"), &Val::from("SHM_RDONLY"));
        assert_eq!(row.get("shmid"), &Val::I32(7));
        let mut dt = call(C::MAPPINGS_SHMDT, [0x7f00_0000_0000, 0, 0, 0, 0, 0], 0);
        (dt.has_vma, dt.vma_start, dt.vma_end) = (1, 0x7f00_0000_0000, 0x7f00_0010_0000);
        assert_eq!(delta(dt), Val::I64(-0x10_0000));
        // Without the VMA the size is unknown, not zero.
        dt.has_vma = 0;
        assert_eq!(delta(dt), Val::Null);
    }

    #[test]
    fn advice_commands_and_shm_flags_have_their_uapi_names() {
        let row = decode_one(
            decode::<Collect>,
            &call(C::MAPPINGS_MADVISE, [0x1000, 8192, 4, 0, 0, 0], 0),
        );
        assert_eq!(row.get("op_name"), &Val::from("MADV_DONTNEED"));
        assert_eq!(row.get("op"), &Val::I32(4));
        let row = decode_one(
            decode::<Collect>,
            &call(C::MAPPINGS_SHMCTL, [5, 0, 0, 0, 0, 0], 0),
        );
        assert_eq!(row.get("op_name"), &Val::from("IPC_RMID"));
        let row = decode_one(
            decode::<Collect>,
            &call(
                C::MAPPINGS_SHMGET,
                [0, 1 << 20, 0o1000 | 0o2000 | 0o600, 0, 0, 0],
                9,
            ),
        );
        assert_eq!(
            row.get("flags_names"),
            &Val::from("IPC_CREAT|IPC_EXCL|0600")
        );
        assert_eq!(row.get("key"), &Val::I64(0));
        assert_eq!(row.get("shmid"), &Val::I32(9));
        assert_eq!(shmctl_name(2 | 0x100), "IPC_STAT|IPC_64");
        assert_eq!(madvise_name(77), "77");
        assert_eq!(prot_names(0), "PROT_NONE");
        assert_eq!(prot_names(0x5 | 0x40), "PROT_READ|PROT_EXEC|0x40");
        assert_eq!(
            map_flags(0x2 | 0x20 | 0x4_0000 | (21 << 26)),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB"
        );
        assert_eq!(map_flags(0x1 | 0x10), "MAP_SHARED|MAP_FIXED");
        assert_eq!(mremap_flags(1), "MREMAP_MAYMOVE");
        assert_eq!(errno_name(22), "EINVAL");
        assert_eq!(errno_name(300), "E300");
    }

    #[test]
    fn short_and_unknown_records_are_refused() {
        let c = call(C::MAPPINGS_MUNMAP, [0; 6], 0);
        let b = bytes(&c);
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        let mut bad = c;
        bad.call = 99;
        let e = decode(&bytes(&bad), &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::UnknownKind(_))), "{e:?}");
        assert!(out.rows.is_empty());
    }
}
