#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test. Tests that record
# a real kernel need root; without it they are skipped and say so.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

scripts/install-deps.sh
# pyarrow and DuckDB, where install-deps had to put them in a virtualenv.
if [[ -x $CARGO_TARGET_DIR/pyvenv/bin/python3 ]]; then
    export PATH="$CARGO_TARGET_DIR/pyvenv/bin:$PATH"
fi
cargo fmt --all -- --check
# One profile (release) for everything, so polars is compiled once.
cargo build --release --workspace --bins
cargo clippy --release --workspace --all-targets -- -D warnings
if [[ $(id -u) -ne 0 ]]; then
    echo "NOTE: not root: tests named root_* will report SKIPPED and check nothing." >&2
elif ! mountpoint -q /sys/kernel/tracing; then
    # The fidelity tests read the kernel's own trace output there.
    mount -t tracefs tracefs /sys/kernel/tracing
fi
# Root tests put the whole machine under memory pressure; cargo runs one
# test binary at a time, so they never overlap each other.
cargo test --release --workspace -- --test-threads=2
