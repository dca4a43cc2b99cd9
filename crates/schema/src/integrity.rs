//! Checksums that let a reader prove a recording holds what memrec wrote.
//!
//! Parquet pages may carry a CRC, but the parquet crate does not write one
//! and polars does not check one, and Parquet's footer has no checksum at
//! all. A flipped byte inside a zstd page can decode into plausible wrong
//! numbers, and a flipped statistic in the footer makes readers skip row
//! groups they need. So memrec keeps its own, in the footer's key-value
//! metadata under [`CHECKSUMS_KEY`]:
//!
//! - one CRC-32 per column chunk, over the chunk's bytes in the file
//!   ([`ColumnChunkMetaData::byte_range`]);
//! - one CRC-32 over the footer fields that readers act on
//!   ([`footer_digest`]): every row group's row count and every chunk's
//!   offsets, sizes, value count, codec, encodings and statistics, the
//!   column paths and physical types, and every other key-value entry
//!   (the file metadata and the Arrow schema).
//!
//! A reader checks both before it trusts any value ([`verify`]). Reading
//! every byte once costs about what reading the file does; see
//! docs/ARCHITECTURE.md for the measured cost.

use std::fs::File;
use std::os::unix::fs::FileExt;

use parquet::basic::Compression;
use parquet::file::metadata::{KeyValue, ParquetMetaData, RowGroupMetaData};
use serde::{Deserialize, Serialize};

/// Parquet key-value metadata key holding [`Checksums`] as JSON.
pub const CHECKSUMS_KEY: &str = "memtrace.checksums";

/// The one algorithm written so far.
pub const ALGORITHM: &str = "crc32";

/// What [`CHECKSUMS_KEY`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// `crc32` (IEEE, as zlib and Parquet's page CRC use).
    pub algorithm: String,
    /// [`footer_digest`] as 8 hex digits.
    pub footer: String,
    /// Per row group, in file order: each column chunk's CRC as 8 hex
    /// digits, concatenated in column order.
    pub chunks: Vec<String>,
}

/// Why a recording failed its checks.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("its checksums entry is malformed: {0}")]
    Malformed(String),
    #[error("its checksums use an unknown algorithm `{0}`")]
    Algorithm(String),
    #[error("its footer does not match its checksum (the row-group index or metadata is damaged)")]
    Footer,
    #[error("it has {found} row groups but checksums for {expected}")]
    RowGroups { expected: usize, found: usize },
    #[error("row group {row_group}, column `{column}`: the data does not match its checksum (damaged bytes at offset {offset}..{end})")]
    Chunk {
        row_group: usize,
        column: String,
        offset: u64,
        end: u64,
    },
    #[error("row group {row_group}, column `{column}`: its byte range {offset}+{len} lies outside the file ({file_len} bytes)")]
    Range {
        row_group: usize,
        column: String,
        offset: u64,
        len: u64,
        file_len: u64,
    },
    #[error("reading it: {0}")]
    Io(#[from] std::io::Error),
}

/// What [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Every chunk and the footer matched; this many chunks were checked.
    Intact { chunks: usize },
    /// The file carries no checksums (written before they existed, or by
    /// another tool): nothing could be checked.
    Unchecked,
}

/// CRC-32 of a column chunk's bytes.
pub fn chunk_crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// CRC-32 over the footer fields readers act on, and the key-value entries
/// other than [`CHECKSUMS_KEY`] (sorted by key, so the writer's order does
/// not matter). The writer computes it from its flushed row groups, a reader
/// from the parsed footer: both see the same values.
pub fn footer_digest<'a>(
    row_groups: impl IntoIterator<Item = &'a RowGroupMetaData>,
    kv: &[KeyValue],
) -> u32 {
    let mut h = Digest(crc32fast::Hasher::new());
    let mut n = 0u64;
    for rg in row_groups {
        n += 1;
        h.int(rg.num_rows());
        h.int(rg.num_columns() as i64);
        for c in rg.columns() {
            h.text(&c.column_path().string());
            h.text(&format!("{:?}", c.column_type()));
            h.int(c.data_page_offset());
            h.int(c.dictionary_page_offset().unwrap_or(-1));
            h.int(c.compressed_size());
            h.int(c.uncompressed_size());
            h.int(c.num_values());
            h.int(codec_id(c.compression()));
            for e in c.encodings() {
                h.text(&format!("{e:?}"));
            }
            match c.statistics() {
                Some(s) => {
                    h.int(1);
                    h.int(s.null_count_opt().map_or(-1, |v| v as i64));
                    h.opt_bytes(s.min_bytes_opt());
                    h.opt_bytes(s.max_bytes_opt());
                }
                None => h.int(0),
            }
        }
    }
    h.int(n as i64);
    let mut entries: Vec<&KeyValue> = kv.iter().filter(|k| k.key != CHECKSUMS_KEY).collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    for k in entries {
        h.text(&k.key);
        h.opt_bytes(k.value.as_deref().map(str::as_bytes));
    }
    h.0.finalize()
}

/// Computes the checksums of a file written up to its last row group
/// (flushed to `file`), with the key-value entries it will carry.
pub fn compute<'a>(
    file: &File,
    row_groups: impl IntoIterator<Item = &'a RowGroupMetaData> + Clone,
    kv: &[KeyValue],
) -> std::io::Result<Checksums> {
    let mut buf = Vec::new();
    let mut chunks = Vec::new();
    for rg in row_groups.clone() {
        let mut hex = String::with_capacity(8 * rg.num_columns());
        for c in rg.columns() {
            let (start, len) = c.byte_range();
            buf.resize(usize::try_from(len).map_err(std::io::Error::other)?, 0);
            file.read_exact_at(&mut buf, start)?;
            hex.push_str(&format!("{:08x}", chunk_crc(&buf)));
        }
        chunks.push(hex);
    }
    Ok(Checksums {
        algorithm: ALGORITHM.to_string(),
        footer: format!("{:08x}", footer_digest(row_groups, kv)),
        chunks,
    })
}

/// The entry for [`CHECKSUMS_KEY`].
pub fn to_key_value(c: &Checksums) -> KeyValue {
    // Serialising plain strings cannot fail.
    let json = serde_json::to_string(c).unwrap_or_default();
    KeyValue::new(CHECKSUMS_KEY.to_string(), json)
}

/// Checks every column chunk of `file` and its footer against the
/// checksums in its metadata. Stops at the first mismatch.
pub fn verify(file: &File, meta: &ParquetMetaData) -> Result<Verified, IntegrityError> {
    let kv: &[KeyValue] = meta
        .file_metadata()
        .key_value_metadata()
        .map_or(&[], |v| v.as_slice());
    let Some(entry) = kv.iter().find(|k| k.key == CHECKSUMS_KEY) else {
        return Ok(Verified::Unchecked);
    };
    let json = entry.value.as_deref().unwrap_or("");
    let sums: Checksums =
        serde_json::from_str(json).map_err(|e| IntegrityError::Malformed(e.to_string()))?;
    if sums.algorithm != ALGORITHM {
        return Err(IntegrityError::Algorithm(sums.algorithm));
    }
    let footer = u32::from_str_radix(&sums.footer, 16)
        .map_err(|_| IntegrityError::Malformed(format!("footer `{}`", sums.footer)))?;
    if footer_digest(meta.row_groups(), kv) != footer {
        return Err(IntegrityError::Footer);
    }
    if sums.chunks.len() != meta.num_row_groups() {
        return Err(IntegrityError::RowGroups {
            expected: sums.chunks.len(),
            found: meta.num_row_groups(),
        });
    }
    let file_len = file.metadata()?.len();
    let mut buf = Vec::new();
    let mut checked = 0;
    for (i, (rg, hex)) in meta.row_groups().iter().zip(&sums.chunks).enumerate() {
        if hex.len() != 8 * rg.num_columns() || !hex.is_ascii() {
            return Err(IntegrityError::Malformed(format!(
                "row group {i} has {} checksum digits for {} columns",
                hex.len(),
                rg.num_columns()
            )));
        }
        for (j, c) in rg.columns().iter().enumerate() {
            let want = u32::from_str_radix(&hex[8 * j..8 * j + 8], 16)
                .map_err(|_| IntegrityError::Malformed(format!("row group {i} column {j}")))?;
            let (start, len) = c.byte_range();
            let column = c.column_path().string();
            let end = start.checked_add(len).filter(|&e| e <= file_len);
            let Some(end) = end else {
                return Err(IntegrityError::Range {
                    row_group: i,
                    column,
                    offset: start,
                    len,
                    file_len,
                });
            };
            // The range lies inside the file, so this is bounded by its size.
            buf.resize(len as usize, 0);
            file.read_exact_at(&mut buf, start)?;
            if chunk_crc(&buf) != want {
                return Err(IntegrityError::Chunk {
                    row_group: i,
                    column,
                    offset: start,
                    end,
                });
            }
            checked += 1;
        }
    }
    Ok(Verified::Intact { chunks: checked })
}

/// A codec's Thrift number, without the level (a reader does not know the
/// level the writer used).
fn codec_id(c: Compression) -> i64 {
    match c {
        Compression::UNCOMPRESSED => 0,
        Compression::SNAPPY => 1,
        Compression::GZIP(_) => 2,
        Compression::LZO => 3,
        Compression::BROTLI(_) => 4,
        Compression::LZ4 => 5,
        Compression::ZSTD(_) => 6,
        Compression::LZ4_RAW => 7,
    }
}

/// Length-prefixed fields, so that moving bytes between fields changes it.
struct Digest(crc32fast::Hasher);

impl Digest {
    fn int(&mut self, v: i64) {
        self.0.update(&v.to_le_bytes());
    }
    fn text(&mut self, s: &str) {
        self.opt_bytes(Some(s.as_bytes()));
    }
    fn opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.int(b.len() as i64);
                self.0.update(b);
            }
            None => self.int(-1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// Writes a small two-row-group file the way memrec does: checksums
    /// computed from the flushed row groups just before the footer.
    fn write(path: &std::path::Path) -> Checksums {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts_ns", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, true),
        ]));
        // Read and write: the checksums are computed by reading the file back.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(Default::default()))
            .build();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        for k in 0..2 {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(k * 1000..k * 1000 + 1000)),
                    Arc::new(StringArray::from_iter_values(
                        (0..1000).map(|i| format!("t{}", i % 7)),
                    )),
                ],
            )
            .unwrap();
            w.write(&batch).unwrap();
            w.flush().unwrap();
        }
        let meta = KeyValue::new("memtrace.meta".to_string(), "{\"x\":1}".to_string());
        w.append_key_value_metadata(meta.clone());
        // ArrowWriter adds the Arrow schema itself when it closes.
        let arrow = KeyValue::new(
            parquet::arrow::ARROW_SCHEMA_META_KEY.to_string(),
            parquet::arrow::encode_arrow_schema(&schema),
        );
        w.sync().unwrap();
        let groups: Vec<RowGroupMetaData> = w.flushed_row_groups().to_vec();
        let sums = compute(w.inner(), &groups, &[meta, arrow]).unwrap();
        w.append_key_value_metadata(to_key_value(&sums));
        w.close().unwrap();
        sums
    }

    fn read(path: &std::path::Path) -> (File, ParquetMetaData) {
        let file = File::open(path).unwrap();
        let meta = SerializedFileReader::new(file.try_clone().unwrap())
            .unwrap()
            .metadata()
            .clone();
        (file, meta)
    }

    #[test]
    fn a_written_file_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        let sums = write(&path);
        assert_eq!(sums.chunks.len(), 2);
        let (file, meta) = read(&path);
        assert_eq!(
            verify(&file, &meta).unwrap(),
            Verified::Intact { chunks: 4 }
        );
    }

    #[test]
    fn every_flipped_data_byte_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        write(&path);
        let (_, meta) = read(&path);
        let data_end = meta
            .row_groups()
            .iter()
            .flat_map(|g| g.columns())
            .map(|c| c.byte_range().0 + c.byte_range().1)
            .max()
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for at in (4..data_end as usize).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            std::fs::write(&path, &damaged).unwrap();
            let (file, meta) = read(&path);
            assert!(verify(&file, &meta).is_err(), "flip at {at} not found");
        }
    }

    #[test]
    fn a_changed_footer_value_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        write(&path);
        let (file, meta) = read(&path);
        let kv = meta.file_metadata().key_value_metadata().unwrap().clone();
        // Same row groups, other metadata: the digest must differ.
        let mut other = kv.clone();
        for k in &mut other {
            if k.key == "memtrace.meta" {
                k.value = Some("{\"x\":2}".to_string());
            }
        }
        assert_ne!(
            footer_digest(meta.row_groups(), &kv),
            footer_digest(meta.row_groups(), &other)
        );
        // Fewer row groups: the digest must differ.
        assert_ne!(
            footer_digest(meta.row_groups(), &kv),
            footer_digest(&meta.row_groups()[..1], &kv)
        );
        assert!(verify(&file, &meta).is_ok());
    }

    #[test]
    fn a_file_without_checksums_is_unchecked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema.clone(), None).unwrap();
        w.write(
            &RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap(),
        )
        .unwrap();
        w.close().unwrap();
        let (file, meta) = read(&path);
        assert_eq!(verify(&file, &meta).unwrap(), Verified::Unchecked);
    }
}
