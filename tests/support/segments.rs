//! What the crash-safety, rotation and flight-recorder tests read: the
//! segments a recording leaves on disk, their metadata, the rows per table
//! with their time range, memrec's live per-probe counters in the kernel,
//! and the same files opened by other Parquet readers (pyarrow, DuckDB).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use memtrace_schema::FileMeta;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

/// A line for the test's output even when it passes and the harness
/// captures it (seeds, what was kept, what was skipped).
pub fn say(line: impl AsRef<str>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}", line.as_ref());
}

/// CLOCK_BOOTTIME now, in ns: the clock of every `ts_ns` and edge.
pub fn boottime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the kernel to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// A small seeded generator (splitmix64): the kill points of a run are
/// printed with their seed so a failure can be replayed
/// (`MEMTRACE_SEED=<seed>`).
pub struct Rng(u64);

impl Rng {
    /// From `MEMTRACE_SEED`, or the clock.
    pub fn from_env() -> (Self, u64) {
        let seed = std::env::var("MEMTRACE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| boottime_ns() as u64 ^ std::process::id() as u64);
        (Rng(seed), seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

// ---------------------------------------------------------------------------
// Segments on disk

/// The segments directory of a recording: closed segments by number, and
/// the open (`.partial`) ones.
#[derive(Debug, Default)]
pub struct SegmentDir {
    pub closed: Vec<(u64, PathBuf)>,
    pub partial: Vec<PathBuf>,
    /// Anything else found there (a bug: memrec leaves nothing else).
    pub other: Vec<PathBuf>,
}

impl SegmentDir {
    /// `NNNNNN.parquet` closed, `NNNNNN.parquet.partial` open.
    pub fn list(dir: &Path) -> SegmentDir {
        let mut s = SegmentDir::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return s;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if let Some(n) = name
                .strip_suffix(".parquet")
                .filter(|n| n.len() == 6)
                .and_then(|n| n.parse().ok())
            {
                s.closed.push((n, path));
            } else if name.ends_with(".parquet.partial") {
                s.partial.push(path);
            } else {
                s.other.push(path);
            }
        }
        s.closed.sort();
        s.partial.sort();
        s
    }

    pub fn numbers(&self) -> Vec<u64> {
        self.closed.iter().map(|(n, _)| *n).collect()
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.closed.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Bytes of every file in it, closed or not.
    pub fn bytes(&self) -> u64 {
        self.closed
            .iter()
            .map(|(_, p)| p)
            .chain(&self.partial)
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// The typed metadata of a Parquet file memrec wrote.
pub fn meta(path: &Path) -> FileMeta {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{}: not a readable Parquet file: {e}", path.display()));
    memtrace_schema::FileMeta::from_parquet(builder.metadata().file_metadata())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .1
}

/// The rows of one table in a file: how many, and their timestamps.
#[derive(Debug, Default, Clone)]
pub struct TableTs {
    pub ts: Vec<i64>,
}

impl TableTs {
    pub fn min(&self) -> Option<i64> {
        self.ts.iter().copied().min()
    }
    pub fn max(&self) -> Option<i64> {
        self.ts.iter().copied().max()
    }
}

/// Every row's table and timestamp, read with the arrow-rs reader (only
/// the `kind` and `ts_ns` columns).
pub fn tables(path: &Path) -> BTreeMap<String, TableTs> {
    let f = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema = builder.parquet_schema();
    let leaves: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| matches!(schema.column(i).name(), "kind" | "ts_ns"))
        .collect();
    let mask = ProjectionMask::leaves(schema, leaves);
    let reader = builder.with_projection(mask).build().unwrap();
    let mut out: BTreeMap<String, TableTs> = BTreeMap::new();
    for b in reader {
        let b = b.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kinds = b.column_by_name("kind").unwrap();
        let ts = b.column_by_name("ts_ns").unwrap();
        let kinds = kinds.as_string::<i32>();
        let ts = ts.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            assert!(!ts.is_null(i), "{}: a row without ts_ns", path.display());
            out.entry(kinds.value(i).to_string())
                .or_default()
                .ts
                .push(ts.value(i));
        }
    }
    out
}

/// Rows per table, as counted in the file.
pub fn row_counts(t: &BTreeMap<String, TableTs>) -> BTreeMap<String, u64> {
    t.iter()
        .map(|(k, v)| (k.clone(), v.ts.len() as u64))
        .collect()
}

/// The metadata's row counts without the tables that have none.
pub fn nonzero(rows: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    rows.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect()
}

/// Records a group's programs wrote to its ring buffer, and lost, as the
/// metadata counts them.
pub fn group_events(meta: &FileMeta, group: &str) -> (u64, u64) {
    meta.probes
        .iter()
        .filter(|p| p.group == group)
        .fold((0, 0), |(e, l), p| (e + p.events, l + p.lost))
}

/// Records every program wrote, and lost, as the metadata counts them.
pub fn all_events(meta: &FileMeta) -> (u64, u64) {
    meta.probes
        .iter()
        .fold((0, 0), |(e, l), p| (e + p.events, l + p.lost))
}

/// The groups whose every record is one row of one table of the same
/// name (procstat samples, sysstat snapshots); the other groups write
/// several tables, or rows not one per record (a sysstat snapshot also
/// writes one zone row per zone).
pub const ONE_ROW_PER_RECORD: [&str; 2] = ["procstat", "sysstat"];

// ---------------------------------------------------------------------------
// memrec's counters in the kernel, read live

/// The sum over every per-probe counter map (`stats`, one per probe group)
/// that process `pid` holds open of (records written, records lost): the
/// kernel's own count, read while memrec runs (memrec reports them only
/// in the files). None when the process has no such map (not started yet,
/// or gone).
pub fn bpf_counters(pid: u32) -> Option<(u64, u64)> {
    let fdinfo = PathBuf::from(format!("/proc/{pid}/fdinfo"));
    let mut total = (0u64, 0u64);
    let mut found = false;
    // memrec may hold one map by several fds: each map counts once.
    let mut seen = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&fdinfo).ok()? {
        let Ok(text) = std::fs::read_to_string(e.ok()?.path()) else {
            continue;
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        // BPF_MAP_TYPE_PERCPU_ARRAY of struct mt_stat (two u64),
        // MT_MAX_PROBES slots: bpf/common/runtime.h's `stats`.
        if field("map_type:").as_deref() != Some("6")
            || field("value_size:").as_deref() != Some("16")
            || field("max_entries:").as_deref() != Some("32")
        {
            continue;
        }
        let Some(id) = field("map_id:").and_then(|v| v.parse::<u32>().ok()) else {
            continue;
        };
        if !seen.insert(id) {
            continue;
        }
        if let Some((events, lost)) = read_stats_map(id) {
            total.0 += events;
            total.1 += lost;
            found = true;
        }
    }
    found.then_some(total)
}

fn possible_cpus() -> usize {
    // "0-1", "0,2-3": the highest id + 1 is what per-CPU values are sized by.
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    text.trim()
        .split([',', '-'])
        .filter_map(|n| n.parse::<usize>().ok())
        .max()
        .unwrap()
        + 1
}

/// One `stats` map by id: the sum of its slots over CPUs, after checking
/// its name.
fn read_stats_map(id: u32) -> Option<(u64, u64)> {
    const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
    const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    let bpf = |cmd: libc::c_long, attr: &mut [u64; 16]| -> libc::c_long {
        // SAFETY: the bpf(2) syscall with a zeroed attr of 128 bytes, the
        // fields each command reads set in place; pointers in it point to
        // live buffers of the sizes given.
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr.as_mut_ptr() as *mut libc::c_void,
                std::mem::size_of::<[u64; 16]>() as libc::c_uint,
            )
        }
    };
    let mut attr = [0u64; 16];
    attr[0] = id as u64; // map_id
    let fd = bpf(BPF_MAP_GET_FD_BY_ID, &mut attr);
    if fd < 0 {
        return None;
    }
    // SAFETY: an fd the kernel just gave us, closed once when dropped.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd) as u64;

    // struct bpf_map_info: type, id, key_size, value_size, max_entries,
    // map_flags (u32 each), then name[16].
    let mut info = [0u8; 88];
    let mut attr = [0u64; 16];
    attr[0] = raw | ((info.len() as u64) << 32); // bpf_fd, info_len
    attr[1] = info.as_mut_ptr() as u64;
    if bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) != 0 {
        return None;
    }
    let name = &info[24..40];
    let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(16)];
    if name != b"stats" {
        return None;
    }

    let cpus = possible_cpus();
    let (mut events, mut lost) = (0u64, 0u64);
    for slot in 0u32..32 {
        let mut value = vec![0u64; 2 * cpus];
        let mut attr = [0u64; 16];
        attr[0] = raw; // map_fd
        attr[1] = &slot as *const u32 as u64;
        attr[2] = value.as_mut_ptr() as u64;
        if bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) != 0 {
            return None;
        }
        for c in value.chunks(2) {
            events += c[0];
            lost += c[1];
        }
    }
    Some((events, lost))
}

/// The kernel's counters of a running memrec, sampled every `every`
/// against CLOCK_BOOTTIME, until stopped.
pub struct CounterLog {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<(i64, u64, u64)>>>,
}

impl CounterLog {
    pub fn start(pid: u32, every: Duration) -> CounterLog {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut log = Vec::new();
            while !s.load(Ordering::Relaxed) {
                // Read, then stamp: the stamp is no earlier than the read.
                if let Some((e, l)) = bpf_counters(pid) {
                    log.push((boottime_ns(), e, l));
                }
                std::thread::sleep(every);
            }
            log
        });
        CounterLog {
            stop,
            handle: Some(handle),
        }
    }

    /// (boottime after the read, events, lost) of each reading.
    pub fn finish(mut self) -> Vec<(i64, u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

// ---------------------------------------------------------------------------
// A workload

/// A thread that maps, touches and unmaps anonymous memory in a loop: page
/// faults, RSS changes and context switches for procstat, until dropped.
pub struct Churn {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Churn {
    pub fn start(bytes: usize) -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut v = vec![0u8; bytes];
                for i in (0..bytes).step_by(4096) {
                    v[i] = 1;
                }
                std::hint::black_box(&v);
                drop(v);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Churn {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A thread of this process that maps fresh anonymous pages, touches them
/// and unmaps them, over and over: page faults in one code path of one
/// long-lived process, so its user stacks repeat all along a recording.
/// (The allocator would keep freed memory mapped and fault no more.)
pub struct Faulter {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Faulter {
    pub fn start(pages: usize) -> Faulter {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let len = pages * 4096;
            while !s.load(Ordering::Relaxed) {
                // SAFETY: a private anonymous mapping of our own, written
                // within its length and unmapped before the next.
                unsafe {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    );
                    assert_ne!(p, libc::MAP_FAILED, "mmap");
                    let b = p.cast::<u8>();
                    for i in (0..len).step_by(4096) {
                        std::ptr::write_volatile(b.add(i), 1);
                    }
                    libc::munmap(p, len);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Faulter {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Faulter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What a file holds of the stack store, and which stacks its rows name.
#[derive(Debug, Default)]
pub struct Stacks {
    /// Each stack's frames (`stack_frame`): the stamp of its first frame
    /// row, its task (`tgid`), and its depths.
    pub frames: BTreeMap<u64, (i64, u32, Vec<u32>)>,
    /// Rows that name a stack (`fault_stack`, `kernel_alloc`, ...): table,
    /// `stack_id`, `tgid`, `ts_ns`.
    pub refs: Vec<(String, u64, u32, i64)>,
    /// Tasks with `module_map` rows.
    pub mapped: std::collections::BTreeSet<u32>,
    /// `kernel_symbol` rows, and the bytes of their own column chunks.
    pub kernel_symbols: u64,
    pub kernel_symbol_bytes: u64,
}

impl Stacks {
    /// Stack ids named by rows but without frames in the file.
    pub fn unnamed(&self) -> Vec<&(String, u64, u32, i64)> {
        self.refs
            .iter()
            .filter(|r| !self.frames.contains_key(&r.1))
            .collect()
    }

    /// Stacks whose frames are in the file twice (a depth repeated).
    pub fn repeated(&self) -> Vec<u64> {
        self.frames
            .iter()
            .filter(|(_, (_, _, d))| {
                let mut d = d.clone();
                d.sort_unstable();
                d.windows(2).any(|w| w[0] == w[1])
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

/// The stack store's rows of a file and the rows that name stacks (only
/// the columns needed are read).
pub fn stacks(path: &Path) -> Stacks {
    use arrow_array::types::{UInt32Type, UInt64Type};
    let f = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Stacks::default();
    for rg in builder.metadata().row_groups() {
        for c in rg.columns() {
            if c.column_path().string().starts_with("kernel_symbol.") {
                out.kernel_symbol_bytes += c.compressed_size() as u64;
            }
        }
    }
    let schema = builder.parquet_schema();
    let wanted = |n: &str| {
        matches!(n, "kind" | "ts_ns" | "tgid" | "stack_frame.depth") || n.ends_with(".stack_id")
    };
    let leaves: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| wanted(&schema.column(i).path().string()))
        .collect();
    let mask = ProjectionMask::leaves(schema, leaves);
    let reader = builder.with_projection(mask).build().unwrap();
    for b in reader {
        let b = b.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kinds = b.column_by_name("kind").unwrap().as_string::<i32>().clone();
        let ts = b
            .column_by_name("ts_ns")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        let tgid = b
            .column_by_name("tgid")
            .unwrap()
            .as_primitive::<UInt32Type>()
            .clone();
        let u64col = |name: &str| {
            b.column_by_name(name)
                .map(|c| c.as_primitive::<UInt64Type>().clone())
        };
        let depth = b
            .column_by_name("stack_frame.depth")
            .map(|c| c.as_primitive::<UInt32Type>().clone());
        for i in 0..b.num_rows() {
            let kind = kinds.value(i);
            match kind {
                "stack_frame" => {
                    let id = u64col("stack_frame.stack_id").unwrap().value(i);
                    let e =
                        out.frames
                            .entry(id)
                            .or_insert((ts.value(i), tgid.value(i), Vec::new()));
                    e.0 = e.0.min(ts.value(i));
                    e.2.push(depth.as_ref().unwrap().value(i));
                }
                "module_map" => {
                    out.mapped.insert(tgid.value(i));
                }
                "kernel_symbol" => out.kernel_symbols += 1,
                _ => {
                    if let Some(c) = u64col(&format!("{kind}.stack_id")) {
                        if !c.is_null(i) {
                            out.refs.push((
                                kind.to_string(),
                                c.value(i),
                                tgid.value(i),
                                ts.value(i),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Other readers

/// Why the other readers cannot run here (python3, pyarrow or duckdb
/// missing), or None when they can. Under MEMTRACE_REQUIRE_ROOT=1 (CI)
/// their absence is a failure, not a skip.
pub fn other_readers_missing() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import pyarrow.parquet, duckdb"])
        .stdout(Stdio::null())
        .output();
    let why = match out {
        Err(e) => format!("python3: {e}"),
        Ok(o) if !o.status.success() => format!(
            "python3 cannot import pyarrow and duckdb ({}); pip install pyarrow duckdb",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Ok(_) => return None,
    };
    assert!(
        std::env::var("MEMTRACE_REQUIRE_ROOT").as_deref() != Ok("1"),
        "MEMTRACE_REQUIRE_ROOT=1 and the other Parquet readers are missing: {why}"
    );
    Some(why)
}

/// Rows of `files` read by pyarrow (each file) and by DuckDB (all of them
/// as one table, as a user would query a directory of segments): (pyarrow,
/// duckdb) row counts. Panics with the reader's error if either fails.
pub fn other_readers_rows(files: &[PathBuf]) -> (u64, u64) {
    const SCRIPT: &str = r#"
import sys, pyarrow.parquet as pq, duckdb
files = sys.argv[1:]
n = sum(pq.read_table(f).num_rows for f in files)
con = duckdb.connect()
d = con.execute("select count(*) from read_parquet(?)", [files]).fetchone()[0]
# Every table's time range, so a reader that mangles ts_ns shows here.
con.execute("select kind, min(ts_ns), max(ts_ns) from read_parquet(?) group by kind", [files]).fetchall()
print(n, d)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow/duckdb could not read {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut w = text.split_whitespace().map(|x| x.parse::<u64>().unwrap());
    (w.next().unwrap(), w.next().unwrap())
}

/// `memana report PATH`: asserts it succeeds; returns what it said (the
/// report, with its warnings, e.g. about reading an unrecovered
/// recording, and stderr).
pub fn memana_report(path: &Path) -> String {
    let out = Command::new(super::bin("memana"))
        .arg("report")
        .arg(path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "memana report {} failed ({}): {err}",
        path.display(),
        out.status
    );
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !report.is_empty(),
        "memana report {}: no report",
        path.display()
    );
    format!("{report}{err}")
}
