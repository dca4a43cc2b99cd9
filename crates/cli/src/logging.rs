//! One logging setup for every memtrace tool: `tracing` to stderr, the
//! level from `-v` counts, overridden by `MEMTRACE_LOG` (an `EnvFilter`
//! directive such as `debug` or `memrec=trace`).

/// Environment variable that overrides the level for all tools.
pub const LOG_ENV: &str = "MEMTRACE_LOG";

/// Installs the subscriber: warnings by default, `-v` info, `-vv` debug,
/// `-vvv` trace. Safe to call once per process.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
