//! Rewriting a recording's footer without touching its data: "sealing" a
//! file (adding the checksums memrec writes, as its salvage path does), and
//! replacing its key-value metadata; and rewriting its rows with odd values.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use memtrace_schema::integrity::{self, CHECKSUMS_KEY};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter,
    RowGroupMetaData,
};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// A parsed file: its bytes, where the data ends (the footer starts), and
/// its footer.
pub struct Parsed {
    pub bytes: Vec<u8>,
    pub data_end: usize,
    pub meta: ParquetMetaData,
}

pub fn parse(path: &Path) -> Parsed {
    let bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let data_end = n - 8 - footer_len;
    let file = std::fs::File::open(path).unwrap();
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .unwrap();
    Parsed {
        bytes,
        data_end,
        meta,
    }
}

/// The key-value entries of a footer.
pub fn key_values(meta: &ParquetMetaData) -> Vec<KeyValue> {
    meta.file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default()
}

/// The file's data bytes followed by a new footer with these row groups
/// and key-value entries.
pub fn with_footer(p: &Parsed, row_groups: Vec<RowGroupMetaData>, kv: Vec<KeyValue>) -> Vec<u8> {
    let f = p.meta.file_metadata();
    let md = ParquetMetaData::new(
        FileMetaData::new(
            f.version(),
            row_groups.iter().map(|g| g.num_rows()).sum(),
            f.created_by().map(str::to_string),
            Some(kv),
            f.schema_descr_ptr(),
            f.column_orders().cloned(),
        ),
        row_groups,
    );
    let mut out = p.bytes[..p.data_end].to_vec();
    ParquetMetaDataWriter::new(&mut out, &md).finish().unwrap();
    out
}

/// Writes `dst`: `src` with its checksums (re)computed over its unchanged
/// data, as memrec writes them. `kv` replaces the key-value entries when
/// given (the checksums then cover the new ones).
pub fn seal_with(src: &Path, dst: &Path, kv: Option<Vec<KeyValue>>) {
    let p = parse(src);
    let mut kv: Vec<KeyValue> = kv
        .unwrap_or_else(|| key_values(&p.meta))
        .into_iter()
        .filter(|k| k.key != CHECKSUMS_KEY)
        .collect();
    let file = std::fs::File::open(src).unwrap();
    let sums = integrity::compute(&file, p.meta.row_groups(), &kv).unwrap();
    kv.push(integrity::to_key_value(&sums));
    std::fs::write(dst, with_footer(&p, p.meta.row_groups().to_vec(), kv)).unwrap();
}

/// [`seal_with`] keeping the key-value entries.
pub fn seal(src: &Path, dst: &Path) {
    seal_with(src, dst, None);
}

/// Writes `dst`: `src` with its key-value entries replaced, without
/// checksums.
pub fn with_key_values(src: &Path, dst: &Path, kv: Vec<KeyValue>) {
    let p = parse(src);
    let kv = kv.into_iter().filter(|k| k.key != CHECKSUMS_KEY).collect();
    std::fs::write(dst, with_footer(&p, p.meta.row_groups().to_vec(), kv)).unwrap();
}

/// Every row group of a file as one batch, with the file's schema.
pub fn read_batches(path: &Path) -> (Arc<Schema>, Vec<RecordBatch>) {
    let open = || {
        let file = std::fs::File::open(path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap()
    };
    let b = open();
    let schema = b.schema().clone();
    let groups = b.metadata().num_row_groups();
    let mut batches = Vec::new();
    for g in 0..groups {
        let rows = open()
            .with_row_groups(vec![g])
            .with_batch_size(1 << 24)
            .build()
            .unwrap()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>();
        batches.push(arrow_select_concat(&schema, &rows));
    }
    (schema, batches)
}

/// The batches of one row group as one.
fn arrow_select_concat(schema: &Arc<Schema>, rows: &[RecordBatch]) -> RecordBatch {
    match rows {
        [] => RecordBatch::new_empty(schema.clone()),
        [one] => one.clone(),
        _ => panic!("a row group read as {} batches", rows.len()),
    }
}

/// Writes batches as a recording: zstd, one row group per batch, and the
/// memtrace key-value entries of `like`.
pub fn write_batches(like: &Path, dst: &Path, schema: Arc<Schema>, batches: &[RecordBatch]) {
    let kv: Vec<KeyValue> = key_values(&parse(like).meta)
        .into_iter()
        .filter(|k| k.key.starts_with("memtrace.") && k.key != CHECKSUMS_KEY)
        .collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(kv))
        .build();
    let file = std::fs::File::create(dst).unwrap();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
        w.flush().unwrap();
    }
    w.close().unwrap();
}

/// `batch` with column `name` replaced by `array` (its field takes the
/// array's type and becomes nullable).
pub fn replace_column(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let i = schema.index_of(name).unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[i] = Field::new(name, array.data_type().clone(), true);
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols[i] = array;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Gives every batch the schema of `batches[k]` (after a column's type
/// changed in one), casting the others' columns.
pub fn unify(batches: Vec<RecordBatch>, k: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = batches[k].schema();
    let out = batches
        .into_iter()
        .map(|b| {
            let cols: Vec<ArrayRef> = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| arrow_cast(c, f.data_type()))
                .collect();
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect();
    (schema, out)
}

fn arrow_cast(a: &ArrayRef, to: &arrow_schema::DataType) -> ArrayRef {
    if a.data_type() == to {
        return a.clone();
    }
    // Only the casts the hostile test makes: integers to Int64, text to binary.
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_array::{Array, BinaryArray, Int64Array};
    match (a.data_type(), to) {
        (arrow_schema::DataType::UInt32, arrow_schema::DataType::Int64) => {
            let p = a.as_primitive::<UInt32Type>();
            Arc::new(Int64Array::from_iter(p.iter().map(|v| v.map(i64::from))))
        }
        (arrow_schema::DataType::UInt64, arrow_schema::DataType::Int64) => {
            let p = a.as_primitive::<UInt64Type>();
            Arc::new(Int64Array::from_iter(p.iter().map(|v| v.map(|x| x as i64))))
        }
        (arrow_schema::DataType::Utf8, arrow_schema::DataType::Binary) => {
            let s = a.as_string::<i32>();
            Arc::new(BinaryArray::from_iter(
                s.iter().map(|v| v.map(str::as_bytes)),
            ))
        }
        (from, to) => panic!("no cast {from:?} -> {to:?} ({} rows)", a.len()),
    }
}
