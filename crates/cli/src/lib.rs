//! What memrec and memana share on the command line, so the two tools
//! cannot drift apart: one duration syntax, one byte-size syntax, one-line
//! error messages with the tool's prefix (clap's included), one logging
//! setup, and shell completions and man pages made from the tool's flags.

pub mod completions;
pub mod duration;
pub mod error;
pub mod logging;
pub mod size;
pub mod testing;

pub use duration::{parse_duration, DurationError};
pub use size::{parse_size, SizeError};
