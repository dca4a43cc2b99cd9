#!/usr/bin/env python3
"""Runs memtrace's SQL on Spark in local mode over a hive layout that
`memana export --hive LAKE` wrote, and prints what it finds.

  spark_fleet.py --lake LAKE [--sql sql/spark] [--expect-rows N]

- The shipped views (SQL_DIR/views.sql) are run with `memtrace_lake` set to
  LAKE, as `spark-sql --conf memtrace_lake=LAKE -f views.sql` would; a
  view over a table that has no directory (no rows anywhere) is skipped.
  Without views.sql, each table directory is read as a view here.
- SQL_DIR/report.sql, when present, is run after them, and the figures of
  its memtrace_report view are summed up per figure across hosts.
- Then a few fleet questions in plain Spark SQL: rows per table and host,
  the largest processes, OOM kills, allocation failures.
- --expect-rows N: fail unless Spark reads N rows in all (the count
  `memana export` printed).
"""

import argparse
import os
import re
import sys
import time


def statements(text):
    """The SQL statements of a file: comments dropped, split on `;`."""
    out, cur, quote = [], [], None
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            cur.append(c)
            if c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
            cur.append(c)
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
            continue
        elif c == ";":
            s = "".join(cur).strip()
            if s:
                out.append(s)
            cur = []
        else:
            cur.append(c)
        i += 1
    s = "".join(cur).strip()
    if s:
        out.append(s)
    return out


def show(spark, title, sql, rows=40):
    print(f"\n== {title}")
    print(f"-- {' '.join(sql.split())}")
    t = time.time()
    df = spark.sql(sql)
    df.show(rows, truncate=False)
    print(f"({time.time() - t:.1f} s)")
    return df


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", required=True)
    ap.add_argument("--sql", default=None, help="directory of views.sql and report.sql")
    ap.add_argument("--expect-rows", type=int, default=None)
    ap.add_argument("--master", default="local[2]")
    a = ap.parse_args()
    lake = os.path.abspath(a.lake)
    tables = sorted(
        d for d in os.listdir(lake) if os.path.isdir(os.path.join(lake, d)) and not d.startswith(("_", "."))
    )
    if not tables:
        sys.exit(f"{lake}: no table directories (did `memana export --hive` write here?)")

    from pyspark.sql import SparkSession

    t0 = time.time()
    spark = (
        SparkSession.builder.master(a.master)
        .appName("memtrace-fleet")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "4")
        # host stays a string (a host named 007 too), date a YYYY-MM-DD string.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # What views.sql's ${memtrace_lake} stands for (Spark substitutes it).
    spark.conf.set("memtrace_lake", lake)
    print(f"Spark {spark.version} ({a.master}), Java {spark.sparkContext._jvm.java.lang.System.getProperty('java.version')}")
    print(f"lake: {len(tables)} tables ({time.time() - t0:.1f} s to start)")

    views_sql = os.path.join(a.sql, "views.sql") if a.sql else None
    report_sql = os.path.join(a.sql, "report.sql") if a.sql else None
    if views_sql and os.path.exists(views_sql):
        made, skipped = 0, []
        for s in statements(open(views_sql).read()):
            # A view over a table with no directory cannot be made: no rows.
            m = re.search(r"\$\{memtrace_lake\}/([A-Za-z0-9_]+)", s)
            if m and m.group(1) not in tables:
                skipped.append(m.group(1))
                continue
            spark.sql(s)
            made += 1
        print(f"{views_sql}: {made} statements run; views skipped (no rows in the lake): {', '.join(sorted(set(skipped))) or 'none'}")
    else:
        for t in tables:
            df = spark.read.option("basePath", os.path.join(lake, t)).parquet(os.path.join(lake, t))
            df.createOrReplaceTempView(f"{t}_files")
            spark.sql(
                f"CREATE OR REPLACE TEMPORARY VIEW {t} AS "
                f"SELECT *, timestamp_micros(time_ns DIV 1000) AS time FROM {t}_files"
            )
        print(f"no views.sql given: {len(tables)} views made here, one per table directory")

    have = {r.viewName for r in spark.sql("SHOW VIEWS").collect()}

    # Rows per table and host, and their sum against memana's count.
    union = " UNION ALL ".join(
        f"SELECT '{t}' AS tbl, host, count(*) AS n FROM {t} GROUP BY host" for t in tables if t in have
    )
    per = spark.sql(f"SELECT * FROM ({union})")
    per.createOrReplaceTempView("memtrace_rows_per_table")
    show(
        spark,
        "rows per host (all tables)",
        "SELECT host, count(DISTINCT tbl) AS tables, sum(n) AS rows FROM memtrace_rows_per_table GROUP BY host ORDER BY host",
    )
    total = spark.sql("SELECT sum(n) AS n FROM memtrace_rows_per_table").collect()[0].n
    print(f"rows read by Spark: {total}")
    if a.expect_rows is not None:
        if total != a.expect_rows:
            sys.exit(f"Spark read {total} rows, memana exported {a.expect_rows}")
        print(f"memana export wrote {a.expect_rows} rows: the same")

    show(
        spark,
        "recordings per host and day (UTC)",
        "SELECT host, to_date(time) AS day, count(DISTINCT recording) AS recordings, "
        "count(*) AS procstat_rows FROM procstat GROUP BY host, day ORDER BY host, day",
    )
    show(
        spark,
        "largest processes across the fleet (peak RSS, MiB)",
        "SELECT comm, count(DISTINCT host) AS hosts, "
        "round(max(rss_anon + rss_file + rss_shmem) / 1048576, 1) AS peak_rss_mib "
        "FROM procstat GROUP BY comm ORDER BY peak_rss_mib DESC LIMIT 10",
    )
    if "oom_victim" in have:
        show(
            spark,
            "OOM kills per host and victim",
            "SELECT host, victim_comm, count(*) AS kills, min(time) AS first "
            "FROM oom_victim GROUP BY host, victim_comm ORDER BY host, kills DESC",
        )
    if "paf" in have:
        show(
            spark,
            "allocation failures per order, across hosts",
            "SELECT `order`, count(DISTINCT host) AS hosts, count(*) AS failures "
            "FROM paf GROUP BY `order` ORDER BY `order`",
        )

    if report_sql and os.path.exists(report_sql):
        for s in statements(open(report_sql).read()):
            spark.sql(s)
        print(f"\n{report_sql}: run")
        show(
            spark,
            "memtrace_report: each figure across the fleet",
            "SELECT figure, count(DISTINCT host) AS hosts, count(*) AS recordings, "
            "min(value) AS min, max(value) AS max FROM memtrace_report "
            "GROUP BY figure ORDER BY figure",
            rows=60,
        )
    print(f"\ndone in {time.time() - t0:.1f} s")
    spark.stop()


if __name__ == "__main__":
    main()
