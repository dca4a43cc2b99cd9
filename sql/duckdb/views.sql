-- memtrace views for DuckDB, over recordings (the Parquet files memrec writes).
-- Generated from memana's view definitions (`memana schema --sql duckdb`); do not edit:
-- a test fails when this file differs from what memana prints.
--
-- Each table of a recording is a view named as the table (procstat, oom_victim, ...)
-- with plain column names: ts_ns (CLOCK_BOOTTIME ns, as recorded), time_ns
-- (Unix-epoch ns), time (TIMESTAMP_NS, UTC), host, recording, the common columns
-- (cpu, pid, tgid, comm, cgroup_id) and the table's own columns without their
-- `<table>.` prefix. docs/SQL.md describes them.
--
-- Usage: name the files in the variable memtrace_files, then read this file:
--   SET VARIABLE memtrace_files = ['run.parquet'];
--   SET VARIABLE memtrace_files = (SELECT list(file) FROM glob('fleet/**/*.parquet'));
--   .read sql/duckdb/views.sql
--   SELECT comm, max(rss_anon) FROM procstat GROUP BY comm;
-- From a shell:
--   duckdb -c "SET VARIABLE memtrace_files = ['run.parquet']" -c '.read sql/duckdb/views.sql' \
--          -c 'SELECT host, recording, count(*) FROM reclaim_end GROUP BY ALL'
-- (Python: con.execute("SET VARIABLE ..."); con.execute(open('sql/duckdb/views.sql').read()).)
-- Needs DuckDB 1.2 or later (variables, make_timestamp_ns).
--
-- Host, recording id and the wall-clock offset come from each file's footer
-- (`memtrace.meta`, JSON): hostname; segment.recording_id, else the file's name
-- without its extension; the first clock anchor (realtime_ns - boottime_ns) of the
-- recording's first segment, as memana places times. A column the files lack
-- (a probe group not recorded, an older memrec) reads as null, as in memana sql.

-- No rows: every column of the schema, typed, so the views bind whichever
-- columns the files have.
CREATE OR REPLACE VIEW memtrace_columns AS
SELECT
    NULL::VARCHAR AS filename,
    NULL::BIGINT AS "ts_ns",
    NULL::VARCHAR AS "kind",
    NULL::UINTEGER AS "cpu",
    NULL::UINTEGER AS "pid",
    NULL::UINTEGER AS "tgid",
    NULL::VARCHAR AS "comm",
    NULL::UBIGINT AS "cgroup_id",
    NULL::VARCHAR AS "procstat.reason",
    NULL::UBIGINT AS "procstat.vsize",
    NULL::UBIGINT AS "procstat.rss_peak",
    NULL::UBIGINT AS "procstat.rss_anon",
    NULL::UBIGINT AS "procstat.rss_file",
    NULL::UBIGINT AS "procstat.rss_shmem",
    NULL::UBIGINT AS "procstat.swap",
    NULL::UBIGINT AS "procstat.data",
    NULL::UBIGINT AS "procstat.stack",
    NULL::UBIGINT AS "procstat.pgtables",
    NULL::UINTEGER AS "sysstat.node",
    NULL::VARCHAR AS "sysstat.trigger",
    NULL::UBIGINT AS "sysstat.nr_free_pages",
    NULL::UBIGINT AS "sysstat.nr_active_anon",
    NULL::UBIGINT AS "sysstat.nr_inactive_anon",
    NULL::UBIGINT AS "sysstat.nr_active_file",
    NULL::UBIGINT AS "sysstat.nr_inactive_file",
    NULL::UBIGINT AS "sysstat.nr_unevictable",
    NULL::UBIGINT AS "sysstat.nr_dirty",
    NULL::UBIGINT AS "sysstat.nr_writeback",
    NULL::UBIGINT AS "sysstat.nr_writeback_temp",
    NULL::UBIGINT AS "sysstat.nr_anon_pages",
    NULL::UBIGINT AS "sysstat.nr_mapped",
    NULL::UBIGINT AS "sysstat.nr_file_pages",
    NULL::UBIGINT AS "sysstat.nr_shmem",
    NULL::UBIGINT AS "sysstat.nr_kernel_misc_reclaimable",
    NULL::UBIGINT AS "sysstat.nr_slab_reclaimable",
    NULL::UBIGINT AS "sysstat.nr_slab_unreclaimable",
    NULL::UBIGINT AS "sysstat.nr_anon_transparent_hugepages",
    NULL::UBIGINT AS "sysstat.nr_shmem_hugepages",
    NULL::UINTEGER AS "zone.node",
    NULL::VARCHAR AS "zone.zone",
    NULL::UINTEGER AS "zone.zone_idx",
    NULL::VARCHAR AS "zone.trigger",
    NULL::UBIGINT AS "zone.free",
    NULL::UBIGINT AS "zone.min",
    NULL::UBIGINT AS "zone.low",
    NULL::UBIGINT AS "zone.high",
    NULL::UBIGINT AS "zone.promo",
    NULL::UBIGINT AS "zone.boost",
    NULL::UBIGINT AS "zone.spanned",
    NULL::UBIGINT AS "zone.present",
    NULL::UBIGINT AS "zone.managed",
    NULL::UBIGINT AS "zone.cma",
    NULL::UBIGINT AS "zone.free_cma",
    NULL::UBIGINT AS "zone.reserved_highatomic",
    NULL::UBIGINT AS "zone.reserve",
    NULL::UINTEGER AS "zone.orders",
    NULL::UBIGINT AS "zone.free_blocks_0",
    NULL::UBIGINT AS "zone.free_blocks_1",
    NULL::UBIGINT AS "zone.free_blocks_2",
    NULL::UBIGINT AS "zone.free_blocks_3",
    NULL::UBIGINT AS "zone.free_blocks_4",
    NULL::UBIGINT AS "zone.free_blocks_5",
    NULL::UBIGINT AS "zone.free_blocks_6",
    NULL::UBIGINT AS "zone.free_blocks_7",
    NULL::UBIGINT AS "zone.free_blocks_8",
    NULL::UBIGINT AS "zone.free_blocks_9",
    NULL::UBIGINT AS "zone.free_blocks_10",
    NULL::UINTEGER AS "paf.order",
    NULL::UBIGINT AS "paf.gfp_flags",
    NULL::VARCHAR AS "paf.gfp",
    NULL::INTEGER AS "paf.migratetype",
    NULL::VARCHAR AS "paf.migratetype_name",
    NULL::VARCHAR AS "paf.highest_zone",
    NULL::UINTEGER AS "paf.node",
    NULL::INTEGER AS "reclaim_retry.node",
    NULL::VARCHAR AS "reclaim_retry.zone",
    NULL::INTEGER AS "reclaim_retry.order",
    NULL::UBIGINT AS "reclaim_retry.reclaimable",
    NULL::UBIGINT AS "reclaim_retry.available",
    NULL::UBIGINT AS "reclaim_retry.min_wmark",
    NULL::INTEGER AS "reclaim_retry.no_progress_loops",
    NULL::BOOLEAN AS "reclaim_retry.wmark_check",
    NULL::INTEGER AS "compact_suitable.node",
    NULL::VARCHAR AS "compact_suitable.zone",
    NULL::INTEGER AS "compact_suitable.order",
    NULL::VARCHAR AS "compact_suitable.result",
    NULL::INTEGER AS "compact_suitable.result_code",
    NULL::INTEGER AS "compact_try.order",
    NULL::UBIGINT AS "compact_try.gfp_flags",
    NULL::VARCHAR AS "compact_try.gfp",
    NULL::INTEGER AS "compact_try.priority",
    NULL::INTEGER AS "wmark_setup.node",
    NULL::VARCHAR AS "wmark_setup.zone",
    NULL::UBIGINT AS "wmark_setup.min",
    NULL::UBIGINT AS "wmark_setup.low",
    NULL::UBIGINT AS "wmark_setup.high",
    NULL::UBIGINT AS "wmark_setup.promo",
    NULL::INTEGER AS "lru_inactive.node",
    NULL::VARCHAR AS "lru_inactive.reclaimer",
    NULL::VARCHAR AS "lru_inactive.lru",
    NULL::INTEGER AS "lru_inactive.priority",
    NULL::UBIGINT AS "lru_inactive.nr_scanned",
    NULL::UBIGINT AS "lru_inactive.nr_reclaimed",
    NULL::UBIGINT AS "lru_inactive.nr_dirty",
    NULL::UBIGINT AS "lru_inactive.nr_writeback",
    NULL::UBIGINT AS "lru_inactive.nr_congested",
    NULL::UBIGINT AS "lru_inactive.nr_immediate",
    NULL::UBIGINT AS "lru_inactive.nr_activate_anon",
    NULL::UBIGINT AS "lru_inactive.nr_activate_file",
    NULL::UBIGINT AS "lru_inactive.nr_ref_keep",
    NULL::UBIGINT AS "lru_inactive.nr_unmap_fail",
    NULL::INTEGER AS "lru_active.node",
    NULL::VARCHAR AS "lru_active.reclaimer",
    NULL::VARCHAR AS "lru_active.lru",
    NULL::INTEGER AS "lru_active.priority",
    NULL::UBIGINT AS "lru_active.nr_taken",
    NULL::UBIGINT AS "lru_active.nr_active",
    NULL::UBIGINT AS "lru_active.nr_deactivated",
    NULL::UBIGINT AS "lru_active.nr_referenced",
    NULL::VARCHAR AS "reclaim_begin.reclaimer",
    NULL::INTEGER AS "reclaim_begin.order",
    NULL::UBIGINT AS "reclaim_begin.gfp_flags",
    NULL::VARCHAR AS "reclaim_begin.gfp",
    NULL::INTEGER AS "reclaim_begin.node",
    NULL::VARCHAR AS "reclaim_end.reclaimer",
    NULL::UBIGINT AS "reclaim_end.nr_reclaimed",
    NULL::BIGINT AS "reclaim_end.begin_ts_ns",
    NULL::BIGINT AS "reclaim_end.duration_ns",
    NULL::VARCHAR AS "kswapd.event",
    NULL::INTEGER AS "kswapd.node",
    NULL::VARCHAR AS "kswapd.zone",
    NULL::INTEGER AS "kswapd.order",
    NULL::UBIGINT AS "kswapd.gfp_flags",
    NULL::VARCHAR AS "kswapd.gfp",
    NULL::UBIGINT AS "slab_start.shrinker",
    NULL::VARCHAR AS "slab_start.shrinker_fn",
    NULL::INTEGER AS "slab_start.node",
    NULL::INTEGER AS "slab_start.priority",
    NULL::BIGINT AS "slab_start.nr_objects_to_shrink",
    NULL::UBIGINT AS "slab_start.gfp_flags",
    NULL::VARCHAR AS "slab_start.gfp",
    NULL::UBIGINT AS "slab_start.cache_items",
    NULL::UBIGINT AS "slab_start.delta",
    NULL::UBIGINT AS "slab_start.total_scan",
    NULL::UBIGINT AS "slab_end.shrinker",
    NULL::VARCHAR AS "slab_end.shrinker_fn",
    NULL::INTEGER AS "slab_end.node",
    NULL::INTEGER AS "slab_end.freed",
    NULL::BIGINT AS "slab_end.unused_scan",
    NULL::BIGINT AS "slab_end.new_scan",
    NULL::BIGINT AS "slab_end.total_scan",
    NULL::BIGINT AS "slab_end.begin_ts_ns",
    NULL::BIGINT AS "slab_end.duration_ns",
    NULL::UINTEGER AS "oom_victim.victim_pid",
    NULL::VARCHAR AS "oom_victim.victim_comm",
    NULL::UINTEGER AS "oom_victim.uid",
    NULL::UBIGINT AS "oom_victim.total_vm",
    NULL::UBIGINT AS "oom_victim.anon_rss",
    NULL::UBIGINT AS "oom_victim.file_rss",
    NULL::UBIGINT AS "oom_victim.shmem_rss",
    NULL::UBIGINT AS "oom_victim.pgtables",
    NULL::INTEGER AS "oom_victim.oom_score_adj",
    NULL::DOUBLE AS "oom_victim.load1",
    NULL::DOUBLE AS "oom_victim.load5",
    NULL::DOUBLE AS "oom_victim.load15",
    NULL::VARCHAR AS "oom_victim.constraint",
    NULL::VARCHAR AS "oom_victim.oom_memcg",
    NULL::VARCHAR AS "oom_victim.task_memcg",
    NULL::UBIGINT AS "oom_victim.memcg_usage",
    NULL::UBIGINT AS "oom_victim.memcg_limit",
    NULL::UBIGINT AS "fault.address",
    NULL::UBIGINT AS "fault.ip",
    NULL::BOOLEAN AS "fault.user",
    NULL::BOOLEAN AS "fault.major",
    NULL::UINTEGER AS "fault.error_code",
    NULL::VARCHAR AS "fault.access",
    NULL::VARCHAR AS "fault.cause",
    NULL::VARCHAR AS "fault.vma",
    NULL::VARCHAR AS "fault.file",
    NULL::UBIGINT AS "fault_stack.stack_id",
    NULL::UINTEGER AS "fault_stack.every",
    NULL::INTEGER AS "fault_stack.stack_error",
    NULL::UBIGINT AS "swap_in.address",
    NULL::VARCHAR AS "swap_in.vma",
    NULL::UBIGINT AS "swap_out.pages",
    NULL::UBIGINT AS "swap_out.owner_cgroup_id",
    NULL::VARCHAR AS "mapping_call.call",
    NULL::UBIGINT AS "mapping_call.addr",
    NULL::UBIGINT AS "mapping_call.len",
    NULL::UBIGINT AS "mapping_call.new_len",
    NULL::UBIGINT AS "mapping_call.prot",
    NULL::VARCHAR AS "mapping_call.prot_names",
    NULL::UBIGINT AS "mapping_call.flags",
    NULL::VARCHAR AS "mapping_call.flags_names",
    NULL::INTEGER AS "mapping_call.op",
    NULL::VARCHAR AS "mapping_call.op_name",
    NULL::INTEGER AS "mapping_call.fd",
    NULL::UBIGINT AS "mapping_call.offset",
    NULL::BIGINT AS "mapping_call.key",
    NULL::INTEGER AS "mapping_call.shmid",
    NULL::BIGINT AS "mapping_call.ret",
    NULL::VARCHAR AS "mapping_call.error",
    NULL::INTEGER AS "mapping_call.errno",
    NULL::UBIGINT AS "mapping_call.result",
    NULL::UBIGINT AS "mapping_call.prev_brk",
    NULL::UBIGINT AS "mapping_call.seg_bytes",
    NULL::UBIGINT AS "mapping_call.mapped",
    NULL::UBIGINT AS "mapping_call.unmapped",
    NULL::VARCHAR AS "mapping_call.file",
    NULL::UBIGINT AS "mapping_call.ino",
    NULL::BIGINT AS "mapping_call.duration_ns",
    NULL::VARCHAR AS "compaction_run.runner",
    NULL::INTEGER AS "compaction_run.node",
    NULL::VARCHAR AS "compaction_run.zone",
    NULL::INTEGER AS "compaction_run.order",
    NULL::VARCHAR AS "compaction_run.status",
    NULL::INTEGER AS "compaction_run.status_code",
    NULL::VARCHAR AS "compaction_run.mode",
    NULL::BOOLEAN AS "compaction_run.whole_zone",
    NULL::UBIGINT AS "compaction_run.gfp_flags",
    NULL::BIGINT AS "compaction_run.begin_ts_ns",
    NULL::BIGINT AS "compaction_run.duration_ns",
    NULL::BIGINT AS "compaction_run.attempt_ts_ns",
    NULL::UBIGINT AS "compaction_run.migrate_scanned",
    NULL::UBIGINT AS "compaction_run.free_scanned",
    NULL::UBIGINT AS "compaction_run.isolated_migrate",
    NULL::UBIGINT AS "compaction_run.isolated_free",
    NULL::UBIGINT AS "compaction_run.migrated",
    NULL::UBIGINT AS "compaction_run.migrate_failed",
    NULL::UBIGINT AS "compaction_run.migrate_pfn",
    NULL::UBIGINT AS "compaction_run.free_pfn",
    NULL::UBIGINT AS "compaction_run.zone_start",
    NULL::UBIGINT AS "compaction_run.zone_end",
    NULL::VARCHAR AS "compaction_defer.event",
    NULL::INTEGER AS "compaction_defer.node",
    NULL::VARCHAR AS "compaction_defer.zone",
    NULL::INTEGER AS "compaction_defer.order",
    NULL::UINTEGER AS "compaction_defer.considered",
    NULL::UINTEGER AS "compaction_defer.defer_shift",
    NULL::INTEGER AS "compaction_defer.order_failed",
    NULL::BIGINT AS "compaction_defer.attempt_ts_ns",
    NULL::BOOLEAN AS "compaction_defer.after_return",
    NULL::VARCHAR AS "kcompactd.event",
    NULL::INTEGER AS "kcompactd.node",
    NULL::INTEGER AS "kcompactd.order",
    NULL::VARCHAR AS "kcompactd.highest_zone",
    NULL::INTEGER AS "extfrag.alloc_order",
    NULL::INTEGER AS "extfrag.fallback_order",
    NULL::VARCHAR AS "extfrag.alloc_migratetype",
    NULL::VARCHAR AS "extfrag.fallback_migratetype",
    NULL::BOOLEAN AS "extfrag.change_ownership",
    NULL::BOOLEAN AS "extfrag.fragmenting",
    NULL::UBIGINT AS "extfrag.pfn",
    NULL::VARCHAR AS "migrate_pages.reason",
    NULL::VARCHAR AS "migrate_pages.mode",
    NULL::UBIGINT AS "migrate_pages.succeeded",
    NULL::UBIGINT AS "migrate_pages.failed",
    NULL::UBIGINT AS "migrate_pages.thp_succeeded",
    NULL::UBIGINT AS "migrate_pages.thp_failed",
    NULL::UBIGINT AS "migrate_pages.thp_split",
    NULL::UBIGINT AS "migrate_pages.large_folio_split",
    NULL::UBIGINT AS "hugetlb_fault.address",
    NULL::UBIGINT AS "hugetlb_fault.page_size",
    NULL::BOOLEAN AS "hugetlb_fault.major",
    NULL::BOOLEAN AS "hugetlb_fault.shared",
    NULL::UBIGINT AS "hugetlb_fault.pool_total",
    NULL::UBIGINT AS "hugetlb_fault.pool_free",
    NULL::UBIGINT AS "hugetlb_fault.pool_reserved",
    NULL::UBIGINT AS "hugetlb_fault.pool_surplus",
    NULL::VARCHAR AS "hugetlb_pool.trigger",
    NULL::UBIGINT AS "hugetlb_pool.page_size",
    NULL::UBIGINT AS "hugetlb_pool.total",
    NULL::UBIGINT AS "hugetlb_pool.free",
    NULL::UBIGINT AS "hugetlb_pool.reserved",
    NULL::UBIGINT AS "hugetlb_pool.surplus",
    NULL::UBIGINT AS "hugetlb_pool.overcommit",
    NULL::VARCHAR AS "user_alloc.call",
    NULL::UBIGINT AS "user_alloc.address",
    NULL::UBIGINT AS "user_alloc.size",
    NULL::UBIGINT AS "user_alloc.align",
    NULL::UBIGINT AS "user_alloc.old_address",
    NULL::UBIGINT AS "user_alloc.stack_id",
    NULL::INTEGER AS "user_alloc.stack_error",
    NULL::UBIGINT AS "user_alloc.sample_bytes",
    NULL::VARCHAR AS "user_free.call",
    NULL::UBIGINT AS "user_free.address",
    NULL::VARCHAR AS "kernel_alloc.kind",
    NULL::UBIGINT AS "kernel_alloc.address",
    NULL::UBIGINT AS "kernel_alloc.bytes_req",
    NULL::UBIGINT AS "kernel_alloc.bytes_alloc",
    NULL::VARCHAR AS "kernel_alloc.cache",
    NULL::UINTEGER AS "kernel_alloc.order",
    NULL::UBIGINT AS "kernel_alloc.call_site",
    NULL::UINTEGER AS "kernel_alloc.gfp",
    NULL::VARCHAR AS "kernel_alloc.gfp_flags",
    NULL::INTEGER AS "kernel_alloc.node",
    NULL::UBIGINT AS "kernel_alloc.stack_id",
    NULL::INTEGER AS "kernel_alloc.stack_error",
    NULL::UBIGINT AS "kernel_alloc.sample_bytes",
    NULL::VARCHAR AS "kernel_free.kind",
    NULL::UBIGINT AS "kernel_free.address",
    NULL::UBIGINT AS "kernel_free.call_site",
    NULL::UBIGINT AS "stack_frame.stack_id",
    NULL::UINTEGER AS "stack_frame.depth",
    NULL::UBIGINT AS "stack_frame.ip",
    NULL::BOOLEAN AS "stack_frame.kernel",
    NULL::UBIGINT AS "module_map.start",
    NULL::UBIGINT AS "module_map.end",
    NULL::UBIGINT AS "module_map.file_offset",
    NULL::VARCHAR AS "module_map.path",
    NULL::VARCHAR AS "module_map.build_id",
    NULL::UBIGINT AS "kernel_symbol.address",
    NULL::VARCHAR AS "kernel_symbol.name",
    NULL::VARCHAR AS "kernel_symbol.module"
WHERE false;

-- One row per file: its host, recording and segment.
CREATE OR REPLACE VIEW memtrace_files AS
SELECT
    file_name AS filename,
    json_extract_string(meta, '$.hostname') AS host,
    coalesce(
        json_extract_string(meta, '$.segment.recording_id'),
        regexp_replace(parse_filename(file_name), '\.[^.]*$', '')
    ) AS recording,
    CAST(json_extract(meta, '$.segment.first') AS UBIGINT) AS segment_first,
    CAST(json_extract(meta, '$.clock_anchors[0].realtime_ns') AS BIGINT)
        - CAST(json_extract(meta, '$.clock_anchors[0].boottime_ns') AS BIGINT) AS file_wall_offset_ns
FROM (
    SELECT file_name, decode(value) AS meta
    FROM parquet_kv_metadata(getvariable('memtrace_files'))
    WHERE decode(key) = 'memtrace.meta'
);

-- One row per file, with its recording's wall offset (its first segment's).
CREATE OR REPLACE VIEW memtrace_recordings AS
SELECT f.*, r.wall_offset_ns
FROM memtrace_files f
JOIN (
    SELECT host, recording,
           arg_min(file_wall_offset_ns, coalesce(segment_first, 0)) AS wall_offset_ns
    FROM memtrace_files GROUP BY host, recording
) r USING (host, recording);

-- Every row of every file, with the file's name; a column the files lack
-- (a probe group not recorded, an older memrec) is null, as in memana.
CREATE OR REPLACE VIEW memtrace_rows AS
SELECT * FROM read_parquet(getvariable('memtrace_files'), filename = true, union_by_name = true)
UNION ALL BY NAME
SELECT * FROM memtrace_columns;

CREATE OR REPLACE VIEW procstat AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."procstat.reason" AS "reason",
    r."procstat.vsize" AS "vsize",
    r."procstat.rss_peak" AS "rss_peak",
    r."procstat.rss_anon" AS "rss_anon",
    r."procstat.rss_file" AS "rss_file",
    r."procstat.rss_shmem" AS "rss_shmem",
    r."procstat.swap" AS "swap",
    r."procstat.data" AS "data",
    r."procstat.stack" AS "stack",
    r."procstat.pgtables" AS "pgtables"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'procstat';

CREATE OR REPLACE VIEW sysstat AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."sysstat.node" AS "node",
    r."sysstat.trigger" AS "trigger",
    r."sysstat.nr_free_pages" AS "nr_free_pages",
    r."sysstat.nr_active_anon" AS "nr_active_anon",
    r."sysstat.nr_inactive_anon" AS "nr_inactive_anon",
    r."sysstat.nr_active_file" AS "nr_active_file",
    r."sysstat.nr_inactive_file" AS "nr_inactive_file",
    r."sysstat.nr_unevictable" AS "nr_unevictable",
    r."sysstat.nr_dirty" AS "nr_dirty",
    r."sysstat.nr_writeback" AS "nr_writeback",
    r."sysstat.nr_writeback_temp" AS "nr_writeback_temp",
    r."sysstat.nr_anon_pages" AS "nr_anon_pages",
    r."sysstat.nr_mapped" AS "nr_mapped",
    r."sysstat.nr_file_pages" AS "nr_file_pages",
    r."sysstat.nr_shmem" AS "nr_shmem",
    r."sysstat.nr_kernel_misc_reclaimable" AS "nr_kernel_misc_reclaimable",
    r."sysstat.nr_slab_reclaimable" AS "nr_slab_reclaimable",
    r."sysstat.nr_slab_unreclaimable" AS "nr_slab_unreclaimable",
    r."sysstat.nr_anon_transparent_hugepages" AS "nr_anon_transparent_hugepages",
    r."sysstat.nr_shmem_hugepages" AS "nr_shmem_hugepages"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'sysstat';

CREATE OR REPLACE VIEW zone AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."zone.node" AS "node",
    r."zone.zone" AS "zone",
    r."zone.zone_idx" AS "zone_idx",
    r."zone.trigger" AS "trigger",
    r."zone.free" AS "free",
    r."zone.min" AS "min",
    r."zone.low" AS "low",
    r."zone.high" AS "high",
    r."zone.promo" AS "promo",
    r."zone.boost" AS "boost",
    r."zone.spanned" AS "spanned",
    r."zone.present" AS "present",
    r."zone.managed" AS "managed",
    r."zone.cma" AS "cma",
    r."zone.free_cma" AS "free_cma",
    r."zone.reserved_highatomic" AS "reserved_highatomic",
    r."zone.reserve" AS "reserve",
    r."zone.orders" AS "orders",
    r."zone.free_blocks_0" AS "free_blocks_0",
    r."zone.free_blocks_1" AS "free_blocks_1",
    r."zone.free_blocks_2" AS "free_blocks_2",
    r."zone.free_blocks_3" AS "free_blocks_3",
    r."zone.free_blocks_4" AS "free_blocks_4",
    r."zone.free_blocks_5" AS "free_blocks_5",
    r."zone.free_blocks_6" AS "free_blocks_6",
    r."zone.free_blocks_7" AS "free_blocks_7",
    r."zone.free_blocks_8" AS "free_blocks_8",
    r."zone.free_blocks_9" AS "free_blocks_9",
    r."zone.free_blocks_10" AS "free_blocks_10"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'zone';

CREATE OR REPLACE VIEW paf AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."paf.order" AS "order",
    r."paf.gfp_flags" AS "gfp_flags",
    r."paf.gfp" AS "gfp",
    r."paf.migratetype" AS "migratetype",
    r."paf.migratetype_name" AS "migratetype_name",
    r."paf.highest_zone" AS "highest_zone",
    r."paf.node" AS "node"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'paf';

CREATE OR REPLACE VIEW reclaim_retry AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."reclaim_retry.node" AS "node",
    r."reclaim_retry.zone" AS "zone",
    r."reclaim_retry.order" AS "order",
    r."reclaim_retry.reclaimable" AS "reclaimable",
    r."reclaim_retry.available" AS "available",
    r."reclaim_retry.min_wmark" AS "min_wmark",
    r."reclaim_retry.no_progress_loops" AS "no_progress_loops",
    r."reclaim_retry.wmark_check" AS "wmark_check"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'reclaim_retry';

CREATE OR REPLACE VIEW compact_suitable AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."compact_suitable.node" AS "node",
    r."compact_suitable.zone" AS "zone",
    r."compact_suitable.order" AS "order",
    r."compact_suitable.result" AS "result",
    r."compact_suitable.result_code" AS "result_code"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'compact_suitable';

CREATE OR REPLACE VIEW compact_try AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."compact_try.order" AS "order",
    r."compact_try.gfp_flags" AS "gfp_flags",
    r."compact_try.gfp" AS "gfp",
    r."compact_try.priority" AS "priority"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'compact_try';

CREATE OR REPLACE VIEW wmark_setup AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."wmark_setup.node" AS "node",
    r."wmark_setup.zone" AS "zone",
    r."wmark_setup.min" AS "min",
    r."wmark_setup.low" AS "low",
    r."wmark_setup.high" AS "high",
    r."wmark_setup.promo" AS "promo"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'wmark_setup';

CREATE OR REPLACE VIEW lru_inactive AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."lru_inactive.node" AS "node",
    r."lru_inactive.reclaimer" AS "reclaimer",
    r."lru_inactive.lru" AS "lru",
    r."lru_inactive.priority" AS "priority",
    r."lru_inactive.nr_scanned" AS "nr_scanned",
    r."lru_inactive.nr_reclaimed" AS "nr_reclaimed",
    r."lru_inactive.nr_dirty" AS "nr_dirty",
    r."lru_inactive.nr_writeback" AS "nr_writeback",
    r."lru_inactive.nr_congested" AS "nr_congested",
    r."lru_inactive.nr_immediate" AS "nr_immediate",
    r."lru_inactive.nr_activate_anon" AS "nr_activate_anon",
    r."lru_inactive.nr_activate_file" AS "nr_activate_file",
    r."lru_inactive.nr_ref_keep" AS "nr_ref_keep",
    r."lru_inactive.nr_unmap_fail" AS "nr_unmap_fail"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'lru_inactive';

CREATE OR REPLACE VIEW lru_active AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."lru_active.node" AS "node",
    r."lru_active.reclaimer" AS "reclaimer",
    r."lru_active.lru" AS "lru",
    r."lru_active.priority" AS "priority",
    r."lru_active.nr_taken" AS "nr_taken",
    r."lru_active.nr_active" AS "nr_active",
    r."lru_active.nr_deactivated" AS "nr_deactivated",
    r."lru_active.nr_referenced" AS "nr_referenced"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'lru_active';

CREATE OR REPLACE VIEW reclaim_begin AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."reclaim_begin.reclaimer" AS "reclaimer",
    r."reclaim_begin.order" AS "order",
    r."reclaim_begin.gfp_flags" AS "gfp_flags",
    r."reclaim_begin.gfp" AS "gfp",
    r."reclaim_begin.node" AS "node"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'reclaim_begin';

CREATE OR REPLACE VIEW reclaim_end AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."reclaim_end.reclaimer" AS "reclaimer",
    r."reclaim_end.nr_reclaimed" AS "nr_reclaimed",
    r."reclaim_end.begin_ts_ns" AS "begin_ts_ns",
    r."reclaim_end.duration_ns" AS "duration_ns"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'reclaim_end';

CREATE OR REPLACE VIEW kswapd AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."kswapd.event" AS "event",
    r."kswapd.node" AS "node",
    r."kswapd.zone" AS "zone",
    r."kswapd.order" AS "order",
    r."kswapd.gfp_flags" AS "gfp_flags",
    r."kswapd.gfp" AS "gfp"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'kswapd';

CREATE OR REPLACE VIEW slab_start AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."slab_start.shrinker" AS "shrinker",
    r."slab_start.shrinker_fn" AS "shrinker_fn",
    r."slab_start.node" AS "node",
    r."slab_start.priority" AS "priority",
    r."slab_start.nr_objects_to_shrink" AS "nr_objects_to_shrink",
    r."slab_start.gfp_flags" AS "gfp_flags",
    r."slab_start.gfp" AS "gfp",
    r."slab_start.cache_items" AS "cache_items",
    r."slab_start.delta" AS "delta",
    r."slab_start.total_scan" AS "total_scan"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'slab_start';

CREATE OR REPLACE VIEW slab_end AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."slab_end.shrinker" AS "shrinker",
    r."slab_end.shrinker_fn" AS "shrinker_fn",
    r."slab_end.node" AS "node",
    r."slab_end.freed" AS "freed",
    r."slab_end.unused_scan" AS "unused_scan",
    r."slab_end.new_scan" AS "new_scan",
    r."slab_end.total_scan" AS "total_scan",
    r."slab_end.begin_ts_ns" AS "begin_ts_ns",
    r."slab_end.duration_ns" AS "duration_ns"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'slab_end';

CREATE OR REPLACE VIEW oom_victim AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."oom_victim.victim_pid" AS "victim_pid",
    r."oom_victim.victim_comm" AS "victim_comm",
    r."oom_victim.uid" AS "uid",
    r."oom_victim.total_vm" AS "total_vm",
    r."oom_victim.anon_rss" AS "anon_rss",
    r."oom_victim.file_rss" AS "file_rss",
    r."oom_victim.shmem_rss" AS "shmem_rss",
    r."oom_victim.pgtables" AS "pgtables",
    r."oom_victim.oom_score_adj" AS "oom_score_adj",
    r."oom_victim.load1" AS "load1",
    r."oom_victim.load5" AS "load5",
    r."oom_victim.load15" AS "load15",
    r."oom_victim.constraint" AS "constraint",
    r."oom_victim.oom_memcg" AS "oom_memcg",
    r."oom_victim.task_memcg" AS "task_memcg",
    r."oom_victim.memcg_usage" AS "memcg_usage",
    r."oom_victim.memcg_limit" AS "memcg_limit"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'oom_victim';

CREATE OR REPLACE VIEW fault AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."fault.address" AS "address",
    r."fault.ip" AS "ip",
    r."fault.user" AS "user",
    r."fault.major" AS "major",
    r."fault.error_code" AS "error_code",
    r."fault.access" AS "access",
    r."fault.cause" AS "cause",
    r."fault.vma" AS "vma",
    r."fault.file" AS "file"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'fault';

CREATE OR REPLACE VIEW fault_stack AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."fault_stack.stack_id" AS "stack_id",
    r."fault_stack.every" AS "every",
    r."fault_stack.stack_error" AS "stack_error"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'fault_stack';

CREATE OR REPLACE VIEW swap_in AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."swap_in.address" AS "address",
    r."swap_in.vma" AS "vma"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'swap_in';

CREATE OR REPLACE VIEW swap_out AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."swap_out.pages" AS "pages",
    r."swap_out.owner_cgroup_id" AS "owner_cgroup_id"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'swap_out';

CREATE OR REPLACE VIEW mapping_call AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."mapping_call.call" AS "call",
    r."mapping_call.addr" AS "addr",
    r."mapping_call.len" AS "len",
    r."mapping_call.new_len" AS "new_len",
    r."mapping_call.prot" AS "prot",
    r."mapping_call.prot_names" AS "prot_names",
    r."mapping_call.flags" AS "flags",
    r."mapping_call.flags_names" AS "flags_names",
    r."mapping_call.op" AS "op",
    r."mapping_call.op_name" AS "op_name",
    r."mapping_call.fd" AS "fd",
    r."mapping_call.offset" AS "offset",
    r."mapping_call.key" AS "key",
    r."mapping_call.shmid" AS "shmid",
    r."mapping_call.ret" AS "ret",
    r."mapping_call.error" AS "error",
    r."mapping_call.errno" AS "errno",
    r."mapping_call.result" AS "result",
    r."mapping_call.prev_brk" AS "prev_brk",
    r."mapping_call.seg_bytes" AS "seg_bytes",
    r."mapping_call.mapped" AS "mapped",
    r."mapping_call.unmapped" AS "unmapped",
    r."mapping_call.file" AS "file",
    r."mapping_call.ino" AS "ino",
    r."mapping_call.duration_ns" AS "duration_ns"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'mapping_call';

CREATE OR REPLACE VIEW compaction_run AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."compaction_run.runner" AS "runner",
    r."compaction_run.node" AS "node",
    r."compaction_run.zone" AS "zone",
    r."compaction_run.order" AS "order",
    r."compaction_run.status" AS "status",
    r."compaction_run.status_code" AS "status_code",
    r."compaction_run.mode" AS "mode",
    r."compaction_run.whole_zone" AS "whole_zone",
    r."compaction_run.gfp_flags" AS "gfp_flags",
    r."compaction_run.begin_ts_ns" AS "begin_ts_ns",
    r."compaction_run.duration_ns" AS "duration_ns",
    r."compaction_run.attempt_ts_ns" AS "attempt_ts_ns",
    r."compaction_run.migrate_scanned" AS "migrate_scanned",
    r."compaction_run.free_scanned" AS "free_scanned",
    r."compaction_run.isolated_migrate" AS "isolated_migrate",
    r."compaction_run.isolated_free" AS "isolated_free",
    r."compaction_run.migrated" AS "migrated",
    r."compaction_run.migrate_failed" AS "migrate_failed",
    r."compaction_run.migrate_pfn" AS "migrate_pfn",
    r."compaction_run.free_pfn" AS "free_pfn",
    r."compaction_run.zone_start" AS "zone_start",
    r."compaction_run.zone_end" AS "zone_end"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'compaction_run';

CREATE OR REPLACE VIEW compaction_defer AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."compaction_defer.event" AS "event",
    r."compaction_defer.node" AS "node",
    r."compaction_defer.zone" AS "zone",
    r."compaction_defer.order" AS "order",
    r."compaction_defer.considered" AS "considered",
    r."compaction_defer.defer_shift" AS "defer_shift",
    r."compaction_defer.order_failed" AS "order_failed",
    r."compaction_defer.attempt_ts_ns" AS "attempt_ts_ns",
    r."compaction_defer.after_return" AS "after_return"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'compaction_defer';

CREATE OR REPLACE VIEW kcompactd AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."kcompactd.event" AS "event",
    r."kcompactd.node" AS "node",
    r."kcompactd.order" AS "order",
    r."kcompactd.highest_zone" AS "highest_zone"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'kcompactd';

CREATE OR REPLACE VIEW extfrag AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."extfrag.alloc_order" AS "alloc_order",
    r."extfrag.fallback_order" AS "fallback_order",
    r."extfrag.alloc_migratetype" AS "alloc_migratetype",
    r."extfrag.fallback_migratetype" AS "fallback_migratetype",
    r."extfrag.change_ownership" AS "change_ownership",
    r."extfrag.fragmenting" AS "fragmenting",
    r."extfrag.pfn" AS "pfn"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'extfrag';

CREATE OR REPLACE VIEW migrate_pages AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."migrate_pages.reason" AS "reason",
    r."migrate_pages.mode" AS "mode",
    r."migrate_pages.succeeded" AS "succeeded",
    r."migrate_pages.failed" AS "failed",
    r."migrate_pages.thp_succeeded" AS "thp_succeeded",
    r."migrate_pages.thp_failed" AS "thp_failed",
    r."migrate_pages.thp_split" AS "thp_split",
    r."migrate_pages.large_folio_split" AS "large_folio_split"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'migrate_pages';

CREATE OR REPLACE VIEW hugetlb_fault AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."hugetlb_fault.address" AS "address",
    r."hugetlb_fault.page_size" AS "page_size",
    r."hugetlb_fault.major" AS "major",
    r."hugetlb_fault.shared" AS "shared",
    r."hugetlb_fault.pool_total" AS "pool_total",
    r."hugetlb_fault.pool_free" AS "pool_free",
    r."hugetlb_fault.pool_reserved" AS "pool_reserved",
    r."hugetlb_fault.pool_surplus" AS "pool_surplus"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'hugetlb_fault';

CREATE OR REPLACE VIEW hugetlb_pool AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."hugetlb_pool.trigger" AS "trigger",
    r."hugetlb_pool.page_size" AS "page_size",
    r."hugetlb_pool.total" AS "total",
    r."hugetlb_pool.free" AS "free",
    r."hugetlb_pool.reserved" AS "reserved",
    r."hugetlb_pool.surplus" AS "surplus",
    r."hugetlb_pool.overcommit" AS "overcommit"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'hugetlb_pool';

CREATE OR REPLACE VIEW user_alloc AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."user_alloc.call" AS "call",
    r."user_alloc.address" AS "address",
    r."user_alloc.size" AS "size",
    r."user_alloc.align" AS "align",
    r."user_alloc.old_address" AS "old_address",
    r."user_alloc.stack_id" AS "stack_id",
    r."user_alloc.stack_error" AS "stack_error",
    r."user_alloc.sample_bytes" AS "sample_bytes"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'user_alloc';

CREATE OR REPLACE VIEW user_free AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."user_free.call" AS "call",
    r."user_free.address" AS "address"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'user_free';

CREATE OR REPLACE VIEW kernel_alloc AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."kernel_alloc.kind" AS "kind",
    r."kernel_alloc.address" AS "address",
    r."kernel_alloc.bytes_req" AS "bytes_req",
    r."kernel_alloc.bytes_alloc" AS "bytes_alloc",
    r."kernel_alloc.cache" AS "cache",
    r."kernel_alloc.order" AS "order",
    r."kernel_alloc.call_site" AS "call_site",
    r."kernel_alloc.gfp" AS "gfp",
    r."kernel_alloc.gfp_flags" AS "gfp_flags",
    r."kernel_alloc.node" AS "node",
    r."kernel_alloc.stack_id" AS "stack_id",
    r."kernel_alloc.stack_error" AS "stack_error",
    r."kernel_alloc.sample_bytes" AS "sample_bytes"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'kernel_alloc';

CREATE OR REPLACE VIEW kernel_free AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."kernel_free.kind" AS "kind",
    r."kernel_free.address" AS "address",
    r."kernel_free.call_site" AS "call_site"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'kernel_free';

CREATE OR REPLACE VIEW stack_frame AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."stack_frame.stack_id" AS "stack_id",
    r."stack_frame.depth" AS "depth",
    r."stack_frame.ip" AS "ip",
    r."stack_frame.kernel" AS "kernel"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'stack_frame';

CREATE OR REPLACE VIEW module_map AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."module_map.start" AS "start",
    r."module_map.end" AS "end",
    r."module_map.file_offset" AS "file_offset",
    r."module_map.path" AS "path",
    r."module_map.build_id" AS "build_id"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'module_map';

CREATE OR REPLACE VIEW kernel_symbol AS
SELECT
    r.ts_ns AS "ts_ns",
    r.ts_ns + f.wall_offset_ns AS "time_ns",
    make_timestamp_ns(r.ts_ns + f.wall_offset_ns) AS "time",
    f.host AS "host",
    f.recording AS "recording",
    r."cpu" AS "cpu",
    r."pid" AS "pid",
    r."tgid" AS "tgid",
    r."comm" AS "comm",
    r."cgroup_id" AS "cgroup_id",
    r."kernel_symbol.address" AS "address",
    r."kernel_symbol.name" AS "name",
    r."kernel_symbol.module" AS "module"
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
WHERE r.kind = 'kernel_symbol';
