#!/usr/bin/env bash
# The analyzer benchmark: a synthetic recording of N million events with a
# realistic mix, `memana report` on it end to end (wall time, rows/s, peak
# memory), and the same figures computed by DuckDB on the same file; the
# HTML page beside the JSON report; `memana sql` beside DuckDB (through the
# shipped views) on the same queries; and a fleet of 50 recordings (copies of
# the fixtures under other hosts) reported on and queried.
# Usage: scripts/bench-analyzer.sh [MILLIONS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
millions="${1:-100}"
runs="${2:-3}"
file="${BENCH_FILE:-/var/tmp/memtrace-bench-${millions}m.parquet}"

cargo build --release -p memtrace-analyzer --bins --examples
cargo build --release -p memtrace-bench --bins
python3 -c "import duckdb" 2>/dev/null || pip install --quiet duckdb
if [[ ! -f $file ]]; then
    echo "generating $file ($millions million events)" >&2
    "$BIN/examples/bench_gen" "$file" "$millions"
fi
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file: $file, $(stat -c %s "$file") bytes"
for i in $(seq "$runs"); do
    /usr/bin/time -f "memana report: %e s wall, %U s user, %S s sys, peak RSS %M KiB" \
        "$BIN/memana" report "$file" --format json >/dev/null
done
for i in $(seq "$runs"); do
    python3 crates/analyzer/benches/duckdb_report.py "$file" "$(nproc)" | tail -2 | tr '\n' ' '
    echo
done

# Each run times the JSON report and the HTML page back to back, so the
# page's cost is read from neighbours under the same load.
html="${TMPDIR:-/tmp}/memtrace-bench-report.html"
for i in $(seq "$runs"); do
    /usr/bin/time -f "memana report --format json: %e s wall, %U s user, peak RSS %M KiB" \
        "$BIN/memana" report "$file" --format json >/dev/null
    /usr/bin/time -f "memana report --format html: %e s wall, %U s user, peak RSS %M KiB" \
        "$BIN/memana" report "$file" --format html -o "$html"
    echo "html page: $(stat -c %s "$html") bytes"
done

# memana sql and DuckDB (the shipped views) on the same queries.
queries=(
    "SELECT comm, max(rss_anon + rss_file + rss_shmem) AS peak FROM procstat GROUP BY comm ORDER BY peak DESC"
    "SELECT reclaimer, count(*) AS n, avg(duration_ns) AS mean_ns, max(duration_ns) AS max_ns FROM reclaim_end GROUP BY reclaimer"
)
for q in "${queries[@]}"; do
    echo "query: $q"
    for i in $(seq "$runs"); do
        /usr/bin/time -f "memana sql: %e s wall, %U s user, peak RSS %M KiB" \
            "$BIN/memana" sql "$file" "$q" --format csv >/dev/null
        python3 crates/analyzer/benches/duckdb_sql.py "$(nproc)" "$q" "$file"
    done
done

# A fleet: 5 copies of 10 fixtures under 5 hosts = 50 recordings.
fleet="${FLEET_DIR:-/var/tmp/memtrace-bench-fleet50}"
rm -rf "$fleet"
"$BIN/membench" fleet --copies 5 --out "$fleet" \
    fixtures/{oom,leak,alloc-fail,memcg-reclaim,compaction,faults,swap,mappings,hugetlb,slab-hold}.parquet >/dev/null
echo "fleet: $(find "$fleet" -name '*.parquet' | wc -l) recordings, $(du -sb "$fleet" | cut -f1) bytes"
fq="SELECT host, count(*) AS samples, max(rss_anon) AS peak_anon FROM procstat GROUP BY host ORDER BY host"
for i in $(seq "$runs"); do
    /usr/bin/time -f "memana report (50 recordings, json): %e s wall, %U s user, peak RSS %M KiB" \
        "$BIN/memana" report "$fleet" --format json >/dev/null
    /usr/bin/time -f "memana report (50 recordings, text): %e s wall, %U s user, peak RSS %M KiB" \
        "$BIN/memana" report "$fleet" >/dev/null
    /usr/bin/time -f "memana sql (50 recordings): %e s wall, %U s user, peak RSS %M KiB" \
        "$BIN/memana" sql "$fleet" "$fq" --format csv >/dev/null
    python3 crates/analyzer/benches/duckdb_sql.py "$(nproc)" "$fq" "$fleet/*/*.parquet"
done
