//! `memana report --section leaks` and `memana leaks`: outstanding bytes
//! recomputed from the raw rows (arrow-rs reader, plain loops) on a
//! synthetic recording and on the memleak fixtures, and the command line
//! (formats, sides, not-recorded messages).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::scenario::Rng;
use common::{hdr, memana, read_meta, read_rows, Builder, RawRow};
use memtrace_schema::tables::kmemleak::{kernel_alloc, kernel_free};
use memtrace_schema::tables::memleak::{user_alloc, user_free};
use memtrace_schema::tables::stacks::{kernel_symbol, stack_frame};
use memtrace_schema::Text;
use serde_json::Value as J;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_000 * SEC;

fn ok(args: &[&str]) -> String {
    let (code, out, err) = memana(args);
    assert_eq!(code, 0, "memana {args:?}: {err}");
    out
}

/// A recording with heap churn and leaks in three processes (reallocs
/// among them), kernel objects of three kinds (pages by pfn), some rows
/// sampled, and frames for a few stacks.
fn synthetic(dir: &Path) -> PathBuf {
    let mut b = Builder::new(T0, T0 + 30 * SEC);
    let mut rng = Rng::new(7);
    for (a, n) in [(0x1000u64, "kmalloc_user"), (0x2000, "do_thing")] {
        b.add(
            hdr(T0, 0, 0, ""),
            &kernel_symbol::Row {
                address: 0xffff_ffff_8100_0000 | a,
                name: n.into(),
                module: None,
            },
        );
    }
    for s in 0..4u64 {
        for d in 0..3u32 {
            b.add(
                hdr(T0, 10, 10, "app"),
                &stack_frame::Row {
                    stack_id: 900 + s,
                    depth: d,
                    ip: 0xffff_ffff_8100_1010 + u64::from(d) * 0x1000,
                    kernel: true,
                },
            );
        }
    }
    // Live blocks per (tgid, address), to free or realloc some of them.
    let mut live: Vec<(u32, u64)> = Vec::new();
    let mut next = 0x10_0000u64;
    let mut klive: Vec<(&'static str, u64)> = Vec::new();
    for step in 0..3000i64 {
        let ts = T0 + step * 10_000_000 + rng.below(1000) as i64;
        let tgid = [10u32, 20, 30][rng.below(3) as usize];
        let comm = ["app", "worker", "daemon"][(tgid / 10 - 1) as usize];
        let sampled = tgid == 30;
        match rng.below(10) {
            0..=3 => {
                // Reuse a freed address now and then: a new block there.
                let address = if rng.below(4) == 0 && next > 0x10_0100 {
                    0x10_0000 + rng.below(0x100) * 16
                } else {
                    next += 16;
                    next
                };
                let size = 16 + rng.below(5000);
                b.add(
                    hdr(ts, tgid + 1, tgid, comm),
                    &user_alloc::Row {
                        call: "malloc".into(),
                        address,
                        size,
                        stack_id: (rng.below(5) > 0).then_some(u64::from(tgid) * 10 + rng.below(3)),
                        sample_bytes: sampled.then_some(4096),
                        ..Default::default()
                    },
                );
                live.push((tgid, address));
            }
            4..=5 if !live.is_empty() => {
                let i = rng.below(live.len() as u64) as usize;
                let (tgid, address) = live.swap_remove(i);
                b.add(
                    hdr(ts, tgid, tgid, "any"),
                    &user_free::Row {
                        call: "free".into(),
                        address,
                    },
                );
            }
            6 if !live.is_empty() => {
                // realloc, in place or moved: the old block's free and the
                // new block at one ts.
                let i = rng.below(live.len() as u64) as usize;
                let (tgid, old) = live.swap_remove(i);
                let address = if rng.below(2) == 0 {
                    old
                } else {
                    next += 16;
                    next
                };
                b.add(
                    hdr(ts, tgid, tgid, "any"),
                    &user_free::Row {
                        call: "realloc".into(),
                        address: old,
                    },
                );
                b.add(
                    hdr(ts, tgid, tgid, "any"),
                    &user_alloc::Row {
                        call: "realloc".into(),
                        address,
                        size: 64 + rng.below(9000),
                        old_address: Some(old),
                        stack_id: Some(u64::from(tgid) * 10 + 3),
                        ..Default::default()
                    },
                );
                live.push((tgid, address));
            }
            7..=8 => {
                let (kind, cache, bytes, order, address) = match rng.below(3) {
                    0 => (
                        "kmalloc",
                        Some("kmalloc-64"),
                        64,
                        None,
                        0xffff_8880_0000_0000 + rng.below(64) * 64,
                    ),
                    1 => (
                        "cache",
                        Some("filp"),
                        256,
                        None,
                        0xffff_8880_1000_0000 + rng.below(64) * 256,
                    ),
                    _ => {
                        let o = rng.below(4) as u32;
                        ("page", None, 4096u64 << o, Some(o), 0x1000 + rng.below(64))
                    }
                };
                let stack = rng.below(5);
                b.add(
                    hdr(ts, tgid, tgid, comm),
                    &kernel_alloc::Row {
                        kind: kind.into(),
                        address,
                        bytes_req: (kind != "page").then_some(bytes),
                        bytes_alloc: bytes,
                        cache: cache.map(Text::from),
                        order,
                        call_site: (kind != "page").then_some(0xffff_ffff_8100_2020),
                        gfp_flags: "GFP_KERNEL".into(),
                        stack_id: (stack < 4).then_some(900 + stack),
                        sample_bytes: (stack == 3).then_some(8192),
                        ..Default::default()
                    },
                );
                klive.push((kind, address));
            }
            _ if !klive.is_empty() => {
                let i = rng.below(klive.len() as u64) as usize;
                let (kind, address) = klive.swap_remove(i);
                b.add(
                    hdr(ts, 99, 99, "kworker"),
                    &kernel_free::Row {
                        kind: kind.into(),
                        address,
                        call_site: None,
                    },
                );
            }
            _ => {}
        }
    }
    // A leak: one stack of "leaker" keeps 200 blocks from its first 20 s;
    // another stack of it frees all it allocates. "young" keeps 150 blocks
    // allocated in the last 400 ms: too young to call a leak.
    for i in 0..200u64 {
        let ts = T0 + i as i64 * 100_000_000;
        let leak = 0x7000_0000 + i * 0x1000;
        let churn = 0x7800_0000 + i * 0x1000;
        for (address, stack) in [(leak, 777), (churn, 778)] {
            b.add(
                hdr(ts, 41, 40, "leaker"),
                &user_alloc::Row {
                    call: "malloc".into(),
                    address,
                    size: 1024,
                    stack_id: Some(stack),
                    ..Default::default()
                },
            );
        }
        b.add(
            hdr(ts + 1000, 41, 40, "leaker"),
            &user_free::Row {
                call: "free".into(),
                address: churn,
            },
        );
    }
    for i in 0..150u64 {
        b.add(
            hdr(T0 + 29_700_000_000 + i as i64 * 1_000_000, 50, 50, "young"),
            &user_alloc::Row {
                call: "malloc".into(),
                address: 0x9000_0000 + i * 0x1000,
                size: 4096,
                stack_id: Some(779),
                ..Default::default()
            },
        );
    }
    b.count();
    let p = dir.join("leaks.parquet");
    b.write(&p);
    p
}

/// Allocations this row stands for: 1/p, p = 1 − exp(−bytes/period).
fn weight(bytes: u64, period: Option<u64>) -> f64 {
    match period {
        Some(s) if s > 0 => 1.0 / (1.0 - (-(bytes as f64) / s as f64).exp()),
        _ => 1.0,
    }
}

/// Per group (side, tgid or kind, stack id or call site): (estimated
/// bytes, estimated allocations, rows) outstanding at `to` of what was
/// allocated in `[from, to)`, from the raw rows: each free takes the
/// latest allocation of its key strictly before it, unless already freed.
type Groups = BTreeMap<Key, (f64, f64, u64)>;

/// A group: side, tgid or kind, stack id or call site.
type Key = (String, String, String);

/// One allocation row: its group (side, tgid or kind, stack id or call
/// site), estimated weight, and whether a free before the window's end
/// matched it.
struct A {
    ts: i64,
    bytes: u64,
    w: f64,
    group: Key,
    freed: bool,
}

fn expected(rows: &[RawRow], from: i64, to: i64) -> Groups {
    let mut out = Groups::new();
    for a in matched(rows, to)
        .iter()
        .filter(|a| !a.freed && a.ts >= from)
    {
        let e = out.entry(a.group.clone()).or_default();
        e.0 += a.bytes as f64 * a.w;
        e.1 += a.w;
        e.2 += 1;
    }
    out
}

/// The allocations recorded before `to`, each marked freed when a free
/// before `to` takes it: each free takes the latest allocation of its key
/// strictly before it, unless already freed.
fn matched(rows: &[RawRow], to: i64) -> Vec<A> {
    let mut allocs: Vec<A> = Vec::new();
    let mut by_key: HashMap<(String, String, u64), Vec<usize>> = HashMap::new();
    for r in rows.iter().filter(|r| r.ts() < to) {
        let (side, owner, address, bytes, group_of) = match r.kind.as_str() {
            "user_alloc" => (
                "user",
                r.u("tgid").to_string(),
                r.u("user_alloc.address"),
                r.u("user_alloc.size"),
                r.get("user_alloc.stack_id")
                    .u64()
                    .map_or("none".to_string(), |s| s.to_string()),
            ),
            "kernel_alloc" => (
                "kernel",
                r.s("kernel_alloc.kind").to_string(),
                r.u("kernel_alloc.address"),
                r.u("kernel_alloc.bytes_alloc"),
                match (
                    r.get("kernel_alloc.stack_id").u64(),
                    r.get("kernel_alloc.call_site").u64(),
                ) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(c)) if c != 0 => format!("site {c:#x}"),
                    _ => "none".to_string(),
                },
            ),
            _ => continue,
        };
        let period = r.get(&format!("{}.sample_bytes", r.kind)).u64();
        by_key
            .entry((side.to_string(), owner.clone(), address))
            .or_default()
            .push(allocs.len());
        allocs.push(A {
            ts: r.ts(),
            bytes,
            w: weight(bytes, period),
            group: (side.to_string(), owner, group_of),
            freed: false,
        });
    }
    let mut frees: Vec<(i64, (String, String, u64))> = rows
        .iter()
        .filter(|r| r.ts() < to)
        .filter_map(|r| match r.kind.as_str() {
            "user_free" => Some((
                r.ts(),
                (
                    "user".to_string(),
                    r.u("tgid").to_string(),
                    r.u("user_free.address"),
                ),
            )),
            "kernel_free" => Some((
                r.ts(),
                (
                    "kernel".to_string(),
                    r.s("kernel_free.kind").to_string(),
                    r.u("kernel_free.address"),
                ),
            )),
            _ => None,
        })
        .collect();
    frees.sort();
    for (t, key) in &frees {
        let Some(list) = by_key.get(key) else {
            continue;
        };
        let latest = list
            .iter()
            .copied()
            .filter(|&i| allocs[i].ts < *t)
            .max_by_key(|&i| (allocs[i].ts, i));
        if let Some(i) = latest {
            allocs[i].freed = true;
        }
    }
    allocs
}

/// The groups whose outstanding allocations are a leak (docs/REPORTS.md,
/// leaks), from the raw rows: of what the group allocated in `[from, to)`,
/// counting what is not freed by `to` and was allocated at least 500 ms
/// before it, at least 100 allocations and at least half of the bytes.
/// Per group: (bytes, allocations, oldest ts) kept.
fn leaking(rows: &[RawRow], from: i64, to: i64) -> BTreeMap<Key, (f64, f64, i64)> {
    let mut by: BTreeMap<Key, (f64, f64, i64, f64)> = BTreeMap::new();
    for a in matched(rows, to).iter().filter(|a| a.ts >= from) {
        let e = by
            .entry(a.group.clone())
            .or_insert((0.0, 0.0, i64::MAX, 0.0));
        e.3 += a.bytes as f64 * a.w;
        if !a.freed && a.ts <= to - 500_000_000 {
            e.0 += a.bytes as f64 * a.w;
            e.1 += a.w;
            e.2 = e.2.min(a.ts);
        }
    }
    by.into_iter()
        .filter(|(_, v)| v.1 >= 100.0 && v.0 >= 0.5 * v.3)
        .map(|(k, v)| (k, (v.0, v.1, v.2)))
        .collect()
}

/// The report's outstanding tables as the same groups.
fn reported(rep: &J) -> Groups {
    let mut out = Groups::new();
    let sec = &rep["sections"]["leaks"]["tables"];
    for (table, side) in [
        ("user_outstanding", "user"),
        ("kernel_outstanding", "kernel"),
    ] {
        for r in sec[table]["rows"].as_array().into_iter().flatten() {
            let owner = if side == "user" {
                r["tgid"].to_string()
            } else {
                r["kind"].as_str().unwrap().to_string()
            };
            let stack = match r["stack_id"].as_u64() {
                Some(s) => s.to_string(),
                None => "?".to_string(),
            };
            let e = out
                .entry((side.to_string(), owner, stack))
                .or_insert((0.0, 0.0, 0));
            e.0 += r["bytes"].as_f64().unwrap();
            e.1 += r["allocations"].as_f64().unwrap();
            e.2 += r["recorded"].as_u64().unwrap();
        }
    }
    out
}

/// Checks the report over `[from_ms, to_ms)` (None: the recording's ends)
/// against the raw rows.
fn check_window(
    path: &Path,
    rows: &[RawRow],
    start: i64,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) {
    let p = path.to_str().unwrap();
    let mut args = vec![
        "report".to_string(),
        p.to_string(),
        "--section".into(),
        "leaks".into(),
        "--format".into(),
        "json".into(),
        "--top".into(),
        "0".into(),
    ];
    if let Some(f) = from_ms {
        args.extend(["--from".into(), format!("{f}ms")]);
    }
    if let Some(t) = to_ms {
        args.extend(["--to".into(), format!("{t}ms")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rep: J = serde_json::from_str(&ok(&args)).unwrap();
    let from = from_ms.map_or(i64::MIN, |f| start + f * 1_000_000);
    let to = to_ms.map_or(i64::MAX, |t| start + t * 1_000_000);
    let want = expected(rows, from, to);
    // Groups without a stack are keyed by call site in the raw rows and
    // have no stack id in the report: compare those by (side, owner).
    let fold = |g: &Groups| {
        let mut m: BTreeMap<(String, String, String), (f64, f64, u64)> = BTreeMap::new();
        for ((s, o, k), v) in g {
            let k = if k.parse::<u64>().is_ok() {
                k.clone()
            } else {
                "?".into()
            };
            let e = m.entry((s.clone(), o.clone(), k)).or_insert((0.0, 0.0, 0));
            e.0 += v.0;
            e.1 += v.1;
            e.2 += v.2;
        }
        m
    };
    let (want, got) = (fold(&want), reported(&rep));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{path:?} {from_ms:?}..{to_ms:?}: groups"
    );
    for (k, w) in &want {
        let g = got[k];
        assert_eq!(g.2, w.2, "{path:?} {k:?}: rows");
        // Each row of the report rounds its estimate once: at most half a
        // byte (allocation) per row folded here.
        let rows_folded = 1.0 + g.2 as f64;
        assert!(
            (g.0 - w.0).abs() <= rows_folded,
            "{path:?} {k:?}: bytes {} vs {}",
            g.0,
            w.0
        );
        assert!(
            (g.1 - w.1).abs() <= rows_folded,
            "{path:?} {k:?}: allocations {} vs {}",
            g.1,
            w.1
        );
    }
    let total = |side: &str| -> f64 {
        want.iter()
            .filter(|(k, _)| k.0 == side)
            .map(|(_, v)| v.0)
            .sum()
    };
    let metric = |key: &str| {
        rep["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == key)
            .and_then(|m| m["value"].as_f64())
    };
    for side in ["user", "kernel"] {
        if let Some(m) = metric(&format!("leaks.{side}.outstanding_bytes")) {
            let n = want.keys().filter(|k| k.0 == side).count() as f64;
            assert!(
                (m - total(side)).abs() <= n + 1.0,
                "{side}: {m} vs {}",
                total(side)
            );
        }
    }
}

/// The section's leak findings against [`leaking`]: one per process for the
/// heap (its groups summed), one per kernel group; their allocations and
/// score (bytes per second since the oldest was allocated).
fn check_findings(path: &Path, rows: &[RawRow], start: i64, end: i64) {
    let p = path.to_str().unwrap();
    let rep: J = serde_json::from_str(&ok(&[
        "report",
        p,
        "--section",
        "leaks",
        "--format",
        "json",
        "--top",
        "0",
    ]))
    .unwrap();
    let got: Vec<&J> = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        // The leak findings (a slab cache's peak is another kind).
        .filter(|f| f["section"] == "leaks" && f["kind"] == "leak_suspect")
        .collect();
    let mut want: BTreeMap<Option<u64>, Vec<(f64, f64, i64)>> = BTreeMap::new();
    for ((side, owner, _), v) in leaking(rows, start, end) {
        let key = (side == "user").then(|| owner.parse::<u64>().unwrap());
        want.entry(key).or_default().push(v);
    }
    let metric = |key: &str| {
        rep["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == key)
            .and_then(|m| m["value"].as_f64())
    };
    let user: Vec<&(f64, f64, i64)> = want
        .iter()
        .filter(|e| e.0.is_some())
        .flat_map(|e| e.1)
        .collect();
    if let Some(m) = metric("leaks.user.leaking_groups") {
        assert_eq!(m, user.len() as f64, "{p}: leaking groups");
        let bytes: f64 = user.iter().map(|g| g.0).sum();
        let m = metric("leaks.user.leaking_bytes").unwrap();
        assert!(
            (m - bytes).abs() <= 0.5,
            "{p}: leaking bytes {m} vs {bytes}"
        );
    }
    let kernel = want.get(&None).map_or(0, Vec::len);
    assert_eq!(
        got.len(),
        want.len() - usize::from(kernel > 0) + kernel,
        "{p}: leak findings {:?}, want {want:?}",
        got.iter().map(|f| &f["summary"]).collect::<Vec<_>>()
    );
    for (pid, groups) in &want {
        let Some(pid) = pid else { continue };
        let f = got
            .iter()
            .find(|f| f["pid"].as_u64() == Some(*pid))
            .unwrap_or_else(|| panic!("{p}: no finding for pid {pid}"));
        assert_eq!(f["kind"], "leak_suspect");
        assert_eq!(f["severity"], "warning");
        let bytes: f64 = groups.iter().map(|g| g.0).sum();
        let count: f64 = groups.iter().map(|g| g.1).sum();
        let oldest = groups.iter().map(|g| g.2).min().unwrap();
        let summary = f["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("Outstanding heap: ")
                && summary.contains(&format!(" pid {pid} holds "))
                && summary.contains(&format!(
                    " in {} allocations not freed (memleak)",
                    count.round()
                )),
            "{p}: {summary}"
        );
        assert_eq!(f["ts_ns"].as_i64(), Some(oldest), "{p}: {summary}");
        let score = bytes / ((end - oldest) as f64 / 1e9);
        let s = f["score"].as_f64().unwrap();
        assert!(
            (s - score).abs() <= 1e-9 * score,
            "{p}: score {s} vs {score}"
        );
    }
}

fn check_file(path: &Path) {
    let rows = read_rows(path);
    let meta = read_meta(path);
    let start = if meta.start_ns > 0 {
        meta.start_ns
    } else {
        rows.iter().map(RawRow::ts).min().unwrap_or(0)
    };
    let end = if meta.end_ns > start {
        meta.end_ns
    } else {
        rows.iter().map(RawRow::ts).max().unwrap_or(start)
    };
    let len_ms = (end - start) / 1_000_000;
    check_findings(path, &rows, start, end);
    check_window(path, &rows, start, None, None);
    if len_ms >= 3 {
        check_window(path, &rows, start, Some(len_ms / 3), Some(2 * len_ms / 3));
    }
}

#[test]
fn outstanding_bytes_match_the_raw_rows_on_a_synthetic_recording() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    check_file(&p);
    // The leak is a finding (its churning stack left out); the young
    // blocks are not.
    let rep: J = serde_json::from_str(&ok(&[
        "report",
        p.to_str().unwrap(),
        "--section",
        "leaks",
        "--format",
        "json",
    ]))
    .unwrap();
    let pids: Vec<Option<u64>> = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pid"].as_u64())
        .collect();
    let leaker = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["pid"] == 40)
        .unwrap_or_else(|| panic!("no finding for the leaker: {pids:?}"));
    assert!(
        leaker["summary"]
            .as_str()
            .unwrap()
            .starts_with("Outstanding heap: leaker pid 40 holds 200.00 KiB in 200 allocations"),
        "{leaker}"
    );
    assert!(!pids.contains(&Some(50)), "{pids:?}");
}

/// The memleak fixtures (memscen heap-leak and slab-hold). Skipped, saying so,
/// only when the fixture files are missing.
#[test]
fn outstanding_bytes_match_the_raw_rows_on_the_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    for name in ["heap-leak", "slab-hold"] {
        let p = dir.join(format!("{name}.parquet"));
        if !p.exists() {
            eprintln!("skipped: {} is missing", p.display());
            continue;
        }
        check_file(&p);
    }
}

#[test]
fn the_leaks_section_prints_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let p = p.to_str().unwrap();
    for format in ["text", "markdown", "json", "csv"] {
        let out = ok(&["report", p, "--section", "leaks", "--format", format]);
        assert!(
            out.contains("user_outstanding") || out.contains("User heap outstanding"),
            "{format}: {out}"
        );
    }
    let text = ok(&["report", p, "--section", "leaks"]);
    assert!(text.contains("ESTIMATES (user)"), "{text}");
    assert!(
        text.contains("kmalloc_user"),
        "the top kernel stack in full: {text}"
    );
}

#[test]
fn memana_leaks_prints_folded_text_and_json() {
    let d = tempfile::tempdir().unwrap();
    let p = synthetic(d.path());
    let p = p.to_str().unwrap();
    let folded = ok(&["leaks", p, "--format", "folded"]);
    assert!(!folded.is_empty());
    let mut sum = 0u64;
    for l in folded.lines() {
        let (stack, n) = l.rsplit_once(' ').unwrap();
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("{l}"));
        assert!(n > 0, "{l}");
        sum += n;
        let frames: Vec<&str> = stack.split(';').collect();
        assert!(
            frames.len() >= 2 && frames.iter().all(|f| !f.is_empty()),
            "{l}"
        );
    }
    // Kernel stacks root first: do_thing is the caller of kmalloc_user.
    assert!(folded.contains("do_thing;kmalloc_user "), "{folded}");
    let j: J = serde_json::from_str(&ok(&["leaks", p, "--format", "json", "--top", "0"])).unwrap();
    let stacks = j["stacks"].as_array().unwrap();
    let bytes: u64 = stacks.iter().map(|s| s["bytes"].as_u64().unwrap()).sum();
    // The folded lines split the stacks by comm and round each once.
    assert!(sum.abs_diff(bytes) <= folded.lines().count() as u64 + stacks.len() as u64);
    assert_eq!(j["estimated"], true);
    // Kernel only: leaves from kallsyms, a call site where no stack was
    // taken (kmalloc), none for pages without a stack.
    let kernel = ok(&["leaks", p, "--kernel", "--format", "folded"]);
    for l in kernel.lines() {
        let leaf = l.rsplit_once(' ').unwrap().0.rsplit(';').next().unwrap();
        assert!(
            ["kmalloc_user", "do_thing", "[no stack]"].contains(&leaf),
            "{kernel}"
        );
    }
    let user: J = serde_json::from_str(&ok(&["leaks", p, "--user", "--format", "json"])).unwrap();
    assert!(user["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["side"] == "user"));
    let text = ok(&["leaks", p, "--from", "10s", "--to", "20s"]);
    assert!(
        text.contains("outstanding at +20.000s, allocated since +10.000s"),
        "{text}"
    );
    // --user and --kernel together make no sense.
    let (code, _, err) = memana(&["leaks", p, "--user", "--kernel"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn without_the_groups_both_commands_say_what_to_record() {
    let d = tempfile::tempdir().unwrap();
    let mut b = Builder::new(T0, T0 + SEC);
    b.add(
        hdr(T0, 1, 1, "a"),
        &memtrace_schema::tables::procstat::procstat::Row::default(),
    );
    b.meta.groups.retain(|g| g.name == "procstat");
    b.meta.groups_requested.retain(|g| g == "procstat");
    b.count();
    let p = d.path().join("none.parquet");
    b.write(&p);
    let p = p.to_str().unwrap();
    let (code, _, err) = memana(&["report", p, "--section", "leaks"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("section `leaks` cannot be computed") && err.contains("+memleak"),
        "{err}"
    );
    let (code, _, err) = memana(&["leaks", p]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no allocations to show") && err.contains("memleak"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The brief report names it among the sections not recorded; the
    // whole report (-v) says what to record.
    let text = ok(&["report", p]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("Not recorded: ") && l.contains("leaks")),
        "{text}"
    );
    let text = ok(&["report", p, "-v"]);
    assert!(
        text.contains(
            "Not recorded: the user heap (memleak) and kernel allocations (kmemleak) were not \
             recorded"
        ),
        "{text}"
    );
}
