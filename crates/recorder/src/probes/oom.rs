//! oom: OOM-killer victims.

use memtrace_schema::tables::oom::oom_victim;
use memtrace_schema::{Comm, Text};

use super::decode::{header, read, DecodeCtx, DecodeError};
use super::{load_skeleton, Group, Method, Program};
use crate::bpf::oom::{types, OomSkelBuilder};
use crate::kernel;
use crate::writer::Tables;

// SAFETY: generated from a C struct of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::oom_victim {}

pub static GROUP: Group = Group {
    name: "oom",
    about: "OOM-killer victims with their memory and the load average",
    programs: &[Program {
        name: "oom_mark_victim",
        target: "oom:mark_victim",
        method: Method::Tp,
        slot: 0,
        fallback: None,
    }],
    tables: &[&oom_victim::TABLE],
    max_ring_bytes: 1 << 20,
    load: |s, skip| load_skeleton!(OomSkelBuilder, s, skip),
    decode,
};

fn decode(data: &[u8], ctx: &mut DecodeCtx, out: &mut Tables) -> Result<(), DecodeError> {
    let (hdr, kind) = header(data, ctx)?;
    if kind != types::oom_kind::OOM_VICTIM.0 as u16 {
        return Err(DecodeError::UnknownKind(kind));
    }
    let e: types::oom_victim = read(data)?;
    // The kernel keeps no load average a BPF program can read without
    // kallsyms for data; /proc/loadavg now is within one drain interval.
    let (load1, load5, load15) = kernel::loadavg();
    let comm = Comm(e.victim_comm.map(|c| c as u8));
    out.push(
        &hdr,
        &oom_victim::Row {
            victim_pid: e.victim_pid.max(0) as u32,
            victim_comm: Text::from(comm.as_str().to_string()),
            uid: e.uid,
            total_vm: e.total_vm_kb * 1024,
            anon_rss: e.anon_rss_kb * 1024,
            file_rss: e.file_rss_kb * 1024,
            shmem_rss: e.shmem_rss_kb * 1024,
            pgtables: e.pgtables_kb * 1024,
            oom_score_adj: e.oom_score_adj,
            load1,
            load5,
            load15,
        },
    )?;
    Ok(())
}
