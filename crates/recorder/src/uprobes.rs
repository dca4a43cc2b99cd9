//! memleak's uprobes: which C library the traced processes use, and
//! attaching the group's programs to its allocation functions.
//!
//! With `--pid P`, the library P maps, opened through `/proc/P/root` (so a
//! process in a container is traced in its own files; in a chroot, whose
//! maps name the file from memrec's root, through P's link to the mapping
//! in `/proc/P/map_files`), with the probes bound to P. With `--comm` or `--cgroup`, every distinct library (by
//! device and inode) of the running processes that match, and the host's,
//! with the probes on every process that maps it and the BPF task filter
//! choosing; the processes are looked at again about once a second, so a
//! container started later gets its library probed too.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libbpf_rs::{Link, Object, ProgramMut, UprobeOpts};
use tracing::{debug, info, warn};

use crate::probes::{BpfSettings, Method};
use crate::record::{Selected, UsageError};

/// The kernel's uprobe PMU: present when it has CONFIG_UPROBES.
const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe";

/// The functions probed, in the order that decides the name an alias is
/// recorded under: where two are one function (glibc before 2.38 makes
/// `aligned_alloc` an alias of `memalign`), the earlier one is attached.
pub const FUNCS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "mmap",
    "free",
    "munmap",
];

/// How often the processes are looked at again for a new C library.
const RESCAN: Duration = Duration::from_secs(1);
/// How often the tracking tables are swept of exited processes' blocks
/// (system-wide: with --pid there is one process).
const SWEEP: Duration = Duration::from_secs(10);
/// The BPF map of recorded blocks not freed yet (memleak.bpf.c).
const TRACKED_MAP: &str = "tracked";

/// Whether this kernel can attach uprobes; the error says why not.
pub fn available() -> Result<(), String> {
    if Path::new(UPROBE_PMU).exists() {
        Ok(())
    } else {
        Err(format!(
            "uprobes missing: no {UPROBE_PMU} (the kernel lacks CONFIG_UPROBES)"
        ))
    }
}

/// Whether a group attaches uprobes.
pub fn uses_uprobes(g: &crate::probes::Group) -> bool {
    g.programs
        .iter()
        .any(|p| matches!(p.method, Method::Uprobe { .. }))
}

/// Checks the groups that attach uprobes against the task filter: they
/// trace one process (`--pid`), command (`--comm`) or cgroup (`--cgroup`),
/// whose C library must be known. A group named with `--probes` that cannot
/// is an error; one that came with `all` is left out with a warning.
pub fn check_groups(
    groups: Vec<Selected>,
    pid: Option<u32>,
    other_filter: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<Selected>, UsageError> {
    let mut out = Vec::with_capacity(groups.len());
    for s in groups {
        if !uses_uprobes(s.group) {
            out.push(s);
            continue;
        }
        let problem = match pid {
            None if !other_filter => Some(format!(
                "{} traces the heap of one process, command or cgroup: add --pid PID, \
                 --comm NAME or --cgroup PATH",
                s.group.name
            )),
            None => None,
            Some(p) => match libc_of(p) {
                Ok(Some(_)) => None,
                Ok(None) => Some(format!(
                    "{}: process {p} ({}) maps no C library (a static binary?): its heap \
                     cannot be traced with uprobes",
                    s.group.name,
                    comm_of(p).unwrap_or_default()
                )),
                Err(e) => Some(format!(
                    "{}: --pid {p}: reading /proc/{p}/maps: {e}",
                    s.group.name
                )),
            },
        };
        match problem {
            None => out.push(s),
            Some(msg) if s.named => return Err(UsageError(msg)),
            Some(msg) => {
                warn!("skipping probe group {msg}");
                warnings.push(format!("skipped {msg}"));
            }
        }
    }
    Ok(out)
}

/// One C library file, as a process maps it.
#[derive(Debug, Clone)]
pub struct Libc {
    /// Device and inode, as /proc/PID/maps gives them.
    key: (String, u64),
    /// Its path in the process's mount namespace.
    path: String,
    /// Where memrec opens it: through the process's root, or the
    /// process's link to the mapping.
    open_path: PathBuf,
    /// The process it was found in.
    pid: u32,
    comm: String,
    /// The probed functions it defines, with their addresses; None when
    /// its symbols could not be read here (libbpf then says what it finds).
    funcs: Option<HashMap<&'static str, u64>>,
    /// Entry probes placed past the function's first instruction (see
    /// [`past_null_test`]), by function.
    entry_at: HashMap<&'static str, usize>,
}

impl Libc {
    /// Why `func` is not attached to this library: absent, or the same
    /// function as an earlier name.
    fn skip(&self, func: &str) -> Option<String> {
        let funcs = self.funcs.as_ref()?;
        let Some(&addr) = funcs.get(func) else {
            return Some(format!("{func}: not defined"));
        };
        FUNCS
            .iter()
            .take_while(|f| **f != func)
            .find(|f| funcs.get(**f) == Some(&addr))
            .map(|f| format!("{func}: the same function as {f}, recorded as {f}"))
    }
}

/// Whether a mapped file is a C library: glibc's `libc.so.6` (or an
/// older `libc-2.NN.so`), or musl's, which is also its dynamic loader.
pub fn is_libc(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let name = name.strip_suffix(" (deleted)").unwrap_or(name);
    name == "libc.so.6"
        || name == "libc.so"
        || (name.starts_with("libc-") && name.ends_with(".so"))
        || name.starts_with("libc.musl-")
        || (name.starts_with("ld-musl-") && name.ends_with(".so.1"))
}

/// The command name of a process.
fn comm_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// The C library a process maps, if any.
pub fn libc_of(pid: u32) -> io::Result<Option<Libc>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let Some(m) = maps
        .lines()
        .filter_map(crate::stacks::parse_maps_line)
        .find(|m| m.inode != 0 && is_libc(m.path))
    else {
        return Ok(None);
    };
    // Through the process's root, as it names the file (a container's own
    // mount namespace). Where that is not the mapped file (a chroot: maps
    // gives the path from memrec's root), the mapping's own link, which
    // the kernel resolves to the very file whatever the namespaces.
    let mut open_path = PathBuf::from(format!("/proc/{pid}/root{}", m.path));
    let same_file = std::fs::metadata(&open_path).is_ok_and(|st| {
        use std::os::unix::fs::MetadataExt;
        st.ino() == m.inode
    });
    if !same_file {
        open_path = PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end));
    }
    let read = File::open(&open_path)
        .and_then(|f| dynamic_functions(&f, FUNCS))
        .map_err(|e| debug!("uprobes: symbols of {}: {e}", open_path.display()))
        .ok();
    let (funcs, entry_at) = match read {
        Some((funcs, entry_at)) => (Some(funcs), entry_at),
        None => (None, HashMap::new()),
    };
    Ok(Some(Libc {
        key: (m.dev.to_string(), m.inode),
        path: m.path.to_string(),
        open_path,
        pid,
        comm: comm_of(pid).unwrap_or_default(),
        funcs,
        entry_at,
    }))
}

/// Functions whose entry probe may go past a leading NULL test.
const PAST_NULL_TEST: &[&str] = &["free"];

/// Where in a function whose code starts with `code` its entry probe goes:
/// at x86-64's `test %rdi,%rdi; je` (glibc's free), on the `je`. The
/// kernel emulates a conditional jump at a uprobe hit, where it must
/// single-step `test` out of line, a second trap (several us in a VM,
/// measured with bench/memleak-uprobe-cost.sh). The argument register is
/// the same there, and a free of NULL, which the jump skips, is nothing
/// to record anyway. 0 (the entry) for any other code.
pub fn past_null_test(code: &[u8]) -> usize {
    if !cfg!(target_arch = "x86_64") {
        return 0;
    }
    match code {
        [0x48, 0x85, 0xff, 0x74, ..] | [0x48, 0x85, 0xff, 0x0f, 0x84, ..] => 3,
        _ => 0,
    }
}

/// Functions and their addresses.
type Funcs = HashMap<&'static str, u64>;

/// The addresses of the functions named in `wanted` that an ELF64 file
/// defines in its dynamic symbol table (the C library's exported ones),
/// and where the entry probes of [`PAST_NULL_TEST`] go.
fn dynamic_functions(
    f: &File,
    wanted: &[&'static str],
) -> io::Result<(Funcs, HashMap<&'static str, usize>)> {
    const SHT_DYNSYM: u32 = 11;
    const STT_FUNC: u8 = 2;
    const STT_GNU_IFUNC: u8 = 10;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let read = |off: u64, len: usize| -> io::Result<Vec<u8>> {
        let mut b = vec![0u8; len];
        f.read_exact_at(&mut b, off)?;
        Ok(b)
    };
    let eh = read(0, 64)?;
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return Err(bad("not a little-endian ELF64 file"));
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let (shoff, shentsize, shnum) = (
        u64_at(&eh, 0x28),
        usize::from(u16_at(&eh, 0x3a)),
        usize::from(u16_at(&eh, 0x3c)),
    );
    if shentsize < 64 || shnum == 0 || shnum > 4096 {
        return Err(bad("unexpected section headers"));
    }
    let sh = read(shoff, shentsize * shnum)?;
    let section = |i: usize| &sh[i * shentsize..i * shentsize + 64];
    let dynsym = (0..shnum)
        .map(section)
        .find(|s| u32_at(s, 4) == SHT_DYNSYM)
        .ok_or_else(|| bad("no dynamic symbol table"))?;
    let link = u32_at(dynsym, 40) as usize;
    if link >= shnum {
        return Err(bad("dynamic symbol table without strings"));
    }
    let strtab = section(link);
    // Both tables are small (tens of KiB in a C library); cap what a
    // damaged file could make memrec read.
    let (sym_size, str_size) = (u64_at(dynsym, 32), u64_at(strtab, 32));
    if sym_size > 16 << 20 || str_size > 16 << 20 {
        return Err(bad("dynamic symbol table too large"));
    }
    let syms = read(u64_at(dynsym, 24), sym_size as usize)?;
    let strs = read(u64_at(strtab, 24), str_size as usize)?;
    let mut out = HashMap::new();
    for s in syms.chunks_exact(24) {
        let kind = s[4] & 0xf;
        if (kind != STT_FUNC && kind != STT_GNU_IFUNC) || u16_at(s, 6) == 0 {
            continue;
        }
        let name_at = u32_at(s, 0) as usize;
        let Some(rest) = strs.get(name_at..) else {
            continue;
        };
        let name = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
        if let Some(w) = wanted.iter().find(|w| w.as_bytes() == name) {
            out.entry(*w).or_insert(u64_at(s, 8));
        }
    }
    // A function's first bytes, from the section that holds its address.
    let mut entry_at = HashMap::new();
    for name in PAST_NULL_TEST {
        let Some(&addr) = out.get(name) else {
            continue;
        };
        let holds = (0..shnum).map(section).find(|s| {
            let (start, size) = (u64_at(s, 16), u64_at(s, 32));
            u32_at(s, 4) != 8 && start <= addr && addr + 8 <= start + size // not NOBITS
        });
        if let Some(s) = holds {
            let code = read(addr - u64_at(s, 16) + u64_at(s, 24), 8)?;
            let at = past_null_test(&code);
            if at > 0 {
                entry_at.insert(*name, at);
            }
        }
    }
    Ok((out, entry_at))
}

/// Which processes a system-wide recording traces: those the BPF task
/// filter selects.
#[derive(Debug, Clone)]
struct Matcher {
    comm: Option<String>,
    /// The filter cgroup's path in the memory controller's hierarchy, and
    /// whether that is cgroup v1.
    cgroup: Option<(String, bool)>,
}

impl Matcher {
    fn from_settings(s: &BpfSettings) -> Matcher {
        let comm = s.filter_comm.map(|c| {
            let n = c.iter().position(|&b| b == 0).unwrap_or(c.len());
            String::from_utf8_lossy(&c[..n]).into_owned()
        });
        let cgroup = (s.filter_cgroup_id != 0)
            .then(crate::kernel::memory_controller)
            .flatten()
            .and_then(|m| {
                let root = m.mount?;
                let paths = crate::kernel::cgroup_paths(&root, &[s.filter_cgroup_id], 100_000);
                paths.get(&s.filter_cgroup_id).map(|p| (p.clone(), m.v1))
            });
        Matcher { comm, cgroup }
    }

    fn matches(&self, pid: u32) -> bool {
        if let Some(c) = &self.comm {
            if comm_of(pid).as_deref() != Some(c.as_str()) {
                return false;
            }
        }
        if let Some((want, v1)) = &self.cgroup {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
                return false;
            };
            let path = text.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                let hit = if *v1 {
                    ctrl.split(',').any(|c| c == "memory")
                } else {
                    ctrl.is_empty()
                };
                hit.then_some(path)
            });
            let under = |p: &str| {
                want == "/"
                    || p == want
                    || p.strip_prefix(want.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            };
            if !path.is_some_and(under) {
                return false;
            }
        }
        true
    }
}

/// A program attached to every C library found.
#[derive(Debug, Clone)]
struct Probe {
    group: &'static str,
    name: String,
    func: &'static str,
    ret: bool,
}

/// The C libraries found and the uprobes attached to them, for the whole
/// recording. Dropping it (or [`Uprobes::detach`]) detaches them.
pub struct Uprobes {
    /// `--pid`: the probes are bound to this process; else system-wide.
    pid: Option<u32>,
    matcher: Matcher,
    libcs: Vec<Libc>,
    /// What was not attached where, said once per library and function.
    skipped: Vec<String>,
    probes: Vec<Probe>,
    links: Vec<Link>,
    /// Processes looked at already (system-wide), so a rescan reads only
    /// new ones' maps.
    seen: HashSet<u32>,
    next_scan: Instant,
    next_sweep: Instant,
}

impl Uprobes {
    /// Finds the C libraries to probe: the `--pid` process's, or those of
    /// the running processes that match and the host's.
    pub fn new(s: &BpfSettings) -> Uprobes {
        let pid = (s.filter_tgid != 0).then_some(s.filter_tgid);
        let mut u = Uprobes {
            pid,
            matcher: Matcher::from_settings(s),
            libcs: Vec::new(),
            skipped: Vec::new(),
            probes: Vec::new(),
            links: Vec::new(),
            seen: HashSet::new(),
            next_scan: Instant::now() + RESCAN,
            next_sweep: Instant::now() + SWEEP,
        };
        match pid {
            Some(p) => match libc_of(p) {
                Ok(Some(l)) => u.add(l),
                Ok(None) => warn!("uprobes: process {p} maps no C library"),
                Err(e) => warn!("uprobes: /proc/{p}/maps: {e}"),
            },
            None => {
                match libc_of(std::process::id()) {
                    Ok(Some(l)) => u.add(l),
                    _ => debug!("uprobes: memrec maps no C library of its own"),
                }
                for l in u.scan() {
                    u.add(l);
                }
                // A uprobe lives in the file, not the process: every task
                // that maps these libraries traps into the kernel on each
                // probed call, whether it matches the filter or not.
                warn!(
                    "memleak without --pid probes {} C librar{} system-wide: every process \
                     using them pays a trap (about 2-5 us) per malloc/free while recording; \
                     --pid PID binds the probes to one process",
                    u.libcs.len(),
                    if u.libcs.len() == 1 { "y" } else { "ies" }
                );
            }
        }
        u
    }

    fn add(&mut self, l: Libc) {
        if self.libcs.iter().any(|k| k.key == l.key) {
            return;
        }
        for f in FUNCS {
            if let Some(why) = l.skip(f) {
                self.skipped.push(format!("{} {why}", l.path));
            }
        }
        self.libcs.push(l);
    }

    /// C libraries of matching processes not seen before, not yet known.
    fn scan(&mut self) -> Vec<Libc> {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut alive = HashSet::new();
        let mut found: Vec<Libc> = Vec::new();
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            alive.insert(pid);
            if self.seen.contains(&pid) || !self.matcher.matches(pid) {
                continue;
            }
            self.seen.insert(pid);
            match libc_of(pid) {
                Ok(Some(l)) => {
                    let known = self.libcs.iter().chain(&found).any(|k| k.key == l.key);
                    if !known {
                        found.push(l);
                    }
                }
                Ok(None) => {
                    // A kernel thread has no maps; a static binary does.
                    let has_maps = std::fs::metadata(format!("/proc/{pid}/exe")).is_ok();
                    if has_maps {
                        warn!(
                            "memleak: process {pid} ({}) maps no C library (a static \
                             binary?): its heap is not traced",
                            comm_of(pid).unwrap_or_default()
                        );
                    }
                }
                Err(_) => {} // it exited
            }
        }
        self.seen.retain(|p| alive.contains(p));
        found
    }

    fn attach_one(
        &self,
        prog: &ProgramMut<'_>,
        l: &Libc,
        func: &'static str,
        ret: bool,
    ) -> Result<Link, String> {
        let pid = self.pid.map_or(-1, |p| p as i32);
        // Only an entry moves: a return probe must be at the entry.
        let offset = match ret {
            false => l.entry_at.get(func).copied().unwrap_or(0),
            true => 0,
        };
        prog.attach_uprobe_with_opts(
            pid,
            &l.open_path,
            offset,
            UprobeOpts {
                retprobe: ret,
                func_name: Some(func.to_string()),
                ..Default::default()
            },
        )
        .map_err(|e| format!("{func} in {}: {e}", l.path))
    }

    /// Attaches a program to `func` (its return with `ret`) in every C
    /// library found, and remembers it for libraries found later. Ok when
    /// it is attached, or stands for an alias, in at least one library.
    pub fn attach(
        &mut self,
        group: &'static str,
        prog: &ProgramMut<'_>,
        func: &'static str,
        ret: bool,
    ) -> Result<(), String> {
        self.probes.push(Probe {
            group,
            name: prog.name().to_string_lossy().into_owned(),
            func,
            ret,
        });
        if self.libcs.is_empty() {
            return Err(match self.pid {
                Some(p) => format!("process {p} maps no C library"),
                None => "no C library found".into(),
            });
        }
        let mut covered = false;
        let mut errors = Vec::new();
        for l in &self.libcs {
            if l.skip(func).is_some() {
                // An alias is recorded under its first name.
                covered |= l.funcs.as_ref().is_some_and(|f| f.contains_key(func));
                continue;
            }
            match self.attach_one(prog, l, func, ret) {
                Ok(link) => {
                    self.links.push(link);
                    covered = true;
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            warn!("memleak: {}", errors.join("; "));
            self.skipped.extend(errors.iter().cloned());
        }
        match covered {
            true => Ok(()),
            false if errors.is_empty() => Err(format!("{func}: in no C library found")),
            false => Err(errors.join("; ")),
        }
    }

    /// About once a second (system-wide only): attaches every program to
    /// the C library of a matching process that started since, if memrec
    /// has not probed that library yet. `objects` are the loaded groups'.
    pub fn rescan(&mut self, objects: &[(&str, &Object)]) {
        if self.pid.is_some() || self.probes.is_empty() || Instant::now() < self.next_scan {
            return;
        }
        self.next_scan = Instant::now() + RESCAN;
        for l in self.scan() {
            // Returns first: an entry without its return probe would leave
            // its call pending.
            let mut order: Vec<&Probe> = self.probes.iter().collect();
            order.sort_by_key(|p| !p.ret);
            let mut links = Vec::new();
            for p in order {
                if l.skip(p.func).is_some() {
                    continue;
                }
                let Some((_, obj)) = objects.iter().find(|(g, _)| *g == p.group) else {
                    continue;
                };
                let Some(prog) = obj
                    .progs_mut()
                    .find(|q| q.name().to_string_lossy() == p.name)
                else {
                    continue;
                };
                match self.attach_one(&prog, &l, p.func, p.ret) {
                    Ok(link) => links.push(link),
                    Err(e) => {
                        warn!("memleak: {e}");
                        self.skipped.push(e);
                    }
                }
            }
            info!(
                "memleak: probed the C library {} of process {} ({}): {} probes",
                l.path,
                l.pid,
                l.comm,
                links.len()
            );
            self.links.append(&mut links);
            self.add(l);
        }
        if Instant::now() >= self.next_sweep {
            self.sweep(objects);
            self.next_sweep = Instant::now() + SWEEP;
        }
    }

    /// Deletes from the groups' tracking tables the blocks of processes
    /// that have exited: their frees will never come, and a table that
    /// filled up with them would count every new allocation as lost. Keys
    /// start with the tgid (`struct track_key`).
    fn sweep(&self, objects: &[(&str, &Object)]) {
        use libbpf_rs::MapCore;
        let mut alive: HashMap<u32, bool> = HashMap::new();
        let mut is_alive = |tgid: u32| {
            *alive
                .entry(tgid)
                .or_insert_with(|| Path::new(&format!("/proc/{tgid}")).exists())
        };
        for (group, obj) in objects {
            if !self.probes.iter().any(|p| p.group == *group) {
                continue;
            }
            let Some(map) = obj.maps().find(|m| m.name() == TRACKED_MAP) else {
                continue;
            };
            let stale: Vec<Vec<u8>> = map
                .keys()
                .take(1 << 20)
                .filter(|k| {
                    let tgid = k
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(u32::from_ne_bytes);
                    tgid.is_some_and(|t| !is_alive(t))
                })
                .collect();
            for k in &stale {
                let _ = map.delete(k);
            }
            if !stale.is_empty() {
                debug!("memleak: forgot {} blocks of exited processes", stale.len());
            }
        }
    }

    /// Detaches every uprobe.
    pub fn detach(&mut self) {
        self.links.clear();
    }

    /// For the file's metadata: each C library probed (path, device and
    /// inode, the process it was found in), and what was not attached.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .libcs
            .iter()
            .map(|l| {
                let moved: Vec<String> = l
                    .entry_at
                    .iter()
                    .map(|(f, at)| format!("{f} probed at +{at}, past its NULL test"))
                    .collect();
                format!(
                    "{} (dev {} inode {}, found in process {} {}{}{})",
                    l.path,
                    l.key.0,
                    l.key.1,
                    l.pid,
                    l.comm,
                    if moved.is_empty() { "" } else { "; " },
                    moved.join(", ")
                )
            })
            .collect();
        if self.pid.is_none() {
            parts.push("probed for every process that maps them".into());
        }
        parts.extend(self.skipped.iter().map(|s| format!("not attached: {s}")));
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_libraries_are_recognised_by_name() {
        for p in [
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/libc-2.17.so",
            "/lib/ld-musl-x86_64.so.1",
            "/usr/lib/libc.so.6 (deleted)",
        ] {
            assert!(is_libc(p), "{p}");
        }
        for p in [
            "/usr/lib/x86_64-linux-gnu/libcap.so.2",
            "/usr/lib/x86_64-linux-gnu/libcrypt.so.1",
            "/usr/bin/libc-tool",
            "/usr/lib/x86_64-linux-gnu/libc++.so.1",
        ] {
            assert!(!is_libc(p), "{p}");
        }
    }

    #[test]
    fn memrecs_own_c_library_defines_the_functions() {
        // The test binary is linked against the host's C library.
        let l = libc_of(std::process::id()).unwrap().expect("a C library");
        let funcs = l.funcs.as_ref().expect("its symbols");
        for f in ["malloc", "calloc", "realloc", "free", "mmap", "munmap"] {
            assert!(funcs.get(f).is_some_and(|&a| a != 0), "{f}: {funcs:?}");
            assert_eq!(l.skip(f), None, "{f}");
        }
        // free and malloc are different functions.
        assert_ne!(funcs["free"], funcs["malloc"]);
        // Where free begins with its NULL test, its probe goes on the jump.
        assert!(l.entry_at.get("free").is_none_or(|&at| at == 3));
        assert!(!l.entry_at.contains_key("malloc"));
    }

    #[test]
    fn only_a_leading_null_test_moves_the_entry_probe() {
        let at = |code: &[u8]| past_null_test(code);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(at(&[0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0]), 3);
            assert_eq!(at(&[0x48, 0x85, 0xff, 0x74, 0x10, 0x55, 0, 0]), 3);
        }
        // Another register, another jump, or a push first: the entry.
        assert_eq!(at(&[0x48, 0x85, 0xf6, 0x74, 0x10, 0, 0, 0]), 0);
        assert_eq!(at(&[0x48, 0x85, 0xff, 0x75, 0x10, 0, 0, 0]), 0);
        assert_eq!(at(&[0x41, 0x54, 0x55, 0x53, 0, 0, 0, 0]), 0);
        assert_eq!(at(&[0x48]), 0);
    }

    #[test]
    fn an_alias_is_attached_under_its_first_name() {
        let funcs: HashMap<&'static str, u64> =
            [("malloc", 1), ("aligned_alloc", 7), ("memalign", 7)]
                .into_iter()
                .collect();
        let l = Libc {
            key: ("08:01".into(), 1),
            path: "/lib/libc.so.6".into(),
            open_path: "/proc/1/root/lib/libc.so.6".into(),
            pid: 1,
            comm: "init".into(),
            funcs: Some(funcs),
            entry_at: HashMap::new(),
        };
        assert_eq!(l.skip("aligned_alloc"), None);
        assert!(l.skip("memalign").unwrap().contains("aligned_alloc"));
        assert!(l.skip("pvalloc").unwrap().contains("not defined"));
    }

    #[test]
    fn without_a_filter_the_group_is_refused_or_left_out() {
        let g = crate::probes::group("memleak").expect("memleak registered");
        let named = vec![Selected {
            group: g,
            named: true,
        }];
        let mut w = Vec::new();
        let e = check_groups(named, None, false, &mut w).unwrap_err();
        assert!(e.0.contains("--pid") && e.0.contains("--comm"), "{e}");
        let all = vec![Selected {
            group: g,
            named: false,
        }];
        assert!(check_groups(all, None, false, &mut w).unwrap().is_empty());
        assert_eq!(w.len(), 1);
        let ok = vec![Selected {
            group: g,
            named: true,
        }];
        assert_eq!(check_groups(ok, None, true, &mut w).unwrap().len(), 1);
        // Our own process maps a C library.
        let ok = vec![Selected {
            group: g,
            named: true,
        }];
        assert_eq!(
            check_groups(ok, Some(std::process::id()), false, &mut w)
                .unwrap()
                .len(),
            1
        );
    }
}
