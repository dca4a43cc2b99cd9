//! procstat against /proc/PID/status of a process that grew and went to
//! sleep: what a user compares first. Its last few pages come right after
//! a sample, fewer than the kernel's per-CPU counters hold back, and then
//! it blocks; the recording must still show it as /proc does, and keep its
//! peak once it unmaps that memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Grows 48 MiB and naps: procstat checks it as it leaves the CPU for the
/// second, short nap, the interval having passed. Then it maps and touches
/// five pages more at once, says it is ready (its pid) and blocks on the
/// FIFO, well within the interval of that check; then unmaps it all and
/// blocks again before exiting.
const WORKLOAD: &str = r#"
import mmap, os, sys, time
ready, go = sys.argv[1], sys.argv[2]
big = mmap.mmap(-1, 48 << 20)
for i in range(0, 48 << 20, 4096):
    big[i] = 1
time.sleep(0.3)
time.sleep(0.02)
tail = mmap.mmap(-1, 5 * 4096)
for i in range(0, 5 * 4096, 4096):
    tail[i] = 1
with open(ready + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(ready + ".tmp", ready)
with open(go) as f:
    f.read()
big.close()
tail.close()
with open(ready + ".unmapped.tmp", "w") as f:
    f.write("1")
os.rename(ready + ".unmapped.tmp", ready + ".unmapped")
with open(go) as f:
    f.read()
"#;

/// /proc/PID/status fields in bytes, by name (the kB ones).
fn status(pid: u32) -> std::collections::BTreeMap<String, i128> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb = v.trim().strip_suffix(" kB")?.trim().parse::<i128>().ok()?;
            Some((k.to_string(), kb * 1024))
        })
        .collect()
}

fn boottime_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) },
        0
    );
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

fn wait_for(path: &Path, deadline: Instant) {
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never came", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets the workload past one blocking read of the FIFO.
fn release(go: &Path) {
    std::fs::write(go, b"go\n").unwrap();
}

#[test]
fn root_procstat_shows_a_sleeping_process_as_proc_does() {
    if skip_unless_root("root_procstat_shows_a_sleeping_process_as_proc_does") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sleeper.parquet");
    let ready = dir.path().join("ready");
    let go = dir.path().join("go");
    let fifo = std::ffi::CString::new(go.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    let mut memrec = Command::new(bin("memrec"))
        .args(["record", "-o", out.to_str().unwrap(), "--no-progress"])
        .args(["--probes", "procstat", "--"])
        .args(["python3", "-c", WORKLOAD])
        .args([ready.to_str().unwrap(), go.to_str().unwrap()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let emulated = kernel::emulated().is_some();
    let deadline = Instant::now() + Duration::from_secs(if emulated { 600 } else { 120 });
    wait_for(&ready, deadline);
    let pid: u32 = std::fs::read_to_string(&ready).unwrap().parse().unwrap();

    // Asleep now: memrec sweeps every --interval (1 s); give it two.
    std::thread::sleep(Duration::from_secs(if emulated { 6 } else { 3 }));
    let asleep_ns = boottime_ns();
    let asleep = status(pid);
    release(&go);
    wait_for(&dir.path().join("ready.unmapped"), deadline);
    let unmapped = status(pid);
    release(&go);
    let st = memrec.wait().unwrap();
    assert!(st.success(), "memrec (the workload's status): {st}");

    let f = read(&out);
    let rows: Vec<Row> = f
        .table("procstat")
        .into_iter()
        .filter(|r| r["tgid"].int() == i128::from(pid))
        .collect();
    assert!(rows.len() >= 2, "{} procstat samples of {pid}", rows.len());
    let before: Vec<&Row> = rows
        .iter()
        .filter(|r| r["ts_ns"].int() <= asleep_ns)
        .collect();
    let last = before.last().expect("a sample before /proc was read");
    eprintln!(
        "last sample before /proc was read: reason {}, {:.3} s before",
        last["reason"].text(),
        (asleep_ns - last["ts_ns"].int()) as f64 / 1e9
    );
    // Each column is the kernel's own counter, summed over CPUs as /proc
    // sums it: equal, to the byte, while nothing changes.
    for (col, field) in [
        ("rss_anon", "RssAnon"),
        ("rss_file", "RssFile"),
        ("rss_shmem", "RssShmem"),
        ("swap", "VmSwap"),
        ("vsize", "VmSize"),
        ("data", "VmData"),
        ("stack", "VmStk"),
        ("pgtables", "VmPTE"),
    ] {
        assert_eq!(
            last[col].int(),
            asleep[field],
            "{col} of the last sample vs {field} of /proc/{pid}/status while asleep"
        );
    }
    // The peak: never below the kernel's VmHWM, then or after the unmap
    // (when the kernel's own mark may have dropped by its counters' error).
    let peak = rows.iter().map(|r| r["rss_peak"].int()).max().unwrap();
    let rss = asleep["RssAnon"] + asleep["RssFile"] + asleep["RssShmem"];
    assert!(
        peak >= asleep["VmHWM"] && peak >= rss,
        "max rss_peak {peak} vs VmHWM {} (RSS {rss}) while asleep",
        asleep["VmHWM"]
    );
    assert!(
        unmapped["VmRSS"] < asleep["VmRSS"] - (40 << 20),
        "the workload unmapped its memory: VmRSS {} then {}",
        asleep["VmRSS"],
        unmapped["VmRSS"]
    );
    let exit = rows.last().unwrap();
    assert_eq!(exit["reason"].text(), "exit", "the last sample is the exit");
    assert!(
        exit["rss_peak"].int() >= asleep["VmHWM"],
        "the exit sample's rss_peak {} vs VmHWM {} before the unmap (VmHWM {} after it)",
        exit["rss_peak"].int(),
        asleep["VmHWM"],
        unmapped["VmHWM"]
    );
}
