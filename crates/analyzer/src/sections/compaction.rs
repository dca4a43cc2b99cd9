//! Compaction and fragmentation: direct-compaction stalls per process,
//! compaction runs by who ran them and their result, kcompactd, migrate-type
//! fallbacks, page migrations, and the unusable free space index per order
//! over time from the zone snapshots.

use std::collections::BTreeMap;

use memtrace_schema::file_column_name;
use polars::prelude::*;

use super::{start, Section, SectionError};
use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{
    Finding, FindingKind, Metric, SectionReport, Severity, Status, Table, TextLimit, Unit, Value,
};
use crate::recording::{GroupState, Recording};
use crate::report_row;
use crate::stats::Latency;

pub static SECTION: Section = Section {
    id: "compaction",
    title: "Compaction and fragmentation (compaction_run, compaction_defer, kcompactd, extfrag, migrate_pages, zone)",
    required: &[],
    optional: &["compaction", "sysstat"],
    compute,
};

/// Buddy orders the zone rows hold (`zone.free_blocks_0..10`).
pub const ORDERS: usize = 11;

report_row! {
    /// Direct compaction stalls of one process.
    struct StallRow {
        tgid: u64 => None,
        comm: String => None,
        stalls: u64 => Count,
        success: u64 => Count,
        fail: u64 => Count,
        all_deferred: u64 => Count,
        zones_compacted: u64 => Count,
        migrated: u64 => Pages,
        p50: Option<i64> => Ns,
        p99: Option<i64> => Ns,
        max: Option<i64> => Ns,
        total: i64 => Ns,
    }
}

report_row! {
    /// Compaction runs of one runner that ended with one result.
    struct RunRow {
        runner: String => None,
        status: String => None,
        runs: u64 => Count,
        migrate_scanned: u64 => Pages,
        free_scanned: u64 => Pages,
        isolated: u64 => Pages,
        migrated: u64 => Pages,
        migrate_failed: u64 => Pages,
        timed: u64 => Count,
        p50: Option<i64> => Ns,
        p99: Option<i64> => Ns,
        max: Option<i64> => Ns,
        total: i64 => Ns,
    }
}

report_row! {
    /// Zone deferral events.
    struct DeferRow {
        event: String => None,
        node: i64 => None,
        zone: String => None,
        events: u64 => Count,
        direct: u64 => Count,
    }
}

report_row! {
    /// kcompactd of one node.
    struct KcompactdRow {
        node: i64 => None,
        wakes: u64 => Count,
        sleeps: u64 => Count,
    }
}

report_row! {
    /// Migrate-type fallbacks of one pair of types.
    struct ExtfragRow {
        alloc_migratetype: String => None,
        fallback_migratetype: String => None,
        fallbacks: u64 => Count,
        fragmenting: u64 => Count,
        block_stolen: u64 => Count,
    }
}

report_row! {
    /// Page migrations of one reason and mode.
    struct MigrateRow {
        reason: String => None,
        mode: String => None,
        calls: u64 => Count,
        succeeded: u64 => Pages,
        failed: u64 => Pages,
        thp_succeeded: u64 => Count,
        thp_failed: u64 => Count,
        thp_split: u64 => Count,
    }
}

report_row! {
    /// A zone at one snapshot: free pages on its free lists and the unusable
    /// free space index for each order.
    struct FragRow {
        ts_ns: i64 => Timestamp,
        trigger: String => None,
        node: u64 => None,
        zone: String => None,
        free_pages: u64 => Pages,
        largest_order: Option<i64> => None,
        unusable_1: Option<f64> => Ratio,
        unusable_2: Option<f64> => Ratio,
        unusable_3: Option<f64> => Ratio,
        unusable_4: Option<f64> => Ratio,
        unusable_5: Option<f64> => Ratio,
        unusable_6: Option<f64> => Ratio,
        unusable_7: Option<f64> => Ratio,
        unusable_8: Option<f64> => Ratio,
        unusable_9: Option<f64> => Ratio,
        unusable_10: Option<f64> => Ratio,
    }
}

/// The unusable free space index of `order`: the share of free pages in
/// blocks smaller than 2^order, which an allocation of that order cannot
/// use (Gorman and Whitcroft; the kernel's `extfrag/unusable_index` in
/// debugfs, there in thousandths). `None` with no free page.
pub fn unusable_index(free_blocks: &[u64], order: usize) -> Option<f64> {
    let total: u64 = free_blocks.iter().enumerate().map(|(o, n)| n << o).sum();
    if total == 0 {
        return None;
    }
    let usable: u64 = free_blocks
        .iter()
        .enumerate()
        .skip(order)
        .map(|(o, n)| n << o)
        .sum();
    Some((total - usable) as f64 / total as f64)
}

/// A row of a direct compaction attempt: a run it made, or a deferral
/// event inside it or right after it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptEvent {
    /// A zone compacted (`compaction_run`), with the pages it migrated.
    Run { migrated: u64 },
    /// A zone skipped: compaction deferred there.
    Deferred,
    /// A zone found able to satisfy the allocation, inside the attempt.
    Reset,
    /// The allocation's own reset after the attempt: it got its page.
    ResetAfter,
    /// Any other deferral bookkeeping inside the attempt.
    Other,
}

/// One direct compaction attempt (`try_to_compact_pages()` on a thread).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attempt {
    pub tgid: u64,
    pub comm: String,
    pub start_ns: i64,
    pub last_ns: i64,
    pub runs: u64,
    pub deferred: u64,
    pub resets: u64,
    pub success: bool,
    pub migrated: u64,
}

impl Attempt {
    /// Whether the kernel counted it in `compact_stall`: try_to_compact_pages()
    /// returned more than COMPACT_SKIPPED, which it does exactly when some
    /// zone was deferred (COMPACT_DEFERRED), compacted (a run's result is
    /// always above it) or found able to satisfy the allocation
    /// (COMPACT_SUCCESS, with a reset).
    pub fn stalled(&self) -> bool {
        self.runs + self.deferred + self.resets > 0
    }

    /// Time from the attempt to its last event: its last run's end or
    /// deferral, or the allocation's reset after it.
    pub fn duration_ns(&self) -> i64 {
        self.last_ns - self.start_ns
    }
}

/// Groups the rows of direct compaction attempts by (thread, attempt time):
/// `(pid, tgid, comm, attempt_ts, ts, event)`.
pub fn attempts(rows: Vec<(u64, u64, String, i64, i64, AttemptEvent)>) -> Vec<Attempt> {
    let mut by: BTreeMap<(u64, i64), Attempt> = BTreeMap::new();
    for (pid, tgid, comm, attempt, ts, ev) in rows {
        let a = by.entry((pid, attempt)).or_insert_with(|| Attempt {
            tgid,
            comm,
            start_ns: attempt,
            last_ns: attempt,
            ..Default::default()
        });
        a.last_ns = a.last_ns.max(ts);
        match ev {
            AttemptEvent::Run { migrated } => {
                a.runs += 1;
                a.migrated += migrated;
            }
            AttemptEvent::Deferred => a.deferred += 1,
            AttemptEvent::Reset => a.resets += 1,
            AttemptEvent::ResetAfter => a.success = true,
            AttemptEvent::Other => {}
        }
    }
    by.into_values().collect()
}

pub fn compute(rec: &Recording, f: &Filter) -> Result<SectionReport, SectionError> {
    let mut r = start(rec, &SECTION);
    if r.status != Status::Ok {
        return Ok(r);
    }
    // Without the group its tables and metrics are absent, not zero: only
    // the zone snapshots' fragmentation is reported.
    if rec.group_state("compaction") != GroupState::Recorded {
        fragmentation(rec, f, &mut r)?;
        return Ok(r);
    }
    let stalls = stall_tables(rec, f, &mut r)?;
    runs(rec, f, &mut r)?;
    defers(rec, f, &mut r)?;
    kcompactd(rec, f, &mut r)?;
    extfrag(rec, f, &mut r)?;
    migrations(rec, f, &mut r)?;
    fragmentation(rec, f, &mut r)?;
    if stalls == 0 {
        r.notes
            .push("No direct compaction stall in the selected window.".into());
    }
    r.notes.push(
        "A stall is a direct compaction attempt (try_to_compact_pages()) that the kernel counts \
         in compact_stall: one that deferred, compacted or found ready some zone. It succeeded \
         (compact_success) when the allocation got its page right after it, else it failed \
         (compact_fail). Its time runs from the attempt to its last recorded event."
            .into(),
    );
    Ok(r)
}

/// Direct compaction stalls per process; returns the number of stalls.
fn stall_tables(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<u64, SectionError> {
    let runs = rec.fetch(
        "compaction_run",
        rec.scan(
            "compaction_run",
            f,
            &["ts_ns", "pid", "tgid", "comm", "attempt_ts_ns", "migrated"],
        )?
        .filter(col("attempt_ts_ns").is_not_null()),
    )?;
    let defers = rec.fetch(
        "compaction_defer",
        rec.scan(
            "compaction_defer",
            f,
            &[
                "ts_ns",
                "pid",
                "tgid",
                "comm",
                "attempt_ts_ns",
                "event",
                "after_return",
            ],
        )?
        .filter(col("attempt_ts_ns").is_not_null()),
    )?;
    let mut rows = Vec::with_capacity(runs.height() + defers.height());
    let (ts, pid, tgid, comm, at, mig) = (
        runs.i64_or0("ts_ns")?,
        runs.u64_or0("pid")?,
        runs.u64_or0("tgid")?,
        runs.str_or_empty("comm")?,
        runs.i64_or0("attempt_ts_ns")?,
        runs.u64_or0("migrated")?,
    );
    for i in 0..runs.height() {
        rows.push((
            pid[i],
            tgid[i],
            comm[i].clone(),
            at[i],
            ts[i],
            AttemptEvent::Run { migrated: mig[i] },
        ));
    }
    let (ts, pid, tgid, comm, at, ev, after) = (
        defers.i64_or0("ts_ns")?,
        defers.u64_or0("pid")?,
        defers.u64_or0("tgid")?,
        defers.str_or_empty("comm")?,
        defers.i64_or0("attempt_ts_ns")?,
        defers.str_or_empty("event")?,
        defers.bool("after_return")?,
    );
    for i in 0..defers.height() {
        let e = match (ev[i].as_str(), after[i].unwrap_or(false)) {
            ("defer_reset", true) => AttemptEvent::ResetAfter,
            ("defer_reset", false) => AttemptEvent::Reset,
            ("deferred", _) => AttemptEvent::Deferred,
            _ => AttemptEvent::Other,
        };
        rows.push((pid[i], tgid[i], comm[i].clone(), at[i], ts[i], e));
    }
    let all = attempts(rows);
    let stalls: Vec<&Attempt> = all.iter().filter(|a| a.stalled()).collect();
    type Acc = (u64, u64, u64, u64, u64, Vec<i64>);
    let mut per: BTreeMap<(u64, String), Acc> = BTreeMap::new();
    for a in &stalls {
        let e = per.entry((a.tgid, a.comm.clone())).or_default();
        e.0 += u64::from(a.success);
        e.1 += u64::from(a.runs == 0 && a.resets == 0);
        e.2 += a.runs;
        e.3 += a.migrated;
        e.4 += 1;
        e.5.push(a.duration_ns());
    }
    let mut rows: Vec<StallRow> = per
        .into_iter()
        .map(
            |((tgid, comm), (ok, deferred, zones, migrated, n, mut d))| {
                let l = Latency::of(&mut d);
                StallRow {
                    tgid,
                    comm,
                    stalls: n,
                    success: ok,
                    fail: n - ok,
                    all_deferred: deferred,
                    zones_compacted: zones,
                    migrated,
                    p50: l.p50,
                    p99: l.p99,
                    max: l.max,
                    total: l.sum,
                }
            },
        )
        .collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then(a.tgid.cmp(&b.tgid)));
    let total_rows = rows.len();
    if f.top > 0 {
        rows.truncate(f.top);
    }
    let mut t = Table::of::<StallRow>(
        "stalls",
        "Direct compaction stalls per process, by total time (nearest-rank percentiles)",
    );
    for row in rows {
        t.push_row(row);
    }
    t.total_rows = total_rows;
    r.tables.push(t);

    let n = stalls.len() as u64;
    let ok = stalls.iter().filter(|a| a.success).count() as u64;
    let mut d: Vec<i64> = stalls.iter().map(|a| a.duration_ns()).collect();
    let l = Latency::of(&mut d);
    if let Some(worst) = stalls.iter().max_by_key(|a| a.duration_ns()) {
        // Every direct compaction stall is an allocation that waited; the
        // long ones are warnings.
        let long = stalls
            .iter()
            .filter(|a| a.duration_ns() >= f.stall_ns)
            .count();
        let first = stalls
            .iter()
            .map(|a| a.start_ns)
            .min()
            .unwrap_or(worst.start_ns);
        let ms = |ns: i64| ns as f64 / 1e6;
        let sev = if long > 0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        r.findings.push(
            Finding::new(
                sev,
                FindingKind::CompactionStall,
                format!(
                    "Direct compaction: {n} stalls ({ok} succeeded, {} failed){}, {:.3} ms in all; \
                     longest {:.3} ms by {} pid {}",
                    n - ok,
                    if long > 0 {
                        format!(", {long} of them {:.0} ms or longer", ms(f.stall_ns))
                    } else {
                        String::new()
                    },
                    ms(l.sum),
                    ms(worst.duration_ns()),
                    worst.comm,
                    worst.tgid
                ),
            )
            .score(ms(worst.duration_ns()))
            .at(first)
            .task(worst.tgid as u32, worst.comm.clone()),
        );
    }
    let m = |name: &str, v: Value, u: Unit| Metric::new(format!("compaction.{name}"), v, u);
    let ms = |v: Option<i64>| Value::from(v.map(|x| x as f64 / 1e6));
    r.metrics.push(m("stalls", n.into(), Unit::Count));
    r.metrics.push(m("success", ok.into(), Unit::Count));
    r.metrics.push(m("fail", (n - ok).into(), Unit::Count));
    if l.count > 0 {
        r.metrics.push(m("stall_p50_ms", ms(l.p50), Unit::Ms));
        r.metrics.push(m("stall_p99_ms", ms(l.p99), Unit::Ms));
        r.metrics.push(m("stall_max_ms", ms(l.max), Unit::Ms));
    }
    r.metrics
        .push(m("stall_total_ms", ms(Some(l.sum)), Unit::Ms));
    Ok(n)
}

/// Runs by runner and result, with the kernel's scan totals.
fn runs(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let q = count_by(
        rec.scan(
            "compaction_run",
            f,
            &[
                "runner",
                "status",
                "migrate_scanned",
                "free_scanned",
                "isolated_migrate",
                "isolated_free",
                "migrated",
                "migrate_failed",
                "duration_ns",
            ],
        )?,
        &["runner", "status"],
        vec![
            col("migrate_scanned").sum(),
            col("free_scanned").sum(),
            (col("isolated_migrate") + col("isolated_free"))
                .sum()
                .alias("isolated"),
            col("migrated").sum(),
            col("migrate_failed").sum(),
            col("duration_ns")
                .drop_nulls()
                .implode(false)
                .alias("durations"),
        ],
    );
    let fr = rec.fetch("compaction_run", q)?;
    let (runner, status, n) = (
        fr.str_or_empty("runner")?,
        fr.str_or_empty("status")?,
        fr.u64_or0(COUNT)?,
    );
    let (ms_, fs, iso) = (
        fr.u64_or0("migrate_scanned")?,
        fr.u64_or0("free_scanned")?,
        fr.u64_or0("isolated")?,
    );
    let (mig, mf, du) = (
        fr.u64_or0("migrated")?,
        fr.u64_or0("migrate_failed")?,
        fr.i64_lists("durations")?,
    );
    let mut rows: Vec<RunRow> = Vec::new();
    let mut totals: [u64; 5] = [0; 5];
    for (i, mut d) in du.into_iter().enumerate() {
        let l = Latency::of(&mut d);
        totals[0] += ms_[i];
        totals[1] += fs[i];
        totals[2] += iso[i];
        totals[3] += mig[i];
        totals[4] += n[i];
        rows.push(RunRow {
            runner: runner[i].clone(),
            status: status[i].clone(),
            runs: n[i],
            migrate_scanned: ms_[i],
            free_scanned: fs[i],
            isolated: iso[i],
            migrated: mig[i],
            migrate_failed: mf[i],
            timed: l.count,
            p50: l.p50,
            p99: l.p99,
            max: l.max,
            total: l.sum,
        });
    }
    rows.sort_by(|a, b| (&a.runner, &a.status).cmp(&(&b.runner, &b.status)));
    let mut t = Table::of::<RunRow>(
        "runs",
        "Compaction runs (one zone each) by runner and result: the kernel's scan totals, pages \
         isolated and migrated, time in the run",
    );
    for row in rows {
        t.push_row(row);
    }
    r.tables.push(t);
    for (name, v) in [
        ("migrate_scanned", totals[0]),
        ("free_scanned", totals[1]),
        ("isolated", totals[2]),
        ("migrated", totals[3]),
    ] {
        r.metrics
            .push(Metric::new(format!("compaction.{name}"), v, Unit::Pages));
    }
    r.metrics
        .push(Metric::new("compaction.runs", totals[4], Unit::Count));
    Ok(())
}

fn defers(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let q = count_by(
        rec.scan(
            "compaction_defer",
            f,
            &["event", "node", "zone", "attempt_ts_ns"],
        )?,
        &["event", "node", "zone"],
        vec![col("attempt_ts_ns")
            .is_not_null()
            .cast(DataType::UInt64)
            .sum()
            .alias("direct")],
    );
    let fr = rec.fetch("compaction_defer", q)?;
    let (ev, node, zone, n, direct) = (
        fr.str_or_empty("event")?,
        fr.i64_or0("node")?,
        fr.str_or_empty("zone")?,
        fr.u64_or0(COUNT)?,
        fr.u64_or0("direct")?,
    );
    let mut rows: Vec<DeferRow> = (0..fr.height())
        .map(|i| DeferRow {
            event: ev[i].clone(),
            node: node[i],
            zone: zone[i].clone(),
            events: n[i],
            direct: direct[i],
        })
        .collect();
    rows.sort_by(|a, b| (&a.event, a.node, &a.zone).cmp(&(&b.event, b.node, &b.zone)));
    let deferred: u64 = rows
        .iter()
        .filter(|x| x.event == "deferred")
        .map(|x| x.events)
        .sum();
    let mut t = Table::of::<DeferRow>(
        "deferrals",
        "Zone deferrals: zones skipped (deferred), deferrals after failures (defer_compaction) \
         and resets after successes; `direct` inside or right after direct compaction",
    );
    for row in rows {
        t.push_row(row);
    }
    r.tables.push(t);
    r.metrics.push(Metric::new(
        "compaction.deferred_zones",
        deferred,
        Unit::Count,
    ));
    Ok(())
}

fn kcompactd(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let q = count_by(
        rec.scan("kcompactd", f, &["event", "node"])?,
        &["node", "event"],
        vec![],
    );
    let fr = rec.fetch("kcompactd", q)?;
    let (node, ev, n) = (
        fr.i64_or0("node")?,
        fr.str_or_empty("event")?,
        fr.u64_or0(COUNT)?,
    );
    let mut per: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for i in 0..fr.height() {
        let e = per.entry(node[i]).or_default();
        match ev[i].as_str() {
            "wake" => e.0 += n[i],
            "sleep" => e.1 += n[i],
            _ => {}
        }
    }
    let wakes: u64 = per.values().map(|v| v.0).sum();
    let mut t = Table::of::<KcompactdRow>("kcompactd", "kcompactd wake-ups and sleeps per node");
    for (node, (wakes, sleeps)) in per {
        t.push_row(KcompactdRow {
            node,
            wakes,
            sleeps,
        });
    }
    r.tables.push(t);
    r.metrics.push(Metric::new(
        "compaction.kcompactd_wakes",
        wakes,
        Unit::Count,
    ));
    Ok(())
}

fn extfrag(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let q = count_by(
        rec.scan(
            "extfrag",
            f,
            &[
                "alloc_migratetype",
                "fallback_migratetype",
                "fragmenting",
                "change_ownership",
            ],
        )?,
        &["alloc_migratetype", "fallback_migratetype"],
        vec![
            col("fragmenting").cast(DataType::UInt64).sum(),
            col("change_ownership").cast(DataType::UInt64).sum(),
        ],
    );
    let fr = rec.fetch("extfrag", q)?;
    let (a, b, n, fragm, own) = (
        fr.str_or_empty("alloc_migratetype")?,
        fr.str_or_empty("fallback_migratetype")?,
        fr.u64_or0(COUNT)?,
        fr.u64_or0("fragmenting")?,
        fr.u64_or0("change_ownership")?,
    );
    let mut rows: Vec<ExtfragRow> = (0..fr.height())
        .map(|i| ExtfragRow {
            alloc_migratetype: a[i].clone(),
            fallback_migratetype: b[i].clone(),
            fallbacks: n[i],
            fragmenting: fragm[i],
            block_stolen: own[i],
        })
        .collect();
    rows.sort_by(|x, y| {
        y.fallbacks
            .cmp(&x.fallbacks)
            .then(x.alloc_migratetype.cmp(&y.alloc_migratetype))
    });
    let (total, fragmenting): (u64, u64) = rows.iter().fold((0, 0), |acc, x| {
        (acc.0 + x.fallbacks, acc.1 + x.fragmenting)
    });
    let mut t = Table::of::<ExtfragRow>(
        "extfrag",
        "Migrate-type fallbacks (kmem:mm_page_alloc_extfrag): `fragmenting` took less than a \
         pageblock, leaving it mixed; `block_stolen` moved the whole pageblock",
    );
    for row in rows {
        t.push_row(row);
    }
    r.tables.push(t);
    r.metrics.push(Metric::new(
        "compaction.extfrag_fallbacks",
        total,
        Unit::Count,
    ));
    r.metrics.push(Metric::new(
        "compaction.extfrag_fragmenting",
        fragmenting,
        Unit::Count,
    ));
    Ok(())
}

fn migrations(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let q = count_by(
        rec.scan(
            "migrate_pages",
            f,
            &[
                "reason",
                "mode",
                "succeeded",
                "failed",
                "thp_succeeded",
                "thp_failed",
                "thp_split",
            ],
        )?,
        &["reason", "mode"],
        vec![
            col("succeeded").sum(),
            col("failed").sum(),
            col("thp_succeeded").sum(),
            col("thp_failed").sum(),
            col("thp_split").sum(),
        ],
    );
    let fr = rec.fetch("migrate_pages", q)?;
    let (reason, mode, n) = (
        fr.str_or_empty("reason")?,
        fr.str_or_empty("mode")?,
        fr.u64_or0(COUNT)?,
    );
    let (ok, bad, tok, tbad, tsplit) = (
        fr.u64_or0("succeeded")?,
        fr.u64_or0("failed")?,
        fr.u64_or0("thp_succeeded")?,
        fr.u64_or0("thp_failed")?,
        fr.u64_or0("thp_split")?,
    );
    let mut rows: Vec<MigrateRow> = (0..fr.height())
        .map(|i| MigrateRow {
            reason: reason[i].clone(),
            mode: mode[i].clone(),
            calls: n[i],
            succeeded: ok[i],
            failed: bad[i],
            thp_succeeded: tok[i],
            thp_failed: tbad[i],
            thp_split: tsplit[i],
        })
        .collect();
    rows.sort_by(|a, b| (&a.reason, &a.mode).cmp(&(&b.reason, &b.mode)));
    let mut t = Table::of::<MigrateRow>(
        "migrations",
        "Page migrations (migrate:mm_migrate_pages) by reason and mode",
    );
    for row in rows {
        t.push_row(row);
    }
    r.tables.push(t);
    Ok(())
}

/// The unusable free space index per order at every zone snapshot.
fn fragmentation(rec: &Recording, f: &Filter, r: &mut SectionReport) -> Result<(), SectionError> {
    let mut t = Table::of::<FragRow>(
        "fragmentation",
        "Unusable free space index per order at each zone snapshot: the share of the zone's free \
         pages in blocks too small for that order (0: every free page usable, 1: none)",
    )
    .with_text_limit(TextLimit::Sample(12));
    let free_cols: Vec<String> = (0..ORDERS).map(|o| format!("free_blocks_{o}")).collect();
    if rec.may_have("zone")
        && !rec
            .columns
            .contains(&file_column_name("zone", &free_cols[0]))
    {
        r.notes.push(
            "No fragmentation index: the zone snapshots of this recording have no free blocks \
             per order (recorded by an older memrec)."
                .into(),
        );
        r.tables.push(t);
        return Ok(());
    }
    let mut cols: Vec<&str> = vec!["ts_ns", "trigger", "node", "zone", "zone_idx"];
    cols.extend(free_cols.iter().map(String::as_str));
    // Snapshots are system-wide; allocation-failure snapshots repeat the
    // zones at a failure and are left to the paf section.
    let lf = rec
        .scan_with("zone", f, &cols, false)?
        .filter(col("trigger").neq(lit("alloc_fail")))
        .sort(["ts_ns", "node", "zone_idx"], Default::default());
    let fr = rec.fetch("zone", lf)?;
    let (ts, trig, node, zone) = (
        fr.i64_or0("ts_ns")?,
        fr.str_or_empty("trigger")?,
        fr.u64_or0("node")?,
        fr.str_or_empty("zone")?,
    );
    let mut blocks: Vec<Vec<Option<u64>>> = Vec::with_capacity(ORDERS);
    for c in &free_cols {
        blocks.push(fr.u64(c)?);
    }
    let mut last: BTreeMap<(u64, String), Vec<Option<f64>>> = BTreeMap::new();
    for i in 0..fr.height() {
        let b: Vec<u64> = blocks.iter().map_while(|col| col[i]).collect();
        if b.is_empty() {
            continue;
        }
        let u: Vec<Option<f64>> = (1..ORDERS)
            .map(|o| (o < b.len()).then(|| unusable_index(&b, o)).flatten())
            .collect();
        let free_pages: u64 = b.iter().enumerate().map(|(o, n)| n << o).sum();
        let largest = b.iter().rposition(|&n| n > 0).map(|o| o as i64);
        last.insert((node[i], zone[i].clone()), u.clone());
        t.push_row(FragRow {
            ts_ns: ts[i],
            trigger: trig[i].clone(),
            node: node[i],
            zone: zone[i].clone(),
            free_pages,
            largest_order: largest,
            unusable_1: u[0],
            unusable_2: u[1],
            unusable_3: u[2],
            unusable_4: u[3],
            unusable_5: u[4],
            unusable_6: u[5],
            unusable_7: u[6],
            unusable_8: u[7],
            unusable_9: u[8],
            unusable_10: u[9],
        });
    }
    r.tables.push(t);
    // The last snapshot's index per zone and order.
    for ((node, zone), u) in last {
        for (i, v) in u.into_iter().enumerate() {
            if let Some(v) = v {
                r.metrics.push(
                    Metric::new("compaction.unusable_index", v, Unit::Ratio)
                        .label("node", node)
                        .label("zone", &zone)
                        .label("order", i + 1),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_index_counts_pages_in_blocks_below_the_order() {
        // 4 single pages, 2 order-1 blocks (4 pages), 1 order-3 block (8 pages).
        let b = [4, 2, 0, 1];
        assert_eq!(unusable_index(&b, 0), Some(0.0));
        assert_eq!(unusable_index(&b, 1), Some(4.0 / 16.0));
        assert_eq!(unusable_index(&b, 2), Some(8.0 / 16.0));
        assert_eq!(unusable_index(&b, 3), Some(8.0 / 16.0));
        assert_eq!(unusable_index(&b, 4), Some(1.0));
        assert_eq!(unusable_index(&[0, 0], 1), None);
    }

    fn row(
        pid: u64,
        attempt: i64,
        ts: i64,
        e: AttemptEvent,
    ) -> (u64, u64, String, i64, i64, AttemptEvent) {
        (pid, pid, "hog".into(), attempt, ts, e)
    }

    #[test]
    fn attempts_are_stalls_successes_and_failures_as_the_kernel_counts_them() {
        let a = attempts(vec![
            // Compacted one zone, then the allocation got its page.
            row(1, 100, 150, AttemptEvent::Run { migrated: 32 }),
            row(1, 100, 160, AttemptEvent::Reset),
            row(1, 100, 170, AttemptEvent::ResetAfter),
            // Every zone deferred: a stall that fails.
            row(1, 200, 210, AttemptEvent::Deferred),
            // Another thread: a run that did not help.
            row(2, 100, 400, AttemptEvent::Run { migrated: 5 }),
            row(2, 100, 401, AttemptEvent::Other),
        ]);
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(Attempt::stalled));
        assert_eq!(a.iter().filter(|x| x.success).count(), 1);
        let ok = a.iter().find(|x| x.success).unwrap();
        assert_eq!((ok.duration_ns(), ok.migrated, ok.runs), (70, 32, 1));
        let deferred = a.iter().find(|x| x.start_ns == 200).unwrap();
        assert_eq!(
            (deferred.runs, deferred.deferred, deferred.success),
            (0, 1, false)
        );
        // Bookkeeping alone is no stall.
        let none = attempts(vec![row(3, 5, 6, AttemptEvent::Other)]);
        assert!(!none[0].stalled());
    }
}
