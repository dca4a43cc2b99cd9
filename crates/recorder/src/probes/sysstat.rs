//! sysstat: node and zone state on a timer, at start and end, and at
//! pressure events.

use super::decode::{header, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, snapshot, Group, Method, Program};
use crate::bpf::sysstat::{types, SysstatSkelBuilder};
use crate::writer::Tables;
use types::sysstat_probe as P;

/// The program the recorder runs itself for timed snapshots.
const TIMER_PROGRAM: &str = "snapshot_now";

pub static GROUP: Group = Group {
    name: "sysstat",
    about: "node LRU lists, dirty, writeback, slab, shmem, THP, free pages, and zone watermarks",
    programs: &[
        Program {
            name: TIMER_PROGRAM,
            target: "timer, run by memrec",
            method: Method::TestRun,
            slot: P::SYSSTAT_PROBE_TIMER.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "sysstat_kswapd_wake",
            target: "vmscan:mm_vmscan_kswapd_wake",
            method: Method::Tp,
            slot: P::SYSSTAT_PROBE_KSWAPD_WAKE.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "sysstat_direct_reclaim",
            target: "vmscan:mm_vmscan_direct_reclaim_begin",
            method: Method::Tp,
            slot: P::SYSSTAT_PROBE_DIRECT_RECLAIM.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "sysstat_oom",
            target: "oom:mark_victim",
            method: Method::Tp,
            slot: P::SYSSTAT_PROBE_OOM.0,
            fallback: None,
            requires: None,
        },
    ],
    tables: memtrace_schema::tables::sysstat::TABLES,
    max_ring_bytes: 1 << 20,
    default_on: true,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: Some(TIMER_PROGRAM),
    load_test: None,
    load_object: |s, skip| load_skeleton!(SysstatSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(SysstatSkelBuilder),
    decode: decode::<Tables>,
};

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    if kind != types::sysstat_kind::SYSSTAT_SNAPSHOT.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    snapshot::decode(&hdr, data, ctx, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, ctx, Collect, Val};

    /// Node 1 with a populated DMA32 and Normal zone and an empty DMA zone.
    fn snapshot(trigger: types::mt_trigger) -> types::mt_snapshot {
        let mut s = types::mt_snapshot {
            node: 1,
            trigger: trigger.0,
            nr_zones: 3,
            ..Default::default()
        };
        s.hdr.kind = types::sysstat_kind::SYSSTAT_SNAPSHOT.0 as u16;
        s.hdr.ts_ns = 9;
        let n = &mut s.stats;
        n.nr_free_pages = 1000;
        n.nr_active_anon = 11;
        n.nr_inactive_file = 22;
        n.nr_dirty = 5;
        n.nr_writeback_temp = u64::MAX; // this kernel has no such counter
        n.nr_anon_thp_pages = 1024; // two 2 MiB huge pages
        n.nr_slab_unreclaimable = 77;
        for (i, z) in s.zones.iter_mut().enumerate().take(3).skip(1) {
            z.free = 100 * i as u64;
            z.wmark_min = 10;
            z.wmark_low = 12;
            z.wmark_high = 14;
            z.wmark_promo = 16;
            z.boost = 3;
            z.present = 5000;
            z.managed = 4900;
            z.spanned = 6000;
            z.lowmem_reserve = [0, 0, 0, 0, 0, 0];
            // A kernel with 11 orders: order o has o + i free blocks.
            z.nr_orders = 11;
            for (o, n) in z.nr_free.iter_mut().enumerate() {
                *n = (o + i) as u64;
            }
        }
        s
    }

    #[test]
    fn a_snapshot_gives_one_node_row_and_one_row_per_populated_zone() {
        let mut out = Collect::default();
        let s = snapshot(types::mt_trigger::MT_TRIGGER_INTERVAL);
        decode(&bytes(&s), &mut ctx(), &mut out).unwrap();
        let tables: Vec<&str> = out.rows.iter().map(|r| r.table).collect();
        assert_eq!(tables, ["sysstat", "zone", "zone"]);
        let node = &out.rows[0];
        assert_eq!(node.hdr.ts_ns, 9);
        assert_eq!(node.get("node"), &Val::U32(1));
        assert_eq!(node.get("trigger"), &Val::from("interval"));
        assert_eq!(node.get("nr_free_pages"), &Val::U64(1000));
        assert_eq!(node.get("nr_active_anon"), &Val::U64(11));
        assert_eq!(node.get("nr_inactive_file"), &Val::U64(22));
        assert_eq!(node.get("nr_dirty"), &Val::U64(5));
        assert_eq!(node.get("nr_writeback_temp"), &Val::Null);
        assert_eq!(node.get("nr_slab_unreclaimable"), &Val::U64(77));
        // /proc/vmstat counts THPs in huge pages.
        assert_eq!(node.get("nr_anon_transparent_hugepages"), &Val::U64(2));
        let z = &out.rows[2];
        assert_eq!(z.get("zone"), &Val::from("Normal"));
        assert_eq!(z.get("zone_idx"), &Val::U32(2));
        assert_eq!(z.get("free"), &Val::U64(200));
        // Watermarks as zoneinfo prints them: with the boost.
        assert_eq!(z.get("min"), &Val::U64(13));
        assert_eq!(z.get("low"), &Val::U64(15));
        assert_eq!(z.get("high"), &Val::U64(17));
        assert_eq!(z.get("promo"), &Val::U64(19));
        assert_eq!(z.get("boost"), &Val::U64(3));
        assert_eq!(z.get("managed"), &Val::U64(4900));
        // Only allocation failures name a reserve.
        assert_eq!(z.get("reserve"), &Val::Null);
        // Free blocks per order, as /proc/buddyinfo prints them.
        assert_eq!(z.get("orders"), &Val::U32(11));
        assert_eq!(z.get("free_blocks_0"), &Val::U64(2));
        assert_eq!(z.get("free_blocks_10"), &Val::U64(12));
    }

    #[test]
    fn orders_the_kernel_lacks_are_null() {
        let mut s = snapshot(types::mt_trigger::MT_TRIGGER_INTERVAL);
        for z in s.zones.iter_mut() {
            z.nr_orders = 9;
        }
        let mut out = Collect::default();
        decode(&bytes(&s), &mut ctx(), &mut out).unwrap();
        let z = &out.rows[2];
        assert_eq!(z.get("orders"), &Val::U32(9));
        assert_eq!(z.get("free_blocks_8"), &Val::U64(10));
        assert_eq!(z.get("free_blocks_9"), &Val::Null);
        assert_eq!(z.get("free_blocks_10"), &Val::Null);
    }

    #[test]
    fn every_trigger_has_its_name() {
        use types::mt_trigger as T;
        for (t, name) in [
            (T::MT_TRIGGER_INTERVAL, "interval"),
            (T::MT_TRIGGER_START, "start"),
            (T::MT_TRIGGER_END, "end"),
            (T::MT_TRIGGER_KSWAPD_WAKE, "kswapd_wake"),
            (T::MT_TRIGGER_DIRECT_RECLAIM, "direct_reclaim"),
            (T::MT_TRIGGER_OOM, "oom"),
            (T::MT_TRIGGER_ALLOC_FAIL, "alloc_fail"),
        ] {
            let mut out = Collect::default();
            decode(&bytes(&snapshot(t)), &mut ctx(), &mut out).unwrap();
            assert_eq!(out.rows[0].get("trigger"), &Val::from(name));
        }
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let b = bytes(&snapshot(types::mt_trigger::MT_TRIGGER_START));
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 8], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }
}
