#!/usr/bin/env bash
# Re-records fixtures/: one recording per memscen scenario, with memscen's
# ground truth beside it. Needs root. Usage: scripts/make-fixtures.sh [SCENARIO...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace --bins

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(memcg-reclaim oom alloc-fail leak swap fragment)
for s in "${scenarios[@]}"; do
    out="fixtures/$s.parquet"
    "$BIN/memrec" record -o "$out" --force --no-progress >"fixtures/$s.summary.txt" 2>/dev/null &
    rec=$!
    # Give the probes time to attach, then run the scenario at small scale.
    sleep 2
    "$BIN/memscen" run "$s" --scale small --truth "fixtures/$s.truth.json"
    sleep 1
    kill -INT $rec
    wait $rec
    echo "$s: $(stat -c %s "$out") bytes" >&2
done
