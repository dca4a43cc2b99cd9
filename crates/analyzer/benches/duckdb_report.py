"""The figures of `memana report` computed by DuckDB on the same file, for
the analyzer benchmark (scripts/bench-analyzer.sh). Prints wall time per
section, the total, and peak RSS of this process."""
import resource
import sys
import time

import duckdb

path = sys.argv[1]
threads = sys.argv[2] if len(sys.argv) > 2 else "2"
con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
src = f"read_parquet('{path}')"

fields = ["rss_anon", "rss_file", "rss_shmem", "swap", "vsize", "pgtables", "stack", "data", "rss_peak"]
per_field = ", ".join(
    f'arg_min("procstat.{f}", ts_ns), arg_max("procstat.{f}", ts_ns), max("procstat.{f}")' for f in fields
)
rss = '("procstat.rss_anon" + "procstat.rss_file" + "procstat.rss_shmem")'
queries = {
    "header": f"SELECT kind, count(*), min(ts_ns), max(ts_ns) FROM {src} GROUP BY kind",
    "growth": f"""
        SELECT tgid, count(*), min(ts_ns), max(ts_ns), max({rss}),
               regr_slope({rss}, ts_ns) FILTER (WHERE "procstat.reason" <> 'exit') * 1e9,
               regr_r2({rss}, ts_ns) FILTER (WHERE "procstat.reason" <> 'exit'),
               bool_or("procstat.reason" = 'exit'), {per_field}
        FROM {src} WHERE kind = 'procstat' GROUP BY tgid""",
    "reclaim_lru": f"""
        SELECT "lru_inactive.reclaimer", "lru_inactive.lru",
               sum("lru_inactive.nr_scanned"), sum("lru_inactive.nr_reclaimed"),
               sum("lru_inactive.nr_dirty"), sum("lru_inactive.nr_writeback"),
               sum("lru_inactive.nr_congested"), sum("lru_inactive.nr_immediate")
        FROM {src} WHERE kind = 'lru_inactive' GROUP BY ALL""",
    "reclaim_priority": f"""
        SELECT "lru_inactive.reclaimer", "lru_inactive.priority", count(*)
        FROM {src} WHERE kind = 'lru_inactive' GROUP BY ALL""",
    "reclaim_active": f"""
        SELECT "lru_active.reclaimer", "lru_active.lru", sum("lru_active.nr_deactivated")
        FROM {src} WHERE kind = 'lru_active' GROUP BY ALL""",
    "reclaim_latency": f"""
        SELECT "reclaim_end.reclaimer", count(*),
               quantile_disc("reclaim_end.duration_ns", [0.5, 0.9, 0.99]), max("reclaim_end.duration_ns"),
               sum("reclaim_end.duration_ns")
        FROM {src} WHERE kind = 'reclaim_end' GROUP BY ALL""",
    "reclaim_latency_per_process": f"""
        SELECT "reclaim_end.reclaimer", tgid, count(*),
               quantile_disc("reclaim_end.duration_ns", [0.5, 0.9, 0.99]), max("reclaim_end.duration_ns")
        FROM {src} WHERE kind = 'reclaim_end' GROUP BY ALL""",
    "kswapd": f"""
        SELECT "kswapd.node", "kswapd.event", count(*) FROM {src} WHERE kind = 'kswapd' GROUP BY ALL""",
    "slab": f"""
        SELECT "slab_end.shrinker_fn", count(*), sum("slab_end.duration_ns"), max("slab_end.duration_ns")
        FROM {src} WHERE kind = 'slab_end' GROUP BY ALL""",
    "sysstat": f"""
        SELECT "sysstat.node", min("sysstat.nr_free_pages"), avg("sysstat.nr_free_pages"),
               max("sysstat.nr_free_pages"), regr_slope("sysstat.nr_free_pages", ts_ns)
        FROM {src} WHERE kind = 'sysstat' GROUP BY ALL""",
    "paf": f"""
        SELECT p."paf.order", p."paf.gfp", z."zone.zone", count(*)
        FROM (SELECT * FROM {src} WHERE kind = 'paf') p
        JOIN (SELECT * FROM {src} WHERE kind = 'zone' AND "zone.trigger" = 'alloc_fail') z
          ON p.ts_ns = z.ts_ns
        GROUP BY ALL""",
}
total = 0.0
for name, q in queries.items():
    t0 = time.perf_counter()
    con.execute(q).fetchall()
    dt = time.perf_counter() - t0
    total += dt
    print(f"{name:<28} {dt:8.3f} s")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{'total':<28} {total:8.3f} s")
print(f"peak RSS {peak:.0f} MiB")
