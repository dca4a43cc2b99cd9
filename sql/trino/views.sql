-- memtrace views for Trino (Hive connector), over the hive layout.
-- Generated from memana's view definitions (`memana schema --sql trino`); do not edit:
-- a test fails when this file differs from what memana prints.
--
-- The layout (memana export --hive LAKE): LAKE/<table>/host=<host>/date=<YYYY-MM-DD>/<recording>.parquet,
-- one dataset per table; the files have the views' columns but `time` and `host`
-- (host and date are partitions), times as integer nanoseconds (ts_ns, time_ns).
-- A table with no rows in any recording has no directory: skip its statements.
--
-- Usage: replace ${LAKE} with the lake's URI (s3://bucket/lake, hdfs://..., or a
-- local path the Hive connector can read), and `hive` with your Hive catalog:
--   sed "s|\${LAKE}|s3://bucket/lake|g" sql/trino/views.sql | trino --catalog hive
-- Each table is an external table <table>_files in schema hive.memtrace,
-- partitioned by host and date (sync_partition_metadata finds the partitions; run
-- it again after exporting more), and a view <table> that adds `time`.
-- Unsigned 64-bit columns are BIGINT: a value above 2^63 (a kernel address)
-- reads as a negative number.

CREATE SCHEMA IF NOT EXISTS hive.memtrace;

CREATE TABLE IF NOT EXISTS hive.memtrace.procstat_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "reason" VARCHAR,
    "vsize" BIGINT,
    "rss_peak" BIGINT,
    "rss_anon" BIGINT,
    "rss_file" BIGINT,
    "rss_shmem" BIGINT,
    "swap" BIGINT,
    "data" BIGINT,
    "stack" BIGINT,
    "pgtables" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/procstat',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'procstat_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.procstat AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "reason",
    "vsize",
    "rss_peak",
    "rss_anon",
    "rss_file",
    "rss_shmem",
    "swap",
    "data",
    "stack",
    "pgtables"
FROM hive.memtrace.procstat_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.sysstat_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" BIGINT,
    "trigger" VARCHAR,
    "nr_free_pages" BIGINT,
    "nr_active_anon" BIGINT,
    "nr_inactive_anon" BIGINT,
    "nr_active_file" BIGINT,
    "nr_inactive_file" BIGINT,
    "nr_unevictable" BIGINT,
    "nr_dirty" BIGINT,
    "nr_writeback" BIGINT,
    "nr_writeback_temp" BIGINT,
    "nr_anon_pages" BIGINT,
    "nr_mapped" BIGINT,
    "nr_file_pages" BIGINT,
    "nr_shmem" BIGINT,
    "nr_kernel_misc_reclaimable" BIGINT,
    "nr_slab_reclaimable" BIGINT,
    "nr_slab_unreclaimable" BIGINT,
    "nr_anon_transparent_hugepages" BIGINT,
    "nr_shmem_hugepages" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/sysstat',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'sysstat_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.sysstat AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "trigger",
    "nr_free_pages",
    "nr_active_anon",
    "nr_inactive_anon",
    "nr_active_file",
    "nr_inactive_file",
    "nr_unevictable",
    "nr_dirty",
    "nr_writeback",
    "nr_writeback_temp",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_shmem",
    "nr_kernel_misc_reclaimable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_anon_transparent_hugepages",
    "nr_shmem_hugepages"
FROM hive.memtrace.sysstat_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.zone_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" BIGINT,
    "zone" VARCHAR,
    "zone_idx" BIGINT,
    "trigger" VARCHAR,
    "free" BIGINT,
    "min" BIGINT,
    "low" BIGINT,
    "high" BIGINT,
    "promo" BIGINT,
    "boost" BIGINT,
    "spanned" BIGINT,
    "present" BIGINT,
    "managed" BIGINT,
    "cma" BIGINT,
    "free_cma" BIGINT,
    "reserved_highatomic" BIGINT,
    "reserve" BIGINT,
    "orders" BIGINT,
    "free_blocks_0" BIGINT,
    "free_blocks_1" BIGINT,
    "free_blocks_2" BIGINT,
    "free_blocks_3" BIGINT,
    "free_blocks_4" BIGINT,
    "free_blocks_5" BIGINT,
    "free_blocks_6" BIGINT,
    "free_blocks_7" BIGINT,
    "free_blocks_8" BIGINT,
    "free_blocks_9" BIGINT,
    "free_blocks_10" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/zone',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'zone_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.zone AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "zone",
    "zone_idx",
    "trigger",
    "free",
    "min",
    "low",
    "high",
    "promo",
    "boost",
    "spanned",
    "present",
    "managed",
    "cma",
    "free_cma",
    "reserved_highatomic",
    "reserve",
    "orders",
    "free_blocks_0",
    "free_blocks_1",
    "free_blocks_2",
    "free_blocks_3",
    "free_blocks_4",
    "free_blocks_5",
    "free_blocks_6",
    "free_blocks_7",
    "free_blocks_8",
    "free_blocks_9",
    "free_blocks_10"
FROM hive.memtrace.zone_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.paf_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "order" BIGINT,
    "gfp_flags" BIGINT,
    "gfp" VARCHAR,
    "migratetype" INTEGER,
    "migratetype_name" VARCHAR,
    "highest_zone" VARCHAR,
    "node" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/paf',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'paf_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.paf AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "order",
    "gfp_flags",
    "gfp",
    "migratetype",
    "migratetype_name",
    "highest_zone",
    "node"
FROM hive.memtrace.paf_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.reclaim_retry_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" INTEGER,
    "zone" VARCHAR,
    "order" INTEGER,
    "reclaimable" BIGINT,
    "available" BIGINT,
    "min_wmark" BIGINT,
    "no_progress_loops" INTEGER,
    "wmark_check" BOOLEAN,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/reclaim_retry',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'reclaim_retry_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.reclaim_retry AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "zone",
    "order",
    "reclaimable",
    "available",
    "min_wmark",
    "no_progress_loops",
    "wmark_check"
FROM hive.memtrace.reclaim_retry_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.compact_suitable_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" INTEGER,
    "zone" VARCHAR,
    "order" INTEGER,
    "result" VARCHAR,
    "result_code" INTEGER,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/compact_suitable',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'compact_suitable_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.compact_suitable AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "zone",
    "order",
    "result",
    "result_code"
FROM hive.memtrace.compact_suitable_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.compact_try_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "order" INTEGER,
    "gfp_flags" BIGINT,
    "gfp" VARCHAR,
    "priority" INTEGER,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/compact_try',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'compact_try_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.compact_try AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "order",
    "gfp_flags",
    "gfp",
    "priority"
FROM hive.memtrace.compact_try_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.wmark_setup_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" INTEGER,
    "zone" VARCHAR,
    "min" BIGINT,
    "low" BIGINT,
    "high" BIGINT,
    "promo" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/wmark_setup',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'wmark_setup_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.wmark_setup AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "zone",
    "min",
    "low",
    "high",
    "promo"
FROM hive.memtrace.wmark_setup_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.lru_inactive_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" INTEGER,
    "reclaimer" VARCHAR,
    "lru" VARCHAR,
    "priority" INTEGER,
    "nr_scanned" BIGINT,
    "nr_reclaimed" BIGINT,
    "nr_dirty" BIGINT,
    "nr_writeback" BIGINT,
    "nr_congested" BIGINT,
    "nr_immediate" BIGINT,
    "nr_activate_anon" BIGINT,
    "nr_activate_file" BIGINT,
    "nr_ref_keep" BIGINT,
    "nr_unmap_fail" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/lru_inactive',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'lru_inactive_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.lru_inactive AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "reclaimer",
    "lru",
    "priority",
    "nr_scanned",
    "nr_reclaimed",
    "nr_dirty",
    "nr_writeback",
    "nr_congested",
    "nr_immediate",
    "nr_activate_anon",
    "nr_activate_file",
    "nr_ref_keep",
    "nr_unmap_fail"
FROM hive.memtrace.lru_inactive_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.lru_active_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "node" INTEGER,
    "reclaimer" VARCHAR,
    "lru" VARCHAR,
    "priority" INTEGER,
    "nr_taken" BIGINT,
    "nr_active" BIGINT,
    "nr_deactivated" BIGINT,
    "nr_referenced" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/lru_active',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'lru_active_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.lru_active AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "node",
    "reclaimer",
    "lru",
    "priority",
    "nr_taken",
    "nr_active",
    "nr_deactivated",
    "nr_referenced"
FROM hive.memtrace.lru_active_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.reclaim_begin_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "reclaimer" VARCHAR,
    "order" INTEGER,
    "gfp_flags" BIGINT,
    "gfp" VARCHAR,
    "node" INTEGER,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/reclaim_begin',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'reclaim_begin_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.reclaim_begin AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "reclaimer",
    "order",
    "gfp_flags",
    "gfp",
    "node"
FROM hive.memtrace.reclaim_begin_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.reclaim_end_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "reclaimer" VARCHAR,
    "nr_reclaimed" BIGINT,
    "begin_ts_ns" BIGINT,
    "duration_ns" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/reclaim_end',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'reclaim_end_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.reclaim_end AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "reclaimer",
    "nr_reclaimed",
    "begin_ts_ns",
    "duration_ns"
FROM hive.memtrace.reclaim_end_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.kswapd_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "event" VARCHAR,
    "node" INTEGER,
    "zone" VARCHAR,
    "order" INTEGER,
    "gfp_flags" BIGINT,
    "gfp" VARCHAR,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/kswapd',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'kswapd_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.kswapd AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "event",
    "node",
    "zone",
    "order",
    "gfp_flags",
    "gfp"
FROM hive.memtrace.kswapd_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.slab_start_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "shrinker" BIGINT,
    "shrinker_fn" VARCHAR,
    "node" INTEGER,
    "priority" INTEGER,
    "nr_objects_to_shrink" BIGINT,
    "gfp_flags" BIGINT,
    "gfp" VARCHAR,
    "cache_items" BIGINT,
    "delta" BIGINT,
    "total_scan" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/slab_start',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'slab_start_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.slab_start AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "shrinker",
    "shrinker_fn",
    "node",
    "priority",
    "nr_objects_to_shrink",
    "gfp_flags",
    "gfp",
    "cache_items",
    "delta",
    "total_scan"
FROM hive.memtrace.slab_start_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.slab_end_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "shrinker" BIGINT,
    "shrinker_fn" VARCHAR,
    "node" INTEGER,
    "freed" INTEGER,
    "unused_scan" BIGINT,
    "new_scan" BIGINT,
    "total_scan" BIGINT,
    "begin_ts_ns" BIGINT,
    "duration_ns" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/slab_end',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'slab_end_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.slab_end AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "shrinker",
    "shrinker_fn",
    "node",
    "freed",
    "unused_scan",
    "new_scan",
    "total_scan",
    "begin_ts_ns",
    "duration_ns"
FROM hive.memtrace.slab_end_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.oom_victim_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "victim_pid" BIGINT,
    "victim_comm" VARCHAR,
    "uid" BIGINT,
    "total_vm" BIGINT,
    "anon_rss" BIGINT,
    "file_rss" BIGINT,
    "shmem_rss" BIGINT,
    "pgtables" BIGINT,
    "oom_score_adj" INTEGER,
    "load1" DOUBLE,
    "load5" DOUBLE,
    "load15" DOUBLE,
    "constraint" VARCHAR,
    "oom_memcg" VARCHAR,
    "task_memcg" VARCHAR,
    "memcg_usage" BIGINT,
    "memcg_limit" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/oom_victim',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'oom_victim_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.oom_victim AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "victim_pid",
    "victim_comm",
    "uid",
    "total_vm",
    "anon_rss",
    "file_rss",
    "shmem_rss",
    "pgtables",
    "oom_score_adj",
    "load1",
    "load5",
    "load15",
    "constraint",
    "oom_memcg",
    "task_memcg",
    "memcg_usage",
    "memcg_limit"
FROM hive.memtrace.oom_victim_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.fault_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "address" BIGINT,
    "ip" BIGINT,
    "user" BOOLEAN,
    "major" BOOLEAN,
    "error_code" BIGINT,
    "access" VARCHAR,
    "cause" VARCHAR,
    "vma" VARCHAR,
    "file" VARCHAR,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/fault',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'fault_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.fault AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "address",
    "ip",
    "user",
    "major",
    "error_code",
    "access",
    "cause",
    "vma",
    "file"
FROM hive.memtrace.fault_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.fault_stack_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "stack_id" BIGINT,
    "every" BIGINT,
    "stack_error" INTEGER,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/fault_stack',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'fault_stack_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.fault_stack AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "stack_id",
    "every",
    "stack_error"
FROM hive.memtrace.fault_stack_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.swap_in_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "address" BIGINT,
    "vma" VARCHAR,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/swap_in',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'swap_in_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.swap_in AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "address",
    "vma"
FROM hive.memtrace.swap_in_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.swap_out_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "pages" BIGINT,
    "owner_cgroup_id" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/swap_out',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'swap_out_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.swap_out AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "pages",
    "owner_cgroup_id"
FROM hive.memtrace.swap_out_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.mapping_call_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "call" VARCHAR,
    "addr" BIGINT,
    "len" BIGINT,
    "new_len" BIGINT,
    "prot" BIGINT,
    "prot_names" VARCHAR,
    "flags" BIGINT,
    "flags_names" VARCHAR,
    "op" INTEGER,
    "op_name" VARCHAR,
    "fd" INTEGER,
    "offset" BIGINT,
    "key" BIGINT,
    "shmid" INTEGER,
    "ret" BIGINT,
    "error" VARCHAR,
    "errno" INTEGER,
    "result" BIGINT,
    "prev_brk" BIGINT,
    "seg_bytes" BIGINT,
    "mapped" BIGINT,
    "unmapped" BIGINT,
    "file" VARCHAR,
    "ino" BIGINT,
    "duration_ns" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/mapping_call',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'mapping_call_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.mapping_call AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "call",
    "addr",
    "len",
    "new_len",
    "prot",
    "prot_names",
    "flags",
    "flags_names",
    "op",
    "op_name",
    "fd",
    "offset",
    "key",
    "shmid",
    "ret",
    "error",
    "errno",
    "result",
    "prev_brk",
    "seg_bytes",
    "mapped",
    "unmapped",
    "file",
    "ino",
    "duration_ns"
FROM hive.memtrace.mapping_call_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.compaction_run_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "runner" VARCHAR,
    "node" INTEGER,
    "zone" VARCHAR,
    "order" INTEGER,
    "status" VARCHAR,
    "status_code" INTEGER,
    "mode" VARCHAR,
    "whole_zone" BOOLEAN,
    "gfp_flags" BIGINT,
    "begin_ts_ns" BIGINT,
    "duration_ns" BIGINT,
    "attempt_ts_ns" BIGINT,
    "migrate_scanned" BIGINT,
    "free_scanned" BIGINT,
    "isolated_migrate" BIGINT,
    "isolated_free" BIGINT,
    "migrated" BIGINT,
    "migrate_failed" BIGINT,
    "migrate_pfn" BIGINT,
    "free_pfn" BIGINT,
    "zone_start" BIGINT,
    "zone_end" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/compaction_run',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'compaction_run_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.compaction_run AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "runner",
    "node",
    "zone",
    "order",
    "status",
    "status_code",
    "mode",
    "whole_zone",
    "gfp_flags",
    "begin_ts_ns",
    "duration_ns",
    "attempt_ts_ns",
    "migrate_scanned",
    "free_scanned",
    "isolated_migrate",
    "isolated_free",
    "migrated",
    "migrate_failed",
    "migrate_pfn",
    "free_pfn",
    "zone_start",
    "zone_end"
FROM hive.memtrace.compaction_run_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.compaction_defer_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "event" VARCHAR,
    "node" INTEGER,
    "zone" VARCHAR,
    "order" INTEGER,
    "considered" BIGINT,
    "defer_shift" BIGINT,
    "order_failed" INTEGER,
    "attempt_ts_ns" BIGINT,
    "after_return" BOOLEAN,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/compaction_defer',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'compaction_defer_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.compaction_defer AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "event",
    "node",
    "zone",
    "order",
    "considered",
    "defer_shift",
    "order_failed",
    "attempt_ts_ns",
    "after_return"
FROM hive.memtrace.compaction_defer_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.kcompactd_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "event" VARCHAR,
    "node" INTEGER,
    "order" INTEGER,
    "highest_zone" VARCHAR,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/kcompactd',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'kcompactd_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.kcompactd AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "event",
    "node",
    "order",
    "highest_zone"
FROM hive.memtrace.kcompactd_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.extfrag_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "alloc_order" INTEGER,
    "fallback_order" INTEGER,
    "alloc_migratetype" VARCHAR,
    "fallback_migratetype" VARCHAR,
    "change_ownership" BOOLEAN,
    "fragmenting" BOOLEAN,
    "pfn" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/extfrag',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'extfrag_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.extfrag AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "alloc_order",
    "fallback_order",
    "alloc_migratetype",
    "fallback_migratetype",
    "change_ownership",
    "fragmenting",
    "pfn"
FROM hive.memtrace.extfrag_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.migrate_pages_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "reason" VARCHAR,
    "mode" VARCHAR,
    "succeeded" BIGINT,
    "failed" BIGINT,
    "thp_succeeded" BIGINT,
    "thp_failed" BIGINT,
    "thp_split" BIGINT,
    "large_folio_split" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/migrate_pages',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'migrate_pages_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.migrate_pages AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "reason",
    "mode",
    "succeeded",
    "failed",
    "thp_succeeded",
    "thp_failed",
    "thp_split",
    "large_folio_split"
FROM hive.memtrace.migrate_pages_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.hugetlb_fault_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "address" BIGINT,
    "page_size" BIGINT,
    "major" BOOLEAN,
    "shared" BOOLEAN,
    "pool_total" BIGINT,
    "pool_free" BIGINT,
    "pool_reserved" BIGINT,
    "pool_surplus" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/hugetlb_fault',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'hugetlb_fault_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.hugetlb_fault AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "address",
    "page_size",
    "major",
    "shared",
    "pool_total",
    "pool_free",
    "pool_reserved",
    "pool_surplus"
FROM hive.memtrace.hugetlb_fault_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.hugetlb_pool_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "trigger" VARCHAR,
    "page_size" BIGINT,
    "total" BIGINT,
    "free" BIGINT,
    "reserved" BIGINT,
    "surplus" BIGINT,
    "overcommit" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/hugetlb_pool',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'hugetlb_pool_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.hugetlb_pool AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "trigger",
    "page_size",
    "total",
    "free",
    "reserved",
    "surplus",
    "overcommit"
FROM hive.memtrace.hugetlb_pool_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.user_alloc_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "call" VARCHAR,
    "address" BIGINT,
    "size" BIGINT,
    "align" BIGINT,
    "old_address" BIGINT,
    "stack_id" BIGINT,
    "stack_error" INTEGER,
    "sample_bytes" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/user_alloc',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'user_alloc_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.user_alloc AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "call",
    "address",
    "size",
    "align",
    "old_address",
    "stack_id",
    "stack_error",
    "sample_bytes"
FROM hive.memtrace.user_alloc_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.user_free_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "call" VARCHAR,
    "address" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/user_free',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'user_free_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.user_free AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "call",
    "address"
FROM hive.memtrace.user_free_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.kernel_alloc_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "kind" VARCHAR,
    "address" BIGINT,
    "bytes_req" BIGINT,
    "bytes_alloc" BIGINT,
    "cache" VARCHAR,
    "order" BIGINT,
    "call_site" BIGINT,
    "gfp" BIGINT,
    "gfp_flags" VARCHAR,
    "node" INTEGER,
    "stack_id" BIGINT,
    "stack_error" INTEGER,
    "sample_bytes" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/kernel_alloc',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'kernel_alloc_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.kernel_alloc AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "kind",
    "address",
    "bytes_req",
    "bytes_alloc",
    "cache",
    "order",
    "call_site",
    "gfp",
    "gfp_flags",
    "node",
    "stack_id",
    "stack_error",
    "sample_bytes"
FROM hive.memtrace.kernel_alloc_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.kernel_free_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "kind" VARCHAR,
    "address" BIGINT,
    "call_site" BIGINT,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/kernel_free',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'kernel_free_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.kernel_free AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "kind",
    "address",
    "call_site"
FROM hive.memtrace.kernel_free_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.stack_frame_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "stack_id" BIGINT,
    "depth" BIGINT,
    "ip" BIGINT,
    "kernel" BOOLEAN,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/stack_frame',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'stack_frame_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.stack_frame AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "stack_id",
    "depth",
    "ip",
    "kernel"
FROM hive.memtrace.stack_frame_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.module_map_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "start" BIGINT,
    "end" BIGINT,
    "file_offset" BIGINT,
    "path" VARCHAR,
    "build_id" VARCHAR,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/module_map',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'module_map_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.module_map AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "start",
    "end",
    "file_offset",
    "path",
    "build_id"
FROM hive.memtrace.module_map_files;

CREATE TABLE IF NOT EXISTS hive.memtrace.kernel_symbol_files (
    "ts_ns" BIGINT,
    "time_ns" BIGINT,
    "recording" VARCHAR,
    "cpu" BIGINT,
    "pid" BIGINT,
    "tgid" BIGINT,
    "comm" VARCHAR,
    "cgroup_id" BIGINT,
    "address" BIGINT,
    "name" VARCHAR,
    "module" VARCHAR,
    "host" VARCHAR,
    "date" VARCHAR
)
WITH (
    format = 'PARQUET',
    external_location = '${LAKE}/kernel_symbol',
    partitioned_by = ARRAY['host', 'date']
);
CALL hive.system.sync_partition_metadata('memtrace', 'kernel_symbol_files', 'FULL');
CREATE OR REPLACE VIEW hive.memtrace.kernel_symbol AS
SELECT
    "ts_ns",
    "time_ns",
    from_unixtime_nanos(time_ns) AS "time",
    "host",
    "recording",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "address",
    "name",
    "module"
FROM hive.memtrace.kernel_symbol_files;
