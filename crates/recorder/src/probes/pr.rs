//! pr: page reclaim (vmscan tracepoints).

use memtrace_schema::tables::pr::{
    kswapd, lru_active, lru_inactive, reclaim_begin, reclaim_end, slab_end, slab_start,
};
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::pr::{types, PrSkelBuilder};
use crate::writer::Tables;
use types::pr_probe as P;

// SAFETY: generated from C structs of fixed-width integers.
unsafe impl plain::Plain for types::pr_lru_inactive {}
unsafe impl plain::Plain for types::pr_lru_active {}
unsafe impl plain::Plain for types::pr_reclaim_begin {}
unsafe impl plain::Plain for types::pr_reclaim_end {}
unsafe impl plain::Plain for types::pr_kswapd {}
unsafe impl plain::Plain for types::pr_slab_start {}
unsafe impl plain::Plain for types::pr_slab_end {}

const fn tp(name: &'static str, target: &'static str, slot: types::pr_probe) -> Program {
    Program {
        name,
        target,
        method: Method::Tp,
        slot: slot.0,
        fallback: None,
        requires: None,
    }
}

pub static GROUP: Group = Group {
    name: "pr",
    about: "page reclaim: LRU scans, direct/memcg/kswapd reclaim and their latency, slab shrinkers",
    programs: &[
        tp(
            "pr_lru_inactive",
            "vmscan:mm_vmscan_lru_shrink_inactive",
            P::PR_PROBE_LRU_INACTIVE,
        ),
        tp(
            "pr_lru_active",
            "vmscan:mm_vmscan_lru_shrink_active",
            P::PR_PROBE_LRU_ACTIVE,
        ),
        tp(
            "pr_direct_begin",
            "vmscan:mm_vmscan_direct_reclaim_begin",
            P::PR_PROBE_DIRECT_BEGIN,
        ),
        tp(
            "pr_direct_end",
            "vmscan:mm_vmscan_direct_reclaim_end",
            P::PR_PROBE_DIRECT_END,
        ),
        tp(
            "pr_memcg_begin",
            "vmscan:mm_vmscan_memcg_reclaim_begin",
            P::PR_PROBE_MEMCG_BEGIN,
        ),
        tp(
            "pr_memcg_end",
            "vmscan:mm_vmscan_memcg_reclaim_end",
            P::PR_PROBE_MEMCG_END,
        ),
        tp(
            "pr_softlimit_begin",
            "vmscan:mm_vmscan_memcg_softlimit_reclaim_begin",
            P::PR_PROBE_SOFTLIMIT_BEGIN,
        ),
        tp(
            "pr_softlimit_end",
            "vmscan:mm_vmscan_memcg_softlimit_reclaim_end",
            P::PR_PROBE_SOFTLIMIT_END,
        ),
        tp(
            "pr_node_begin",
            "vmscan:mm_vmscan_node_reclaim_begin",
            P::PR_PROBE_NODE_BEGIN,
        ),
        tp(
            "pr_node_end",
            "vmscan:mm_vmscan_node_reclaim_end",
            P::PR_PROBE_NODE_END,
        ),
        tp(
            "pr_kswapd_wake",
            "vmscan:mm_vmscan_kswapd_wake",
            P::PR_PROBE_KSWAPD_WAKE,
        ),
        tp(
            "pr_kswapd_sleep",
            "vmscan:mm_vmscan_kswapd_sleep",
            P::PR_PROBE_KSWAPD_SLEEP,
        ),
        tp(
            "pr_wakeup_kswapd",
            "vmscan:mm_vmscan_wakeup_kswapd",
            P::PR_PROBE_WAKEUP_KSWAPD,
        ),
        tp(
            "pr_slab_start",
            "vmscan:mm_shrink_slab_start",
            P::PR_PROBE_SLAB_START,
        ),
        tp(
            "pr_slab_end",
            "vmscan:mm_shrink_slab_end",
            P::PR_PROBE_SLAB_END,
        ),
    ],
    tables: memtrace_schema::tables::pr::TABLES,
    // Reclaim peaks near 30 k rows/s (4 MB/s): 2 MiB holds half a second,
    // five drain periods.
    max_ring_bytes: 2 << 20,
    default_on: true,
    implies: &[],
    // Shrinker callbacks are named by address.
    needs_ksyms: true,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(PrSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(PrSkelBuilder),
    decode: decode::<Tables>,
};

fn reclaimer(v: u32) -> Text {
    use types::pr_reclaimer as R;
    Text::Static(match v {
        x if x == R::PR_RECLAIMER_KSWAPD.0 => "kswapd",
        x if x == R::PR_RECLAIMER_DIRECT.0 => "direct",
        x if x == R::PR_RECLAIMER_MEMCG.0 => "memcg",
        x if x == R::PR_RECLAIMER_MEMCG_SOFTLIMIT.0 => "memcg_softlimit",
        x if x == R::PR_RECLAIMER_NODE.0 => "node",
        _ => "other",
    })
}

fn lru(file: u32) -> Text {
    Text::Static(if file != 0 { "file" } else { "anon" })
}

/// `begin_ts_ns` and `duration_ns` from a begin time that is 0 when unseen.
fn span(begin: u64, end_ts: i64) -> (Option<i64>, Option<i64>) {
    if begin == 0 {
        return (None, None);
    }
    let begin = begin as i64;
    (Some(begin), Some(end_ts - begin))
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    use types::pr_kind as K;
    let (hdr, kind) = header(data, ctx)?;
    match kind {
        k if k == K::PR_LRU_INACTIVE.0 as u16 => {
            let e: types::pr_lru_inactive = read(data)?;
            let row = lru_inactive::Row {
                node: e.node,
                reclaimer: reclaimer(e.reclaimer),
                lru: lru(e.file),
                priority: e.priority,
                nr_scanned: e.nr_scanned,
                nr_reclaimed: e.nr_reclaimed,
                nr_dirty: e.nr_dirty,
                nr_writeback: e.nr_writeback,
                nr_congested: e.nr_congested,
                nr_immediate: e.nr_immediate,
                nr_activate_anon: e.nr_activate_anon,
                nr_activate_file: e.nr_activate_file,
                nr_ref_keep: e.nr_ref_keep,
                nr_unmap_fail: e.nr_unmap_fail,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_LRU_ACTIVE.0 as u16 => {
            let e: types::pr_lru_active = read(data)?;
            let row = lru_active::Row {
                node: e.node,
                reclaimer: reclaimer(e.reclaimer),
                lru: lru(e.file),
                priority: e.priority,
                nr_taken: e.nr_taken,
                nr_active: e.nr_active,
                nr_deactivated: e.nr_deactivated,
                nr_referenced: e.nr_referenced,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_RECLAIM_BEGIN.0 as u16 => {
            let e: types::pr_reclaim_begin = read(data)?;
            let row = reclaim_begin::Row {
                reclaimer: reclaimer(e.reclaimer),
                order: Some(e.order),
                gfp_flags: e.gfp_flags,
                gfp: ctx.gfp.decode_cached(e.gfp_flags),
                node: (e.node >= 0).then_some(e.node),
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_RECLAIM_END.0 as u16 => {
            let e: types::pr_reclaim_end = read(data)?;
            let (begin_ts_ns, duration_ns) = span(e.begin_ts_ns, hdr.ts_ns);
            let row = reclaim_end::Row {
                reclaimer: reclaimer(e.reclaimer),
                nr_reclaimed: e.nr_reclaimed,
                begin_ts_ns,
                duration_ns,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_KSWAPD.0 as u16 => {
            use types::pr_kswapd_event as E;
            let e: types::pr_kswapd = read(data)?;
            let event = match e.event {
                x if x == E::PR_KSWAPD_WAKE.0 => "wake",
                x if x == E::PR_KSWAPD_SLEEP.0 => "sleep",
                _ => "wakeup",
            };
            let wakeup = event == "wakeup";
            let row = kswapd::Row {
                event: Text::Static(event),
                node: e.node,
                zone: (e.zone_idx >= 0).then(|| ctx.zone_name(e.zone_idx as i64)),
                order: (e.order >= 0).then_some(e.order),
                gfp_flags: wakeup.then_some(e.gfp_flags),
                gfp: wakeup.then(|| ctx.gfp.decode_cached(e.gfp_flags)),
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_SLAB_START.0 as u16 => {
            let e: types::pr_slab_start = read(data)?;
            let row = slab_start::Row {
                shrinker: e.shrinker,
                shrinker_fn: ctx.symbol(e.shrink_fn),
                node: e.node,
                priority: e.priority,
                nr_objects_to_shrink: e.nr_objects_to_shrink,
                gfp_flags: e.gfp_flags,
                gfp: ctx.gfp.decode_cached(e.gfp_flags),
                cache_items: e.cache_items,
                delta: e.delta,
                total_scan: e.total_scan,
            };
            out.push(&hdr, &row)?;
        }
        k if k == K::PR_SLAB_END.0 as u16 => {
            let e: types::pr_slab_end = read(data)?;
            let (begin_ts_ns, duration_ns) = span(e.begin_ts_ns, hdr.ts_ns);
            let row = slab_end::Row {
                shrinker: e.shrinker,
                shrinker_fn: ctx.symbol(e.shrink_fn),
                node: e.node,
                freed: e.retval,
                unused_scan: e.unused_scan,
                new_scan: e.new_scan,
                total_scan: e.total_scan,
                begin_ts_ns,
                duration_ns,
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
    use crate::probes::decode::testing::{bytes, ctx, decode_one, Collect, Decoded, Val};
    use types::pr_kind as K;

    fn hdr(kind: K, ts_ns: u64) -> types::mt_hdr {
        types::mt_hdr {
            kind: kind.0 as u16,
            ts_ns,
            tgid: 99,
            ..Default::default()
        }
    }

    fn one<T: plain::Plain>(record: &T) -> Decoded {
        decode_one(decode, record)
    }

    fn lru_inactive() -> types::pr_lru_inactive {
        types::pr_lru_inactive {
            hdr: hdr(K::PR_LRU_INACTIVE, 10),
            node: 1,
            priority: 12,
            reclaimer: types::pr_reclaimer::PR_RECLAIMER_DIRECT.0,
            file: 1,
            nr_scanned: 32,
            nr_reclaimed: 30,
            nr_dirty: 2,
            nr_unmap_fail: 1,
            ..Default::default()
        }
    }

    #[test]
    fn an_lru_scan_decodes() {
        let row = one(&lru_inactive());
        assert_eq!(row.table, "lru_inactive");
        assert_eq!(row.hdr.tgid, 99);
        assert_eq!(row.get("node"), &Val::I32(1));
        assert_eq!(row.get("reclaimer"), &Val::from("direct"));
        assert_eq!(row.get("lru"), &Val::from("file"));
        assert_eq!(row.get("priority"), &Val::I32(12));
        assert_eq!(row.get("nr_scanned"), &Val::U64(32));
        assert_eq!(row.get("nr_reclaimed"), &Val::U64(30));
        assert_eq!(row.get("nr_dirty"), &Val::U64(2));
        assert_eq!(row.get("nr_unmap_fail"), &Val::U64(1));

        let row = one(&types::pr_lru_active {
            hdr: hdr(K::PR_LRU_ACTIVE, 11),
            reclaimer: types::pr_reclaimer::PR_RECLAIMER_KSWAPD.0,
            file: 0,
            nr_taken: 8,
            nr_deactivated: 5,
            ..Default::default()
        });
        assert_eq!(row.table, "lru_active");
        assert_eq!(row.get("reclaimer"), &Val::from("kswapd"));
        assert_eq!(row.get("lru"), &Val::from("anon"));
        assert_eq!(row.get("nr_taken"), &Val::U64(8));
        assert_eq!(row.get("nr_deactivated"), &Val::U64(5));
    }

    #[test]
    fn reclaim_spans_get_their_duration_only_when_the_begin_was_seen() {
        let row = one(&types::pr_reclaim_begin {
            hdr: hdr(K::PR_RECLAIM_BEGIN, 1_000),
            reclaimer: types::pr_reclaimer::PR_RECLAIMER_MEMCG.0,
            order: 2,
            gfp_flags: 0xcc0,
            node: -1,
            ..Default::default()
        });
        assert_eq!(row.table, "reclaim_begin");
        assert_eq!(row.get("reclaimer"), &Val::from("memcg"));
        assert_eq!(row.get("order"), &Val::I32(2));
        assert_eq!(row.get("gfp"), &Val::from("GFP_KERNEL"));
        assert_eq!(row.get("node"), &Val::Null);

        let end = |begin_ts_ns| types::pr_reclaim_end {
            hdr: hdr(K::PR_RECLAIM_END, 5_000),
            reclaimer: types::pr_reclaimer::PR_RECLAIMER_MEMCG.0,
            nr_reclaimed: 64,
            begin_ts_ns,
            ..Default::default()
        };
        let row = one(&end(1_000));
        assert_eq!(row.table, "reclaim_end");
        assert_eq!(row.get("nr_reclaimed"), &Val::U64(64));
        assert_eq!(row.get("begin_ts_ns"), &Val::I64(1_000));
        assert_eq!(row.get("duration_ns"), &Val::I64(4_000));
        let row = one(&end(0));
        assert_eq!(row.get("begin_ts_ns"), &Val::Null);
        assert_eq!(row.get("duration_ns"), &Val::Null);
    }

    #[test]
    fn kswapd_events_fill_only_what_they_have() {
        use types::pr_kswapd_event as E;
        let kswapd = |event: E, zone_idx, order| types::pr_kswapd {
            hdr: hdr(K::PR_KSWAPD, 7),
            event: event.0,
            node: 0,
            zone_idx,
            order,
            gfp_flags: 0xcc0,
        };
        let row = one(&kswapd(E::PR_KSWAPD_WAKEUP, 2, 3));
        assert_eq!(row.table, "kswapd");
        assert_eq!(row.get("event"), &Val::from("wakeup"));
        assert_eq!(row.get("zone"), &Val::from("Normal"));
        assert_eq!(row.get("order"), &Val::I32(3));
        assert_eq!(row.get("gfp_flags"), &Val::U64(0xcc0));
        assert_eq!(row.get("gfp"), &Val::from("GFP_KERNEL"));
        let row = one(&kswapd(E::PR_KSWAPD_SLEEP, -1, -1));
        assert_eq!(row.get("event"), &Val::from("sleep"));
        assert_eq!(row.get("zone"), &Val::Null);
        assert_eq!(row.get("order"), &Val::Null);
        assert_eq!(row.get("gfp_flags"), &Val::Null);
        let row = one(&kswapd(E::PR_KSWAPD_WAKE, 1, 0));
        assert_eq!(row.get("event"), &Val::from("wake"));
        assert_eq!(row.get("gfp"), &Val::Null);
    }

    #[test]
    fn shrinker_calls_decode_with_their_function() {
        let row = one(&types::pr_slab_start {
            hdr: hdr(K::PR_SLAB_START, 100),
            shrinker: 0xffff_8880_0000_1000,
            shrink_fn: 0xffff_ffff_8100_0000,
            node: 0,
            priority: 12,
            nr_objects_to_shrink: 5,
            gfp_flags: 0xcc0,
            cache_items: 1000,
            delta: 7,
            total_scan: 12,
        });
        assert_eq!(row.table, "slab_start");
        assert_eq!(row.get("shrinker"), &Val::U64(0xffff_8880_0000_1000));
        // Without kernel symbols the address is shown in hex.
        assert_eq!(row.get("shrinker_fn"), &Val::from("0xffffffff81000000"));
        assert_eq!(row.get("cache_items"), &Val::U64(1000));
        assert_eq!(row.get("total_scan"), &Val::U64(12));

        let row = one(&types::pr_slab_end {
            hdr: hdr(K::PR_SLAB_END, 300),
            shrinker: 1,
            shrink_fn: 2,
            retval: 40,
            begin_ts_ns: 100,
            ..Default::default()
        });
        assert_eq!(row.table, "slab_end");
        assert_eq!(row.get("freed"), &Val::I32(40));
        assert_eq!(row.get("duration_ns"), &Val::I64(200));
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let b = bytes(&lru_inactive());
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 8], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        // Only a header: the kind says more must follow.
        let e = decode(
            &b[..std::mem::size_of::<types::mt_hdr>()],
            &mut ctx(),
            &mut out,
        )
        .err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let mut r = lru_inactive();
        r.hdr.kind = 0;
        let mut out = Collect::default();
        let e = decode(&bytes(&r), &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::UnknownKind(0))), "{e:?}");
    }
}
