#!/usr/bin/env bash
# memtrace on Spark: a fleet made of the fixtures (copies under several host
# names, spread over two days, by `membench fleet`), exported with
# `memana export --hive`, and the shipped Spark SQL (sql/spark/views.sql and
# report.sql) run over it in Spark local mode by scripts/spark_fleet.py.
# pyspark comes from PyPI into a venv in the build directory, Java from
# Debian when missing. Not part of CI (a JVM and a few hundred MB of
# pyspark); docs/FLEETS.md shows a run.
#
# Usage: scripts/spark-fleet.sh [HOSTS]          (default 4)
# Env:   SPARK_FLEET_DIR  where the fleet and the lake go
#                         (default: $CARGO_TARGET_DIR/spark-fleet, emptied first)
#        KEEP_BUILD=1     skip the cargo build
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
hosts="${1:-4}"
work="${SPARK_FLEET_DIR:-$CARGO_TARGET_DIR/spark-fleet}"
venv="$CARGO_TARGET_DIR/sparkvenv"

if [[ "${KEEP_BUILD:-}" != 1 ]]; then
    cargo build --release -p memtrace-analyzer -p memtrace-bench --bins
fi

# Spark 4 needs Java 17 or later.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [[ "$(java_major)" -lt 17 ]]; then
    echo "installing a Java runtime (Debian's default-jre-headless)" >&2
    apt-get update -qq
    apt-get install -y -qq default-jre-headless >/dev/null ||
        apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if ! "$venv/bin/python" -c "import pyspark" 2>/dev/null; then
    echo "installing pyspark into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet pyspark
fi

rm -rf "$work"
mkdir -p "$work"
echo "\$ membench fleet --copies $hosts --days 2 --out fleet fixtures/*.parquet"
"$BIN/membench" fleet --copies "$hosts" --days 2 --out "$work/fleet" fixtures/*.parquet
echo "\$ memana export 'fleet/*/*.parquet' --hive lake"
said="$("$BIN/memana" export "$work/fleet/*/*.parquet" --hive "$work/lake")"
echo "${said/$work\//}"
rows="$(sed -n 's/.* \([0-9]*\) rows$/\1/p' <<<"$said")"
echo "\$ du -sh fleet lake; find lake -name '*.parquet' | wc -l"
(cd "$work" && du -sh fleet lake && find lake -name '*.parquet' | wc -l)

sql=()
if [[ -f sql/spark/views.sql ]]; then
    sql=(--sql sql/spark)
else
    echo "(no sql/spark/views.sql in this tree: views made by spark_fleet.py)"
fi
echo "\$ python scripts/spark_fleet.py --lake lake ${sql[*]} --expect-rows $rows"
"$venv/bin/python" scripts/spark_fleet.py --lake "$work/lake" "${sql[@]}" --expect-rows "$rows"
