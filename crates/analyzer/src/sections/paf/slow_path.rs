//! Slow-path tables: compaction and reclaim-retry verdicts in the window.

use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Table, Unit};
use crate::recording::Recording;
use crate::sections::SectionError;
use polars::prelude::*;
use std::collections::BTreeMap;

/// Compaction and reclaim-retry verdicts in the window (filtered as the report).
pub(super) fn slow_path(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
) -> Result<Vec<Table>, SectionError> {
    let mut out = Vec::new();
    let mut cs = Table::new(
        "compact_suitable",
        "Compaction suitability verdicts",
        &[
            ("order", Unit::None),
            ("zone", Unit::None),
            ("result", Unit::None),
            ("count", Unit::Count),
        ],
    );
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
        cs.push(vec![o.into(), z.into(), res.into(), n.into()]);
    }
    for (res, n) in by_result {
        r.metrics
            .push(Metric::new("paf.compact_suitable", n, Unit::Count).label("result", res));
    }
    r.metrics
        .push(Metric::new("paf.compact_suitable", total_cs, Unit::Count));
    out.push(cs);

    let mut ct = Table::new(
        "compact_try",
        "Direct compaction attempts",
        &[
            ("order", Unit::None),
            ("priority", Unit::None),
            ("count", Unit::Count),
        ],
    );
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
        ct.push(vec![o.into(), p.into(), n.into()]);
    }
    r.metrics
        .push(Metric::new("paf.compact_try", total_ct, Unit::Count));
    out.push(ct);

    let mut rr = Table::new(
        "reclaim_retry",
        "Reclaim-retry verdicts per zone and order",
        &[
            ("node", Unit::None),
            ("zone", Unit::None),
            ("order", Unit::None),
            ("checks", Unit::Count),
            ("retried", Unit::Count),
            ("gave_up", Unit::Count),
            ("max_no_progress_loops", Unit::Count),
        ],
    );
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
        rr.push(vec![
            nd.into(),
            z.into(),
            o.into(),
            n.into(),
            ok.into(),
            (n - ok).into(),
            loops.into(),
        ]);
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
