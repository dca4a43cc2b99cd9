//! Outstanding allocations by stack (memleak's user heap, kmemleak's kernel
//! allocations): what was allocated in the window and not freed by its end,
//! the allocation rate by stack, kernel slab growth by cache, and large
//! kernel allocations. `memana leaks` prints the same outstanding stacks as
//! text, JSON or folded stacks for flame graphs.
//!
//! A free matches the latest allocation of its address recorded strictly
//! before it (per process for the heap, per kind for the kernel: a page's
//! address is its pfn), so a realloc that returns its block in place (the
//! old block's free and the new allocation share one `ts_ns`) frees the old
//! row and keeps the new. Only recorded allocations are tracked (the schema's
//! contract): objects allocated before the recording began, and their frees,
//! are not here. With byte sampling (`--alloc-sample`) each row stands for
//! 1/p allocations, p = 1 − exp(−bytes/sample_bytes), and the figures are
//! estimates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde_json::json;

use super::common::push_ranked;
use super::{Section, SectionError};
use crate::filter::Filter;
use crate::frame::{values_u64, StrIds};
use crate::model::{
    Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, TextLimit, Unit,
};
use crate::recording::{GroupState, ReadError, Recording};
use crate::report_row;
use crate::stacks::{folded as folded_stack, symbolized_stacks, Frame, KernelSymbols};

pub static SECTION: Section = Section {
    id: "leaks",
    title: "Outstanding allocations by stack (memleak, kmemleak)",
    required: &[],
    optional: &["memleak", "kmemleak", "stacks"],
    compute,
};

/// kmalloc allocations at least this large (bytes the allocator took) are
/// listed as large.
pub const LARGE_KMALLOC: u64 = 64 << 10;
/// Page allocations of at least this order are listed as large.
pub const LARGE_ORDER: u32 = 3;
/// Frames of a stack shown in a table's `frames` column.
const SHORT_FRAMES: usize = 3;

/// A group's outstanding allocations are a leak finding when, counting only
/// those at least this old at the window's end (bcc memleak's default
/// `--older`: younger blocks may be about to be freed), ...
pub const LEAK_MIN_AGE_NS: i64 = 500_000_000;
/// ... there are at least this many of them (a leak repeats: a few blocks
/// kept are a program's state, such as its stdio buffers), ...
pub const LEAK_MIN_ALLOCATIONS: f64 = 100.0;
/// ... and they are at least this share of the bytes the group allocated in
/// the window (a stack that frees most of what it allocates churns).
pub const LEAK_MIN_KEPT_SHARE: f64 = 0.5;

/// Which allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The user heap of the traced processes (`memleak`: `user_alloc`).
    User,
    /// Kernel allocations (`kmemleak`: `kernel_alloc`).
    Kernel,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::User => "user",
            Side::Kernel => "kernel",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Side::User => "memleak",
            Side::Kernel => "kmemleak",
        }
    }
    fn tables(self) -> (&'static str, &'static str) {
        match self {
            Side::User => ("user_alloc", "user_free"),
            Side::Kernel => ("kernel_alloc", "kernel_free"),
        }
    }
}

/// A kernel allocation's kind (`kernel_alloc.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kmalloc,
    Cache,
    Page,
    Percpu,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        match s {
            "kmalloc" => Some(Kind::Kmalloc),
            "cache" => Some(Kind::Cache),
            "page" => Some(Kind::Page),
            "percpu" => Some(Kind::Percpu),
            _ => None,
        }
    }
}

/// Where a group of allocations came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A recorded stack (`stack_frame.stack_id`).
    Stack(u64),
    /// A kernel allocation without a stack: its call site.
    CallSite(u64),
    /// Neither (stacks off, or none could be read).
    Unknown,
}

/// A group of allocations: one stack of one process (user), or one stack
/// and kind (kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct GroupKey {
    side: Side,
    /// The tgid (user) or the kind's string id (kernel).
    owner: u32,
    origin: Origin,
}

#[derive(Debug, Clone)]
struct Group {
    key: GroupKey,
    /// The first row's comm (user: the process's name when the stack was
    /// first seen).
    comm: u32,
}

/// One allocation row, compact.
#[derive(Debug, Clone)]
struct Alloc {
    ts: i64,
    /// When its free was recorded; `i64::MAX` when none before the window's end.
    freed: i64,
    address: u64,
    /// `size` (user) or `bytes_alloc` (kernel).
    bytes: u64,
    /// Allocations this row stands for (1/p; 1 without sampling).
    weight: f64,
    side: Side,
    /// tgid (user) or kind id (kernel): with `address`, what a free matches.
    owner: u32,
    group: u32,
    comm: u32,
    /// The slab cache's id ("" for none).
    cache: u32,
}

impl Alloc {
    fn key(&self) -> (Side, u32, u64) {
        (self.side, self.owner, self.address)
    }
    /// Allocated in `[from, at)` and not freed before `at`.
    fn outstanding(&self, from: i64, at: i64) -> bool {
        self.ts >= from && self.ts < at && self.freed >= at
    }
}

/// A large kernel allocation: an index into the allocations and what names
/// its caller.
#[derive(Debug, Clone)]
struct Large {
    alloc: usize,
    kind: Kind,
    order: Option<u32>,
    call_site: Option<u64>,
    stack: Option<u64>,
}

/// Allocations this row stands for under byte sampling: 1/p with
/// p = 1 − exp(−bytes/period) (the schema's `sample_bytes`).
pub fn weight(bytes: u64, period: Option<u64>) -> f64 {
    match period {
        Some(s) if s > 0 => {
            let p = -(-(bytes as f64) / s as f64).exp_m1();
            if p > 0.0 {
                1.0 / p
            } else {
                1.0
            }
        }
        _ => 1.0,
    }
}

/// Which sides to read.
#[derive(Debug, Clone, Copy)]
pub struct Sides {
    pub user: bool,
    pub kernel: bool,
}

impl Default for Sides {
    fn default() -> Self {
        Sides {
            user: true,
            kernel: true,
        }
    }
}

/// Everything read for one window.
#[derive(Debug, Default)]
pub struct Leaks {
    /// The window: `[from, to)`, clipped to the recording.
    pub from: i64,
    pub to: i64,
    pub start: i64,
    allocs: Vec<Alloc>,
    groups: Vec<Group>,
    strs: StrIds,
    /// Sampling periods seen, per side (empty: every allocation recorded).
    periods: BTreeMap<Side, BTreeSet<u64>>,
    /// Sides whose group was recorded.
    pub recorded: Vec<Side>,
    large: Vec<Large>,
    /// Rows read: `ts_ns` in `[lo, hi)` (the scan's window, unclipped).
    lo: i64,
    hi: i64,
}

/// Outstanding (or allocated) figures of one group.
#[derive(Debug, Clone)]
pub struct Stat {
    group: u32,
    /// Rows.
    pub recorded: u64,
    /// Estimated allocations and bytes.
    pub count: f64,
    pub bytes: f64,
    pub freed_bytes: f64,
    pub oldest: i64,
    ts: Vec<i64>,
    comms: BTreeMap<u32, u64>,
    caches: BTreeMap<u32, u64>,
}

impl Stat {
    fn new(group: u32) -> Stat {
        Stat {
            group,
            recorded: 0,
            count: 0.0,
            bytes: 0.0,
            freed_bytes: 0.0,
            oldest: i64::MAX,
            ts: Vec::new(),
            comms: BTreeMap::new(),
            caches: BTreeMap::new(),
        }
    }

    fn add(&mut self, a: &Alloc, keep_ts: bool) {
        self.recorded += 1;
        self.count += a.weight;
        self.bytes += a.bytes as f64 * a.weight;
        self.oldest = self.oldest.min(a.ts);
        if keep_ts {
            self.ts.push(a.ts);
        }
        *self.comms.entry(a.comm).or_default() += 1;
        if a.cache != u32::MAX {
            *self.caches.entry(a.cache).or_default() += 1;
        }
    }

    /// The median allocation time of the rows (the lower middle one).
    fn median(&mut self) -> i64 {
        self.ts.sort_unstable();
        self.ts
            .get(self.ts.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(self.oldest)
    }
}

fn est(x: f64) -> u64 {
    x.round().max(0.0) as u64
}

impl Leaks {
    /// Reads the allocations and frees of the recorded sides up to the
    /// window's end, and matches them.
    pub fn load(rec: &Recording, f: &Filter, sides: Sides) -> Result<Leaks, ReadError> {
        let (from, to) = rec.window(f);
        let mut l = Leaks {
            from,
            to,
            start: rec.start_ns,
            lo: f.from_ns.unwrap_or(i64::MIN),
            hi: f.to_ns.unwrap_or(i64::MAX),
            ..Default::default()
        };
        // Everything before the window's end: frees may match allocations
        // of before the window, and slab growth starts at the recording.
        let upto = Filter {
            from_ns: None,
            ..f.clone()
        };
        let mut frees: Vec<(Side, u32, u64, i64)> = Vec::new();
        for side in [Side::User, Side::Kernel] {
            let wanted = match side {
                Side::User => sides.user,
                Side::Kernel => sides.kernel,
            };
            if !wanted || rec.group_state(side.group()) != GroupState::Recorded {
                continue;
            }
            l.recorded.push(side);
            l.read_allocs(rec, &upto, side)?;
            l.read_frees(rec, &upto, side, &mut frees)?;
        }
        l.match_frees(&mut frees);
        Ok(l)
    }

    fn group_of(&mut self, index: &mut HashMap<GroupKey, u32>, key: GroupKey, comm: u32) -> u32 {
        *index.entry(key).or_insert_with(|| {
            self.groups.push(Group { key, comm });
            (self.groups.len() - 1) as u32
        })
    }

    fn read_allocs(&mut self, rec: &Recording, f: &Filter, side: Side) -> Result<(), ReadError> {
        let (table, _) = side.tables();
        let cols: &[&str] = match side {
            Side::User => &[
                "ts_ns",
                "tgid",
                "comm",
                "address",
                "size",
                "stack_id",
                "sample_bytes",
            ],
            Side::Kernel => &[
                "ts_ns",
                "tgid",
                "comm",
                "kind",
                "address",
                "bytes_alloc",
                "cache",
                "order",
                "call_site",
                "stack_id",
                "sample_bytes",
            ],
        };
        let lf = rec.scan_with(table, f, cols, true)?;
        let mut index: HashMap<GroupKey, u32> = HashMap::new();
        let none = self.strs.id_of("");
        let mut periods = BTreeSet::new();
        let mut strs = std::mem::take(&mut self.strs);
        rec.stream(table, lf, |fr| {
            let ts = fr.chunked_i64("ts_ns")?;
            let ts: Vec<i64> = ts.iter().map(Option::unwrap_or_default).collect();
            let tgid = values_u64(&fr.chunked_u64("tgid")?);
            let comm = strs.ids(&fr.chunked_str("comm")?);
            let address = values_u64(&fr.chunked_u64("address")?);
            let bytes = values_u64(&fr.chunked_u64(match side {
                Side::User => "size",
                Side::Kernel => "bytes_alloc",
            })?);
            let stack: Vec<Option<u64>> = fr.chunked_u64("stack_id")?.iter().collect();
            let period: Vec<Option<u64>> = fr.chunked_u64("sample_bytes")?.iter().collect();
            let (kind, cache, order, call_site) = match side {
                Side::User => (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
                Side::Kernel => (
                    strs.ids(&fr.chunked_str("kind")?),
                    strs.ids(&fr.chunked_str("cache")?),
                    fr.chunked_u64("order")?.iter().collect::<Vec<_>>(),
                    fr.chunked_u64("call_site")?.iter().collect::<Vec<_>>(),
                ),
            };
            for i in 0..ts.len() {
                let (owner, origin) = match side {
                    Side::User => (
                        tgid[i] as u32,
                        stack[i].map_or(Origin::Unknown, Origin::Stack),
                    ),
                    Side::Kernel => (
                        kind[i],
                        match (stack[i], call_site[i]) {
                            (Some(s), _) => Origin::Stack(s),
                            (None, Some(c)) if c != 0 => Origin::CallSite(c),
                            _ => Origin::Unknown,
                        },
                    ),
                };
                let key = GroupKey {
                    side,
                    owner,
                    origin,
                };
                let group = self.group_of(&mut index, key, comm[i]);
                if let Some(p) = period[i] {
                    periods.insert(p);
                }
                let cache_id = match cache.get(i) {
                    Some(&c) if c != none => c,
                    _ => u32::MAX,
                };
                if side == Side::Kernel {
                    let k = Kind::parse(strs.name(kind[i]));
                    let large = match k {
                        Some(Kind::Kmalloc) => bytes[i] >= LARGE_KMALLOC,
                        Some(Kind::Page) => order[i].is_some_and(|o| o >= u64::from(LARGE_ORDER)),
                        _ => false,
                    };
                    if let (true, Some(k)) = (large, k) {
                        self.large.push(Large {
                            alloc: self.allocs.len(),
                            kind: k,
                            order: order[i].map(|o| o as u32),
                            call_site: call_site[i],
                            stack: stack[i],
                        });
                    }
                }
                self.allocs.push(Alloc {
                    ts: ts[i],
                    freed: i64::MAX,
                    address: address[i],
                    bytes: bytes[i],
                    weight: weight(bytes[i], period[i]),
                    side,
                    owner,
                    group,
                    comm: comm[i],
                    cache: cache_id,
                });
            }
            Ok(())
        })?;
        self.strs = strs;
        self.periods.insert(side, periods);
        Ok(())
    }

    fn read_frees(
        &mut self,
        rec: &Recording,
        f: &Filter,
        side: Side,
        out: &mut Vec<(Side, u32, u64, i64)>,
    ) -> Result<(), ReadError> {
        let (_, table) = side.tables();
        // The freeing task is not the allocating one (kernel), or another
        // thread of the process (user): only the process filter applies,
        // and only to the heap, whose key is the process.
        let cols: &[&str] = match side {
            Side::User => &["ts_ns", "tgid", "address"],
            Side::Kernel => &["ts_ns", "kind", "address"],
        };
        let mut lf = rec.scan_with(table, f, cols, false)?;
        if let (Side::User, Some(pid)) = (side, f.pid) {
            lf = lf.filter(col("tgid").eq(lit(pid)));
        }
        let mut strs = std::mem::take(&mut self.strs);
        rec.stream(table, lf, |fr| {
            let ts = fr.chunked_i64("ts_ns")?;
            let address = values_u64(&fr.chunked_u64("address")?);
            let owner: Vec<u32> = match side {
                Side::User => values_u64(&fr.chunked_u64("tgid")?)
                    .into_iter()
                    .map(|t| t as u32)
                    .collect(),
                Side::Kernel => strs.ids(&fr.chunked_str("kind")?),
            };
            for (i, t) in ts.iter().enumerate() {
                out.push((side, owner[i], address[i], t.unwrap_or_default()));
            }
            Ok(())
        })?;
        self.strs = strs;
        Ok(())
    }

    /// Gives each allocation the time of its free: a free matches the
    /// latest allocation of its key recorded strictly before it (at one
    /// `ts_ns`, a realloc's free of its old block comes first), unless that
    /// one is already freed.
    fn match_frees(&mut self, frees: &mut [(Side, u32, u64, i64)]) {
        let allocs = &mut self.allocs;
        let mut order: Vec<usize> = (0..allocs.len()).collect();
        order.sort_unstable_by_key(|&i| (allocs[i].key(), allocs[i].ts));
        frees.sort_unstable();
        let mut j = 0;
        let mut i = 0;
        while i < order.len() {
            let k = allocs[order[i]].key();
            let mut end = i;
            while end < order.len() && allocs[order[end]].key() == k {
                end += 1;
            }
            while j < frees.len() && (frees[j].0, frees[j].1, frees[j].2) < k {
                j += 1;
            }
            let (mut p, mut last) = (i, None);
            while j < frees.len() && (frees[j].0, frees[j].1, frees[j].2) == k {
                let t = frees[j].3;
                while p < end && allocs[order[p]].ts < t {
                    last = Some(order[p]);
                    p += 1;
                }
                if let Some(l) = last {
                    if allocs[l].freed == i64::MAX {
                        allocs[l].freed = t;
                    }
                }
                j += 1;
            }
            i = end;
        }
    }

    /// The sampling periods of a side (empty: every allocation recorded).
    pub fn periods(&self, side: Side) -> Vec<u64> {
        self.periods
            .get(&side)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Groups of `side` by what is outstanding at the window's end,
    /// largest (estimated) bytes first.
    pub fn outstanding(&self, side: Side) -> Vec<Stat> {
        let mut by: HashMap<u32, Stat> = HashMap::new();
        for a in self
            .allocs
            .iter()
            .filter(|a| a.side == side && a.outstanding(self.lo, self.hi))
        {
            by.entry(a.group)
                .or_insert_with(|| Stat::new(a.group))
                .add(a, true);
        }
        self.ranked(by)
    }

    /// Bytes of `side` outstanding over the window, as at its end
    /// ([`Self::outstanding`]: allocated from the window's start and not
    /// freed yet): its value after each change, as (ts_ns, bytes) in time
    /// order, one per timestamp. `owner` keeps one process (tgid) of the
    /// user heap; `None` keeps every allocation of the side.
    pub fn outstanding_steps(&self, side: Side, owner: Option<u32>) -> Vec<(i64, f64)> {
        let mut changes: Vec<(i64, f64)> = Vec::new();
        for a in self.allocs.iter().filter(|a| {
            a.side == side
                && owner.is_none_or(|o| a.owner == o)
                && a.ts >= self.lo
                && a.ts < self.hi
        }) {
            let b = a.bytes as f64 * a.weight;
            changes.push((a.ts, b));
            if a.freed < self.hi {
                changes.push((a.freed, -b));
            }
        }
        changes.sort_by_key(|c| c.0);
        let mut out: Vec<(i64, f64)> = Vec::with_capacity(changes.len());
        let mut now = 0.0;
        for (ts, d) in changes {
            now += d;
            match out.last_mut() {
                Some(last) if last.0 == ts => last.1 = now,
                _ => out.push((ts, now)),
            }
        }
        out
    }

    /// Groups of `side` by what they allocated in the window, with how much
    /// of it was freed by its end; largest bytes first.
    pub fn allocated(&self, side: Side) -> Vec<Stat> {
        let mut by: HashMap<u32, Stat> = HashMap::new();
        for a in self
            .allocs
            .iter()
            .filter(|a| a.side == side && a.ts >= self.lo && a.ts < self.hi)
        {
            let s = by.entry(a.group).or_insert_with(|| Stat::new(a.group));
            s.add(a, false);
            if a.freed < self.hi {
                s.freed_bytes += a.bytes as f64 * a.weight;
            }
        }
        self.ranked(by)
    }

    /// Groups of `side` by what they allocated in the window and still held
    /// at its end, counting only allocations at least `min_age_ns` old then,
    /// with the bytes each group allocated in the window; largest first.
    pub fn kept(&self, side: Side, min_age_ns: i64) -> Vec<(Stat, f64)> {
        let mut by: HashMap<u32, (Stat, f64)> = HashMap::new();
        let aged = self.to.saturating_sub(min_age_ns);
        for a in self
            .allocs
            .iter()
            .filter(|a| a.side == side && a.ts >= self.lo && a.ts < self.hi)
        {
            let e = by
                .entry(a.group)
                .or_insert_with(|| (Stat::new(a.group), 0.0));
            e.1 += a.bytes as f64 * a.weight;
            if a.outstanding(self.lo, self.hi) && a.ts <= aged {
                e.0.add(a, false);
            }
        }
        let allocated: HashMap<u32, f64> = by.iter().map(|(g, v)| (*g, v.1)).collect();
        let kept = by
            .into_iter()
            .filter(|(_, v)| v.0.recorded > 0)
            .map(|(g, v)| (g, v.0))
            .collect();
        self.ranked(kept)
            .into_iter()
            .map(|s| {
                let a = allocated.get(&s.group).copied().unwrap_or(0.0);
                (s, a)
            })
            .collect()
    }

    fn ranked(&self, by: HashMap<u32, Stat>) -> Vec<Stat> {
        let mut v: Vec<Stat> = by.into_values().collect();
        v.sort_by(|a, b| {
            b.bytes
                .total_cmp(&a.bytes)
                .then(b.recorded.cmp(&a.recorded))
                .then_with(|| {
                    self.groups[a.group as usize]
                        .key
                        .cmp(&self.groups[b.group as usize].key)
                })
        });
        v
    }

    fn name(&self, id: u32) -> &str {
        self.strs.name(id)
    }

    /// Names joined, most rows first (at most three).
    fn top_names(&self, m: &BTreeMap<u32, u64>) -> String {
        let mut v: Vec<(&u32, &u64)> = m.iter().collect();
        v.sort_by(|a, b| {
            b.1.cmp(a.1)
                .then_with(|| self.name(*a.0).cmp(self.name(*b.0)))
        });
        v.iter()
            .take(3)
            .map(|(id, _)| self.name(**id).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The stacks these groups name.
    fn stack_ids<'a>(&self, stats: impl IntoIterator<Item = &'a Stat>) -> BTreeSet<u64> {
        stats
            .into_iter()
            .filter_map(|s| match self.groups[s.group as usize].key.origin {
                Origin::Stack(id) => Some(id),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Frames and their names.

/// Kernel frames that are the tracing machinery the stack was taken from,
/// not code of the kernel's own: left out everywhere.
fn is_tracing(function: &str) -> bool {
    const P: &[&str] = &[
        "bpf_trace_run",
        "__bpf_trace_",
        "__traceiter_",
        "bpf_prog_",
        "trace_event_raw_event_",
        "perf_trace_",
        "bpf_get_stack",
        "__bpf_get_stack",
    ];
    P.iter().any(|p| function.starts_with(p))
}

/// Kernel frames inside the allocators: left out of the short `frames`
/// column and the large allocations' caller, so that they name who asked
/// (the full stacks keep them). Matched by name prefix: the allocators'
/// entry points change names between releases (`_noprof` suffixes since
/// 6.10, `kmalloc_trace`, `__kmem_cache_alloc_node`), their prefixes less.
fn is_allocator(function: &str) -> bool {
    const P: &[&str] = &[
        "__kmalloc",
        "kmalloc",
        "__kmem_cache_alloc",
        "kmem_cache_alloc",
        "kmem_cache_zalloc",
        "slab_alloc",
        "___slab_alloc",
        "__slab_alloc",
        "allocate_slab",
        "new_slab",
        "alloc_slab_page",
        "__alloc_pages",
        "alloc_pages",
        "__alloc_frozen_pages",
        "alloc_frozen_pages",
        "__folio_alloc",
        "folio_alloc",
        "get_page_from_freelist",
        "rmqueue",
        "__get_free_pages",
        "get_zeroed_page",
        "kmalloc_large",
        "__kvmalloc",
        "kvmalloc",
        "kzalloc",
        "krealloc",
        "__krealloc",
        "kmemdup",
        "kstrdup",
        "kstrndup",
        "pcpu_alloc",
        "__alloc_percpu",
        "alloc_pages_mpol",
        "vma_alloc_folio",
        "__do_kmalloc",
    ];
    P.iter().any(|p| function.starts_with(p))
}

/// The named frames of the stacks a report shows, leaf first (the store's
/// [`crate::stacks::symbolized_stacks`], without the tracing frames).
#[derive(Debug, Default)]
pub struct Stacks {
    by_id: HashMap<u64, Vec<Frame>>,
    call_sites: HashMap<u64, Frame>,
    /// What could not be named, for the notes.
    pub notes: Vec<String>,
}

impl Stacks {
    /// Reads and names the frames of `ids` (and the call sites `sites`).
    fn load(
        rec: &Recording,
        f: &Filter,
        ids: &BTreeSet<u64>,
        sites: &BTreeSet<u64>,
    ) -> Result<Stacks, ReadError> {
        let mut out = Stacks::default();
        if !ids.is_empty() {
            let named = symbolized_stacks(rec, ids.iter().copied(), &f.debuginfo)?;
            out.notes = named.notes;
            for (id, frames) in named.stacks {
                let kept = frames
                    .into_iter()
                    .filter(|n| !(n.kernel && n.function.as_deref().is_some_and(is_tracing)))
                    .collect();
                out.by_id.insert(id, kept);
            }
        }
        if !sites.is_empty() {
            let ksyms = KernelSymbols::read(rec)?;
            for &s in sites {
                // A call site is a return address (the caller's `_RET_IP_`).
                out.call_sites.insert(s, ksyms.frame(s, 1));
            }
        }
        Ok(out)
    }

    /// The frames of a group, leaf first (empty for none).
    fn frames(&self, origin: Origin) -> &[Frame] {
        match origin {
            Origin::Stack(id) => self.by_id.get(&id).map_or(&[], Vec::as_slice),
            Origin::CallSite(ip) => self.call_sites.get(&ip).map_or(&[], std::slice::from_ref),
            Origin::Unknown => &[],
        }
    }

    /// The leaf frames that say who allocated, leaf first: kernel
    /// allocator frames skipped (unless nothing else is left).
    fn short(&self, origin: Origin) -> String {
        let fr = self.frames(origin);
        if fr.is_empty() {
            return match origin {
                Origin::Stack(_) => "[stack frames missing]".into(),
                _ => "[no stack]".into(),
            };
        }
        let skip = fr
            .iter()
            .take_while(|n| n.kernel && n.function.as_deref().is_some_and(is_allocator))
            .count();
        let skip = if skip == fr.len() { 0 } else { skip };
        fr[skip..]
            .iter()
            .take(SHORT_FRAMES)
            .map(Frame::label)
            .collect::<Vec<_>>()
            .join(" < ")
    }
}

// ---------------------------------------------------------------------------
// The section.

report_row! {
    /// Heap allocations of one stack of one process outstanding at the
    /// window's end.
    pub struct UserRow {
        stack_id: Option<u64> => None,
        tgid: u32 => None,
        comm: String => None,
        bytes: u64 => Bytes,
        allocations: u64 => Count,
        recorded: u64 => Count,
        oldest_age: i64 => Ns,
        median_age: i64 => Ns,
        frames: String => None,
    }
}

report_row! {
    /// Kernel allocations of one stack and kind outstanding at the window's end.
    pub struct KernelRow {
        stack_id: Option<u64> => None,
        kind: String => None,
        cache: String => None,
        bytes: u64 => Bytes,
        allocations: u64 => Count,
        recorded: u64 => Count,
        oldest_age: i64 => Ns,
        median_age: i64 => Ns,
        comms: String => None,
        frames: String => None,
    }
}

report_row! {
    /// What one stack allocated in the window, per second.
    pub struct RateRow {
        stack_id: Option<u64> => None,
        owner: String => None,
        allocs_per_s: f64 => None,
        bytes_per_s: f64 => BytesPerSec,
        allocations: u64 => Count,
        bytes: u64 => Bytes,
        freed_share: f64 => Ratio,
        frames: String => None,
    }
}

report_row! {
    /// One slab cache's tracked objects at the window's start and end.
    pub struct SlabRow {
        cache: String => None,
        objects_from: u64 => Count,
        objects_to: u64 => Count,
        bytes_from: u64 => Bytes,
        bytes_to: u64 => Bytes,
        change: i64 => Bytes,
        bytes_per_s: f64 => BytesPerSec,
    }
}

report_row! {
    /// Large kernel allocations of one size from one caller.
    pub struct LargeRow {
        kind: String => None,
        size: u64 => Bytes,
        order: Option<u32> => None,
        caller: String => None,
        allocations: u64 => Count,
        outstanding: u64 => Count,
        bytes: u64 => Bytes,
        comms: String => None,
    }
}

report_row! {
    /// One frame of a stack the tables name, leaf first.
    pub struct FrameRow {
        stack_id: u64 => None,
        depth: u32 => None,
        function: String => None,
        /// A user module's path; `[ext4]` for a kernel module, `[kernel]`
        /// for the image.
        module: String => None,
        /// User: the file offset; kernel: from the function's start.
        offset: String => None,
        ip: String => None,
    }
}

fn human_bytes(b: u64) -> String {
    crate::render::human_bytes(b as f64)
}

/// The sampling sentence of a side.
fn sampling_note(side: Side, periods: &[u64]) -> Option<String> {
    if periods.is_empty() {
        return None;
    }
    let list = periods
        .iter()
        .map(|p| human_bytes(*p))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "ESTIMATES ({}): allocations were sampled by bytes, one per {list} allocated on average \
         (`--alloc-sample`): allocations and bytes are scaled by 1/p, p = 1 − exp(−bytes / \
         period); `recorded` counts the rows behind each estimate.",
        side.name()
    ))
}

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = SectionReport::new(SECTION.id, SECTION.title);
    let mut used: Vec<&str> = Vec::new();
    for side in [Side::User, Side::Kernel] {
        if rec.group_state(side.group()) == GroupState::Recorded {
            used.push(side.group());
        }
    }
    if used.is_empty() {
        r.status = Status::NotRecorded(not_recorded(rec, Sides::default()));
        return Ok(r);
    }
    if rec.group_state("stacks") == GroupState::Recorded {
        used.push("stacks");
    }
    let (lossy, notes) = rec.loss_notes(&used);
    r.lossy = lossy;
    r.notes = notes;
    let l = Leaks::load(rec, f, Sides::default())?;
    let user = l.outstanding(Side::User);
    let kernel = l.outstanding(Side::Kernel);
    let user_rate = l.allocated(Side::User);
    let kernel_rate = l.allocated(Side::Kernel);
    let top = |v: &[Stat]| -> Vec<Stat> {
        if f.top == 0 {
            v.to_vec()
        } else {
            v.iter().take(f.top).cloned().collect()
        }
    };
    let shown: Vec<Stat> = [&user, &kernel, &user_rate, &kernel_rate]
        .iter()
        .flat_map(|v| top(v))
        .collect();
    let ids = l.stack_ids(&shown);
    let mut sites: BTreeSet<u64> = shown
        .iter()
        .filter_map(|s| match l.groups[s.group as usize].key.origin {
            Origin::CallSite(c) => Some(c),
            _ => None,
        })
        .collect();
    let mut ids = ids;
    // The groups whose outstanding allocations are a leak finding.
    let leaking: Vec<(Side, Stat, f64)> = [Side::User, Side::Kernel]
        .into_iter()
        .flat_map(|side| {
            l.kept(side, LEAK_MIN_AGE_NS)
                .into_iter()
                .filter(|(s, allocated)| is_leak(s, *allocated))
                .map(move |(s, a)| (side, s, a))
        })
        .collect();
    ids.extend(l.stack_ids(leaking.iter().map(|x| &x.1)));
    for g in &l.large {
        if let Some(s) = g.stack {
            ids.insert(s);
        }
        if let Some(c) = g.call_site {
            sites.insert(c);
        }
    }
    let stacks = Stacks::load(rec, f, &ids, &sites)?;
    r.notes.extend(stacks.notes.iter().cloned());
    r.findings = leak_findings(rec, &l, &stacks, &leaking);
    for side in l.recorded.clone() {
        let groups = leaking.iter().filter(|x| x.0 == side);
        let bytes: f64 = groups.clone().map(|x| x.1.bytes).sum();
        let name = side.name();
        r.metrics.push(Metric::new(
            format!("leaks.{name}.leaking_groups"),
            groups.count() as u64,
            Unit::Count,
        ));
        r.metrics.push(Metric::new(
            format!("leaks.{name}.leaking_bytes"),
            est(bytes),
            Unit::Bytes,
        ));
    }
    let span_s = ((l.to - l.from).max(1)) as f64 / 1e9;
    r.notes.push(format!(
        "Outstanding: allocated in the window (+{:.3}s..+{:.3}s) and not freed by its end; a \
         free matches the latest earlier allocation of its address (per process for the heap, \
         per kind for the kernel; pages by pfn). Only recorded allocations are tracked: what was \
         allocated before the recording began, and its frees, are not here. A process that \
         exits returns its heap without freeing it: its allocations stay outstanding.",
        (l.from - rec.start_ns) as f64 / 1e9,
        (l.to - rec.start_ns) as f64 / 1e9,
    ));
    for side in [Side::User, Side::Kernel] {
        if let Some(n) = sampling_note(side, &l.periods(side)) {
            r.notes.push(n);
        }
    }
    if !l.recorded.contains(&Side::User) {
        r.notes.push(
            "User heap: not recorded (memrec record --probes +memleak --pid PID).".to_string(),
        );
    }
    if !l.recorded.contains(&Side::Kernel) {
        r.notes
            .push("Kernel allocations: not recorded (memrec record --probes +kmemleak).".into());
    }
    // User heap.
    let mut user_rows = Vec::new();
    for mut s in user.iter().cloned() {
        let g = &l.groups[s.group as usize];
        let median = s.median();
        user_rows.push(UserRow {
            stack_id: origin_id(g.key.origin),
            tgid: g.key.owner,
            comm: l.name(g.comm).to_string(),
            bytes: est(s.bytes),
            allocations: est(s.count),
            recorded: s.recorded,
            oldest_age: (l.to - s.oldest).max(0),
            median_age: (l.to - median).max(0),
            frames: stacks.short(g.key.origin),
        });
    }
    let mut kernel_rows = Vec::new();
    for mut s in kernel.iter().cloned() {
        let g = &l.groups[s.group as usize];
        let median = s.median();
        kernel_rows.push(KernelRow {
            stack_id: origin_id(g.key.origin),
            kind: l.name(g.key.owner).to_string(),
            cache: l.top_names(&s.caches),
            bytes: est(s.bytes),
            allocations: est(s.count),
            recorded: s.recorded,
            oldest_age: (l.to - s.oldest).max(0),
            median_age: (l.to - median).max(0),
            comms: l.top_names(&s.comms),
            frames: stacks.short(g.key.origin),
        });
    }
    // The stacks table: the top user and kernel stacks first (the text
    // shows those), then the rest of both tables.
    let mut frame_order: Vec<u64> = Vec::new();
    let mut head = 0usize;
    for id in [
        user_rows.first().and_then(|r| r.stack_id),
        kernel_rows.first().and_then(|r| r.stack_id),
    ]
    .into_iter()
    .flatten()
    {
        frame_order.push(id);
        head += stacks.frames(Origin::Stack(id)).len();
    }
    frame_order.extend(
        user_rows
            .iter()
            .take(top_n(f.top, user_rows.len()))
            .filter_map(|r| r.stack_id),
    );
    frame_order.extend(
        kernel_rows
            .iter()
            .take(top_n(f.top, kernel_rows.len()))
            .filter_map(|r| r.stack_id),
    );
    if l.recorded.contains(&Side::User) {
        push_totals(
            &mut r,
            "leaks.user",
            "comm",
            user_rows
                .iter()
                .map(|x| (x.comm.as_str(), x.bytes, x.allocations)),
        );
    }
    if l.recorded.contains(&Side::Kernel) {
        push_totals(
            &mut r,
            "leaks.kernel",
            "kind",
            kernel_rows
                .iter()
                .map(|x| (x.kind.as_str(), x.bytes, x.allocations)),
        );
    }
    push_ranked(
        &mut r,
        "user_outstanding",
        "User heap outstanding at the window's end, by stack (frames: leaf < callers)",
        user_rows,
        f.top,
    );
    push_ranked(
        &mut r,
        "kernel_outstanding",
        "Kernel allocations outstanding at the window's end, by stack and kind (frames: the \
         first callers outside the allocator)",
        kernel_rows,
        f.top,
    );
    // Rates.
    for (side, stats, id, title) in [
        (
            Side::User,
            &user_rate,
            "user_rate",
            "User heap allocations in the window by stack (memleak -a), per second",
        ),
        (
            Side::Kernel,
            &kernel_rate,
            "kernel_rate",
            "Kernel allocations in the window by stack and kind, per second",
        ),
    ] {
        let rows = stats.iter().map(|s| {
            let g = &l.groups[s.group as usize];
            RateRow {
                stack_id: origin_id(g.key.origin),
                owner: match side {
                    Side::User => format!("{} {}", g.key.owner, l.name(g.comm)),
                    Side::Kernel => {
                        let c = l.top_names(&s.caches);
                        if c.is_empty() {
                            l.name(g.key.owner).to_string()
                        } else {
                            format!("{} {c}", l.name(g.key.owner))
                        }
                    }
                },
                allocs_per_s: s.count / span_s,
                bytes_per_s: s.bytes / span_s,
                allocations: est(s.count),
                bytes: est(s.bytes),
                freed_share: if s.bytes > 0.0 {
                    s.freed_bytes / s.bytes
                } else {
                    0.0
                },
                frames: stacks.short(g.key.origin),
            }
        });
        push_ranked(&mut r, id, title, rows, f.top);
    }
    // Slab growth.
    if l.recorded.contains(&Side::Kernel) {
        r.findings.extend(slab_peaks(&l));
        let slabs = slab_growth(&l);
        let grown: i64 = slabs.iter().map(|s| s.change).sum();
        r.metrics.push(Metric::new(
            "leaks.kernel.slab_growth_bytes",
            grown,
            Unit::Bytes,
        ));
        push_ranked(
            &mut r,
            "slab_growth",
            "Slab caches by tracked growth over the window (objects recorded since the \
             recording began and not freed, at the window's start and end)",
            slabs,
            f.top,
        );
        let large = large_rows(&l, &stacks);
        r.metrics.push(Metric::new(
            "leaks.kernel.large_allocations",
            large.iter().map(|x| x.allocations).sum::<u64>(),
            Unit::Count,
        ));
        push_ranked(
            &mut r,
            "large_allocations",
            &format!(
                "Large kernel allocations in the window: kmalloc of {} or more, pages of order {} \
                 or more",
                human_bytes(LARGE_KMALLOC),
                LARGE_ORDER
            ),
            large,
            f.top,
        );
    }
    // Full stacks: every row in JSON and CSV; the text shows the top ones.
    let mut seen = BTreeSet::new();
    frame_order.retain(|id| seen.insert(*id));
    let mut t = Table::of::<FrameRow>(
        "stack_frames",
        "Stacks of the outstanding tables, leaf first (the top ones here; --format json has \
         every frame)",
    );
    for id in &frame_order {
        for (depth, n) in stacks.frames(Origin::Stack(*id)).iter().enumerate() {
            t.push_row(FrameRow {
                stack_id: *id,
                depth: depth as u32,
                function: n.function.clone().unwrap_or_else(|| "?".into()),
                module: match (&n.module, n.kernel) {
                    (Some(m), true) => format!("[{m}]"),
                    (Some(m), false) => m.clone(),
                    (None, true) => "[kernel]".into(),
                    (None, false) => "[no mapping]".into(),
                },
                offset: n.offset.map(|o| format!("{o:#x}")).unwrap_or_default(),
                ip: format!("{:#x}", n.ip),
            });
        }
    }
    r.tables.push(t.with_text_limit(TextLimit::Head(head)));
    if l.allocs.is_empty() {
        r.notes
            .push("No allocation recorded before the window's end.".into());
    }
    Ok(r)
}

/// Whether a group's kept allocations (see [`Leaks::kept`]) are a leak:
/// enough of them, and most of what the group allocated in the window.
fn is_leak(kept: &Stat, allocated: f64) -> bool {
    kept.count >= LEAK_MIN_ALLOCATIONS && kept.bytes >= LEAK_MIN_KEPT_SHARE * allocated
}

/// The section's findings: per process, its heap's leaking groups together
/// (named by the largest one's stack); per kernel group, its own. Score:
/// bytes held per second since the oldest of them was allocated.
fn leak_findings(
    rec: &Recording,
    l: &Leaks,
    stacks: &Stacks,
    leaking: &[(Side, Stat, f64)],
) -> Vec<Finding> {
    struct Held<'a> {
        side: Side,
        /// The largest group (by bytes kept).
        top: &'a Stat,
        bytes: f64,
        count: f64,
        allocated: f64,
        oldest: i64,
        /// Whether any row of it stands for more than one allocation.
        sampled: bool,
    }
    // Under byte sampling a row's weight is above 1.
    let sampled = |s: &Stat| s.count > s.recorded as f64 + 1e-9;
    let mut held: Vec<Held> = Vec::new();
    // `leaking` is largest first per side: the first group of a process is its top.
    let mut by_tgid: HashMap<u32, usize> = HashMap::new();
    for (side, s, allocated) in leaking {
        let key = l.groups[s.group as usize].key;
        let slot = match side {
            Side::User => by_tgid.get(&key.owner).copied(),
            Side::Kernel => None,
        };
        match slot {
            Some(i) => {
                let h = &mut held[i];
                h.bytes += s.bytes;
                h.count += s.count;
                h.allocated += allocated;
                h.oldest = h.oldest.min(s.oldest);
                h.sampled |= sampled(s);
            }
            None => {
                if *side == Side::User {
                    by_tgid.insert(key.owner, held.len());
                }
                held.push(Held {
                    side: *side,
                    top: s,
                    bytes: s.bytes,
                    count: s.count,
                    allocated: *allocated,
                    oldest: s.oldest,
                    sampled: sampled(s),
                });
            }
        }
    }
    held.iter()
        .map(|h| {
            let g = &l.groups[h.top.group as usize];
            let amount = format!(
                "{}{} in {} allocations",
                if h.sampled { "an estimated " } else { "" },
                human_bytes(est(h.bytes)),
                est(h.count)
            );
            let stack = stacks.short(g.key.origin);
            let age_s = (l.to - h.oldest).max(0) as f64 / 1e9;
            let share = if h.allocated > 0.0 {
                h.bytes / h.allocated * 100.0
            } else {
                100.0
            };
            let (summary, pid) = match h.side {
                Side::User => (
                    format!(
                        "Outstanding heap: {} pid {} holds {amount} not freed (memleak), top \
                         stack {stack}",
                        l.name(g.comm),
                        g.key.owner
                    ),
                    Some(g.key.owner),
                ),
                Side::Kernel => {
                    let cache = l.top_names(&h.top.caches);
                    let what = if cache.is_empty() {
                        l.name(g.key.owner).to_string()
                    } else {
                        format!("{} {cache}", l.name(g.key.owner))
                    };
                    (
                        format!(
                            "Outstanding kernel memory: {what} holds {amount} not freed \
                             (kmemleak), allocated by {}, top stack {stack}",
                            l.top_names(&h.top.comms)
                        ),
                        None,
                    )
                }
            };
            let see = match pid {
                Some(p) => format!("memana leaks {} --pid {p}", rec.name),
                None => format!("memana leaks {} --kernel", rec.name),
            };
            let mut out = Finding::new(Severity::Warning, FindingKind::LeakSuspect, summary)
                .score(h.bytes / age_s.max(1e-9))
                .at(h.oldest)
                .detail(format!(
                    "{share:.0}% of what those stacks allocated in the window, the oldest \
                     {age_s:.1} s old at its end; the stacks: `{see}`"
                ));
            if let Some(p) = pid {
                out = out.task(p, l.name(g.comm));
            }
            out
        })
        .collect()
}

/// `<prefix>.outstanding_bytes` and `_allocations`, in all and per `label`.
fn push_totals<'a>(
    r: &mut SectionReport,
    prefix: &str,
    label: &str,
    rows: impl Iterator<Item = (&'a str, u64, u64)>,
) {
    let mut by: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (k, b, n) in rows {
        let e = by.entry(k).or_default();
        e.0 += b;
        e.1 += n;
    }
    let bytes = format!("{prefix}.outstanding_bytes");
    let allocs = format!("{prefix}.outstanding_allocations");
    let (b, n) = by
        .values()
        .fold((0, 0), |acc, v| (acc.0 + v.0, acc.1 + v.1));
    r.metrics.push(Metric::new(&bytes, b, Unit::Bytes));
    r.metrics.push(Metric::new(&allocs, n, Unit::Count));
    for (k, (b, n)) in by {
        r.metrics
            .push(Metric::new(&bytes, b, Unit::Bytes).label(label, k));
        r.metrics
            .push(Metric::new(&allocs, n, Unit::Count).label(label, k));
    }
}

fn top_n(top: usize, len: usize) -> usize {
    if top == 0 {
        len
    } else {
        top.min(len)
    }
}

fn origin_id(o: Origin) -> Option<u64> {
    match o {
        Origin::Stack(id) => Some(id),
        _ => None,
    }
}

fn slab_growth(l: &Leaks) -> Vec<SlabRow> {
    // Per cache: (objects, bytes) at the window's start and end.
    let mut by: BTreeMap<u32, [f64; 4]> = BTreeMap::new();
    for a in l
        .allocs
        .iter()
        .filter(|a| a.side == Side::Kernel && a.cache != u32::MAX)
    {
        let e = by.entry(a.cache).or_default();
        if a.outstanding(i64::MIN, l.lo) {
            e[0] += a.weight;
            e[1] += a.bytes as f64 * a.weight;
        }
        if a.outstanding(i64::MIN, l.hi) {
            e[2] += a.weight;
            e[3] += a.bytes as f64 * a.weight;
        }
    }
    let span_s = ((l.to - l.from).max(1)) as f64 / 1e9;
    let mut rows: Vec<SlabRow> = by
        .into_iter()
        .map(|(c, v)| SlabRow {
            cache: l.name(c).to_string(),
            objects_from: est(v[0]),
            objects_to: est(v[2]),
            bytes_from: est(v[1]),
            bytes_to: est(v[3]),
            change: est(v[3]) as i64 - est(v[1]) as i64,
            bytes_per_s: (v[3] - v[1]) / span_s,
        })
        // A cache whose tracked objects were all freed at both ends has
        // nothing to say here (the rate tables show its churn).
        .filter(|r| r.objects_from > 0 || r.objects_to > 0)
        .collect();
    rows.sort_by(|a, b| b.change.cmp(&a.change).then_with(|| a.cache.cmp(&b.cache)));
    rows
}

/// Slab caches whose tracked objects piled up during the window, as
/// findings: the peak of objects outstanding (allocated in the window and
/// not yet freed), when, by whom, and how many were left at its end. A
/// workload that holds many kernel objects for a while (sockets, files)
/// shows here even when it freed them all, as no leak finding would.
fn slab_peaks(l: &Leaks) -> Vec<Finding> {
    /// Fewer objects at the peak are everyday churn.
    const MIN_PEAK: f64 = 256.0;
    // Per cache: (time, objects, bytes) steps, and allocations per comm.
    let mut steps: BTreeMap<u32, Vec<(i64, f64, f64)>> = BTreeMap::new();
    let mut by_comm: BTreeMap<u32, BTreeMap<u32, f64>> = BTreeMap::new();
    for a in l
        .allocs
        .iter()
        .filter(|a| a.side == Side::Kernel && a.cache != u32::MAX && a.ts >= l.from && a.ts < l.to)
    {
        let bytes = a.bytes as f64 * a.weight;
        let e = steps.entry(a.cache).or_default();
        e.push((a.ts, a.weight, bytes));
        if a.freed < l.to {
            e.push((a.freed, -a.weight, -bytes));
        }
        *by_comm
            .entry(a.cache)
            .or_default()
            .entry(a.comm)
            .or_default() += a.weight;
    }
    let mut out = Vec::new();
    for (cache, mut st) in steps {
        // Frees before allocations at the same instant: a peak is never
        // counted from an object already gone.
        st.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let (mut n, mut bytes) = (0.0f64, 0.0f64);
        let (mut peak, mut peak_bytes, mut peak_ts) = (0.0f64, 0.0f64, 0i64);
        for (ts, dn, db) in st {
            n += dn;
            bytes += db;
            if n > peak {
                (peak, peak_bytes, peak_ts) = (n, bytes, ts);
            }
        }
        if peak < MIN_PEAK {
            continue;
        }
        let who = by_comm
            .get(&cache)
            .and_then(|m| m.iter().max_by(|a, b| a.1.total_cmp(b.1)))
            .map(|(c, _)| l.name(*c).to_string())
            .unwrap_or_default();
        out.push(
            Finding::new(
                Severity::Info,
                FindingKind::SlabPeak,
                format!(
                    "Kernel objects held: {} peaked at {} objects ({}) outstanding, allocated \
                     mostly by {who}; {} left at the window's end",
                    l.name(cache),
                    est(peak),
                    human_bytes(est(peak_bytes)),
                    est(n.max(0.0)),
                ),
            )
            .score(peak_bytes)
            .at(peak_ts),
        );
    }
    out
}

fn large_rows(l: &Leaks, stacks: &Stacks) -> Vec<LargeRow> {
    #[derive(Default)]
    struct Acc {
        n: f64,
        out: f64,
        bytes: f64,
        comms: BTreeMap<u32, u64>,
    }
    let mut by: BTreeMap<(String, u64, Option<u32>, String), Acc> = BTreeMap::new();
    for g in &l.large {
        let a = &l.allocs[g.alloc];
        if a.ts < l.lo || a.ts >= l.hi {
            continue;
        }
        let caller = match g.kind {
            Kind::Kmalloc => g
                .call_site
                .map(|c| stacks.short(Origin::CallSite(c)))
                .or_else(|| g.stack.map(|s| stacks.short(Origin::Stack(s)))),
            _ => g.stack.map(|s| stacks.short(Origin::Stack(s))),
        }
        .map(|s| s.split(" < ").next().unwrap_or_default().to_string())
        .unwrap_or_else(|| "[no stack]".into());
        let kind = match g.kind {
            Kind::Kmalloc => "kmalloc",
            Kind::Page => "page",
            Kind::Cache => "cache",
            Kind::Percpu => "percpu",
        };
        let e = by
            .entry((kind.to_string(), a.bytes, g.order, caller))
            .or_default();
        e.n += a.weight;
        e.bytes += a.bytes as f64 * a.weight;
        if a.outstanding(l.lo, l.hi) {
            e.out += a.weight;
        }
        *e.comms.entry(a.comm).or_default() += 1;
    }
    let mut rows: Vec<LargeRow> = by
        .into_iter()
        .map(|((kind, size, order, caller), a)| LargeRow {
            kind,
            size,
            order,
            caller,
            allocations: est(a.n),
            outstanding: est(a.out),
            bytes: est(a.bytes),
            comms: l.top_names(&a.comms),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| (&a.kind, &a.caller, a.size).cmp(&(&b.kind, &b.caller, b.size)))
    });
    rows
}

/// Why none of `sides` can be shown: what to record, and the recording's
/// reason for a group it tried and did not record (skipped, failed).
fn not_recorded(rec: &Recording, sides: Sides) -> String {
    let mut what = Vec::new();
    let mut why = Vec::new();
    for (side, want, text) in [
        (Side::User, sides.user, "the user heap (memleak)"),
        (Side::Kernel, sides.kernel, "kernel allocations (kmemleak)"),
    ] {
        if !want {
            continue;
        }
        what.push(text);
        let tried = rec.meta.groups.iter().any(|g| g.name == side.group());
        if let (true, GroupState::NotRecorded(w)) = (tried, rec.group_state(side.group())) {
            why.push(w);
        }
    }
    let mut s = format!(
        "{} {} not recorded (memrec record --probes +memleak --pid PID for a process's heap and \
         its kernel allocations, --probes +kmemleak for the kernel's)",
        what.join(" and "),
        if what.len() > 1 { "were" } else { "was" }
    );
    if !why.is_empty() {
        s.push_str(&format!(": {}", why.join("; ")));
    }
    s
}

/// Leak suspects whose links [`growth_links`] gives, at most.
const GROWTH_LINKS: usize = 3;

/// The growth section's link from a leak verdict to the stacks: for each
/// suspect process (tgid, comm; the first few), when memleak recorded its
/// heap and something of it is outstanding in the window, a sentence naming
/// its top outstanding stack and the commands that show them all; with the
/// suspect's tgid.
pub fn growth_links(
    rec: &Recording,
    f: &Filter,
    suspects: &[(u32, &str)],
) -> Result<Vec<(u32, String)>, ReadError> {
    let mut out = Vec::new();
    if suspects.is_empty() || rec.group_state(Side::User.group()) != GroupState::Recorded {
        return Ok(out);
    }
    for &(tgid, comm) in suspects.iter().take(GROWTH_LINKS) {
        let pf = Filter {
            pid: Some(tgid),
            comm: None,
            ..f.clone()
        };
        let sides = Sides {
            user: true,
            kernel: false,
        };
        let l = Leaks::load(rec, &pf, sides)?;
        let stats = l.outstanding(Side::User);
        let Some(top) = stats.first() else {
            continue;
        };
        let total: f64 = stats.iter().map(|s| s.bytes).sum();
        let origin = l.groups[top.group as usize].key.origin;
        let ids = l.stack_ids(std::iter::once(top));
        let stacks = Stacks::load(rec, &pf, &ids, &BTreeSet::new())?;
        let estimate = if l.periods(Side::User).is_empty() {
            ""
        } else {
            "estimated "
        };
        out.push((
            tgid,
            format!(
                "Leak suspect {tgid} ({comm}): its heap's top outstanding stack is {} ({}{} of {} \
             outstanding); all of them: `memana report {file} --section leaks --pid {tgid}`, \
             full stacks: `memana leaks {file} --pid {tgid}`.",
                stacks.short(origin),
                estimate,
                human_bytes(est(top.bytes)),
                human_bytes(est(total)),
                file = rec.name,
            ),
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// `memana leaks`: outstanding stacks as text, JSON or folded stacks.

/// One outstanding stack as `memana leaks` prints it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub side: Side,
    pub stack_id: Option<u64>,
    /// User: the process; kernel: None.
    pub tgid: Option<u32>,
    pub comm: String,
    /// Kernel: the kind and the caches.
    pub kind: Option<String>,
    pub cache: Option<String>,
    pub bytes: u64,
    pub allocations: u64,
    pub recorded: u64,
    pub oldest_age_ns: i64,
    pub median_age_ns: i64,
    /// Leaf first.
    pub frames: Vec<Frame>,
}

/// What `memana leaks` prints.
#[derive(Debug)]
pub struct Outstanding {
    pub from: i64,
    pub to: i64,
    pub start: i64,
    pub entries: Vec<Entry>,
    /// Folded lines: (comm;root;...;leaf, estimated bytes), per allocating
    /// comm and stack.
    pub folded: Vec<(String, u64)>,
    pub periods: BTreeMap<Side, Vec<u64>>,
    pub recorded: Vec<Side>,
    pub notes: Vec<String>,
}

/// Why `memana leaks` has nothing to print.
#[derive(Debug, thiserror::Error)]
pub enum LeaksError {
    /// Neither asked group was recorded.
    #[error("{0}")]
    NotRecorded(String),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Reads the outstanding allocations of `sides` at the window's end.
/// `top` cuts the entries (0 keeps all); the folded lines are never cut.
pub fn outstanding(
    rec: &Recording,
    f: &Filter,
    sides: Sides,
    top: usize,
) -> Result<Outstanding, LeaksError> {
    let any = [(Side::User, sides.user), (Side::Kernel, sides.kernel)]
        .iter()
        .any(|&(side, want)| want && rec.group_state(side.group()) == GroupState::Recorded);
    if !any {
        return Err(LeaksError::NotRecorded(not_recorded(rec, sides)));
    }
    let l = Leaks::load(rec, f, sides)?;
    let mut stats: Vec<Stat> = Vec::new();
    for side in [Side::User, Side::Kernel] {
        stats.extend(l.outstanding(side));
    }
    stats.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    let ids = l.stack_ids(&stats);
    let sites: BTreeSet<u64> = stats
        .iter()
        .filter_map(|s| match l.groups[s.group as usize].key.origin {
            Origin::CallSite(c) => Some(c),
            _ => None,
        })
        .collect();
    let stacks = Stacks::load(rec, f, &ids, &sites)?;
    // Folded: per comm of the allocating task and stack.
    let mut folded: BTreeMap<String, f64> = BTreeMap::new();
    for a in l.allocs.iter().filter(|a| a.outstanding(l.lo, l.hi)) {
        let g = &l.groups[a.group as usize];
        let mut line = fold_name(l.name(a.comm));
        let frames = stacks.frames(g.key.origin);
        line.push(';');
        if frames.is_empty() {
            line.push_str(&stacks.short(g.key.origin));
        } else {
            line.push_str(&folded_stack(frames));
        }
        *folded.entry(line).or_default() += a.bytes as f64 * a.weight;
    }
    let mut folded: Vec<(String, u64)> = folded
        .into_iter()
        .map(|(k, v)| (k, est(v)))
        .filter(|(_, v)| *v > 0)
        .collect();
    folded.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n = top_n(top, stats.len());
    let entries = stats
        .into_iter()
        .take(n)
        .map(|mut s| {
            let g = &l.groups[s.group as usize];
            let median = s.median();
            let kernel = g.key.side == Side::Kernel;
            Entry {
                side: g.key.side,
                stack_id: origin_id(g.key.origin),
                tgid: (!kernel).then_some(g.key.owner),
                comm: if kernel {
                    l.top_names(&s.comms)
                } else {
                    l.name(g.comm).to_string()
                },
                kind: kernel.then(|| l.name(g.key.owner).to_string()),
                cache: (kernel && !s.caches.is_empty()).then(|| l.top_names(&s.caches)),
                bytes: est(s.bytes),
                allocations: est(s.count),
                recorded: s.recorded,
                oldest_age_ns: (l.to - s.oldest).max(0),
                median_age_ns: (l.to - median).max(0),
                frames: stacks.frames(g.key.origin).to_vec(),
            }
        })
        .collect();
    let mut periods = BTreeMap::new();
    let mut notes = stacks.notes.clone();
    for side in &l.recorded {
        let p = l.periods(*side);
        if let Some(n) = sampling_note(*side, &p) {
            notes.push(n);
        }
        periods.insert(*side, p);
    }
    Ok(Outstanding {
        from: l.from,
        to: l.to,
        start: l.start,
        entries,
        folded,
        periods,
        recorded: l.recorded.clone(),
        notes,
    })
}

/// A frame or comm as one folded-stack element: no `;` (the separator),
/// no control characters or line breaks.
fn fold_name(s: &str) -> String {
    let s = memtrace_cli::error::escape(s);
    let s = s.replace(';', ":");
    if s.is_empty() {
        "?".into()
    } else {
        s
    }
}

impl Outstanding {
    /// `comm;root;...;leaf bytes` lines (flamegraph.pl, inferno, speedscope).
    pub fn to_folded(&self) -> String {
        let mut s = String::new();
        for (line, bytes) in &self.folded {
            s.push_str(line);
            s.push(' ');
            s.push_str(&bytes.to_string());
            s.push('\n');
        }
        s
    }

    pub fn to_json(&self, file: &str) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "side": e.side.name(),
                    "stack_id": e.stack_id,
                    "tgid": e.tgid,
                    "comm": e.comm,
                    "kind": e.kind,
                    "cache": e.cache,
                    "bytes": e.bytes,
                    "allocations": e.allocations,
                    "recorded": e.recorded,
                    "oldest_age_ns": e.oldest_age_ns,
                    "median_age_ns": e.median_age_ns,
                    "frames": e.frames.iter().map(|n| json!({
                        "function": n.function,
                        "module": n.module,
                        "offset": n.offset,
                        "ip": n.ip,
                        "kernel": n.kernel,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let periods: serde_json::Map<String, serde_json::Value> = self
            .periods
            .iter()
            .map(|(s, p)| (s.name().to_string(), json!(p)))
            .collect();
        json!({
            "format_version": crate::render::json::REPORT_FORMAT_VERSION,
            "file": file,
            "window": {"from_ns": self.from, "to_ns": self.to},
            "estimated": self.periods.values().any(|p| !p.is_empty()),
            "sample_bytes": periods,
            "notes": self.notes,
            "stacks": entries,
        })
    }

    /// bcc memleak's layout: each stack with its bytes, count and ages.
    pub fn to_text(&self, file: &str) -> String {
        use crate::render::{clean, clean_to, NOTE_CAP};
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: outstanding at +{:.3}s, allocated since +{:.3}s",
            clean(file),
            (self.to - self.start) as f64 / 1e9,
            (self.from - self.start) as f64 / 1e9
        );
        for n in &self.notes {
            let _ = writeln!(s, "* {}", clean_to(n, NOTE_CAP));
        }
        if self.entries.is_empty() {
            let _ = writeln!(s, "\nNothing outstanding.");
        }
        for e in &self.entries {
            let who = match e.side {
                Side::User => format!("tgid {} {}", e.tgid.unwrap_or_default(), clean(&e.comm)),
                Side::Kernel => format!(
                    "kernel {}{} (by {})",
                    clean(e.kind.as_deref().unwrap_or("")),
                    e.cache
                        .as_deref()
                        .map(|c| format!(" {}", clean(c)))
                        .unwrap_or_default(),
                    clean(&e.comm)
                ),
            };
            let _ = writeln!(
                s,
                "\n{} in {} allocation{} from {who}, oldest {:.3} s, median {:.3} s{}:",
                human_bytes(e.bytes),
                e.allocations,
                if e.allocations == 1 { "" } else { "s" },
                e.oldest_age_ns as f64 / 1e9,
                e.median_age_ns as f64 / 1e9,
                e.stack_id
                    .map(|i| format!(", stack {i}"))
                    .unwrap_or_default()
            );
            if e.frames.is_empty() {
                let _ = writeln!(s, "    [no stack]");
            }
            for n in &e.frames {
                let _ = writeln!(s, "    {:#018x} {}", n.ip, clean(&n.detail()));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::testutil::{hdr, Builder};
    use memtrace_schema::tables::kmemleak::{kernel_alloc, kernel_free};
    use memtrace_schema::tables::memleak::{user_alloc, user_free};
    use memtrace_schema::tables::stacks::{kernel_symbol, module_map, stack_frame};
    use memtrace_schema::Text;

    const S: i64 = 1_000_000_000;
    /// The recordings start here (CLOCK_BOOTTIME-like).
    const T0: i64 = 100 * S;

    fn malloc(b: &mut Builder, ts: i64, tgid: u32, address: u64, size: u64, stack: Option<u64>) {
        b.add(
            hdr(T0 + ts, tgid, tgid, "app"),
            &user_alloc::Row {
                call: "malloc".into(),
                address,
                size,
                stack_id: stack,
                ..Default::default()
            },
        );
    }

    fn free(b: &mut Builder, ts: i64, tgid: u32, call: &'static str, address: u64) {
        b.add(
            hdr(T0 + ts, tgid + 1, tgid, "worker"),
            &user_free::Row {
                call: call.into(),
                address,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn kalloc(
        b: &mut Builder,
        ts: i64,
        kind: &'static str,
        address: u64,
        bytes: u64,
        cache: Option<&'static str>,
        order: Option<u32>,
        stack: Option<u64>,
    ) {
        b.add(
            hdr(T0 + ts, 7, 7, "kworker"),
            &kernel_alloc::Row {
                kind: kind.into(),
                address,
                bytes_req: (kind != "page").then_some(bytes),
                bytes_alloc: bytes,
                cache: cache.map(Text::from),
                order,
                call_site: (kind != "page").then_some(0xffff_0000_0000_2010),
                gfp_flags: "GFP_KERNEL".into(),
                stack_id: stack,
                ..Default::default()
            },
        );
    }

    fn kfree(b: &mut Builder, ts: i64, kind: &'static str, address: u64) {
        b.add(
            hdr(T0 + ts, 9, 9, "other"),
            &kernel_free::Row {
                kind: kind.into(),
                address,
                call_site: None,
            },
        );
    }

    fn frame(b: &mut Builder, tgid: u32, stack_id: u64, depth: u32, ip: u64, kernel: bool) {
        b.add(
            hdr(T0, tgid, tgid, "app"),
            &stack_frame::Row {
                stack_id,
                depth,
                ip,
                kernel,
            },
        );
    }

    /// Kernel symbols at 0x...1000 (`__kmalloc`), 0x...2000
    /// (`alloc_thing`, in module `thing`), 0x...3000 (`do_syscall`), and
    /// kernel stack 900 through them, leaf first.
    fn kernel_stack(b: &mut Builder) {
        for (a, n, m) in [
            (0x1000u64, "__kmalloc", None),
            (0x2000, "alloc_thing", Some("thing")),
            (0x3000, "do_syscall", None),
            (0x0800, "bpf_trace_run2", None),
        ] {
            b.add(
                hdr(T0, 0, 0, ""),
                &kernel_symbol::Row {
                    address: 0xffff_0000_0000_0000 | a,
                    name: n.into(),
                    module: m.map(Text::from),
                },
            );
        }
        // The tracing frame at the leaf is left out.
        for (d, ip) in [0x0810u64, 0x1010, 0x2020, 0x3030].iter().enumerate() {
            frame(b, 7, 900, d as u32, 0xffff_0000_0000_0000 | ip, true);
        }
    }

    fn open(mut b: Builder) -> (tempfile::TempDir, Recording) {
        b.count();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("leaks.parquet");
        b.write(&p);
        let rec = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        (dir, rec)
    }

    fn window(from_s: i64, to_s: i64) -> Filter {
        Filter {
            from_ns: Some(T0 + from_s * S),
            to_ns: Some(T0 + to_s * S),
            ..Default::default()
        }
    }

    fn table<'a>(r: &'a SectionReport, id: &str) -> &'a Table {
        r.tables
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no table {id}"))
    }

    fn cell<'a>(t: &'a Table, row: usize, col: &str) -> &'a Value {
        let i = t
            .columns
            .iter()
            .position(|c| c.name == col)
            .unwrap_or_else(|| panic!("no column {col}"));
        &t.rows[row][i]
    }

    fn metric(r: &SectionReport, key: &str) -> Option<Value> {
        r.metrics
            .iter()
            .find(|m| m.key() == key)
            .map(|m| m.value.clone())
    }

    #[test]
    fn weights_scale_by_the_sampling_probability() {
        assert_eq!(weight(100, None), 1.0);
        // p = 1 - exp(-1) for bytes equal to the period.
        let w = weight(4096, Some(4096));
        assert!((w - 1.0 / (1.0 - (-1.0f64).exp())).abs() < 1e-12, "{w}");
        // Far above the period, every allocation is kept.
        assert!((weight(1 << 30, Some(4096)) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn outstanding_is_what_the_window_allocated_and_did_not_free() {
        let mut b = Builder::new(T0, T0 + 20 * S);
        // Before the window: never counted, freed or not.
        malloc(&mut b, S, 10, 0xa, 1000, Some(1));
        // In the window [2 s, 8 s): freed inside, not freed, freed after.
        malloc(&mut b, 3 * S, 10, 0xb, 100, Some(1));
        free(&mut b, 4 * S, 10, "free", 0xb);
        malloc(&mut b, 5 * S, 10, 0xc, 200, Some(1));
        malloc(&mut b, 6 * S, 10, 0xd, 400, Some(2));
        free(&mut b, 9 * S, 10, "free", 0xd);
        // The same address in another process is another block: this free
        // does not free process 10's 0xc.
        malloc(&mut b, 3 * S, 20, 0xc, 50, None);
        free(&mut b, 7 * S, 20, "free", 0xc);
        // After the window.
        malloc(&mut b, 9 * S, 10, 0xe, 800, Some(1));
        let (_d, rec) = open(b);
        let r = compute(&rec, &window(2, 8)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, Status::Ok);
        let t = table(&r, "user_outstanding");
        assert_eq!(t.rows.len(), 2, "{:?}", t.rows);
        // Largest first: stack 2 (400 B, freed only after the window).
        assert_eq!(cell(t, 0, "stack_id"), &Value::UInt(2));
        assert_eq!(cell(t, 0, "bytes"), &Value::UInt(400));
        assert_eq!(cell(t, 0, "oldest_age"), &Value::Int(2 * S));
        assert_eq!(cell(t, 1, "stack_id"), &Value::UInt(1));
        assert_eq!(cell(t, 1, "bytes"), &Value::UInt(200));
        assert_eq!(cell(t, 1, "allocations"), &Value::UInt(1));
        assert_eq!(cell(t, 1, "tgid"), &Value::UInt(10));
        assert_eq!(cell(t, 1, "comm"), &Value::Text("app".into()));
        // Stacks without frames rows still show something.
        assert_eq!(
            cell(t, 1, "frames"),
            &Value::Text("[stack frames missing]".into())
        );
        assert_eq!(
            metric(&r, "leaks.user.outstanding_bytes"),
            Some(Value::UInt(600))
        );
        assert_eq!(
            metric(&r, "leaks.user.outstanding_bytes{comm=\"app\"}"),
            Some(Value::UInt(600))
        );
        // The rate table: stack 1 allocated 300 B in the window, a third freed.
        let t = table(&r, "user_rate");
        let i = (0..t.rows.len())
            .find(|&i| cell(t, i, "stack_id") == &Value::UInt(1))
            .unwrap_or_else(|| panic!("{:?}", t.rows));
        assert_eq!(cell(t, i, "bytes"), &Value::UInt(300));
        assert_eq!(cell(t, i, "allocations"), &Value::UInt(2));
        assert_eq!(cell(t, i, "bytes_per_s"), &Value::Float(50.0));
        assert_eq!(cell(t, i, "freed_share"), &Value::Float(100.0 / 300.0));
        assert!(
            r.notes.iter().any(|n| n.contains("Outstanding:")),
            "{:?}",
            r.notes
        );
        assert!(!r.notes.iter().any(|n| n.contains("ESTIMATES")));
        // The whole recording: the one before 2 s and the one after 8 s too,
        // and 0xd is freed at 9 s.
        let r = compute(&rec, &Filter::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            metric(&r, "leaks.user.outstanding_bytes"),
            Some(Value::UInt(1000 + 200 + 800))
        );
    }

    #[test]
    fn a_realloc_chain_leaves_only_its_last_block() {
        let mut b = Builder::new(T0, T0 + 10 * S);
        malloc(&mut b, S, 10, 0xa, 100, Some(1));
        // realloc in place: the old block's free and the new block at one ts.
        free(&mut b, 2 * S, 10, "realloc", 0xa);
        b.add(
            hdr(T0 + 2 * S, 10, 10, "app"),
            &user_alloc::Row {
                call: "realloc".into(),
                address: 0xa,
                size: 200,
                old_address: Some(0xa),
                stack_id: Some(2),
                ..Default::default()
            },
        );
        // Moved: the new block first, then the old one's free, at one ts.
        b.add(
            hdr(T0 + 3 * S, 10, 10, "app"),
            &user_alloc::Row {
                call: "realloc".into(),
                address: 0xb,
                size: 300,
                old_address: Some(0xa),
                stack_id: Some(3),
                ..Default::default()
            },
        );
        free(&mut b, 3 * S, 10, "realloc", 0xa);
        let (_d, rec) = open(b);
        let r = compute(&rec, &Filter::default()).unwrap_or_else(|e| panic!("{e}"));
        let t = table(&r, "user_outstanding");
        assert_eq!(t.rows.len(), 1, "{:?}", t.rows);
        assert_eq!(cell(t, 0, "stack_id"), &Value::UInt(3));
        assert_eq!(cell(t, 0, "bytes"), &Value::UInt(300));
        assert_eq!(cell(t, 0, "allocations"), &Value::UInt(1));
    }

    #[test]
    fn kernel_pages_match_by_pfn_and_kind() {
        let mut b = Builder::new(T0, T0 + 10 * S);
        kernel_stack(&mut b);
        // An order-3 page at pfn 0x1000, freed; a kmalloc object whose
        // address has the same number is another thing and stays.
        kalloc(
            &mut b,
            S,
            "page",
            0x1000,
            8 * 4096,
            None,
            Some(3),
            Some(900),
        );
        kalloc(
            &mut b,
            S,
            "kmalloc",
            0x1000,
            128 << 10,
            Some("kmalloc-128k"),
            None,
            Some(900),
        );
        kfree(&mut b, 2 * S, "page", 0x1000);
        // A cache object, freed and allocated again at its address: one
        // outstanding.
        kalloc(
            &mut b,
            3 * S,
            "cache",
            0x2000,
            256,
            Some("filp"),
            None,
            None,
        );
        kfree(&mut b, 4 * S, "cache", 0x2000);
        kalloc(
            &mut b,
            5 * S,
            "cache",
            0x2000,
            256,
            Some("filp"),
            None,
            None,
        );
        let (_d, rec) = open(b);
        let r = compute(&rec, &window(0, 6)).unwrap_or_else(|e| panic!("{e}"));
        let t = table(&r, "kernel_outstanding");
        assert_eq!(t.rows.len(), 2, "{:?}", t.rows);
        assert_eq!(cell(t, 0, "kind"), &Value::Text("kmalloc".into()));
        assert_eq!(cell(t, 0, "bytes"), &Value::UInt(128 << 10));
        assert_eq!(cell(t, 0, "cache"), &Value::Text("kmalloc-128k".into()));
        // The allocator's own frame is left out of the short frames, the
        // tracing frame everywhere.
        assert_eq!(
            cell(t, 0, "frames"),
            &Value::Text("alloc_thing < do_syscall".into())
        );
        assert_eq!(cell(t, 1, "kind"), &Value::Text("cache".into()));
        assert_eq!(cell(t, 1, "bytes"), &Value::UInt(256));
        assert_eq!(cell(t, 1, "allocations"), &Value::UInt(1));
        // Without a stack, its call site names it.
        assert_eq!(cell(t, 1, "stack_id"), &Value::Null);
        assert_eq!(cell(t, 1, "frames"), &Value::Text("alloc_thing".into()));
        assert_eq!(
            metric(&r, "leaks.kernel.outstanding_bytes{kind=\"page\"}"),
            None
        );
        // Slab growth of filp: 0 objects at 0 s, one at 6 s.
        let t = table(&r, "slab_growth");
        let i = (0..t.rows.len())
            .find(|&i| cell(t, i, "cache") == &Value::Text("filp".into()))
            .unwrap_or_else(|| panic!("{:?}", t.rows));
        assert_eq!(cell(t, i, "objects_from"), &Value::UInt(0));
        assert_eq!(cell(t, i, "objects_to"), &Value::UInt(1));
        assert_eq!(cell(t, i, "change"), &Value::Int(256));
        // Large: the order-3 page (freed) and the 128 KiB kmalloc (not).
        let t = table(&r, "large_allocations");
        assert_eq!(t.rows.len(), 2, "{:?}", t.rows);
        assert_eq!(cell(t, 0, "kind"), &Value::Text("kmalloc".into()));
        assert_eq!(cell(t, 0, "outstanding"), &Value::UInt(1));
        assert_eq!(cell(t, 0, "caller"), &Value::Text("alloc_thing".into()));
        assert_eq!(cell(t, 1, "kind"), &Value::Text("page".into()));
        assert_eq!(cell(t, 1, "order"), &Value::UInt(3));
        assert_eq!(cell(t, 1, "outstanding"), &Value::UInt(0));
        assert_eq!(cell(t, 1, "caller"), &Value::Text("alloc_thing".into()));
        // The full stack of the top kernel stack, named from kallsyms.
        let t = table(&r, "stack_frames");
        let names: Vec<&Value> = (0..t.rows.len()).map(|i| cell(t, i, "function")).collect();
        assert_eq!(
            names,
            [
                &Value::Text("__kmalloc".into()),
                &Value::Text("alloc_thing".into()),
                &Value::Text("do_syscall".into())
            ]
        );
        assert_eq!(cell(t, 1, "module"), &Value::Text("[thing]".into()));
    }

    #[test]
    fn sampled_rows_are_scaled_up_and_say_so() {
        let mut b = Builder::new(T0, T0 + 10 * S);
        for (i, size) in [4096u64, 4096, 1 << 20].iter().enumerate() {
            b.add(
                hdr(T0 + S + i as i64, 10, 10, "app"),
                &user_alloc::Row {
                    call: "malloc".into(),
                    address: 0x100 + i as u64,
                    size: *size,
                    stack_id: Some(1),
                    sample_bytes: Some(4096),
                    ..Default::default()
                },
            );
        }
        let (_d, rec) = open(b);
        let r = compute(&rec, &Filter::default()).unwrap_or_else(|e| panic!("{e}"));
        let t = table(&r, "user_outstanding");
        let w = weight(4096, Some(4096));
        let big = weight(1 << 20, Some(4096));
        assert_eq!(
            cell(t, 0, "bytes"),
            &Value::UInt((2.0 * 4096.0 * w + (1u64 << 20) as f64 * big).round() as u64)
        );
        assert_eq!(
            cell(t, 0, "allocations"),
            &Value::UInt((2.0 * w + big).round() as u64)
        );
        assert_eq!(cell(t, 0, "recorded"), &Value::UInt(3));
        let notes = r.notes.join(" | ");
        assert!(notes.contains("ESTIMATES (user)"), "{notes}");
        assert!(notes.contains("one per 4.00 KiB"), "{notes}");
    }

    #[test]
    fn folded_lines_go_from_the_comm_to_the_leaf_weighted_by_bytes() {
        let mut b = Builder::new(T0, T0 + 10 * S);
        kernel_stack(&mut b);
        // User stack 5 of process 10, in a module whose file is not here:
        // module+offset frames.
        b.add(
            hdr(T0, 10, 10, "app"),
            &module_map::Row {
                start: 0x40_0000,
                end: 0x50_0000,
                file_offset: 0x1000,
                path: "/nonexistent/libleak.so".into(),
                build_id: Some("00ff".into()),
            },
        );
        frame(&mut b, 10, 5, 0, 0x40_0100, false);
        frame(&mut b, 10, 5, 1, 0x40_0200, false);
        malloc(&mut b, S, 10, 0xa, 100, Some(5));
        malloc(&mut b, 2 * S, 10, 0xb, 50, Some(5));
        malloc(&mut b, 2 * S, 10, 0xc, 7, None);
        kalloc(
            &mut b,
            S,
            "kmalloc",
            0xffff_8000,
            64,
            Some("kmalloc-64"),
            None,
            Some(900),
        );
        let (_d, rec) = open(b);
        let out = outstanding(&rec, &Filter::default(), Sides::default(), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.to_folded(),
            "app;libleak.so+0x1200;libleak.so+0x1100 150\n\
             kworker;do_syscall;alloc_thing;__kmalloc 64\n\
             app;[no stack] 7\n"
        );
        // Only the kernel's.
        let sides = Sides {
            user: false,
            kernel: true,
        };
        let out = outstanding(&rec, &Filter::default(), sides, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.to_folded(),
            "kworker;do_syscall;alloc_thing;__kmalloc 64\n"
        );
        assert_eq!(out.entries.len(), 1);
        let j = out.to_json("f");
        assert_eq!(j["stacks"][0]["kind"], "kmalloc");
        assert_eq!(j["stacks"][0]["frames"][1]["function"], "alloc_thing");
        let text = out.to_text("f");
        assert!(
            text.contains("64 B in 1 allocation from kernel kmalloc kmalloc-64"),
            "{text}"
        );
    }

    #[inline(never)]
    fn allocating_here() -> u64 {
        allocating_here as fn() -> u64 as usize as u64
    }

    /// This test binary's mapping that holds `addr`: (start, end, offset,
    /// path), and the file's build-id.
    fn own_mapping(addr: u64) -> (u64, u64, u64, String, String) {
        use object::Object;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        for l in maps.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let Some((a, b)) = f.first().and_then(|r| r.split_once('-')) else {
                continue;
            };
            let (a, b) = (
                u64::from_str_radix(a, 16).unwrap_or(0),
                u64::from_str_radix(b, 16).unwrap_or(0),
            );
            if a <= addr && addr < b && f.len() >= 6 {
                let off = u64::from_str_radix(f[2], 16).unwrap_or(0);
                let data = std::fs::read(f[5]).unwrap_or_default();
                let file = object::File::parse(&*data).unwrap_or_else(|e| panic!("{e}"));
                let id = file.build_id().ok().flatten().unwrap_or_default();
                let id = id.iter().map(|b| format!("{b:02x}")).collect();
                return (a, b, off, f[5].to_string(), id);
            }
        }
        panic!("{addr:#x} is in no mapping");
    }

    #[test]
    fn user_frames_are_named_from_the_module_with_the_recorded_build_id() {
        let ip = allocating_here() + 2;
        let (start, end, off, path, id) = own_mapping(ip);
        let mut b = Builder::new(T0, T0 + 10 * S);
        b.add(
            hdr(T0, 10, 10, "app"),
            &module_map::Row {
                start,
                end,
                file_offset: off,
                path: Text::from(path.clone()),
                build_id: Some(Text::from(id)),
            },
        );
        frame(&mut b, 10, 5, 0, ip, false);
        malloc(&mut b, S, 10, 0xa, 100, Some(5));
        let (_d, rec) = open(b);
        let out = outstanding(&rec, &Filter::default(), Sides::default(), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        let leaf = &out.entries[0].frames[0];
        assert!(
            leaf.function
                .as_deref()
                .is_some_and(|f| f.ends_with("allocating_here")),
            "{leaf:?}"
        );
        assert_eq!(leaf.module.as_deref(), Some(path.as_str()));
        assert!(out.to_folded().starts_with("app;"), "{}", out.to_folded());
        assert!(
            out.to_folded().trim_end().ends_with("allocating_here 100"),
            "{}",
            out.to_folded()
        );
    }

    #[test]
    fn the_growth_verdict_links_to_the_top_stack() {
        let mut b = Builder::new(T0, T0 + 20 * S);
        for i in 0..15i64 {
            b.add(
                hdr(T0 + i * S, 10, 10, "app"),
                &memtrace_schema::tables::procstat::procstat::Row {
                    reason: "switch".into(),
                    rss_anon: (100 + i as u64) << 20,
                    ..Default::default()
                },
            );
        }
        kernel_stack(&mut b);
        b.add(
            hdr(T0, 10, 10, "app"),
            &module_map::Row {
                start: 0x40_0000,
                end: 0x50_0000,
                file_offset: 0,
                path: "/gone/app".into(),
                build_id: None,
            },
        );
        frame(&mut b, 10, 5, 0, 0x40_0123, false);
        malloc(&mut b, S, 10, 0xa, 3 << 20, Some(5));
        malloc(&mut b, S, 10, 0xb, 1 << 20, None);
        let (_d, rec) = open(b);
        let r = super::super::growth::compute(&rec, &Filter::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let notes = r.notes.join(" | ");
        assert!(
            notes.contains(
                "Leak suspect 10 (app): its heap's top outstanding stack is app+0x123 \
                 (3.00 MiB of 4.00 MiB outstanding)"
            ),
            "{notes}"
        );
        assert!(notes.contains("--section leaks --pid 10"), "{notes}");
        // The suspect's finding carries the same link.
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0].details[0].contains("top outstanding stack is app+0x123"),
            "{:?}",
            r.findings[0].details
        );
    }

    #[test]
    fn without_either_group_the_section_is_not_recorded() {
        let mut b = Builder::new(T0, T0 + 10 * S);
        b.add(
            hdr(T0, 1, 1, "a"),
            &memtrace_schema::tables::procstat::procstat::Row::default(),
        );
        b.meta
            .groups
            .retain(|g| g.name != "memleak" && g.name != "kmemleak");
        b.meta
            .groups_requested
            .retain(|g| g != "memleak" && g != "kmemleak");
        let (_d, rec) = open(b);
        let r = compute(&rec, &Filter::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&r.status, Status::NotRecorded(m) if m.contains("memleak")),
            "{:?}",
            r.status
        );
        assert!(matches!(
            outstanding(&rec, &Filter::default(), Sides::default(), 0),
            Err(LeaksError::NotRecorded(_))
        ));
    }
}
