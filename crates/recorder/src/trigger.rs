//! The flight recorder's triggers: what makes memrec write out the window
//! it keeps.
//!
//! Row triggers ([`Triggers`]) watch the rows the recorder writes anyway, as
//! the writer pushes them ([`Watch`]): an OOM kill (`oom_victim`), a page
//! allocation failure the kernel reports (`paf`), a direct or memcg
//! reclaim (`reclaim_end`) or a direct compaction (`compaction_run`) that
//! stalled its task longer than a threshold. The memory PSI trigger ([`Psi`]) is the kernel's own: a
//! pollable file descriptor on `/proc/pressure/memory`.
//!
//! The syntax, one item or a comma list:
//! `oom,alloc-fail,direct-reclaim-over=100ms,memcg-reclaim-over=50ms,compaction-over=50ms,psi=150ms/1s`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memtrace_cli::DurationError;
use memtrace_schema::tables::{
    compaction::compaction_run, oom::oom_victim, paf::paf, pr::reclaim_end,
};
use memtrace_schema::{Header, Table, TriggerMeta, Visitor};

use crate::record::human_bytes;
use crate::writer::Watch;

/// The system-wide memory pressure file.
pub const PROC_PRESSURE_MEMORY: &str = "/proc/pressure/memory";

/// The kernel's limits on a PSI trigger's window (kernel/sched/psi.c,
/// `WINDOW_MIN_US` and `WINDOW_MAX_US`).
pub const PSI_WINDOW_MIN: Duration = Duration::from_millis(500);
pub const PSI_WINDOW_MAX: Duration = Duration::from_secs(10);

/// What fires a trigger, as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerSpec {
    /// The OOM killer chose a victim (an `oom_victim` row).
    Oom,
    /// A page allocation failed (a `paf` row): by default one the kernel
    /// reports (without `__GFP_NOWARN`: a "page allocation failure" in its
    /// log); with `all` (`alloc-fail=all`) also those whose caller expects
    /// failure and falls back (THP, huge page pool growth, high-order slab
    /// attempts), which a fragmented machine has all the time.
    AllocFail { all: bool },
    /// A task spent longer than this in direct reclaim (a `reclaim_end` row
    /// of reclaimer `direct`).
    DirectReclaimOver(Duration),
    /// A task spent longer than this reclaiming from its memory cgroup at
    /// its limit (a `reclaim_end` row of reclaimer `memcg`).
    MemcgReclaimOver(Duration),
    /// An allocating task had been in direct compaction longer than this
    /// when one of its zone runs ended (a `compaction_run` row of runner
    /// `direct`).
    CompactionOver(Duration),
    /// Tasks stalled on memory (PSI `some`) for more than `stall` within a
    /// sliding `window`.
    Psi { stall: Duration, window: Duration },
}

/// The kinds of trigger, as named in file names and `meta.trigger.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    Oom,
    AllocFail,
    DirectReclaimOver,
    MemcgReclaimOver,
    CompactionOver,
    Psi,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 6] = [
        TriggerKind::Oom,
        TriggerKind::AllocFail,
        TriggerKind::DirectReclaimOver,
        TriggerKind::MemcgReclaimOver,
        TriggerKind::CompactionOver,
        TriggerKind::Psi,
    ];

    /// The name in the trigger syntax, file names and the metadata.
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::Oom => "oom",
            TriggerKind::AllocFail => "alloc-fail",
            TriggerKind::DirectReclaimOver => "direct-reclaim-over",
            TriggerKind::MemcgReclaimOver => "memcg-reclaim-over",
            TriggerKind::CompactionOver => "compaction-over",
            TriggerKind::Psi => "psi",
        }
    }

    /// How the item is written, for error messages and help.
    fn syntax(self) -> &'static str {
        match self {
            TriggerKind::Oom => "oom",
            TriggerKind::AllocFail => "alloc-fail[=all]",
            TriggerKind::DirectReclaimOver => "direct-reclaim-over=DURATION",
            TriggerKind::MemcgReclaimOver => "memcg-reclaim-over=DURATION",
            TriggerKind::CompactionOver => "compaction-over=DURATION",
            TriggerKind::Psi => "psi=STALL/WINDOW",
        }
    }

    fn example(self) -> &'static str {
        match self {
            TriggerKind::Oom => "oom",
            TriggerKind::AllocFail => "alloc-fail",
            TriggerKind::DirectReclaimOver => "direct-reclaim-over=100ms",
            TriggerKind::MemcgReclaimOver => "memcg-reclaim-over=100ms",
            TriggerKind::CompactionOver => "compaction-over=50ms",
            TriggerKind::Psi => "psi=150ms/1s",
        }
    }

    fn from_name(s: &str) -> Option<TriggerKind> {
        TriggerKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The valid items, for error messages.
struct Valid;

impl fmt::Display for Valid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in TriggerKind::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(k.syntax())?;
        }
        Ok(())
    }
}

/// A trigger list that does not parse. Every message names the item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("empty trigger (valid: {})", Valid)]
    Empty,
    #[error("unknown trigger `{0}` (valid: {valid})", valid = Valid)]
    Unknown(String),
    #[error("trigger `{item}` needs a value, e.g. `{}`", .kind.example())]
    NeedsValue { item: String, kind: TriggerKind },
    #[error("trigger `{item}` takes no such value: write `{}`", .kind.syntax())]
    TakesNoValue { item: String, kind: TriggerKind },
    #[error("trigger `{item}`: {source}")]
    Duration {
        item: String,
        #[source]
        source: DurationError,
    },
    #[error("trigger `{item}`: the threshold must be more than zero")]
    Zero { item: String },
    #[error("trigger `{item}`: {why} (e.g. `psi=150ms/1s`: more than 150 ms of memory stall in any 1 s)")]
    Psi { item: String, why: String },
    #[error("trigger `{}` is given twice", .0.name())]
    Twice(TriggerKind),
}

impl TriggerSpec {
    pub fn kind(&self) -> TriggerKind {
        match self {
            TriggerSpec::Oom => TriggerKind::Oom,
            TriggerSpec::AllocFail { .. } => TriggerKind::AllocFail,
            TriggerSpec::DirectReclaimOver(_) => TriggerKind::DirectReclaimOver,
            TriggerSpec::MemcgReclaimOver(_) => TriggerKind::MemcgReclaimOver,
            TriggerSpec::CompactionOver(_) => TriggerKind::CompactionOver,
            TriggerSpec::Psi { .. } => TriggerKind::Psi,
        }
    }

    /// The probe groups whose rows the trigger watches: the recording must
    /// have them. PSI needs none.
    pub fn groups(&self) -> &'static [&'static str] {
        match self {
            TriggerSpec::Oom => &[oom_victim::TABLE.group],
            TriggerSpec::AllocFail { .. } => &[paf::TABLE.group],
            TriggerSpec::DirectReclaimOver(_) | TriggerSpec::MemcgReclaimOver(_) => {
                &[reclaim_end::TABLE.group]
            }
            TriggerSpec::CompactionOver(_) => &[compaction_run::TABLE.group],
            TriggerSpec::Psi { .. } => &[],
        }
    }
}

impl fmt::Display for TriggerSpec {
    /// The item in the syntax it is parsed from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.kind().name();
        match self {
            TriggerSpec::Oom | TriggerSpec::AllocFail { all: false } => f.write_str(k),
            TriggerSpec::AllocFail { all: true } => write!(f, "{k}=all"),
            TriggerSpec::DirectReclaimOver(d)
            | TriggerSpec::MemcgReclaimOver(d)
            | TriggerSpec::CompactionOver(d) => write!(f, "{k}={}", humantime_short(*d)),
            TriggerSpec::Psi { stall, window } => {
                write!(
                    f,
                    "{k}={}/{}",
                    humantime_short(*stall),
                    humantime_short(*window)
                )
            }
        }
    }
}

impl FromStr for TriggerSpec {
    type Err = TriggerError;

    fn from_str(item: &str) -> Result<Self, Self::Err> {
        let item = item.trim();
        if item.is_empty() {
            return Err(TriggerError::Empty);
        }
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (item, None),
        };
        let kind =
            TriggerKind::from_name(name).ok_or_else(|| TriggerError::Unknown(item.to_string()))?;
        let owned = || item.to_string();
        let threshold = |v: Option<&str>| -> Result<Duration, TriggerError> {
            let v = v
                .filter(|v| !v.is_empty())
                .ok_or(TriggerError::NeedsValue {
                    item: owned(),
                    kind,
                })?;
            let d = memtrace_cli::parse_duration(v).map_err(|source| TriggerError::Duration {
                item: owned(),
                source,
            })?;
            if d.is_zero() {
                return Err(TriggerError::Zero { item: owned() });
            }
            Ok(d)
        };
        match kind {
            TriggerKind::Oom => match value {
                None => Ok(TriggerSpec::Oom),
                Some(_) => Err(TriggerError::TakesNoValue {
                    item: owned(),
                    kind,
                }),
            },
            TriggerKind::AllocFail => match value {
                None => Ok(TriggerSpec::AllocFail { all: false }),
                Some("all") => Ok(TriggerSpec::AllocFail { all: true }),
                Some(_) => Err(TriggerError::TakesNoValue {
                    item: owned(),
                    kind,
                }),
            },
            TriggerKind::DirectReclaimOver => Ok(TriggerSpec::DirectReclaimOver(threshold(value)?)),
            TriggerKind::MemcgReclaimOver => Ok(TriggerSpec::MemcgReclaimOver(threshold(value)?)),
            TriggerKind::CompactionOver => Ok(TriggerSpec::CompactionOver(threshold(value)?)),
            TriggerKind::Psi => {
                let v = value
                    .filter(|v| !v.is_empty())
                    .ok_or(TriggerError::NeedsValue {
                        item: owned(),
                        kind,
                    })?;
                let psi_err = |why: String| TriggerError::Psi { item: owned(), why };
                let (stall, window) = v
                    .split_once('/')
                    .ok_or_else(|| psi_err("write STALL/WINDOW".into()))?;
                let parse = |s: &str| {
                    memtrace_cli::parse_duration(s).map_err(|source| TriggerError::Duration {
                        item: owned(),
                        source,
                    })
                };
                let (stall, window) = (parse(stall)?, parse(window)?);
                if window < PSI_WINDOW_MIN || window > PSI_WINDOW_MAX {
                    return Err(psi_err(format!(
                        "the kernel takes a window from {} to {}",
                        humantime_short(PSI_WINDOW_MIN),
                        humantime_short(PSI_WINDOW_MAX)
                    )));
                }
                // The kernel counts in microseconds and wants 0 < stall <= window.
                if stall < Duration::from_micros(1) || stall > window {
                    return Err(psi_err(
                        "the stall must be more than zero and at most the window".into(),
                    ));
                }
                Ok(TriggerSpec::Psi { stall, window })
            }
        }
    }
}

/// A comma list of triggers, each kind at most once: what `--trigger`
/// takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerList(pub Vec<TriggerSpec>);

impl FromStr for TriggerList {
    type Err = TriggerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out: Vec<TriggerSpec> = Vec::new();
        for item in s.split(',') {
            let t: TriggerSpec = item.parse()?;
            if out.iter().any(|o| o.kind() == t.kind()) {
                return Err(TriggerError::Twice(t.kind()));
            }
            out.push(t);
        }
        Ok(TriggerList(out))
    }
}

impl fmt::Display for TriggerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl TriggerList {
    /// The probe groups the triggers need, each once.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn groups(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for g in self.0.iter().flat_map(|t| t.groups()) {
            if !out.contains(g) {
                out.push(g);
            }
        }
        out
    }

    /// The PSI trigger, if one is asked for: `(stall, window)`.
    pub fn psi(&self) -> Option<(Duration, Duration)> {
        self.0.iter().find_map(|t| match *t {
            TriggerSpec::Psi { stall, window } => Some((stall, window)),
            _ => None,
        })
    }
}

/// clap's value parser for a trigger list (`--trigger oom,psi=150ms/1s`).
pub fn parse_list(s: &str) -> Result<TriggerList, TriggerError> {
    s.parse()
}

/// A duration the way a user writes it: `100ms`, `1.5s`, `250us`.
fn humantime_short(d: Duration) -> String {
    let ns = d.as_nanos();
    let (div, unit) = if ns == 0 {
        (1, "s")
    } else if ns.is_multiple_of(1_000_000_000) {
        (1_000_000_000, "s")
    } else if ns.is_multiple_of(1_000_000) {
        (1_000_000, "ms")
    } else if ns.is_multiple_of(1_000) {
        (1_000, "us")
    } else {
        (1, "ns")
    };
    format!("{}{unit}", ns / div)
}

/// Nanoseconds as milliseconds for people: `123.4 ms`.
fn ms(ns: i64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// A trigger that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub kind: TriggerKind,
    /// When (`ts_ns` clock, CLOCK_BOOTTIME).
    pub ts_ns: i64,
    /// What fired it, in one line: the victim, the latency and who
    /// stalled, or the pressure line.
    pub detail: String,
}

impl Fired {
    /// The file metadata's record of it.
    pub fn meta(&self, keep: Duration, tail: Duration) -> TriggerMeta {
        TriggerMeta {
            kind: self.kind.name().to_string(),
            ts_ns: self.ts_ns,
            detail: self.detail.clone(),
            keep_ns: memtrace_cli::duration::as_nanos_i64(keep).unwrap_or(i64::MAX),
            tail_ns: memtrace_cli::duration::as_nanos_i64(tail).unwrap_or(i64::MAX),
        }
    }
}

/// Where fired triggers wait for the recorder's loop: per kind, the first
/// one not yet taken, and how many fired meanwhile (a reclaim storm fires
/// thousands; one is enough to start a dump, and nothing grows). Per kind,
/// so that an OOM kill is not lost behind a waiting reclaim trigger.
#[derive(Debug, Default)]
struct Mailbox {
    /// Bit `kind as u8` set while that kind waits.
    pending: AtomicU8,
    fired: Mutex<[Option<Fired>; KINDS]>,
    more: AtomicU64,
}

const KINDS: usize = TriggerKind::ALL.len();

impl Mailbox {
    /// Whether a firing of `kind` would only be counted.
    fn busy(&self, kind: TriggerKind) -> bool {
        if self.pending.load(Ordering::Acquire) & (1 << kind as u8) != 0 {
            self.more.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn put(&self, f: Fired) {
        let k = f.kind as usize;
        if let Ok(mut slots) = self.fired.lock() {
            if slots[k].is_none() {
                slots[k] = Some(f);
                self.pending.fetch_or(1 << k, Ordering::Release);
            } else {
                self.more.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The earliest waiting trigger.
    fn take(&self) -> Option<Fired> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut slots = self.fired.lock().ok()?;
        let k = (0..KINDS)
            .filter(|&k| slots[k].is_some())
            .min_by_key(|&k| slots[k].as_ref().map(|f| f.ts_ns))?;
        self.pending.fetch_and(!(1 << k), Ordering::Release);
        slots[k].take()
    }
}

/// The receiving end of [`Triggers`], for the recorder's loop once the
/// writer owns the watcher.
#[derive(Debug, Clone)]
pub struct Inbox(Arc<Mailbox>);

impl Inbox {
    /// The earliest trigger waiting, if any (each kind keeps its first
    /// firing until taken).
    pub fn take(&self) -> Option<Fired> {
        self.0.take()
    }

    /// Triggers that fired while one was waiting to be taken (not kept).
    pub fn dropped(&self) -> u64 {
        self.0.more.load(Ordering::Relaxed)
    }
}

/// The row tables triggers watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Oom,
    Paf,
    Reclaim,
    Compaction,
}

const SLOTS: usize = 4;
/// Table addresses `begin` remembers: a copy of each watched table or two.
const SEEN: usize = 8;

/// Where a watched column's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    Skip,
    Num(usize),
    Text(usize),
}

/// A captured number.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Null,
    U(u64),
    I(i64),
    F(f64),
}

impl Num {
    fn i64(self) -> Option<i64> {
        match self {
            Num::U(v) => i64::try_from(v).ok(),
            Num::I(v) => Some(v),
            Num::F(_) | Num::Null => None,
        }
    }

    fn u64(self) -> Option<u64> {
        match self {
            Num::U(v) => Some(v),
            Num::I(v) => u64::try_from(v).ok(),
            Num::F(_) | Num::Null => None,
        }
    }

    fn f64(self) -> Option<f64> {
        match self {
            Num::F(v) => Some(v),
            Num::U(v) => Some(v as f64),
            Num::I(v) => Some(v as f64),
            Num::Null => None,
        }
    }
}

const NUMS: usize = 8;
const TEXTS: usize = 3;

// Each slot's columns, by name, and where their values go. The names are
// looked up in the table once, when the triggers are made.
const OOM_PID: usize = 0;
const OOM_ANON: usize = 1;
const OOM_FILE: usize = 2;
const OOM_SHMEM: usize = 3;
const OOM_ADJ: usize = 4;
const OOM_LOAD: usize = 5; // 5, 6, 7
const OOM_COMM: usize = 0;
const OOM_COLS: &[(&str, Cap)] = &[
    ("victim_pid", Cap::Num(OOM_PID)),
    ("victim_comm", Cap::Text(OOM_COMM)),
    ("anon_rss", Cap::Num(OOM_ANON)),
    ("file_rss", Cap::Num(OOM_FILE)),
    ("shmem_rss", Cap::Num(OOM_SHMEM)),
    ("oom_score_adj", Cap::Num(OOM_ADJ)),
    ("load1", Cap::Num(OOM_LOAD)),
    ("load5", Cap::Num(OOM_LOAD + 1)),
    ("load15", Cap::Num(OOM_LOAD + 2)),
];

const PAF_ORDER: usize = 0;
const PAF_NODE: usize = 1;
const PAF_FLAGS: usize = 2;
const PAF_GFP: usize = 0;
const PAF_MIGRATETYPE: usize = 1;
const PAF_ZONE: usize = 2;
const PAF_COLS: &[(&str, Cap)] = &[
    ("order", Cap::Num(PAF_ORDER)),
    ("gfp_flags", Cap::Num(PAF_FLAGS)),
    ("gfp", Cap::Text(PAF_GFP)),
    ("migratetype_name", Cap::Text(PAF_MIGRATETYPE)),
    ("highest_zone", Cap::Text(PAF_ZONE)),
    ("node", Cap::Num(PAF_NODE)),
];

const RECLAIM_FREED: usize = 0;
const RECLAIM_DURATION: usize = 1;
const RECLAIM_WHO: usize = 0;
const RECLAIM_COLS: &[(&str, Cap)] = &[
    ("reclaimer", Cap::Text(RECLAIM_WHO)),
    ("nr_reclaimed", Cap::Num(RECLAIM_FREED)),
    ("duration_ns", Cap::Num(RECLAIM_DURATION)),
];

const CMP_NODE: usize = 0;
const CMP_ORDER: usize = 1;
const CMP_DURATION: usize = 2;
const CMP_ATTEMPT: usize = 3;
const CMP_MIGRATED: usize = 4;
const CMP_RUNNER: usize = 0;
const CMP_ZONE: usize = 1;
const CMP_STATUS: usize = 2;
const CMP_COLS: &[(&str, Cap)] = &[
    ("runner", Cap::Text(CMP_RUNNER)),
    ("node", Cap::Num(CMP_NODE)),
    ("zone", Cap::Text(CMP_ZONE)),
    ("order", Cap::Num(CMP_ORDER)),
    ("status", Cap::Text(CMP_STATUS)),
    ("duration_ns", Cap::Num(CMP_DURATION)),
    ("attempt_ts_ns", Cap::Num(CMP_ATTEMPT)),
    ("migrated", Cap::Num(CMP_MIGRATED)),
];

impl Slot {
    const ALL: [Slot; SLOTS] = [Slot::Oom, Slot::Paf, Slot::Reclaim, Slot::Compaction];

    fn table(self) -> &'static Table {
        match self {
            Slot::Oom => &oom_victim::TABLE,
            Slot::Paf => &paf::TABLE,
            Slot::Reclaim => &reclaim_end::TABLE,
            Slot::Compaction => &compaction_run::TABLE,
        }
    }

    fn cols(self) -> &'static [(&'static str, Cap)] {
        match self {
            Slot::Oom => OOM_COLS,
            Slot::Paf => PAF_COLS,
            Slot::Reclaim => RECLAIM_COLS,
            Slot::Compaction => CMP_COLS,
        }
    }

    /// Where each of the table's columns goes, by position.
    fn map(self) -> Vec<Cap> {
        self.table()
            .columns
            .iter()
            .map(|c| {
                self.cols()
                    .iter()
                    .find(|(name, _)| *name == c.name)
                    .map_or(Cap::Skip, |&(_, cap)| cap)
            })
            .collect()
    }
}

/// The row triggers, as a watcher of the rows the writer writes.
///
/// Per row it only copies the few values it needs into fixed slots (text
/// into reused buffers); it builds a [`Fired`] only when a trigger fires and
/// none is waiting.
#[derive(Debug)]
pub struct Triggers {
    oom: bool,
    alloc_fail: bool,
    /// `alloc-fail=all`: the failures the kernel keeps quiet too.
    alloc_fail_all: bool,
    direct_over_ns: Option<i64>,
    memcg_over_ns: Option<i64>,
    compaction_over_ns: Option<i64>,
    /// This kernel's `__GFP_NOWARN` bit, when known.
    gfp_nowarn: Option<u64>,
    /// Per slot: whether a trigger watches its table.
    wanted: [bool; SLOTS],
    /// Table addresses seen in `begin`, and their slots.
    seen: [Option<(&'static Table, Slot)>; SEEN],
    maps: [Vec<Cap>; SLOTS],
    // The row being read.
    cur: Option<Slot>,
    col: usize,
    ts_ns: i64,
    /// The process (tgid) and command of the row's task.
    tgid: u32,
    comm: [u8; 16],
    nums: [Num; NUMS],
    texts: [String; TEXTS],
    out: Arc<Mailbox>,
}

impl Triggers {
    /// The row triggers of `specs` (PSI is not a row trigger: see [`Psi`]).
    pub fn new(specs: &[TriggerSpec]) -> Triggers {
        let ns = |d: Duration| memtrace_cli::duration::as_nanos_i64(d).unwrap_or(i64::MAX);
        let mut t = Triggers {
            oom: false,
            alloc_fail: false,
            alloc_fail_all: false,
            direct_over_ns: None,
            memcg_over_ns: None,
            compaction_over_ns: None,
            gfp_nowarn: None,
            wanted: [false; SLOTS],
            seen: [None; SEEN],
            maps: Slot::ALL.map(Slot::map),
            cur: None,
            col: 0,
            ts_ns: 0,
            tgid: 0,
            comm: [0; 16],
            nums: [Num::Null; NUMS],
            texts: std::array::from_fn(|_| String::with_capacity(64)),
            out: Arc::default(),
        };
        for s in specs {
            match *s {
                TriggerSpec::Oom => t.oom = true,
                TriggerSpec::AllocFail { all } => {
                    t.alloc_fail = true;
                    t.alloc_fail_all = all;
                }
                TriggerSpec::DirectReclaimOver(d) => t.direct_over_ns = Some(ns(d)),
                TriggerSpec::MemcgReclaimOver(d) => t.memcg_over_ns = Some(ns(d)),
                TriggerSpec::CompactionOver(d) => t.compaction_over_ns = Some(ns(d)),
                TriggerSpec::Psi { .. } => {}
            }
        }
        for (i, slot) in Slot::ALL.into_iter().enumerate() {
            let on = match slot {
                Slot::Oom => t.oom,
                Slot::Paf => t.alloc_fail,
                Slot::Reclaim => t.direct_over_ns.is_some() || t.memcg_over_ns.is_some(),
                Slot::Compaction => t.compaction_over_ns.is_some(),
            };
            t.wanted[i] = on;
        }
        t
    }

    /// Tells `alloc-fail` this kernel's gfp flags (from the
    /// `kmem:mm_page_alloc` format), so it knows `__GFP_NOWARN` by its bit.
    pub fn set_gfp_flags(&mut self, gfp: &crate::printfmt::FlagTable) {
        self.gfp_nowarn = gfp
            .flags
            .iter()
            .find(|(_, name)| name == "__GFP_NOWARN")
            .map(|&(mask, _)| mask);
    }

    /// Whether any row trigger is set (otherwise the writer need not watch).
    pub fn any(&self) -> bool {
        self.wanted.iter().any(|&w| w)
    }

    /// Where the recorder's loop takes fired triggers from, once the writer
    /// owns this watcher.
    pub fn inbox(&self) -> Inbox {
        Inbox(self.out.clone())
    }

    /// The earliest trigger waiting, if any (each kind keeps its first
    /// firing until taken).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn take(&mut self) -> Option<Fired> {
        self.out.take()
    }

    /// The watched table `table` is, by name: once per table, for `wants`.
    fn slot_by_name(&self, table: &Table) -> Option<Slot> {
        Slot::ALL
            .into_iter()
            .find(|&s| self.wanted[s as usize] && s.table().name == table.name)
    }

    /// The watched table `table` is, per row. Each crate's copy of a
    /// `const` table has its own address, so the first row of each copy is
    /// looked up by name and its address remembered; later rows cost a
    /// pointer compare or two.
    fn slot_of(&mut self, table: &'static Table) -> Option<Slot> {
        for (t, slot) in self.seen.iter().flatten() {
            if std::ptr::eq(*t, table) {
                return Some(*slot);
            }
        }
        let slot = self.slot_by_name(table)?;
        if let Some(free) = self.seen.iter_mut().find(|s| s.is_none()) {
            *free = Some((table, slot));
        }
        Some(slot)
    }

    fn cap(&mut self) -> Cap {
        let Some(slot) = self.cur else {
            return Cap::Skip;
        };
        let c = self.maps[slot as usize]
            .get(self.col)
            .copied()
            .unwrap_or(Cap::Skip);
        self.col += 1;
        c
    }

    fn num(&mut self, v: Num) {
        if let Cap::Num(k) = self.cap() {
            self.nums[k] = v;
        }
    }

    fn text_of(&self, k: usize) -> &str {
        &self.texts[k]
    }

    fn header_task(&self) -> String {
        let comm = memtrace_schema::Comm(self.comm);
        format!("PID {} (\"{}\")", self.tgid, comm.as_str())
    }

    /// The row is complete: does it fire?
    fn check(&mut self, slot: Slot) {
        let fired = match slot {
            Slot::Oom => (self.oom && !self.out.busy(TriggerKind::Oom)).then(|| self.oom_fired()),
            Slot::Paf => {
                (self.alloc_fail && self.paf_reported() && !self.out.busy(TriggerKind::AllocFail))
                    .then(|| self.paf_fired())
            }
            Slot::Reclaim => self.reclaim_fired(),
            Slot::Compaction => self.compaction_fired(),
        };
        if let Some(f) = fired {
            self.out.put(f);
        }
    }

    /// Whether the kernel reports this failure ("page allocation failure"
    /// in its log): not when the caller passed `__GFP_NOWARN`, as
    /// opportunistic allocations do (THP, high-order slab attempts) that
    /// fall back to something smaller and fail all the time on a
    /// fragmented machine.
    fn paf_reported(&self) -> bool {
        if self.alloc_fail_all {
            return true;
        }
        match (self.gfp_nowarn, self.nums[PAF_FLAGS].u64()) {
            (Some(mask), Some(flags)) => flags & mask == 0,
            // The bit moves between kernels; by name then, which the
            // tracepoint prints inside a composite for THP masks.
            _ => {
                let gfp = self.text_of(PAF_GFP);
                !(gfp.contains("__GFP_NOWARN") || gfp.starts_with("GFP_TRANSHUGE"))
            }
        }
    }

    fn oom_fired(&self) -> Fired {
        let n = &self.nums;
        let mut d = format!("OOM kill of PID {}", n[OOM_PID].u64().unwrap_or(0));
        if !self.text_of(OOM_COMM).is_empty() {
            d.push_str(&format!(" (\"{}\")", self.text_of(OOM_COMM)));
        }
        let sizes = [
            ("anon-rss", OOM_ANON),
            ("file-rss", OOM_FILE),
            ("shmem-rss", OOM_SHMEM),
        ];
        for (label, k) in sizes {
            if let Some(b) = n[k].u64() {
                d.push_str(&format!(", {label} {}", human_bytes(b)));
            }
        }
        if let Some(adj) = n[OOM_ADJ].i64() {
            d.push_str(&format!(", oom_score_adj {adj}"));
        }
        d.push_str(&format!("; triggered by {}", self.header_task()));
        if let (Some(a), Some(b), Some(c)) = (
            n[OOM_LOAD].f64(),
            n[OOM_LOAD + 1].f64(),
            n[OOM_LOAD + 2].f64(),
        ) {
            d.push_str(&format!("; loadavg {a:.2} {b:.2} {c:.2}"));
        }
        Fired {
            kind: TriggerKind::Oom,
            ts_ns: self.ts_ns,
            detail: d,
        }
    }

    fn paf_fired(&self) -> Fired {
        let n = &self.nums;
        let mut d = format!(
            "page allocation failure: order {}, {}",
            n[PAF_ORDER].u64().unwrap_or(0),
            self.text_of(PAF_GFP)
        );
        if !self.text_of(PAF_MIGRATETYPE).is_empty() {
            d.push_str(&format!(", {}", self.text_of(PAF_MIGRATETYPE)));
        }
        if !self.text_of(PAF_ZONE).is_empty() {
            d.push_str(&format!(", highest zone {}", self.text_of(PAF_ZONE)));
        }
        if let Some(node) = n[PAF_NODE].u64() {
            d.push_str(&format!(", node {node}"));
        }
        d.push_str(&format!("; by {}", self.header_task()));
        Fired {
            kind: TriggerKind::AllocFail,
            ts_ns: self.ts_ns,
            detail: d,
        }
    }

    fn reclaim_fired(&mut self) -> Option<Fired> {
        let took = self.nums[RECLAIM_DURATION].i64()?;
        let (kind, over) = match self.text_of(RECLAIM_WHO) {
            "direct" => (TriggerKind::DirectReclaimOver, self.direct_over_ns?),
            "memcg" => (TriggerKind::MemcgReclaimOver, self.memcg_over_ns?),
            _ => return None,
        };
        if took <= over || self.out.busy(kind) {
            return None;
        }
        let detail = format!(
            "{} reclaim took {} (over {}), {} pages reclaimed; by {}",
            self.text_of(RECLAIM_WHO),
            ms(took),
            ms(over),
            self.nums[RECLAIM_FREED].u64().unwrap_or(0),
            self.header_task()
        );
        Some(Fired {
            kind,
            ts_ns: self.ts_ns,
            detail,
        })
    }

    fn compaction_fired(&mut self) -> Option<Fired> {
        let over = self.compaction_over_ns?;
        // Only an allocating task's compaction is a stall; kcompactd's and
        // proactive runs are background work.
        if self.text_of(CMP_RUNNER) != "direct" {
            return None;
        }
        let n = &self.nums;
        // The task has stalled since its attempt began (`try_to_compact_pages`),
        // which may span several zones' runs; the run alone when the attempt
        // was not seen.
        let stalled = match n[CMP_ATTEMPT].i64() {
            Some(at) if at <= self.ts_ns => self.ts_ns - at,
            _ => n[CMP_DURATION].i64()?,
        };
        if stalled <= over || self.out.busy(TriggerKind::CompactionOver) {
            return None;
        }
        let order = match n[CMP_ORDER].i64() {
            Some(o) => format!("order {o}"),
            None => "whole zone".to_string(),
        };
        let mut detail = format!(
            "direct compaction stalled {} (over {}), {order}, node {} zone {}, {}",
            ms(stalled),
            ms(over),
            n[CMP_NODE].i64().unwrap_or(0),
            self.text_of(CMP_ZONE),
            self.text_of(CMP_STATUS)
        );
        if let Some(m) = n[CMP_MIGRATED].u64() {
            detail.push_str(&format!(", {m} pages migrated"));
        }
        detail.push_str(&format!("; by {}", self.header_task()));
        Some(Fired {
            kind: TriggerKind::CompactionOver,
            ts_ns: self.ts_ns,
            detail,
        })
    }
}

impl Visitor for Triggers {
    fn u32(&mut self, v: u32) {
        self.num(Num::U(u64::from(v)));
    }
    fn u64(&mut self, v: u64) {
        self.num(Num::U(v));
    }
    fn i32(&mut self, v: i32) {
        self.num(Num::I(i64::from(v)));
    }
    fn i64(&mut self, v: i64) {
        self.num(Num::I(v));
    }
    fn f64(&mut self, v: f64) {
        self.num(Num::F(v));
    }
    fn bool(&mut self, _: bool) {
        self.cap();
    }
    fn text(&mut self, v: &str) {
        if let Cap::Text(k) = self.cap() {
            let t = &mut self.texts[k];
            t.clear();
            t.push_str(v);
        }
    }
    fn null(&mut self) {
        match self.cap() {
            Cap::Num(k) => self.nums[k] = Num::Null,
            Cap::Text(k) => self.texts[k].clear(),
            Cap::Skip => {}
        }
    }
}

impl Watch for Triggers {
    fn wants(&self, table: &'static Table) -> bool {
        self.slot_by_name(table).is_some()
    }

    fn begin(&mut self, table: &'static Table, hdr: &Header) {
        self.cur = self.slot_of(table);
        self.col = 0;
        self.ts_ns = hdr.ts_ns;
        self.tgid = hdr.tgid;
        self.comm = hdr.comm.0;
        self.nums = [Num::Null; NUMS];
        for t in &mut self.texts {
            t.clear();
        }
    }

    fn end(&mut self) {
        if let Some(slot) = self.cur.take() {
            self.check(slot);
        }
    }
}

/// Why the memory PSI trigger cannot be set: a warning, since recording
/// goes on with the row triggers.
#[derive(Debug, thiserror::Error)]
pub enum PsiError {
    #[error("{path}: no such file: this kernel has no pressure stall information (built without CONFIG_PSI, or booted with psi=0; boot with psi=1){}", v1_note(*.cgroup_v1))]
    Missing { path: PathBuf, cgroup_v1: bool },
    #[error("{path}: pressure stall information is off on this kernel (boot with psi=1){}", v1_note(*.cgroup_v1))]
    Disabled { path: PathBuf, cgroup_v1: bool },
    #[error("{path}: setting a trigger is not permitted: {source} (an unprivileged trigger needs a window that is a multiple of 2 s)")]
    Permission {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: without CAP_SYS_RESOURCE the kernel takes only a window that is a multiple of 2 s, not {}; e.g. psi=150ms/2s", humantime_short(*.window))]
    Unprivileged { path: PathBuf, window: Duration },
    #[error("{path}: the kernel refused the trigger `{text}`: {source}")]
    Refused {
        path: PathBuf,
        text: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn v1_note(cgroup_v1: bool) -> &'static str {
    if cgroup_v1 {
        "; this host runs cgroup v1, whose kernels often leave PSI off"
    } else {
        ""
    }
}

/// Whether the host mounts the unified cgroup hierarchy (v2) at the usual
/// place; false means v1 (or hybrid).
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

impl PsiError {
    /// Whether the kernel has no PSI at all (as opposed to a refused trigger).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn is_unsupported(&self) -> bool {
        matches!(self, PsiError::Missing { .. } | PsiError::Disabled { .. })
    }
}

/// A memory PSI trigger: the kernel wakes `poll` when tasks stalled on
/// memory for more than `stall` within any `window`.
#[derive(Debug)]
pub struct Psi {
    file: File,
    path: PathBuf,
    stall: Duration,
    window: Duration,
    gone: AtomicBool,
}

impl Psi {
    /// A trigger on the system-wide memory pressure (`some`).
    pub fn open(stall: Duration, window: Duration) -> Result<Psi, PsiError> {
        Psi::open_file(Path::new(PROC_PRESSURE_MEMORY), stall, window)
    }

    /// A trigger on a memory pressure file: the system's, or a cgroup v2
    /// group's `memory.pressure`.
    pub fn open_file(path: &Path, stall: Duration, window: Duration) -> Result<Psi, PsiError> {
        let cgroup_v1 = !cgroup_v2();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|source| open_error(path, source, cgroup_v1))?;
        // The kernel overwrites the last byte written with a NUL: the text
        // must end with one, or it loses its last digit.
        let text = format!("some {} {}", stall.as_micros(), window.as_micros());
        let mut bytes = text.clone().into_bytes();
        bytes.push(0);
        (&file)
            .write_all(&bytes)
            .map_err(|source| match source.raw_os_error() {
                Some(libc::EOPNOTSUPP) => PsiError::Disabled {
                    path: path.to_path_buf(),
                    cgroup_v1,
                },
                Some(libc::EPERM | libc::EACCES) => PsiError::Permission {
                    path: path.to_path_buf(),
                    source,
                },
                // Since 6.5 a trigger without CAP_SYS_RESOURCE must have a
                // window of whole 2 s (the kernel then polls it at that rate).
                Some(libc::EINVAL)
                    if !window.as_micros().is_multiple_of(2_000_000)
                        && !crate::protect::has_cap_sys_resource() =>
                {
                    PsiError::Unprivileged {
                        path: path.to_path_buf(),
                        window,
                    }
                }
                _ => PsiError::Refused {
                    path: path.to_path_buf(),
                    text,
                    source,
                },
            })?;
        Ok(Psi {
            file,
            path: path.to_path_buf(),
            stall,
            window,
            gone: AtomicBool::new(false),
        })
    }

    /// Whether the trigger fired since the last call (never blocks). A
    /// trigger that is gone (its cgroup removed) never fires again.
    pub fn poll(&self) -> bool {
        if self.gone.load(Ordering::Relaxed) {
            return false;
        }
        let mut p = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n <= 0 {
            return false;
        }
        if p.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            self.gone.store(true, Ordering::Relaxed);
            tracing::warn!(
                "the PSI trigger on {} is gone (its cgroup was removed?); no more psi triggers",
                self.path.display()
            );
            return false;
        }
        p.revents & libc::POLLPRI != 0
    }

    /// Whether the kernel took the trigger away.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// The trigger that fired, now: its threshold and the pressure line.
    pub fn fired(&self) -> Fired {
        let mut text = String::new();
        let line = File::open(&self.path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .ok()
            .and_then(|_| text.lines().find(|l| l.starts_with("some ")))
            .unwrap_or("some (unreadable)");
        Fired {
            kind: TriggerKind::Psi,
            ts_ns: boottime_ns(),
            detail: format!(
                "memory pressure: tasks stalled over {} in {}; {line}",
                humantime_short(self.stall),
                humantime_short(self.window)
            ),
        }
    }
}

fn open_error(path: &Path, source: io::Error, cgroup_v1: bool) -> PsiError {
    let path = path.to_path_buf();
    match source.raw_os_error() {
        Some(libc::ENOENT) => PsiError::Missing { path, cgroup_v1 },
        Some(libc::EOPNOTSUPP) => PsiError::Disabled { path, cgroup_v1 },
        Some(libc::EPERM | libc::EACCES) => PsiError::Permission { path, source },
        _ => PsiError::Io { path, source },
    }
}

/// CLOCK_BOOTTIME now, in nanoseconds: the clock of `ts_ns`.
fn boottime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

#[cfg(test)]
mod tests {
    use super::*;
    use memtrace_schema::{Comm, Row};
    use std::fs::File;

    fn list(s: &str) -> Result<Vec<TriggerSpec>, TriggerError> {
        s.parse::<TriggerList>().map(|l| l.0)
    }

    #[test]
    fn the_documented_list_parses() {
        let l = list("oom,alloc-fail,direct-reclaim-over=100ms,compaction-over=50ms,psi=150ms/1s")
            .unwrap();
        assert_eq!(
            l,
            [
                TriggerSpec::Oom,
                TriggerSpec::AllocFail { all: false },
                TriggerSpec::DirectReclaimOver(Duration::from_millis(100)),
                TriggerSpec::CompactionOver(Duration::from_millis(50)),
                TriggerSpec::Psi {
                    stall: Duration::from_millis(150),
                    window: Duration::from_secs(1)
                },
            ]
        );
        assert_eq!(
            list(" memcg-reclaim-over = 1.5s , oom ").unwrap(),
            [
                TriggerSpec::MemcgReclaimOver(Duration::from_millis(1500)),
                TriggerSpec::Oom
            ]
        );
        // What it prints parses back to itself.
        let l = TriggerList(l);
        assert_eq!(l.to_string().parse::<TriggerList>().unwrap(), l);
        assert_eq!(
            l.to_string(),
            "oom,alloc-fail,direct-reclaim-over=100ms,compaction-over=50ms,psi=150ms/1s"
        );
    }

    #[test]
    fn each_kind_needs_its_groups() {
        let l: TriggerList = "oom,alloc-fail,direct-reclaim-over=1s,memcg-reclaim-over=1s,compaction-over=1s,psi=1s/2s"
            .parse()
            .unwrap();
        assert_eq!(l.groups(), ["oom", "paf", "pr", "compaction"]);
        // Every group named is one memrec records.
        for g in l.groups() {
            assert!(crate::probes::GROUPS.iter().any(|x| x.name == g), "{g}");
        }
        assert_eq!(
            l.psi(),
            Some((Duration::from_secs(1), Duration::from_secs(2)))
        );
        assert!(TriggerList(vec![TriggerSpec::Oom]).psi().is_none());
    }

    #[test]
    fn bad_items_are_named_with_the_valid_ones() {
        let e = list("oom,foo").unwrap_err();
        assert_eq!(e, TriggerError::Unknown("foo".into()));
        let msg = e.to_string();
        assert!(msg.contains("`foo`"), "{msg}");
        for k in TriggerKind::ALL {
            assert!(msg.contains(k.name()), "{msg} lacks {k}");
        }
        assert!(!msg.contains('\n'));

        let e = list("direct-reclaim-over").unwrap_err().to_string();
        assert!(
            e.contains("`direct-reclaim-over`") && e.contains("direct-reclaim-over=100ms"),
            "{e}"
        );
        let e = list("direct-reclaim-over=").unwrap_err();
        assert!(matches!(e, TriggerError::NeedsValue { .. }), "{e}");
        let e = list("compaction-over=fast").unwrap_err().to_string();
        assert!(
            e.contains("`compaction-over=fast`") && e.contains("fast"),
            "{e}"
        );
        let e = list("compaction-over=0").unwrap_err();
        assert!(matches!(e, TriggerError::Zero { .. }), "{e}");
        let e = list("oom=1s").unwrap_err().to_string();
        assert!(e.contains("`oom=1s`") && e.contains("no such value"), "{e}");
        let e = list("alloc-fail=some").unwrap_err().to_string();
        assert!(
            e.contains("`alloc-fail=some`") && e.contains("alloc-fail[=all]"),
            "{e}"
        );
        assert_eq!(
            list("alloc-fail=all").unwrap(),
            [TriggerSpec::AllocFail { all: true }]
        );
        assert_eq!(
            TriggerList(list("alloc-fail=all").unwrap()).to_string(),
            "alloc-fail=all"
        );
        assert_eq!(list("oom,,alloc-fail").unwrap_err(), TriggerError::Empty);
        assert_eq!(list("").unwrap_err(), TriggerError::Empty);
        assert_eq!(
            list("oom,direct-reclaim-over=1s,direct-reclaim-over=2s").unwrap_err(),
            TriggerError::Twice(TriggerKind::DirectReclaimOver)
        );
        assert!(list("OOM").is_err(), "names are exact");
    }

    #[test]
    fn psi_values_are_what_the_kernel_takes() {
        let ok = |s: &str| list(s).unwrap()[0];
        assert_eq!(
            ok("psi=100ms/500ms"),
            TriggerSpec::Psi {
                stall: Duration::from_millis(100),
                window: Duration::from_millis(500)
            }
        );
        assert_eq!(
            ok("psi=10s/10s"),
            TriggerSpec::Psi {
                stall: Duration::from_secs(10),
                window: Duration::from_secs(10)
            }
        );
        for bad in [
            "psi=150ms",
            "psi=150ms/100ms",
            "psi=0/1s",
            "psi=100ms/400ms",
            "psi=1s/11s",
        ] {
            let e = list(bad).unwrap_err();
            assert!(matches!(e, TriggerError::Psi { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
        assert!(matches!(
            list("psi=x/1s").unwrap_err(),
            TriggerError::Duration { .. }
        ));
        assert!(matches!(
            list("psi").unwrap_err(),
            TriggerError::NeedsValue { .. }
        ));
    }

    #[test]
    fn clap_takes_the_list() {
        #[derive(clap::Parser, Debug)]
        struct Args {
            #[arg(long, value_parser = parse_list)]
            trigger: Option<TriggerList>,
        }
        use clap::Parser;
        let a = Args::try_parse_from(["x", "--trigger", "oom,psi=150ms/1s"]).unwrap();
        assert_eq!(a.trigger.unwrap().0.len(), 2);
        let e = Args::try_parse_from(["x", "--trigger", "oom,bar"]).unwrap_err();
        assert!(e.to_string().contains("`bar`"), "{e}");
    }

    fn hdr(ts: i64, pid: u32, comm: &[u8]) -> Header {
        Header {
            ts_ns: ts,
            cpu: 0,
            pid,
            tgid: pid,
            comm: Comm::from_raw(comm),
            cgroup_id: 1,
        }
    }

    /// As the writer does: asks once, then begin, the values, end.
    fn push<R: Row>(t: &mut Triggers, h: &Header, row: &R) {
        if t.wants(R::TABLE) {
            t.begin(R::TABLE, h);
            row.visit(t);
            t.end();
        }
    }

    fn victim() -> oom_victim::Row {
        oom_victim::Row {
            victim_pid: 3199,
            victim_comm: Some("hog".into()),
            uid: Some(0),
            total_vm: Some(2 << 30),
            anon_rss: Some(1 << 30),
            file_rss: Some(12 << 20),
            shmem_rss: Some(0),
            pgtables: Some(4 << 20),
            oom_score_adj: Some(0),
            load1: 0.31,
            load5: 0.21,
            load15: 0.17,
            ..Default::default()
        }
    }

    #[test]
    fn wants_only_the_tables_of_its_triggers() {
        let all = Triggers::new(
            &list("oom,alloc-fail,direct-reclaim-over=1ms,compaction-over=1ms").unwrap(),
        );
        let wanted: Vec<&str> = memtrace_schema::tables()
            .iter()
            .filter(|t| all.wants(t))
            .map(|t| t.name)
            .collect();
        assert_eq!(
            wanted,
            ["paf", "reclaim_end", "oom_victim", "compaction_run"]
        );
        let oom = Triggers::new(&[TriggerSpec::Oom]);
        assert!(oom.any());
        assert!(oom.wants(&oom_victim::TABLE) && !oom.wants(&paf::TABLE));
        let psi = Triggers::new(&list("psi=1s/2s").unwrap());
        assert!(!psi.any());
        assert!(!memtrace_schema::tables().iter().any(|t| psi.wants(t)));
    }

    #[test]
    fn every_captured_column_exists() {
        for slot in Slot::ALL {
            for (name, _) in slot.cols() {
                assert!(
                    slot.table().column(name).is_some(),
                    "{}.{name} is gone from the schema",
                    slot.table().name
                );
            }
        }
    }

    #[test]
    fn an_oom_kill_fires_with_the_victim() {
        let mut t = Triggers::new(&[TriggerSpec::Oom]);
        let inbox = t.inbox();
        assert!(t.take().is_none());
        push(&mut t, &hdr(5_000, 3238, b"perl"), &victim());
        let f = inbox.take().unwrap();
        assert_eq!(f.kind, TriggerKind::Oom);
        assert_eq!(f.kind.name(), "oom");
        assert_eq!(f.ts_ns, 5_000);
        assert_eq!(
            f.detail,
            "OOM kill of PID 3199 (\"hog\"), anon-rss 1.0 GiB, file-rss 12.0 MiB, \
             shmem-rss 0 B, oom_score_adj 0; triggered by PID 3238 (\"perl\"); \
             loadavg 0.31 0.21 0.17"
        );
        assert!(t.take().is_none(), "taken once");
        let m = f.meta(Duration::from_secs(600), Duration::from_secs(30));
        assert_eq!(m.kind, "oom");
        assert_eq!((m.keep_ns, m.tail_ns), (600_000_000_000, 30_000_000_000));

        // Kernels before 6.8 give only the victim's pid.
        let old = oom_victim::Row {
            victim_pid: 77,
            ..Default::default()
        };
        push(&mut t, &hdr(6_000, 1, b"init"), &old);
        let f = t.take().unwrap();
        assert!(
            f.detail
                .starts_with("OOM kill of PID 77; triggered by PID 1 (\"init\")"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn an_allocation_failure_fires() {
        let mut t = Triggers::new(&[TriggerSpec::AllocFail { all: false }]);
        let row = paf::Row {
            order: 3,
            gfp_flags: 0xcc0,
            gfp: "GFP_KERNEL".into(),
            migratetype: 0,
            migratetype_name: "MIGRATE_UNMOVABLE".into(),
            highest_zone: "Normal".into(),
            node: 0,
        };
        push(&mut t, &hdr(9, 10, b"kworker"), &row);
        let f = t.take().unwrap();
        assert_eq!(f.kind.name(), "alloc-fail");
        assert_eq!(
            f.detail,
            "page allocation failure: order 3, GFP_KERNEL, MIGRATE_UNMOVABLE, highest zone Normal, node 0; by PID 10 (\"kworker\")"
        );
        // An OOM kill is not its business.
        push(&mut t, &hdr(10, 1, b"x"), &victim());
        assert!(t.take().is_none());

        // Failures the caller asked not to hear of (it falls back) do not
        // fire: by the bit when the kernel's flag table is known...
        let nowarn = 1 << 13;
        let quiet = paf::Row {
            gfp_flags: 0xcc0 | nowarn,
            gfp: "GFP_KERNEL|__GFP_NOWARN".into(),
            ..row.clone()
        };
        push(&mut t, &hdr(11, 10, b"k"), &quiet);
        assert!(t.take().is_none());
        let thp = paf::Row {
            order: 9,
            gfp_flags: 0x1c2ca | nowarn,
            gfp: "GFP_TRANSHUGE_LIGHT".into(),
            ..row.clone()
        };
        push(&mut t, &hdr(12, 10, b"k"), &thp);
        assert!(t.take().is_none());
        let mut known = Triggers::new(&[TriggerSpec::AllocFail { all: false }]);
        known.set_gfp_flags(&crate::printfmt::FlagTable::new(vec![
            (0xcc0, "GFP_KERNEL".into()),
            (nowarn, "__GFP_NOWARN".into()),
        ]));
        // ...whatever the text says.
        let raw = paf::Row {
            gfp: "0x2cc0".into(),
            ..quiet.clone()
        };
        push(&mut known, &hdr(13, 10, b"k"), &raw);
        assert!(known.take().is_none());
        push(&mut known, &hdr(14, 10, b"k"), &row);
        assert_eq!(known.take().unwrap().ts_ns, 14);
        // `all` wants them too.
        let mut all = Triggers::new(&[TriggerSpec::AllocFail { all: true }]);
        push(&mut all, &hdr(15, 10, b"k"), &thp);
        assert_eq!(all.take().unwrap().ts_ns, 15);
    }

    fn reclaim(who: &'static str, took_ms: Option<i64>) -> reclaim_end::Row {
        reclaim_end::Row {
            reclaimer: who.into(),
            nr_reclaimed: 32,
            begin_ts_ns: took_ms.map(|_| 1_000),
            duration_ns: took_ms.map(|m| m * 1_000_000),
        }
    }

    #[test]
    fn a_reclaim_fires_past_its_reclaimers_threshold() {
        let mut t =
            Triggers::new(&list("direct-reclaim-over=100ms,memcg-reclaim-over=50ms").unwrap());
        let h = hdr(1, 500, b"app");
        for (who, ms) in [
            ("direct", Some(100)), // not over
            ("direct", None),      // begin unseen
            ("kswapd", Some(900)),
            ("memcg_softlimit", Some(900)),
            ("node", Some(900)),
            ("memcg", Some(50)),
        ] {
            push(&mut t, &h, &reclaim(who, ms));
            assert!(t.take().is_none(), "{who} {ms:?}");
        }
        push(&mut t, &h, &reclaim("direct", Some(101)));
        let f = t.take().unwrap();
        assert_eq!(f.kind.name(), "direct-reclaim-over");
        assert_eq!(
            f.detail,
            "direct reclaim took 101.0 ms (over 100.0 ms), 32 pages reclaimed; by PID 500 (\"app\")"
        );
        push(&mut t, &h, &reclaim("memcg", Some(51)));
        assert_eq!(t.take().unwrap().kind, TriggerKind::MemcgReclaimOver);

        // Only direct: memcg reclaims do not fire.
        let mut d = Triggers::new(&[TriggerSpec::DirectReclaimOver(Duration::from_millis(1))]);
        push(&mut d, &h, &reclaim("memcg", Some(900)));
        assert!(d.take().is_none());
    }

    #[test]
    fn a_storm_keeps_the_first_and_counts_the_rest() {
        let mut t = Triggers::new(&[TriggerSpec::DirectReclaimOver(Duration::from_millis(1))]);
        let inbox = t.inbox();
        for i in 0..1000 {
            push(&mut t, &hdr(i, 1, b"a"), &reclaim("direct", Some(5)));
        }
        let f = inbox.take().unwrap();
        assert_eq!(f.ts_ns, 0);
        assert_eq!(inbox.dropped(), 999);
        assert!(inbox.take().is_none());
        push(&mut t, &hdr(2000, 1, b"a"), &reclaim("direct", Some(5)));
        assert_eq!(inbox.take().unwrap().ts_ns, 2000);

        // An OOM kill during a storm is kept; the earliest comes first.
        let mut t = Triggers::new(&list("oom,direct-reclaim-over=1ms").unwrap());
        push(&mut t, &hdr(10, 1, b"a"), &reclaim("direct", Some(5)));
        push(&mut t, &hdr(11, 1, b"a"), &reclaim("direct", Some(5)));
        push(&mut t, &hdr(12, 1, b"a"), &victim());
        push(&mut t, &hdr(13, 1, b"a"), &reclaim("direct", Some(5)));
        let first = t.take().unwrap();
        assert_eq!(
            (first.kind, first.ts_ns),
            (TriggerKind::DirectReclaimOver, 10)
        );
        let second = t.take().unwrap();
        assert_eq!((second.kind, second.ts_ns), (TriggerKind::Oom, 12));
        assert!(t.take().is_none());
        assert_eq!(t.inbox().dropped(), 2);
    }

    fn run(
        runner: &'static str,
        ts: i64,
        took_ms: i64,
        attempt: Option<i64>,
    ) -> compaction_run::Row {
        compaction_run::Row {
            runner: runner.into(),
            node: 0,
            zone: "Normal".into(),
            order: Some(9),
            status: "partial_skipped".into(),
            mode: "MIGRATE_SYNC_LIGHT".into(),
            begin_ts_ns: Some(ts - took_ms * 1_000_000),
            duration_ns: Some(took_ms * 1_000_000),
            attempt_ts_ns: attempt,
            migrated: Some(512),
            ..Default::default()
        }
    }

    #[test]
    fn a_direct_compaction_stall_fires() {
        let mut t = Triggers::new(&[TriggerSpec::CompactionOver(Duration::from_millis(50))]);
        let ms = 1_000_000;
        let h = |ts| hdr(ts, 42, b"thp");
        // kcompactd's long run is no stall.
        push(
            &mut t,
            &h(1000 * ms),
            &run("kcompactd", 1000 * ms, 500, None),
        );
        assert!(t.take().is_none());
        // One short run.
        push(
            &mut t,
            &h(1000 * ms),
            &run("direct", 1000 * ms, 30, Some(970 * ms)),
        );
        assert!(t.take().is_none());
        // The second zone's run of the same attempt: 30 ms itself, but the
        // task has waited 60 ms.
        push(
            &mut t,
            &h(1030 * ms),
            &run("direct", 1030 * ms, 30, Some(970 * ms)),
        );
        let f = t.take().unwrap();
        assert_eq!(f.kind.name(), "compaction-over");
        assert_eq!(
            f.detail,
            "direct compaction stalled 60.0 ms (over 50.0 ms), order 9, node 0 zone Normal, partial_skipped, 512 pages migrated; by PID 42 (\"thp\")"
        );
        // The attempt began before the recording: the run's own time.
        push(&mut t, &h(2000 * ms), &run("direct", 2000 * ms, 51, None));
        assert!(t
            .take()
            .unwrap()
            .detail
            .starts_with("direct compaction stalled 51.0 ms"));
    }

    #[test]
    fn a_table_constant_from_elsewhere_is_still_recognised() {
        // A copy of the table with its own name string, as another crate's
        // copy of the `const` may be.
        let name: &'static str = Box::leak(String::from("oom_victim").into_boxed_str());
        let copy: &'static Table = Box::leak(Box::new(Table {
            name,
            ..oom_victim::TABLE
        }));
        let mut t = Triggers::new(&[TriggerSpec::Oom]);
        assert!(t.wants(copy));
        for _ in 0..2 {
            t.begin(copy, &hdr(1, 2, b"c"));
            victim().visit(&mut t);
            t.end();
            assert!(t.take().is_some());
            push(&mut t, &hdr(1, 2, b"c"), &victim());
            assert!(t.take().is_some());
        }
        // Each address is looked up by name once, then remembered.
        assert_eq!(t.seen.iter().flatten().count(), 2);
    }

    /// Plays a recording's rows to a watcher in file order, as the writer
    /// showed them when it wrote them.
    fn replay(path: &str, w: &mut Triggers) -> Vec<Fired> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
        use arrow_array::Array;
        use memtrace_schema::ColumnType;
        let f = File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        let mut fired = Vec::new();
        for b in reader {
            let b = b.unwrap();
            let col = |name: &str| b.column_by_name(name).unwrap().clone();
            let (kind, ts) = (col("kind"), col("ts_ns"));
            let (kind, ts) = (kind.as_string::<i32>(), ts.as_primitive::<Int64Type>());
            let (pid, tgid, comm) = (col("pid"), col("tgid"), col("comm"));
            for i in 0..b.num_rows() {
                let Some(table) = memtrace_schema::table(kind.value(i)) else {
                    continue;
                };
                if !w.wants(table) {
                    continue;
                }
                let h = Header {
                    ts_ns: ts.value(i),
                    pid: pid.as_primitive::<UInt32Type>().value(i),
                    tgid: tgid.as_primitive::<UInt32Type>().value(i),
                    comm: Comm::from_raw(comm.as_string::<i32>().value(i).as_bytes()),
                    ..Default::default()
                };
                w.begin(table, &h);
                for c in table.columns {
                    let a = col(&memtrace_schema::file_column_name(table.name, c.name));
                    if a.is_null(i) {
                        w.null();
                        continue;
                    }
                    match c.ty {
                        ColumnType::U32 => w.u32(a.as_primitive::<UInt32Type>().value(i)),
                        ColumnType::U64 => w.u64(a.as_primitive::<UInt64Type>().value(i)),
                        ColumnType::I32 => w.i32(a.as_primitive::<Int32Type>().value(i)),
                        ColumnType::I64 => w.i64(a.as_primitive::<Int64Type>().value(i)),
                        ColumnType::F64 => w.f64(a.as_primitive::<Float64Type>().value(i)),
                        ColumnType::Bool => w.bool(a.as_boolean().value(i)),
                        ColumnType::Text => w.text(a.as_string::<i32>().value(i)),
                    }
                }
                w.end();
                fired.extend(w.take());
            }
        }
        fired
    }

    /// The first value of `key` anywhere in `v`.
    fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => m
                .get(key)
                .or_else(|| m.values().find_map(|x| find_key(x, key))),
            serde_json::Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
            _ => None,
        }
    }

    fn fixture(name: &str) -> String {
        format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn real_recordings_fire_where_their_incidents_are() {
        // The memcg OOM kill of memscen's oom scenario.
        let mut t = Triggers::new(&list("oom,alloc-fail,memcg-reclaim-over=1s").unwrap());
        let fired = replay(&fixture("oom.parquet"), &mut t);
        let oom: Vec<&Fired> = fired
            .iter()
            .filter(|f| f.kind == TriggerKind::Oom)
            .collect();
        assert_eq!(oom.len(), 1, "{fired:#?}");
        assert!(
            oom[0].detail.starts_with("OOM kill of PID "),
            "{}",
            oom[0].detail
        );
        assert!(oom[0].detail.contains("anon-rss"), "{}", oom[0].detail);
        // The victim memscen saw killed.
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("oom.truth.json")).unwrap())
                .unwrap();
        let victim = truth
            .pointer("/victim_pid")
            .or_else(|| find_key(&truth, "victim_pid"))
            .and_then(serde_json::Value::as_u64)
            .unwrap();
        assert!(
            oom[0]
                .detail
                .starts_with(&format!("OOM kill of PID {victim} (")),
            "{}",
            oom[0].detail
        );

        assert!(
            fired.iter().all(|f| f.kind == TriggerKind::Oom),
            "{fired:#?}"
        );
        assert_eq!(t.inbox().dropped(), 0);

        // Huge pages asked for past what fits: the one failure is the huge
        // page pool's __GFP_NOWARN attempt, which the kernel does not
        // report; `all` fires on it.
        let mut t = Triggers::new(&list("alloc-fail").unwrap());
        let fired = replay(&fixture("alloc-fail.parquet"), &mut t);
        assert!(fired.is_empty(), "{fired:#?}");
        let mut t = Triggers::new(&list("alloc-fail=all").unwrap());
        let fired = replay(&fixture("alloc-fail.parquet"), &mut t);
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert!(
            fired[0]
                .detail
                .starts_with("page allocation failure: order 9, GFP_HIGHUSER_MOVABLE|__GFP_NOWARN"),
            "{}",
            fired[0].detail
        );

        // Direct compaction stalls of the fragment scenario: the allocating
        // task (memscen) stalled; kcompactd's runs do not count.
        let mut t = Triggers::new(&list("compaction-over=5ms").unwrap());
        let fired = replay(&fixture("compaction.parquet"), &mut t);
        assert!(!fired.is_empty());
        for f in &fired {
            assert_eq!(f.kind, TriggerKind::CompactionOver);
            assert!(f.detail.contains("(\"memscen\")"), "{}", f.detail);
        }
    }

    #[test]
    fn psi_trigger_is_set_and_polled() {
        if memtrace_cli::testing::skip_unless_root(
            "psi_trigger_is_set_and_polled",
            "opening /proc/pressure/memory for writing",
        ) {
            return;
        }
        let privileged = crate::protect::has_cap_sys_resource();
        let window = if privileged {
            Duration::from_secs(1)
        } else {
            // Root without CAP_SYS_RESOURCE (a container): the kernel says
            // no to a 1 s window, and memrec says why.
            match Psi::open(Duration::from_millis(100), Duration::from_secs(1)) {
                Err(e @ PsiError::Unprivileged { .. }) => {
                    assert!(e.to_string().contains("multiple of 2 s"), "{e}")
                }
                Err(e) if e.is_unsupported() => {}
                other => panic!("{other:?}"),
            }
            Duration::from_secs(2)
        };
        let psi = match Psi::open(Duration::from_millis(100), window) {
            Ok(p) => p,
            Err(e) if e.is_unsupported() => {
                // A kernel without PSI: the message says why; nothing to poll.
                let msg = e.to_string();
                assert!(msg.contains("psi=1"), "{msg}");
                eprintln!("SKIPPED psi_trigger_is_set_and_polled: {msg}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        // Whether it fires depends on the machine's pressure; it must not
        // report the trigger gone.
        let _ = psi.poll();
        assert!(!psi.is_gone());
        let f = psi.fired();
        assert_eq!(f.kind, TriggerKind::Psi);
        assert!(f.detail.contains("avg10="), "{}", f.detail);
        assert!(f.ts_ns > 0);
        // A window the kernel does not take (the parser stops it first; the
        // error must still be plain).
        let e = Psi::open(Duration::from_millis(100), Duration::from_millis(100)).unwrap_err();
        assert!(
            matches!(e, PsiError::Refused { .. } | PsiError::Unprivileged { .. }),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    #[test]
    fn psi_missing_file_is_a_plain_warning() {
        let e = Psi::open_file(
            Path::new("/proc/pressure/no-such-file"),
            Duration::from_millis(100),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.is_unsupported());
        let msg = e.to_string();
        assert!(msg.contains("psi=1") && !msg.contains('\n'), "{msg}");
    }
}
