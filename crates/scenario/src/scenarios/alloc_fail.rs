//! alloc-fail: order-9 buddy allocation failures. The huge page pool is
//! asked for more pages than the whole of memory, so the kernel allocates
//! until an order-9 allocation fails (`htlb_buddy_alloc_fail`), and the
//! pool is put back right away.
//!
//! While the pool holds nearly all memory the rest of the system runs at
//! its watermarks; the window is kept as short as the kernel allows.

use std::time::Instant;

use anyhow::{bail, Result};

use super::{RunConfig, MIB};
use crate::hugetlb::HugepagePool;
use crate::procfs;
use crate::truth::{AllocFailTruth, GroundTruth};

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let meminfo = procfs::read_meminfo()?;
    let total_kb = procfs::meminfo_value(&meminfo, "MemTotal")?;
    let huge_kb = procfs::meminfo_value(&meminfo, "Hugepagesize")?;
    if huge_kb == 0 {
        bail!("Hugepagesize is 0: no hugetlb support");
    }
    let order = (huge_kb * 1024 / crate::sys::page_size()).trailing_zeros();
    // Past what fits by a margin; small scale asks for a smaller overshoot.
    let over = cfg.scale.pick(64, 1024);
    let mut pool = HugepagePool::save()?;
    let original = pool.original();
    let requested = original + total_kb / huge_kb + over;

    truth.begin(None)?;
    let t = Instant::now();
    tracing::info!(requested, "asking for more huge pages than memory holds");
    let allocated = pool.request(requested);
    let write_seconds = t.elapsed().as_secs_f64();
    // Restore before anything else, even if the request failed.
    let restored = pool.restore()?;
    let allocated = allocated?;
    truth.end(None)?;

    let fail = truth.vm_delta("htlb_buddy_alloc_fail")?;
    let success = truth.vm_delta("htlb_buddy_alloc_success")?;
    let produced = fail.delta >= 1;
    truth.set_verdict(
        produced,
        if produced {
            format!("{} order-{order} buddy allocation failure(s)", fail.delta)
        } else {
            "no htlb_buddy_alloc_fail: the request was satisfied or refused without trying"
                .to_string()
        },
    );
    truth.note(format!(
        "requested {requested} x {huge_kb} kB, allocated {allocated} ({:.1} GiB) in {write_seconds:.2} s, restored to {restored}",
        (allocated * huge_kb * 1024) as f64 / (1024.0 * MIB as f64)
    ));
    truth.note(format!(
        "htlb_buddy_alloc_success +{}, htlb_buddy_alloc_fail +{}",
        success.delta, fail.delta
    ));
    truth.alloc_fail = Some(AllocFailTruth {
        hugepage_size_kb: huge_kb,
        original,
        requested,
        allocated,
        restored,
        order,
        htlb_buddy_alloc_fail: fail,
        htlb_buddy_alloc_success: success,
        write_seconds,
    });
    Ok(())
}
