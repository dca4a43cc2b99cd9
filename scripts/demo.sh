#!/usr/bin/env bash
# The main job, end to end: build, record a few seconds of this machine while
# a small workload of our own makes memory pressure, then report on it.
# Needs root (recording loads BPF programs). Usage: scripts/demo.sh [OUT.parquet]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-demo.parquet}"

scripts/install-deps.sh
cargo build --release --workspace --bins

"$BIN/memrec" record -o "$out" --force --duration 12s &
rec=$!
trap 'kill -INT $rec 2>/dev/null || true' EXIT
sleep 2
# A memcg with a 64 MiB limit that reads a large file and grows its heap,
# an OOM kill inside a memcg, and a process that leaks 4 MiB/s.
"$BIN/memscen" run memcg-reclaim
"$BIN/memscen" run oom
"$BIN/memscen" run leak --scale small
wait $rec
trap - EXIT

"$BIN/memana" report "$out"
