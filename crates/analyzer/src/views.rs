//! Each table of a recording as a view with plain column names.
