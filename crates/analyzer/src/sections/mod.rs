//! One module per report section, each with the same shape:
//! `compute(&Recording, &Filter) -> Result<SectionReport, SectionError>`.

pub mod cgroups;
mod common;
pub mod compaction;
pub mod faults;
pub mod growth;
pub mod header;
pub mod hugetlb;
pub mod leaks;
pub mod mappings;
pub mod oom;
pub mod paf;
pub mod reclaim;
pub mod swap;
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
    &cgroups::SECTION,
    &paf::SECTION,
    &reclaim::SECTION,
    &sysstat::SECTION,
    &oom::SECTION,
    &faults::SECTION,
    &swap::SECTION,
    &mappings::SECTION,
    &compaction::SECTION,
    &hugetlb::SECTION,
    &leaks::SECTION,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every probe group of the schema, from its table list.
    fn schema_groups() -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for t in memtrace_schema::tables::ALL {
            if !out.contains(&t.group) {
                out.push(t.group);
            }
        }
        out
    }

    #[test]
    fn every_schema_group_has_a_section() {
        for g in schema_groups() {
            assert!(
                SECTIONS
                    .iter()
                    .any(|s| s.required.contains(&g) || s.optional.contains(&g)),
                "probe group `{g}` is in the schema but no section reads it"
            );
        }
    }

    #[test]
    fn every_group_a_section_names_exists() {
        let groups = schema_groups();
        for s in SECTIONS {
            for g in s.required.iter().chain(s.optional) {
                assert!(
                    groups.contains(g),
                    "section `{}` names group `{g}`, which the schema does not have",
                    s.id
                );
            }
            for g in s.optional {
                assert!(
                    !s.required.contains(g),
                    "section `{}` names `{g}` both required and optional",
                    s.id
                );
            }
        }
    }

    #[test]
    fn ids_are_unique_and_found() {
        for (i, s) in SECTIONS.iter().enumerate() {
            assert_eq!(position(s.id), i, "section `{}` listed twice", s.id);
            assert!(find(s.id).is_some_and(|x| std::ptr::eq(x, *s)));
        }
        assert!(find("nope").is_none());
        assert_eq!(
            SectionError::Unknown("nope".into()).to_string(),
            "unknown section `nope` (one of: header, growth, cgroups, paf, reclaim, sysstat, oom, faults, swap, mappings, compaction, hugetlb, leaks)"
        );
    }
}
