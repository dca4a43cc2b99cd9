//! Column types, units and the row/visitor pair that lets writers and readers
//! walk a table's columns in one fixed order.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Physical type of a column as stored in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    U32,
    U64,
    I32,
    I64,
    F64,
    Bool,
    Text,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::U32 => "UInt32",
            ColumnType::U64 => "UInt64",
            ColumnType::I32 => "Int32",
            ColumnType::I64 => "Int64",
            ColumnType::F64 => "Float64",
            ColumnType::Bool => "Boolean",
            ColumnType::Text => "Utf8",
        }
    }
}

/// What a number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    None,
    Nanoseconds,
    Bytes,
    Kibibytes,
    /// Base pages; the file metadata has `page_size`.
    Pages,
    /// PMD-sized huge pages, as /proc/vmstat counts THPs; metadata has `hpage_pmd_nr`.
    HugePages,
    Count,
    /// A bit mask, decoded in a sibling text column.
    Flags,
    Id,
    /// A kernel address, useful only as an identity.
    Address,
    Ratio,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Nanoseconds => "ns",
            Unit::Bytes => "bytes",
            Unit::Kibibytes => "KiB",
            Unit::Pages => "pages",
            Unit::HugePages => "huge pages",
            Unit::Count => "count",
            Unit::Flags => "flags",
            Unit::Id => "id",
            Unit::Address => "address",
            Unit::Ratio => "ratio",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    pub unit: Unit,
    pub doc: &'static str,
}

/// Which task a table's rows are about: what `--pid` and `--comm` filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFilter {
    /// The task in the common columns (`tgid`, `comm`).
    Header,
    /// A task named in the table's own columns, by their file names (e.g.
    /// the OOM victim, not the task that ran the OOM killer).
    Columns {
        pid: &'static str,
        comm: &'static str,
    },
    /// System-wide state about no task (node and zone state, kswapd): never
    /// filtered by task.
    SystemWide,
}

/// The common columns the [`TaskFilter::Header`] filter uses.
const HEADER_TASK_COLUMNS: (&str, &str) = ("tgid", "comm");

/// One table: a kind of row, written by one probe group.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Probe group that records it.
    pub group: &'static str,
    /// Kernel tracepoints the rows come from.
    pub sources: &'static str,
    pub doc: &'static str,
    pub columns: &'static [Column],
    /// Which task its rows are about.
    pub task: TaskFilter,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The file columns (process id, command name) that `--pid` and `--comm`
    /// compare with; `None` for system-wide tables, which are not filtered.
    pub fn task_columns(&self) -> Option<(&'static str, &'static str)> {
        match self.task {
            TaskFilter::Header => Some(HEADER_TASK_COLUMNS),
            TaskFilter::Columns { pid, comm } => Some((pid, comm)),
            TaskFilter::SystemWide => None,
        }
    }
}

/// Receives a row's values in column order.
pub trait Visitor {
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
    fn i32(&mut self, v: i32);
    fn i64(&mut self, v: i64);
    fn f64(&mut self, v: f64);
    fn bool(&mut self, v: bool);
    fn text(&mut self, v: &str);
    fn null(&mut self);
}

/// A Rust type that can be a column value.
pub trait Value {
    const TYPE: ColumnType;
    const NULLABLE: bool;
    fn visit<V: Visitor>(&self, v: &mut V);
}

macro_rules! value {
    ($t:ty, $ct:ident, $m:ident) => {
        impl Value for $t {
            const TYPE: ColumnType = ColumnType::$ct;
            const NULLABLE: bool = false;
            fn visit<V: Visitor>(&self, v: &mut V) {
                v.$m(*self);
            }
        }
    };
}
value!(u32, U32, u32);
value!(u64, U64, u64);
value!(i32, I32, i32);
value!(i64, I64, i64);
value!(f64, F64, f64);
value!(bool, Bool, bool);

impl<T: Value> Value for Option<T> {
    const TYPE: ColumnType = T::TYPE;
    const NULLABLE: bool = true;
    fn visit<V: Visitor>(&self, v: &mut V) {
        match self {
            Some(x) => x.visit(v),
            None => v.null(),
        }
    }
}

/// Text without a heap allocation per row: static labels, or shared strings
/// that a decoder caches (decoded gfp masks, symbol names).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Text {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Default for Text {
    fn default() -> Self {
        Text::Static("")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::Shared(s.into())
    }
}

impl Value for Text {
    const TYPE: ColumnType = ColumnType::Text;
    const NULLABLE: bool = false;
    fn visit<V: Visitor>(&self, v: &mut V) {
        v.text(self);
    }
}

/// A task's command name as the kernel stores it: 16 bytes, NUL-padded.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    pub fn from_raw(raw: &[u8]) -> Self {
        let mut out = [0u8; 16];
        let n = raw.len().min(16);
        out[..n].copy_from_slice(&raw[..n]);
        Comm(out)
    }

    /// The name up to the first NUL; invalid UTF-8 is cut at the first bad byte.
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        let bytes = &self.0[..end];
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Value for Comm {
    const TYPE: ColumnType = ColumnType::Text;
    const NULLABLE: bool = false;
    fn visit<V: Visitor>(&self, v: &mut V) {
        v.text(self.as_str());
    }
}

/// A row of one table.
pub trait Row {
    const TABLE: &'static Table;
    fn visit<V: Visitor>(&self, v: &mut V);
}

/// Defines a table: its descriptor (`TABLE`), its row type (`Row`) and its
/// columns' file names (`COLS.<column>`, e.g. `procstat::COLS.rss_anon` is
/// `"procstat.rss_anon"`), from one list of documented fields, so they
/// cannot drift apart and no column name is typed twice.
///
/// `task` says which task the rows are about ([`TaskFilter`]): `header`
/// (the common `tgid` and `comm`), `(pid_column, comm_column)` (columns of
/// the table), or `system` (system-wide state, never filtered by task).
#[macro_export]
macro_rules! table {
    (@task header) => { $crate::TaskFilter::Header };
    (@task system) => { $crate::TaskFilter::SystemWide };
    (@task ($pid:ident, $comm:ident)) => {
        $crate::TaskFilter::Columns { pid: COLS.$pid, comm: COLS.$comm }
    };
    (
        $(#[doc = $tdoc:literal])*
        $name:ident, group = $group:literal, task = $task:tt, sources = $sources:literal {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty => $unit:ident
            ),* $(,)?
        }
    ) => {
        $(#[doc = $tdoc])*
        pub mod $name {
            #[allow(unused_imports)]
            use $crate::{Text, Comm};

            pub const NAME: &str = stringify!($name);

            pub const TABLE: $crate::Table = $crate::Table {
                name: stringify!($name),
                group: $group,
                sources: $sources,
                doc: concat!($($tdoc, "\n",)*),
                columns: &[$(
                    $crate::Column {
                        name: stringify!($field),
                        ty: <$ty as $crate::Value>::TYPE,
                        nullable: <$ty as $crate::Value>::NULLABLE,
                        unit: $crate::Unit::$unit,
                        doc: concat!($($doc, "\n",)*),
                    },
                )*],
                task: $crate::table!(@task $task),
            };

            /// The table's columns by their names in the file (`<table>.<column>`).
            #[derive(Debug, Clone, Copy)]
            pub struct Cols {
                $( $(#[doc = $doc])* pub $field: &'static str, )*
            }

            /// The file names of the table's columns.
            pub const COLS: Cols = Cols {
                $( $field: concat!(stringify!($name), ".", stringify!($field)), )*
            };

            #[derive(Debug, Clone, Default, PartialEq)]
            pub struct Row {
                $( $(#[doc = $doc])* pub $field: $ty, )*
            }

            impl $crate::Row for Row {
                const TABLE: &'static $crate::Table = &TABLE;
                fn visit<V: $crate::Visitor>(&self, v: &mut V) {
                    $( $crate::Value::visit(&self.$field, v); )*
                }
            }
        }
    };
}

/// The columns every row starts with (after `kind`, which the writer adds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    pub ts_ns: i64,
    pub cpu: u32,
    pub pid: u32,
    pub tgid: u32,
    pub comm: Comm,
    pub cgroup_id: u64,
}

impl Header {
    /// Visits the common columns except `ts_ns` and `kind`, which writers
    /// handle themselves.
    pub fn visit_rest<V: Visitor>(&self, v: &mut V) {
        v.u32(self.cpu);
        v.u32(self.pid);
        v.u32(self.tgid);
        self.comm.visit(v);
        v.u64(self.cgroup_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_stops_at_nul_and_bad_utf8() {
        assert_eq!(Comm::from_raw(b"bash\0\0garbage").as_str(), "bash");
        assert_eq!(
            Comm::from_raw(b"0123456789abcdefXYZ").as_str(),
            "0123456789abcdef"
        );
        assert_eq!(Comm::from_raw(&[b'a', 0xff, b'b']).as_str(), "a");
    }
}
