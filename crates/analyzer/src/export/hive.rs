//! The hive layout: one Parquet dataset per table, partitioned by host and
//! date, which Spark, Trino and DuckDB read as tables.
//!
//! ```text
//! DIR/_memtrace.json                                   what wrote it (layout, schema version)
//! DIR/<table>/host=<host>/date=<YYYY-MM-DD>/<recording>.parquet
//! ```
//!
//! - A file holds one recording's rows of one table on one UTC date (of
//!   `time_ns`); a recording that spans midnight has one file per date.
//!   Rows without a wall-clock time (a file without clock anchors) go to
//!   `date=__HIVE_DEFAULT_PARTITION__`, which Spark and Hive read as null.
//! - Columns: the table's view ([`crate::views`]) without `time` (a
//!   timestamp's unit differs between engines; `time_ns` is the same instant
//!   as Int64 ns) and without `host` (the partition). zstd.
//! - Host values and file names are escaped as Hive escapes partition values
//!   (`/` is `%2F`); an empty host is `__HIVE_DEFAULT_PARTITION__`.
//! - Exporting a recording again replaces its files, and only its: a lake
//!   grows by adding recordings. Tables without rows write nothing.

use crate::filter::Filter;
use crate::fleet::Fleet;
use crate::recording::{one_line, ReadError, Recording};
use crate::views;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// The file at the layout's root that says what wrote it. Its name starts
/// with `_`, so Spark and Hive do not take it for data.
pub const MARKER: &str = "_memtrace.json";

/// The layout's version, in [`MARKER`]: changed when paths or column
/// conventions change.
pub const LAYOUT_VERSION: u32 = 1;

/// Hive's name for a null partition value.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The view columns a file leaves out: `host` is the partition, `time` is
/// `time_ns` as a timestamp.
pub const DROPPED: &[&str] = &["time", "host"];

const DAY_NS: i64 = 86_400_000_000_000;

/// Rows per row group of the files written.
const ROW_GROUP: usize = 512 * 1024;

/// Why the layout could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: cannot write: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a memtrace hive layout (it has files but no {MARKER}); give a new or empty directory")]
    NotALake { path: String },
    #[error("{path}: {what}")]
    Marker { path: String, what: String },
    #[error(
        "{path}: written for schema version {found}, this memana writes {ours}; export into a new directory"
    )]
    Version { path: String, found: u32, ours: u32 },
    #[error(
        "{a} and {b} are both recording `{id}` of host `{host}`: one would overwrite the other"
    )]
    SameRecording {
        a: String,
        b: String,
        host: String,
        id: String,
    },
    #[error("{path}: table {table}: {msg}")]
    Polars {
        path: String,
        table: String,
        msg: String,
    },
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What was written, for the command's one-line summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub recordings: u64,
    /// Distinct tables with a file.
    pub tables: u64,
    pub files: u64,
    pub rows: u64,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} recordings, {} tables, {} files, {} rows",
            self.recordings, self.tables, self.files, self.rows
        )
    }
}

/// What [`MARKER`] holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Always `memtrace hive layout`.
    pub format: String,
    pub layout_version: u32,
    /// The schema whose views the files hold.
    pub schema_version: u32,
    /// Partition columns, in path order.
    pub partitions: Vec<String>,
    /// A line for a person who finds the directory.
    pub about: String,
}

impl Marker {
    fn ours() -> Marker {
        Marker {
            format: "memtrace hive layout".into(),
            layout_version: LAYOUT_VERSION,
            schema_version: memtrace_schema::SCHEMA_VERSION,
            partitions: vec!["host".into(), "date".into()],
            about: "<table>/host=<host>/date=<YYYY-MM-DD>/<recording>.parquet, written by \
                    `memana export --hive`; times are integer ns: ts_ns (CLOCK_BOOTTIME), \
                    time_ns (Unix epoch)"
                .into(),
        }
    }
}

/// Escapes a partition value or file name as Hive does (`%XX` for control
/// characters and `"#%'*/:=?\{[]^`); a leading `.` or `_` too, which
/// Spark would take for a hidden file.
pub fn escape(value: &str) -> String {
    if value.is_empty() {
        return NULL_PARTITION.to_string();
    }
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let hidden = i == 0 && (c == '.' || c == '_');
        if hidden || c < ' ' || c == '\u{7f}' || "\"#%'*/:=?\\{[]^".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The `date=` value of a Unix-epoch day.
pub fn date_value(day: i64) -> String {
    chrono::DateTime::from_timestamp(day.saturating_mul(86_400), 0).map_or_else(
        || NULL_PARTITION.to_string(),
        |d| d.format("%Y-%m-%d").to_string(),
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Checks that `dir` is a layout of this schema, or new or empty (then
/// makes it one).
fn open_lake(dir: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let marker = dir.join(MARKER);
    let ours = Marker::ours();
    match std::fs::read_to_string(&marker) {
        Ok(text) => {
            let bad = |what: String| ExportError::Marker {
                path: marker.display().to_string(),
                what,
            };
            let m: Marker = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            if m.layout_version != LAYOUT_VERSION {
                return Err(bad(format!(
                    "layout version {}, this memana writes {LAYOUT_VERSION}",
                    m.layout_version
                )));
            }
            if m.schema_version != ours.schema_version {
                return Err(ExportError::Version {
                    path: dir.display().to_string(),
                    found: m.schema_version,
                    ours: ours.schema_version,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(ExportError::NotALake {
                    path: dir.display().to_string(),
                });
            }
            // Serialising plain strings and numbers cannot fail.
            let text = serde_json::to_string_pretty(&ours).unwrap_or_default() + "\n";
            std::fs::write(&marker, text).map_err(io(&marker))
        }
        Err(e) => Err(io(&marker)(e)),
    }
}

/// Writes every recording of the fleet under `dir` in the hive layout;
/// `filters[i]` is the filter of `fleet.recordings[i]`.
pub fn write(fleet: &Fleet, filters: &[Filter], dir: &Path) -> Result<Written, ExportError> {
    open_lake(dir)?;
    let mut written = Written::default();
    let mut tables: BTreeSet<&str> = BTreeSet::new();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    let none = Filter::default();
    for (i, rec) in fleet.recordings.iter().enumerate() {
        let key = (rec.host().to_string(), rec.id());
        if let Some(a) = seen.insert(key.clone(), rec.name.clone()) {
            return Err(ExportError::SameRecording {
                a,
                b: rec.name.clone(),
                host: key.0,
                id: key.1,
            });
        }
        let filter = filters.get(i).unwrap_or(&none);
        let w = write_recording(rec, filter, dir)?;
        tracing::debug!(recording = %rec.name, files = w.files.len(), rows = w.rows, "exported");
        written.recordings += 1;
        written.files += w.files.len() as u64;
        written.rows += w.rows;
        tables.extend(w.tables);
    }
    written.tables = tables.len() as u64;
    Ok(written)
}

/// What one recording wrote.
struct RecordingWritten {
    files: Vec<PathBuf>,
    tables: Vec<&'static str>,
    rows: u64,
}

/// Temporary files not yet renamed into place: removed if the export fails.
struct Pending(Vec<(PathBuf, PathBuf)>);

impl Drop for Pending {
    fn drop(&mut self) {
        for (tmp, _) in &self.0 {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Writes one recording's tables, then replaces the files an earlier
/// export of it left (a date it no longer has goes).
fn write_recording(
    rec: &Recording,
    filter: &Filter,
    dir: &Path,
) -> Result<RecordingWritten, ExportError> {
    let host = format!("host={}", escape(rec.host()));
    let file = format!("{}.parquet", escape(&rec.id()));
    let offset = rec.wall_offset_ns();
    let mut pending = Pending(Vec::new());
    let mut out = RecordingWritten {
        files: Vec::new(),
        tables: Vec::new(),
        rows: 0,
    };
    for table in views::view_names() {
        if !rec.may_have(table) {
            continue;
        }
        let lf = views::frame(rec, table, filter)?;
        let before = out.files.len();
        let polars = |e: PolarsError| ExportError::Polars {
            path: rec.name.clone(),
            table: table.to_string(),
            msg: one_line(&e.to_string()),
        };
        // Rows per UTC day (null: no wall clock), reading `ts_ns` only.
        let day = col("time_ns").floor_div(lit(DAY_NS)).alias("day");
        let days = lf
            .clone()
            .select([day])
            .group_by([col("day")])
            .agg([len().alias("rows")])
            .sort(["day"], Default::default())
            .collect()
            .map_err(polars)?;
        let day_col = days.column("day").and_then(|c| c.i64().cloned());
        let rows_col = days.column("rows").and_then(|c| c.cast(&DataType::UInt64));
        let (day_col, rows_col) = match (day_col, rows_col) {
            (Ok(d), Ok(r)) => (d, r),
            (Err(e), _) | (_, Err(e)) => return Err(polars(e)),
        };
        let rows_col = rows_col.u64().map_err(polars)?.clone();
        for (d, n) in day_col.iter().zip(rows_col.iter()) {
            let n = n.unwrap_or(0);
            if n == 0 {
                continue;
            }
            let (date, keep) = match (d, offset) {
                // On `ts_ns`, so that the scan skips row groups of other days.
                (Some(d), Some(off)) => (
                    date_value(d),
                    col("ts_ns")
                        .gt_eq(lit(d * DAY_NS - off))
                        .and(col("ts_ns").lt(lit((d + 1) * DAY_NS - off))),
                ),
                (Some(d), None) => (
                    date_value(d),
                    col("time_ns").floor_div(lit(DAY_NS)).eq(lit(d)),
                ),
                (None, _) => (NULL_PARTITION.to_string(), col("time_ns").is_null()),
            };
            let part = dir.join(table).join(&host).join(format!("date={date}"));
            std::fs::create_dir_all(&part).map_err(io(&part))?;
            let dst = part.join(&file);
            let tmp = part.join(format!(".{file}.tmp"));
            pending.0.push((tmp.clone(), dst.clone()));
            sink(lf.clone().filter(keep), &tmp).map_err(polars)?;
            out.files.push(dst);
            out.rows += n;
        }
        if out.files.len() > before {
            out.tables.push(table);
        }
    }
    // Every table written: the new files replace the old, and an earlier
    // export's files this one did not write go.
    let new: HashSet<&PathBuf> = out.files.iter().collect();
    let old = existing(dir, &host, &file)?;
    for (tmp, dst) in std::mem::take(&mut pending.0) {
        if let Err(e) = std::fs::rename(&tmp, &dst) {
            pending.0.push((tmp, dst.clone()));
            return Err(io(&dst)(e));
        }
    }
    for f in old.iter().filter(|f| !new.contains(f)) {
        std::fs::remove_file(f).map_err(io(f))?;
        // A date directory left empty goes too; one with files stays.
        if let Some(p) = f.parent() {
            let _ = std::fs::remove_dir(p);
        }
    }
    Ok(out)
}

/// Writes one file: the view without the dropped columns, streamed.
fn sink(lf: LazyFrame, path: &Path) -> PolarsResult<()> {
    let opts = ParquetWriteOptions {
        compression: ParquetCompression::Zstd(None),
        row_group_size: Some(ROW_GROUP),
        ..Default::default()
    };
    let target = SinkTarget::Path(PlRefPath::new(path.to_string_lossy().into_owned()));
    lf.drop(cols(DROPPED.iter().copied()))
        .sink(
            SinkDestination::File { target },
            FileWriteFormat::Parquet(Arc::new(opts)),
            UnifiedSinkArgs::default(),
        )?
        .collect()?;
    Ok(())
}

/// The files an earlier export wrote for this host's recording `file`.
fn existing(dir: &Path, host: &str, file: &str) -> Result<Vec<PathBuf>, ExportError> {
    let mut out = Vec::new();
    let tables = match std::fs::read_dir(dir) {
        Ok(t) => t,
        Err(e) => return Err(io(dir)(e)),
    };
    for t in tables.flatten() {
        let hdir = t.path().join(host);
        let Ok(dates) = std::fs::read_dir(&hdir) else {
            continue;
        };
        for d in dates.flatten() {
            let f = d.path().join(file);
            if f.is_file() {
                out.push(f);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_hive_does() {
        assert_eq!(escape("web-01.example.com"), "web-01.example.com");
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(escape("x=y:z%"), "x%3Dy%3Az%25");
        assert_eq!(escape(""), NULL_PARTITION);
        assert_eq!(escape(".."), "%2E.");
        assert_eq!(escape("_tmp"), "%5Ftmp");
        assert_eq!(escape("tab\there"), "tab%09here");
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date_value(0), "1970-01-01");
        assert_eq!(date_value(20_788), "2026-12-01");
        assert_eq!(date_value(-1), "1969-12-31");
    }
}
