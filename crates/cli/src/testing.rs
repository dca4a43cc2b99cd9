//! For the test suites: the one rule for tests that need root.
//!
//! Without root such a test says SKIPPED and passes, so that `cargo test`
//! works on a laptop. Under `MEMTRACE_REQUIRE_ROOT=1`, which CI sets, a skip
//! fails the test instead: there a skip is always a bug.

/// Set to `1` to make a root test that would skip fail instead.
pub const REQUIRE_ROOT_ENV: &str = "MEMTRACE_REQUIRE_ROOT";

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Returns true (after printing `SKIPPED test: why`) when the test must
/// do nothing because it is not root; panics instead under
/// `MEMTRACE_REQUIRE_ROOT=1`.
pub fn skip_unless_root(test: &str, why: &str) -> bool {
    if is_root() {
        return false;
    }
    if std::env::var(REQUIRE_ROOT_ENV).is_ok_and(|v| v == "1") {
        panic!("{test} needs root ({why}), and {REQUIRE_ROOT_ENV}=1 forbids skipping it");
    }
    eprintln!("SKIPPED {test}: {why}, needs root");
    true
}
