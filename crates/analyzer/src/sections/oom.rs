//! OOM kills: each victim's memory at the kill and its growth before, and
//! whether a memory cgroup's limit or the whole machine ran out, as bcc's
//! `oomkill` tells a kill on one line.

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, Unit};
use crate::recording::Recording;
use crate::render::human_bytes;
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
        /// `memcg`, `global`, `cpuset` or `mempolicy` from the kernel log;
        /// `memcg (derived)` or `global (derived)` from reclaim before the
        /// kill in files without it; `unknown` when neither says.
        constraint: String => None,
        /// The victim's memory cgroup (path).
        cgroup: Option<String> => None,
        /// The memory cgroup whose limit was hit (kernel log).
        oom_memcg: Option<String> => None,
        memcg_usage: Option<u64> => Bytes,
        memcg_limit: Option<u64> => Bytes,
        load1: Option<f64> => None,
        load5: Option<f64> => None,
        load15: Option<f64> => None,
        samples_before: u64 => Count,
        rss_first_before: Option<u64> => Bytes,
        rss_last_before: Option<u64> => Bytes,
        rss_peak_before: Option<u64> => Bytes,
        growth_before: Option<i64> => Bytes,
        growth_rate_before: Option<f64> => BytesPerSec,
    }
}

/// A victim's procstat sample: ts_ns, total RSS, the memcg it was taken in.
type Sample = (i64, u64, u64);

/// What ran out (the schema's one definition, shared with memrec).
pub use memtrace_schema::tables::oom::OomConstraint as Constraint;

/// The constraint of one kill: from the kernel log, from the evidence of
/// reclaim before it, or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Log(Constraint),
    Derived(Constraint),
    Unknown,
}

impl Source {
    pub fn label(self) -> String {
        match self {
            Source::Log(c) => c.name().to_string(),
            Source::Derived(c) => format!("{} (derived)", c.name()),
            Source::Unknown => "unknown".to_string(),
        }
    }
}

/// A kill's constraint when the kernel log's is missing, from the reclaim
/// the task that ran the OOM killer did just before: the kernel runs the
/// OOM killer after reclaim failed, and a task's memcg reclaim
/// (`try_charge` hitting a limit) differs from direct reclaim (the
/// machine short of free pages). Both, or neither, say nothing.
pub fn derive(memcg_reclaim: bool, direct_reclaim: bool) -> Source {
    match (memcg_reclaim, direct_reclaim) {
        (true, false) => Source::Derived(Constraint::Memcg),
        (false, true) => Source::Derived(Constraint::Global),
        _ => Source::Unknown,
    }
}

/// One kill, as the finding tells it.
#[derive(Debug, Clone)]
pub struct Kill {
    pub ts_ns: i64,
    pub pid: u32,
    pub comm: String,
    pub source: Source,
    /// The victim's memcg path, or `cgroup id N (path not recorded)`.
    pub cgroup: Option<String>,
    /// The memcg whose limit was hit, when the log names it.
    pub oom_memcg: Option<String>,
    pub limit: Option<u64>,
    /// Whether `limit` is the cgroup's configured one as memrec first saw
    /// it (files without the kernel log's figure).
    pub limit_configured: bool,
    pub rss: Option<u64>,
    pub anon: Option<u64>,
    pub before: Before,
    pub span_ns: Option<i64>,
    pub load: Option<(f64, f64, f64)>,
}

impl Kill {
    /// One line, bcc `oomkill` style, e.g. `OOM kill (memcg /x, limit 32.00
    /// MiB): hog pid 12, RSS 35.01 MiB (anon 34.20 MiB); grew 23.40 MiB in
    /// 0.25 s before; load 0.52 0.31 0.20`.
    pub fn summary(&self) -> String {
        let mut head = match self.source {
            Source::Log(Constraint::Memcg) => {
                let cg = self.oom_memcg.as_ref().or(self.cgroup.as_ref());
                format!("memcg {}", cg.map_or("?", String::as_str))
            }
            Source::Log(c) => c.name().to_string(),
            Source::Derived(Constraint::Memcg) => format!(
                "memcg {}, derived from memcg reclaim before it",
                self.cgroup.as_deref().unwrap_or("?")
            ),
            Source::Derived(c) => format!("{}, derived from direct reclaim before it", c.name()),
            Source::Unknown => format!(
                "memcg or global: unknown; cgroup {}",
                self.cgroup.as_deref().unwrap_or("unknown")
            ),
        };
        if matches!(self.source, Source::Log(c) | Source::Derived(c) if c != Constraint::Memcg) {
            if let Some(cg) = &self.cgroup {
                head.push_str(&format!("; victim in {cg}"));
            }
        }
        if let Some(l) = self.limit {
            let what = if self.limit_configured {
                "its limit"
            } else {
                "limit"
            };
            head.push_str(&format!(", {what} {}", human_bytes(l as f64)));
        }
        let mut s = format!("OOM kill ({head}): {} pid {}", self.comm, self.pid);
        if let Some(rss) = self.rss {
            s.push_str(&format!(", RSS {}", human_bytes(rss as f64)));
            if let Some(a) = self.anon {
                s.push_str(&format!(" (anon {})", human_bytes(a as f64)));
            }
        }
        match (self.before.rss_first, self.before.rss_last, self.span_ns) {
            (Some(a), Some(b), Some(span)) if self.before.samples > 1 => s.push_str(&format!(
                "; grew {} in {:.2} s before",
                human_bytes(b as f64 - a as f64),
                span as f64 / 1e9
            )),
            _ => s.push_str("; no growth samples before"),
        }
        if let Some((a, b, c)) = self.load {
            s.push_str(&format!("; load {a:.2} {b:.2} {c:.2}"));
        }
        s
    }
}

pub static SECTION: Section = Section {
    id: "oom",
    title: "OOM kills (oom_victim)",
    required: &["oom"],
    optional: &["procstat", "pr"],
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
        "cgroup_id",
        "victim_pid",
        "victim_comm",
        "uid",
        "total_vm",
        "anon_rss",
        "file_rss",
        "shmem_rss",
        "pgtables",
        "oom_score_adj",
        "load1",
        "load5",
        "load15",
        "constraint",
        "oom_memcg",
        "task_memcg",
        "memcg_usage",
        "memcg_limit",
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
    let (l1, l5, l15) = (fr.f64("load1")?, fr.f64("load5")?, fr.f64("load15")?);
    // From the kernel log; null in files of older memrec, or when the log
    // did not have the kill.
    let (cons, oom_cg, task_cg) = (
        fr.str("constraint")?,
        fr.str("oom_memcg")?,
        fr.str("task_memcg")?,
    );
    let (usage, limit) = (fr.u64("memcg_usage")?, fr.u64("memcg_limit")?);
    let kcg = fr.u64_or0("cgroup_id")?;
    // The victims' procstat samples in the windows before the kills.
    // The victims' procstat samples (tgid, name epoch, ts, total RSS, and
    // the memcg each was taken in).
    let mut samples: BTreeMap<(u64, usize), Vec<Sample>> = BTreeMap::new();
    // Reclaim before the kills by the tasks that ran the OOM killer
    // (tgid, ts, memcg reclaim?), for kills without the kernel log's word.
    let mut reclaims: BTreeMap<u64, Vec<(i64, bool)>> = BTreeMap::new();
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
                &[
                    "ts_ns",
                    "tgid",
                    "cgroup_id",
                    "rss_anon",
                    "rss_file",
                    "rss_shmem",
                ],
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
        let (pts, ptg, pcg) = (
            ps.i64_or0("ts_ns")?,
            ps.u64_or0("tgid")?,
            ps.u64_or0("cgroup_id")?,
        );
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
                .push((pts[i], a[i] + b[i] + c[i], pcg[i]));
        }
        for v in samples.values_mut() {
            v.sort_by_key(|p| p.0);
        }
        if cons.iter().any(Option::is_none) {
            let killers: Vec<u32> = ktg.iter().map(|&p| p as u32).collect();
            let rlo = ts
                .iter()
                .min()
                .copied()
                .unwrap_or(0)
                .saturating_sub(f.window_ns);
            let lf = rec
                .scan_with(
                    "reclaim_begin",
                    &Filter::default(),
                    &["ts_ns", "tgid", "reclaimer"],
                    false,
                )?
                .filter(
                    col("ts_ns")
                        .gt_eq(lit(rlo))
                        .and(col("ts_ns").lt_eq(lit(hi)))
                        .and(
                            col("tgid")
                                .is_in(lit(Series::new("k".into(), killers)).implode(false), false),
                        ),
                );
            let rb = rec.fetch("reclaim_begin", lf)?;
            let (rts, rtg, who) = (
                rb.i64_or0("ts_ns")?,
                rb.u64_or0("tgid")?,
                rb.str_or_empty("reclaimer")?,
            );
            for i in 0..rb.height() {
                match who[i].as_str() {
                    "memcg" => reclaims.entry(rtg[i]).or_default().push((rts[i], true)),
                    "direct" => reclaims.entry(rtg[i]).or_default().push((rts[i], false)),
                    _ => {}
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..fr.height()).collect();
    order.sort_by_key(|&i| (ts[i], vp[i]));
    for i in order {
        let epoch = names.epoch(vp[i] as u32, ts[i]);
        let pts3: Vec<(i64, u64, u64)> = samples
            .get(&(vp[i], epoch))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&(t, _, _)| t >= ts[i].saturating_sub(f.oom_window_ns) && t <= ts[i])
                    .collect()
            })
            .unwrap_or_default();
        let pts: Vec<(i64, u64)> = pts3.iter().map(|&(t, v, _)| (t, v)).collect();
        let b = before(&pts, rec.start_ns);
        // The victim's memcg: the kernel log's, else its last sample's,
        // else the killer's when it killed itself.
        let victim_cg = pts3
            .last()
            .map(|p| p.2)
            .or((ktg[i] == vp[i]).then_some(kcg[i]))
            .filter(|&id| id != 0);
        let cgroup = task_cg[i].clone().or_else(|| {
            victim_cg.map(|id| match rec.meta.cgroups.get(&id) {
                Some(p) => p.clone(),
                None => format!("cgroup id {id} (path not recorded)"),
            })
        });
        let source = match cons[i].as_deref().and_then(Constraint::parse) {
            Some(c) => Source::Log(c),
            None => {
                let lo = ts[i].saturating_sub(f.window_ns);
                let seen: Vec<bool> = reclaims
                    .get(&ktg[i])
                    .map(|v| {
                        v.iter()
                            .filter(|&&(t, _)| t >= lo && t <= ts[i])
                            .map(|&(_, m)| m)
                            .collect()
                    })
                    .unwrap_or_default();
                derive(seen.contains(&true), seen.contains(&false))
            }
        };
        // The log's limit; else, for a derived memcg kill, the victim's
        // cgroup's configured limit as memrec first saw it.
        let (kill_limit, configured) = match (limit[i], source) {
            (Some(l), _) => (Some(l), false),
            (None, Source::Derived(Constraint::Memcg)) => (
                victim_cg.and_then(|id| rec.meta.cgroup_limits.get(&id).copied()),
                true,
            ),
            _ => (None, false),
        };
        let rss = an[i].zip(fi[i]).zip(sh[i]).map(|((a, b), c)| a + b + c);
        let kill = Kill {
            ts_ns: ts[i],
            pid: vp[i] as u32,
            comm: vc[i].clone().unwrap_or_else(|| "?".to_string()),
            source,
            cgroup: cgroup.clone(),
            oom_memcg: oom_cg[i].clone(),
            limit: kill_limit,
            limit_configured: configured,
            rss,
            anon: an[i],
            before: b,
            span_ns: pts.first().zip(pts.last()).map(|(a, z)| z.0 - a.0),
            load: l1[i].zip(l5[i]).zip(l15[i]).map(|((a, b), c)| (a, b, c)),
        };
        let mut finding = Finding::new(Severity::Critical, FindingKind::OomKill, kill.summary())
            .score(rss.unwrap_or(0) as f64)
            .at(ts[i])
            .task(kill.pid, kill.comm.clone());
        if let Some(cg) = kill.oom_memcg.as_ref().or(kill.cgroup.as_ref()) {
            finding = finding.cgroup(cg.clone());
        }
        if let (Some(x), Some(y)) = (b.rss_first, b.rss_last) {
            finding = finding.detail(format!(
                "RSS before the kill: {} -> {} over {} samples in the {:.0} s before, {}/s",
                human_bytes(x as f64),
                human_bytes(y as f64),
                b.samples,
                f.oom_window_ns as f64 / 1e9,
                human_bytes(b.slope.unwrap_or(0.0)),
            ));
        }
        r.findings.push(finding);
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
            rss,
            pgtables: pt[i],
            killer_tgid: ktg[i],
            killer_comm: kcm[i].clone(),
            constraint: source.label(),
            cgroup,
            oom_memcg: oom_cg[i].clone(),
            memcg_usage: usage[i],
            memcg_limit: kill_limit,
            load1: l1[i],
            load5: l5[i],
            load15: l15[i],
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

    fn kill(source: Source) -> Kill {
        Kill {
            ts_ns: 0,
            pid: 12,
            comm: "hog".into(),
            source,
            cgroup: Some("/jobs/hog".into()),
            oom_memcg: Some("/jobs".into()),
            limit: Some(32 << 20),
            limit_configured: false,
            rss: Some(35 << 20),
            anon: Some(34 << 20),
            before: Before {
                samples: 3,
                rss_first: Some(10 << 20),
                rss_last: Some(30 << 20),
                rss_peak: Some(30 << 20),
                slope: Some(1e8),
            },
            span_ns: Some(250_000_000),
            load: Some((0.52, 0.31, 0.2)),
        }
    }

    #[test]
    fn a_kill_reads_as_one_line() {
        assert_eq!(
            kill(Source::Log(Constraint::Memcg)).summary(),
            "OOM kill (memcg /jobs, limit 32.00 MiB): hog pid 12, RSS 35.00 MiB \
             (anon 34.00 MiB); grew 20.00 MiB in 0.25 s before; load 0.52 0.31 0.20"
        );
        let mut g = kill(Source::Log(Constraint::Global));
        (g.oom_memcg, g.limit, g.load) = (None, None, None);
        assert_eq!(
            g.summary(),
            "OOM kill (global; victim in /jobs/hog): hog pid 12, RSS 35.00 MiB \
             (anon 34.00 MiB); grew 20.00 MiB in 0.25 s before"
        );
        let mut d = kill(derive(true, false));
        (d.oom_memcg, d.limit_configured) = (None, true);
        assert!(
            d.summary().starts_with(
                "OOM kill (memcg /jobs/hog, derived from memcg reclaim before it, \
                 its limit 32.00 MiB): "
            ),
            "{}",
            d.summary()
        );
        let mut u = kill(derive(true, true));
        u.limit = None;
        u.before.samples = 0;
        assert!(
            u.summary().starts_with(
                "OOM kill (memcg or global: unknown; cgroup /jobs/hog): hog pid 12, RSS"
            ),
            "{}",
            u.summary()
        );
        assert!(u.summary().contains("; no growth samples before;"));
        assert_eq!(derive(false, false), Source::Unknown);
        assert_eq!(derive(false, true), Source::Derived(Constraint::Global));
        assert_eq!(
            Source::Derived(Constraint::Memcg).label(),
            "memcg (derived)"
        );
    }

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
