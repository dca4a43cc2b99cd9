//! Probe groups. Each group has the same shape: a BPF program in
//! `bpf/<group>/` (found by build.rs), a module here with its descriptor
//! ([`Group`]: programs, loader, decoder, and what the recorder must do for
//! it), its tables in `crates/schema/src/tables/<group>.rs`, and an analyzer
//! section. Adding a group: copy a sibling, then add its `pub mod` line and
//! its line in [`GROUPS`]. The tests below fail while a folder under `bpf/`
//! has no descriptor, or a descriptor names a program its object lacks.

pub mod alloc;
pub mod compaction;
pub mod decode;
pub mod faults;
pub mod hugetlb;
pub mod kmemleak;
pub mod mappings;
pub mod memleak;
pub mod oom;
pub mod paf;
pub mod pr;
pub mod procstat;
pub mod snapshot;
pub mod swap;
pub mod sysstat;

use std::mem::MaybeUninit;
use std::sync::LazyLock;

use libbpf_rs::skel::Skel;
use libbpf_rs::OpenObject;

pub use decode::{DecodeCtx, DecodeError};

use crate::writer::Tables;

/// Opens, configures and loads a group's BPF object, and takes its common
/// maps.
pub type LoadObjectFn = fn(&BpfSettings, &[&str]) -> Result<Object, libbpf_rs::Error>;

/// Decodes one ring-buffer record into rows.
pub type DecodeFn = fn(&[u8], &mut DecodeCtx, &mut Tables) -> Result<(), DecodeError>;

/// Opens a group's BPF object without loading it (no privileges needed) and
/// lists the programs it holds.
#[cfg(test)]
pub type ObjectProgramsFn = fn() -> Result<Vec<String>, libbpf_rs::Error>;

/// How a program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// BTF-typed raw tracepoint: cheapest, used on hot paths.
    TpBtf,
    /// Classic tracepoint: the record layout of the tracefs format (stable ABI).
    Tp,
    /// Not attached: run by the recorder itself through BPF_PROG_TEST_RUN.
    TestRun,
    /// A task iterator (`iter/task`): run by the recorder over every task
    /// when it reads the iterator, as its group's timer.
    TaskIter,
    /// A per-CPU timer: a cpu-clock perf event on every online CPU, firing
    /// at the group's sampling interval, runs the program on whatever task
    /// is on that CPU.
    CpuTimer,
    /// A function hook (BPF trampoline) on a kernel function. Optional
    /// extras only: many kernels refuse them, so such a program stands in
    /// for a tracepoint program where the tracepoint cannot do the job, and
    /// is chosen only after a trial hook attached.
    Fentry,
    /// A software perf event on every online CPU that runs the program on
    /// every occurrence, in the task it happened in (page faults).
    SwEvent(faults::SwEvent),
    /// A uprobe on `func` of the traced processes' C library (its return,
    /// a uretprobe, with `ret`), found and attached by `uprobes.rs`; the
    /// target names the function.
    Uprobe { func: &'static str, ret: bool },
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::TpBtf => "tp_btf",
            Method::Tp => "tp",
            Method::TestRun => "test_run",
            Method::TaskIter => "iter_task",
            Method::CpuTimer => "cpu_timer",
            Method::Fentry => "fentry",
            Method::SwEvent(_) => "perf_sw",
            Method::Uprobe { ret: false, .. } => "uprobe",
            Method::Uprobe { ret: true, .. } => "uretprobe",
        }
    }
}

/// One BPF program of a group.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// Function name in the BPF source.
    pub name: &'static str,
    /// What it runs on: the tracepoint as `category:name`, the kernel
    /// function of a hook, or for the other methods a description
    /// (`cpu-clock`, `timer, run by memrec`).
    pub target: &'static str,
    pub method: Method,
    /// Its slot in the group's `stats` map (the C `enum <group>_probe`).
    pub slot: u32,
    /// A program of the same group that does this one's job when this one
    /// cannot be attached (or is turned off); it is loaded only then.
    pub fallback: Option<&'static str>,
    /// What the running kernel must do beyond having its target, e.g. fire
    /// the tracepoint while the task still has its mm; the error says what
    /// it does instead. Checked with [`Program::available`].
    pub requires: Option<RequireFn>,
}

/// A condition on the running kernel: `Err` says why it does not hold.
pub type RequireFn = fn() -> Result<(), String>;

impl Program {
    /// Whether this kernel can run it; the error says why not.
    pub fn available(&self) -> Result<(), String> {
        match self.method {
            Method::TestRun | Method::TaskIter => Ok(()),
            Method::CpuTimer => crate::timer::available(),
            Method::Fentry => crate::hooks::fentry_available(self.target),
            Method::SwEvent(ev) => ev.available(),
            Method::Uprobe { .. } => crate::uprobes::available(),
            Method::Tp | Method::TpBtf => {
                if crate::kernel::has_tracepoint(&self.target.replace(':', "/")) {
                    Ok(())
                } else {
                    Err(format!("tracepoint {} missing", self.target))
                }
            }
        }?;
        self.requires.map_or(Ok(()), |check| check())
    }
}

/// Settings that reach the BPF side through `.rodata`.
#[derive(Debug, Clone, Default)]
pub struct BpfSettings {
    pub filter_tgid: u32,
    pub filter_comm: Option<[u8; 16]>,
    pub filter_cgroup_id: u64,
    pub memory_subsys_id: u32,
    pub nr_cpus: u32,
    pub nodes: Vec<u32>,
    pub ring_bytes: u32,
    pub wakeup_bytes: u64,
    pub procstat_min_interval_ns: u64,
    pub snapshot_min_interval_ns: u64,
    /// The group's user-stack sampling period (one stack per this many
    /// events per CPU; 0: none), for groups that call `mt_stack_sample`.
    pub stack_every: u32,
    /// The allocation groups' settings (`--alloc-*`), for groups that
    /// include bpf/common/alloc.h.
    pub alloc: alloc::AllocSettings,
    /// kmemleak's slab cache filter (`--kmem-cache`); empty: every cache.
    pub kmem_caches: Vec<String>,
    /// `memrec record -- CMD`: only the command's processes are recorded.
    pub follow: Option<Follow>,
}

/// The processes followed for `memrec record -- CMD` (`mt_followed` in
/// bpf/common/runtime.h): one map every group's object shares, and whether
/// this object loads the programs that fill it (one object does).
#[derive(Debug, Clone)]
pub struct Follow {
    pub map: std::sync::Arc<libbpf_rs::MapHandle>,
    pub programs: bool,
}

/// The programs of bpf/common/runtime.h that follow a command's processes:
/// in every group's object, loaded in one and attached by record.rs, not a
/// group's own.
pub const FOLLOW_PROGRAMS: &[&str] = &["mt_follow_fork", "mt_follow_free"];

/// Processes followed at once at most (`MT_FOLLOW_MAX` in runtime.h).
pub const FOLLOW_MAX: u32 = 32768;

/// The maps every group's object has (bpf/common/runtime.h), taken from the
/// typed skeleton at load. Handles hold their own descriptors.
pub struct GroupMaps {
    /// The ring buffer the group's records arrive in.
    pub events: libbpf_rs::MapHandle,
    /// `control[0]` is 1 while the recording is live.
    pub control: libbpf_rs::MapHandle,
    /// Per-CPU `struct mt_stat` (events, lost) per program slot.
    pub stats: libbpf_rs::MapHandle,
    /// `mt_follow_lost[0]`: children of followed processes not followed,
    /// the map being full (counted by the object that loads
    /// [`FOLLOW_PROGRAMS`]).
    pub follow_lost: libbpf_rs::MapHandle,
}

/// A loaded BPF object and its common maps.
pub struct Object {
    pub skel: Box<dyn Skel<'static>>,
    pub maps: GroupMaps,
}

/// A probe group.
pub struct Group {
    pub name: &'static str,
    /// One line for `memrec probes`.
    pub about: &'static str,
    pub programs: &'static [Program],
    /// Tables its records fill.
    pub tables: &'static [&'static memtrace_schema::Table],
    /// Its ring buffer is at most this big (`--ring-mb` caps it too): rare
    /// records need little, and every ring's pages count in memrec's RSS.
    pub max_ring_bytes: u32,
    /// Recorded when `--probes` is not given.
    pub default_on: bool,
    /// Groups recorded along with this one whenever it is (unless taken
    /// away with `-GROUP`), as if from `all`: skipped with a warning where
    /// the kernel cannot record them. memleak brings kmemleak. A name not
    /// in [`GROUPS`] is ignored.
    pub implies: &'static [&'static str],
    /// Its decoder names kernel functions, so the recorder loads the kernel
    /// symbols (/proc/kallsyms) before recording it.
    pub needs_ksyms: bool,
    /// Its rows hold kernel code addresses (call sites, kernel stacks in
    /// the stack store) that memana names later, elsewhere: the recorder
    /// writes the kernel's text symbols into the file once (`kernel_symbol`,
    /// from /proc/kallsyms; about 1 MB).
    pub kernel_symbols: bool,
    /// Its program the recorder runs itself at the start, every
    /// `--interval` and at the end: a `TestRun` program, with the trigger
    /// (`enum mt_trigger`, a `u64`) as its argument (the timed snapshots),
    /// or a `TaskIter` program, run over every task right after them.
    pub timer: Option<&'static str>,
    /// Its program that `memrec record --load-test` runs to write synthetic
    /// rows, with the number of rows (a `u64`) as its argument; off unless
    /// load-testing. A `TestRun` program.
    pub load_test: Option<&'static str>,
    /// Opens, configures and loads the group's BPF object. Programs in
    /// `skip` are not loaded (their tracepoint is missing, or they are
    /// turned off).
    pub load_object: LoadObjectFn,
    /// Opens the BPF object without loading it and lists its programs:
    /// the tests check the descriptor against it.
    #[cfg(test)]
    pub object_programs: ObjectProgramsFn,
    /// Decodes one ring-buffer record into rows.
    pub decode: DecodeFn,
}

impl Group {
    pub fn program(&self, name: &str) -> Option<&'static Program> {
        self.programs.iter().find(|p| p.name == name)
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("name", &self.name).finish()
    }
}

/// Every probe group, in the order they are listed and loaded.
pub static GROUPS: &[&Group] = &[
    &procstat::GROUP,
    &sysstat::GROUP,
    &paf::GROUP,
    &pr::GROUP,
    &oom::GROUP,
    &faults::GROUP,
    &swap::GROUP,
    &mappings::GROUP,
    &compaction::GROUP,
    &hugetlb::GROUP,
    &kmemleak::GROUP,
    &memleak::GROUP,
];

/// Names of the groups recorded when `--probes` is not given, in
/// [`GROUPS`] order.
pub static DEFAULT_GROUPS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    GROUPS
        .iter()
        .filter(|g| g.default_on)
        .map(|g| g.name)
        .collect()
});

pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().copied().find(|g| g.name == name)
}

/// Storage for an open BPF object that lives as long as the recorder: the
/// skeleton borrows it, and groups are loaded once per process.
pub fn object_storage() -> &'static mut MaybeUninit<OpenObject> {
    Box::leak(Box::new(MaybeUninit::uninit()))
}

/// Opens a skeleton, fills its `.rodata` config, sizes its ring buffer,
/// turns off the programs in `$skip`, loads it, and takes handles on the
/// maps every group has. One macro for all groups, since each skeleton has
/// its own generated types.
macro_rules! load_skeleton {
    ($builder:ty, $settings:expr, $skip:expr) => {
        $crate::probes::load_skeleton!($builder, $settings, $skip, |_ro| {})
    };
    // `$rodata` fills the group's own `.rodata` settings, after the common ones.
    ($builder:ty, $settings:expr, $skip:expr, $rodata:expr) => {{
        use libbpf_rs::skel::{OpenSkel, SkelBuilder};
        let s: &$crate::probes::BpfSettings = $settings;
        let skip: &[&str] = $skip;
        let mut open = <$builder>::default().open($crate::probes::object_storage())?;
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            let c = &mut ro.cfg;
            c.filter_tgid = s.filter_tgid;
            if let Some(comm) = s.filter_comm {
                c.filter_comm_set = 1;
                for (d, b) in c.filter_comm.iter_mut().zip(comm.iter()) {
                    *d = *b as _;
                }
            }
            c.filter_cgroup_id = s.filter_cgroup_id;
            c.memory_subsys_id = s.memory_subsys_id;
            c.nr_cpus = s.nr_cpus;
            c.wakeup_bytes = s.wakeup_bytes;
            c.procstat_min_interval_ns = s.procstat_min_interval_ns;
            c.snapshot_min_interval_ns = s.snapshot_min_interval_ns;
            c.stack_every = s.stack_every;
            c.filter_follow = u32::from(s.follow.is_some());
            let n = s.nodes.len().min(c.node_ids.len());
            c.nr_nodes = n as u32;
            c.node_ids[..n].copy_from_slice(&s.nodes[..n]);
            ($rodata)(ro);
        }
        open.maps.events.set_max_entries(s.ring_bytes)?;
        match &s.follow {
            Some(f) => {
                use std::os::fd::AsFd;
                open.maps.mt_followed.reuse_fd(f.map.as_fd())?
            }
            // Nothing followed: no table's worth of kernel memory per group.
            None => open.maps.mt_followed.set_max_entries(1)?,
        }
        let follows = s.follow.as_ref().is_some_and(|f| f.programs);
        for mut prog in open.open_object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let follow_prog = $crate::probes::FOLLOW_PROGRAMS.contains(&name.as_str());
            if skip.contains(&name.as_str()) || (follow_prog && !follows) {
                prog.set_autoload(false);
            }
        }
        let skel = open.load()?;
        // The common maps, from the skeleton's own fields: no look-up by name.
        let maps = $crate::probes::GroupMaps {
            events: libbpf_rs::MapHandle::try_from(&skel.maps.events)?,
            control: libbpf_rs::MapHandle::try_from(&skel.maps.control)?,
            stats: libbpf_rs::MapHandle::try_from(&skel.maps.stats)?,
            follow_lost: libbpf_rs::MapHandle::try_from(&skel.maps.mt_follow_lost)?,
        };
        Ok($crate::probes::Object {
            skel: Box::new(skel),
            maps,
        })
    }};
}
pub(crate) use load_skeleton;

/// Opens a skeleton without loading it and lists its programs; see
/// [`ObjectProgramsFn`].
#[cfg(test)]
macro_rules! object_programs {
    ($builder:ty) => {{
        use libbpf_rs::skel::{OpenSkel, SkelBuilder};
        // Dropping the open skeleton closes the object in `storage`.
        let mut storage = std::mem::MaybeUninit::uninit();
        let open = <$builder>::default().open(&mut storage)?;
        let names = open
            .open_object()
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect::<Vec<String>>();
        Ok(names)
    }};
}
#[cfg(test)]
pub(crate) use object_programs;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_bpf_folder_has_a_group_and_every_group_a_folder() {
        let found: BTreeSet<&str> = crate::bpf::GROUP_NAMES.iter().copied().collect();
        let registered: BTreeSet<&str> = GROUPS.iter().map(|g| g.name).collect();
        assert_eq!(found, registered, "folders under bpf/ vs probes::GROUPS");
        assert_eq!(
            registered.len(),
            GROUPS.len(),
            "a group is registered twice"
        );
    }

    /// Opening (not loading) needs no privileges, so this runs everywhere.
    #[test]
    fn descriptors_name_exactly_the_programs_of_their_objects() {
        for g in GROUPS {
            let mut in_object: BTreeSet<String> = match (g.object_programs)() {
                Ok(names) => names.into_iter().collect(),
                Err(e) => panic!("{}: opening its BPF object: {e}", g.name),
            };
            // The runtime's follow programs are in every object, no group's.
            for f in FOLLOW_PROGRAMS {
                assert!(in_object.remove(*f), "{}: {f} missing", g.name);
            }
            let described: BTreeSet<String> =
                g.programs.iter().map(|p| p.name.to_string()).collect();
            assert_eq!(
                in_object, described,
                "{}: programs in the object (left) vs in the descriptor (right)",
                g.name
            );
        }
    }

    #[test]
    fn descriptors_are_consistent() {
        // MT_MAX_PROBES in bpf/common/event.h: entries of the stats map.
        const MAX_PROBES: u32 = 32;
        for g in GROUPS {
            let names: BTreeSet<&str> = g.programs.iter().map(|p| p.name).collect();
            assert_eq!(
                names.len(),
                g.programs.len(),
                "{}: duplicate program",
                g.name
            );
            let slots: BTreeSet<u32> = g.programs.iter().map(|p| p.slot).collect();
            assert_eq!(slots.len(), g.programs.len(), "{}: shared slot", g.name);
            assert!(slots.iter().all(|&s| s < MAX_PROBES), "{}", g.name);
            for p in g.programs {
                if let Some(f) = p.fallback {
                    assert!(g.program(f).is_some(), "{}: fallback {f} unknown", g.name);
                }
            }
            if let Some(run) = g.timer {
                let p = g.program(run);
                assert!(
                    p.is_some_and(|p| matches!(p.method, Method::TestRun | Method::TaskIter)),
                    "{}: {run} is not a test-run or task-iterator program of the group",
                    g.name
                );
            }
            if let Some(run) = g.load_test {
                let p = g.program(run);
                assert!(
                    p.is_some_and(|p| p.method == Method::TestRun),
                    "{}: {run} is not a test-run program of the group",
                    g.name
                );
            }
            assert!(!g.tables.is_empty(), "{} fills no table", g.name);
            for t in g.tables {
                assert!(
                    memtrace_schema::table(t.name).is_some(),
                    "{}: table {} is not in the schema",
                    g.name,
                    t.name
                );
            }
            // Every table the schema assigns to the group is one it fills.
            for t in memtrace_schema::tables()
                .iter()
                .filter(|t| t.group == g.name)
            {
                assert!(
                    g.tables.iter().any(|x| x.name == t.name),
                    "{}: schema table {} missing from the descriptor",
                    g.name,
                    t.name
                );
            }
        }
        // Every schema table belongs to a registered group, or to the
        // stack store, which is recorded with the groups that use it.
        for t in memtrace_schema::tables() {
            assert!(
                group(t.group).is_some() || t.group == crate::stacks::GROUP,
                "table {} of unknown group {}",
                t.name,
                t.group
            );
        }
        assert!(
            group(crate::stacks::GROUP).is_none(),
            "a probe group has the stack store's name"
        );
        for g in GROUPS {
            assert!(
                g.tables.iter().all(|t| t.group != crate::stacks::GROUP),
                "{}: the stack store's tables are the store's, not a group's",
                g.name
            );
            // Kernel symbols name kernel addresses: a call site or a stack.
            if g.kernel_symbols {
                assert!(
                    crate::stacks::uses_store(g)
                        || g.tables.iter().any(|t| t.column("call_site").is_some()),
                    "{}: writes kernel symbols but has no kernel address to name",
                    g.name
                );
            }
        }
    }

    #[test]
    fn groups_keep_their_roles() {
        assert_eq!(*DEFAULT_GROUPS, ["procstat", "sysstat", "paf", "pr", "oom"]);
        let with = |f: fn(&Group) -> bool| -> Vec<&str> {
            GROUPS.iter().filter(|g| f(g)).map(|g| g.name).collect()
        };
        assert_eq!(with(|g| g.needs_ksyms), ["pr"]);
        assert_eq!(
            with(crate::stacks::uses_store),
            ["faults", "kmemleak", "memleak"]
        );
        assert_eq!(with(|g| g.kernel_symbols), ["kmemleak"]);
        assert_eq!(
            with(|g| g.timer.is_some()),
            ["procstat", "sysstat", "hugetlb"]
        );
        assert_eq!(with(|g| g.load_test.is_some()), ["procstat"]);
    }
}
