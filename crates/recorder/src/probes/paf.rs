//! paf: page-allocation failures, the zones at that moment, and the slow
//! path around them (reclaim retries, compaction, watermark changes).

use memtrace_schema::tables::paf::{
    compact_suitable, compact_try, paf, reclaim_retry, wmark_setup,
};
use memtrace_schema::{Comm, Text};

use super::decode::{header, read, DecodeCtx, DecodeError};
use super::{load_skeleton, snapshot, Group, Method, Program};
use crate::bpf::paf::{types, PafSkelBuilder};
use crate::writer::Tables;

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
            slot: 0,
            fallback: None,
        },
        Program {
            name: "paf_retry_zone",
            target: "oom:reclaim_retry_zone",
            method: Method::Tp,
            slot: 1,
            fallback: None,
        },
        Program {
            name: "paf_compact_suitable",
            target: "compaction:mm_compaction_suitable",
            method: Method::Tp,
            slot: 2,
            fallback: None,
        },
        Program {
            name: "paf_compact_try",
            target: "compaction:mm_compaction_try_to_compact_pages",
            method: Method::Tp,
            slot: 3,
            fallback: None,
        },
        Program {
            name: "paf_wmark_setup",
            target: "kmem:mm_setup_per_zone_wmarks",
            method: Method::Tp,
            slot: 4,
            fallback: None,
        },
    ],
    tables: &[
        &paf::TABLE,
        &memtrace_schema::tables::sysstat::zone::TABLE,
        &reclaim_retry::TABLE,
        &compact_suitable::TABLE,
        &compact_try::TABLE,
        &wmark_setup::TABLE,
    ],
    max_ring_bytes: 2 << 20,
    load: |s, skip| load_skeleton!(PafSkelBuilder, s, skip),
    decode,
};

fn decode(data: &[u8], ctx: &mut DecodeCtx, out: &mut Tables) -> Result<(), DecodeError> {
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
