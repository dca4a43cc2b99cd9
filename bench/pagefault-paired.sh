#!/usr/bin/env bash
# Paired check of memrec's page-fault overhead: the page-fault workload
# pinned to CPU 0, alternately with nothing attached and under
# `memrec record` (defaults), PAIRS times; then the same with a nice-19
# spinner on CPU 1 (so the other vCPU is never idle). Pairs cancel the slow
# drift of a shared VM that unpaired medians do not. Prints wall and CPU
# seconds of the work (CPU time leaves out the time other processes held
# the CPU). Needs root and a build (scripts/bench.sh builds).
# Usage: [MEMREC_ARGS="--probes faults"] bench/pagefault-paired.sh [PAIRS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
pairs="${1:-5}"
out=$(mktemp -d /var/tmp/membench-paired.XXXXXX)
spin=""
rec=""
cleanup() {
    [[ -n $rec ]] && kill -INT "$rec" 2>/dev/null && wait "$rec" 2>/dev/null
    [[ -n $spin ]] && kill "$spin" 2>/dev/null && wait "$spin" 2>/dev/null
    rm -rf "$out"
}
trap cleanup EXIT
read -r -a memrec_args <<<"${MEMREC_ARGS:-}"
# Prints "wall cpu" seconds of one run.
pf() {
    taskset -c 0 "$BIN/membench" work pagefault --mib 256 --rounds 8 |
        python3 -c "import json,sys; r=json.load(sys.stdin); print(round(r['seconds'], 3), round(r.get('cpu_seconds') or 0, 3))"
}
for spinner in 0 1; do
    if ((spinner)); then
        taskset -c 1 nice -n 19 timeout 600 sh -c 'while :; do :; done' &
        spin=$!
    fi
    for i in $(seq "$pairs"); do
        read -r a ac <<<"$(pf)"
        "$BIN/memrec" record -o "$out/r.parquet" --force --no-progress "${memrec_args[@]}" >/dev/null 2>"$out/err" &
        rec=$!
        for _ in $(seq 600); do grep -q "recording to" "$out/err" && break; sleep 0.1; done
        read -r b bc <<<"$(pf)"
        kill -INT "$rec"
        wait "$rec" || true
        rec=""
        echo "spinner=$spinner pair=$i none=$a memrec=$b ratio=$(python3 -c "print(round($b/$a, 3))") cpu_none=$ac cpu_memrec=$bc cpu_ratio=$(python3 -c "print(round($bc/$ac, 3) if $ac else 0)") load=$(cut -d' ' -f1-3 /proc/loadavg)"
    done
    if ((spinner)); then
        kill "$spin"
        wait "$spin" 2>/dev/null || true
        spin=""
    fi
done
