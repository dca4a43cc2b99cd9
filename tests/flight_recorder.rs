//! The flight recorder (`memrec record --keep 30s --until oom`): memrec
//! records for longer than its window while keeping only the window on
//! disk; memscen's OOM scenario then grows a worker until the memcg OOM
//! killer kills it. The file written holds the victim's growth and the
//! kill, names the trigger, and no event older than the window; and it
//! names every stack its rows point at, those first seen long before the
//! window too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use memtrace_schema::tables::stacks::TABLES as STORE;
use support::segments::*;
use support::*;

const KEEP: Duration = Duration::from_secs(30);
const TAIL: Duration = Duration::from_secs(3);
const CHECKPOINT: Duration = Duration::from_secs(2);

#[test]
fn root_flight_recorder_keeps_the_window_before_an_oom_kill() {
    if skip_unless_root("root_flight_recorder_keeps_the_window_before_an_oom_kill") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oom.parquet");
    // Faults of this process in one code path from before the recording to
    // its end: stacks first seen long before the window, named in it.
    let me = std::process::id();
    let _faults = Faulter::start(64);
    let mut rec = start_recording(
        &path,
        &[
            "--probes",
            "+faults",
            "--fault-stacks",
            "64",
            "--keep",
            "30s",
            "--until",
            "oom",
            "--tail",
            "3s",
            "--checkpoint",
            "2s",
        ],
    );
    let started = boottime_ns();

    // Longer than the window before the OOM, so the window is full and its
    // start cuts through the recording. Meanwhile the spool holds about
    // the window: the segments inside it, the one it cuts through, one of
    // slack, and one that has left it but is still on disk while the merge
    // thread folds its stack rows into the carry (a fold takes 0.1-0.2 s,
    // a checkpoint 2 s, so only one at a time); the one being written is
    // not closed yet.
    let spool = std::path::PathBuf::from(format!("{}.segments", path.display()));
    let _churn = Churn::start(8 << 20);
    let most = (KEEP.as_secs() / CHECKPOINT.as_secs()) as usize + 3;
    let mut peak = 0;
    let until = Instant::now() + KEEP + Duration::from_secs(8);
    while Instant::now() < until {
        let s = SegmentDir::list(&spool);
        peak = peak.max(s.closed.len());
        assert!(
            s.closed.len() <= most,
            "the spool holds {} closed segments; a {} s window at {} s checkpoints needs at most {most}",
            s.closed.len(),
            KEEP.as_secs(),
            CHECKPOINT.as_secs()
        );
        if let Ok(Some(status)) = rec.child.try_wait() {
            panic!("memrec ended ({status}) before the OOM scenario: another process's OOM kill?");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    say(format!("spool: at most {peak} closed segments"));

    let oom = scenario("oom", "normal", dir.path());
    let victim = oom["oom"]["victim_pid"].as_i64().unwrap() as i128;
    let limit = oom["oom"]["limit_bytes"].as_u64().unwrap() as i128;
    assert!(
        oom["oom"]["killed"].as_bool().unwrap(),
        "memscen's worker was not OOM-killed"
    );

    // --until oom: memrec writes the window and the tail, then ends.
    let deadline = Instant::now() + TAIL + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = rec.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "memrec still running {} s after the OOM kill",
            (TAIL + Duration::from_secs(60)).as_secs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "memrec --until oom exited with {status}");
    assert!(
        SegmentDir::list(&spool).closed.is_empty(),
        "spooled segments left behind"
    );

    let m = meta(&path);
    let trigger = m.trigger.clone().expect("meta.trigger names what fired");
    say(format!(
        "trigger {} at {} ({}); file {}..{}, recording started {}",
        trigger.kind, trigger.ts_ns, trigger.detail, m.start_ns, m.end_ns, started
    ));
    assert_eq!(trigger.kind, "oom");
    assert_eq!(trigger.keep_ns, KEEP.as_nanos() as i64);
    assert_eq!(trigger.tail_ns, TAIL.as_nanos() as i64);
    let from = trigger.ts_ns - trigger.keep_ns;
    let to = trigger.ts_ns + trigger.tail_ns;
    assert!(
        from > started,
        "the recording ran less than the window before the kill"
    );

    // Nothing older than the window, nothing past the tail (and its
    // checkpoint); the file's own window says the same. The stack store's
    // rows are kept whole: they name stacks first seen before the window.
    let mut t = tables(&path);
    t.retain(|table, _| !STORE.iter().any(|s| s.name == table));
    for (table, ts) in &t {
        assert!(
            ts.min().unwrap() >= from,
            "{table}: a row {} ms before the window",
            (from - ts.min().unwrap()) / 1_000_000
        );
        assert!(
            ts.max().unwrap() <= to + CHECKPOINT.as_nanos() as i64,
            "{table}: a row {} ms after the tail",
            (ts.max().unwrap() - to) / 1_000_000
        );
    }
    assert!(m.start_ns >= from && m.end_ns <= to + CHECKPOINT.as_nanos() as i64);
    // The window was full: the file starts at its start, not later.
    let first = t.values().filter_map(TableTs::min).min().unwrap();
    assert!(
        first - from < CHECKPOINT.as_nanos() as i64,
        "the first row is {} ms into the window",
        (first - from) / 1_000_000
    );

    // The kill itself, of memscen's worker, is the trigger.
    let f = read(&path);
    let kills = f.table("oom_victim");
    let v = kills
        .iter()
        .find(|r| r["victim_pid"].int() == victim)
        .unwrap_or_else(|| panic!("no oom_victim row of the victim {victim}: {kills:?}"));
    assert_eq!(v["victim_comm"].text(), "memscen-oom");
    let kill_ts = v["ts_ns"].int() as i64;
    assert!(
        (trigger.ts_ns - kill_ts).abs() < 1_000_000_000,
        "trigger at {}, the kill at {kill_ts}",
        trigger.ts_ns
    );

    // The victim's growth before it: procstat samples of its RSS rising
    // to most of the memcg's limit.
    let procstat = f.table("procstat");
    let samples: Vec<&Row> = procstat
        .iter()
        .filter(|r| r["tgid"].int() == victim)
        .collect();
    assert!(
        samples.len() >= 3,
        "{} procstat samples of the victim",
        samples.len()
    );
    let before: Vec<&&Row> = samples
        .iter()
        .filter(|r| r["ts_ns"].int() as i64 <= kill_ts)
        .collect();
    let first_rss = before.first().map(|r| r["rss_anon"].int()).unwrap_or(0);
    let max_rss = before
        .iter()
        .map(|r| r["rss_anon"].int())
        .max()
        .unwrap_or(0);
    assert!(
        max_rss - first_rss >= limit / 2,
        "the victim's rss_anon rose by {} before the kill (limit {limit})",
        max_rss - first_rss
    );

    // Every stack a row points at is named in the file, with its frames
    // once; this process's were first seen before the window (so they
    // came from the segments the window had left).
    let st = stacks(&path);
    let unnamed = st.unnamed();
    assert!(
        unnamed.is_empty(),
        "{} rows name stacks without frames in the file, e.g. {:?}",
        unnamed.len(),
        &unnamed[..unnamed.len().min(5)]
    );
    assert!(
        st.repeated().is_empty(),
        "stacks with their frames twice: {:?}",
        st.repeated()
    );
    let own: Vec<u64> = st
        .refs
        .iter()
        .filter(|r| r.0 == "fault_stack" && r.2 == me)
        .map(|r| r.1)
        .collect();
    let before = own.iter().filter(|id| st.frames[*id].0 < from).count();
    say(format!(
        "{} stacks named by {} rows; {} fault stacks of this process, {before} of them first seen before the window",
        st.frames.len(),
        st.refs.len(),
        own.len()
    ));
    assert!(
        before > 0,
        "none of this process's fault stacks in the window was first seen before it"
    );
    assert!(
        st.mapped.contains(&me),
        "this process's stacks but not its mappings"
    );

    memana_report(&path);
}
