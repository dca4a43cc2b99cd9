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
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Pagefault { .. } => "pagefault",
            Workload::Reclaim { .. } => "memcg-reclaim",
            Workload::Mixed { .. } => "stress-ng-vm",
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
    }
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
