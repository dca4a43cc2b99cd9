//! What memana checks before it trusts a file: the footer's sizes (so a
//! small file cannot make it decode gigabytes), the column types against
//! the schema crate's tables, the metadata's window, and the rows'
//! invariants (`kind`, nulls, timestamps, text lengths, signs). Each check
//! either rejects the file ([`Offence`], exit 2, naming the first offence)
//! or adds a warning the report shows; docs/REPORTS.md lists which.

use crate::filter::{length_text, Filter};
use crate::frame::Frame;
use crate::recording::{max_opt, min_opt, ReadError, Recording};
use memtrace_schema::{
    file_column_name, tables, ColumnType, FileMeta, Table, Unit, COMMON, KIND_COLUMN,
};
use parquet::file::metadata::ParquetMetaData;
use polars::prelude::ChunkAgg;
use std::collections::BTreeMap;

/// Largest decoded (uncompressed) size of one column chunk memana reads.
/// memrec writes row groups of at most 8 MiB encoded; no column of one
/// comes near this.
pub const MAX_CHUNK_BYTES: i64 = 256 << 20;
/// Largest decoded size of one row group, all columns together.
pub const MAX_ROW_GROUP_BYTES: i64 = 1 << 30;
/// Most rows in one row group (memrec writes at most 2 Mi). Rows bound
/// memory however well they compress: a decoded row group takes 8 bytes
/// per row and column read, so 4 Mi rows of a table's ~25 columns is
/// under 1 GiB.
pub const MAX_ROW_GROUP_ROWS: i64 = 1 << 22;
/// The kernel keeps a task's command name in 16 bytes (`TASK_COMM_LEN`).
pub const MAX_COMM_BYTES: usize = 16;
/// Longest other text: kernel symbol names are at most 512 bytes
/// (`KSYM_NAME_LEN`), decoded gfp masks a few hundred.
pub const MAX_TEXT_BYTES: usize = 4096;
/// How far outside `[start_ns, end_ns]` a row's `ts_ns` may lie: events
/// stamped just before memrec read its start anchor, or drained after its
/// end anchor.
pub const TS_SLACK_NS: i64 = 1_000_000_000;

/// Why a file is rejected. Each is one line; the caller names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Offence {
    #[error("damaged footer: it counts {file} rows but its row groups hold {groups}")]
    RowCount { file: i64, groups: i64 },
    #[error("damaged footer: row group {row_group} claims {rows} rows")]
    Rows { row_group: usize, rows: i64 },
    #[error("damaged footer: row group {row_group}, column `{column}` claims a negative size")]
    NegativeSize { row_group: usize, column: String },
    #[error(
        "row group {row_group}, column `{column}` would decode to {mib} MiB, more than the \
         {limit} MiB memana reads of one column chunk (memrec writes far less; the file is \
         damaged or not memrec's)"
    )]
    ChunkTooLarge {
        row_group: usize,
        column: String,
        mib: i64,
        limit: i64,
    },
    #[error(
        "row group {row_group} would decode to {mib} MiB, more than the {limit} MiB memana \
         reads of one row group (the file is damaged or not memrec's)"
    )]
    RowGroupTooLarge {
        row_group: usize,
        mib: i64,
        limit: i64,
    },
    #[error("row group {row_group}, column `{column}`: byte range {offset}+{len} lies outside the file ({file_len} bytes)")]
    Range {
        row_group: usize,
        column: String,
        offset: i64,
        len: i64,
        file_len: u64,
    },
    #[error(
        "row group {row_group}, column `{column}`: {why} (offset {offset}): the file is damaged"
    )]
    Page {
        row_group: usize,
        column: String,
        offset: u64,
        why: String,
    },
    #[error("its Parquet and Arrow schemas disagree: {0}")]
    Schema(String),
    #[error("column `{column}` is {found}, but the schema says {expected} (no lenient casts)")]
    ColumnType {
        column: String,
        expected: String,
        found: String,
    },
    #[error("metadata: start_ns {start} and end_ns {end} are not a window (start must be >= 0 and <= end)")]
    MetaWindow { start: i64, end: i64 },
    #[error("metadata: start_ns/end_ns ({start}..{end}) disagree with its clock anchors ({first}..{last})")]
    MetaAnchors {
        start: i64,
        end: i64,
        first: i64,
        last: i64,
    },
    #[error("{rows} row(s) have no `kind` (null): the file is damaged")]
    NullKind { rows: u64 },
    #[error("{rows} row(s) have an unknown `kind` `{kind}` (schema version 1 has no such table): the file is damaged")]
    UnknownKind { kind: String, rows: u64 },
    #[error("table `{table}`: {rows} row(s) have no `{column}` (null), which the schema requires: the file is damaged")]
    Null {
        table: String,
        column: String,
        rows: u64,
    },
    #[error(
        "table `{table}`: a row has ts_ns {ts}, {where_} (rows may lie at most {slack} outside \
         the recording, which is {length} long): the file is damaged"
    )]
    Time {
        table: String,
        ts: i64,
        where_: String,
        slack: String,
        length: String,
    },
    #[error("table `{table}`: column `{column}` holds a text of {len} bytes, longer than the {max} bytes the kernel allows: the file is damaged")]
    TextTooLong {
        table: String,
        column: String,
        len: usize,
        max: usize,
    },
    #[error("table `{table}`: column `{column}` holds {value}, which a load average cannot be: the file is damaged")]
    BadFloat {
        table: String,
        column: String,
        value: String,
    },
    #[error(
        "table `{table}`: column `{column}` holds {min}, a negative duration: the file is damaged"
    )]
    NegativeDuration {
        table: String,
        column: String,
        min: i64,
    },
}

/// Footer checks, before any data is read: row counts agree, every
/// column chunk lies inside the file, and no chunk or row group would
/// decode to more than memana allows.
pub fn footer(md: &ParquetMetaData, file_len: u64) -> Result<(), Offence> {
    let mut total: i64 = 0;
    for (i, rg) in md.row_groups().iter().enumerate() {
        let rows = rg.num_rows();
        if !(0..=MAX_ROW_GROUP_ROWS).contains(&rows) {
            return Err(Offence::Rows { row_group: i, rows });
        }
        total = total.saturating_add(rows);
        let mut bytes: i64 = 0;
        for c in rg.columns() {
            let column = c.column_path().string();
            let (un, comp) = (c.uncompressed_size(), c.compressed_size());
            if un < 0 || comp < 0 {
                return Err(Offence::NegativeSize {
                    row_group: i,
                    column,
                });
            }
            let start = c
                .dictionary_page_offset()
                .unwrap_or(c.data_page_offset())
                .min(c.data_page_offset());
            let inside = start >= 0
                && start
                    .checked_add(comp)
                    .is_some_and(|end| u64::try_from(end).is_ok_and(|e| e <= file_len));
            if !inside {
                return Err(Offence::Range {
                    row_group: i,
                    column,
                    offset: start,
                    len: comp,
                    file_len,
                });
            }
            // The compressed size bounds the checksum's read buffer.
            if un.max(comp) > MAX_CHUNK_BYTES {
                return Err(Offence::ChunkTooLarge {
                    row_group: i,
                    column,
                    mib: un.max(comp) >> 20,
                    limit: MAX_CHUNK_BYTES >> 20,
                });
            }
            bytes = bytes.saturating_add(un);
        }
        if bytes > MAX_ROW_GROUP_BYTES {
            return Err(Offence::RowGroupTooLarge {
                row_group: i,
                mib: bytes >> 20,
                limit: MAX_ROW_GROUP_BYTES >> 20,
            });
        }
    }
    let file = md.file_metadata().num_rows();
    if file != total {
        return Err(Offence::RowCount {
            file,
            groups: total,
        });
    }
    Ok(())
}

/// Page headers, before any page is decoded: the footer's sizes bound
/// nothing if a page header claims more (decoders allocate what the page
/// header says). Walks every column chunk's pages, reading only their
/// headers, and refuses a page or chunk that would decode to more than
/// [`MAX_CHUNK_BYTES`], or a header that does not parse or does not tile
/// the chunk.
///
/// Returns, per row group and column chunk, whether its values can only
/// be those of its dictionary page: the first page is one, and every data
/// page after it is dictionary-encoded (as the decoder reads the headers,
/// not as the footer claims).
pub fn pages(
    file: &std::fs::File,
    file_len: u64,
    md: &ParquetMetaData,
) -> Result<Vec<Vec<bool>>, Offence> {
    // Row groups on every CPU: a large file has millions of pages. The
    // first offence in file order is the one told, as on one thread.
    let groups = md.num_row_groups();
    let order: Vec<usize> = (0..groups).collect();
    crate::par::map(groups, &order, |i| group_pages(file, file_len, md, i))
        .into_iter()
        .collect()
}

/// [`pages`] for row group `i`.
fn group_pages(
    file: &std::fs::File,
    file_len: u64,
    md: &ParquetMetaData,
    i: usize,
) -> Result<Vec<bool>, Offence> {
    let mut window = Window::new(file, file_len);
    let rg = md.row_group(i);
    let mut group = Vec::with_capacity(rg.num_columns());
    for c in rg.columns() {
        let mut only_dictionary = true;
        let mut first = true;
        let column = || c.column_path().string();
        let (start, len) = c.byte_range();
        let end = start.saturating_add(len);
        let mut at = start;
        let mut total: i64 = 0;
        while at < end {
            let damaged = |why: &str| Offence::Page {
                row_group: i,
                column: column(),
                offset: at,
                why: why.to_string(),
            };
            // A header is small; more is read when one holds long
            // statistics.
            let mut want = HEADER_BYTES;
            let h = loop {
                let b = window
                    .bytes(at, want, end)
                    .map_err(|_| damaged("cannot read its page header"))?;
                match page_header(b) {
                    Ok(h) => break h,
                    Err(Thrift::Short) if b.len() < want || want >= 1 << 20 => {
                        return Err(damaged("its page header runs past the column chunk"))
                    }
                    Err(Thrift::Short) => want *= 16,
                    Err(Thrift::Bad) => return Err(damaged("its page header is damaged")),
                }
            };
            let (header_len, un, comp) = (h.len, h.uncompressed, h.compressed);
            only_dictionary &= if first {
                h.kind == Some(DICTIONARY_PAGE)
            } else {
                h.dictionary_data()
            };
            first = false;
            if un < 0 || comp < 0 {
                return Err(damaged("a page header claims a negative size"));
            }
            if un > MAX_CHUNK_BYTES {
                return Err(Offence::ChunkTooLarge {
                    row_group: i,
                    column: column(),
                    mib: un >> 20,
                    limit: MAX_CHUNK_BYTES >> 20,
                });
            }
            total = total.saturating_add(un);
            if total > MAX_CHUNK_BYTES {
                return Err(Offence::ChunkTooLarge {
                    row_group: i,
                    column: column(),
                    mib: total >> 20,
                    limit: MAX_CHUNK_BYTES >> 20,
                });
            }
            at = at
                .saturating_add(header_len as u64)
                .saturating_add(comp as u64);
        }
        if at != end {
            return Err(Offence::Page {
                row_group: i,
                column: column(),
                offset: end,
                why: "its pages do not end where the column chunk does".into(),
            });
        }
        group.push(only_dictionary && !first);
    }
    Ok(group)
}

/// The bytes a page header is first looked for in.
const HEADER_BYTES: usize = 256;

/// Reads of a file through one buffer of [`Window::BLOCK`] bytes: small
/// pages' headers, and a row group's small column chunks, are many to a
/// block, so they cost one read a block rather than one a page.
struct Window<'a> {
    file: &'a std::fs::File,
    /// The file's length, as the footer was checked against.
    len: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    at: u64,
}

impl<'a> Window<'a> {
    const BLOCK: usize = 64 << 10;

    fn new(file: &'a std::fs::File, len: u64) -> Self {
        Self {
            file,
            len,
            buf: Vec::with_capacity(Self::BLOCK),
            at: 0,
        }
    }

    /// `want` bytes at `at`, fewer only where `end` comes first; an error
    /// where the file ends first.
    fn bytes(&mut self, at: u64, want: usize, end: u64) -> std::io::Result<&[u8]> {
        use std::os::unix::fs::FileExt;
        let room = |to: u64| usize::try_from(to.saturating_sub(at)).unwrap_or(usize::MAX);
        let want = want.min(room(end));
        if want > room(self.len) {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let held = at >= self.at
            && at.saturating_add(want as u64) <= self.at.saturating_add(self.buf.len() as u64);
        if !held {
            self.buf
                .resize(want.max(Self::BLOCK).min(room(self.len)), 0);
            self.file.read_exact_at(&mut self.buf, at)?;
            self.at = at;
        }
        let from = usize::try_from(at - self.at).unwrap_or(usize::MAX);
        Ok(&self.buf[from..from + want])
    }
}

/// Why a Thrift header did not parse.
#[derive(Debug, PartialEq)]
enum Thrift {
    /// The bytes end before the header does.
    Short,
    /// Not a header.
    Bad,
}

/// Parquet's page types and the encodings of dictionary-encoded values.
const DATA_PAGE: i64 = 0;
const DICTIONARY_PAGE: i64 = 2;
const DATA_PAGE_V2: i64 = 3;
const PLAIN_DICTIONARY: i64 = 2;
const RLE_DICTIONARY: i64 = 8;

/// What one page header says: its length in bytes, its
/// `uncompressed_page_size` and `compressed_page_size`, its type, and the
/// encoding of a data page's values.
#[derive(Debug, PartialEq)]
struct PageHeader {
    len: usize,
    uncompressed: i64,
    compressed: i64,
    kind: Option<i64>,
    encoding: Option<i64>,
}

impl PageHeader {
    /// A data page whose values are indices into the chunk's dictionary:
    /// the decoder can give no value the dictionary page lacks.
    fn dictionary_data(&self) -> bool {
        matches!(self.kind, Some(DATA_PAGE | DATA_PAGE_V2))
            && matches!(self.encoding, Some(PLAIN_DICTIONARY | RLE_DICTIONARY))
    }
}

/// A Parquet `PageHeader` in Thrift's compact protocol.
fn page_header(b: &[u8]) -> Result<PageHeader, Thrift> {
    let mut r = Compact { b, at: 0, depth: 0 };
    let (mut un, mut comp, mut kind, mut encoding) = (None, None, None, None);
    let mut last = 0i16;
    loop {
        let head = r.byte()?;
        if head == 0 {
            break;
        }
        let ty = head & 0x0f;
        let delta = (head >> 4) as i16;
        let id = if delta == 0 {
            r.zigzag()? as i16
        } else {
            last.wrapping_add(delta)
        };
        last = id;
        match (id, ty) {
            (1, 5) => kind = Some(r.zigzag()?),
            (2, 5) => un = Some(r.zigzag()?),
            (3, 5) => comp = Some(r.zigzag()?),
            // DataPageHeader.encoding is its field 2, DataPageHeaderV2's
            // its field 4.
            (5, 12) => encoding = r.struct_i32(2)?,
            (8, 12) => encoding = r.struct_i32(4)?,
            _ => r.skip(ty)?,
        }
    }
    match (un, comp) {
        (Some(uncompressed), Some(compressed)) => Ok(PageHeader {
            len: r.at,
            uncompressed,
            compressed,
            kind,
            encoding,
        }),
        _ => Err(Thrift::Bad),
    }
}

/// A reader of Thrift's compact protocol that can skip any value.
struct Compact<'a> {
    b: &'a [u8],
    at: usize,
    depth: u32,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, Thrift> {
        let v = *self.b.get(self.at).ok_or(Thrift::Short)?;
        self.at += 1;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64, Thrift> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let x = self.byte()?;
            if shift == 63 && x > 1 {
                return Err(Thrift::Bad);
            }
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Thrift::Bad)
    }

    fn zigzag(&mut self) -> Result<i64, Thrift> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Result<(), Thrift> {
        let n = usize::try_from(n).map_err(|_| Thrift::Bad)?;
        let to = self.at.checked_add(n).ok_or(Thrift::Bad)?;
        if to > self.b.len() {
            return Err(Thrift::Short);
        }
        self.at = to;
        Ok(())
    }

    /// Skips one value of compact type `ty`.
    fn skip(&mut self, ty: u8) -> Result<(), Thrift> {
        match ty {
            1 | 2 => Ok(()),
            3 => self.advance(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.advance(8),
            8 => {
                let n = self.varint()?;
                self.advance(n)
            }
            9 | 10 => {
                let head = self.byte()?;
                let n = match head >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                self.elements(n, head & 0x0f)
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                for _ in 0..n {
                    self.element(kv >> 4)?;
                    self.element(kv & 0x0f)?;
                }
                Ok(())
            }
            // A struct: its fields skipped (no field has id 0).
            12 => self.struct_i32(0).map(|_| ()),
            _ => Err(Thrift::Bad),
        }
    }

    /// Reads a struct, keeping its i32 field `want` (if present).
    fn struct_i32(&mut self, want: i16) -> Result<Option<i64>, Thrift> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(Thrift::Bad);
        }
        let mut found = None;
        let mut last = 0i16;
        loop {
            let head = self.byte()?;
            if head == 0 {
                break;
            }
            let delta = (head >> 4) as i16;
            last = if delta == 0 {
                self.zigzag()? as i16
            } else {
                last.wrapping_add(delta)
            };
            match (last, head & 0x0f) {
                (id, 5) if id == want => found = Some(self.zigzag()?),
                (_, ty) => self.skip(ty)?,
            }
        }
        self.depth -= 1;
        Ok(found)
    }

    fn elements(&mut self, n: u64, ty: u8) -> Result<(), Thrift> {
        // Every element takes at least one byte: a count past the bytes
        // left is damage, not a reason to loop.
        if n > (self.b.len() - self.at) as u64 + 1 {
            return Err(Thrift::Short);
        }
        for _ in 0..n {
            self.element(ty)?;
        }
        Ok(())
    }

    /// A list, set or map element: booleans take a byte there.
    fn element(&mut self, ty: u8) -> Result<(), Thrift> {
        match ty {
            1 | 2 => self.advance(1),
            ty => self.skip(ty),
        }
    }
}

/// Every column the schema defines that the file has must have the
/// schema's type, as both the Parquet schema and the Arrow schema stored
/// beside it say (readers take either). Columns the schema does not know
/// are ignored: nothing reads them.
pub fn types(md: &ParquetMetaData) -> Result<(), Offence> {
    use arrow_schema::DataType;
    let fmd = md.file_metadata();
    let arrow =
        parquet::arrow::parquet_to_arrow_schema(fmd.schema_descr(), fmd.key_value_metadata())
            .map_err(|e| Offence::Schema(crate::recording::one_line(&e.to_string())))?;
    let mut expected: BTreeMap<String, ColumnType> = BTreeMap::new();
    for c in COMMON {
        expected.insert(c.name.to_string(), c.ty);
    }
    for t in tables() {
        for c in t.columns {
            expected.insert(file_column_name(t.name, c.name), c.ty);
        }
    }
    for f in arrow.fields() {
        let Some(&ty) = expected.get(f.name()) else {
            continue;
        };
        let want = memtrace_schema::arrow::data_type(ty);
        let ok = match (ty, f.data_type()) {
            (ColumnType::Text, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
            (ColumnType::Text, DataType::Dictionary(_, v)) => {
                matches!(
                    **v,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            }
            (_, found) => *found == want,
        };
        if !ok {
            return Err(Offence::ColumnType {
                column: f.name().clone(),
                expected: ty.name().to_string(),
                found: format!("{}", f.data_type()),
            });
        }
    }
    Ok(())
}

/// The metadata's window: `0 <= start_ns <= end_ns` (both 0: unset, the
/// data's span is used), and equal to the clock anchors memrec took it from.
pub fn meta(m: &FileMeta) -> Result<(), Offence> {
    if m.start_ns == 0 && m.end_ns == 0 {
        return Ok(());
    }
    if m.start_ns < 0 || m.end_ns < m.start_ns || m.end_ns > i64::MAX - TS_SLACK_NS {
        return Err(Offence::MetaWindow {
            start: m.start_ns,
            end: m.end_ns,
        });
    }
    if let (Some(first), Some(last), true) = (
        m.clock_anchors.first(),
        m.clock_anchors.last(),
        m.clock_anchors.len() >= 2,
    ) {
        if first.boottime_ns != m.start_ns || last.boottime_ns != m.end_ns {
            return Err(Offence::MetaAnchors {
                start: m.start_ns,
                end: m.end_ns,
                first: first.boottime_ns,
                last: last.boottime_ns,
            });
        }
    }
    Ok(())
}

/// A census error: an offence, or a read that failed.
#[derive(Debug, thiserror::Error)]
pub enum CensusError {
    #[error(transparent)]
    Offence(#[from] Offence),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What one column's values showed (or its footer says they show).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ColumnStats {
    pub nulls: u64,
    /// Range of an integer column.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Longest text, in bytes.
    pub longest: usize,
    /// A float that is negative, NaN or infinite.
    pub bad_float: Option<f64>,
}

impl ColumnStats {
    /// Adds the values of another part of the column.
    pub fn merge(&mut self, o: &ColumnStats) {
        self.nulls = self.nulls.saturating_add(o.nulls);
        self.min = min_opt(self.min, o.min);
        self.max = max_opt(self.max, o.max);
        self.longest = self.longest.max(o.longest);
        self.bad_float = self.bad_float.or(o.bad_float);
    }
}

/// Reads every row once (the `kind` column, then each table's own columns)
/// and checks the invariants the schema states. Returns the warnings of
/// the invariants that warn.
///
/// Where the footer vouches for a table ([`crate::footer_census`]), its
/// statistics stand in for the values: only the tables it cannot cover
/// are read.
pub fn census(rec: &Recording) -> Result<Vec<String>, CensusError> {
    let mut warnings = Vec::new();
    let kinds = match &rec.tables {
        Some(t) => kinds_from_statistics(t)?,
        None => kinds(rec)?,
    };
    for t in tables() {
        if kinds.get(t.name).copied().unwrap_or(0) == 0 {
            continue;
        }
        let cols = census_columns(rec, t);
        let footer = rec.footer_census.covered(t.name).and_then(|c| {
            cols.iter()
                .map(|col| c.get(col.0).copied())
                .collect::<Option<Vec<_>>>()
        });
        let stats = match footer {
            Some(stats) => stats,
            None => {
                tracing::debug!(table = t.name, "row invariants read from the values");
                scan(rec, t, &cols)?
            }
        };
        judge(rec, t, &cols, &stats, &mut warnings)?;
    }
    Ok(warnings)
}

/// Rows per table as the row groups' `kind` statistics (and the `kind`
/// column of a row group several tables share) counted them on open.
fn kinds_from_statistics(
    tables: &BTreeMap<String, crate::recording::TableStats>,
) -> Result<BTreeMap<String, u64>, CensusError> {
    for (k, s) in tables {
        if memtrace_schema::table(k).is_none() && s.rows > 0 {
            return Err(Offence::UnknownKind {
                kind: crate::render::clean(k),
                rows: s.rows,
            }
            .into());
        }
    }
    Ok(tables.iter().map(|(k, s)| (k.clone(), s.rows)).collect())
}

/// Rows per `kind`; a null or unknown kind is an offence (never dropped).
fn kinds(rec: &Recording) -> Result<BTreeMap<String, u64>, CensusError> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut nulls = 0u64;
    let q = crate::frame::count_by(
        rec.base().select([polars::prelude::col(KIND_COLUMN)]),
        &[KIND_COLUMN],
        vec![],
    );
    let fr = rec.fetch(KIND_COLUMN, q)?;
    for (k, n) in fr
        .str(KIND_COLUMN)?
        .into_iter()
        .zip(fr.u64_or0(crate::frame::COUNT)?)
    {
        match k {
            Some(k) => *counts.entry(k).or_default() += n,
            None => nulls += n,
        }
    }
    if nulls > 0 {
        return Err(Offence::NullKind { rows: nulls }.into());
    }
    // Nulls were counted apart, so "" can only be a real empty kind here.
    for (k, &rows) in &counts {
        if memtrace_schema::table(k).is_none() {
            return Err(Offence::UnknownKind {
                kind: crate::render::clean(k),
                rows,
            }
            .into());
        }
    }
    Ok(counts)
}

/// A column the census checks: name, type, nullable, unit.
pub(crate) type CensusColumn = (&'static str, ColumnType, bool, Unit);

/// The columns of table `t` the file has (the common ones but `kind`).
pub(crate) fn census_columns(rec: &Recording, t: &'static Table) -> Vec<CensusColumn> {
    let mut cols: Vec<CensusColumn> = Vec::new();
    for c in COMMON.iter().filter(|c| c.name != KIND_COLUMN) {
        if rec.columns.contains(c.name) {
            cols.push((c.name, c.ty, c.nullable, c.unit));
        }
    }
    for c in t.columns {
        if rec.columns.contains(&file_column_name(t.name, c.name)) {
            cols.push((c.name, c.ty, c.nullable, c.unit));
        }
    }
    cols
}

/// Reads every value of table `t`'s columns.
pub(crate) fn scan(
    rec: &Recording,
    t: &'static Table,
    cols: &[CensusColumn],
) -> Result<Vec<ColumnStats>, CensusError> {
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let lf = rec.scan_with(t.name, &Filter::default(), &names, false)?;
    let mut stats = vec![ColumnStats::default(); cols.len()];
    rec.stream(t.name, lf, |fr: &Frame| {
        for (i, &(name, ty, _, _)) in cols.iter().enumerate() {
            let s = &mut stats[i];
            let c = fr.df.column(name).map_err(|e| rec.polars_err(t.name, e))?;
            s.nulls += c.null_count() as u64;
            match ty {
                ColumnType::I32 | ColumnType::I64 => {
                    let v = fr.chunked_i64(name)?;
                    s.min = min_opt(s.min, v.min());
                    s.max = max_opt(s.max, v.max());
                }
                ColumnType::F64 => {
                    let v = fr.f64(name)?;
                    if s.bad_float.is_none() {
                        s.bad_float = v
                            .into_iter()
                            .flatten()
                            .find(|x| !(x.is_finite() && *x >= 0.0));
                    }
                }
                ColumnType::Text => {
                    let v = fr.chunked_str(name)?;
                    for arr in v.downcast_iter() {
                        let longest = arr.views().iter().map(|v| v.length as usize).max();
                        s.longest = s.longest.max(longest.unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    Ok(stats)
}

/// The rows of one table: no nulls where the schema forbids them,
/// timestamps inside the recording, text within the kernel's lengths,
/// no negative durations; negative counts are a warning.
fn judge(
    rec: &Recording,
    t: &'static Table,
    cols: &[CensusColumn],
    stats: &[ColumnStats],
    warnings: &mut Vec<String>,
) -> Result<(), CensusError> {
    let length = length_text(rec.end_ns.saturating_sub(rec.start_ns));
    for (&(name, ty, nullable, unit), s) in cols.iter().zip(stats) {
        let column = if t.column(name).is_some() {
            file_column_name(t.name, name)
        } else {
            name.to_string()
        };
        if !nullable && s.nulls > 0 {
            return Err(Offence::Null {
                table: t.name.into(),
                column,
                rows: s.nulls,
            }
            .into());
        }
        if name == "ts_ns" {
            // A file that begins after its recording did (a later segment's
            // rotated file, a flight-recorder window) carries the stack
            // store's rows of every stack seen before it, so that it names
            // its stacks alone, stamped when each was first seen: only
            // their end is bound.
            let carries = rec.meta.segment.as_ref().is_some_and(|s| s.first > 1)
                || rec.meta.trigger.is_some();
            let lo = if carries && t.group == crate::stacks::GROUP {
                0
            } else {
                rec.start_ns.saturating_sub(TS_SLACK_NS)
            };
            let hi = rec.end_ns.saturating_add(TS_SLACK_NS);
            let bad = [s.min, s.max]
                .into_iter()
                .flatten()
                .find(|&ts| ts < lo || ts > hi);
            if let Some(ts) = bad {
                let where_ = if ts < lo {
                    format!(
                        "{} before the recording's start",
                        length_text(rec.start_ns.saturating_sub(ts))
                    )
                } else {
                    format!(
                        "{} after the recording's end",
                        length_text(ts.saturating_sub(rec.end_ns))
                    )
                };
                return Err(Offence::Time {
                    table: t.name.into(),
                    ts,
                    where_,
                    slack: length_text(TS_SLACK_NS),
                    length,
                }
                .into());
            }
        }
        if ty == ColumnType::Text {
            let max = if name == "comm" || name == "victim_comm" {
                MAX_COMM_BYTES
            } else {
                MAX_TEXT_BYTES
            };
            if s.longest > max {
                return Err(Offence::TextTooLong {
                    table: t.name.into(),
                    column,
                    len: s.longest,
                    max,
                }
                .into());
            }
        }
        if let Some(value) = s.bad_float {
            // The only floats are load averages (unit: ratio): finite, >= 0.
            return Err(Offence::BadFloat {
                table: t.name.into(),
                column,
                value: value.to_string(),
            }
            .into());
        }
        let negative = s.min.filter(|&m| m < 0);
        match (negative, unit) {
            (Some(min), Unit::Nanoseconds) if name != "ts_ns" && name != "begin_ts_ns" => {
                return Err(Offence::NegativeDuration {
                    table: t.name.into(),
                    column,
                    min,
                }
                .into());
            }
            (Some(min), Unit::Count | Unit::Pages | Unit::Bytes) => warnings.push(format!(
                "table `{}`: column `{column}` holds negative values (down to {min}), which \
                 the kernel should not produce; figures from it may be off",
                t.name
            )),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_gives_the_file_bytes_wherever_they_are_asked_for() {
        use std::io::Write;
        let data: Vec<u8> = (0..3 * Window::BLOCK + 123)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut f = tempfile::tempfile().expect("temporary file");
        f.write_all(&data).expect("write");
        let len = data.len() as u64;
        let mut w = Window::new(&f, len);
        // In order, backwards, across a block's end, past the block, and
        // longer than a block: always the bytes at that offset.
        for (at, want) in [
            (0u64, 256usize),
            (100, 256),
            (10, 50),
            (Window::BLOCK as u64 - 10, 256),
            (2 * Window::BLOCK as u64 + 5, 4096),
            (7, Window::BLOCK * 2),
        ] {
            let b = w.bytes(at, want, len).expect("in the file");
            assert_eq!(
                b,
                &data[at as usize..at as usize + want],
                "at {at}, {want} bytes"
            );
        }
        // `end` cuts the answer short; the file's end is an error.
        assert_eq!(
            w.bytes(len - 20, 256, len - 10).expect("in the file").len(),
            10
        );
        assert!(w.bytes(len - 20, 256, len + 100).is_err());
        assert!(w.bytes(len + 1, 1, u64::MAX).is_err());
    }

    /// A compact-protocol PageHeader as parquet writers lay it out:
    /// type, sizes, crc, then a data page header struct with statistics.
    fn header(un: i64, comp: i64) -> Vec<u8> {
        fn zz(v: i64, out: &mut Vec<u8>) {
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            loop {
                let b = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    out.push(b);
                    break;
                }
                out.push(b | 0x80);
            }
        }
        let mut h = vec![0x15];
        zz(0, &mut h); // type = DATA_PAGE
        h.push(0x15);
        zz(un, &mut h);
        h.push(0x15);
        zz(comp, &mut h);
        h.push(0x2c); // field 5: struct (DataPageHeader)
        h.push(0x15);
        zz(100, &mut h); // num_values
        h.push(0x15);
        zz(0, &mut h); // encoding
        h.push(0x1c); // field 4 of it (delta 2... written as id 3+? keep simple): a struct
        h.push(0x18); // statistics.max: binary
        h.push(3);
        h.extend_from_slice(b"abc");
        h.push(0x19); // a list of 2 i32
        h.push(0x25);
        zz(1, &mut h);
        zz(2, &mut h);
        h.push(0); // end statistics
        h.push(0); // end DataPageHeader
        h.push(0); // end PageHeader
        h
    }

    #[test]
    fn page_headers_parse_and_skip() {
        let h = header(1 << 20, 4096);
        assert_eq!(
            page_header(&h),
            Ok(PageHeader {
                len: h.len(),
                uncompressed: 1 << 20,
                compressed: 4096,
                kind: Some(DATA_PAGE),
                encoding: Some(0),
            })
        );
        // Cut short anywhere: short, never a panic or a wrong answer.
        for n in 0..h.len() {
            assert_eq!(page_header(&h[..n]), Err(Thrift::Short), "cut at {n}");
        }
        // Garbage never panics.
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut b = h.clone();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let at = x as usize % b.len();
            b[at] ^= (x >> 8) as u8 | 1;
            let _ = page_header(&b);
        }
    }
}
