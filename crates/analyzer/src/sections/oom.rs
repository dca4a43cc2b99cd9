//! OOM kills: each victim's memory at the kill and its growth before.

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Status, Table, Unit};
use crate::recording::Recording;
use crate::report_row;
use crate::sections::growth::Names;
use crate::stats::ExactFit;
use polars::prelude::*;
use std::collections::BTreeMap;

/// A victim's procstat samples before the kill, summarized.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Before {
    pub samples: u64,
    pub rss_first: Option<u64>,
    pub rss_last: Option<u64>,
    pub rss_peak: Option<u64>,
    pub slope: Option<f64>,
}

/// Summary of (ts_ns, total RSS) samples sorted by time.
pub fn before(points: &[(i64, u64)], t0: i64) -> Before {
    let _ = t0;
    let xy: Vec<(i64, i64)> = points.iter().map(|&(t, v)| (t, v as i64)).collect();
    Before {
        samples: points.len() as u64,
        rss_first: points.first().map(|p| p.1),
        rss_last: points.last().map(|p| p.1),
        rss_peak: points.iter().map(|p| p.1).max(),
        slope: ExactFit::of(&xy).slope,
    }
}

report_row! {
    /// One OOM victim: its memory at the kill, as the tracepoint saw it, and
    /// its procstat samples in the window before.
    struct VictimRow {
        ts_ns: i64 => Timestamp,
        victim_pid: u64 => None,
        victim_comm: Option<String> => None,
        uid: Option<u64> => None,
        oom_score_adj: Option<i64> => None,
        total_vm: Option<u64> => Bytes,
        anon_rss: Option<u64> => Bytes,
        file_rss: Option<u64> => Bytes,
        shmem_rss: Option<u64> => Bytes,
        rss: Option<u64> => Bytes,
        pgtables: Option<u64> => Bytes,
        killer_tgid: u64 => None,
        killer_comm: String => None,
        samples_before: u64 => Count,
        rss_first_before: Option<u64> => Bytes,
        rss_last_before: Option<u64> => Bytes,
        rss_peak_before: Option<u64> => Bytes,
        growth_before: Option<i64> => Bytes,
        growth_rate_before: Option<f64> => BytesPerSec,
    }
}

pub static SECTION: Section = Section {
    id: "oom",
    title: "OOM kills (oom_victim)",
    required: &["oom"],
    optional: &["procstat"],
    compute,
};

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    let mut t = Table::of::<VictimRow>(
        "victims",
        "OOM victims: memory at the kill (tracepoint) and growth before it (procstat)",
    );
    let cols = [
        "ts_ns",
        "tgid",
        "comm",
        "victim_pid",
        "victim_comm",
        "uid",
        "total_vm",
        "anon_rss",
        "file_rss",
        "shmem_rss",
        "pgtables",
        "oom_score_adj",
    ];
    let fr = rec.fetch("oom_victim", rec.scan("oom_victim", f, &cols)?)?;
    let ts = fr.i64_or0("ts_ns")?;
    let (ktg, kcm) = (fr.u64_or0("tgid")?, fr.str_or_empty("comm")?);
    // Null where the kernel's tracepoint has only the pid.
    let (vp, vc, uid) = (
        fr.u64_or0("victim_pid")?,
        fr.str("victim_comm")?,
        fr.u64("uid")?,
    );
    let (vm, an, fi) = (
        fr.u64("total_vm")?,
        fr.u64("anon_rss")?,
        fr.u64("file_rss")?,
    );
    let (sh, pt, adj) = (
        fr.u64("shmem_rss")?,
        fr.u64("pgtables")?,
        fr.i64("oom_score_adj")?,
    );
    // The victims' procstat samples in the windows before the kills.
    // The victims' procstat samples (tgid, name epoch, ts, total RSS).
    let mut samples: BTreeMap<(u64, usize), Vec<(i64, u64)>> = BTreeMap::new();
    let mut names = Names::default();
    if fr.height() > 0 {
        let lo = ts
            .iter()
            .min()
            .copied()
            .unwrap_or(0)
            .saturating_sub(f.oom_window_ns);
        let hi = ts.iter().max().copied().unwrap_or(0);
        let pids: Vec<u32> = vp.iter().map(|&p| p as u32).collect();
        names = Names::load_for(rec, Some(&pids))?;
        let lf = rec
            .scan_with(
                "procstat",
                &Filter::default(),
                &["ts_ns", "tgid", "rss_anon", "rss_file", "rss_shmem"],
                false,
            )?
            .filter(
                col("ts_ns")
                    .gt_eq(lit(lo))
                    .and(col("ts_ns").lt_eq(lit(hi)))
                    .and(
                        col("tgid").is_in(lit(Series::new("p".into(), pids)).implode(false), false),
                    ),
            );
        let ps = rec.fetch("procstat", lf)?;
        let (pts, ptg) = (ps.i64_or0("ts_ns")?, ps.u64_or0("tgid")?);
        let (a, b, c) = (
            ps.u64_or0("rss_anon")?,
            ps.u64_or0("rss_file")?,
            ps.u64_or0("rss_shmem")?,
        );
        for i in 0..ps.height() {
            let epoch = names.epoch(ptg[i] as u32, pts[i]);
            samples
                .entry((ptg[i], epoch))
                .or_default()
                .push((pts[i], a[i] + b[i] + c[i]));
        }
        for v in samples.values_mut() {
            v.sort_by_key(|p| p.0);
        }
    }
    let mut order: Vec<usize> = (0..fr.height()).collect();
    order.sort_by_key(|&i| (ts[i], vp[i]));
    for i in order {
        let epoch = names.epoch(vp[i] as u32, ts[i]);
        let pts: Vec<(i64, u64)> = samples
            .get(&(vp[i], epoch))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&(t, _)| t >= ts[i].saturating_sub(f.oom_window_ns) && t <= ts[i])
                    .collect()
            })
            .unwrap_or_default();
        let b = before(&pts, rec.start_ns);
        let growth = match (b.rss_first, b.rss_last) {
            (Some(x), Some(y)) => Some(y as i64 - x as i64),
            _ => None,
        };
        t.push_row(VictimRow {
            ts_ns: ts[i],
            victim_pid: vp[i],
            victim_comm: vc[i].clone(),
            uid: uid[i],
            oom_score_adj: adj[i],
            total_vm: vm[i],
            anon_rss: an[i],
            file_rss: fi[i],
            shmem_rss: sh[i],
            rss: an[i].zip(fi[i]).zip(sh[i]).map(|((a, b), c)| a + b + c),
            pgtables: pt[i],
            killer_tgid: ktg[i],
            killer_comm: kcm[i].clone(),
            samples_before: b.samples,
            rss_first_before: b.rss_first,
            rss_last_before: b.rss_last,
            rss_peak_before: b.rss_peak,
            growth_before: growth,
            growth_rate_before: b.slope,
        });
    }
    // Kills per victim name, counted by polars.
    let q = count_by(
        rec.scan("oom_victim", f, &["victim_comm"])?,
        &["victim_comm"],
        vec![],
    );
    let per = rec.fetch("oom_victim", q)?;
    let (pc, pn) = (per.str_or_empty("victim_comm")?, per.u64_or0(COUNT)?);
    // Summed, not collected: a null name and an empty one both read as "".
    let mut by_comm: BTreeMap<String, u64> = BTreeMap::new();
    for (c, n) in pc.into_iter().zip(pn) {
        *by_comm.entry(c).or_default() += n;
    }
    let kills: u64 = by_comm.values().sum();
    r.metrics.push(Metric::new("oom.kills", kills, Unit::Count));
    for (c, n) in by_comm {
        r.metrics
            .push(Metric::new("oom.kills", n, Unit::Count).label("comm", c));
    }
    if kills == 0 {
        r.notes.push("No OOM kill in the selected window.".into());
    } else {
        r.notes.push(format!(
            "Growth before: the victim process's procstat samples (tgid == victim_pid, same \
             process name as at the kill) in [kill - {} s, kill].",
            f.oom_window_ns as f64 / 1e9
        ));
    }
    r.tables.push(t);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_before() {
        let b = before(&[(0, 100), (1_000_000_000, 300), (2_000_000_000, 200)], 0);
        assert_eq!(b.samples, 3);
        assert_eq!(
            (b.rss_first, b.rss_last, b.rss_peak),
            (Some(100), Some(200), Some(300))
        );
        assert!((b.slope.unwrap_or(0.0) - 50.0).abs() < 1e-9);
    }
}
