#!/usr/bin/env bash
# Re-records fixtures/: one recording per fixture, each around a memscen
# scenario with memscen's ground truth beside it. Needs root.
#
# Usage: scripts/make-fixtures.sh [--out DIR] [--bin DIR] [FIXTURE...]
#   --out DIR  write there instead of fixtures/ (the kernel matrix records
#              each kernel's fixtures into fixtures/kernels/<release>/)
#   --bin DIR  use memrec and memscen from DIR as they are; no cargo build
#   --list     print the fixtures (name, scenario, memrec --probes) and exit
#   default: every fixture of the table below; a name not in it records the
#   memscen scenario of that name with the default probe groups
set -euo pipefail
cd "$(dirname "$0")/.."

# name, memscen scenario, memrec --probes (none: the default groups), then
# any further memrec options (a task filter). A group's fixture records the
# default groups plus that group.
FIXTURES=(
    "memcg-reclaim memcg-reclaim"
    "oom oom"
    "alloc-fail alloc-fail"
    "leak leak"
    "swap swap"
    "fragment fragment"
    "mappings mappings +mappings"
    "compaction fragment +compaction"
    "faults leak +faults"
    "swap-inout swap +swap"
    "hugetlb hugetlb +hugetlb"
    "heap-leak heap-leak +memleak --comm memscen-heap"
    "slab-hold slab-hold +kmemleak --comm memscen-slab --kmem-cache sock_inode_cache,filp"
)

out_dir=fixtures
bin=
scenarios=()
while (($#)); do
    case $1 in
    --out) out_dir=$2 && shift 2 ;;
    --bin) bin=$2 && shift 2 ;;
    --list)
        printf '%s\n' "${FIXTURES[@]}"
        exit 0
        ;;
    -h | --help)
        sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "make-fixtures: unknown option $1" >&2
        exit 2
        ;;
    *) scenarios+=("$1") && shift ;;
    esac
done
if [[ -z $bin ]]; then
    source scripts/env.sh
    cargo build --release --workspace --bins
    bin=$BIN
fi
if ((${#scenarios[@]} == 0)); then
    for f in "${FIXTURES[@]}"; do
        scenarios+=("${f%% *}")
    done
fi
mkdir -p "$out_dir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for s in "${scenarios[@]}"; do
    scenario=$s
    probes=()
    for f in "${FIXTURES[@]}"; do
        read -r name sc pr more <<<"$f"
        if [[ $name == "$s" ]]; then
            scenario=$sc
            [[ -n $pr ]] && probes=(--probes "$pr")
            [[ -n $more ]] && read -ra more_args <<<"$more" && probes+=("${more_args[@]}")
            break
        fi
    done
    out="$out_dir/$s.parquet"
    "$bin/memrec" record -o "$out" --force --no-progress "${probes[@]}" \
        >"$out_dir/$s.summary.txt" 2>"$log" &
    rec=$!
    # The scenario starts once the probes are attached (slow on an emulated
    # machine), then runs at small scale.
    for ((i = 0; i < 600; i++)); do
        grep -q "recording to" "$log" && break
        kill -0 "$rec" 2>/dev/null || break
        sleep 0.5
    done
    if ! grep -q "recording to" "$log"; then
        cat "$log" >&2
        kill -INT "$rec" 2>/dev/null || true
        wait "$rec" || true
        echo "make-fixtures: memrec did not start recording for $s" >&2
        exit 1
    fi
    sleep 1
    "$bin/memscen" run "$scenario" --scale small --truth "$out_dir/$s.truth.json"
    sleep 1
    kill -INT $rec
    wait $rec
    echo "$s: $(stat -c %s "$out") bytes" >&2
done
