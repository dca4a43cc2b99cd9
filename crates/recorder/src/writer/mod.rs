//! Column building and the Parquet writer.
//!
//! Decoded rows go straight into per-table Arrow builders (no per-row
//! allocation). A full table buffer becomes a narrow record batch (the
//! table's own columns) for the writer thread ([`encode`]). A big table's
//! row groups hold only its rows, so readers skip them by the `kind`
//! statistics; the small tables of a file share one row group, and readers
//! filter on `kind`.

mod encode;
pub mod merge;
pub mod segments;

pub use merge::{merge, MergeError, MergeOptions, MergeSummary};

use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{Field, Schema, SchemaRef};

use memtrace_schema::{tables, ColumnType, FileMeta, Header, Row, Table, Visitor, COMMON};

pub use segments::{Sealed, SegmentDir};

/// Sees the rows of chosen tables as they are written (the flight
/// recorder's triggers).
pub trait Watch: Visitor + Send {
    /// Whether rows of this table are wanted (asked once per table when
    /// the writer starts).
    fn wants(&self, table: &'static Table) -> bool;
    /// A row of a wanted table begins; its values follow in column order
    /// through [`Visitor`], then [`Watch::end`].
    fn begin(&mut self, table: &'static Table, hdr: &Header);
    fn end(&mut self);
}

/// Forwards a row's values to a watcher (a `dyn` one cannot be the
/// generic visitor itself).
struct WatchCursor<'a>(&'a mut dyn Watch);

impl Visitor for WatchCursor<'_> {
    fn u32(&mut self, v: u32) {
        self.0.u32(v)
    }
    fn u64(&mut self, v: u64) {
        self.0.u64(v)
    }
    fn i32(&mut self, v: i32) {
        self.0.i32(v)
    }
    fn i64(&mut self, v: i64) {
        self.0.i64(v)
    }
    fn f64(&mut self, v: f64) {
        self.0.f64(v)
    }
    fn bool(&mut self, v: bool) {
        self.0.bool(v)
    }
    fn text(&mut self, v: &str) {
        self.0.text(v)
    }
    fn null(&mut self) {
        self.0.null()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("computing the checksums: {0}")]
    Checksum(std::io::Error),
    #[error("writing the recording: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building a record batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("encoding metadata: {0}")]
    Meta(#[from] memtrace_schema::MetaError),
    #[error("the writer thread stopped: {0}")]
    Stopped(String),
}

/// The Arrow schema of a file of every table: common columns, then each
/// table's columns.
#[cfg(test)]
pub fn file_schema() -> SchemaRef {
    Arc::new(memtrace_schema::arrow::file_schema())
}

enum ColBuilder {
    U32(UInt32Builder),
    U64(UInt64Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
}

impl ColBuilder {
    fn new(t: ColumnType, cap: usize) -> Self {
        match t {
            ColumnType::U32 => ColBuilder::U32(UInt32Builder::with_capacity(cap)),
            ColumnType::U64 => ColBuilder::U64(UInt64Builder::with_capacity(cap)),
            ColumnType::I32 => ColBuilder::I32(Int32Builder::with_capacity(cap)),
            ColumnType::I64 => ColBuilder::I64(Int64Builder::with_capacity(cap)),
            ColumnType::F64 => ColBuilder::F64(Float64Builder::with_capacity(cap)),
            ColumnType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(cap)),
            ColumnType::Text => ColBuilder::Text(StringBuilder::with_capacity(cap, cap * 8)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::U32(b) => Arc::new(b.finish()),
            ColBuilder::U64(b) => Arc::new(b.finish()),
            ColBuilder::I32(b) => Arc::new(b.finish()),
            ColBuilder::I64(b) => Arc::new(b.finish()),
            ColBuilder::F64(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Text(b) => Arc::new(b.finish()),
        }
    }

    fn append_null(&mut self) {
        match self {
            ColBuilder::U32(b) => b.append_null(),
            ColBuilder::U64(b) => b.append_null(),
            ColBuilder::I32(b) => b.append_null(),
            ColBuilder::I64(b) => b.append_null(),
            ColBuilder::F64(b) => b.append_null(),
            ColBuilder::Bool(b) => b.append_null(),
            ColBuilder::Text(b) => b.append_null(),
        }
    }
}

/// Appends a row's values to consecutive column builders.
struct Cursor<'a> {
    cols: &'a mut [ColBuilder],
    i: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Option<&mut ColBuilder> {
        let c = self.cols.get_mut(self.i);
        self.i += 1;
        c
    }
}

macro_rules! visit_as {
    ($name:ident, $t:ty, $variant:ident) => {
        fn $name(&mut self, v: $t) {
            match self.next() {
                Some(ColBuilder::$variant(b)) => b.append_value(v),
                // Rows and tables come from one macro, so this cannot happen;
                // a null keeps the columns aligned if it ever did.
                Some(other) => other.append_null(),
                None => {}
            }
        }
    };
}

impl Visitor for Cursor<'_> {
    visit_as!(u32, u32, U32);
    visit_as!(u64, u64, U64);
    visit_as!(i32, i32, I32);
    visit_as!(i64, i64, I64);
    visit_as!(f64, f64, F64);
    visit_as!(bool, bool, Bool);
    visit_as!(text, &str, Text);

    fn null(&mut self) {
        if let Some(c) = self.next() {
            c.append_null();
        }
    }
}

/// Rows of one table waiting to become a record batch.
struct TableBuf {
    table: &'static Table,
    ts: Int64Builder,
    common: Vec<ColBuilder>, // cpu, pid, tgid, comm, cgroup_id
    cols: Vec<ColBuilder>,
    rows: usize,
}

impl TableBuf {
    fn new(table: &'static Table, cap: usize) -> Self {
        TableBuf {
            table,
            ts: Int64Builder::with_capacity(cap),
            common: COMMON[2..]
                .iter()
                .map(|c| ColBuilder::new(c.ty, cap))
                .collect(),
            cols: table
                .columns
                .iter()
                .map(|c| ColBuilder::new(c.ty, cap))
                .collect(),
            rows: 0,
        }
    }
}

/// The tables the file holds, where each table's columns start in the
/// file schema, and each table's narrow schema (common columns, then its
/// own).
struct Layout {
    tables: Vec<&'static Table>,
    schema: SchemaRef,
    first_col: Vec<usize>,
    narrow: Vec<SchemaRef>,
}

/// The group whose tables every recording holds: stacks are written by
/// whichever group samples them.
const ALWAYS: &str = "stacks";

impl Layout {
    /// Every table of `groups` (all tables when empty).
    fn new(groups: &[String]) -> Self {
        let chosen: Vec<&'static Table> = tables()
            .iter()
            .copied()
            .filter(|t| {
                groups.is_empty() || t.group == ALWAYS || groups.iter().any(|g| g == t.group)
            })
            .collect();
        let schema = Arc::new(memtrace_schema::arrow::schema_of(&chosen));
        let mut first_col = Vec::new();
        let mut narrow = Vec::new();
        let mut at = COMMON.len();
        for t in chosen.iter() {
            first_col.push(at);
            let fields: Vec<Field> = schema.fields()[..COMMON.len()]
                .iter()
                .chain(&schema.fields()[at..at + t.columns.len()])
                .map(|f| f.as_ref().clone())
                .collect();
            narrow.push(Arc::new(Schema::new(fields)));
            at += t.columns.len();
        }
        Layout {
            tables: chosen,
            schema,
            first_col,
            narrow,
        }
    }
}

/// Settings of the Parquet file.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Rows the decoder hands to the writer at a time.
    pub batch_rows: usize,
    /// Most rows per row group (one table's rows).
    pub row_group_rows: usize,
    /// Encoded bytes a table's open row group may hold in memory before it
    /// is written out.
    pub row_group_bytes: usize,
    /// Encoded bytes all open row groups together may hold: past it the
    /// largest is written out, so memory stays bounded however many tables
    /// are busy.
    pub open_bytes: usize,
    pub zstd_level: i32,
    /// The probe groups recorded: the file holds their tables' columns
    /// only. Empty: every table.
    pub groups: Vec<String>,
    /// Tests: the disk is full after this many bytes of the file.
    #[cfg(test)]
    pub fail_after_bytes: Option<u64>,
}

impl WriterOptions {
    #[cfg(test)]
    fn size_limit(&self) -> Option<u64> {
        self.fail_after_bytes
    }

    #[cfg(not(test))]
    fn size_limit(&self) -> Option<u64> {
        None
    }
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            batch_rows: 4096,
            row_group_rows: 2 << 20,
            row_group_bytes: 8 << 20,
            open_bytes: 16 << 20,
            zstd_level: 3,
            groups: Vec::new(),
            #[cfg(test)]
            fail_after_bytes: None,
        }
    }
}

/// The decode side: per-table buffers that become batches for the writer.
pub struct Tables {
    layout: Layout,
    bufs: Vec<TableBuf>,
    batch_rows: usize,
    tx: SyncSender<encode::Msg>,
    rows_total: Vec<u64>,
    watch: Option<Box<dyn Watch>>,
    /// Per table: whether the watcher wants its rows.
    watched: Vec<bool>,
}

/// The writer thread.
pub struct FileWriter {
    handle: JoinHandle<Result<u64, WriteError>>,
    bytes: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<String>>>,
}

/// Where the writer puts the recording.
// One file is what the tests write; memrec writes segments.
#[cfg_attr(not(test), allow(dead_code))]
enum Dest {
    /// One file (empty, open for reading and writing) in a directory.
    File(File, std::path::PathBuf),
    /// Segments, closed at each checkpoint; each sealed one is announced.
    Segments(SegmentDir, Option<Sender<Sealed>>),
}

/// Starts the writer thread on `file` (empty, open for reading and
/// writing), which lies in `dir`. Checkpoints are ignored: one file.
#[cfg_attr(not(test), allow(dead_code))]
pub fn create(
    file: File,
    dir: &Path,
    opts: &WriterOptions,
) -> Result<(Tables, FileWriter), WriteError> {
    start(Dest::File(file, dir.to_path_buf()), opts)
}

/// Starts the writer thread on segments in `segs`: [`Tables::checkpoint`]
/// closes one and starts the next. Each segment closed is sent on `sealed`.
pub fn create_segmented(
    segs: SegmentDir,
    sealed: Option<Sender<Sealed>>,
    opts: &WriterOptions,
) -> Result<(Tables, FileWriter), WriteError> {
    start(Dest::Segments(segs, sealed), opts)
}

fn start(dest: Dest, opts: &WriterOptions) -> Result<(Tables, FileWriter), WriteError> {
    let layout = Layout::new(&opts.groups);
    let failure = Arc::new(Mutex::new(None));
    let thread = WriterThread::new(dest, opts, &layout, failure.clone())?;
    // A few batches in flight: enough to overlap decoding and encoding,
    // bounded so a slow disk pushes back instead of growing memory.
    let (tx, rx) = sync_channel::<encode::Msg>(2);
    let bytes = Arc::new(AtomicU64::new(0));
    let (counter, failed) = (bytes.clone(), failure.clone());
    let handle = std::thread::Builder::new()
        .name("memrec-writer".into())
        .spawn(move || thread.run(rx, &counter, &failed))
        .map_err(|e| WriteError::Stopped(e.to_string()))?;
    let bufs = layout.tables.iter().map(|t| TableBuf::new(t, 0)).collect();
    let n = layout.tables.len();
    Ok((
        Tables {
            layout,
            bufs,
            batch_rows: opts.batch_rows,
            tx,
            rows_total: vec![0; n],
            watch: None,
            watched: vec![false; n],
        },
        FileWriter {
            handle,
            bytes,
            failure,
        },
    ))
}

/// The writer thread's state: the file or segment being written.
struct WriterThread {
    dest: Dest,
    opts: WriterOptions,
    schema: SchemaRef,
    first_col: Vec<usize>,
    /// The open file, its number (segments) and its directory.
    current: Option<(encode::Encoder, u64)>,
    /// Bytes of the segments already sealed.
    sealed_bytes: u64,
    /// Syncs and renames closed segments (segments only).
    sealer: Option<Sealer>,
}

struct SealJob {
    file: File,
    index: u64,
    sealed: Sealed,
}

/// The thread that makes closed segments durable: fsync, rename from
/// `.partial`, fsync the directory, then announce them, in order.
struct Sealer {
    tx: Option<Sender<SealJob>>,
    handle: Option<JoinHandle<()>>,
}

impl Sealer {
    fn start(
        dir: std::path::PathBuf,
        notify: Option<Sender<Sealed>>,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Result<Sealer, WriteError> {
        let (tx, rx) = std::sync::mpsc::channel::<SealJob>();
        let handle = std::thread::Builder::new()
            .name("memrec-sealer".into())
            .spawn(move || {
                for job in rx {
                    let done = job
                        .file
                        .sync_all()
                        .and_then(|()| segments::seal_in(&dir, job.index));
                    match done {
                        Ok(path) => {
                            if let Some(n) = &notify {
                                let _ = n.send(Sealed { path, ..job.sealed });
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert_with(|| format!("sealing a segment: {e}"));
                            }
                        }
                    }
                }
            })
            .map_err(|e| WriteError::Stopped(e.to_string()))?;
        Ok(Sealer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&self, job: SealJob) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Waits until every closed segment is sealed.
    fn finish(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl WriterThread {
    fn new(
        dest: Dest,
        opts: &WriterOptions,
        layout: &Layout,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Result<Self, WriteError> {
        let sealer = match &dest {
            Dest::Segments(segs, notify) => Some(Sealer::start(
                segs.dir().to_path_buf(),
                notify.clone(),
                failure,
            )?),
            Dest::File(..) => None,
        };
        let mut t = WriterThread {
            sealer,
            dest,
            opts: opts.clone(),
            schema: layout.schema.clone(),
            first_col: layout.first_col.clone(),
            current: None,
            sealed_bytes: 0,
        };
        // The first file now: a directory we cannot write to fails here,
        // before any probe goes live.
        t.open_next()?;
        Ok(t)
    }

    fn open_next(&mut self) -> Result<(), WriteError> {
        let (file, dir, index) = match &mut self.dest {
            Dest::File(f, dir) => {
                if self.sealed_bytes > 0 {
                    return Ok(());
                }
                (f.try_clone().map_err(WriteError::Io)?, dir.clone(), 0)
            }
            Dest::Segments(segs, _) => {
                let (f, i) = segs.create_next().map_err(WriteError::Io)?;
                (f, segs.dir().to_path_buf(), i)
            }
        };
        let mut enc =
            encode::Encoder::create(file, &dir, &self.opts, self.schema.clone(), &self.first_col)?;
        // A segment's fsync runs on the sealer thread: the writer (and the
        // drain loop behind it) goes on with the next segment meanwhile.
        enc.defer_sync = self.sealer.is_some();
        self.current = Some((enc, index));
        Ok(())
    }

    /// Closes the current file with `meta`, seals it (segments), and
    /// returns its size.
    fn close_current(
        &mut self,
        meta: &FileMeta,
        failed: bool,
        failure: &Mutex<Option<String>>,
    ) -> Result<u64, WriteError> {
        let Some((enc, index)) = self.current.take() else {
            return Ok(0);
        };
        let handle = enc.file_handle().map_err(WriteError::Io)?;
        let (size, row_groups) = enc.close(meta, failed, failure)?;
        self.sealed_bytes += size;
        if let Some(sealer) = &self.sealer {
            sealer.send(SealJob {
                file: handle,
                index,
                sealed: Sealed {
                    index,
                    path: std::path::PathBuf::new(),
                    bytes: size,
                    row_groups,
                    start_ns: meta.start_ns,
                    end_ns: meta.end_ns,
                },
            });
        }
        Ok(size)
    }

    fn run(
        mut self,
        rx: Receiver<encode::Msg>,
        bytes: &AtomicU64,
        failure: &Mutex<Option<String>>,
    ) -> Result<u64, WriteError> {
        let mut failed = false;
        let fail = |e: WriteError| {
            if let Ok(mut f) = failure.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        };
        let mut last: Option<u64> = None;
        for msg in &rx {
            match msg {
                encode::Msg::Batch(t, b) if !failed => {
                    if self.current.is_none() {
                        if let Err(e) = self.open_next() {
                            failed = true;
                            fail(e);
                            continue;
                        }
                    }
                    let Some((enc, _)) = self.current.as_mut() else {
                        continue;
                    };
                    match enc.write_batch(t, &b) {
                        Ok(done) => bytes.store(self.sealed_bytes + done, Ordering::Relaxed),
                        Err(e) => {
                            failed = true;
                            fail(e);
                        }
                    }
                }
                // After a failure, later batches have nowhere to go.
                encode::Msg::Batch(..) => {}
                encode::Msg::Checkpoint(meta) => {
                    if matches!(self.dest, Dest::File(..)) {
                        continue;
                    }
                    match self.close_current(&meta, failed, failure) {
                        Ok(_) => bytes.store(self.sealed_bytes, Ordering::Relaxed),
                        Err(e) => {
                            failed = true;
                            fail(e);
                        }
                    }
                    // The next segment opens with the next batch: a failed
                    // writer opens none.
                    if !failed {
                        if let Err(e) = self.open_next() {
                            failed = true;
                            fail(e);
                        }
                    }
                }
                encode::Msg::Finish(meta) => {
                    last = Some(self.close_current(&meta, failed, failure)?);
                    break;
                }
            }
        }
        if last.is_none() {
            // The sender vanished without Finish: close what is open so what
            // was written stays readable.
            self.close_current(&FileMeta::default(), failed, failure)?;
        }
        if let Some(sealer) = self.sealer.as_mut() {
            sealer.finish();
        }
        Ok(self.sealed_bytes)
    }
}

impl Tables {
    fn index_of(&self, table: &'static Table) -> Option<usize> {
        // By name: a `const` table has no single address to compare.
        self.bufs.iter().position(|b| b.table.name == table.name)
    }

    /// Adds one row. May send a full batch to the writer, which blocks when
    /// the writer is behind.
    pub fn push<R: Row>(&mut self, hdr: &Header, row: &R) -> Result<(), WriteError> {
        let Some(i) = self.index_of(R::TABLE) else {
            return Err(WriteError::Stopped(format!(
                "a row of table {} (group {}), which this recording does not hold",
                R::TABLE.name,
                R::TABLE.group
            )));
        };
        let buf = &mut self.bufs[i];
        buf.ts.append_value(hdr.ts_ns);
        hdr.visit_rest(&mut Cursor {
            cols: &mut buf.common,
            i: 0,
        });
        row.visit(&mut Cursor {
            cols: &mut buf.cols,
            i: 0,
        });
        buf.rows += 1;
        if self.watched[i] {
            if let Some(w) = self.watch.as_deref_mut() {
                w.begin(R::TABLE, hdr);
                row.visit(&mut WatchCursor(w));
                w.end();
            }
        }
        let buf = &self.bufs[i];
        if buf.rows >= self.batch_rows {
            self.flush_table(i)?;
        }
        Ok(())
    }

    fn flush_table(&mut self, i: usize) -> Result<(), WriteError> {
        let rows = self.bufs[i].rows;
        if rows == 0 {
            return Ok(());
        }
        let buf = &mut self.bufs[i];
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(COMMON.len() + buf.cols.len());
        cols.push(Arc::new(buf.ts.finish()));
        cols.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(buf.table.name, rows),
        )));
        cols.extend(buf.common.iter_mut().map(ColBuilder::finish));
        cols.extend(buf.cols.iter_mut().map(ColBuilder::finish));
        buf.rows = 0;
        self.rows_total[i] += rows as u64;
        let batch = RecordBatch::try_new(self.layout.narrow[i].clone(), cols)?;
        self.tx
            .send(encode::Msg::Batch(i, batch))
            .map_err(|_| WriteError::Stopped("writer thread ended".into()))
    }

    /// Shows the rows of the tables `watch` wants to it, as they are pushed.
    pub fn set_watch(&mut self, watch: Box<dyn Watch>) {
        self.watched = self.bufs.iter().map(|b| watch.wants(b.table)).collect();
        self.watch = Some(watch);
    }

    /// Writes every buffered row and closes the current segment with
    /// `meta`; the next rows go to a new segment. (One file: no-op but
    /// the flush.)
    pub fn checkpoint(&mut self, meta: FileMeta) -> Result<(), WriteError> {
        for i in 0..self.bufs.len() {
            self.flush_table(i)?;
        }
        self.tx
            .send(encode::Msg::Checkpoint(Box::new(meta)))
            .map_err(|_| WriteError::Stopped("writer thread ended".into()))
    }

    /// Rows pushed so far, per table name.
    pub fn row_counts(&self) -> Vec<(&'static str, u64)> {
        self.bufs
            .iter()
            .zip(&self.rows_total)
            .map(|(b, n)| (b.table.name, n + b.rows as u64))
            .collect()
    }

    /// Flushes every table and hands the metadata to the writer.
    pub fn finish(mut self, meta: FileMeta) -> Result<(), WriteError> {
        for i in 0..self.bufs.len() {
            self.flush_table(i)?;
        }
        self.tx
            .send(encode::Msg::Finish(Box::new(meta)))
            .map_err(|_| WriteError::Stopped("writer thread ended".into()))
    }
}

impl FileWriter {
    /// Why writing failed, once it has: the recording should stop.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Bytes written so far, for progress display.
    pub fn bytes_written(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Waits for the file to be closed; returns its size in bytes.
    pub fn join(self) -> Result<u64, WriteError> {
        self.handle
            .join()
            .map_err(|_| WriteError::Stopped("writer thread panicked".into()))?
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use memtrace_schema::integrity::{self, Verified};
    use memtrace_schema::tables::{oom::oom_victim, pr::reclaim_end, procstat::procstat};
    use memtrace_schema::{Comm, META_KEY};
    use std::fs::File;

    /// A header for test rows at `ts`.
    pub(crate) fn hdr(ts: i64) -> Header {
        Header {
            ts_ns: ts,
            cpu: 1,
            pid: 42,
            tgid: 40,
            comm: Comm::from_raw(b"app"),
            cgroup_id: 7,
        }
    }

    #[test]
    fn schema_has_every_table_column() {
        let s = file_schema();
        let n: usize = tables().iter().map(|t| t.columns.len()).sum();
        assert_eq!(s.fields().len(), COMMON.len() + n);
        assert!(s.field_with_name("procstat.rss_anon").is_ok());
    }

    #[test]
    fn big_tables_get_row_groups_of_their_own_and_small_ones_share_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let opts = WriterOptions {
            batch_rows: 2,
            row_group_rows: 3,
            zstd_level: 1,
            ..Default::default()
        };
        let (mut t, w) = create(new_file(&path), dir.path(), &opts).unwrap();
        for i in 0..5 {
            let row = procstat::Row {
                reason: "switch".into(),
                rss_anon: 4096 * i,
                ..Default::default()
            };
            t.push(&hdr(i as i64), &row).unwrap();
        }
        t.push(
            &hdr(9),
            &reclaim_end::Row {
                nr_reclaimed: 3,
                begin_ts_ns: None,
                ..Default::default()
            },
        )
        .unwrap();
        t.push(
            &hdr(10),
            &oom_victim::Row {
                victim_pid: 5,
                load1: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        t.finish(FileMeta {
            schema_version: 1,
            hostname: "h".into(),
            ..Default::default()
        })
        .unwrap();
        let size = w.join().unwrap();
        assert!(size > 0);

        let file = File::open(&path).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        use parquet::file::reader::FileReader;
        let md = reader.metadata();
        // 5 procstat rows in groups of at most 3 -> 2 groups of its own;
        // the reclaim and OOM rows share one.
        assert_eq!(md.num_row_groups(), 3);
        let kinds = |i: usize| {
            let s = md.row_group(i).column(1).statistics().unwrap();
            (
                String::from_utf8_lossy(s.min_bytes_opt().unwrap()).into_owned(),
                String::from_utf8_lossy(s.max_bytes_opt().unwrap()).into_owned(),
            )
        };
        assert_eq!(kinds(0), ("procstat".into(), "procstat".into()));
        assert_eq!(kinds(1), ("procstat".into(), "procstat".into()));
        assert_eq!(kinds(2), ("oom_victim".into(), "reclaim_end".into()));
        assert_eq!(md.row_group(2).num_rows(), 2);
        let kv = md.file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == META_KEY));
        // No Arrow schema in the footer: the Parquet types read back as
        // the writer's Arrow types.
        assert!(!kv.iter().any(|k| k.key == "ARROW:schema"));
        let back = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(&path).unwrap(),
        )
        .unwrap();
        let want = file_schema();
        assert_eq!(back.schema().fields().len(), want.fields().len());
        for (a, b) in back.schema().fields().iter().zip(want.fields()) {
            assert_eq!(a, b);
        }
        // Three row groups of 150-odd columns each, all checked.
        assert_eq!(
            verify(&path),
            Verified::Intact {
                chunks: 3 * file_schema().fields().len()
            }
        );
        // Nothing else is left in the directory: the reserve had no name.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn new_file(path: &Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .unwrap()
    }

    fn verify(path: &Path) -> Verified {
        let file = File::open(path).unwrap();
        let r =
            parquet::file::reader::SerializedFileReader::new(file.try_clone().unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        integrity::verify(&file, r.metadata()).unwrap()
    }

    /// Writes `n` procstat rows in row groups of 10 to `path`, with the disk
    /// full after `limit` bytes; returns the writer's size and failure.
    fn write_rows(path: &Path, n: u64, limit: Option<u64>) -> (u64, Option<String>) {
        let opts = WriterOptions {
            batch_rows: 5,
            row_group_rows: 10,
            zstd_level: 1,
            fail_after_bytes: limit,
            ..Default::default()
        };
        let (mut t, w) = create(new_file(path), path.parent().unwrap(), &opts).unwrap();
        for i in 0..n {
            let row = procstat::Row {
                reason: "switch".into(),
                rss_anon: 4096 * i,
                ..Default::default()
            };
            // After a failure the writer takes no more; that is the point.
            if t.push(&hdr(i as i64), &row).is_err() {
                break;
            }
        }
        let _ = t.finish(FileMeta {
            schema_version: 1,
            hostname: "h".into(),
            ..Default::default()
        });
        let failure = w.failure.clone();
        let size = w.join().unwrap();
        let failure = failure.lock().unwrap().clone();
        (size, failure)
    }

    fn row_count(path: &Path) -> i64 {
        use parquet::file::reader::FileReader;
        let r =
            parquet::file::reader::SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        for row in r.get_row_iter(None).unwrap() {
            row.unwrap();
        }
        r.metadata().file_metadata().num_rows()
    }

    #[test]
    fn a_full_disk_at_the_footer_keeps_every_row_group() {
        let dir = tempfile::tempdir().unwrap();
        // Where the data ends and the footer starts, from a run with room.
        let whole = dir.path().join("whole.parquet");
        let (size, failure) = write_rows(&whole, 95, None);
        assert_eq!(failure, None);
        let bytes = std::fs::read(&whole).unwrap();
        let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..][..4].try_into().unwrap());
        let data_end = size - u64::from(footer_len) - 8;
        // The same again, on a disk that fills just after the data: the
        // footer write fails (this used to panic the writer thread).
        let full = dir.path().join("full.parquet");
        let (_, failure) = write_rows(&full, 95, Some(data_end + 16));
        assert!(
            failure.as_deref().unwrap_or("").contains("No space left"),
            "{failure:?}"
        );
        // The salvage wrote the footer in the reserve's space: every row
        // group is there, and the checksums say the file is whole.
        assert_eq!(row_count(&full), 95);
        assert!(matches!(verify(&full), Verified::Intact { .. }));
    }

    #[test]
    fn a_full_disk_while_recording_keeps_the_whole_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.parquet");
        let (size, _) = write_rows(&whole, 200, None);
        // A third of the way through the data (not the footer).
        let bytes = std::fs::read(&whole).unwrap();
        let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..][..4].try_into().unwrap());
        let data_end = size - u64::from(footer_len) - 8;
        let full = dir.path().join("full.parquet");
        let (_, failure) = write_rows(&full, 200, Some(data_end / 3));
        assert!(failure.is_some());
        let rows = row_count(&full);
        assert!(rows > 0 && rows < 200, "{rows}");
        assert_eq!(rows % 10, 0, "only whole row groups: {rows}");
        assert!(matches!(verify(&full), Verified::Intact { .. }));
    }
}
