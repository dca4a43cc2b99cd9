//! A recording: preflight, loading and attaching the groups, draining the
//! ring buffers into the writer, and closing the file with its metadata.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use libbpf_rs::{Link, MapCore, MapFlags, RingBufferBuilder};
use memtrace_schema::{FileMeta, FilterMeta, GroupMeta, ProbeMeta, Text, SCHEMA_VERSION};
use tracing::{debug, info, warn};

use crate::kernel::{self, MemoryController};
use crate::output::{Output, OutputError};
use crate::printfmt::{self, FlagTable};
use crate::probes::{self, snapshot, BpfSettings, DecodeCtx, Group, Loaded, Method};
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
}

/// A problem with the invocation or the host, reported with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
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
    write_error: Option<String>,
}

impl Sink {
    fn record(&mut self, group: usize, decode: probes::DecodeFn, data: &[u8]) -> i32 {
        let Some(tables) = self.tables.as_mut() else {
            return 0;
        };
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

/// The groups to record, checked against the registry.
pub fn resolve_groups(requested: Option<&[String]>) -> Result<Vec<&'static Group>, UsageError> {
    let names: Vec<String> = match requested {
        Some(list) => list.to_vec(),
        None => probes::DEFAULT_GROUPS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut out = Vec::new();
    for n in names {
        let g = probes::group(&n).ok_or_else(|| {
            let known: Vec<&str> = probes::GROUPS.iter().map(|g| g.name).collect();
            UsageError(format!(
                "unknown probe group `{n}`; known groups: {}",
                known.join(", ")
            ))
        })?;
        if !out.iter().any(|x: &&Group| x.name == g.name) {
            out.push(g);
        }
    }
    if out.is_empty() {
        return Err(UsageError("no probe groups to record".into()));
    }
    Ok(out)
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

fn decode_ctx(groups: &[&Group], zones: &[memtrace_schema::ZoneInfo]) -> (DecodeCtx, Vec<String>) {
    let mut warnings = Vec::new();
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
    let ksyms = groups
        .iter()
        .any(|g| g.name == "pr")
        .then(kernel::Ksyms::load);
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
    let ctx = DecodeCtx {
        page_size,
        hpage_pmd_nr: kernel::hpage_pmd_nr(page_size),
        zone_names: kernel::zone_names(zones)
            .into_iter()
            .map(Text::from)
            .collect(),
        migratetypes: migratetypes.into_iter().map(Text::from).collect(),
        gfp,
        compact_result,
        ksyms,
        ..Default::default()
    };
    (ctx, warnings)
}

/// One attached program and its links.
struct Attached {
    group: usize,
    spec: probes::Program,
    attached: bool,
    error: Option<String>,
}

/// Runs a recording to the end. Errors that are the user's or the host's
/// come back as [`UsageError`].
pub fn record(opts: RecordOptions) -> Result<()> {
    // Everything that can be refused is checked before anything is loaded.
    let groups = resolve_groups(opts.groups.as_deref())?;
    let explicit = opts.groups.is_some();
    let filter_comm = opts.comm.as_deref().map(comm_bytes).transpose()?;
    let output = Output::prepare(&opts.output, opts.force).map_err(output_error)?;
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

    let uname = kernel::uname();
    let nodes = kernel::online_nodes();
    let zones_start = kernel::zoneinfo().unwrap_or_default();
    let settings = BpfSettings {
        filter_tgid: opts.pid.unwrap_or(0),
        filter_comm,
        filter_cgroup_id: filter_cgroup.unwrap_or(0),
        memory_subsys_id: memcg.as_ref().map(|m| m.subsys_id).unwrap_or(0),
        nr_cpus: kernel::possible_cpus(),
        nodes: nodes.clone(),
        ring_bytes: opts.ring_bytes,
        wakeup_bytes: u64::from(opts.ring_bytes / 4),
        procstat_min_interval_ns: opts.procstat_interval.as_nanos() as u64,
        snapshot_min_interval_ns: opts.snapshot_gap.as_nanos() as u64,
    };

    // Load every group; a group the kernel cannot take is skipped with a
    // warning, unless it was asked for by name.
    let mut loaded: Vec<Loaded> = Vec::new();
    let mut group_meta: Vec<GroupMeta> = Vec::new();
    let mut plans: Vec<Plan> = Vec::new();
    for g in &groups {
        let plan = plan_programs(g, &opts.disabled_programs);
        let mut meta = GroupMeta {
            name: g.name.to_string(),
            ..Default::default()
        };
        if plan.missing().count() == g.programs.len() {
            let msg = format!("{}: this kernel has none of its tracepoints", g.name);
            if explicit {
                return Err(UsageError(format!("cannot record probe group {msg}")).into());
            }
            warn!("skipping probe group {msg}");
            warnings.push(format!("skipped {msg}"));
            meta.status = "skipped".into();
            meta.reason = Some(msg);
            group_meta.push(meta);
            continue;
        }
        for (m, why) in plan.missing() {
            let spec = g.programs.iter().find(|p| p.name == m);
            let msg = match spec.and_then(|p| p.fallback) {
                Some(f) => format!("{}: program {m} not used ({why}); {f} does its job", g.name),
                None => format!("{}: program {m} skipped ({why})", g.name),
            };
            warn!("{msg}");
            warnings.push(msg);
        }
        let skip: Vec<&str> = plan.left_out.iter().map(|(m, _)| *m).collect();
        let mut group_settings = settings.clone();
        group_settings.ring_bytes = settings.ring_bytes.min(g.max_ring_bytes);
        group_settings.wakeup_bytes = u64::from(group_settings.ring_bytes / 4);
        match (g.load)(&group_settings, &skip) {
            Ok(skel) => {
                meta.status = if !plan.degraded {
                    "attached"
                } else {
                    "partial"
                }
                .into();
                group_meta.push(meta);
                loaded.push(Loaded { spec: g, skel });
                plans.push(plan);
            }
            Err(e) => {
                let msg = format!("{}: loading its BPF programs failed: {e:#}", g.name);
                if explicit {
                    return Err(UsageError(format!("cannot record probe group {msg}")).into());
                }
                warn!("skipping probe group {msg}");
                warnings.push(format!("skipped {msg}"));
                meta.status = "failed".into();
                meta.reason = Some(msg);
                group_meta.push(meta);
            }
        }
    }
    if loaded.is_empty() {
        return Err(UsageError("no probe group could be loaded on this kernel".into()).into());
    }

    // Attach program by program so one failure is reported, not fatal.
    let mut links: Vec<Link> = Vec::new();
    let mut attached: Vec<Attached> = Vec::new();
    for (gi, l) in loaded.iter().enumerate() {
        let obj = l.skel.object();
        for spec in l.spec.programs {
            let mut a = Attached {
                group: gi,
                spec: *spec,
                attached: false,
                error: None,
            };
            let plan = &plans[gi];
            // Programs left out at load are still in the object, unloaded.
            let prog = obj
                .progs_mut()
                .find(|p| p.name() == spec.name)
                .filter(|_| plan.left_out(spec.name).is_none());
            match (prog, spec.method) {
                (None, _) => {
                    a.error = Some(plan.why(spec.name));
                }
                (Some(_), Method::TestRun) => a.attached = true,
                (Some(p), Method::CpuTimer) => {
                    match attach_cpu_timer(&p, settings.procstat_min_interval_ns) {
                        Ok(mut l) => {
                            links.append(&mut l);
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
                    }
                }
                (Some(p), _) => match p.attach() {
                    Ok(link) => {
                        links.push(link);
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
            attached.push(a);
        }
    }
    if !attached
        .iter()
        .any(|a| a.attached && a.spec.method != Method::TestRun)
    {
        return Err(UsageError("no probe could be attached".into()).into());
    }

    if STOP.load(Ordering::SeqCst) {
        // Dropping the output removes its temporary file.
        bail!("interrupted before the recording started");
    }

    // Loading parsed the kernel's BTF once per group; give that memory back.
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };

    let (ctx, ctx_warnings) = decode_ctx(&groups, &zones_start);
    warnings.extend(ctx_warnings);
    for w in &warnings {
        tracing::debug!("warning: {w}");
    }

    let file = output
        .file()
        .with_context(|| format!("creating {}", opts.output.display()))?;
    let (tables, file_writer) = writer::create(file, output.dir(), &opts.writer)
        .with_context(|| format!("creating {}", opts.output.display()))?;
    let bytes_written = file_writer.bytes_written();
    let sink = Rc::new(RefCell::new(Sink {
        ctx,
        tables: Some(tables),
        counts: vec![GroupCounts::default(); loaded.len()],
        write_error: None,
    }));

    let mut builder = RingBufferBuilder::new();
    let event_maps: Vec<_> = loaded
        .iter()
        .map(|l| l.skel.object().maps().find(|m| m.name() == "events"))
        .collect();
    for (gi, map) in event_maps.iter().enumerate() {
        let Some(map) = map else {
            bail!("group {} has no events map", loaded[gi].spec.name)
        };
        let sink = sink.clone();
        let decode = loaded[gi].spec.decode;
        builder.add(map, move |data: &[u8]| {
            sink.borrow_mut().record(gi, decode, data)
        })?;
    }
    let ring = builder.build().context("setting up the ring buffers")?;

    let timer = loaded
        .iter()
        .find(|l| l.spec.name == "sysstat")
        .and_then(|l| {
            l.skel
                .object()
                .progs_mut()
                .find(|p| p.name() == probes::sysstat::TIMER_PROGRAM)
        });
    let snapshot_now = |trigger: u64| {
        if let Some(p) = &timer {
            let mut args = trigger.to_ne_bytes();
            let input = libbpf_rs::ProgramInput {
                context_in: Some(&mut args),
                ..Default::default()
            };
            if let Err(e) = p.test_run(input) {
                debug!("snapshot trigger failed: {e}");
            }
        }
    };

    // Go live, then read the counters the recording will be compared with,
    // then snapshot: all three within a fraction of a millisecond.
    set_live(&loaded, true);
    let anchor_start = kernel::clock_anchor();
    let start_time = chrono::Utc::now();
    let vmstat_start = kernel::vmstat().unwrap_or_default();
    snapshot_now(snapshot::TRIGGER_START);
    let load_test = match opts.load_test {
        Some(rate) => Some(start_load_test(&loaded, rate)?),
        None => None,
    };
    let started = Instant::now();
    let mut next_snapshot = started + opts.interval;
    let mut next_progress = started + Duration::from_secs(1);
    let progress = opts.progress && std::io::stderr().is_terminal();
    let mut last_decoded = 0u64;
    let end_reason: String;
    // Always said: scripts wait for this line to know the probes are live.
    eprintln!(
        "memrec: recording to {} (Ctrl-C to stop)",
        opts.output.display()
    );

    loop {
        if STOP.load(Ordering::SeqCst) {
            end_reason = "signal".into();
            break;
        }
        if let Some(d) = opts.duration {
            if started.elapsed() >= d {
                end_reason = "duration".into();
                break;
            }
        }
        // Wakes early when a ring is a quarter full; records are submitted
        // without wake-ups otherwise, so drain everything each round.
        let _ = ring.poll(Duration::from_millis(100));
        let _ = ring.consume();
        if let Some(e) = sink
            .borrow()
            .write_error
            .clone()
            .or_else(|| file_writer.failure())
        {
            end_reason = format!("error: {e}");
            break;
        }
        let now = Instant::now();
        if now >= next_snapshot {
            snapshot_now(snapshot::TRIGGER_INTERVAL);
            next_snapshot += opts.interval;
            if next_snapshot < now {
                next_snapshot = now + opts.interval;
            }
        }
        if progress && now >= next_progress {
            let s = sink.borrow();
            let decoded: u64 = s.counts.iter().map(|c| c.decoded).sum();
            let lost: u64 = loaded.iter().map(|l| group_stats(l).1).sum();
            eprint!(
                "\r\x1b[K{:>6.1}s  {:>9} events  {:>8}/s  lost {:>6}  {:>10}",
                started.elapsed().as_secs_f64(),
                decoded,
                decoded - last_decoded,
                lost,
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
    snapshot_now(snapshot::TRIGGER_END);
    let vmstat_end = kernel::vmstat().unwrap_or_default();
    set_live(&loaded, false);
    let anchor_end = kernel::clock_anchor();
    let end_time = chrono::Utc::now();
    let zones_end = kernel::zoneinfo().unwrap_or_default();
    drop(links);
    // Everything submitted while live is in the rings: drain it.
    let _ = ring.consume();
    drop(ring);

    let mut probes_meta = Vec::new();
    for a in &attached {
        let l = &loaded[a.group];
        let (events, lost) = slot_stats(l, a.spec.slot);
        probes_meta.push(ProbeMeta {
            group: l.spec.name.to_string(),
            program: a.spec.name.to_string(),
            target: a.spec.target.to_string(),
            method: a.spec.method.name().to_string(),
            attached: a.attached,
            error: a.error.clone(),
            standby: plans[a.group].standby(a.spec.name),
            events,
            lost,
        });
    }
    let mut sink = match Rc::try_unwrap(sink) {
        Ok(cell) => cell.into_inner(),
        Err(_) => bail!("ring buffer callbacks still hold the writer"),
    };
    for (gi, l) in loaded.iter().enumerate() {
        if let Some(m) = group_meta.iter_mut().find(|m| m.name == l.spec.name) {
            m.decoded = sink.counts[gi].decoded;
            m.malformed = sink.counts[gi].malformed;
            m.lost = probes_meta
                .iter()
                .filter(|p| p.group == l.spec.name)
                .map(|p| p.lost)
                .sum();
        }
    }
    let tables = sink.tables.take().context("writer already closed")?;
    let rows: BTreeMap<String, u64> = tables
        .row_counts()
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
    let cgroups = memcg
        .as_ref()
        .and_then(|m| m.mount.as_ref())
        .map(|root| {
            let ids: Vec<u64> = sink.ctx.cgroup_ids.iter().copied().collect();
            kernel::cgroup_paths(root, &ids, 100_000)
        })
        .unwrap_or_default();
    let settings_meta: BTreeMap<String, String> = [
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
        (
            "memory_cgroup",
            match &memcg {
                Some(m) if m.v1 => "v1".to_string(),
                Some(_) => "v2".to_string(),
                None => "none".to_string(),
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let meta = FileMeta {
        schema_version: SCHEMA_VERSION,
        memrec_version: env!("CARGO_PKG_VERSION").to_string(),
        hostname: uname.nodename,
        kernel_release: uname.release,
        kernel_version: uname.version,
        machine: uname.machine,
        page_size: sink.ctx.page_size,
        hpage_pmd_nr: sink.ctx.hpage_pmd_nr,
        nr_cpus: settings.nr_cpus,
        nodes,
        clock: memtrace_schema::CLOCK.to_string(),
        clock_anchors: vec![anchor_start.clone(), anchor_end.clone()],
        start_ns: anchor_start.boottime_ns,
        end_ns: anchor_end.boottime_ns,
        start_time: start_time.to_rfc3339(),
        end_time: end_time.to_rfc3339(),
        command_line: opts.command_line.clone(),
        groups_requested: groups.iter().map(|g| g.name.to_string()).collect(),
        groups: group_meta.clone(),
        probes: probes_meta.clone(),
        filter: FilterMeta {
            pid: opts.pid,
            comm: opts.comm.clone(),
            cgroup: opts.cgroup.as_ref().map(|p| p.display().to_string()),
            cgroup_id: filter_cgroup,
        },
        settings: settings_meta,
        rows,
        zones_start,
        zones_end,
        vmstat_start,
        vmstat_end,
        gfp_names: sink.ctx.gfp.flags.clone(),
        cgroups,
        end_reason: end_reason.clone(),
        warnings: warnings.clone(),
    };
    // A writer that failed still closes the file with what it had written.
    let finish = tables.finish(meta);
    let size = file_writer.join().context("writing the recording")?;
    if let Err(e) = finish {
        debug!("closing: {e}");
    }
    output.commit().map_err(output_error)?;

    print_summary(
        &opts.output,
        size,
        started.elapsed(),
        &group_meta,
        &probes_meta,
        &warnings,
    )
    .context("writing the summary to stdout")?;
    if let Some(e) = end_reason.strip_prefix("error: ") {
        bail!(
            "recording stopped early: {e} (what was recorded until then is in {})",
            opts.output.display()
        );
    }
    Ok(())
}

/// Why a program of a group is not loaded.
enum LeftOut {
    /// The kernel lacks what it attaches to.
    Missing(String),
    /// The command line turned it off.
    NotAsked,
    /// A fallback whose program runs.
    Standby,
}

/// Which programs of a group are loaded, and why the others are not.
struct Plan {
    left_out: Vec<(&'static str, LeftOut)>,
    /// The group records less than on a kernel that has everything: a
    /// program is missing and no fallback stands in for it.
    degraded: bool,
}

impl Plan {
    fn left_out(&self, program: &str) -> Option<&LeftOut> {
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

    fn why(&self, program: &str) -> String {
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
/// is not.
fn plan_programs(g: &Group, disabled: &[String]) -> Plan {
    let mut left_out: Vec<(&'static str, LeftOut)> = Vec::new();
    for p in g.programs {
        if disabled.iter().any(|d| d == p.name) {
            left_out.push((p.name, LeftOut::NotAsked));
        } else if let Err(why) = p.available() {
            left_out.push((p.name, LeftOut::Missing(why)));
        }
    }
    let down = |name: &str| left_out.iter().any(|(m, _)| *m == name);
    let degraded = g.programs.iter().any(|p| {
        left_out
            .iter()
            .any(|(m, w)| *m == p.name && matches!(w, LeftOut::Missing(_)))
            && p.fallback.is_none_or(&down)
    });
    let standby: Vec<&'static str> = g
        .programs
        .iter()
        .filter(|p| !down(p.name))
        .filter_map(|p| p.fallback)
        .collect();
    left_out.extend(standby.into_iter().map(|f| (f, LeftOut::Standby)));
    Plan { left_out, degraded }
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

fn start_load_test(loaded: &[Loaded], rate: u64) -> Result<LoadTest> {
    use std::os::fd::{AsFd, AsRawFd};
    let name = probes::procstat::SYNTHETIC_PROGRAM;
    let prog = loaded
        .iter()
        .filter(|l| l.spec.name == "procstat")
        .find_map(|l| {
            l.skel
                .object()
                .progs()
                .find(|p| p.name() == name)
                .map(|p| p.as_fd().try_clone_to_owned())
        })
        .context("the load test needs the procstat group")?
        .context("duplicating the load test's program")?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let n_threads = rate.div_ceil(LOAD_TEST_PER_THREAD).max(1);
    let mut threads = Vec::new();
    for i in 0..n_threads {
        let fd = prog
            .try_clone()
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
                    let mut args = n.to_ne_bytes();
                    let mut o = libbpf_sys::bpf_test_run_opts {
                        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
                        ctx_in: args.as_mut_ptr().cast(),
                        ctx_size_in: args.len() as u32,
                        ..Default::default()
                    };
                    // SAFETY: o and args outlive the call; the kernel copies ctx_in.
                    let r = unsafe { libbpf_sys::bpf_prog_test_run_opts(fd.as_raw_fd(), &mut o) };
                    if r != 0 {
                        warn!("load test stopped: BPF_PROG_TEST_RUN returned {r}");
                        return;
                    }
                    sent += n;
                }
            })
            .context("starting the load test")?;
        threads.push(thread);
    }
    info!(rate, threads = n_threads, "load test running");
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

/// Starts or stops recording in every group's programs (`control[0]`).
fn set_live(loaded: &[Loaded], live: bool) {
    let value = u32::from(live).to_ne_bytes();
    for l in loaded {
        let Some(map) = l.skel.object().maps().find(|m| m.name() == "control") else {
            continue;
        };
        if let Err(e) = map.update(&0u32.to_ne_bytes(), &value, MapFlags::ANY) {
            warn!(
                "{}: cannot switch recording {}: {e}",
                l.spec.name,
                if live { "on" } else { "off" }
            );
        }
    }
}

/// Kernel-side (events, lost) summed over CPUs for one program slot.
fn slot_stats(l: &Loaded, slot: u32) -> (u64, u64) {
    let Some(map) = l.skel.object().maps().find(|m| m.name() == "stats") else {
        return (0, 0);
    };
    let Ok(Some(per_cpu)) = map.lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY) else {
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

/// (events, lost) over all of a group's programs.
fn group_stats(l: &Loaded) -> (u64, u64) {
    l.spec.programs.iter().fold((0, 0), |(e, x), p| {
        let (a, b) = slot_stats(l, p.slot);
        (e + a, x + b)
    })
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

fn print_summary(
    path: &Path,
    size: u64,
    elapsed: Duration,
    groups: &[GroupMeta],
    probes: &[ProbeMeta],
    warnings: &[String],
) -> std::io::Result<()> {
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

    #[test]
    fn groups_resolve_and_unknown_ones_are_refused() {
        let all = resolve_groups(None).unwrap();
        assert_eq!(all.len(), probes::DEFAULT_GROUPS.len());
        let some = resolve_groups(Some(&["pr".into(), "oom".into(), "pr".into()])).unwrap();
        assert_eq!(
            some.iter().map(|g| g.name).collect::<Vec<_>>(),
            vec!["pr", "oom"]
        );
        let err = resolve_groups(Some(&["nope".into()]))
            .err()
            .map(|e| e.to_string());
        assert!(err
            .unwrap_or_default()
            .contains("unknown probe group `nope`"));
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
