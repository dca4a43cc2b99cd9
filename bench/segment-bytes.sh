#!/usr/bin/env bash
# Bytes per event of each segment, footer included, and of the merged file:
#
#   memrec record -o DIR/run.parquet --checkpoint CHECKPOINT
#   membench gen --mode storm --rate RATE --seconds SECONDS   (or WORKLOAD)
#
# The closed segments are copied just before the clean stop merges them,
# then each file's rows, bytes, footer and row groups are printed. The first
# and last segment (start-up, the cut at the stop) are left out of the
# per-segment figures.
#
# Usage: sudo bench/segment-bytes.sh [RATE] [CHECKPOINT] [SECONDS] [OUT_DIR]
#   RATE        storm rows/s asked of membench (default 5000)
#   CHECKPOINT  memrec's --checkpoint (default 10s)
#   SECONDS     how long the workload runs (default 42)
#   OUT_DIR     default a new directory under /var/tmp
# Env: WORKLOAD, a command to run instead of the storm (e.g. a loop of
#      `memscen run`); BIN (the built binaries, as scripts/env.sh sets it).
# Needs python3 with pyarrow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

rate=${1:-5000}
checkpoint=${2:-10s}
secs=${3:-42}
out=${4:-$(mktemp -d /var/tmp/segment-bytes.XXXXXX)}

[[ $(id -u) -eq 0 ]] || { echo "segment-bytes: run as root (memrec loads BPF programs)" >&2; exit 2; }
python3 -c "import pyarrow.parquet" 2>/dev/null || { echo "segment-bytes: python3 with pyarrow is needed (pip install pyarrow)" >&2; exit 2; }

mkdir -p "$out/segments"
"$BIN/memrec" record -o "$out/run.parquet" --checkpoint "$checkpoint" --no-progress \
    2>"$out/memrec.log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT
sleep 2
if [[ -n ${WORKLOAD:-} ]]; then
    timeout "$secs" bash -c "$WORKLOAD" >/dev/null 2>&1 || true
else
    "$BIN/membench" gen --mode storm --rate "$rate" --seconds "$secs" >"$out/gen.json" 2>/dev/null
fi
sleep 1
cp "$out"/run.parquet.segments/*.parquet "$out/segments/" 2>/dev/null || true
kill -INT "$pid"
wait "$pid" || true
trap - EXIT

python3 - "$out" "$checkpoint" <<'PY'
import glob, os, sys
import pyarrow.parquet as pq
out, checkpoint = sys.argv[1], sys.argv[2]
def stats(path):
    md = pq.ParquetFile(path).metadata
    size = os.path.getsize(path)
    return md.num_rows, size, md.serialized_size, md.num_row_groups
segs = [stats(p) for p in sorted(glob.glob(f"{out}/segments/*.parquet"))]
mid = segs[1:-1] if len(segs) > 2 else segs
print(f"--checkpoint {checkpoint}: {len(segs)} segments copied, {len(mid)} measured")
print("file\trows\tbytes\tbytes/row\tfooter\tfooter/row\trow groups")
for i, (n, size, footer, rgs) in enumerate(mid):
    if n:
        print(f"segment\t{n}\t{size}\t{size/n:.2f}\t{footer}\t{footer/n:.2f}\t{rgs}")
n, size, footer, rgs = stats(f"{out}/run.parquet")
print(f"merged\t{n}\t{size}\t{size/n:.2f}\t{footer}\t{footer/n:.2f}\t{rgs}")
PY
