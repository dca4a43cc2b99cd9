//! paf: page-allocation failures, the zones at that moment, and the slow
//! path around them (reclaim retries, compaction, watermark changes).

use memtrace_schema::tables::paf::{
    compact_suitable, compact_try, paf, reclaim_retry, wmark_setup,
};
use memtrace_schema::{Comm, Text};

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, snapshot, Group, Method, Program};
use crate::bpf::paf::{types, PafSkelBuilder};
use crate::writer::Tables;
use types::paf_probe as P;

// SAFETY: generated from C structs of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::paf_failure {}
unsafe impl plain::Plain for types::paf_retry_zone {}
unsafe impl plain::Plain for types::paf_compact_suitable {}
unsafe impl plain::Plain for types::paf_compact_try {}
unsafe impl plain::Plain for types::paf_wmark_setup {}

pub static GROUP: Group = Group {
    name: "paf",
    about: "failed page allocations with gfp flags and every zone's watermarks at that moment",
    programs: &[
        Program {
            name: "paf_page_alloc",
            target: "kmem:mm_page_alloc",
            method: Method::TpBtf,
            slot: P::PAF_PROBE_PAGE_ALLOC.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "paf_retry_zone",
            target: "oom:reclaim_retry_zone",
            method: Method::Tp,
            slot: P::PAF_PROBE_RETRY_ZONE.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "paf_compact_suitable",
            target: "compaction:mm_compaction_suitable",
            method: Method::Tp,
            slot: P::PAF_PROBE_COMPACT_SUITABLE.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "paf_compact_try",
            target: "compaction:mm_compaction_try_to_compact_pages",
            method: Method::Tp,
            slot: P::PAF_PROBE_COMPACT_TRY.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "paf_wmark_setup",
            target: "kmem:mm_setup_per_zone_wmarks",
            method: Method::Tp,
            slot: P::PAF_PROBE_WMARK_SETUP.0,
            fallback: None,
            requires: None,
        },
    ],
    // Its own tables, and the zones at each failure.
    tables: &[
        &paf::TABLE,
        &memtrace_schema::tables::sysstat::zone::TABLE,
        &reclaim_retry::TABLE,
        &compact_suitable::TABLE,
        &compact_try::TABLE,
        &wmark_setup::TABLE,
    ],
    max_ring_bytes: 2 << 20,
    default_on: true,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(PafSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(PafSkelBuilder),
    decode: decode::<Tables>,
};

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    use types::paf_kind as K;
    let (hdr, kind) = header(data, ctx)?;
    match kind {
        k if k == K::PAF_FAILURE.0 as u16 => {
            let e: types::paf_failure = read(data)?;
            let highest = ctx.gfp_highest_zone(e.gfp_flags);
            ctx.fail_highest_zone.insert(hdr.cpu, highest);
            let row = paf::Row {
                order: e.order,
                gfp_flags: e.gfp_flags,
                gfp: ctx.gfp.decode_cached(e.gfp_flags),
                migratetype: e.migratetype,
                migratetype_name: ctx.migratetype_name(e.migratetype),
                highest_zone: ctx.zone_name(highest as i64),
                node: e.node,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PAF_SNAPSHOT.0 as u16 => snapshot::decode(&hdr, data, ctx, out)?,
        k if k == K::PAF_RETRY_ZONE.0 as u16 => {
            let e: types::paf_retry_zone = read(data)?;
            let row = reclaim_retry::Row {
                node: e.node,
                zone: ctx.zone_name(e.zone_idx as i64),
                order: e.order,
                reclaimable: e.reclaimable,
                available: e.available,
                min_wmark: e.min_wmark,
                no_progress_loops: e.no_progress_loops,
                wmark_check: e.wmark_check != 0,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PAF_COMPACT_SUITABLE.0 as u16 => {
            let e: types::paf_compact_suitable = read(data)?;
            let row = compact_suitable::Row {
                node: e.node,
                zone: ctx.zone_name(e.zone_idx as i64),
                order: e.order,
                result: ctx.compact_result.decode_cached(e.ret as i64),
                result_code: e.ret,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PAF_COMPACT_TRY.0 as u16 => {
            let e: types::paf_compact_try = read(data)?;
            let row = compact_try::Row {
                order: e.order,
                gfp_flags: e.gfp_flags,
                gfp: ctx.gfp.decode_cached(e.gfp_flags),
                priority: e.prio,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PAF_WMARK_SETUP.0 as u16 => {
            let e: types::paf_wmark_setup = read(data)?;
            let zone = Comm(e.zone.map(|c| c as u8));
            let row = wmark_setup::Row {
                node: e.node,
                zone: Text::from(zone.as_str().to_string()),
                min: e.wmark_min,
                low: e.wmark_low,
                high: e.wmark_high,
                promo: e.wmark_promo,
            };
            out.push(&hdr, &row)?;
        }
        other => return Err(DecodeError::UnknownKind(other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, decode_one, Collect, Decoded, Val};
    use types::paf_kind as K;

    fn hdr(kind: K) -> types::mt_hdr {
        types::mt_hdr {
            kind: kind.0 as u16,
            cpu: 3,
            tgid: 50,
            ts_ns: 1_000,
            ..Default::default()
        }
    }

    fn one<T: plain::Plain>(record: &T) -> Decoded {
        decode_one(decode, record)
    }

    fn failure() -> types::paf_failure {
        types::paf_failure {
            hdr: hdr(K::PAF_FAILURE),
            gfp_flags: 0xcc0,
            order: 3,
            migratetype: 1,
            node: 0,
            ..Default::default()
        }
    }

    #[test]
    fn a_failure_decodes_with_names() {
        let row = one(&failure());
        assert_eq!(row.table, "paf");
        assert_eq!(row.hdr.cpu, 3);
        assert_eq!(row.get("order"), &Val::U32(3));
        assert_eq!(row.get("gfp_flags"), &Val::U64(0xcc0));
        assert_eq!(row.get("gfp"), &Val::from("GFP_KERNEL"));
        assert_eq!(row.get("migratetype"), &Val::I32(1));
        assert_eq!(row.get("migratetype_name"), &Val::from("Movable"));
        assert_eq!(row.get("highest_zone"), &Val::from("Normal"));
        assert_eq!(row.get("node"), &Val::U32(0));
    }

    #[test]
    fn the_snapshot_after_a_failure_names_the_reserve_it_faced() {
        let mut c = ctx();
        let mut out = Collect::default();
        decode(&bytes(&failure()), &mut c, &mut out).unwrap();
        // The snapshot layout is common; its decoder uses sysstat's type.
        use crate::bpf::sysstat::types as common;
        let mut s = common::mt_snapshot {
            node: 0,
            trigger: common::mt_trigger::MT_TRIGGER_ALLOC_FAIL.0,
            nr_zones: 3,
            ..Default::default()
        };
        s.hdr.kind = K::PAF_SNAPSHOT.0 as u16;
        s.hdr.cpu = 3;
        s.zones[1].present = 100;
        s.zones[1].managed = 90;
        // Held back in DMA32 against allocations that may use up to Normal.
        s.zones[1].lowmem_reserve = [0, 0, 123, 0, 0, 0];
        decode(&bytes(&s), &mut c, &mut out).unwrap();
        let tables: Vec<&str> = out.rows.iter().map(|r| r.table).collect();
        assert_eq!(tables, ["paf", "sysstat", "zone"]);
        assert_eq!(out.rows[1].get("trigger"), &Val::from("alloc_fail"));
        assert_eq!(out.rows[2].get("zone"), &Val::from("DMA32"));
        assert_eq!(out.rows[2].get("reserve"), &Val::U64(123));
    }

    #[test]
    fn slow_path_records_decode() {
        let row = one(&types::paf_retry_zone {
            hdr: hdr(K::PAF_RETRY_ZONE),
            node: 0,
            zone_idx: 2,
            order: 0,
            no_progress_loops: 4,
            reclaimable: 10,
            available: 20,
            min_wmark: 30,
            wmark_check: 1,
            ..Default::default()
        });
        assert_eq!(row.table, "reclaim_retry");
        assert_eq!(row.get("zone"), &Val::from("Normal"));
        assert_eq!(row.get("no_progress_loops"), &Val::I32(4));
        assert_eq!(row.get("reclaimable"), &Val::U64(10));
        assert_eq!(row.get("available"), &Val::U64(20));
        assert_eq!(row.get("min_wmark"), &Val::U64(30));
        assert_eq!(row.get("wmark_check"), &Val::Bool(true));

        let row = one(&types::paf_compact_suitable {
            hdr: hdr(K::PAF_COMPACT_SUITABLE),
            node: 0,
            zone_idx: 1,
            order: 9,
            ret: 1,
        });
        assert_eq!(row.table, "compact_suitable");
        assert_eq!(row.get("zone"), &Val::from("DMA32"));
        assert_eq!(row.get("order"), &Val::I32(9));
        assert_eq!(row.get("result"), &Val::from("COMPACT_SKIPPED"));
        assert_eq!(row.get("result_code"), &Val::I32(1));

        let row = one(&types::paf_compact_try {
            hdr: hdr(K::PAF_COMPACT_TRY),
            gfp_flags: 0xcc0,
            order: 4,
            prio: 2,
        });
        assert_eq!(row.table, "compact_try");
        assert_eq!(row.get("gfp"), &Val::from("GFP_KERNEL"));
        assert_eq!(row.get("order"), &Val::I32(4));
        assert_eq!(row.get("priority"), &Val::I32(2));

        let row = one(&types::paf_wmark_setup {
            hdr: hdr(K::PAF_WMARK_SETUP),
            node: 0,
            zone: comm("Normal"),
            wmark_min: 1,
            wmark_low: 2,
            wmark_high: 3,
            wmark_promo: 4,
            ..Default::default()
        });
        assert_eq!(row.table, "wmark_setup");
        assert_eq!(row.get("zone"), &Val::from("Normal"));
        assert_eq!(
            [
                row.get("min"),
                row.get("low"),
                row.get("high"),
                row.get("promo")
            ],
            [&Val::U64(1), &Val::U64(2), &Val::U64(3), &Val::U64(4)]
        );
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let b = bytes(&failure());
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 8], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        // A snapshot kind on a record of failure size is short too.
        let mut f = failure();
        f.hdr = hdr(K::PAF_SNAPSHOT);
        let e = decode(&bytes(&f), &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }
}
