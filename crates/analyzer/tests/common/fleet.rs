//! Fleet test data: copies of a recording under other host names and ids,
//! still checksum-verified. The implementation is `membench fleet`'s,
//! included as it is, so the tests and the benchmark make the same copies.

#[path = "../../../bench/src/fleet.rs"]
mod copy;

#[allow(unused_imports)]
pub use copy::*;
