//! memleak: the user heap of the traced processes (uprobes on their C
//! library), each allocation with its user stack, and the frees of the
//! allocations recorded.

use memtrace_schema::tables::memleak::{user_alloc, user_free};
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::memleak::{types, MemleakSkelBuilder};
use crate::writer::Tables;
use types::memleak_probe as P;

// SAFETY: generated from C structs of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::memleak_alloc {}
// SAFETY: as above.
unsafe impl plain::Plain for types::memleak_free {}

/// One program per call and direction. The returns come first: memrec
/// attaches in this order, and an entry probed before its return would
/// leave calls pending that never return.
macro_rules! uprobe {
    ($name:literal, $func:literal, $ret:literal, $slot:expr) => {
        Program {
            name: $name,
            target: $func,
            method: Method::Uprobe {
                func: $func,
                ret: $ret,
            },
            slot: $slot.0,
            fallback: None,
            requires: None,
        }
    };
}

pub static GROUP: Group = Group {
    name: "memleak",
    about: "user heap allocations (malloc .. mmap) and their frees, with user stacks, through \
            uprobes on the traced processes' C library (needs --pid, --comm or --cgroup; also \
            records kmemleak). Costs the uprobe floor, a trap into the kernel at each entry \
            and return, about 1 us a hit on x86 (more in a VM: 4-6 us per malloc+free pair \
            measured on a loaded VM host, 3-4 us with --alloc-sample 512K), in every process \
            that maps a probed library: with --comm or --cgroup that is every process using it",
    programs: &[
        uprobe!(
            "memleak_malloc_ret",
            "malloc",
            true,
            P::MEMLEAK_PROBE_MALLOC_RET
        ),
        uprobe!(
            "memleak_calloc_ret",
            "calloc",
            true,
            P::MEMLEAK_PROBE_CALLOC_RET
        ),
        uprobe!(
            "memleak_realloc_ret",
            "realloc",
            true,
            P::MEMLEAK_PROBE_REALLOC_RET
        ),
        uprobe!(
            "memleak_reallocarray_ret",
            "reallocarray",
            true,
            P::MEMLEAK_PROBE_REALLOCARRAY_RET
        ),
        uprobe!(
            "memleak_posix_memalign_ret",
            "posix_memalign",
            true,
            P::MEMLEAK_PROBE_POSIX_MEMALIGN_RET
        ),
        uprobe!(
            "memleak_aligned_alloc_ret",
            "aligned_alloc",
            true,
            P::MEMLEAK_PROBE_ALIGNED_ALLOC_RET
        ),
        uprobe!(
            "memleak_memalign_ret",
            "memalign",
            true,
            P::MEMLEAK_PROBE_MEMALIGN_RET
        ),
        uprobe!(
            "memleak_valloc_ret",
            "valloc",
            true,
            P::MEMLEAK_PROBE_VALLOC_RET
        ),
        uprobe!(
            "memleak_pvalloc_ret",
            "pvalloc",
            true,
            P::MEMLEAK_PROBE_PVALLOC_RET
        ),
        uprobe!("memleak_mmap_ret", "mmap", true, P::MEMLEAK_PROBE_MMAP_RET),
        uprobe!("memleak_malloc", "malloc", false, P::MEMLEAK_PROBE_MALLOC),
        uprobe!("memleak_calloc", "calloc", false, P::MEMLEAK_PROBE_CALLOC),
        uprobe!(
            "memleak_realloc",
            "realloc",
            false,
            P::MEMLEAK_PROBE_REALLOC
        ),
        uprobe!(
            "memleak_reallocarray",
            "reallocarray",
            false,
            P::MEMLEAK_PROBE_REALLOCARRAY
        ),
        uprobe!(
            "memleak_posix_memalign",
            "posix_memalign",
            false,
            P::MEMLEAK_PROBE_POSIX_MEMALIGN
        ),
        uprobe!(
            "memleak_aligned_alloc",
            "aligned_alloc",
            false,
            P::MEMLEAK_PROBE_ALIGNED_ALLOC
        ),
        uprobe!(
            "memleak_memalign",
            "memalign",
            false,
            P::MEMLEAK_PROBE_MEMALIGN
        ),
        uprobe!("memleak_valloc", "valloc", false, P::MEMLEAK_PROBE_VALLOC),
        uprobe!(
            "memleak_pvalloc",
            "pvalloc",
            false,
            P::MEMLEAK_PROBE_PVALLOC
        ),
        uprobe!("memleak_mmap", "mmap", false, P::MEMLEAK_PROBE_MMAP),
        uprobe!("memleak_free", "free", false, P::MEMLEAK_PROBE_FREE),
        uprobe!("memleak_munmap", "munmap", false, P::MEMLEAK_PROBE_MUNMAP),
    ],
    tables: memtrace_schema::tables::memleak::TABLES,
    max_ring_bytes: 16 << 20,
    default_on: false,
    implies: &["kmemleak"],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| {
        load_skeleton!(MemleakSkelBuilder, s, skip, |ro: &mut types::rodata| {
            let a = &mut ro.alloc_cfg;
            a.sample_bytes = s.alloc.sample_bytes;
            a.min_size = s.alloc.min_size;
            a.stacks = u32::from(s.alloc.stacks);
            a.exp_q = super::alloc::exp_quantiles();
        })
    },
    #[cfg(test)]
    object_programs: || object_programs!(MemleakSkelBuilder),
    decode: decode::<Tables>,
};

/// The name of an `enum memleak_call` value.
fn call_name(call: u32) -> Text {
    use types::memleak_call as C;
    Text::from(match call {
        x if x == C::MEMLEAK_MALLOC.0 => "malloc",
        x if x == C::MEMLEAK_CALLOC.0 => "calloc",
        x if x == C::MEMLEAK_REALLOC.0 => "realloc",
        x if x == C::MEMLEAK_REALLOCARRAY.0 => "reallocarray",
        x if x == C::MEMLEAK_POSIX_MEMALIGN.0 => "posix_memalign",
        x if x == C::MEMLEAK_ALIGNED_ALLOC.0 => "aligned_alloc",
        x if x == C::MEMLEAK_MEMALIGN.0 => "memalign",
        x if x == C::MEMLEAK_VALLOC.0 => "valloc",
        x if x == C::MEMLEAK_PVALLOC.0 => "pvalloc",
        x if x == C::MEMLEAK_MMAP.0 => "mmap",
        x if x == C::MEMLEAK_FREE_CALL.0 => "free",
        x if x == C::MEMLEAK_MUNMAP.0 => "munmap",
        _ => "unknown",
    })
}

/// Bytes of an allocation record before its frames.
const HEAD: usize = std::mem::offset_of!(types::memleak_alloc, ips);
/// Frames an allocation record can hold (MEMLEAK_STACK_MAX).
const STACK_MAX: usize = (std::mem::size_of::<types::memleak_alloc>() - HEAD) / 8;

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    use types::memleak_call as C;
    use types::memleak_flag as F;
    use types::memleak_kind as K;
    let (hdr, kind) = header(data, ctx)?;
    if kind == K::MEMLEAK_FREE.0 as u16 {
        let e: types::memleak_free = read(data)?;
        out.push(
            &hdr,
            &user_free::Row {
                call: call_name(e.call),
                address: e.address,
            },
        )?;
        return Ok(());
    }
    if kind != K::MEMLEAK_ALLOC.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    // Sent with only the frames found: check the head, then the frames.
    if data.len() < HEAD {
        return Err(DecodeError::Short {
            got: data.len(),
            want: HEAD,
        });
    }
    let mut buf = [0u8; std::mem::size_of::<types::memleak_alloc>()];
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    let e: types::memleak_alloc = read(&buf)?;
    let nr = (e.nr as usize).min(STACK_MAX);
    if data.len() < HEAD + 8 * nr {
        return Err(DecodeError::Short {
            got: data.len(),
            want: HEAD + 8 * nr,
        });
    }
    let flag = |f: types::memleak_flag| e.flags & f.0 != 0;
    let stack_id = crate::stacks::intern_user(&hdr, &e.ips[..nr], out)?;
    // No frames: the kernel's error, or none (an empty user stack).
    let stack_error =
        (flag(F::MEMLEAK_F_STACK) && nr == 0 && e.stack_err != 0).then_some(e.stack_err);
    let align = if flag(F::MEMLEAK_F_ALIGN) {
        Some(e.align)
    } else if e.call == C::MEMLEAK_VALLOC.0 || e.call == C::MEMLEAK_PVALLOC.0 {
        Some(ctx.page_size)
    } else {
        None
    };
    out.push(
        &hdr,
        &user_alloc::Row {
            call: call_name(e.call),
            address: e.address,
            size: e.size,
            align,
            old_address: flag(F::MEMLEAK_F_OLD).then_some(e.old_address),
            stack_id,
            stack_error,
            sample_bytes: (e.sample_bytes != 0).then_some(e.sample_bytes),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};
    use types::memleak_call as C;
    use types::memleak_flag as F;

    fn alloc(call: C, frames: &[u64]) -> types::memleak_alloc {
        let mut e = types::memleak_alloc {
            address: 0x5555_0000_1000,
            size: 4096,
            call: call.0,
            flags: F::MEMLEAK_F_STACK.0,
            nr: frames.len() as u32,
            ..Default::default()
        };
        e.ips[..frames.len()].copy_from_slice(frames);
        e.hdr.kind = types::memleak_kind::MEMLEAK_ALLOC.0 as u16;
        e.hdr.ts_ns = 1000;
        // Not a live process: the stack store finds no maps and moves on.
        e.hdr.tgid = u32::MAX - 7;
        e.hdr.pid = e.hdr.tgid;
        e.hdr.comm = comm("leaker");
        e
    }

    /// The record as the ring holds it: the head and the frames found.
    fn sent(e: &types::memleak_alloc) -> Vec<u8> {
        let mut b = bytes(e);
        b.truncate(HEAD + 8 * e.nr as usize);
        b
    }

    fn decode_all(b: &[u8]) -> Result<Collect, DecodeError> {
        let mut out = Collect::default();
        decode(b, &mut ctx(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_malloc_decodes_with_its_inline_stack() {
        let e = alloc(C::MEMLEAK_MALLOC, &[0x5555_0000_0100, 0x5555_0000_0200]);
        let out = decode_all(&sent(&e)).unwrap();
        let tables: Vec<&str> = out.rows.iter().map(|r| r.table).collect();
        // The stack's frames first (new to the store), then the row.
        assert_eq!(tables, ["stack_frame", "stack_frame", "user_alloc"]);
        let row = &out.rows[2];
        assert_eq!(row.hdr.comm.as_str(), "leaker");
        assert_eq!(row.get("call"), &Val::from("malloc"));
        assert_eq!(row.get("address"), &Val::U64(0x5555_0000_1000));
        assert_eq!(row.get("size"), &Val::U64(4096));
        assert_eq!(row.get("align"), &Val::Null);
        assert_eq!(row.get("old_address"), &Val::Null);
        assert_eq!(row.get("stack_error"), &Val::Null);
        assert_eq!(row.get("sample_bytes"), &Val::Null);
        let Val::U64(id) = row.get("stack_id") else {
            panic!("{row:?}")
        };
        assert_eq!(out.rows[0].get("stack_id"), &Val::U64(*id));
        assert_eq!(out.rows[0].get("depth"), &Val::U32(0));
        assert_eq!(out.rows[0].get("ip"), &Val::U64(0x5555_0000_0100));
        assert_eq!(out.rows[1].get("ip"), &Val::U64(0x5555_0000_0200));
        // The same stack again: one id, no new frames.
        let again = decode_all(&sent(&e)).unwrap();
        assert_eq!(again.rows.len(), 1);
        assert_eq!(again.rows[0].get("stack_id"), &Val::U64(*id));
    }

    #[test]
    fn alignment_old_block_and_sampling_are_kept() {
        let mut e = alloc(C::MEMLEAK_POSIX_MEMALIGN, &[]);
        e.flags |= F::MEMLEAK_F_ALIGN.0;
        e.align = 64;
        e.sample_bytes = 512 * 1024;
        let out = decode_all(&sent(&e)).unwrap();
        let row = &out.rows[0];
        assert_eq!(row.get("call"), &Val::from("posix_memalign"));
        assert_eq!(row.get("align"), &Val::U64(64));
        assert_eq!(row.get("sample_bytes"), &Val::U64(512 * 1024));
        assert_eq!(row.get("stack_id"), &Val::Null);

        let mut e = alloc(C::MEMLEAK_REALLOC, &[]);
        e.flags |= F::MEMLEAK_F_OLD.0;
        e.old_address = 0;
        let out = decode_all(&sent(&e)).unwrap();
        assert_eq!(out.rows[0].get("old_address"), &Val::U64(0));

        // valloc aligns to the page size, which the record does not carry.
        let out = decode_all(&sent(&alloc(C::MEMLEAK_VALLOC, &[]))).unwrap();
        assert_eq!(out.rows[0].get("align"), &Val::U64(4096));
    }

    #[test]
    fn a_stack_that_could_not_be_read_says_why() {
        let mut e = alloc(C::MEMLEAK_CALLOC, &[]);
        e.stack_err = -14;
        let out = decode_all(&sent(&e)).unwrap();
        assert_eq!(out.rows[0].get("stack_id"), &Val::Null);
        assert_eq!(out.rows[0].get("stack_error"), &Val::I32(-14));
        // Stacks off: no error either.
        e.flags = 0;
        let out = decode_all(&sent(&e)).unwrap();
        assert_eq!(out.rows[0].get("stack_error"), &Val::Null);
    }

    #[test]
    fn a_free_decodes() {
        let mut f = types::memleak_free {
            address: 0x5555_0000_1000,
            call: C::MEMLEAK_MUNMAP.0,
            ..Default::default()
        };
        f.hdr.kind = types::memleak_kind::MEMLEAK_FREE.0 as u16;
        f.hdr.tgid = 42;
        let out = decode_all(&bytes(&f)).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "user_free");
        assert_eq!(row.get("call"), &Val::from("munmap"));
        assert_eq!(row.get("address"), &Val::U64(0x5555_0000_1000));
    }

    #[test]
    fn short_records_are_refused_not_misread() {
        let e = alloc(C::MEMLEAK_MALLOC, &[1, 2, 3]);
        let b = sent(&e);
        // Missing a frame it says it has, or cut inside the head.
        for cut in [b.len() - 8, HEAD - 4, 20] {
            let got = decode_all(&b[..cut]).err();
            assert!(
                matches!(got, Some(DecodeError::Short { .. })),
                "{cut}: {got:?}"
            );
        }
        let mut f = types::memleak_free::default();
        f.hdr.kind = types::memleak_kind::MEMLEAK_FREE.0 as u16;
        let b = bytes(&f);
        let got = decode_all(&b[..b.len() - 4]).err();
        assert!(matches!(got, Some(DecodeError::Short { .. })), "{got:?}");
    }

    #[test]
    fn every_call_has_a_name() {
        let names: Vec<Text> = (0..12).map(call_name).collect();
        let names: Vec<&str> = names.iter().map(|t| &**t).collect();
        // The C enum's order is the functions' order in uprobes.rs.
        assert_eq!(names, crate::uprobes::FUNCS);
        // The descriptor's functions are the ones uprobes.rs resolves.
        for p in GROUP.programs {
            let Method::Uprobe { func, .. } = p.method else {
                panic!("{}", p.name)
            };
            assert!(crate::uprobes::FUNCS.contains(&func), "{func}");
            assert_eq!(p.target, func);
        }
    }
}
