//! sysstat: node and zone state on a timer, at start and end, and at
//! pressure events.

use memtrace_schema::tables::sysstat::{sysstat, zone};

use super::decode::{header, DecodeCtx, DecodeError};
use super::{load_skeleton, snapshot, Group, Method, Program};
use crate::bpf::sysstat::{types, SysstatSkelBuilder};
use crate::writer::Tables;

/// The program the recorder runs itself for timed snapshots.
pub const TIMER_PROGRAM: &str = "snapshot_now";

pub static GROUP: Group = Group {
    name: "sysstat",
    about: "node LRU lists, dirty, writeback, slab, shmem, THP, free pages, and zone watermarks",
    programs: &[
        Program {
            name: TIMER_PROGRAM,
            target: "timer, run by memrec",
            method: Method::TestRun,
            slot: 0,
            fallback: None,
        },
        Program {
            name: "sysstat_kswapd_wake",
            target: "vmscan:mm_vmscan_kswapd_wake",
            method: Method::Tp,
            slot: 1,
            fallback: None,
        },
        Program {
            name: "sysstat_direct_reclaim",
            target: "vmscan:mm_vmscan_direct_reclaim_begin",
            method: Method::Tp,
            slot: 2,
            fallback: None,
        },
        Program {
            name: "sysstat_oom",
            target: "oom:mark_victim",
            method: Method::Tp,
            slot: 3,
            fallback: None,
        },
    ],
    tables: &[&sysstat::TABLE, &zone::TABLE],
    max_ring_bytes: 1 << 20,
    load: |s, skip| load_skeleton!(SysstatSkelBuilder, s, skip),
    decode,
};

fn decode(data: &[u8], ctx: &mut DecodeCtx, out: &mut Tables) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    if kind != types::sysstat_kind::SYSSTAT_SNAPSHOT.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    snapshot::decode(&hdr, data, ctx, out)
}
