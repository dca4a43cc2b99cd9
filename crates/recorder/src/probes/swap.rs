//! swap: pages read back from swap (major faults on anonymous and shmem
//! VMAs) and written out to it (vmscan's write of a swap-backed folio).

use memtrace_schema::tables::swap::{swap_in, swap_out};
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
use super::faults::SwEvent;
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::swap::{types, SwapSkelBuilder};
use crate::writer::Tables;
use types::swap_probe as P;

// SAFETY: generated from C structs of fixed-width integers.
unsafe impl plain::Plain for types::swap_in {}
unsafe impl plain::Plain for types::swap_out {}

pub static GROUP: Group = Group {
    name: "swap",
    about: "swap-ins (major faults on anonymous/shmem VMAs) and swap-outs (reclaim's writes of anonymous folios)",
    programs: &[
        Program {
            name: "swap_in",
            target: "page-faults-maj",
            method: Method::SwEvent(SwEvent::PageFaultsMaj),
            slot: P::SWAP_PROBE_IN.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "swap_out",
            target: "vmscan:mm_vmscan_write_folio",
            method: Method::TpBtf,
            slot: P::SWAP_PROBE_OUT.0,
            fallback: Some("swap_out_page"),
            requires: None,
        },
        Program {
            name: "swap_out_page",
            target: "vmscan:mm_vmscan_writepage",
            method: Method::TpBtf,
            slot: P::SWAP_PROBE_OUT_PAGE.0,
            fallback: None,
            requires: None,
        },
    ],
    tables: memtrace_schema::tables::swap::TABLES,
    max_ring_bytes: 4 << 20,
    default_on: false,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(SwapSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(SwapSkelBuilder),
    decode: decode::<Tables>,
};

/// The name of a `enum swap_vma` value (the faults group's names).
fn vma_name(v: u32) -> &'static str {
    use types::swap_vma as V;
    match v {
        x if x == V::SWAP_VMA_ANON.0 => "anon",
        x if x == V::SWAP_VMA_SHMEM.0 => "shmem",
        x if x == V::SWAP_VMA_STACK.0 => "stack",
        x if x == V::SWAP_VMA_HEAP.0 => "heap",
        _ => "unknown",
    }
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    match u32::from(kind) {
        k if k == types::swap_kind::SWAP_IN.0 => {
            let e: types::swap_in = read(data)?;
            out.push(
                &hdr,
                &swap_in::Row {
                    address: e.address,
                    vma: Text::from(vma_name(e.vma)),
                },
            )?;
        }
        k if k == types::swap_kind::SWAP_OUT.0 => {
            let e: types::swap_out = read(data)?;
            // The owner's cgroup gets a path in the metadata too.
            if e.owner_cgroup_id != 0 {
                ctx.cgroup_ids.insert(e.owner_cgroup_id);
            }
            out.push(
                &hdr,
                &swap_out::Row {
                    pages: e.pages,
                    owner_cgroup_id: e.owner_cgroup_id,
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

    #[test]
    fn a_swap_in_decodes_with_its_vma() {
        let mut e = types::swap_in {
            address: 0x7f00_0000_3000,
            vma: types::swap_vma::SWAP_VMA_HEAP.0,
            ..Default::default()
        };
        e.hdr.kind = types::swap_kind::SWAP_IN.0 as u16;
        e.hdr.tgid = 9;
        e.hdr.comm = comm("worker");
        let mut out = Collect::default();
        decode(&bytes(&e), &mut ctx(), &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "swap_in");
        assert_eq!(row.hdr.comm.as_str(), "worker");
        assert_eq!(row.get("address"), &Val::U64(0x7f00_0000_3000));
        assert_eq!(row.get("vma"), &Val::from("heap"));
    }

    #[test]
    fn a_swap_out_decodes_and_names_its_owner_cgroup() {
        let mut e = types::swap_out {
            pages: 512,
            owner_cgroup_id: 77,
            ..Default::default()
        };
        e.hdr.kind = types::swap_kind::SWAP_OUT.0 as u16;
        e.hdr.comm = comm("kswapd0");
        let mut out = Collect::default();
        let mut c = ctx();
        decode(&bytes(&e), &mut c, &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "swap_out");
        assert_eq!(row.get("pages"), &Val::U64(512));
        assert_eq!(row.get("owner_cgroup_id"), &Val::U64(77));
        assert!(c.cgroup_ids.contains(&77));
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let mut e = types::swap_out::default();
        e.hdr.kind = types::swap_kind::SWAP_OUT.0 as u16;
        let b = bytes(&e);
        let mut out = Collect::default();
        let err = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
        assert!(matches!(err, Some(DecodeError::Short { .. })), "{err:?}");
        assert!(out.rows.is_empty());
    }
}
