//! The one definition of every memtrace table, column and file-metadata key.
//!
//! A recording is one Parquet file. Every row has the common columns
//! ([`COMMON`]) and belongs to one table, named in its `kind` column; the
//! table's own columns are named `<table>.<column>` and are null in other
//! tables' rows. Each row group holds rows of one table only, so readers skip
//! the rest by the `kind` statistics.

#[cfg(feature = "arrow")]
pub mod arrow;
mod column;
#[cfg(feature = "parquet")]
pub mod integrity;
pub mod markdown;
pub mod meta;
pub mod tables;

pub use column::{
    Column, ColumnType, Comm, Header, Row, Table, TaskFilter, Text, Unit, Value, Visitor,
};
pub use meta::*;

/// Version of the file layout. Bumped on any incompatible change to a table,
/// a column or the metadata; readers refuse files newer than they know.
pub const SCHEMA_VERSION: u32 = 1;

/// Parquet key-value metadata key holding [`SCHEMA_VERSION`] as text.
pub const SCHEMA_VERSION_KEY: &str = "memtrace.schema_version";
/// Parquet key-value metadata key holding [`FileMeta`] as JSON.
pub const META_KEY: &str = "memtrace.meta";

/// The clock of every `ts_ns` column.
pub const CLOCK: &str = "CLOCK_BOOTTIME";

/// Name of the column that says which table a row belongs to.
pub const KIND_COLUMN: &str = "kind";

/// Columns present in every row, in file order after `kind`.
pub const COMMON: &[Column] = &[
    Column {
        name: "ts_ns",
        ty: ColumnType::I64,
        nullable: false,
        unit: Unit::Nanoseconds,
        doc: "When the event happened: CLOCK_BOOTTIME in nanoseconds (time since boot, \
              suspend included). `clock_anchors` in the file metadata map it to wall-clock time.",
    },
    Column {
        name: KIND_COLUMN,
        ty: ColumnType::Text,
        nullable: false,
        unit: Unit::None,
        doc: "The table this row belongs to, e.g. `procstat`.",
    },
    Column {
        name: "cpu",
        ty: ColumnType::U32,
        nullable: false,
        unit: Unit::None,
        doc: "CPU the event was recorded on.",
    },
    Column {
        name: "pid",
        ty: ColumnType::U32,
        nullable: false,
        unit: Unit::Id,
        doc: "Thread id of the task the row describes (procstat) or that was running when \
              the event fired (the rest); 0 for the idle task.",
    },
    Column {
        name: "tgid",
        ty: ColumnType::U32,
        nullable: false,
        unit: Unit::Id,
        doc: "Process id (thread-group id) of that task, as user space sees a pid.",
    },
    Column {
        name: "comm",
        ty: ColumnType::Text,
        nullable: false,
        unit: Unit::None,
        doc: "Command name of that task (up to 15 bytes, as in /proc/PID/comm).",
    },
    Column {
        name: "cgroup_id",
        ty: ColumnType::U64,
        nullable: false,
        unit: Unit::Id,
        doc: "Id (kernfs inode number) of that task's memory-controller cgroup, on cgroup v1 \
              or v2; `cgroups` in the file metadata maps ids to paths.",
    },
];

/// Every table, in file order. Adding a table means adding it here.
pub fn tables() -> &'static [&'static Table] {
    tables::ALL
}

/// Looks a table up by name.
pub fn table(name: &str) -> Option<&'static Table> {
    tables().iter().copied().find(|t| t.name == name)
}

/// The name a table's column has in the file: `<table>.<column>`.
pub fn file_column_name(table: &str, column: &str) -> String {
    format!("{table}.{column}")
}

/// Probe groups, in the order `memrec probes` lists them.
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in tables() {
        if !out.contains(&t.group) {
            out.push(t.group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn file_column_names_are_unique() {
        let mut seen = HashSet::new();
        for c in COMMON {
            assert!(seen.insert(c.name.to_string()), "duplicate {}", c.name);
        }
        for t in tables() {
            assert!(!t.columns.is_empty(), "{} has no columns", t.name);
            for c in t.columns {
                let n = file_column_name(t.name, c.name);
                assert!(seen.insert(n.clone()), "duplicate {n}");
            }
        }
    }

    #[test]
    fn every_column_is_documented() {
        for c in COMMON {
            assert!(!c.doc.trim().is_empty(), "{} undocumented", c.name);
        }
        for t in tables() {
            assert!(!t.doc.trim().is_empty(), "table {} undocumented", t.name);
            for c in t.columns {
                assert!(
                    !c.doc.trim().is_empty(),
                    "{}.{} undocumented",
                    t.name,
                    c.name
                );
            }
        }
    }

    #[test]
    fn table_names_are_plain() {
        for t in tables() {
            assert!(
                t.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                t.name
            );
            assert!(table(t.name).is_some());
        }
    }
}
