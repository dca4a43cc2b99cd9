#!/usr/bin/env bash
# Where an allocation tracer's time goes, per BPF program: runs one
# `membench work` allocation workload (malloc or kmalloc) under a tracer
# with kernel.bpf_stats_enabled on, and prints the workload's CPU time and,
# for every BPF program loaded by the tracer, its runs and ns per run over
# the workload (stats add about 40-50 ns to every run). Needs root, a
# build (scripts/bench.sh builds) and python3.
# Usage: bench/memleak-bpfstats.sh WORKLOAD [WORK ARGS...] -- TRACER ARGS...
#   where {pid} in the tracer's arguments is the workload's pid, e.g.
#   bench/memleak-bpfstats.sh malloc -- "$BIN/memrec" record -o /tmp/r.parquet --force --probes memleak --pid {pid}
#   bench/memleak-bpfstats.sh kmalloc --ops 50000 -- bpftrace -p {pid} bench/memleak.bt {pid}
# The tracer's output goes to a scratch directory; the workload starts when
# the tracer says it is attached ("recording to" from memrec, "Attaching"
# from bpftrace and memleak, or $READY_TEXT), and 1.5 s later (bpftrace
# says it before its probes are attached).
# Programs on tracepoints run for every task's events, so their ns per op
# includes other processes' allocations.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
work=()
while (($#)) && [[ $1 != -- ]]; do
    work+=("$1")
    shift
done
[[ ${1:-} == -- ]] || { echo "usage: $0 WORKLOAD [ARGS] -- TRACER ARGS" >&2; exit 2; }
shift
dir=$(mktemp -d /var/tmp/memleak-bpfstats.XXXXXX)
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
tracer=""
wpid=""
cleanup() {
    [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null
    [[ -n $wpid ]] && kill "$wpid" 2>/dev/null
    echo "$stats_before" >/proc/sys/kernel/bpf_stats_enabled
    rm -rf "$dir"
}
trap cleanup EXIT
mkfifo "$dir/go"
"$BIN/membench" work "${work[@]}" --wait-stdin <"$dir/go" >"$dir/work.json" &
wpid=$!
exec 7>"$dir/go"
bpftool prog show --json >"$dir/others.json"
echo 1 >/proc/sys/kernel/bpf_stats_enabled
cmd=("${@//\{pid\}/$wpid}")
# Line-buffered, so a C tracer's "Attaching" line is in the file when printed.
stdbuf -oL "${cmd[@]}" >"$dir/tracer.out" 2>"$dir/tracer.err" &
tracer=$!
ready="${READY_TEXT:-recording to|Attaching}"
for _ in $(seq 1200); do
    grep -qE "$ready" "$dir/tracer.out" "$dir/tracer.err" && break
    kill -0 "$tracer" 2>/dev/null || { cat "$dir/tracer.err" >&2; exit 1; }
    sleep 0.1
done
sleep 1.5
bpftool prog show --json >"$dir/before.json"
echo go >&7
exec 7>&-
wait "$wpid"
wpid=""
bpftool prog show --json >"$dir/after.json"
kill -INT "$tracer"
wait "$tracer" || true
tracer=""
python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
load = lambda n: {p["id"]: p for p in json.load(open(f"{d}/{n}.json"))}
others, before, after = load("others"), load("before"), load("after")
w = json.load(open(f"{d}/work.json"))
ops = w["ops"]
print(f"workload {w['workload']}: {ops} ops, {w['seconds']:.3f} s wall, {w['cpu_seconds']:.3f} s CPU, "
      f"{w['cpu_seconds'] / ops * 1e9:.0f} ns CPU per op")
total = 0
for pid, p in sorted(before.items()):
    if pid in others or pid not in after:
        continue
    runs = after[pid].get("run_cnt", 0) - p.get("run_cnt", 0)
    ns = after[pid].get("run_time_ns", 0) - p.get("run_time_ns", 0)
    if runs:
        total += ns
        print(f"  {p.get('name', '?'):<20} {runs:>10} runs {ns / runs:>8.0f} ns/run  {ns / ops:>8.0f} ns per op")
print(f"  all programs: {total / ops:.0f} ns per op")
EOF
