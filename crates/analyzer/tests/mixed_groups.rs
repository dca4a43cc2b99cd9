//! Row groups that several tables share: memrec writes a segment's small
//! tables into one row group, rows sorted by table, so the `kind`
//! statistics of that row group name no single table. memana counts such
//! a row group's rows per table from its `kind` and `ts_ns` columns, so
//! the per-table rows and time spans (`Recording.tables`, the header's
//! "tables" table, `memana info`) stay exact, and the report is the one
//! of a file with one table per row group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arrow_array::cast::AsArray;
use arrow_array::RecordBatch;
use common::{first_difference, memana, report_content, scenario, seal};
use memtrace_analyzer::recording::{Recording, TableStats};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::WriterProperties;
use polars::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let (code, out, err) = memana(&a);
    assert_eq!(code, 0, "{a:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The `kind` values of a batch.
fn kinds(b: &RecordBatch) -> Vec<String> {
    b.column_by_name("kind")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|k| k.unwrap_or_default().to_string())
        .collect()
}

/// `src` written again with its row groups of fewer than `small` rows
/// joined into one row group, their rows in file order (sorted by table,
/// as memrec writes a shared row group), and sealed with checksums as
/// memrec does. Returns the tables of that shared row group.
fn regroup(src: &Path, dst: &Path, small: usize) -> BTreeSet<String> {
    let (schema, batches) = seal::read_batches(src);
    let kv = seal::key_values(&seal::parse(src).meta)
        .into_iter()
        .filter(|k| {
            k.key.starts_with("memtrace.") && k.key != memtrace_schema::integrity::CHECKSUMS_KEY
        })
        .collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(kv))
        .build();
    let plain = dst.with_extension("plain");
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&plain).unwrap(), schema, Some(props)).unwrap();
    let (big, shared): (Vec<&RecordBatch>, Vec<&RecordBatch>) =
        batches.iter().partition(|b| b.num_rows() >= small);
    // The large row groups first, each its own; then one row group of
    // every small one (no flush between them).
    for b in big {
        w.write(b).unwrap();
        w.flush().unwrap();
    }
    let mut mixed = BTreeSet::new();
    for b in shared {
        w.write(b).unwrap();
        mixed.extend(kinds(b));
    }
    w.close().unwrap();
    seal::seal(&plain, dst);
    std::fs::remove_file(&plain).unwrap();
    mixed
}

/// Per table, rows and first and last `ts_ns` by a polars group-by over
/// every row of the file, and the row groups holding rows of it.
fn expected(path: &Path) -> BTreeMap<String, TableStats> {
    let src = PlRefPath::try_from_path(path).unwrap();
    let args = ScanArgsParquet {
        glob: false,
        hive_options: HiveOptions::new_disabled(),
        ..ScanArgsParquet::default()
    };
    let df = LazyFrame::scan_parquet_files(vec![src].into(), args)
        .unwrap()
        .group_by([col("kind")])
        .agg([
            len().cast(DataType::UInt64).alias("rows"),
            col("ts_ns").min().alias("first"),
            col("ts_ns").max().alias("last"),
        ])
        .collect()
        .unwrap();
    let k = df.column("kind").unwrap().str().unwrap().clone();
    let n = df.column("rows").unwrap().u64().unwrap().clone();
    let lo = df.column("first").unwrap().i64().unwrap().clone();
    let hi = df.column("last").unwrap().i64().unwrap().clone();
    let mut out = BTreeMap::new();
    for i in 0..df.height() {
        out.insert(
            k.get(i).unwrap().to_string(),
            TableStats {
                rows: n.get(i).unwrap(),
                row_groups: 0,
                first_ts: lo.get(i),
                last_ts: hi.get(i),
            },
        );
    }
    let (_, groups) = seal::read_batches(path);
    for g in &groups {
        for k in kinds(g).into_iter().collect::<BTreeSet<_>>() {
            out.get_mut(&k).unwrap().row_groups += 1;
        }
    }
    out
}

/// How many row groups of the file have `kind` statistics naming more
/// than one table.
fn shared_row_groups(path: &Path) -> usize {
    let f = std::fs::File::open(path).unwrap();
    let md = ParquetMetaDataReader::new().parse_and_finish(&f).unwrap();
    let schema = md.file_metadata().schema_descr();
    let k = (0..schema.num_columns())
        .find(|&i| schema.column(i).name() == "kind")
        .unwrap();
    md.row_groups()
        .iter()
        .filter(|rg| match rg.column(k).statistics() {
            Some(parquet::file::statistics::Statistics::ByteArray(s)) => s.min_opt() != s.max_opt(),
            _ => true,
        })
        .count()
}

/// The header's "tables" table: per table, its rows and first and last
/// timestamps as the report gives them.
fn header_tables(v: &Value) -> BTreeMap<String, (Value, Value, Value)> {
    v["sections"]["header"]["tables"]["tables"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["table"].as_str().unwrap().to_string(),
                (
                    r["rows"].clone(),
                    r["first_ts"].clone(),
                    r["last_ts"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_row_group_of_several_tables_counts_each_table_exactly() {
    let d = tempfile::tempdir().unwrap();
    let one = d.path().join("one.parquet");
    let b = scenario::build(1);
    let plain = d.path().join("one.plain");
    b.write(&plain);
    seal::seal(&plain, &one);
    let mixed = d.path().join("mixed.parquet");
    // The scenario's small tables (a few rows each) share a row group; its
    // busy ones keep their own.
    let shared = regroup(&one, &mixed, 50);
    assert!(shared.len() >= 3, "shared by {shared:?}");
    assert_eq!(shared_row_groups(&mixed), 1);
    assert_eq!(shared_row_groups(&one), 0);

    let want = expected(&mixed);
    assert!(
        want.values().any(|t| t.row_groups > 1) || want.len() > shared.len(),
        "some table keeps a row group of its own: {want:?}"
    );
    let rec = Recording::open(&mixed).unwrap();
    assert_eq!(rec.tables.as_ref(), Some(&want));
    assert_eq!(
        rec.files[0].table_rows,
        Some(want.iter().map(|(k, t)| (k.clone(), t.rows)).collect())
    );
    for t in &shared {
        assert_eq!(rec.table_rows(t), Some(want[t].rows), "{t}");
    }
    // The same rows and spans as the file with a row group per table.
    let whole = Recording::open(&one).unwrap();
    let spans = |r: &Recording| -> BTreeMap<String, (u64, Option<i64>, Option<i64>)> {
        r.tables
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, t)| (k.clone(), (t.rows, t.first_ts, t.last_ts)))
            .collect()
    };
    assert_eq!(spans(&rec), spans(&whole));

    // The report's "tables" table and `memana info` say the same, and the
    // whole report is that of the file with a row group per table.
    let report = json(&["report", s(&mixed)]);
    let tables = header_tables(&report);
    for (k, t) in &want {
        let (rows, first, last) = &tables[k];
        assert_eq!(rows.as_u64(), Some(t.rows), "{k}");
        assert!(!first.is_null() && !last.is_null(), "{k}: {first} {last}");
    }
    let whole_report = json(&["report", s(&one)]);
    assert_eq!(tables, header_tables(&whole_report));
    if let Some(d) = first_difference(&report_content(report), &report_content(whole_report), "") {
        panic!("the report differs from the one-table-per-row-group file's at {d}");
    }
    let info = json(&["info", s(&mixed)]);
    assert_eq!(header_tables(&info), tables);
}
