//! A whole report: the chosen sections over one recording.

use crate::filter::Filter;
use crate::model::{Metric, SectionReport};
use crate::recording::Recording;
use crate::sections::{self, SectionError};

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
    pub filter: Filter,
    pub sections: Vec<SectionReport>,
}

impl Report {
    /// Computes `ids` (all sections when empty), in report order.
    pub fn build(rec: &Recording, filter: &Filter, ids: &[String]) -> Result<Report, SectionError> {
        let mut sections = Vec::new();
        for id in ids {
            if !sections::SECTIONS.contains(&id.as_str()) {
                return Err(SectionError::Unknown(id.clone()));
            }
        }
        for &id in sections::SECTIONS {
            if ids.is_empty() || ids.iter().any(|x| x == id) {
                tracing::debug!(section = id, "computing");
                let t = std::time::Instant::now();
                sections.push(sections::compute(id, rec, filter)?);
                tracing::debug!(section = id, ms = t.elapsed().as_millis() as u64, "done");
            }
        }
        Ok(Report {
            file: rec.name.clone(),
            host: rec.meta.hostname.clone(),
            kernel: rec.meta.kernel_release.clone(),
            schema_version: rec.schema_version,
            start_ns: rec.start_ns,
            end_ns: rec.end_ns,
            window: rec.window(filter),
            filter: filter.clone(),
            sections,
        })
    }

    /// Every metric, in section order.
    pub fn metrics(&self) -> Vec<(&'static str, &Metric)> {
        self.sections
            .iter()
            .flat_map(|s| s.metrics.iter().map(move |m| (s.id, m)))
            .collect()
    }

    pub fn lossy(&self) -> bool {
        self.sections.iter().any(|s| s.lossy)
    }
}
