//! Writes a large synthetic recording for the speed benchmark:
//! `cargo run --release -p memtrace-analyzer --example bench_gen -- OUT.parquet [MILLIONS]`
//! (default 100 million rows, mostly reclaim and slab events, in row groups
//! of 65536 rows as memrec writes them). Values are plausible, not real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arrow_array::{
    new_null_array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use memtrace_schema::{file_column_name, tables, ColumnType, FileMeta, GroupMeta, COMMON};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

const START: i64 = 5_000_000_000_000;
const DURATION: i64 = 600_000_000_000;
const BATCH: usize = 65536;

fn dt(t: ColumnType) -> DataType {
    memtrace_schema::arrow::data_type(t)
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

fn words(table: &str, col: &str) -> &'static [&'static str] {
    match (table, col) {
        (_, "reclaimer") => &["kswapd", "kswapd", "direct", "memcg"],
        (_, "lru") => &["file", "anon"],
        (_, "shrinker_fn") => &[
            "super_cache_scan",
            "scan_shadow_nodes",
            "deferred_split_scan",
            "kfree_rcu_shrink_scan",
        ],
        ("kswapd", "event") => &["wake", "sleep", "wakeup", "wakeup"],
        ("procstat", "reason") => &["switch", "rss", "rss", "switch"],
        (_, "trigger") => &["interval"],
        (_, "zone") | (_, "highest_zone") => &["DMA32", "Normal"],
        (_, "migratetype_name") => &["MIGRATE_UNMOVABLE", "MIGRATE_MOVABLE"],
        (_, "result") => &["continue", "skipped"],
        (_, "comm") | (_, "victim_comm") => &[
            "java",
            "postgres",
            "nginx",
            "kworker/0:1",
            "kswapd0",
            "python3",
            "bash",
            "rustc",
        ],
        _ => &["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|__GFP_COMP"],
    }
}

fn column(table: &str, col: &str, ty: ColumnType, base: u64, n: usize) -> ArrayRef {
    let seed = mix(col.bytes().fold(table.len() as u64, |a, b| {
        a.wrapping_mul(31).wrapping_add(u64::from(b))
    }));
    let r = |i: usize| mix(seed ^ (base + i as u64));
    match ty {
        ColumnType::U32 => Arc::new(UInt32Array::from_iter_values((0..n).map(|i| match col {
            "node" => 0,
            "tgid" | "pid" | "victim_pid" => 1000 + (r(i) % 10_000) as u32,
            "order" => (r(i) % 4) as u32,
            _ => (r(i) % 4096) as u32,
        }))),
        ColumnType::U64 => Arc::new(UInt64Array::from_iter_values((0..n).map(|i| match col {
            "nr_scanned" => 32,
            "nr_reclaimed" => r(i) % 33,
            "cgroup_id" => 1,
            c if c.starts_with("rss") || c == "vsize" || c == "data" => (r(i) % 4096) << 20,
            _ => r(i) % 100_000,
        }))),
        ColumnType::I32 => Arc::new(Int32Array::from_iter_values((0..n).map(|i| match col {
            "node" => 0,
            "priority" => 12 - (r(i) % 13) as i32,
            _ => (r(i) % 1000) as i32,
        }))),
        ColumnType::I64 => Arc::new(Int64Array::from_iter_values((0..n).map(|i| match col {
            "duration_ns" => 1000 + (r(i) % 10_000_000) as i64,
            _ => (r(i) % 1_000_000) as i64,
        }))),
        ColumnType::F64 => Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| (r(i) % 100) as f64 / 10.0),
        )),
        ColumnType::Bool => Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(r(i) % 2 == 0)))),
        ColumnType::Text => {
            let w = words(table, col);
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| w[(r(i) % w.len() as u64) as usize]),
            ))
        }
    }
}

fn tgid_of(row: usize) -> u32 {
    1000 + (mix(row as u64 / 7) % 5000) as u32
}

fn pid_of(row: usize) -> u32 {
    tgid_of(row) + (mix(row as u64) % 4) as u32 * (row % 2) as u32
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "bench.parquet".into());
    let millions: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100.0);
    let total = (millions * 1e6) as usize;
    // Share of rows per table.
    let shares: &[(&str, f64)] = &[
        ("procstat", 0.08),
        ("sysstat", 0.00001),
        ("zone", 0.00003),
        ("paf", 0.00001),
        ("reclaim_retry", 0.0001),
        ("compact_suitable", 0.0001),
        ("compact_try", 0.0001),
        ("lru_inactive", 0.40),
        ("lru_active", 0.15),
        ("reclaim_begin", 0.05),
        ("reclaim_end", 0.05),
        ("kswapd", 0.01),
        ("slab_start", 0.125),
        ("slab_end", 0.125),
        ("oom_victim", 0.0000001),
    ];
    let mut fields: Vec<Field> = COMMON
        .iter()
        .map(|c| Field::new(c.name, dt(c.ty), c.nullable))
        .collect();
    for t in tables() {
        for c in t.columns {
            fields.push(Field::new(file_column_name(t.name, c.name), dt(c.ty), true));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let mut meta = FileMeta {
        schema_version: memtrace_schema::SCHEMA_VERSION,
        hostname: "bench".into(),
        kernel_release: "6.8.0-bench".into(),
        page_size: 4096,
        start_ns: START,
        end_ns: START + DURATION,
        clock: "CLOCK_BOOTTIME".into(),
        ..Default::default()
    };
    for g in memtrace_schema::groups() {
        meta.groups.push(GroupMeta {
            name: g.into(),
            status: "attached".into(),
            ..Default::default()
        });
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
        .set_max_row_group_row_count(Some(BATCH))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(
                memtrace_schema::SCHEMA_VERSION_KEY.into(),
                memtrace_schema::SCHEMA_VERSION.to_string(),
            ),
            KeyValue::new(memtrace_schema::META_KEY.into(), meta.to_json().unwrap()),
        ]))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&out).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    let mut written = 0usize;
    for t in tables() {
        let share = shares.iter().find(|s| s.0 == t.name).map_or(0.0, |s| s.1);
        let rows = ((total as f64) * share).ceil() as usize;
        let mut done = 0usize;
        while done < rows {
            let n = BATCH.min(rows - done);
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for c in COMMON {
                cols.push(match c.name {
                    "ts_ns" => {
                        // In i128: rows x DURATION passes i64 past 15 M rows.
                        Arc::new(Int64Array::from_iter_values((0..n).map(|i| {
                            START
                                + ((done + i) as i128 * DURATION as i128 / rows.max(1) as i128)
                                    as i64
                        })))
                    }
                    "kind" => Arc::new(StringArray::from_iter_values((0..n).map(|_| t.name))),
                    // Threads: pid = tgid + 0..3; a thread's comm is fixed.
                    "tgid" => Arc::new(UInt32Array::from_iter_values(
                        (0..n).map(|i| tgid_of(done + i)),
                    )),
                    "pid" => Arc::new(UInt32Array::from_iter_values(
                        (0..n).map(|i| pid_of(done + i)),
                    )),
                    "comm" => {
                        let w = words(t.name, "comm");
                        Arc::new(StringArray::from_iter_values(
                            (0..n).map(|i| w[pid_of(done + i) as usize % w.len()]),
                        ))
                    }
                    other => column(t.name, other, c.ty, done as u64, n),
                });
            }
            for tt in tables() {
                for c in tt.columns {
                    cols.push(if tt.name == t.name {
                        column(t.name, c.name, c.ty, done as u64, n)
                    } else {
                        new_null_array(&dt(c.ty), n)
                    });
                }
            }
            w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
                .unwrap();
            w.flush().unwrap();
            done += n;
            written += n;
        }
        eprintln!("{}: {rows} rows", t.name);
    }
    w.close().unwrap();
    eprintln!("wrote {written} rows to {out}");
}
