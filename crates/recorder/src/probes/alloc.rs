//! What the allocation groups (kmemleak, memleak) share on the recorder's
//! side: their settings for `bpf/common/alloc.h` (`struct mt_alloc_cfg`).

/// Entries of the exponential quantile table (`MT_EXP_Q` in alloc.h).
pub const EXP_Q: usize = 1024;

/// `--alloc-*` settings, the same for kernel and user allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocSettings {
    /// Mean gap in bytes between sampled allocations; 0 records every one.
    pub sample_bytes: u64,
    /// Allocations smaller than this are not recorded.
    pub min_size: u64,
    /// Record each allocation's stack.
    pub stacks: bool,
}

impl Default for AllocSettings {
    fn default() -> Self {
        AllocSettings {
            sample_bytes: 0,
            min_size: 0,
            stacks: true,
        }
    }
}

/// The quantiles of the exponential distribution with mean 1, in 1/65536:
/// entry i is −ln(1 − (i + ½)/EXP_Q). A uniform random index then gives an
/// exponential gap (the midpoints keep the table's mean within 0.1 % of 1).
pub fn exp_quantiles() -> [u32; EXP_Q] {
    let mut q = [0u32; EXP_Q];
    for (i, v) in q.iter_mut().enumerate() {
        let u = (i as f64 + 0.5) / EXP_Q as f64;
        *v = (-(1.0 - u).ln() * 65536.0).round() as u32;
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantile_table_has_mean_one() {
        let q = exp_quantiles();
        let mean = q.iter().map(|&v| v as f64 / 65536.0).sum::<f64>() / EXP_Q as f64;
        assert!((mean - 1.0).abs() < 0.002, "mean {mean}");
        assert!(q.windows(2).all(|w| w[0] <= w[1]));
        // The largest gap is about 7.6 means: far from overflowing the
        // kernel's (sample_bytes * q) >> 16 for any sample_bytes below 2^40.
        assert!(q[EXP_Q - 1] < 8 * 65536);
    }
}
