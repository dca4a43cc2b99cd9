//! A whole report: the chosen sections over one recording.

use crate::filter::Filter;
use crate::model::{Finding, Metric, SectionReport};
use crate::recording::Recording;
use crate::sections::{self, SectionError};
use memtrace_schema::integrity::Verified;

/// Everything a renderer needs.
#[derive(Debug, Clone)]
pub struct Report {
    pub file: String,
    pub host: String,
    pub kernel: String,
    pub schema_version: u32,
    pub start_ns: i64,
    pub end_ns: i64,
    pub window: (i64, i64),
    /// Unix-epoch ns minus `ts_ns`, from the recording's start anchor.
    pub wall_offset_ns: Option<i64>,
    pub filter: Filter,
    pub sections: Vec<SectionReport>,
    /// What the checksums showed.
    pub verified: Verified,
    /// The checks' warnings on the file (no checksums, odd values).
    pub warnings: Vec<String>,
    /// Set on a report over several recordings ([`crate::fleet::merge`]):
    /// its times are then Unix-epoch ns.
    pub fleet: Option<FleetInfo>,
}

/// What a report over several recordings covers.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetInfo {
    pub recordings: usize,
    /// The distinct hosts, sorted.
    pub hosts: Vec<String>,
}

/// Computes the sections on as many threads as there are CPUs (each
/// reads its own tables, and much of a section's time is spent where
/// polars uses one thread), returning them in the order given.
fn compute_all(
    rec: &Recording,
    filter: &Filter,
    chosen: &[&sections::Section],
) -> Vec<Result<SectionReport, SectionError>> {
    // Largest first (by the rows of the groups each reads), so that the
    // longest section does not start last.
    let cost = |s: &sections::Section| -> u64 {
        memtrace_schema::tables()
            .iter()
            .filter(|t| s.required.contains(&t.group) || s.optional.contains(&t.group))
            .map(|t| rec.table_rows(t.name).unwrap_or(0))
            .sum()
    };
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(chosen[i])));
    crate::par::map(chosen.len(), &order, |i| {
        let s = chosen[i];
        tracing::debug!(section = s.id, "computing");
        let t = std::time::Instant::now();
        let out = (s.compute)(rec, filter);
        tracing::debug!(section = s.id, ms = t.elapsed().as_millis() as u64, "done");
        out
    })
}

impl Report {
    /// Computes `ids` (all sections when empty), in report order.
    pub fn build(rec: &Recording, filter: &Filter, ids: &[String]) -> Result<Report, SectionError> {
        let mut sections = Vec::new();
        for id in ids {
            if sections::find(id).is_none() {
                return Err(SectionError::Unknown(id.clone()));
            }
        }
        let chosen: Vec<&sections::Section> = sections::SECTIONS
            .iter()
            .copied()
            .filter(|s| ids.is_empty() || ids.iter().any(|x| x == s.id))
            .collect();
        for done in compute_all(rec, filter, &chosen) {
            sections.push(done?);
        }
        Ok(Report {
            file: rec.name.clone(),
            host: rec.meta.hostname.clone(),
            kernel: rec.meta.kernel_release.clone(),
            schema_version: rec.schema_version,
            start_ns: rec.start_ns,
            end_ns: rec.end_ns,
            window: rec.window(filter),
            wall_offset_ns: rec
                .meta
                .to_realtime_ns(rec.start_ns)
                .and_then(|w| w.checked_sub(rec.start_ns)),
            filter: filter.clone(),
            sections,
            verified: rec.verified,
            warnings: rec.warnings.clone(),
            fleet: None,
        })
    }

    /// How this report's times read.
    pub fn clock(&self) -> crate::render::Clock {
        crate::render::Clock {
            start_ns: self.start_ns,
            wall_offset_ns: self.wall_offset_ns,
        }
    }

    /// Every metric, in section order.
    pub fn metrics(&self) -> Vec<(&'static str, &Metric)> {
        self.sections
            .iter()
            .flat_map(|s| s.metrics.iter().map(move |m| (s.id, m)))
            .collect()
    }

    /// The checksums as the JSON report states them.
    pub fn integrity_json(&self) -> serde_json::Value {
        match self.verified {
            Verified::Intact { chunks } => {
                serde_json::json!({"checksums": "verified", "chunks": chunks})
            }
            Verified::Unchecked => serde_json::json!({"checksums": "absent", "chunks": 0}),
        }
    }

    /// Every section's findings, ranked: severity, then kind (OOM kills
    /// before allocation failures before leaks...), then score (larger
    /// first), then time; each names the section that made it.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = Vec::new();
        for s in &self.sections {
            for f in &s.findings {
                let mut f = f.clone();
                f.section = s.id;
                out.push(f);
            }
        }
        out.sort_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then(a.kind.cmp(&b.kind))
                .then(b.score.total_cmp(&a.score))
                .then(a.ts_ns.cmp(&b.ts_ns))
        });
        out
    }

    pub fn lossy(&self) -> bool {
        self.sections.iter().any(|s| s.lossy)
    }
}
