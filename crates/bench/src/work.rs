//! `membench work`: fixed amounts of work whose wall time is the overhead
//! measure (the same work with and without a tracer attached).

use std::io::Read;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::sys::{self, Mapping, Memcg, ScratchFile};

#[derive(Debug, Clone, clap::Subcommand, Serialize)]
pub enum Workload {
    /// Page-fault microbenchmark: map, touch every 4 KiB page, unmap.
    Pagefault {
        /// Mapping size per round, MiB.
        #[arg(long, default_value_t = 256)]
        mib: usize,
        /// Rounds.
        #[arg(long, default_value_t = 8)]
        rounds: usize,
    },
    /// memcg reclaim: read a file several times its memcg's limit.
    Reclaim {
        /// memcg limit, MiB.
        #[arg(long, default_value_t = 32)]
        limit_mib: u64,
        /// File size, MiB.
        #[arg(long, default_value_t = 128)]
        file_mib: u64,
        /// Times the file is read.
        #[arg(long, default_value_t = 4)]
        passes: u32,
    },
    /// Mixed: `stress-ng --vm` for a fixed time; reports seconds per 1000
    /// bogo operations.
    Mixed {
        /// stress-ng --vm workers.
        #[arg(long, default_value_t = 2)]
        workers: u32,
        /// --vm-bytes per worker, MiB.
        #[arg(long, default_value_t = 64)]
        mib: u32,
        /// --timeout, seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
    },
    /// malloc-heavy: malloc+free pairs of mixed sizes through libc (16 B to
    /// 32 KiB, below glibc's mmap threshold), each block written once, a
    /// window of 256 live blocks, and one block in `--leak-every` never
    /// freed.
    Malloc {
        /// malloc calls (each freed later unless leaked).
        #[arg(long, default_value_t = 500_000)]
        pairs: u64,
        /// One allocation in this many is leaked (0: none).
        #[arg(long, default_value_t = 1000)]
        leak_every: u64,
        /// Before the timed loop, wait for a byte (or end of file) on
        /// stdin, so that a tracer can attach to this process by its pid.
        #[arg(long)]
        wait_stdin: bool,
    },
    /// kmalloc-heavy from user space: a system call pair that makes and
    /// frees kernel objects, `--ops` times.
    Kmalloc {
        /// Operations (one `--op` each).
        #[arg(long, default_value_t = 200_000)]
        ops: u64,
        /// What one operation is.
        #[arg(long, value_enum, default_value_t = KernelOp::Pipe)]
        op: KernelOp,
        /// Before the timed loop, wait for a byte (or end of file) on stdin.
        #[arg(long)]
        wait_stdin: bool,
    },
}

/// One operation of the kmalloc workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelOp {
    /// pipe2 + close of both ends: the pipe's inode, its buffer array, two
    /// files and their dentry.
    Pipe,
    /// eventfd + close: the eventfd context and a file.
    Eventfd,
    /// A 64-byte datagram sent and received on a socketpair: an skb head
    /// and its data.
    Dgram,
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Pagefault { .. } => "pagefault",
            Workload::Reclaim { .. } => "memcg-reclaim",
            Workload::Mixed { .. } => "stress-ng-vm",
            Workload::Malloc { .. } => "malloc",
            Workload::Kmalloc { .. } => "kmalloc",
        }
    }

    /// Arguments to run it as `membench work ...`.
    pub fn args(&self) -> Vec<String> {
        match self {
            Workload::Pagefault { mib, rounds } => {
                vec![
                    "pagefault".into(),
                    format!("--mib={mib}"),
                    format!("--rounds={rounds}"),
                ]
            }
            Workload::Reclaim {
                limit_mib,
                file_mib,
                passes,
            } => vec![
                "reclaim".into(),
                format!("--limit-mib={limit_mib}"),
                format!("--file-mib={file_mib}"),
                format!("--passes={passes}"),
            ],
            Workload::Mixed {
                workers,
                mib,
                seconds,
            } => vec![
                "mixed".into(),
                format!("--workers={workers}"),
                format!("--mib={mib}"),
                format!("--seconds={seconds}"),
            ],
            Workload::Malloc {
                pairs,
                leak_every,
                wait_stdin,
            } => {
                let mut a = vec![
                    "malloc".into(),
                    format!("--pairs={pairs}"),
                    format!("--leak-every={leak_every}"),
                ];
                if *wait_stdin {
                    a.push("--wait-stdin".into());
                }
                a
            }
            Workload::Kmalloc {
                ops,
                op,
                wait_stdin,
            } => {
                let mut a = vec![
                    "kmalloc".into(),
                    format!("--ops={ops}"),
                    format!("--op={}", op.name()),
                ];
                if *wait_stdin {
                    a.push("--wait-stdin".into());
                }
                a
            }
        }
    }
}

impl KernelOp {
    pub fn name(self) -> &'static str {
        match self {
            KernelOp::Pipe => "pipe",
            KernelOp::Eventfd => "eventfd",
            KernelOp::Dgram => "dgram",
        }
    }
}

/// One timed run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WorkResult {
    pub workload: String,
    /// Wall time of the timed part.
    pub seconds: f64,
    /// What was done: page faults, bytes read, bogo ops.
    pub ops: u64,
    /// CPU time (user + system) of the same work, in the same unit as
    /// `seconds`: unlike wall time it leaves out the time other processes
    /// held the CPU, which dominates on a busy 2-CPU machine; BPF programs
    /// run in the traced task and count in its system time. For the
    /// memcg-reclaim work it is its reading child's.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Workload-specific counts (malloc: calls, frees, leaked blocks and
    /// bytes, calls/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// User + system CPU seconds of the calling thread so far.
fn thread_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

pub fn run(w: &Workload) -> Result<WorkResult> {
    match *w {
        Workload::Pagefault { mib, rounds } => pagefault(mib, rounds),
        Workload::Reclaim {
            limit_mib,
            file_mib,
            passes,
        } => reclaim(limit_mib, file_mib, passes),
        Workload::Mixed {
            workers,
            mib,
            seconds,
        } => mixed(workers, mib, seconds),
        Workload::Malloc {
            pairs,
            leak_every,
            wait_stdin,
        } => malloc(pairs, leak_every, wait_stdin),
        Workload::Kmalloc {
            ops,
            op,
            wait_stdin,
        } => kmalloc(ops, op, wait_stdin),
    }
}

/// Blocks until stdin has a byte or is closed: the suite starts a tracer
/// on this pid in between.
fn wait_for_go() -> Result<()> {
    let mut b = [0u8; 1];
    std::io::stdin()
        .read(&mut b)
        .context("waiting for the go byte on stdin")?;
    Ok(())
}

/// xorshift64: sizes that are mixed but the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// 60 % 16–256 B, 35 % 257 B–4 KiB, 5 % 4–32 KiB (mean about 1.8 KiB):
    /// all below glibc's mmap threshold, so every call stays in the heap.
    fn size(&mut self) -> usize {
        let r = self.next();
        let (lo, hi): (u64, u64) = match r % 100 {
            0..=59 => (16, 256),
            60..=94 => (257, 4096),
            _ => (4097, 32768),
        };
        (lo + (r >> 8) % (hi - lo + 1)) as usize
    }
}

/// Live blocks at a time: freeing in allocation order through a window
/// makes the allocator reuse and split chunks as real programs do.
const WINDOW: usize = 256;

/// `count` malloc calls through libc (the tracers' uprobes are on libc's
/// malloc and free, so not the Rust allocator's own paths). Returns
/// (frees, leaked blocks, leaked bytes).
fn malloc_loop(rng: &mut Rng, count: u64, leak_every: u64) -> (u64, u64, u64) {
    let mut live: [(*mut libc::c_void, bool); WINDOW] = [(std::ptr::null_mut(), false); WINDOW];
    let (mut frees, mut leaked, mut leaked_bytes) = (0u64, 0u64, 0u64);
    for i in 0..count {
        let slot = &mut live[(i % WINDOW as u64) as usize];
        if !slot.0.is_null() && !slot.1 {
            // SAFETY: a block from malloc below, freed once.
            unsafe { libc::free(slot.0) };
            frees += 1;
        }
        let size = rng.size();
        // SAFETY: plain malloc; null is checked.
        let p = unsafe { libc::malloc(size) };
        if !p.is_null() {
            // SAFETY: p points to `size` writable bytes.
            unsafe { std::ptr::write_bytes(p.cast::<u8>(), i as u8, size) };
        }
        let leak = leak_every > 0 && i % leak_every == leak_every - 1 && !p.is_null();
        if leak {
            leaked += 1;
            leaked_bytes += size as u64;
        }
        *slot = (p, leak);
    }
    for (p, leak) in live {
        if !p.is_null() && !leak {
            // SAFETY: still-live blocks of this loop, freed once.
            unsafe { libc::free(p) };
            frees += 1;
        }
    }
    (frees, leaked, leaked_bytes)
}

fn malloc(pairs: u64, leak_every: u64, wait_stdin: bool) -> Result<WorkResult> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Warm the heap up to its working size first, nothing leaked.
    malloc_loop(&mut rng, 10_000, 0);
    if wait_stdin {
        wait_for_go()?;
    }
    let t = Instant::now();
    let cpu = thread_cpu();
    let (frees, leaked, leaked_bytes) = malloc_loop(&mut rng, pairs, leak_every);
    let seconds = t.elapsed().as_secs_f64();
    Ok(WorkResult {
        workload: "malloc".into(),
        seconds,
        ops: pairs,
        cpu_seconds: Some(thread_cpu() - cpu),
        detail: Some(serde_json::json!({
            "mallocs": pairs,
            "frees": frees,
            "leaked": leaked,
            "leaked_bytes": leaked_bytes,
            "calls_per_s": (pairs + frees) as f64 / seconds,
        })),
    })
}

fn check(r: libc::c_int, what: &str) -> Result<libc::c_int> {
    if r < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(r)
}

fn kmalloc(ops: u64, op: KernelOp, wait_stdin: bool) -> Result<WorkResult> {
    let mut pair = [-1; 2];
    if op == KernelOp::Dgram {
        // SAFETY: socketpair fills two fds.
        check(
            unsafe {
                libc::socketpair(
                    libc::AF_UNIX,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                    0,
                    pair.as_mut_ptr(),
                )
            },
            "socketpair",
        )?;
    }
    let one = |op: KernelOp| -> Result<()> {
        match op {
            KernelOp::Pipe => {
                let mut fds = [-1; 2];
                // SAFETY: pipe2 fills two fds, closed right after.
                check(
                    unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
                    "pipe2",
                )?;
                // SAFETY: our own fds.
                unsafe {
                    libc::close(fds[0]);
                    libc::close(fds[1]);
                }
            }
            KernelOp::Eventfd => {
                // SAFETY: plain eventfd, closed right after.
                let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }, "eventfd")?;
                // SAFETY: our own fd.
                unsafe { libc::close(fd) };
            }
            KernelOp::Dgram => {
                let buf = [7u8; 64];
                let mut back = [0u8; 64];
                // SAFETY: send and receive 64 bytes on our socketpair.
                unsafe {
                    if libc::send(pair[0], buf.as_ptr().cast(), buf.len(), 0) < 0
                        || libc::recv(pair[1], back.as_mut_ptr().cast(), back.len(), 0) < 0
                    {
                        bail!("socketpair send/recv: {}", std::io::Error::last_os_error());
                    }
                }
            }
        }
        Ok(())
    };
    for _ in 0..1000 {
        one(op)?;
    }
    if wait_stdin {
        wait_for_go()?;
    }
    let t = Instant::now();
    let cpu = thread_cpu();
    for _ in 0..ops {
        one(op)?;
    }
    let seconds = t.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu() - cpu;
    for fd in pair.into_iter().filter(|fd| *fd >= 0) {
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
    }
    Ok(WorkResult {
        workload: "kmalloc".into(),
        seconds,
        ops,
        cpu_seconds: Some(cpu_seconds),
        detail: Some(serde_json::json!({
            "op": op.name(),
            "ops_per_s": ops as f64 / seconds,
        })),
    })
}

fn pagefault(mib: usize, rounds: usize) -> Result<WorkResult> {
    let page = sys::page_size();
    let len = mib << 20;
    let t = Instant::now();
    let cpu = thread_cpu();
    for _ in 0..rounds {
        let m = Mapping::anon(len, false)?;
        m.touch(page);
    }
    Ok(WorkResult {
        workload: "pagefault".into(),
        seconds: t.elapsed().as_secs_f64(),
        ops: (rounds * len / page) as u64,
        cpu_seconds: Some(thread_cpu() - cpu),
        detail: None,
    })
}

fn reclaim(limit_mib: u64, file_mib: u64, passes: u32) -> Result<WorkResult> {
    let file = ScratchFile::create("work", file_mib << 20)?;
    let memcg = Memcg::create("work", limit_mib << 20)?;
    let t = Instant::now();
    // SAFETY: single-threaded here; the child only reads a file and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        sys::die_with_parent();
        let r = (|| -> Result<()> {
            memcg.enter()?;
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..passes {
                let mut f = std::fs::File::open(&file.path)?;
                sys::no_readahead(&f);
                while f.read(&mut buf)? > 0 {}
            }
            Ok(())
        })();
        // SAFETY: leave without the parent's destructors (memcg, file).
        unsafe { libc::_exit(if r.is_ok() { 0 } else { 1 }) };
    }
    let mut st = 0;
    // SAFETY: zeroed rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for the child we just forked.
    unsafe { libc::wait4(pid, &mut st, 0, &mut ru) };
    let seconds = t.elapsed().as_secs_f64();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
        bail!("the reclaim reader failed (status {st})");
    }
    drop(memcg);
    Ok(WorkResult {
        workload: "memcg-reclaim".into(),
        seconds,
        ops: (file_mib << 20) * passes as u64,
        cpu_seconds: Some(tv(ru.ru_utime) + tv(ru.ru_stime)),
        detail: None,
    })
}

/// `stress-ng --vm` for a fixed time; the result is the time it takes per
/// 1000 bogo operations (from stress-ng's own real-time rate), so that a
/// slower run is a longer time like the other workloads.
fn mixed(workers: u32, mib: u32, seconds: u32) -> Result<WorkResult> {
    let out = Command::new("stress-ng")
        .args([
            "--vm".to_string(),
            workers.to_string(),
            "--vm-bytes".into(),
            format!("{mib}M"),
            "--timeout".into(),
            format!("{seconds}s"),
            "--metrics-brief".into(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running stress-ng (apt-get install stress-ng)")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("stress-ng failed ({}): {text}", out.status);
    }
    let m = parse_metrics(&text).with_context(|| format!("no vm metrics in: {text}"))?;
    Ok(WorkResult {
        workload: "stress-ng-vm".into(),
        seconds: 1000.0 * m.real / m.ops as f64,
        ops: m.ops,
        cpu_seconds: Some(1000.0 * m.cpu / m.ops as f64),
        detail: None,
    })
}

/// The `vm` line of `--metrics-brief`.
#[derive(Debug, PartialEq)]
struct Metrics {
    ops: u64,
    /// Real seconds.
    real: f64,
    /// User + system seconds of the workers.
    cpu: f64,
}

fn parse_metrics(text: &str) -> Option<Metrics> {
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = t.iter().position(|w| *w == "vm") else {
            continue;
        };
        let num = |k: usize| t.get(i + k).and_then(|w| w.parse::<f64>().ok());
        let (Some(ops), Some(real)) = (t.get(i + 1).and_then(|w| w.parse::<u64>().ok()), num(2))
        else {
            continue;
        };
        if ops > 0 && real > 0.0 {
            return Some(Metrics {
                ops,
                real,
                cpu: num(3).unwrap_or(f64::NAN) + num(4).unwrap_or(f64::NAN),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_ng_metrics_parse() {
        let text = "stress-ng: metrc: [11706] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s\n\
                    stress-ng: metrc: [11706] vm                  600      1.18      0.05      0.38       508.21        1410.65\n";
        assert_eq!(
            parse_metrics(text),
            Some(Metrics {
                ops: 600,
                real: 1.18,
                cpu: 0.05 + 0.38
            })
        );
        assert_eq!(parse_metrics("nothing"), None);
    }
}
