#!/usr/bin/env bash
# The kernel's own cost of a uprobe hit, without any BPF program: a
# tracefs uprobe at FUNC+OFFSET in the C library, counted by `perf stat -p`
# on the malloc workload only (per task, so no other process traps), one
# probe at a time. Prints the workload's CPU time per hit above a run with
# nothing attached. Shows which entry instructions the kernel emulates
# (about 1 us per hit in a VM) and which it single-steps out of line (an
# extra trap, several us). Needs root and a build (scripts/bench.sh).
# Usage: bench/memleak-uprobe-cost.sh [FUNC[+OFFSET]...]   (default:
#   malloc free free+N, N = free's first instruction past a leading
#   `test %rdi,%rdi; je`, if it has one)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
libc=$(ldd "$BIN/membench" | awk '/libc\.so/ {print $3}')
libc=$(readlink -f "$libc")
pairs=${PAIRS:-100000}
# (awk reads to the end: an early exit would fail the pipe under pipefail)
sym() { nm -D --defined-only "$libc" | awk -v f="$1" '!d && ($3 == f || $3 ~ "^"f"@@") {print $1; d = 1}'; }
probes=("$@")
if ((${#probes[@]} == 0)); then
    probes=(malloc free)
    a=$((16#$(sym free)))
    # The instruction after free's NULL test, if it starts with one.
    next=$(objdump -d --start-address=$a --stop-address=$((a + 16)) "$libc" |
        awk '/^ *[0-9a-f]+:/ {n++; if (n == 1 && $0 !~ /test +%rdi,%rdi/) bad = 1;
             if (n == 3 && !bad) {sub(":", "", $1); print $1}}')
    if [[ -n $next ]]; then probes+=("free+$((16#$next - a))"); fi
fi
T=/sys/kernel/tracing
cpu() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['cpu_seconds'])" "$1"; }
dir=$(mktemp -d /var/tmp/memleak-uprobe.XXXXXX)
# (the probe is normally gone already: that write fails, the cleanup goes on)
trap '{ echo "-:mtcost/hit" >>$T/uprobe_events; } 2>/dev/null || true; rm -rf "$dir"' EXIT
run() { # run [perf event]: the workload's CPU seconds
    mkfifo "$dir/go"
    "$BIN/membench" work malloc --pairs "$pairs" --wait-stdin <"$dir/go" >"$dir/w.json" &
    local w=$! p=""
    exec 7>"$dir/go"
    if [[ -n ${1:-} ]]; then
        perf stat -x, -e "$1" -p "$w" -o "$dir/stat" &
        p=$!
        sleep 1
    fi
    echo go >&7
    exec 7>&-
    wait "$w"
    [[ -n $p ]] && wait "$p"
    rm -f "$dir/go"
    cpu "$dir/w.json"
}
base=$(run)
echo "$libc, malloc workload ($pairs pairs): nothing attached $base s CPU"
for p in "${probes[@]}"; do
    f=${p%%+*}
    off=0
    [[ $p == *+* ]] && off=${p#*+}
    addr=$(printf '0x%x' $((16#$(sym "$f") + off)))
    insn=$(objdump -d --start-address=$addr --stop-address=$((addr + 15)) "$libc" | awk -F'\t' '/^ *[0-9a-f]+:/ && !d {print $3; d = 1}')
    echo "p:mtcost/hit $libc:$addr" >>$T/uprobe_events
    c=$(run mtcost:hit)
    echo "-:mtcost/hit" >>$T/uprobe_events
    hits=$(awk -F, '/mtcost:hit/ {print $1 + 0}' "$dir/stat")
    if ((${hits:-0} == 0)); then
        echo "$p ($insn): not hit by the malloc workload"
        continue
    fi
    python3 -c "import sys; c, b, h = map(float, sys.argv[1:4]); print(f'{sys.argv[4]:<12} ({sys.argv[5]}): {int(h)} hits, {(c - b) / h * 1e9:.0f} ns per hit')" "$c" "$base" "$hits" "$p" "$insn"
done
