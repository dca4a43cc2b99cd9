//! A recording survives SIGKILL: memrec is killed at random points of a
//! recording under load, and what it left must hold everything up to at
//! most one checkpoint interval before the kill, as the kernel's own
//! per-probe counters (read live, before the kill) and the clock say; it
//! must open in pyarrow and DuckDB as it is (closed segments) and after
//! `memrec recover`, and memana must report on it both ways.
//!
//! A power cut loses what is not on disk: the segments are durable because
//! each is synced before it gets its final name and its directory synced
//! after (checked once with strace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use memtrace_schema::FileMeta;
use support::segments::*;
use support::*;

/// Kill runs with a short checkpoint, and one with the default.
const RUNS: usize = 20;
const CHECKPOINT: Duration = Duration::from_secs(2);
/// memrec's default `--checkpoint`.
const DEFAULT_CHECKPOINT: Duration = Duration::from_secs(10);
/// Synthetic procstat rows per second on top of the real workload
/// (`--load-test`): enough that every segment holds many row groups'
/// worth of batches, little enough that the ring never overflows on 2 CPUs.
const LOAD: &str = "50000";
/// What a kill can take beyond one checkpoint interval. A checkpoint reads
/// the edge (clock, counters) and then writes, syncs and renames the
/// segment: a kill during that loses the segment being sealed too, so the
/// last kept edge is one interval plus one sealing before the kill. Sealing
/// a 2 s segment is tens of ms; a sync can wait for the disk's other
/// writers: 1.5 s bounds it on a loaded test machine.
const SLACK: Duration = Duration::from_millis(1500);

#[test]
fn root_sigkill_loses_at_most_the_last_checkpoint() {
    if skip_unless_root("root_sigkill_loses_at_most_the_last_checkpoint") {
        return;
    }
    let (mut rng, seed) = Rng::from_env();
    say(format!(
        "crash safety: seed {seed} (MEMTRACE_SEED={seed} replays the kill points)"
    ));
    let readers = other_readers_missing();
    if let Some(why) = &readers {
        say(format!("SKIPPED: pyarrow and DuckDB reads: {why}"));
    }
    // Page faults and RSS changes for procstat, all along.
    let _churn = Churn::start(16 << 20);
    let mut margins = Vec::new();
    let mut miscounted = Vec::new();
    for run in 0..=RUNS {
        let checkpoint = (run < RUNS).then_some(CHECKPOINT);
        // The default run may pass its first checkpoint or not.
        let most = if run < RUNS { 15_000 } else { 20_000 };
        let kill_after = Duration::from_millis(rng.range(1000, most));
        say(format!(
            "run {run}: --checkpoint {}, SIGKILL {} ms into the recording",
            checkpoint.map_or("default".into(), |c| format!("{}s", c.as_secs())),
            kill_after.as_millis()
        ));
        let (m, wrong) = kill_run(checkpoint, kill_after, readers.is_none());
        margins.push(m);
        miscounted.extend(wrong.into_iter().map(|w| format!("run {run}: {w}")));
    }
    say(format!(
        "time from the last kept edge to the kill, per run (ms): {margins:?}"
    ));
    // Checked after every run so one miscount does not hide the rest.
    assert!(
        miscounted.is_empty(),
        "the kept segments' rows differ from the records their metadata counts \
         (each segment must count the records it holds):\n{}",
        miscounted.join("\n")
    );
}

/// One recording killed `kill_after` into it; returns how long before the
/// kill the last kept segment ends (ms), and where the kept rows differ
/// from the records the kept segments count.
fn kill_run(
    checkpoint: Option<Duration>,
    kill_after: Duration,
    readers: bool,
) -> (i64, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.parquet");
    let mut args = vec!["--load-test", LOAD];
    let cp = checkpoint.map(|c| format!("{}s", c.as_secs()));
    if let Some(cp) = &cp {
        args.extend(["--checkpoint", cp.as_str()]);
    }
    let interval = checkpoint.unwrap_or(DEFAULT_CHECKPOINT);

    let mut rec = start_recording(&path, &args);
    let started = Instant::now();
    let pid = rec.child.id();
    let counters = CounterLog::start(pid, Duration::from_millis(100));
    std::thread::sleep(kill_after.saturating_sub(started.elapsed()));
    let before = bpf_counters(pid).expect("memrec's counter maps, read before the kill");
    let kill_ns = boottime_ns();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let status = rec.child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    let log = counters.finish();

    // What a killed recording leaves: no merged file, closed segments
    // numbered from 1 without a gap, the one being written, and before it
    // perhaps one closed but not yet renamed (the sealer thread syncs and
    // renames a segment while the next is written).
    assert!(!path.exists(), "a killed memrec wrote {}", path.display());
    let segdir = PathBuf::from(format!("{}.segments", path.display()));
    let segs = SegmentDir::list(&segdir);
    assert!(segs.other.is_empty(), "unexpected files: {:?}", segs.other);
    assert!(segs.partial.len() <= 2, "open segments: {:?}", segs.partial);
    let numbers = segs.numbers();
    let n = numbers.len() as u64;
    assert_eq!(numbers, (1..=n).collect::<Vec<_>>(), "closed segments");
    for (k, p) in segs.partial.iter().enumerate() {
        let name = p.file_name().unwrap().to_string_lossy();
        assert_eq!(name, format!("{:06}.parquet.partial", n + 1 + k as u64));
    }
    let deadline = kill_ns - (interval + SLACK).as_nanos() as i64;

    if n == 0 {
        // Killed before the first checkpoint: nothing was promised yet.
        let start_ns = log.first().map_or(kill_ns, |r| r.0);
        assert!(
            start_ns > deadline,
            "no segment closed, yet the kill came {} ms after the first counter reading",
            (kill_ns - start_ns) / 1_000_000
        );
        let out = recover(&path);
        say(format!(
            "  no segment closed before the kill: memrec recover said: {}",
            out.1.trim()
        ));
        assert!(
            !out.0,
            "memrec recover succeeded with no segment: {}",
            out.1
        );
        assert!(!path.exists(), "memrec recover made a file of no segments");
        return ((kill_ns - start_ns) / 1_000_000, Vec::new());
    }

    // Each closed segment is a whole memtrace file describing itself.
    let metas: Vec<FileMeta> = segs.paths().iter().map(|p| meta(p)).collect();
    let mut kept_rows = std::collections::BTreeMap::new();
    for ((k, p), m) in segs.closed.iter().zip(&metas) {
        let s = m.segment.as_ref().expect("a segment's metadata names it");
        assert_eq!((s.first, s.last), (*k, *k), "{}", p.display());
        assert_eq!(
            s.recording_id,
            metas[0].segment.as_ref().unwrap().recording_id,
            "one recording"
        );
        let counted = row_counts(&tables(p));
        assert_eq!(
            counted,
            nonzero(&m.rows),
            "{}: rows vs its metadata",
            p.display()
        );
        for (t, c) in counted {
            *kept_rows.entry(t).or_insert(0u64) += c;
        }
    }
    // Consecutive segments share their edge: nothing between them is lost.
    for w in metas.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert_eq!(a.end_ns, b.start_ns, "segment edges");
        assert_eq!(a.vmstat_end, b.vmstat_start, "vmstat at the edge");
        assert_eq!(a.clock_anchors.last(), b.clock_anchors.first());
    }
    let whole = FileMeta::combine(&metas).unwrap();
    assert!(FileMeta::missing_segments(&numbers).is_empty());
    assert_eq!(nonzero(&whole.rows), kept_rows);

    // The kept rows are the kernel's records up to the last edge: each
    // record is one row of these groups.
    let mut miscounted = Vec::new();
    for g in ONE_ROW_PER_RECORD {
        let (events, lost) = group_events(&whole, g);
        assert_eq!(lost, 0, "{g}: records lost in the kernel");
        let rows = kept_rows.get(g).copied().unwrap_or(0);
        if rows != events {
            miscounted.push(format!(
                "{g}: {rows} rows kept, {events} records counted in segments 1..={n}"
            ));
        }
    }

    // Coverage up to one interval before the kill, by the clock and by the
    // kernel's counters: every record the kernel had counted by then is in
    // the kept segments, and none counted after the kill.
    let margin = (kill_ns - whole.end_ns) / 1_000_000;
    assert!(
        whole.end_ns >= deadline,
        "the kept segments end {margin} ms before the kill (interval {} ms + slack {} ms)",
        interval.as_millis(),
        SLACK.as_millis()
    );
    let (events, lost) = all_events(&whole);
    assert!(
        events + lost <= before.0 + before.1,
        "kept segments count {} records, the kernel {} before the kill",
        events + lost,
        before.0 + before.1
    );
    if let Some(&(at, e, l)) = log.iter().rev().find(|r| r.0 <= deadline) {
        assert!(
            events + lost >= e + l,
            "the kernel had counted {} records {} ms before the kill; the kept segments hold {}",
            e + l,
            (kill_ns - at) / 1_000_000,
            events + lost
        );
    }
    // No row after the last edge it claims, none before the first.
    let rows = whole.rows.values().sum::<u64>();
    say(format!(
        "  kept {n} segments, {rows} rows, up to {margin} ms before the kill; partial: {}",
        segs.partial.len()
    ));

    // Read as it is, without recovery: the closed segments are ordinary
    // Parquet files, and memana reads them (read-only) for the missing file.
    if readers {
        let (pa, duck) = other_readers_rows(&segs.paths());
        assert_eq!((pa, duck), (rows, rows), "pyarrow, DuckDB on the segments");
    }
    let copy = dir.path().join("copy");
    let copy_segs = copy.join("run.parquet.segments");
    std::fs::create_dir_all(&copy_segs).unwrap();
    for p in segs.paths().iter().chain(&segs.partial) {
        std::fs::copy(p, copy_segs.join(p.file_name().unwrap())).unwrap();
    }
    let warned = memana_report(&copy.join("run.parquet"));
    assert!(
        warned.contains("recover"),
        "memana read an unrecovered recording without saying so: {warned}"
    );

    // memrec recover: one file, holding exactly the closed segments, and
    // the one closed but not yet renamed when it is whole (after a kill the
    // kernel still has its pages; recover checks its checksums).
    let (ok, said) = recover(&path);
    assert!(ok, "memrec recover failed: {said}");
    say(format!(
        "  memrec recover: {}",
        said.trim().replace('\n', " | ")
    ));
    let m = meta(&path);
    let s = m
        .segment
        .clone()
        .expect("the recovered file names its segments");
    let mut whole = whole;
    let mut rows = rows;
    if s.last == n + 1 {
        let late = &segs.partial[0];
        assert!(
            said.contains("closed but not yet renamed"),
            "recover kept {} without saying so: {said}",
            late.display()
        );
        let late_meta = meta(late);
        for (t, c) in row_counts(&tables(late)) {
            *kept_rows.entry(t).or_insert(0u64) += c;
            rows += c;
        }
        whole = FileMeta::combine(&[whole, late_meta]).unwrap();
    }
    assert_eq!((s.first, s.last), (1, whole.segment.as_ref().unwrap().last));
    assert_eq!(nonzero(&m.rows), kept_rows, "recovered rows");
    assert_eq!((m.start_ns, m.end_ns), (whole.start_ns, whole.end_ns));
    assert_eq!(all_events(&m), all_events(&whole), "recovered probe counts");
    let t = tables(&path);
    assert_eq!(row_counts(&t), kept_rows, "rows in the recovered file");
    for (table, ts) in &t {
        assert!(
            ts.min().unwrap() >= m.start_ns - ORDER_NS && ts.max().unwrap() <= m.end_ns + DRAIN_NS,
            "{table}: rows from {:?} to {:?} outside the recording {}..{}",
            ts.min(),
            ts.max(),
            m.start_ns,
            m.end_ns
        );
    }
    if readers {
        let (pa, duck) = other_readers_rows(std::slice::from_ref(&path));
        assert_eq!(
            (pa, duck),
            (rows, rows),
            "pyarrow, DuckDB on the recovered file"
        );
    }
    memana_report(&path);
    (margin, miscounted)
}

/// A record's `ts_ns` is read by its program before it reserves its place
/// in the ring; records of one ring are in reservation order, so a row can
/// follow a later-stamped one by what ran between its clock read and its
/// reservation on that CPU (the program's own instructions and interrupts):
/// 10 ms is far beyond it.
const ORDER_NS: i64 = 10_000_000;
/// A segment's rows are those drained before it closed; the edge is read
/// first, so rows stamped during the drain that follows (bounded by one
/// drain of a full ring) can lie past it.
const DRAIN_NS: i64 = 1_000_000_000;

/// `memrec recover PATH`: whether it succeeded, and what it said.
fn recover(path: &Path) -> (bool, String) {
    let out = Command::new(bin("memrec"))
        .arg("recover")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A segment is renamed to its final name only after its data reached the
/// disk, and the rename itself is synced: after a power cut a name without
/// `.partial` still holds a whole file. Seen as system calls, once: the
/// segment's file synced, then renamed, then its directory synced; and the
/// same for the merged file at a clean stop.
#[test]
fn root_segments_are_synced_before_they_are_named() {
    if skip_unless_root("root_segments_are_synced_before_they_are_named") {
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        say("SKIPPED: strace is not installed: the order of sync and rename is not checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.parquet");
    let trace = dir.path().join("strace.txt");
    let out = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=fsync,fdatasync,sync_file_range,rename,renameat,renameat2",
        ])
        .arg(bin("memrec"))
        .args(["record", "--no-progress", "-o"])
        .arg(&path)
        .args(["-d", "7s", "--checkpoint", "2s", "--load-test", "20000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "memrec under strace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let calls: Vec<Call> = text.lines().filter_map(Call::parse).collect();

    let mut sealed = 0;
    for (i, c) in calls.iter().enumerate() {
        let Some((from, to)) = &c.rename else {
            continue;
        };
        let name = |p: &str| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string()
        };
        let final_file = to == &path.to_string_lossy();
        if !(from.ends_with(".parquet.partial") || final_file) {
            continue;
        }
        // Synced by the same thread before the rename (a thread's calls
        // are in order: its sync returned before its rename began), under
        // this name or one it had before (the merge renames its synced
        // output twice: into the segments directory, then into place).
        let mut names = vec![from.clone()];
        for e in calls[..i].iter().rev() {
            if let Some((a, b)) = &e.rename {
                if names.contains(b) {
                    names.push(a.clone());
                }
            }
        }
        assert!(
            calls[..i].iter().any(|s| s.tid == c.tid
                && s.sync_of
                    .as_ref()
                    .is_some_and(|p| names.iter().any(|n| name(n) == name(p)))),
            "{from} renamed to {to} without a sync of it before:\n{text}"
        );
        // Then the directory that holds the new name.
        let parent = Path::new(to)
            .parent()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            calls[i + 1..]
                .iter()
                .any(|s| s.tid == c.tid && s.sync_of.as_deref() == Some(parent.as_str())),
            "{to}: its directory {parent} not synced after the rename:\n{text}"
        );
        sealed += 1;
    }
    // Three or four checkpoints in 7 s, and the merge at the end.
    assert!(sealed >= 4, "{sealed} synced renames seen:\n{text}");
    say(format!("{sealed} renames, each synced before and after"));
}

/// One line of `strace -f -y`: a sync of a file (its path, as -y shows it)
/// or a rename.
struct Call {
    tid: u32,
    sync_of: Option<String>,
    rename: Option<(String, String)>,
}

impl Call {
    fn parse(line: &str) -> Option<Call> {
        let (tid, rest) = line.split_once(' ')?;
        let tid = tid.parse().ok()?;
        let rest = rest.trim_start();
        let (name, args) = rest.split_once('(')?;
        let mut call = Call {
            tid,
            sync_of: None,
            rename: None,
        };
        // A call that blocks is split: its arguments are on the line that
        // ends `<unfinished ...>` (it began there; the thread's next call
        // comes after it returned), and `<... fsync resumed>` has none.
        // Other lines count only when the call succeeded.
        if !(rest.ends_with("<unfinished ...>") || rest.ends_with(" = 0")) {
            return None;
        }
        match name {
            "fsync" | "fdatasync" | "sync_file_range" => {
                // fsync(5</dir/000001.parquet.partial>)
                let (_, p) = args.split_once('<')?;
                let (p, _) = p.split_once('>')?;
                call.sync_of = Some(p.to_string());
            }
            "rename" | "renameat" | "renameat2" => {
                // rename("from", "to") or renameat2(DIRFD</dir>, "from",
                // DIRFD</dir>, "to", flags): a relative name is taken in
                // the directory -y shows for its fd.
                let parts: Vec<&str> = args.split('"').collect();
                let path = |dirfd: &str, name: &str| -> String {
                    match dirfd.split_once('<').and_then(|(_, d)| d.split_once('>')) {
                        Some((d, _)) if !name.starts_with('/') => {
                            Path::new(d).join(name).to_string_lossy().to_string()
                        }
                        _ => name.to_string(),
                    }
                };
                let from = path(parts.first()?, parts.get(1)?);
                let to = path(parts.get(2)?, parts.get(3)?);
                call.rename = Some((from, to));
            }
            _ => return None,
        }
        Some(call)
    }
}

/// The instrument of the kill test: the counters read live from memrec's
/// maps are the ones its file reports. At a clean stop, the file counts
/// every record the kernel had counted at the last reading, and no more
/// than the kernel counted in all.
#[test]
fn root_live_counters_are_the_files_counters() {
    if skip_unless_root("root_live_counters_are_the_files_counters") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.parquet");
    let rec = start_recording(&path, &["--load-test", "20000"]);
    let pid = rec.child.id();
    std::thread::sleep(Duration::from_secs(2));
    let a = bpf_counters(pid).expect("memrec's counter maps");
    std::thread::sleep(Duration::from_secs(1));
    let b = bpf_counters(pid).expect("memrec's counter maps");
    rec.stop();
    let m = meta(&path);
    let (events, lost) = all_events(&m);
    say(format!(
        "live: {a:?} then {b:?}; the file: {events} events, {lost} lost"
    ));
    assert!(b.0 > a.0 + 10_000, "the counters do not move: {a:?}, {b:?}");
    assert!(
        events >= b.0 && lost >= b.1,
        "{events} events in the file, {} read live",
        b.0
    );
    // The load test alone writes 20000 a second; the end is a fraction of
    // a second after the last reading.
    assert!(
        events < b.0 + 40_000,
        "{events} events in the file, {} read live 1 s before",
        b.0
    );
}
