//! A recording, in stages: [`plan`] checks everything that can be refused
//! and decides what to load; [`Session::open`] loads and attaches the
//! groups and resolves their maps and the programs memrec runs itself,
//! once; [`drain`] moves the ring buffers into the writer until the end;
//! [`metadata`] describes the file; [`close`] finishes it and moves it into
//! place; [`print_summary`] tells the user. [`record`] runs them in turn.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use libbpf_rs::skel::Skel;
use libbpf_rs::{Link, MapCore, MapFlags, ProgramHandle, RingBufferBuilder};
use memtrace_schema::{
    BuddyInfo, ClockAnchor, EndReason, FileMeta, FilterMeta, GroupMeta, GroupStatus, ProbeMeta,
    ProbeState, SegmentMeta, Text, ZoneInfo, SCHEMA_VERSION,
};
use tracing::{debug, info, warn};

use crate::kernel::{self, MemoryController};
use crate::output::{Output, OutputError};
use crate::printfmt::{self, FlagTable};
use crate::probes::{self, snapshot, BpfSettings, DecodeCtx, Group, GroupMaps, Method};
use crate::spool::{Action, Mode, Spool};
use crate::writer::{self, Tables, WriterOptions};

/// Everything `memrec record` was asked to do.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub output: PathBuf,
    pub force: bool,
    pub duration: Option<Duration>,
    /// Groups named with --probes; None means the defaults.
    pub groups: Option<Vec<String>>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub cgroup: Option<PathBuf>,
    pub interval: Duration,
    pub procstat_interval: Duration,
    /// Programs not to use (their fallback, if any, runs instead).
    pub disabled_programs: Vec<String>,
    /// Synthetic procstat rows per second written by the load test.
    pub load_test: Option<u64>,
    pub snapshot_gap: Duration,
    pub ring_bytes: u32,
    pub writer: WriterOptions,
    pub progress: bool,
    pub command_line: Vec<String>,
    /// User-stack sampling period per group (`--fault-stacks`: faults);
    /// groups not named sample none.
    pub stack_every: BTreeMap<&'static str, u32>,
    /// The allocation groups' sampling, size filter and stacks (`--alloc-*`).
    pub alloc: crate::probes::alloc::AllocSettings,
    /// kmemleak's slab cache filter (`--kmem-cache`); empty: every cache.
    pub kmem_caches: Vec<String>,
    /// How often a segment is closed: at most this much is lost if memrec
    /// dies (`--checkpoint`).
    pub checkpoint: Duration,
    /// The `oom_score_adj` memrec gives itself; None leaves it alone.
    pub oom_score_adj: Option<i32>,
    /// One file, rotated files, or the flight recorder.
    pub mode: crate::spool::Mode,
    /// The flight recorder's triggers.
    pub triggers: Vec<crate::trigger::TriggerSpec>,
    /// `-- CMD`: started once the probes are live; the recording ends
    /// when it exits.
    pub command: Option<crate::command::CommandSpec>,
}

impl RecordOptions {
    /// Whether `-o` names a directory: rotated files, or flight-recorder
    /// files for every trigger.
    fn output_is_dir(&self) -> bool {
        match &self.mode {
            crate::spool::Mode::File => false,
            crate::spool::Mode::Rotate { .. } => true,
            crate::spool::Mode::Flight(f) => !f.until,
        }
    }
}

/// A problem with the invocation or the host, reported with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

static STOP: AtomicBool = AtomicBool::new(false);

/// Signals (a bit per number) that another process sent memrec with
/// kill(): with `-- CMD` they are passed on to the command. One from the
/// terminal (Ctrl-C, a hang-up) reaches the command by itself, in the same
/// process group, so it is not sent twice.
static FORWARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let code = unsafe { info.as_ref() }.map_or(libc::SI_KERNEL, |i| i.si_code);
    // SI_USER, SI_QUEUE, SI_TKILL...: sent by a process, not the kernel.
    if code <= 0 && (0..64).contains(&sig) {
        FORWARD.fetch_or(1 << sig, Ordering::SeqCst);
    }
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to atomics, which is
        // async-signal-safe; the struct is ours and fully initialised.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Per group: what user space received.
#[derive(Debug, Default, Clone)]
struct GroupCounts {
    decoded: u64,
    malformed: u64,
}

/// State the ring-buffer callbacks share (they run on this thread).
struct Sink {
    ctx: DecodeCtx,
    tables: Option<Tables>,
    counts: Vec<GroupCounts>,
    /// Per group, per stat slot: records read from the ring. A segment's
    /// event counts are these, so they match its rows exactly (the kernel's
    /// counters run ahead of what has been read by the records in flight).
    received: Vec<[u64; MAX_PROBES]>,
    write_error: Option<String>,
    /// Memory cgroup paths and limits, resolved while the cgroups exist.
    cgroups: Option<kernel::CgroupCache>,
}

/// Stat slots per group (`MT_MAX_PROBES` in bpf/common/event.h).
const MAX_PROBES: usize = 32;

/// Where a record's stat slot is: `mt_hdr.probe`, which faults' headerless
/// records keep at the same offset.
const PROBE_OFFSET: usize = std::mem::offset_of!(crate::bpf::sysstat::types::mt_hdr, probe);

impl Sink {
    fn new(ctx: DecodeCtx, tables: Tables, groups: usize) -> Sink {
        Sink {
            ctx,
            tables: Some(tables),
            counts: vec![GroupCounts::default(); groups],
            received: vec![[0; MAX_PROBES]; groups],
            write_error: None,
            cgroups: None,
        }
    }

    /// Looks up the cgroup ids first seen since the last call: after each
    /// drain, off the per-record path.
    fn resolve_cgroups(&mut self) {
        if let Some(c) = self.cgroups.as_mut() {
            c.resolve(&self.ctx.cgroup_ids);
        }
    }

    fn record(&mut self, group: usize, decode: probes::DecodeFn, data: &[u8]) -> i32 {
        let Some(tables) = self.tables.as_mut() else {
            return 0;
        };
        if let Some(&[a, b]) = data.get(PROBE_OFFSET..PROBE_OFFSET + 2) {
            let slot = usize::from(u16::from_ne_bytes([a, b]));
            if let Some(n) = self.received.get_mut(group).and_then(|r| r.get_mut(slot)) {
                *n += 1;
            }
        }
        match decode(data, &mut self.ctx, tables) {
            Ok(()) => self.counts[group].decoded += 1,
            Err(probes::DecodeError::Write(e)) => {
                // The writer is gone (disk full, I/O error): stop draining.
                self.write_error.get_or_insert_with(|| e.to_string());
                return -1;
            }
            Err(e) => {
                self.counts[group].malformed += 1;
                debug!("malformed record: {e}");
            }
        }
        0
    }
}

/// One group to record, and whether the user named it: a named group that
/// cannot be recorded is an error, one that came with the defaults or with
/// `all` is skipped with a warning.
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub group: &'static Group,
    pub named: bool,
}

/// The groups to record from `--probes`, checked against the registry, in
/// registry order. Its items are group names, `all` (every group), or
/// `+group`/`-group`, which add to or take from the default groups (or from
/// the named ones, when there are any).
pub fn resolve_groups(requested: Option<&[String]>) -> Result<Vec<Selected>, UsageError> {
    let lookup = |n: &str| {
        probes::group(n).ok_or_else(|| {
            let known: Vec<&str> = probes::GROUPS.iter().map(|g| g.name).collect();
            UsageError(format!(
                "unknown probe group `{n}`; known groups: {}, or `all`; \
                 `+GROUP` and `-GROUP` add to and take from the defaults",
                known.join(", ")
            ))
        })
    };
    let items: Vec<&str> = requested
        .unwrap_or_default()
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    // Without plain names (or `all`), +/- edit the defaults.
    let plain = items.iter().any(|i| !i.starts_with(['+', '-']));
    let mut chosen: Vec<(&'static str, bool)> = Vec::new();
    // Taken away by name: not brought back by a group that implies it.
    let mut removed: Vec<&'static str> = Vec::new();
    if !plain {
        chosen.extend(probes::DEFAULT_GROUPS.iter().map(|g| (*g, false)));
    }
    for item in &items {
        if *item == "all" {
            for g in probes::GROUPS {
                if !chosen.iter().any(|(n, _)| *n == g.name) {
                    chosen.push((g.name, false));
                }
            }
        } else if let Some(n) = item.strip_prefix('-') {
            let g = lookup(n)?;
            chosen.retain(|(x, _)| *x != g.name);
            removed.push(g.name);
        } else {
            let g = lookup(item.strip_prefix('+').unwrap_or(item))?;
            chosen.retain(|(x, _)| *x != g.name);
            chosen.push((g.name, true));
        }
    }
    // A group brings the groups it implies, unless taken away; as extras:
    // one this kernel cannot record is skipped with a warning, and the
    // group that brought it is recorded all the same.
    let mut i = 0;
    while i < chosen.len() {
        let name = chosen[i].0;
        for implied in probes::group(name).map_or(&[][..], |g| g.implies) {
            match probes::group(implied) {
                Some(g) if !removed.contains(&g.name) => {
                    if !chosen.iter().any(|(x, _)| *x == g.name) {
                        chosen.push((g.name, false));
                    }
                }
                Some(_) => {}
                None => debug!("{name} implies {implied}, which is not a group here"),
            }
        }
        i += 1;
    }
    let out: Vec<Selected> = probes::GROUPS
        .iter()
        .filter_map(|g| {
            chosen
                .iter()
                .find(|(n, _)| *n == g.name)
                .map(|(_, named)| Selected {
                    group: g,
                    named: *named,
                })
        })
        .collect();
    if out.is_empty() {
        return Err(UsageError("no probe groups to record".into()));
    }
    Ok(out)
}

/// A stack option (`--fault-stacks`) needs its group among those recorded.
/// A trigger watches rows of its groups: they must be recorded.
fn check_trigger_groups(
    triggers: &[crate::trigger::TriggerSpec],
    groups: &[Selected],
) -> Result<(), UsageError> {
    for t in triggers {
        for g in t.groups() {
            if !groups.iter().any(|s| s.group.name == *g) {
                return Err(UsageError(format!(
                    "--trigger {t} watches the `{g}` probe group, which is not recorded; add it with --probes +{g}"
                )));
            }
        }
    }
    Ok(())
}

fn check_stack_options(
    stack_every: &BTreeMap<&'static str, u32>,
    groups: &[Selected],
) -> Result<(), UsageError> {
    for (group, _) in stack_every.iter().filter(|(_, n)| **n > 0) {
        if !groups.iter().any(|s| s.group.name == *group) {
            let flag = crate::stacks::SAMPLERS
                .iter()
                .find(|s| s.group == *group)
                .map_or("the stack option", |s| s.flag);
            return Err(UsageError(format!(
                "{flag} samples the stacks of the {group} group, which is not recorded: \
                 add `--probes +{group}`"
            )));
        }
    }
    Ok(())
}

/// `comm` as the kernel stores it, NUL-padded.
fn comm_bytes(comm: &str) -> Result<[u8; 16], UsageError> {
    let b = comm.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return Err(UsageError(format!(
            "--comm `{comm}`: the kernel keeps 1 to 15 bytes of a command name"
        )));
    }
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

/// Whether `dir` lies on a cgroup filesystem (v1 or v2).
fn on_cgroupfs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a statfs we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    st.f_type == libc::CGROUP_SUPER_MAGIC || st.f_type == libc::CGROUP2_SUPER_MAGIC
}

/// Resolves --cgroup to a memory-cgroup id (the directory's inode number).
/// The path must resolve, links and `..` followed, to a cgroup of the
/// memory controller's hierarchy: anything else would filter every task
/// out and record nothing.
fn cgroup_id(path: &Path, memcg: Option<&MemoryController>) -> Result<u64, UsageError> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let mount = memcg.and_then(|m| m.mount.clone()).ok_or_else(|| {
        UsageError("--cgroup needs the memory cgroup controller, which is not mounted".into())
    })?;
    let root = std::fs::canonicalize(&mount).unwrap_or_else(|_| mount.clone());
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let real = std::fs::canonicalize(&full)
        .map_err(|e| UsageError(format!("--cgroup {shown}: {}: {e}", full.display())))?;
    if !real.starts_with(&root) {
        return Err(UsageError(format!(
            "--cgroup {shown}: {} is outside the memory controller's hierarchy at {}",
            real.display(),
            root.display()
        )));
    }
    let meta = std::fs::metadata(&real)
        .map_err(|e| UsageError(format!("--cgroup {shown}: {}: {e}", real.display())))?;
    if !meta.is_dir() || !on_cgroupfs(&real) || !real.join("cgroup.procs").is_file() {
        return Err(UsageError(format!(
            "--cgroup {shown}: {} is not a cgroup (a cgroup is a directory of the \
             cgroup filesystem with a cgroup.procs file)",
            real.display()
        )));
    }
    // In cgroup v2 a cgroup below the root has memory.current only where
    // the memory controller is enabled; elsewhere its tasks are charged to
    // an ancestor, whose id the filter would never see.
    let v1 = memcg.is_some_and(|m| m.v1);
    if !v1 && real != root && !real.join("memory.current").exists() {
        return Err(UsageError(format!(
            "--cgroup {shown}: the memory controller is not enabled for {} (no \
             memory.current; enable it in the parent's cgroup.subtree_control)",
            real.display()
        )));
    }
    Ok(meta.ino())
}

/// An output problem as the error memrec exits with: the path's fault is
/// a usage error (exit 2).
fn output_error(e: OutputError) -> anyhow::Error {
    if e.is_usage() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}

/// How records are decoded on this host; `needs_ksyms` when a group to
/// record names kernel functions.
fn decode_ctx(needs_ksyms: bool, zones: &[ZoneInfo], warnings: &mut Vec<String>) -> DecodeCtx {
    let page_size = kernel::page_size();
    let gfp = match kernel::tracepoint_format("kmem/mm_page_alloc")
        .map_err(|e| e.to_string())
        .and_then(|f| printfmt::parse_flags(&f, "gfp_flags").map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!("gfp flags will be shown in hex: {e}"));
            FlagTable::default()
        }
    };
    let compact_result = kernel::tracepoint_format("compaction/mm_compaction_suitable")
        .ok()
        .and_then(|f| printfmt::parse_symbolic(&f, "ret").ok())
        .unwrap_or_default();
    let ksyms = needs_ksyms.then(kernel::Ksyms::load);
    if ksyms.as_ref().is_some_and(kernel::Ksyms::is_empty) {
        warnings.push(
            "shrinkers are named by address: /proc/kallsyms shows no addresses here \
             (needs CAP_SYSLOG, or kernel.kptr_restrict=0 with perf_event_paranoid <= 1)"
                .into(),
        );
    }
    let migratetypes = kernel::migratetype_names();
    if migratetypes.is_empty() {
        warnings.push(
            "migrate types are recorded as numbers: /proc/pagetypeinfo is not readable \
             here (mode 0400; needs root or CAP_DAC_READ_SEARCH)"
                .into(),
        );
    }
    DecodeCtx {
        page_size,
        hpage_pmd_nr: kernel::hpage_pmd_nr(page_size),
        zone_names: kernel::zone_names(zones)
            .into_iter()
            .map(Text::from)
            .collect(),
        migratetypes: migratetypes.into_iter().map(Text::from).collect(),
        gfp,
        compact_result,
        compaction: probes::compaction::Names::from_kernel(),
        ksyms,
        ..Default::default()
    }
}

/// A group to record, and which of its programs to load.
struct GroupPlan {
    group: &'static Group,
    /// Named in --probes: if it cannot be recorded, that is an error.
    named: bool,
    programs: ProgramPlan,
    /// Its user-stack sampling period (0: none).
    stack_every: u32,
}

/// The host as the recording starts, for the metadata.
struct Host {
    uname: kernel::Uname,
    nodes: Vec<u32>,
    zones_start: Vec<ZoneInfo>,
    memcg: Option<MemoryController>,
}

/// Stage 1, the plan: everything that can be refused is checked, and what
/// to load is decided, before anything is loaded.
struct RecordPlan {
    output: Output,
    groups: Vec<GroupPlan>,
    filter_cgroup: Option<u64>,
    settings: BpfSettings,
    host: Host,
    warnings: Vec<String>,
}

fn plan(opts: &RecordOptions) -> Result<RecordPlan> {
    let groups = resolve_groups(opts.groups.as_deref())?;
    check_stack_options(&opts.stack_every, &groups)?;
    let names: Vec<&str> = groups.iter().map(|s| s.group.name).collect();
    probes::kmemleak::check_options(&opts.kmem_caches, &opts.alloc, &names).map_err(UsageError)?;
    let filter_comm = opts.comm.as_deref().map(comm_bytes).transpose()?;
    check_trigger_groups(&opts.triggers, &groups)?;
    if let Some(c) = &opts.command {
        crate::command::check(c)?;
    }
    let output = if opts.output_is_dir() {
        Output::prepare_dir(&opts.output)
    } else {
        Output::prepare(&opts.output, opts.force)
    }
    .map_err(output_error)?;
    // From here a signal must not kill memrec outright: the temporary file
    // would stay behind. It is seen once the probes are in place.
    install_signal_handlers();
    let memcg = kernel::memory_controller();
    let filter_cgroup = opts
        .cgroup
        .as_deref()
        .map(|p| cgroup_id(p, memcg.as_ref()))
        .transpose()?;
    crate::preflight::check_privilege().map_err(|e| UsageError(e.to_string()))?;
    crate::preflight::check_btf().map_err(|e| UsageError(e.to_string()))?;
    let mut warnings: Vec<String> = Vec::new();
    if crate::preflight::ensure_tracefs().map_err(|e| UsageError(e.to_string()))? {
        info!("mounted tracefs at {}", kernel::TRACEFS);
    }
    if memcg.is_none() {
        warnings.push(
            "no memory cgroup controller: node snapshots and cgroup ids are unavailable".into(),
        );
    }
    let follow = opts.command.as_ref().is_some_and(|c| c.follow);
    // The command's processes are not known before they start: its C
    // libraries are probed system-wide, and the BPF filter keeps its own.
    let groups = crate::uprobes::check_groups(
        groups,
        opts.pid,
        opts.comm.is_some() || opts.cgroup.is_some() || follow,
        &mut warnings,
    )?;
    let host = Host {
        uname: kernel::uname(),
        nodes: kernel::online_nodes(),
        zones_start: kernel::zoneinfo().unwrap_or_default(),
        memcg,
    };
    let settings = BpfSettings {
        filter_tgid: opts.pid.unwrap_or(0),
        filter_comm,
        filter_cgroup_id: filter_cgroup.unwrap_or(0),
        memory_subsys_id: host.memcg.as_ref().map(|m| m.subsys_id).unwrap_or(0),
        nr_cpus: kernel::possible_cpus(),
        nodes: host.nodes.clone(),
        ring_bytes: opts.ring_bytes,
        wakeup_bytes: u64::from(opts.ring_bytes / 4),
        procstat_min_interval_ns: opts.procstat_interval.as_nanos() as u64,
        snapshot_min_interval_ns: opts.snapshot_gap.as_nanos() as u64,
        // Set per group, from its GroupPlan.
        stack_every: 0,
        alloc: opts.alloc,
        kmem_caches: opts.kmem_caches.clone(),
        follow: follow.then(follow_map).transpose()?,
    };
    // After tracefs is mounted: whether a tracepoint exists is read there.
    let groups = groups
        .into_iter()
        .map(|s| GroupPlan {
            group: s.group,
            named: s.named,
            programs: plan_programs(s.group, &opts.disabled_programs),
            stack_every: opts.stack_every.get(s.group.name).copied().unwrap_or(0),
        })
        .collect();
    Ok(RecordPlan {
        output,
        groups,
        filter_cgroup,
        settings,
        host,
        warnings,
    })
}

/// The map of the command's followed processes, shared by every group's
/// object (`mt_followed` in bpf/common/runtime.h); preallocated, so that
/// following never allocates while memory is short.
fn follow_map() -> Result<probes::Follow> {
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        ..Default::default()
    };
    let map = libbpf_rs::MapHandle::create(
        libbpf_rs::MapType::Hash,
        Some("mt_followed"),
        4,
        4,
        probes::FOLLOW_MAX,
        &opts,
    )
    .context("creating the map of the command's processes")?;
    Ok(probes::Follow {
        map: std::sync::Arc::new(map),
        programs: false,
    })
}

/// One program of a loaded group: attached (or, for a `TestRun` program,
/// ready to run) or why not.
struct Attached {
    group: usize,
    spec: probes::Program,
    attached: bool,
    error: Option<String>,
}

/// A group as loaded, before its programs are attached.
struct Loaded {
    spec: &'static Group,
    programs: ProgramPlan,
    object: probes::Object,
}

/// A group's [`Group::timer`] program, as memrec runs it.
enum Timer {
    /// Run with the snapshot's trigger as its argument.
    Run(ProgramHandle),
    /// A task iterator, read through once per snapshot.
    Iter(Link),
}

/// A loaded group, with everything memrec uses of it resolved at load.
struct SessionGroup {
    spec: &'static Group,
    programs: ProgramPlan,
    maps: GroupMaps,
    /// Its [`Group::timer`] program, run at every snapshot.
    timer: Option<Timer>,
    /// Its [`Group::load_test`] program, when that is loaded.
    load_test: Option<ProgramHandle>,
    /// Keeps the object open for as long as the recording; nothing is
    /// looked up in it after [`Session::open`].
    _skel: Box<dyn Skel<'static>>,
}

impl SessionGroup {
    /// Kernel-side (events, lost) summed over CPUs for one program slot.
    fn slot_stats(&self, slot: u32) -> (u64, u64) {
        let Ok(Some(per_cpu)) = self
            .maps
            .stats
            .lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY)
        else {
            return (0, 0);
        };
        per_cpu.iter().fold((0, 0), |(e, l), v| {
            let get = |i: usize| {
                v.get(i * 8..i * 8 + 8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes)
                    .unwrap_or(0)
            };
            (e + get(0), l + get(1))
        })
    }

    /// (events, lost) over all of the group's programs.
    fn stats(&self) -> (u64, u64) {
        self.spec.programs.iter().fold((0, 0), |(e, x), p| {
            let (a, b) = self.slot_stats(p.slot);
            (e + a, x + b)
        })
    }
}

/// Stage 2, the session: the groups loaded and attached, with their maps
/// and the programs memrec runs itself resolved once.
struct Session {
    /// Dropping a link detaches its program.
    links: Vec<Link>,
    groups: Vec<SessionGroup>,
    /// Every program of every loaded group, in descriptor order.
    programs: Vec<Attached>,
    /// Every planned group, loaded or not, in plan order.
    group_meta: Vec<GroupMeta>,
    /// The C libraries probed and their uprobes, when a group uses them.
    uprobes: Option<crate::uprobes::Uprobes>,
}

impl Session {
    /// Loads every group; a group the kernel cannot take is skipped with a
    /// warning, unless it was asked for by name. Then attaches program by
    /// program, so that one failure is reported, not fatal.
    fn open(
        plan: &[GroupPlan],
        settings: &BpfSettings,
        warnings: &mut Vec<String>,
    ) -> Result<Session> {
        let mut loaded: Vec<Loaded> = Vec::new();
        let mut group_meta: Vec<GroupMeta> = Vec::new();
        for gp in plan {
            // The first group that loads carries the follow programs.
            let mut settings = settings.clone();
            if let Some(f) = settings.follow.as_mut() {
                f.programs = loaded.is_empty();
            }
            let (meta, group) = load_group(gp, &settings, warnings)?;
            group_meta.push(meta);
            loaded.extend(group);
        }
        if loaded.is_empty() {
            return Err(UsageError("no probe group could be loaded on this kernel".into()).into());
        }

        let uprobes = loaded
            .iter()
            .any(|l| crate::uprobes::uses_uprobes(l.spec))
            .then(|| crate::uprobes::Uprobes::new(settings));
        let mut session = Session {
            links: Vec::new(),
            groups: Vec::new(),
            programs: Vec::new(),
            group_meta,
            uprobes,
        };
        for l in loaded {
            let group = session.attach(l, settings.procstat_min_interval_ns, warnings);
            session.groups.push(group);
        }
        if settings.follow.is_some() {
            session.attach_follow()?;
        }
        if !session
            .programs
            .iter()
            .any(|a| a.attached && !matches!(a.spec.method, Method::TestRun | Method::TaskIter))
        {
            return Err(UsageError("no probe could be attached".into()).into());
        }
        // Loading parsed the kernel's BTF once per group; give that memory back.
        // SAFETY: malloc_trim has no preconditions.
        unsafe { libc::malloc_trim(0) };
        Ok(session)
    }

    /// Attaches a loaded group's programs and takes handles on those memrec
    /// runs itself. The object's programs are found by their descriptor's
    /// name here, once.
    fn attach(&mut self, l: Loaded, timer_ns: u64, warnings: &mut Vec<String>) -> SessionGroup {
        let gi = self.groups.len();
        let mut timer = None;
        let mut load_test = None;
        let obj = l.object.skel.object();
        for spec in l.spec.programs {
            let mut a = Attached {
                group: gi,
                spec: *spec,
                attached: false,
                error: None,
            };
            // Programs left out at load are still in the object, unloaded.
            let prog = obj
                .progs_mut()
                .find(|p| p.name() == spec.name)
                .filter(|_| l.programs.left_out(spec.name).is_none());
            match (prog, spec.method) {
                (None, _) => {
                    a.error = Some(l.programs.why(spec.name));
                }
                (Some(p), Method::TestRun) => {
                    let taken = if l.spec.timer == Some(spec.name) {
                        Some(ProgramHandle::try_from(&p).map(|p| timer = Some(Timer::Run(p))))
                    } else if l.spec.load_test == Some(spec.name) {
                        Some(ProgramHandle::try_from(&p).map(|p| load_test = Some(p)))
                    } else {
                        None
                    };
                    match taken {
                        None | Some(Ok(())) => a.attached = true,
                        Some(Err(e)) => {
                            let msg = format!("{}: taking {} failed: {e}", l.spec.name, spec.name);
                            warn!("{msg}");
                            warnings.push(msg);
                            a.error = Some(e.to_string());
                        }
                    }
                }
                (Some(p), Method::TaskIter) => {
                    match p.attach_iter_with_opts(libbpf_rs::IterOpts::None) {
                        Ok(link) => {
                            timer = Some(Timer::Iter(link));
                            a.attached = true;
                        }
                        Err(e) => {
                            let msg = format!(
                                "{}: attaching {} failed: {e}; {}",
                                l.spec.name,
                                spec.name,
                                "processes are sampled only while they run and when they exit"
                            );
                            warn!("{msg}");
                            warnings.push(msg);
                            a.error = Some(e.to_string());
                        }
                    }
                }
                (Some(p), Method::CpuTimer) => match attach_cpu_timer(&p, timer_ns) {
                    Ok(mut links) => {
                        self.links.append(&mut links);
                        a.attached = true;
                    }
                    Err(e) => {
                        // Loaded only because the timer looked usable; the
                        // fallback was not loaded, so say what is missing.
                        let msg = format!(
                            "{}: attaching {} failed: {e:#}; running processes are sampled only when they leave a CPU",
                            l.spec.name, spec.name
                        );
                        warn!("{msg}");
                        warnings.push(msg);
                        a.error = Some(format!("{e:#}"));
                    }
                },
                (Some(p), Method::SwEvent(ev)) => match ev.attach(&p) {
                    Ok(mut links) => {
                        self.links.append(&mut links);
                        a.attached = true;
                    }
                    Err(e) => {
                        let msg = format!("{}: attaching {} failed: {e:#}", l.spec.name, spec.name);
                        warn!("{msg}");
                        warnings.push(msg);
                        a.error = Some(format!("{e:#}"));
                    }
                },
                (Some(p), Method::Uprobe { func, ret }) => {
                    let done = match self.uprobes.as_mut() {
                        Some(u) => u.attach(l.spec.name, &p, func, ret),
                        None => Err("no C library to probe".to_string()),
                    };
                    match done {
                        Ok(()) => a.attached = true,
                        Err(e) => {
                            let msg =
                                format!("{}: attaching {} failed: {e}", l.spec.name, spec.name);
                            warn!("{msg}");
                            warnings.push(msg);
                            a.error = Some(e);
                        }
                    }
                }
                (Some(p), _) => match p.attach() {
                    Ok(link) => {
                        self.links.push(link);
                        a.attached = true;
                    }
                    Err(e) => {
                        let msg = format!("{}: attaching {} failed: {e}", l.spec.name, spec.name);
                        warn!("{msg}");
                        warnings.push(msg);
                        a.error = Some(e.to_string());
                    }
                },
            }
            self.programs.push(a);
        }
        SessionGroup {
            spec: l.spec,
            programs: l.programs,
            maps: l.object.maps,
            timer,
            load_test,
            _skel: l.object.skel,
        }
    }

    /// Attaches the programs that follow the command's processes, which
    /// the first loaded group carries. Without them only the command's
    /// first process would be recorded: that is an error.
    fn attach_follow(&mut self) -> Result<()> {
        let first = self.groups.first().context("no group loaded")?;
        let obj = first._skel.object();
        for name in probes::FOLLOW_PROGRAMS {
            let prog = obj
                .progs_mut()
                .find(|p| p.name() == *name)
                .with_context(|| format!("{name} is not in {}'s object", first.spec.name))?;
            let link = prog.attach().map_err(|e| {
                UsageError(format!(
                    "cannot follow the command's processes: attaching {name}: {e}"
                ))
            })?;
            self.links.push(link);
        }
        Ok(())
    }

    /// Children of the command's processes not followed, the map being full.
    fn not_followed(&self) -> u64 {
        self.groups
            .first()
            .and_then(|g| {
                g.maps
                    .follow_lost
                    .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
                    .ok()
                    .flatten()
            })
            .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()))
            .map_or(0, u64::from_ne_bytes)
    }

    /// Starts or stops recording in every group's programs (`control[0]`).
    fn set_live(&self, live: bool) {
        let value = u32::from(live).to_ne_bytes();
        for g in &self.groups {
            if let Err(e) = g
                .maps
                .control
                .update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
            {
                warn!(
                    "{}: cannot switch recording {}: {e}",
                    g.spec.name,
                    if live { "on" } else { "off" }
                );
            }
        }
    }

    /// Runs every group's test-run timer program: a snapshot with this
    /// trigger, within microseconds (the counters read around it bracket it).
    fn snapshot(&self, trigger: u64) {
        for g in &self.groups {
            if let Some(Timer::Run(p)) = &g.timer {
                if let Err(e) = test_run(p.as_fd(), trigger) {
                    debug!("{}: snapshot trigger failed: {e}", g.spec.name);
                }
            }
        }
    }

    /// Runs every group's task-iterator timer program, after each
    /// snapshot: it walks every task, which takes longer.
    fn sweep(&self) {
        for g in &self.groups {
            if let Some(Timer::Iter(link)) = &g.timer {
                if let Err(e) = run_iter(link) {
                    debug!("{}: sweep failed: {e}", g.spec.name);
                }
            }
        }
    }

    /// Records lost in the kernel so far, over every group.
    fn lost(&self) -> u64 {
        self.groups.iter().map(|g| g.stats().1).sum()
    }

    /// Detaches every program; the maps stay readable.
    fn detach(&mut self) {
        self.links.clear();
        if let Some(u) = self.uprobes.as_mut() {
            u.detach();
        }
    }

    /// Probes the C library of a process that started since, when the
    /// uprobes are system-wide (rate-limited inside).
    fn rescan_uprobes(&mut self) {
        if let Some(u) = self.uprobes.as_mut() {
            let objects: Vec<(&str, &libbpf_rs::Object)> = self
                .groups
                .iter()
                .map(|g| (g.spec.name, g._skel.object()))
                .collect();
            u.rescan(&objects);
        }
    }

    /// The group index and stat slot of a program.
    fn slot_of(&self, group: &str, program: &str) -> Option<(usize, usize)> {
        self.programs
            .iter()
            .find(|a| a.spec.name == program && self.groups[a.group].spec.name == group)
            .map(|a| (a.group, a.spec.slot as usize))
    }

    /// Every program of the loaded groups, with its kernel-side counts.
    fn probe_meta(&self) -> Vec<ProbeMeta> {
        self.programs
            .iter()
            .map(|a| {
                let g = &self.groups[a.group];
                let (events, lost) = g.slot_stats(a.spec.slot);
                let missed = if a.attached {
                    g._skel
                        .object()
                        .progs()
                        .find(|p| p.name() == a.spec.name)
                        .map_or(0, |p| recursion_misses(p.as_fd()))
                } else {
                    0
                };
                ProbeMeta {
                    group: g.spec.name.to_string(),
                    program: a.spec.name.to_string(),
                    target: a.spec.target.to_string(),
                    method: a.spec.method.name().to_string(),
                    attached: a.attached,
                    error: a.error.clone(),
                    standby: g.programs.standby(a.spec.name),
                    events,
                    lost,
                    missed,
                    recorded_state: Some(if a.attached {
                        ProbeState::Attached
                    } else {
                        g.programs.state(a.spec.name)
                    }),
                }
            })
            .collect()
    }

    /// Every planned group with what user space received of it.
    fn group_meta(&self, counts: &[GroupCounts], probes: &[ProbeMeta]) -> Vec<GroupMeta> {
        let mut out = self.group_meta.clone();
        for (g, c) in self.groups.iter().zip(counts) {
            if let Some(m) = out.iter_mut().find(|m| m.name == g.spec.name) {
                m.decoded = c.decoded;
                m.malformed = c.malformed;
                m.lost = probes
                    .iter()
                    .filter(|p| p.group == g.spec.name)
                    .map(|p| p.lost)
                    .sum();
            }
        }
        out
    }
}

/// How often the kernel skipped the program because a BPF program was
/// already running on the CPU (`recursion_misses`, Linux 5.12+; 0 where the
/// kernel does not count them or the query fails).
fn recursion_misses(prog: BorrowedFd<'_>) -> u64 {
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: `info` is a plain C struct of `len` bytes, which is all the
    // kernel writes; the descriptor is the loaded program's, open here.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(prog.as_raw_fd(), &mut info, &mut len) };
    if ret != 0 {
        return 0;
    }
    info.recursion_misses
}

/// Loads one group, or says why it is not recorded.
fn load_group(
    plan: &GroupPlan,
    settings: &BpfSettings,
    warnings: &mut Vec<String>,
) -> Result<(GroupMeta, Option<Loaded>)> {
    let GroupPlan {
        group: g,
        named: explicit,
        programs,
        stack_every,
    } = plan;
    let explicit = *explicit;
    let mut meta = GroupMeta {
        name: g.name.to_string(),
        ..Default::default()
    };
    if programs.missing().count() == g.programs.len() {
        let msg = format!("{}: this kernel has none of its tracepoints", g.name);
        return not_recorded(explicit, msg, GroupStatus::Skipped, meta, warnings);
    }
    for (m, why) in programs.missing() {
        let msg = match g.program(m).and_then(|p| p.fallback) {
            Some(f) => format!("{}: program {m} not used ({why}); {f} does its job", g.name),
            None => format!("{}: program {m} skipped ({why})", g.name),
        };
        warn!("{msg}");
        warnings.push(msg);
    }
    let skip: Vec<&str> = programs.left_out.iter().map(|(m, _)| *m).collect();
    let mut group_settings = settings.clone();
    group_settings.ring_bytes = settings.ring_bytes.min(g.max_ring_bytes);
    group_settings.wakeup_bytes = u64::from(group_settings.ring_bytes / 4);
    group_settings.stack_every = *stack_every;
    match (g.load_object)(&group_settings, &skip) {
        Ok(object) => {
            let status = if programs.degraded {
                // Say what is missing where the group is listed, too.
                let missing: Vec<String> = programs
                    .missing()
                    .map(|(m, why)| format!("{m} ({why})"))
                    .collect();
                meta.reason = Some(format!("missing on this kernel: {}", missing.join("; ")));
                GroupStatus::Partial
            } else {
                GroupStatus::Attached
            };
            meta.status = status.to_string();
            let loaded = Loaded {
                spec: g,
                programs: programs.clone(),
                object,
            };
            Ok((meta, Some(loaded)))
        }
        Err(e) => {
            let msg = format!("{}: loading its BPF programs failed: {e:#}", g.name);
            not_recorded(explicit, msg, GroupStatus::Failed, meta, warnings)
        }
    }
}

/// A group that is not recorded: an error when it was named with
/// --probes, else a warning and its status in the metadata.
fn not_recorded(
    explicit: bool,
    msg: String,
    status: GroupStatus,
    mut meta: GroupMeta,
    warnings: &mut Vec<String>,
) -> Result<(GroupMeta, Option<Loaded>)> {
    if explicit {
        return Err(UsageError(format!("cannot record probe group {msg}")).into());
    }
    warn!("skipping probe group {msg}");
    warnings.push(format!("skipped {msg}"));
    meta.status = status.to_string();
    meta.reason = Some(msg);
    Ok((meta, None))
}

/// Runs a `TaskIter` program over every task: it writes its records to
/// the ring buffer, nothing to the iterator, which reads empty.
fn run_iter(link: &Link) -> std::io::Result<()> {
    use std::io::Read;
    let mut it = libbpf_rs::Iter::new(link).map_err(std::io::Error::other)?;
    let mut sink = Vec::new();
    it.read_to_end(&mut sink).map(drop)
}

/// Runs a `TestRun` program once with `arg` as its context.
fn test_run(prog: BorrowedFd<'_>, arg: u64) -> std::io::Result<()> {
    let mut args = arg.to_ne_bytes();
    let mut o = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        ctx_in: args.as_mut_ptr().cast(),
        ctx_size_in: args.len() as u32,
        ..Default::default()
    };
    // SAFETY: o and args outlive the call; the kernel copies ctx_in.
    let r = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut o) };
    if r != 0 {
        // libbpf returns a negative errno.
        return Err(std::io::Error::from_raw_os_error(-r));
    }
    Ok(())
}

/// The counters read at one end of the recording.
#[derive(Clone)]
struct Edge {
    anchor: ClockAnchor,
    time: chrono::DateTime<chrono::Utc>,
    vmstat: BTreeMap<String, u64>,
    zones: Vec<ZoneInfo>,
    /// /proc/buddyinfo right before and right after the edge's snapshot
    /// (at a checkpoint, one read for both).
    buddyinfo: [Option<Vec<BuddyInfo>>; 2],
}

impl Edge {
    /// The counters at a checkpoint, read back to back.
    fn now() -> Edge {
        let vmstat = kernel::vmstat().unwrap_or_default();
        let anchor = kernel::clock_anchor();
        let time = chrono::Utc::now();
        let zones = kernel::zoneinfo().unwrap_or_default();
        let b = buddyinfo();
        Edge {
            anchor,
            time,
            vmstat,
            zones,
            buddyinfo: [b.clone(), b],
        }
    }
}

/// What the next segment's metadata is measured from: the edge it started
/// at, and the cumulative counters read there.
struct Checkpoints {
    recording_id: String,
    /// The segment being written (from 1).
    index: u64,
    /// The recording's start.
    first: Edge,
    start: Edge,
    probes: Vec<ProbeMeta>,
    counts: Vec<GroupCounts>,
    received: Vec<[u64; MAX_PROBES]>,
    rows: BTreeMap<String, u64>,
}

impl Checkpoints {
    fn new(start: Edge, session: &Session) -> Checkpoints {
        let probes = session
            .probe_meta()
            .into_iter()
            .map(|mut p| {
                (p.events, p.lost, p.missed) = (0, 0, 0);
                p
            })
            .collect();
        Checkpoints {
            recording_id: random_id(),
            index: 1,
            first: start.clone(),
            start,
            probes,
            counts: vec![GroupCounts::default(); session.groups.len()],
            received: vec![[0; MAX_PROBES]; session.groups.len()],
            rows: BTreeMap::new(),
        }
    }

    /// The metadata of the segment that ends at `end`: the counters since
    /// its start. Moves on to the next segment.
    fn close(
        &mut self,
        ctx: MetaCtx<'_>,
        session: &Session,
        sink: &Sink,
        end: Edge,
        end_reason: &EndReason,
    ) -> FileMeta {
        let now_probes = session.probe_meta();
        let mut probes = now_probes.clone();
        for p in probes.iter_mut() {
            if let Some(prev) = self
                .probes
                .iter()
                .find(|q| q.group == p.group && q.program == p.program)
            {
                p.events = p.events.saturating_sub(prev.events);
                p.lost = p.lost.saturating_sub(prev.lost);
                p.missed = p.missed.saturating_sub(prev.missed);
            }
            // Events are the records this segment read; losses and misses
            // are the kernel's.
            if let Some((g, slot)) = session.slot_of(&p.group, &p.program) {
                let now = sink.received.get(g).and_then(|r| r.get(slot)).copied();
                let before = self.received.get(g).and_then(|r| r.get(slot)).copied();
                if let (Some(now), Some(before)) = (now, before) {
                    p.events = now.saturating_sub(before);
                }
            }
        }
        let counts: Vec<GroupCounts> = sink
            .counts
            .iter()
            .zip(&self.counts)
            .map(|(now, prev)| GroupCounts {
                decoded: now.decoded.saturating_sub(prev.decoded),
                malformed: now.malformed.saturating_sub(prev.malformed),
            })
            .collect();
        let now_rows: BTreeMap<String, u64> = sink
            .tables
            .as_ref()
            .map(|t| {
                t.row_counts()
                    .into_iter()
                    .map(|(t, n)| (t.to_string(), n))
                    .collect()
            })
            .unwrap_or_default();
        let rows = now_rows
            .iter()
            .map(|(t, n)| {
                let prev = self.rows.get(t).copied().unwrap_or(0);
                (t.clone(), n.saturating_sub(prev))
            })
            .collect();
        let segment = SegmentMeta {
            recording_id: self.recording_id.clone(),
            first: self.index,
            last: self.index,
        };
        let meta = metadata(
            ctx,
            session,
            &sink.ctx,
            sink.cgroups.as_ref(),
            &self.start,
            &end,
            probes,
            &counts,
            rows,
            end_reason,
            segment,
        );
        self.index += 1;
        self.start = end;
        self.probes = now_probes;
        self.counts = sink.counts.clone();
        self.received = sink.received.clone();
        self.rows = now_rows;
        meta
    }
}

/// 16 random bytes as hex: a recording's id.
fn random_id() -> String {
    let mut buf = [0u8; 16];
    // SAFETY: writes at most 16 bytes into our buffer; a short read leaves
    // zeros, which only makes the id less unique.
    let _ = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every segment's metadata is built from besides its counters.
#[derive(Clone, Copy)]
struct MetaCtx<'a> {
    opts: &'a RecordOptions,
    plan: &'a RecordPlan,
    oom_score_adj: Option<i32>,
    /// `-- CMD`, once started.
    command: Option<&'a memtrace_schema::CommandFilter>,
}

/// /proc/buddyinfo, for the zone snapshots' free blocks per order.
fn buddyinfo() -> Option<Vec<BuddyInfo>> {
    std::fs::read_to_string("/proc/buddyinfo")
        .ok()
        .map(|t| BuddyInfo::parse(&t))
}

/// Stage 3's result: how the recording went.
struct Drained {
    started: Instant,
    end: Edge,
    end_reason: EndReason,
    sink: Sink,
    checkpoints: Checkpoints,
    spool: Spool,
    /// `-- CMD`: the command and what the metadata says of it (its exit
    /// status once it exited).
    command: Option<(crate::command::Running, memtrace_schema::CommandFilter)>,
}

/// What the drain loop watches besides the rings: sealed segments, and the
/// flight recorder's triggers.
struct Watchers {
    sealed: std::sync::mpsc::Receiver<writer::Sealed>,
    inbox: Option<crate::trigger::Inbox>,
    psi: Option<crate::trigger::Psi>,
}

/// Stage 3, the drain: goes live, moves the ring buffers into the writer
/// until a signal, `--duration` or a write error, then stops and detaches.
fn drain(
    session: &mut Session,
    sink: Sink,
    file_writer: &writer::FileWriter,
    ctx: MetaCtx<'_>,
    kallsyms: Option<String>,
    mut watch: Watchers,
    command_adj: Option<i32>,
) -> Result<Drained> {
    let opts = ctx.opts;
    let bytes_written = file_writer.bytes_written();
    let sink = Rc::new(RefCell::new(sink));
    let mut builder = RingBufferBuilder::new();
    for (gi, g) in session.groups.iter().enumerate() {
        let sink = sink.clone();
        let decode = g.spec.decode;
        builder.add(&g.maps.events, move |data: &[u8]| {
            sink.borrow_mut().record(gi, decode, data)
        })?;
    }
    let ring = builder.build().context("setting up the ring buffers")?;

    // Go live, then read the counters the recording will be compared with,
    // then snapshot: all three within a fraction of a millisecond.
    session.set_live(true);
    let anchor_start = kernel::clock_anchor();
    let start_time = chrono::Utc::now();
    let vmstat_start = kernel::vmstat().unwrap_or_default();
    let buddyinfo_start_before = buddyinfo();
    session.snapshot(snapshot::TRIGGER_START);
    let buddyinfo_start = buddyinfo();
    session.sweep();
    // Zoneinfo read while the probes record, as at the end: a recomputation
    // of the watermarks between it and any row is then a `wmark_setup` row.
    let zones_start = kernel::zoneinfo().unwrap_or_else(|_| ctx.plan.host.zones_start.clone());
    let start_edge = Edge {
        anchor: anchor_start,
        time: start_time,
        vmstat: vmstat_start,
        zones: zones_start,
        buddyinfo: [buddyinfo_start_before, buddyinfo_start],
    };
    let mut checkpoints = Checkpoints::new(start_edge.clone(), session);
    let out_file = match &opts.mode {
        Mode::Flight(f) if f.until && !opts.output_is_dir() => Some(opts.output.clone()),
        _ => None,
    };
    let mut spool = Spool::new(
        opts.mode.clone(),
        ctx.plan.output.dir(),
        ctx.plan.output.segments_dir(),
        out_file,
        opts.force,
        opts.writer.zstd_level,
        watch.sealed,
        start_edge.anchor.clone(),
    )
    .context("starting the merge thread")?;
    if let Some(k) = kallsyms {
        // Into the first segment, stamped with the start: a recording cut
        // short still names its kernel addresses.
        let mut s = sink.borrow_mut();
        let mut warnings = Vec::new();
        if let Some(tables) = s.tables.as_mut() {
            match crate::stacks::write_kernel_symbols(
                &k,
                start_edge.anchor.boottime_ns,
                tables,
                &mut warnings,
            ) {
                Ok(n) => debug!("kernel_symbol: {n} rows"),
                Err(e) => warnings.push(format!("the kernel's symbols were not written: {e}")),
            }
        }
        for w in warnings {
            warn!("{w}");
        }
    }
    let load_test = match opts.load_test {
        Some(rate) => Some(start_load_test(session, rate)?),
        None => None,
    };
    let started = Instant::now();
    let mut next_snapshot = started + opts.interval;
    let mut next_checkpoint = started + opts.checkpoint;
    let mut next_progress = started + Duration::from_secs(1);
    let progress = opts.progress && std::io::stderr().is_terminal();
    let mut last_decoded = 0u64;
    let end_reason: EndReason;
    // Always said: scripts wait for this line to know the probes are live.
    match &opts.command {
        None => eprintln!(
            "memrec: recording to {} (Ctrl-C to stop)",
            opts.output.display()
        ),
        Some(c) => eprintln!(
            "memrec: recording to {} while `{}` runs",
            opts.output.display(),
            memtrace_cli::error::escape(&c.argv_lossy().join(" "))
        ),
    }
    // Started now, with every probe live: nothing it does is missed.
    let follow_fd = ctx
        .plan
        .settings
        .follow
        .as_ref()
        .map(|f| f.map.as_fd().as_raw_fd());
    let mut running = match &opts.command {
        Some(c) => Some(crate::command::start(c, follow_fd, command_adj)?),
        None => None,
    };
    let command_meta =
        opts.command
            .as_ref()
            .zip(running.as_ref())
            .map(|(c, r)| memtrace_schema::CommandFilter {
                argv: c.argv_lossy(),
                pid: r.pid(),
                follow: c.follow,
                ..Default::default()
            });
    let ctx = MetaCtx {
        command: command_meta.as_ref(),
        ..ctx
    };
    let mut exit_status = None;

    loop {
        if STOP.swap(false, Ordering::SeqCst) {
            match &running {
                // The command gets what the terminal sends by itself, and
                // what a process sent memrec from here; the recording ends
                // when it exits, as perf's does.
                Some(r) => {
                    let sent = FORWARD.swap(0, Ordering::SeqCst);
                    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                        if sent & (1 << sig) != 0 {
                            r.signal(sig);
                        }
                    }
                }
                None => {
                    end_reason = EndReason::Signal;
                    break;
                }
            }
        }
        if let Some(r) = running.as_mut() {
            match r.try_wait() {
                Ok(Some(status)) => {
                    exit_status = Some(status);
                    end_reason = EndReason::Command;
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    end_reason = EndReason::Error(format!("waiting for the command: {e}"));
                    break;
                }
            }
        }
        if let Some(d) = opts.duration {
            if started.elapsed() >= d {
                end_reason = EndReason::Duration;
                break;
            }
        }
        // Wakes early when a ring is a quarter full; records are submitted
        // without wake-ups otherwise, so drain everything each round.
        let _ = ring.poll(Duration::from_millis(100));
        let _ = ring.consume();
        sink.borrow_mut().resolve_cgroups();
        if let Some(e) = sink
            .borrow()
            .write_error
            .clone()
            .or_else(|| file_writer.failure())
        {
            end_reason = EndReason::Error(e);
            break;
        }
        session.rescan_uprobes();
        if let Some(inbox) = &watch.inbox {
            while let Some(f) = inbox.take() {
                spool.fired(f);
            }
        }
        if let Some(psi) = &watch.psi {
            if psi.poll() {
                spool.fired(psi.fired());
            } else if psi.is_gone() {
                warn!("the psi trigger stopped (its pressure file went away)");
                watch.psi = None;
            }
        }
        let mut checkpoint_now = false;
        match spool.tick(kernel::boottime_ns()) {
            Action::None => {}
            Action::Checkpoint => checkpoint_now = true,
            Action::Stop => {
                end_reason = EndReason::Trigger;
                break;
            }
        }
        let now = Instant::now();
        if now >= next_checkpoint || checkpoint_now {
            // Everything submitted so far goes into this segment.
            let _ = ring.consume();
            sink.borrow_mut().resolve_cgroups();
            let meta = {
                let s = sink.borrow();
                checkpoints.close(ctx, session, &s, Edge::now(), &EndReason::Checkpoint)
            };
            if let Some(t) = sink.borrow_mut().tables.as_mut() {
                if let Err(e) = t.checkpoint(meta) {
                    end_reason = EndReason::Error(e.to_string());
                    break;
                }
            }
            next_checkpoint += opts.checkpoint;
            if next_checkpoint < now {
                next_checkpoint = now + opts.checkpoint;
            }
        }
        if now >= next_snapshot {
            session.snapshot(snapshot::TRIGGER_INTERVAL);
            session.sweep();
            next_snapshot += opts.interval;
            if next_snapshot < now {
                next_snapshot = now + opts.interval;
            }
        }
        if progress && now >= next_progress {
            let decoded: u64 = sink.borrow().counts.iter().map(|c| c.decoded).sum();
            eprint!(
                "\r\x1b[K{:>6.1}s  {:>9} events  {:>8}/s  lost {:>6}  {:>10}",
                started.elapsed().as_secs_f64(),
                decoded,
                decoded - last_decoded,
                session.lost(),
                human_bytes(bytes_written.load(Ordering::Relaxed))
            );
            let _ = std::io::stderr().flush();
            last_decoded = decoded;
            next_progress = now + Duration::from_secs(1);
        }
    }
    if progress {
        eprintln!();
    }

    if let Some(lt) = load_test {
        lt.stop();
    }
    // The end mirrors the start: snapshot, counters, then stop recording,
    // before the slow detaching of the probes.
    let zones_end = kernel::zoneinfo().unwrap_or_default();
    let buddyinfo_end = buddyinfo();
    session.snapshot(snapshot::TRIGGER_END);
    let buddyinfo_end_after = buddyinfo();
    let vmstat_end = kernel::vmstat().unwrap_or_default();
    session.sweep();
    session.set_live(false);
    if exit_status.is_none() {
        // memrec stopped first (--duration, an error): as perf does.
        if let Some(r) = &running {
            r.signal(libc::SIGTERM);
        }
    }
    let anchor_end = kernel::clock_anchor();
    let end_time = chrono::Utc::now();
    session.detach();
    let end = Edge {
        anchor: anchor_end,
        time: end_time,
        vmstat: vmstat_end,
        zones: zones_end,
        buddyinfo: [buddyinfo_end, buddyinfo_end_after],
    };
    // Everything submitted while live is in the rings: drain it.
    let _ = ring.consume();
    sink.borrow_mut().resolve_cgroups();
    drop(ring);
    let sink = match Rc::try_unwrap(sink) {
        Ok(cell) => cell.into_inner(),
        Err(_) => bail!("ring buffer callbacks still hold the writer"),
    };
    if let Some(inbox) = &watch.inbox {
        spool.skipped += inbox.dropped();
    }
    let command = running.zip(command_meta).map(|(r, mut m)| {
        m.exit_status = exit_status;
        (r, m)
    });
    Ok(Drained {
        started,
        end,
        end_reason,
        sink,
        checkpoints,
        spool,
        command,
    })
}

/// Stage 4, the metadata: everything a segment says about itself. The
/// counters are those of the segment (`start`..`end`).
#[allow(clippy::too_many_arguments)]
fn metadata(
    mc: MetaCtx<'_>,
    session: &Session,
    ctx: &DecodeCtx,
    cgroup_cache: Option<&kernel::CgroupCache>,
    start: &Edge,
    end: &Edge,
    probes: Vec<ProbeMeta>,
    counts: &[GroupCounts],
    rows: BTreeMap<String, u64>,
    end_reason: &EndReason,
    segment: SegmentMeta,
) -> FileMeta {
    let (opts, plan) = (mc.opts, mc.plan);
    let mut groups = session.group_meta(counts, &probes);
    // The stack store is listed as recorded with the groups that use it.
    groups.extend(crate::stacks::store_meta(&groups));
    let memcg = &plan.host.memcg;
    // Resolved as each id was first seen (a cgroup may be gone by now).
    let (cgroups, cgroup_limits) = cgroup_cache
        .map(|c| (c.paths().clone(), c.limits().clone()))
        .unwrap_or_default();
    let settings: BTreeMap<String, String> = [
        ("interval_ns", opts.interval.as_nanos().to_string()),
        (
            "procstat_interval_ns",
            opts.procstat_interval.as_nanos().to_string(),
        ),
        ("snapshot_gap_ns", opts.snapshot_gap.as_nanos().to_string()),
        ("ring_bytes", opts.ring_bytes.to_string()),
        ("batch_rows", opts.writer.batch_rows.to_string()),
        ("row_group_rows", opts.writer.row_group_rows.to_string()),
        ("row_group_bytes", opts.writer.row_group_bytes.to_string()),
        ("open_bytes", opts.writer.open_bytes.to_string()),
        ("zstd_level", opts.writer.zstd_level.to_string()),
        ("checkpoint_ns", opts.checkpoint.as_nanos().to_string()),
        // The allocation groups' filters and sampling (`--alloc-*`,
        // `--kmem-cache`): what memana needs to scale samples up.
        ("alloc_sample_bytes", opts.alloc.sample_bytes.to_string()),
        ("alloc_min_size", opts.alloc.min_size.to_string()),
        ("alloc_stacks", opts.alloc.stacks.to_string()),
        ("kmem_caches", opts.kmem_caches.join(",")),
        (
            "memory_cgroup",
            match memcg {
                Some(m) if m.v1 => "v1".to_string(),
                Some(_) => "v2".to_string(),
                None => "none".to_string(),
            },
        ),
    ]
    .into_iter()
    .chain(
        session
            .uprobes
            .as_ref()
            .map(|u| ("uprobe_libraries", u.describe())),
    )
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let uname = &plan.host.uname;
    let command = mc.command.cloned().map(|mut c| {
        c.not_followed = session.not_followed();
        c
    });
    let mut warnings = plan.warnings.clone();
    if let Some(c) = command.as_ref().filter(|c| c.not_followed > 0) {
        warnings.push(format!(
            "{} processes the command started were not followed, the table of followed \
             processes ({}) being full: their events (and their children's) are missing",
            c.not_followed,
            probes::FOLLOW_MAX
        ));
    }
    FileMeta {
        schema_version: SCHEMA_VERSION,
        memrec_version: env!("CARGO_PKG_VERSION").to_string(),
        hostname: uname.nodename.clone(),
        kernel_release: uname.release.clone(),
        kernel_version: uname.version.clone(),
        machine: uname.machine.clone(),
        page_size: ctx.page_size,
        hpage_pmd_nr: ctx.hpage_pmd_nr,
        nr_cpus: plan.settings.nr_cpus,
        nodes: plan.host.nodes.clone(),
        clock: memtrace_schema::CLOCK.to_string(),
        clock_anchors: vec![start.anchor.clone(), end.anchor.clone()],
        start_ns: start.anchor.boottime_ns,
        end_ns: end.anchor.boottime_ns,
        start_time: start.time.to_rfc3339(),
        end_time: end.time.to_rfc3339(),
        command_line: opts.command_line.clone(),
        groups_requested: plan
            .groups
            .iter()
            .map(|g| g.group.name.to_string())
            .collect(),
        groups,
        probes,
        filter: FilterMeta {
            pid: opts.pid,
            comm: opts.comm.clone(),
            cgroup: opts.cgroup.as_ref().map(|p| p.display().to_string()),
            cgroup_id: plan.filter_cgroup,
            command: command.clone(),
        },
        settings,
        rows,
        zones_start: start.zones.clone(),
        zones_end: end.zones.clone(),
        buddyinfo_start_before: start.buddyinfo[0].clone(),
        buddyinfo_start: start.buddyinfo[1].clone(),
        buddyinfo_end: end.buddyinfo[0].clone(),
        buddyinfo_end_after: end.buddyinfo[1].clone(),
        vmstat_start: start.vmstat.clone(),
        vmstat_end: end.vmstat.clone(),
        gfp_names: ctx.gfp.flags.clone(),
        cgroups,
        cgroup_limits,
        end_reason: end_reason.to_string(),
        warnings,
        segment: Some(segment),
        oom_score_adj: mc.oom_score_adj,
        trigger: None,
    }
}

/// Runs a recording to the end. Errors that are the user's or the host's
/// come back as [`UsageError`].
/// What a recording that ended well hands back: with `-- CMD`, the
/// command's exit status as a shell says it (memrec exits with it).
#[derive(Debug, Default)]
pub struct Outcome {
    pub command_status: Option<i32>,
}

pub fn record(opts: RecordOptions) -> Result<Outcome> {
    let mut plan = plan(&opts)?;
    let mut session = Session::open(&plan.groups, &plan.settings, &mut plan.warnings)?;
    if STOP.load(Ordering::SeqCst) {
        // Dropping the output removes its segments directory.
        bail!("interrupted before the recording started");
    }
    let adj_before = crate::protect::current();
    let oom_score_adj = opts
        .oom_score_adj
        .and_then(|adj| protect(adj, &mut plan.warnings));
    // The command gets memrec's own value back, not its protection.
    let command_adj = oom_score_adj.map(|_| adj_before.unwrap_or(0));
    let needs_ksyms = plan.groups.iter().any(|g| g.group.needs_ksyms);
    let mut ctx = decode_ctx(needs_ksyms, &plan.host.zones_start, &mut plan.warnings);
    if plan
        .groups
        .iter()
        .any(|g| g.group.name == probes::oom::GROUP.name)
    {
        // Opened before going live: the kills' own lines come after this.
        match crate::kmsg::KernelLog::open_at_end() {
            Ok(log) => ctx.kernel_log = Some(log),
            Err(e) => plan.warnings.push(format!(
                "OOM kills will lack their constraint and memcg: /dev/kmsg: {e}"
            )),
        }
    }
    for w in &plan.warnings {
        debug!("warning: {w}");
    }
    let creating = || format!("creating {}", opts.output.display());
    let segs = writer::SegmentDir::new(plan.output.segments_dir());
    let (sealed_tx, sealed) = std::sync::mpsc::channel();
    let wopts = WriterOptions {
        groups: plan
            .groups
            .iter()
            .map(|g| g.group.name.to_string())
            .collect(),
        ..opts.writer.clone()
    };
    let (mut tables, file_writer) =
        writer::create_segmented(segs, Some(sealed_tx), &wopts).with_context(creating)?;
    let mut watch = Watchers {
        sealed,
        inbox: None,
        psi: None,
    };
    if matches!(opts.mode, Mode::Flight(_)) {
        let mut triggers = crate::trigger::Triggers::new(&opts.triggers);
        triggers.set_gfp_flags(&ctx.gfp);
        watch.inbox = Some(triggers.inbox());
        let triggers_any = triggers.any();
        if triggers_any {
            tables.set_watch(Box::new(triggers));
        }
        if let Some((stall, window)) = crate::trigger::TriggerList(opts.triggers.clone()).psi() {
            match crate::trigger::Psi::open(stall, window) {
                Ok(p) => watch.psi = Some(p),
                // With nothing else to wait for, recording on would never
                // write anything.
                Err(e) if !triggers_any => {
                    return Err(UsageError(format!("the psi trigger cannot be set: {e}")).into())
                }
                Err(e) => {
                    let msg = format!("the psi trigger is off: {e}");
                    warn!("{msg}");
                    plan.warnings.push(msg);
                }
            }
        }
    }
    // What names kernel addresses later, read as the recording begins (with
    // its BPF programs loaded) and written into the first segment.
    let kallsyms = session
        .groups
        .iter()
        .any(|g| g.spec.kernel_symbols)
        .then(|| std::fs::read_to_string("/proc/kallsyms").unwrap_or_default());
    let mut sink = Sink::new(ctx, tables, session.groups.len());
    sink.cgroups = plan
        .host
        .memcg
        .as_ref()
        .and_then(|m| Some(kernel::CgroupCache::new(m.mount.clone()?, m.v1)));
    let mc = MetaCtx {
        opts: &opts,
        plan: &plan,
        oom_score_adj,
        command: None,
    };
    let mut drained = drain(
        &mut session,
        sink,
        &file_writer,
        mc,
        kallsyms,
        watch,
        command_adj,
    )?;
    let end = drained.end.clone();
    let (mut running, command_meta) = drained.command.take().unzip();
    let mc = MetaCtx {
        command: command_meta.as_ref(),
        ..mc
    };
    let last = drained
        .checkpoints
        .close(mc, &session, &drained.sink, end, &drained.end_reason);
    let whole = whole_meta(&last, &drained);
    let tables = drained
        .sink
        .tables
        .take()
        .context("writer already closed")?;
    let spool = drained.spool;
    let size = if opts.mode == Mode::File {
        drop(spool);
        close(tables, last, file_writer, plan.output, &opts)?
    } else {
        close_spooled(tables, last, file_writer, plan.output, spool)?
    };
    print_summary(&opts.output, size, drained.started.elapsed(), &whole)
        .context("writing the summary to stdout")?;
    // A command still running when memrec stopped first was sent SIGTERM.
    let command_status = match running.as_mut() {
        Some(r) => Some(r.wait().context("waiting for the command")?),
        None => None,
    };
    if let EndReason::Error(e) = &drained.end_reason {
        bail!(
            "recording stopped early: {e} (what was recorded until then is in {})",
            opts.output.display()
        );
    }
    Ok(Outcome { command_status })
}

/// Sets memrec's own `oom_score_adj`: it records the incident, so it must
/// not be its victim. Returns what the kernel now says; a failure is a
/// warning.
fn protect(adj: i32, warnings: &mut Vec<String>) -> Option<i32> {
    let was = crate::protect::current();
    match crate::protect::protect(adj) {
        Ok(now) => {
            eprintln!(
                "memrec: oom_score_adj {} -> {now}, so that the OOM killer takes the workload, not memrec (--oom-score-adj, --no-oom-protect)",
                was.map_or_else(|| "?".to_string(), |w| w.to_string())
            );
            Some(now)
        }
        Err(e) => {
            let msg = format!("oom_score_adj not set: {e}; memrec may be chosen by the OOM killer");
            warn!("{msg}");
            warnings.push(msg);
            None
        }
    }
}

/// The whole recording's metadata, for the summary: the last segment's
/// with the counters summed over every segment (what the merged file says).
fn whole_meta(last: &FileMeta, drained: &Drained) -> FileMeta {
    let mut m = last.clone();
    let first = &drained.checkpoints.first;
    m.start_ns = first.anchor.boottime_ns;
    m.start_time = first.time.to_rfc3339();
    m.clock_anchors = vec![first.anchor.clone(), drained.end.anchor.clone()];
    m.vmstat_start = first.vmstat.clone();
    m.zones_start = first.zones.clone();
    for p in m.probes.iter_mut() {
        if let Some(c) = drained
            .checkpoints
            .probes
            .iter()
            .find(|q| q.group == p.group && q.program == p.program)
        {
            (p.events, p.lost, p.missed) = (c.events, c.lost, c.missed);
        }
    }
    for g in m.groups.iter_mut() {
        g.lost = m
            .probes
            .iter()
            .filter(|p| p.group == g.name)
            .map(|p| p.lost)
            .sum();
    }
    for (g, c) in m.groups.iter_mut().zip(&drained.checkpoints.counts) {
        (g.decoded, g.malformed) = (c.decoded, c.malformed);
    }
    m.rows = drained.checkpoints.rows.clone();
    m
}

/// Stage 5 for rotated and flight-recorder files: the last segment closed,
/// the spool's last merges awaited, the segments directory removed.
/// Returns the bytes of the files written.
fn close_spooled(
    tables: Tables,
    meta: FileMeta,
    file_writer: writer::FileWriter,
    output: Output,
    spool: Spool,
) -> Result<u64> {
    let finish = tables.finish(meta);
    let written = file_writer.join().context("writing the recording");
    if let Err(e) = finish {
        debug!("closing: {e}");
    }
    let flight = spool.is_flight();
    let (files, errors, _) = spool.finish();
    output.discard_segments();
    written?;
    if files.is_empty() && errors.is_empty() && flight {
        eprintln!("memrec: no trigger fired; nothing was written");
    }
    if let Some(e) = errors.first() {
        bail!("{} file(s) could not be written: {e}", errors.len());
    }
    Ok(files.iter().map(|w| w.bytes).sum())
}

/// Stage 5, closing: the last segment's metadata into its footer, the
/// writer's end awaited, the segments merged into the file asked for.
/// Returns its size.
fn close(
    tables: Tables,
    meta: FileMeta,
    file_writer: writer::FileWriter,
    output: Output,
    opts: &RecordOptions,
) -> Result<u64> {
    // A writer that failed still closes the segment with what it had written.
    let finish = tables.finish(meta);
    let written = file_writer.join().context("writing the recording");
    if let Err(e) = finish {
        debug!("closing: {e}");
    }
    let segs = output.segments_dir().to_path_buf();
    let sealed = writer::segments::list_sealed(&segs)
        .with_context(|| format!("listing {}", segs.display()))?;
    if let Err(e) = written {
        if sealed.is_empty() {
            return Err(e);
        }
        warn!("{e:#}");
    }
    let keep = |why: String, output: Output| {
        output.keep_segments();
        anyhow!(
            "{why}; the recording is kept as {} segments in {} (memana reads them; `memrec recover {}` merges them)",
            sealed.len(),
            segs.display(),
            opts.output.display()
        )
    };
    let done = match sealed.as_slice() {
        [] => bail!("no segment was written"),
        // One segment is the recording already.
        [one] => one.clone(),
        many => {
            let merged = segs.join("merged.parquet");
            let mopts = writer::merge::MergeOptions {
                zstd_level: opts.writer.zstd_level,
                row_group_rows: opts.writer.row_group_rows,
                ..Default::default()
            };
            if let Err(e) = writer::merge::merge(many, &merged, &mopts) {
                return Err(keep(format!("merging the segments failed: {e}"), output));
            }
            merged
        }
    };
    let size = std::fs::metadata(&done).map(|m| m.len()).unwrap_or(0);
    output.commit(&done).map_err(output_error)?;
    Ok(size)
}

/// Why a program of a group is not loaded.
#[derive(Clone)]
pub(crate) enum LeftOut {
    /// The kernel lacks what it attaches to.
    Missing(String),
    /// The command line turned it off.
    NotAsked,
    /// A fallback whose program runs.
    Standby,
}

/// Which programs of a group are loaded, and why the others are not.
#[derive(Clone)]
pub(crate) struct ProgramPlan {
    left_out: Vec<(&'static str, LeftOut)>,
    /// The group records less than on a kernel that has everything: a
    /// program is missing and no fallback stands in for it.
    degraded: bool,
}

impl ProgramPlan {
    pub(crate) fn left_out(&self, program: &str) -> Option<&LeftOut> {
        self.left_out
            .iter()
            .find(|(m, _)| *m == program)
            .map(|(_, w)| w)
    }

    /// Left out on purpose, not for want of something in the kernel.
    fn standby(&self, program: &str) -> bool {
        matches!(
            self.left_out(program),
            Some(LeftOut::NotAsked | LeftOut::Standby)
        )
    }

    /// What became of a program that is not attached: left out here, or
    /// (when it was loaded) failed.
    fn state(&self, program: &str) -> ProbeState {
        match self.left_out(program) {
            Some(LeftOut::Missing(_)) => ProbeState::Missing,
            Some(LeftOut::NotAsked) => ProbeState::NotAsked,
            Some(LeftOut::Standby) => ProbeState::Standby,
            None => ProbeState::Failed,
        }
    }

    /// The group records less than on a kernel that has everything.
    pub(crate) fn degraded(&self) -> bool {
        self.degraded
    }

    pub(crate) fn why(&self, program: &str) -> String {
        match self.left_out(program) {
            Some(LeftOut::Missing(why)) => why.clone(),
            Some(LeftOut::NotAsked) => "not asked for".into(),
            Some(LeftOut::Standby) => "standby: the program it stands in for is attached".into(),
            None => String::new(),
        }
    }

    /// Programs the kernel cannot run here, with the reason.
    fn missing(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.left_out.iter().filter_map(|(m, w)| match w {
            LeftOut::Missing(why) => Some((*m, why.as_str())),
            _ => None,
        })
    }
}

/// Decides per program whether it is loaded: what it attaches to must
/// exist, and a fallback is loaded only when the program it stands in for
/// is not. A fallback is tried only then: trying one (a trial function
/// hook) costs time, and a refusal would read as a fault where nothing is
/// missing.
pub(crate) fn plan_programs(g: &Group, disabled: &[String]) -> ProgramPlan {
    let is_fallback = |name: &str| g.programs.iter().any(|p| p.fallback == Some(name));
    let mut left_out: Vec<(&'static str, LeftOut)> = Vec::new();
    for p in g.programs.iter().filter(|p| !is_fallback(p.name)) {
        if disabled.iter().any(|d| d == p.name) {
            left_out.push((p.name, LeftOut::NotAsked));
        } else if let Err(why) = p.available() {
            left_out.push((p.name, LeftOut::Missing(why)));
        }
    }
    for p in g.programs.iter().filter(|p| is_fallback(p.name)) {
        let primary_runs = g
            .programs
            .iter()
            .any(|q| q.fallback == Some(p.name) && !left_out.iter().any(|(m, _)| *m == q.name));
        if disabled.iter().any(|d| d == p.name) {
            left_out.push((p.name, LeftOut::NotAsked));
        } else if primary_runs {
            left_out.push((p.name, LeftOut::Standby));
        } else if let Err(why) = p.available() {
            left_out.push((p.name, LeftOut::Missing(why)));
        }
    }
    let down = |name: &str| left_out.iter().any(|(m, _)| *m == name);
    // Less than a kernel with everything records: a program the kernel
    // lacks, with no fallback that runs in its place.
    let degraded = g.programs.iter().any(|p| {
        !is_fallback(p.name)
            && left_out
                .iter()
                .any(|(m, w)| *m == p.name && matches!(w, LeftOut::Missing(_)))
            && p.fallback.is_none_or(&down)
    });
    ProgramPlan { left_out, degraded }
}

/// The load test's drivers: threads that run the synthetic program at a
/// paced rate each.
struct LoadTest {
    stop: std::sync::Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LoadTest {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Rows per second one driver thread is asked for at most (one writes about
/// 2 M/s here: a sample costs about 0.5 µs in the kernel); higher rates are
/// shared by more threads, which then compete with memrec for the CPUs.
const LOAD_TEST_PER_THREAD: u64 = 2_500_000;

fn start_load_test(session: &Session, rate: u64) -> Result<LoadTest> {
    let programs: Vec<&ProgramHandle> = session
        .groups
        .iter()
        .filter_map(|g| g.load_test.as_ref())
        .collect();
    if programs.is_empty() {
        let with: Vec<&str> = probes::GROUPS
            .iter()
            .filter(|g| g.load_test.is_some())
            .map(|g| g.name)
            .collect();
        bail!("the load test needs the {} group", with.join(" or "));
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let n_threads = rate.div_ceil(LOAD_TEST_PER_THREAD).max(1);
    let mut threads = Vec::new();
    // Each load-test program writes `rate` rows per second.
    for prog in programs {
        for i in 0..n_threads {
            let fd = prog
                .as_fd()
                .try_clone_to_owned()
                .context("duplicating the load test's program")?;
            let flag = stop.clone();
            let share = rate / n_threads + u64::from(i < rate % n_threads);
            let thread = std::thread::Builder::new()
                .name("load-test".into())
                .spawn(move || {
                    let started = Instant::now();
                    let mut sent = 0u64;
                    while !flag.load(Ordering::Relaxed) && !STOP.load(Ordering::Relaxed) {
                        let due = (started.elapsed().as_secs_f64() * share as f64) as u64;
                        if due <= sent {
                            std::thread::sleep(Duration::from_micros(200));
                            continue;
                        }
                        // Up to 1024 rows per run: a run holds the CPU until done.
                        let n = (due - sent).min(1024);
                        if let Err(e) = test_run(fd.as_fd(), n) {
                            warn!("load test stopped: BPF_PROG_TEST_RUN: {e}");
                            return;
                        }
                        sent += n;
                    }
                })
                .context("starting the load test")?;
            threads.push(thread);
        }
    }
    info!(rate, threads = threads.len(), "load test running");
    Ok(LoadTest { stop, threads })
}

/// Attaches a program to a cpu-clock timer on every online CPU.
fn attach_cpu_timer(p: &libbpf_rs::ProgramMut<'_>, period_ns: u64) -> Result<Vec<Link>> {
    // The timer fires at the sampling interval, within sane bounds.
    let period = period_ns.clamp(1_000_000, 10_000_000_000);
    let mut links = Vec::new();
    for cpu in kernel::online_cpus() {
        let fd = crate::timer::open_cpu_clock(cpu, period)
            .with_context(|| format!("perf_event_open(cpu-clock) on CPU {cpu}"))?;
        let link = p
            .attach_perf_event(std::os::fd::AsRawFd::as_raw_fd(&fd))
            .with_context(|| format!("attaching to the timer of CPU {cpu}"))?;
        // The link now holds the event open; libbpf closes it on detach.
        std::mem::forget(fd);
        links.push(link);
    }
    Ok(links)
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Stage 6, the summary on stdout.
fn print_summary(
    path: &Path,
    size: u64,
    elapsed: Duration,
    meta: &FileMeta,
) -> std::io::Result<()> {
    let (groups, probes, warnings) = (&meta.groups, &meta.probes, &meta.warnings);
    let mut out = String::new();
    out.push_str(&format!(
        "{:<10} {:<9} {:>12} {:>10} {:>10}  {}\n",
        "group", "status", "events", "lost", "malformed", "attach"
    ));
    for g in groups {
        let methods: Vec<String> = {
            let mut m: Vec<String> = probes
                .iter()
                .filter(|p| p.group == g.name && p.attached)
                .map(|p| p.method.clone())
                .collect();
            m.sort();
            m.dedup();
            m
        };
        out.push_str(&format!(
            "{:<10} {:<9} {:>12} {:>10} {:>10}  {}\n",
            g.name,
            g.status,
            g.decoded,
            g.lost,
            g.malformed,
            if methods.is_empty() {
                "-".to_string()
            } else {
                methods.join(",")
            }
        ));
    }
    for p in probes.iter().filter(|p| p.lost > 0) {
        out.push_str(&format!(
            "  lost {} records at {} ({})\n",
            p.lost, p.target, p.program
        ));
    }
    for p in probes.iter().filter(|p| p.missed > 0) {
        out.push_str(&format!(
            "  missed {} events at {} ({}): the kernel skipped the program while \
             another BPF program ran on that CPU\n",
            p.missed, p.target, p.program
        ));
    }
    for w in warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&format!(
        "wrote {} ({}) in {:.1}s\n",
        path.display(),
        human_bytes(size),
        elapsed.as_secs_f64()
    ));
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<&'static str> {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        resolve_groups(Some(&list))
            .unwrap()
            .iter()
            .map(|s| s.group.name)
            .collect()
    }

    #[test]
    fn fault_stacks_need_the_faults_group() {
        let every: BTreeMap<&'static str, u32> = [("faults", 10)].into_iter().collect();
        let with = resolve_groups(Some(&["+faults".into()])).unwrap();
        assert!(check_stack_options(&every, &with).is_ok());
        let without = resolve_groups(None).unwrap();
        let e = check_stack_options(&every, &without)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--fault-stacks") && e.contains("--probes +faults"),
            "{e}"
        );
        assert!(check_stack_options(&BTreeMap::new(), &without).is_ok());
    }

    #[test]
    fn groups_resolve_and_unknown_ones_are_refused() {
        let defaults = resolve_groups(None).unwrap();
        assert_eq!(defaults.len(), probes::DEFAULT_GROUPS.len());
        assert!(defaults.iter().all(|s| !s.named));
        // One named twice: kept once, in registry order, and named.
        let (a, b) = (probes::GROUPS[3].name, probes::GROUPS[4].name);
        let some = resolve_groups(Some(&[b.into(), a.into(), b.into()])).unwrap();
        assert_eq!(
            some.iter().map(|s| s.group.name).collect::<Vec<_>>(),
            vec![a, b]
        );
        assert!(some.iter().all(|s| s.named));
        let err = resolve_groups(Some(&["nope".into()]))
            .err()
            .map(|e| e.to_string());
        assert!(err
            .unwrap_or_default()
            .contains("unknown probe group `nope`"));
        assert!(resolve_groups(Some(&["+nope".into()])).is_err());
    }

    #[test]
    fn plus_and_minus_edit_the_defaults_and_all_takes_every_group() {
        let all: Vec<&str> = probes::GROUPS.iter().map(|g| g.name).collect();
        assert_eq!(names(&["all"]), all);
        // The last group that brings no other with it.
        let last = probes::GROUPS
            .iter()
            .rev()
            .find(|g| g.implies.is_empty())
            .map(|g| g.name)
            .unwrap();
        let first = probes::DEFAULT_GROUPS[0];
        let without: Vec<&str> = probes::DEFAULT_GROUPS
            .iter()
            .copied()
            .filter(|g| *g != first)
            .collect();
        assert_eq!(names(&[&format!("-{first}")]), without);
        let mut with = probes::DEFAULT_GROUPS.clone();
        if !with.contains(&last) {
            with.push(last);
        }
        assert_eq!(names(&[&format!("+{last}")]), with);
        // A group added with + is named: it must load or the recording fails.
        let sel = resolve_groups(Some(&[format!("+{last}")])).unwrap();
        assert!(sel.iter().find(|s| s.group.name == last).unwrap().named);
        assert!(sel
            .iter()
            .filter(|s| s.group.name != last)
            .all(|s| !s.named));
        // all minus one.
        let minus: Vec<&str> = all.iter().copied().filter(|g| *g != first).collect();
        assert_eq!(names(&["all", &format!("-{first}")]), minus);
        assert!(resolve_groups(Some(&[format!("-{first}"), "all".into(), "-all".into()])).is_err());
    }

    #[test]
    fn a_group_brings_the_groups_it_implies_unless_taken_away() {
        let g = probes::GROUPS
            .iter()
            .find(|g| !g.implies.is_empty())
            .expect("a group that implies another");
        let implied = g.implies[0];
        if probes::group(implied).is_none() {
            return; // not registered in this build: ignored (see Group::implies)
        }
        let sel = resolve_groups(Some(&[g.name.to_string()])).unwrap();
        let got: Vec<(&str, bool)> = sel.iter().map(|s| (s.group.name, s.named)).collect();
        // In registry order; not named: a kernel that cannot record it
        // still records the group that brought it.
        let mut want = vec![(g.name, true), (implied, false)];
        want.sort_by_key(|(n, _)| probes::GROUPS.iter().position(|x| x.name == *n));
        assert_eq!(got, want);
        // With the defaults.
        let plus = names(&[&format!("+{}", g.name)]);
        assert!(
            plus.contains(&implied) && plus.contains(&g.name),
            "{plus:?}"
        );
        // Taken away, before or after: not brought back.
        for items in [
            [format!("+{}", g.name), format!("-{implied}")],
            [format!("-{implied}"), format!("+{}", g.name)],
        ] {
            let got = resolve_groups(Some(&items)).unwrap();
            assert!(got.iter().all(|s| s.group.name != implied), "{items:?}");
            assert!(got.iter().any(|s| s.group.name == g.name), "{items:?}");
        }
        // Named by itself too: named.
        let both = resolve_groups(Some(&[g.name.to_string(), implied.to_string()])).unwrap();
        assert!(both.iter().all(|s| s.named));
        let all = resolve_groups(Some(&["all".into()])).unwrap();
        assert!(all.iter().all(|s| !s.named));
    }

    #[test]
    fn comm_is_checked() {
        assert!(comm_bytes("bash").is_ok());
        assert!(comm_bytes("").is_err());
        assert!(comm_bytes("0123456789abcdef").is_err());
    }

    #[test]
    fn cgroup_must_be_a_memory_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        let fake_mount = dir.path().join("memory");
        std::fs::create_dir_all(fake_mount.join("a")).unwrap();
        std::fs::create_dir(dir.path().join("x")).unwrap();
        let memcg = MemoryController {
            subsys_id: 4,
            mount: Some(fake_mount),
            v1: true,
        };
        let err = |p: &str| {
            cgroup_id(Path::new(p), Some(&memcg))
                .err()
                .map(|e| e.0)
                .unwrap_or_default()
        };
        // `..` climbs out of the hierarchy: refused, whatever is there.
        let e = err("../../../../../../../../../../..");
        assert!(
            e.contains("is outside the memory controller's hierarchy"),
            "{e}"
        );
        let e = err("../x");
        assert!(
            e.contains("is outside the memory controller's hierarchy"),
            "{e}"
        );
        // A plain directory inside it is no cgroup either.
        let e = err("a");
        assert!(e.contains("is not a cgroup"), "{e}");
        let e = err("nope");
        assert!(e.contains("No such file or directory"), "{e}");
        assert!(cgroup_id(Path::new("a"), None).is_err());
    }

    #[test]
    fn the_real_memory_cgroup_root_is_accepted() {
        let Some(memcg) = kernel::memory_controller() else {
            return;
        };
        let Some(root) = memcg.mount.clone() else {
            return;
        };
        assert!(cgroup_id(&root, Some(&memcg)).is_ok());
        let e = cgroup_id(Path::new("../../../../tmp"), Some(&memcg)).unwrap_err();
        assert!(e.0.contains("outside"), "{}", e.0);
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
