//! Swap: pages read back (swap-ins, per process and cgroup) and written out
//! (swap-outs, per owning cgroup and reclaimer), over time.

use super::common::{per_process, push_ranked, Intervals, BUCKET};
use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, Unit};
use crate::recording::Recording;
use crate::report_row;
use polars::prelude::*;
use std::collections::BTreeMap;

report_row! {
    /// Swap-ins of one process.
    struct ProcessRow {
        tgid: u64 => None,
        comm: String => None,
        cgroup: String => None,
        swap_ins: u64 => Pages,
    }
}

report_row! {
    /// Swap traffic of one memory cgroup.
    struct CgroupRow {
        cgroup: String => None,
        swap_ins: u64 => Pages,
        swap_outs: u64 => Pages,
    }
}

report_row! {
    /// Swap traffic in one interval.
    struct TimeRow {
        ts_ns: i64 => Timestamp,
        swap_ins: u64 => Pages,
        swap_outs: u64 => Pages,
    }
}

report_row! {
    /// Swap-outs written by one reclaiming task.
    struct ReclaimerRow {
        comm: String => None,
        swap_outs: u64 => Pages,
        writes: u64 => Count,
    }
}

pub static SECTION: Section = Section {
    id: "swap",
    title: "Swap-ins and swap-outs (swap_in, swap_out)",
    required: &["swap"],
    optional: &[],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    // Swap-ins per process and cgroup (one page each).
    let pc = per_process(
        rec,
        "swap_in",
        rec.scan("swap_in", f, &["tgid", "comm", "cgroup_id"])?,
        &["cgroup_id"],
        vec![],
    )?;
    let cg = pc.frame.u64_or0("cgroup_id")?;
    let mut procs: Vec<ProcessRow> = Vec::new();
    let mut by_cg: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (i, &cg) in cg.iter().enumerate() {
        by_cg.entry(cg).or_default().0 += pc.n[i];
        procs.push(ProcessRow {
            tgid: pc.tgid[i],
            comm: pc.comm[i].clone(),
            cgroup: super::common::cgroup_name(rec, cg),
            swap_ins: pc.n[i],
        });
    }
    procs.sort_by(|a, b| {
        b.swap_ins
            .cmp(&a.swap_ins)
            .then_with(|| (a.tgid, &a.comm).cmp(&(b.tgid, &b.comm)))
    });
    // Swap-outs per owning cgroup and per reclaimer. Not filtered by task:
    // the writer is the reclaimer, not the owner.
    let q = count_by(
        rec.scan_with("swap_out", f, &["owner_cgroup_id", "comm", "pages"], false)?,
        &["owner_cgroup_id", "comm"],
        vec![col("pages").sum().alias("pages_sum")],
    );
    let fr = rec.fetch("swap_out", q)?;
    let (oc, rc, pg, wn) = (
        fr.u64_or0("owner_cgroup_id")?,
        fr.str_or_empty("comm")?,
        fr.u64_or0("pages_sum")?,
        fr.u64_or0(COUNT)?,
    );
    let mut by_reclaimer: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for i in 0..fr.height() {
        by_cg.entry(oc[i]).or_default().1 += pg[i];
        let e = by_reclaimer.entry(rc[i].clone()).or_default();
        e.0 += pg[i];
        e.1 += wn[i];
    }
    let ins: u64 = by_cg.values().map(|v| v.0).sum();
    let outs: u64 = by_cg.values().map(|v| v.1).sum();
    r.metrics
        .push(Metric::new("swap.in_pages", ins, Unit::Pages));
    r.metrics
        .push(Metric::new("swap.out_pages", outs, Unit::Pages));
    if ins + outs > 0 {
        // The memcg whose pages went out most, or that read back most.
        let top = by_cg
            .iter()
            .max_by_key(|(id, v)| (v.1 + v.0, std::cmp::Reverse(**id)))
            .map(|(id, v)| (super::common::cgroup_name(rec, *id), v.1, v.0));
        let mut fd = Finding::new(
            Severity::Info,
            FindingKind::Swap,
            format!(
                "Swap: {outs} pages written out, {ins} read back in{}",
                top.as_ref()
                    .map(|(p, o, i)| format!("; most in memcg {p} ({o} out, {i} in)"))
                    .unwrap_or_default()
            ),
        )
        .score((ins + outs) as f64);
        if let Some((p, _, _)) = top {
            fd = fd.cgroup(p);
        }
        r.findings.push(fd);
    }
    push_ranked(
        &mut r,
        "processes",
        "Swap-ins per process (major faults on anonymous and shmem VMAs)",
        procs,
        f.top,
    );
    let mut rows: Vec<CgroupRow> = by_cg
        .into_iter()
        .map(|(id, (i, o))| CgroupRow {
            cgroup: super::common::cgroup_name(rec, id),
            swap_ins: i,
            swap_outs: o,
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.swap_ins + b.swap_outs)
            .cmp(&(a.swap_ins + a.swap_outs))
            .then_with(|| a.cgroup.cmp(&b.cgroup))
    });
    push_ranked(
        &mut r,
        "cgroups",
        "Per memory cgroup: swap-ins of its tasks, swap-outs of pages charged to it",
        rows,
        f.top,
    );
    let mut recl: Vec<(String, (u64, u64))> = by_reclaimer.into_iter().collect();
    recl.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
    push_ranked(
        &mut r,
        "reclaimers",
        "Swap-outs per reclaiming task (kswapd, or the task in direct reclaim)",
        recl.into_iter()
            .map(|(comm, (pages, writes))| ReclaimerRow {
                comm,
                swap_outs: pages,
                writes,
            }),
        f.top,
    );
    over_time(rec, f, &mut r)?;
    r.notes.push(
        "A swap-in is a major fault on an anonymous or shmem VMA (the kernel has no swap-in \
         tracepoint); readahead pages and swap-ins outside faults (swapoff, MADV_WILLNEED) \
         are not counted. A swap-out is reclaim's write of a swap-backed folio."
            .into(),
    );
    Ok(r)
}

fn over_time(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let w = Intervals::of(rec, f);
    let mut acc: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let lf = rec.scan("swap_in", f, &["ts_ns"])?;
    let fr = rec.fetch("swap_in", w.count(lf, &[], vec![]))?;
    let (b, n) = (fr.i64_or0(BUCKET)?, fr.u64_or0(COUNT)?);
    for i in 0..fr.height() {
        acc.entry(b[i]).or_default().0 += n[i];
    }
    let lf = rec.scan_with("swap_out", f, &["ts_ns", "pages"], false)?;
    let fr = rec.fetch(
        "swap_out",
        w.count(lf, &[], vec![col("pages").sum().alias("pages_sum")]),
    )?;
    let (b, p) = (fr.i64_or0(BUCKET)?, fr.u64_or0("pages_sum")?);
    for i in 0..fr.height() {
        acc.entry(b[i]).or_default().1 += p[i];
    }
    let mut t = Table::of::<TimeRow>(
        "over_time",
        &format!("Pages swapped in and out {}", w.per()),
    );
    for (bucket, (i, o)) in acc {
        t.push_row(TimeRow {
            ts_ns: w.begin(bucket),
            swap_ins: i,
            swap_outs: o,
        });
    }
    r.tables.push(t);
    Ok(())
}
