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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{file_column_name, ColumnType, TaskFilter, COMMON};

    #[test]
    fn column_constants_are_file_names() {
        assert_eq!(procstat::procstat::COLS.rss_anon, "procstat.rss_anon");
        assert_eq!(
            oom::oom_victim::COLS.victim_pid,
            file_column_name("oom_victim", "victim_pid")
        );
        assert_eq!(pr::slab_end::COLS.duration_ns, "slab_end.duration_ns");
    }

    #[test]
    fn task_filters_name_columns_that_exist() {
        let ty = |name: &str| -> Option<ColumnType> {
            COMMON
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.ty)
                .or_else(|| {
                    ALL.iter().find_map(|t| {
                        t.columns
                            .iter()
                            .find(|c| file_column_name(t.name, c.name) == name)
                            .map(|c| c.ty)
                    })
                })
        };
        for t in ALL {
            if let Some((pid, comm)) = t.task_columns() {
                assert_eq!(ty(pid), Some(ColumnType::U32), "{}: {pid}", t.name);
                assert_eq!(ty(comm), Some(ColumnType::Text), "{}: {comm}", t.name);
            }
        }
    }

    #[test]
    fn task_filters_are_as_the_analyzer_applies_them() {
        let system: Vec<&str> = ALL
            .iter()
            .filter(|t| t.task == TaskFilter::SystemWide)
            .map(|t| t.name)
            .collect();
        assert_eq!(system, ["sysstat", "zone", "wmark_setup", "kswapd"]);
        assert_eq!(
            oom::oom_victim::TABLE.task_columns(),
            Some(("oom_victim.victim_pid", "oom_victim.victim_comm"))
        );
        assert_eq!(
            procstat::procstat::TABLE.task_columns(),
            Some(("tgid", "comm"))
        );
    }
}
