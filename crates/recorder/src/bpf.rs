//! Generated BPF skeletons, one module per probe group: build.rs compiles
//! every `bpf/<group>/<group>.bpf.c` it finds and lists them here.
#![allow(
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    unsafe_op_in_unsafe_fn,
    dead_code
)]

include!(concat!(env!("OUT_DIR"), "/groups.rs"));
