//! Joins closed segments (or files already merged) of one recording into
//! one Parquet file.
//!
//! Row groups are copied as they are on disk (no decode, no re-encode):
//! a merge costs about one read and one write of the data, and little
//! memory. Two kinds of row group are decoded and encoded again instead:
//! those a time window cuts through (only the rows inside are kept), and
//! small ones (and those several small tables share), whose rows are
//! joined per table: a table that stays small shares one row group with
//! the other small ones, a bigger one gets its own, so that a long quiet
//! recording does not end with thousands of tiny row groups (each repeats
//! every table's column chunks in the footer). Rows of the stack store
//! are never cut by a window, and may come from reference files.
//!
//! The output is written under a temporary name beside it, synced, and
//! renamed into place without replacing anything; the inputs are only read.
//! Its footer carries the combined metadata ([`FileMeta::combine`]) and
//! checksums of its own bytes, as the writer's files do.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowRowGroupWriterFactory};
use parquet::arrow::ProjectionMask;
use parquet::basic::ZstdLevel;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, RowGroupMetaData};
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;

use memtrace_schema::integrity::{self, Verified};
use memtrace_schema::{
    file_column_name, ClockAnchor, FileMeta, SegmentMeta, TriggerMeta, COMMON, KIND_COLUMN,
    META_KEY, SCHEMA_VERSION_KEY,
};

/// What to merge and how.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Keep only rows with `from <= ts_ns < to`. The metadata's window
    /// (`start_ns`/`end_ns`, their wall-clock times, and the clock anchors,
    /// derived from the readings at the segments' edges) is clipped to it;
    /// the counters read at the edges (vmstat, zones, buddyinfo) and the
    /// probes' event and loss counts stay those of the segments merged, so
    /// they may cover up to a segment more on each side than the rows kept.
    /// `rows` counts the rows kept.
    pub window: Option<(i64, i64)>,
    /// Stored into the merged file's metadata.
    pub trigger: Option<TriggerMeta>,
    /// Replace a regular file at the output path (never anything else).
    pub force: bool,
    /// Row groups with fewer rows than this are joined with the next ones
    /// of the same table; 0 copies every row group as it is.
    pub coalesce_below: usize,
    /// Most rows in a row group the merge encodes itself.
    pub row_group_rows: usize,
    /// zstd level of the row groups the merge encodes itself.
    pub zstd_level: i32,
    /// Keep only these tables' rows (None: every table's).
    pub only_tables: Option<BTreeSet<String>>,
    /// Files of the same recording whose stack-store rows (frames,
    /// mappings, kernel symbols) are added whole, whatever the window;
    /// nothing else of them is read, and their metadata is not combined.
    /// A rotated or flight-recorder file so names the stacks first seen in
    /// segments it does not hold.
    pub references: Vec<PathBuf>,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            window: None,
            trigger: None,
            force: false,
            coalesce_below: 64 << 10,
            row_group_rows: 2 << 20,
            zstd_level: 3,
            only_tables: None,
            references: Vec::new(),
        }
    }
}

/// What a merge wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeSummary {
    /// Rows per table in the output.
    pub rows: BTreeMap<String, u64>,
    /// Row groups in the output, and how many of them were copied as they
    /// were (the rest were encoded again: cut by the window, or joined).
    pub row_groups: usize,
    pub row_groups_copied: usize,
    /// Row groups of the inputs.
    pub input_row_groups: usize,
    /// Size of the output, and of its footer.
    pub bytes: u64,
    pub footer_bytes: u64,
    /// The output's window (`ts_ns` clock), as in its metadata.
    pub start_ns: i64,
    pub end_ns: i64,
    /// The same as RFC 3339 wall-clock times.
    pub start_time: String,
    pub end_time: String,
    /// Input files merged, and the segment numbers they held.
    pub files: usize,
    pub segments: Vec<u64>,
    /// Segment numbers missing between the first and the last held.
    pub gaps: Vec<u64>,
}

impl MergeSummary {
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Why a merge failed. The inputs are untouched and no output is left.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: no input files")]
    NoInputs,
    #[error("cannot read {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path} is not a readable Parquet file: {source}")]
    NotParquet { path: String, source: ParquetError },
    #[error("{path}: {source}")]
    Meta {
        path: String,
        source: memtrace_schema::MetaError,
    },
    #[error("{path} is damaged, not merging it: {source}")]
    Damaged {
        path: String,
        source: integrity::IntegrityError,
    },
    #[error("{path} has another schema than {first}: only files of one recording merge")]
    Schema { path: String, first: String },
    #[error("{a} and {b} are from different recordings ({a_id} and {b_id})")]
    Recordings {
        a: String,
        a_id: String,
        b: String,
        b_id: String,
    },
    #[error("{a} and {b} both hold segment {segment}")]
    Overlap { a: String, b: String, segment: u64 },
    #[error("combining the metadata: {0}")]
    Combine(#[from] memtrace_schema::CombineError),
    #[error("encoding the metadata of {path}: {source}")]
    Encode {
        path: String,
        source: memtrace_schema::MetaError,
    },
    #[error("row group {row_group} of {path} is not the rows of one table this memrec knows, so it cannot be cut to a window")]
    Uncuttable { path: String, row_group: usize },
    #[error("{0} exists; pass --force to overwrite it")]
    Exists(String),
    #[error("{0} is not a regular file; memrec writes only regular files, even with --force")]
    NotRegular(String),
    #[error("reading {path}: {source}")]
    Read { path: String, source: ParquetError },
    #[error("writing {path}: {source}")]
    Write { path: String, source: ParquetError },
    #[error("writing {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl MergeError {
    /// The input that could not be read, when that is what went wrong
    /// (as the message names it).
    pub fn bad_input(&self) -> Option<&str> {
        match self {
            MergeError::Open { path, .. }
            | MergeError::NotParquet { path, .. }
            | MergeError::Meta { path, .. }
            | MergeError::Damaged { path, .. }
            | MergeError::Read { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Rows of nulls written at a time into other tables' columns.
const NULL_CHUNK: usize = 8192;
/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;
/// Encoded bytes a joined row group may hold in memory before it is
/// written, and all of them together. Smaller than the writer's budget: a
/// rotation merge runs beside the recording, and what it joins are the
/// small row groups (big ones are copied).
const GROUP_BYTES: usize = 4 << 20;
const OPEN_BYTES: usize = 4 << 20;

/// What is held of every input until the merge reaches it: its segments.
/// The rest of its footer is read when its row groups are (a footer parsed
/// in full takes about a kilobyte per column chunk, and its metadata tens
/// of kilobytes, and an hour of segments is hundreds of files).
struct Input {
    path: PathBuf,
    segment: Option<SegmentMeta>,
}

/// An input open for reading its row groups.
struct Opened {
    shown: String,
    file: File,
    arrow: ArrowReaderMetadata,
}

impl Opened {
    fn kv(&self, key: &str) -> Option<String> {
        self.arrow
            .metadata()
            .file_metadata()
            .key_value_metadata()?
            .iter()
            .find(|k| k.key == key)?
            .value
            .clone()
    }

    fn meta(&self) -> Result<FileMeta, MergeError> {
        FileMeta::from_parquet(self.arrow.metadata().file_metadata())
            .map(|(_, m)| m)
            .map_err(|source| MergeError::Meta {
                path: self.shown.clone(),
                source,
            })
    }

    fn root(&self) -> parquet::schema::types::TypePtr {
        self.arrow
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema_ptr()
    }
}

impl Input {
    fn peek(path: &Path) -> Result<Self, MergeError> {
        let opened = Self::load(path)?;
        Ok(Input {
            path: path.to_path_buf(),
            segment: opened.meta()?.segment,
        })
    }

    fn load(path: &Path) -> Result<Opened, MergeError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|source| MergeError::Open {
            path: shown.clone(),
            source,
        })?;
        let arrow = ArrowReaderMetadata::load(&file, Default::default()).map_err(|source| {
            MergeError::NotParquet {
                path: shown.clone(),
                source,
            }
        })?;
        Ok(Opened { shown, file, arrow })
    }

    /// Opens the input for reading its row groups, once its checksums
    /// match: copying a damaged chunk would give it fresh checksums that
    /// hide the damage.
    fn open(&self) -> Result<Opened, MergeError> {
        let opened = Self::load(&self.path)?;
        match integrity::verify(&opened.file, opened.arrow.metadata()) {
            Ok(Verified::Intact { .. }) => Ok(opened),
            Ok(Verified::Unchecked) => {
                tracing::warn!("{} has no checksums; merging it unchecked", opened.shown);
                Ok(opened)
            }
            Err(source) => Err(MergeError::Damaged {
                path: opened.shown,
                source,
            }),
        }
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// First and last segment number held (0 for a file without segments).
    fn segments(&self) -> (u64, u64) {
        self.segment.as_ref().map_or((0, 0), |s| (s.first, s.last))
    }
}

/// Refuses inputs of several recordings, and overlapping inputs. `ins` is
/// sorted by first segment.
fn check_inputs(ins: &[Input]) -> Result<(), MergeError> {
    let id = |i: &Input| i.segment.as_ref().map(|s| s.recording_id.clone());
    for pair in ins.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if id(a).is_none() || id(a) != id(b) {
            return Err(MergeError::Recordings {
                a: a.shown(),
                a_id: id(a).unwrap_or_else(|| "no segment id".into()),
                b: b.shown(),
                b_id: id(b).unwrap_or_else(|| "no segment id".into()),
            });
        }
        if b.segments().0 <= a.segments().1 {
            return Err(MergeError::Overlap {
                a: a.shown(),
                b: b.shown(),
                segment: b.segments().0,
            });
        }
    }
    Ok(())
}

use super::encode::{Mixed, OpenGroup, MIX_BYTES, MIX_ROWS};

/// Whether `t` is one of the stack store's tables (frames, mappings, kernel
/// symbols): rows that name what other tables' rows point at.
fn is_store(t: &str) -> bool {
    memtrace_schema::tables::stacks::TABLES
        .iter()
        .any(|s| s.name == t)
}

/// The output file being written.
struct Output {
    path: String,
    file: SerializedFileWriter<File>,
    /// The same open file, to compute the checksums from.
    raw: File,
    /// Writers of all-null chunks, and per table writers that compress
    /// only its columns (see the writer: no zstd context per null column).
    null_factory: ArrowRowGroupWriterFactory,
    own_factories: BTreeMap<String, ArrowRowGroupWriterFactory>,
    level: ZstdLevel,
    created_by: String,
    descr: parquet::schema::types::SchemaDescPtr,
    schema: SchemaRef,
    ts_col: Option<usize>,
    kind_col: Option<usize>,
    /// Each table's file columns (the common ones, then its own), by name.
    table_cols: BTreeMap<String, Vec<usize>>,
    open: BTreeMap<String, OpenGroup>,
    /// Rows of the tables still small in the output, for one shared group.
    mixed: Mixed<String>,
    /// Tables that outgrew it: their rows go to row groups of their own.
    own: BTreeSet<String>,
    nulls: Vec<ArrayRef>,
    opts: MergeOptions,
    rows: BTreeMap<String, u64>,
    copied: usize,
}

impl Output {
    fn new(
        file: File,
        path: String,
        first: &Opened,
        opts: &MergeOptions,
    ) -> Result<Self, MergeError> {
        let werr = |source| MergeError::Write {
            path: path.clone(),
            source,
        };
        let raw = file.try_clone().map_err(|source| MergeError::Io {
            path: path.clone(),
            source,
        })?;
        let descr = first.arrow.metadata().file_metadata().schema_descr();
        let level = ZstdLevel::try_new(opts.zstd_level).map_err(werr)?;
        let created_by = format!("memrec {}", env!("CARGO_PKG_VERSION"));
        let props = super::encode::base_properties(level, &created_by).build();
        let writer = SerializedFileWriter::new(file, descr.root_schema_ptr(), Arc::new(props))
            .map_err(werr)?;
        let schema = first.arrow.schema().clone();
        let null_factory =
            super::encode::null_factory(&schema, descr, &created_by).map_err(werr)?;
        let col = |name: &str| schema.index_of(name).ok();
        let mut table_cols = BTreeMap::new();
        for t in memtrace_schema::tables() {
            let cols: Option<Vec<usize>> = COMMON
                .iter()
                .map(|c| col(c.name))
                .chain(
                    t.columns
                        .iter()
                        .map(|c| col(&file_column_name(t.name, c.name))),
                )
                .collect();
            // A table this file's schema lacks cannot be encoded again; its
            // row groups are copied (and a window cut through one refused).
            if let Some(mut cols) = cols {
                cols.sort_unstable();
                table_cols.insert(t.name.to_string(), cols);
            }
        }
        let nulls = super::encode::null_arrays(&schema, NULL_CHUNK);
        Ok(Output {
            ts_col: col(COMMON[0].name),
            kind_col: col(KIND_COLUMN),
            path,
            file: writer,
            raw,
            null_factory,
            own_factories: BTreeMap::new(),
            level,
            created_by,
            descr: first.arrow.metadata().file_metadata().schema_descr_ptr(),
            schema,
            table_cols,
            open: BTreeMap::new(),
            mixed: Mixed::new(
                MIX_ROWS.min(opts.coalesce_below).min(opts.row_group_rows),
                MIX_BYTES,
            ),
            own: BTreeSet::new(),
            nulls,
            opts: opts.clone(),
            rows: BTreeMap::new(),
            copied: 0,
        })
    }

    /// The table of a row group, from its `kind` statistics (one table per
    /// row group, so min and max agree).
    fn kind_of(&self, rg: &RowGroupMetaData) -> Option<String> {
        let stats = rg.column(self.kind_col?).statistics()?;
        let (min, max) = (stats.min_bytes_opt()?, stats.max_bytes_opt()?);
        (min == max).then(|| String::from_utf8_lossy(min).into_owned())
    }

    /// The smallest and largest `ts_ns` of a row group, from its statistics.
    fn ts_range(&self, rg: &RowGroupMetaData) -> Option<(i64, i64)> {
        match rg.column(self.ts_col?).statistics()? {
            Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
            _ => None,
        }
    }

    /// Whether rows of table `t` go into the output (`store_only`: only
    /// the stack store's, from a reference file).
    fn wanted(&self, t: &str, store_only: bool) -> bool {
        self.opts.only_tables.as_ref().is_none_or(|s| s.contains(t)) && (!store_only || is_store(t))
    }

    /// Puts row group `i` of `input` into the output: copied, cut, joined
    /// or dropped. `store_only` keeps only the stack store's rows (a
    /// reference file).
    fn add(&mut self, input: &Opened, i: usize, store_only: bool) -> Result<(), MergeError> {
        let rg = input.arrow.metadata().row_group(i);
        let n = usize::try_from(rg.num_rows()).unwrap_or(0);
        if n == 0 {
            return Ok(());
        }
        let kind = self.kind_of(rg);
        if kind.is_none() {
            if let Some(tables) = self.tables_in(input, i)? {
                return self.add_mixed(input, i, &tables, store_only);
            }
        }
        if let Some(k) = &kind {
            if !self.wanted(k, store_only) {
                return Ok(());
            }
        } else if store_only || self.opts.only_tables.is_some() {
            // Rows of no table this memrec knows: not asked for.
            return Ok(());
        }
        let range = self.ts_range(rg);
        // The stack store's rows are never cut: events inside the window
        // name stacks first seen before it.
        let window = self
            .opts
            .window
            .filter(|_| !kind.as_deref().is_some_and(is_store));
        let (inside, outside) = match window {
            None => (true, false),
            Some((from, to)) => (
                range.is_some_and(|(lo, hi)| lo >= from && hi < to),
                range.is_some_and(|(lo, hi)| hi < from || lo >= to),
            ),
        };
        if outside {
            return Ok(());
        }
        // Only a row group of one known table, with nothing in other
        // tables' columns, can be decoded into that table's columns.
        let table = kind
            .clone()
            .filter(|k| self.table_cols.contains_key(k))
            .filter(|k| self.only_columns_of(rg, std::slice::from_ref(k)));
        let small = n < self.opts.coalesce_below;
        match table {
            Some(t) if !inside || small => self.decode(input, i, &t, window, false),
            _ if inside => {
                if let Some(k) = &kind {
                    // Rows of a table stay in time order across its groups.
                    if self.mixed.rows_of(k) > 0 {
                        self.write_shared()?;
                    }
                    self.close_group(k)?;
                }
                self.copy(input, i, kind)
            }
            _ => Err(MergeError::Uncuttable {
                path: input.shown.clone(),
                row_group: i,
            }),
        }
    }

    /// A row group of several tables (a segment's small tables share one):
    /// each wanted table's rows are decoded and joined as a small table's.
    fn add_mixed(
        &mut self,
        input: &Opened,
        i: usize,
        tables: &BTreeSet<String>,
        store_only: bool,
    ) -> Result<(), MergeError> {
        let rg = input.arrow.metadata().row_group(i);
        let known: Vec<String> = tables.iter().cloned().collect();
        let understood = known.iter().all(|t| self.table_cols.contains_key(t))
            && self.only_columns_of(rg, &known);
        if !understood {
            if store_only || self.opts.only_tables.is_some() {
                return Ok(());
            }
            let range = self.ts_range(rg);
            let inside = self
                .opts
                .window
                .is_none_or(|(from, to)| range.is_some_and(|(lo, hi)| lo >= from && hi < to));
            if !inside {
                return Err(MergeError::Uncuttable {
                    path: input.shown.clone(),
                    row_group: i,
                });
            }
            return self.copy(input, i, None);
        }
        let wanted: Vec<String> = known
            .into_iter()
            .filter(|t| self.wanted(t, store_only))
            .collect();
        for t in &wanted {
            let window = self.opts.window.filter(|_| !is_store(t));
            self.decode(input, i, t, window, true)?;
        }
        Ok(())
    }

    /// The tables whose rows row group `i` holds, read from its `kind`
    /// column; None when it has no such column.
    fn tables_in(&self, input: &Opened, i: usize) -> Result<Option<BTreeSet<String>>, MergeError> {
        let Some(kind) = self.kind_col else {
            return Ok(None);
        };
        let rerr = |source| MergeError::Read {
            path: input.shown.clone(),
            source,
        };
        let descr = input.arrow.metadata().file_metadata().schema_descr();
        let file = input.file.try_clone().map_err(|source| MergeError::Open {
            path: input.shown.clone(),
            source,
        })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, input.arrow.clone())
            .with_row_groups(vec![i])
            .with_projection(ProjectionMask::roots(descr, [kind]))
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(rerr)?;
        let mut out = BTreeSet::new();
        for batch in reader {
            let batch = batch.map_err(|e| rerr(e.into()))?;
            let Some(k) = batch.column(0).as_string_opt::<i32>() else {
                return Ok(None);
            };
            for v in k.iter().flatten() {
                if !out.contains(v) {
                    out.insert(v.to_string());
                }
            }
        }
        Ok(Some(out))
    }

    /// Whether every column outside those of `tables` is all null in `rg`.
    fn only_columns_of(&self, rg: &RowGroupMetaData, tables: &[String]) -> bool {
        let owns = |c: usize| {
            tables.iter().any(|t| {
                self.table_cols
                    .get(t)
                    .is_some_and(|own| own.binary_search(&c).is_ok())
            })
        };
        !tables.is_empty()
            && rg.columns().iter().enumerate().all(|(c, chunk)| {
                owns(c)
                    || chunk
                        .statistics()
                        .and_then(|s| s.null_count_opt())
                        .is_some_and(|nulls| i64::try_from(nulls).ok() == Some(rg.num_rows()))
            })
    }

    /// Copies row group `i` of `input` byte for byte.
    fn copy(&mut self, input: &Opened, i: usize, kind: Option<String>) -> Result<(), MergeError> {
        let rg = input.arrow.metadata().row_group(i);
        let werr = |source| MergeError::Write {
            path: self.path.clone(),
            source,
        };
        let mut w = self.file.next_row_group().map_err(werr)?;
        for c in rg.columns() {
            let close = ColumnCloseResult {
                bytes_written: u64::try_from(c.compressed_size()).unwrap_or(0),
                rows_written: u64::try_from(rg.num_rows()).unwrap_or(0),
                metadata: c.clone(),
                bloom_filter: None,
                column_index: None,
                offset_index: None,
            };
            w.append_column(&input.file, close)
                .map_err(|source| MergeError::Read {
                    path: input.shown.clone(),
                    source,
                })?;
        }
        w.close().map_err(werr)?;
        self.copied += 1;
        let kind = kind.unwrap_or_else(|| "(unknown)".to_string());
        *self.rows.entry(kind).or_default() += u64::try_from(rg.num_rows()).unwrap_or(0);
        Ok(())
    }

    /// Decodes table `t`'s rows of row group `i` of `input` (only those
    /// whose `kind` is `t` when the group holds several tables, `mixed`),
    /// keeps the rows inside `window`, and joins them to `t`'s rows.
    fn decode(
        &mut self,
        input: &Opened,
        i: usize,
        t: &str,
        window: Option<(i64, i64)>,
        mixed: bool,
    ) -> Result<(), MergeError> {
        let rerr = |source| MergeError::Read {
            path: input.shown.clone(),
            source,
        };
        let cols = self.table_cols.get(t).cloned().unwrap_or_default();
        let descr = input.arrow.metadata().file_metadata().schema_descr();
        let file = input.file.try_clone().map_err(|source| MergeError::Open {
            path: input.shown.clone(),
            source,
        })?;
        let mut reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, input.arrow.clone())
                .with_row_groups(vec![i])
                .with_projection(ProjectionMask::roots(descr, cols.iter().copied()))
                .with_batch_size(BATCH_ROWS);
        let window = window.filter(|_| self.ts_col.is_some());
        let kind = self.kind_col.filter(|_| mixed);
        if window.is_some() || kind.is_some() {
            let filter_cols: Vec<usize> = self.ts_col.iter().chain(kind.iter()).copied().collect();
            let table = t.to_string();
            let keep = move |b: RecordBatch| {
                let n = b.num_rows();
                let mut keep = vec![true; n];
                if let Some((from, to)) = window {
                    let ts = b
                        .column_by_name(COMMON[0].name)
                        .and_then(|c| c.as_primitive_opt::<Int64Type>())
                        .ok_or_else(|| {
                            arrow_schema::ArrowError::SchemaError("ts_ns is not Int64".into())
                        })?;
                    for (k, v) in keep.iter_mut().zip(ts.iter()) {
                        *k &= v.is_some_and(|v| v >= from && v < to);
                    }
                }
                if let Some(kinds) = b.column_by_name(KIND_COLUMN) {
                    let kinds = kinds.as_string_opt::<i32>().ok_or_else(|| {
                        arrow_schema::ArrowError::SchemaError("kind is not a string".into())
                    })?;
                    for (k, v) in keep.iter_mut().zip(kinds.iter()) {
                        *k &= v == Some(table.as_str());
                    }
                }
                Ok(keep.into_iter().map(Some).collect::<BooleanArray>())
            };
            let pred = ArrowPredicateFn::new(ProjectionMask::roots(descr, filter_cols), keep);
            reader = reader.with_row_filter(RowFilter::new(vec![Box::new(pred)]));
        }
        for batch in reader.build().map_err(rerr)? {
            let batch = batch.map_err(|e| rerr(e.into()))?;
            if batch.num_rows() > 0 {
                self.stage(t, &cols, batch)?;
            }
        }
        Ok(())
    }

    /// Joins a decoded batch of table `t` to its rows: held for the row
    /// group the small tables share, or encoded into its own.
    ///
    /// Unlike the writer's, a merge's held rows that pass the byte limit are
    /// written out together as one shared row group, rather than the
    /// largest table moving to a group of its own: an open encoded group
    /// takes two to three times the decoded rows' bytes in memory (each
    /// column's page and dictionary buffers), so it would fill the merge's
    /// budget after a few thousand rows and close many small row groups.
    /// Only a table that passes the row limit alone (a big row group cut by
    /// a window) is encoded into its own.
    fn stage(&mut self, t: &str, cols: &[usize], batch: RecordBatch) -> Result<(), MergeError> {
        if self.own.contains(t) {
            return self.write(t, cols, &batch);
        }
        let key = t.to_string();
        self.mixed.push(&key, cols, batch);
        match self.mixed.over(&key) {
            Some(big) if big == key && self.mixed.rows_of(&key) >= self.mixed.row_limit() => {
                self.own_groups(&key)
            }
            Some(_) => self.write_shared(),
            None => Ok(()),
        }
    }

    /// Gives table `t` row groups of its own from now on, starting with
    /// the rows held for the shared one.
    fn own_groups(&mut self, t: &str) -> Result<(), MergeError> {
        if !self.own.insert(t.to_string()) {
            return Ok(());
        }
        let cols = self.table_cols.get(t).cloned().unwrap_or_default();
        for b in self.mixed.take(&t.to_string()) {
            self.write(t, &cols, &b)?;
        }
        Ok(())
    }

    /// Encodes a batch of table `t` (its columns `cols`, in order).
    fn write(&mut self, t: &str, cols: &[usize], batch: &RecordBatch) -> Result<(), MergeError> {
        let werr = |source| MergeError::Write {
            path: self.path.clone(),
            source,
        };
        if !self.open.contains_key(t) {
            if !self.own_factories.contains_key(t) {
                let f = super::encode::own_factory(
                    &self.schema,
                    &self.descr,
                    self.level,
                    &self.created_by,
                    |fc| cols.binary_search(&fc).is_ok(),
                )
                .map_err(werr)?;
                self.own_factories.insert(t.to_string(), f);
            }
            let Some(factory) = self.own_factories.get(t) else {
                return Ok(());
            };
            let writers = factory.create_column_writers(0).map_err(werr)?;
            let writers = writers
                .into_iter()
                .enumerate()
                .map(|(fc, w)| cols.binary_search(&fc).is_ok().then_some(w))
                .collect();
            self.open.insert(
                t.to_string(),
                OpenGroup {
                    writers,
                    index: 0,
                    rows: 0,
                },
            );
        }
        let Some(group) = self.open.get_mut(t) else {
            return Ok(());
        };
        for (array, &fc) in batch.columns().iter().zip(cols) {
            if let Some(w) = group.writers[fc].as_mut() {
                for leaf in compute_leaves(self.schema.field(fc), array).map_err(werr)? {
                    w.write(&leaf).map_err(werr)?;
                }
            }
        }
        group.rows += batch.num_rows();
        if group.rows >= self.opts.row_group_rows.max(1) || group.memory_size() >= GROUP_BYTES {
            self.close_group(t)?;
        }
        // One budget for all open groups: write out the largest until it fits.
        loop {
            let sizes: Vec<(String, usize)> = self
                .open
                .iter()
                .map(|(k, g)| (k.clone(), g.memory_size()))
                .collect();
            let total: usize = sizes.iter().map(|(_, b)| b).sum();
            match sizes.into_iter().max_by_key(|(_, b)| *b) {
                Some((largest, _)) if total > OPEN_BYTES => self.close_group(&largest)?,
                _ => break,
            }
        }
        Ok(())
    }

    /// Writes table `t`'s open row group, nulls in every other column.
    fn close_group(&mut self, t: &str) -> Result<(), MergeError> {
        let Some(group) = self.open.remove(t) else {
            return Ok(());
        };
        tracing::debug!(
            "merge: closing {t}'s row group: {} rows, {} bytes in memory",
            group.rows,
            group.memory_size()
        );
        let werr = |source| MergeError::Write {
            path: self.path.clone(),
            source,
        };
        let fresh = self.null_factory.create_column_writers(0).map_err(werr)?;
        let mut chunks = Vec::with_capacity(fresh.len());
        for (fc, (own, mut w)) in group.writers.into_iter().zip(fresh).enumerate() {
            if let Some(own) = own {
                chunks.push(own.close().map_err(werr)?);
                continue;
            }
            let field = self.schema.field(fc);
            let mut left = group.rows;
            while left > 0 {
                let n = left.min(NULL_CHUNK);
                for leaf in compute_leaves(field, &self.nulls[fc].slice(0, n)).map_err(werr)? {
                    w.write(&leaf).map_err(werr)?;
                }
                left -= n;
            }
            chunks.push(w.close().map_err(werr)?);
        }
        let mut rg = self.file.next_row_group().map_err(werr)?;
        for c in chunks {
            c.append_to_row_group(&mut rg).map_err(werr)?;
        }
        rg.close().map_err(werr)?;
        *self.rows.entry(t.to_string()).or_default() += group.rows as u64;
        Ok(())
    }

    /// Writes the held rows of the small tables as one row group.
    fn write_shared(&mut self) -> Result<(), MergeError> {
        if self.mixed.is_empty() {
            return Ok(());
        }
        let werr = |source| MergeError::Write {
            path: self.path.clone(),
            source,
        };
        let (chunks, rows) = self
            .mixed
            .encode(
                &self.schema,
                &self.descr,
                self.level,
                &self.created_by,
                &self.nulls,
                0,
            )
            .map_err(werr)?;
        let mut rg = self.file.next_row_group().map_err(werr)?;
        for c in chunks {
            c.append_to_row_group(&mut rg).map_err(werr)?;
        }
        rg.close().map_err(werr)?;
        for (t, n) in rows {
            *self.rows.entry(t).or_default() += n as u64;
        }
        Ok(())
    }

    /// Writes every open row group.
    fn close_all(&mut self) -> Result<(), MergeError> {
        let tables: Vec<String> = self.open.keys().cloned().collect();
        for t in tables {
            self.close_group(&t)?;
        }
        self.write_shared()
    }

    /// Writes the footer with `kv` and the checksums, and syncs the file.
    /// Returns the row groups written and the footer size.
    fn finish(mut self, kv: Vec<KeyValue>) -> Result<(usize, u64), MergeError> {
        self.close_all()?;
        let ioerr = |source| MergeError::Io {
            path: self.path.clone(),
            source,
        };
        // The checksums read back the bytes the footer will point at.
        self.file.flush().map_err(ioerr)?;
        let groups = self.file.flushed_row_groups().len();
        let sums =
            integrity::compute(&self.raw, self.file.flushed_row_groups(), &kv).map_err(ioerr)?;
        let data_end = self.file.bytes_written() as u64;
        for k in kv {
            self.file.append_key_value_metadata(k);
        }
        self.file
            .append_key_value_metadata(integrity::to_key_value(&sums));
        let werr = |source| MergeError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.finish().map_err(werr)?;
        self.file.flush().map_err(ioerr)?;
        self.raw.sync_all().map_err(ioerr)?;
        let len = self.raw.metadata().map_err(ioerr)?.len();
        Ok((groups, len.saturating_sub(data_end)))
    }
}

/// Removes the temporary output unless it was moved into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The clocks at `ts_ns` (boot time), from a reading of them taken near it:
/// the offsets between the clocks hold unless the system was suspended or
/// the wall clock was stepped in between.
fn anchor_at(a: &ClockAnchor, ts_ns: i64) -> ClockAnchor {
    let d = ts_ns - a.boottime_ns;
    ClockAnchor {
        boottime_ns: ts_ns,
        realtime_ns: a.realtime_ns + d,
        monotonic_ns: a.monotonic_ns + d,
    }
}

fn rfc3339(realtime_ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(realtime_ns).to_rfc3339()
}

/// Clips the metadata's window to `from..to`. Readers take the window's
/// edges to be the clock anchors, so an edge moved gets its anchor moved
/// with it, derived from the reading at the segment's edge.
fn clip(meta: &mut FileMeta, from: i64, to: i64) {
    let n = meta.clock_anchors.len();
    let (start, end) = (meta.start_ns, meta.end_ns);
    if start < from || end > to {
        // Readers compare the counters read at the edges with the rows:
        // say that those edges lie outside the window.
        meta.warnings.push(format!(
            "cut to a window: vmstat, zone and buddyinfo readings and probe counts cover \
             the segments merged, {:?} before and {:?} after the rows' window",
            std::time::Duration::from_nanos((from - start).max(0).unsigned_abs()),
            std::time::Duration::from_nanos((end - to).max(0).unsigned_abs())
        ));
    }
    if meta.start_ns < from {
        meta.start_ns = from;
        if n >= 2 {
            meta.clock_anchors[0] = anchor_at(&meta.clock_anchors[0], from);
            meta.start_time = rfc3339(meta.clock_anchors[0].realtime_ns);
        }
    }
    if meta.end_ns > to {
        meta.end_ns = to;
        if n >= 2 {
            meta.clock_anchors[n - 1] = anchor_at(&meta.clock_anchors[n - 1], to);
            meta.end_time = rfc3339(meta.clock_anchors[n - 1].realtime_ns);
        }
    }
}

/// Merges `inputs` (closed segments or merged files of one recording, in
/// any order) into `out`, which must not exist (unless `opts.force` and it
/// is a regular file). See the module documentation.
pub fn merge(
    inputs: &[PathBuf],
    out: &Path,
    opts: &MergeOptions,
) -> Result<MergeSummary, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    let mut ins = inputs
        .iter()
        .map(|p| Input::peek(p))
        .collect::<Result<Vec<_>, _>>()?;
    ins.sort_by_key(|i| i.segments().0);
    check_inputs(&ins)?;

    let shown = out.display().to_string();
    let exists = match std::fs::symlink_metadata(out) {
        Ok(m) if !m.file_type().is_file() => return Err(MergeError::NotRegular(shown)),
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(source) => {
            return Err(MergeError::Io {
                path: shown,
                source,
            })
        }
    };
    if exists && !opts.force {
        return Err(MergeError::Exists(shown));
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(160).collect::<String>())
        .unwrap_or_default();
    let ioerr = |source| MergeError::Io {
        path: shown.clone(),
        source,
    };
    let (file, temp) =
        crate::output::create_exclusive(&dir, &format!("{name}.merge")).map_err(ioerr)?;
    let mut temp = TempFile {
        path: temp,
        keep: false,
    };

    let first = ins[0].open()?;
    let root = first.root();
    let version = first.kv(SCHEMA_VERSION_KEY);
    let mut w = Output::new(file, shown.clone(), &first, opts)?;
    drop(first);
    let mut input_row_groups = 0;
    // References first: the stacks they name were seen before the inputs'.
    for path in &opts.references {
        let r = Input::peek(path)?;
        let id = |i: &Input| i.segment.as_ref().map(|s| s.recording_id.clone());
        if id(&r).is_none() || id(&r) != id(&ins[0]) {
            return Err(MergeError::Recordings {
                a: ins[0].shown(),
                a_id: id(&ins[0]).unwrap_or_else(|| "no segment id".into()),
                b: r.shown(),
                b_id: id(&r).unwrap_or_else(|| "no segment id".into()),
            });
        }
        let opened = r.open()?;
        if opened.root() != root {
            return Err(MergeError::Schema {
                path: opened.shown,
                first: ins[0].shown(),
            });
        }
        for i in 0..opened.arrow.metadata().num_row_groups() {
            w.add(&opened, i, true)?;
        }
    }
    // The metadata of the inputs so far: segments combine one at a time as
    // they do all at once (edges from the ends, sums of the counts).
    let mut combined: Option<FileMeta> = None;
    // One input's footer in memory at a time.
    for input in &ins {
        let opened = input.open()?;
        if opened.root() != root {
            return Err(MergeError::Schema {
                path: opened.shown,
                first: ins[0].shown(),
            });
        }
        let m = opened.meta()?;
        combined = Some(match combined.take() {
            None => m,
            Some(acc) => FileMeta::combine(&[acc, m])?,
        });
        let n = opened.arrow.metadata().num_row_groups();
        input_row_groups += n;
        for i in 0..n {
            w.add(&opened, i, false)?;
        }
    }
    // Every row is in a row group now: the counts are final.
    w.close_all()?;
    let Some(mut meta) = combined else {
        return Err(MergeError::NoInputs);
    };
    let rows = w.rows.clone();
    let copied = w.copied;

    // The rows in the file (a window keeps fewer than the segments counted;
    // a segment salvaged from a full disk holds fewer than were pushed).
    for n in meta.rows.values_mut() {
        *n = 0;
    }
    // (A row group of several tables is counted in the summary only.)
    for (t, n) in rows
        .iter()
        .filter(|(t, _)| memtrace_schema::table(t).is_some())
    {
        *meta.rows.entry(t.clone()).or_default() += n;
    }
    if let Some((from, to)) = opts.window {
        clip(&mut meta, from, to);
    }
    if opts.trigger.is_some() {
        meta.trigger = opts.trigger.clone();
    }
    let json = meta.to_json().map_err(|source| MergeError::Encode {
        path: shown.clone(),
        source,
    })?;
    let kv = vec![
        KeyValue::new(
            SCHEMA_VERSION_KEY.to_string(),
            version.unwrap_or_else(|| memtrace_schema::SCHEMA_VERSION.to_string()),
        ),
        // No Arrow schema: the Parquet types read back as the same ones.
        KeyValue::new(META_KEY.to_string(), json),
    ];
    let (row_groups, footer_bytes) = w.finish(kv)?;
    let bytes = std::fs::metadata(&temp.path).map_err(ioerr)?.len();

    let moved = if opts.force {
        // Checked above that only a regular file is there; a rename
        // replaces the name, never a link's target.
        std::fs::rename(&temp.path, out)
    } else {
        crate::output::rename_noreplace(&temp.path, out)
    };
    match moved {
        Ok(()) => temp.keep = true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(MergeError::Exists(shown))
        }
        Err(source) => return Err(ioerr(source)),
    }
    // The rename is durable once the directory is on disk.
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| MergeError::Io {
            path: dir.display().to_string(),
            source,
        })?;

    let mut held = Vec::new();
    for i in &ins {
        if let Some(s) = &i.segment {
            held.extend(s.first..=s.last);
        }
    }
    Ok(MergeSummary {
        rows,
        row_groups,
        row_groups_copied: copied,
        input_row_groups,
        bytes,
        footer_bytes,
        start_ns: meta.start_ns,
        end_ns: meta.end_ns,
        start_time: meta.start_time,
        end_time: meta.end_time,
        files: ins.len(),
        gaps: FileMeta::missing_segments(&held),
        segments: held,
    })
}

/// Segments for tests, written by memrec's own writer.
#[cfg(test)]
pub(crate) mod test_segments {
    use std::fs::File;
    use std::path::{Path, PathBuf};

    use memtrace_schema::tables::{pr::reclaim_end, procstat::procstat, stacks::stack_frame};
    use memtrace_schema::{ClockAnchor, FileMeta, SegmentMeta};

    use crate::writer::{create, WriterOptions};

    /// One row: its table (`procstat` or `reclaim_end`) and `ts_ns`.
    pub type Rows<'a> = &'a [(&'static str, i64)];

    use crate::writer::tests::hdr;

    /// The metadata of segment `k` of recording `id`, spanning `start..end`.
    pub fn meta(id: &str, k: u64, start: i64, end: i64, rows: Rows) -> FileMeta {
        let anchor = |ts: i64| ClockAnchor {
            boottime_ns: ts,
            realtime_ns: 1_700_000_000_000_000_000 + ts,
            monotonic_ns: ts,
        };
        let wall =
            |ts: i64| chrono::DateTime::from_timestamp_nanos(anchor(ts).realtime_ns).to_rfc3339();
        let mut m = FileMeta {
            schema_version: 1,
            hostname: "h".into(),
            start_ns: start,
            end_ns: end,
            clock_anchors: vec![anchor(start), anchor(end)],
            start_time: wall(start),
            end_time: wall(end),
            vmstat_start: [("pgfault".to_string(), start as u64)].into(),
            vmstat_end: [("pgfault".to_string(), end as u64)].into(),
            segment: Some(SegmentMeta {
                recording_id: id.into(),
                first: k,
                last: k,
            }),
            ..Default::default()
        };
        for (t, _) in rows {
            *m.rows.entry(t.to_string()).or_default() += 1;
        }
        m
    }

    /// Writes segment `k` of recording `id` as `dir/NNNNNN.parquet` with
    /// `rows`, at most `group_rows` rows per row group.
    pub fn write(
        dir: &Path,
        id: &str,
        k: u64,
        span: (i64, i64),
        rows: Rows,
        group_rows: usize,
    ) -> PathBuf {
        let path = dir.join(format!("{k:06}.parquet"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let opts = WriterOptions {
            batch_rows: 2,
            row_group_rows: group_rows,
            zstd_level: 1,
            ..Default::default()
        };
        let (mut t, w) = create(file, dir, &opts).unwrap();
        for &(table, ts) in rows {
            match table {
                "procstat" => t.push(
                    &hdr(ts),
                    &procstat::Row {
                        reason: "switch".into(),
                        rss_anon: 4096 * ts as u64,
                        ..Default::default()
                    },
                ),
                "stack_frame" => t.push(
                    &hdr(ts),
                    &stack_frame::Row {
                        stack_id: ts as u64,
                        depth: 0,
                        ip: 0x1000 + ts as u64,
                        kernel: false,
                    },
                ),
                _ => t.push(
                    &hdr(ts),
                    &reclaim_end::Row {
                        nr_reclaimed: ts as u64,
                        begin_ts_ns: None,
                        ..Default::default()
                    },
                ),
            }
            .unwrap();
        }
        t.finish(meta(id, k, span.0, span.1, rows)).unwrap();
        w.join().unwrap();
        path
    }

    /// Every record batch of a Parquet file, in file order.
    pub fn batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
    }

    /// A batch's `kind` and `ts_ns` columns.
    pub fn kind_ts(
        b: &arrow_array::RecordBatch,
    ) -> (arrow_array::StringArray, arrow_array::Int64Array) {
        use arrow_array::cast::AsArray;
        use arrow_array::types::Int64Type;
        let kind = b.column_by_name("kind").unwrap().as_string::<i32>().clone();
        let ts = b
            .column_by_name("ts_ns")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        (kind, ts)
    }

    /// Every row of a file as (table, ts_ns, a value of the row), sorted.
    pub fn read_rows(path: &Path) -> Vec<(String, i64, u64)> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt64Type;
        use arrow_array::Array;
        let mut out = Vec::new();
        for b in batches(path) {
            let (kind, ts) = kind_ts(&b);
            let rss = b
                .column_by_name("procstat.rss_anon")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone();
            let rec = b
                .column_by_name("reclaim_end.nr_reclaimed")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone();
            let frame = b
                .column_by_name("stack_frame.stack_id")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone();
            for i in 0..b.num_rows() {
                let v = if rss.is_valid(i) {
                    rss.value(i)
                } else if frame.is_valid(i) {
                    frame.value(i)
                } else {
                    rec.value(i)
                };
                out.push((kind.value(i).to_string(), ts.value(i), v));
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_segments::{read_rows, write};
    use super::*;
    use arrow_array::new_null_array;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// Rows `from..to` of procstat, and every third of reclaim_end.
    fn rows(from: i64, to: i64) -> Vec<(&'static str, i64)> {
        let mut v: Vec<(&'static str, i64)> = (from..to).map(|ts| ("procstat", ts)).collect();
        v.extend(
            (from..to)
                .filter(|ts| ts % 3 == 0)
                .map(|ts| ("reclaim_end", ts)),
        );
        v
    }

    /// Three segments of recording `a`, 10 ns each, written out of order;
    /// procstat in row groups of 4.
    fn three(dir: &Path) -> Vec<PathBuf> {
        vec![
            write(dir, "a", 2, (10, 20), &rows(10, 20), 4),
            write(dir, "a", 1, (0, 10), &rows(0, 10), 4),
            write(dir, "a", 3, (20, 30), &rows(20, 30), 4),
        ]
    }

    fn footer(path: &Path) -> (File, parquet::file::metadata::ParquetMetaData) {
        let file = File::open(path).unwrap();
        let md = SerializedFileReader::new(file.try_clone().unwrap())
            .unwrap()
            .metadata()
            .clone();
        (file, md)
    }

    fn file_meta(path: &Path) -> FileMeta {
        FileMeta::from_parquet(footer(path).1.file_metadata())
            .unwrap()
            .1
    }

    fn verified(path: &Path) -> Verified {
        let (file, md) = footer(path);
        integrity::verify(&file, &md).unwrap()
    }

    fn all_rows(paths: &[PathBuf]) -> Vec<(String, i64, u64)> {
        let mut v: Vec<_> = paths.iter().flat_map(|p| read_rows(p)).collect();
        v.sort();
        v
    }

    #[test]
    fn segments_merge_into_one_verified_file_copied_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let ins = three(dir.path());
        let out = dir.path().join("run.parquet");
        let opts = MergeOptions {
            coalesce_below: 0,
            ..Default::default()
        };
        let s = merge(&ins, &out, &opts).unwrap();
        // Every row, once; every row group copied.
        assert_eq!(read_rows(&out), all_rows(&ins));
        let (_, md) = footer(&out);
        assert_eq!(md.file_metadata().num_rows() as u64, s.total_rows());
        assert_eq!(s.total_rows(), 30 + 10);
        assert_eq!(s.rows["procstat"], 30);
        assert_eq!(s.rows["reclaim_end"], 10);
        assert_eq!(s.input_row_groups, 3 * 4);
        assert_eq!((s.row_groups, s.row_groups_copied), (12, 12));
        assert_eq!(s.segments, [1, 2, 3]);
        assert!(s.gaps.is_empty());
        assert_eq!((s.start_ns, s.end_ns), (0, 30));
        assert!(matches!(verified(&out), Verified::Intact { .. }));
        // The metadata is that of the whole recording.
        let metas: Vec<FileMeta> = ins.iter().map(|p| file_meta(p)).collect();
        assert_eq!(file_meta(&out), FileMeta::combine(&metas).unwrap());
        // The inputs are untouched, and nothing else is left beside.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn small_tables_are_joined_into_one_row_group() {
        let dir = tempfile::tempdir().unwrap();
        let ins = three(dir.path());
        let out = dir.path().join("run.parquet");
        let s = merge(&ins, &out, &MergeOptions::default()).unwrap();
        assert_eq!(read_rows(&out), all_rows(&ins));
        // Both tables are small: one row group holds them, each table's
        // rows in one run, in time order (the footer lists every column
        // once, not once per table).
        assert_eq!((s.row_groups, s.row_groups_copied), (1, 0));
        assert!(matches!(verified(&out), Verified::Intact { .. }));
        let (_, md) = footer(&out);
        let kind = md.row_group(0).column(1).statistics().unwrap();
        assert_ne!(kind.min_bytes_opt(), kind.max_bytes_opt());
        let order = file_order(&out);
        let runs: Vec<&str> = order.iter().fold(Vec::new(), |mut v, (k, _)| {
            if v.last() != Some(&k.as_str()) {
                v.push(k.as_str());
            }
            v
        });
        assert_eq!(runs, ["procstat", "reclaim_end"]);
        for t in runs {
            let ts: Vec<i64> = order.iter().filter(|(k, _)| k == t).map(|x| x.1).collect();
            assert!(ts.is_sorted(), "{t}: {ts:?}");
        }
        // A table that outgrows the shared group gets its own, with its
        // rows in time order across them.
        let out2 = dir.path().join("own.parquet");
        let opts = MergeOptions {
            row_group_rows: 4,
            ..Default::default()
        };
        let s = merge(&ins, &out2, &opts).unwrap();
        assert_eq!(read_rows(&out2), all_rows(&ins));
        assert!(s.row_groups > 1);
        let (_, md2) = footer(&out2);
        assert!(md2.row_groups().iter().any(|rg| {
            let kind = rg.column(1).statistics().unwrap();
            kind.min_bytes_opt() == kind.max_bytes_opt()
        }));
        let order = file_order(&out2);
        for t in ["procstat", "reclaim_end"] {
            let ts: Vec<i64> = order.iter().filter(|(k, _)| k == t).map(|x| x.1).collect();
            assert!(ts.is_sorted(), "{t}: {ts:?}");
        }
        // A merged file merges again, with a segment that came later.
        let more = write(dir.path(), "a", 5, (40, 50), &rows(40, 50), 4);
        let again = dir.path().join("again.parquet");
        let s = merge(
            &[more.clone(), out.clone()],
            &again,
            &MergeOptions::default(),
        )
        .unwrap();
        assert_eq!(s.segments, [1, 2, 3, 5]);
        assert_eq!(s.gaps, [4]);
        assert_eq!(read_rows(&again), all_rows(&[out, more]));
        let seg = file_meta(&again).segment.unwrap();
        assert_eq!((seg.first, seg.last), (1, 5));
    }

    #[test]
    fn a_window_keeps_exactly_the_rows_inside() {
        for coalesce_below in [0, 64 << 10] {
            let dir = tempfile::tempdir().unwrap();
            let ins = three(dir.path());
            let out = dir.path().join("cut.parquet");
            let trigger = TriggerMeta {
                kind: "oom".into(),
                ts_ns: 15,
                detail: "victim 42".into(),
                keep_ns: 10,
                tail_ns: 10,
            };
            let opts = MergeOptions {
                window: Some((5, 25)),
                trigger: Some(trigger.clone()),
                coalesce_below,
                ..Default::default()
            };
            let s = merge(&ins, &out, &opts).unwrap();
            let want: Vec<_> = all_rows(&ins)
                .into_iter()
                .filter(|(_, ts, _)| (5..25).contains(ts))
                .collect();
            assert_eq!(read_rows(&out), want, "coalesce_below {coalesce_below}");
            assert_eq!(s.total_rows(), want.len() as u64);
            if coalesce_below == 0 {
                // Segment 2's row groups lie inside: copied as they were.
                assert!(s.row_groups_copied >= 3, "{s:?}");
            }
            assert!(matches!(verified(&out), Verified::Intact { .. }));
            let m = file_meta(&out);
            assert_eq!((m.start_ns, m.end_ns), (5, 25));
            // The anchors moved with the edges (readers hold them equal),
            // the wall-clock offset kept.
            let (a, z) = (&m.clock_anchors[0], &m.clock_anchors[1]);
            assert_eq!((a.boottime_ns, z.boottime_ns), (5, 25));
            assert_eq!(a.realtime_ns - a.boottime_ns, 1_700_000_000_000_000_000);
            assert_eq!(z.realtime_ns - z.boottime_ns, 1_700_000_000_000_000_000);
            assert_eq!(m.start_time, rfc3339(a.realtime_ns));
            assert_eq!(m.end_time, rfc3339(z.realtime_ns));
            assert_eq!(m.rows["procstat"], 20);
            assert_eq!(m.trigger, Some(trigger));
            // Counters read at the edges stay the segments', and say so.
            assert!(
                m.warnings
                    .iter()
                    .any(|w| w.contains("5ns before and 5ns after")),
                "{:?}",
                m.warnings
            );
            assert_eq!(m.vmstat_start["pgfault"], 0);
            assert_eq!(m.vmstat_end["pgfault"], 30);
        }
    }

    #[test]
    fn segments_of_two_recordings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", 1, (0, 10), &rows(0, 10), 100);
        let b = write(dir.path(), "b", 2, (10, 20), &rows(10, 20), 100);
        let out = dir.path().join("run.parquet");
        let e = merge(&[a.clone(), b], &out, &MergeOptions::default()).unwrap_err();
        assert!(matches!(e, MergeError::Recordings { .. }), "{e}");
        assert!(e.to_string().contains("000001.parquet"), "{e}");
        // The same segment twice is refused too.
        let e = merge(&[a.clone(), a], &out, &MergeOptions::default()).unwrap_err();
        assert!(matches!(e, MergeError::Overlap { segment: 1, .. }), "{e}");
        // Nothing was written.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn an_existing_output_is_not_replaced_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let ins = three(dir.path());
        let out = dir.path().join("run.parquet");
        std::fs::write(&out, b"theirs").unwrap();
        let e = merge(&ins, &out, &MergeOptions::default()).unwrap_err();
        assert!(matches!(e, MergeError::Exists(_)), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
        let force = MergeOptions {
            force: true,
            ..Default::default()
        };
        merge(&ins, &out, &force).unwrap();
        assert_eq!(read_rows(&out), all_rows(&ins));
        // A link is never written through, even with force.
        let link = dir.path().join("link.parquet");
        std::os::unix::fs::symlink(&out, &link).unwrap();
        let e = merge(&ins, &link, &force).unwrap_err();
        assert!(matches!(e, MergeError::NotRegular(_)), "{e}");
    }

    #[test]
    fn a_damaged_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ins = three(dir.path());
        let (_, md) = footer(&ins[0]);
        let (start, _) = md.row_group(0).column(0).byte_range();
        let mut bytes = std::fs::read(&ins[0]).unwrap();
        bytes[start as usize + 10] ^= 0x40;
        std::fs::write(&ins[0], &bytes).unwrap();
        let out = dir.path().join("run.parquet");
        let e = merge(&ins, &out, &MergeOptions::default()).unwrap_err();
        assert!(matches!(e, MergeError::Damaged { .. }), "{e}");
        assert!(e.to_string().contains("000002.parquet"), "{e}");
        assert!(!out.exists());
    }

    /// Stack-store rows are never cut by the window (events inside it name
    /// stacks first seen before it), and a reference file adds its store
    /// rows, and only those, without its metadata.
    #[test]
    fn stack_rows_are_kept_whole_and_references_add_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut r1 = rows(0, 10);
        r1.extend([("stack_frame", 2), ("stack_frame", 5)]);
        let seg1 = write(dir.path(), "a", 1, (0, 10), &r1, 4);
        let mut r2 = rows(10, 20);
        r2.push(("stack_frame", 11));
        let seg2 = write(dir.path(), "a", 2, (10, 20), &r2, 4);
        let out = dir.path().join("window.parquet");
        let opts = MergeOptions {
            window: Some((15, 20)),
            references: vec![seg1.clone()],
            ..Default::default()
        };
        let s = merge(std::slice::from_ref(&seg2), &out, &opts).unwrap();
        let got = read_rows(&out);
        let frames: Vec<i64> = got
            .iter()
            .filter(|r| r.0 == "stack_frame")
            .map(|r| r.1)
            .collect();
        assert_eq!(frames, [2, 5, 11]);
        let procstat: Vec<i64> = got
            .iter()
            .filter(|r| r.0 == "procstat")
            .map(|r| r.1)
            .collect();
        assert_eq!(procstat, (15..20).collect::<Vec<_>>());
        assert_eq!(s.rows.get("stack_frame"), Some(&3));
        // The reference's metadata is not the output's.
        let seg = file_meta(&out).segment.unwrap();
        assert_eq!((seg.first, seg.last), (2, 2));
        assert_eq!(s.segments, [2]);

        // Only the store's tables (what a carry of stacks holds).
        let carry = dir.path().join("carry.parquet");
        let only = MergeOptions {
            only_tables: Some(crate::spool::store_tables()),
            ..Default::default()
        };
        merge(&[seg1, seg2.clone()], &carry, &only).unwrap();
        let kinds: BTreeSet<String> = read_rows(&carry).into_iter().map(|r| r.0).collect();
        assert_eq!(kinds, BTreeSet::from(["stack_frame".to_string()]));

        // A reference of another recording is refused.
        let other = write(dir.path(), "b", 7, (0, 10), &rows(0, 10), 4);
        let opts = MergeOptions {
            references: vec![other],
            ..Default::default()
        };
        let e = merge(&[seg2], &dir.path().join("x.parquet"), &opts).unwrap_err();
        assert!(matches!(e, MergeError::Recordings { .. }), "{e}");
    }

    /// `(kind, ts_ns)` of every row, in file order.
    fn file_order(path: &Path) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for b in super::test_segments::batches(path) {
            let (kind, ts) = super::test_segments::kind_ts(&b);
            for i in 0..b.num_rows() {
                out.push((kind.value(i).to_string(), ts.value(i)));
            }
        }
        out
    }

    /// A row group of two tables, rows interleaved (memrec writes each
    /// table's in one run, but any order is valid), is split per table
    /// and can be cut; one of a table memrec does not know is copied whole
    /// and cannot be cut.
    #[test]
    fn a_row_group_of_two_tables_is_split_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.parquet");
        write_two_tables(
            &path,
            ["procstat", "reclaim_end", "procstat", "reclaim_end"],
        );
        let out = dir.path().join("joined.parquet");
        let s = merge(std::slice::from_ref(&path), &out, &MergeOptions::default()).unwrap();
        assert_eq!(
            (s.row_groups, s.row_groups_copied, s.total_rows()),
            (1, 0, 4)
        );
        assert_eq!(read_rows(&out), read_rows(&path));
        let cut = MergeOptions {
            window: Some((5, 25)),
            ..Default::default()
        };
        let out = dir.path().join("cut.parquet");
        merge(std::slice::from_ref(&path), &out, &cut).unwrap();
        assert_eq!(
            file_order(&out),
            [
                ("procstat".to_string(), 20),
                ("reclaim_end".to_string(), 10)
            ]
        );
        // Only one of the tables.
        let only = MergeOptions {
            only_tables: Some(["reclaim_end".to_string()].into()),
            ..Default::default()
        };
        let out = dir.path().join("only.parquet");
        merge(std::slice::from_ref(&path), &out, &only).unwrap();
        assert_eq!(
            file_order(&out),
            [
                ("reclaim_end".to_string(), 10),
                ("reclaim_end".to_string(), 30)
            ]
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.parquet");
        write_two_tables(&path, ["procstat", "nosuch", "procstat", "nosuch"]);
        let out = dir.path().join("copied.parquet");
        let s = merge(std::slice::from_ref(&path), &out, &MergeOptions::default()).unwrap();
        assert_eq!(
            (s.row_groups, s.row_groups_copied, s.total_rows()),
            (1, 1, 4)
        );
        let cut = MergeOptions {
            window: Some((5, 25)),
            ..Default::default()
        };
        let e = merge(&[path], &dir.path().join("cut.parquet"), &cut).unwrap_err();
        assert!(
            matches!(e, MergeError::Uncuttable { row_group: 0, .. }),
            "{e}"
        );
        assert!(!dir.path().join("cut.parquet").exists());
    }

    /// One row group of four rows at 0, 10, 20, 30 of these kinds (valid
    /// Parquet, not memrec's writer), as segment 1 of recording "a".
    fn write_two_tables(path: &Path, kinds: [&str; 4]) {
        use arrow_array::{Int64Array, StringArray, UInt32Array, UInt64Array};
        let schema = Arc::new(memtrace_schema::arrow::file_schema());
        let n = 4;
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    "ts_ns" => Arc::new(Int64Array::from(vec![0, 10, 20, 30])),
                    "kind" => Arc::new(StringArray::from(kinds.to_vec())),
                    "procstat.rss_anon" => Arc::new(UInt64Array::from(
                        kinds
                            .iter()
                            .map(|k| (*k == "procstat").then_some(7))
                            .collect::<Vec<_>>(),
                    )),
                    "reclaim_end.nr_reclaimed" => Arc::new(UInt64Array::from(
                        kinds
                            .iter()
                            .map(|k| (*k != "procstat").then_some(9))
                            .collect::<Vec<_>>(),
                    )),
                    "comm" => Arc::new(StringArray::from(vec!["a"; n])),
                    "cpu" | "pid" | "tgid" => Arc::new(UInt32Array::from(vec![1; n])),
                    "cgroup_id" => Arc::new(UInt64Array::from(vec![1; n])),
                    _ => new_null_array(f.data_type(), n),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(File::create(path).unwrap(), schema, None)
            .unwrap();
        w.write(&batch).unwrap();
        let meta = super::test_segments::meta("a", 1, 0, 40, &[]);
        w.append_key_value_metadata(KeyValue::new(SCHEMA_VERSION_KEY.into(), "1".to_string()));
        w.append_key_value_metadata(KeyValue::new(META_KEY.into(), meta.to_json().unwrap()));
        w.close().unwrap();
    }

    /// pyarrow, when this host has it, reads the merged file whole.
    #[test]
    fn pyarrow_reads_a_merged_file() {
        let has_pyarrow = std::process::Command::new("python3")
            .args(["-c", "import pyarrow.parquet"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_pyarrow {
            eprintln!("skipped: python3 with pyarrow is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ins = three(dir.path());
        for (name, coalesce_below) in [("copied.parquet", 0), ("joined.parquet", 64 << 10)] {
            let out = dir.path().join(name);
            let opts = MergeOptions {
                window: Some((5, 25)),
                coalesce_below,
                ..Default::default()
            };
            let s = merge(&ins, &out, &opts).unwrap();
            let script = "import sys, json, pyarrow.parquet as pq\n\
                          t = pq.read_table(sys.argv[1])\n\
                          m = json.loads(pq.read_metadata(sys.argv[1]).metadata[b'memtrace.meta'])\n\
                          print(t.num_rows, m['segment']['first'], m['segment']['last'])";
            let o = std::process::Command::new("python3")
                .args(["-c", script])
                .arg(&out)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let got = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert_eq!(got, format!("{} 1 3", s.total_rows()));
        }
    }

    /// By hand, on a real recording's segments directory: the footer with
    /// and without joining small row groups.
    /// `MEMTRACE_MERGE_SEGMENTS=run.parquet.segments memrec-test merge_footer --ignored --nocapture`
    #[test]
    #[ignore = "needs a recording's segments in MEMTRACE_MERGE_SEGMENTS"]
    fn merge_footer_sizes_of_a_recording() {
        let Some(segs) = std::env::var_os("MEMTRACE_MERGE_SEGMENTS") else {
            return;
        };
        let mut ins: Vec<PathBuf> = std::fs::read_dir(&segs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        ins.sort();
        // MEMTRACE_MERGE_OUT keeps the outputs there, to read them with others.
        let dir = tempfile::tempdir().unwrap();
        let dir = std::env::var_os("MEMTRACE_MERGE_OUT")
            .map_or_else(|| dir.path().to_path_buf(), PathBuf::from);
        for coalesce_below in [0, 64 << 10] {
            let out = dir.join(format!("{coalesce_below}.parquet"));
            let opts = MergeOptions {
                coalesce_below,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let s = merge(&ins, &out, &opts).unwrap();
            println!(
                "coalesce_below {coalesce_below}: {} files, {} rows, {} -> {} row groups \
                 ({} copied), {} bytes, footer {} bytes, {:.2} s",
                s.files,
                s.total_rows(),
                s.input_row_groups,
                s.row_groups,
                s.row_groups_copied,
                s.bytes,
                s.footer_bytes,
                started.elapsed().as_secs_f64()
            );
            assert!(matches!(verified(&out), Verified::Intact { .. }));
        }
        // The middle third, cut: print it to compare with another reader.
        let metas: Vec<FileMeta> = ins.iter().map(|p| file_meta(p)).collect();
        let whole = FileMeta::combine(&metas).unwrap();
        let third = (whole.end_ns - whole.start_ns) / 3;
        let window = (whole.start_ns + third, whole.end_ns - third);
        let out = dir.join("cut.parquet");
        let opts = MergeOptions {
            window: Some(window),
            ..Default::default()
        };
        let s = merge(&ins, &out, &opts).unwrap();
        println!(
            "window {window:?}: {} rows, {} row groups ({} copied)",
            s.total_rows(),
            s.row_groups,
            s.row_groups_copied
        );
        assert!(matches!(verified(&out), Verified::Intact { .. }));
    }
}
