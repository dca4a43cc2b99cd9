//! The row census from a file's footer, so that opening a large recording
//! does not decode every value once before the report decodes it again.
//!
//! For a row group that holds one table (its `kind` statistics name one
//! table and no null), each of that table's columns gives its nulls and
//! range from the column chunk's statistics, and text its longest value
//! from the chunk's dictionary page, when the page headers show every
//! value is an index into it. A table that this cannot cover (a row group
//! shared with other tables, a column without statistics, text written
//! outside a dictionary, floats) is scanned value by value, as before.
//!
//! What it trusts: the statistics are the footer's claim about the values
//! beside them. The checksums make damage to either detectable, but a file
//! written to deceive can state statistics its values break. Such a file
//! gets figures as wrong as its values, never a panic or a hang: every
//! query reads values as they are, and the hostile-input test forges
//! statistics to hold memana to that.

use crate::checks::ColumnStats;
use memtrace_schema::{file_column_name, table, ColumnType, COMMON, KIND_COLUMN};
use parquet::column::page::Page;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the footer of one file (or the files of one recording) showed.
#[derive(Debug, Default, Clone)]
pub struct FooterCensus {
    /// Per table, per column (the schema's name, without the table's
    /// prefix): what the statistics of its row groups say.
    tables: BTreeMap<String, BTreeMap<&'static str, ColumnStats>>,
    /// Tables some of whose rows the footer cannot vouch for.
    scan: BTreeSet<String>,
    /// A row group whose tables are unknown: every table is scanned.
    scan_all: bool,
}

impl FooterCensus {
    /// What the footer says of `table`'s columns, if it covers every row
    /// group that holds the table.
    pub fn covered(&self, table: &str) -> Option<&BTreeMap<&'static str, ColumnStats>> {
        if self.scan_all || self.scan.contains(table) {
            return None;
        }
        self.tables.get(table)
    }

    /// A row group holding several tables, or the tables of one unknown.
    pub fn scan_tables<'a>(&mut self, tables: Option<impl IntoIterator<Item = &'a String>>) {
        match tables {
            Some(t) => self.scan.extend(t.into_iter().cloned()),
            None => self.scan_all = true,
        }
    }

    /// Adds another file's census.
    pub fn merge(&mut self, o: &FooterCensus) {
        self.scan_all |= o.scan_all;
        self.scan.extend(o.scan.iter().cloned());
        for (t, cols) in &o.tables {
            let mine = self.tables.entry(t.clone()).or_default();
            for (c, s) in cols {
                mine.entry(c).or_default().merge(s);
            }
        }
    }

    /// Row group `i`, which holds rows of table `kind` alone. `leaves`
    /// maps file column names to their index; `dictionary_only` says per
    /// column chunk whether its values can only be its dictionary's.
    pub fn add_group(
        &mut self,
        file: &std::fs::File,
        md: &ParquetMetaData,
        i: usize,
        kind: &str,
        leaves: &HashMap<String, usize>,
        dictionary_only: &[bool],
    ) {
        let Some(t) = table(kind) else {
            // The census refuses the file for it.
            return;
        };
        let rg = md.row_group(i);
        let rows = u64::try_from(rg.num_rows()).unwrap_or(0);
        let common = COMMON
            .iter()
            .filter(|c| c.name != KIND_COLUMN)
            .map(|c| (c.name, c.name.to_string(), c.ty));
        let own = t
            .columns
            .iter()
            .map(|c| (c.name, file_column_name(t.name, c.name), c.ty));
        let mut got = Vec::new();
        for (name, file_name, ty) in common.chain(own) {
            let Some(&idx) = leaves.get(&file_name) else {
                continue;
            };
            let dict = dictionary_only.get(idx).copied().unwrap_or(false);
            match column(file, md, i, idx, ty, rows, dict) {
                Some(s) => got.push((name, s)),
                None => {
                    tracing::debug!(
                        row_group = i,
                        table = t.name,
                        column = name,
                        "the footer does not vouch for this column"
                    );
                    self.scan.insert(t.name.to_string());
                    return;
                }
            }
        }
        let cols = self.tables.entry(t.name.to_string()).or_default();
        for (name, s) in got {
            cols.entry(name).or_default().merge(&s);
        }
    }
}

/// One column chunk's nulls and range, or None when its footer cannot say.
fn column(
    file: &std::fs::File,
    md: &ParquetMetaData,
    i: usize,
    idx: usize,
    ty: ColumnType,
    rows: u64,
    dictionary_only: bool,
) -> Option<ColumnStats> {
    let stats = md.row_group(i).column(idx).statistics()?;
    let nulls = stats.null_count_opt()?;
    let mut s = ColumnStats {
        nulls,
        ..ColumnStats::default()
    };
    if nulls > rows {
        return None;
    }
    let all_null = nulls == rows;
    match (ty, stats) {
        (ColumnType::I32, Statistics::Int32(v)) => {
            s.min = v.min_opt().map(|&x| i64::from(x));
            s.max = v.max_opt().map(|&x| i64::from(x));
            if !all_null && (s.min.is_none() || s.max.is_none()) {
                return None;
            }
        }
        (ColumnType::I64, Statistics::Int64(v)) => {
            s.min = v.min_opt().copied();
            s.max = v.max_opt().copied();
            if !all_null && (s.min.is_none() || s.max.is_none()) {
                return None;
            }
        }
        (ColumnType::I32 | ColumnType::I64, _) => return None,
        (ColumnType::Text, _) if all_null => {}
        (ColumnType::Text, _) if dictionary_only => {
            s.longest = longest_in_dictionary(file, md, i, idx)?;
        }
        (ColumnType::Text | ColumnType::F64, _) if !all_null => return None,
        _ => {}
    }
    Some(s)
}

/// The longest value in the dictionary page of row group `i`'s column
/// `idx` (its first page), or None when it cannot be read as one.
fn longest_in_dictionary(
    file: &std::fs::File,
    md: &ParquetMetaData,
    i: usize,
    idx: usize,
) -> Option<usize> {
    use parquet::basic::Encoding;
    use parquet::file::properties::ReaderProperties;
    use parquet::file::reader::RowGroupReader;
    use parquet::file::serialized_reader::SerializedRowGroupReader;
    use std::sync::Arc;

    let rg = SerializedRowGroupReader::new(
        Arc::new(file.try_clone().ok()?),
        md.row_group(i),
        md.page_index_for_row_group(i),
        Arc::new(ReaderProperties::builder().build()),
    )
    .ok()?;
    let mut pages = rg.get_column_page_reader(idx).ok()?;
    let Page::DictionaryPage {
        buf,
        num_values,
        encoding: Encoding::PLAIN | Encoding::PLAIN_DICTIONARY,
        ..
    } = pages.get_next_page().ok()??
    else {
        return None;
    };
    // PLAIN byte arrays: a 4-byte little-endian length, then the bytes.
    let (mut at, mut longest) = (0usize, 0usize);
    for _ in 0..num_values {
        let len = buf.get(at..at.checked_add(4)?)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        at = at.checked_add(4)?.checked_add(len)?;
        if at > buf.len() {
            return None;
        }
        longest = longest.max(len);
    }
    Some(longest)
}

#[cfg(test)]
mod tests {
    use crate::checks::{census_columns, scan};
    use crate::recording::Recording;
    use arrow_array::cast::AsArray;
    use arrow_array::{BooleanArray, RecordBatch};
    use memtrace_schema::tables;
    use parquet::arrow::arrow_reader::{
        ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter,
    };
    use parquet::arrow::{ArrowWriter, ProjectionMask};
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use std::path::{Path, PathBuf};

    fn fixtures() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut dirs = vec![root.clone()];
        for d in std::fs::read_dir(root.join("kernels")).unwrap() {
            dirs.push(d.unwrap().path());
        }
        let mut out = Vec::new();
        for d in dirs {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "parquet") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// `src` rewritten with one row group per table, as memrec writes a
    /// long recording (a short one shares a row group among its tables,
    /// which the footer cannot vouch for).
    fn one_table_per_row_group(src: &Path, dst: &Path) {
        let open = || ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(src).unwrap());
        let b = open().unwrap();
        // The old checksums cover other bytes: the copy goes without.
        let kv = b.metadata().file_metadata().key_value_metadata().map(|kv| {
            kv.iter()
                .filter(|k| k.key != memtrace_schema::integrity::CHECKSUMS_KEY)
                .cloned()
                .collect()
        });
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_key_value_metadata(kv)
            .build();
        let out = std::fs::File::create(dst).unwrap();
        let mut w = ArrowWriter::try_new(out, b.schema().clone(), Some(props)).unwrap();
        let kind = b
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.name() == "kind")
            .unwrap();
        for t in tables() {
            let b = open().unwrap();
            let mask = ProjectionMask::leaves(b.parquet_schema(), [kind]);
            let name = t.name;
            let pred = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
                let k = batch.column(0).as_string::<i32>();
                Ok(BooleanArray::from_iter(
                    k.iter().map(|v| Some(v == Some(name))),
                ))
            });
            let reader = b
                .with_row_filter(RowFilter::new(vec![Box::new(pred)]))
                .build()
                .unwrap();
            for batch in reader {
                w.write(&batch.unwrap()).unwrap();
            }
            w.flush().unwrap();
        }
        w.close().unwrap();
    }

    /// Where the footer covers a table, what it says of each column is
    /// exactly what reading every value finds: nulls, ranges and the
    /// longest text. Checked on every fixture as recorded and rewritten
    /// with a row group per table.
    #[test]
    fn the_footer_agrees_with_the_values_on_every_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let (mut covered, mut scanned) = (0, Vec::new());
        let files = fixtures();
        assert!(files.len() >= 19, "{} fixtures", files.len());
        for (n, f) in files.iter().enumerate() {
            let split = dir.path().join(format!("{n}.parquet"));
            one_table_per_row_group(f, &split);
            for path in [f, &split] {
                let rec = Recording::open(path).unwrap();
                for t in tables() {
                    if rec.table_rows(t.name).unwrap_or(0) == 0 {
                        continue;
                    }
                    let Some(footer) = rec.footer_census.covered(t.name) else {
                        if path == &split {
                            scanned.push(format!("{}: {}", f.display(), t.name));
                        }
                        continue;
                    };
                    let cols = census_columns(&rec, t);
                    let values = scan(&rec, t, &cols).unwrap();
                    for (c, v) in cols.iter().zip(&values) {
                        assert_eq!(
                            footer.get(c.0),
                            Some(v),
                            "{}: {}.{}",
                            path.display(),
                            t.name,
                            c.0
                        );
                    }
                    covered += 1;
                }
            }
        }
        // With a row group per table, only two tables are read value by
        // value: oom_victim has floats (load averages), and kernel_symbol's
        // ~120 k distinct names overflow the writer's dictionary, so its
        // later pages are plain.
        assert!(
            scanned
                .iter()
                .all(|s| s.ends_with(": oom_victim") || s.ends_with(": kernel_symbol")),
            "{covered} tables covered; read from the values: {scanned:?}"
        );
        assert!(covered >= 100, "{covered} tables covered");
    }
}
