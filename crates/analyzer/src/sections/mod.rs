//! One module per report section, each with the same shape:
//! `compute(&Recording, &Filter) -> Result<SectionReport, SectionError>`.

pub mod growth;
pub mod header;
pub mod oom;
pub mod paf;
pub mod reclaim;
pub mod sysstat;

use crate::filter::Filter;
use crate::model::{SectionReport, Status};
use crate::recording::{GroupState, ReadError, Recording};

/// Section identifiers, in report order.
pub const SECTIONS: &[&str] = &["header", "growth", "paf", "reclaim", "sysstat", "oom"];

#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("unknown section `{0}` (one of: header, growth, paf, reclaim, sysstat, oom)")]
    Unknown(String),
}

/// Computes one section by id.
pub fn compute(id: &str, rec: &Recording, filter: &Filter) -> Result<SectionReport, SectionError> {
    match id {
        "header" => header::compute(rec, filter),
        "growth" => growth::compute(rec, filter),
        "paf" => paf::compute(rec, filter),
        "reclaim" => reclaim::compute(rec, filter),
        "sysstat" => sysstat::compute(rec, filter),
        "oom" => oom::compute(rec, filter),
        other => Err(SectionError::Unknown(other.to_string())),
    }
}

/// The probe groups a section rests on: `required` (the section is empty
/// without them) and `optional` (they add detail when recorded).
pub fn groups_of(id: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match id {
        "growth" => (&["procstat"], &["oom"]),
        "paf" => (&["paf"], &["sysstat", "pr"]),
        "reclaim" => (&["pr"], &[]),
        "sysstat" => (&["sysstat"], &[]),
        "oom" => (&["oom"], &["procstat"]),
        _ => (&[], &[]),
    }
}

/// Starts a section: its loss notes, and `NotRecorded` status when a required
/// group is missing (the caller then returns it as is).
pub fn start(rec: &Recording, id: &'static str, title: &'static str) -> SectionReport {
    let mut r = SectionReport::new(id, title);
    let (required, optional) = groups_of(id);
    for g in required {
        if let GroupState::NotRecorded(why) = rec.group_state(g) {
            r.status = Status::NotRecorded(why);
            return r;
        }
    }
    let mut used: Vec<&str> = required.to_vec();
    for g in optional {
        match rec.group_state(g) {
            GroupState::Recorded => used.push(g),
            GroupState::NotRecorded(why) => {
                r.notes.push(format!("Less detail: {why}."));
            }
        }
    }
    let (lossy, mut notes) = rec.loss_notes(&used);
    r.lossy = lossy;
    notes.append(&mut r.notes);
    r.notes = notes;
    r
}

/// Whether the file may hold rows of a table (false only when the statistics
/// or the metadata say it has none, or its group was not recorded).
pub fn may_have(rec: &Recording, table: &str) -> bool {
    let group_ok = memtrace_schema::table(table)
        .is_some_and(|t| rec.group_state(t.group) == GroupState::Recorded);
    group_ok && rec.table_rows(table).is_none_or(|n| n > 0)
}
