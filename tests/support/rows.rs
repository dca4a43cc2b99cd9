//! What the group fidelity modules (fidelity_<group>.rs) read from a
//! recording and from memana's JSON: typed cells of rows, row counts,
//! whether a group or program ran (the schema's own status types, not
//! their spellings), and metrics.
#![allow(dead_code)]

use memtrace_schema::{GroupMeta, GroupStatus, ProbeMeta, ProbeState};
use serde_json::Value;

use super::{Cell, Row};

/// An integer cell; a null, a missing column or another type is a bug of
/// the recording or of the test.
pub fn int(row: &Row, col: &str) -> i128 {
    match row.get(col) {
        Some(Cell::Int(v)) => *v,
        other => panic!("column {col}: not an integer: {other:?}"),
    }
}

/// An integer cell, or None where it is null or the recording has no such
/// column (an older memrec).
pub fn opt_int(row: &Row, col: &str) -> Option<i128> {
    match row.get(col) {
        Some(Cell::Int(v)) => Some(*v),
        Some(Cell::Null) | None => None,
        Some(other) => panic!("column {col}: not an integer or null: {other:?}"),
    }
}

/// A text cell; a null, a missing column or another type is a bug.
pub fn text<'r>(row: &'r Row, col: &str) -> &'r str {
    match row.get(col) {
        Some(Cell::Text(v)) => v,
        other => panic!("column {col}: not text: {other:?}"),
    }
}

/// A text cell, or None where it is null or the column is missing.
pub fn opt_text<'r>(row: &'r Row, col: &str) -> Option<&'r str> {
    match row.get(col) {
        Some(Cell::Text(v)) => Some(v),
        Some(Cell::Null) | None => None,
        Some(other) => panic!("column {col}: not text or null: {other:?}"),
    }
}

/// A boolean cell that is true (false for false and null).
pub fn flag(row: &Row, col: &str) -> bool {
    matches!(row.get(col), Some(Cell::Bool(true)))
}

/// How many rows `keep` keeps.
pub fn count(rows: &[Row], keep: impl Fn(&Row) -> bool) -> i128 {
    rows.iter().filter(|x| keep(x)).count() as i128
}

/// The sum of an integer column.
pub fn sum(rows: &[Row], col: &str) -> i128 {
    rows.iter().map(|x| int(x, col)).sum()
}

/// Whether the recording holds rows of `group`: it ran, in whole or in part.
pub fn group_recorded(meta: &Value, group: &str) -> bool {
    let groups: Vec<GroupMeta> = serde_json::from_value(meta["groups"].clone())
        .unwrap_or_else(|e| panic!("the metadata's groups: {e}"));
    let ran = [GroupStatus::Attached, GroupStatus::Partial];
    groups
        .iter()
        .any(|g| g.name == group && ran.iter().any(|s| g.status == s.as_str()))
}

/// What became of one program of the recording, as the schema reads it
/// (older files without a state included); None when it has no such
/// program.
pub fn probe_state(meta: &Value, program: &str) -> Option<ProbeState> {
    let probes: Vec<ProbeMeta> = serde_json::from_value(meta["probes"].clone())
        .unwrap_or_else(|e| panic!("the metadata's probes: {e}"));
    probes
        .iter()
        .find(|p| p.program == program)
        .map(ProbeMeta::state)
}

/// A metric of `memana report --format json` that is a whole number
/// (counts, pages, bytes); None if absent or fractional.
pub fn metric(report: &Value, key: &str) -> Option<i128> {
    let v = &report["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)?["value"];
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i128))
}
