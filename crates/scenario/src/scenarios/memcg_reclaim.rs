//! memcg-reclaim: a file much larger than the memcg limit is written
//! (dirty pages, writeback under the limit) and read back (page cache
//! churn), then the heap grows and must push the file pages out. All of it
//! fits only because file pages are reclaimable: it must not OOM.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{
    event_f64, memcg_name, memcg_oom_kill_delta, memcg_stat_delta, mib, peak_kb, spawn_worker,
    RemoveOnDrop, RunConfig, ScenarioName, MIB,
};
use crate::cgroup::MemCgroup;
use crate::supervise::Waited;
use crate::truth::{GroundTruth, MemcgReclaimTruth};
use crate::worker::COMM_RECLAIM;

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let s = cfg.scale;
    let limit = s.pick(32 * MIB, 64 * MIB);
    let file_bytes = s.pick(96 * MIB, 256 * MIB);
    let heap_bytes = s.pick(20 * MIB, 40 * MIB);

    let memcg = MemCgroup::create(&memcg_name(ScenarioName::MemcgReclaim))?;
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
    let pgpgout = memcg_stat_delta(truth, "pgpgout");
    let sec = MemcgReclaimTruth {
        limit_bytes: limit,
        file_path: file.display().to_string(),
        file_bytes,
        heap_bytes,
        failcnt,
        max_usage_in_bytes: max_usage,
        memcg_oom_kill: oom_kill,
        memcg_pgpgin: memcg_stat_delta(truth, "pgpgin"),
        memcg_pgpgout: pgpgout,
        memcg_pgmajfault: memcg_stat_delta(truth, "pgmajfault"),
        write_seconds: event_f64(&w, "write-done", "seconds"),
        read_seconds: event_f64(&w, "read-done", "seconds"),
        heap_seconds: event_f64(&w, "heap-done", "seconds"),
        vm_rss_peak_kb: peak_kb(&w, |st| st.vm_rss_kb),
    };

    let exited_ok = w.truth.exit_code == Some(0);
    let produced = exited_ok && oom_kill.delta == 0 && failcnt > 0 && pgpgout.delta > 0;
    let verdict = if produced {
        format!(
            "limit hit {failcnt} times, {} pages paged out of the memcg, no OOM",
            pgpgout.delta
        )
    } else if !exited_ok {
        format!(
            "worker did not finish cleanly (exit {:?}, signal {:?})",
            w.truth.exit_code, w.truth.signal_name
        )
    } else if oom_kill.delta != 0 {
        format!("the memcg OOM-killed {} task(s)", oom_kill.delta)
    } else {
        format!(
            "no reclaim seen (failcnt {failcnt}, pgpgout delta {})",
            pgpgout.delta
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
    truth.note(format!(
        "memcg pgpgin +{}, pgpgout +{}, pgmajfault +{}; write {:.2} s, read {:.2} s, heap {:.2} s",
        sec.memcg_pgpgin.delta,
        sec.memcg_pgpgout.delta,
        sec.memcg_pgmajfault.delta,
        sec.write_seconds.unwrap_or(f64::NAN),
        sec.read_seconds.unwrap_or(f64::NAN),
        sec.heap_seconds.unwrap_or(f64::NAN),
    ));
    truth.memcg_reclaim = Some(sec);
    Ok(())
}
