//! The hive layout: one Parquet dataset per table, partitioned by host and date.
