//! Helpers for the end-to-end tests: the built binaries, root checks,
//! running memrec around a workload, and reading recordings back with the
//! arrow-rs Parquet reader (independent of the analyzer's polars code).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fidelity;
pub mod fidelity_compaction;
pub mod fidelity_faults;
pub mod fidelity_hugetlb;
pub mod fidelity_mappings;
pub mod fidelity_memleak;
pub mod fidelity_swap;
pub mod first_screen;
pub mod kernel;
pub mod rows;
pub mod segments;
pub mod tracefs;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Prints why a root test does nothing and returns true when not root (a
/// failure instead under MEMTRACE_REQUIRE_ROOT=1).
pub fn skip_unless_root(name: &str) -> bool {
    memtrace_cli::testing::skip_unless_root(name, "records a real kernel")
}

/// A binary of the workspace, built by `cargo build --release --workspace`.
pub fn bin(name: &str) -> PathBuf {
    // The test runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --release --workspace)",
        path.display()
    );
    path
}

/// A running `memrec record`.
pub struct Recording {
    pub child: Child,
    pub path: PathBuf,
    stdout: std::thread::JoinHandle<String>,
}

pub fn start_recording(path: &Path, extra: &[&str]) -> Recording {
    let mut child = Command::new(bin("memrec"))
        .args(["record", "-o", path.to_str().unwrap(), "--no-progress"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .next()
            .expect("memrec ended before recording")
            .unwrap();
        eprintln!("memrec: {line}");
        if line.contains("recording to") {
            break;
        }
        assert!(Instant::now() < deadline, "memrec did not start");
    }
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            eprintln!("memrec: {l}");
        }
    });
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    Recording {
        child,
        path: path.to_path_buf(),
        stdout,
    }
}

impl Recording {
    /// Stops with SIGINT as a user's Ctrl-C would; returns memrec's summary.
    pub fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().unwrap();
        let out = self.stdout.join().unwrap();
        assert!(status.success(), "memrec exited with {status}: {out}");
        out
    }
}

/// Runs `memscen run <scenario>` and returns its ground truth.
pub fn scenario(name: &str, scale: &str, dir: &Path) -> serde_json::Value {
    let truth = dir.join(format!("{name}.truth.json"));
    let out = Command::new(bin("memscen"))
        .args([
            "run",
            name,
            "--scale",
            scale,
            "--truth",
            truth.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let read = || -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(&truth).ok()?).ok()
    };
    if !out.status.success() {
        // Exit 1 (the situation did not happen) is accepted only where the
        // leak's worker fell behind its schedule under emulation.
        let why = (out.status.code() == Some(1))
            .then(read)
            .flatten()
            .and_then(|t| {
                fidelity::leak_off_schedule_emulated(&t, kernel::emulated().as_deref())
                    .map(|why| (t, why))
            });
        if let Some((t, why)) = why {
            // Past the harness's capture: shown even when the test passes.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "memscen {name}: not produced: {why}"
            );
            return t;
        }
        panic!(
            "memscen {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    read().unwrap()
}

/// A recording read back: its metadata and all rows.
pub struct File {
    pub meta: serde_json::Value,
    pub batches: Vec<RecordBatch>,
}

pub fn read(path: &Path) -> File {
    let f = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let (_, meta) =
        memtrace_schema::FileMeta::from_parquet(builder.metadata().file_metadata()).unwrap();
    let batches = builder.build().unwrap().map(|b| b.unwrap()).collect();
    File {
        meta: serde_json::to_value(meta).unwrap(),
        batches,
    }
}

/// A cell, loosely typed for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i128),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl Cell {
    pub fn int(&self) -> i128 {
        match self {
            Cell::Int(v) => *v,
            other => panic!("not an integer: {other:?}"),
        }
    }
    pub fn text(&self) -> &str {
        match self {
            Cell::Text(v) => v,
            other => panic!("not text: {other:?}"),
        }
    }
}

fn cell(a: &ArrayRef, i: usize) -> Cell {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::DataType as D;
    if a.is_null(i) {
        return Cell::Null;
    }
    match a.data_type() {
        D::UInt32 => Cell::Int(a.as_primitive::<UInt32Type>().value(i).into()),
        D::UInt64 => Cell::Int(a.as_primitive::<UInt64Type>().value(i).into()),
        D::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(i).into()),
        D::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(i).into()),
        D::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(i)),
        D::Boolean => Cell::Bool(a.as_boolean().value(i)),
        D::Utf8 => Cell::Text(a.as_string::<i32>().value(i).to_string()),
        other => panic!("unexpected column type {other}"),
    }
}

pub type Row = BTreeMap<String, Cell>;

impl File {
    /// The rows of one table, with the table prefix dropped from its columns.
    pub fn table(&self, kind: &str) -> Vec<Row> {
        let prefix = format!("{kind}.");
        let mut rows = Vec::new();
        for b in &self.batches {
            let schema = b.schema();
            let kinds = b.column_by_name("kind").unwrap();
            for i in 0..b.num_rows() {
                if cell(kinds, i) != Cell::Text(kind.to_string()) {
                    continue;
                }
                let mut row = Row::new();
                for (f, col) in schema.fields().iter().zip(b.columns()) {
                    let name = f.name();
                    if let Some(short) = name.strip_prefix(&prefix) {
                        row.insert(short.to_string(), cell(col, i));
                    } else if !name.contains('.') {
                        row.insert(name.clone(), cell(col, i));
                    }
                }
                rows.push(row);
            }
        }
        rows
    }

    pub fn vmstat_delta(&self, key: &str) -> i128 {
        let get = |w: &str| self.meta[w][key].as_u64().unwrap_or(0) as i128;
        get("vmstat_end") - get("vmstat_start")
    }
}
