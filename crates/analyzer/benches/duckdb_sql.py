"""One SQL query in DuckDB over recordings through the shipped views
(sql/duckdb/views.sql), as a user would run it, for the analyzer benchmark
(scripts/bench-analyzer.sh): prints the wall time, rows returned and peak
RSS of this process.
Usage: duckdb_sql.py THREADS QUERY FILE_OR_GLOB..."""
import resource
import sys
import time

import duckdb

threads, query, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
t0 = time.time()
con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
files = []
for p in paths:
    files += [r[0] for r in con.execute("SELECT file FROM glob(?)", [p]).fetchall()]
con.execute("SET VARIABLE memtrace_files = ?", [files])
with open("sql/duckdb/views.sql") as f:
    con.execute(f.read())
rows = con.execute(query).fetchall()
wall = time.time() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"duckdb sql: {wall:.2f} s wall, {len(rows)} rows, peak RSS {rss} KiB")
