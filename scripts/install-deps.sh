#!/usr/bin/env bash
# Installs the Debian packages memtrace needs to build (the BPF programs are
# compiled with clang; libbpf is built from source against libelf and zlib),
# and what its tests read our output with: Chromium (the HTML report),
# pyarrow, DuckDB and Perfetto's official protos (Python).
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(clang libelf-dev zlib1g-dev pkg-config make chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
python_deps() {
    # The tests open recordings in pyarrow and DuckDB, as a user would, and
    # parse Perfetto traces with Perfetto's own protos. Where python3 lacks
    # them, a virtualenv in the build cache gets them from PyPI
    # (scripts/test.sh puts it first on PATH).
    command -v python3 >/dev/null || return 0
    local check="import pyarrow, duckdb, perfetto.protos.perfetto.trace.perfetto_trace_pb2"
    python3 -c "$check" 2>/dev/null && return 0
    local venv="${CARGO_TARGET_DIR:-/var/tmp/memtrace-target}/pyvenv"
    if ! "$venv/bin/python3" -c "$check" 2>/dev/null; then
        echo "install-deps: installing pyarrow, duckdb and perfetto into $venv" >&2
        if ! python3 -m venv "$venv" 2>/dev/null && [[ $(id -u) -eq 0 ]]; then
            # Debian's python3 makes virtualenvs only with python3-venv.
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null &&
                python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install -q pyarrow duckdb perfetto ||
            echo "install-deps: could not install pyarrow, duckdb and perfetto; the tests that read our files with them will fail under MEMTRACE_REQUIRE_ROOT=1" >&2
    fi
}

if ((${#missing[@]} == 0)); then
    python_deps
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
python_deps
