#!/usr/bin/env bash
# The main job, end to end: build, record a small workload of our own that
# makes memory pressure (memrec starts it and ends with it), then report on it.
# Needs root (recording loads BPF programs). Usage: scripts/demo.sh [OUT.parquet]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${1:-demo.parquet}"

scripts/install-deps.sh
cargo build --release --workspace --bins

# A memcg with a 64 MiB limit that reads a large file and grows its heap,
# an OOM kill inside a memcg, and a process that leaks 4 MiB/s. memrec starts
# the workload once its probes are live, records it and the processes it
# starts (only those), and stops when it ends, with its exit status.
"$BIN/memrec" record -o "$out" --force -- sh -ec '
    "$1" run memcg-reclaim
    "$1" run oom
    "$1" run leak --scale small' sh "$BIN/memscen"

"$BIN/memana" report "$out"
