//! swap: a zram swap device for the run, and a worker in a small memcg
//! (memory limited, memory+swap unlimited) that fills more anonymous memory
//! than the limit with compressible-but-varied data, then reads all of it
//! back: swap-outs while filling, swap-in faults while reading.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{event_u64, memcg_name, mib, peak_kb, spawn_worker, RunConfig, ScenarioName, MIB};
use crate::supervise::Waited;
use crate::truth::{GroundTruth, SwapTruth};
use crate::worker::COMM_SWAP;
use crate::zram::{ZramSwap, SWAP_PRIORITY};

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let s = cfg.scale;
    let disksize = s.pick(256 * MIB, 512 * MIB);
    let limit = s.pick(32 * MIB, 64 * MIB);
    let bytes = s.pick(96 * MIB, 200 * MIB);

    // Declared first so it is torn down last, after the worker and memcg
    // are gone and nothing holds swap entries any more.
    let zram = ZramSwap::setup(disksize)?;
    let memcg = cfg.memcgs.create(&memcg_name(ScenarioName::Swap))?;
    memcg.set_limit(limit)?;
    memcg.set_memsw_limit(None)?;

    truth.begin(Some(&memcg))?;
    let mut w = spawn_worker(
        &["swap", "--bytes", &bytes.to_string()],
        COMM_SWAP,
        Some(&memcg),
        Duration::from_millis(100),
    )?;
    let deadline = Instant::now() + Duration::from_secs(s.pick(60, 180));
    let mut mm_stat = None;
    if let Waited::Event = w.wait_for(Some("hold"), deadline)? {
        // Everything was written and read back; the worker still owns it all.
        w.sample_now();
        mm_stat = zram.mm_stat();
        w.finish(deadline + Duration::from_secs(10))?;
    }
    truth.end(Some(&memcg))?;
    truth.add_worker(&w);

    let pswpin = truth.vm_delta("pswpin")?;
    let pswpout = truth.vm_delta("pswpout")?;
    let bad_pages = event_u64(&w, "readback-done", "bad_pages");
    let exited_ok = w.truth.exit_code == Some(0);
    let produced = exited_ok && pswpout.delta > 0 && pswpin.delta > 0;
    truth.set_verdict(
        produced,
        if produced {
            format!(
                "{} pages swapped out, {} swapped in",
                pswpout.delta, pswpin.delta
            )
        } else {
            format!(
                "pswpout +{}, pswpin +{}, worker exit {:?} signal {:?}",
                pswpout.delta, pswpin.delta, w.truth.exit_code, w.truth.signal_name
            )
        },
    );
    let swap_peak = peak_kb(&w, |st| st.vm_swap_kb);
    truth.note(format!(
        "{} ({} MiB, header by {}), memcg limit {:.0} MiB, worker {:.0} MiB",
        zram.dev.display(),
        disksize / MIB,
        zram.header_by,
        mib(limit),
        mib(bytes)
    ));
    truth.note(format!(
        "pswpout +{}, pswpin +{}, VmSwap peak {} kB, bad pages {:?}",
        pswpout.delta, pswpin.delta, swap_peak, bad_pages
    ));
    if let Some(m) = &mm_stat {
        truth.note(format!(
            "zram after read-back: orig {:.1} MiB compressed to {:.1} MiB, max used {:.1} MiB",
            mib(m.orig_data_size),
            mib(m.compr_data_size),
            mib(m.mem_used_max)
        ));
    }
    truth.swap = Some(SwapTruth {
        zram_device: zram.dev.display().to_string(),
        zram_hot_added: zram.hot_added,
        disksize_bytes: disksize,
        swap_header_by: zram.header_by.clone(),
        swap_priority: SWAP_PRIORITY,
        limit_bytes: limit,
        worker_bytes: bytes,
        pswpin,
        pswpout,
        vm_swap_peak_kb: swap_peak,
        bad_pages,
        zram_mm_stat: mm_stat,
    });
    Ok(())
}
