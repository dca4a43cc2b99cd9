//! Parent side of a worker: spawn into a cgroup, watch, sample, reap.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::procfs::{self, ProcStatus};
use crate::sys::{self, Stamp};

/// A line the worker printed (see `worker.rs` for the protocol).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerEvent {
    pub name: String,
    pub boottime_ns: u64,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// One read of /proc/PID/status of a worker.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSample {
    pub pid: i32,
    /// When the read began (CLOCK_BOOTTIME).
    pub boottime_ns: u64,
    pub realtime_ns: u64,
    /// When the read returned: the values are of some moment between the
    /// two stamps (memscen can be preempted in between).
    pub read_done_boottime_ns: u64,
    #[serde(flatten)]
    pub status: ProcStatus,
}

/// What happened to one worker process.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerTruth {
    pub pid: i32,
    /// The comm the worker gave itself (find it in a recording by this).
    pub comm: String,
    pub args: Vec<String>,
    /// Memory cgroup the worker ran in (absolute path), if any.
    pub cgroup: Option<String>,
    pub spawned: Stamp,
    /// When memscen saw it exit (polled every 10 ms).
    pub exited: Option<Stamp>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub signal_name: Option<String>,
    /// memscen killed it because it overran its time budget.
    pub timed_out: bool,
    pub events: Vec<WorkerEvent>,
}

pub struct Worker {
    child: Child,
    pub pid: i32,
    stdin: Option<ChildStdin>,
    events_rx: Receiver<WorkerEvent>,
    sample_every: Duration,
    next_sample: Instant,
    pub samples: Vec<StatusSample>,
    pub truth: WorkerTruth,
    exit: Option<ExitStatus>,
}

pub enum Waited {
    /// The named event arrived (the worker may be holding for us).
    Event,
    /// The worker is gone (also after a timeout kill).
    Exited,
}

const TICK: Duration = Duration::from_millis(10);

impl Worker {
    /// Re-executes this binary as `memscen worker <args>`. With `cgroup`,
    /// the child writes its pid to the cgroup's `cgroup.procs` between fork
    /// and exec, so nothing it allocates is charged elsewhere.
    pub fn spawn(
        args: &[String],
        comm: &str,
        cgroup: Option<&crate::cgroup::MemCgroup>,
        sample_every: Duration,
    ) -> Result<Self> {
        let exe = std::env::current_exe().context("locating the memscen binary")?;
        Self::spawn_program(&exe, &["worker"], args, comm, cgroup, sample_every)
    }

    /// Runs `exe` with `pre` and `args` as a worker (the same protocol and
    /// care as [`Worker::spawn`]); the truth lists `args`.
    pub fn spawn_program(
        exe: &std::path::Path,
        pre: &[&str],
        args: &[String],
        comm: &str,
        cgroup: Option<&crate::cgroup::MemCgroup>,
        sample_every: Duration,
    ) -> Result<Self> {
        let procs = cgroup
            .map(|c| CString::new(c.procs_file().as_os_str().as_bytes()))
            .transpose()
            .context("cgroup path")?;
        let parent = sys::pid();
        let mut cmd = Command::new(exe);
        cmd.args(pre)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the closure only makes async-signal-safe syscalls and
        // allocates nothing (the path and buffers were prepared before fork).
        unsafe {
            cmd.pre_exec(move || {
                // Own process group: a terminal ^C goes to memscen, which
                // then cleans up in order, instead of to the worker directly.
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // If memscen dies without cleaning up, the worker dies too.
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                if let Some(procs) = &procs {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let mut buf = [0u8; 16];
                    let n = format_pid(libc::getpid(), &mut buf);
                    let rc = libc::write(fd, buf.as_ptr().cast(), n);
                    let err = std::io::Error::last_os_error();
                    libc::close(fd);
                    if rc < 0 {
                        return Err(err);
                    }
                }
                Ok(())
            });
        }
        let spawned = Stamp::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning worker {} {}", exe.display(), args.join(" ")))?;
        let pid = child.id() as i32;
        let stdout = child.stdout.take().context("worker stdout")?;
        let stdin = child.stdin.take();
        let (tx, events_rx) = mpsc::channel();
        let reader_comm = comm.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<WorkerEvent>(&line) {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => debug!(comm = %reader_comm, "worker said: {line}"),
                }
            }
        });
        info!(pid, comm, "worker started: {}", args.join(" "));
        let now = Instant::now();
        Ok(Worker {
            child,
            pid,
            stdin,
            events_rx,
            sample_every,
            next_sample: now,
            samples: Vec::new(),
            truth: WorkerTruth {
                pid,
                comm: comm.to_string(),
                args: args.to_vec(),
                cgroup: cgroup.map(|c| c.path_string()),
                spawned,
                exited: None,
                exit_code: None,
                signal: None,
                signal_name: None,
                timed_out: false,
                events: Vec::new(),
            },
            exit: None,
        })
    }

    /// Re-anchors the sampling grid: next sample now, then every interval.
    pub fn resample_from_now(&mut self) {
        self.next_sample = Instant::now();
    }

    /// Reads /proc/PID/status now (skipped once the worker is a zombie).
    pub fn sample_now(&mut self) {
        if self.exit.is_some() {
            return;
        }
        let stamp = Stamp::now();
        let read = procfs::read_status(self.pid);
        let done = Stamp::now();
        match read {
            Ok(status) if status.vm_rss_kb.is_some() => self.samples.push(StatusSample {
                pid: self.pid,
                boottime_ns: stamp.boottime_ns,
                realtime_ns: stamp.realtime_ns,
                read_done_boottime_ns: done.boottime_ns,
                status,
            }),
            Ok(_) => {}
            Err(e) => debug!(pid = self.pid, "status sample failed: {e:#}"),
        }
    }

    fn record_exit(&mut self, status: ExitStatus) {
        self.truth.exited = Some(Stamp::now());
        self.truth.exit_code = status.code();
        self.truth.signal = status.signal();
        self.truth.signal_name = status.signal().map(sys::signal_name);
        self.exit = Some(status);
        info!(
            pid = self.pid,
            comm = %self.truth.comm,
            code = ?status.code(),
            signal = ?status.signal().map(sys::signal_name),
            "worker exited"
        );
    }

    /// Waits until the worker prints event `want` (if given) or exits, killing
    /// it at `deadline`. Samples /proc/PID/status on the way.
    pub fn wait_for(&mut self, want: Option<&str>, deadline: Instant) -> Result<Waited> {
        loop {
            if self.exit.is_some() {
                self.drain_events();
                return Ok(Waited::Exited);
            }
            sys::check_interrupted()?;
            let now = Instant::now();
            if now >= self.next_sample {
                self.sample_now();
                // Stay on the grid (t0 + k*interval) so samples are evenly spaced.
                while self.next_sample <= now {
                    self.next_sample += self.sample_every;
                }
            }
            match self.events_rx.recv_timeout(TICK) {
                Ok(ev) => {
                    debug!(pid = self.pid, event = %ev.name, "worker event");
                    let hit = want == Some(ev.name.as_str());
                    self.truth.events.push(ev);
                    if hit {
                        return Ok(Waited::Event);
                    }
                }
                Err(e) => {
                    if let Some(status) = self.child.try_wait().context("waiting for the worker")? {
                        self.record_exit(status);
                        continue;
                    }
                    // A closed pipe with a live child: keep polling without spinning.
                    if e == RecvTimeoutError::Disconnected {
                        std::thread::sleep(TICK);
                    }
                }
            }
            if Instant::now() >= deadline {
                warn!(pid = self.pid, comm = %self.truth.comm, "worker overran its time budget; killing it");
                self.truth.timed_out = true;
                self.kill_and_reap();
            }
        }
    }

    /// After exit the reader thread may still hold a few lines: collect them.
    fn drain_events(&mut self) {
        let until = Instant::now() + Duration::from_millis(500);
        loop {
            match self.events_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(ev) => self.truth.events.push(ev),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) if Instant::now() >= until => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Lets a holding worker go on.
    pub fn resume(&mut self) -> Result<()> {
        if let Some(stdin) = self.stdin.as_mut() {
            // EPIPE just means it is already gone; the exit status will tell.
            if let Err(e) = stdin.write_all(b"go\n").and_then(|()| stdin.flush()) {
                debug!(pid = self.pid, "resume: {e}");
            }
        }
        Ok(())
    }

    /// Resumes the worker and waits for its exit.
    pub fn finish(&mut self, deadline: Instant) -> Result<()> {
        self.resume()?;
        self.stdin = None;
        match self.wait_for(None, deadline)? {
            Waited::Exited => Ok(()),
            Waited::Event => bail!("unreachable: waited for no event"),
        }
    }

    fn kill_and_reap(&mut self) {
        if self.exit.is_some() {
            return;
        }
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.record_exit(status);
                    return;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(TICK),
                Ok(None) => {
                    warn!(pid = self.pid, "worker did not die within 10 s of SIGKILL");
                    return;
                }
                Err(e) => {
                    warn!(pid = self.pid, "waiting for the killed worker: {e}");
                    return;
                }
            }
        }
    }

    /// The most recent event of that name, if any.
    pub fn event(&self, name: &str) -> Option<&WorkerEvent> {
        self.truth.events.iter().rev().find(|e| e.name == name)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.exit.is_none() {
            warn!(pid = self.pid, comm = %self.truth.comm, "killing the worker during cleanup");
            self.kill_and_reap();
        }
    }
}

/// Decimal pid into `buf` without allocating (runs between fork and exec).
fn format_pid(pid: libc::pid_t, buf: &mut [u8; 16]) -> usize {
    let mut tmp = [0u8; 16];
    let mut n = 0;
    let mut v = pid.unsigned_abs();
    loop {
        tmp[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 || n == tmp.len() {
            break;
        }
    }
    for (dst, src) in buf.iter_mut().zip(tmp[..n].iter().rev()) {
        *dst = *src;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_format() {
        let mut buf = [0u8; 16];
        let n = format_pid(4_194_304, &mut buf);
        assert_eq!(&buf[..n], b"4194304");
        let n = format_pid(7, &mut buf);
        assert_eq!(&buf[..n], b"7");
    }
}
