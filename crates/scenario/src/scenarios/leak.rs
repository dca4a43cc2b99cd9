//! leak: anonymous memory growing at a known steady rate, every page
//! touched, in its own memcg with no limit (for accounting only) so nothing
//! is reclaimed. RSS is sampled once per second.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::{event_u64, memcg_name, mib, spawn_worker, RunConfig, ScenarioName, MIB};
use crate::truth::{slope, GroundTruth, LeakTruth};
use crate::worker::COMM_LEAK;

const STEP_MS: u64 = 50;
const SAMPLE_MS: u64 = 1000;
/// Observed rate must be within this fraction of the configured one.
const TOLERANCE: f64 = 0.15;

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let rate = cfg.leak_rate_mib_per_s.unwrap_or(4) * MIB;
    let seconds = cfg.leak_seconds.unwrap_or(cfg.scale.pick(3, 10));
    if rate == 0 || seconds == 0 {
        bail!("leak needs a positive rate and duration");
    }
    // Bounded: at most 4 GiB in total.
    if rate.saturating_mul(seconds) > 4 << 30 {
        bail!("leak rate x duration exceeds the 4 GiB bound");
    }
    let duration_ms = seconds * 1000;
    let memcg = cfg.memcgs.create(&memcg_name(ScenarioName::Leak))?;

    truth.begin(Some(&memcg))?;
    let mut w = spawn_worker(
        &[
            "leak",
            "--rate-bytes-per-s",
            &rate.to_string(),
            "--duration-ms",
            &duration_ms.to_string(),
            "--step-ms",
            &STEP_MS.to_string(),
        ],
        COMM_LEAK,
        Some(&memcg),
        Duration::from_millis(SAMPLE_MS),
    )?;
    let deadline = Instant::now() + Duration::from_secs(seconds + 20);
    // Sample on a grid starting at the growth start: t = 0, 1, 2, ... s.
    if let crate::supervise::Waited::Event = w.wait_for(Some("grow-start"), deadline)? {
        w.resample_from_now();
    }
    if let crate::supervise::Waited::Event = w.wait_for(Some("hold"), deadline)? {
        w.sample_now();
        w.finish(deadline)?;
    }
    truth.end(Some(&memcg))?;
    truth.add_worker(&w);

    let start_ns = w.event("grow-start").map(|e| e.boottime_ns);
    let end_ns = w.event("grow-done").map(|e| e.boottime_ns);
    // Fit RssAnon over the samples inside the growth window.
    let points: Vec<(f64, f64)> = match (start_ns, end_ns) {
        (Some(s), Some(e)) => w
            .samples
            .iter()
            .filter(|x| x.boottime_ns >= s && x.boottime_ns <= e)
            .filter_map(|x| {
                Some((
                    x.boottime_ns as f64 / 1e9,
                    x.status.rss_anon_kb? as f64 * 1024.0,
                ))
            })
            .collect(),
        _ => Vec::new(),
    };
    let observed = slope(&points);
    let page = crate::sys::page_size();
    let expected_total = rate * seconds / page * page;
    let exited_ok = w.truth.exit_code == Some(0);
    let close = observed.is_some_and(|o| ((o - rate as f64) / rate as f64).abs() <= TOLERANCE);
    let produced = exited_ok && close;
    truth.set_verdict(
        produced,
        match observed {
            Some(o) if produced => format!(
                "RssAnon grew at {:.2} MiB/s (configured {:.2} MiB/s)",
                o / MIB as f64,
                mib(rate)
            ),
            Some(o) => format!(
                "RssAnon grew at {:.2} MiB/s, not within {:.0}% of {:.2} MiB/s (exit {:?})",
                o / MIB as f64,
                TOLERANCE * 100.0,
                mib(rate),
                w.truth.exit_code
            ),
            None => format!("too few samples during growth ({})", points.len()),
        },
    );
    let rss: Vec<String> = w
        .samples
        .iter()
        .filter_map(|s| s.status.rss_anon_kb)
        .map(|kb| format!("{:.1}", kb as f64 / 1024.0))
        .collect();
    truth.note(format!("RssAnon samples (MiB, 1/s): {}", rss.join(" ")));
    truth.leak = Some(LeakTruth {
        rate_bytes_per_s: rate,
        duration_s: seconds as f64,
        step_ms: STEP_MS,
        expected_total_bytes: expected_total,
        allocated_bytes: event_u64(&w, "grow-done", "allocated_bytes"),
        grow_start_boottime_ns: start_ns,
        grow_end_boottime_ns: end_ns,
        observed_rate_bytes_per_s: observed,
        sample_interval_ms: SAMPLE_MS,
    });
    Ok(())
}
