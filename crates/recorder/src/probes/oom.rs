//! oom: OOM-killer victims.

use memtrace_schema::tables::oom::oom_victim;
use memtrace_schema::{Comm, Text};

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::oom::{types, OomSkelBuilder};
use crate::kernel;
use crate::writer::Tables;
use types::oom_probe as P;

// SAFETY: generated from a C struct of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::oom_victim {}

pub static GROUP: Group = Group {
    name: "oom",
    about: "OOM-killer victims with their memory and the load average",
    programs: &[Program {
        name: "oom_mark_victim",
        target: "oom:mark_victim",
        method: Method::Tp,
        slot: P::OOM_PROBE_MARK_VICTIM.0,
        fallback: None,
        requires: None,
    }],
    tables: memtrace_schema::tables::oom::TABLES,
    max_ring_bytes: 1 << 20,
    default_on: true,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: false,
    timer: None,
    load_test: None,
    load_object: |s, skip| load_skeleton!(OomSkelBuilder, s, skip),
    #[cfg(test)]
    object_programs: || object_programs!(OomSkelBuilder),
    decode: decode::<Tables>,
};

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    if kind != types::oom_kind::OOM_VICTIM.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    let e: types::oom_victim = read(data)?;
    // The kernel keeps no load average a BPF program can read without
    // kallsyms for data; /proc/loadavg now is within one drain interval.
    let (load1, load5, load15) = kernel::loadavg();
    let comm = Comm(e.victim_comm.map(|c| c as u8));
    // Without the tracepoint's details (has_details 0) the fields are
    // unknown, not zero.
    let known = e.has_details != 0;
    let kb = |v: u64| known.then_some(v * 1024);
    let victim_pid = e.victim_pid.max(0) as u32;
    let log = ctx.kernel_log.as_mut().and_then(|l| l.oom_kill(victim_pid));
    let text = |s: &Option<String>| s.as_deref().map(|s| Text::from(s.to_string()));
    out.push(
        &hdr,
        &oom_victim::Row {
            victim_pid,
            victim_comm: known.then(|| Text::from(comm.as_str().to_string())),
            uid: known.then_some(e.uid),
            total_vm: kb(e.total_vm_kb),
            anon_rss: kb(e.anon_rss_kb),
            file_rss: kb(e.file_rss_kb),
            shmem_rss: kb(e.shmem_rss_kb),
            pgtables: kb(e.pgtables_kb),
            oom_score_adj: known.then_some(e.oom_score_adj),
            load1,
            load5,
            load15,
            constraint: log
                .as_ref()
                .and_then(|l| l.constraint)
                .map(|c| Text::from(c.name())),
            oom_memcg: log.as_ref().and_then(|l| text(&l.oom_memcg)),
            task_memcg: log.as_ref().and_then(|l| text(&l.task_memcg)),
            memcg_usage: log.as_ref().and_then(|l| l.usage),
            memcg_limit: log.as_ref().and_then(|l| l.limit),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};

    fn victim() -> types::oom_victim {
        let mut e = types::oom_victim {
            victim_pid: 4242,
            uid: 1000,
            victim_comm: comm("hog"),
            total_vm_kb: 2048,
            anon_rss_kb: 1024,
            file_rss_kb: 16,
            shmem_rss_kb: 8,
            pgtables_kb: 12,
            oom_score_adj: -500,
            has_details: 1,
            ..Default::default()
        };
        e.hdr.kind = types::oom_kind::OOM_VICTIM.0 as u16;
        e.hdr.tgid = 1;
        e.hdr.comm = comm("killer");
        e
    }

    #[test]
    fn a_victim_decodes_with_sizes_in_bytes() {
        let mut out = Collect::default();
        decode(&bytes(&victim()), &mut ctx(), &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "oom_victim");
        assert_eq!(row.hdr.comm.as_str(), "killer");
        assert_eq!(row.get("victim_pid"), &Val::U32(4242));
        assert_eq!(row.get("victim_comm"), &Val::from("hog"));
        assert_eq!(row.get("uid"), &Val::U32(1000));
        assert_eq!(row.get("total_vm"), &Val::U64(2048 * 1024));
        assert_eq!(row.get("anon_rss"), &Val::U64(1024 * 1024));
        assert_eq!(row.get("file_rss"), &Val::U64(16 * 1024));
        assert_eq!(row.get("shmem_rss"), &Val::U64(8 * 1024));
        assert_eq!(row.get("pgtables"), &Val::U64(12 * 1024));
        assert_eq!(row.get("oom_score_adj"), &Val::I32(-500));
    }

    /// The kernel log's lines about the kill, joined by the victim's pid.
    #[test]
    fn a_victim_takes_the_kernel_logs_memcg_and_limit() {
        let mut c = ctx();
        c.kernel_log = Some(crate::kmsg::KernelLog::from_lines([
            "hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "memory: usage 32768kB, limit 32768kB, failcnt 3",
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/jobs,task_memcg=/jobs/hog,task=hog,pid=4242,uid=1000",
        ]));
        let mut out = Collect::default();
        decode(&bytes(&victim()), &mut c, &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.get("constraint"), &Val::from("memcg"));
        assert_eq!(row.get("oom_memcg"), &Val::from("/jobs"));
        assert_eq!(row.get("task_memcg"), &Val::from("/jobs/hog"));
        assert_eq!(row.get("memcg_usage"), &Val::U64(32 << 20));
        assert_eq!(row.get("memcg_limit"), &Val::U64(32 << 20));
        // Another victim's row finds nothing of it: null, not guessed.
        let mut other = victim();
        other.victim_pid = 7;
        decode(&bytes(&other), &mut c, &mut out).unwrap();
        for col in [
            "constraint",
            "oom_memcg",
            "task_memcg",
            "memcg_usage",
            "memcg_limit",
        ] {
            assert_eq!(out.rows[1].get(col), &Val::Null, "{col}");
        }
    }

    /// Kernels whose mark_victim has only the pid: unknown, not zero.
    #[test]
    fn a_victim_without_details_has_nulls() {
        let mut e = victim();
        e.has_details = 0;
        let mut out = Collect::default();
        decode(&bytes(&e), &mut ctx(), &mut out).unwrap();
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.get("victim_pid"), &Val::U32(4242));
        for c in [
            "victim_comm",
            "uid",
            "total_vm",
            "anon_rss",
            "file_rss",
            "shmem_rss",
            "pgtables",
            "oom_score_adj",
        ] {
            assert_eq!(row.get(c), &Val::Null, "{c}");
        }
    }

    #[test]
    fn a_short_record_is_refused_not_misread() {
        let b = bytes(&victim());
        let mut out = Collect::default();
        let e = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }
}
