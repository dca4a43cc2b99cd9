//! procstat: per-process memory counters on context switch, on a per-CPU
//! timer while a process runs, at exit, and by a sweep at every snapshot;
//! its peak RSS is also kept right before it unmaps memory.

use memtrace_schema::tables::procstat::procstat;
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::procstat::{types, ProcstatSkelBuilder};
use crate::writer::Tables;
use types::procstat_probe as P;

// SAFETY: generated from a C struct of fixed-width integers.
unsafe impl plain::Plain for types::procstat_event {}

/// The load test's program (`memrec record --load-test`), run by memrec.
const SYNTHETIC_PROGRAM: &str = "procstat_synthetic";

/// The sweep over every process seen, run by memrec at every snapshot.
const SWEEP_PROGRAM: &str = "procstat_sweep";

pub static GROUP: Group = Group {
    name: "procstat",
    about: "per-process vsize, peak RSS, RSS anon/file/shmem, swap, data, stack, page tables",
    programs: &[
        Program {
            name: "procstat_switch",
            target: "sched:sched_switch",
            method: Method::TpBtf,
            slot: P::PROCSTAT_PROBE_SWITCH.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_exit",
            target: "sched:sched_process_exit",
            method: Method::TpBtf,
            slot: P::PROCSTAT_PROBE_EXIT.0,
            fallback: Some("procstat_exit_mm"),
            requires: Some(exit_tracepoint_sees_mm),
        },
        Program {
            name: "procstat_exit_mm",
            target: "mmput",
            method: Method::Fentry,
            slot: P::PROCSTAT_PROBE_EXIT_MM.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_tick",
            target: "cpu-clock",
            method: Method::CpuTimer,
            slot: P::PROCSTAT_PROBE_TICK.0,
            fallback: Some("procstat_rss"),
            requires: None,
        },
        Program {
            name: "procstat_rss",
            target: "kmem:rss_stat",
            method: Method::TpBtf,
            slot: P::PROCSTAT_PROBE_RSS.0,
            fallback: None,
            requires: None,
        },
        // Before the process may unmap memory: they keep its exact peak for
        // rss_peak (see before_unmap() in the C source).
        Program {
            name: "procstat_munmap",
            target: "syscalls:sys_enter_munmap",
            method: Method::Tp,
            slot: P::PROCSTAT_PROBE_MUNMAP.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_mremap",
            target: "syscalls:sys_enter_mremap",
            method: Method::Tp,
            slot: P::PROCSTAT_PROBE_MREMAP.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_brk",
            target: "syscalls:sys_enter_brk",
            method: Method::Tp,
            slot: P::PROCSTAT_PROBE_BRK.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_madvise",
            target: "syscalls:sys_enter_madvise",
            method: Method::Tp,
            slot: P::PROCSTAT_PROBE_MADVISE.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_shmdt",
            target: "syscalls:sys_enter_shmdt",
            method: Method::Tp,
            slot: P::PROCSTAT_PROBE_SHMDT.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: "procstat_mmap",
            target: "syscalls:sys_enter_mmap",
            method: Method::Tp,
            slot: P::PROCSTAT_PROBE_MMAP.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: SWEEP_PROGRAM,
            target: "every process, run by memrec at each snapshot",
            method: Method::TaskIter,
            slot: P::PROCSTAT_PROBE_SWEEP.0,
            fallback: None,
            requires: None,
        },
        Program {
            name: SYNTHETIC_PROGRAM,
            target: "load test, run by memrec",
            method: Method::TestRun,
            slot: P::PROCSTAT_PROBE_SYNTHETIC.0,
            fallback: None,
            requires: None,
        },
    ],
    tables: memtrace_schema::tables::procstat::TABLES,
    max_ring_bytes: u32::MAX,
    default_on: true,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: Some(SWEEP_PROGRAM),
    load_test: Some(SYNTHETIC_PROGRAM),
    load_object: |s, skip| load_skeleton!(ProcstatSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(ProcstatSkelBuilder),
    decode: decode::<Tables>,
};

/// The exit tracepoint is of use only where it fires before `exit_mm()`.
/// The kernel change that moved it there also gave it its `group_dead`
/// field, so the tracepoint's format tells the two apart.
fn exit_tracepoint_sees_mm() -> Result<(), String> {
    match crate::kernel::tracepoint_format("sched/sched_process_exit") {
        Ok(format) if fires_before_exit_mm(&format) => Ok(()),
        Ok(_) => Err(
            "sched:sched_process_exit fires after exit_mm() on this kernel, \
             when the process has no memory left to sample"
                .into(),
        ),
        Err(e) => Err(format!("sched:sched_process_exit: {e}")),
    }
}

fn fires_before_exit_mm(format: &str) -> bool {
    format
        .lines()
        .any(|l| l.trim_start().starts_with("field:") && l.contains(" group_dead;"))
}

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
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
        R::PROCSTAT_REASON_SWEEP => "sweep",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};

    fn sample() -> types::procstat_event {
        let mut e = types::procstat_event {
            reason: types::procstat_reason::PROCSTAT_REASON_TICK.0,
            total_vm: 1000,
            rss_peak: 300,
            rss_anon: 200,
            rss_file: 50,
            rss_shmem: 7,
            swap_ents: 3,
            data_vm: 400,
            stack_vm: 33,
            pgtables_bytes: 65536,
            ..Default::default()
        };
        e.hdr.ts_ns = 5_000;
        e.hdr.pid = 11;
        e.hdr.tgid = 10;
        e.hdr.cpu = 2;
        e.hdr.cgroup_id = 77;
        e.hdr.kind = types::procstat_kind::PROCSTAT_SAMPLE.0 as u16;
        e.hdr.comm = comm("worker");
        e
    }

    #[test]
    fn a_sample_decodes_to_bytes_as_proc_status_shows_them() {
        let mut out = Collect::default();
        decode(&bytes(&sample()), &mut ctx(), &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "procstat");
        assert_eq!(
            (
                row.hdr.ts_ns,
                row.hdr.pid,
                row.hdr.tgid,
                row.hdr.cpu,
                row.hdr.cgroup_id
            ),
            (5_000, 11, 10, 2, 77)
        );
        assert_eq!(row.hdr.comm.as_str(), "worker");
        assert_eq!(row.get("reason"), &Val::from("tick"));
        assert_eq!(row.get("vsize"), &Val::U64(1000 * 4096));
        assert_eq!(row.get("rss_peak"), &Val::U64(300 * 4096));
        assert_eq!(row.get("rss_anon"), &Val::U64(200 * 4096));
        assert_eq!(row.get("rss_file"), &Val::U64(50 * 4096));
        assert_eq!(row.get("rss_shmem"), &Val::U64(7 * 4096));
        assert_eq!(row.get("swap"), &Val::U64(3 * 4096));
        assert_eq!(row.get("data"), &Val::U64(400 * 4096));
        assert_eq!(row.get("stack"), &Val::U64(33 * 4096));
        // Already in bytes in the kernel.
        assert_eq!(row.get("pgtables"), &Val::U64(65536));
    }

    #[test]
    fn every_reason_has_its_name() {
        use types::procstat_reason as R;
        for (r, name) in [
            (R::PROCSTAT_REASON_SWITCH, "switch"),
            (R::PROCSTAT_REASON_EXIT, "exit"),
            (R::PROCSTAT_REASON_RSS, "rss"),
            (R::PROCSTAT_REASON_TICK, "tick"),
            (R::PROCSTAT_REASON_SYNTHETIC, "synthetic"),
            (R::PROCSTAT_REASON_SWEEP, "sweep"),
        ] {
            let mut e = sample();
            e.reason = r.0;
            let mut out = Collect::default();
            decode(&bytes(&e), &mut ctx(), &mut out).unwrap();
            assert_eq!(out.rows[0].get("reason"), &Val::from(name));
        }
    }

    #[test]
    fn the_exit_tracepoint_is_early_only_with_group_dead() {
        let old = "name: sched_process_exit\nformat:\n\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n\nprint fmt: \"comm=%s pid=%d prio=%d\", REC->comm, REC->pid, REC->prio\n";
        let new = "name: sched_process_exit\nformat:\n\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n\tfield:bool group_dead;\toffset:32;\tsize:1;\tsigned:0;\n\nprint fmt: \"comm=%s pid=%d prio=%d group_dead=%s\", REC->comm, REC->pid, REC->prio, REC->group_dead ? \"true\" : \"false\"\n";
        assert!(!fires_before_exit_mm(old));
        assert!(fires_before_exit_mm(new));
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let b = bytes(&sample());
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 1], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let mut e = sample();
        e.hdr.kind = 99;
        let mut out = Collect::default();
        let r = decode(&bytes(&e), &mut ctx(), &mut out).err();
        assert!(matches!(r, Some(DecodeError::UnknownKind(99))), "{r:?}");
        assert!(out.rows.is_empty());
    }
}
