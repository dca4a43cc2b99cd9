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

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use memtrace_schema::ClockAnchor;
use tracing::{debug, warn};

use crate::trigger::Fired;
use crate::writer::merge::{merge, MergeOptions};
use crate::writer::Sealed;

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

struct Job {
    inputs: Vec<PathBuf>,
    out: PathBuf,
    opts: MergeOptions,
    /// Delete the inputs once merged (rotation); the flight recorder's
    /// retention deletes its own.
    delete_inputs: bool,
}

type Done = Result<Written, String>;

/// The merge thread.
struct Merger {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    busy: usize,
    handle: Option<JoinHandle<()>>,
}

impl Merger {
    fn start() -> std::io::Result<Merger> {
        let (jtx, jrx) = channel::<Job>();
        let (dtx, drx) = channel::<Done>();
        let handle = std::thread::Builder::new()
            .name("memrec-merge".into())
            .spawn(move || {
                for job in jrx {
                    let r = merge(&job.inputs, &job.out, &job.opts)
                        .map(|s| Written {
                            path: job.out.clone(),
                            bytes: s.bytes,
                            rows: s.total_rows(),
                            trigger: job.opts.trigger.as_ref().map(|t| t.kind.clone()),
                        })
                        .map_err(|e| e.to_string());
                    if r.is_ok() && job.delete_inputs {
                        for p in &job.inputs {
                            let _ = std::fs::remove_file(p);
                        }
                    }
                    // A merge's buffers are freed in bursts, in an arena the
                    // writer shares; give the pages back so memrec's
                    // resident size stays that of the recording.
                    // SAFETY: malloc_trim only returns free heap memory.
                    unsafe { libc::malloc_trim(0) };
                    if dtx.send(r).is_err() {
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: Mode,
        out_dir: &Path,
        out_file: Option<PathBuf>,
        force: bool,
        zstd_level: i32,
        sealed: Receiver<Sealed>,
        anchor: ClockAnchor,
    ) -> std::io::Result<Spool> {
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
            files_made: 0,
            written: Vec::new(),
            pending: None,
            last_dump_ns: None,
            skipped: 0,
            stop_after_merge: false,
            anchor,
            merger: Merger::start()?,
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
                if due {
                    self.rotate();
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
                // slack, so the window's start is always covered). None is
                // deleted while a dump may be reading it.
                if self.merger.busy == 0 {
                    let horizon = now_ns - ns(fl.keep);
                    while self.held.len() > 1
                        && self.held.get(1).is_some_and(|s| s.end_ns < horizon)
                    {
                        if let Some(old) = self.held.pop_front() {
                            let _ = std::fs::remove_file(&old.path);
                        }
                    }
                }
                Action::None
            }
        }
    }

    /// Merges the current period's segments into the next rotated file.
    fn rotate(&mut self) {
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
        self.merger.submit(Job {
            inputs: inputs.iter().map(|s| s.path.clone()).collect(),
            out,
            opts: MergeOptions {
                zstd_level: self.zstd_level,
                coalesce_below,
                ..Default::default()
            },
            delete_inputs: true,
        });
        self.period_start = None;
        self.period_bytes = 0;
    }

    /// Deletes the oldest rotated files of this run while the directory
    /// holds more than `max` bytes of them (with the segments waiting).
    fn enforce_max(&mut self, max: u64) {
        let waiting: u64 = self.held.iter().map(|s| s.bytes).sum();
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
        self.merger.submit(Job {
            inputs,
            out,
            opts: MergeOptions {
                window: Some((from, to)),
                trigger: Some(f.meta(fl.keep, fl.tail)),
                force: self.force,
                zstd_level: self.zstd_level,
                ..Default::default()
            },
            delete_inputs: false,
        });
        if fl.until {
            self.stop_after_merge = true;
        }
    }

    fn finished(&mut self, d: Done) {
        match d {
            Ok(w) => {
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
            Err(e) => {
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
                self.rotate();
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
