//! compaction: compaction runs, zone deferrals, kcompactd, migrate-type
//! fallbacks and page migrations.

use memtrace_schema::tables::compaction::{
    compaction_defer, compaction_run, extfrag, kcompactd, migrate_pages,
};
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::compaction::{types, CompactionSkelBuilder};
use crate::kernel;
use crate::printfmt::{self, SymbolTable};
use crate::writer::Tables;
use types::compaction_probe as P;

// SAFETY: generated from C structs of fixed-width integers.
unsafe impl plain::Plain for types::cmp_run {}
unsafe impl plain::Plain for types::cmp_defer {}
unsafe impl plain::Plain for types::cmp_kcompactd {}
unsafe impl plain::Plain for types::cmp_extfrag {}
unsafe impl plain::Plain for types::cmp_migrate {}

const fn tp(name: &'static str, target: &'static str, slot: u32) -> Program {
    Program {
        name,
        target,
        method: Method::Tp,
        slot,
        fallback: None,
        requires: None,
    }
}

const fn tp_btf(name: &'static str, target: &'static str, slot: u32) -> Program {
    Program {
        method: Method::TpBtf,
        ..tp(name, target, slot)
    }
}

pub static GROUP: Group = Group {
    name: "compaction",
    about: "compaction runs with their duration, result and scan counts, deferrals, kcompactd, \
            migrate-type fallbacks and page migrations",
    programs: &[
        tp_btf(
            "cmp_begin",
            "compaction:mm_compaction_begin",
            P::CMP_PROBE_BEGIN.0,
        ),
        tp_btf(
            "cmp_end",
            "compaction:mm_compaction_end",
            P::CMP_PROBE_END.0,
        ),
        tp(
            "cmp_try",
            "compaction:mm_compaction_try_to_compact_pages",
            P::CMP_PROBE_TRY.0,
        ),
        tp(
            "cmp_isolate_migrate",
            "compaction:mm_compaction_isolate_migratepages",
            P::CMP_PROBE_ISOLATE_MIGRATE.0,
        ),
        tp(
            "cmp_isolate_free",
            "compaction:mm_compaction_isolate_freepages",
            P::CMP_PROBE_ISOLATE_FREE.0,
        ),
        tp(
            "cmp_fast_isolate_free",
            "compaction:mm_compaction_fast_isolate_freepages",
            P::CMP_PROBE_FAST_ISOLATE_FREE.0,
        ),
        tp(
            "cmp_migratepages",
            "compaction:mm_compaction_migratepages",
            P::CMP_PROBE_MIGRATEPAGES.0,
        ),
        tp(
            "cmp_deferred",
            "compaction:mm_compaction_deferred",
            P::CMP_PROBE_DEFERRED.0,
        ),
        tp(
            "cmp_defer_compaction",
            "compaction:mm_compaction_defer_compaction",
            P::CMP_PROBE_DEFER_COMPACTION.0,
        ),
        tp(
            "cmp_defer_reset",
            "compaction:mm_compaction_defer_reset",
            P::CMP_PROBE_DEFER_RESET.0,
        ),
        tp(
            "cmp_kcompactd_wake",
            "compaction:mm_compaction_kcompactd_wake",
            P::CMP_PROBE_KCOMPACTD_WAKE.0,
        ),
        tp(
            "cmp_kcompactd_sleep",
            "compaction:mm_compaction_kcompactd_sleep",
            P::CMP_PROBE_KCOMPACTD_SLEEP.0,
        ),
        tp(
            "cmp_extfrag",
            "kmem:mm_page_alloc_extfrag",
            P::CMP_PROBE_EXTFRAG.0,
        ),
        tp(
            "cmp_migrate_pages",
            "migrate:mm_migrate_pages",
            P::CMP_PROBE_MIGRATE_PAGES.0,
        ),
    ],
    tables: memtrace_schema::tables::compaction::TABLES,
    max_ring_bytes: 4 << 20,
    default_on: false,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(CompactionSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(CompactionSkelBuilder),
    decode: decode::<Tables>,
};

/// This kernel's names for the values mm_migrate_pages prints
/// symbolically, read once as the recording starts into the decode context
/// ([`DecodeCtx::compaction`]). mm_compaction_end's `status` is the
/// COMPACTION_STATUS table mm_compaction_suitable prints too, which the
/// context already holds for paf ([`DecodeCtx::compact_result`]).
#[derive(Debug, Default)]
pub struct Names {
    /// enum migrate_mode, from mm_migrate_pages' `mode`.
    pub mode: SymbolTable,
    /// enum migrate_reason, from mm_migrate_pages' `reason`.
    pub reason: SymbolTable,
}

impl Names {
    /// From the running kernel's tracepoint format; what cannot be read
    /// leaves its values as numbers.
    pub fn from_kernel() -> Names {
        kernel::tracepoint_format("migrate/mm_migrate_pages")
            .map(|f| Names::from_format(&f))
            .unwrap_or_default()
    }

    /// From the text of mm_migrate_pages' format.
    pub fn from_format(format: &str) -> Names {
        let table = |field: &str| printfmt::parse_symbolic(format, field).unwrap_or_default();
        Names {
            mode: table("mode"),
            reason: table("reason"),
        }
    }
}

fn runner_name(r: u32) -> Text {
    use types::cmp_runner as R;
    Text::Static(match R(r) {
        R::CMP_RUNNER_DIRECT => "direct",
        R::CMP_RUNNER_KCOMPACTD => "kcompactd",
        R::CMP_RUNNER_PROACTIVE => "proactive",
        R::CMP_RUNNER_MANUAL => "manual",
        _ => "unknown",
    })
}

fn defer_event_name(e: u32) -> Text {
    use types::cmp_defer_event as E;
    Text::Static(match E(e) {
        E::CMP_DEFERRED => "deferred",
        E::CMP_DEFER_COMPACTION => "defer_compaction",
        E::CMP_DEFER_RESET => "defer_reset",
        _ => "unknown",
    })
}

/// A time stamp that 0 marks as not seen.
fn seen(ts: u64) -> Option<i64> {
    (ts != 0).then_some(ts as i64)
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    use types::compaction_kind as K;
    let (hdr, kind) = header(data, ctx)?;
    match kind {
        k if k == K::CMP_RUN.0 as u16 => {
            let e: types::cmp_run = read(data)?;
            let begin = seen(e.begin_ts_ns);
            out.push(
                &hdr,
                &compaction_run::Row {
                    runner: runner_name(e.runner),
                    node: e.node,
                    zone: ctx.zone_name(e.zone_idx as i64),
                    // The kernel's -1: the whole zone, for no order.
                    order: (e.order >= 0).then_some(e.order),
                    status: ctx.compact_result.decode_cached(e.status as i64),
                    status_code: e.status,
                    mode: ctx.compaction.mode.decode_cached(e.mode as i64),
                    whole_zone: e.whole_zone != 0,
                    gfp_flags: e.gfp_flags,
                    begin_ts_ns: begin,
                    duration_ns: begin.map(|b| hdr.ts_ns - b),
                    attempt_ts_ns: seen(e.attempt_ts_ns),
                    migrate_scanned: e.migrate_scanned,
                    free_scanned: e.free_scanned,
                    // Summed from begin to end: unknown without the begin.
                    isolated_migrate: begin.and(Some(e.isolated_migrate)),
                    isolated_free: begin.and(Some(e.isolated_free)),
                    migrated: begin.and(Some(e.migrated)),
                    migrate_failed: begin.and(Some(e.migrate_failed)),
                    migrate_pfn: e.migrate_pfn,
                    free_pfn: e.free_pfn,
                    zone_start: e.zone_start,
                    zone_end: e.zone_end,
                },
            )?;
        }
        k if k == K::CMP_DEFER.0 as u16 => {
            let e: types::cmp_defer = read(data)?;
            out.push(
                &hdr,
                &compaction_defer::Row {
                    event: defer_event_name(e.event),
                    node: e.node,
                    zone: ctx.zone_name(e.zone_idx as i64),
                    order: e.order,
                    considered: e.considered,
                    defer_shift: e.defer_shift,
                    order_failed: e.order_failed,
                    attempt_ts_ns: seen(e.attempt_ts_ns),
                    after_return: e.after_return != 0,
                },
            )?;
        }
        k if k == K::CMP_KCOMPACTD.0 as u16 => {
            let e: types::cmp_kcompactd = read(data)?;
            let wake = types::cmp_kcompactd_event(e.event)
                == types::cmp_kcompactd_event::CMP_KCOMPACTD_WAKE;
            out.push(
                &hdr,
                &kcompactd::Row {
                    event: Text::Static(if wake { "wake" } else { "sleep" }),
                    node: e.node,
                    order: wake.then_some(e.order),
                    highest_zone: wake.then(|| ctx.zone_name(e.highest_zone_idx as i64)),
                },
            )?;
        }
        k if k == K::CMP_EXTFRAG.0 as u16 => {
            let e: types::cmp_extfrag = read(data)?;
            // pageblock_order is HPAGE_PMD_ORDER where THP is configured
            // (x86-64: 9), as the tracepoint's own `fragmenting` computes it.
            let pageblock_order = ctx.hpage_pmd_nr.max(1).trailing_zeros() as i32;
            out.push(
                &hdr,
                &extfrag::Row {
                    alloc_order: e.alloc_order,
                    fallback_order: e.fallback_order,
                    alloc_migratetype: ctx.migratetype_name(e.alloc_migratetype),
                    fallback_migratetype: ctx.migratetype_name(e.fallback_migratetype),
                    change_ownership: e.change_ownership != 0,
                    fragmenting: e.fallback_order < pageblock_order,
                    pfn: e.pfn,
                },
            )?;
        }
        k if k == K::CMP_MIGRATE.0 as u16 => {
            let e: types::cmp_migrate = read(data)?;
            out.push(
                &hdr,
                &migrate_pages::Row {
                    reason: ctx.compaction.reason.decode_cached(e.reason as i64),
                    mode: ctx.compaction.mode.decode_cached(e.mode as i64),
                    succeeded: e.succeeded,
                    failed: e.failed,
                    thp_succeeded: e.thp_succeeded,
                    thp_failed: e.thp_failed,
                    thp_split: e.thp_split,
                    large_folio_split: (e.large_folio_split != u64::MAX)
                        .then_some(e.large_folio_split),
                },
            )?;
        }
        other => return Err(DecodeError::UnknownKind(other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Decoded, Val};
    use types::compaction_kind as K;

    /// mm_compaction_suitable's format on 6.18 (its `ret` table is the
    /// status table of mm_compaction_end).
    const SUITABLE_6_18: &str = r#"print fmt: "node=%d zone=%-8s order=%d ret=%s", REC->nid, __print_symbolic(REC->idx, {0, "DMA"}, {1, "DMA32"}, {2, "Normal"}, {3, "Movable"}), REC->order, __print_symbolic(REC->ret, {1, "skipped"}, {2, "deferred"}, {4, "continue"}, {8, "success"}, {6, "partial_skipped"}, {5, "complete"}, {3, "no_suitable_page"}, {0, "not_suitable_zone"}, {7, "contended"})"#;

    /// mm_migrate_pages' format on 6.18, shortened.
    const MIGRATE_6_18: &str = r#"print fmt: "nr_succeeded=%lu nr_failed=%lu mode=%s reason=%s", REC->succeeded, REC->failed, __print_symbolic(REC->mode, {0, "MIGRATE_ASYNC"}, {1, "MIGRATE_SYNC_LIGHT"}, {2, "MIGRATE_SYNC"}), __print_symbolic(REC->reason, {0, "compaction"}, {1, "memory_failure"}, {5, "numa_misplaced"})"#;

    /// A decode context with the names a 6.18 kernel prints, as memrec
    /// builds it at record start from the tracepoint formats.
    fn ctx_6_18() -> DecodeCtx {
        DecodeCtx {
            compact_result: printfmt::parse_symbolic(SUITABLE_6_18, "ret").unwrap(),
            compaction: Names::from_format(MIGRATE_6_18),
            ..ctx()
        }
    }

    fn hdr(kind: K) -> types::mt_hdr {
        types::mt_hdr {
            kind: kind.0 as u16,
            ts_ns: 5_000,
            pid: 42,
            tgid: 40,
            comm: comm("memscen"),
            ..Default::default()
        }
    }

    fn one_with<T: plain::Plain>(ctx: &mut DecodeCtx, record: &T) -> Decoded {
        let mut out = Collect::default();
        decode(&bytes(record), ctx, &mut out).unwrap();
        assert_eq!(out.rows.len(), 1, "{:?}", out.rows);
        out.rows.remove(0)
    }

    fn one<T: plain::Plain>(record: &T) -> Decoded {
        one_with(&mut ctx_6_18(), record)
    }

    #[test]
    fn a_direct_run_decodes_with_its_duration_and_the_kernel_names() {
        let row = one(&types::cmp_run {
            hdr: hdr(K::CMP_RUN),
            begin_ts_ns: 1_000,
            attempt_ts_ns: 900,
            migrate_scanned: 512,
            free_scanned: 2048,
            isolated_migrate: 32,
            isolated_free: 40,
            migrated: 30,
            migrate_failed: 2,
            gfp_flags: 0xcc0,
            node: 0,
            zone_idx: 2,
            order: 9,
            status: 8,
            runner: types::cmp_runner::CMP_RUNNER_DIRECT.0,
            mode: 1,
            sync: 1,
            whole_zone: 0,
            ..Default::default()
        });
        assert_eq!(row.table, "compaction_run");
        assert_eq!(row.get("runner"), &Val::from("direct"));
        assert_eq!(row.get("zone"), &Val::from("Normal"));
        assert_eq!(row.get("order"), &Val::I32(9));
        assert_eq!(row.get("status"), &Val::from("success"));
        assert_eq!(row.get("status_code"), &Val::I32(8));
        assert_eq!(row.get("mode"), &Val::from("MIGRATE_SYNC_LIGHT"));
        assert_eq!(row.get("begin_ts_ns"), &Val::I64(1_000));
        assert_eq!(row.get("duration_ns"), &Val::I64(4_000));
        assert_eq!(row.get("attempt_ts_ns"), &Val::I64(900));
        assert_eq!(row.get("migrate_scanned"), &Val::U64(512));
        assert_eq!(row.get("isolated_free"), &Val::U64(40));
        assert_eq!(row.get("migrated"), &Val::U64(30));
        assert_eq!(row.get("whole_zone"), &Val::Bool(false));
    }

    /// A run whose begin was not seen (it began before memrec attached):
    /// its sums are unknown, not 0; the kernel's own totals stay.
    #[test]
    fn a_run_without_its_begin_has_no_sums() {
        let row = one(&types::cmp_run {
            hdr: hdr(K::CMP_RUN),
            migrate_scanned: 512,
            isolated_migrate: 0,
            runner: types::cmp_runner::CMP_RUNNER_KCOMPACTD.0,
            ..Default::default()
        });
        assert_eq!(row.get("begin_ts_ns"), &Val::Null);
        assert_eq!(row.get("duration_ns"), &Val::Null);
        assert_eq!(row.get("migrate_scanned"), &Val::U64(512));
        for c in [
            "isolated_migrate",
            "isolated_free",
            "migrated",
            "migrate_failed",
        ] {
            assert_eq!(row.get(c), &Val::Null, "{c}");
        }
    }

    #[test]
    fn a_run_without_its_begin_has_no_duration_and_unknown_values_print_in_hex() {
        let row = one(&types::cmp_run {
            hdr: hdr(K::CMP_RUN),
            order: -1,
            status: 42,
            runner: types::cmp_runner::CMP_RUNNER_MANUAL.0,
            ..Default::default()
        });
        assert_eq!(row.get("runner"), &Val::from("manual"));
        assert_eq!(row.get("order"), &Val::Null);
        assert_eq!(row.get("begin_ts_ns"), &Val::Null);
        assert_eq!(row.get("duration_ns"), &Val::Null);
        assert_eq!(row.get("attempt_ts_ns"), &Val::Null);
        assert_eq!(row.get("status"), &Val::from("0x2a"));
    }

    #[test]
    fn a_reset_after_the_attempt_names_it() {
        let row = one(&types::cmp_defer {
            hdr: hdr(K::CMP_DEFER),
            attempt_ts_ns: 900,
            event: types::cmp_defer_event::CMP_DEFER_RESET.0,
            node: 0,
            zone_idx: 1,
            order: 9,
            considered: 0,
            defer_shift: 0,
            order_failed: 10,
            after_return: 1,
        });
        assert_eq!(row.table, "compaction_defer");
        assert_eq!(row.get("event"), &Val::from("defer_reset"));
        assert_eq!(row.get("zone"), &Val::from("DMA32"));
        assert_eq!(row.get("order_failed"), &Val::I32(10));
        assert_eq!(row.get("attempt_ts_ns"), &Val::I64(900));
        assert_eq!(row.get("after_return"), &Val::Bool(true));
    }

    #[test]
    fn kcompactd_sleep_has_no_order_or_zone() {
        let wake = one(&types::cmp_kcompactd {
            hdr: hdr(K::CMP_KCOMPACTD),
            event: types::cmp_kcompactd_event::CMP_KCOMPACTD_WAKE.0,
            node: 0,
            order: 9,
            highest_zone_idx: 2,
        });
        assert_eq!(wake.get("event"), &Val::from("wake"));
        assert_eq!(wake.get("order"), &Val::I32(9));
        assert_eq!(wake.get("highest_zone"), &Val::from("Normal"));
        let sleep = one(&types::cmp_kcompactd {
            hdr: hdr(K::CMP_KCOMPACTD),
            event: types::cmp_kcompactd_event::CMP_KCOMPACTD_SLEEP.0,
            node: 0,
            order: -1,
            highest_zone_idx: -1,
        });
        assert_eq!(sleep.get("event"), &Val::from("sleep"));
        assert_eq!(sleep.get("order"), &Val::Null);
        assert_eq!(sleep.get("highest_zone"), &Val::Null);
    }

    #[test]
    fn a_fallback_names_its_migrate_types_and_says_whether_it_fragments() {
        let row = one(&types::cmp_extfrag {
            hdr: hdr(K::CMP_EXTFRAG),
            pfn: 0x1234,
            alloc_order: 0,
            fallback_order: 3,
            alloc_migratetype: 0,
            fallback_migratetype: 1,
            change_ownership: 0,
            ..Default::default()
        });
        assert_eq!(row.table, "extfrag");
        assert_eq!(row.get("alloc_migratetype"), &Val::from("Unmovable"));
        assert_eq!(row.get("fallback_migratetype"), &Val::from("Movable"));
        assert_eq!(row.get("fragmenting"), &Val::Bool(true));
        assert_eq!(row.get("change_ownership"), &Val::Bool(false));
    }

    #[test]
    fn a_migration_names_its_reason_and_mode() {
        let row = one(&types::cmp_migrate {
            hdr: hdr(K::CMP_MIGRATE),
            succeeded: 30,
            failed: 2,
            large_folio_split: u64::MAX,
            mode: 0,
            reason: 5,
            ..Default::default()
        });
        assert_eq!(row.table, "migrate_pages");
        assert_eq!(row.get("reason"), &Val::from("numa_misplaced"));
        assert_eq!(row.get("mode"), &Val::from("MIGRATE_ASYNC"));
        assert_eq!(row.get("succeeded"), &Val::U64(30));
        assert_eq!(row.get("large_folio_split"), &Val::Null);
    }

    #[test]
    fn names_come_from_the_context_the_recording_started_with() {
        // Another kernel's numbering: the decoder must not assume 6.18's.
        let other = r#"print fmt: "mode=%s reason=%s", __print_symbolic(REC->mode, {0, "MIGRATE_SYNC"}), __print_symbolic(REC->reason, {5, "demotion"})"#;
        let mut c = DecodeCtx {
            compact_result: printfmt::SymbolTable::new(vec![(8, "COMPACT_SUCCESS".into())]),
            compaction: Names::from_format(other),
            ..ctx()
        };
        let run = one_with(
            &mut c,
            &types::cmp_run {
                hdr: hdr(K::CMP_RUN),
                status: 8,
                mode: 0,
                ..Default::default()
            },
        );
        assert_eq!(run.get("status"), &Val::from("COMPACT_SUCCESS"));
        assert_eq!(run.get("mode"), &Val::from("MIGRATE_SYNC"));
        let migrate = one_with(
            &mut c,
            &types::cmp_migrate {
                hdr: hdr(K::CMP_MIGRATE),
                reason: 5,
                mode: 1,
                large_folio_split: u64::MAX,
                ..Default::default()
            },
        );
        assert_eq!(migrate.get("reason"), &Val::from("demotion"));
        assert_eq!(migrate.get("mode"), &Val::from("0x1"));
    }

    #[test]
    fn a_format_without_the_tables_leaves_numbers() {
        let mut c = DecodeCtx {
            compaction: Names::from_format("print fmt: \"nr_succeeded=%lu\", REC->succeeded"),
            ..ctx()
        };
        let row = one_with(
            &mut c,
            &types::cmp_migrate {
                hdr: hdr(K::CMP_MIGRATE),
                reason: 1,
                mode: 2,
                large_folio_split: u64::MAX,
                ..Default::default()
            },
        );
        assert_eq!(row.get("reason"), &Val::from("0x1"));
        assert_eq!(row.get("mode"), &Val::from("0x2"));
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let b = bytes(&types::cmp_run {
            hdr: hdr(K::CMP_RUN),
            ..Default::default()
        });
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 4], &mut ctx_6_18(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }
}
