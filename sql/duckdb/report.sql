-- memana report's figures computed by DuckDB over the views of views.sql.
--
-- Read views.sql first, then this file; it defines the view memtrace_report:
-- one row per figure and recording: host, recording, figure (the key `memana
-- metrics` prints and `memana check` rules use, e.g. reclaim.direct.p99_ms or
-- paf.failures{order="3"}) and value; and memtrace_report_rows: the rows of
-- memana's OOM victims and per-process growth tables, cell by cell.
--   SET VARIABLE memtrace_files = ['run.parquet'];
--   .read sql/duckdb/views.sql
--   .read sql/duckdb/report.sql
--   SELECT figure, value FROM memtrace_report WHERE figure LIKE 'reclaim.%' ORDER BY figure;
--
-- Definitions are memana's (docs/REPORTS.md, "Definitions"): percentiles are
-- nearest-rank (the value at rank ceil(p/100 * n) of the sorted values);
-- latencies in ms are ns / 1e6; ratios are num / den, none when den is 0.
-- A test (crates/analyzer/tests/sql_duckdb.rs) runs this file over the
-- fixtures and compares every figure with `memana report --format json`.
-- The whole recording is read: memana's --from/--to/--pid have no counterpart
-- here (add a WHERE on time or pid to the views' queries for that).

-- Nearest-rank percentile p (1..100) of a list of numbers (nulls left out).
CREATE OR REPLACE MACRO memtrace_rank(l, p) AS
    list_sort(l, 'ASC', 'NULLS LAST')[greatest(1, (p * list_aggregate(l, 'count') + 99) // 100)];

-- num / den as memana's ratio: null when den is 0.
CREATE OR REPLACE MACRO memtrace_ratio(num, den) AS
    CASE WHEN den = 0 THEN NULL ELSE num::DOUBLE / den::DOUBLE END;

-- Every recording, so a total is 0 where a table has no rows.
CREATE OR REPLACE VIEW memtrace_recording_list AS
SELECT DISTINCT host, recording FROM memtrace_recordings;

CREATE OR REPLACE VIEW memtrace_report AS

-- header: rows per table (tables with no rows are 0 in memana, absent here).
SELECT f.host, f.recording, 'header.rows{table="' || r.kind || '"}' AS figure,
       count(*)::DOUBLE AS value
FROM memtrace_rows r JOIN memtrace_recordings f USING (filename)
GROUP BY ALL

-- oom: kills, and per victim name.
UNION ALL
SELECT l.host, l.recording, 'oom.kills', count(v.ts_ns)
FROM memtrace_recording_list l LEFT JOIN oom_victim v USING (host, recording)
GROUP BY ALL
UNION ALL
SELECT host, recording, 'oom.kills{comm="' || coalesce(victim_comm, '') || '"}', count(*)
FROM oom_victim GROUP BY ALL

-- paf: allocation failures, per order and per highest zone.
UNION ALL
SELECT l.host, l.recording, 'paf.failures', count(p.ts_ns)
FROM memtrace_recording_list l LEFT JOIN paf p USING (host, recording)
GROUP BY ALL
UNION ALL
SELECT host, recording, 'paf.failures{order="' || "order" || '"}', count(*)
FROM paf GROUP BY ALL
UNION ALL
SELECT host, recording, 'paf.failures{zone="' || coalesce(highest_zone, '') || '"}', count(*)
FROM paf GROUP BY ALL

-- paf: the slow path (compaction checks and tries, reclaim retries).
UNION ALL
SELECT l.host, l.recording, 'paf.compact_suitable', count(c.ts_ns)
FROM memtrace_recording_list l LEFT JOIN compact_suitable c USING (host, recording)
GROUP BY ALL
UNION ALL
SELECT host, recording, 'paf.compact_suitable{result="' || coalesce(result, '') || '"}', count(*)
FROM compact_suitable GROUP BY ALL
UNION ALL
SELECT l.host, l.recording, 'paf.compact_try', count(c.ts_ns)
FROM memtrace_recording_list l LEFT JOIN compact_try c USING (host, recording)
GROUP BY ALL
UNION ALL
SELECT l.host, l.recording, 'paf.reclaim_retry', count(c.ts_ns)
FROM memtrace_recording_list l LEFT JOIN reclaim_retry c USING (host, recording)
GROUP BY ALL
UNION ALL
SELECT l.host, l.recording, 'paf.reclaim_retry_gave_up',
       count(c.ts_ns) - coalesce(sum(c.wmark_check::INTEGER), 0)
FROM memtrace_recording_list l LEFT JOIN reclaim_retry c USING (host, recording)
GROUP BY ALL

-- reclaim: time in direct / memcg / node reclaim per reclaimer.
UNION ALL
SELECT host, recording, 'reclaim.' || reclaimer || '.' || name, value
FROM (
    SELECT host, recording, coalesce(reclaimer, '') AS reclaimer,
           count(*) AS calls,
           memtrace_rank(list(duration_ns), 50) / 1e6 AS p50_ms,
           memtrace_rank(list(duration_ns), 90) / 1e6 AS p90_ms,
           memtrace_rank(list(duration_ns), 99) / 1e6 AS p99_ms,
           max(duration_ns) / 1e6 AS max_ms,
           coalesce(sum(duration_ns), 0) / 1e6 AS total_ms
    FROM reclaim_end GROUP BY ALL
) UNPIVOT (value FOR name IN (calls, p50_ms, p90_ms, p99_ms, max_ms, total_ms))
UNION ALL
SELECT host, recording, 'reclaim.' || coalesce(reclaimer, '') || '.begins', count(*)
FROM reclaim_begin GROUP BY ALL

-- reclaim: pages scanned and reclaimed off the inactive lists, overall, per
-- reclaimer and per reclaimer and list, with the shares of scanned pages.
UNION ALL
SELECT host, recording, prefix || '.' || name, value
FROM (
    SELECT host, recording,
           CASE WHEN GROUPING(reclaimer) = 1 THEN 'reclaim'
                WHEN GROUPING(lru) = 1 THEN 'reclaim.' || reclaimer
                ELSE 'reclaim.' || reclaimer || '.' || lru END AS prefix,
           GROUPING(lru) = 0 AS per_lru,
           sum(nr_scanned)::DOUBLE AS scanned,
           sum(nr_reclaimed)::DOUBLE AS reclaimed,
           memtrace_ratio(sum(nr_reclaimed), sum(nr_scanned)) AS efficiency,
           memtrace_ratio(sum(nr_dirty), sum(nr_scanned)) AS dirty_share,
           memtrace_ratio(sum(nr_writeback), sum(nr_scanned)) AS writeback_share,
           memtrace_ratio(sum(nr_congested), sum(nr_scanned)) AS congested_share,
           memtrace_ratio(sum(nr_immediate), sum(nr_scanned)) AS immediate_share
    FROM (SELECT host, recording, coalesce(reclaimer, '') AS reclaimer,
                 coalesce(lru, '') AS lru, nr_scanned, nr_reclaimed, nr_dirty,
                 nr_writeback, nr_congested, nr_immediate
          FROM lru_inactive)
    GROUP BY GROUPING SETS ((host, recording), (host, recording, reclaimer),
                            (host, recording, reclaimer, lru))
) UNPIVOT (value FOR name IN (scanned, reclaimed, efficiency, dirty_share,
                              writeback_share, congested_share, immediate_share))
WHERE per_lru OR name IN ('scanned', 'reclaimed', 'efficiency')
UNION ALL
-- No inactive-list pass: nothing scanned, nothing reclaimed.
SELECT l.host, l.recording, 'reclaim.' || name, 0
FROM memtrace_recording_list l, (VALUES ('scanned'), ('reclaimed')) n(name)
WHERE NOT EXISTS (SELECT 1 FROM lru_inactive i
                  WHERE i.host = l.host AND i.recording = l.recording)

-- reclaim: pages moved off the active lists.
UNION ALL
SELECT host, recording,
       'reclaim.' || coalesce(reclaimer, '') || '.' || coalesce(lru, '') || '.deactivated',
       sum(nr_deactivated)
FROM lru_active GROUP BY ALL

-- reclaim: kswapd balancing runs per node.
UNION ALL
SELECT host, recording, 'reclaim.kswapd.wakeups{node="' || node || '"}',
       count(*) FILTER (WHERE event = 'wake')
FROM kswapd GROUP BY ALL
UNION ALL
SELECT l.host, l.recording, 'reclaim.kswapd.wakeups',
       count(k.ts_ns) FILTER (WHERE k.event = 'wake')
FROM memtrace_recording_list l LEFT JOIN kswapd k USING (host, recording)
GROUP BY ALL

-- reclaim: slab shrinkers.
UNION ALL
SELECT host, recording, 'reclaim.slab.' || name || '{shrinker="' || shrinker || '"}', value
FROM (
    SELECT host, recording, coalesce(shrinker_fn, '') AS shrinker,
           count(*)::DOUBLE AS calls,
           coalesce(sum(duration_ns), 0) / 1e6 AS total_ms,
           max(duration_ns) / 1e6 AS max_ms
    FROM slab_end GROUP BY ALL
) UNPIVOT (value FOR name IN (calls, total_ms, max_ms))
UNION ALL
SELECT host, recording, 'reclaim.slab.' || name, value
FROM (
    SELECT l.host, l.recording, count(s.ts_ns)::DOUBLE AS calls,
           coalesce(sum(s.duration_ns), 0) / 1e6 AS total_ms
    FROM memtrace_recording_list l LEFT JOIN slab_end s USING (host, recording)
    GROUP BY ALL
) UNPIVOT (value FOR name IN (calls, total_ms))

-- compaction: direct compaction stalls. An attempt is a thread's
-- (pid, attempt_ts_ns); it stalled when it ran compaction, was deferred or
-- reset a zone's deferral; it succeeded when a reset came after it returned;
-- its time runs from the attempt to its last event.
UNION ALL
SELECT host, recording, 'compaction.' || name, value
FROM (
    SELECT host, recording,
           count(*)::DOUBLE AS stalls,
           count(*) FILTER (WHERE success)::DOUBLE AS success,
           count(*) FILTER (WHERE NOT success)::DOUBLE AS fail,
           memtrace_rank(list(duration_ns), 50) / 1e6 AS stall_p50_ms,
           memtrace_rank(list(duration_ns), 99) / 1e6 AS stall_p99_ms,
           max(duration_ns) / 1e6 AS stall_max_ms,
           sum(duration_ns) / 1e6 AS stall_total_ms
    FROM (
        SELECT host, recording, pid, attempt_ts_ns,
               greatest(max(ts_ns), attempt_ts_ns) - attempt_ts_ns AS duration_ns,
               bool_or(success) AS success
        FROM (
            SELECT host, recording, pid, attempt_ts_ns, ts_ns, 1 AS stalls, false AS success
            FROM compaction_run WHERE attempt_ts_ns IS NOT NULL
            UNION ALL
            SELECT host, recording, pid, attempt_ts_ns, ts_ns,
                   CASE WHEN event = 'deferred' THEN 1
                        WHEN event = 'defer_reset' AND NOT after_return THEN 1
                        ELSE 0 END,
                   event = 'defer_reset' AND after_return
            FROM compaction_defer WHERE attempt_ts_ns IS NOT NULL
        )
        GROUP BY host, recording, pid, attempt_ts_ns
        HAVING sum(stalls) > 0
    )
    GROUP BY host, recording
) UNPIVOT (value FOR name IN (stalls, success, fail, stall_p50_ms, stall_p99_ms,
                              stall_max_ms, stall_total_ms))

-- faults: minor and major, overall and per VMA kind.
UNION ALL
SELECT host, recording, 'faults.' || name || '{vma="' || vma || '"}', value
FROM (
    SELECT host, recording, coalesce(vma, '') AS vma,
           count(*) FILTER (WHERE NOT major)::DOUBLE AS minor,
           count(*) FILTER (WHERE major)::DOUBLE AS major
    FROM fault GROUP BY ALL
) UNPIVOT (value FOR name IN (minor, major))
UNION ALL
SELECT host, recording, 'faults.' || name, value
FROM (
    SELECT l.host, l.recording, count(f.ts_ns)::DOUBLE AS total,
           count(f.ts_ns) FILTER (WHERE NOT f.major)::DOUBLE AS minor,
           count(f.ts_ns) FILTER (WHERE f.major)::DOUBLE AS major
    FROM memtrace_recording_list l LEFT JOIN fault f USING (host, recording)
    GROUP BY ALL
) UNPIVOT (value FOR name IN (total, minor, major))

-- swap: pages in (one per swap_in row) and out.
UNION ALL
SELECT l.host, l.recording, 'swap.in_pages', count(s.ts_ns)
FROM memtrace_recording_list l LEFT JOIN swap_in s USING (host, recording)
GROUP BY ALL
UNION ALL
SELECT l.host, l.recording, 'swap.out_pages', coalesce(sum(s.pages), 0)
FROM memtrace_recording_list l LEFT JOIN swap_out s USING (host, recording)
GROUP BY ALL

-- growth: the highest RSS any process reached (VmHWM).
UNION ALL
SELECT host, recording, 'growth.peak_rss_bytes', max(rss_peak)
FROM procstat GROUP BY ALL

-- sysstat: each node counter's min, mean and max over the snapshots.
UNION ALL
SELECT host, recording, 'sysstat.' || field || '.' || name || '{node="' || node || '"}', value
FROM (
    SELECT host, recording, node, field,
           min(v)::DOUBLE AS min, sum(v)::DOUBLE / count(v) AS mean, max(v)::DOUBLE AS max
    FROM (
        UNPIVOT (
            SELECT host, recording, node, nr_free_pages, nr_active_anon, nr_inactive_anon,
                   nr_active_file, nr_inactive_file, nr_unevictable, nr_dirty, nr_writeback,
                   nr_writeback_temp, nr_anon_pages, nr_mapped, nr_file_pages, nr_shmem,
                   nr_kernel_misc_reclaimable, nr_slab_reclaimable, nr_slab_unreclaimable,
                   nr_anon_transparent_hugepages, nr_shmem_hugepages
            FROM sysstat
        ) ON COLUMNS(* EXCLUDE (host, recording, node)) INTO NAME field VALUE v
    )
    GROUP BY ALL
) UNPIVOT (value FOR name IN (min, mean, max))

-- mappings: calls, failed calls (an error) and p99 latency per call; bytes
-- mapped and unmapped (per call, a negative sum counts as 0).
UNION ALL
SELECT host, recording, 'mappings.' || name || '{call="' || call || '"}', value
FROM (
    SELECT host, recording, coalesce(call, '') AS call, count(*)::DOUBLE AS calls,
           count(error)::DOUBLE AS failed,
           memtrace_rank(list(duration_ns), 99) / 1e6 AS p99_ms
    FROM mapping_call GROUP BY ALL
) UNPIVOT (value FOR name IN (calls, failed, p99_ms))
UNION ALL
SELECT host, recording, 'mappings.' || name, value
FROM (
    SELECT host, recording, sum(calls)::DOUBLE AS calls, sum(failed)::DOUBLE AS failed,
           sum(greatest(mapped, 0))::DOUBLE AS mapped_bytes,
           sum(greatest(unmapped, 0))::DOUBLE AS unmapped_bytes
    FROM (
        SELECT l.host, l.recording, coalesce(m.call, '') AS call, count(m.ts_ns) AS calls,
               count(m.error) AS failed, coalesce(sum(m.mapped), 0) AS mapped,
               coalesce(sum(m.unmapped), 0) AS unmapped
        FROM memtrace_recording_list l LEFT JOIN mapping_call m USING (host, recording)
        GROUP BY ALL
    )
    GROUP BY ALL
) UNPIVOT (value FOR name IN (calls, failed, mapped_bytes, unmapped_bytes))
;

-- Rows of memana's tables: one row per cell, (host, recording, section,
-- tbl, row_key, name, value): row_key names the row as `column=value` pairs
-- (comma-separated), value is text. `memana report --format json --top 0`
-- has the same rows under sections.<section>.tables.<tbl>.rows.
CREATE OR REPLACE VIEW memtrace_report_rows AS

-- oom victims: who was killed, and its memory then.
SELECT host, recording, 'oom' AS section, 'victims' AS tbl,
       'ts_ns=' || ts_ns || ',victim_pid=' || victim_pid AS row_key, name, value
FROM (
    SELECT host, recording, ts_ns, victim_pid,
           victim_comm::VARCHAR AS victim_comm, uid::VARCHAR AS uid,
           oom_score_adj::VARCHAR AS oom_score_adj, total_vm::VARCHAR AS total_vm,
           anon_rss::VARCHAR AS anon_rss, file_rss::VARCHAR AS file_rss,
           shmem_rss::VARCHAR AS shmem_rss,
           (anon_rss + file_rss + shmem_rss)::VARCHAR AS rss,
           pgtables::VARCHAR AS pgtables, tgid::VARCHAR AS killer_tgid,
           comm::VARCHAR AS killer_comm, memcg_usage::VARCHAR AS memcg_usage,
           memcg_limit::VARCHAR AS memcg_limit
    FROM oom_victim
) UNPIVOT (value FOR name IN (victim_comm, uid, oom_score_adj, total_vm, anon_rss, file_rss,
                              shmem_rss, rss, pgtables, killer_tgid, killer_comm,
                              memcg_usage, memcg_limit))

-- growth processes: per process, its samples and its total RSS (rss_anon +
-- rss_file + rss_shmem) first, last and highest over the samples before its
-- exit (over the exit sample when there is nothing else), and its VmHWM peak.
-- A process is a tgid under one name: the group leader's (pid = tgid) comm
-- last first seen at or before the sample (an exec renames it; before any,
-- its first name), or without leader samples the comm of its lowest pid.
UNION ALL
SELECT host, recording, 'growth', 'processes', 'tgid=' || tgid || ',comm=' || name_, name, value
FROM (
    WITH leaders AS (
        SELECT host, recording, tgid, comm, min(ts_ns) AS since
        FROM procstat WHERE pid = tgid GROUP BY ALL
    ), firsts AS (
        SELECT host, recording, tgid, arg_min(comm, (since, comm)) AS first_name
        FROM leaders GROUP BY ALL
    ), lowest AS (
        SELECT host, recording, tgid, arg_min(comm, (pid, comm)) AS lowest_name
        FROM procstat WHERE pid <> tgid GROUP BY ALL
    ), named AS (
        SELECT p.*, p.rss_anon + p.rss_file + p.rss_shmem AS rss,
               coalesce(e.comm, f.first_name, l.lowest_name, '') AS name_
        FROM procstat p
        ASOF LEFT JOIN leaders e
            ON p.host = e.host AND p.recording = e.recording AND p.tgid = e.tgid
           AND p.ts_ns >= e.since
        LEFT JOIN firsts f
            ON p.host = f.host AND p.recording = f.recording AND p.tgid = f.tgid
        LEFT JOIN lowest l
            ON p.host = l.host AND p.recording = l.recording AND p.tgid = l.tgid
        WHERE p.reason <> 'synthetic'
    )
    SELECT host, recording, tgid, name_,
           count(*)::VARCHAR AS samples,
           min(ts_ns)::VARCHAR AS first_ts,
           max(ts_ns)::VARCHAR AS last_ts,
           CASE WHEN count(*) FILTER (WHERE reason <> 'exit') > 0
                THEN arg_min(rss, ts_ns) FILTER (WHERE reason <> 'exit')
                ELSE arg_min(rss, ts_ns) END::VARCHAR AS rss_first,
           CASE WHEN count(*) FILTER (WHERE reason <> 'exit') > 0
                THEN arg_max(rss, ts_ns) FILTER (WHERE reason <> 'exit')
                ELSE arg_max(rss, ts_ns) END::VARCHAR AS rss_last,
           CASE WHEN count(*) FILTER (WHERE reason <> 'exit') > 0
                THEN max(rss) FILTER (WHERE reason <> 'exit')
                ELSE max(rss) END::VARCHAR AS rss_max,
           max(rss_peak)::VARCHAR AS rss_peak,
           bool_or(reason = 'exit')::VARCHAR AS exited
    FROM named
    GROUP BY host, recording, tgid, name_
) UNPIVOT (value FOR name IN (samples, first_ts, last_ts, rss_first, rss_last, rss_max,
                              rss_peak, exited))
;
