#!/usr/bin/env bash
# memrec's memory over a long rotating recording at the load-test rate:
#
#   memrec record --load-test RATE -o DIR/ --rotate 1m --max-size 4G
#
# for DURATION seconds, sampling memrec's VmRSS and VmHWM (/proc/PID/status)
# every 10 s into a TSV, then a summary: RSS min/median/max, the first
# against the last 10 minutes (flat means no footer or index grows with the
# recording), the rows per second the files hold, and bytes per event of
# each rotated file, footer included.
#
# Usage: sudo bench/rotate-rss.sh [DURATION_S] [OUT_DIR]
#   DURATION_S  default 3600
#   OUT_DIR     default a new directory under /var/tmp; it gets rss.tsv,
#               files.tsv, summary.txt, memrec.log and the recording in runs/
# Env: RATE (default 2000000 rows/s), ROTATE (1m), MAX_SIZE (4G),
#      EVERY (sampling period, s; 10), BIN (the built binaries; as
#      scripts/env.sh sets it). Needs python3 with pyarrow for the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

duration=${1:-3600}
out=${2:-$(mktemp -d /var/tmp/rotate-rss.XXXXXX)}
rate=${RATE:-2000000}
rotate=${ROTATE:-1m}
max_size=${MAX_SIZE:-4G}
every=${EVERY:-10}
memrec="$BIN/memrec"

[[ $(id -u) -eq 0 ]] || { echo "rotate-rss: run as root (memrec loads BPF programs)" >&2; exit 2; }
[[ -x $memrec ]] || { echo "rotate-rss: $memrec missing: cargo build --release --workspace --bins" >&2; exit 2; }
python3 -c "import pyarrow.parquet" 2>/dev/null || { echo "rotate-rss: python3 with pyarrow is needed for the summary (pip install pyarrow)" >&2; exit 2; }

mkdir -p "$out/runs"
# The disk must hold --max-size plus a period being merged.
avail_kb=$(df -Pk "$out" | awk 'NR == 2 { print $4 }')
echo "rotate-rss: $duration s at $rate rows/s, --rotate $rotate --max-size $max_size into $out/runs (disk: $((avail_kb / 1024)) MiB free)" >&2

"$memrec" record --no-progress --load-test "$rate" -o "$out/runs/" \
    --rotate "$rotate" --max-size "$max_size" -d "${duration}s" \
    >"$out/memrec.out" 2>"$out/memrec.log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' INT TERM

printf 't_s\tvmrss_kb\tvmhwm_kb\tfiles\tdir_bytes\n' >"$out/rss.tsv"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    now=$(($(date +%s) - start))
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n $rss ]] || break
    files=$(find "$out/runs" -maxdepth 1 -name 'memrec-*.parquet' | wc -l)
    bytes=$(du -sb "$out/runs" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\n' "$now" "$rss" "$hwm" "$files" "$bytes" >>"$out/rss.tsv"
    sleep "$every"
done
status=0
wait "$pid" || status=$?
trap - INT TERM
echo "rotate-rss: memrec exited with $status after $(($(date +%s) - start)) s" >&2
tail -n 5 "$out/memrec.log" >&2 || true

python3 - "$out" "$duration" "$rate" <<'EOF' | tee "$out/summary.txt"
import glob, json, os, statistics, struct, sys
import pyarrow.parquet as pq

out, duration, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

rows = []
with open(os.path.join(out, "rss.tsv")) as f:
    next(f)
    for line in f:
        t, rss, hwm, files, size = line.split("\t")
        rows.append((int(t), int(rss), int(hwm)))
if not rows:
    sys.exit("no RSS samples: memrec ended at once (see memrec.log)")
rss = [r[1] for r in rows]
mib = lambda kb: kb / 1024
print(f"RSS samples: {len(rows)} over {rows[-1][0]} s")
print(f"VmRSS MiB: min {mib(min(rss)):.1f}  median {mib(statistics.median(rss)):.1f}  max {mib(max(rss)):.1f}; VmHWM at the end {mib(rows[-1][2]):.1f}")
# First against last 10 minutes; a quarter of the run each when shorter.
# The first sample (of a short run) or minute (of a long one) is left out
# of the first window: memrec is still starting and filling its buffers.
total = rows[-1][0]
w = min(600, max(total // 4, 1))
skip = 60 if total >= 1200 else (rows[1][0] if len(rows) > 1 else 0)
first = [r[1] for r in rows if skip <= r[0] < skip + w]
last = [r[1] for r in rows if r[0] > total - w]
if first and last:
    a, b = statistics.median(first), statistics.median(last)
    print(f"median VmRSS, {skip}..{skip + w} s: {mib(a):.1f} MiB; last {w} s: {mib(b):.1f} MiB; change {mib(b - a):+.1f} MiB ({(b - a) / a * 100:+.1f} %)")

def footer_len(path):
    with open(path, "rb") as f:
        f.seek(-8, os.SEEK_END)
        n, magic = struct.unpack("<I4s", f.read(8))
    return n + 8 if magic == b"PAR1" else None

files = sorted(glob.glob(os.path.join(out, "runs", "memrec-*.parquet")))
table = []
for p in files:
    md = pq.ParquetFile(p).metadata
    meta = json.loads(md.metadata[b"memtrace.meta"])
    n = sum(meta["rows"].values())
    events = sum(x["events"] for x in meta["probes"])
    lost = sum(x["lost"] for x in meta["probes"])
    span = (meta["end_ns"] - meta["start_ns"]) / 1e9
    size = os.path.getsize(p)
    foot = footer_len(p)
    seg = meta.get("segment") or {}
    table.append((os.path.basename(p), seg.get("first"), seg.get("last"), span, n, events, lost,
                  size, foot, md.num_row_groups))
with open(os.path.join(out, "files.tsv"), "w") as f:
    f.write("file\tseg_first\tseg_last\tspan_s\trows\tevents\tlost\tbytes\tfooter_bytes\trow_groups\tbytes_per_row\tfooter_share\n")
    for r in table:
        bpr = r[7] / r[4] if r[4] else 0
        share = r[8] / r[7] if r[8] else 0
        f.write("\t".join(str(x) for x in r) + f"\t{bpr:.3f}\t{share:.4f}\n")
if table:
    span = sum(r[3] for r in table)
    n = sum(r[4] for r in table)
    lost = sum(r[6] for r in table)
    size = sum(r[7] for r in table)
    bpr = [r[7] / r[4] for r in table if r[4]]
    share = [r[8] / r[7] for r in table if r[8]]
    print(f"files kept: {len(table)} ({size / 2**20:.0f} MiB), segments {table[0][1]}..{table[-1][2]}")
    print(f"rows/s in the kept files: {n / span:,.0f} (asked {rate:,}); records lost in the kernel: {lost:,}")
    print(f"bytes per row, per file (footer included): min {min(bpr):.2f}  median {statistics.median(bpr):.2f}  max {max(bpr):.2f}")
    print(f"footer share per file: min {min(share) * 100:.1f} %  median {statistics.median(share) * 100:.1f} %  max {max(share) * 100:.1f} %")
else:
    print("no rotated files")
print(f"details: {out}/rss.tsv, {out}/files.tsv")
EOF
exit "$status"
