//! mappings: a worker makes a known number of each address-space call
//! (mmap of anonymous memory and of a file, mremap, brk up and down,
//! mprotect, madvise, munmap, one SysV shm segment got, attached, detached
//! and removed) and a few calls that fail with known errnos, all inside a
//! window it times itself, in which it allocates nothing (so the C
//! library's own brk/mmap calls stay outside). Between its phases it naps,
//! leaving the CPU often enough for a recorder's per-process samples to see
//! each phase's address-space size.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{spawn_worker, RemoveOnDrop, RunConfig, MIB};
use crate::supervise::Waited;
use crate::sys;
use crate::truth::GroundTruth;

/// The worker's comm.
pub const COMM: &str = "memscen-maps";

/// How long the worker naps after each phase, and how often it wakes: a
/// recorder sampling each process at most every 100 ms on a context switch
/// gets a sample of every phase's end state.
const SETTLE: Duration = Duration::from_millis(400);
const NAP: Duration = Duration::from_millis(10);

/// The calls, in `mapping_call.call`'s names.
const CALLS: [&str; 10] = [
    "mmap", "munmap", "mremap", "brk", "madvise", "mprotect", "shmget", "shmat", "shmdt", "shmctl",
];
const MMAP: usize = 0;
const MUNMAP: usize = 1;
const MREMAP: usize = 2;
const BRK: usize = 3;
const MADVISE: usize = 4;
const MPROTECT: usize = 5;
const SHMGET: usize = 6;
const SHMAT: usize = 7;
const SHMDT: usize = 8;
const SHMCTL: usize = 9;

/// Anonymous mappings made (the last is grown by mremap to twice its size).
const ANON_MAPS: usize = 4;
/// File mappings made, each of half the file.
const FILE_MAPS: usize = 2;
/// Failures made, each with the errno the kernel must give.
const FAILURES: usize = 9;
const MAX_PHASES: usize = 4;

/// `mappings` section of the ground truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MappingsTruth {
    /// The worker's pid (one thread makes every call).
    pub pid: i32,
    pub page_size: u64,
    /// Size of each anonymous mapping; the last grows to twice this.
    pub anon_bytes: u64,
    /// The scratch file mapped (MAP_SHARED, PROT_READ), in two halves.
    pub file_path: String,
    pub file_bytes: u64,
    /// How far the break is moved up, then back down.
    pub brk_bytes: u64,
    /// Size of the SysV shm segment.
    pub shm_bytes: u64,
    /// CLOCK_BOOTTIME just before the first call and just after the last:
    /// the worker made no other call of these kinds in between.
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// Per call: how many were made, how many failed, bytes mapped and
    /// unmapped by the ones that succeeded.
    pub calls: BTreeMap<String, CallCount>,
    /// Each failed call and the errno it returned, in order.
    pub failures: Vec<Failure>,
    /// The phases, each ended by a nap: what each did to the address space.
    pub phases: Vec<Phase>,
    /// Calls that did not return what the plan expects (empty when produced).
    pub unexpected: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallCount {
    pub calls: u64,
    pub failed: u64,
    pub mapped_bytes: u64,
    pub unmapped_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    pub call: String,
    pub errno: i32,
    /// The errno's name, e.g. `ENOMEM`.
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub start_ns: u64,
    /// Its last call's return, before the nap.
    pub end_ns: u64,
    /// Bytes its calls added to the address space (negative: removed).
    pub vm_delta_bytes: i64,
}

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let s = cfg.scale;
    let anon = s.pick(MIB, 4 * MIB);
    let file_bytes = s.pick(MIB, 4 * MIB);
    let brk = s.pick(MIB, 4 * MIB);
    let shm = s.pick(MIB, 4 * MIB);
    let file = PathBuf::from(format!(
        "/var/tmp/memscen-{}-mappings.dat",
        crate::sys::pid()
    ));
    let _file_guard = RemoveOnDrop(file.clone());
    write_file(&file, file_bytes)?;

    truth.begin(None)?;
    let mut w = spawn_worker(
        &[
            "mappings",
            "--file",
            &file.to_string_lossy(),
            "--anon-bytes",
            &anon.to_string(),
            "--brk-bytes",
            &brk.to_string(),
            "--shm-bytes",
            &shm.to_string(),
        ],
        COMM,
        None,
        Duration::from_millis(50),
    )?;
    let deadline = Instant::now() + Duration::from_secs(60);
    if let Waited::Event = w.wait_for(Some("calls-done"), deadline)? {
        w.finish(deadline)?;
    }
    truth.end(None)?;
    truth.add_worker(&w);

    let got: Option<MappingsTruth> = w
        .event("calls-done")
        .map(|e| serde_json::from_value(e.data.clone()))
        .transpose()
        .context("reading the worker's calls-done event")?;
    let exited_ok = w.truth.exit_code == Some(0);
    match got {
        Some(mut t) => {
            t.file_path = file.to_string_lossy().into_owned();
            t.file_bytes = file_bytes;
            let made: u64 = t.calls.values().map(|c| c.calls).sum();
            let produced = exited_ok && t.unexpected.is_empty();
            truth.set_verdict(
                produced,
                if produced {
                    format!(
                        "{made} calls made as planned, {} of them failing with the planned errno",
                        t.failures.len()
                    )
                } else {
                    format!(
                        "exit {:?}; unexpected results: {}",
                        w.truth.exit_code,
                        t.unexpected.join("; ")
                    )
                },
            );
            for (name, c) in &t.calls {
                truth.note(format!(
                    "{name}: {} calls, {} failed, {} bytes mapped, {} unmapped",
                    c.calls, c.failed, c.mapped_bytes, c.unmapped_bytes
                ));
            }
            truth.mappings = Some(t);
        }
        None => truth.set_verdict(
            false,
            format!(
                "the worker did not report its calls (exit {:?})",
                w.truth.exit_code
            ),
        ),
    }
    Ok(())
}

fn write_file(path: &Path, bytes: u64) -> Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let chunk = vec![0x6du8; 64 << 10];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        left -= n as u64;
    }
    f.sync_all().context("syncing the scratch file")
}

/// What the worker saw, in fixed storage: nothing is allocated between the
/// first call and the last.
struct Tally {
    counts: [CallCount; 10],
    failures: [(usize, i32); FAILURES],
    nfail: usize,
    /// (call, what was expected, what came back) of up to 8 surprises.
    unexpected: [(usize, i64, i64); 8],
    nunexpected: usize,
    phases: [(&'static str, u64, u64, i64); MAX_PHASES],
    nphases: usize,
    phase_start: u64,
    phase_delta: i64,
}

impl Tally {
    fn new() -> Self {
        Tally {
            counts: Default::default(),
            failures: [(0, 0); FAILURES],
            nfail: 0,
            unexpected: [(0, 0, 0); 8],
            nunexpected: 0,
            phases: [("", 0, 0, 0); MAX_PHASES],
            nphases: 0,
            phase_start: 0,
            phase_delta: 0,
        }
    }

    fn surprise(&mut self, call: usize, want: i64, got: i64) {
        if self.nunexpected < self.unexpected.len() {
            self.unexpected[self.nunexpected] = (call, want, got);
        }
        self.nunexpected += 1;
    }

    /// A call that must succeed; `delta` is what it does to the address space.
    fn ok(&mut self, call: usize, ret: i64, delta: i64) -> i64 {
        let c = &mut self.counts[call];
        c.calls += 1;
        if ret < 0 {
            c.failed += 1;
            self.surprise(call, 0, ret);
            return ret;
        }
        if delta > 0 {
            c.mapped_bytes += delta as u64;
        } else {
            c.unmapped_bytes += delta.unsigned_abs();
        }
        self.phase_delta += delta;
        ret
    }

    /// A call that must fail with `errno`.
    fn fails(&mut self, call: usize, ret: i64, errno: i32) {
        let c = &mut self.counts[call];
        c.calls += 1;
        if ret == -(errno as i64) {
            c.failed += 1;
            if self.nfail < FAILURES {
                self.failures[self.nfail] = (call, errno);
            }
            self.nfail += 1;
        } else {
            if ret < 0 {
                c.failed += 1;
            }
            self.surprise(call, -(errno as i64), ret);
        }
    }

    fn begin_phase(&mut self) {
        self.phase_start = sys::clock_ns(libc::CLOCK_BOOTTIME);
        self.phase_delta = 0;
    }

    /// Ends a phase and naps so its end state is sampled.
    fn end_phase(&mut self, name: &'static str) {
        let end = sys::clock_ns(libc::CLOCK_BOOTTIME);
        if self.nphases < MAX_PHASES {
            self.phases[self.nphases] = (name, self.phase_start, end, self.phase_delta);
        }
        self.nphases += 1;
        settle();
    }
}

/// Naps in short sleeps: each one is a context switch.
fn settle() {
    let until = Instant::now() + SETTLE;
    while Instant::now() < until {
        std::thread::sleep(NAP);
    }
}

/// A syscall's raw result: the value, or -errno.
fn raw(ret: i64) -> i64 {
    if ret == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        ret
    }
}

fn mmap(addr: usize, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> i64 {
    // SAFETY: no address hint is MAP_FIXED: the kernel picks free space, or fails.
    let p = unsafe { libc::mmap(addr as *mut _, len, prot, flags, fd, off) };
    if p == libc::MAP_FAILED {
        raw(-1)
    } else {
        p as i64
    }
}

fn sys3(nr: libc::c_long, a: usize, b: usize, c: usize) -> i64 {
    // SAFETY: raw calls on mappings this worker made itself (or on addresses
    // it knows are unmapped, to fail): nothing else refers to them.
    raw(unsafe { libc::syscall(nr, a, b, c) })
}

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EINVAL => "EINVAL",
        libc::ENOMEM => "ENOMEM",
        libc::EBADF => "EBADF",
        libc::EFAULT => "EFAULT",
        _ => "E?",
    }
}

/// `memscen worker mappings`: the calls; prints `calls-done` with the tally.
pub fn worker(file: &Path, anon: u64, brk_bytes: u64, shm_bytes: u64) -> Result<u8> {
    let page = sys::page_size() as usize;
    let anon = usize::try_from(anon).context("anon bytes")?;
    let brk_bytes = usize::try_from(brk_bytes).context("brk bytes")?;
    let shm_bytes = usize::try_from(shm_bytes).context("shm bytes")?;
    if anon == 0 || anon % page != 0 || brk_bytes % page != 0 || shm_bytes % page != 0 {
        bail!("sizes must be positive multiples of the page size");
    }
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let file_len = usize::try_from(f.metadata()?.len()).context("file size")?;
    let half = file_len / 2 / page * page;
    if half == 0 {
        bail!("file too small to map in two halves");
    }
    let fd = f.as_raw_fd();
    let (rw, anon_flags) = (
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
    );
    let mut t = Tally::new();
    let mut anon_maps = [0usize; ANON_MAPS];
    let mut file_maps = [0usize; FILE_MAPS];
    // Let the state after start-up be sampled.
    settle();

    let start = sys::clock_ns(libc::CLOCK_BOOTTIME);
    // Phase 1: map.
    t.begin_phase();
    for m in anon_maps.iter_mut() {
        *m = t.ok(MMAP, mmap(0, anon, rw, anon_flags, -1, 0), anon as i64) as usize;
    }
    for (i, m) in file_maps.iter_mut().enumerate() {
        let off = (i * half) as i64;
        *m = t.ok(
            MMAP,
            mmap(0, half, libc::PROT_READ, libc::MAP_SHARED, fd, off),
            half as i64,
        ) as usize;
    }
    let last = ANON_MAPS - 1;
    anon_maps[last] = t.ok(
        MREMAP,
        // SAFETY: our own mapping; MAYMOVE lets the kernel move it.
        raw(unsafe {
            libc::mremap(
                anon_maps[last] as *mut _,
                anon,
                2 * anon,
                libc::MREMAP_MAYMOVE,
            )
        } as i64),
        anon as i64,
    ) as usize;
    // The break: asked (no change), moved up.
    let b0 = t.ok(BRK, sys3(libc::SYS_brk, 0, 0, 0), 0) as usize;
    let b1 = sys3(libc::SYS_brk, b0 + brk_bytes, 0, 0);
    t.ok(BRK, b1, brk_bytes as i64);
    if b1 as usize != b0 + brk_bytes {
        t.surprise(BRK, (b0 + brk_bytes) as i64, b1);
    }
    let id = t.ok(
        SHMGET,
        sys3(
            libc::SYS_shmget,
            libc::IPC_PRIVATE as usize,
            shm_bytes,
            (libc::IPC_CREAT | 0o600) as usize,
        ),
        0,
    );
    let seg = t.ok(
        SHMAT,
        sys3(libc::SYS_shmat, id as usize, 0, 0),
        shm_bytes as i64,
    ) as usize;
    t.end_phase("map");

    // Phase 2: change protections and advice (sizes stay).
    t.begin_phase();
    t.ok(
        MPROTECT,
        sys3(
            libc::SYS_mprotect,
            anon_maps[0],
            anon,
            libc::PROT_READ as usize,
        ),
        0,
    );
    t.ok(
        MPROTECT,
        sys3(libc::SYS_mprotect, anon_maps[0], anon, rw as usize),
        0,
    );
    for &m in &anon_maps[1..3] {
        // SAFETY: writing into our own read-write mapping.
        unsafe { std::ptr::write_volatile(m as *mut u8, 1) };
        t.ok(
            MADVISE,
            sys3(libc::SYS_madvise, m, anon, libc::MADV_DONTNEED as usize),
            0,
        );
    }
    t.end_phase("change");

    // Phase 3: unmap everything phase 1 mapped.
    t.begin_phase();
    for (i, &m) in anon_maps.iter().enumerate() {
        let len = if i == last { 2 * anon } else { anon };
        t.ok(MUNMAP, sys3(libc::SYS_munmap, m, len, 0), -(len as i64));
    }
    for &m in &file_maps {
        t.ok(MUNMAP, sys3(libc::SYS_munmap, m, half, 0), -(half as i64));
    }
    t.ok(SHMDT, sys3(libc::SYS_shmdt, seg, 0, 0), -(shm_bytes as i64));
    t.ok(
        SHMCTL,
        sys3(libc::SYS_shmctl, id as usize, libc::IPC_RMID as usize, 0),
        0,
    );
    let b2 = sys3(libc::SYS_brk, b0, 0, 0);
    t.ok(BRK, b2, -(brk_bytes as i64));
    if b2 as usize != b0 {
        t.surprise(BRK, b0 as i64, b2);
    }
    t.end_phase("unmap");

    // Phase 4: calls the kernel refuses, each for a known reason. The
    // first anonymous mapping's range is unmapped now.
    t.begin_phase();
    let gone = anon_maps[0];
    t.fails(MMAP, mmap(0, 0, rw, anon_flags, -1, 0), libc::EINVAL);
    t.fails(MMAP, mmap(0, 1 << 62, rw, anon_flags, -1, 0), libc::ENOMEM);
    t.fails(
        MMAP,
        mmap(0, page, libc::PROT_READ, libc::MAP_PRIVATE, -1, 0),
        libc::EBADF,
    );
    t.fails(
        MUNMAP,
        sys3(libc::SYS_munmap, gone + 1, page, 0),
        libc::EINVAL,
    );
    t.fails(
        MPROTECT,
        sys3(libc::SYS_mprotect, gone, page, libc::PROT_READ as usize),
        libc::ENOMEM,
    );
    t.fails(
        MADVISE,
        sys3(libc::SYS_madvise, gone, page, 9999),
        libc::EINVAL,
    );
    // SAFETY: mremap of an unmapped range only fails.
    let r =
        raw(unsafe { libc::mremap(gone as *mut _, page, 2 * page, libc::MREMAP_MAYMOVE) } as i64);
    t.fails(MREMAP, r, libc::EFAULT);
    t.fails(SHMAT, sys3(libc::SYS_shmat, usize::MAX, 0, 0), libc::EINVAL);
    t.fails(
        SHMCTL,
        sys3(libc::SYS_shmctl, usize::MAX, libc::IPC_RMID as usize, 0),
        libc::EINVAL,
    );
    t.end_phase("fail");
    let end = t.phases[t.nphases.min(MAX_PHASES) - 1].2;

    // The window is over: allocate freely.
    let report = MappingsTruth {
        pid: sys::pid(),
        page_size: page as u64,
        anon_bytes: anon as u64,
        file_path: file.to_string_lossy().into_owned(),
        file_bytes: file_len as u64,
        brk_bytes: brk_bytes as u64,
        shm_bytes: shm_bytes as u64,
        window_start_ns: start,
        window_end_ns: end,
        calls: CALLS
            .iter()
            .zip(t.counts.iter())
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect(),
        failures: t.failures[..t.nfail.min(FAILURES)]
            .iter()
            .map(|&(c, e)| Failure {
                call: CALLS[c].to_string(),
                errno: e,
                error: errno_name(e).to_string(),
            })
            .collect(),
        phases: t.phases[..t.nphases.min(MAX_PHASES)]
            .iter()
            .map(|&(name, start_ns, end_ns, d)| Phase {
                name: name.to_string(),
                start_ns,
                end_ns,
                vm_delta_bytes: d,
            })
            .collect(),
        unexpected: t.unexpected[..t.nunexpected.min(8)]
            .iter()
            .map(|&(c, want, got)| format!("{}: wanted {want}, got {got}", CALLS[c]))
            .chain((t.nunexpected > 8).then(|| format!("{} more", t.nunexpected - 8)))
            .chain(
                (t.nfail != FAILURES)
                    .then(|| format!("{} planned failures, {} seen", FAILURES, t.nfail)),
            )
            .collect(),
    };
    let ok = report.unexpected.is_empty();
    crate::worker::emit("calls-done", json!(report))?;
    drop(f);
    Ok(if ok { 0 } else { 1 })
}
