//! What a suite run measured: written to `results.json` by the suite and
//! read by the report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::gen::GenReport;
use crate::sys;
use crate::tracers::TraceResult;
use crate::work::WorkResult;

/// One throughput step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: String,
    pub target_rate: f64,
    pub memrec_args: Vec<String>,
    pub trace: TraceResult,
    pub gen: Option<GenReport>,
    pub load_before: String,
    pub load_after: String,
}

/// One fixed-workload run under one tool.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub tool: String,
    pub workload: String,
    pub round: usize,
    pub work: Option<WorkResult>,
    pub trace: Option<TraceResult>,
    pub error: Option<String>,
    pub load_before: String,
}

/// One page-fault run with nothing attached and the next one under memrec.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub none_s: f64,
    pub memrec_s: f64,
    /// CPU seconds of the same runs (`WorkResult::cpu_seconds`).
    pub none_cpu_s: Option<f64>,
    pub memrec_cpu_s: Option<f64>,
    pub load_before: String,
}

/// One round of a workload under several tools, one right after the other.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub workload: String,
    /// Tool name → seconds.
    pub seconds: BTreeMap<String, f64>,
    pub load_before: String,
}

/// One round of the page-fault workload under each fault recorder, one
/// right after the other (section `faults`).
#[derive(Debug, Clone, Serialize)]
pub struct FaultRound {
    /// Recorder name (`none`, `memrec-faults`, `memrec-defaults`, `ftrace`,
    /// `perf`, `bpftrace`) → its run.
    pub runs: BTreeMap<String, FaultRun>,
    pub load_before: String,
}

/// The page-fault workload under one recorder.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRun {
    pub work: Option<WorkResult>,
    pub trace: Option<TraceResult>,
    pub error: Option<String>,
}

/// One round of an allocation workload under each allocation tracer, one
/// right after the other (section `memleak`).
#[derive(Debug, Clone, Serialize)]
pub struct MemleakRound {
    /// `malloc` or `kmalloc`.
    pub workload: String,
    /// Recorder name (`none`, `floor`, `memrec`, `memrec-sampled`,
    /// `memrec-system`, `memleak`, `bpftrace`) → its run.
    pub runs: BTreeMap<String, FaultRun>,
    pub load_before: String,
}

/// Run time of one BPF program.
#[derive(Debug, Clone, Serialize)]
pub struct ProgCost {
    pub during: String,
    /// memrec's probe group of the program (from `memrec probes --json`).
    pub group: String,
    pub program: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalyzerRun {
    pub command: Vec<String>,
    pub input_bytes: u64,
    pub input_rows: u64,
    pub seconds: f64,
    pub usage: sys::Usage,
    pub ok: bool,
}

/// Everything measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Results {
    pub machine: serde_json::Value,
    pub quick: bool,
    pub command: Vec<String>,
    pub started: String,
    pub throughput: Vec<Step>,
    pub capacity: Vec<Step>,
    /// `memrec record --load-test RATE` steps (kind = `loadtest`).
    pub loadtest: Vec<Step>,
    pub storm: Vec<Step>,
    pub overhead: Vec<Run>,
    pub bpf_cost: Vec<ProgCost>,
    /// Page-fault runs under memrec with `--probes <group>` (tool = group).
    pub groups: Vec<Run>,
    /// The storm under memrec at zstd levels (kind = `zstd-N`).
    pub zstd: Vec<Step>,
    /// Page-fault seconds (nothing, memrec) in alternating pairs, pinned to CPU 0.
    pub paired: Vec<Pair>,
    /// memcg-reclaim rounds: nothing, memrec, ftrace back to back.
    pub triples: Vec<Round>,
    /// Page-fault rounds: nothing and every fault recorder back to back.
    pub faults: Vec<FaultRound>,
    /// Compressed bytes per column of memrec's `--probes faults` recording
    /// of the page-fault workload (section `faults`).
    pub fault_columns: Vec<(String, u64)>,
    /// Allocation-tracing rounds (section `memleak`).
    pub memleak: Vec<MemleakRound>,
    /// Per workload of the `memleak` section: kmem/percpu tracepoint hits
    /// in its task over one run (`perf stat -p`), and `ops`.
    pub memleak_kernel_events: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per workload of the `memleak` section: compressed bytes per column
    /// of memrec's first recording (every allocation).
    pub memleak_columns: BTreeMap<String, Vec<(String, u64)>>,
    /// Compressed bytes per column of memrec's storm recording.
    pub columns: Vec<(String, u64)>,
    pub analyzer: Option<AnalyzerRun>,
    pub notes: Vec<String>,
}
