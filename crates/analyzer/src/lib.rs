//! memana: offline reports and regression gates over memtrace recordings.
//!
//! The binary (`src/main.rs`) is a thin command line over this library:
//! [`inputs`] resolves the arguments into files, [`recording::Recording`]
//! opens them as one recording, [`sections`] compute the report
//! sections into the common table model ([`model`]), [`render`] prints them,
//! [`rules`] and [`diff`] work on the flat metrics the sections derive.

pub mod checks;
pub mod diff;
pub mod export;
pub mod filter;
pub mod fleet;
pub mod footer_census;
pub mod frame;
pub mod inputs;
pub mod junit;
pub mod metrics;
pub mod model;
pub mod par;
pub mod recording;
pub mod render;
pub mod report;
pub mod rules;
pub mod sections;
pub mod sql;
pub mod stacks;
pub mod stats;
pub mod symbolize;
pub mod views;

/// The integration tests' recording writer and raw reader, for unit tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
pub(crate) mod testutil;
