-- memtrace views for Spark SQL, over the hive layout.
-- Generated from memana's view definitions (`memana schema --sql spark`); do not edit:
-- a test fails when this file differs from what memana prints.
--
-- The layout (memana export --hive LAKE): LAKE/<table>/host=<host>/date=<YYYY-MM-DD>/<recording>.parquet,
-- one dataset per table; the files have the views' columns but `time` and `host`
-- (host and date are partitions), times as integer nanoseconds (ts_ns, time_ns).
-- A table with no rows in any recording has no directory: skip its statements.
--
-- Usage: set the lake's path on the session (Spark substitutes ${memtrace_lake}),
-- then run the file's statements:
--   spark-sql --conf spark.sql.sources.partitionColumnTypeInference.enabled=false
--   spark-sql> SET memtrace_lake=/data/lake;
--   spark-sql> SOURCE sql/spark/views.sql;
--   (pyspark: spark.conf.set('memtrace_lake', '/data/lake'), then each statement
--   of this file through spark.sql.)
-- Turning partition type inference off keeps host a string (a host named 1234
-- would read as a number) and date a 'YYYY-MM-DD' string.
-- Unsigned 64-bit columns read as DECIMAL(20,0).

CREATE OR REPLACE TEMPORARY VIEW procstat AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `reason`,
    `vsize`,
    `rss_peak`,
    `rss_anon`,
    `rss_file`,
    `rss_shmem`,
    `swap`,
    `data`,
    `stack`,
    `pgtables`
FROM parquet.`${memtrace_lake}/procstat`;

CREATE OR REPLACE TEMPORARY VIEW sysstat AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `trigger`,
    `nr_free_pages`,
    `nr_active_anon`,
    `nr_inactive_anon`,
    `nr_active_file`,
    `nr_inactive_file`,
    `nr_unevictable`,
    `nr_dirty`,
    `nr_writeback`,
    `nr_writeback_temp`,
    `nr_anon_pages`,
    `nr_mapped`,
    `nr_file_pages`,
    `nr_shmem`,
    `nr_kernel_misc_reclaimable`,
    `nr_slab_reclaimable`,
    `nr_slab_unreclaimable`,
    `nr_anon_transparent_hugepages`,
    `nr_shmem_hugepages`
FROM parquet.`${memtrace_lake}/sysstat`;

CREATE OR REPLACE TEMPORARY VIEW zone AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `zone`,
    `zone_idx`,
    `trigger`,
    `free`,
    `min`,
    `low`,
    `high`,
    `promo`,
    `boost`,
    `spanned`,
    `present`,
    `managed`,
    `cma`,
    `free_cma`,
    `reserved_highatomic`,
    `reserve`,
    `orders`,
    `free_blocks_0`,
    `free_blocks_1`,
    `free_blocks_2`,
    `free_blocks_3`,
    `free_blocks_4`,
    `free_blocks_5`,
    `free_blocks_6`,
    `free_blocks_7`,
    `free_blocks_8`,
    `free_blocks_9`,
    `free_blocks_10`
FROM parquet.`${memtrace_lake}/zone`;

CREATE OR REPLACE TEMPORARY VIEW paf AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `order`,
    `gfp_flags`,
    `gfp`,
    `migratetype`,
    `migratetype_name`,
    `highest_zone`,
    `node`
FROM parquet.`${memtrace_lake}/paf`;

CREATE OR REPLACE TEMPORARY VIEW reclaim_retry AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `zone`,
    `order`,
    `reclaimable`,
    `available`,
    `min_wmark`,
    `no_progress_loops`,
    `wmark_check`
FROM parquet.`${memtrace_lake}/reclaim_retry`;

CREATE OR REPLACE TEMPORARY VIEW compact_suitable AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `zone`,
    `order`,
    `result`,
    `result_code`
FROM parquet.`${memtrace_lake}/compact_suitable`;

CREATE OR REPLACE TEMPORARY VIEW compact_try AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `order`,
    `gfp_flags`,
    `gfp`,
    `priority`
FROM parquet.`${memtrace_lake}/compact_try`;

CREATE OR REPLACE TEMPORARY VIEW wmark_setup AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `zone`,
    `min`,
    `low`,
    `high`,
    `promo`
FROM parquet.`${memtrace_lake}/wmark_setup`;

CREATE OR REPLACE TEMPORARY VIEW lru_inactive AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `reclaimer`,
    `lru`,
    `priority`,
    `nr_scanned`,
    `nr_reclaimed`,
    `nr_dirty`,
    `nr_writeback`,
    `nr_congested`,
    `nr_immediate`,
    `nr_activate_anon`,
    `nr_activate_file`,
    `nr_ref_keep`,
    `nr_unmap_fail`
FROM parquet.`${memtrace_lake}/lru_inactive`;

CREATE OR REPLACE TEMPORARY VIEW lru_active AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `node`,
    `reclaimer`,
    `lru`,
    `priority`,
    `nr_taken`,
    `nr_active`,
    `nr_deactivated`,
    `nr_referenced`
FROM parquet.`${memtrace_lake}/lru_active`;

CREATE OR REPLACE TEMPORARY VIEW reclaim_begin AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `reclaimer`,
    `order`,
    `gfp_flags`,
    `gfp`,
    `node`
FROM parquet.`${memtrace_lake}/reclaim_begin`;

CREATE OR REPLACE TEMPORARY VIEW reclaim_end AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `reclaimer`,
    `nr_reclaimed`,
    `begin_ts_ns`,
    `duration_ns`
FROM parquet.`${memtrace_lake}/reclaim_end`;

CREATE OR REPLACE TEMPORARY VIEW kswapd AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `event`,
    `node`,
    `zone`,
    `order`,
    `gfp_flags`,
    `gfp`
FROM parquet.`${memtrace_lake}/kswapd`;

CREATE OR REPLACE TEMPORARY VIEW slab_start AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `shrinker`,
    `shrinker_fn`,
    `node`,
    `priority`,
    `nr_objects_to_shrink`,
    `gfp_flags`,
    `gfp`,
    `cache_items`,
    `delta`,
    `total_scan`
FROM parquet.`${memtrace_lake}/slab_start`;

CREATE OR REPLACE TEMPORARY VIEW slab_end AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `shrinker`,
    `shrinker_fn`,
    `node`,
    `freed`,
    `unused_scan`,
    `new_scan`,
    `total_scan`,
    `begin_ts_ns`,
    `duration_ns`
FROM parquet.`${memtrace_lake}/slab_end`;

CREATE OR REPLACE TEMPORARY VIEW oom_victim AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `victim_pid`,
    `victim_comm`,
    `uid`,
    `total_vm`,
    `anon_rss`,
    `file_rss`,
    `shmem_rss`,
    `pgtables`,
    `oom_score_adj`,
    `load1`,
    `load5`,
    `load15`,
    `constraint`,
    `oom_memcg`,
    `task_memcg`,
    `memcg_usage`,
    `memcg_limit`
FROM parquet.`${memtrace_lake}/oom_victim`;

CREATE OR REPLACE TEMPORARY VIEW fault AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `address`,
    `ip`,
    `user`,
    `major`,
    `error_code`,
    `access`,
    `cause`,
    `vma`,
    `file`
FROM parquet.`${memtrace_lake}/fault`;

CREATE OR REPLACE TEMPORARY VIEW fault_stack AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `stack_id`,
    `every`,
    `stack_error`
FROM parquet.`${memtrace_lake}/fault_stack`;

CREATE OR REPLACE TEMPORARY VIEW swap_in AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `address`,
    `vma`
FROM parquet.`${memtrace_lake}/swap_in`;

CREATE OR REPLACE TEMPORARY VIEW swap_out AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `pages`,
    `owner_cgroup_id`
FROM parquet.`${memtrace_lake}/swap_out`;

CREATE OR REPLACE TEMPORARY VIEW mapping_call AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `call`,
    `addr`,
    `len`,
    `new_len`,
    `prot`,
    `prot_names`,
    `flags`,
    `flags_names`,
    `op`,
    `op_name`,
    `fd`,
    `offset`,
    `key`,
    `shmid`,
    `ret`,
    `error`,
    `errno`,
    `result`,
    `prev_brk`,
    `seg_bytes`,
    `mapped`,
    `unmapped`,
    `file`,
    `ino`,
    `duration_ns`
FROM parquet.`${memtrace_lake}/mapping_call`;

CREATE OR REPLACE TEMPORARY VIEW compaction_run AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `runner`,
    `node`,
    `zone`,
    `order`,
    `status`,
    `status_code`,
    `mode`,
    `whole_zone`,
    `gfp_flags`,
    `begin_ts_ns`,
    `duration_ns`,
    `attempt_ts_ns`,
    `migrate_scanned`,
    `free_scanned`,
    `isolated_migrate`,
    `isolated_free`,
    `migrated`,
    `migrate_failed`,
    `migrate_pfn`,
    `free_pfn`,
    `zone_start`,
    `zone_end`
FROM parquet.`${memtrace_lake}/compaction_run`;

CREATE OR REPLACE TEMPORARY VIEW compaction_defer AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `event`,
    `node`,
    `zone`,
    `order`,
    `considered`,
    `defer_shift`,
    `order_failed`,
    `attempt_ts_ns`,
    `after_return`
FROM parquet.`${memtrace_lake}/compaction_defer`;

CREATE OR REPLACE TEMPORARY VIEW kcompactd AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `event`,
    `node`,
    `order`,
    `highest_zone`
FROM parquet.`${memtrace_lake}/kcompactd`;

CREATE OR REPLACE TEMPORARY VIEW extfrag AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `alloc_order`,
    `fallback_order`,
    `alloc_migratetype`,
    `fallback_migratetype`,
    `change_ownership`,
    `fragmenting`,
    `pfn`
FROM parquet.`${memtrace_lake}/extfrag`;

CREATE OR REPLACE TEMPORARY VIEW migrate_pages AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `reason`,
    `mode`,
    `succeeded`,
    `failed`,
    `thp_succeeded`,
    `thp_failed`,
    `thp_split`,
    `large_folio_split`
FROM parquet.`${memtrace_lake}/migrate_pages`;

CREATE OR REPLACE TEMPORARY VIEW hugetlb_fault AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `address`,
    `page_size`,
    `major`,
    `shared`,
    `pool_total`,
    `pool_free`,
    `pool_reserved`,
    `pool_surplus`
FROM parquet.`${memtrace_lake}/hugetlb_fault`;

CREATE OR REPLACE TEMPORARY VIEW hugetlb_pool AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `trigger`,
    `page_size`,
    `total`,
    `free`,
    `reserved`,
    `surplus`,
    `overcommit`
FROM parquet.`${memtrace_lake}/hugetlb_pool`;

CREATE OR REPLACE TEMPORARY VIEW user_alloc AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `call`,
    `address`,
    `size`,
    `align`,
    `old_address`,
    `stack_id`,
    `stack_error`,
    `sample_bytes`
FROM parquet.`${memtrace_lake}/user_alloc`;

CREATE OR REPLACE TEMPORARY VIEW user_free AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `call`,
    `address`
FROM parquet.`${memtrace_lake}/user_free`;

CREATE OR REPLACE TEMPORARY VIEW kernel_alloc AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `kind`,
    `address`,
    `bytes_req`,
    `bytes_alloc`,
    `cache`,
    `order`,
    `call_site`,
    `gfp`,
    `gfp_flags`,
    `node`,
    `stack_id`,
    `stack_error`,
    `sample_bytes`
FROM parquet.`${memtrace_lake}/kernel_alloc`;

CREATE OR REPLACE TEMPORARY VIEW kernel_free AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `kind`,
    `address`,
    `call_site`
FROM parquet.`${memtrace_lake}/kernel_free`;

CREATE OR REPLACE TEMPORARY VIEW stack_frame AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `stack_id`,
    `depth`,
    `ip`,
    `kernel`
FROM parquet.`${memtrace_lake}/stack_frame`;

CREATE OR REPLACE TEMPORARY VIEW module_map AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `start`,
    `end`,
    `file_offset`,
    `path`,
    `build_id`
FROM parquet.`${memtrace_lake}/module_map`;

CREATE OR REPLACE TEMPORARY VIEW kernel_symbol AS
SELECT
    `ts_ns`,
    `time_ns`,
    timestamp_micros(time_ns DIV 1000) AS `time`,
    `host`,
    `recording`,
    `cpu`,
    `pid`,
    `tgid`,
    `comm`,
    `cgroup_id`,
    `address`,
    `name`,
    `module`
FROM parquet.`${memtrace_lake}/kernel_symbol`;
