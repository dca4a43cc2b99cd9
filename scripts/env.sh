# Sourced by the other scripts: one build directory outside the clone, so a
# fresh clone on the same machine reuses the (slow) dependency build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/memtrace-target}"
export BIN="$CARGO_TARGET_DIR/release"
