//! Fidelity of the allocation groups: memleak (the user heap, uprobes on
//! the C library) against what memscen's heap-leak worker allocated and
//! freed, and kmemleak (kernel allocations, tracepoints) against what
//! memscen's slab-hold worker held and the kernel's /proc/slabinfo. Read
//! with the arrow-rs reader (independent of the analyzer); memana's `leaks`
//! output is checked against the same truth.
//!
//! heap-leak (the worker's rows, `tgid` = its pid; a block is the leak's
//! when its stack's depth-0 return address lies in `memtrace_leak_alloc`,
//! the churn's when in `memtrace_churn_alloc`, address ranges from the
//! program's symbol table and the worker's own function addresses):
//! - every call recorded (no sampling): the leak's blocks, their sizes,
//!   and the bytes outstanding at the end = what it leaked, exactly; the
//!   churn's blocks = what it allocated, each freed (outstanding 0), exactly;
//!   every leak stack holds the chain alloc → middle → outer.
//! - sampled (`--alloc-sample T`): a block of s bytes is kept with
//!   p = 1 − exp(−s/T), independently of the others (a Poisson process over
//!   the bytes); the estimate Σ s/p over the kept blocks (Horvitz-Thompson)
//!   is unbiased with variance Σ s²(1−p)/p over all blocks, which the truth
//!   gives; it must lie within 4 standard deviations. The churn's kept
//!   blocks are all freed (a kept block's free is tracked): 0, exactly.
//! - memana leaks names the leak's frames once the program is given with
//!   `--debuginfo` (its file is gone), and shows module + offset before.
//!
//! slab-hold (the worker's `sock_inode_cache` and `filp` allocations in its
//! `socket()` window):
//! - allocations = sockets opened, outstanding when memscen read
//!   /proc/slabinfo = sockets, freed by the end = sockets: exact.
//! - /proc/slabinfo's `active_objs` change (held − before, after − before)
//!   vs the recorded outstanding: within what SLUB's per-CPU caching hides
//!   (free objects in a CPU's slab and partial slabs count as active) and
//!   what the rest of the machine did meanwhile (the spread of idle reads).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::fidelity::{Case, Report};
use super::rows::{flag, group_recorded, int, opt_int, opt_text, text};
use super::Row;

/// Standard deviations the sampled estimate may be off by.
pub const SIGMAS: f64 = 4.0;

/// One allocation row with the free that ended it, if recorded.
#[derive(Debug, Clone)]
pub struct Alloc {
    pub ts: i128,
    pub tgid: i128,
    pub address: i128,
    pub size: i128,
    pub stack_id: Option<i128>,
    pub sample_bytes: Option<i128>,
    pub freed_at: Option<i128>,
    pub row: Row,
}

impl Alloc {
    /// Allocated by `t` and not freed by then.
    pub fn outstanding_at(&self, t: i128) -> bool {
        self.ts <= t && self.freed_at.is_none_or(|f| f > t)
    }
}

/// Pairs allocation rows with free rows of the same key (user: process and
/// address; kernel: kind and address, freed by any task): each free ends
/// the latest allocation of its address still open. At equal time stamps a
/// free comes first (realloc's free of the old block and allocation of the
/// new one share the call's return).
pub fn pair(
    allocs: &[Row],
    frees: &[Row],
    size_col: &str,
    key: impl Fn(&Row) -> (i128, i128),
) -> Vec<Alloc> {
    let mut out: Vec<Alloc> = allocs
        .iter()
        .map(|x| Alloc {
            ts: int(x, "ts_ns"),
            tgid: int(x, "tgid"),
            address: int(x, "address"),
            size: int(x, size_col),
            stack_id: opt_int(x, "stack_id"),
            sample_bytes: opt_int(x, "sample_bytes"),
            freed_at: None,
            row: x.clone(),
        })
        .collect();
    // (key, ts, 0 = free / 1 = alloc, index)
    let mut events: Vec<((i128, i128), i128, u8, usize)> = allocs
        .iter()
        .enumerate()
        .map(|(i, x)| (key(x), int(x, "ts_ns"), 1, i))
        .chain(
            frees
                .iter()
                .enumerate()
                .map(|(i, x)| (key(x), int(x, "ts_ns"), 0, i)),
        )
        .collect();
    events.sort();
    let mut open: HashMap<(i128, i128), Vec<usize>> = HashMap::new();
    for (k, ts, what, i) in events {
        if what == 1 {
            open.entry(k).or_default().push(i);
        } else if let Some(a) = open.get_mut(&k).and_then(Vec::pop) {
            out[a].freed_at = Some(ts);
        }
    }
    out
}

/// Frames of every user (or kernel) stack: stack_id → ips by depth.
pub fn stacks(c: &Case, kernel: bool) -> BTreeMap<i128, Vec<i128>> {
    let mut by: BTreeMap<i128, Vec<(i128, i128)>> = BTreeMap::new();
    for f in c
        .table("stack_frame")
        .iter()
        .filter(|f| flag(f, "kernel") == kernel)
    {
        by.entry(int(f, "stack_id"))
            .or_default()
            .push((int(f, "depth"), int(f, "ip")));
    }
    by.into_iter()
        .map(|(id, mut frames)| {
            frames.sort();
            (id, frames.into_iter().map(|(_, ip)| ip).collect())
        })
        .collect()
}

/// Probability that byte sampling with mean gap `t` keeps a block of `s` bytes.
pub fn kept(s: f64, t: f64) -> f64 {
    -(-s / t).exp_m1()
}

/// Var of the Horvitz-Thompson estimates of bytes and of count, over
/// blocks (size, how many) each kept independently with `kept(size, t)`.
pub fn ht_variance(blocks: &[(f64, f64)], t: f64) -> (f64, f64) {
    blocks.iter().fold((0.0, 0.0), |(vb, vc), &(s, n)| {
        let p = kept(s, t);
        (vb + n * s * s * (1.0 - p) / p, vc + n * (1.0 - p) / p)
    })
}

fn num(v: &Value, k: &str) -> i128 {
    v[k].as_i64().map(i128::from).unwrap_or(-1)
}

/// The [start, end) address range of one of the worker's functions.
fn range(h: &Value, name: &str) -> (i128, i128) {
    let f = &h["functions"][name];
    (num(f, "start"), num(f, "end"))
}

fn within(ip: i128, (start, end): (i128, i128)) -> bool {
    (start..end).contains(&ip)
}

/// Σ s/p over the leak's blocks outstanding at the end, when sampled.
fn leak_estimate(c: &Case, h: &Value) -> Option<f64> {
    let pid = num(h, "pid");
    let allocs: Vec<Row> = c
        .table("user_alloc")
        .iter()
        .filter(|x| int(x, "tgid") == pid)
        .cloned()
        .collect();
    let frees: Vec<Row> = c
        .table("user_free")
        .iter()
        .filter(|x| int(x, "tgid") == pid)
        .cloned()
        .collect();
    let stacks = stacks(c, false);
    let leak_fn = range(h, "memtrace_leak_alloc");
    let end = c.end_ns();
    let mut sampled = false;
    let est = pair(&allocs, &frees, "size", |x| {
        (int(x, "tgid"), int(x, "address"))
    })
    .iter()
    .filter(|a| {
        a.stack_id
            .and_then(|id| stacks.get(&id)?.first().copied())
            .is_some_and(|ip| within(ip, leak_fn))
            && a.outstanding_at(end)
    })
    .map(|a| match a.sample_bytes {
        Some(t) => {
            sampled = true;
            a.size as f64 / kept(a.size as f64, t as f64)
        }
        None => a.size as f64,
    })
    .sum();
    sampled.then_some(est)
}

/// The heap-leak scenario's user heap.
pub fn memleak(c: &Case, r: &mut Report) {
    let s = c.name;
    let h = &c.truth["heap_leak"];
    if !h.is_object() {
        return;
    }
    if !group_recorded(c.meta(), "memleak") {
        r.check(
            s,
            "memleak recorded",
            false,
            "the recording has no memleak group",
        );
        return;
    }
    // Only how long the worker waited: whether every call was recorded is
    // what the exact counts below check (on Debian's 6.1 under emulation
    // the worker never saw the breakpoint byte, yet every call was there).
    r.note(
        s,
        "the worker found uprobes on its malloc and free before allocating",
        format!("{} after {} ms", h["uprobes_seen"], h["uprobes_waited_ms"]),
    );
    let pid = num(h, "pid");
    let mine = |rows: &[Row]| -> Vec<Row> {
        rows.iter()
            .filter(|x| int(x, "tgid") == pid)
            .cloned()
            .collect()
    };
    let allocs = mine(&c.table("user_alloc"));
    let frees = mine(&c.table("user_free"));
    let paired = pair(&allocs, &frees, "size", |x| {
        (int(x, "tgid"), int(x, "address"))
    });
    let stacks = stacks(c, false);
    let leaf = |a: &Alloc| a.stack_id.and_then(|id| stacks.get(&id)?.first().copied());
    let (leak_fn, churn_fn) = (
        range(h, "memtrace_leak_alloc"),
        range(h, "memtrace_churn_alloc"),
    );
    let no_stack = paired.iter().filter(|a| leaf(a).is_none()).count();
    r.check(
        s,
        "every allocation of the worker has its user stack",
        no_stack == 0,
        format!(
            "{} of {} without (stack_error {:?})",
            no_stack,
            paired.len(),
            paired
                .iter()
                .filter_map(|a| opt_int(&a.row, "stack_error"))
                .take(3)
                .collect::<Vec<_>>()
        ),
    );
    let leak: Vec<&Alloc> = paired
        .iter()
        .filter(|a| leaf(a).is_some_and(|ip| within(ip, leak_fn)))
        .collect();
    let churn: Vec<&Alloc> = paired
        .iter()
        .filter(|a| leaf(a).is_some_and(|ip| within(ip, churn_fn)))
        .collect();
    let chain = [
        "memtrace_leak_alloc",
        "memtrace_leak_middle",
        "memtrace_leak_outer",
    ];
    let whole = leak
        .iter()
        .filter(|a| {
            let frames = &stacks[&a.stack_id.unwrap_or(-1)];
            chain
                .iter()
                .enumerate()
                .all(|(d, f)| frames.get(d).is_some_and(|&ip| within(ip, range(h, f))))
        })
        .count();
    r.exact(
        s,
        "leak stacks holding memtrace_leak_alloc ← middle ← outer at depths 0, 1, 2",
        whole as i128,
        leak.len() as i128,
    );
    let truth_sizes: Vec<(i128, i128)> = h["leak"]["sizes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| (num(x, "size"), num(x, "count")))
                .collect()
        })
        .unwrap_or_default();
    let (leak_start, leak_end) = (num(&h["leak"], "start_ns"), num(&h["leak"], "end_ns"));
    r.check(
        s,
        "leak rows: malloc calls inside the worker's leak window",
        leak.iter()
            .all(|a| text(&a.row, "call") == "malloc" && (leak_start..=leak_end).contains(&a.ts)),
        format!("{} rows, window {leak_start}..={leak_end}", leak.len()),
    );
    let end = c.end_ns();
    let periods: Vec<i128> = {
        let mut p: Vec<i128> = paired.iter().filter_map(|a| a.sample_bytes).collect();
        p.sort();
        p.dedup();
        p
    };
    match periods[..] {
        [] if paired.iter().all(|a| a.sample_bytes.is_none()) => {
            for &(size, count) in &truth_sizes {
                r.exact(
                    s,
                    &format!("leak blocks of {size} bytes vs the worker's"),
                    leak.iter().filter(|a| a.size == size).count() as i128,
                    count,
                );
            }
            r.exact(
                s,
                "leak blocks vs the worker's",
                leak.len() as i128,
                num(&h["leak"], "count"),
            );
            let out: Vec<&&Alloc> = leak.iter().filter(|a| a.outstanding_at(end)).collect();
            r.exact(
                s,
                "leak blocks outstanding at the end vs the worker's",
                out.len() as i128,
                num(&h["leak"], "count"),
            );
            r.exact(
                s,
                "leak bytes outstanding at the end vs the worker's",
                out.iter().map(|a| a.size).sum(),
                num(&h["leak"], "bytes"),
            );
            r.exact(
                s,
                "churn blocks vs the worker's",
                churn.len() as i128,
                num(&h["churn"], "count"),
            );
            r.exact(
                s,
                "churn bytes vs the worker's",
                churn.iter().map(|a| a.size).sum(),
                num(&h["churn"], "bytes"),
            );
            r.exact(
                s,
                "churn blocks freed (user_free rows of their addresses)",
                churn.iter().filter(|a| a.freed_at.is_some()).count() as i128,
                num(&h["churn"], "count"),
            );
        }
        [t] => {
            let tf = t as f64;
            let blocks: Vec<(f64, f64)> = truth_sizes
                .iter()
                .map(|&(s, n)| (s as f64, n as f64))
                .collect();
            let (vb, vc) = ht_variance(&blocks, tf);
            let est_bytes: f64 = leak
                .iter()
                .filter(|a| a.outstanding_at(end))
                .map(|a| a.size as f64 / kept(a.size as f64, tf))
                .sum();
            let est_count: f64 = leak
                .iter()
                .filter(|a| a.outstanding_at(end))
                .map(|a| 1.0 / kept(a.size as f64, tf))
                .sum();
            r.note(
                s,
                "sampling",
                format!(
                    "--alloc-sample {t}: {} of {} leak blocks kept; σ(bytes) = {:.0}, σ(count) = {:.1} (Var = Σ s²(1−p)/p, p = 1 − exp(−s/{t}))",
                    leak.len(),
                    num(&h["leak"], "count"),
                    vb.sqrt(),
                    vc.sqrt()
                ),
            );
            r.within(
                s,
                &format!("estimated leak bytes outstanding (Σ s/p) vs the worker's, {SIGMAS} σ"),
                est_bytes,
                num(&h["leak"], "bytes") as f64,
                SIGMAS * vb.sqrt(),
            );
            r.within(
                s,
                &format!("estimated leak blocks outstanding (Σ 1/p) vs the worker's, {SIGMAS} σ"),
                est_count,
                num(&h["leak"], "count") as f64,
                SIGMAS * vc.sqrt(),
            );
            r.check(
                s,
                "kept rows carry the sampling period and the worker's sizes",
                leak.iter().all(|a| {
                    a.sample_bytes == Some(t) && truth_sizes.iter().any(|&(sz, _)| sz == a.size)
                }),
                format!("{} rows", leak.len()),
            );
        }
        _ => r.check(
            s,
            "one sampling period, or none, for the worker's rows",
            false,
            format!("{periods:?}"),
        ),
    }
    r.exact(
        s,
        "churn bytes outstanding at the end",
        churn
            .iter()
            .filter(|a| a.outstanding_at(end))
            .map(|a| a.size)
            .sum(),
        0,
    );
}

/// Writes the worker program from the truth into `dir` as a debug-info
/// directory holds it (`.build-id/xx/rest`); returns the directory.
pub fn debuginfo_dir(truth: &Value, dir: &Path) -> std::path::PathBuf {
    let h = &truth["heap_leak"];
    let hex = h["program_hex"].as_str().unwrap_or("");
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let id = h["build_id"].as_str().unwrap_or("xx");
    let by_id = dir.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&by_id).unwrap();
    std::fs::write(by_id.join(&id[2..]), bytes).unwrap();
    dir.to_path_buf()
}

/// `memana leaks --user --pid W --format json`, with the given debuginfo dirs.
fn memana_leaks(
    memana: &Path,
    file: &Path,
    pid: i128,
    debuginfo: &[&Path],
) -> Result<Value, String> {
    let mut cmd = Command::new(memana);
    cmd.args([
        "leaks",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--top",
        "0",
    ])
    .args(["--user", "--pid", &pid.to_string()]);
    for d in debuginfo {
        cmd.arg("--debuginfo").arg(d);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// memana leaks on the heap-leak recording: its top stack is the leak, with
/// the worker's bytes (exactly, or within the sampling error), named once
/// the program is found by build-id under `--debuginfo`; module and offset
/// (never nothing) while its file is gone.
pub fn analyzer(c: &Case, memana: &Path, file: &Path, r: &mut Report) {
    let s = c.name;
    let h = &c.truth["heap_leak"];
    if !h.is_object() || !group_recorded(c.meta(), "memleak") {
        return;
    }
    let pid = num(h, "pid");
    let path = h["binary_path"].as_str().unwrap_or("");
    r.check(
        s,
        "the worker's program is gone (symbolization must not read it)",
        !Path::new(path).exists(),
        path.to_string(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dbg = debuginfo_dir(c.truth, tmp.path());
    let leak = &h["leak"];
    let estimate = leak_estimate(c, h);
    for (with, dirs) in [("without", vec![]), ("with", vec![dbg.as_path()])] {
        let j = match memana_leaks(memana, file, pid, &dirs) {
            Ok(j) => j,
            Err(e) => {
                r.check(s, &format!("memana leaks {with} --debuginfo"), false, e);
                continue;
            }
        };
        let top = &j["stacks"][0];
        let frames: Vec<&Value> = top["frames"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let leaf = frames.first().copied().unwrap_or(&Value::Null);
        if let Some(est) = estimate {
            // memana scales each kept block by 1/p as the test does.
            r.within(
                s,
                &format!("memana leaks {with} --debuginfo: top stack's estimated bytes vs Σ s/p of the rows"),
                top["bytes"].as_f64().unwrap_or(-1.0),
                est,
                1.0,
            );
        } else {
            r.exact(
                s,
                &format!("memana leaks {with} --debuginfo: top stack's bytes vs the worker's leak"),
                top["bytes"].as_i64().map(i128::from).unwrap_or(-1),
                num(leak, "bytes"),
            );
            r.exact(
                s,
                &format!(
                    "memana leaks {with} --debuginfo: top stack's allocations vs the worker's"
                ),
                top["allocations"].as_i64().map(i128::from).unwrap_or(-1),
                num(leak, "count"),
            );
        }
        if with == "with" {
            let names: Vec<&str> = frames
                .iter()
                .take(3)
                .map(|f| f["function"].as_str().unwrap_or(""))
                .collect();
            r.check(
                s,
                "memana leaks --debuginfo names the leak chain (leaf first)",
                names
                    == [
                        "memtrace_leak_alloc",
                        "memtrace_leak_middle",
                        "memtrace_leak_outer",
                    ],
                format!("{names:?}"),
            );
            let churn_named = j["stacks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|st| st["frames"][0]["function"] == "memtrace_churn_alloc")
                .map(|st| st["bytes"].as_f64().unwrap_or(0.0))
                .sum::<f64>();
            r.within(
                s,
                "memana leaks: churn stacks' bytes",
                churn_named,
                0.0,
                0.0,
            );
        } else {
            r.check(
                s,
                "memana leaks without the program: the leaf frame shows its module and offset",
                leaf["module"].as_str() == Some(path)
                    && leaf["offset"].is_u64()
                    && leaf["function"]
                        .as_str()
                        .is_none_or(|f| !f.contains("memtrace_leak")),
                format!("{leaf}"),
            );
        }
    }
}

/// The slab-hold scenario's kernel objects.
pub fn kmemleak(c: &Case, r: &mut Report) {
    let s = c.name;
    let h = &c.truth["slab_hold"];
    if !h.is_object() {
        return;
    }
    if !group_recorded(c.meta(), "kmemleak") {
        r.check(
            s,
            "kmemleak recorded",
            false,
            "the recording has no kmemleak group",
        );
        return;
    }
    let pid = num(h, "pid");
    let sockets = num(h, "sockets");
    let (open_start, open_end) = (num(h, "open_start_ns"), num(h, "open_end_ns"));
    let held = num(h, "held_ns");
    let cpus = num(h, "nr_cpus");
    let release = c.truth["host"]["kernel_release"]
        .as_str()
        .and_then(super::kernel::release_version);
    let allocs = c.table("kernel_alloc");
    let frees = c.table("kernel_free");
    let paired = pair(&allocs, &frees, "bytes_alloc", |x| {
        // Slab objects (kmalloc and named caches) share one address space;
        // pages are keyed by pfn, percpu areas by their own addresses.
        let kind = match text(x, "kind") {
            "kmalloc" | "cache" => 0,
            "page" => 1,
            _ => 2,
        };
        (kind, int(x, "address"))
    });
    if paired.iter().any(|a| a.sample_bytes.is_some()) {
        r.skip(
            s,
            "kmemleak counts",
            "sampled recording: exact counts need every allocation",
        );
        return;
    }
    for name in ["sock_inode_cache", "filp"] {
        let cache = &h["caches"][name];
        if let Some(m) = cache["merged_into"].as_str() {
            r.skip(
                s,
                &format!("{name} objects"),
                format!("{name} is merged into {m} on this kernel: slabinfo and the tracepoints name the merged cache"),
            );
            continue;
        }
        let mine: Vec<&Alloc> = paired
            .iter()
            .filter(|a| {
                a.tgid == pid
                    && text(&a.row, "kind") == "cache"
                    && opt_text(&a.row, "cache") == Some(name)
                    && (open_start..=open_end).contains(&a.ts)
            })
            .collect();
        r.exact(
            s,
            &format!("{name} allocations of the worker in its socket() window vs sockets opened"),
            mine.len() as i128,
            sockets,
        );
        let outstanding = mine.iter().filter(|a| a.outstanding_at(held)).count() as i128;
        r.exact(
            s,
            &format!("{name} outstanding when memscen read /proc/slabinfo vs sockets open"),
            outstanding,
            sockets,
        );
        let freed_after_close = mine
            .iter()
            .filter(|a| a.freed_at.is_some_and(|f| f >= num(h, "close_start_ns")))
            .count() as i128;
        let figure =
            format!("{name} freed after the worker's close() calls (any task: RCU callbacks too)");
        let in_softirq = name == "sock_inode_cache" || release < Some((6, 7));
        match (missed_frees(c), in_softirq) {
            // Freed in the closing task itself: never inside another run
            // of the free program on that CPU.
            (_, false) => r.exact(s, &figure, freed_after_close, sockets),
            (Some(m), true) => r.within(
                s,
                &format!("{figure}, less frees the kernel skipped ({m} for the free programs)"),
                freed_after_close as f64,
                sockets as f64,
                m as f64,
            ),
            (None, true) => r.skip(
                s,
                &figure,
                format!(
                    "{freed_after_close} of {sockets}: freed by RCU callbacks in softirq, where the kernel \
                     skips a BPF program that interrupts another on the CPU (recursion protection), \
                     and this recording has no slab free program to count them"
                ),
            ),
        }
        let get = |k: &str| cache[k].as_i64().map(i128::from);
        let (Some(before), Some(held_objs), Some(per_slab), Some(partial)) = (
            get("before"),
            get("held"),
            get("objs_per_slab"),
            get("cpu_partial"),
        ) else {
            r.skip(
                s,
                &format!("{name} vs /proc/slabinfo"),
                "the truth lacks the cache's slabinfo or sysfs figures",
            );
            continue;
        };
        let idle: Vec<i128> = cache["idle"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_i64().map(i128::from))
                    .collect()
            })
            .unwrap_or_default();
        let noise = idle
            .iter()
            .max()
            .zip(idle.iter().min())
            .map_or(0, |(a, b)| a - b);
        let tol = slub_hidden(cpus, per_slab, partial) + noise;
        r.within(
            s,
            &format!("{name}: recorded outstanding vs /proc/slabinfo active_objs held − before (SLUB per-CPU slabs, idle spread {noise})"),
            outstanding as f64,
            (held_objs - before) as f64,
            tol as f64,
        );
        if let Some(after) = get("after") {
            let t = num(cache, "after_ns");
            let out_after = mine.iter().filter(|a| a.outstanding_at(t)).count() as i128;
            // Each free the kernel skipped (softirq frees, above) leaves
            // one object recorded as outstanding, as the file says.
            let (skipped, why) = match (missed_frees(c), in_softirq) {
                (Some(m), true) => (m, format!(", plus the {m} frees the kernel skipped")),
                _ => (0, String::new()),
            };
            let kernel = after - before;
            let d = out_after - kernel;
            r.check(
                s,
                &format!("{name}: recorded outstanding after the close vs /proc/slabinfo active_objs after − before{why}"),
                -tol <= d && d <= tol + skipped,
                format!(
                    "recorded {out_after} | kernel {kernel} | diff {d:+} | tolerance -{tol} … +{}",
                    tol + skipped
                ),
            );
        }
    }
}

/// Runs of the slab free programs the kernel skipped because a BPF
/// program was already running on that CPU (an interrupt's or softirq's
/// free inside a traced one: `bpf_prog_info.recursion_misses`), as memrec
/// writes them in the probe's `missed` (absent when 0); None when the file
/// has no slab free program.
fn missed_frees(c: &Case) -> Option<i128> {
    let probes = c.meta()["probes"].as_array()?;
    let frees: Vec<&Value> = probes
        .iter()
        .filter(|p| matches!(p["program"].as_str(), Some("kml_kfree" | "kml_cache_free")))
        .collect();
    if frees.is_empty() {
        return None;
    }
    frees
        .iter()
        .map(|p| {
            p["missed"]
                .as_u64()
                .map_or(Some(0), |m| Some(i128::from(m)))
        })
        .sum()
}

/// Free objects SLUB counts as active in /proc/slabinfo (it subtracts only
/// the free objects of the nodes' partial lists): per CPU, its current
/// slab and up to `cpu_partial_slabs` = ⌈2 · cpu_partial / objs_per_slab⌉
/// partial slabs of its own (mm/slub.c, slub_set_cpu_partial). Their
/// number can change by up to this between two reads.
pub fn slub_hidden(cpus: i128, objs_per_slab: i128, cpu_partial: i128) -> i128 {
    let per_slab = objs_per_slab.max(1);
    let partial_slabs = (2 * cpu_partial + per_slab - 1) / per_slab;
    cpus * per_slab * (1 + partial_slabs)
}
