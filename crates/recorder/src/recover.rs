//! `memrec recover`: makes the recording of a memrec that was killed (or
//! lost power) one readable file again.
//!
//! memrec writes a recording as segments, each closed at a checkpoint, in
//! `<file>.segments/` beside the file it was asked for (or `<dir>/.segments/`
//! in directory mode). A memrec that stopped cleanly merges them and removes
//! the directory; one that was killed leaves the closed segments, which are
//! whole Parquet files, and the `.partial` segment being written, which has
//! no footer and cannot be read: its rows, those after the last checkpoint,
//! are lost. A segment closed but not yet renamed (the sealer thread syncs
//! and renames it while the next one is written) is a `.partial` too; it is
//! kept when its footer and checksums say it is whole, as they do after a
//! kill (the kernel still has its pages), and dropped when a power cut left
//! it torn. Recovering merges the closed segments into the file, with the
//! stacks of a rotating or flight recorder's carry (`.carry.parquet`, the
//! stack store's rows of segments already gone), so the file names them.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::record::UsageError;
use crate::writer::segments::{segment_index, CARRY_NAME, PARTIAL_SUFFIX};
use crate::writer::{self, MergeError, MergeOptions, MergeSummary};

/// Name of the segments directory of a directory-mode recording.
const DIR_MODE_SEGMENTS: &str = ".segments";
/// The setting that holds the checkpoint interval.
const CHECKPOINT_SETTING: &str = "checkpoint_ns";
/// Suffix of a file-mode recording's segments directory.
const SEGMENTS_SUFFIX: &str = ".segments";

#[derive(Debug, Clone)]
pub struct RecoverOptions {
    /// The recording's file, or its segments directory.
    pub path: PathBuf,
    /// Where to write the file instead of the name the segments belong to.
    pub output: Option<PathBuf>,
    pub force: bool,
    pub keep_segments: bool,
}

/// The segment being written when memrec stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    pub path: PathBuf,
    pub bytes: u64,
    /// When it was last written to (its modification time), Unix ns.
    pub modified_ns: Option<i64>,
}

/// What a recovery kept and lost.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub segments_dir: PathBuf,
    pub output: PathBuf,
    pub merged: MergeSummary,
    pub partial: Option<Partial>,
    /// Whether the segments directory was removed.
    pub removed: bool,
    /// The recording's checkpoint interval (what a kill loses at most).
    pub checkpoint_ns: Option<i64>,
    /// Closed segments left out because they could not be read, and why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Segments closed but not yet renamed when memrec stopped, kept
    /// because their checksums say they are whole.
    pub unsealed: Vec<PathBuf>,
}

/// The segments of a directory.
struct Listing {
    /// Closed segments, by number (with any whole one not yet renamed).
    closed: Vec<(u64, PathBuf)>,
    /// The one being written when memrec stopped.
    partial: Option<Partial>,
    /// Closed segments that were still `.partial` (being synced and renamed).
    unsealed: Vec<PathBuf>,
    /// Older `.partial` segments that are not whole.
    torn: Vec<PathBuf>,
}

/// Whether a `.partial` segment is a whole file: its footer parses and its
/// checksums match every chunk (a segment closed but not yet renamed).
fn is_whole(path: &Path) -> bool {
    use parquet::file::reader::FileReader;
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(clone) = file.try_clone() else {
        return false;
    };
    let Ok(reader) = parquet::file::serialized_reader::SerializedFileReader::new(clone) else {
        return false;
    };
    matches!(
        memtrace_schema::integrity::verify(&file, reader.metadata()),
        Ok(memtrace_schema::integrity::Verified::Intact { .. })
    )
}

fn list_segments(dir: &Path) -> Result<Listing> {
    let mut closed = Vec::new();
    let mut partials: Vec<(u64, Partial)> = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(i) = segment_index(&name) {
            closed.push((i, e.path()));
        } else if let Some(i) = name.strip_suffix(PARTIAL_SUFFIX).and_then(segment_index) {
            let md = e
                .metadata()
                .with_context(|| format!("reading {}", e.path().display()))?;
            let modified_ns = md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_nanos()).ok());
            let p = Partial {
                path: e.path(),
                bytes: md.len(),
                modified_ns,
            };
            partials.push((i, p));
        }
    }
    closed.sort();
    partials.sort_by_key(|(i, _)| *i);
    // A whole one right after the closed ones was closed and not yet
    // renamed; the one being written has no footer.
    let mut partial = None;
    let mut unsealed = Vec::new();
    let mut torn = Vec::new();
    for (i, p) in partials {
        let next = closed.last().map_or(1, |c| c.0 + 1);
        if i == next && is_whole(&p.path) {
            closed.push((i, p.path.clone()));
            unsealed.push(p.path);
        } else if let Some(older) = partial.replace(p) {
            // Closed but not synced when the power went: torn.
            torn.push(older.path);
        }
    }
    Ok(Listing {
        closed,
        partial,
        unsealed,
        torn,
    })
}

/// Where the segments are and which file they make, from what the user
/// named. `None` as the file: a directory-mode recording, whose file is
/// named after its start.
fn locate(path: &Path) -> Result<(PathBuf, Option<PathBuf>), UsageError> {
    let shown = path.display();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if path.is_dir() {
        if name == DIR_MODE_SEGMENTS {
            return Ok((path.to_path_buf(), None));
        }
        if let Some(file) = name.strip_suffix(SEGMENTS_SUFFIX) {
            return Ok((path.to_path_buf(), Some(path.with_file_name(file))));
        }
        let inner = path.join(DIR_MODE_SEGMENTS);
        if inner.is_dir() {
            return Ok((inner, None));
        }
        return Err(UsageError(format!(
            "{shown} is a directory without segments (expected `<file>{SEGMENTS_SUFFIX}/`, or \
             a directory holding `{DIR_MODE_SEGMENTS}/`)"
        )));
    }
    let mut segs = path.as_os_str().to_owned();
    segs.push(SEGMENTS_SUFFIX);
    let segs = PathBuf::from(segs);
    if segs.is_dir() {
        return Ok((segs, Some(path.to_path_buf())));
    }
    if path.exists() {
        return Err(UsageError(format!(
            "{shown} has no segments to recover ({} does not exist): memrec finished it",
            segs.display()
        )));
    }
    Err(UsageError(format!(
        "neither {shown} nor {} exists",
        segs.display()
    )))
}

/// The recording metadata in a file's footer.
fn read_meta(path: &Path) -> Result<memtrace_schema::FileMeta> {
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let reader = parquet::file::reader::SerializedFileReader::new(file)
        .with_context(|| format!("reading {}", path.display()))?;
    let footer = parquet::file::reader::FileReader::metadata(&reader).file_metadata();
    let (_, meta) = memtrace_schema::FileMeta::from_parquet(footer)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(meta)
}

/// `memrec-<start, UTC>-<first segment>.parquet` beside a directory-mode
/// recording's segments, as memrec names its rotated files.
fn dir_mode_name(segs: &Path, first: &Path, first_index: u64) -> Result<PathBuf> {
    let meta = read_meta(first)?;
    let start = chrono::DateTime::parse_from_rfc3339(&meta.start_time)
        .with_context(|| format!("{}: start time `{}`", first.display(), meta.start_time))?
        .with_timezone(&chrono::Utc);
    let parent = segs.parent().unwrap_or(Path::new("."));
    Ok(parent.join(format!(
        "memrec-{}-{first_index:04}.parquet",
        start.format("%Y%m%dT%H%M%SZ")
    )))
}

/// Holds an exclusive lock on the segments directory: a memrec still
/// writing there (or another recover) holds one too.
fn lock_dir(dir: &Path) -> Result<File> {
    let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    // SAFETY: a valid open file descriptor.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(UsageError(format!(
                "{} is in use (a memrec still recording into it, or another recover)",
                dir.display()
            ))
            .into());
        }
        return Err(e).with_context(|| format!("locking {}", dir.display()));
    }
    Ok(f)
}

/// Merges the closed segments into the recording's file and (unless asked
/// to keep them) removes the segments directory.
pub fn recover(opts: &RecoverOptions) -> Result<Recovered> {
    let (segs, file) = locate(&opts.path)?;
    let _lock = lock_dir(&segs)?;
    let Listing {
        closed,
        partial,
        unsealed,
        torn,
    } = list_segments(&segs)?;
    let Some((first_index, first_path)) = closed.first() else {
        let what = match &partial {
            Some(p) => format!(
                "only the segment being written, {} ({} bytes, no footer): \
                 memrec stopped before its first checkpoint, nothing was kept",
                p.path.display(),
                p.bytes
            ),
            None => "no segments".to_string(),
        };
        return Err(anyhow::anyhow!(
            "nothing to recover in {}: {what}",
            segs.display()
        ));
    };
    let output = match (&opts.output, file) {
        (Some(o), _) => o.clone(),
        (None, Some(f)) => f,
        (None, None) => dir_mode_name(&segs, first_path, *first_index)?,
    };
    if !opts.force {
        already_merged(&output, first_path, closed.last().map_or(0, |c| c.0), &segs)?;
    }
    let mut inputs: Vec<PathBuf> = closed.iter().map(|(_, p)| p.clone()).collect();
    // A rotating or flight recorder keeps the stacks of segments already
    // gone in a carry: the recovered file names them too.
    let carry = segs.join(CARRY_NAME);
    let mut merge_opts = MergeOptions {
        force: opts.force,
        references: if std::fs::symlink_metadata(&carry).is_ok_and(|m| m.is_file()) {
            vec![carry.clone()]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    // A closed segment that cannot be read (damaged after it was written)
    // is left out and named: the others are still the recording.
    let mut skipped: Vec<(PathBuf, String)> = torn
        .into_iter()
        .map(|p| {
            let why = format!(
                "{}: closed but not yet synced when memrec stopped, and not whole (a power cut?)",
                p.display()
            );
            (p, why)
        })
        .collect();
    let merged = loop {
        match writer::merge(&inputs, &output, &merge_opts) {
            Ok(m) => break m,
            Err(e @ (MergeError::Exists(_) | MergeError::NotRegular(_))) => {
                return Err(UsageError(e.to_string()).into())
            }
            Err(e) => {
                let bad = e.bad_input().map(PathBuf::from);
                match bad {
                    Some(bad) if merge_opts.references.contains(&bad) => {
                        tracing::warn!("leaving out {e}");
                        merge_opts.references.retain(|p| *p != bad);
                        skipped.push((bad, e.to_string()));
                    }
                    Some(bad) if inputs.len() > 1 && inputs.contains(&bad) => {
                        tracing::warn!("leaving out {e}");
                        inputs.retain(|p| *p != bad);
                        skipped.push((bad, e.to_string()));
                    }
                    _ => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "recovering {} (nothing was changed)",
                            segs.display()
                        )))
                    }
                }
            }
        }
    };
    let checkpoint_ns = read_meta(&output).ok().and_then(|m| {
        m.settings
            .get(CHECKPOINT_SETTING)
            .and_then(|v| v.parse().ok())
    });
    let mut removed = false;
    // With a segment left out, everything stays for a closer look.
    if !opts.keep_segments && skipped.is_empty() {
        // Also a merge's temporary file, left by a memrec killed while
        // merging at its stop (`.<name>.merge-<random>`).
        let temps: Vec<PathBuf> = std::fs::read_dir(&segs)
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.starts_with('.') && n.contains(".merge-")
                    })
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        let partial_path = partial.as_ref().map(|p| &p.path);
        for p in inputs
            .iter()
            .chain(partial_path)
            .chain(&temps)
            .chain(&merge_opts.references)
        {
            if let Err(e) = std::fs::remove_file(p) {
                tracing::warn!("cannot remove {}: {e}", p.display());
            }
        }
        match std::fs::remove_dir(&segs) {
            Ok(()) => removed = true,
            Err(e) => tracing::warn!("keeping {}: {e}", segs.display()),
        }
    }
    Ok(Recovered {
        segments_dir: segs,
        output,
        merged,
        partial,
        removed,
        checkpoint_ns,
        skipped,
        unsealed,
    })
}

/// Refuses to merge again into a file that already holds the segments:
/// memrec finished its merge and was stopped before it removed them.
fn already_merged(output: &Path, first: &Path, last_index: u64, segs: &Path) -> Result<()> {
    let Ok(done) = read_meta(output) else {
        return Ok(());
    };
    let (Some(have), Ok(seg)) = (done.segment, read_meta(first)) else {
        return Ok(());
    };
    match seg.segment {
        Some(s) if s.recording_id == have.recording_id && have.last >= last_index => {
            Err(UsageError(format!(
                "{} already holds segments {}..{} of this recording: nothing to recover \
                 (remove {} by hand, or pass --force to merge them again)",
                output.display(),
                have.first,
                have.last,
                segs.display()
            ))
            .into())
        }
        _ => Ok(()),
    }
}

/// Bytes in binary units, one decimal.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Unix ns of an RFC 3339 time.
fn unix_ns(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()?
        .timestamp_nanos_opt()
}

/// The report printed after a recovery.
pub fn report(r: &Recovered) -> String {
    let m = &r.merged;
    let mut out = String::new();
    let (lo, hi) = (
        m.segments.first().copied().unwrap_or(0),
        m.segments.last().copied().unwrap_or(0),
    );
    out.push_str(&format!(
        "recovered {} from {} segment(s) ({lo:06}..{hi:06}) in {}\n",
        r.output.display(),
        m.files,
        r.segments_dir.display()
    ));
    let secs = (m.end_ns - m.start_ns) as f64 / 1e9;
    out.push_str(&format!(
        "  span     {} .. {} ({secs:.1} s)\n",
        m.start_time, m.end_time
    ));
    let tables: Vec<String> = m
        .rows
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    out.push_str(&format!(
        "  rows     {}: {}\n",
        m.total_rows(),
        if tables.is_empty() {
            "none".to_string()
        } else {
            tables.join(", ")
        }
    ));
    out.push_str(&format!(
        "  file     {}, {} row group(s)\n",
        size(m.bytes),
        m.row_groups
    ));
    match &r.partial {
        Some(p) => {
            // When memrec died is not known; at most one interval after the
            // checkpoint, and not before the partial segment's last write.
            let bound = r
                .checkpoint_ns
                .map(|c| format!(": at most {:.1} s, the checkpoint interval", c as f64 / 1e9))
                .unwrap_or_default();
            let written = p
                .modified_ns
                .zip(unix_ns(&m.end_time))
                .filter(|(w, c)| w > c)
                .map(|(w, c)| format!(", last written {:.1} s after it", (w - c) as f64 / 1e9))
                .unwrap_or_default();
            let name = p.path.file_name().unwrap_or_default().to_string_lossy();
            out.push_str(&format!(
                "  lost     rows recorded after the last checkpoint ({}){bound}\n",
                m.end_time
            ));
            out.push_str(&format!(
                "           ({name}, {}, has no footer{written})\n",
                size(p.bytes)
            ));
        }
        None => out.push_str("  lost     nothing: no segment was being written\n"),
    }
    if !m.gaps.is_empty() {
        let gaps: Vec<String> = m.gaps.iter().map(|g| format!("{g:06}")).collect();
        out.push_str(&format!(
            "  missing  segment(s) {} (deleted or lost before the recovery)\n",
            gaps.join(", ")
        ));
    }
    for p in &r.unsealed {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        out.push_str(&format!(
            "  kept     {name}: closed but not yet renamed when memrec stopped; whole by its checksums\n"
        ));
    }
    for (_, why) in &r.skipped {
        out.push_str(&format!("  skipped  {why}\n"));
    }
    if r.removed {
        out.push_str(&format!("  removed  {}\n", r.segments_dir.display()));
    } else {
        let why = if r.skipped.is_empty() {
            ""
        } else {
            " (a segment was left out: nothing was removed)"
        };
        out.push_str(&format!("  kept     {}{why}\n", r.segments_dir.display()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::merge::test_segments::{read_rows, write};

    fn rows(from: i64, to: i64) -> Vec<(&'static str, i64)> {
        (from..to).map(|ts| ("procstat", ts)).collect()
    }

    /// `run.parquet.segments/` with closed segments 1 and 2 and a partial 3.
    fn killed(dir: &Path) -> PathBuf {
        let segs = dir.join("run.parquet.segments");
        std::fs::create_dir(&segs).unwrap();
        write(&segs, "r", 1, (0, 10), &rows(0, 10), 100);
        write(&segs, "r", 2, (10, 20), &rows(10, 20), 100);
        // What a kill leaves: the start of a file, no footer.
        std::fs::write(segs.join("000003.parquet.partial"), b"PAR1 and some pages").unwrap();
        segs
    }

    fn opts(path: PathBuf) -> RecoverOptions {
        RecoverOptions {
            path,
            output: None,
            force: false,
            keep_segments: false,
        }
    }

    /// The sealer thread syncs and renames a closed segment while the next
    /// one is written: a kill between the two leaves a whole `.partial`
    /// before the open one. It is kept; a torn one (a power cut before its
    /// sync) is skipped and named.
    #[test]
    fn a_closed_segment_not_yet_renamed_is_kept_when_whole() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let whole = write(&segs, "r", 3, (20, 30), &rows(20, 30), 100);
        std::fs::rename(&whole, segs.join("000003.parquet.partial")).unwrap();
        std::fs::write(segs.join("000004.parquet.partial"), b"PAR1 and some pages").unwrap();
        let out = dir.path().join("run.parquet");
        let r = recover(&opts(out.clone())).unwrap();
        assert_eq!(read_rows(&out).len(), 30);
        assert_eq!(r.merged.segments, [1, 2, 3]);
        assert_eq!(r.unsealed, [segs.join("000003.parquet.partial")]);
        assert!(r.skipped.is_empty());
        assert!(r.removed && !segs.exists());
        let text = report(&r);
        assert!(
            text.contains("kept     000003.parquet.partial: closed but not yet renamed"),
            "{text}"
        );
        assert!(
            text.contains("(000004.parquet.partial, 19 B, has no footer"),
            "{text}"
        );

        // The same, torn: its last bytes never reached the disk.
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let whole = write(&segs, "r", 3, (20, 30), &rows(20, 30), 100);
        let bytes = std::fs::read(&whole).unwrap();
        std::fs::remove_file(&whole).unwrap();
        std::fs::write(
            segs.join("000003.parquet.partial"),
            &bytes[..bytes.len() / 2],
        )
        .unwrap();
        std::fs::write(segs.join("000004.parquet.partial"), b"PAR1").unwrap();
        let out = dir.path().join("run.parquet");
        let r = recover(&opts(out.clone())).unwrap();
        assert_eq!(r.merged.segments, [1, 2]);
        assert!(r.unsealed.is_empty());
        assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
        assert!(r.skipped[0].1.contains("not whole"), "{:?}", r.skipped);
        assert_eq!(r.partial.as_ref().map(|p| p.bytes), Some(4));
    }

    #[test]
    fn a_killed_recording_is_merged_and_the_loss_named() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let out = dir.path().join("run.parquet");
        let r = recover(&opts(out.clone())).unwrap();
        assert_eq!(r.output, out);
        assert_eq!(read_rows(&out).len(), 20);
        assert_eq!(r.merged.segments, [1, 2]);
        assert_eq!(r.partial.as_ref().map(|p| p.bytes), Some(19));
        assert!(r.removed && !segs.exists());
        let text = report(&r);
        assert!(text.contains("2 segment(s) (000001..000002)"), "{text}");
        assert!(text.contains("rows     20: procstat 20"), "{text}");
        assert!(
            text.contains("lost     rows recorded after the last checkpoint"),
            "{text}"
        );
        assert!(
            text.contains("(000003.parquet.partial, 19 B, has no footer"),
            "{text}"
        );
    }

    #[test]
    fn the_carry_of_a_rotating_recording_names_its_stacks() {
        use crate::spool::tests::{content, write_segment, R};
        let dir = tempfile::tempdir().unwrap();
        let segs = dir.path().join("run.parquet.segments");
        std::fs::create_dir(&segs).unwrap();
        // What a killed rotating recorder leaves: segment 1 gone into a
        // rotated file, its stacks in the carry; segment 2 waiting.
        let one = write_segment(
            &segs,
            1,
            (0, 10),
            &[R::Symbol(1), R::Frame(2, 7), R::Event(3)],
        );
        let carry = segs.join(CARRY_NAME);
        let only = MergeOptions {
            only_tables: Some(crate::spool::store_tables()),
            ..Default::default()
        };
        writer::merge(std::slice::from_ref(&one), &carry, &only).unwrap();
        std::fs::remove_file(&one).unwrap();
        write_segment(&segs, 2, (10, 20), &[R::Event(11), R::Event(12)]);

        let out = dir.path().join("run.parquet");
        let r = recover(&opts(out.clone())).unwrap();
        assert_eq!(r.merged.segments, [2]);
        let (rows, frames) = content(&out);
        assert_eq!(frames.into_iter().collect::<Vec<_>>(), [7]);
        assert_eq!(rows.get("kernel_symbol"), Some(&1));
        assert_eq!(rows.get("procstat"), Some(&2));
        assert!(r.removed && !segs.exists(), "the carry is removed too");
    }

    #[test]
    fn the_segments_directory_may_be_named_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let mut o = opts(segs.clone());
        o.keep_segments = true;
        let r = recover(&o).unwrap();
        assert_eq!(r.output, dir.path().join("run.parquet"));
        assert!(!r.removed);
        assert_eq!(std::fs::read_dir(&segs).unwrap().count(), 3);
        assert!(report(&r).contains("kept"));
    }

    #[test]
    fn an_existing_file_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let out = dir.path().join("run.parquet");
        std::fs::write(&out, b"theirs").unwrap();
        let e = recover(&opts(out.clone())).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e:#}");
        assert!(e.to_string().contains("pass --force"), "{e:#}");
        assert_eq!(std::fs::read(&out).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(&segs).unwrap().count(), 3);
        let mut o = opts(out.clone());
        o.force = true;
        recover(&o).unwrap();
        assert_eq!(read_rows(&out).len(), 20);
    }

    #[test]
    fn nothing_to_recover_is_said_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let e = recover(&opts(dir.path().join("none.parquet"))).unwrap_err();
        assert!(e.to_string().starts_with("neither "), "{e:#}");
        assert!(e.downcast_ref::<UsageError>().is_some());
        let done = dir.path().join("done.parquet");
        std::fs::write(&done, b"x").unwrap();
        let e = recover(&opts(done)).unwrap_err();
        assert!(e.to_string().contains("no segments to recover"), "{e:#}");
        // Killed before its first checkpoint: only a partial segment.
        let segs = dir.path().join("early.parquet.segments");
        std::fs::create_dir(&segs).unwrap();
        std::fs::write(segs.join("000001.parquet.partial"), b"PAR1").unwrap();
        let e = recover(&opts(segs.clone())).unwrap_err();
        assert!(e.to_string().contains("nothing was kept"), "{e:#}");
        assert!(segs.join("000001.parquet.partial").exists());
    }

    #[test]
    fn a_damaged_segment_is_left_out_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        write(&segs, "r", 4, (20, 30), &rows(20, 30), 100);
        // Segment 2 loses its footer's tail, as a disk might do to it.
        let two = segs.join("000002.parquet");
        let len = std::fs::metadata(&two).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&two)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let out = dir.path().join("run.parquet");
        let r = recover(&opts(out.clone())).unwrap();
        assert_eq!(r.merged.segments, [1, 4]);
        assert_eq!(r.merged.gaps, [2, 3]);
        assert_eq!(read_rows(&out).len(), 20);
        assert_eq!(r.skipped.len(), 1);
        let text = report(&r);
        assert!(text.contains("skipped  "), "{text}");
        assert!(
            text.contains("000002.parquet is not a readable Parquet file"),
            "{text}"
        );
        assert!(
            text.contains("missing  segment(s) 000002, 000003"),
            "{text}"
        );
        // Nothing removed: the damaged one is there to look at.
        assert!(!r.removed && two.exists());
    }

    #[test]
    fn a_file_already_merged_is_not_merged_again() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let out = dir.path().join("run.parquet");
        let mut o = opts(out.clone());
        o.keep_segments = true;
        recover(&o).unwrap();
        // As if memrec had merged and been killed before removing them.
        let e = recover(&o).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e:#}");
        assert!(
            e.to_string().contains("already holds segments 1..2"),
            "{e:#}"
        );
        o.force = true;
        recover(&o).unwrap();
        assert!(segs.exists());
    }

    #[test]
    fn a_directory_in_use_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let segs = killed(dir.path());
        let held = lock_dir(&segs).unwrap();
        let e = recover(&opts(segs.clone())).unwrap_err();
        assert!(e.to_string().contains("is in use"), "{e:#}");
        drop(held);
        recover(&opts(segs)).unwrap();
    }

    fn segs_again(dir: &Path) -> PathBuf {
        let segs = dir.join(".segments");
        std::fs::create_dir(&segs).unwrap();
        segs
    }

    #[test]
    fn a_directory_mode_recording_is_named_after_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let segs = dir.path().join(".segments");
        std::fs::create_dir(&segs).unwrap();
        write(&segs, "r", 4, (0, 10), &rows(0, 10), 100);
        // Named as memrec names a rotated file: its start (1.7e9 s after
        // the epoch in the test segments) and its first segment.
        let r = recover(&opts(dir.path().to_path_buf())).unwrap();
        let name = dir.path().join("memrec-20231114T221320Z-0004.parquet");
        assert_eq!(r.output, name);
        assert!(name.is_file() && !segs.exists());
        write(
            &segs_again(dir.path()),
            "r",
            5,
            (10, 20),
            &rows(10, 20),
            100,
        );
        let mut o = opts(dir.path().to_path_buf());
        o.output = Some(dir.path().join("named.parquet"));
        let r = recover(&o).unwrap();
        assert_eq!(r.merged.segments, [5]);
        assert!(dir.path().join("named.parquet").is_file());
    }
}
