//! Writes a synthetic recording for manual runs and benchmarks:
//! `cargo run --release -p memtrace-analyzer --example synth -- OUT.parquet [SCALE]`
//! (SCALE multiplies the high-rate reclaim rows; 1 ≈ 12 k rows).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "synth.parquet".into());
    let scale: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut b = common::scenario::build(scale);
    b.rows_per_group = 100_000;
    b.write(std::path::Path::new(&out));
    eprintln!("wrote {} rows to {out}", b.rows.len());
}
