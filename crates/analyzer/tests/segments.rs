//! A recording written as segments reads as one: a directory, a glob, a
//! list of paths, or `run.parquet` that memrec did not finish (its closed
//! segments in `run.parquet.segments/`) give the report of one file holding
//! the same rows and the combined metadata. Files of several recordings
//! are a fleet (tests/fleet.rs); two files holding one segment are refused
//! with one line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{first_difference, memana, report_content, scenario, seal, Builder};
use memtrace_schema::{ClockAnchor, FileMeta, SegmentMeta};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SEC: i64 = scenario::SEC;
/// Where the scenario's 60 s are cut into segments.
const CUTS: [i64; 2] = [scenario::START + 20 * SEC, scenario::START + 40 * SEC];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit 2 with exactly one line on stderr saying each of `what`.
fn refused(args: &[&str], what: &[&str]) -> String {
    let (code, out, err) = memana(args);
    assert_eq!(code, 2, "{args:?}: stdout {out} stderr {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    for w in what {
        assert!(err.contains(w), "{args:?}: {err:?} does not say {w:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn json_report(args: &[&str]) -> Value {
    let mut a = vec!["report"];
    a.extend_from_slice(args);
    a.extend(["--format", "json"]);
    let (code, out, err) = memana(&a);
    assert_eq!(code, 0, "{a:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The scenario as memrec would have recorded it whole: with clock anchors
/// and /proc/vmstat readings at its edges.
fn whole() -> Builder {
    let mut b = scenario::build(1);
    b.meta.clock_anchors = vec![anchor(b.meta.start_ns), anchor(b.meta.end_ns)];
    b.meta.vmstat_start = [("pgfault".to_string(), 1_000), ("oom_kill".into(), 0)].into();
    b.meta.vmstat_end = [("pgfault".to_string(), 9_000), ("oom_kill".into(), 1)].into();
    b
}

fn anchor(ts: i64) -> ClockAnchor {
    ClockAnchor {
        boottime_ns: ts,
        realtime_ns: 1_700_000_000_000_000_000 + ts,
        monotonic_ns: ts - 1_000,
    }
}

/// `b` cut at `CUTS` into segments 1..=3 of recording `id`: each holds the
/// rows of its window, the readings at its two edges, and the events,
/// losses and rows inside it (the scenario's losses all in segment 2).
fn segments(b: &Builder, id: &str) -> Vec<Builder> {
    let edges = [b.meta.start_ns, CUTS[0], CUTS[1], b.meta.end_ns];
    let vm = |i: usize| -> std::collections::BTreeMap<String, u64> {
        match i {
            0 => b.meta.vmstat_start.clone(),
            3 => b.meta.vmstat_end.clone(),
            _ => [
                ("pgfault".to_string(), 1_000 + 2_000 * i as u64),
                ("oom_kill".into(), 0),
            ]
            .into(),
        }
    };
    (0..3)
        .map(|k| {
            let (lo, hi) = (edges[k], edges[k + 1]);
            let mut seg = Builder::new(lo, hi);
            seg.meta = b.meta.clone();
            seg.meta.start_ns = lo;
            seg.meta.end_ns = hi;
            seg.meta.clock_anchors = vec![anchor(lo), anchor(hi)];
            seg.meta.vmstat_start = vm(k);
            seg.meta.vmstat_end = vm(k + 1);
            seg.meta.start_time = format!("segment {} start", k + 1);
            seg.meta.end_time = format!("segment {} end", k + 1);
            if k == 0 {
                seg.meta.start_time = b.meta.start_time.clone();
            }
            if k == 2 {
                seg.meta.end_time = b.meta.end_time.clone();
            } else {
                seg.meta.end_reason = "checkpoint".into();
            }
            seg.meta.segment = Some(SegmentMeta {
                recording_id: id.into(),
                first: k as u64 + 1,
                last: k as u64 + 1,
            });
            seg.rows = b
                .rows
                .iter()
                .filter(|r| {
                    let t = r.header.ts_ns;
                    (t >= lo || k == 0) && (t < hi || k == 2)
                })
                .cloned()
                .collect();
            seg.count();
            for p in &mut seg.meta.probes {
                p.lost = if k == 1 {
                    b.meta
                        .probes
                        .iter()
                        .find(|o| o.program == p.program)
                        .map_or(0, |o| o.lost)
                } else {
                    0
                };
            }
            for g in &mut seg.meta.groups {
                g.lost = if k == 1 {
                    b.meta
                        .groups
                        .iter()
                        .find(|o| o.name == g.name)
                        .map_or(0, |o| o.lost)
                } else {
                    0
                };
            }
            seg
        })
        .collect()
}

/// Writes a builder as memrec does: with checksums.
fn write_sealed(b: &Builder, path: &Path) {
    let plain = path.with_extension("plain");
    b.write(&plain);
    seal::seal(&plain, path);
    std::fs::remove_file(&plain).unwrap();
}

/// Writes the segments as `NNNNNN.parquet` in `dir`.
fn write_segments(segs: &[Builder], dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    segs.iter()
        .map(|seg| {
            let n = seg.meta.segment.as_ref().unwrap().first;
            let p = dir.join(format!("{n:06}.parquet"));
            write_sealed(seg, &p);
            p
        })
        .collect()
}

/// One file holding the segments' rows with their combined metadata, as
/// memrec's merge (or `memrec recover`) writes it.
fn write_merged(segs: &[Builder], path: &Path) {
    let metas: Vec<FileMeta> = segs.iter().map(|s| s.meta.clone()).collect();
    let mut m = Builder::new(0, 0);
    m.meta = FileMeta::combine(&metas).unwrap();
    m.rows = segs.iter().flat_map(|s| s.rows.iter().cloned()).collect();
    write_sealed(&m, path);
}

fn assert_same(a: Value, b: Value, what: &str) {
    let (a, b) = (report_content(a), report_content(b));
    if let Some(d) = first_difference(&a, &b, "") {
        panic!("{what}: reports differ at {d}");
    }
}

#[test]
fn a_directory_a_glob_and_a_list_of_segments_read_as_the_merged_file() {
    let d = tempfile::tempdir().unwrap();
    let b = whole();
    let segs = segments(&b, "a1b2c3");
    // The combined metadata is the whole recording's.
    let metas: Vec<FileMeta> = segs.iter().map(|s| s.meta.clone()).collect();
    let mut combined = FileMeta::combine(&metas).unwrap();
    assert_eq!(
        combined.segment,
        Some(SegmentMeta {
            recording_id: "a1b2c3".into(),
            first: 1,
            last: 3
        })
    );
    combined.segment = None;
    assert_eq!(combined, b.meta);
    assert_eq!(
        segs.iter().map(|s| s.rows.len()).sum::<usize>(),
        b.rows.len()
    );

    let dir = d.path().join("segs");
    let files = write_segments(&segs, &dir);
    let merged = d.path().join("merged.parquet");
    write_merged(&segs, &merged);
    let one = json_report(&[s(&merged)]);
    assert!(one["sections"]["oom"]["tables"].is_object());

    assert_same(
        json_report(&[s(&dir)]),
        one.clone(),
        "a directory of segments",
    );
    let glob = dir.join("0000*.parquet");
    assert_same(json_report(&[s(&glob)]), one.clone(), "a glob");
    // In any order.
    assert_same(
        json_report(&[s(&files[2]), s(&files[0]), s(&files[1])]),
        one.clone(),
        "a list of segment files",
    );
    // A directory-mode output: a merged file of the first two segments and
    // the third still in `.segments/`.
    let runs = d.path().join("runs");
    std::fs::create_dir_all(runs.join(".segments")).unwrap();
    let first_two = runs.join("memrec-20240101T000000Z-0001.parquet");
    write_merged(&segs[..2], &first_two);
    write_segments(&segs[2..], &runs.join(".segments"));
    assert_same(
        json_report(&[s(&runs)]),
        one.clone(),
        "a rotation directory",
    );
    // A directory name is not data: `kind=x/` is not a column (as a
    // hive-partitioned data set's would be).
    let odd = d.path().join("kind=x").join("ts_ns=5");
    write_segments(&segs, &odd);
    assert_same(
        json_report(&[s(&odd)]),
        one.clone(),
        "a directory named key=value",
    );

    // The text report names what it read; info lists the files.
    let (code, out, err) = memana(&["info", s(&dir)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(s(&dir)), "{out}");
    let (code, out, err) = memana(&["info", s(&dir), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        files_facts(&v),
        [
            ("files".to_string(), Value::from(3)),
            ("recording_id".into(), Value::from("a1b2c3")),
            ("segments".into(), Value::from("1-3")),
            ("missing_segments".into(), Value::Null),
        ]
    );
    // One file: no files table.
    let (_, out, _) = memana(&["info", s(&merged), "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["sections"]["header"]["tables"].get("files").is_none());

    // check and diff take the same paths.
    let (code, out, err) = memana(&[
        "check",
        s(&glob),
        "--rule",
        "header.rows{table=\"oom_victim\"} == 1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = memana(&[
        "diff",
        "--changed-only",
        "--format",
        "json",
        s(&files[0]),
        s(&files[1]),
        s(&files[2]),
        "--",
        s(&merged),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["metrics"].as_array().map(Vec::len), Some(0), "{out}");
    let (code, _, err) = memana(&["diff", s(&dir), s(&merged)]);
    assert_eq!(code, 0, "{err}");
    refused(&["diff", s(&dir)], &["diff takes two recordings"]);
}

#[test]
fn an_unfinished_recording_reads_its_closed_segments_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let b = whole();
    let segs = segments(&b, "feed01");
    let run = d.path().join("run.parquet");
    let spool = d.path().join("run.parquet.segments");
    write_segments(&segs[..2], &spool);
    // The segment memrec was writing when it was killed: no footer.
    let mut partial = std::fs::read(spool.join("000002.parquet")).unwrap();
    partial.truncate(3_000);
    std::fs::write(spool.join("000003.parquet.partial"), &partial).unwrap();
    let merged = d.path().join("merged.parquet");
    write_merged(&segs[..2], &merged);

    let v = json_report(&[s(&run)]);
    let unfinished = format!(
        "{0}: memrec did not finish this recording; reading 2 closed segments from \
         {0}.segments/ (run `memrec recover {0}` to make one file)",
        s(&run)
    );
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        warnings.iter().filter(|w| **w == unfinished).count(),
        1,
        "{warnings:?}"
    );
    let skipped = warnings
        .iter()
        .find(|w| w.contains("000003.parquet.partial"))
        .unwrap_or_else(|| panic!("no note of the partial segment: {warnings:?}"));
    assert!(skipped.contains("3000 bytes"), "{skipped}");
    // Apart from those notes, what the closed segments hold.
    // (The header's notes repeat the warnings.)
    let mut rest = v.clone();
    let notes = [unfinished.as_str(), *skipped];
    let keep = |w: &Value| {
        !notes
            .iter()
            .any(|n| w.as_str().is_some_and(|w| w.ends_with(n)))
    };
    rest["warnings"].as_array_mut().unwrap().retain(keep);
    rest["sections"]["header"]["notes"]
        .as_array_mut()
        .unwrap()
        .retain(keep);
    assert_same(
        rest,
        json_report(&[s(&merged)]),
        "closed segments of an unfinished recording",
    );
    assert_eq!(v["recording"]["end_ns"], Value::from(CUTS[1]));

    // The text report says it once among its warnings; leaks, which
    // prints no warnings, on stderr.
    let (code, out, _) = memana(&["report", s(&run), "--section", "header"]);
    assert_eq!(code, 0);
    let top = out.split("== ").next().unwrap_or_default();
    assert_eq!(top.matches("memrec did not finish").count(), 1, "{out}");
    let (code, out, err) = memana(&["leaks", s(&run)]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err.matches("memrec did not finish").count(), 1, "{err}");

    // The spool directory itself is a directory of segments.
    let (code, _, err) = memana(&["info", s(&spool)]);
    assert_eq!(code, 0, "{err}");

    // Once memrec (or recover) has made the file, the file is read.
    std::fs::copy(&merged, &run).unwrap();
    let v = json_report(&[s(&run)]);
    assert!(
        !v["warnings"].to_string().contains("did not finish"),
        "{}",
        v["warnings"]
    );
}

#[test]
fn a_gap_in_the_segments_is_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let b = whole();
    let segs = segments(&b, "0abc");
    let dir = d.path().join("segs");
    let files = write_segments(&segs, &dir);
    std::fs::remove_file(&files[1]).unwrap();
    let v = json_report(&[s(&dir)]);
    let w = v["warnings"].to_string();
    assert!(
        w.contains("segment 2 of recording 0abc is missing (deleted by rotation, or not given)"),
        "{w}"
    );
    // The span is the recording's; the rows are those of segments 1 and 3.
    assert_eq!(v["recording"]["start_ns"], Value::from(b.meta.start_ns));
    assert_eq!(v["recording"]["end_ns"], Value::from(b.meta.end_ns));
    let rows = |v: &Value| {
        v["sections"]["header"]["tables"]["recording"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "rows")
            .map(|r| r["value"].clone())
    };
    assert_eq!(
        rows(&v),
        Some(Value::from(segs[0].rows.len() + segs[2].rows.len()))
    );
    let (_, out, _) = memana(&["info", s(&dir), "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        files_facts(&v),
        [
            ("files".to_string(), Value::from(2)),
            ("recording_id".into(), Value::from("0abc")),
            ("segments".into(), Value::from("1, 3")),
            ("missing_segments".into(), Value::from("2")),
        ]
    );
}

/// `info`'s files table as (key, value) pairs.
fn files_facts(v: &Value) -> Vec<(String, Value)> {
    v["sections"]["header"]["tables"]["files"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].clone()))
        .collect()
}

/// The recordings a fleet report lists: (host, recording id) per row.
fn fleet_members(args: &[&str]) -> Vec<(String, String)> {
    let v = json_report(args);
    assert_eq!(
        v["fleet"]["recordings"],
        v["sections"]["header"]["tables"]["recordings"]["rows"]
            .as_array()
            .map_or(0, |r| r.len()),
        "{v}"
    );
    v["sections"]["header"]["tables"]["recordings"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["recording"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn files_of_several_recordings_are_a_fleet_and_overlaps_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let b = whole();
    let a = write_segments(&segments(&b, "aaaa"), &d.path().join("a"));
    let other = write_segments(&segments(&b, "bbbb"), &d.path().join("b"));
    // Segments of two recordings: two recordings, each its own.
    let ids: Vec<String> = fleet_members(&[s(&a[0]), s(&other[1])])
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids, ["aaaa", "bbbb"]);
    // Two whole recordings (no segment information): each file is one,
    // named by its file.
    let one = d.path().join("one.parquet");
    let two = d.path().join("two.parquet");
    write_sealed(&b, &one);
    write_sealed(&b, &two);
    let (code, out, err) = memana(&["info", s(&one), s(&two)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 recordings on 1 host"), "{out}");
    let whole_dir = d.path().join("wholes");
    std::fs::create_dir(&whole_dir).unwrap();
    std::fs::copy(&one, whole_dir.join("x.parquet")).unwrap();
    std::fs::copy(&two, whole_dir.join("y.parquet")).unwrap();
    let ids: Vec<String> = fleet_members(&[s(&whole_dir)])
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids, ["x", "y"]);
    // A whole recording and a segment of another.
    assert_eq!(fleet_members(&[s(&one), s(&a[0])]).len(), 2);
    // The same segment in two files.
    let copy = d.path().join("a").join("copy-of-2.parquet");
    std::fs::copy(&a[1], &copy).unwrap();
    refused(
        &["report", s(&d.path().join("a"))],
        &["both hold segment 2 of recording aaaa", "copy-of-2.parquet"],
    );
    // A merged file and a segment it holds.
    let merged = d.path().join("m.parquet");
    write_merged(&segments(&b, "aaaa"), &merged);
    refused(&["report", s(&merged), s(&a[2])], &["both hold segment 3"]);

    // Two flight-recorder files of one run: each is the window around its
    // trigger, not a part of one recording.
    let incidents = d.path().join("incidents");
    let mut segs = segments(&b, "aaaa");
    for (k, seg) in segs.iter_mut().enumerate() {
        seg.meta.trigger = Some(memtrace_schema::TriggerMeta {
            kind: "oom".into(),
            ts_ns: seg.meta.start_ns + SEC,
            detail: format!("incident {k}"),
            keep_ns: SEC,
            tail_ns: SEC,
        });
    }
    write_segments(&segs[..2], &incidents);
    assert_eq!(fleet_members(&[s(&incidents)]).len(), 2);
    let (code, _, err) = memana(&["report", s(&incidents.join("000001.parquet"))]);
    assert_eq!(code, 0, "{err}");

    // Nothing to read: exit 2 as for a missing file.
    let missing = d.path().join("missing.parquet");
    refused(&["report", s(&missing)], &["No such file", s(&missing)]);
    for cmd in ["report", "info", "leaks"] {
        refused(
            &[cmd, s(&d.path().join("nothing-*.parquet"))],
            &["no file matches"],
        );
    }
    refused(
        &[
            "check",
            s(&d.path().join("nothing-*.parquet")),
            "--rule",
            "paf.failures == 0",
        ],
        &["no file matches"],
    );
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(&["report", s(&empty)], &["no recording files"]);
    // A directory with only a partial segment.
    let spool = d.path().join("r.parquet.segments");
    std::fs::create_dir(&spool).unwrap();
    std::fs::write(spool.join("000001.parquet.partial"), b"PAR1 and no more").unwrap();
    refused(
        &["report", s(&d.path().join("r.parquet"))],
        &["did not finish", "16 bytes"],
    );
    // A damaged segment is named.
    let bad = d.path().join("a").join("000003.parquet");
    let mut bytes = std::fs::read(&bad).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 10);
    std::fs::write(&bad, &bytes).unwrap();
    std::fs::remove_file(&copy).unwrap();
    refused(&["report", s(&d.path().join("a"))], &[s(&bad), "truncated"]);
}

/// The rows of a file as a builder's, with its metadata.
fn builder_of(path: &Path) -> Builder {
    let mut b = Builder::new(0, 0);
    b.meta = common::read_meta(path);
    for r in common::read_rows(path) {
        let t = memtrace_schema::table(&r.kind).unwrap();
        b.rows.push(common::TRow {
            table: t.name,
            header: memtrace_schema::Header {
                ts_ns: r.ts(),
                cpu: r.u("cpu") as u32,
                pid: r.u("pid") as u32,
                tgid: r.u("tgid") as u32,
                comm: memtrace_schema::Comm::from_raw(r.s("comm").as_bytes()),
                cgroup_id: r.u("cgroup_id"),
            },
            vals: t
                .columns
                .iter()
                .map(|c| {
                    r.cols
                        .get(&memtrace_schema::file_column_name(t.name, c.name))
                        .cloned()
                        .unwrap_or(common::V::Null)
                })
                .collect(),
        });
    }
    b
}

/// The stack store's tables, whose rows each rotated file repeats.
fn is_store(table: &str) -> bool {
    memtrace_schema::tables::stacks::TABLES
        .iter()
        .any(|t| t.name == table)
}

/// A recording of two files, the second repeating the stack store's rows
/// of the first (as each rotated file carries the stacks seen before it),
/// names its stacks as one file holding them once: no frame doubled, no
/// mapping or symbol counted twice. And the second file, which names its
/// stacks alone, opens alone though those rows are older than its start.
#[test]
fn store_rows_repeated_by_a_later_file_count_once() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/heap-leak.parquet");
    if !fixture.exists() {
        eprintln!("skipped: {} is missing", fixture.display());
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let b = builder_of(&fixture);
    let (start, end) = (b.meta.start_ns, b.meta.end_ns);
    // Its allocations come in a burst a few ms long, their stacks first
    // seen at its start: cut in the middle of it.
    let mut allocs: Vec<i64> = b
        .rows
        .iter()
        .filter(|r| r.table == "user_alloc")
        .map(|r| r.header.ts_ns)
        .collect();
    allocs.sort_unstable();
    let cut = allocs[allocs.len() / 2];
    let seg = |k: u64, lo: i64, hi: i64, rows: Vec<common::TRow>| {
        let mut s = Builder::new(lo, hi);
        s.meta = b.meta.clone();
        (s.meta.start_ns, s.meta.end_ns) = (lo, hi);
        // The clocks read at the segment's edges.
        let at = |ts: i64| {
            let mut a = b.meta.clock_anchors[0].clone();
            let d = ts - a.boottime_ns;
            (a.boottime_ns, a.realtime_ns, a.monotonic_ns) =
                (ts, a.realtime_ns + d, a.monotonic_ns + d);
            a
        };
        s.meta.clock_anchors = vec![at(lo), at(hi)];
        if k == 1 {
            s.meta.end_reason = "checkpoint".into();
        }
        s.meta.segment = Some(SegmentMeta {
            recording_id: "st0re".into(),
            first: k,
            last: k,
        });
        s.meta.rows.clear();
        for r in &rows {
            *s.meta.rows.entry(r.table.to_string()).or_default() += 1;
        }
        s.rows = rows;
        s
    };
    let (before, after): (Vec<_>, Vec<_>) =
        b.rows.iter().cloned().partition(|r| r.header.ts_ns < cut);
    let once = [
        seg(1, start, cut, before.clone()),
        seg(2, cut, end, after.clone()),
    ];
    let mut again = after.clone();
    again.extend(before.iter().filter(|r| is_store(r.table)).cloned());
    let repeated = [seg(1, start, cut, before.clone()), seg(2, cut, end, again)];
    // The test means something: the second half's allocations name stacks
    // whose frames the first half holds, and there are store rows to repeat.
    let framed = |rows: &[common::TRow]| -> std::collections::BTreeSet<u64> {
        let t = memtrace_schema::table("stack_frame").unwrap();
        let i = t.columns.iter().position(|c| c.name == "stack_id").unwrap();
        rows.iter()
            .filter(|r| r.table == "stack_frame")
            .filter_map(|r| r.vals[i].u64())
            .collect()
    };
    let ua = memtrace_schema::table("user_alloc").unwrap();
    let ui = ua
        .columns
        .iter()
        .position(|c| c.name == "stack_id")
        .unwrap();
    let early = framed(&before);
    assert!(
        after
            .iter()
            .filter(|r| r.table == "user_alloc")
            .filter_map(|r| r.vals[ui].u64())
            .any(|id| early.contains(&id)),
        "no allocation after the cut names a stack first seen before it"
    );
    for t in ["stack_frame", "module_map", "kernel_symbol"] {
        assert!(
            before.iter().any(|r| r.table == t),
            "no {t} rows before the cut"
        );
    }

    let one = d.path().join("one.parquet");
    write_merged(&once, &one);
    let plain = d.path().join("plain");
    let carried = d.path().join("carried");
    write_segments(&once, &plain);
    let files = write_segments(&repeated, &carried);
    let leaks = |p: &Path, fmt: &str| -> String {
        let (code, out, err) = memana(&["leaks", s(p), "--format", fmt, "--top", "0"]);
        assert_eq!(code, 0, "{}: {err}", p.display());
        out
    };
    let folded = leaks(&one, "folded");
    assert!(folded.lines().count() > 2, "{folded}");
    for dir in [&plain, &carried] {
        assert_eq!(leaks(dir, "folded"), folded, "{}", dir.display());
        // The same stacks, frames and notes; `file` names what was read.
        let json = |p: &Path| {
            let mut v: Value = serde_json::from_str(&leaks(p, "json")).unwrap();
            v.as_object_mut().unwrap().remove("file");
            v
        };
        assert_eq!(json(dir), json(&one), "{}", dir.display());
        let section =
            |p: &Path| json_report(&[s(p), "--section", "leaks"])["sections"]["leaks"].clone();
        assert_eq!(section(dir), section(&one), "{}", dir.display());
    }

    // The second file alone: its carried store rows predate its start,
    // and still it opens and names the stacks its allocations use (without
    // them it could not).
    let stacks = |p: &Path| -> Vec<usize> {
        let v: Value = serde_json::from_str(&leaks(p, "json")).unwrap();
        v["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["frames"].as_array().unwrap().len())
            .collect()
    };
    let alone = stacks(&files[1]);
    assert!(
        !alone.is_empty() && alone.iter().all(|&n| n > 0),
        "{alone:?}"
    );
    let bare = stacks(&plain.join("000002.parquet"));
    assert!(bare.contains(&0), "{bare:?}");
}
