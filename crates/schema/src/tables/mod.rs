//! One module per probe group, each defining that group's tables.

pub mod oom;
pub mod paf;
pub mod pr;
pub mod procstat;
pub mod sysstat;

use crate::Table;

/// Every table, in file order. Register a new group's tables here.
pub const ALL: &[&Table] = &[
    &procstat::procstat::TABLE,
    &sysstat::sysstat::TABLE,
    &sysstat::zone::TABLE,
    &paf::paf::TABLE,
    &paf::reclaim_retry::TABLE,
    &paf::compact_suitable::TABLE,
    &paf::compact_try::TABLE,
    &paf::wmark_setup::TABLE,
    &pr::lru_inactive::TABLE,
    &pr::lru_active::TABLE,
    &pr::reclaim_begin::TABLE,
    &pr::reclaim_end::TABLE,
    &pr::kswapd::TABLE,
    &pr::slab_start::TABLE,
    &pr::slab_end::TABLE,
    &oom::oom_victim::TABLE,
];
