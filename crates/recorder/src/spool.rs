//! What becomes of the sealed segments while memrec records:
//!
//! - one file (`-o run.parquet`): they wait for the end, when they are
//!   merged into the file (see `record::close`);
//! - rotation (`--rotate`): each period's segments are merged into
//!   `DIR/memrec-<start>-<NNNN>.parquet`, and past `--max-size` the oldest
//!   files this run wrote are deleted;
//! - flight recorder (`--keep`): segments older than the window are deleted
//!   as new ones seal; on a trigger, the window before it and the tail after
//!   it are merged, with rows outside cut away, into one file.
//!
//! Merges run on their own thread (a merge copies whole row groups, but a
//! large period still takes seconds), so the drain loop never waits on one.
//!
//! Every rotated and flight-recorder file names its own stacks. The stack
//! store writes a stack's frames, a process's mappings and the kernel's
//! symbols once, in the segment where they are first seen; so when a
//! segment leaves the spool (its period rotated, or the flight window
//! moved past it), its store rows are first merged into the carry
//! (`.segments/.carry.parquet`), and every later file is merged with the
//! carry's rows as a reference. Folds run on the merge thread in the order
//! segments leave, so the carry always holds every segment gone before the
//! next file's merge starts.

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use memtrace_schema::{ClockAnchor, FileMeta};
use tracing::{debug, warn};

use crate::trigger::Fired;
use crate::writer::merge::{merge, MergeOptions};
use crate::writer::segments::CARRY_NAME;
use crate::writer::Sealed;

/// Most row groups in a rotated file. Its merge holds the footer in
/// memory, each row group's entry for each column: about 0.15 MiB per row
/// group of 176 columns (a minute at 2 M rows/s, 62 row groups, added 10-13
/// MiB to memrec's RSS while merged). 64 keep memrec under 100 MiB at that
/// rate, a file a minute; at the rates of real workloads a period holds
/// far fewer.
pub const MAX_FILE_ROW_GROUPS: usize = 64;

/// A period of rotation: by time, by size, or whichever comes first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotate {
    pub every: Option<Duration>,
    pub size: Option<u64>,
}

/// The flight recorder's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    /// The window kept before a trigger.
    pub keep: Duration,
    /// What is recorded after it before the file is written.
    pub tail: Duration,
    /// Stop after the first file (`--until`).
    pub until: bool,
    /// Least time between two files; triggers in between are counted only.
    pub min_gap: Duration,
}

/// What the spool does with segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Keep them all for the end.
    File,
    Rotate {
        rotate: Rotate,
        max_size: Option<u64>,
    },
    Flight(Flight),
}

/// What the drain loop should do after [`Spool::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// Close the segment now (a trigger's tail is complete).
    Checkpoint,
    /// The flight recorder wrote its file and `--until` was given.
    Stop,
}

/// A file the spool wrote, for the summary.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub rows: u64,
    pub trigger: Option<String>,
}

/// What the merge thread does with the segments of a job once done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Nothing (the flight recorder's retention deletes them later).
    Keep,
    /// Their store rows into the carry, then delete them (rotation).
    Retire,
    /// Delete them (the last rotation: no file follows).
    Delete,
}

enum Job {
    /// Merges segments into a rotated or flight-recorder file; the carry,
    /// when there is one, is a reference (its store rows are added).
    Write {
        inputs: Vec<PathBuf>,
        out: PathBuf,
        opts: Box<MergeOptions>,
        then: Then,
    },
    /// Segments leaving the spool: their store rows into the carry, then
    /// they are deleted.
    Retire(Vec<PathBuf>),
}

/// What a job did.
#[derive(Debug, Default)]
struct Done {
    /// The file written, or why not (a `Write` job).
    file: Option<Result<Written, String>>,
    /// The carry's size after the job's folds (None: unchanged).
    carry_bytes: Option<u64>,
    /// Folds that failed: files written later lack those stacks' names.
    lost: Vec<String>,
}

/// The stack store's tables: what a segment hands on to later files.
pub(crate) fn store_tables() -> BTreeSet<String> {
    memtrace_schema::tables::stacks::TABLES
        .iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// Rows of the stack store's tables in a file, as its metadata counts them
/// (a footer read; a segment without new stacks has none).
fn store_rows(path: &Path) -> Result<u64, String> {
    let why = |e: &dyn std::fmt::Display| format!("reading {}: {e}", path.display());
    let file = File::open(path).map_err(|e| why(&e))?;
    let reader = parquet::file::reader::SerializedFileReader::new(file).map_err(|e| why(&e))?;
    let footer = parquet::file::reader::FileReader::metadata(&reader).file_metadata();
    let (_, meta) = FileMeta::from_parquet(footer).map_err(|e| why(&e))?;
    Ok(memtrace_schema::tables::stacks::TABLES
        .iter()
        .filter_map(|t| meta.rows.get(t.name))
        .sum())
}

/// Merges the store rows of `segment` into the carry (written whole under
/// a temporary name and renamed over it). Returns the carry's size, or
/// None when the segment has no store rows.
fn fold(carry: &Path, segment: &Path, zstd_level: i32) -> Result<Option<u64>, String> {
    if store_rows(segment)? == 0 {
        return Ok(None);
    }
    let mut inputs = Vec::with_capacity(2);
    if carry.is_file() {
        inputs.push(carry.to_path_buf());
    }
    inputs.push(segment.to_path_buf());
    let opts = MergeOptions {
        only_tables: Some(store_tables()),
        // Replaces the carry (memrec's own regular file) once whole.
        force: true,
        zstd_level,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    merge(&inputs, carry, &opts)
        .map(|s| {
            debug!(
                segment = %segment.display(),
                rows = s.total_rows(),
                bytes = s.bytes,
                ms = started.elapsed().as_millis() as u64,
                "stacks carried"
            );
            Some(s.bytes)
        })
        .map_err(|e| {
            format!(
                "keeping the stacks of {} for later files: {e}",
                segment.display()
            )
        })
}

/// Segments leave the spool, oldest first: each one's store rows into the
/// carry (when there is one), then, if `delete`, the segment is deleted.
fn retire(carry: Option<&Path>, segments: &[PathBuf], delete: bool, level: i32, done: &mut Done) {
    for seg in segments {
        if let Some(carry) = carry {
            match fold(carry, seg, level) {
                Ok(Some(bytes)) => done.carry_bytes = Some(bytes),
                Ok(None) => {}
                Err(e) => done.lost.push(e),
            }
        }
        if delete {
            let _ = std::fs::remove_file(seg);
        }
    }
}

/// The merge thread.
struct Merger {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    busy: usize,
    handle: Option<JoinHandle<()>>,
}

impl Merger {
    /// `carry`: the carry's path, None when there are no segments to carry
    /// (a recording into one file).
    fn start(carry: Option<PathBuf>, level: i32) -> std::io::Result<Merger> {
        let (jtx, jrx) = channel::<Job>();
        let (dtx, drx) = channel::<Done>();
        let handle = std::thread::Builder::new()
            .name("memrec-merge".into())
            .spawn(move || {
                for job in jrx {
                    let mut done = Done::default();
                    match job {
                        Job::Write {
                            inputs,
                            out,
                            mut opts,
                            then,
                        } => {
                            if let Some(c) = carry.as_ref().filter(|c| c.is_file()) {
                                opts.references.insert(0, c.clone());
                            }
                            let r = merge(&inputs, &out, &opts)
                                .map(|s| Written {
                                    path: out.clone(),
                                    bytes: s.bytes,
                                    rows: s.total_rows(),
                                    trigger: opts.trigger.as_ref().map(|t| t.kind.clone()),
                                })
                                .map_err(|e| e.to_string());
                            // A period that could not be written still
                            // hands its stacks on; its segments stay (for
                            // the end, which removes the directory).
                            let ok = r.is_ok();
                            match then {
                                Then::Keep => {}
                                Then::Retire => {
                                    retire(carry.as_deref(), &inputs, ok, level, &mut done)
                                }
                                Then::Delete => retire(None, &inputs, ok, level, &mut done),
                            }
                            done.file = Some(r);
                        }
                        Job::Retire(segments) => {
                            retire(carry.as_deref(), &segments, true, level, &mut done)
                        }
                    }
                    // A merge's buffers are freed in bursts, in an arena the
                    // writer shares; give the pages back so memrec's
                    // resident size stays that of the recording.
                    // SAFETY: malloc_trim only returns free heap memory.
                    unsafe { libc::malloc_trim(0) };
                    if dtx.send(done).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Merger {
            jobs: Some(jtx),
            done: drx,
            busy: 0,
            handle: Some(handle),
        })
    }

    fn submit(&mut self, job: Job) {
        if let Some(tx) = &self.jobs {
            if tx.send(job).is_ok() {
                self.busy += 1;
            }
        }
    }

    /// Merges that finished since the last call.
    fn finished(&mut self) -> Vec<Done> {
        let done: Vec<Done> = self.done.try_iter().collect();
        self.busy = self.busy.saturating_sub(done.len());
        done
    }

    /// Waits for every merge.
    fn join(&mut self) -> Vec<Done> {
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let done: Vec<Done> = self.done.try_iter().collect();
        self.busy = 0;
        done
    }
}

/// The sealed segments and what is done with them.
pub struct Spool {
    mode: Mode,
    /// Where rotated and flight files go.
    out_dir: PathBuf,
    /// The flight recorder's one file (`-o FILE` with `--until`).
    out_file: Option<PathBuf>,
    force: bool,
    zstd_level: i32,
    sealed: Receiver<Sealed>,
    held: VecDeque<Sealed>,
    /// Start of the current rotation period.
    period_start: Option<i64>,
    period_bytes: u64,
    period_row_groups: usize,
    /// A period was cut short for its row groups (said once).
    cut_short: bool,
    files_made: u32,
    /// Files written, oldest first (rotation deletes from the front).
    pub written: Vec<Written>,
    /// A trigger waiting for its tail: it and when the tail ends.
    pending: Option<(Fired, i64)>,
    last_dump_ns: Option<i64>,
    /// Triggers not written because one was pending or too recent.
    pub skipped: u64,
    stop_after_merge: bool,
    anchor: ClockAnchor,
    merger: Merger,
    /// The carry's size (counted in `--max-size`: it is on the same disk).
    carry_bytes: u64,
    /// Segments whose stacks could not be carried to later files, and why.
    lost: Vec<String>,
    pub errors: Vec<String>,
}

/// A rotated file at least this large is merged by copying row groups only:
/// at such rates its row groups are large where the rows are, and joining
/// the small ones would cost memory beside the recording for a sliver of
/// footer.
const COPY_ONLY_BYTES: u64 = 16 << 20;

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Spool {
    /// `segments`: the directory the segments are sealed in, where the
    /// carry is kept.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: Mode,
        out_dir: &Path,
        segments: &Path,
        out_file: Option<PathBuf>,
        force: bool,
        zstd_level: i32,
        sealed: Receiver<Sealed>,
        anchor: ClockAnchor,
    ) -> std::io::Result<Spool> {
        let carry = (mode != Mode::File).then(|| segments.join(CARRY_NAME));
        Ok(Spool {
            mode,
            out_dir: out_dir.to_path_buf(),
            out_file,
            force,
            zstd_level,
            sealed,
            held: VecDeque::new(),
            period_start: None,
            period_bytes: 0,
            period_row_groups: 0,
            cut_short: false,
            files_made: 0,
            written: Vec::new(),
            pending: None,
            last_dump_ns: None,
            skipped: 0,
            stop_after_merge: false,
            anchor,
            merger: Merger::start(carry, zstd_level)?,
            carry_bytes: 0,
            lost: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// The wall-clock time of `ts_ns` for file names: `20261130T163438Z`.
    fn stamp(&self, ts_ns: i64) -> String {
        let real = ts_ns - self.anchor.boottime_ns + self.anchor.realtime_ns;
        chrono::DateTime::from_timestamp_nanos(real)
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    }

    /// Whether this is the flight recorder.
    pub fn is_flight(&self) -> bool {
        matches!(self.mode, Mode::Flight(_))
    }

    /// A trigger fired (flight recorder only).
    pub fn fired(&mut self, f: Fired) {
        let Mode::Flight(fl) = &self.mode else {
            return;
        };
        let too_soon = self
            .last_dump_ns
            .is_some_and(|last| f.ts_ns - last < ns(fl.min_gap));
        if self.pending.is_some() || too_soon || self.stop_after_merge {
            self.skipped += 1;
            debug!(
                "trigger {} at {} not written: one is pending or too recent",
                f.kind.name(),
                f.ts_ns
            );
            return;
        }
        eprintln!(
            "memrec: trigger {}: {}; writing the {:?} before it and the {:?} after",
            f.kind.name(),
            f.detail,
            fl.keep,
            fl.tail,
        );
        let deadline = f.ts_ns.saturating_add(ns(fl.tail));
        self.pending = Some((f, deadline));
    }

    /// Takes the segments sealed since the last call and acts on them;
    /// `now_ns` is the current `ts_ns` clock.
    pub fn tick(&mut self, now_ns: i64) -> Action {
        for d in self.merger.finished() {
            self.finished(d);
        }
        let new: Vec<Sealed> = self.sealed.try_iter().collect();
        for s in new {
            debug!(segment = s.index, bytes = s.bytes, "sealed");
            self.period_start.get_or_insert(s.start_ns);
            self.period_bytes += s.bytes;
            self.period_row_groups += s.row_groups;
            self.held.push_back(s);
        }
        match self.mode.clone() {
            Mode::File => Action::None,
            Mode::Rotate { rotate, max_size } => {
                let end = self.held.back().map(|s| s.end_ns);
                let due = match (self.period_start, end) {
                    (Some(start), Some(end)) => {
                        // Rotation happens at checkpoints, which the loop
                        // times to within its 100 ms round: a period that
                        // falls short of `every` by less than that is due.
                        rotate
                            .every
                            .is_some_and(|e| end - start >= ns(e) - ns(e / 20).min(250_000_000))
                            || rotate.size.is_some_and(|s| self.period_bytes >= s)
                    }
                    _ => false,
                };
                // The merge holds the footer of the file it writes, every
                // row group's entry for every column, in memory: a period
                // that reaches the cap is cut at this checkpoint.
                let full = self.period_row_groups >= MAX_FILE_ROW_GROUPS;
                if full && !due && !self.cut_short {
                    self.cut_short = true;
                    let secs = match (self.period_start, end) {
                        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
                        _ => 0.0,
                    };
                    warn!(
                        "rotating after {secs:.0} s, before the --rotate period ends: a rotated \
                         file holds at most {MAX_FILE_ROW_GROUPS} row groups (its merge keeps \
                         the footer in memory)"
                    );
                }
                if due || full {
                    self.rotate(Then::Retire);
                }
                if let Some(max) = max_size {
                    self.enforce_max(max);
                }
                Action::None
            }
            Mode::Flight(fl) => {
                if self.stop_after_merge && self.merger.busy == 0 {
                    return Action::Stop;
                }
                if let Some((f, deadline)) = self.pending.clone() {
                    let tail_sealed = self.held.back().is_some_and(|s| s.end_ns >= deadline);
                    if tail_sealed {
                        self.dump(&f, &fl);
                        self.pending = None;
                    } else if now_ns >= deadline {
                        return Action::Checkpoint;
                    }
                    return Action::None;
                }
                // Retention: what ends before the window (one segment of
                // slack, so the window's start is always covered) leaves,
                // its stacks into the carry. On the merge thread, after
                // any dump submitted before: none is deleted while a dump
                // may be reading it.
                let horizon = now_ns.saturating_sub(ns(fl.keep));
                let mut leaving = Vec::new();
                while self.held.len() > 1 && self.held.get(1).is_some_and(|s| s.end_ns < horizon) {
                    if let Some(old) = self.held.pop_front() {
                        leaving.push(old.path);
                    }
                }
                if !leaving.is_empty() {
                    self.merger.submit(Job::Retire(leaving));
                }
                Action::None
            }
        }
    }

    /// Merges the current period's segments into the next rotated file;
    /// `then`: what becomes of them after.
    fn rotate(&mut self, then: Then) {
        let inputs: Vec<Sealed> = self.held.drain(..).collect();
        let Some(first) = inputs.first() else {
            return;
        };
        self.files_made += 1;
        let out = self.out_dir.join(format!(
            "memrec-{}-{:04}.parquet",
            self.stamp(first.start_ns),
            self.files_made
        ));
        // Joining small row groups encodes them again, which costs a column
        // writer per column (~30 MiB in all); a period this large has big
        // row groups where the rows are, and the small ones' footer entries
        // are a sliver of it, so its row groups are only copied.
        let bytes: u64 = inputs.iter().map(|s| s.bytes).sum();
        let coalesce_below = if bytes > COPY_ONLY_BYTES {
            0
        } else {
            MergeOptions::default().coalesce_below
        };
        self.merger.submit(Job::Write {
            inputs: inputs.iter().map(|s| s.path.clone()).collect(),
            out,
            opts: Box::new(MergeOptions {
                zstd_level: self.zstd_level,
                coalesce_below,
                ..Default::default()
            }),
            then,
        });
        self.period_start = None;
        self.period_bytes = 0;
        self.period_row_groups = 0;
    }

    /// Deletes the oldest rotated files of this run while the directory
    /// holds more than `max` bytes of them (with the segments waiting and
    /// the carry).
    fn enforce_max(&mut self, max: u64) {
        let waiting: u64 = self.held.iter().map(|s| s.bytes).sum::<u64>() + self.carry_bytes;
        let mut total: u64 = waiting + self.written.iter().map(|w| w.bytes).sum::<u64>();
        while total > max && self.written.len() > 1 {
            let old = self.written.remove(0);
            match std::fs::remove_file(&old.path) {
                Ok(()) => eprintln!(
                    "memrec: deleted {} (--max-size {})",
                    old.path.display(),
                    crate::record::human_bytes(max)
                ),
                Err(e) => warn!("deleting {}: {e}", old.path.display()),
            }
            total = total.saturating_sub(old.bytes);
        }
    }

    /// Writes the window around a trigger.
    fn dump(&mut self, f: &Fired, fl: &Flight) {
        let from = f.ts_ns.saturating_sub(ns(fl.keep));
        let to = f.ts_ns.saturating_add(ns(fl.tail)).saturating_add(1);
        let inputs: Vec<PathBuf> = self
            .held
            .iter()
            .filter(|s| s.end_ns >= from && s.start_ns < to)
            .map(|s| s.path.clone())
            .collect();
        // Stacks first seen before the window: in the carry (added by the
        // merge thread), and in the segments still held that end before
        // it (the retention's slack), whose store rows are added too.
        let references: Vec<PathBuf> = self
            .held
            .iter()
            .filter(|s| s.end_ns < from)
            .map(|s| s.path.clone())
            .collect();
        let out = match (&self.out_file, fl.until) {
            (Some(file), true) => file.clone(),
            _ => {
                self.files_made += 1;
                self.out_dir.join(format!(
                    "memrec-{}-{}.parquet",
                    self.stamp(f.ts_ns),
                    f.kind.name()
                ))
            }
        };
        self.last_dump_ns = Some(f.ts_ns);
        self.merger.submit(Job::Write {
            inputs,
            out,
            opts: Box::new(MergeOptions {
                window: Some((from, to)),
                trigger: Some(f.meta(fl.keep, fl.tail)),
                force: self.force,
                zstd_level: self.zstd_level,
                references,
                ..Default::default()
            }),
            then: Then::Keep,
        });
        if fl.until {
            self.stop_after_merge = true;
        }
    }

    fn finished(&mut self, d: Done) {
        if let Some(b) = d.carry_bytes {
            self.carry_bytes = b;
        }
        for e in d.lost {
            warn!("{e}");
            self.lost.push(e);
        }
        match d.file {
            None => {}
            Some(Ok(w)) => {
                eprintln!(
                    "memrec: wrote {} ({}, {} rows{})",
                    w.path.display(),
                    crate::record::human_bytes(w.bytes),
                    w.rows,
                    w.trigger
                        .as_deref()
                        .map(|t| format!(", trigger {t}"))
                        .unwrap_or_default()
                );
                self.written.push(w);
            }
            Some(Err(e)) => {
                warn!("{e}");
                self.errors.push(e);
            }
        }
    }

    /// At the end of the recording: rotation writes its last period; the
    /// flight recorder writes a pending trigger with the tail it has. Waits
    /// for every merge. Returns the segments still held (file mode: all).
    pub fn finish(mut self) -> (Vec<Written>, Vec<String>, Vec<Sealed>) {
        // The last segment was sealed by the writer's end.
        let _ = self.tick(i64::MIN);
        match self.mode.clone() {
            Mode::File => {}
            Mode::Rotate { max_size, .. } => {
                // No file follows: its stacks need not be carried.
                self.rotate(Then::Delete);
                for d in self.merger.join() {
                    self.finished(d);
                }
                if let Some(max) = max_size {
                    self.enforce_max(max);
                }
            }
            Mode::Flight(fl) => {
                if let Some((f, _)) = self.pending.take() {
                    self.dump(&f, &fl);
                }
                for d in self.merger.join() {
                    self.finished(d);
                }
                for s in self.held.drain(..) {
                    let _ = std::fs::remove_file(&s.path);
                }
            }
        }
        for d in self.merger.join() {
            self.finished(d);
        }
        if let Some(e) = self.lost.first() {
            eprintln!(
                "memrec: warning: the stacks of {} segment(s) could not be carried into later files, which name fewer stacks ({e})",
                self.lost.len()
            );
        }
        if self.skipped > 0 {
            eprintln!(
                "memrec: {} more trigger(s) fired while a file was pending or within --trigger-gap; not written",
                self.skipped
            );
        }
        let held = self.held.drain(..).collect();
        (self.written, self.errors, held)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::mpsc::Sender;
    use std::time::Instant;

    use memtrace_schema::tables::procstat::procstat;
    use memtrace_schema::tables::stacks::{kernel_symbol, stack_frame};
    use memtrace_schema::Text;

    use super::*;
    use crate::trigger::TriggerKind;
    use crate::writer::merge::test_segments::meta;
    use crate::writer::tests::hdr;
    use crate::writer::{create, WriterOptions};

    /// A row of a test segment.
    #[derive(Clone, Copy)]
    pub(crate) enum R {
        /// A procstat sample at `ts`.
        Event(i64),
        /// Frame 0 of stack `id`, first seen at `ts`.
        Frame(i64, u64),
        /// The kernel's symbols, written at `ts`.
        Symbol(i64),
    }

    /// Writes segment `k` (`start..end`) of a test recording into `segs`.
    pub(crate) fn write_segment(segs: &Path, k: u64, span: (i64, i64), rows: &[R]) -> PathBuf {
        let path = segs.join(crate::writer::segments::segment_name(k));
        let file = std::fs::File::create_new(&path).unwrap();
        let opts = WriterOptions {
            zstd_level: 1,
            ..Default::default()
        };
        let (mut t, w) = create(file, segs, &opts).unwrap();
        let mut counted: Vec<(&'static str, i64)> = Vec::new();
        for &r in rows {
            match r {
                R::Event(ts) => {
                    t.push(&hdr(ts), &procstat::Row::default()).unwrap();
                    counted.push(("procstat", ts));
                }
                R::Frame(ts, id) => {
                    let row = stack_frame::Row {
                        stack_id: id,
                        depth: 0,
                        ip: 0x1000 + id,
                        kernel: false,
                    };
                    t.push(&hdr(ts), &row).unwrap();
                    counted.push(("stack_frame", ts));
                }
                R::Symbol(ts) => {
                    let row = kernel_symbol::Row {
                        address: 0xffff_0000,
                        name: Text::from("do_page_fault".to_string()),
                        module: None,
                    };
                    t.push(&hdr(ts), &row).unwrap();
                    counted.push(("kernel_symbol", ts));
                }
            }
        }
        t.finish(meta("rec", k, span.0, span.1, &counted)).unwrap();
        w.join().unwrap();
        path
    }

    /// Writes segment `k` (`start..end`) into `segs` and tells the spool.
    fn seal(tx: &Sender<Sealed>, segs: &Path, k: u64, span: (i64, i64), rows: &[R]) {
        let path = write_segment(segs, k, span, rows);
        let bytes = std::fs::metadata(&path).unwrap().len();
        tx.send(Sealed {
            index: k,
            path,
            bytes,
            row_groups: 1,
            start_ns: span.0,
            end_ns: span.1,
        })
        .unwrap();
    }

    fn anchor() -> ClockAnchor {
        ClockAnchor {
            boottime_ns: 0,
            realtime_ns: 1_700_000_000_000_000_000,
            monotonic_ns: 0,
        }
    }

    /// A spool of `mode` writing into `dir`, its segments in `dir/.segments`.
    fn spool(dir: &Path, mode: Mode) -> (Spool, Sender<Sealed>, PathBuf) {
        let segs = dir.join(".segments");
        std::fs::create_dir(&segs).unwrap();
        let (tx, rx) = channel();
        let s = Spool::new(mode, dir, &segs, None, false, 1, rx, anchor()).unwrap();
        (s, tx, segs)
    }

    /// Ticks at `now` until the merge thread is idle.
    fn settle(s: &mut Spool, now: i64) -> Action {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let a = s.tick(now);
            if s.merger.busy == 0 || a != Action::None {
                return a;
            }
            assert!(Instant::now() < until, "the merge thread is stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Rows per table, and the stack ids of the frames, in a file.
    pub(crate) fn content(path: &Path) -> (BTreeMap<String, u64>, BTreeSet<u64>) {
        use crate::writer::merge::test_segments::{batches, kind_ts};
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt64Type;
        use arrow_array::Array;
        let (mut rows, mut ids) = (BTreeMap::new(), BTreeSet::new());
        for b in batches(path) {
            let (kind, _) = kind_ts(&b);
            let id = b
                .column_by_name("stack_frame.stack_id")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone();
            for i in 0..b.num_rows() {
                *rows.entry(kind.value(i).to_string()).or_insert(0) += 1;
                if kind.value(i) == "stack_frame" && !id.is_null(i) {
                    ids.insert(id.value(i));
                }
            }
        }
        (rows, ids)
    }

    fn ids(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn every_rotated_file_holds_the_stacks_seen_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mode = Mode::Rotate {
            // Every segment is a period.
            rotate: Rotate {
                every: None,
                size: Some(1),
            },
            max_size: None,
        };
        let (mut s, tx, segs) = spool(dir.path(), mode);
        let carry = segs.join(CARRY_NAME);
        // 1: the symbols and stack 1; 2: only events (nothing to carry);
        // 3: stack 2; 4: events again.
        let periods: [&[R]; 4] = [
            &[R::Symbol(1), R::Event(2), R::Frame(3, 1)],
            &[R::Event(11), R::Event(12)],
            &[R::Frame(21, 2), R::Event(22)],
            &[R::Event(31)],
        ];
        for (k, rows) in periods.iter().enumerate() {
            let k = k as u64 + 1;
            seal(&tx, &segs, k, (k as i64 * 10 - 10, k as i64 * 10), rows);
            settle(&mut s, k as i64 * 10);
            // Only the segments with store rows were folded in so far.
            let (carried, ids_carried) = content(&carry);
            assert_eq!(
                carried.keys().collect::<Vec<_>>(),
                ["kernel_symbol", "stack_frame"],
                "the carry holds the store's rows only"
            );
            let want = if k < 3 { ids(&[1]) } else { ids(&[1, 2]) };
            assert_eq!(ids_carried, want, "carry after segment {k}");
            assert!(!segs.join(crate::writer::segments::segment_name(k)).exists());
        }
        let (written, errors, held) = s.finish();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(held.is_empty());
        assert_eq!(written.len(), 4);
        let want: [&[u64]; 4] = [&[1], &[1], &[1, 2], &[1, 2]];
        for (w, want) in written.iter().zip(want) {
            let (rows, frames) = content(&w.path);
            assert_eq!(frames, ids(want), "{}", w.path.display());
            assert_eq!(rows.get("kernel_symbol"), Some(&1), "{}", w.path.display());
            // The events are the period's own; the store rows once each.
            assert_eq!(rows.get("stack_frame"), Some(&(want.len() as u64)));
            assert!(rows.get("procstat").is_some_and(|&n| n >= 1));
        }
        // The last period is not carried (no file follows); the carry
        // goes with the segments directory at the end.
        assert_eq!(content(&carry).1, ids(&[1, 2]));
        assert!(!segs.join("000004.parquet").exists());
    }

    /// A rotated file's merge holds its footer in memory: a period is cut
    /// when its segments hold the most row groups a file may, whatever
    /// `--rotate` says.
    #[test]
    fn a_period_is_cut_at_the_row_group_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mode = Mode::Rotate {
            rotate: Rotate {
                every: Some(Duration::from_secs(3600)),
                size: None,
            },
            max_size: None,
        };
        let (mut s, tx, segs) = spool(dir.path(), mode);
        let per = MAX_FILE_ROW_GROUPS / 2;
        for k in 1..=3u64 {
            let path = write_segment(
                &segs,
                k,
                (k as i64 * 10 - 10, k as i64 * 10),
                &[R::Event(k as i64 * 10 - 5)],
            );
            let bytes = std::fs::metadata(&path).unwrap().len();
            tx.send(Sealed {
                index: k,
                path,
                bytes,
                // As if each held this many (the files hold one).
                row_groups: per,
                start_ns: k as i64 * 10 - 10,
                end_ns: k as i64 * 10,
            })
            .unwrap();
            settle(&mut s, k as i64 * 10);
            let want = if k < 2 { 0 } else { 1 };
            assert_eq!(s.written.len(), want, "after segment {k}");
        }
        assert_eq!(s.period_row_groups, per);
    }

    #[test]
    fn a_flight_file_names_stacks_seen_before_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let fl = Flight {
            keep: Duration::from_nanos(25),
            tail: Duration::from_nanos(4),
            until: false,
            min_gap: Duration::ZERO,
        };
        let (mut s, tx, segs) = spool(dir.path(), Mode::Flight(fl));
        let carry = segs.join(CARRY_NAME);
        // Segment k spans (k-1)*10..k*10. Stacks first seen: 1 (and the
        // symbols) in segment 1, 2 in 2, 4 in 3, 3 in 4.
        let periods: [&[R]; 6] = [
            &[R::Symbol(1), R::Frame(2, 1), R::Event(3)],
            &[R::Frame(11, 2), R::Event(12)],
            &[R::Frame(21, 4), R::Event(22)],
            &[R::Frame(31, 3), R::Event(32)],
            &[R::Event(41)],
            &[R::Event(51)],
        ];
        for (k, rows) in periods.iter().take(5).enumerate() {
            let k = k as u64 + 1;
            seal(&tx, &segs, k, (k as i64 * 10 - 10, k as i64 * 10), rows);
            settle(&mut s, k as i64 * 10);
        }
        // At 50 the window starts at 25: segment 1 left (2 is the slack
        // before it), its stacks carried.
        assert_eq!(
            s.held.iter().map(|h| h.index).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        assert_eq!(content(&carry).1, ids(&[1]));
        assert!(!segs.join("000001.parquet").exists());

        // A trigger at 56: the window 31..61 is segments 4 to 6. Stack 1
        // is in the carry, 2 and 4 in the held segments before the window.
        s.fired(Fired {
            kind: TriggerKind::AllocFail,
            ts_ns: 56,
            detail: "test".into(),
        });
        seal(&tx, &segs, 6, (50, 60), periods[5]);
        settle(&mut s, 60);
        let (written, errors, _) = s.finish();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(written.len(), 1);
        let (rows, frames) = content(&written[0].path);
        assert_eq!(
            frames,
            ids(&[1, 2, 3, 4]),
            "every stack seen before the end"
        );
        assert_eq!(rows.get("kernel_symbol"), Some(&1));
        // The events are cut to the window: 32, 41 and 51.
        assert_eq!(rows.get("procstat"), Some(&3));
    }
}
