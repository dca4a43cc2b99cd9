//! `memana sql`: SQL over the views of one or many recordings (polars SQL).
