//! hugetlb: faults in hugetlb VMAs (the page-fault software perf events,
//! with the VMA looked up) and the huge page pools, sampled by memrec at
//! its snapshots.

use std::os::fd::{IntoRawFd, OwnedFd};

use libbpf_rs::MapCore;
use memtrace_schema::tables::hugetlb::{hugetlb_fault, hugetlb_pool};

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
use super::faults::SwEvent;
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, snapshot, BpfSettings, Group, Method, Object, Program};
use crate::bpf::hugetlb::{types, HugetlbSkelBuilder};
use crate::writer::Tables;
use types::hugetlb_probe as P;

// SAFETY: generated from C structs of fixed-width integers.
unsafe impl plain::Plain for types::hugetlb_fault {}
unsafe impl plain::Plain for types::hugetlb_pool {}

/// The program the recorder runs itself for the pool snapshots.
const TIMER_PROGRAM: &str = "hugetlb_pool_now";

/// Where the kernel lists its huge page sizes, one `hugepages-<size>kB`
/// directory each.
const HUGEPAGES_DIR: &str = "/sys/kernel/mm/hugepages";

/// The BPF map that receives memrec's memfd per huge page size.
const HSTATE_FILES_MAP: &str = "hstate_files";

pub static GROUP: Group = Group {
    name: "hugetlb",
    about: "faults in hugetlb VMAs (page size, major/minor, the pool after each) and the huge page pools at every snapshot; runs on every page fault: about 70 ns (120 ns in a process with hugetlb pages)",
    programs: &[
        Program {
            name: "hugetlb_fault_min",
            target: "page-faults-min",
            method: Method::SwEvent(SwEvent::PageFaultsMin),
            slot: P::HUGETLB_PROBE_FAULT_MIN.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "hugetlb_fault_maj",
            target: "page-faults-maj",
            method: Method::SwEvent(SwEvent::PageFaultsMaj),
            slot: P::HUGETLB_PROBE_FAULT_MAJ.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: TIMER_PROGRAM,
            target: "timer, run by memrec",
            method: Method::TestRun,
            slot: P::HUGETLB_PROBE_POOL.0,
            fallback: None,
            requires: Some(has_huge_page_sizes),
        },
    ],
    tables: memtrace_schema::tables::hugetlb::TABLES,
    max_ring_bytes: 1 << 20,
    default_on: false,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: Some(TIMER_PROGRAM),
    load_test: None,
    load_object: load,
    #[cfg(test)]
    object_programs: || object_programs!(HugetlbSkelBuilder),
    decode: decode::<Tables>,
};

/// Huge page sizes in bytes, from the kernel's `hugepages-<size>kB`
/// directory names, smallest first.
fn huge_page_sizes() -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(HUGEPAGES_DIR) else {
        return Vec::new();
    };
    let mut sizes: Vec<u64> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let kb = name
                .to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?;
            kb.parse::<u64>().ok().map(|kb| kb * 1024)
        })
        .filter(|b| b.is_power_of_two())
        .collect();
    sizes.sort_unstable();
    sizes
}

fn has_huge_page_sizes() -> Result<(), String> {
    if huge_page_sizes().is_empty() {
        Err(format!(
            "no huge page sizes in {HUGEPAGES_DIR} (no hugetlb support)"
        ))
    } else {
        Ok(())
    }
}

/// An empty hugetlbfs file of one huge page size (`memfd_create` with
/// `MFD_HUGETLB`): no page is allocated or reserved until it is sized and
/// mapped, which memrec never does. The BPF side reaches the size's pool
/// through it.
fn hstate_memfd(size: u64) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let shift = size.trailing_zeros();
    let flags = libc::MFD_HUGETLB | libc::MFD_CLOEXEC | (shift << libc::MFD_HUGE_SHIFT);
    // SAFETY: a static NUL-terminated name and plain flags.
    let fd = unsafe { libc::memfd_create(c"memrec-hugetlb-pool".as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn load(s: &BpfSettings, skip: &[&str]) -> Result<Object, libbpf_rs::Error> {
    let loaded: Result<Object, libbpf_rs::Error> = load_skeleton!(HugetlbSkelBuilder, s, skip);
    let obj = loaded?;
    if skip.contains(&TIMER_PROGRAM) {
        return Ok(obj);
    }
    let Some(map) = obj
        .skel
        .object()
        .maps()
        .find(|m| m.name() == HSTATE_FILES_MAP)
    else {
        return Err(libbpf_rs::Error::from(std::io::Error::other(format!(
            "map {HSTATE_FILES_MAP} missing"
        ))));
    };
    let max = map.max_entries() as usize;
    for (i, size) in huge_page_sizes().into_iter().take(max).enumerate() {
        match hstate_memfd(size) {
            Ok(fd) => {
                // Held open for the process's life: the snapshots find the
                // pool through it, in memrec's own file table.
                let raw = fd.into_raw_fd();
                map.update(
                    &(i as u32).to_ne_bytes(),
                    &(raw as u32 + 1).to_ne_bytes(),
                    libbpf_rs::MapFlags::ANY,
                )?;
            }
            Err(e) => tracing::warn!(
                size,
                "hugetlb pool of this size not sampled: memfd_create: {e}"
            ),
        }
    }
    Ok(obj)
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    // The kernel counts a size as its order in base pages.
    let page_size = |order: u64| ctx.page_size.checked_shl(order as u32).unwrap_or(0);
    match u32::from(kind) {
        k if k == types::hugetlb_kind::HUGETLB_FAULT.0 => {
            let e: types::hugetlb_fault = read(data)?;
            out.push(
                &hdr,
                &hugetlb_fault::Row {
                    address: e.address,
                    page_size: page_size(e.pool.order),
                    major: e.major != 0,
                    shared: e.shared != 0,
                    pool_total: e.pool.total,
                    pool_free: e.pool.free,
                    pool_reserved: e.pool.reserved,
                    pool_surplus: e.pool.surplus,
                },
            )?;
        }
        k if k == types::hugetlb_kind::HUGETLB_POOL.0 => {
            let e: types::hugetlb_pool = read(data)?;
            out.push(
                &hdr,
                &hugetlb_pool::Row {
                    trigger: snapshot::trigger_name(e.trigger),
                    page_size: page_size(e.pool.order),
                    total: e.pool.total,
                    free: e.pool.free,
                    reserved: e.pool.reserved,
                    surplus: e.pool.surplus,
                    overcommit: e.pool.overcommit,
                },
            )?;
        }
        _ => return Err(DecodeError::UnknownKind(kind)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};

    fn counts(total: u64, free: u64, reserved: u64, order: u64) -> types::hugetlb_counts {
        types::hugetlb_counts {
            total,
            free,
            reserved,
            surplus: 1,
            overcommit: 2,
            order,
        }
    }

    #[test]
    fn a_fault_decodes_with_its_page_size_and_pool() {
        let mut e = types::hugetlb_fault {
            address: 0x7f00_0020_0000,
            major: 0,
            shared: 1,
            pool: counts(8, 5, 3, 9),
            ..Default::default()
        };
        e.hdr.kind = types::hugetlb_kind::HUGETLB_FAULT.0 as u16;
        e.hdr.tgid = 9;
        e.hdr.comm = comm("db");
        let mut out = Collect::default();
        decode(&bytes(&e), &mut ctx(), &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "hugetlb_fault");
        assert_eq!(row.hdr.comm.as_str(), "db");
        assert_eq!(row.get("address"), &Val::U64(0x7f00_0020_0000));
        assert_eq!(row.get("page_size"), &Val::U64(2 << 20));
        assert_eq!(row.get("major"), &Val::Bool(false));
        assert_eq!(row.get("shared"), &Val::Bool(true));
        assert_eq!(row.get("pool_total"), &Val::U64(8));
        assert_eq!(row.get("pool_free"), &Val::U64(5));
        assert_eq!(row.get("pool_reserved"), &Val::U64(3));
        assert_eq!(row.get("pool_surplus"), &Val::U64(1));
    }

    #[test]
    fn a_pool_snapshot_decodes_with_its_trigger() {
        let mut e = types::hugetlb_pool {
            trigger: snapshot::TRIGGER_END as u32,
            pool: counts(4, 4, 0, 18),
            ..Default::default()
        };
        e.hdr.kind = types::hugetlb_kind::HUGETLB_POOL.0 as u16;
        let mut out = Collect::default();
        decode(&bytes(&e), &mut ctx(), &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "hugetlb_pool");
        assert_eq!(row.get("trigger"), &Val::from("end"));
        assert_eq!(row.get("page_size"), &Val::U64(1 << 30));
        assert_eq!(row.get("total"), &Val::U64(4));
        assert_eq!(row.get("free"), &Val::U64(4));
        assert_eq!(row.get("surplus"), &Val::U64(1));
        assert_eq!(row.get("overcommit"), &Val::U64(2));
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let mut e = types::hugetlb_pool::default();
        e.hdr.kind = types::hugetlb_kind::HUGETLB_POOL.0 as u16;
        let b = bytes(&e);
        let mut out = Collect::default();
        let err = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
        assert!(matches!(err, Some(DecodeError::Short { .. })), "{err:?}");
        assert!(out.rows.is_empty());
    }

    #[test]
    fn sizes_come_from_the_kernels_directory_names() {
        // Every size this kernel lists is a power of two (or none at all).
        assert!(huge_page_sizes().iter().all(|s| s.is_power_of_two()));
    }
}
