//! Fidelity of the swap group against the kernel's swap counters, read
//! with the arrow-rs reader (independent of the analyzer).
//!
//! - Swap-outs: Σ `swap_out.pages` = Δ(`pswpout` + `zswpout` +
//!   `swpout_zero`), exactly. Reclaim's pageout() fires the tracepoint for
//!   every swap-backed folio it writes, and the write lands in one of them:
//!   the swap device (`pswpout`), zswap (`zswpout`), or, for a folio of
//!   zeroes, only the swap map (`swpout_zero`, 6.12+). A counter this
//!   kernel lacks counts 0.
//! - Swap-ins: rows ≤ Δ(`pswpin` + `zswpin` + `swpin_zero`). There is no
//!   swap-in tracepoint; a row is a major fault on an anonymous or shmem
//!   VMA, one per fault. The kernel also counts pages read by swap readahead
//!   (a fault's neighbours, read before any fault asks for them: on zram,
//!   only for pages shared by several page tables) and swap-ins outside
//!   faults (swapoff, MADV_WILLNEED, shmem read(2)). Allowed: 1 % of the
//!   counters, and rows above them by up to 64 (a major fault retried after
//!   waiting for a page another task was reading counts major with no read
//!   of its own; and the live window's edges, as for the faults group).
#![allow(dead_code)]

use serde_json::Value;

use super::fidelity::{Case, Report};
use super::rows::{group_recorded, metric, sum};

/// Share of the swap-in counters allowed without a row (readahead,
/// swap-ins outside faults).
pub const SWAPIN_UNMARKED_SHARE_MAX: f64 = 0.01;

/// Rows allowed above the swap-in counters.
pub const SWAPIN_ABOVE_MAX: i128 = 64;

/// Whether the recording holds the swap group.
pub fn recorded(c: &Case) -> bool {
    group_recorded(c.meta(), "swap")
}

/// Swap-ins (one page each) and swapped-out pages recorded.
fn pages(c: &Case) -> (i128, i128) {
    (
        c.table("swap_in").len() as i128,
        sum(&c.table("swap_out"), "pages"),
    )
}

fn delta_sum(c: &Case, keys: &[&str]) -> i128 {
    keys.iter().map(|k| c.vmstat_delta(k)).sum()
}

/// Swap-ins and swap-outs against the counters.
pub fn swap(c: &Case, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        r.skip(
            s,
            "swap rows vs pswpin/pswpout",
            "the swap group was not recorded",
        );
        return;
    }
    let (ins, outs) = pages(c);
    r.exact(
        s,
        "Σ swap_out.pages vs Δ(pswpout + zswpout + swpout_zero)",
        outs,
        delta_sum(c, &["pswpout", "zswpout", "swpout_zero"]),
    );
    let kernel = delta_sum(c, &["pswpin", "zswpin", "swpin_zero"]);
    let gap = kernel - ins;
    let max = (kernel as f64 * SWAPIN_UNMARKED_SHARE_MAX).ceil() as i128;
    r.check(
        s,
        "swap_in rows vs Δ(pswpin + zswpin + swpin_zero)",
        (-SWAPIN_ABOVE_MAX..=max).contains(&gap),
        format!(
            "recorded {ins} | kernel {kernel} | counters - rows {gap} | tolerance \
             -{SWAPIN_ABOVE_MAX}..={max} (readahead and swap-ins outside faults have no row; \
             a retried fault is major without a read)"
        ),
    );
}

/// memana's swap section against the rows.
pub fn analyzer(c: &Case, report: &Value, r: &mut Report) {
    let s = c.name;
    if !recorded(c) {
        return;
    }
    let (ins, outs) = pages(c);
    r.exact(
        s,
        "memana swap.in_pages vs rows",
        metric(report, "swap.in_pages").unwrap_or(-1),
        ins,
    );
    r.exact(
        s,
        "memana swap.out_pages vs Σ pages",
        metric(report, "swap.out_pages").unwrap_or(-1),
        outs,
    );
}
