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

/// What a section computes from: one per `sections/<id>.rs`, listed once in
/// [`SECTIONS`].
#[derive(Debug)]
pub struct Section {
    /// The `--section` value and the JSON key.
    pub id: &'static str,
    pub title: &'static str,
    /// Probe groups without which the section is empty.
    pub required: &'static [&'static str],
    /// Probe groups that add detail when recorded.
    pub optional: &'static [&'static str],
    pub compute: fn(&Recording, &Filter) -> Result<SectionReport, SectionError>,
}

/// Every section, in report order. Register a new section here.
pub static SECTIONS: &[&Section] = &[
    &header::SECTION,
    &growth::SECTION,
    &paf::SECTION,
    &reclaim::SECTION,
    &sysstat::SECTION,
    &oom::SECTION,
];

/// The section with this id.
pub fn find(id: &str) -> Option<&'static Section> {
    SECTIONS.iter().copied().find(|s| s.id == id)
}

/// The ids, in report order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    SECTIONS.iter().map(|s| s.id)
}

/// Where `id` comes in the report (unknown ids last).
pub fn position(id: &str) -> usize {
    SECTIONS
        .iter()
        .position(|s| s.id == id)
        .unwrap_or(usize::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("unknown section `{0}` (one of: {list})", list = ids().collect::<Vec<_>>().join(", "))]
    Unknown(String),
}

/// Computes one section by id.
pub fn compute(id: &str, rec: &Recording, filter: &Filter) -> Result<SectionReport, SectionError> {
    match find(id) {
        Some(s) => (s.compute)(rec, filter),
        None => Err(SectionError::Unknown(id.to_string())),
    }
}

/// The probe groups a section rests on: `required` (the section is empty
/// without them) and `optional` (they add detail when recorded).
pub fn groups_of(id: &str) -> (&'static [&'static str], &'static [&'static str]) {
    find(id).map_or((&[], &[]), |s| (s.required, s.optional))
}

/// Starts a section: its loss notes, and `NotRecorded` status when a required
/// group is missing (the caller then returns it as is).
pub fn start(rec: &Recording, section: &Section) -> SectionReport {
    let mut r = SectionReport::new(section.id, section.title);
    let (required, optional) = (section.required, section.optional);
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
