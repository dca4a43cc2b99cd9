//! Page faults: per process by VMA kind, over time, top files by major
//! faults, top code locations.

use super::common::{per_process as count_per_process, push_ranked, Intervals, BUCKET};
use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Status, Table, Unit};
use crate::recording::Recording;
use crate::report_row;
use polars::prelude::*;
use std::collections::BTreeMap;

const TABLE: &str = "fault";

report_row! {
    /// Faults of one process in one kind of VMA.
    struct ProcessRow {
        tgid: u64 => None,
        comm: String => None,
        vma: String => None,
        faults: u64 => Count,
        minor: u64 => Count,
        major: u64 => Count,
    }
}

report_row! {
    /// Faults in one interval.
    struct TimeRow {
        ts_ns: i64 => Timestamp,
        minor: u64 => Count,
        major: u64 => Count,
        faults_per_s: f64 => None,
    }
}

report_row! {
    /// Faults in the VMAs that map one file (by name).
    struct FileRow {
        file: String => None,
        vma: String => None,
        major: u64 => Count,
        minor: u64 => Count,
    }
}

report_row! {
    /// Faults at one instruction of one program.
    struct LocationRow {
        comm: String => None,
        ip: String => None,
        mode: String => None,
        faults: u64 => Count,
        major: u64 => Count,
        write: u64 => Count,
    }
}

pub static SECTION: Section = Section {
    id: "faults",
    title: "Page faults (fault)",
    required: &["faults"],
    optional: &[],
    compute,
};

/// Sums of `major` as minor and major counts next to the row count.
fn majors() -> Expr {
    col("major").cast(DataType::UInt64).sum().alias("majors")
}

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let (total, major) = per_process(rec, f, &mut r)?;
    r.metrics
        .push(Metric::new("faults.total", total, Unit::Count));
    r.metrics
        .push(Metric::new("faults.minor", total - major, Unit::Count));
    r.metrics
        .push(Metric::new("faults.major", major, Unit::Count));
    if total == 0 {
        r.notes
            .push("No page fault recorded in the selected window.".into());
    }
    over_time(rec, f, &mut r)?;
    files(rec, f, &mut r)?;
    locations(rec, f, &mut r)?;
    crate::stacks::push_top_locations(rec, f, &mut r, &crate::stacks::FAULT_SAMPLES)?;
    r.notes.push(
        "One row per fault the kernel accounted with a perf event (a fault retried after \
         waiting is one, major). Faults by get_user_pages (populate, mlock, exec's argument \
         pages, ptrace) and faults that end in SIGSEGV/SIGBUS count in /proc/vmstat pgfault \
         but are not here."
            .into(),
    );
    Ok(r)
}

/// Per process and VMA kind; returns (faults, major faults) over all.
fn per_process(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
) -> Result<(u64, u64), SectionError> {
    let pc = count_per_process(
        rec,
        TABLE,
        rec.scan(TABLE, f, &["tgid", "comm", "vma", "major"])?,
        &["vma"],
        vec![majors()],
    )?;
    let (vm, mj) = (pc.frame.str_or_empty("vma")?, pc.frame.u64_or0("majors")?);
    let mut rows: Vec<ProcessRow> = (0..pc.len())
        .map(|i| ProcessRow {
            tgid: pc.tgid[i],
            comm: pc.comm[i].clone(),
            vma: vm[i].clone(),
            faults: pc.n[i],
            minor: pc.n[i] - mj[i],
            major: mj[i],
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.faults, b.major)
            .cmp(&(a.faults, a.major))
            .then_with(|| (a.tgid, &a.comm, &a.vma).cmp(&(b.tgid, &b.comm, &b.vma)))
    });
    let mut by_vma: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in &rows {
        let e = by_vma.entry(p.vma.clone()).or_default();
        e.0 += p.minor;
        e.1 += p.major;
    }
    for (vma, (minor, major)) in &by_vma {
        r.metrics
            .push(Metric::new("faults.minor", *minor, Unit::Count).label("vma", vma));
        r.metrics
            .push(Metric::new("faults.major", *major, Unit::Count).label("vma", vma));
    }
    let total = rows.iter().map(|p| p.faults).sum();
    let major = rows.iter().map(|p| p.major).sum();
    push_ranked(
        r,
        "by_process",
        "Faults per process and kind of VMA (minor: page found or made without I/O)",
        rows,
        f.top,
    );
    Ok((total, major))
}

fn over_time(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let w = Intervals::of(rec, f);
    let lf = rec.scan(TABLE, f, &["ts_ns", "major"])?;
    let fr = rec.fetch(TABLE, w.count(lf, &[], vec![majors()]))?;
    let (b, n, mj) = (
        fr.i64_or0(BUCKET)?,
        fr.u64_or0(COUNT)?,
        fr.u64_or0("majors")?,
    );
    let mut acc: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for i in 0..fr.height() {
        let e = acc.entry(b[i]).or_default();
        e.0 += n[i];
        e.1 += mj[i];
    }
    let mut t = Table::of::<TimeRow>("over_time", &format!("Faults {}", w.per()));
    for (bucket, (n, major)) in acc {
        t.push_row(TimeRow {
            ts_ns: w.begin(bucket),
            minor: n - major,
            major,
            faults_per_s: w.per_s(bucket, n),
        });
    }
    r.tables.push(t);
    Ok(())
}

fn files(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let lf = rec
        .scan(TABLE, f, &["file", "vma", "major"])?
        .filter(col("file").is_not_null());
    let fr = rec.fetch(TABLE, count_by(lf, &["file", "vma"], vec![majors()]))?;
    let (fi, vm) = (fr.str_or_empty("file")?, fr.str_or_empty("vma")?);
    let (n, mj) = (fr.u64_or0(COUNT)?, fr.u64_or0("majors")?);
    let mut rows: Vec<FileRow> = (0..fr.height())
        .map(|i| FileRow {
            file: fi[i].clone(),
            vma: vm[i].clone(),
            major: mj[i],
            minor: n[i] - mj[i],
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.major, b.minor)
            .cmp(&(a.major, a.minor))
            .then_with(|| (&a.file, &a.vma).cmp(&(&b.file, &b.vma)))
    });
    push_ranked(
        r,
        "top_files",
        "Files by major faults (file and shmem VMAs; the file's name, not its path)",
        rows,
        f.top,
    );
    Ok(())
}

fn locations(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let lf = rec
        .scan(TABLE, f, &["comm", "ip", "user", "major", "access"])?
        .with_column(
            col("access")
                .eq(lit("write"))
                .fill_null(lit(false))
                .cast(DataType::UInt64)
                .alias("is_write"),
        );
    let fr = rec.fetch(
        TABLE,
        count_by(
            lf,
            &["comm", "ip", "user"],
            vec![majors(), col("is_write").sum().alias("writes")],
        ),
    )?;
    let (cm, ip, us) = (
        fr.str_or_empty("comm")?,
        fr.u64_or0("ip")?,
        fr.bool("user")?,
    );
    let (n, mj, wr) = (
        fr.u64_or0(COUNT)?,
        fr.u64_or0("majors")?,
        fr.u64_or0("writes")?,
    );
    let mut rows: Vec<(u64, u64, String, u64, bool, u64)> = (0..fr.height())
        .map(|i| {
            (
                n[i],
                mj[i],
                cm[i].clone(),
                ip[i],
                us[i].unwrap_or(false),
                wr[i],
            )
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.0, b.1)
            .cmp(&(a.0, a.1))
            .then_with(|| (&a.2, a.3).cmp(&(&b.2, b.3)))
    });
    push_ranked(
        r,
        "top_locations",
        "Instructions that fault most, per program (kernel: the kernel touching user memory)",
        rows.into_iter()
            .map(|(faults, major, comm, ip, user, write)| LocationRow {
                comm,
                ip: format!("{ip:#x}"),
                mode: if user { "user" } else { "kernel" }.to_string(),
                faults,
                major,
                write,
            }),
        f.top,
    );
    Ok(())
}
