//! Long recordings in rotating files (`memrec record -o DIR/ --rotate`):
//! the files of one recording chain without a gap or a duplicate row at
//! their boundaries, together they hold exactly the records the probes
//! wrote, memana reads the directory as one recording, `--max-size`
//! deletes the oldest files to keep the directory under it, and every file
//! names the stacks its rows point at, wherever they were first seen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memtrace_schema::FileMeta;
use support::segments::*;
use support::*;

/// A record's `ts_ns` is read by its program before it reserves its place
/// in the ring, and records of one ring are in reservation order: a row
/// can follow a later-stamped one by what ran between the clock read and
/// the reservation on its CPU (the program's instructions and interrupts).
/// 10 ms is far beyond it.
const ORDER_NS: i64 = 10_000_000;

/// The rotated files in `dir`: (sequence number, path), in order; and
/// anything else at the top level (hidden entries aside).
fn rotated(dir: &Path) -> (Vec<(u64, PathBuf)>, Vec<PathBuf>) {
    let (mut files, mut other) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        // memrec-<UTC %Y%m%dT%H%M%SZ>-<NNNN>.parquet
        let seq = name
            .strip_prefix("memrec-")
            .and_then(|r| r.strip_suffix(".parquet"))
            .and_then(|r| r.rsplit_once('-'))
            .filter(|(time, n)| time.len() == 16 && time.ends_with('Z') && n.len() >= 4)
            .and_then(|(_, n)| n.parse::<u64>().ok());
        match seq {
            Some(n) => files.push((n, path)),
            None => other.push(path),
        }
    }
    files.sort();
    (files, other)
}

fn bytes(files: &[(u64, PathBuf)]) -> u64 {
    files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// The directory memrec writes to: `DIR/` (an empty directory).
fn out_dir(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("runs");
    std::fs::create_dir(&dir).unwrap();
    let arg = PathBuf::from(format!("{}/", dir.display()));
    (dir, arg)
}

#[test]
fn root_rotated_files_are_one_recording_without_gaps_or_duplicates() {
    if skip_unless_root("root_rotated_files_are_one_recording_without_gaps_or_duplicates") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, arg) = out_dir(tmp.path());
    let _churn = Churn::start(16 << 20);
    let rec = start_recording(&arg, &["--rotate", "3s", "--load-test", "20000"]);
    std::thread::sleep(Duration::from_secs(15));
    let summary = rec.stop();
    say(summary.trim());

    let (files, other) = rotated(&dir);
    assert!(other.is_empty(), "unexpected files: {other:?}");
    let left = SegmentDir::list(&dir.join(".segments"));
    assert!(
        left.closed.is_empty() && left.partial.is_empty(),
        "segments left after a clean stop: {left:?}"
    );
    // 15 s in 3 s periods: 5, give or take the start and the stop.
    assert!(
        (4..=7).contains(&files.len()),
        "{} files: {files:?}",
        files.len()
    );
    let seqs: Vec<u64> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        seqs,
        (1..=files.len() as u64).collect::<Vec<_>>(),
        "file numbers"
    );

    let metas: Vec<FileMeta> = files.iter().map(|(_, p)| meta(p)).collect();
    let ts: Vec<BTreeMap<String, TableTs>> = files.iter().map(|(_, p)| tables(p)).collect();
    let id = metas[0].segment.as_ref().unwrap().recording_id.clone();
    for (i, ((_, p), m)) in files.iter().zip(&metas).enumerate() {
        let s = m
            .segment
            .as_ref()
            .expect("a rotated file names its segments");
        assert_eq!(s.recording_id, id, "{}: one recording", p.display());
        assert_eq!(
            row_counts(&ts[i]),
            nonzero(&m.rows),
            "{}: rows vs its metadata",
            p.display()
        );
        let span = (m.end_ns - m.start_ns) as f64 / 1e9;
        say(format!(
            "{}: segments {}..={}, {:.2} s, {} rows, {} bytes",
            p.file_name().unwrap().to_string_lossy(),
            s.first,
            s.last,
            span,
            m.rows.values().sum::<u64>(),
            std::fs::metadata(p).unwrap().len()
        ));
    }
    assert_eq!(metas[0].segment.as_ref().unwrap().first, 1);

    // Each boundary: the next file starts with the next segment, at the
    // same edge reading; per table, its rows follow the previous file's
    // and none is in both.
    for i in 1..files.len() {
        let (a, b) = (&metas[i - 1], &metas[i]);
        let (sa, sb) = (a.segment.as_ref().unwrap(), b.segment.as_ref().unwrap());
        assert_eq!(sa.last + 1, sb.first, "segments chain at file {i}");
        assert_eq!(a.end_ns, b.start_ns, "edges chain at file {i}");
        assert_eq!(
            a.vmstat_end, b.vmstat_start,
            "vmstat at the edge of file {i}"
        );
        let edge = a.end_ns;
        for (table, before) in &ts[i - 1] {
            let Some(after) = ts[i].get(table) else {
                continue;
            };
            assert!(
                before.max().unwrap() <= after.min().unwrap() + ORDER_NS,
                "{table}: file {} ends at {:?}, file {} starts at {:?}",
                i,
                before.max(),
                i + 1,
                after.min()
            );
            // A row in both files would have the same table and stamp.
            let near = |t: &TableTs| -> Vec<i64> {
                let mut v: Vec<i64> =
                    t.ts.iter()
                        .copied()
                        .filter(|x| (x - edge).abs() <= ORDER_NS + 1_000_000_000)
                        .collect();
                v.sort_unstable();
                v
            };
            let (x, y) = (near(before), near(after));
            let dup: Vec<&i64> = x.iter().filter(|t| y.binary_search(t).is_ok()).collect();
            assert!(
                dup.is_empty(),
                "{table}: rows stamped {dup:?} are in both file {i} and file {}",
                i + 1
            );
        }
    }

    // Together: exactly the records the probes wrote (nothing lost at a
    // boundary, nothing twice).
    let whole = FileMeta::combine(&metas).unwrap();
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    for t in &ts {
        for (k, n) in row_counts(t) {
            *rows.entry(k).or_default() += n;
        }
    }
    assert_eq!(nonzero(&whole.rows), rows);
    for g in ONE_ROW_PER_RECORD {
        let (events, lost) = group_events(&whole, g);
        assert_eq!(lost, 0, "{g}: records lost in the kernel");
        assert_eq!(
            rows.get(g).copied().unwrap_or(0),
            events,
            "{g}: rows vs records"
        );
    }
    let procstat = rows.get("procstat").copied().unwrap_or(0);
    assert!(procstat > 200_000, "only {procstat} procstat rows in 15 s");

    // memana reads the directory as one recording.
    memana_report(&dir);
}

#[test]
fn root_max_size_deletes_the_oldest_files() {
    if skip_unless_root("root_max_size_deletes_the_oldest_files") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, arg) = out_dir(tmp.path());
    // About 250 KB per 2 s file at this rate (2 to 3 bytes per synthetic
    // row with the footer, at this size): 512 KiB holds two files, so most
    // of the ~8 are deleted. A rate an emulated 2-CPU guest sustains: this
    // test is about --max-size, not overload.
    const MAX: u64 = 512 << 10;
    let rec = start_recording(
        &arg,
        &[
            "--rotate",
            "2s",
            "--max-size",
            "512K",
            "--load-test",
            "50000",
        ],
    );
    // The finished files, sampled all along. memrec cannot know a file's
    // size before it has written it: the newest file is written before the
    // oldest is deleted, so the finished files exceed the limit by at most
    // one file, for a moment.
    let mut peak = (0u64, 0u64);
    let until = Instant::now() + Duration::from_secs(16);
    while Instant::now() < until {
        let (files, _) = rotated(&dir);
        let largest = files
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        let total = bytes(&files);
        if total > peak.0 {
            peak = (total, largest);
        }
        assert!(
            total <= MAX + largest,
            "{total} bytes in {} files, over {MAX} by more than the largest ({largest})",
            files.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary = rec.stop();
    say(summary.trim());

    let (files, other) = rotated(&dir);
    assert!(other.is_empty(), "unexpected files: {other:?}");
    let total = bytes(&files);
    let largest = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .max()
        .unwrap();
    say(format!(
        "kept files {:?}: {total} bytes (limit {MAX}, largest file {largest}); peak while recording {} bytes",
        files.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        peak.0
    ));
    assert!(total <= MAX + largest, "{total} bytes kept");
    // The oldest went, the newest stayed: a run of numbers ending at the
    // last file written, which is not the first.
    let seqs: Vec<u64> = files.iter().map(|(n, _)| *n).collect();
    let last = *seqs.last().unwrap();
    assert!(
        last >= 5,
        "only {last} files were written in 16 s with --rotate 2s (a rotation is made at a checkpoint: were they held up?)"
    );
    assert!(seqs[0] > 1, "the oldest file was kept: {seqs:?}");
    assert_eq!(seqs, (seqs[0]..=last).collect::<Vec<_>>(), "kept files");
    // What is left still reads as one recording, its start cut away.
    let metas: Vec<FileMeta> = files.iter().map(|(_, p)| meta(p)).collect();
    for w in metas.windows(2) {
        let (a, b) = (
            w[0].segment.as_ref().unwrap(),
            w[1].segment.as_ref().unwrap(),
        );
        assert_eq!(a.last + 1, b.first, "kept files chain");
    }
    assert!(metas[0].segment.as_ref().unwrap().first > 1);
    memana_report(&dir);
}

/// A long-lived process faults in one code path all along (this test's
/// own thread), so the files after the first name stacks first seen in
/// the first; with kmemleak, kernel stacks and the kernel's symbols too.
/// Every rotated file names every stack its rows point at, with its
/// process's mappings, as a recording of its own.
#[test]
fn root_every_rotated_file_names_its_own_stacks() {
    if skip_unless_root("root_every_rotated_file_names_its_own_stacks") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, arg) = out_dir(tmp.path());
    let me = std::process::id();
    let _faults = Faulter::start(64);
    let pid = me.to_string();
    let rec = start_recording(
        &arg,
        &[
            "--probes",
            "+faults,+kmemleak",
            "--fault-stacks",
            "4",
            "--pid",
            &pid,
            "--rotate",
            "2s",
            "--checkpoint",
            "1s",
        ],
    );
    std::thread::sleep(Duration::from_secs(9));
    // The stacks of the segments gone so far, kept for the next files:
    // hidden (not a recording file to readers of the directory), and as
    // private as the recording.
    let carry = dir.join(".segments").join(".carry.parquet");
    let mode = std::fs::symlink_metadata(&carry)
        .unwrap_or_else(|e| panic!("{}: {e}", carry.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}: mode {mode:o}", carry.display());
    let summary = rec.stop();
    say(summary.trim());

    let (files, other) = rotated(&dir);
    assert!(other.is_empty(), "unexpected files: {other:?}");
    assert!(
        !dir.join(".segments").exists(),
        "the segments directory (and the carry in it) is left after a clean stop"
    );
    assert!(files.len() >= 3, "{} files: {files:?}", files.len());

    let s: Vec<Stacks> = files.iter().map(|(_, p)| stacks(p)).collect();
    let own = |st: &Stacks| -> BTreeSet<u64> {
        st.refs
            .iter()
            .filter(|r| r.0 == "fault_stack" && r.2 == me)
            .map(|r| r.1)
            .collect()
    };
    let first_seen: BTreeSet<u64> = s[0].frames.keys().copied().collect();
    assert!(
        !own(&s[0]).is_empty(),
        "no fault stack of this process in the first file"
    );
    assert!(
        s[0].mapped.contains(&me),
        "the first file has no mappings of this process"
    );
    assert!(
        s[0].kernel_symbols > 0,
        "kmemleak was recorded: the first file holds the kernel's symbols"
    );
    for (i, ((_, p), st)) in files.iter().zip(&s).enumerate() {
        let name = p.file_name().unwrap().to_string_lossy();
        let unnamed = st.unnamed();
        assert!(
            unnamed.is_empty(),
            "{name}: {} rows name stacks without frames in it, e.g. {:?}",
            unnamed.len(),
            &unnamed[..unnamed.len().min(5)]
        );
        assert!(
            st.repeated().is_empty(),
            "{name}: stacks with their frames twice: {:?}",
            st.repeated()
        );
        let tasks: BTreeSet<u32> = st
            .refs
            .iter()
            .filter(|r| r.0 == "fault_stack")
            .map(|r| r.2)
            .collect();
        for t in tasks.iter().filter(|t| s[0].mapped.contains(t)) {
            assert!(
                st.mapped.contains(t),
                "{name}: stacks of process {t} but not its mappings"
            );
        }
        let carried = own(st).intersection(&first_seen).count();
        say(format!(
            "{name}: {} stacks named by {} rows, {carried} of this process's first seen in the first file; {} kernel symbols ({} bytes of their columns); {} bytes",
            st.frames.len(),
            st.refs.len(),
            st.kernel_symbols,
            st.kernel_symbol_bytes,
            std::fs::metadata(p).unwrap().len()
        ));
        if i > 0 {
            // Otherwise the test would prove nothing: these stacks'
            // frames were written in the first file's segments only.
            assert!(
                carried > 0,
                "{name}: none of this process's fault stacks was first seen in the first file"
            );
            assert_eq!(
                st.kernel_symbols, s[0].kernel_symbols,
                "{name}: the kernel's symbols"
            );
        }
    }
    // A file read alone, and the directory as one recording (each file
    // repeats the store's rows of the files before it).
    memana_report(&files[files.len() - 1].1);
    memana_report(&dir);
}
