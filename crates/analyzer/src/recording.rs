//! Opening a recording: checks, metadata, and one lazy query per table.

use crate::checks::{self, CensusError, Offence};
use crate::filter::Filter;
use crate::footer_census::FooterCensus;
use memtrace_schema::integrity::{self, IntegrityError, Verified};
use memtrace_schema::{
    file_column_name, table, ColumnType, CombineError, FileMeta, GroupStatus, MetaError,
    SegmentMeta, COMMON, KIND_COLUMN,
};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::statistics::Statistics;
use polars::prelude::*;
use serde::de::IntoDeserializer;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The warning a file without checksums gets.
pub const UNCHECKED_WARNING: &str = "the file carries no checksums (written by an older memrec, \
     or by another tool): damage to its data cannot be detected";

/// Why a file cannot be used. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: cannot open: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a regular file")]
    NotFile { path: String },
    #[error("{path}: empty file (0 bytes)")]
    ZeroBytes { path: String },
    #[error("{path}: not a Parquet file (no PAR1 magic at the start)")]
    NotParquet { path: String },
    #[error(
        "{path}: truncated Parquet file (no footer at the end; was the recording interrupted?)"
    )]
    Truncated { path: String },
    #[error("{path}: corrupt Parquet footer: {msg}")]
    Corrupt { path: String, msg: String },
    #[error("{path}: not a memtrace recording: {msg}")]
    NotMemtrace { path: String, msg: String },
    #[error("{path}: {source}")]
    Meta { path: String, source: MetaError },
    #[error("{path}: empty recording: the file has no rows (see `memana info {path}` for why)")]
    Empty { path: String },
    #[error("{path}: damaged: {source}")]
    Integrity {
        path: String,
        source: IntegrityError,
    },
    #[error("{path}: {what}")]
    Invalid { path: String, what: Box<Offence> },
    #[error("{a} and {b} are not one recording: {why}")]
    NotOneRecording { a: String, b: String, why: String },
    #[error("{a} and {b} both hold segment {segment} of recording {id}")]
    DuplicateSegment {
        a: String,
        b: String,
        segment: u64,
        id: String,
    },
    #[error("{b}: its columns or schema version differ from {a}'s (written by another memrec?)")]
    Schema { a: String, b: String },
    #[error("{path}: {source}")]
    Combine { path: String, source: CombineError },
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Errors reading rows once the file is open.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: has no column `{column}` (recorded by an older or different memrec?)")]
    MissingColumn { path: String, column: String },
    #[error("{path}: unknown table or column `{0}` requested (bug)", path = .1)]
    Unknown(String, String),
    #[error("{path}: cannot read table `{table}`: {msg}")]
    Polars {
        path: String,
        table: String,
        msg: String,
    },
}

/// Rows and time span of one table, from the row-group statistics (and
/// the `kind` and `ts_ns` columns of a row group several tables share).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableStats {
    pub rows: u64,
    pub row_groups: usize,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

/// Whether a probe group's data is in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupState {
    Recorded,
    NotRecorded(String),
}

/// One file of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub path: PathBuf,
    /// The path for messages.
    pub name: String,
    /// The segments it holds; None in a file from memrec before segments.
    pub segment: Option<SegmentMeta>,
    pub rows: u64,
    /// Rows per table by its row groups (their statistics, or the `kind`
    /// column of one several tables share); None when they do not say
    /// (then every table may be in it).
    pub table_rows: Option<BTreeMap<String, u64>>,
    /// The trigger kind when the flight recorder wrote it.
    pub trigger: Option<String>,
}

/// An open recording: one file, or the segments and merged files of one
/// recording read as one.
pub struct Recording {
    /// Its files, in segment order.
    pub files: Vec<Part>,
    /// The path(s) as the user gave them, for messages.
    pub name: String,
    pub meta: FileMeta,
    pub schema_version: u32,
    pub num_rows: u64,
    /// Top-level column names of the file.
    pub columns: HashSet<String>,
    /// Per table: from each row group's `kind` statistics where they name
    /// one table, else from its `kind` and `ts_ns` columns (a row group
    /// several tables share); None when a row group cannot say.
    pub tables: Option<BTreeMap<String, TableStats>>,
    /// The row census as the files' footers state it, for the tables they
    /// cover ([`FooterCensus`]).
    pub footer_census: FooterCensus,
    /// Segment numbers between the first and the last file's that no file
    /// holds, as ranges (rotation deleted them, or a file was left out).
    pub missing_segments: Vec<(u64, u64)>,
    /// Recording start: `meta.start_ns`, or the first `ts_ns` when unset.
    pub start_ns: i64,
    /// Recording end: `meta.end_ns`, or the last `ts_ns` when unset.
    pub end_ns: i64,
    /// What the checksums showed: every chunk intact, or none to check.
    pub verified: Verified,
    /// What the checks on open found that does not reject the file; the
    /// report prints them.
    pub warnings: Vec<String>,
    /// Of the warnings, those on which files were read: an unfinished
    /// recording, partial segments left out, missing segments (for outputs
    /// that print no warnings, on stderr).
    pub notes: Vec<String>,
    /// The scan over every file (a table's query reads only the files
    /// that may hold it, [`Self::table_base`]): its clones
    /// share the resolved file metadata, so the (large) footers are parsed
    /// once.
    base: LazyFrame,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("name", &self.name)
            .field("num_rows", &self.num_rows)
            .field("start_ns", &self.start_ns)
            .field("end_ns", &self.end_ns)
            .finish_non_exhaustive()
    }
}

fn magic_ok(path: &Path, name: &str) -> Result<(), OpenError> {
    let io = |source| OpenError::Io {
        path: name.to_string(),
        source,
    };
    let md = std::fs::metadata(path).map_err(io)?;
    if !md.is_file() {
        return Err(OpenError::NotFile {
            path: name.to_string(),
        });
    }
    let len = md.len();
    if len == 0 {
        return Err(OpenError::ZeroBytes {
            path: name.to_string(),
        });
    }
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    if len < 4 || f.read_exact(&mut head).is_err() || &head != b"PAR1" {
        return Err(OpenError::NotParquet {
            path: name.to_string(),
        });
    }
    let mut tail = [0u8; 4];
    if len < 12
        || f.seek(SeekFrom::End(-4)).is_err()
        || f.read_exact(&mut tail).is_err()
        || &tail != b"PAR1"
    {
        return Err(OpenError::Truncated {
            path: name.to_string(),
        });
    }
    Ok(())
}

/// What one file holds, after every check that needs only that file.
struct FileRead {
    part: Part,
    meta: FileMeta,
    schema_version: u32,
    verified: Verified,
    columns: HashSet<String>,
    /// The file's Parquet schema: every file of a recording has the same.
    root: parquet::schema::types::TypePtr,
    tables: Option<BTreeMap<String, TableStats>>,
    census: FooterCensus,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
}

/// Opens one file and checks it: magic, footer bounds, checksums, page
/// headers, metadata and column types; then the table statistics.
fn read_file(path: &Path, name: &str) -> Result<FileRead, OpenError> {
    let name = name.to_string();
    magic_ok(path, &name)?;
    let file = std::fs::File::open(path).map_err(|source| OpenError::Io {
        path: name.clone(),
        source,
    })?;
    let md = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| OpenError::Corrupt {
            path: name.clone(),
            msg: one_line(&e.to_string()),
        })?;
    let invalid = |what| OpenError::Invalid {
        path: name.clone(),
        what: Box::new(what),
    };
    // Before any data is read: sizes that bound memory, then the
    // checksums of every byte (a file from older memrec has none).
    let file_len = file
        .metadata()
        .map_err(|source| OpenError::Io {
            path: name.clone(),
            source,
        })?
        .len();
    checks::footer(&md, file_len).map_err(invalid)?;
    let t = std::time::Instant::now();
    let verified = integrity::verify(&file, &md).map_err(|source| OpenError::Integrity {
        path: name.clone(),
        source,
    })?;
    tracing::debug!(?verified, ms = t.elapsed().as_millis() as u64, "checksums");
    let t = std::time::Instant::now();
    let dictionary_only = checks::pages(&file, file_len, &md).map_err(invalid)?;
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "page headers");
    let fmd = md.file_metadata();
    let (schema_version, meta) = FileMeta::from_parquet(fmd).map_err(|e| match e {
        MetaError::Missing(key) => OpenError::NotMemtrace {
            path: name.clone(),
            msg: format!("no `{key}` key in the Parquet metadata"),
        },
        source => OpenError::Meta {
            path: name.clone(),
            source,
        },
    })?;
    checks::meta(&meta).map_err(invalid)?;
    checks::types(&md).map_err(invalid)?;

    let schema = fmd.schema_descr();
    let columns: HashSet<String> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    for c in ["ts_ns", KIND_COLUMN] {
        if !columns.contains(c) {
            return Err(OpenError::NotMemtrace {
                path: name.clone(),
                msg: format!("no `{c}` column"),
            });
        }
    }
    let leaves: HashMap<String, usize> = (0..schema.num_columns())
        .map(|i| (schema.column(i).name().to_string(), i))
        .collect();
    let kind_idx = leaves.get(KIND_COLUMN).copied();
    let ts_idx = leaves.get("ts_ns").copied();
    let mut tables: Option<BTreeMap<String, TableStats>> = Some(BTreeMap::new());
    let mut census = FooterCensus::default();
    let mut min_ts: Option<i64> = None;
    let mut max_ts: Option<i64> = None;
    for (i, rg) in md.row_groups().iter().enumerate() {
        let (lo, hi) = match ts_idx.and_then(|i| rg.column(i).statistics()) {
            Some(Statistics::Int64(s)) => (s.min_opt().copied(), s.max_opt().copied()),
            _ => (None, None),
        };
        if rg.num_rows() > 0 {
            min_ts = min_opt(min_ts, lo);
            max_ts = max_opt(max_ts, hi);
        }
        // One table, and no null among its kinds (a null is the census's
        // to refuse, read from the column).
        let kind = match kind_idx.and_then(|i| rg.column(i).statistics()) {
            Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) if a == b && s.null_count_opt() == Some(0) => {
                    a.as_utf8().ok().map(str::to_string)
                }
                _ => None,
            },
            _ => None,
        };
        let Some(t) = tables.as_mut() else {
            continue;
        };
        match kind {
            Some(k) => {
                let dictionary = dictionary_only.get(i).map_or(&[][..], Vec::as_slice);
                census.add_group(&file, &md, i, &k, &leaves, dictionary);
                let e = t.entry(k).or_default();
                e.rows += rg.num_rows().max(0) as u64;
                e.row_groups += 1;
                e.first_ts = min_opt(e.first_ts, lo);
                e.last_ts = max_opt(e.last_ts, hi);
            }
            None if rg.num_rows() == 0 => {}
            // Several tables in one row group (memrec shares one among a
            // segment's small tables), or no statistics: its two columns
            // say.
            None => match kind_idx.map(|k| mixed_group(&file, &md, i, k, ts_idx)) {
                Some(Ok(per)) => {
                    census.scan_tables(Some(per.keys()));
                    for (k, s) in per {
                        let e = t.entry(k).or_default();
                        e.rows += s.rows;
                        e.row_groups += 1;
                        e.first_ts = min_opt(e.first_ts, s.first_ts);
                        e.last_ts = max_opt(e.last_ts, s.last_ts);
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(file = %name, row_group = i, "no per-table statistics: {e}");
                    tables = None;
                }
                None => tables = None,
            },
        }
    }
    if tables.is_none() {
        census.scan_tables(None::<Vec<&String>>);
    }
    let rows = fmd.num_rows().max(0) as u64;
    Ok(FileRead {
        part: Part {
            path: path.to_path_buf(),
            name,
            segment: meta.segment.clone(),
            rows,
            table_rows: tables
                .as_ref()
                .map(|t| t.iter().map(|(k, s)| (k.clone(), s.rows)).collect()),
            trigger: meta.trigger.as_ref().map(|t| t.kind.clone()),
        },
        root: schema.root_schema_ptr(),
        meta,
        schema_version,
        verified,
        columns,
        tables,
        census,
        min_ts,
        max_ts,
    })
}

/// Why a row group's tables could not be counted from its columns.
#[derive(Debug, thiserror::Error)]
enum Uncounted {
    #[error("{rows} rows, more than the {limit} memana reads in one row group")]
    TooLarge { rows: i64, limit: i64 },
    #[error("its `{0}` column is not of the type memrec writes")]
    Type(&'static str),
    #[error("row kind `{0}` is no table of this schema")]
    UnknownKind(String),
    #[error("its `kind` column holds a null or non-UTF-8 value")]
    BadKind,
    #[error("its columns hold {kinds} and {ts} rows, the footer says {rows}")]
    Count { kinds: usize, ts: usize, rows: i64 },
    #[error("cannot read it: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
}

/// Rows read at a time from a row group's `kind` and `ts_ns` columns.
const KIND_BATCH: usize = 8192;

/// Per table, the rows and time span of row group `i` from its `kind` and
/// `ts_ns` columns (only those two, only this row group): for a row group
/// that holds several tables, whose statistics cannot say. Row groups
/// above memana's row limit, and kinds that are no schema table (which
/// the census refuses), are not counted.
fn mixed_group(
    file: &std::fs::File,
    md: &parquet::file::metadata::ParquetMetaData,
    i: usize,
    kind_idx: usize,
    ts_idx: Option<usize>,
) -> Result<BTreeMap<String, TableStats>, Uncounted> {
    use parquet::column::reader::ColumnReader;
    use parquet::file::properties::ReaderProperties;
    use parquet::file::reader::RowGroupReader;
    use parquet::file::serialized_reader::SerializedRowGroupReader;
    use std::sync::Arc;

    let meta = md.row_group(i);
    let rows = meta.num_rows();
    // The footer check refuses such a file; kept so this read is bounded
    // whoever calls it.
    if rows > checks::MAX_ROW_GROUP_ROWS {
        return Err(Uncounted::TooLarge {
            rows,
            limit: checks::MAX_ROW_GROUP_ROWS,
        });
    }
    let rg = SerializedRowGroupReader::new(
        Arc::new(file.try_clone()?),
        meta,
        md.page_index_for_row_group(i),
        Arc::new(ReaderProperties::builder().build()),
    )?;
    let nullable = |idx: usize| {
        md.file_metadata()
            .schema_descr()
            .column(idx)
            .max_def_level()
            > 0
    };
    let (kind_null, ts_null) = (nullable(kind_idx), ts_idx.is_some_and(nullable));
    let ColumnReader::ByteArrayColumnReader(mut kinds) = rg.get_column_reader(kind_idx)? else {
        return Err(Uncounted::Type(KIND_COLUMN));
    };
    let mut ts = match ts_idx.map(|c| rg.get_column_reader(c)).transpose()? {
        Some(ColumnReader::Int64ColumnReader(r)) => Some(r),
        None => None,
        Some(_) => return Err(Uncounted::Type("ts_ns")),
    };
    let mut out: BTreeMap<String, TableStats> = BTreeMap::new();
    let (mut n_kinds, mut n_ts) = (0usize, 0usize);
    loop {
        let k = next_records(&mut kinds, kind_null, KIND_BATCH)?;
        if k.is_empty() {
            break;
        }
        let t = match ts.as_mut() {
            Some(r) => next_records(r, ts_null, k.len())?,
            None => vec![None; k.len()],
        };
        n_kinds += k.len();
        n_ts += t.len();
        if t.len() != k.len() {
            break;
        }
        for (k, t) in k.iter().zip(t) {
            let k = k
                .as_ref()
                .and_then(|b| b.as_utf8().ok())
                .ok_or(Uncounted::BadKind)?;
            let e = match out.get_mut(k) {
                Some(e) => e,
                None if table(k).is_some() => out.entry(k.to_string()).or_default(),
                None => return Err(Uncounted::UnknownKind(k.to_string())),
            };
            e.rows += 1;
            e.first_ts = min_opt(e.first_ts, t);
            e.last_ts = max_opt(e.last_ts, t);
        }
    }
    if ts.is_none() {
        n_ts = n_kinds;
    }
    if i64::try_from(n_kinds).ok() != Some(rows) || n_ts != n_kinds {
        return Err(Uncounted::Count {
            kinds: n_kinds,
            ts: n_ts,
            rows,
        });
    }
    for e in out.values_mut() {
        e.row_groups = 1;
    }
    Ok(out)
}

/// Up to `n` values of a flat column (None for a null), fewer only at the
/// end of its row group.
fn next_records<T: parquet::data_type::DataType>(
    r: &mut parquet::column::reader::ColumnReaderImpl<T>,
    nullable: bool,
    n: usize,
) -> Result<Vec<Option<T::T>>, parquet::errors::ParquetError> {
    let mut out = Vec::with_capacity(n);
    let (mut vals, mut defs) = (Vec::new(), Vec::new());
    while out.len() < n {
        vals.clear();
        defs.clear();
        let (records, _, levels) = r.read_records(
            n - out.len(),
            nullable.then_some(&mut defs),
            None,
            &mut vals,
        )?;
        if records == 0 {
            break;
        }
        if nullable {
            // A flat optional column: level 1 is a value, 0 a null.
            let mut v = vals.drain(..);
            for &d in defs.iter().take(levels) {
                out.push(if d > 0 { v.next() } else { None });
            }
        } else {
            out.extend(vals.drain(..).map(Some));
        }
    }
    Ok(out)
}

/// Files sort by the segments they hold.
fn segment_order(s: &Option<SegmentMeta>) -> Option<(u64, u64)> {
    s.as_ref().map(|s| (s.first, s.last))
}

/// A file's segment information from its footer alone, when it can be
/// read: to refuse files of several recordings before reading their data.
pub(crate) fn segment_of(path: &Path) -> Option<Part> {
    let file = std::fs::File::open(path).ok()?;
    let md = ParquetMetaDataReader::new().parse_and_finish(&file).ok()?;
    let (_, meta) = FileMeta::from_parquet(md.file_metadata()).ok()?;
    Some(Part {
        path: path.to_path_buf(),
        name: path.display().to_string(),
        segment: meta.segment,
        rows: 0,
        table_rows: None,
        trigger: meta.trigger.map(|t| t.kind),
    })
}

/// Refuses files, in segment order, that are not one recording: files of
/// different recordings, two whole recordings, or the same segment twice.
/// Returns the missing segment ranges.
fn one_recording(files: &[Part]) -> Result<Vec<(u64, u64)>, OpenError> {
    // A flight-recorder file is the window around one trigger, its rows
    // outside it cut away: with anything else it would read as one
    // recording with holes.
    if let (Some(t), true) = (files.iter().find(|f| f.trigger.is_some()), files.len() > 1) {
        let other = files.iter().find(|f| f.path != t.path).unwrap_or(t);
        return Err(OpenError::NotOneRecording {
            a: t.name.clone(),
            b: other.name.clone(),
            why: format!(
                "the flight recorder wrote {} for one trigger ({}), a recording of its own",
                t.name,
                t.trigger.as_deref().unwrap_or_default()
            ),
        });
    }
    let mut missing = Vec::new();
    for w in files.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let not_one = |why: String| OpenError::NotOneRecording {
            a: a.name.clone(),
            b: b.name.clone(),
            why,
        };
        let (sa, sb) = match (&a.segment, &b.segment) {
            (Some(sa), Some(sb)) => (sa, sb),
            (None, None) => {
                return Err(not_one(
                    "neither has segment information, so each is a whole recording".into(),
                ))
            }
            (None, Some(s)) | (Some(s), None) => {
                let whole = if a.segment.is_none() {
                    &a.name
                } else {
                    &b.name
                };
                return Err(not_one(format!(
                    "{whole} is a whole recording (no segment information), the other a \
                     segment of recording {}",
                    s.recording_id
                )));
            }
        };
        if sa.recording_id != sb.recording_id {
            return Err(not_one(format!(
                "they belong to recordings {} and {}",
                sa.recording_id, sb.recording_id
            )));
        }
        if sb.first <= sa.last {
            return Err(OpenError::DuplicateSegment {
                a: a.name.clone(),
                b: b.name.clone(),
                segment: sb.first,
                id: sa.recording_id.clone(),
            });
        }
        if sb.first > sa.last + 1 {
            missing.push((sa.last + 1, sb.first - 1));
        }
    }
    Ok(missing)
}

/// One lazy scan over files that share a schema.
fn scan_files(paths: &[&Path]) -> PolarsResult<LazyFrame> {
    let sources = paths
        .iter()
        .map(|p| PlRefPath::try_from_path(p))
        .collect::<PolarsResult<Vec<_>>>()?;
    // The paths are files already found: no pattern of polars' own, and
    // no columns made of `key=value` directory names (hive partitions).
    let args = ScanArgsParquet {
        glob: false,
        hive_options: HiveOptions::new_disabled(),
        ..ScanArgsParquet::default()
    };
    LazyFrame::scan_parquet_files(sources.into(), args)
}

/// `1-3, 5, 9-12`.
pub fn ranges_text(r: &[(u64, u64)]) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Recording {
    /// Opens and checks a one-file recording; an empty one opens (see
    /// [`Self::require_rows`]).
    pub fn open(path: &Path) -> Result<Recording, OpenError> {
        Self::open_files(&path.display().to_string(), &[path.to_path_buf()])
    }

    /// Opens the files [`crate::inputs::resolve`] found as one recording,
    /// with its notes among the warnings.
    pub fn open_inputs(inputs: &crate::inputs::Inputs) -> Result<Recording, OpenError> {
        let mut rec = Self::open_files(&inputs.name, &inputs.files)?;
        rec.warnings.splice(0..0, inputs.notes.iter().cloned());
        rec.notes.splice(0..0, inputs.notes.iter().cloned());
        Ok(rec)
    }

    /// Opens files as one recording, `name` naming it in messages. Every
    /// file is checked as a one-file recording is; their metadata is
    /// combined ([`FileMeta::combine`]), their table statistics summed,
    /// and one scan covers them all. Files of different recordings, or the
    /// same segment twice, are refused; a gap in the segment numbers is a
    /// warning.
    pub fn open_files(name: &str, paths: &[PathBuf]) -> Result<Recording, OpenError> {
        if paths.len() > 1 {
            // Footers first: files of several recordings are refused before
            // any data is read. A file whose footer cannot be read here is
            // named by the full checks below.
            let mut light: Vec<Part> = paths.iter().filter_map(|p| segment_of(p)).collect();
            if light.len() == paths.len() {
                light.sort_by_key(|p| segment_order(&p.segment));
                one_recording(&light)?;
            }
        }
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            files.push(read_file(p, &p.display().to_string())?);
        }
        files.sort_by_key(|f| segment_order(&f.part.segment));
        let parts: Vec<Part> = files.iter().map(|f| f.part.clone()).collect();
        let missing = one_recording(&parts)?;
        let (first, rest) = files.split_first().ok_or_else(|| OpenError::Combine {
            path: name.to_string(),
            source: CombineError::Empty,
        })?;
        for f in rest {
            if f.root != first.root || f.schema_version != first.schema_version {
                return Err(OpenError::Schema {
                    a: first.part.name.clone(),
                    b: f.part.name.clone(),
                });
            }
        }
        let metas: Vec<FileMeta> = files.iter().map(|f| f.meta.clone()).collect();
        let meta = FileMeta::combine(&metas).map_err(|source| OpenError::Combine {
            path: name.to_string(),
            source,
        })?;
        if files.len() > 1 {
            checks::meta(&meta).map_err(|what| OpenError::Invalid {
                path: name.to_string(),
                what: Box::new(what),
            })?;
        }
        let mut tables: Option<BTreeMap<String, TableStats>> = Some(BTreeMap::new());
        let (mut min_ts, mut max_ts) = (None, None);
        let mut num_rows = 0u64;
        let mut chunks = Some(0usize);
        let mut unchecked = Vec::new();
        let mut footer_census = FooterCensus::default();
        for f in &files {
            footer_census.merge(&f.census);
            num_rows = num_rows.saturating_add(f.part.rows);
            min_ts = min_opt(min_ts, f.min_ts);
            max_ts = max_opt(max_ts, f.max_ts);
            tables = match (tables, &f.tables) {
                (Some(mut all), Some(t)) => {
                    for (k, s) in t {
                        let e = all.entry(k.clone()).or_default();
                        e.rows += s.rows;
                        e.row_groups += s.row_groups;
                        e.first_ts = min_opt(e.first_ts, s.first_ts);
                        e.last_ts = max_opt(e.last_ts, s.last_ts);
                    }
                    Some(all)
                }
                _ => None,
            };
            match f.verified {
                Verified::Intact { chunks: n } => chunks = chunks.map(|c| c + n),
                Verified::Unchecked => {
                    chunks = None;
                    unchecked.push(f.part.name.clone());
                }
            }
        }
        let verified = match chunks {
            Some(chunks) => Verified::Intact { chunks },
            None => Verified::Unchecked,
        };
        // checks::meta has made sure the metadata's window is one, or unset.
        let (start_ns, end_ns) = if meta.start_ns != 0 || meta.end_ns != 0 {
            (meta.start_ns, meta.end_ns)
        } else {
            let lo = min_ts.unwrap_or(0);
            (lo, max_ts.unwrap_or(0).max(lo))
        };
        let paths: Vec<&Path> = files.iter().map(|f| f.part.path.as_path()).collect();
        let base = scan_files(&paths).map_err(|e| OpenError::Corrupt {
            path: name.to_string(),
            msg: one_line(&e.to_string()),
        })?;
        let mut notes = Vec::new();
        if !missing.is_empty() {
            let id = meta
                .segment
                .as_ref()
                .map_or("", |s| s.recording_id.as_str());
            let (what, are) = match missing.as_slice() {
                [(a, b)] if a == b => ("segment", "is"),
                _ => ("segments", "are"),
            };
            notes.push(format!(
                "{what} {} of recording {id} {are} missing (deleted by rotation, or not \
                 given): nothing was read for their time",
                ranges_text(&missing)
            ));
        }
        let mut warnings = notes.clone();
        // The last segment closed at a checkpoint, not at an end: memrec was
        // killed (or the machine stopped) after it.
        if memtrace_schema::EndReason::parse(&meta.end_reason)
            == memtrace_schema::EndReason::Checkpoint
        {
            warnings.push(format!(
                "the recording ends at a checkpoint, not where memrec stopped: memrec was \
                 killed or the machine stopped, and what it recorded after {} was lost",
                if meta.end_time.is_empty() {
                    "its last checkpoint"
                } else {
                    meta.end_time.as_str()
                }
            ));
        }
        if unchecked.len() == files.len() {
            warnings.push(UNCHECKED_WARNING.to_string());
        } else if !unchecked.is_empty() {
            warnings.push(format!(
                "{} of {} files carry no checksums, so damage to their data cannot be \
                 detected: {}",
                unchecked.len(),
                files.len(),
                unchecked.join(", ")
            ));
        }
        let columns = first.columns.clone();
        let schema_version = first.schema_version;
        let mut rec = Recording {
            base,
            files: files.into_iter().map(|f| f.part).collect(),
            name: name.to_string(),
            meta,
            schema_version,
            num_rows,
            columns,
            tables,
            footer_census,
            missing_segments: missing,
            start_ns,
            end_ns,
            verified,
            warnings,
            notes,
        };
        let t = std::time::Instant::now();
        let census = checks::census(&rec);
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "row invariants");
        match census {
            Ok(mut w) => rec.warnings.append(&mut w),
            Err(CensusError::Offence(what)) => {
                return Err(OpenError::Invalid {
                    path: rec.name,
                    what: Box::new(what),
                })
            }
            Err(CensusError::Read(e)) => return Err(e.into()),
        }
        Ok(rec)
    }

    /// The scan every query starts from.
    pub(crate) fn base(&self) -> LazyFrame {
        self.base.clone()
    }

    /// Fails with [`OpenError::Empty`] when the file has no rows.
    pub fn require_rows(&self) -> Result<(), OpenError> {
        if self.num_rows == 0 {
            return Err(OpenError::Empty {
                path: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Rows of a table in the whole file: from statistics, else the metadata.
    pub fn table_rows(&self, table: &str) -> Option<u64> {
        match &self.tables {
            Some(t) => Some(t.get(table).map_or(0, |s| s.rows)),
            None => self.meta.rows.get(table).copied(),
        }
    }

    /// Whether a probe group was recorded.
    pub fn group_state(&self, group: &str) -> GroupState {
        let has_rows = memtrace_schema::tables()
            .iter()
            .filter(|t| t.group == group)
            .any(|t| self.table_rows(t.name).is_none_or(|n| n > 0));
        if has_rows {
            return GroupState::Recorded;
        }
        if let Some(g) = self.meta.groups.iter().find(|g| g.name == group) {
            // A status this build does not know (a newer memrec's) counts as
            // not recorded, named as written.
            let status: Result<GroupStatus, serde::de::value::Error> =
                GroupStatus::deserialize(g.status.as_str().into_deserializer());
            let s = g.status.as_str();
            return match status {
                Ok(GroupStatus::Attached | GroupStatus::Partial) => GroupState::Recorded,
                Ok(GroupStatus::Skipped | GroupStatus::Failed) | Err(_) => {
                    GroupState::NotRecorded(match &g.reason {
                        Some(r) => format!("probe group `{group}` was {s}: {r}"),
                        None => format!("probe group `{group}` was {s}"),
                    })
                }
            };
        }
        if group == crate::stacks::GROUP {
            return self.store_state();
        }
        if self.meta.groups_requested.iter().any(|g| g == group) {
            return GroupState::NotRecorded(format!(
                "probe group `{group}` was asked for but the recording says nothing of it"
            ));
        }
        GroupState::NotRecorded(format!(
            "probe group `{group}` was not recorded (add it to memrec's --probes)"
        ))
    }

    /// The stack store in a file whose metadata does not list it: recorded
    /// when a group that uses it was and the file has the store's columns
    /// (a file from before the store was a group of its own, whose stack
    /// tables were faults'); otherwise not recorded, saying which groups
    /// record stacks.
    fn store_state(&self) -> GroupState {
        let users = crate::stacks::store_users();
        let has_columns = memtrace_schema::tables()
            .iter()
            .filter(|t| t.group == crate::stacks::GROUP)
            .flat_map(|t| t.columns.iter().map(|c| file_column_name(t.name, c.name)))
            .any(|c| self.columns.contains(&c));
        let user_recorded = users
            .iter()
            .any(|g| self.group_state(g) == GroupState::Recorded);
        if has_columns && user_recorded {
            return GroupState::Recorded;
        }
        GroupState::NotRecorded(format!(
            "no stacks were recorded (the stack store is recorded with {})",
            users.join(", ")
        ))
    }

    /// Loss warnings for figures resting on these groups: (lossy, notes).
    pub fn loss_notes(&self, groups: &[&str]) -> (bool, Vec<String>) {
        let mut lossy = false;
        let mut notes = Vec::new();
        for &g in groups {
            let events: u64 = self
                .meta
                .probes
                .iter()
                .filter(|p| p.group == g)
                .map(|p| p.events)
                .fold(0, u64::saturating_add);
            let probe_lost: u64 = self
                .meta
                .probes
                .iter()
                .filter(|p| p.group == g)
                .map(|p| p.lost)
                .fold(0, u64::saturating_add);
            let gm = self.meta.groups.iter().find(|x| x.name == g);
            let lost = gm.map_or(probe_lost, |x| x.lost.max(probe_lost));
            let malformed = gm.map_or(0, |x| x.malformed);
            if lost > 0 {
                lossy = true;
                let share = crate::stats::ratio(lost, events.saturating_add(lost)).unwrap_or(1.0);
                notes.push(format!(
                    "INCOMPLETE DATA: probe group `{g}` lost {lost} events in the kernel \
                     ({:.3}% of {}); figures from it are lower bounds",
                    share * 100.0,
                    events.saturating_add(lost)
                ));
            }
            let missed: u64 = self
                .meta
                .probes
                .iter()
                .filter(|p| p.group == g)
                .map(|p| p.missed)
                .fold(0, u64::saturating_add);
            if missed > 0 {
                lossy = true;
                notes.push(format!(
                    "INCOMPLETE DATA: the kernel skipped probe group `{g}`'s programs for \
                     {missed} events that came while another BPF program ran on the same CPU \
                     (recursion misses); figures from it are lower bounds"
                ));
            }
            if malformed > 0 {
                lossy = true;
                notes.push(format!(
                    "INCOMPLETE DATA: {malformed} records of probe group `{g}` could not be decoded"
                ));
            }
        }
        (lossy, notes)
    }

    /// A lazy query over one table: rows of `kind == table` in the filter's
    /// window (and task, where it applies), with `cols` renamed from
    /// `<table>.<col>` to `<col>` (common columns keep their names).
    pub fn scan(
        &self,
        table: &str,
        filter: &Filter,
        cols: &[&str],
    ) -> Result<LazyFrame, ReadError> {
        self.scan_with(table, filter, cols, true)
    }

    /// As [`Self::scan`]; `task` = false ignores `--pid`/`--comm`.
    pub fn scan_with(
        &self,
        table_name: &str,
        filter: &Filter,
        cols: &[&str],
        task: bool,
    ) -> Result<LazyFrame, ReadError> {
        let t = table(table_name)
            .ok_or_else(|| ReadError::Unknown(table_name.to_string(), self.name.clone()))?;
        let mut select = Vec::with_capacity(cols.len());
        let mut empty = Vec::with_capacity(cols.len());
        for &c in cols {
            // A table's own column before a common one of the same name
            // (`kernel_alloc.kind` is the allocator, `kind` the table).
            let ty = t
                .column(c)
                .or_else(|| COMMON.iter().find(|k| k.name == c))
                .map(|k| k.ty)
                .ok_or_else(|| {
                    ReadError::Unknown(format!("{table_name}.{c}"), self.name.clone())
                })?;
            empty.push(polars::prelude::Column::new_empty(c.into(), &dtype(ty)));
        }
        // A table the file cannot hold (group not recorded, or no rows by
        // the statistics) is an empty frame of the schema's types, so every
        // section reads it as it reads a table with no rows in the window.
        if !self.may_have(table_name) {
            let df = DataFrame::new(0, empty).map_err(|e| self.polars_err(table_name, e))?;
            return Ok(df.lazy());
        }
        for &c in cols {
            if let Some(k) = t.column(c) {
                let file_name = file_column_name(table_name, c);
                if !self.columns.contains(&file_name) && k.nullable {
                    // An optional column newer than the file's memrec:
                    // unknown in every row, as its own memrec would have
                    // written it when it had no value.
                    select.push(lit(NULL).cast(dtype(k.ty)).alias(c));
                    continue;
                }
                if !self.columns.contains(&file_name) {
                    return Err(ReadError::MissingColumn {
                        path: self.name.clone(),
                        column: file_name,
                    });
                }
                select.push(col(file_name.as_str()).alias(c));
            } else if COMMON.iter().any(|k| k.name == c) {
                select.push(col(c));
            } else {
                return Err(ReadError::Unknown(
                    format!("{table_name}.{c}"),
                    self.name.clone(),
                ));
            }
        }
        let mut pred = col(KIND_COLUMN).eq(lit(table_name));
        if let Some(f) = filter.from_ns {
            pred = pred.and(col("ts_ns").gt_eq(lit(f)));
        }
        if let Some(to) = filter.to_ns {
            pred = pred.and(col("ts_ns").lt(lit(to)));
        }
        if task {
            // System-wide tables (no task columns) are never filtered.
            if let Some((pid_col, comm_col)) = table(table_name).and_then(|t| t.task_columns()) {
                if let Some(pid) = filter.pid {
                    pred = pred.and(col(pid_col).eq(lit(pid)));
                }
                if let Some(comm) = &filter.comm {
                    pred = pred.and(col(comm_col).eq(lit(comm.as_str())));
                }
                if let Some(scope) = &filter.cgroup_scope {
                    pred = pred.and(self.cgroup_pred(table_name, scope));
                }
            }
        }
        Ok(self.table_base(table_name)?.filter(pred).select(select))
    }

    /// Rows of tasks in `scope`: by the `cgroup_id` column, which is the
    /// task's memcg. oom_victim's header is the task that ran the OOM killer,
    /// not the victim: its rows go by the victim's memcg (`task_memcg`, from
    /// the kernel log) where the file has it, and by the killer's memcg
    /// otherwise (a memcg OOM's killer charges to the memcg that hit its
    /// limit, so it is in the same subtree as a victim there).
    fn cgroup_pred(&self, table_name: &str, scope: &crate::filter::CgroupScope) -> Expr {
        let ids = lit(Series::new("ids".into(), scope.ids.clone())).implode(false);
        let by_id = col("cgroup_id").is_in(ids, false);
        let memcg = file_column_name(table_name, "task_memcg");
        if table(table_name).is_some_and(|t| t.column("task_memcg").is_some())
            && self.columns.contains(&memcg)
        {
            let paths = lit(Series::new("paths".into(), scope.paths.clone())).implode(false);
            when(col(memcg.as_str()).is_not_null())
                .then(col(memcg.as_str()).is_in(paths, false))
                .otherwise(by_id)
        } else {
            by_id
        }
    }

    /// The scan a table's query starts from: over several files, only
    /// those that may hold its rows, since each file a query touches costs
    /// a read of its footer.
    fn table_base(&self, table_name: &str) -> Result<LazyFrame, ReadError> {
        if self.files.len() < 2 {
            return Ok(self.base.clone());
        }
        let paths: Vec<&Path> = self
            .files
            .iter()
            .filter(|f| {
                f.table_rows
                    .as_ref()
                    .is_none_or(|t| t.get(table_name).is_some_and(|&n| n > 0))
            })
            .map(|f| f.path.as_path())
            .collect();
        if paths.len() == self.files.len() || paths.is_empty() {
            return Ok(self.base.clone());
        }
        scan_files(&paths).map_err(|e| self.polars_err(table_name, e))
    }

    /// Whether the file may hold rows of a table (false only when the
    /// statistics or the metadata say it has none, or its group was not
    /// recorded).
    pub fn may_have(&self, table_name: &str) -> bool {
        let group_ok =
            table(table_name).is_some_and(|t| self.group_state(t.group) == GroupState::Recorded);
        group_ok && self.table_rows(table_name).is_none_or(|n| n > 0)
    }

    pub fn polars_err(&self, table: &str, e: PolarsError) -> ReadError {
        ReadError::Polars {
            path: self.name.clone(),
            table: table.to_string(),
            msg: one_line(&e.to_string()),
        }
    }

    /// Runs a query on the streaming engine.
    pub fn collect(&self, table: &str, lf: LazyFrame) -> Result<DataFrame, ReadError> {
        let t = std::time::Instant::now();
        let df = lf
            .collect_with_engine(Engine::Streaming)
            .map(|r| r.unwrap_single())
            .map_err(|e| self.polars_err(table, e))?;
        tracing::debug!(
            table,
            rows = df.height(),
            ms = t.elapsed().as_millis() as u64,
            "query"
        );
        Ok(df)
    }

    /// Duration of the analyzed window: the filter clipped to the recording.
    pub fn window(&self, filter: &Filter) -> (i64, i64) {
        let lo = filter
            .from_ns
            .map_or(self.start_ns, |f| f.max(self.start_ns));
        let hi = filter.to_ns.map_or(self.end_ns, |t| t.min(self.end_ns));
        (lo, hi.max(lo))
    }
}

/// The polars type a column of this schema type reads as.
fn dtype(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::U32 => DataType::UInt32,
        ColumnType::U64 => DataType::UInt64,
        ColumnType::I32 => DataType::Int32,
        ColumnType::I64 => DataType::Int64,
        ColumnType::F64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Text => DataType::String,
    }
}

pub(crate) fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

pub(crate) fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The first line of an error message, trimmed.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hdr, scenario, Builder};
    use memtrace_schema::tables::procstat::procstat;

    fn small(dir: &Path) -> PathBuf {
        let mut b = Builder::new(1_000, 2_000);
        b.add(
            hdr(1_500, 1, 1, "a"),
            &procstat::Row {
                reason: "switch".into(),
                rss_anon: 4096,
                ..Default::default()
            },
        );
        b.count();
        let p = dir.join("ok.parquet");
        b.write(&p);
        p
    }

    fn err(p: &Path) -> String {
        match Recording::open(p) {
            Ok(_) => "opened".into(),
            Err(e) => format!("{e:?} | {e}"),
        }
    }

    #[test]
    fn opens_a_recording() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = small(d.path());
        let r = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.num_rows, 1);
        assert_eq!((r.start_ns, r.end_ns), (1_000, 2_000));
        assert_eq!(r.table_rows("procstat"), Some(1));
        assert_eq!(r.table_rows("paf"), Some(0));
        let st = r.tables.as_ref().and_then(|t| t.get("procstat")).cloned();
        assert_eq!(
            st.map(|s| (s.first_ts, s.last_ts)),
            Some((Some(1_500), Some(1_500)))
        );
        assert!(r.require_rows().is_ok());
    }

    #[test]
    fn a_table_without_rows_scans_as_an_empty_frame_of_its_schema() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = Recording::open(&small(d.path())).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.may_have("paf"));
        let lf = r
            .scan(
                "paf",
                &Filter::default(),
                &["ts_ns", "tgid", "order", "gfp"],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let df = r.collect("paf", lf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(df.height(), 0);
        let types: Vec<(String, DataType)> = df
            .schema()
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        assert_eq!(
            types,
            [
                ("ts_ns".to_string(), DataType::Int64),
                ("tgid".to_string(), DataType::UInt32),
                ("order".to_string(), DataType::UInt32),
                ("gfp".to_string(), DataType::String),
            ]
        );
        // A column the schema does not have is still a bug, rows or not.
        assert!(matches!(
            r.scan("paf", &Filter::default(), &["nope"]),
            Err(ReadError::Unknown(..))
        ));
        // A table with rows reads them.
        let lf = r
            .scan("procstat", &Filter::default(), &["ts_ns", "rss_anon"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.collect("procstat", lf).map(|df| df.height()).ok(),
            Some(1)
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = d.path();
        assert!(err(&dir.join("missing.parquet")).starts_with("Io"));
        assert!(err(dir).starts_with("NotFile"));
        let zero = dir.join("zero.parquet");
        std::fs::write(&zero, b"").ok();
        assert!(err(&zero).starts_with("ZeroBytes"));
        let garbage = dir.join("garbage.parquet");
        std::fs::write(&garbage, b"this is not parquet at all, just text\n").ok();
        assert!(err(&garbage).starts_with("NotParquet"));
        let ok = small(dir);
        let bytes = std::fs::read(&ok).unwrap_or_default();
        let trunc = dir.join("trunc.parquet");
        std::fs::write(&trunc, &bytes[..bytes.len() / 2]).ok();
        assert!(err(&trunc).starts_with("Truncated"), "{}", err(&trunc));
        let corrupt = dir.join("corrupt.parquet");
        let mut c = b"PAR1".to_vec();
        c.extend_from_slice(&[0xAB; 64]);
        c.extend_from_slice(&16u32.to_le_bytes());
        c.extend_from_slice(b"PAR1");
        std::fs::write(&corrupt, &c).ok();
        assert!(err(&corrupt).starts_with("Corrupt"), "{}", err(&corrupt));
    }

    #[test]
    fn foreign_new_and_empty_files() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = d.path();
        // Too new.
        let mut b = Builder::new(1, 2);
        b.version_text = Some("999".into());
        let p = dir.join("new.parquet");
        b.write(&p);
        let e = err(&p);
        assert!(e.contains("TooNew") && e.contains("newer"), "{e}");
        // Not a number.
        b.version_text = Some("one".into());
        b.write(&p);
        assert!(err(&p).contains("BadVersion"));
        // Empty recording: opens, but has no rows.
        let b = Builder::new(1, 2);
        let p = dir.join("empty.parquet");
        b.write(&p);
        let r = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.num_rows, 0);
        assert!(matches!(r.require_rows(), Err(OpenError::Empty { .. })));
        // A Parquet file that is not a recording.
        let p = dir.join("foreign.parquet");
        {
            use arrow_array::{Int64Array, RecordBatch};
            use std::sync::Arc;
            let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
                "x",
                arrow_schema::DataType::Int64,
                false,
            )]));
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))])
                    .unwrap_or_else(|e| panic!("{e}"));
            let f = std::fs::File::create(&p).unwrap_or_else(|e| panic!("{e}"));
            let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None)
                .unwrap_or_else(|e| panic!("{e}"));
            w.write(&batch).ok();
            w.close().ok();
        }
        assert!(err(&p).starts_with("NotMemtrace"));
    }

    #[test]
    fn scan_filters_and_renames() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("s.parquet");
        scenario::build(1).write(&p);
        let r = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let f = Filter {
            pid: Some(100),
            ..Default::default()
        };
        let fr = r
            .fetch(
                "procstat",
                r.scan("procstat", &f, &["ts_ns", "tgid", "rss_anon"])
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fr.height(), 30);
        assert!(fr
            .u64_or0("tgid")
            .unwrap_or_default()
            .iter()
            .all(|&t| t == 100));
        let f = Filter {
            from_ns: Some(scenario::START + 10 * scenario::SEC),
            to_ns: Some(scenario::START + 20 * scenario::SEC),
            comm: Some("leaky".into()),
            ..Default::default()
        };
        let fr = r
            .fetch(
                "procstat",
                r.scan("procstat", &f, &["ts_ns"])
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        // tgid 100 and 101 sample every 2 s: ts 10..18 s -> 5 each.
        assert_eq!(fr.height(), 10);
        assert!(matches!(
            r.scan("procstat", &f, &["nope"]),
            Err(ReadError::Unknown(..))
        ));
        // kswapd ignores the task filter.
        let f = Filter {
            comm: Some("leaky".into()),
            ..Default::default()
        };
        let fr = r
            .fetch(
                "kswapd",
                r.scan("kswapd", &f, &["ts_ns"])
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fr.height(), 7);
    }

    #[test]
    fn group_states() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut b = Builder::new(1, 2);
        b.add(hdr(1, 1, 1, "a"), &procstat::Row::default());
        b.meta.groups.retain(|g| g.name == "procstat");
        b.meta.groups.push(memtrace_schema::GroupMeta {
            name: "paf".into(),
            status: "skipped".into(),
            reason: Some("no BTF".into()),
            ..Default::default()
        });
        b.count();
        let p = d.path().join("g.parquet");
        b.write(&p);
        let r = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.group_state("procstat"), GroupState::Recorded);
        assert!(
            matches!(r.group_state("paf"), GroupState::NotRecorded(m) if m.contains("skipped: no BTF"))
        );
        assert!(matches!(r.group_state("pr"), GroupState::NotRecorded(_)));
    }

    /// The stack store is a group in newer files' metadata; older files
    /// (stack tables then faults') have it when faults was recorded.
    #[test]
    fn the_stack_store_is_recorded_with_its_users() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let open = |keep: &[&str], name: &str| {
            let mut b = Builder::new(1, 2);
            b.add(hdr(1, 1, 1, "a"), &procstat::Row::default());
            b.meta.groups.retain(|g| keep.contains(&g.name.as_str()));
            b.meta
                .groups_requested
                .retain(|g| keep.contains(&g.as_str()));
            b.count();
            let p = d.path().join(name);
            b.write(&p);
            Recording::open(&p).unwrap_or_else(|e| panic!("{e}"))
        };
        let store = crate::stacks::GROUP;
        let listed = open(&["procstat", store], "listed.parquet");
        assert_eq!(listed.group_state(store), GroupState::Recorded);
        let old = open(&["procstat", "faults"], "old.parquet");
        assert_eq!(old.group_state(store), GroupState::Recorded);
        assert!(!old.may_have("stack_frame"), "recorded, but no rows");
        let without = open(&["procstat"], "without.parquet");
        assert!(
            matches!(without.group_state(store), GroupState::NotRecorded(m) if m.contains("faults")),
            "{:?}",
            without.group_state(store)
        );
    }
}
