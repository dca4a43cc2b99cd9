//! Other tools' formats: a Perfetto trace, and the hive layout that Spark,
//! Trino and DuckDB read.

pub mod hive;
pub mod perfetto;
