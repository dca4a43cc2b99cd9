//! The common table model every section fills and every renderer prints,
//! and the flat metrics `check` and `diff` work on.

use serde::Serialize;
use std::fmt;

/// What a number means; renderers format by it (text, markdown) or state it
/// (JSON, CSV). The JSON/CSV value is always the raw number in the base unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Text or an identifier.
    None,
    Count,
    Bytes,
    BytesPerSec,
    /// Base pages (the recording's `page_size`), as /proc/vmstat and /proc/zoneinfo count.
    Pages,
    PagesPerSec,
    /// A duration in nanoseconds.
    Ns,
    /// A duration in milliseconds (metrics named `*_ms`).
    Ms,
    /// A duration in seconds.
    Seconds,
    /// A `ts_ns` value: CLOCK_BOOTTIME nanoseconds. Text shows it as seconds
    /// since the recording start.
    Timestamp,
    /// A fraction, 0..1 (text shows a percentage).
    Ratio,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Count => "count",
            Unit::Bytes => "bytes",
            Unit::BytesPerSec => "bytes/s",
            Unit::Pages => "pages",
            Unit::PagesPerSec => "pages/s",
            Unit::Ns => "ns",
            Unit::Ms => "ms",
            Unit::Seconds => "s",
            Unit::Timestamp => "ts_ns",
            Unit::Ratio => "ratio",
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::UInt(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Null | Value::Text(_) => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Int(v) => (*v).into(),
            Value::UInt(v) => (*v).into(),
            Value::Float(v) => {
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Text(s) => s.clone().into(),
            Value::Bool(b) => (*b).into(),
        }
    }

    /// Plain machine text (CSV): numbers in full, floats with Rust's
    /// shortest round-trip representation.
    pub fn plain(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Int(v) => v.to_string(),
            Value::UInt(v) => v.to_string(),
            Value::Float(v) => format!("{v}"),
            Value::Text(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::UInt(u64::from(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::UInt(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        if v.is_finite() {
            Value::Float(v)
        } else {
            Value::Null
        }
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A column of a [`Table`].
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub unit: Unit,
}

/// How the text and markdown renderers shorten a long table (machine
/// formats always get every row the section kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLimit {
    All,
    /// The first n rows.
    Head(usize),
    /// n rows evenly spaced over the table, first and last included.
    Sample(usize),
}

/// One table of a section.
#[derive(Debug, Clone)]
pub struct Table {
    /// Stable identifier (JSON key, CSV `table` field).
    pub id: String,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// Rows before `--top` cut the table (equal to `rows.len()` when not cut).
    pub total_rows: usize,
    pub text_limit: TextLimit,
}

impl Table {
    pub fn new(id: &str, title: &str, columns: &[(&str, Unit)]) -> Self {
        Table {
            id: id.to_string(),
            title: title.to_string(),
            columns: columns
                .iter()
                .map(|(n, u)| Column {
                    name: (*n).to_string(),
                    unit: *u,
                })
                .collect(),
            rows: Vec::new(),
            total_rows: 0,
            text_limit: TextLimit::All,
        }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len(), "table {}", self.id);
        self.rows.push(row);
        self.total_rows = self.rows.len();
    }

    /// Keeps the first `top` rows (0 keeps all), remembering how many there were.
    pub fn truncate(&mut self, top: usize) {
        self.total_rows = self.rows.len();
        if top > 0 && self.rows.len() > top {
            self.rows.truncate(top);
        }
    }

    pub fn with_text_limit(mut self, limit: TextLimit) -> Self {
        self.text_limit = limit;
        self
    }

    /// An empty table of rows of type `R`, with `R`'s columns.
    pub fn of<R: Row>(id: &str, title: &str) -> Self {
        Table::new(id, title, R::COLUMNS)
    }

    /// The cell of row `i` in the column named `name`.
    pub fn cell(&self, i: usize, name: &str) -> Option<&Value> {
        let j = self.columns.iter().position(|c| c.name == name)?;
        self.rows.get(i)?.get(j)
    }

    /// Adds one typed row; its cells come in its columns' order.
    pub fn push_row<R: Row>(&mut self, row: R) {
        self.push(row.cells());
    }
}

/// A report row as a struct: the names and units of its columns and its
/// cells in the same order, both from one declaration ([`report_row!`]), so
/// a column cannot be added to the header and forgotten in the rows.
pub trait Row {
    const COLUMNS: &'static [(&'static str, Unit)];
    fn cells(self) -> Vec<Value>;
}

/// Declares a report row: a struct whose fields are the table's columns, in
/// order, each with its unit (`field: Type => Unit`). The field name is the
/// column name (the JSON and CSV key).
#[macro_export]
macro_rules! report_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $field:ident: $ty:ty => $unit:ident,)*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::model::Row for $name {
            const COLUMNS: &'static [(&'static str, $crate::model::Unit)] =
                &[$((stringify!($field), $crate::model::Unit::$unit),)*];

            fn cells(self) -> Vec<$crate::model::Value> {
                vec![$(self.$field.into(),)*]
            }
        }
    };
}

/// One named figure, for `check` and `diff`.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    /// Sorted label pairs.
    pub labels: Vec<(String, String)>,
    pub value: Value,
    pub unit: Unit,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: impl Into<Value>, unit: Unit) -> Self {
        Metric {
            name: name.into(),
            labels: Vec::new(),
            value: value.into(),
            unit,
        }
    }

    pub fn label(mut self, k: &str, v: impl fmt::Display) -> Self {
        self.labels.push((k.to_string(), v.to_string()));
        self.labels.sort();
        self
    }

    /// `name{k="v",...}`: the metric's key in rules, diff and JSON.
    pub fn key(&self) -> String {
        metric_key(&self.name, &self.labels)
    }
}

/// Formats a metric key; label values escape `\` and `"`.
pub fn metric_key(name: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Whether a section had something to report.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    /// Its probes ran but no row fell in the filter.
    NoData(String),
    /// Its probe group was not recorded (not asked for, skipped or failed).
    NotRecorded(String),
}

impl Status {
    pub fn id(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoData(_) => "no_data",
            Status::NotRecorded(_) => "not_recorded",
        }
    }
    pub fn message(&self) -> Option<&str> {
        match self {
            Status::Ok => None,
            Status::NoData(m) | Status::NotRecorded(m) => Some(m),
        }
    }
}

/// How much a finding matters, most first: the report's findings are
/// ranked by this, then by [`Finding::score`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something was killed or failed (an OOM kill, an allocation failure).
    Critical,
    /// A cause of one, or a stall a user felt (a leak suspect, a long reclaim).
    Warning,
    /// Worth knowing (pressure that did no harm, a figure that may be off).
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What a finding is about; the JSON `kind`. Within a severity, findings
/// rank in this order (the issue a reader looks for first), then by score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    OomKill,
    AllocFailure,
    LeakSuspect,
    /// Kernel objects of one slab cache piled up for a while (kmemleak).
    SlabPeak,
    ReclaimStall,
    CompactionStall,
    WatermarkBreach,
    MemcgReclaim,
    Swap,
    Hugetlb,
    MappingFailure,
    LostEvents,
}

/// One thing that happened, in a sentence, with where the report has its
/// details. Sections make them; the report ranks them and prints them first.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    /// Ranks findings of one severity: larger first (bytes, ms, counts:
    /// whatever orders this kind; kinds are compared by severity first).
    pub score: f64,
    /// When it happened (first occurrence), a `ts_ns`.
    pub ts_ns: Option<i64>,
    /// One line, e.g. "OOM kill: memscen-oom (pid 3251) in memcg
    /// /memscen-3250-oom, limit 32.00 MiB". No trailing period.
    pub summary: String,
    /// Further lines (the victim's growth before the kill, a verdict).
    pub details: Vec<String>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// The memory cgroup's path, where known.
    pub cgroup: Option<String>,
    /// The host and recording, in a report over several recordings.
    pub host: Option<String>,
    pub recording: Option<String>,
    /// The section that holds the details; set by the report from the
    /// section that made the finding.
    pub section: &'static str,
}

impl Finding {
    pub fn new(severity: Severity, kind: FindingKind, summary: impl Into<String>) -> Self {
        Finding {
            severity,
            kind,
            score: 0.0,
            ts_ns: None,
            summary: summary.into(),
            details: Vec::new(),
            pid: None,
            comm: None,
            cgroup: None,
            host: None,
            recording: None,
            section: "",
        }
    }
    pub fn score(mut self, score: f64) -> Self {
        self.score = score;
        self
    }
    pub fn at(mut self, ts_ns: i64) -> Self {
        self.ts_ns = Some(ts_ns);
        self
    }
    pub fn task(mut self, pid: u32, comm: impl Into<String>) -> Self {
        self.pid = Some(pid);
        self.comm = Some(comm.into());
        self
    }
    pub fn cgroup(mut self, path: impl Into<String>) -> Self {
        self.cgroup = Some(path.into());
        self
    }
    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }
}

/// What one section computed.
#[derive(Debug, Clone)]
pub struct SectionReport {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// Sentences printed under the title: loss warnings first, then remarks.
    pub notes: Vec<String>,
    /// Whether any figure rests on data with kernel-side losses or malformed records.
    pub lossy: bool,
    pub tables: Vec<Table>,
    pub metrics: Vec<Metric>,
    /// What happened, for the report's opening list (see [`Finding`]).
    pub findings: Vec<Finding>,
}

impl SectionReport {
    pub fn new(id: &'static str, title: &'static str) -> Self {
        SectionReport {
            id,
            title,
            status: Status::Ok,
            notes: Vec::new(),
            lossy: false,
            tables: Vec::new(),
            metrics: Vec::new(),
            findings: Vec::new(),
        }
    }
}
