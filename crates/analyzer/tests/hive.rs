//! `memana export --hive` over a fleet, read back as Spark would: the
//! layout read with pyarrow's hive partitioning, rows per table, host,
//! date and recording compared with the source files' own rows (and with
//! `memana info`), times as integer ns. And the fleet test data itself: a
//! copy under another host is a verified recording of that host.
//! Without pyarrow the read-back test says SKIPPED, and fails under
//! MEMTRACE_REQUIRE_ROOT=1 (CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fleet::{copy_id, copy_recording, CopyAs, DAY_NS};
use common::{memana, read_meta, read_rows};
use memtrace_analyzer::recording::Recording;
use memtrace_schema::integrity::Verified;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(format!("{name}.parquet"))
}

/// (table, host, date, recording) -> rows.
type Counts = BTreeMap<(String, String, String, String), u64>;

/// One copy of a fixture in the test's fleet.
struct Member {
    src: PathBuf,
    to: CopyAs,
    path: PathBuf,
}

/// The UTC date of Unix-epoch ns.
fn date(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d")
        .to_string()
}

/// Copies `src` into `dir/<host dir>/<id>.parquet` as `host`.
fn member(dir: &Path, src: &Path, host: &str, shift_ns: i64) -> Member {
    let meta = read_meta(src);
    let id = meta
        .segment
        .as_ref()
        .expect("fixtures have segments")
        .recording_id
        .clone();
    let to = CopyAs {
        recording_id: copy_id(&id, host),
        host: host.to_string(),
        shift_ns,
    };
    let hdir = dir.join(host.replace('/', "_"));
    std::fs::create_dir_all(&hdir).unwrap();
    let path = hdir.join(format!("{}.parquet", to.recording_id));
    copy_recording(src, &path, &to).expect("copy");
    Member {
        src: src.to_path_buf(),
        to,
        path,
    }
}

/// What the layout must hold for these copies, from the source files'
/// own rows: each row's table, and its UTC date from `ts_ns` and the
/// file's first clock anchor, moved by the copy's shift.
fn expected(members: &[Member]) -> Counts {
    let mut out = Counts::new();
    for m in members {
        let meta = read_meta(&m.src);
        let a = &meta.clock_anchors[0];
        for r in read_rows(&m.src) {
            let wall = r.ts() - a.boottime_ns + a.realtime_ns + m.to.shift_ns;
            *out.entry((
                r.kind.clone(),
                m.to.host.clone(),
                date(wall),
                m.to.recording_id.clone(),
            ))
            .or_default() += 1;
        }
    }
    out
}

/// Per table, the rows `memana info --format json` counts.
fn info_rows(path: &Path) -> BTreeMap<String, u64> {
    let (code, out, err) = memana(&["info", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "memana info {}: {err}", path.display());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut rows = BTreeMap::new();
    for m in v["metrics"].as_array().unwrap() {
        if m["name"] == "header.rows" {
            let t = m["labels"]["table"].as_str().unwrap().to_string();
            let n = m["value"].as_f64().unwrap() as u64;
            if n > 0 {
                rows.insert(t, n);
            }
        }
    }
    rows
}

/// Reads the lake with pyarrow's hive partitioning: rows per table, host,
/// date and recording, and what the files' schemas hold. None (after
/// saying SKIPPED) without pyarrow.
fn read_lake(lake: &Path) -> Option<(Counts, serde_json::Value)> {
    const SCRIPT: &str = r#"
import json, os, sys
try:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
except ImportError as e:
    print(f"pyarrow missing: {e}")
    sys.exit(77)
lake = sys.argv[1]
counts, types, file_columns = [], {}, set()
for table in sorted(os.listdir(lake)):
    path = os.path.join(lake, table)
    if not os.path.isdir(path):
        continue
    d = ds.dataset(path, format="parquet", partitioning="hive")
    t = d.to_table(columns=["host", "date", "recording", "ts_ns", "time_ns"])
    types[table] = {c: str(t.schema.field(c).type) for c in ["ts_ns", "time_ns"]}
    g = t.group_by(["host", "date", "recording"]).aggregate([([], "count_all")])
    for row in g.to_pylist():
        counts.append([table, row["host"], row["date"], row["recording"], row["count_all"]])
    for f in d.files:
        file_columns.update(pq.read_schema(f).names)
print(json.dumps({"counts": counts, "types": types, "file_columns": sorted(file_columns)}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(lake)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(77) {
        if std::env::var(memtrace_cli::testing::REQUIRE_ROOT_ENV).is_ok_and(|v| v == "1") {
            panic!("pyarrow is missing, and MEMTRACE_REQUIRE_ROOT=1 forbids skipping: {stdout}");
        }
        eprintln!("SKIPPED: {stdout}");
        return None;
    }
    assert!(
        out.status.success(),
        "reading the lake: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut counts = Counts::new();
    for c in v["counts"].as_array().unwrap() {
        let s = |i: usize| c[i].as_str().unwrap().to_string();
        counts.insert((s(0), s(1), s(2), s(3)), c[4].as_u64().unwrap());
    }
    Some((counts, v))
}

/// The layout's data files, relative to it, sorted.
fn files(lake: &Path) -> Vec<String> {
    fn walk(d: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(lake, lake, &mut out);
    out.sort();
    out
}

fn export(inputs: &[&Path], lake: &Path) -> String {
    let mut args = vec!["export".to_string()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--hive".to_string(), lake.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = memana(&args);
    assert_eq!(code, 0, "memana {args:?}: {err}");
    out
}

/// The shift that puts midnight (UTC) halfway through the recording.
fn across_midnight(src: &Path) -> i64 {
    let meta = read_meta(src);
    let a = &meta.clock_anchors[0];
    let rows = read_rows(src);
    let lo = rows.iter().map(|r| r.ts()).min().unwrap();
    let hi = rows.iter().map(|r| r.ts()).max().unwrap();
    let mid = (lo + hi) / 2 - a.boottime_ns + a.realtime_ns;
    (mid.div_euclid(DAY_NS) + 1) * DAY_NS - mid
}

#[test]
fn a_copy_is_a_verified_recording_of_its_new_host() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("oom");
    let m = member(dir.path(), &src, "web/01.example", -DAY_NS);
    let a = Recording::open(&src).expect("source");
    let b = Recording::open(&m.path).expect("copy");
    assert!(
        matches!(b.verified, Verified::Intact { .. }),
        "{:?}",
        b.verified
    );
    assert_eq!(a.verified, b.verified, "the same chunks checked");
    assert_eq!(b.host(), "web/01.example");
    assert_eq!(b.id(), m.to.recording_id);
    assert_ne!(a.id(), b.id());
    assert_eq!(a.num_rows, b.num_rows);
    assert_eq!(b.wall_start_ns(), a.wall_start_ns() - DAY_NS);
    assert!(
        b.warnings.iter().all(|w| !w.contains("checksum")),
        "{:?}",
        b.warnings
    );
    // As a user sees it.
    let (code, out, err) = memana(&["info", m.path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["integrity"]["checksums"], "verified",
        "{}",
        v["integrity"]
    );
    assert!(out.contains("web/01.example"));
    assert_eq!(info_rows(&src), info_rows(&m.path));

    // A damaged source is refused, not made whole by a new footer digest.
    let mut bytes = std::fs::read(&src).unwrap();
    bytes[4 + 64] ^= 0x10;
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, &bytes).unwrap();
    let to = CopyAs {
        host: "h".into(),
        recording_id: "x".into(),
        shift_ns: 0,
    };
    let e = copy_recording(&bad, &dir.path().join("x.parquet"), &to).unwrap_err();
    assert!(format!("{e:#}").contains("damaged"), "{e:#}");
    assert!(!dir.path().join("x.parquet").exists());
}

#[test]
fn a_fleet_exports_to_the_hive_layout_spark_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet");
    let lake = dir.path().join("lake");
    let (oom, leak) = (fixture("oom"), fixture("leak"));
    let members = vec![
        member(&fleet, &oom, "alpha", 0),
        member(&fleet, &leak, "alpha", 0),
        member(&fleet, &oom, "beta/2", -DAY_NS),
        member(&fleet, &leak, "beta/2", across_midnight(&leak)),
    ];
    let want = expected(&members);
    // The recording across midnight has rows on two dates.
    let leak_b = &members[3].to.recording_id;
    let dates: std::collections::BTreeSet<&String> = want
        .keys()
        .filter(|k| &k.3 == leak_b)
        .map(|k| &k.2)
        .collect();
    assert_eq!(dates.len(), 2, "{dates:?}");

    let glob = fleet.join("*/*.parquet");
    let said = export(&[&glob], &lake);
    let total: u64 = want.values().sum();
    assert!(
        said.contains("4 recordings, ") && said.contains(&format!("{total} rows")),
        "{said}"
    );
    assert!(lake.join("_memtrace.json").is_file());
    assert!(
        lake.join("procstat/host=beta%2F2").is_dir(),
        "{:?}",
        files(&lake)
    );

    // memana's own count of each table, per copy, is what the lake holds.
    for m in &members {
        let by_table: BTreeMap<String, u64> = want
            .iter()
            .filter(|(k, _)| k.3 == m.to.recording_id)
            .fold(BTreeMap::new(), |mut acc, (k, n)| {
                *acc.entry(k.0.clone()).or_default() += n;
                acc
            });
        assert_eq!(info_rows(&m.path), by_table, "{}", m.path.display());
    }

    let Some((got, v)) = read_lake(&lake) else {
        return;
    };
    assert_eq!(got, want);
    for (table, t) in v["types"].as_object().unwrap() {
        assert_eq!(t["ts_ns"], "int64", "{table}");
        assert_eq!(t["time_ns"], "int64", "{table}");
    }
    let cols: Vec<&str> = v["file_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in ["ts_ns", "time_ns", "recording", "pid", "comm"] {
        assert!(cols.contains(&c), "{c} missing from {cols:?}");
    }
    for c in ["time", "host", "date", "kind"] {
        assert!(!cols.contains(&c), "{c} is in the files: {cols:?}");
    }
}

#[test]
fn exporting_again_replaces_a_recordings_files_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet");
    let lake = dir.path().join("lake");
    let a = member(&fleet, &fixture("oom"), "alpha", 0);
    export(&[&a.path], &lake);
    let first = files(&lake);
    assert!(!first.is_empty());
    // The same recording again: the same files, no duplicates.
    export(&[&a.path], &lake);
    assert_eq!(files(&lake), first);

    // Another recording joins; the first one's files stay.
    let b = member(&fleet, &fixture("leak"), "beta", 0);
    export(&[&b.path], &lake);
    let both = files(&lake);
    assert!(first.iter().all(|f| both.contains(f)), "{both:?}");
    assert!(both.len() > first.len());

    // The first recording remade a day later (same host and id): its
    // files move to the new date; none is left under the old one.
    let later = member(&fleet, &fixture("oom"), "alpha", DAY_NS);
    assert_eq!(later.to.recording_id, a.to.recording_id);
    export(&[&later.path], &lake);
    let now = files(&lake);
    let old_date = format!(
        "date={}",
        date(Recording::open(&fixture("oom")).unwrap().wall_start_ns())
    );
    let new_date = format!(
        "date={}",
        date(Recording::open(&later.path).unwrap().wall_start_ns())
    );
    assert_ne!(old_date, new_date);
    assert!(
        !now.iter()
            .any(|f| f.contains("host=alpha") && f.contains(&old_date)),
        "{now:?}"
    );
    assert_eq!(
        now.iter().filter(|f| f.contains("host=alpha")).count(),
        first.len()
    );
    if let Some((got, _)) = read_lake(&lake) {
        assert_eq!(got, expected(&[later, b]));
    }
}

#[test]
fn a_directory_that_is_no_lake_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let src = fixture("oom");
    let (code, _, err) = memana(&[
        "export",
        src.to_str().unwrap(),
        "--hive",
        dir.path().to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("not a memtrace hive layout"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
