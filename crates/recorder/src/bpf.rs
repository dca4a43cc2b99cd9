//! Generated BPF skeletons, one per probe group.
#![allow(
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    unsafe_op_in_unsafe_fn,
    dead_code
)]

pub mod procstat {
    include!(concat!(env!("OUT_DIR"), "/procstat.skel.rs"));
}
pub mod sysstat {
    include!(concat!(env!("OUT_DIR"), "/sysstat.skel.rs"));
}
pub mod paf {
    include!(concat!(env!("OUT_DIR"), "/paf.skel.rs"));
}
pub mod pr {
    include!(concat!(env!("OUT_DIR"), "/pr.skel.rs"));
}
pub mod oom {
    include!(concat!(env!("OUT_DIR"), "/oom.skel.rs"));
}
