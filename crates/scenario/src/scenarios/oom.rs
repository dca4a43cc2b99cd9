//! oom: a worker in a small memcg (memory+swap limited alike, so it cannot
//! escape into swap) grows its heap until the memcg OOM killer kills it.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{
    event_u64, memcg_name, memcg_oom_kill_delta, mib, peak_kb, spawn_worker, RunConfig,
    ScenarioName, GIB, MIB,
};
use crate::kmsg::KernelLog;
use crate::procfs::parse_killed_pid;
use crate::truth::{GroundTruth, OomTruth};
use crate::worker::COMM_OOM;

/// Hard caps from the brief: the worker stops by itself at either.
const MAX_BYTES: u64 = GIB;
const MAX_SECONDS: u64 = 60;

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let limit = cfg.scale.pick(32 * MIB, 64 * MIB);
    let memcg = cfg.memcgs.create(&memcg_name(ScenarioName::Oom))?;
    memcg.set_limit(limit)?;
    let memsw_limited = memcg.set_memsw_limit(Some(limit))?;
    let mut klog = KernelLog::open_at_end();

    truth.begin(Some(&memcg))?;
    let mut w = spawn_worker(
        &[
            "grow",
            "--max-bytes",
            &MAX_BYTES.to_string(),
            "--max-seconds",
            &MAX_SECONDS.to_string(),
            "--step-bytes",
            &MIB.to_string(),
            // A little pacing so the reclaim attempts before the kill are visible.
            "--step-ms",
            "10",
        ],
        COMM_OOM,
        Some(&memcg),
        Duration::from_millis(50),
    )?;
    w.wait_for(None, Instant::now() + Duration::from_secs(MAX_SECONDS + 15))?;
    truth.end(Some(&memcg))?;
    truth.add_worker(&w);

    let log: Vec<String> = klog
        .as_mut()
        .map(|k| k.read_new())
        .unwrap_or_default()
        .into_iter()
        .filter(|l| {
            l.contains("oom") || l.contains("Killed process") || l.contains("Memory cgroup")
        })
        .collect();
    let killed_pids: Vec<i32> = log.iter().filter_map(|l| parse_killed_pid(l)).collect();
    let memcg_oom = memcg_oom_kill_delta(truth);
    let vm_oom = truth.vm_delta("oom_kill")?;
    let sigkill = w.truth.signal == Some(libc::SIGKILL) && !w.truth.timed_out;
    let killed = sigkill && memcg_oom.delta >= 1;
    let sec = OomTruth {
        limit_bytes: limit,
        memsw_limited,
        max_bytes: MAX_BYTES,
        max_seconds: MAX_SECONDS,
        victim_pid: w.pid,
        killed,
        exit_signal: w.truth.signal,
        memcg_oom_kill: memcg_oom,
        vmstat_oom_kill: vm_oom,
        touched_bytes_last_report: event_u64(&w, "grow-progress", "touched_bytes"),
        kernel_log_killed_pids: killed_pids.clone(),
        kernel_log: log,
    };
    let verdict = if killed {
        format!(
            "worker {} OOM-killed (SIGKILL; memcg oom_kill +{}, vmstat oom_kill +{})",
            w.pid, memcg_oom.delta, vm_oom.delta
        )
    } else if w.truth.timed_out {
        "worker overran its time budget and was killed by memscen".to_string()
    } else {
        format!(
            "worker not OOM-killed (exit {:?}, signal {:?}, memcg oom_kill +{})",
            w.truth.exit_code, w.truth.signal_name, memcg_oom.delta
        )
    };
    truth.set_verdict(killed, verdict);
    truth.note(format!(
        "limit {:.0} MiB (memsw limited: {memsw_limited}); peak VmRSS {} kB; last progress {:.0} MiB",
        mib(limit),
        peak_kb(&w, |s| s.vm_rss_kb),
        mib(sec.touched_bytes_last_report.unwrap_or(0))
    ));
    truth.note(format!(
        "memcg oom_kill {} -> {}, vmstat oom_kill {} -> {}, kernel log killed {:?}",
        memcg_oom.before, memcg_oom.after, vm_oom.before, vm_oom.after, killed_pids
    ));
    truth.oom = Some(sec);
    Ok(())
}
