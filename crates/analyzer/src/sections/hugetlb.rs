//! hugetlb: faults in hugetlb VMAs per process and page size, the huge page
//! pools over time, and the pool's buddy allocations.

use super::common::{per_process as count_per_process, push_ranked};
use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::model::{
    Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, Unit, Value,
};
use crate::recording::Recording;
use crate::report_row;
use polars::prelude::*;

report_row! {
    /// Hugetlb faults of one process in huge pages of one size.
    struct ProcessRow {
        tgid: u64 => None,
        comm: String => None,
        page_size: u64 => Bytes,
        faults: u64 => Count,
        minor: u64 => Count,
        major: u64 => Count,
        shared: u64 => Count,
    }
}

report_row! {
    /// One huge page size's pool at one snapshot.
    struct PoolRow {
        ts_ns: i64 => Timestamp,
        trigger: String => None,
        page_size: u64 => Bytes,
        total: u64 => Count,
        free: u64 => Count,
        reserved: u64 => Count,
        surplus: u64 => Count,
        in_use: u64 => Count,
    }
}

report_row! {
    /// A /proc/vmstat counter of the pool's allocations, over the recording.
    struct AllocRow {
        counter: String => None,
        start: u64 => Count,
        end: u64 => Count,
        delta: i64 => Count,
    }
}

pub static SECTION: Section = Section {
    id: "hugetlb",
    title: "Hugetlb faults and huge page pools (hugetlb_fault, hugetlb_pool)",
    required: &["hugetlb"],
    optional: &[],
    compute,
};

/// The sysfs name of a huge page size (`2048kB`), as metric labels use it.
fn size_label(bytes: u64) -> String {
    format!("{}kB", bytes / 1024)
}

/// The /proc/vmstat counters of huge page allocations from the buddy
/// allocator (growing the pool, or a surplus page): successes and failures.
pub const ALLOC_COUNTERS: [&str; 2] = ["htlb_buddy_alloc_success", "htlb_buddy_alloc_fail"];

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let (total, major) = per_process(rec, f, &mut r)?;
    r.metrics
        .push(Metric::new("hugetlb.faults", total, Unit::Count));
    r.metrics
        .push(Metric::new("hugetlb.major_faults", major, Unit::Count));
    pools(rec, f, &mut r)?;
    allocations(rec, &mut r);
    finding(&mut r, total);
    r.notes.push(
        "A hugetlb fault is a page fault the kernel accounted (page-fault perf events) in a \
         VM_HUGETLB VMA; faults that end in SIGBUS (no free huge page) are not here. Pools are \
         the kernel's counters (HugePages_* in /proc/meminfo for the default size) at memrec's \
         snapshots; in_use = total - free. The buddy allocation counters cover the whole \
         recording, whatever --from/--to say."
            .into(),
    );
    Ok(r)
}

/// Per process and page size; returns (faults, major faults) over all.
fn per_process(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
) -> Result<(u64, u64), SectionError> {
    let pc = count_per_process(
        rec,
        "hugetlb_fault",
        rec.scan(
            "hugetlb_fault",
            f,
            &["tgid", "comm", "page_size", "major", "shared"],
        )?,
        &["page_size"],
        vec![
            col("major").cast(DataType::UInt64).sum().alias("majors"),
            col("shared").cast(DataType::UInt64).sum().alias("shareds"),
        ],
    )?;
    let (ps, mj, sh) = (
        pc.frame.u64_or0("page_size")?,
        pc.frame.u64_or0("majors")?,
        pc.frame.u64_or0("shareds")?,
    );
    let mut rows: Vec<ProcessRow> = (0..pc.len())
        .map(|i| ProcessRow {
            tgid: pc.tgid[i],
            comm: pc.comm[i].clone(),
            page_size: ps[i],
            faults: pc.n[i],
            minor: pc.n[i] - mj[i],
            major: mj[i],
            shared: sh[i],
        })
        .collect();
    rows.sort_by(|a, b| {
        b.faults
            .cmp(&a.faults)
            .then_with(|| (a.tgid, &a.comm, a.page_size).cmp(&(b.tgid, &b.comm, b.page_size)))
    });
    let total = rows.iter().map(|x| x.faults).sum();
    let major = rows.iter().map(|x| x.major).sum();
    push_ranked(
        r,
        "processes",
        "Hugetlb faults per process and huge page size",
        rows,
        f.top,
    );
    Ok((total, major))
}

/// The pools at every snapshot, and each size's first and last as metrics.
fn pools(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let cols = [
        "ts_ns",
        "trigger",
        "page_size",
        "total",
        "free",
        "reserved",
        "surplus",
    ];
    let lf = rec
        .scan_with("hugetlb_pool", f, &cols, false)?
        .sort(["ts_ns", "page_size"], SortMultipleOptions::default());
    let fr = rec.fetch("hugetlb_pool", lf)?;
    let (ts, tr, ps) = (
        fr.i64_or0("ts_ns")?,
        fr.str_or_empty("trigger")?,
        fr.u64_or0("page_size")?,
    );
    let (to, fe, rs, su) = (
        fr.u64_or0("total")?,
        fr.u64_or0("free")?,
        fr.u64_or0("reserved")?,
        fr.u64_or0("surplus")?,
    );
    let mut t = Table::of::<PoolRow>(
        "pools",
        "Huge page pools at each snapshot (start, every interval, end), per page size",
    );
    let mut first: Vec<(u64, usize)> = Vec::new();
    let mut last: Vec<(u64, usize)> = Vec::new();
    for i in 0..fr.height() {
        if !first.iter().any(|(s, _)| *s == ps[i]) {
            first.push((ps[i], i));
        }
        match last.iter_mut().find(|(s, _)| *s == ps[i]) {
            Some(l) => l.1 = i,
            None => last.push((ps[i], i)),
        }
        t.push_row(PoolRow {
            ts_ns: ts[i],
            trigger: tr[i].clone(),
            page_size: ps[i],
            total: to[i],
            free: fe[i],
            reserved: rs[i],
            surplus: su[i],
            in_use: to[i].saturating_sub(fe[i]),
        });
    }
    r.tables.push(t);
    for (at, list) in [("first", &first), ("last", &last)] {
        for &(size, i) in list.iter() {
            for (name, v) in [
                ("hugetlb.pool_total", to[i]),
                ("hugetlb.pool_free", fe[i]),
                ("hugetlb.pool_reserved", rs[i]),
                ("hugetlb.pool_surplus", su[i]),
            ] {
                r.metrics.push(
                    Metric::new(name, v, Unit::Count)
                        .label("page_size", size_label(size))
                        .label("at", at),
                );
            }
        }
    }
    Ok(())
}

/// htlb_buddy_alloc_* from memrec's /proc/vmstat reads at start and end.
fn allocations(rec: &Recording, r: &mut SectionReport) {
    let mut t = Table::of::<AllocRow>(
        "allocations",
        "Huge pages allocated from the buddy allocator for the pools (/proc/vmstat)",
    );
    for name in ALLOC_COUNTERS {
        let (Some(&a), Some(&b)) = (
            rec.meta.vmstat_start.get(name),
            rec.meta.vmstat_end.get(name),
        ) else {
            continue;
        };
        let delta = b as i64 - a as i64;
        r.metrics
            .push(Metric::new(format!("hugetlb.{name}"), delta, Unit::Count));
        t.push_row(AllocRow {
            counter: name.to_string(),
            start: a,
            end: b,
            delta,
        });
    }
    r.tables.push(t);
}

/// Huge page faults and pool failures as findings: who faulted huge pages
/// in, and whether growing the pool from the buddy allocator failed.
fn finding(r: &mut SectionReport, faults: u64) {
    let text = |t: &Table, i: usize, c: &str| t.cell(i, c).map(Value::plain).unwrap_or_default();
    if faults > 0 {
        let mut who = String::new();
        if let Some(t) = r.tables.iter().find(|t| t.id == "processes") {
            let n = t.rows.len().min(3);
            let list: Vec<String> = (0..n)
                .map(|i| {
                    format!(
                        "{} pid {} ({} of {} pages)",
                        text(t, i, "comm"),
                        text(t, i, "tgid"),
                        text(t, i, "faults"),
                        t.cell(i, "page_size")
                            .map(|v| crate::render::human(v, Unit::Bytes, 0))
                            .unwrap_or_default()
                    )
                })
                .collect();
            if !list.is_empty() {
                who = format!(" by {}", list.join(", "));
            }
        }
        r.findings.push(
            Finding::new(
                Severity::Info,
                FindingKind::Hugetlb,
                format!("{faults} hugetlb page faults{who}"),
            )
            .score(faults as f64),
        );
    }
    let failed = r
        .metrics
        .iter()
        .find(|m| m.name == "hugetlb.htlb_buddy_alloc_fail" && m.labels.is_empty())
        .and_then(|m| m.value.as_f64())
        .unwrap_or(0.0);
    if failed > 0.0 {
        r.findings.push(
            Finding::new(
                Severity::Warning,
                FindingKind::Hugetlb,
                format!(
                    "{failed:.0} huge page allocations from the buddy allocator failed \
                     (htlb_buddy_alloc_fail): the pool could not grow"
                ),
            )
            .score(failed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use std::path::Path;

    /// fixtures/hugetlb.parquet: memscen's hugetlb scenario, 4 faults of
    /// 2 MiB by its thread `memscen-htlb`, the pool 0 -> 8 -> 0.
    fn fixture() -> Recording {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hugetlb.parquet");
        Recording::open(&p).expect("the hugetlb fixture opens")
    }

    fn metric(r: &SectionReport, key: &str) -> Option<f64> {
        r.metrics
            .iter()
            .find(|m| m.key() == key)
            .and_then(|m| m.value.as_f64())
    }

    fn table<'r>(r: &'r SectionReport, id: &str) -> &'r Table {
        r.tables
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no table {id}"))
    }

    #[test]
    fn the_fixtures_faults_pools_and_allocations() {
        let rec = fixture();
        let r = compute(&rec, &Filter::default()).expect("computes");
        assert_eq!(r.status, Status::Ok);
        assert_eq!(metric(&r, "hugetlb.faults"), Some(4.0));
        assert_eq!(metric(&r, "hugetlb.major_faults"), Some(0.0));
        assert_eq!(metric(&r, "hugetlb.htlb_buddy_alloc_success"), Some(8.0));
        assert_eq!(metric(&r, "hugetlb.htlb_buddy_alloc_fail"), Some(0.0));
        for at in ["first", "last"] {
            let key = format!("hugetlb.pool_total{{at=\"{at}\",page_size=\"2048kB\"}}");
            assert_eq!(metric(&r, &key), Some(0.0), "{key}");
        }
        let procs = table(&r, "processes");
        assert_eq!(procs.rows.len(), 1);
        let row = &procs.rows[0];
        assert_eq!(row[1], Value::Text("memscen-htlb".into()));
        assert_eq!(row[2], Value::UInt(2 << 20));
        assert_eq!(row[3], Value::UInt(4));
        // The pool grew to 8 pages, 6 were reserved, 4 taken: every state
        // held long enough for an interval snapshot.
        let pools = table(&r, "pools");
        let states: Vec<(u64, u64, u64)> = pools
            .rows
            .iter()
            .filter(|x| x[2] == Value::UInt(2 << 20))
            .map(|x| match (&x[3], &x[4], &x[5]) {
                (Value::UInt(t), Value::UInt(f), Value::UInt(r)) => (*t, *f, *r),
                other => panic!("{other:?}"),
            })
            .collect();
        for want in [(0, 0, 0), (8, 8, 0), (8, 8, 6), (8, 4, 2)] {
            assert!(states.contains(&want), "{want:?} not in {states:?}");
        }
    }

    #[test]
    fn a_task_filter_keeps_the_pools() {
        let rec = fixture();
        let f = Filter {
            comm: Some("nobody".into()),
            ..Filter::default()
        };
        let r = compute(&rec, &f).expect("computes");
        assert_eq!(metric(&r, "hugetlb.faults"), Some(0.0));
        assert!(!table(&r, "pools").rows.is_empty());
    }

    #[test]
    fn sizes_are_labelled_as_sysfs_names_them() {
        assert_eq!(size_label(2 << 20), "2048kB");
        assert_eq!(size_label(1 << 30), "1048576kB");
    }
}
