//! Slow-path tables: compaction and reclaim-retry verdicts in the window.

use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Table, Unit};
use crate::recording::Recording;
use crate::report_row;
use crate::sections::SectionError;
use polars::prelude::*;
use std::collections::BTreeMap;

report_row! {
    /// Compaction suitability verdicts of one order, zone and result.
    struct SuitableRow {
        order: i64 => None,
        zone: String => None,
        result: String => None,
        count: u64 => Count,
    }
}

report_row! {
    /// Direct compaction attempts of one order at one priority.
    struct TryRow {
        order: i64 => None,
        priority: i64 => None,
        count: u64 => Count,
    }
}

report_row! {
    /// Reclaim-retry checks of one zone and order.
    struct RetryRow {
        node: i64 => None,
        zone: String => None,
        order: i64 => None,
        checks: u64 => Count,
        retried: u64 => Count,
        gave_up: u64 => Count,
        max_no_progress_loops: i64 => Count,
    }
}

/// Compaction and reclaim-retry verdicts in the window (filtered as the report).
pub(super) fn slow_path(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
) -> Result<Vec<Table>, SectionError> {
    let mut out = Vec::new();
    let mut cs = Table::of::<SuitableRow>("compact_suitable", "Compaction suitability verdicts");
    let mut total_cs = 0u64;
    let lf = count_by(
        rec.scan("compact_suitable", f, &["order", "zone", "result"])?,
        &["order", "zone", "result"],
        vec![],
    );
    let fr = rec.fetch("compact_suitable", lf)?;
    let (o, z, res, n) = (
        fr.i64_or0("order")?,
        fr.str_or_empty("zone")?,
        fr.str_or_empty("result")?,
        fr.u64_or0(COUNT)?,
    );
    let mut rows: Vec<_> = (0..fr.height())
        .map(|i| (o[i], z[i].clone(), res[i].clone(), n[i]))
        .collect();
    rows.sort();
    let mut by_result: BTreeMap<String, u64> = BTreeMap::new();
    for (o, z, res, n) in rows {
        total_cs += n;
        *by_result.entry(res.clone()).or_default() += n;
        cs.push_row(SuitableRow {
            order: o,
            zone: z,
            result: res,
            count: n,
        });
    }
    for (res, n) in by_result {
        r.metrics
            .push(Metric::new("paf.compact_suitable", n, Unit::Count).label("result", res));
    }
    r.metrics
        .push(Metric::new("paf.compact_suitable", total_cs, Unit::Count));
    out.push(cs);

    let mut ct = Table::of::<TryRow>("compact_try", "Direct compaction attempts");
    let mut total_ct = 0u64;
    let lf = count_by(
        rec.scan("compact_try", f, &["order", "priority"])?,
        &["order", "priority"],
        vec![],
    );
    let fr = rec.fetch("compact_try", lf)?;
    let (o, p, n) = (
        fr.i64_or0("order")?,
        fr.i64_or0("priority")?,
        fr.u64_or0(COUNT)?,
    );
    let mut rows: Vec<_> = (0..fr.height()).map(|i| (o[i], p[i], n[i])).collect();
    rows.sort();
    for (o, p, n) in rows {
        total_ct += n;
        ct.push_row(TryRow {
            order: o,
            priority: p,
            count: n,
        });
    }
    r.metrics
        .push(Metric::new("paf.compact_try", total_ct, Unit::Count));
    out.push(ct);

    let mut rr =
        Table::of::<RetryRow>("reclaim_retry", "Reclaim-retry verdicts per zone and order");
    let (mut total, mut gave_up) = (0u64, 0u64);
    let lf = count_by(
        rec.scan(
            "reclaim_retry",
            f,
            &["node", "zone", "order", "no_progress_loops", "wmark_check"],
        )?,
        &["node", "zone", "order"],
        vec![
            col("wmark_check").cast(DataType::UInt64).sum().alias("ok"),
            col("no_progress_loops").max().alias("loops"),
        ],
    );
    let fr = rec.fetch("reclaim_retry", lf)?;
    let (nd, z, o) = (
        fr.i64_or0("node")?,
        fr.str_or_empty("zone")?,
        fr.i64_or0("order")?,
    );
    let (n, ok, loops) = (fr.u64_or0(COUNT)?, fr.u64_or0("ok")?, fr.i64_or0("loops")?);
    let mut rows: Vec<_> = (0..fr.height())
        .map(|i| (nd[i], z[i].clone(), o[i], n[i], ok[i], loops[i]))
        .collect();
    rows.sort();
    for (nd, z, o, n, ok, loops) in rows {
        total += n;
        gave_up += n - ok;
        rr.push_row(RetryRow {
            node: nd,
            zone: z,
            order: o,
            checks: n,
            retried: ok,
            gave_up: n - ok,
            max_no_progress_loops: loops,
        });
    }
    r.metrics
        .push(Metric::new("paf.reclaim_retry", total, Unit::Count));
    r.metrics.push(Metric::new(
        "paf.reclaim_retry_gave_up",
        gave_up,
        Unit::Count,
    ));
    out.push(rr);
    Ok(out)
}
