#!/usr/bin/env bash
# The analyzer benchmark: a synthetic recording of N million events with a
# realistic mix, `memana report` on it end to end (wall time, rows/s, peak
# memory), and the same figures computed by DuckDB on the same file.
# Usage: scripts/bench-analyzer.sh [MILLIONS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
millions="${1:-100}"
runs="${2:-3}"
file="${BENCH_FILE:-/var/tmp/memtrace-bench-${millions}m.parquet}"

cargo build --release -p memtrace-analyzer --bins --examples
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
