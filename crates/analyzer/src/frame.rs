//! Collected query results as plain Rust vectors.

use crate::recording::{one_line, ReadError, Recording};
use polars::prelude::*;

/// The column [`count_by`] counts into.
pub const COUNT: &str = "n";

/// Rows per distinct value of `keys`, counted by polars into [`COUNT`]
/// (UInt64), next to the further aggregates `also`: the one place where
/// the report counts rows.
pub fn count_by(lf: LazyFrame, keys: &[&str], also: Vec<Expr>) -> LazyFrame {
    let mut aggs = vec![len().cast(DataType::UInt64).alias(COUNT)];
    aggs.extend(also);
    lf.group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg(aggs)
}

/// A collected result, with what is needed to name errors.
pub struct Frame {
    pub df: DataFrame,
    table: String,
    path: String,
}

impl Frame {
    pub fn height(&self) -> usize {
        self.df.height()
    }

    fn err(&self, e: PolarsError) -> ReadError {
        ReadError::Polars {
            path: self.path.clone(),
            table: self.table.clone(),
            msg: one_line(&e.to_string()),
        }
    }

    fn cast(&self, name: &str, dt: &DataType) -> Result<polars::prelude::Column, ReadError> {
        self.df
            .column(name)
            .and_then(|c| c.cast(dt))
            .map_err(|e| self.err(e))
    }

    pub fn u64(&self, name: &str) -> Result<Vec<Option<u64>>, ReadError> {
        let c = self.cast(name, &DataType::UInt64)?;
        Ok(c.u64().map_err(|e| self.err(e))?.iter().collect())
    }

    pub fn i64(&self, name: &str) -> Result<Vec<Option<i64>>, ReadError> {
        let c = self.cast(name, &DataType::Int64)?;
        Ok(c.i64().map_err(|e| self.err(e))?.iter().collect())
    }

    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>, ReadError> {
        let c = self.cast(name, &DataType::Float64)?;
        Ok(c.f64().map_err(|e| self.err(e))?.iter().collect())
    }

    pub fn bool(&self, name: &str) -> Result<Vec<Option<bool>>, ReadError> {
        let c = self.cast(name, &DataType::Boolean)?;
        Ok(c.bool().map_err(|e| self.err(e))?.iter().collect())
    }

    pub fn str(&self, name: &str) -> Result<Vec<Option<String>>, ReadError> {
        let c = self.cast(name, &DataType::String)?;
        Ok(c.str()
            .map_err(|e| self.err(e))?
            .iter()
            .map(|o| o.map(str::to_string))
            .collect())
    }

    /// Non-null values, 0 for nulls (for columns the schema declares non-null).
    pub fn u64_or0(&self, name: &str) -> Result<Vec<u64>, ReadError> {
        Ok(self
            .u64(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }
    pub fn i64_or0(&self, name: &str) -> Result<Vec<i64>, ReadError> {
        Ok(self
            .i64(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }
    pub fn str_or_empty(&self, name: &str) -> Result<Vec<String>, ReadError> {
        Ok(self
            .str(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// A list-of-integers column (from `implode`) as vectors; nulls dropped.
    pub fn i64_lists(&self, name: &str) -> Result<Vec<Vec<i64>>, ReadError> {
        let c = self.df.column(name).map_err(|e| self.err(e))?;
        let l = c.list().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(l.len());
        for i in 0..l.len() {
            match l.get_as_series(i) {
                Some(s) => {
                    let s = s.cast(&DataType::Int64).map_err(|e| self.err(e))?;
                    out.push(s.i64().map_err(|e| self.err(e))?.iter().flatten().collect());
                }
                None => out.push(Vec::new()),
            }
        }
        Ok(out)
    }
}

impl Recording {
    /// Collects a query into a [`Frame`].
    pub fn fetch(&self, table: &str, lf: LazyFrame) -> Result<Frame, ReadError> {
        let df = self.collect(table, lf)?;
        Ok(Frame {
            df,
            table: table.to_string(),
            path: self.name.clone(),
        })
    }
}

impl Recording {
    /// Runs a query on the streaming engine and hands its result to `each`
    /// batch by batch, in row order, without collecting it: memory stays
    /// bounded by a few batches whatever the table's size.
    pub fn stream<F>(&self, table: &str, lf: LazyFrame, mut each: F) -> Result<(), ReadError>
    where
        F: FnMut(&Frame) -> Result<(), ReadError>,
    {
        let t = std::time::Instant::now();
        let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(4);
        let sink = lf
            .sink_batches(
                PlanCallback::new(move |df: DataFrame| Ok(tx.send(df).is_err())),
                true,
                None,
            )
            .map_err(|e| self.polars_err(table, e))?;
        let mut rows = 0usize;
        let result = std::thread::scope(|s| {
            let worker = s.spawn(move || sink.collect_with_engine(Engine::Streaming).map(|_| ()));
            let mut failed: Option<ReadError> = None;
            for df in rx {
                rows += df.height();
                let fr = Frame {
                    df,
                    table: table.to_string(),
                    path: self.name.clone(),
                };
                if let Err(e) = each(&fr) {
                    failed = Some(e);
                    break;
                }
            }
            let joined = worker.join();
            match (failed, joined) {
                (Some(e), _) => Err(e),
                (None, Ok(Ok(()))) => Ok(()),
                (None, Ok(Err(e))) => Err(self.polars_err(table, e)),
                (None, Err(_)) => Err(ReadError::Polars {
                    path: self.name.clone(),
                    table: table.to_string(),
                    msg: "the query thread panicked".into(),
                }),
            }
        });
        tracing::debug!(table, rows, ms = t.elapsed().as_millis() as u64, "stream");
        result
    }
}

/// Zero-copy column access for hot loops over a [`Frame`].
impl Frame {
    pub fn chunked_str(&self, name: &str) -> Result<StringChunked, ReadError> {
        let c = self.cast(name, &DataType::String)?;
        Ok(c.str().map_err(|e| self.err(e))?.clone())
    }
    pub fn chunked_u64(&self, name: &str) -> Result<UInt64Chunked, ReadError> {
        let c = self.cast(name, &DataType::UInt64)?;
        Ok(c.u64().map_err(|e| self.err(e))?.clone())
    }
    pub fn chunked_i64(&self, name: &str) -> Result<Int64Chunked, ReadError> {
        let c = self.cast(name, &DataType::Int64)?;
        Ok(c.i64().map_err(|e| self.err(e))?.clone())
    }
}

/// Small-vocabulary string interning for hot loops (reclaimer names, LRU
/// names, shrinker functions): ids in order of first appearance.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    pub names: Vec<String>,
    last: usize,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> usize {
        if self.names.get(self.last).is_some_and(|n| n == s) {
            return self.last;
        }
        let i = match self.names.iter().position(|n| n == s) {
            Some(i) => i,
            None => {
                self.names.push(s.to_string());
                self.names.len() - 1
            }
        };
        self.last = i;
        i
    }

    pub fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("", String::as_str)
    }
}

/// A batch column as plain values (nulls as the default), for index loops.
pub fn values_u64(ca: &UInt64Chunked) -> Vec<u64> {
    match ca.cont_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => ca.iter().map(Option::unwrap_or_default).collect(),
    }
}

/// As [`values_u64`], borrowing when the column has one chunk and no nulls.
pub fn values_cow(ca: &UInt64Chunked) -> std::borrow::Cow<'_, [u64]> {
    match ca.cont_slice() {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(ca.iter().map(Option::unwrap_or_default).collect()),
    }
}

/// As [`values_u64`], keeping nulls.
pub fn values_i64_opt(ca: &Int64Chunked) -> Vec<Option<i64>> {
    ca.iter().collect()
}

/// A fast hasher for integer keys (not for untrusted input).
#[derive(Debug, Default, Clone, Copy)]
pub struct IntHasher(u64);

impl std::hash::Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A HashMap with [`IntHasher`].
pub type IntMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IntHasher>>;

/// Turns a string column into small integer ids, without comparing strings
/// for the short ones (<= 12 bytes: the Arrow view holds them whole).
#[derive(Debug, Default)]
pub struct StrIds {
    pub names: Vec<String>,
    fast: IntMap<u128, u32>,
    slow: std::collections::HashMap<String, u32>,
}

impl StrIds {
    pub fn id_of(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.slow.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_string());
        self.slow.insert(s.to_string(), id);
        id
    }

    /// The id of every row (nulls get the id of "").
    pub fn ids(&mut self, ca: &StringChunked) -> Vec<u32> {
        let mut out = Vec::with_capacity(ca.len());
        if ca.null_count() > 0 {
            for v in ca.iter() {
                out.push(self.id_of(v.unwrap_or("")));
            }
            return out;
        }
        for arr in ca.downcast_iter() {
            for (i, v) in arr.views().iter().enumerate() {
                if v.length <= 12 {
                    let key = v.as_u128();
                    let id = match self.fast.get(&key) {
                        Some(&id) => id,
                        None => {
                            let id = self.id_of(arr.value(i));
                            self.fast.insert(key, id);
                            id
                        }
                    };
                    out.push(id);
                } else {
                    out.push(self.id_of(arr.value(i)));
                }
            }
        }
        out
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}
