//! The verdict on each failure: which zones it could use and where their
//! free pages stood against the watermarks.

use std::collections::HashMap;

/// Zone names in `enum zone_type` order, for when the recording does not
/// tell a zone's index.
const CANONICAL_ZONES: &[&str] = &["DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"];

/// One failed allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub ts_ns: i64,
    pub tgid: u32,
    pub comm: String,
    pub order: u32,
    pub gfp: String,
    pub migratetype: i32,
    pub migratetype_name: String,
    pub highest_zone: String,
    pub node: u32,
}

impl Failure {
    /// Whether the allocation may use CMA pages (MIGRATE_MOVABLE).
    pub fn movable(&self) -> bool {
        if self.migratetype_name.is_empty() {
            self.migratetype == 1
        } else {
            self.migratetype_name == "MIGRATE_MOVABLE"
        }
    }
}

/// A zone snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZoneRow {
    pub ts_ns: i64,
    pub node: u32,
    pub zone: String,
    pub zone_idx: u32,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub free_cma: u64,
    pub reserve: Option<u64>,
    /// Pages held back for high-order atomic allocations.
    pub reserved_highatomic: u64,
    /// Free blocks per order (`zone.free_blocks_N`); empty when the
    /// recording has none (an older memrec).
    pub free_blocks: Vec<u64>,
}

/// Where free pages stood against the watermarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    BelowMin,
    BelowLow,
    BelowHigh,
    AboveHigh,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::BelowMin => "<=min",
            Level::BelowLow => "<=low",
            Level::BelowHigh => "<=high",
            Level::AboveHigh => ">high",
        }
    }

    /// `free` against watermarks raised by `reserve`: at or under a
    /// watermark counts as under it (the kernel passes only when
    /// free > watermark + reserve).
    pub fn of(free: i64, min: u64, low: u64, high: u64, reserve: u64) -> Level {
        let at = |w: u64| free <= (w + reserve) as i64;
        if at(min) {
            Level::BelowMin
        } else if at(low) {
            Level::BelowLow
        } else if at(high) {
            Level::BelowHigh
        } else {
            Level::AboveHigh
        }
    }
}

/// The verdict on one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every eligible zone was at or under min (+ reserve).
    Exhaustion,
    /// Some eligible zone had free pages above min (+ reserve) but the
    /// order > 0 allocation failed: no free block of that order (measured
    /// where the zones' free blocks per order were recorded, else inferred).
    Fragmentation,
    /// Order 0 with free pages above min somewhere (cpuset, mempolicy, or a
    /// no-retry allocation).
    Other,
    /// No zone rows at the failure's ts_ns.
    Unknown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Exhaustion => "exhaustion",
            Verdict::Fragmentation => "fragmentation",
            Verdict::Other => "other",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Free pages the allocation could use in a zone: free minus free CMA pages
/// unless the allocation is movable.
pub fn usable_free(f: &Failure, z: &ZoneRow) -> i64 {
    let unusable = if f.movable() { 0 } else { z.free_cma };
    z.free as i64 - unusable as i64
}

/// Whether the zone had a free block of the failure's order or larger that
/// the allocation could take, from the zone's free blocks per order; None
/// when the recording has no such counts. The zone must pass the order's
/// watermark check (free pages less the block's other 2^order - 1 above
/// min + reserve), and hold such a block. Conservative: every free CMA page
/// (unless the allocation is movable) and every page of the high-order
/// atomic reserve is taken to sit in such a block, since the kernel's
/// watermark check does not count those free lists for this allocation.
pub fn usable_block(f: &Failure, z: &ZoneRow) -> Option<bool> {
    if z.free_blocks.is_empty() {
        return None;
    }
    // The kernel's order-n check first takes the block's other 2^n - 1
    // pages off the free count.
    let after = usable_free(f, z) - ((1i64 << f.order.min(62)) - 1);
    if after <= (z.min + z.reserve.unwrap_or(0)) as i64 {
        return Some(false);
    }
    let big: u64 = z
        .free_blocks
        .iter()
        .enumerate()
        .skip(f.order as usize)
        .map(|(o, n)| n << o)
        .sum();
    let reserved = if f.movable() { 0 } else { z.free_cma } + z.reserved_highatomic;
    Some(big > reserved)
}

/// Zone index of a zone name: from the recording's zone rows, else the
/// canonical order.
pub(super) fn zone_index(map: &HashMap<String, u32>, name: &str) -> Option<u32> {
    map.get(name).copied().or_else(|| {
        CANONICAL_ZONES
            .iter()
            .position(|z| *z == name)
            .map(|p| p as u32)
    })
}

/// Eligible zones of a failure and the verdict.
pub fn judge<'a>(
    f: &Failure,
    zones: &'a [ZoneRow],
    idx: &HashMap<String, u32>,
) -> (Vec<(&'a ZoneRow, i64, Level)>, Verdict) {
    let hz = zone_index(idx, &f.highest_zone);
    let eligible: Vec<(&ZoneRow, i64, Level)> = zones
        .iter()
        .filter(|z| hz.is_none_or(|h| z.zone_idx <= h))
        .map(|z| {
            let u = usable_free(f, z);
            (
                z,
                u,
                Level::of(u, z.min, z.low, z.high, z.reserve.unwrap_or(0)),
            )
        })
        .collect();
    let verdict = if eligible.is_empty() {
        Verdict::Unknown
    } else if eligible.iter().all(|e| e.2 == Level::BelowMin) {
        Verdict::Exhaustion
    } else if f.order > 0 {
        // Enough free pages by the watermarks. Where the zones' free blocks
        // per order were recorded, fragmentation is the cause only when no
        // zone above min had a usable block of the order; else the failure
        // is something else (cpuset, mempolicy, a no-retry allocation).
        let block = eligible
            .iter()
            .filter(|e| e.2 != Level::BelowMin)
            .any(|e| usable_block(f, e.0) == Some(true));
        if block {
            Verdict::Other
        } else {
            Verdict::Fragmentation
        }
    } else {
        Verdict::Other
    };
    (eligible, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(order: u32, movable: bool) -> Failure {
        Failure {
            ts_ns: 1,
            tgid: 1,
            comm: "x".into(),
            order,
            gfp: "GFP_KERNEL".into(),
            migratetype: i32::from(movable),
            migratetype_name: String::new(),
            highest_zone: "Normal".into(),
            node: 0,
        }
    }

    fn zone(blocks: &[u64], free_cma: u64, highatomic: u64) -> ZoneRow {
        ZoneRow {
            zone: "Normal".into(),
            zone_idx: 2,
            free: 10_000,
            min: 100,
            low: 125,
            high: 150,
            free_cma,
            reserved_highatomic: highatomic,
            free_blocks: blocks.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn fragmentation_is_measured_where_free_blocks_were_recorded() {
        let idx = HashMap::from([("Normal".to_string(), 2)]);
        // Free pages above the watermarks, but no block of order 3 or more.
        let small = [2000, 1000, 1500, 0, 0];
        assert_eq!(
            judge(&fail(3, true), &[zone(&small, 0, 0)], &idx).1,
            Verdict::Fragmentation
        );
        // An order-4 block: the failure had another cause.
        let big = [2000, 1000, 1500, 0, 1];
        assert_eq!(
            judge(&fail(3, true), &[zone(&big, 0, 0)], &idx).1,
            Verdict::Other
        );
        // ... unless CMA (for an unmovable allocation) or the high-order
        // atomic reserve may hold it.
        assert_eq!(
            judge(&fail(3, false), &[zone(&big, 16, 0)], &idx).1,
            Verdict::Fragmentation
        );
        assert_eq!(
            judge(&fail(3, true), &[zone(&big, 16, 0)], &idx).1,
            Verdict::Other
        );
        assert_eq!(
            judge(&fail(3, true), &[zone(&big, 0, 512)], &idx).1,
            Verdict::Fragmentation
        );
        // A block, but the order's watermark check fails: free pages less
        // the block's other 15 pages are not above min (100).
        let mut tight = zone(&big, 0, 0);
        tight.free = 110;
        assert_eq!(
            judge(&fail(4, true), &[tight], &idx).1,
            Verdict::Fragmentation
        );
        // Without the counts (an older recording): inferred, as before.
        assert_eq!(
            judge(&fail(3, true), &[zone(&[], 0, 0)], &idx).1,
            Verdict::Fragmentation
        );
    }
}
