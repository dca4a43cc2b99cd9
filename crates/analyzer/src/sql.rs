//! `memana sql`: SQL over the views of one or many recordings (polars SQL),
//! and the same views as SQL for DuckDB, Spark and Trino (the files under
//! sql/ are these texts, checked by a test).

use crate::filter::Filter;
use crate::recording::{one_line, ReadError, Recording};
use crate::views::{self, Source, ViewColumn, ViewType};
use memtrace_schema::ColumnType;
use polars::prelude::*;
use polars::sql::SQLContext;
use std::fmt::Write;

/// Why a query gave no result. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("unknown table `{name}`: the views are {}", views::view_names().join(", "))]
    UnknownTable { name: String },
    #[error("bad SQL: {0}")]
    Query(String),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// `memana sql`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// A table, each column as wide as its widest cell.
    Text,
    Csv,
    /// An array of objects, one per row.
    Json,
    Markdown,
}

/// The engines the shipped views are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// Over the recordings themselves (sql/duckdb/views.sql).
    Duckdb,
    /// Over `memana export --hive` (sql/spark/views.sql).
    Spark,
    /// Over `memana export --hive` (sql/trino/views.sql).
    Trino,
}

impl Dialect {
    /// Its file under sql/ at the repository's root.
    pub fn path(self) -> &'static str {
        match self {
            Dialect::Duckdb => "sql/duckdb/views.sql",
            Dialect::Spark => "sql/spark/views.sql",
            Dialect::Trino => "sql/trino/views.sql",
        }
    }
}

/// The views a query reads: the tables it names that are views (a CTE's
/// name or an unknown table is not), so the others are never planned (a
/// fleet has a frame per recording and view).
fn named_views(query: &str) -> Result<Vec<&'static str>, SqlError> {
    let names = polars::sql::extract_table_identifiers(query, false, true).map_err(query_error)?;
    Ok(views::view_names()
        .into_iter()
        .filter(|v| names.iter().any(|n| n == v))
        .collect())
}

/// Runs `query` over the recordings' views (each recording with its
/// filter); every view the query names is registered, lazily, so only
/// the tables it reads are read.
pub fn run(recs: &[&Recording], filters: &[Filter], query: &str) -> Result<DataFrame, SqlError> {
    let mut ctx = SQLContext::new();
    for v in named_views(query)? {
        ctx.register(v, views::fleet_frame(recs, v, filters)?);
    }
    let lf = ctx.execute(query).map_err(query_error)?;
    lf.collect().map_err(query_error)
}

/// A polars error as ours: an unknown relation names the views.
fn query_error(e: PolarsError) -> SqlError {
    let msg = one_line(&e.to_string());
    // polars-sql's words for a table it does not have.
    if let Some(rest) = msg.split("relation '").nth(1) {
        if let Some((name, tail)) = rest.split_once('\'') {
            if tail.contains("not found") {
                return SqlError::UnknownTable {
                    name: name.to_string(),
                };
            }
        }
    }
    SqlError::Query(msg)
}

/// One cell as text: nulls empty, text unquoted.
fn cell(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// One cell as JSON: numbers exact, timestamps as text.
fn json_cell(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(*b),
        AnyValue::UInt8(x) => J::from(*x),
        AnyValue::UInt16(x) => J::from(*x),
        AnyValue::UInt32(x) => J::from(*x),
        AnyValue::UInt64(x) => J::from(*x),
        AnyValue::Int8(x) => J::from(*x),
        AnyValue::Int16(x) => J::from(*x),
        AnyValue::Int32(x) => J::from(*x),
        AnyValue::Int64(x) => J::from(*x),
        AnyValue::Float32(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(J::Null, J::Number)
        }
        AnyValue::Float64(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        other => J::String(cell(other)),
    }
}

/// Rows of cells, column by column.
fn cells(df: &DataFrame, f: impl Fn(&AnyValue) -> String) -> Vec<Vec<String>> {
    let cols = df.columns();
    (0..df.height())
        .map(|i| {
            cols.iter()
                .map(|c| c.get(i).map_or_else(|_| String::new(), |v| f(&v)))
                .collect()
        })
        .collect()
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_primitive_numeric()
}

/// The result in a format.
pub fn render(df: &DataFrame, format: SqlFormat) -> String {
    let heads: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    match format {
        SqlFormat::Text => {
            let clean = |v: &AnyValue| crate::render::clean(&cell(v));
            let mut g = comfy_table::Table::new();
            // Columns at their natural width, as psql prints them: a query
            // may select dozens, and squeezing them into the terminal would
            // wrap every name and number.
            g.load_preset(crate::render::text::STYLE)
                .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
                .set_header(heads.iter().map(|h| crate::render::clean(h)));
            for r in cells(df, clean) {
                g.add_row(r);
            }
            for (k, c) in df.columns().iter().enumerate() {
                if let (true, Some(col)) = (is_numeric(c.dtype()), g.column_mut(k)) {
                    col.set_cell_alignment(comfy_table::CellAlignment::Right);
                }
            }
            let mut s: String = g
                .lines()
                .map(|l| l.trim_end().to_string())
                .collect::<Vec<_>>()
                .join("\n");
            let _ = writeln!(
                s,
                "\n({} row{})",
                df.height(),
                if df.height() == 1 { "" } else { "s" }
            );
            s
        }
        SqlFormat::Csv => {
            let mut s = heads
                .iter()
                .map(|h| crate::render::csv::field(h))
                .collect::<Vec<_>>()
                .join(",");
            s.push('\n');
            for r in cells(df, |v| crate::render::csv::field(&cell(v))) {
                s.push_str(&r.join(","));
                s.push('\n');
            }
            s
        }
        SqlFormat::Json => {
            let cols = df.columns();
            let rows: Vec<serde_json::Value> = (0..df.height())
                .map(|i| {
                    let mut o = serde_json::Map::new();
                    for (h, c) in heads.iter().zip(cols) {
                        let v = c.get(i).map_or(serde_json::Value::Null, |v| json_cell(&v));
                        o.insert(h.clone(), v);
                    }
                    serde_json::Value::Object(o)
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into());
            s.push('\n');
            s
        }
        SqlFormat::Markdown => {
            let md = |v: &str| crate::render::markdown::cell(v);
            let mut s = format!(
                "| {} |\n|{}|\n",
                heads.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | "),
                df.columns()
                    .iter()
                    .map(|c| if is_numeric(c.dtype()) { "---:" } else { "---" })
                    .collect::<Vec<_>>()
                    .join("|")
            );
            for r in cells(df, |v| md(&cell(v))) {
                let _ = writeln!(s, "| {} |", r.join(" | "));
            }
            s
        }
    }
}

/// A view column's type as SQL engines name it.
fn type_name(ty: ViewType) -> &'static str {
    match ty {
        ViewType::Timestamp => "TIMESTAMP",
        ViewType::Schema(t) => match t {
            ColumnType::U32 => "UINTEGER",
            ColumnType::U64 => "UBIGINT",
            ColumnType::I32 => "INTEGER",
            ColumnType::I64 => "BIGINT",
            ColumnType::F64 => "DOUBLE",
            ColumnType::Bool => "BOOLEAN",
            ColumnType::Text => "VARCHAR",
        },
    }
}

/// The first sentence of a column's documentation, on one line.
fn first_sentence(doc: &str) -> String {
    let flat = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_string(),
        None => flat,
    }
}

/// Every view and its columns, for `memana sql --list`.
pub fn listing() -> String {
    let mut s = String::new();
    for v in views::view_names() {
        let _ = writeln!(s, "{v}");
        for c in views::columns(v).unwrap_or_default() {
            let unit = c.unit.name();
            let _ = writeln!(
                s,
                "  {:<24} {:<9} {}",
                c.name,
                type_name(c.ty),
                if unit.is_empty() {
                    String::new()
                } else {
                    format!("({unit})")
                }
            );
        }
    }
    s
}

/// The views' columns as Markdown (docs/SQL.md's generated part).
pub fn columns_markdown() -> String {
    let mut s = String::new();
    for v in views::view_names() {
        let cols = views::columns(v).unwrap_or_default();
        let own: Vec<&ViewColumn> = cols
            .iter()
            .filter(|c| matches!(c.source, Source::Own(_)))
            .collect();
        let _ = writeln!(s, "### `{v}`\n");
        let _ = writeln!(s, "| column | type | unit | meaning |");
        let _ = writeln!(s, "|---|---|---|---|");
        for c in own {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                c.name,
                type_name(c.ty),
                c.unit.name(),
                first_sentence(c.doc).replace('|', "\\|")
            );
        }
        s.push('\n');
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

/// A column name quoted for SQL.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The shipped views for an engine: the text of [`Dialect::path`].
pub fn shipped(d: Dialect) -> String {
    match d {
        Dialect::Duckdb => duckdb_views(),
        Dialect::Spark => spark_views(),
        Dialect::Trino => trino_views(),
    }
}

const GENERATED: &str = "-- Generated from memana's view definitions (`memana schema --sql {d}`); \
     do not edit:\n-- a test fails when this file differs from what memana prints.\n";

fn duckdb_views() -> String {
    let mut s = String::from(
        "-- memtrace views for DuckDB, over recordings (the Parquet files memrec writes).\n",
    );
    s.push_str(&GENERATED.replace("{d}", "duckdb"));
    s.push_str(
        "--
-- Each table of a recording is a view named as the table (procstat, oom_victim, ...)
-- with plain column names: ts_ns (CLOCK_BOOTTIME ns, as recorded), time_ns
-- (Unix-epoch ns), time (TIMESTAMP_NS, UTC), host, recording, the common columns
-- (cpu, pid, tgid, comm, cgroup_id) and the table's own columns without their
-- `<table>.` prefix. docs/SQL.md describes them.
--
-- Usage: name the files in the variable memtrace_files, then read this file:
--   SET VARIABLE memtrace_files = ['run.parquet'];
--   SET VARIABLE memtrace_files = (SELECT list(file) FROM glob('fleet/**/*.parquet'));
--   .read sql/duckdb/views.sql
--   SELECT comm, max(rss_anon) FROM procstat GROUP BY comm;
-- From a shell:
--   duckdb -c \"SET VARIABLE memtrace_files = ['run.parquet']\" -c '.read sql/duckdb/views.sql' \\
--          -c 'SELECT host, recording, count(*) FROM reclaim_end GROUP BY ALL'
-- (Python: con.execute(\"SET VARIABLE ...\"); con.execute(open('sql/duckdb/views.sql').read()).)
-- Needs DuckDB 1.2 or later (variables, make_timestamp_ns).
--
-- Host, recording id and the wall-clock offset come from each file's footer
-- (`memtrace.meta`, JSON): hostname; segment.recording_id, else the file's name
-- without its extension; the first clock anchor (realtime_ns - boottime_ns) of the
-- recording's first segment, as memana places times. A column the files lack
-- (a probe group not recorded, an older memrec) reads as null, as in memana sql.

-- No rows: every column of the schema, typed, so the views bind whichever
-- columns the files have.
CREATE OR REPLACE VIEW memtrace_columns AS
SELECT
{columns}
WHERE false;

-- One row per file: its host, recording and segment.
CREATE OR REPLACE VIEW memtrace_files AS
SELECT
    file_name AS filename,
    json_extract_string(meta, '$.hostname') AS host,
    coalesce(
        json_extract_string(meta, '$.segment.recording_id'),
        regexp_replace(parse_filename(file_name), '\\.[^.]*$', '')
    ) AS recording,
    CAST(json_extract(meta, '$.segment.first') AS UBIGINT) AS segment_first,
    CAST(json_extract(meta, '$.clock_anchors[0].realtime_ns') AS BIGINT)
        - CAST(json_extract(meta, '$.clock_anchors[0].boottime_ns') AS BIGINT) AS file_wall_offset_ns
FROM (
    SELECT file_name, decode(value) AS meta
    FROM parquet_kv_metadata(getvariable('memtrace_files'))
    WHERE decode(key) = 'memtrace.meta'
);

-- One row per file, with its recording's wall offset (its first segment's).
CREATE OR REPLACE VIEW memtrace_recordings AS
SELECT f.*, r.wall_offset_ns
FROM memtrace_files f
JOIN (
    SELECT host, recording,
           arg_min(file_wall_offset_ns, coalesce(segment_first, 0)) AS wall_offset_ns
    FROM memtrace_files GROUP BY host, recording
) r USING (host, recording);

-- Every row of every file, with the file's name; a column the files lack
-- (a probe group not recorded, an older memrec) is null, as in memana.
CREATE OR REPLACE VIEW memtrace_rows AS
SELECT * FROM read_parquet(getvariable('memtrace_files'), filename = true, union_by_name = true)
UNION ALL BY NAME
SELECT * FROM memtrace_columns;
",
    );
    let mut all: Vec<String> = vec!["    NULL::VARCHAR AS filename".into()];
    all.extend(memtrace_schema::COMMON.iter().map(|c| {
        format!(
            "    NULL::{} AS {}",
            type_name(ViewType::Schema(c.ty)),
            q(c.name)
        )
    }));
    for t in memtrace_schema::tables() {
        all.extend(t.columns.iter().map(|c| {
            format!(
                "    NULL::{} AS {}",
                type_name(ViewType::Schema(c.ty)),
                q(&memtrace_schema::file_column_name(t.name, c.name))
            )
        }));
    }
    s = s.replace("{columns}", &all.join(",\n"));
    for v in views::view_names() {
        let cols = views::columns(v).unwrap_or_default();
        let _ = writeln!(s, "\nCREATE OR REPLACE VIEW {v} AS\nSELECT");
        let exprs: Vec<String> = cols
            .iter()
            .map(|c| {
                let e = match c.source {
                    Source::TsNs => "r.ts_ns".to_string(),
                    Source::TimeNs => "r.ts_ns + f.wall_offset_ns".to_string(),
                    Source::Time => "make_timestamp_ns(r.ts_ns + f.wall_offset_ns)".to_string(),
                    Source::Host => "f.host".to_string(),
                    Source::Recording => "f.recording".to_string(),
                    Source::Common(_) | Source::Own(_) => {
                        format!("r.{}", q(&c.file_name(v).unwrap_or_default()))
                    }
                };
                format!("    {e} AS {}", q(&c.name))
            })
            .collect();
        s.push_str(&exprs.join(",\n"));
        let _ = writeln!(
            s,
            "\nFROM memtrace_rows r JOIN memtrace_recordings f USING (filename)\nWHERE r.kind = '{v}';"
        );
    }
    s
}

/// The columns of the hive layout's files: the views' but those the
/// exporter leaves out (`time`, a timestamp the engine makes from
/// `time_ns`, and `host`, a partition).
pub fn hive_columns(table: &str) -> Vec<ViewColumn> {
    views::columns(table)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !crate::export::hive::DROPPED.contains(&c.name.as_str()))
        .collect()
}

const HIVE_LAYOUT: &str = "-- The layout (memana export --hive LAKE): LAKE/<table>/host=<host>/date=<YYYY-MM-DD>/<recording>.parquet,
-- one dataset per table; the files have the views' columns but `time` and `host`
-- (host and date are partitions), times as integer nanoseconds (ts_ns, time_ns).
-- A table with no rows in any recording has no directory: skip its statements.
";

fn spark_views() -> String {
    let mut s = String::from("-- memtrace views for Spark SQL, over the hive layout.\n");
    s.push_str(&GENERATED.replace("{d}", "spark"));
    s.push_str("--\n");
    s.push_str(HIVE_LAYOUT);
    s.push_str(
        "--
-- Usage: set the lake's path on the session (Spark substitutes ${memtrace_lake}),
-- then run the file's statements:
--   spark-sql --conf spark.sql.sources.partitionColumnTypeInference.enabled=false
--   spark-sql> SET memtrace_lake=/data/lake;
--   spark-sql> SOURCE sql/spark/views.sql;
--   (pyspark: spark.conf.set('memtrace_lake', '/data/lake'), then each statement
--   of this file through spark.sql.)
-- Turning partition type inference off keeps host a string (a host named 1234
-- would read as a number) and date a 'YYYY-MM-DD' string.
-- Unsigned 64-bit columns read as DECIMAL(20,0).
",
    );
    for v in views::view_names() {
        let cols = views::columns(v).unwrap_or_default();
        let exprs: Vec<String> = cols
            .iter()
            .map(|c| match c.source {
                Source::Time => format!("    timestamp_micros(time_ns DIV 1000) AS `{}`", c.name),
                _ => format!("    `{}`", c.name),
            })
            .collect();
        let _ = writeln!(
            s,
            "\nCREATE OR REPLACE TEMPORARY VIEW {v} AS\nSELECT\n{}\nFROM parquet.`${{memtrace_lake}}/{v}`;",
            exprs.join(",\n")
        );
    }
    s
}

/// A hive file column's Trino type (as its Parquet type reads).
fn trino_type(ty: ViewType) -> &'static str {
    match ty {
        ViewType::Timestamp => "TIMESTAMP(9) WITH TIME ZONE",
        ViewType::Schema(t) => match t {
            ColumnType::U32 | ColumnType::I64 | ColumnType::U64 => "BIGINT",
            ColumnType::I32 => "INTEGER",
            ColumnType::F64 => "DOUBLE",
            ColumnType::Bool => "BOOLEAN",
            ColumnType::Text => "VARCHAR",
        },
    }
}

fn trino_views() -> String {
    let mut s =
        String::from("-- memtrace views for Trino (Hive connector), over the hive layout.\n");
    s.push_str(&GENERATED.replace("{d}", "trino"));
    s.push_str("--\n");
    s.push_str(HIVE_LAYOUT);
    s.push_str(
        "--
-- Usage: replace ${LAKE} with the lake's URI (s3://bucket/lake, hdfs://..., or a
-- local path the Hive connector can read), and `hive` with your Hive catalog:
--   sed \"s|\\${LAKE}|s3://bucket/lake|g\" sql/trino/views.sql | trino --catalog hive
-- Each table is an external table <table>_files in schema hive.memtrace,
-- partitioned by host and date (sync_partition_metadata finds the partitions; run
-- it again after exporting more), and a view <table> that adds `time`.
-- Unsigned 64-bit columns are BIGINT: a value above 2^63 (a kernel address)
-- reads as a negative number.

CREATE SCHEMA IF NOT EXISTS hive.memtrace;
",
    );
    for v in views::view_names() {
        let cols = hive_columns(v);
        let mut defs: Vec<String> = cols
            .iter()
            .map(|c| format!("    {} {}", q(&c.name), trino_type(c.ty)))
            .collect();
        defs.push("    \"host\" VARCHAR".into());
        defs.push("    \"date\" VARCHAR".into());
        let _ = writeln!(
            s,
            "\nCREATE TABLE IF NOT EXISTS hive.memtrace.{v}_files (\n{}\n)\nWITH (\n    format = 'PARQUET',\n    external_location = '${{LAKE}}/{v}',\n    partitioned_by = ARRAY['host', 'date']\n);",
            defs.join(",\n")
        );
        let _ = writeln!(
            s,
            "CALL hive.system.sync_partition_metadata('memtrace', '{v}_files', 'FULL');"
        );
        let exprs: Vec<String> = views::columns(v)
            .unwrap_or_default()
            .iter()
            .map(|c| match c.source {
                Source::Time => format!("    from_unixtime_nanos(time_ns) AS {}", q(&c.name)),
                _ => format!("    {}", q(&c.name)),
            })
            .collect();
        let _ = writeln!(
            s,
            "CREATE OR REPLACE VIEW hive.memtrace.{v} AS\nSELECT\n{}\nFROM hive.memtrace.{v}_files;",
            exprs.join(",\n")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sql_is_current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        for d in [Dialect::Duckdb, Dialect::Spark, Dialect::Trino] {
            let path = format!("{root}/{}", d.path());
            let want = shipped(d);
            if std::env::var_os("MEMTRACE_BLESS").is_some() {
                if let Some(dir) = std::path::Path::new(&path).parent() {
                    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{path}: {e}"));
                }
                std::fs::write(&path, &want).unwrap_or_else(|e| panic!("write {path}: {e}"));
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is stale: run `MEMTRACE_BLESS=1 cargo test --release -p memtrace-analyzer --lib sql::`",
                d.path()
            );
        }
    }

    #[test]
    fn docs_sql_md_is_current() {
        const MARK: &str = "<!-- generated below: do not edit -->\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SQL.md");
        let have = std::fs::read_to_string(path).unwrap_or_default();
        let head = have.split_once(MARK).map_or(have.as_str(), |(h, _)| h);
        let want = format!("{head}{MARK}\n{}", columns_markdown());
        if std::env::var_os("MEMTRACE_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/SQL.md's columns are stale: run `MEMTRACE_BLESS=1 cargo test --release -p memtrace-analyzer --lib sql::`"
        );
    }

    #[test]
    fn the_hive_files_leave_out_what_the_engines_add() {
        // What Spark's and Trino's views add: `time` from time_ns, `host`
        // from the partition path.
        for v in views::view_names() {
            let names: Vec<String> = hive_columns(v).into_iter().map(|c| c.name).collect();
            assert!(names.iter().any(|n| n == "time_ns") && names.iter().any(|n| n == "ts_ns"));
            assert!(!names.iter().any(|n| n == "time" || n == "host"), "{v}");
            assert_eq!(names.len() + 2, views::columns(v).map_or(0, |c| c.len()));
        }
    }

    #[test]
    fn a_query_registers_the_views_it_names() {
        let q = "WITH k AS (SELECT * FROM oom_victim) \
                 SELECT comm FROM procstat p JOIN k ON p.pid = k.victim_pid";
        assert_eq!(named_views(q).expect("parses"), ["procstat", "oom_victim"]);
        assert!(named_views("SELECT 1").expect("parses").is_empty());
        assert!(matches!(named_views("SELEC 1"), Err(SqlError::Query(_))));
    }

    #[test]
    fn an_unknown_relation_names_the_views() {
        let e = query_error(polars_err!(SQLInterface: "relation 'procstats' was not found"));
        let msg = e.to_string();
        assert!(
            msg.starts_with("unknown table `procstats`: the views are procstat, "),
            "{msg}"
        );
    }
}
