//! The writer thread. A table's rows are first held as they came, for one
//! row group that the small tables of the file share (each table's rows in
//! one run), written when the file closes: every row group repeats every
//! column in the footer, so a quiet segment is one row group, not one per
//! table. A table that outgrows it ([`MIX_ROWS`], [`MIX_BYTES`]) gets its
//! own open row group, encoded and compressed as batches arrive, so big
//! row groups cost little memory; it is written out (with all-null chunks
//! for the other tables' columns) when it reaches its row or byte limit,
//! and at the end.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, SchemaDescriptor};

use memtrace_schema::integrity;
use memtrace_schema::{FileMeta, COMMON, META_KEY, SCHEMA_VERSION_KEY};

use super::{WriteError, WriterOptions};

pub(super) enum Msg {
    /// A batch of table `.0`, in its narrow schema.
    Batch(usize, RecordBatch),
    /// Close the segment with this metadata and start the next.
    Checkpoint(Box<FileMeta>),
    /// Close the segment with this metadata and stop.
    Finish(Box<FileMeta>),
}

/// Space held back beside the output so that, when the disk fills, the
/// footer of what was written still fits.
const RESERVE_BYTES: i64 = 8 << 20;

/// Rows of nulls written at a time into other tables' columns (kept small:
/// arrow zero-fills these arrays, so their pages are resident).
const NULL_CHUNK: usize = 8192;

pub(super) struct OpenGroup {
    /// One writer per file column; only the table's own columns have one
    /// while the group is open (an idle column writer still holds buffers).
    pub(super) writers: Vec<Option<ArrowColumnWriter>>,
    /// The row group's number in the file (the merge numbers none: 0).
    pub(super) index: usize,
    pub(super) rows: usize,
}

impl OpenGroup {
    /// Encoded bytes (and buffers) the group holds in memory.
    pub(super) fn memory_size(&self) -> usize {
        self.writers
            .iter()
            .flatten()
            .map(ArrowColumnWriter::memory_size)
            .sum()
    }
}

/// The output as the Parquet writer sees it. Tests give it a size limit to
/// play a disk that fills at a chosen byte.
pub(super) struct Target {
    file: File,
    written: u64,
    limit: Option<u64>,
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self
            .limit
            .map_or(u64::MAX, |l| l.saturating_sub(self.written));
        if room == 0 && !buf.is_empty() {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.file.write(&buf[..take])?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub(super) struct Encoder {
    file: SerializedFileWriter<Target>,
    /// The same open file, for the checksums and the salvage: never
    /// reopened by path.
    raw: File,
    /// Writers of all-null chunks.
    null_factory: ArrowRowGroupWriterFactory,
    /// Per table, made when its first row group opens: the file's codec for
    /// its own columns, none for the rest (which are dropped unused).
    own_factories: Vec<Option<ArrowRowGroupWriterFactory>>,
    level: ZstdLevel,
    descr: SchemaDescriptor,
    schema: SchemaRef,
    /// File column index of each table's first own column.
    first_col: Vec<usize>,
    /// How many own columns each table has.
    own_cols: Vec<usize>,
    open: Vec<Option<OpenGroup>>,
    /// Rows of the tables still small in this file, for one shared group.
    mixed: Mixed<usize>,
    /// Tables that outgrew the shared group: their rows go to their own.
    own_groups: Vec<bool>,
    nulls: Vec<ArrayRef>,
    groups_started: usize,
    row_group_rows: usize,
    row_group_bytes: usize,
    open_bytes: usize,
    /// File length after the last row group that is whole on disk.
    complete: u64,
    /// The row groups whole on disk. The Parquet writer's own list is
    /// emptied by a footer write that fails, so the salvage keeps this one.
    done: Vec<RowGroupMetaData>,
    /// Space held back for the footer; freed by closing it.
    reserve: Option<File>,
    /// Leave the final fsync to the caller.
    pub(super) defer_sync: bool,
    created_by: String,
}

impl Encoder {
    /// Writes into `file` (open for reading and writing, empty); the
    /// reserve goes into `dir`, the file's directory.
    pub(super) fn create(
        file: File,
        dir: &Path,
        opts: &WriterOptions,
        schema: SchemaRef,
        first_col: &[usize],
    ) -> Result<Self, WriteError> {
        let raw = file.try_clone().map_err(WriteError::Io)?;
        let reserve = make_reserve(dir);
        let file = Target {
            file,
            written: 0,
            limit: opts.size_limit(),
        };
        let created_by = format!("memrec {}", env!("CARGO_PKG_VERSION"));
        let level = ZstdLevel::try_new(opts.zstd_level)?;
        let props = base_properties(level, &created_by).build();
        let descr = ArrowSchemaConverter::new().convert(&schema)?;
        let file = SerializedFileWriter::new(file, descr.root_schema_ptr(), Arc::new(props))?;
        let null_factory = null_factory(&schema, &descr, &created_by)?;
        let n = schema.fields().len();
        let mut own_cols = Vec::with_capacity(first_col.len());
        for (i, &f) in first_col.iter().enumerate() {
            own_cols.push(first_col.get(i + 1).copied().unwrap_or(n) - f);
        }
        let nulls = null_arrays(&schema, NULL_CHUNK);
        Ok(Encoder {
            file,
            raw,
            null_factory,
            own_factories: first_col.iter().map(|_| None).collect(),
            level,
            descr,
            open: first_col.iter().map(|_| None).collect(),
            // A table's shared rows never exceed a row group of its own.
            mixed: Mixed::new(MIX_ROWS.min(opts.row_group_rows), MIX_BYTES),
            own_groups: first_col.iter().map(|_| false).collect(),
            first_col: first_col.to_vec(),
            own_cols,
            schema,
            nulls,
            groups_started: 0,
            row_group_rows: opts.row_group_rows.max(1),
            row_group_bytes: opts.row_group_bytes.max(1 << 20),
            open_bytes: opts.open_bytes.max(opts.row_group_bytes),
            complete: 0,
            done: Vec::new(),
            reserve,
            created_by,
            defer_sync: false,
        })
    }

    /// Another handle on the file, to sync it after [`Self::close`].
    pub(super) fn file_handle(&self) -> std::io::Result<File> {
        self.raw.try_clone()
    }

    /// File column of column `c` of table `t`'s narrow batch.
    fn file_col(&self, t: usize, c: usize) -> usize {
        if c < COMMON.len() {
            c
        } else {
            self.first_col[t] + c - COMMON.len()
        }
    }

    fn is_own(&self, t: usize, file_col: usize) -> bool {
        file_col < COMMON.len()
            || (self.first_col[t]..self.first_col[t] + self.own_cols[t]).contains(&file_col)
    }

    fn write(&mut self, t: usize, batch: &RecordBatch) -> Result<(), WriteError> {
        if self.open[t].is_none() {
            let index = self.groups_started;
            if self.own_factories[t].is_none() {
                let f = own_factory(
                    &self.schema,
                    &self.descr,
                    self.level,
                    &self.created_by,
                    |fc| self.is_own(t, fc),
                )?;
                self.own_factories[t] = Some(f);
            }
            let Some(factory) = self.own_factories[t].as_ref() else {
                return Ok(());
            };
            let writers = factory.create_column_writers(index)?;
            let writers = writers
                .into_iter()
                .enumerate()
                .map(|(fc, w)| self.is_own(t, fc).then_some(w))
                .collect();
            self.groups_started += 1;
            self.open[t] = Some(OpenGroup {
                writers,
                index,
                rows: 0,
            });
        }
        let cols: Vec<usize> = (0..batch.num_columns())
            .map(|c| self.file_col(t, c))
            .collect();
        let Some(group) = self.open[t].as_mut() else {
            return Ok(());
        };
        for (array, &fc) in batch.columns().iter().zip(&cols) {
            if let Some(w) = group.writers[fc].as_mut() {
                for leaf in compute_leaves(self.schema.field(fc), array)? {
                    w.write(&leaf)?;
                }
            }
        }
        group.rows += batch.num_rows();
        let bytes = group.memory_size();
        if group.rows >= self.row_group_rows || bytes >= self.row_group_bytes {
            self.close_group(t)?;
        }
        // One budget for all open groups: write out the largest until it fits.
        loop {
            let sizes: Vec<(usize, usize)> = self
                .open
                .iter()
                .enumerate()
                .filter_map(|(i, g)| g.as_ref().map(|g| (i, g.memory_size())))
                .collect();
            let total: usize = sizes.iter().map(|(_, b)| b).sum();
            match sizes.iter().max_by_key(|(_, b)| *b) {
                Some(&(largest, _)) if total > self.open_bytes => self.close_group(largest)?,
                _ => break,
            }
        }
        Ok(())
    }

    /// Writes table `t`'s open row group to the file.
    fn close_group(&mut self, t: usize) -> Result<(), WriteError> {
        let Some(group) = self.open[t].take() else {
            return Ok(());
        };
        let fresh = self.null_factory.create_column_writers(group.index)?;
        let mut chunks = Vec::with_capacity(fresh.len());
        for (fc, (own, mut w)) in group.writers.into_iter().zip(fresh).enumerate() {
            if let Some(own) = own {
                chunks.push(own.close()?);
                continue;
            }
            let field = self.schema.field(fc);
            let mut left = group.rows;
            while left > 0 {
                let n = left.min(NULL_CHUNK);
                for leaf in compute_leaves(field, &self.nulls[fc].slice(0, n))? {
                    w.write(&leaf)?;
                }
                left -= n;
            }
            chunks.push(w.close()?);
        }
        self.append_group(chunks)
    }

    /// Encodes one batch of table `t`; bytes whole on disk so far come back.
    pub(super) fn write_batch(&mut self, t: usize, batch: &RecordBatch) -> Result<u64, WriteError> {
        if self.own_groups.get(t).copied().unwrap_or(true) {
            self.write(t, batch)?;
            return Ok(self.complete);
        }
        let cols: Vec<usize> = (0..batch.num_columns())
            .map(|c| self.file_col(t, c))
            .collect();
        self.mixed.push(&t, &cols, batch.clone());
        while let Some(big) = self.mixed.over(&t) {
            // Its rows so far go first into its own group: a table's rows
            // stay in time order.
            self.own_groups[big] = true;
            for b in self.mixed.take(&big) {
                self.write(big, &b)?;
            }
        }
        Ok(self.complete)
    }

    /// Writes the rows of the small tables as one row group.
    fn close_mixed(&mut self) -> Result<(), WriteError> {
        if self.mixed.is_empty() {
            return Ok(());
        }
        let index = self.groups_started;
        self.groups_started += 1;
        let (chunks, _) = self.mixed.encode(
            &self.schema,
            &self.descr,
            self.level,
            &self.created_by,
            &self.nulls,
            index,
        )?;
        self.append_group(chunks)
    }

    /// Appends a row group's chunks to the file and pushes it to disk.
    fn append_group(&mut self, chunks: Vec<ArrowColumnChunk>) -> Result<(), WriteError> {
        let mut rg = self.file.next_row_group()?;
        for c in chunks {
            c.append_to_row_group(&mut rg)?;
        }
        rg.close()?;
        // Push it to the file now, so "written" means on disk, not buffered.
        self.file
            .flush()
            .map_err(|e| WriteError::Parquet(e.into()))?;
        // Only now is it whole on disk: a salvaged file keeps it.
        self.complete = self.file.bytes_written() as u64;
        if let Some(rg) = self.file.flushed_row_groups().last() {
            self.done.push(rg.clone());
        }
        Ok(())
    }

    /// Closes the file with `meta` in its footer and syncs it. After a
    /// failure (`failed`), or when closing fails, the file is cut after its
    /// last whole row group and given a footer for those instead. Returns
    /// the file's size.
    pub(super) fn close(
        mut self,
        meta: &FileMeta,
        failed: bool,
        failure: &Mutex<Option<String>>,
    ) -> Result<(u64, usize), WriteError> {
        let fail = |e: WriteError| {
            if let Ok(mut f) = failure.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        };
        let kv = vec![
            KeyValue::new(
                SCHEMA_VERSION_KEY.to_string(),
                memtrace_schema::SCHEMA_VERSION.to_string(),
            ),
            // No Arrow schema (ARROW:schema, 14 KB for 176 columns in every
            // segment): the Parquet types read back as the same Arrow types.
            KeyValue::new(META_KEY.to_string(), meta.to_json()?),
        ];
        if !failed {
            match self.close_all(&kv) {
                Ok(len) => return Ok((len, self.done.len())),
                Err(e) => fail(e),
            }
        }
        // A group whose flush failed is not whole on disk: keep only those
        // completed before it.
        tracing::debug!(
            "salvaging {} row groups, {} bytes",
            self.done.len(),
            self.complete
        );
        let Encoder {
            file,
            raw,
            schema,
            reserve,
            created_by,
            complete,
            done,
            ..
        } = self;
        // Its buffer may still write bytes past `complete`: cut them after.
        drop(file);
        let groups = done.len();
        salvage(raw, reserve, &schema, &created_by, complete, done, kv).map(|len| (len, groups))
    }

    /// Writes every open group and the footer, with the checksums of what
    /// is in the file.
    fn close_all(&mut self, kv: &[KeyValue]) -> Result<u64, WriteError> {
        for t in 0..self.open.len() {
            self.close_group(t)?;
        }
        self.close_mixed()?;
        // Every group is flushed (close_group flushes): the checksums read
        // back exactly the bytes the footer will point at.
        self.file
            .flush()
            .map_err(|e| WriteError::Parquet(e.into()))?;
        let started = std::time::Instant::now();
        let sums = integrity::compute(&self.raw, &self.done, kv).map_err(WriteError::Checksum)?;
        tracing::debug!(
            "checksums of {} row groups ({} bytes) took {:.1} ms",
            self.done.len(),
            self.complete,
            started.elapsed().as_secs_f64() * 1e3
        );
        for k in kv {
            self.file.append_key_value_metadata(k.clone());
        }
        self.file
            .append_key_value_metadata(integrity::to_key_value(&sums));
        self.file.finish()?;
        self.file
            .flush()
            .map_err(|e| WriteError::Parquet(e.into()))?;
        self.reserve = None;
        if self.defer_sync {
            // The caller syncs it off this thread (see writer::Sealer).
            return Ok(self.raw.metadata().map(|m| m.len()).unwrap_or(0));
        }
        self.raw
            .sync_all()
            .map_err(|e| WriteError::Stopped(format!("fsync: {e}")))?;
        Ok(self.raw.metadata().map(|m| m.len()).unwrap_or(0))
    }
}

/// The file's writer properties (see the comments); the builder, so that
/// per-table variants can be made from it.
pub(super) fn base_properties(level: ZstdLevel, created_by: &str) -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // The page index (offset index) is kept in memory until the footer:
        // ~2 KB per column chunk, 150 chunks per row group, most of them
        // all-null pages. Readers skip tables by row-group statistics.
        .set_offset_index_disabled(true)
        // Each open column buffers a page before compressing it: 14+
        // columns × 1 MiB by default; a quarter compresses as well.
        .set_data_page_size_limit(256 << 10)
        .set_dictionary_page_size_limit(64 << 10)
        .set_created_by(created_by.to_string())
        // Timestamps rise within a table: deltas pack to a few bits.
        .set_column_dictionary_enabled(ColumnPath::from("ts_ns"), false)
        .set_column_encoding(ColumnPath::from("ts_ns"), Encoding::DELTA_BINARY_PACKED)
        // Process ids are too many for a dictionary in a storm (every new
        // process is a new id), but rows close in time have ids close in
        // value: deltas take a third less than dictionary indexes.
        .set_column_dictionary_enabled(ColumnPath::from("pid"), false)
        .set_column_encoding(ColumnPath::from("pid"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("tgid"), false)
        .set_column_encoding(ColumnPath::from("tgid"), Encoding::DELTA_BINARY_PACKED)
        // Fault addresses: a storm walks pages in order, deltas pack it.
        .set_column_dictionary_enabled(ColumnPath::from("fault.address"), false)
        .set_column_encoding(
            ColumnPath::from("fault.address"),
            Encoding::DELTA_BINARY_PACKED,
        )
}

/// Per column of `schema`, an array of `len` nulls. One array per data
/// type, shared by its columns: arrow zero-fills them, so each is resident.
pub(super) fn null_arrays(schema: &SchemaRef, len: usize) -> Vec<ArrayRef> {
    let mut by_type: Vec<(arrow_schema::DataType, ArrayRef)> = Vec::new();
    schema
        .fields()
        .iter()
        .map(|f| {
            if let Some((_, a)) = by_type.iter().find(|(t, _)| t == f.data_type()) {
                return a.clone();
            }
            let a = new_null_array(f.data_type(), len);
            by_type.push((f.data_type().clone(), a.clone()));
            a
        })
        .collect()
}

/// A factory of column writers with `props`. A factory takes its properties
/// from a file writer; this one writes nowhere, and its chunks go into the
/// real file's row groups (each chunk records its own codec).
fn factory_with(
    schema: &SchemaRef,
    descr: &SchemaDescriptor,
    props: WriterProperties,
) -> Result<ArrowRowGroupWriterFactory, ParquetError> {
    let sink =
        SerializedFileWriter::new(std::io::sink(), descr.root_schema_ptr(), Arc::new(props))?;
    Ok(ArrowRowGroupWriterFactory::new(&sink, schema.clone()))
}

/// Writers of all-null chunks (other tables' columns in a row group).
/// Uncompressed and without a dictionary (a few bytes either way), they
/// hold no zstd context: with the file's codec every writer made one,
/// ~100 KiB each, for every column of every row group.
pub(super) fn null_factory(
    schema: &SchemaRef,
    descr: &SchemaDescriptor,
    created_by: &str,
) -> Result<ArrowRowGroupWriterFactory, ParquetError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_created_by(created_by.to_string())
        .build();
    factory_with(schema, descr, props)
}

/// Writers for one table's row groups: the file's codec for the columns
/// `own` says, none for the rest (which the caller drops unused).
pub(super) fn own_factory(
    schema: &SchemaRef,
    descr: &SchemaDescriptor,
    level: ZstdLevel,
    created_by: &str,
    own: impl Fn(usize) -> bool,
) -> Result<ArrowRowGroupWriterFactory, ParquetError> {
    let mut b = base_properties(level, created_by);
    for (fc, f) in schema.fields().iter().enumerate() {
        if !own(fc) {
            let path = ColumnPath::from(f.name().as_str());
            b = b
                .set_column_compression(path.clone(), Compression::UNCOMPRESSED)
                .set_column_dictionary_enabled(path, false);
        }
    }
    factory_with(schema, descr, b.build())
}

/// Allocates the reserve; without it (disk already full?) we go on. It is
/// unlinked at once: nothing at a guessable name, and closing it (or
/// memrec dying) gives the space back.
fn make_reserve(dir: &Path) -> Option<File> {
    use std::os::fd::AsRawFd;
    let (f, path) = crate::output::create_exclusive(dir, "memrec.reserve").ok()?;
    if std::fs::remove_file(&path).is_err() {
        return None;
    }
    // SAFETY: a valid open file descriptor.
    if unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, RESERVE_BYTES) } != 0 {
        return None;
    }
    Some(f)
}

/// Cuts the file after the last complete row group and writes a footer for
/// the row groups before it, in the space the reserve gives back. Works on
/// the open file, never on its path.
fn salvage(
    mut file: File,
    reserve: Option<File>,
    schema: &SchemaRef,
    created_by: &str,
    good_len: u64,
    groups: Vec<RowGroupMetaData>,
    mut kv: Vec<KeyValue>,
) -> Result<u64, WriteError> {
    drop(reserve);
    let io = |e: std::io::Error| WriteError::Stopped(format!("salvaging the file: {e}"));
    file.set_len(good_len).map_err(io)?;
    let sums = integrity::compute(&file, &groups, &kv).map_err(WriteError::Checksum)?;
    kv.push(integrity::to_key_value(&sums));
    let descr = Arc::new(ArrowSchemaConverter::new().convert(schema)?);
    let rows = groups.iter().map(|g| g.num_rows()).sum();
    let md = ParquetMetaData::new(
        FileMetaData::new(1, rows, Some(created_by.to_string()), Some(kv), descr, None),
        groups,
    );
    file.seek(SeekFrom::Start(good_len)).map_err(io)?;
    ParquetMetaDataWriter::new(&mut file, &md).finish()?;
    file.flush().map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

/// A table's rows go into a row group shared with other tables until it
/// has this many (or the shared rows take [`MIX_BYTES`]); past that it gets
/// row groups of its own. Every row group repeats every column in the
/// footer, so a segment of a quiet recording is one row group, not one per
/// table.
pub(super) const MIX_ROWS: usize = 64 << 10;
/// Bytes of decoded rows held for the shared row group.
pub(super) const MIX_BYTES: usize = 4 << 20;

/// Bytes of a held batch: of its rows only (a decoded batch may be a slice
/// of bigger buffers, which its array sizes would count whole).
fn held_size(b: &RecordBatch) -> usize {
    b.columns()
        .iter()
        .map(|a| {
            a.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| a.get_array_memory_size())
        })
        .sum()
}

/// The chunks of a shared row group, and each table's rows in it.
pub(super) type MixedGroup<K> = (Vec<ArrowColumnChunk>, Vec<(K, usize)>);

/// One table's rows held for the shared row group.
struct Held {
    /// The file column of each batch column.
    cols: Vec<usize>,
    batches: Vec<RecordBatch>,
    rows: usize,
}

/// Rows of small tables held as they came, to be written as one row group
/// of several tables: each table's rows in a run (so each column is one run
/// of nulls, its values, and nulls again), tables in key order.
pub(super) struct Mixed<K: Ord + Clone> {
    held: std::collections::BTreeMap<K, Held>,
    bytes: usize,
    /// A table leaves at this many rows.
    rows: usize,
    /// The largest leaves while the held bytes are over this.
    limit: usize,
}

impl<K: Ord + Clone> Mixed<K> {
    pub(super) fn new(rows: usize, limit: usize) -> Self {
        Mixed {
            held: Default::default(),
            bytes: 0,
            rows: rows.max(1),
            limit,
        }
    }

    /// Holds a batch of table `t` whose columns are the file columns `cols`.
    pub(super) fn push(&mut self, t: &K, cols: &[usize], batch: RecordBatch) {
        self.bytes += held_size(&batch);
        let h = self.held.entry(t.clone()).or_insert_with(|| Held {
            cols: cols.to_vec(),
            batches: Vec::new(),
            rows: 0,
        });
        h.rows += batch.num_rows();
        h.batches.push(batch);
    }

    /// The table that must leave (given row groups of its own) for the rest
    /// to stay within the limits: first `t` if it reached its row limit,
    /// then the largest while the held bytes are over the limit.
    pub(super) fn over(&self, t: &K) -> Option<K> {
        if self.held.get(t).is_some_and(|h| h.rows >= self.rows) {
            return Some(t.clone());
        }
        if self.bytes <= self.limit {
            return None;
        }
        self.held
            .iter()
            .max_by_key(|(_, h)| h.rows)
            .map(|(k, _)| k.clone())
    }

    /// Takes table `t`'s held batches out, oldest first.
    pub(super) fn take(&mut self, t: &K) -> Vec<RecordBatch> {
        let Some(h) = self.held.remove(t) else {
            return Vec::new();
        };
        let freed: usize = h.batches.iter().map(held_size).sum();
        self.bytes = self.bytes.saturating_sub(freed);
        h.batches
    }

    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Rows held of table `t`.
    pub(super) fn rows_of(&self, t: &K) -> usize {
        self.held.get(t).map_or(0, |h| h.rows)
    }

    /// The rows at which a table leaves.
    pub(super) fn row_limit(&self) -> usize {
        self.rows
    }

    /// Encodes everything held into the chunks of one row group (number
    /// `index`), column by column, so one column's writer is alive at a
    /// time. Returns the chunks and each table's rows.
    pub(super) fn encode(
        &mut self,
        schema: &SchemaRef,
        descr: &SchemaDescriptor,
        level: ZstdLevel,
        created_by: &str,
        nulls: &[ArrayRef],
        index: usize,
    ) -> Result<MixedGroup<K>, ParquetError> {
        let held = std::mem::take(&mut self.held);
        self.bytes = 0;
        let used: std::collections::BTreeSet<usize> =
            held.values().flat_map(|h| h.cols.iter().copied()).collect();
        let factory = own_factory(schema, descr, level, created_by, |fc| used.contains(&fc))?;
        let writers = factory.create_column_writers(index)?;
        let mut chunks = Vec::with_capacity(writers.len());
        for (fc, mut w) in writers.into_iter().enumerate() {
            let field = schema.field(fc);
            for h in held.values() {
                match h.cols.iter().position(|&c| c == fc) {
                    Some(c) => {
                        for b in &h.batches {
                            for leaf in compute_leaves(field, b.column(c))? {
                                w.write(&leaf)?;
                            }
                        }
                    }
                    None => {
                        let mut left = h.rows;
                        while left > 0 {
                            let n = left.min(nulls[fc].len());
                            for leaf in compute_leaves(field, &nulls[fc].slice(0, n))? {
                                w.write(&leaf)?;
                            }
                            left -= n;
                        }
                    }
                }
            }
            chunks.push(w.close()?);
        }
        Ok((chunks, held.into_iter().map(|(k, h)| (k, h.rows)).collect()))
    }
}
