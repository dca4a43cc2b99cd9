//! memcg-reclaim: a file much larger than the memcg limit is written
//! (dirty pages, writeback under the limit) and read back (page cache
//! churn), then the heap grows and must push the file pages out. All of it
//! fits only because file pages are reclaimable: it must not OOM.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{
    event_f64, memcg_name, memcg_oom_kill_delta, memcg_stat_delta, mib, peak_kb, spawn_worker,
    RemoveOnDrop, RunConfig, ScenarioName, MIB,
};
use crate::cgroup::{CgroupVersion, MemcgStat};
use crate::supervise::Waited;
use crate::truth::{Delta, GroundTruth, MemcgReclaimTruth};
use crate::worker::COMM_RECLAIM;

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let s = cfg.scale;
    let limit = s.pick(32 * MIB, 64 * MIB);
    let file_bytes = s.pick(96 * MIB, 256 * MIB);
    let heap_bytes = s.pick(20 * MIB, 40 * MIB);

    let memcgs_version = cfg.memcgs.version();
    let memcg = cfg.memcgs.create(&memcg_name(ScenarioName::MemcgReclaim))?;
    memcg.set_limit(limit)?;
    let file = PathBuf::from(format!(
        "/var/tmp/memscen-{}-memcg-reclaim.dat",
        crate::sys::pid()
    ));
    let _file_guard = RemoveOnDrop(file.clone());

    truth.begin(Some(&memcg))?;
    let mut w = spawn_worker(
        &[
            "reclaim",
            "--file",
            &file.to_string_lossy(),
            "--file-bytes",
            &file_bytes.to_string(),
            "--heap-bytes",
            &heap_bytes.to_string(),
        ],
        COMM_RECLAIM,
        Some(&memcg),
        Duration::from_millis(50),
    )?;
    let deadline = Instant::now() + Duration::from_secs(s.pick(60, 180));
    if let Waited::Event = w.wait_for(Some("hold"), deadline)? {
        // The heap is at its peak now.
        w.sample_now();
        w.finish(deadline + Duration::from_secs(10))?;
    }
    truth.end(Some(&memcg))?;
    truth.add_worker(&w);

    let after_memcg = truth.after.as_ref().and_then(|a| a.memcg.as_ref());
    let failcnt = after_memcg.and_then(|m| m.failcnt).unwrap_or(0);
    let max_usage = after_memcg.and_then(|m| m.max_usage_in_bytes).unwrap_or(0);
    let oom_kill = memcg_oom_kill_delta(truth);
    let delta = |s: MemcgStat| memcg_stat_delta(truth, s);
    let sec = MemcgReclaimTruth {
        limit_bytes: limit,
        file_path: file.display().to_string(),
        file_bytes,
        heap_bytes,
        failcnt,
        max_usage_in_bytes: max_usage,
        memcg_oom_kill: oom_kill,
        memcg_pgpgin: delta(MemcgStat::PagesIn),
        memcg_pgpgout: delta(MemcgStat::PagesOut),
        memcg_pgmajfault: delta(MemcgStat::MajorFaults).unwrap_or(Delta::new(0, 0)),
        memcg_pgscan: delta(MemcgStat::Scanned),
        memcg_pgsteal: delta(MemcgStat::Reclaimed),
        null_fields: null_reasons(memcgs_version),
        write_seconds: event_f64(&w, "write-done", "seconds"),
        read_seconds: event_f64(&w, "read-done", "seconds"),
        heap_seconds: event_f64(&w, "heap-done", "seconds"),
        vm_rss_peak_kb: peak_kb(&w, |st| st.vm_rss_kb),
    };

    // Pages that left the memcg: v1 counts every uncharge (pgpgout); v2
    // has no pgpgout, and counts the pages reclaim took (pgsteal).
    let (out_desc, out) = match (sec.memcg_pgpgout, sec.memcg_pgsteal) {
        (Some(d), _) => ("pgpgout", d),
        (None, Some(d)) => ("pgsteal", d),
        (None, None) => ("pgpgout/pgsteal", Delta::new(0, 0)),
    };
    let exited_ok = w.truth.exit_code == Some(0);
    let produced = exited_ok && oom_kill.delta == 0 && failcnt > 0 && out.delta > 0;
    let verdict = if produced {
        match memcgs_version {
            CgroupVersion::V1 => format!(
                "limit hit {failcnt} times, {} pages paged out of the memcg, no OOM",
                out.delta
            ),
            CgroupVersion::V2 => format!(
                "limit hit {failcnt} times, {} pages reclaimed from the memcg, no OOM",
                out.delta
            ),
        }
    } else if !exited_ok {
        format!(
            "worker did not finish cleanly (exit {:?}, signal {:?})",
            w.truth.exit_code, w.truth.signal_name
        )
    } else if oom_kill.delta != 0 {
        format!("the memcg OOM-killed {} task(s)", oom_kill.delta)
    } else {
        format!(
            "no reclaim seen (failcnt {failcnt}, {out_desc} delta {})",
            out.delta
        )
    };
    truth.set_verdict(produced, verdict);
    truth.note(format!(
        "limit {:.0} MiB, file {:.0} MiB, heap {:.0} MiB; max usage {:.1} MiB; failcnt {failcnt}",
        mib(limit),
        mib(file_bytes),
        mib(heap_bytes),
        mib(max_usage)
    ));
    let counters = |a: (&str, Option<Delta>), b: (&str, Option<Delta>)| {
        format!(
            "memcg {} +{}, {} +{}, pgmajfault +{}",
            a.0,
            a.1.map_or(0, |d| d.delta),
            b.0,
            b.1.map_or(0, |d| d.delta),
            sec.memcg_pgmajfault.delta
        )
    };
    let counters = match memcgs_version {
        CgroupVersion::V1 => counters(("pgpgin", sec.memcg_pgpgin), ("pgpgout", sec.memcg_pgpgout)),
        CgroupVersion::V2 => counters(("pgscan", sec.memcg_pgscan), ("pgsteal", sec.memcg_pgsteal)),
    };
    truth.note(format!(
        "{counters}; write {:.2} s, read {:.2} s, heap {:.2} s",
        sec.write_seconds.unwrap_or(f64::NAN),
        sec.read_seconds.unwrap_or(f64::NAN),
        sec.heap_seconds.unwrap_or(f64::NAN),
    ));
    truth.memcg_reclaim = Some(sec);
    Ok(())
}

/// Why some memcg counters of the section are null on this cgroup version.
fn null_reasons(version: CgroupVersion) -> BTreeMap<String, String> {
    let (fields, why): (&[&str], &str) = match version {
        CgroupVersion::V1 => (
            &["memcg_pgscan", "memcg_pgsteal"],
            "cgroup v1's memory.stat has no pgscan/pgsteal",
        ),
        CgroupVersion::V2 => (
            &["memcg_pgpgin", "memcg_pgpgout"],
            "cgroup v2's memory.stat has no pgpgin/pgpgout; memcg_pgsteal counts the pages reclaimed",
        ),
    };
    fields
        .iter()
        .map(|f| (f.to_string(), why.to_string()))
        .collect()
}
