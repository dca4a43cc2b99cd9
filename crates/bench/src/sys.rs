//! Small system helpers: signals, load average, child resource usage, a
//! throw-away memory cgroup, and pacing.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::warn;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM/SIGHUP set a flag that [`stopping`] reads.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Dies with the parent: every helper process we fork calls this, so a
/// killed suite never leaves generators running.
pub fn die_with_parent() {
    // SAFETY: plain prctl(2).
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = [f64::NAN; 3];
    for (o, v) in out.iter_mut().zip(text.split_whitespace()) {
        *o = v.parse().unwrap_or(f64::NAN);
    }
    out
}

pub fn load_string() -> String {
    let l = loadavg();
    format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
}

/// What a finished child used, from wait4(2).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub user_s: f64,
    pub sys_s: f64,
    /// Peak resident set size, bytes.
    pub max_rss_bytes: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

fn tv_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// VmHWM of a live process, bytes: the peak RSS of its current program.
fn vm_hwm(pid: libc::pid_t) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Waits for a child with wait4(2), so its own CPU time comes back. Its peak
/// RSS is the last VmHWM seen while it ran: wait4's ru_maxrss also counts
/// the memory of the parent it was forked from (the kernel keeps the
/// pre-exec high-water mark), so it is only a fallback. Gives up (and kills
/// it) after `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Result<Usage> {
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    let mut hwm: Option<u64> = None;
    loop {
        if let Some(h) = vm_hwm(pid) {
            hwm = Some(hwm.map_or(h, |m| m.max(h)));
        }
        let mut status: libc::c_int = 0;
        // SAFETY: zeroed rusage is a valid value to be overwritten.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            let exited = libc::WIFEXITED(status);
            return Ok(Usage {
                user_s: tv_secs(ru.ru_utime),
                sys_s: tv_secs(ru.ru_stime),
                max_rss_bytes: hwm.unwrap_or((ru.ru_maxrss as u64) * 1024),
                exit_code: exited.then(|| libc::WEXITSTATUS(status)),
                signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
            });
        }
        if r < 0 {
            bail!("wait4({pid}): {}", std::io::Error::last_os_error());
        }
        if Instant::now() >= deadline {
            if killed {
                bail!("child {pid} did not exit even after SIGKILL");
            }
            warn!(pid, "child did not stop in time; killing it");
            signal(pid, libc::SIGKILL);
            killed = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (user, system) CPU seconds a live process has used so far, all threads,
/// from /proc/PID/stat.
pub fn proc_cpu(pid: u32) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime / hz, stime / hz))
}

pub fn signal(pid: libc::pid_t, sig: libc::c_int) {
    if pid > 0 {
        // SAFETY: plain kill(2) of a pid we started.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Sleeps until `t` (returns at once if it is past).
pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

pub const MEMCG_ROOT: &str = "/sys/fs/cgroup/memory";
/// Our memcgs are named `membench-<pid>-<what>`.
pub const MEMCG_PREFIX: &str = "membench-";

/// A cgroup-v1 memory cgroup, removed (with anything left in it) on drop.
#[derive(Debug)]
pub struct Memcg {
    path: PathBuf,
}

impl Memcg {
    pub fn create(what: &str, limit_bytes: u64) -> Result<Self> {
        if !Path::new(MEMCG_ROOT).join("memory.limit_in_bytes").exists() {
            bail!("no cgroup v1 memory controller at {MEMCG_ROOT}");
        }
        let path =
            Path::new(MEMCG_ROOT).join(format!("{MEMCG_PREFIX}{}-{what}", std::process::id()));
        if path.exists() {
            remove_memcg(&path)?;
        }
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        let cg = Memcg { path };
        std::fs::write(
            cg.path.join("memory.limit_in_bytes"),
            limit_bytes.to_string(),
        )
        .context("setting the memcg limit")?;
        Ok(cg)
    }

    /// Moves the calling process into the memcg.
    pub fn enter(&self) -> Result<()> {
        std::fs::write(
            self.path.join("cgroup.procs"),
            std::process::id().to_string(),
        )
        .with_context(|| format!("joining {}", self.path.display()))
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        if let Err(e) = remove_memcg(&self.path) {
            warn!("could not remove {}: {e:#}", self.path.display());
        }
    }
}

/// Kills what is left in a memcg and removes it, retrying for up to 10 s.
pub fn remove_memcg(path: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let procs = std::fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            signal(pid, libc::SIGKILL);
        }
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("rmdir {}", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A file of `bytes` bytes (not sparse: real blocks to read back), removed
/// on drop.
#[derive(Debug)]
pub struct ScratchFile {
    pub path: PathBuf,
}

impl ScratchFile {
    pub fn create(what: &str, bytes: u64) -> Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = PathBuf::from(format!(
            "/var/tmp/{MEMCG_PREFIX}{}-{what}.dat",
            std::process::id()
        ));
        let f = ScratchFile { path };
        // O_DIRECT: the data goes to disk without passing through the page
        // cache, so the first read of it is charged to the reader's memcg.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&f.path)
            .with_context(|| format!("creating {}", f.path.display()))?;
        let chunk = Mapping::anon(1 << 20, false)?;
        // SAFETY: the mapping is 1 MiB of our own memory, aligned to a page.
        let buf = unsafe { std::slice::from_raw_parts_mut(chunk.ptr, chunk.len) };
        for (i, b) in buf.iter_mut().enumerate() {
            *b = ((i as u32).wrapping_mul(2654435761) >> 24) as u8;
        }
        let mut left = bytes.div_ceil(1 << 20);
        while left > 0 {
            out.write_all(buf).context("writing the scratch file")?;
            left -= 1;
        }
        out.sync_all().context("syncing the scratch file")?;
        drop_cache(&out);
        Ok(f)
    }
}

/// Drops a file's clean pages from the page cache.
pub fn drop_cache(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: advice on an open fd.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// Turns readahead off (POSIX_FADV_RANDOM): the page cache then fills
/// with single pages rather than large folios, so a memcg reclaims often
/// and in small steps, as under real random-access pressure.
pub fn no_readahead(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: advice on an open fd.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Paces a loop to `rate` operations per second: `due()` says how many
/// operations should have been done by now (capped so a stall does not
/// become a burst bigger than 50 ms of work).
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    rate: f64,
    pub done: u64,
}

impl Pacer {
    pub fn new(rate: f64) -> Self {
        Pacer {
            start: Instant::now(),
            rate,
            done: 0,
        }
    }

    /// Operations to do now (0: sleep a little).
    pub fn due(&mut self) -> u64 {
        let target = (self.start.elapsed().as_secs_f64() * self.rate) as u64;
        let backlog_cap = (self.rate * 0.05).max(1.0) as u64;
        if target > self.done + backlog_cap {
            // Behind: drop the backlog beyond the cap (achieved rate shows it).
            self.done = target - backlog_cap;
        }
        target.saturating_sub(self.done)
    }

    /// Sleeps until the next operation is due, at most `max`.
    pub fn wait(&self, max: Duration) {
        if self.rate <= 0.0 {
            std::thread::sleep(max);
            return;
        }
        let next = Duration::from_secs_f64((self.done + 1) as f64 / self.rate);
        let at = self.start + next;
        sleep_until(at.min(Instant::now() + max));
    }
}

/// Pins the calling process to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity
    // only touch this set.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r != 0 {
        bail!("pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Page size in bytes.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as usize
    } else {
        4096
    }
}

/// An anonymous private mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Mapping {
    pub fn anon(len: usize, huge: bool) -> Result<Self> {
        // SAFETY: a fresh anonymous mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!("mmap {len} bytes: {}", std::io::Error::last_os_error());
        }
        if !huge {
            // SAFETY: advice on the mapping we just made.
            unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
        }
        Ok(Mapping {
            ptr: p as *mut u8,
            len,
        })
    }

    /// Writes one byte per page: one page fault per page on a fresh mapping.
    pub fn touch(&self, page: usize) {
        let mut off = 0;
        while off < self.len {
            // SAFETY: within the mapping.
            unsafe { std::ptr::write_volatile(self.ptr.add(off), 1) };
            off += page;
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}
