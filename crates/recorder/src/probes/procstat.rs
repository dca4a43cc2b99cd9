//! procstat: per-process memory counters on context switch, on a per-CPU
//! timer while a process runs, and at exit.

use memtrace_schema::tables::procstat::procstat;
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError};
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::procstat::{types, ProcstatSkelBuilder};
use crate::writer::Tables;

// SAFETY: generated from a C struct of fixed-width integers.
unsafe impl plain::Plain for types::procstat_event {}

/// The load test's program (`memrec record --load-test`), run by memrec.
pub const SYNTHETIC_PROGRAM: &str = "procstat_synthetic";

pub static GROUP: Group = Group {
    name: "procstat",
    about: "per-process vsize, peak RSS, RSS anon/file/shmem, swap, data, stack, page tables",
    programs: &[
        Program {
            name: "procstat_switch",
            target: "sched:sched_switch",
            method: Method::TpBtf,
            slot: 0,
            fallback: None,
        },
        Program {
            name: "procstat_exit",
            target: "sched:sched_process_exit",
            method: Method::TpBtf,
            slot: 1,
            fallback: None,
        },
        Program {
            name: "procstat_tick",
            target: "cpu-clock",
            method: Method::CpuTimer,
            slot: 3,
            fallback: Some("procstat_rss"),
        },
        Program {
            name: "procstat_rss",
            target: "kmem:rss_stat",
            method: Method::TpBtf,
            slot: 2,
            fallback: None,
        },
        Program {
            name: SYNTHETIC_PROGRAM,
            target: "load test, run by memrec",
            method: Method::TestRun,
            slot: 4,
            fallback: None,
        },
    ],
    tables: &[&procstat::TABLE],
    max_ring_bytes: u32::MAX,
    load: |s, skip| load_skeleton!(ProcstatSkelBuilder, s, skip),
    decode,
};

fn decode(data: &[u8], ctx: &mut DecodeCtx, out: &mut Tables) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    if kind != types::procstat_kind::PROCSTAT_SAMPLE.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    let e: types::procstat_event = read(data)?;
    let page = ctx.page_size;
    use types::procstat_reason as R;
    let reason = Text::Static(match R(e.reason) {
        R::PROCSTAT_REASON_EXIT => "exit",
        R::PROCSTAT_REASON_RSS => "rss",
        R::PROCSTAT_REASON_TICK => "tick",
        R::PROCSTAT_REASON_SYNTHETIC => "synthetic",
        _ => "switch",
    });
    out.push(
        &hdr,
        &procstat::Row {
            reason,
            vsize: e.total_vm * page,
            rss_peak: e.rss_peak * page,
            rss_anon: e.rss_anon * page,
            rss_file: e.rss_file * page,
            rss_shmem: e.rss_shmem * page,
            swap: e.swap_ents * page,
            data: e.data_vm * page,
            stack: e.stack_vm * page,
            pgtables: e.pgtables_bytes,
        },
    )?;
    Ok(())
}
