//! Address-space calls: per call and per process, mapped and unmapped bytes
//! and heap growth over time, SysV shm segments, failed calls and latency.

use super::common::{per_process as count_per_process, push_ranked, Intervals, BUCKET};
use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{
    Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, Unit, Value,
};
use crate::recording::Recording;
use crate::report_row;
use crate::stats::Latency;
use polars::prelude::*;
use std::collections::BTreeMap;

const TABLE: &str = "mapping_call";

/// Report order of the calls; others (none today) after them by name.
const CALLS: [&str; 10] = [
    "mmap", "munmap", "mremap", "brk", "madvise", "mprotect", "shmget", "shmat", "shmdt", "shmctl",
];

fn call_key(c: &str) -> (usize, String) {
    match CALLS.iter().position(|x| *x == c) {
        Some(p) => (p, String::new()),
        None => (CALLS.len(), c.to_string()),
    }
}

report_row! {
    /// One call: how often, how often it failed, bytes, latency.
    struct CallRow {
        call: String => None,
        calls: u64 => Count,
        failed: u64 => Count,
        mapped: u64 => Bytes,
        unmapped: u64 => Bytes,
        p50: Option<i64> => Ns,
        p99: Option<i64> => Ns,
        max: Option<i64> => Ns,
        total: i64 => Ns,
    }
}

report_row! {
    /// One process's calls and what they did to its address space.
    struct ProcRow {
        tgid: u64 => None,
        comm: String => None,
        calls: u64 => Count,
        failed: u64 => Count,
        mapped: u64 => Bytes,
        unmapped: u64 => Bytes,
        net: i64 => Bytes,
        heap_growth: i64 => Bytes,
        brk_calls: u64 => Count,
        shm_attached: u64 => Bytes,
    }
}

report_row! {
    /// One process in one interval.
    struct TimeRow {
        tgid: u64 => None,
        comm: String => None,
        from: i64 => Timestamp,
        calls: u64 => Count,
        mapped: u64 => Bytes,
        unmapped: u64 => Bytes,
        heap_growth: i64 => Bytes,
        net_since_start: i64 => Bytes,
        heap_since_start: i64 => Bytes,
    }
}

report_row! {
    /// One SysV shm segment, by its id.
    struct ShmRow {
        shmid: i64 => None,
        key: Option<i64> => None,
        size: Option<u64> => Bytes,
        created: Option<i64> => Timestamp,
        creator_tgid: Option<u64> => None,
        creator_comm: String => None,
        attaches: u64 => Count,
        detaches: u64 => Count,
        attached_bytes: u64 => Bytes,
        removed: Option<i64> => Timestamp,
    }
}

report_row! {
    /// Failed calls of one kind, error and process.
    struct FailRow {
        call: String => None,
        error: String => None,
        tgid: u64 => None,
        comm: String => None,
        failed: u64 => Count,
    }
}

report_row! {
    /// One file mapped with mmap.
    struct FileRow {
        file: String => None,
        mmaps: u64 => Count,
        mapped: u64 => Bytes,
    }
}

pub static SECTION: Section = Section {
    id: "mappings",
    title: "Address-space calls (mappings)",
    required: &["mappings"],
    optional: &[],
    compute,
};

/// Sum of `mapped` (sign > 0) or `unmapped` bytes, or of those of one call.
fn delta_sum(sign: i64, call: Option<&str>, alias: &str) -> Expr {
    let c = if sign > 0 { "mapped" } else { "unmapped" };
    let d = col(c).cast(DataType::Int64).fill_null(lit(0i64));
    match call {
        Some(name) => when(col("call").eq(lit(name)))
            .then(d)
            .otherwise(lit(0i64))
            .sum()
            .alias(alias),
        None => d.sum().alias(alias),
    }
}

/// Mapped minus unmapped bytes of one call (brk: heap growth).
fn net_of(call: &str, alias: &str) -> Expr {
    let m = col("mapped").cast(DataType::Int64).fill_null(lit(0i64));
    let u = col("unmapped").cast(DataType::Int64).fill_null(lit(0i64));
    when(col("call").eq(lit(call)))
        .then(m - u)
        .otherwise(lit(0i64))
        .sum()
        .alias(alias)
}

fn failed_expr() -> Expr {
    col("error")
        .is_not_null()
        .cast(DataType::UInt64)
        .sum()
        .alias("failed")
}

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let total = per_call(rec, f, &mut r)?;
    if total == 0 {
        r.status = Status::NoData("no address-space calls in the selected window".into());
        return Ok(r);
    }
    let top = per_process(rec, f, &mut r)?;
    timeline(rec, f, &top, &mut r)?;
    shm(rec, f, &mut r)?;
    failures(rec, f, &mut r)?;
    files(rec, f, &mut r)?;
    failure_finding(&mut r);
    r.notes.push(
        "Bytes are what each call did to the address space as VmSize counts it (the \
         mapped and unmapped columns): mmap and munmap lengths rounded up to pages, mremap's new minus \
         old length, brk's page-rounded move (heap growth), shmat/shmdt the segment's \
         mapping. munmap counts its whole range, mapped or not."
            .into(),
    );
    Ok(r)
}

/// The calls table and its metrics; returns how many calls there were.
fn per_call(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<u64, SectionError> {
    let lf = rec.scan(
        TABLE,
        f,
        &["call", "error", "mapped", "unmapped", "duration_ns"],
    )?;
    let q = count_by(
        lf,
        &["call"],
        vec![
            failed_expr(),
            delta_sum(1, None, "mapped"),
            delta_sum(-1, None, "unmapped"),
            col("duration_ns").cast(DataType::Int64).alias("durations"),
        ],
    );
    let fr = rec.fetch(TABLE, q)?;
    let (call, n, failed) = (
        fr.str_or_empty("call")?,
        fr.u64_or0(COUNT)?,
        fr.u64_or0("failed")?,
    );
    let (mapped, unmapped, durs) = (
        fr.i64_or0("mapped")?,
        fr.i64_or0("unmapped")?,
        fr.i64_lists("durations")?,
    );
    let mut rows: Vec<(String, u64, u64, u64, u64, Latency)> = Vec::new();
    for (i, mut d) in durs.into_iter().enumerate() {
        rows.push((
            call[i].clone(),
            n[i],
            failed[i],
            mapped[i].max(0) as u64,
            unmapped[i].max(0) as u64,
            Latency::of(&mut d),
        ));
    }
    rows.sort_by_key(|x| call_key(&x.0));
    let mut t = Table::of::<CallRow>(
        "calls",
        "Calls: how many, failed, bytes mapped and unmapped, latency (entry to return)",
    );
    let (mut all, mut all_failed, mut all_mapped, mut all_unmapped) = (0u64, 0u64, 0u64, 0u64);
    for (c, n, fl, m, u, lat) in rows {
        all += n;
        all_failed += fl;
        all_mapped += m;
        all_unmapped += u;
        r.metrics
            .push(Metric::new("mappings.calls", n, Unit::Count).label("call", &c));
        r.metrics
            .push(Metric::new("mappings.failed", fl, Unit::Count).label("call", &c));
        if let Some(p) = lat.p99 {
            r.metrics
                .push(Metric::new("mappings.p99_ms", p as f64 / 1e6, Unit::Ms).label("call", &c));
        }
        t.push_row(CallRow {
            call: c,
            calls: n,
            failed: fl,
            mapped: m,
            unmapped: u,
            p50: lat.p50,
            p99: lat.p99,
            max: lat.max,
            total: lat.sum,
        });
    }
    r.metrics
        .push(Metric::new("mappings.calls", all, Unit::Count));
    r.metrics
        .push(Metric::new("mappings.failed", all_failed, Unit::Count));
    r.metrics.push(Metric::new(
        "mappings.mapped_bytes",
        all_mapped,
        Unit::Bytes,
    ));
    r.metrics.push(Metric::new(
        "mappings.unmapped_bytes",
        all_unmapped,
        Unit::Bytes,
    ));
    r.tables.push(t);
    Ok(all)
}

/// Per process, ranked by bytes mapped plus unmapped; returns the ranked
/// processes shown (tgid, comm).
fn per_process(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
) -> Result<Vec<(u64, String)>, SectionError> {
    let lf = rec.scan(
        TABLE,
        f,
        &["tgid", "comm", "call", "error", "mapped", "unmapped"],
    )?;
    let pc = count_per_process(
        rec,
        TABLE,
        lf,
        &[],
        vec![
            failed_expr(),
            delta_sum(1, None, "mapped"),
            delta_sum(-1, None, "unmapped"),
            net_of("brk", "heap"),
            col("call")
                .eq(lit("brk"))
                .cast(DataType::UInt64)
                .sum()
                .alias("brk_calls"),
            delta_sum(1, Some("shmat"), "shm"),
        ],
    )?;
    let (tg, cm, n, fr) = (&pc.tgid, &pc.comm, &pc.n, &pc.frame);
    let fl = fr.u64_or0("failed")?;
    let (m, u, heap, brk, shm) = (
        fr.i64_or0("mapped")?,
        fr.i64_or0("unmapped")?,
        fr.i64_or0("heap")?,
        fr.u64_or0("brk_calls")?,
        fr.i64_or0("shm")?,
    );
    // Per process; its name is the thread name with the most calls (a
    // null name and an empty one both read as "").
    let mut acc: BTreeMap<u64, [i64; 7]> = BTreeMap::new();
    let mut names: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    for i in 0..fr.height() {
        *names
            .entry(tg[i])
            .or_default()
            .entry(cm[i].clone())
            .or_default() += n[i];
        let e = acc.entry(tg[i]).or_default();
        for (k, v) in [
            n[i] as i64,
            fl[i] as i64,
            m[i],
            u[i],
            heap[i],
            brk[i] as i64,
            shm[i],
        ]
        .into_iter()
        .enumerate()
        {
            e[k] += v;
        }
    }
    let name = |tgid: u64| -> String {
        names
            .get(&tgid)
            .and_then(|m| m.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))))
            .map(|(c, _)| c.clone())
            .unwrap_or_default()
    };
    let mut rows: Vec<((u64, String), [i64; 7])> =
        acc.into_iter().map(|(t, v)| ((t, name(t)), v)).collect();
    rows.sort_by_key(|(k, v)| {
        (
            std::cmp::Reverse(v[2] + v[3]),
            std::cmp::Reverse(v[0]),
            k.clone(),
        )
    });
    let heap_total: i64 = rows.iter().map(|(_, v)| v[4]).sum();
    r.metrics.push(Metric::new(
        "mappings.heap_growth_bytes",
        heap_total,
        Unit::Bytes,
    ));
    r.metrics
        .push(Metric::new("mappings.processes", rows.len(), Unit::Count));
    let mut t = Table::of::<ProcRow>(
        "processes",
        "Top callers by bytes mapped plus unmapped (heap growth: brk's net move)",
    );
    let mut shown = Vec::new();
    for ((tgid, comm), v) in rows {
        if f.top > 0 && shown.len() >= f.top {
            break;
        }
        shown.push((tgid, comm.clone()));
        t.push_row(ProcRow {
            tgid,
            comm,
            calls: v[0] as u64,
            failed: v[1] as u64,
            mapped: v[2] as u64,
            unmapped: v[3] as u64,
            net: v[2] - v[3],
            heap_growth: v[4],
            brk_calls: v[5] as u64,
            shm_attached: v[6] as u64,
        });
    }
    r.tables.push(t);
    Ok(shown)
}

/// Mapped, unmapped and heap bytes per interval for the top processes
/// (at most 5), with running sums from the start of the window.
fn timeline(
    rec: &Recording,
    f: &Filter,
    top: &[(u64, String)],
    r: &mut SectionReport,
) -> Result<(), SectionError> {
    let w = Intervals::of(rec, f);
    let keep: Vec<u64> = top.iter().take(5).map(|p| p.0).collect();
    let mut t = Table::of::<TimeRow>(
        "timeline",
        &format!(
            "Over time, top processes: bytes {} and running sums",
            w.per()
        ),
    );
    if keep.is_empty() {
        r.tables.push(t);
        return Ok(());
    }
    let lf = rec
        .scan(TABLE, f, &["ts_ns", "tgid", "call", "mapped", "unmapped"])?
        .filter(col("tgid").cast(DataType::UInt64).is_in(
            lit(Series::new("k".into(), keep.clone())).implode(false),
            false,
        ));
    let q = w.count(
        lf,
        &["tgid"],
        vec![
            delta_sum(1, None, "mapped"),
            delta_sum(-1, None, "unmapped"),
            net_of("brk", "heap"),
        ],
    );
    let fr = rec.fetch(TABLE, q)?;
    let (tg, b, n) = (fr.u64_or0("tgid")?, fr.i64_or0(BUCKET)?, fr.u64_or0(COUNT)?);
    let (m, u, h) = (
        fr.i64_or0("mapped")?,
        fr.i64_or0("unmapped")?,
        fr.i64_or0("heap")?,
    );
    let mut acc: BTreeMap<(usize, i64), (u64, i64, i64, i64)> = BTreeMap::new();
    for i in 0..fr.height() {
        let rank = keep.iter().position(|&k| k == tg[i]).unwrap_or(usize::MAX);
        let e = acc.entry((rank, b[i])).or_default();
        e.0 += n[i];
        e.1 += m[i];
        e.2 += u[i];
        e.3 += h[i];
    }
    let mut run: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    for ((rank, bucket), (n, m, u, h)) in acc {
        let sums = run.entry(rank).or_default();
        let (tgid, comm) = top.get(rank).cloned().unwrap_or_default();
        sums.0 += m - u;
        sums.1 += h;
        t.push_row(TimeRow {
            tgid,
            comm,
            from: w.begin(bucket),
            calls: n,
            mapped: m.max(0) as u64,
            unmapped: u.max(0) as u64,
            heap_growth: h,
            net_since_start: sums.0,
            heap_since_start: sums.1,
        });
    }
    r.tables.push(t);
    Ok(())
}

/// Segment state built from the shm calls in time order.
#[derive(Debug, Default)]
struct Segment {
    key: Option<i64>,
    size: Option<u64>,
    created: Option<i64>,
    creator: Option<(u64, String)>,
    attaches: u64,
    detaches: u64,
    attached_bytes: u64,
    removed: Option<i64>,
}

fn shm(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let lf = rec
        .scan(
            TABLE,
            f,
            &[
                "ts_ns",
                "tgid",
                "comm",
                "call",
                "shmid",
                "key",
                "len",
                "result",
                "addr",
                "seg_bytes",
                "op_name",
                "error",
            ],
        )?
        .filter(
            col("call")
                .eq(lit("shmget"))
                .or(col("call").eq(lit("shmat")))
                .or(col("call").eq(lit("shmdt")))
                .or(col("call").eq(lit("shmctl"))),
        )
        .filter(col("error").is_null())
        .sort(["ts_ns"], Default::default());
    let fr = rec.fetch(TABLE, lf)?;
    let (ts, tg, cm, call) = (
        fr.i64_or0("ts_ns")?,
        fr.u64_or0("tgid")?,
        fr.str_or_empty("comm")?,
        fr.str_or_empty("call")?,
    );
    let (id, key, len, res) = (
        fr.i64("shmid")?,
        fr.i64("key")?,
        fr.u64("len")?,
        fr.u64("result")?,
    );
    let (addr, seg, op) = (
        fr.u64("addr")?,
        fr.u64("seg_bytes")?,
        fr.str_or_empty("op_name")?,
    );
    let mut segs: BTreeMap<i64, Segment> = BTreeMap::new();
    // Where each process has a segment attached: shmdt names the address only.
    let mut at: BTreeMap<(u64, u64), i64> = BTreeMap::new();
    for i in 0..fr.height() {
        match call[i].as_str() {
            "shmget" => {
                let Some(sid) = id[i] else { continue };
                let s = segs.entry(sid).or_default();
                if s.created.is_none() {
                    s.key = key[i];
                    s.size = len[i];
                    s.created = Some(ts[i]);
                    s.creator = Some((tg[i], cm[i].clone()));
                }
            }
            "shmat" => {
                let Some(sid) = id[i] else { continue };
                let s = segs.entry(sid).or_default();
                s.attaches += 1;
                s.attached_bytes += seg[i].unwrap_or(0);
                if let Some(a) = res[i] {
                    at.insert((tg[i], a), sid);
                }
            }
            "shmdt" => {
                if let Some(sid) = addr[i].and_then(|a| at.remove(&(tg[i], a))) {
                    segs.entry(sid).or_default().detaches += 1;
                }
            }
            "shmctl" if op[i].starts_with("IPC_RMID") => {
                let Some(sid) = id[i] else { continue };
                segs.entry(sid).or_default().removed = Some(ts[i]);
            }
            _ => {}
        }
    }
    r.metrics.push(Metric::new(
        "mappings.shm_segments",
        segs.len(),
        Unit::Count,
    ));
    let mut t = Table::of::<ShmRow>(
        "shm",
        "SysV shm segments: created (shmget), attached, detached, removed (IPC_RMID)",
    );
    for (sid, s) in segs {
        let (ctg, ccm) = match s.creator {
            Some((a, b)) => (Some(a), b),
            None => (None, String::new()),
        };
        t.push_row(ShmRow {
            shmid: sid,
            key: s.key,
            size: s.size,
            created: s.created,
            creator_tgid: ctg,
            creator_comm: ccm,
            attaches: s.attaches,
            detaches: s.detaches,
            attached_bytes: s.attached_bytes,
            removed: s.removed,
        });
    }
    r.tables.push(t);
    Ok(())
}

fn failures(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let lf = rec
        .scan(TABLE, f, &["tgid", "comm", "call", "error"])?
        .filter(col("error").is_not_null());
    let pc = count_per_process(rec, TABLE, lf, &["call", "error"], vec![])?;
    let (call, err) = (
        pc.frame.str_or_empty("call")?,
        pc.frame.str_or_empty("error")?,
    );
    let (tg, cm, n) = (&pc.tgid, &pc.comm, &pc.n);
    let mut acc: BTreeMap<(String, String, u64, String), u64> = BTreeMap::new();
    let mut per_error: BTreeMap<(String, String), u64> = BTreeMap::new();
    for i in 0..pc.len() {
        *acc.entry((call[i].clone(), err[i].clone(), tg[i], cm[i].clone()))
            .or_default() += n[i];
        *per_error
            .entry((call[i].clone(), err[i].clone()))
            .or_default() += n[i];
    }
    for ((c, e), n) in per_error {
        r.metrics.push(
            Metric::new("mappings.errors", n, Unit::Count)
                .label("call", &c)
                .label("error", &e),
        );
    }
    let mut rows: Vec<_> = acc.into_iter().collect();
    rows.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| call_key(&a.0 .0).cmp(&call_key(&b.0 .0)))
            .then_with(|| a.0.cmp(&b.0))
    });
    push_ranked(
        r,
        "failures",
        "Failed calls by error and process",
        rows.into_iter()
            .map(|((call, error, tgid, comm), failed)| FailRow {
                call,
                error,
                tgid,
                comm,
                failed,
            }),
        f.top,
    );
    Ok(())
}

fn files(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let lf = rec
        .scan(TABLE, f, &["file", "mapped", "unmapped"])?
        .filter(col("file").is_not_null());
    let q = count_by(lf, &["file"], vec![delta_sum(1, None, "mapped")]);
    let fr = rec.fetch(TABLE, q)?;
    let (file, n, m) = (
        fr.str_or_empty("file")?,
        fr.u64_or0(COUNT)?,
        fr.i64_or0("mapped")?,
    );
    let mut rows: Vec<(String, u64, u64)> = (0..fr.height())
        .map(|i| (file[i].clone(), n[i], m[i].max(0) as u64))
        .collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
    push_ranked(
        r,
        "files",
        "Files mapped with mmap, by bytes",
        rows.into_iter().map(|(file, mmaps, mapped)| FileRow {
            file,
            mmaps,
            mapped,
        }),
        f.top,
    );
    Ok(())
}

/// The failed calls as one finding: which calls with which errors, by whom.
fn failure_finding(r: &mut SectionReport) {
    let Some(t) = r.tables.iter().find(|t| t.id == "failures") else {
        return;
    };
    let text = |i: usize, c: &str| t.cell(i, c).map(Value::plain).unwrap_or_default();
    let mut total = 0u64;
    let mut parts: Vec<(u64, String)> = Vec::new();
    let mut who: Vec<String> = Vec::new();
    for i in 0..t.rows.len() {
        let n = t.cell(i, "failed").and_then(Value::as_f64).unwrap_or(0.0) as u64;
        total += n;
        parts.push((n, format!("{} {} ×{n}", text(i, "call"), text(i, "error"))));
        let w = format!("{} pid {}", text(i, "comm"), text(i, "tgid"));
        if !who.contains(&w) {
            who.push(w);
        }
    }
    if total == 0 {
        return;
    }
    parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut list: Vec<String> = parts.iter().take(4).map(|p| p.1.clone()).collect();
    if parts.len() > 4 {
        list.push(format!("… ({} kinds)", parts.len()));
    }
    who.truncate(3);
    r.findings.push(
        Finding::new(
            Severity::Info,
            FindingKind::MappingFailure,
            format!(
                "{total} address-space calls failed: {}; by {}",
                list.join(", "),
                who.join(", ")
            ),
        )
        .score(total as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_keep_their_report_order() {
        let mut v = vec!["shmctl", "zzz", "mmap", "brk"];
        v.sort_by_key(|c| call_key(c));
        assert_eq!(v, ["mmap", "brk", "shmctl", "zzz"]);
    }
}
