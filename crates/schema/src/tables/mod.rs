//! One module per probe group, each defining that group's tables.

pub mod compaction;
pub mod faults;
pub mod hugetlb;
pub mod kmemleak;
pub mod mappings;
pub mod memleak;
pub mod oom;
pub mod paf;
pub mod pr;
pub mod procstat;
pub mod stacks;
pub mod swap;
pub mod sysstat;

use crate::Table;

/// Every table, in file order: each group's [`TABLES`](procstat::TABLES) in
/// the order of this list. Register a new group's module here.
pub const ALL: &[&Table] = &concat::<{ count(GROUPS) }>(GROUPS);

/// Each group's tables, in file order.
const GROUPS: &[&[&Table]] = &[
    procstat::TABLES,
    sysstat::TABLES,
    paf::TABLES,
    pr::TABLES,
    oom::TABLES,
    faults::TABLES,
    swap::TABLES,
    mappings::TABLES,
    compaction::TABLES,
    hugetlb::TABLES,
    memleak::TABLES,
    kmemleak::TABLES,
    stacks::TABLES,
];

const fn count(groups: &[&[&Table]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < groups.len() {
        n += groups[i].len();
        i += 1;
    }
    n
}

/// The groups' lists one after the other, at compile time.
const fn concat<const N: usize>(groups: &[&[&'static Table]]) -> [&'static Table; N] {
    let mut out: [&Table; N] = [&procstat::procstat::TABLE; N];
    let mut n = 0;
    let mut g = 0;
    while g < groups.len() {
        let mut t = 0;
        while t < groups[g].len() {
            out[n] = groups[g][t];
            n += 1;
            t += 1;
        }
        g += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{file_column_name, ColumnType, TaskFilter, COMMON};

    #[test]
    fn the_first_groups_keep_their_file_order() {
        // The order of schema version 1; later groups come after.
        let names: Vec<&str> = ALL.iter().map(|t| t.name).take(16).collect();
        assert_eq!(
            names,
            [
                "procstat",
                "sysstat",
                "zone",
                "paf",
                "reclaim_retry",
                "compact_suitable",
                "compact_try",
                "wmark_setup",
                "lru_inactive",
                "lru_active",
                "reclaim_begin",
                "reclaim_end",
                "kswapd",
                "slab_start",
                "slab_end",
                "oom_victim",
            ]
        );
    }

    #[test]
    fn each_list_holds_one_group() {
        let mut seen: Vec<&str> = Vec::new();
        for list in GROUPS {
            let group = list.first().map(|t| t.group).unwrap_or_default();
            assert!(!group.is_empty(), "a group without tables");
            assert!(list.iter().all(|t| t.group == group), "{group}: mixed list");
            assert!(!seen.contains(&group), "{group} listed twice");
            seen.push(group);
        }
        assert_eq!(ALL.len(), GROUPS.iter().map(|l| l.len()).sum::<usize>());
    }

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
        assert_eq!(
            system,
            [
                "sysstat",
                "zone",
                "wmark_setup",
                "kswapd",
                "hugetlb_pool",
                "kernel_symbol"
            ]
        );
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
