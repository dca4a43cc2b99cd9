#!/usr/bin/env bash
# The benchmark suite of issue #5: memrec against bpftrace, ftrace
# (trace_pipe_raw, the way trace-cmd records) and perf, on this machine.
# Needs root. Installs bpftrace, linux-perf, stress-ng, trace-cmd (and bpftool) from
# Debian if they are missing, builds memrec and membench (release), then runs
# `membench suite`, which writes OUT/results.json and OUT/report.md.
#
# Usage: scripts/bench.sh [--quick] [--wait-quiet SECONDS] [membench suite options...]
#   --quick         short runs (about 5 minutes): checks the suite, not the numbers
#   --wait-quiet N  first wait up to N s for a 1-minute load average below 0.5
# The full run takes about 45 minutes; a subset, e.g.
#   scripts/bench.sh --sections paired,faults,overhead,groups,bpfcost --tools none,memrec
# (every page fault against ftrace/perf/bpftrace, the defaults, each group's
# BPF cost) about 20. See docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if [[ $(id -u) -ne 0 ]]; then
    echo "bench: needs root (it loads BPF programs, creates memcgs and a tracefs instance)" >&2
    exit 1
fi
scripts/install-deps.sh
packages=(bpftrace linux-perf stress-ng bpftool trace-cmd)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bench: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo build --release -p memtrace-recorder -p memtrace-bench --bins
# memana is timed when it builds; the suite says so when it does not.
cargo build --release -p memtrace-analyzer --bins || echo "bench: memana did not build; not timed" >&2

# Run private copies, so that a rebuild in the shared target directory during
# the run cannot change the binaries being measured.
bin=$(mktemp -d /var/tmp/membench-bin.XXXXXX)
cp "$BIN/memrec" "$BIN/membench" "$bin/"
[[ -x "$BIN/memana" ]] && cp "$BIN/memana" "$bin/"
# Whatever happens, leave no generator, memcg or tracefs instance behind.
trap '"$bin/membench" cleanup || true; rm -rf "$bin"' EXIT
echo "bench: $(uptime)" >&2
"$bin/membench" suite --script bench/memrec.bt "$@"
