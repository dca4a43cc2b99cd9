//! Test support: writes recordings with arrow-rs exactly as the schema lays
//! them out (columns from `memtrace_schema`, one table per row group, the
//! key-value metadata), and reads raw rows back with arrow-rs (no polars).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Schema};
use memtrace_schema::{
    tables, ColumnType, Comm, FileMeta, GroupMeta, Header, ProbeMeta, Row, Visitor, COMMON,
    META_KEY, SCHEMA_VERSION, SCHEMA_VERSION_KEY,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    U32(u32),
    U64(u64),
    I32(i32),
    I64(i64),
    F64(f64),
    Bool(bool),
    Text(String),
    Null,
}

impl V {
    pub fn u64(&self) -> Option<u64> {
        match self {
            V::U32(v) => Some(u64::from(*v)),
            V::U64(v) => Some(*v),
            V::I32(v) => u64::try_from(*v).ok(),
            V::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    pub fn i64(&self) -> Option<i64> {
        match self {
            V::U32(v) => Some(i64::from(*v)),
            V::U64(v) => i64::try_from(*v).ok(),
            V::I32(v) => Some(i64::from(*v)),
            V::I64(v) => Some(*v),
            _ => None,
        }
    }
    pub fn str(&self) -> &str {
        match self {
            V::Text(s) => s,
            _ => "",
        }
    }
    pub fn bool(&self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn f64(&self) -> Option<f64> {
        match self {
            V::F64(v) => Some(*v),
            _ => None,
        }
    }
}

struct Collect(Vec<V>);

impl Visitor for Collect {
    fn u32(&mut self, v: u32) {
        self.0.push(V::U32(v));
    }
    fn u64(&mut self, v: u64) {
        self.0.push(V::U64(v));
    }
    fn i32(&mut self, v: i32) {
        self.0.push(V::I32(v));
    }
    fn i64(&mut self, v: i64) {
        self.0.push(V::I64(v));
    }
    fn f64(&mut self, v: f64) {
        self.0.push(V::F64(v));
    }
    fn bool(&mut self, v: bool) {
        self.0.push(V::Bool(v));
    }
    fn text(&mut self, v: &str) {
        self.0.push(V::Text(v.to_string()));
    }
    fn null(&mut self) {
        self.0.push(V::Null);
    }
}

/// A row to write.
#[derive(Debug, Clone)]
pub struct TRow {
    pub table: &'static str,
    pub header: Header,
    pub vals: Vec<V>,
}

pub fn hdr(ts_ns: i64, pid: u32, tgid: u32, comm: &str) -> Header {
    Header {
        ts_ns,
        cpu: pid % 4,
        pid,
        tgid,
        comm: Comm::from_raw(comm.as_bytes()),
        cgroup_id: 1,
    }
}

/// A recording under construction.
pub struct Builder {
    pub meta: FileMeta,
    pub rows: Vec<TRow>,
    pub rows_per_group: usize,
    /// Overrides the schema version key (for "too new" tests).
    pub version_text: Option<String>,
}

impl Builder {
    pub fn new(start_ns: i64, end_ns: i64) -> Self {
        let mut meta = FileMeta {
            schema_version: SCHEMA_VERSION,
            memrec_version: "test".into(),
            hostname: "testhost".into(),
            kernel_release: "6.8.0-test".into(),
            kernel_version: "#1 SMP".into(),
            machine: "x86_64".into(),
            page_size: 4096,
            hpage_pmd_nr: 512,
            nr_cpus: 4,
            nodes: vec![0],
            clock: "CLOCK_BOOTTIME".into(),
            start_ns,
            end_ns,
            start_time: "2024-01-01T00:00:00Z".into(),
            end_time: "2024-01-01T00:01:00Z".into(),
            end_reason: "duration".into(),
            ..Default::default()
        };
        for g in memtrace_schema::groups() {
            meta.groups_requested.push(g.to_string());
            meta.groups.push(GroupMeta {
                name: g.into(),
                status: "attached".into(),
                ..Default::default()
            });
            for t in tables().iter().filter(|t| t.group == g) {
                meta.probes.push(ProbeMeta {
                    group: g.into(),
                    program: format!("handle_{}", t.name),
                    target: t.sources.into(),
                    method: "tp_btf".into(),
                    attached: true,
                    ..Default::default()
                });
            }
        }
        Builder {
            meta,
            rows: Vec::new(),
            rows_per_group: 1000,
            version_text: None,
        }
    }

    pub fn add<R: Row>(&mut self, header: Header, row: &R) {
        let mut c = Collect(Vec::new());
        row.visit(&mut c);
        self.rows.push(TRow {
            table: R::TABLE.name,
            header,
            vals: c.0,
        });
    }

    /// Fills `meta.rows` and the probes' event counts from the rows.
    pub fn count(&mut self) {
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        for r in &self.rows {
            *rows.entry(r.table.to_string()).or_default() += 1;
        }
        for p in &mut self.meta.probes {
            let t = p.program.trim_start_matches("handle_");
            p.events = rows.get(t).copied().unwrap_or(0);
        }
        for g in &mut self.meta.groups {
            g.decoded = tables()
                .iter()
                .filter(|t| t.group == g.name)
                .map(|t| rows.get(t.name).copied().unwrap_or(0))
                .sum();
        }
        self.meta.rows = rows;
    }

    pub fn write(&self, path: &Path) {
        let schema = Arc::new(arrow_schema());
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(self.rows_per_group.max(1)))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(
                    SCHEMA_VERSION_KEY.to_string(),
                    self.version_text
                        .clone()
                        .unwrap_or_else(|| SCHEMA_VERSION.to_string()),
                ),
                KeyValue::new(
                    META_KEY.to_string(),
                    self.meta.to_json().expect("meta json"),
                ),
            ]))
            .build();
        let file = std::fs::File::create(path).expect("create");
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).expect("writer");
        for t in tables() {
            let rows: Vec<&TRow> = self.rows.iter().filter(|r| r.table == t.name).collect();
            for chunk in rows.chunks(self.rows_per_group.max(1)) {
                let batch = batch(&schema, t.name, chunk);
                w.write(&batch).expect("write");
                w.flush().expect("flush");
            }
        }
        w.close().expect("close");
    }
}

fn dt(t: ColumnType) -> DataType {
    memtrace_schema::arrow::data_type(t)
}

/// The file's Arrow schema, as memrec writes it.
pub fn arrow_schema() -> Schema {
    memtrace_schema::arrow::file_schema()
}

fn array(ty: ColumnType, vals: Vec<V>) -> ArrayRef {
    match ty {
        ColumnType::U32 => Arc::new(UInt32Array::from(
            vals.iter()
                .map(|v| if let V::U32(x) = v { Some(*x) } else { None })
                .collect::<Vec<_>>(),
        )),
        ColumnType::U64 => Arc::new(UInt64Array::from(
            vals.iter()
                .map(|v| if let V::U64(x) = v { Some(*x) } else { None })
                .collect::<Vec<_>>(),
        )),
        ColumnType::I32 => Arc::new(Int32Array::from(
            vals.iter()
                .map(|v| if let V::I32(x) = v { Some(*x) } else { None })
                .collect::<Vec<_>>(),
        )),
        ColumnType::I64 => Arc::new(Int64Array::from(
            vals.iter()
                .map(|v| if let V::I64(x) = v { Some(*x) } else { None })
                .collect::<Vec<_>>(),
        )),
        ColumnType::F64 => Arc::new(Float64Array::from(
            vals.iter()
                .map(|v| if let V::F64(x) = v { Some(*x) } else { None })
                .collect::<Vec<_>>(),
        )),
        ColumnType::Bool => Arc::new(BooleanArray::from(
            vals.iter()
                .map(|v| if let V::Bool(x) = v { Some(*x) } else { None })
                .collect::<Vec<_>>(),
        )),
        ColumnType::Text => Arc::new(StringArray::from(
            vals.iter()
                .map(|v| {
                    if let V::Text(x) = v {
                        Some(x.as_str())
                    } else {
                        None
                    }
                })
                .collect::<Vec<_>>(),
        )),
    }
}

fn batch(schema: &Arc<Schema>, table: &str, rows: &[&TRow]) -> RecordBatch {
    let mut cols: Vec<ArrayRef> = Vec::new();
    for c in COMMON {
        let vals: Vec<V> = rows
            .iter()
            .map(|r| match c.name {
                "ts_ns" => V::I64(r.header.ts_ns),
                "kind" => V::Text(table.to_string()),
                "cpu" => V::U32(r.header.cpu),
                "pid" => V::U32(r.header.pid),
                "tgid" => V::U32(r.header.tgid),
                "comm" => V::Text(r.header.comm.as_str().to_string()),
                "cgroup_id" => V::U64(r.header.cgroup_id),
                other => panic!("unknown common column {other}"),
            })
            .collect();
        cols.push(array(c.ty, vals));
    }
    for t in tables() {
        for (i, c) in t.columns.iter().enumerate() {
            let vals: Vec<V> = rows
                .iter()
                .map(|r| {
                    if t.name == table {
                        r.vals[i].clone()
                    } else {
                        V::Null
                    }
                })
                .collect();
            cols.push(array(c.ty, vals));
        }
    }
    RecordBatch::try_new(schema.clone(), cols).expect("batch")
}

/// A raw row read back: `kind` and every non-null column by file name.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub kind: String,
    pub cols: BTreeMap<String, V>,
}

impl RawRow {
    /// A common column or `<kind>.<col>`.
    pub fn get(&self, name: &str) -> &V {
        static NULL: V = V::Null;
        self.cols
            .get(name)
            .or_else(|| self.cols.get(&format!("{}.{name}", self.kind)))
            .unwrap_or(&NULL)
    }
    pub fn ts(&self) -> i64 {
        self.get("ts_ns").i64().unwrap_or(0)
    }
    pub fn u(&self, name: &str) -> u64 {
        self.get(name).u64().unwrap_or(0)
    }
    pub fn i(&self, name: &str) -> i64 {
        self.get(name).i64().unwrap_or(0)
    }
    pub fn s(&self, name: &str) -> &str {
        self.get(name).str()
    }
}

/// Every row of a file, in file order.
pub fn read_rows(path: &Path) -> Vec<RawRow> {
    let file = std::fs::File::open(path).expect("open");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("reader")
        .build()
        .expect("build");
    let mut out = Vec::new();
    for b in reader {
        let b = b.expect("batch");
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut cols = BTreeMap::new();
            let mut kind = String::new();
            for (j, f) in schema.fields().iter().enumerate() {
                let a = b.column(j);
                if a.is_null(i) {
                    continue;
                }
                let v = value(a.as_ref(), i);
                if f.name() == "kind" {
                    kind = v.str().to_string();
                }
                cols.insert(f.name().clone(), v);
            }
            out.push(RawRow { kind, cols });
        }
    }
    out
}

fn value(a: &dyn Array, i: usize) -> V {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    match a.data_type() {
        DataType::UInt32 => V::U32(a.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => V::U64(a.as_primitive::<UInt64Type>().value(i)),
        DataType::Int32 => V::I32(a.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => V::I64(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => V::F64(a.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => V::Bool(a.as_boolean().value(i)),
        DataType::Utf8 => V::Text(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => V::Text(a.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => V::Text(a.as_string_view().value(i).to_string()),
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let k = d.normalized_keys()[i];
            value(d.values().as_ref(), k)
        }
        other => panic!("unexpected column type {other:?}"),
    }
}

/// Reads the file's FileMeta with arrow-rs.
pub fn read_meta(path: &Path) -> FileMeta {
    let file = std::fs::File::open(path).expect("open");
    let b = ParquetRecordBatchReaderBuilder::try_new(file).expect("reader");
    FileMeta::from_parquet(b.metadata().file_metadata())
        .expect("meta")
        .1
}
pub mod fleet;
pub mod scenario;
pub mod seal;

/// Runs the memana binary: its exit code, stdout and stderr.
pub fn memana(args: &[&str]) -> (i32, String, String) {
    // Set for integration tests only (an example includes this module too).
    let bin = option_env!("CARGO_BIN_EXE_memana").unwrap_or("memana");
    let out = std::process::Command::new(bin)
        .args(args)
        .output()
        .expect("run memana");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A report with what names the files or counts their checksums left out:
/// the rest must be the same whichever files hold the rows.
pub fn report_content(mut v: serde_json::Value) -> serde_json::Value {
    let o = v.as_object_mut().unwrap();
    o.remove("file");
    assert_eq!(
        o["integrity"]["checksums"], "verified",
        "{}",
        o["integrity"]
    );
    o.remove("integrity");
    let rows = v["sections"]["header"]["tables"]["recording"]["rows"]
        .as_array_mut()
        .unwrap();
    rows.retain(|r| r["key"] != "file" && r["key"] != "checksums");
    v
}

/// The first difference between two JSON values, for the failure message.
pub fn first_difference(a: &Json, b: &Json, at: &str) -> Option<String> {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let d = first_difference(
                    x.get(k).unwrap_or(&Json::Null),
                    y.get(k).unwrap_or(&Json::Null),
                    &format!("{at}.{k}"),
                );
                if d.is_some() {
                    return d;
                }
            }
            None
        }
        (Json::Array(x), Json::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} vs {b}")),
    }
}
