//! Each table of a recording as a view with plain column names.
//!
//! One definition, from the schema crate, for `memana sql`, the hive export
//! and the shipped SQL (sql/): a view is named as its table (`procstat`,
//! `oom_victim`) and has, in this order:
//! - `ts_ns`: the event's time as recorded (CLOCK_BOOTTIME ns);
//! - `time_ns`: the same instant as Unix-epoch ns (ts_ns + the recording's
//!   wall offset from its first clock anchor; null without an anchor);
//! - `time`: `time_ns` as a timestamp (ns, UTC);
//! - `host`, `recording`: which host and which recording the row is from;
//! - the common columns but `kind` (`cpu`, `pid`, `tgid`, `comm`,
//!   `cgroup_id`): `kind` is the view's own name, so it is left out;
//! - the table's own columns, without the `<table>.` prefix.
//!
//! Name clashes: a table's own column keeps its plain name when it is
//! named as the common `kind` (kernel_alloc's and kernel_free's `kind` is the
//! allocator), since `kind` is not in views. A table column named as one
//! of the other columns above is `<table>_<column>` in its view; no table
//! has one today, and a test keeps the common columns apart from tables'.

use crate::filter::Filter;
use crate::recording::{ReadError, Recording};
use memtrace_schema::{file_column_name, table, Column, ColumnType, Unit, COMMON, KIND_COLUMN};
use polars::prelude::*;

/// The columns a view adds before the common ones.
pub const ADDED: &[&str] = &["ts_ns", "time_ns", "time", "host", "recording"];

/// Where a view's column comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `ts_ns`, as recorded.
    TsNs,
    /// `ts_ns` plus the recording's wall offset (Unix-epoch ns).
    TimeNs,
    /// `time_ns` as a timestamp.
    Time,
    /// The recording's host name.
    Host,
    /// The recording's id.
    Recording,
    /// A common column (same name in the file).
    Common(&'static Column),
    /// A column of the table: `<table>.<name>` in the file.
    Own(&'static Column),
}

/// A view column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    /// A column of the file, of its schema type.
    Schema(ColumnType),
    /// A timestamp in nanoseconds, UTC.
    Timestamp,
}

/// One column of a view.
#[derive(Debug, Clone)]
pub struct ViewColumn {
    /// Its plain name in the view.
    pub name: String,
    pub source: Source,
    pub ty: ViewType,
    pub unit: Unit,
    /// May it be null.
    pub nullable: bool,
    pub doc: &'static str,
}

impl ViewColumn {
    /// Its name in the recording file, for columns read from it.
    pub fn file_name(&self, table: &str) -> Option<String> {
        match self.source {
            Source::TsNs => Some("ts_ns".into()),
            Source::Common(c) => Some(c.name.into()),
            Source::Own(c) => Some(file_column_name(table, c.name)),
            _ => None,
        }
    }
}

/// Every view's name: the tables', in file order.
pub fn view_names() -> Vec<&'static str> {
    memtrace_schema::tables().iter().map(|t| t.name).collect()
}

const TS_DOC: &str = "When the event happened: CLOCK_BOOTTIME in nanoseconds, as recorded.";
const TIME_NS_DOC: &str = "The same instant as Unix-epoch nanoseconds: ts_ns plus the \
     recording's wall-clock offset from its first clock anchor; null without an anchor.";
const TIME_DOC: &str = "time_ns as a timestamp (nanoseconds, UTC).";
const HOST_DOC: &str = "The host that recorded it (`hostname` in the file metadata).";
const RECORDING_DOC: &str = "The recording's id (the one memrec gave its segments), else its \
     file's name without `.parquet`.";

/// A view's columns, in order; None for an unknown table.
pub fn columns(table_name: &str) -> Option<Vec<ViewColumn>> {
    let t = table(table_name)?;
    let ts = COMMON.iter().find(|c| c.name == "ts_ns")?;
    let added = |name: &str, source, ty, unit, nullable, doc| ViewColumn {
        name: name.into(),
        source,
        ty,
        unit,
        nullable,
        doc,
    };
    let mut out = vec![
        added(
            "ts_ns",
            Source::TsNs,
            ViewType::Schema(ts.ty),
            ts.unit,
            false,
            TS_DOC,
        ),
        added(
            "time_ns",
            Source::TimeNs,
            ViewType::Schema(ColumnType::I64),
            Unit::Nanoseconds,
            true,
            TIME_NS_DOC,
        ),
        added(
            "time",
            Source::Time,
            ViewType::Timestamp,
            Unit::None,
            true,
            TIME_DOC,
        ),
        added(
            "host",
            Source::Host,
            ViewType::Schema(ColumnType::Text),
            Unit::None,
            false,
            HOST_DOC,
        ),
        added(
            "recording",
            Source::Recording,
            ViewType::Schema(ColumnType::Text),
            Unit::None,
            false,
            RECORDING_DOC,
        ),
    ];
    for c in COMMON {
        if c.name == KIND_COLUMN || c.name == "ts_ns" {
            continue;
        }
        out.push(ViewColumn {
            name: c.name.into(),
            source: Source::Common(c),
            ty: ViewType::Schema(c.ty),
            unit: c.unit,
            nullable: c.nullable,
            doc: c.doc,
        });
    }
    let taken: Vec<String> = out.iter().map(|c| c.name.clone()).collect();
    for c in t.columns {
        let name = if taken.iter().any(|n| n == c.name) {
            format!("{}_{}", t.name, c.name)
        } else {
            c.name.to_string()
        };
        out.push(ViewColumn {
            name,
            source: Source::Own(c),
            ty: ViewType::Schema(c.ty),
            unit: c.unit,
            nullable: c.nullable,
            doc: c.doc,
        });
    }
    Some(out)
}

/// The polars type a view column has.
pub fn dtype(ty: ViewType) -> DataType {
    match ty {
        ViewType::Timestamp => DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
        ViewType::Schema(t) => match t {
            ColumnType::U32 => DataType::UInt32,
            ColumnType::U64 => DataType::UInt64,
            ColumnType::I32 => DataType::Int32,
            ColumnType::I64 => DataType::Int64,
            ColumnType::F64 => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Text => DataType::String,
        },
    }
}

/// A table's rows of one recording as its view: in the filter's window
/// (and task, where the table has one), with plain names, `time_ns`,
/// `time`, `host` and `recording`. Lazy: nothing is read until collected.
/// A column the file lacks (written by an older memrec) is null.
pub fn frame(rec: &Recording, table_name: &str, filter: &Filter) -> Result<LazyFrame, ReadError> {
    let cols = columns(table_name)
        .ok_or_else(|| ReadError::Unknown(table_name.to_string(), rec.name.clone()))?;
    // What the file has, by the names Recording::scan takes (a table's
    // own column, else a common one); the rest become typed nulls.
    let mut read: Vec<&str> = Vec::new();
    for c in &cols {
        match c.source {
            Source::TsNs => read.push("ts_ns"),
            Source::Common(k) => read.push(k.name),
            Source::Own(k)
                if k.nullable || rec.columns.contains(&file_column_name(table_name, k.name)) =>
            {
                read.push(k.name)
            }
            _ => {}
        }
    }
    let lf = rec.scan(table_name, filter, &read)?;
    let time_ns = match rec.wall_offset_ns() {
        Some(off) => col("ts_ns") + lit(off),
        None => lit(NULL).cast(DataType::Int64),
    };
    let mut select: Vec<Expr> = Vec::with_capacity(cols.len());
    for c in &cols {
        let e = match c.source {
            Source::TsNs => col("ts_ns"),
            Source::TimeNs => time_ns.clone(),
            Source::Time => time_ns.clone().cast(dtype(c.ty)),
            Source::Host => lit(rec.host().to_string()),
            Source::Recording => lit(rec.id()),
            Source::Common(k) => col(k.name),
            Source::Own(k) if read.contains(&k.name) => col(k.name),
            Source::Own(_) => lit(NULL).cast(dtype(c.ty)),
        };
        select.push(e.alias(c.name.as_str()));
    }
    Ok(lf.select(select))
}

/// A table's view over several recordings: each one's [`frame`], one
/// after the other (host and recording tell them apart). `filters` has
/// one filter per recording.
pub fn fleet_frame(
    recs: &[&Recording],
    table_name: &str,
    filters: &[Filter],
) -> Result<LazyFrame, ReadError> {
    let mut frames = Vec::with_capacity(recs.len());
    for (rec, f) in recs.iter().zip(filters) {
        frames.push(frame(rec, table_name, f)?);
    }
    let name = recs.first().map(|r| r.name.clone()).unwrap_or_default();
    if frames.len() == 1 {
        if let Some(f) = frames.pop() {
            return Ok(f);
        }
    }
    let args = UnionArgs {
        rechunk: false,
        to_supertypes: true,
        diagonal: true,
        ..Default::default()
    };
    concat(frames, args).map_err(|e| ReadError::Polars {
        path: name,
        table: table_name.to_string(),
        msg: crate::recording::one_line(&e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_a_view_with_unique_plain_names() {
        assert_eq!(view_names().len(), memtrace_schema::tables().len());
        for name in view_names() {
            let cols = columns(name).expect("a view per table");
            let mut seen = std::collections::HashSet::new();
            for c in &cols {
                assert!(seen.insert(c.name.clone()), "{name}: {} twice", c.name);
                assert!(!c.name.contains('.'), "{name}: {}", c.name);
            }
            let t = table(name).expect("table");
            assert_eq!(cols.len(), ADDED.len() + COMMON.len() - 2 + t.columns.len());
        }
    }

    #[test]
    fn only_kind_is_shared_with_the_common_columns() {
        // The rule the module's doc states: `kind` is left out of views, so a
        // table's `kind` keeps its name; any other shared name would be
        // renamed, which a user would not expect, so none is allowed.
        for t in memtrace_schema::tables() {
            for c in t.columns {
                let common = COMMON.iter().any(|k| k.name == c.name) && c.name != KIND_COLUMN;
                let added = ADDED.contains(&c.name);
                assert!(!common && !added, "{}.{} clashes", t.name, c.name);
            }
        }
        let cols = columns("kernel_alloc").expect("kernel_alloc");
        assert!(cols
            .iter()
            .any(|c| c.name == "kind" && matches!(c.source, Source::Own(_))));
    }

    #[test]
    fn views_start_with_time_host_and_recording() {
        let cols = columns("procstat").expect("procstat");
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).take(11).collect();
        assert_eq!(
            names,
            [
                "ts_ns",
                "time_ns",
                "time",
                "host",
                "recording",
                "cpu",
                "pid",
                "tgid",
                "comm",
                "cgroup_id",
                "reason"
            ]
        );
        assert!(columns("no_such_table").is_none());
    }
}
