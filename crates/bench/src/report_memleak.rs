//! The `memleak` section's tables: each allocation tracer's cost on the
//! malloc-heavy and the kmalloc-heavy workload, per traced operation above
//! nothing attached and above the empty-probe floor.

use std::fmt::Write;

use crate::report::median;
use crate::results::{MemleakRound, Results};
use crate::tracers::TraceResult;

/// Recorders in the order they are reported.
const RECORDERS: [&str; 7] = [
    "none",
    "floor",
    "memrec",
    "memrec-sampled",
    "memrec-system",
    "memleak",
    "bpftrace",
];

/// memrec tables that hold allocation events.
const ALLOC_TABLES: [&str; 4] = ["user_alloc", "user_free", "kernel_alloc", "kernel_free"];

fn cpu(r: &MemleakRound, name: &str) -> Option<f64> {
    r.runs.get(name)?.work.as_ref()?.cpu_seconds
}

fn wall(r: &MemleakRound, name: &str) -> Option<f64> {
    r.runs.get(name)?.work.as_ref().map(|w| w.seconds)
}

fn ops(r: &MemleakRound, name: &str) -> Option<f64> {
    r.runs.get(name)?.work.as_ref().map(|w| w.ops as f64)
}

fn trace<'a>(r: &'a MemleakRound, name: &str) -> Option<&'a TraceResult> {
    r.runs.get(name)?.trace.as_ref()
}

/// Allocation events a recorder wrote in a run: memrec's allocation rows,
/// bpftrace's counted calls; memleak keeps only what is outstanding.
pub fn alloc_events(t: &TraceResult) -> Option<u64> {
    match t.tool.as_str() {
        "memrec" => {
            let rows = t.detail.get("rows")?;
            Some(
                ALLOC_TABLES
                    .iter()
                    .filter_map(|k| rows.get(*k)?.as_u64())
                    .sum(),
            )
        }
        "bpftrace" => (t.events > 0).then_some(t.events),
        _ => None,
    }
}

/// Median over rounds of a per-round value.
fn med(rounds: &[&MemleakRound], f: impl Fn(&MemleakRound) -> Option<f64>) -> Option<f64> {
    median(rounds.iter().filter_map(|r| f(r)).collect())
}

/// Median over rounds of (recorder − base) CPU seconds per operation, ns.
pub fn ns_per_op(rounds: &[&MemleakRound], name: &str, base: &str) -> Option<f64> {
    med(rounds, |r| {
        Some((cpu(r, name)? - cpu(r, base)?) / ops(r, name)? * 1e9)
    })
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

pub fn tables(o: &mut String, r: &Results) {
    if r.memleak.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## 2e. Allocation tracing (memleak, kmemleak): each workload under nothing and each tracer, back to back (order rotated)\n"
    );
    let _ = writeln!(
        o,
        "floor: bench/memleak-floor.bt, empty programs on malloc entry and return, free, and the kmem tracepoints; memrec: `--probes memleak` (malloc) or `--probes kmemleak` (kmalloc) with `--pid`, every allocation; memrec-sampled: the same with `--alloc-sample 512K`; memrec-system: kmemleak of every process (what memleak's kernel mode traces); memleak: libbpf-tools' memleak (`-p PID` for malloc, kernel mode for kmalloc); bpftrace: bench/memleak.bt. CPU is the workload's own user + system time; BPF programs run in it.\n"
    );
    let mut workloads: Vec<&str> = Vec::new();
    for m in &r.memleak {
        if !workloads.contains(&m.workload.as_str()) {
            workloads.push(&m.workload);
        }
    }
    for w in workloads {
        let rounds: Vec<&MemleakRound> = r.memleak.iter().filter(|m| m.workload == w).collect();
        let per_op = r.memleak_kernel_events.get(w).map(|c| {
            let ops = c.get("ops").copied().unwrap_or(1).max(1) as f64;
            let ev: u64 = c.iter().filter(|(k, _)| *k != "ops").map(|(_, v)| v).sum();
            (ev as f64 / ops, c)
        });
        let loads: Vec<&str> = rounds.iter().map(|m| m.load_before.as_str()).collect();
        let _ = writeln!(
            o,
            "\n### {w}: {} rounds, {} ops per run, load before each round: {}\n",
            rounds.len(),
            rounds
                .first()
                .and_then(|m| ops(m, "none"))
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "–".into()),
            loads.join("; ")
        );
        if let Some((ev, c)) = per_op {
            let list: Vec<String> = c
                .iter()
                .filter(|(k, v)| *k != "ops" && **v > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                o,
                "Kernel allocation events in the workload's task per op: {ev:.2} (`perf stat -p` over one run of {} ops: {}).\n",
                c.get("ops").copied().unwrap_or(0),
                list.join(", ")
            );
        }
        let _ = writeln!(
            o,
            "| recorder | median wall s | wall ratio | median CPU s | CPU ratio | CPU ns / op above none | above floor | ns / kernel event above none | events / run | lost | bytes / event | tool CPU s while recording | peak RSS |"
        );
        let _ = writeln!(
            o,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for n in RECORDERS {
            if !rounds.iter().any(|m| m.runs.contains_key(n)) {
                continue;
            }
            let traces: Vec<&TraceResult> = rounds.iter().filter_map(|m| trace(m, n)).collect();
            let events = median(
                traces
                    .iter()
                    .filter_map(|t| alloc_events(t).map(|e| e as f64))
                    .collect(),
            );
            let bpe = median(
                traces
                    .iter()
                    .filter(|t| t.tool == "memrec")
                    .filter_map(|t| {
                        let e = alloc_events(t)?;
                        (e > 0).then(|| t.bytes as f64 / e as f64)
                    })
                    .collect(),
            );
            let lost: u64 = traces.iter().map(|t| t.lost).sum();
            let rec_cpu = median(
                traces
                    .iter()
                    .map(|t| t.recording_cpu.0 + t.recording_cpu.1)
                    .collect(),
            );
            let rss = median(
                traces
                    .iter()
                    .map(|t| t.usage.max_rss_bytes as f64 / (1024.0 * 1024.0))
                    .collect(),
            );
            let above = ns_per_op(&rounds, n, "none");
            let errors = rounds
                .iter()
                .filter(|m| m.runs.get(n).is_some_and(|r| r.error.is_some()))
                .count();
            let _ = writeln!(
                o,
                "| {n}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if errors > 0 {
                    format!(" ({errors} failed)")
                } else {
                    String::new()
                },
                f(med(&rounds, |m| wall(m, n)), 3),
                f(med(&rounds, |m| Some(wall(m, n)? / wall(m, "none")?)), 2),
                f(med(&rounds, |m| cpu(m, n)), 3),
                f(med(&rounds, |m| Some(cpu(m, n)? / cpu(m, "none")?)), 2),
                f(above, 0),
                f(ns_per_op(&rounds, n, "floor"), 0),
                f(
                    per_op.and_then(|(ev, _)| Some(above? / ev).filter(|_| ev > 0.5)),
                    0
                ),
                events
                    .map(|e| format!("{e:.0}"))
                    .unwrap_or_else(|| "–".into()),
                if n == "none" || n == "memleak" || n == "floor" {
                    "–".to_string()
                } else {
                    lost.to_string()
                },
                f(bpe, 2),
                if n == "none" {
                    "–".into()
                } else {
                    f(rec_cpu, 2)
                },
                if n == "none" {
                    "–".into()
                } else {
                    format!("{} MiB", f(rss, 1))
                },
            );
        }
        if let Some(cols) = r.memleak_columns.get(w) {
            columns(o, &rounds, cols);
        }
        for m in &rounds {
            for (n, run) in &m.runs {
                if let Some(e) = &run.error {
                    let _ = writeln!(o, "\n- {n}: {e}");
                }
            }
        }
    }
}

/// Where the bytes of memrec's first recording go, and its bytes per
/// allocation event without the kallsyms snapshot (a fixed cost of every
/// recording with kernel stacks).
fn columns(o: &mut String, rounds: &[&MemleakRound], cols: &[(String, u64)]) {
    let Some(t) = rounds.first().and_then(|m| trace(m, "memrec")) else {
        return;
    };
    let Some(events) = alloc_events(t).filter(|e| *e > 0) else {
        return;
    };
    let ksyms: u64 = cols
        .iter()
        .filter(|(c, _)| c.starts_with("kernel_symbol."))
        .map(|(_, b)| b)
        .sum();
    let total: u64 = cols.iter().map(|(_, b)| b).sum();
    let _ = writeln!(
        o,
        "
memrec's first recording: {} B in the file, {} B of column data, of which {} B the kallsyms snapshot (`kernel_symbol`); without it {:.2} B per allocation event ({events} events). Largest columns:
",
        t.bytes,
        total,
        ksyms,
        t.bytes.saturating_sub(ksyms) as f64 / events as f64
    );
    let _ = writeln!(o, "| column | bytes | bytes / event |");
    let _ = writeln!(o, "|---|---:|---:|");
    for (c, b) in cols.iter().take(8) {
        let _ = writeln!(o, "| {c} | {b} | {:.3} |", *b as f64 / events as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::FaultRun;
    use crate::work::WorkResult;

    fn run(cpu: f64) -> FaultRun {
        FaultRun {
            work: Some(WorkResult {
                workload: "malloc".into(),
                seconds: cpu,
                ops: 1000,
                cpu_seconds: Some(cpu),
                detail: None,
            }),
            trace: None,
            error: None,
        }
    }

    #[test]
    fn cost_per_op_is_the_median_of_round_differences() {
        let round = |none: f64, rec: f64| MemleakRound {
            workload: "malloc".into(),
            runs: [("none".to_string(), run(none)), ("memrec".into(), run(rec))]
                .into_iter()
                .collect(),
            load_before: String::new(),
        };
        let rounds = [round(0.1, 0.3), round(0.2, 0.3), round(0.1, 0.5)];
        let refs: Vec<&MemleakRound> = rounds.iter().collect();
        // Differences 0.2, 0.1, 0.4 s over 1000 ops: median 0.2 s = 200 µs/op.
        let ns = ns_per_op(&refs, "memrec", "none").unwrap();
        assert!((ns - 200_000.0).abs() < 1e-6, "{ns}");
    }

    #[test]
    fn memrec_allocation_events_are_its_allocation_rows() {
        let t = TraceResult {
            tool: "memrec".into(),
            detail: serde_json::json!({"rows": {"user_alloc": 10, "user_free": 9, "stack_frame": 50}}),
            ..Default::default()
        };
        assert_eq!(alloc_events(&t), Some(19));
    }
}
