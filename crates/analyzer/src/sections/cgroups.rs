//! Memory cgroups as a dimension: the processes of each memcg, their RSS at
//! the last sample and what they grew, from `procstat`, with the memcg's
//! limit where memrec recorded one.

use super::common::cgroup_name;
use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::model::{Metric, SectionReport, Status, Table, Unit};
use crate::recording::Recording;
use crate::report_row;
use std::collections::BTreeMap;

report_row! {
    /// One memory cgroup: its processes (by the memcg of each one's last
    /// sample), their RSS and growth.
    struct CgroupRow {
        cgroup: String => None,
        processes: u64 => Count,
        /// Of those, processes that exited during the window.
        exited: u64 => Count,
        /// Sum of the last sample's RSS (anon + file + shmem) of the
        /// processes still running at their last sample.
        rss_last: u64 => Bytes,
        /// Sum over the processes of last minus first sample, exit samples
        /// left out (an exiting process's RSS falls as it frees).
        rss_growth: i64 => Bytes,
        /// The memcg's memory limit when memrec first saw it.
        limit: Option<u64> => Bytes,
    }
}

/// A process's samples: (first ts, its RSS), (last ts, its RSS, its
/// memcg), whether it exited.
type Span = ((i64, u64), (i64, u64, u64), bool);

pub static SECTION: Section = Section {
    id: "cgroups",
    title: "Memory cgroups: processes, RSS and growth per memcg (procstat)",
    required: &["procstat"],
    optional: &[],
    compute,
};

/// One process's first and last samples (exit samples apart).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Proc {
    pub cgroup_id: u64,
    pub first: u64,
    pub last: u64,
    pub exited: bool,
}

/// Per cgroup id: processes, exited, RSS of the running ones, growth.
pub fn rollup(procs: &[Proc]) -> BTreeMap<u64, (u64, u64, u64, i64)> {
    let mut by: BTreeMap<u64, (u64, u64, u64, i64)> = BTreeMap::new();
    for p in procs {
        let e = by.entry(p.cgroup_id).or_default();
        e.0 += 1;
        if p.exited {
            e.1 += 1;
        } else {
            e.2 += p.last;
        }
        e.3 += p.last as i64 - p.first as i64;
    }
    by
}

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let lf = rec.scan(
        "procstat",
        f,
        &[
            "ts_ns",
            "tgid",
            "cgroup_id",
            "reason",
            "rss_anon",
            "rss_file",
            "rss_shmem",
        ],
    )?;
    // Per tgid: (first ts, first rss), (last ts, last rss, memcg), exited.
    // Batch by batch: the table can hold millions of samples.
    let mut by: BTreeMap<u64, Span> = BTreeMap::new();
    rec.stream("procstat", lf, |fr| {
        let (ts, tg, cg) = (
            fr.i64_or0("ts_ns")?,
            fr.u64_or0("tgid")?,
            fr.u64_or0("cgroup_id")?,
        );
        // Read in place: a string per sample would cost more than the rest.
        let why = fr.chunked_str("reason")?;
        let (a, b, c) = (
            fr.u64_or0("rss_anon")?,
            fr.u64_or0("rss_file")?,
            fr.u64_or0("rss_shmem")?,
        );
        for (i, why) in why.iter().enumerate().take(fr.height()) {
            let rss = a[i] + b[i] + c[i];
            let e = by
                .entry(tg[i])
                .or_insert(((i64::MAX, 0), (i64::MIN, 0, cg[i]), false));
            if why == Some("exit") {
                e.2 = true;
                continue;
            }
            if ts[i] < e.0 .0 {
                e.0 = (ts[i], rss);
            }
            if ts[i] >= e.1 .0 {
                e.1 = (ts[i], rss, cg[i]);
            }
        }
        Ok(())
    })?;
    let procs: Vec<Proc> = by
        .into_values()
        .map(|(first, last, exited)| Proc {
            cgroup_id: last.2,
            // A process seen only in its exit sample grew nothing here.
            first: if first.0 == i64::MAX { 0 } else { first.1 },
            last: if first.0 == i64::MAX { 0 } else { last.1 },
            exited,
        })
        .collect();
    let mut rows: Vec<CgroupRow> = rollup(&procs)
        .into_iter()
        .map(|(id, (n, gone, rss, growth))| CgroupRow {
            cgroup: cgroup_name(rec, id),
            processes: n,
            exited: gone,
            rss_last: rss,
            rss_growth: growth,
            limit: rec.meta.cgroup_limits.get(&id).copied(),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.rss_growth
            .cmp(&a.rss_growth)
            .then(a.cgroup.cmp(&b.cgroup))
    });
    for row in &rows {
        r.metrics.push(
            Metric::new("cgroups.rss_growth", row.rss_growth, Unit::Bytes)
                .label("cgroup", &row.cgroup),
        );
    }
    let total = rows.len();
    if f.top > 0 {
        rows.truncate(f.top);
    }
    let mut t = Table::of::<CgroupRow>(
        "cgroups",
        "Per memory cgroup (each process counted in the memcg of its last sample), by growth",
    );
    for row in rows {
        t.push_row(row);
    }
    t.total_rows = total;
    r.tables.push(t);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_add_up_per_cgroup() {
        let p = |cgroup_id, first, last, exited| Proc {
            cgroup_id,
            first,
            last,
            exited,
        };
        let by = rollup(&[p(7, 10, 30, false), p(7, 5, 1, true), p(9, 100, 100, false)]);
        assert_eq!(by[&7], (2, 1, 30, 16));
        assert_eq!(by[&9], (1, 0, 100, 0));
    }
}
