//! Hostile input: hundreds of damaged and odd variants of the committed
//! fixtures, made by a seeded generator (no stored cases). For each, memana
//! must exit 2 with exactly one line on stderr, or print the same findings
//! as for the intact file; it must never panic, hang, or use unbounded
//! memory (it runs under a timeout and an address-space limit). A file
//! whose footer's statistics were forged to hide odd values may also get a
//! report: memana takes the row invariants from the statistics where they
//! cover a table, so such a file's figures are as wrong as its values.
//!
//! The fixtures carry no checksums (they predate them), so each is first
//! "sealed": its footer rewritten with the checksums memrec now writes,
//! over its unchanged data. Byte flips are made in sealed copies (in plain
//! ones nothing could find them); the cases whose damage the invariants
//! must catch run on plain copies too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use common::seal;
use parquet::file::metadata::KeyValue;
use serde_json::Value as J;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MEMANA: &str = env!("CARGO_BIN_EXE_memana");
/// Change it to explore other cases; failures print the seed and case.
const SEED: u64 = 0x6d65_6d61_6e61_0009;
/// Address space the child may map: far above what a report of a fixture
/// needs, far below what an unbounded decode would take.
const MEMORY_LIMIT: u64 = 2 << 30;
const TIMEOUT: Duration = Duration::from_secs(60);

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo)
    }
}

/// What a case must do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Exit 2 with one line.
    Reject,
    /// Exit 2 with one line, or the intact file's findings.
    RejectOrSame,
    /// Exit 2 with one line, or a report (any findings): a file that lies
    /// about its values can get figures as wrong as they are, never a
    /// crash or a hang.
    RejectOrHarmless,
}

#[derive(Debug, Clone)]
enum Kind {
    Truncate {
        sealed: bool,
        len: usize,
    },
    Flip {
        at: usize,
        mask: u8,
    },
    Swap {
        other: usize,
    },
    Meta {
        sealed: bool,
        reseal: bool,
        variant: usize,
    },
    Rewrite {
        sealed: bool,
        variant: usize,
        pick: u64,
    },
    Claim {
        variant: usize,
    },
    /// A rewrite whose footer states the intact file's statistics, so
    /// that they hide its odd value.
    Forge {
        sealed: bool,
        variant: usize,
        pick: u64,
    },
}

#[derive(Debug, Clone)]
struct Case {
    fixture: usize,
    kind: Kind,
    expect: Expect,
    /// Category, for the summary.
    what: &'static str,
    /// When refused, the message says one of these.
    why: &'static [&'static str],
}

/// One fixture, ready for mutation.
struct Fixture {
    name: String,
    plain: PathBuf,
    sealed: PathBuf,
    sealed_bytes: Vec<u8>,
    sealed_data_end: usize,
    /// End of the last column chunk: bytes between it and the footer (a
    /// page index, if any) are read by no one.
    chunks_end: usize,
    meta_json: String,
    batches: Vec<RecordBatch>,
    findings: J,
}

const META_VARIANTS: usize = 13;
/// Metadata variants whose values the checks must refuse.
fn meta_variant(v: usize, json: &str) -> (Vec<(String, Option<String>)>, Expect) {
    let mut m: J = serde_json::from_str(json).unwrap();
    let meta_kv = |m: &J| vec![("memtrace.meta".to_string(), Some(m.to_string()))];
    match v {
        0 => (
            vec![(
                "memtrace.meta".into(),
                Some("{\"schema_version\": 1, {{{".into()),
            )],
            Expect::Reject,
        ),
        1 => {
            m["start_ns"] = J::from("yesterday");
            (meta_kv(&m), Expect::Reject)
        }
        2 => {
            m["start_ns"] = J::from(-8_946_000_000_000i64);
            (meta_kv(&m), Expect::Reject)
        }
        3 => {
            let s = m["start_ns"].as_i64().unwrap();
            m["end_ns"] = J::from(s - 1);
            (meta_kv(&m), Expect::Reject)
        }
        4 => {
            m["start_ns"] = J::from(i64::MAX - 1);
            m["end_ns"] = J::from(i64::MAX);
            (meta_kv(&m), Expect::Reject)
        }
        5 => {
            let s = m["start_ns"].as_i64().unwrap();
            m["start_ns"] = J::from(s + 1);
            (meta_kv(&m), Expect::Reject)
        }
        6 => {
            m["hostname"] = J::from("h".repeat(4 << 20));
            (meta_kv(&m), Expect::RejectOrSame)
        }
        7 => {
            m["hostname"] = J::from("\u{1b}]0;owned\u{7}\u{1b}[2J\n| forged | row |");
            m["kernel_release"] = J::from("\r\u{9b}31m");
            (meta_kv(&m), Expect::RejectOrSame)
        }
        8 => {
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            let text =
                m.to_string()
                    .replacen("\"hostname\":", &format!("\"hostname\":{deep},\"x\":"), 1);
            (vec![("memtrace.meta".into(), Some(text))], Expect::Reject)
        }
        9 => (
            vec![("memtrace.schema_version".into(), Some("99999999999".into()))],
            Expect::Reject,
        ),
        10 => (vec![("memtrace.meta".into(), None)], Expect::Reject),
        11 => {
            let probes = m["probes"].as_array_mut().unwrap();
            let one = serde_json::json!({"group": "x", "program": "p", "target": "t",
                "method": "tp", "attached": false, "events": 0, "lost": 0});
            probes.extend(std::iter::repeat_n(one, 100_000));
            (meta_kv(&m), Expect::RejectOrSame)
        }
        _ => {
            m["nodes"] = J::from(vec![-1, 2, 3]);
            (meta_kv(&m), Expect::Reject)
        }
    }
}

/// A variant that changes counts: undetectable without checksums, so made
/// only in sealed copies that are not resealed.
fn meta_counts(json: &str) -> Vec<(String, Option<String>)> {
    let mut m: J = serde_json::from_str(json).unwrap();
    for p in m["probes"].as_array_mut().unwrap() {
        p["lost"] = J::from(u64::MAX);
        p["events"] = J::from(u64::MAX);
    }
    vec![("memtrace.meta".to_string(), Some(m.to_string()))]
}

fn apply_kv(kv: &[KeyValue], changes: &[(String, Option<String>)]) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = kv.to_vec();
    for (k, v) in changes {
        out.retain(|e| &e.key != k);
        if let Some(v) = v {
            out.push(KeyValue::new(k.clone(), v.clone()));
        }
    }
    out
}

const REWRITES: usize = 12;
/// What the refusal of each rewrite says.
const REWRITE_WHY: [&[&str]; REWRITES] = [
    &["have no `kind` (null)"],
    &["unknown `kind` `bogus_table`"],
    &["after the recording's end"],
    &["8946.000 s before the recording's start"],
    &["longer than the 16 bytes"],
    &["longer than the 16 bytes"],
    &["have no `cpu` (null)"],
    &["column `pid` is Int64, but the schema says UInt32 (no lenient casts)"],
    &["column `cgroup_id` is Int64, but the schema says UInt64 (no lenient casts)"],
    &["column `comm` is Binary, but the schema says Utf8 (no lenient casts)"],
    &["which the schema requires"],
    // Fixtures without reclaim_end or slab_end rows get variant 2 instead.
    &["negative duration", "after the recording's end"],
];

/// Odd values the invariants must refuse: returns the new batches, in the
/// schema they have.
fn rewrite(
    f: &Fixture,
    variant: usize,
    pick: u64,
) -> (Arc<arrow_schema::Schema>, Vec<RecordBatch>) {
    let mut batches = f.batches.clone();
    let nonempty: Vec<usize> = (0..batches.len())
        .filter(|&i| batches[i].num_rows() > 0)
        .collect();
    // A batch may hold rows of several tables (the small tables of a
    // segment share a row group): a row's table is its own `kind`.
    let kind_at = |b: &RecordBatch, i: usize| -> String {
        let k = b.column_by_name("kind").unwrap();
        k.as_string::<i32>().value(i).to_string()
    };
    let rows_of = |b: &RecordBatch, kinds: &[&str]| -> Vec<usize> {
        (0..b.num_rows())
            .filter(|&i| kinds.contains(&kind_at(b, i).as_str()))
            .collect()
    };
    let of_kind = |batches: &[RecordBatch], kinds: &[&str]| -> Option<usize> {
        let c: Vec<usize> = nonempty
            .iter()
            .copied()
            .filter(|&i| !rows_of(&batches[i], kinds).is_empty())
            .collect();
        (!c.is_empty()).then(|| c[(pick % c.len() as u64) as usize])
    };
    let mut variant = variant;
    let mut bi = nonempty[(pick % nonempty.len() as u64) as usize];
    if variant == 11 {
        match of_kind(&batches, &["reclaim_end", "slab_end"]) {
            Some(i) => bi = i,
            None => variant = 2,
        }
    }
    let b = batches[bi].clone();
    let n = b.num_rows();
    let mut row = ((pick >> 20) % n as u64) as usize;
    if variant == 11 {
        let rows = rows_of(&b, &["reclaim_end", "slab_end"]);
        row = rows[((pick >> 20) % rows.len() as u64) as usize];
    }
    let kind_of = |b: &RecordBatch| kind_at(b, row);
    let start = f.findings["start_ns"].as_i64().unwrap();
    let text_with = |name: &str, val: Option<&str>| -> ArrayRef {
        let s = b.column_by_name(name).unwrap().as_string::<i32>().clone();
        Arc::new(StringArray::from_iter((0..n).map(|i| {
            if i == row {
                val
            } else {
                s.is_valid(i).then(|| s.value(i))
            }
        })))
    };
    let ts_with = |v: i64| -> ArrayRef {
        let t = b
            .column_by_name("ts_ns")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        Arc::new(Int64Array::from_iter(
            (0..n).map(|i| Some(if i == row { v } else { t.value(i) })),
        ))
    };
    let big = "x".repeat(1 << 20);
    let mut unify_at = None;
    let new = match variant {
        0 => seal::replace_column(&b, "kind", text_with("kind", None)),
        1 => seal::replace_column(&b, "kind", text_with("kind", Some("bogus_table"))),
        2 => {
            let t = b
                .column_by_name("ts_ns")
                .unwrap()
                .as_primitive::<Int64Type>();
            seal::replace_column(
                &b,
                "ts_ns",
                ts_with(t.value(row) + 1_000_000 * 1_000_000_000),
            )
        }
        3 => seal::replace_column(&b, "ts_ns", ts_with(start - 8_946 * 1_000_000_000)),
        4 => seal::replace_column(&b, "comm", text_with("comm", Some(&big))),
        5 => seal::replace_column(&b, "comm", text_with("comm", Some("seventeen_bytes!!"))),
        6 => {
            let c = b
                .column_by_name("cpu")
                .unwrap()
                .as_primitive::<arrow_array::types::UInt32Type>();
            let a: ArrayRef = Arc::new(UInt32Array::from_iter(
                (0..n).map(|i| (i != row).then(|| c.value(i))),
            ));
            seal::replace_column(&b, "cpu", a)
        }
        7 | 8 => {
            let name = if variant == 7 { "pid" } else { "cgroup_id" };
            let c = b.column_by_name(name).unwrap();
            let a = arrow_cast_i64(c);
            let v: ArrayRef = Arc::new(Int64Array::from_iter(
                (0..n).map(|i| Some(if i == row { -1 } else { a.value(i) })),
            ));
            unify_at = Some(bi);
            seal::replace_column(&b, name, v)
        }
        9 => {
            let s = b.column_by_name("comm").unwrap().as_string::<i32>();
            let a: ArrayRef = Arc::new(arrow_array::BinaryArray::from_iter(
                (0..n).map(|i| Some(s.value(i).as_bytes())),
            ));
            unify_at = Some(bi);
            seal::replace_column(&b, "comm", a)
        }
        10 => {
            // A column of the row's own table that the schema says is never null.
            let kind = kind_of(&b);
            let t = memtrace_schema::table(&kind).unwrap();
            let c = t.columns.iter().find(|c| !c.nullable).unwrap();
            let name = memtrace_schema::file_column_name(&kind, c.name);
            let col = b.column_by_name(&name).unwrap();
            let a = with_null(col, row);
            seal::replace_column(&b, &name, a)
        }
        _ => {
            let kind = kind_of(&b);
            let name = format!("{kind}.duration_ns");
            let c = b
                .column_by_name(&name)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let a: ArrayRef = Arc::new(Int64Array::from_iter((0..n).map(|i| {
                if i == row {
                    Some(-5_000)
                } else {
                    c.is_valid(i).then(|| c.value(i))
                }
            })));
            seal::replace_column(&b, &name, a)
        }
    };
    batches[bi] = new;
    match unify_at {
        Some(k) => seal::unify(batches, k),
        None => {
            // Every batch takes the changed batch's (nullable) field.
            let k = bi;
            let schema = batches[k].schema();
            let batches = batches
                .into_iter()
                .map(|x| RecordBatch::try_new(schema.clone(), x.columns().to_vec()).unwrap())
                .collect();
            (schema, batches)
        }
    }
}

/// `a` with row `row` set to null.
fn with_null(a: &ArrayRef, row: usize) -> ArrayRef {
    use arrow_array::types::*;
    use arrow_array::*;
    use arrow_schema::DataType as D;
    let n = a.len();
    let keep = |i: usize| i != row && a.is_valid(i);
    match a.data_type() {
        D::UInt32 => {
            let p = a.as_primitive::<UInt32Type>();
            Arc::new(UInt32Array::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        D::UInt64 => {
            let p = a.as_primitive::<UInt64Type>();
            Arc::new(UInt64Array::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        D::Int32 => {
            let p = a.as_primitive::<Int32Type>();
            Arc::new(Int32Array::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        D::Int64 => {
            let p = a.as_primitive::<Int64Type>();
            Arc::new(Int64Array::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        D::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        D::Boolean => {
            let p = a.as_boolean();
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        D::Utf8 => {
            let p = a.as_string::<i32>();
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| keep(i).then(|| p.value(i))),
            ))
        }
        other => panic!("{other:?}"),
    }
}

fn arrow_cast_i64(a: &ArrayRef) -> Int64Array {
    use arrow_array::types::{UInt32Type, UInt64Type};
    match a.data_type() {
        arrow_schema::DataType::UInt32 => Int64Array::from_iter(
            a.as_primitive::<UInt32Type>()
                .iter()
                .map(|v| v.map(i64::from)),
        ),
        arrow_schema::DataType::UInt64 => Int64Array::from_iter(
            a.as_primitive::<UInt64Type>()
                .iter()
                .map(|v| v.map(|x| x as i64)),
        ),
        other => panic!("{other:?}"),
    }
}

/// The bytes of a case's file.
fn build(case: &Case, fx: &[Fixture], dir: &Path) -> Vec<u8> {
    let f = &fx[case.fixture];
    match &case.kind {
        Kind::Truncate { sealed, len } => {
            let b = std::fs::read(if *sealed { &f.sealed } else { &f.plain }).unwrap();
            b[..(*len).min(b.len())].to_vec()
        }
        Kind::Flip { at, mask } => {
            let mut b = f.sealed_bytes.clone();
            b[*at] ^= mask;
            b
        }
        Kind::Swap { other } => {
            let o = &fx[*other];
            let mut b = f.sealed_bytes[..f.sealed_data_end].to_vec();
            b.extend_from_slice(&o.sealed_bytes[o.sealed_data_end..]);
            b
        }
        Kind::Meta {
            sealed,
            reseal,
            variant,
        } => {
            let src = if *sealed { &f.sealed } else { &f.plain };
            let p = seal::parse(src);
            let kv = seal::key_values(&p.meta);
            let changes = if *variant == usize::MAX {
                meta_counts(&f.meta_json)
            } else {
                meta_variant(*variant, &f.meta_json).0
            };
            let kv = apply_kv(&kv, &changes);
            let out = dir.join("meta.parquet");
            if *reseal {
                seal::seal_with(&f.plain, &out, Some(kv));
                std::fs::read(&out).unwrap()
            } else if *sealed {
                // The old checksums stay: they no longer match.
                seal::with_footer(&p, p.meta.row_groups().to_vec(), kv)
            } else {
                seal::with_key_values(src, &out, kv);
                std::fs::read(&out).unwrap()
            }
        }
        Kind::Rewrite {
            sealed,
            variant,
            pick,
        } => {
            let (schema, batches) = rewrite(f, *variant, *pick);
            let tmp = dir.join("rewritten.parquet");
            seal::write_batches(&f.plain, &tmp, schema, &batches);
            if *sealed {
                let out = dir.join("resealed.parquet");
                seal::seal(&tmp, &out);
                std::fs::read(&out).unwrap()
            } else {
                std::fs::read(&tmp).unwrap()
            }
        }
        Kind::Forge {
            sealed,
            variant,
            pick,
        } => {
            let (schema, batches) = rewrite(f, *variant, *pick);
            let odd = dir.join("odd.parquet");
            seal::write_batches(&f.plain, &odd, schema, &batches);
            // The intact rows written alike: the same row groups, each
            // with honest statistics to lend.
            let honest = dir.join("honest.parquet");
            seal::write_batches(&f.plain, &honest, f.batches[0].schema(), &f.batches);
            let (p, h) = (seal::parse(&odd), seal::parse(&honest));
            let groups = p
                .meta
                .row_groups()
                .iter()
                .zip(h.meta.row_groups())
                .map(|(g, hg)| {
                    let cols = g
                        .columns()
                        .iter()
                        .zip(hg.columns())
                        .map(|(c, hc)| match hc.statistics() {
                            Some(st) => c
                                .clone()
                                .into_builder()
                                .set_statistics(st.clone())
                                .build()
                                .unwrap(),
                            None => c.clone(),
                        })
                        .collect();
                    g.clone()
                        .into_builder()
                        .set_column_metadata(cols)
                        .build()
                        .unwrap()
                })
                .collect();
            let bytes = seal::with_footer(&p, groups, seal::key_values(&p.meta));
            if *sealed {
                let forged = dir.join("forged.parquet");
                std::fs::write(&forged, bytes).unwrap();
                let out = dir.join("resealed.parquet");
                seal::seal(&forged, &out);
                std::fs::read(&out).unwrap()
            } else {
                bytes
            }
        }
        Kind::Claim { variant } => {
            let p = seal::parse(&f.plain);
            let kv = seal::key_values(&p.meta);
            let mut groups = p.meta.row_groups().to_vec();
            let g = groups.len() / 2;
            let rg = groups[g].clone();
            groups[g] = match variant {
                0 => {
                    let mut cols: Vec<_> = rg.columns().to_vec();
                    let c = cols.len() / 2;
                    cols[c] = cols[c]
                        .clone()
                        .into_builder()
                        .set_total_uncompressed_size(2 << 30)
                        .build()
                        .unwrap();
                    rg.into_builder().set_column_metadata(cols).build().unwrap()
                }
                _ => rg.into_builder().set_num_rows(1 << 40).build().unwrap(),
            };
            seal::with_footer(&p, groups, kv)
        }
    }
}

/// What a run printed.
struct Run {
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn memana(file: &Path, dir: &Path) -> Run {
    let f = file.to_str().unwrap();
    run(&["report", f, "--format", "json", "--top", "0"], dir)
}

/// `check` with a gate the oom fixture breaks and the others pass: on a
/// file that must be refused, no gate may decide the exit status.
fn check(file: &Path, dir: &Path) -> Run {
    let f = file.to_str().unwrap();
    run(
        &[
            "check",
            f,
            "--rule",
            "oom.kills == 0",
            "--rule",
            "header.rows >= 0",
        ],
        dir,
    )
}

fn run(args: &[&str], dir: &Path) -> Run {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(dir.join("stdout")).unwrap();
    let err = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut cmd = Command::new(MEMANA);
    cmd.args(args)
        .env("POLARS_MAX_THREADS", "2")
        .env_remove("MEMTRACE_LOG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY_LIMIT,
                rlim_max: MEMORY_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: std::fs::read_to_string(dir.join("stdout")).unwrap_or_default(),
        stderr: std::fs::read_to_string(dir.join("stderr")).unwrap_or_default(),
        took: t.elapsed(),
    }
}

/// The findings of a JSON report: every metric and every table of every
/// section but the header (which names the file and its checksums).
fn findings(out: &str) -> J {
    let mut j: J = serde_json::from_str(out).unwrap();
    let mut sections = j["sections"].take();
    if let Some(m) = sections.as_object_mut() {
        m.remove("header");
    }
    serde_json::json!({
        "metrics": j["metrics"].take(),
        "sections": sections,
        "start_ns": j["recording"]["start_ns"].take(),
        "end_ns": j["recording"]["end_ns"].take(),
    })
}

fn fixtures(dir: &Path) -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        // Newer fixtures carry checksums: their plain twin is the file
        // without them (older ones have none, and are copied as they are).
        let src = root.join(format!("{name}.parquet"));
        let plain = dir.join(format!("{name}.plain.parquet"));
        seal::with_key_values(&src, &plain, seal::key_values(&seal::parse(&src).meta));
        let sealed = dir.join(format!("{name}.sealed.parquet"));
        seal::seal(&plain, &sealed);
        let p = seal::parse(&sealed);
        let chunks_end = p
            .meta
            .row_groups()
            .iter()
            .flat_map(|g| g.columns())
            .map(|c| (c.byte_range().0 + c.byte_range().1) as usize)
            .max()
            .unwrap();
        let meta_json = seal::key_values(&p.meta)
            .iter()
            .find(|k| k.key == "memtrace.meta")
            .and_then(|k| k.value.clone())
            .unwrap();
        let (_, batches) = seal::read_batches(&plain);
        // The intact file's findings, plain and sealed alike.
        let d = dir.join(format!("{name}.intact"));
        std::fs::create_dir_all(&d).unwrap();
        let a = memana(&plain, &d);
        assert_eq!(a.code, Some(0), "{name}: {}", a.stderr);
        let b = memana(&sealed, &d);
        assert_eq!(b.code, Some(0), "{name} sealed: {}", b.stderr);
        let ja: J = serde_json::from_str(&a.stdout).unwrap();
        let jb: J = serde_json::from_str(&b.stdout).unwrap();
        assert_eq!(ja["integrity"]["checksums"], "absent", "{name}");
        assert!(
            ja["warnings"][0].as_str().unwrap().contains("no checksums"),
            "{name}: {}",
            ja["warnings"]
        );
        assert_eq!(jb["integrity"]["checksums"], "verified", "{name}");
        assert_eq!(jb["warnings"], serde_json::json!([]), "{name}");
        let fa = findings(&a.stdout);
        assert_eq!(
            fa,
            findings(&b.stdout),
            "{name}: sealing changed the findings"
        );
        out.push(Fixture {
            name,
            plain,
            sealed_bytes: p.bytes,
            sealed_data_end: p.data_end,
            chunks_end,
            sealed,
            meta_json,
            batches,
            findings: fa,
        });
    }
    out
}

fn cases(fx: &[Fixture]) -> Vec<Case> {
    let mut rng = Rng(SEED);
    let mut out = Vec::new();
    let mut add_why = |fixture, kind, expect, what, why| {
        out.push(Case {
            fixture,
            kind,
            expect,
            what,
            why,
        })
    };
    let checksum: &[&str] = &["does not match its checksum", "lies outside the file"];
    for (i, f) in fx.iter().enumerate() {
        let len = f.sealed_bytes.len();
        let plain_len = std::fs::metadata(&f.plain).unwrap().len() as usize;
        for _ in 0..6 {
            let len = rng.below(len);
            add_why(
                i,
                Kind::Truncate { sealed: true, len },
                Expect::Reject,
                "truncated",
                &[],
            );
        }
        for _ in 0..4 {
            let len = rng.below(plain_len);
            add_why(
                i,
                Kind::Truncate { sealed: false, len },
                Expect::Reject,
                "truncated",
                &[],
            );
        }
        // Every byte from the first to the last column chunk belongs to one.
        for _ in 0..22 {
            let at = rng.range(4, f.chunks_end);
            let mask = 1 << rng.below(8);
            add_why(
                i,
                Kind::Flip { at, mask },
                Expect::Reject,
                "data flip",
                checksum,
            );
        }
        if f.chunks_end < f.sealed_data_end {
            for _ in 0..3 {
                let at = rng.range(f.chunks_end, f.sealed_data_end);
                let mask = 1 << rng.below(8);
                add_why(
                    i,
                    Kind::Flip { at, mask },
                    Expect::RejectOrSame,
                    "flip in unread bytes",
                    &[],
                );
            }
        }
        for _ in 0..16 {
            let at = rng.range(f.sealed_data_end, len);
            let mask = 1 << rng.below(8);
            add_why(
                i,
                Kind::Flip { at, mask },
                Expect::RejectOrSame,
                "footer flip",
                &[],
            );
        }
        for other in (0..fx.len()).filter(|&o| o != i) {
            add_why(
                i,
                Kind::Swap { other },
                Expect::Reject,
                "swapped footer",
                checksum,
            );
        }
        for variant in 0..META_VARIANTS {
            let expect = meta_variant(variant, &f.meta_json).1;
            let kind = Kind::Meta {
                sealed: false,
                reseal: false,
                variant,
            };
            add_why(i, kind, expect, "hostile metadata", &[]);
        }
        for _ in 0..3 {
            let variant = rng.below(META_VARIANTS);
            let expect = meta_variant(variant, &f.meta_json).1;
            let kind = Kind::Meta {
                sealed: true,
                reseal: true,
                variant,
            };
            add_why(i, kind, expect, "hostile metadata, sealed", &[]);
        }
        for variant in [usize::MAX, rng.below(META_VARIANTS)] {
            let kind = Kind::Meta {
                sealed: true,
                reseal: false,
                variant,
            };
            add_why(
                i,
                kind,
                Expect::Reject,
                "metadata changed under checksums",
                &[],
            );
        }
        for (variant, why) in REWRITE_WHY.iter().enumerate() {
            let pick = rng.next();
            let kind = Kind::Rewrite {
                sealed: false,
                variant,
                pick,
            };
            add_why(i, kind, Expect::Reject, "odd values", why);
        }
        for _ in 0..4 {
            let variant = rng.below(REWRITES);
            let kind = Kind::Rewrite {
                sealed: true,
                variant,
                pick: rng.next(),
            };
            add_why(
                i,
                kind,
                Expect::Reject,
                "odd values, sealed",
                REWRITE_WHY[variant],
            );
        }
        // Odd values the footer's statistics hide (not those that change a
        // column's type: the intact statistics would not fit it).
        for variant in [0, 1, 2, 3, 4, 5, 6, 10, 11] {
            let kind = Kind::Forge {
                sealed: variant % 2 == 0,
                variant,
                pick: rng.next(),
            };
            add_why(
                i,
                kind,
                Expect::RejectOrHarmless,
                "odd values under forged statistics",
                &[],
            );
        }
        for variant in 0..2 {
            let why: &[&str] = if variant == 0 {
                &["would decode to 2048 MiB"]
            } else {
                &["claims 1099511627776 rows"]
            };
            add_why(
                i,
                Kind::Claim { variant },
                Expect::Reject,
                "footer claims",
                why,
            );
        }
    }
    out
}

#[test]
fn hostile_inputs_are_refused_or_harmless() {
    let t0 = Instant::now();
    let d = tempfile::tempdir().unwrap();
    let fx = fixtures(d.path());
    assert!(fx.len() >= 6, "only {} fixtures", fx.len());
    let cases = cases(&fx);
    assert!(cases.len() >= 500, "only {} cases", cases.len());
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    let tally = Mutex::new(std::collections::BTreeMap::<&str, (usize, usize, usize)>::new());
    let slowest = Mutex::new(Duration::ZERO);
    // One refusal per category, to show what the user reads.
    let examples = Mutex::new(std::collections::BTreeMap::<&str, String>::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for w in 0..workers {
            let (fx, cases, next, failures, tally, slowest, examples) =
                (&fx, &cases, &next, &failures, &tally, &slowest, &examples);
            let dir = d.path().join(format!("w{w}"));
            std::fs::create_dir_all(&dir).unwrap();
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let f = &fx[case.fixture];
                let file = dir.join("case.parquet");
                std::fs::write(&file, build(case, fx, &dir)).unwrap();
                let r = memana(&file, &dir);
                {
                    let mut sl = slowest.lock().unwrap();
                    *sl = (*sl).max(r.took);
                }
                let label = format!(
                    "seed {SEED:#x} case {i} ({}, {}: {:?})",
                    case.what, f.name, case.kind
                );
                let err = r.stderr.trim_end();
                let problem = if r.timed_out {
                    Some(format!("hung (killed after {TIMEOUT:?})"))
                } else {
                    match r.code {
                        Some(2) if err.lines().count() != 1 => Some(format!(
                            "exit 2 but {} stderr lines: {err}",
                            err.lines().count()
                        )),
                        Some(2)
                            if !err.starts_with("memana: ")
                                || err.contains("internal error")
                                || err.contains("panicked") =>
                        {
                            Some(format!("bad message: {err}"))
                        }
                        Some(2)
                            if !case.why.is_empty()
                                && !case.why.iter().any(|w| err.contains(w)) =>
                        {
                            Some(format!("refused, but not saying {:?}: {err}", case.why))
                        }
                        Some(2) => None,
                        Some(0) if case.expect == Expect::Reject => {
                            Some("exit 0, but the damage must be refused".to_string())
                        }
                        Some(0) => match serde_json::from_str::<J>(&r.stdout) {
                            Ok(_) if case.expect == Expect::RejectOrHarmless => None,
                            Ok(_) if findings(&r.stdout) == f.findings => None,
                            Ok(_) => Some(
                                "exit 0 with findings that differ from the intact file's".into(),
                            ),
                            Err(e) => Some(format!("exit 0 but not JSON: {e}")),
                        },
                        other => Some(format!(
                            "exit {other:?} (a crash, a panic or out of memory): {}",
                            err.chars().take(400).collect::<String>()
                        )),
                    }
                };
                // Where the file must be refused, `check` must refuse it too:
                // exit 2, never a verdict (0 or 1) on damaged data.
                let problem = match problem {
                    None if case.expect == Expect::Reject && i % 3 == 0 => {
                        let c = check(&file, &dir);
                        let cerr = c.stderr.trim_end();
                        (c.code != Some(2) || cerr.lines().count() != 1).then(|| {
                            format!("check: exit {:?} (must be 2, one line): {cerr}", c.code)
                        })
                    }
                    p => p,
                };
                if problem.is_none() && r.code == Some(2) {
                    examples
                        .lock()
                        .unwrap()
                        .entry(case.what)
                        .or_insert_with(|| err.chars().take(300).collect());
                }
                let mut t = tally.lock().unwrap();
                let e = t.entry(case.what).or_default();
                match (&problem, r.code) {
                    (None, Some(2)) => e.0 += 1,
                    (None, _) => e.1 += 1,
                    (Some(_), _) => e.2 += 1,
                }
                drop(t);
                if let Some(p) = problem {
                    failures.lock().unwrap().push(format!("{label}: {p}"));
                }
            });
        }
    });
    let tally = tally.into_inner().unwrap();
    eprintln!(
        "{} cases in {:.1} s (slowest run {:.2} s); per category: refused / same findings / FAILED",
        cases.len(),
        t0.elapsed().as_secs_f64(),
        slowest.into_inner().unwrap().as_secs_f64()
    );
    for (what, (refused, same, failed)) in &tally {
        eprintln!("  {what:<36} {refused:>4} {same:>4} {failed:>4}");
    }
    for (what, e) in examples.into_inner().unwrap() {
        eprintln!("  e.g. {what}: {e}");
    }
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
