//! Regression tests for the hardening of memana (issue 9): terminal-safe
//! text, gates that never pass on a write error, checked windows, checksums
//! and invariants on open, one-line errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hdr, scenario, seal, Builder};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MEMANA: &str = env!("CARGO_BIN_EXE_memana");

fn memana(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(MEMANA).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit 2 with one line on stderr that says `what`.
fn refused(args: &[&str], what: &str) -> String {
    let (code, out, err) = memana(args);
    assert_eq!(code, 2, "{args:?}: {out}{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("memana: "), "{err}");
    assert!(
        err.contains(what),
        "{args:?}: {err:?} does not say {what:?}"
    );
    err
}

fn synthetic(dir: &Path) -> PathBuf {
    let p = dir.join("s.parquet");
    scenario::build(1).write(&p);
    p
}

const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\n";

#[test]
fn text_from_the_file_cannot_drive_the_terminal() {
    let d = tempfile::tempdir().unwrap();
    let mut b = scenario::build(1);
    for r in &mut b.rows {
        if r.header.tgid == 100 {
            r.header.comm = memtrace_schema::Comm::from_raw(HOSTILE.as_bytes());
        }
    }
    b.meta.hostname = format!("host{HOSTILE}| x | y |");
    let p = d.path().join("h.parquet");
    b.write(&p);
    let ps = p.to_str().unwrap();
    for format in ["text", "markdown", "csv"] {
        let (code, out, err) = memana(&["report", ps, "--format", format, "--top", "0"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{format}: a control character reached the output"
        );
        assert!(
            out.contains("\\x1b]0;owned\\x07\\x1b[2J\\n"),
            "{format}: {out}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("[2J")),
            "{format}: forged line"
        );
    }
    let (_, out, _) = memana(&["report", ps, "--format", "markdown", "--section", "header"]);
    assert!(
        out.contains("host\\x1b]0;owned\\x07\\x1b[2J\\n\\| x \\| y \\|"),
        "{out}"
    );
    // JSON keeps the exact bytes (escaped by JSON itself).
    let (_, out, _) = memana(&["report", ps, "--format", "json", "--top", "0"]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["recording"]["host"], format!("host{HOSTILE}| x | y |"));
    assert!(out.contains(&serde_json::to_string(HOSTILE).unwrap()[1..10]));
}

#[test]
fn long_text_is_capped_in_text_output() {
    let d = tempfile::tempdir().unwrap();
    let mut b = scenario::build(1);
    b.meta.hostname = "h".repeat(1 << 20);
    b.meta.kernel_release = "k".repeat(1 << 20);
    let p = d.path().join("long.parquet");
    b.write(&p);
    let (code, out, err) = memana(&["report", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.len() < 200_000, "{} bytes of text", out.len());
    assert!(out.contains("…(+"), "no cut marker");
}

fn spawn_check(file: &str, rule: &str, stdout: Stdio) -> std::process::Child {
    Command::new(MEMANA)
        .args(["check", file, "--rule", rule])
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_gate_never_passes_on_a_write_error() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    // `| head -0`: the pipe is closed before memana writes.
    for (rule, want) in [("oom.kills == 0", 1), ("oom.kills == 1", 0)] {
        let mut child = spawn_check(ps, rule, Stdio::piped());
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{rule}: {err}");
        if want == 1 {
            assert!(
                err.contains("stdout") && err.contains("1 of 1 rules broken"),
                "{err}"
            );
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        } else {
            assert!(err.is_empty(), "{err}");
        }
    }
    // A full device: an error naming stdout; a broken rule still exits 1.
    if Path::new("/dev/full").exists() {
        for (rule, want) in [("oom.kills == 0", 1), ("oom.kills == 1", 2)] {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let mut child = spawn_check(ps, rule, Stdio::from(full));
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(want), "{rule}: {err}");
            assert!(err.contains("cannot write to stdout"), "{err}");
            assert!(err.contains("No space left on device"), "{err}");
            assert_eq!(err.matches("os error 28").count(), 1, "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        }
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(MEMANA)
            .args(["report", ps])
            .stdout(Stdio::from(full))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("stdout"));
    }
}

#[test]
fn windows_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let ps = p.to_str().unwrap();
    // The synthetic recording has one OOM kill: a window "to the end of
    // time" must count it, not overflow into an empty window.
    let (code, out, _) = memana(&["check", ps, "--rule", "oom.kills == 0", "--to", "2562047h"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("oom.kills = 1"), "{out}");
    let err = refused(
        &[
            "check",
            ps,
            "--rule",
            "oom.kills == 0",
            "--from",
            "2562047h",
        ],
        "starts at or after the recording's end",
    );
    assert!(err.contains("s long"), "{err}");
    refused(&["report", ps, "--from", "60s"], "s long");
    refused(&["report", ps, "--to", "0"], "window is empty");
    refused(
        &["report", ps, "--to", "99999999999999999999h"],
        "too large",
    );
    refused(&["report", ps, "--window", "2562048h"], "too large");
    let (code, _, err) = memana(&["report", ps, "--from", "1s", "--to", "2562047h"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn errors_are_one_line() {
    let (code, _, err) = memana(&["report", "--nope"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("memana: error: "), "{err}");
    assert!(err.contains("memana --help"), "{err}");
    let (code, _, err) = memana(&["report", "/nonexistent/x.parquet"]);
    assert_eq!(code, 2);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let (code, out, _) = memana(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage"));
}

#[test]
fn checksums_are_verified_on_open() {
    let d = tempfile::tempdir().unwrap();
    let plain = synthetic(d.path());
    let sealed = d.path().join("sealed.parquet");
    seal::seal(&plain, &sealed);
    let report = |p: &Path| -> serde_json::Value {
        let (code, out, err) = memana(&["report", p.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let jp = report(&plain);
    assert_eq!(jp["integrity"]["checksums"], "absent");
    assert!(jp["warnings"][0].as_str().unwrap().contains("no checksums"));
    let js = report(&sealed);
    assert_eq!(js["integrity"]["checksums"], "verified");
    assert!(js["integrity"]["chunks"].as_u64().unwrap() > 100);
    assert_eq!(js["metrics"], jp["metrics"]);
    let (_, text, _) = memana(&["report", plain.to_str().unwrap()]);
    assert!(
        text.contains("WARNING: the file carries no checksums"),
        "{text}"
    );

    // One flipped bit in a data page: refused, naming where.
    let p = seal::parse(&sealed);
    let rg = &p.meta.row_groups()[p.meta.num_row_groups() / 2];
    let c = rg.column(rg.num_columns() / 3);
    let (start, len) = c.byte_range();
    let mut bytes = p.bytes.clone();
    bytes[(start + len / 2) as usize] ^= 0x04;
    let damaged = d.path().join("damaged.parquet");
    std::fs::write(&damaged, &bytes).unwrap();
    let err = refused(
        &["report", damaged.to_str().unwrap()],
        "does not match its checksum",
    );
    assert!(
        err.contains("row group") && err.contains(&c.column_path().string()),
        "{err}"
    );
    refused(
        &["info", damaged.to_str().unwrap()],
        "does not match its checksum",
    );
}

/// Rows of the synthetic recording rewritten by `change`, written plain.
fn rewritten(dir: &Path, name: &str, change: impl Fn(&mut Builder)) -> PathBuf {
    let mut b = scenario::build(1);
    change(&mut b);
    let p = dir.join(name);
    b.write(&p);
    p
}

#[test]
fn invariants_are_checked_without_checksums() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // Far-away timestamps.
    let p = rewritten(dir, "ts.parquet", |b| {
        let start = b.meta.start_ns;
        b.rows[3].header.ts_ns = start - 8_946_000_000_000;
    });
    refused(
        &["report", p.to_str().unwrap()],
        "8946.000 s before the recording's start",
    );
    // A comm longer than the kernel's 16 bytes: damage, said so.
    let p = rewritten(dir, "comm.parquet", |b| {
        let victim = memtrace_schema::tables::oom::oom_victim::Row {
            victim_comm: Some("x".repeat(1 << 20).into()),
            ..Default::default()
        };
        let ts = b.meta.start_ns + 1;
        b.add(hdr(ts, 1, 1, "a"), &victim);
    });
    refused(&["report", p.to_str().unwrap()], "longer than the 16 bytes");
    // A negative duration.
    let p = rewritten(dir, "dur.parquet", |b| {
        let ts = b.meta.start_ns + 1;
        let row = memtrace_schema::tables::pr::reclaim_end::Row {
            reclaimer: "direct".into(),
            begin_ts_ns: Some(ts + 10),
            duration_ns: Some(-10),
            ..Default::default()
        };
        b.add(hdr(ts, 1, 1, "a"), &row);
    });
    refused(&["report", p.to_str().unwrap()], "negative duration");
    // A load average no kernel prints.
    let p = rewritten(dir, "load.parquet", |b| {
        let ts = b.meta.start_ns + 1;
        let row = memtrace_schema::tables::oom::oom_victim::Row {
            victim_comm: Some("v".into()),
            load1: f64::NAN,
            ..Default::default()
        };
        b.add(hdr(ts, 1, 1, "a"), &row);
    });
    refused(
        &["report", p.to_str().unwrap()],
        "which a load average cannot be",
    );
    // A metadata window that is not one.
    let p = rewritten(dir, "meta.parquet", |b| b.meta.end_ns = b.meta.start_ns - 1);
    refused(&["report", p.to_str().unwrap()], "not a window");
}

#[test]
fn rows_without_kind_and_lenient_types_are_refused() {
    use arrow_array::cast::AsArray;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    let plain = synthetic(d.path());
    let (_, batches) = seal::read_batches(&plain);
    // The OOM kill's row loses its kind: it must not vanish silently.
    let k = batches
        .iter()
        .position(|b| {
            b.column_by_name("kind")
                .unwrap()
                .as_string::<i32>()
                .value(0)
                == "oom_victim"
        })
        .unwrap();
    let mut nokind = batches.clone();
    let n = nokind[k].num_rows();
    let kinds: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>; n]));
    nokind[k] = seal::replace_column(&nokind[k], "kind", kinds);
    let schema = nokind[k].schema();
    let nokind: Vec<_> = nokind
        .into_iter()
        .map(|b| arrow_array::RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
        .collect();
    let p = d.path().join("nokind.parquet");
    seal::write_batches(&plain, &p, schema, &nokind);
    refused(
        &["check", p.to_str().unwrap(), "--rule", "oom.kills == 0"],
        "have no `kind`",
    );
    // An unsigned column stored signed, with a negative value.
    let mut signed = batches.clone();
    let c = signed[0].column_by_name("cgroup_id").unwrap().clone();
    let n = c.len();
    let v: ArrayRef = Arc::new(Int64Array::from_iter((0..n).map(|i| Some(-(i as i64)))));
    signed[0] = seal::replace_column(&signed[0], "cgroup_id", v);
    let (schema, signed) = seal::unify(signed, 0);
    let p = d.path().join("signed.parquet");
    seal::write_batches(&plain, &p, schema, &signed);
    refused(&["report", p.to_str().unwrap()], "no lenient casts");
}

#[test]
fn a_footer_claiming_huge_columns_is_refused_before_decoding() {
    let d = tempfile::tempdir().unwrap();
    let plain = synthetic(d.path());
    let p = seal::parse(&plain);
    let kv = seal::key_values(&p.meta);
    let mut groups = p.meta.row_groups().to_vec();
    let rg = groups[0].clone();
    let mut cols = rg.columns().to_vec();
    // What a 1000 MB comm looks like in the footer.
    let i = cols
        .iter()
        .position(|c| c.column_path().string() == "comm")
        .unwrap();
    cols[i] = cols[i]
        .clone()
        .into_builder()
        .set_total_uncompressed_size(1000 << 20)
        .build()
        .unwrap();
    groups[0] = rg.into_builder().set_column_metadata(cols).build().unwrap();
    let out = d.path().join("huge.parquet");
    std::fs::write(&out, seal::with_footer(&p, groups, kv)).unwrap();
    refused(
        &["report", out.to_str().unwrap()],
        "would decode to 1000 MiB",
    );
}

/// Thrift compact-protocol zigzag varint.
fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn a_page_header_claiming_a_huge_page_is_refused_before_decoding() {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
    let d = tempfile::tempdir().unwrap();
    let plain = synthetic(d.path());
    let p = seal::parse(&plain);
    // One page whose header says it decompresses to 1000 MiB, over 64
    // bytes: what a zstd frame of zeros looks like to a decoder.
    let mut page = Vec::new();
    page.push(0x15);
    zigzag(0, &mut page); // DATA_PAGE
    page.push(0x15);
    zigzag(1000 << 20, &mut page);
    page.push(0x15);
    zigzag(64, &mut page);
    page.push(0);
    page.extend_from_slice(&[0u8; 64]);
    let mut bytes = b"PAR1".to_vec();
    bytes.extend_from_slice(&page);
    // Every column's chunk is that page, in a one-row row group; the
    // footer's own sizes stay small and honest-looking.
    let schema = p.meta.file_metadata().schema_descr_ptr();
    let cols: Vec<ColumnChunkMetaData> = (0..schema.num_columns())
        .map(|i| {
            ColumnChunkMetaData::builder(schema.column(i))
                .set_encodings(vec![Encoding::PLAIN])
                .set_compression(Compression::UNCOMPRESSED)
                .set_data_page_offset(4)
                .set_total_compressed_size(page.len() as i64)
                .set_total_uncompressed_size(page.len() as i64)
                .set_num_values(1)
                .build()
                .unwrap()
        })
        .collect();
    let rg = RowGroupMetaData::builder(schema.clone())
        .set_num_rows(1)
        .set_column_metadata(cols)
        .build()
        .unwrap();
    let crafted = seal::Parsed {
        data_end: bytes.len(),
        bytes,
        meta: p.meta.clone(),
    };
    let out = d.path().join("page.parquet");
    std::fs::write(
        &out,
        seal::with_footer(&crafted, vec![rg], seal::key_values(&p.meta)),
    )
    .unwrap();
    refused(
        &["report", out.to_str().unwrap()],
        "would decode to 1000 MiB",
    );
}

#[test]
fn negative_counts_are_read_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let p = rewritten(d.path(), "neg.parquet", |b| {
        let ts = b.meta.start_ns + 1;
        let row = memtrace_schema::tables::pr::slab_end::Row {
            shrinker_fn: "super_cache_scan".into(),
            total_scan: -7,
            ..Default::default()
        };
        b.add(hdr(ts, 1, 1, "a"), &row);
    });
    let ps = p.to_str().unwrap();
    let (code, out, err) = memana(&["report", ps, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let w: Vec<&str> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert!(
        w.iter()
            .any(|w| w.contains("`slab_end.total_scan` holds negative values (down to -7)")),
        "{w:?}"
    );
    let (_, text, _) = memana(&["report", ps]);
    assert!(text.contains("WARNING: table `slab_end`"), "{text}");
    let (_, text, _) = memana(&["check", ps, "--rule", "paf.failures >= 0"]);
    assert!(text.contains("WARNING: table `slab_end`"), "{text}");
}

/// The case as a real file: one huge comm (the OOM victim's)
/// compresses to almost nothing, and memana must refuse it from the
/// footer, before decoding it.
/// (300 MiB rather than 1000 MB keeps the test's own memory modest; any
/// chunk over 256 MiB takes the same path.)
#[test]
fn a_small_file_with_a_huge_comm_is_refused_before_decoding() {
    let d = tempfile::tempdir().unwrap();
    let p = rewritten(d.path(), "huge-comm.parquet", |b| {
        let ts = b.meta.start_ns + 1;
        let victim = memtrace_schema::tables::oom::oom_victim::Row {
            victim_comm: Some("x".repeat(300 << 20).into()),
            ..Default::default()
        };
        b.add(hdr(ts, 1, 1, "a"), &victim);
    });
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(size < 2 << 20, "the file is {size} bytes");
    refused(&["report", p.to_str().unwrap()], "would decode to");
}
