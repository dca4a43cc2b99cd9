//! What memrec and memana share on the command line, so the two tools
//! cannot drift apart: one duration syntax, one-line error messages with the
//! tool's prefix (clap's included), and one logging setup.

pub mod duration;
pub mod error;
pub mod logging;
pub mod testing;

pub use duration::{parse_duration, DurationError};
