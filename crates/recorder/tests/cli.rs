//! memrec as a user runs it: refusals, signals, and the file it leaves.
//! Tests that load BPF need root; without it they say so and pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parquet::file::reader::{FileReader, SerializedFileReader};

const MEMREC: &str = env!("CARGO_BIN_EXE_memrec");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn skip_unless_root(name: &str) -> bool {
    memtrace_cli::testing::skip_unless_root(name, "loads BPF programs")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(MEMREC).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `memrec record -o OUT --no-progress ARGS...` to the end.
fn record(out: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["record", "-o", out.to_str().unwrap(), "--no-progress"];
    all.extend_from_slice(args);
    run(&all)
}

fn meta_json(path: &Path) -> serde_json::Value {
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let (_, meta) = memtrace_schema::FileMeta::from_parquet(r.metadata().file_metadata()).unwrap();
    serde_json::to_value(meta).unwrap()
}

#[test]
fn unknown_probe_group_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.parquet");
    let (code, _, err) = run(&[
        "record",
        "-o",
        out.to_str().unwrap(),
        "--probes",
        "pr,bogus",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown probe group `bogus`"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!out.exists());
}

#[test]
fn existing_output_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.parquet");
    std::fs::write(&out, b"precious").unwrap();
    let (code, _, err) = run(&["record", "-o", out.to_str().unwrap(), "--duration", "1s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists; pass --force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}

#[test]
fn unwritable_output_is_refused() {
    let (code, _, err) = run(&[
        "record",
        "-o",
        "/nonexistent-dir/x.parquet",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot write /nonexistent-dir/x.parquet"),
        "{err}"
    );
    assert!(
        err.contains("directory /nonexistent-dir does not exist"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // An I/O error said once, not once per layer of context.
    let (code, _, err) = run(&["record", "-o", "/proc/self/x.parquet", "--duration", "1s"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("memrec: cannot write /proc/self/x.parquet: "),
        "{err}"
    );
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
}

#[test]
fn bad_arguments_are_refused() {
    let (code, _, err) = run(&["record", "-o", "x.parquet", "--duration", "ten"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&[
        "record",
        "-o",
        "x.parquet",
        "--comm",
        "a-name-longer-than-15",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("1 to 15 bytes"), "{err}");
}

#[test]
fn durations_too_large_are_one_line_errors() {
    for d in ["99999999999999999999h", "2562048h", "300years"] {
        let (code, _, err) = run(&["record", "-o", "x.parquet", "--duration", d]);
        assert_eq!(code, 2, "{d}: {err}");
        assert!(err.contains("too large"), "{d}: {err}");
        assert!(!err.contains("panicked"), "{d}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    for flag in ["--interval", "--procstat-interval", "--snapshot-gap"] {
        let (code, _, err) = run(&["record", "-o", "x.parquet", flag, "99999999999999999999h"]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(err.contains("too large"), "{flag}: {err}");
    }
}

#[test]
fn clap_errors_are_one_line_with_the_prefix() {
    for args in [
        &["record", "--no-such-flag"][..],
        &["record"][..],
        &["record", "-o", "x.parquet", "--zstd-level", "99"][..],
        &["frobnicate"][..],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("memrec: error: "), "{args:?}: {err}");
    }
}

#[test]
fn a_directory_at_the_output_is_called_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for force in [&[][..], &["--force"][..]] {
        let mut args = vec!["record", "-o", d, "--duration", "1s"];
        args.extend_from_slice(force);
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("{d} is a directory")), "{err}");
        assert!(!err.contains("--force to"), "{err}");
    }
}

#[test]
fn a_trailing_slash_is_refused_before_recording() {
    let dir = tempfile::tempdir().unwrap();
    let out = format!("{}/newdir/", dir.path().display());
    let (code, _, err) = run(&["record", "-o", &out, "--duration", "1s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ends in '/'"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn non_regular_outputs_are_refused_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dangling = dir.path().join("dangling");
    let nowhere = dir.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    for (p, what) in [
        (&fifo, "is a FIFO"),
        (&link, "is a symbolic link"),
        (&dangling, "is a symbolic link"),
    ] {
        let (code, _, err) = run(&[
            "record",
            "-o",
            p.to_str().unwrap(),
            "--force",
            "--duration",
            "1s",
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(what), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(!nowhere.exists());
    assert_eq!(std::fs::read_link(&dangling).unwrap(), nowhere);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

#[test]
fn a_cgroup_outside_the_memory_hierarchy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let climb = format!("../../../../../../../..{}", x.display());
    let (code, _, err) = run(&[
        "record",
        "-o",
        dir.path().join("r.parquet").to_str().unwrap(),
        "--cgroup",
        &climb,
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 2, "{err}");
    // Without a memory controller there is nothing to filter by either.
    assert!(
        err.contains("outside the memory controller's hierarchy")
            || err.contains("needs the memory cgroup controller"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.path().join("r.parquet").exists());
}

#[test]
fn a_full_stdout_is_named() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(MEMREC)
        .args(["probes"])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("memrec: writing the probe list to stdout: No space left on device"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("memrec:")).count(),
        1,
        "{err}"
    );
}

#[test]
fn fault_stacks_without_the_faults_group_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.parquet");
    let (code, _, err) = record(&out, &["--fault-stacks", "10"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--probes +faults"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!out.exists());
    let (code, _, err) = record(&out, &["--probes", "+faults", "--fault-stacks", "0"]);
    assert_eq!(code, 2, "N = 0 is refused: {err}");
}

#[test]
fn probes_shows_the_cost_of_fault_stacks() {
    let (code, out, err) = run(&["probes", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let faults = v
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "faults")
        .unwrap();
    let opt = &faults["options"][0];
    assert_eq!(opt["flag"], "--fault-stacks", "{faults}");
    assert!(
        opt["cost"]
            .as_str()
            .is_some_and(|c| c.contains("per sampled fault")),
        "{opt}"
    );
    let (code, text, err) = run(&["probes"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("option    --fault-stacks N:"), "{text}");
}

#[test]
fn probes_lists_every_group() {
    let (code, out, err) = run(&["probes", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    // The groups `record` takes without --probes come first; the others
    // are recorded only when asked for (`--probes +GROUP` or `all`).
    let defaults = ["procstat", "sysstat", "paf", "pr", "oom"];
    assert_eq!(names[..defaults.len()], defaults);
    for g in v.as_array().unwrap() {
        let name = g["group"].as_str().unwrap();
        assert_eq!(
            g["default_on"],
            defaults.contains(&name),
            "{name}: default_on"
        );
        assert!(
            matches!(g["supported"].as_str(), Some("yes" | "partly" | "no")),
            "{name}: {}",
            g["supported"]
        );
        let programs = g["programs"].as_array().unwrap();
        assert!(!programs.is_empty(), "{name} lists no program");
        for p in programs {
            assert!(
                matches!(
                    p["state"].as_str(),
                    Some("available" | "standby" | "missing")
                ),
                "{name}: {p}"
            );
            // A program this kernel cannot run says why.
            if p["state"] != "available" {
                assert!(
                    p["why"].as_str().is_some_and(|w| !w.is_empty()),
                    "{name}: {p}"
                );
            }
        }
    }
}

#[test]
fn root_not_root_is_told_to_use_root() {
    if is_root() {
        // Drop to nobody for this one run; needs root to do so.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.parquet");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let mut cmd = Command::new(MEMREC);
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        let o = cmd
            .args(["record", "-o", out.to_str().unwrap(), "--duration", "1s"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("needs root"), "{err}");
        assert!(!out.exists());
    } else {
        let (code, _, err) = run(&[
            "record",
            "-o",
            "/tmp/memrec-nonroot.parquet",
            "--duration",
            "1s",
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("needs root"), "{err}");
    }
}

/// Mounts tracefs if it is not mounted (memrec would, as root).
fn mount_tracefs() {
    let c = std::ffi::CString::new("/sys/kernel/tracing").unwrap();
    // SAFETY: a statfs we own and a valid path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mounted =
        unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type == libc::TRACEFS_MAGIC;
    if !mounted {
        let ok = Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

#[test]
fn root_missing_capabilities_are_named() {
    if skip_unless_root("root_missing_capabilities_are_named") {
        return;
    }
    mount_tracefs();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = dir.path().join("x.parquet");
    // nobody with only the two capabilities the old message promised.
    let as_nobody = |caps: &str| {
        let o = Command::new("setpriv")
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                &format!("--inh-caps={caps}"),
                &format!("--ambient-caps={caps}"),
                MEMREC,
                "record",
                "-o",
                out.to_str().unwrap(),
                "--duration",
                "1s",
                "--no-progress",
                "--probes",
                "sysstat",
            ])
            .output()
            .expect("util-linux setpriv");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Above 2 (Debian's kernels) perf events need CAP_SYS_ADMIN, and the
    // message must say that rather than promise CAP_PERFMON works.
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (code, err) = as_nobody("+bpf,+perfmon");
    let mode =
        std::os::unix::fs::MetadataExt::mode(&std::fs::metadata("/sys/kernel/tracing").unwrap());
    if paranoid > 2 {
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("CAP_SYS_ADMIN to load BPF programs"), "{err}");
        assert!(
            err.contains(&format!("kernel.perf_event_paranoid is {paranoid}")),
            "{err}"
        );
        assert!(!out.exists());
        // With what it names, it records.
        let (code, err) = as_nobody("+sys_admin,+dac_read_search");
        assert_eq!(code, 0, "{err}");
        assert_eq!(meta_json(&out)["end_reason"], "duration");
        return;
    }
    if mode & 0o005 == 0 {
        // tracefs is mounted, just not readable by others.
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("needs root, or these capabilities"), "{err}");
        assert!(
            err.contains("CAP_DAC_READ_SEARCH to read the tracepoint formats in tracefs"),
            "{err}"
        );
        assert!(!err.contains("not mounted"), "{err}");
        assert!(!err.contains("CAP_BPF"), "it has CAP_BPF: {err}");
        assert!(!out.exists());
    }
    // With the capabilities it names, it records.
    let (code, err) = as_nobody("+bpf,+perfmon,+dac_read_search");
    assert_eq!(code, 0, "{err}");
    assert_eq!(meta_json(&out)["end_reason"], "duration");
    std::fs::remove_file(&out).unwrap();
    // Without any capability, both needs are said at once.
    let (code, err) = as_nobody("-all");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn root_a_full_stdout_is_named_and_the_recording_kept() {
    if skip_unless_root("root_a_full_stdout_is_named_and_the_recording_kept") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.parquet");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = Command::new(MEMREC)
        .args(["record", "-o", out.to_str().unwrap(), "--no-progress"])
        .args(["--duration", "1s", "--probes", "sysstat"])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("memrec: writing the summary to stdout: No space left on device"),
        "{err}"
    );
    assert_eq!(meta_json(&out)["end_reason"], "duration");
}

/// Starts a recording and waits until its probes are attached.
fn start(out: &Path, extra: &[&str]) -> std::process::Child {
    let mut child = Command::new(MEMREC)
        .args(["record", "-o", out.to_str().unwrap(), "--no-progress"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .next()
            .expect("memrec ended before recording")
            .unwrap();
        if line.contains("recording to") {
            break;
        }
        assert!(Instant::now() < deadline, "memrec did not start");
    }
    // Keep draining stderr so memrec never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn stop_with(child: &mut std::process::Child, sig: i32) -> i32 {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn root_sigterm_and_sigint_leave_a_complete_file() {
    if skip_unless_root("root_sigterm_and_sigint_leave_a_complete_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (sig, name) in [(libc::SIGTERM, "term"), (libc::SIGINT, "int")] {
        let out = dir.path().join(format!("{name}.parquet"));
        let mut child = start(&out, &[]);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(stop_with(&mut child, sig), 0, "exit code after {name}");
        let meta = meta_json(&out);
        assert_eq!(meta["end_reason"], "signal");
        assert!(
            meta["rows"]["sysstat"].as_u64().unwrap() >= 2,
            "start and end snapshots"
        );
        let r = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
        assert!(r.metadata().file_metadata().num_rows() > 0);
        // No partial file left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty());
    }
}

#[test]
fn root_metadata_describes_the_recording() {
    if skip_unless_root("root_metadata_describes_the_recording") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.parquet");
    let (code, stdout, err) = record(&out, &["--duration", "2s", "--probes", "sysstat,pr"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("wrote"), "{stdout}");
    let meta = meta_json(&out);
    let uname = Command::new("uname").arg("-r").output().unwrap();
    assert_eq!(
        meta["kernel_release"],
        String::from_utf8_lossy(&uname.stdout).trim()
    );
    assert_eq!(meta["schema_version"], 1);
    assert_eq!(meta["clock"], "CLOCK_BOOTTIME");
    assert_eq!(
        meta["groups_requested"],
        serde_json::json!(["sysstat", "pr"])
    );
    assert_eq!(meta["clock_anchors"].as_array().unwrap().len(), 2);
    let probes = meta["probes"].as_array().unwrap();
    assert!(probes
        .iter()
        .all(|p| p["group"] == "sysstat" || p["group"] == "pr"));
    assert!(probes
        .iter()
        .any(|p| p["target"] == "vmscan:mm_vmscan_lru_shrink_inactive" && p["attached"] == true));
    assert!(!meta["zones_start"].as_array().unwrap().is_empty());
    assert!(meta["vmstat_end"]["pgsteal_kswapd"].is_u64());
    assert!(meta["gfp_names"].as_array().unwrap().len() > 10);
    let start = meta["start_ns"].as_i64().unwrap();
    let end = meta["end_ns"].as_i64().unwrap();
    assert!(
        (1_900_000_000..10_000_000_000).contains(&(end - start)),
        "{}",
        end - start
    );
}

/// Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE, bit
/// 24 of CapEff); memrec, started from it, has the same capabilities.
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    eff & (1 << 24) != 0
}

#[test]
fn root_memrec_protects_itself_from_the_oom_killer() {
    if skip_unless_root("root_memrec_protects_itself_from_the_oom_killer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let can = has_cap_sys_resource();
    for (name, extra, want) in [
        ("default", &[][..], if can { Some(-900) } else { None }),
        (
            "chosen",
            &["--oom-score-adj", "-500"][..],
            if can { Some(-500) } else { None },
        ),
        ("off", &["--no-oom-protect"][..], None),
    ] {
        let out = dir.path().join(format!("{name}.parquet"));
        let mut args = vec!["--duration", "3s", "--probes", "sysstat"];
        args.extend_from_slice(extra);
        let mut child = start(&out, &args);
        // What the kernel says of memrec while it records.
        let live: i32 = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", child.id()))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0), "{name}");
        let meta = meta_json(&out);
        let parent: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            live,
            want.unwrap_or(parent),
            "{name}: /proc/PID/oom_score_adj"
        );
        assert_eq!(
            meta["oom_score_adj"].as_i64(),
            want.map(i64::from),
            "{name}: {meta}"
        );
        // Where it could not set it, the file says so.
        let warned = meta["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("oom_score_adj not set"));
        assert_eq!(
            warned,
            !can && name != "off",
            "{name}: {}",
            meta["warnings"]
        );
    }
}

/// Mounts a small tmpfs, unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn root_full_disk_keeps_what_was_written() {
    if skip_unless_root("root_full_disk_keeps_what_was_written") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 8 MiB of it is memrec's reserve for the footer; 256 KiB for data, so
    // that an emulated guest, which makes few events, fills it too.
    let ok = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=8448k",
            "tmpfs",
            dir.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let _disk = SmallDisk(dir.path().to_path_buf());
    let out = dir.path().join("full.parquet");
    // Tiny row groups fill the disk fast; short-lived processes make events.
    let mut child = start(
        &out,
        &[
            "--probes",
            "procstat",
            "--batch-rows",
            "10",
            "--row-group-rows",
            "10",
            // Until the disk fills, not for a set time: an emulated guest
            // makes few events, and one minute of them (1,598 in one run
            // on 6.12) did not always fill it.
            "--duration",
            "5m",
            // One segment: a checkpoint closes a short row group on purpose,
            // and this test tells the disk's cut from those by row count.
            "--checkpoint",
            "10m",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let _ = Command::new("true").status();
    }
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a full disk is a failure (exit 0 is a recording that ran its 5 minutes \
         without filling the disk): {stdout}"
    );
    // The file is complete and holds every row group written before the disk filled.
    let meta = meta_json(&out);
    assert!(
        meta["end_reason"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{meta}"
    );
    let r = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let md = r.metadata();
    assert!(
        md.num_row_groups() > 5,
        "{} row groups",
        md.num_row_groups()
    );
    let rows: i64 = md.row_groups().iter().map(|g| g.num_rows()).sum();
    assert_eq!(rows, md.file_metadata().num_rows());
    assert_eq!(rows % 10, 0, "only whole row groups of 10 rows are kept");
    for row in r.get_row_iter(None).unwrap() {
        row.unwrap();
    }
    // The salvaged footer carries checksums of what it kept, and they hold.
    let verified =
        memtrace_schema::integrity::verify(&std::fs::File::open(&out).unwrap(), md).unwrap();
    assert!(
        matches!(
            verified,
            memtrace_schema::integrity::Verified::Intact { .. }
        ),
        "{verified:?}"
    );
}

fn probe<'a>(meta: &'a serde_json::Value, program: &str) -> &'a serde_json::Value {
    meta["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["program"] == program)
        .unwrap_or_else(|| panic!("no probe {program} in the metadata"))
}

/// Rows of the procstat table per `reason`.
fn procstat_reasons(path: &Path) -> std::collections::BTreeMap<String, u64> {
    use arrow_array::{Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;
    let b = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let idx = b
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.path().string() == "procstat.reason")
        .unwrap();
    let mask = ProjectionMask::leaves(b.parquet_schema(), [idx]);
    let mut out = std::collections::BTreeMap::new();
    for batch in b.with_projection(mask).build().unwrap() {
        let batch = batch.unwrap();
        let s = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for i in 0..s.len() {
            if s.is_valid(i) {
                *out.entry(s.value(i).to_string()).or_default() += 1;
            }
        }
    }
    out
}

#[test]
fn root_procstat_timer_rss_fallback_and_load_test() {
    if skip_unless_root("root_procstat_timer_rss_fallback_and_load_test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Defaults: the per-CPU timer samples running processes; rss_stat stands by.
    // With the load test: 100 k synthetic rows/s, far below what memrec keeps.
    let out = dir.path().join("timer.parquet");
    let (code, _, err) = record(
        &out,
        &[
            "--duration",
            "2s",
            "--probes",
            "procstat",
            "--load-test",
            "100000",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let meta = meta_json(&out);
    let tick = probe(&meta, "procstat_tick");
    assert_eq!(tick["attached"], true, "{tick}");
    assert_eq!(tick["method"], "cpu_timer");
    let rss = probe(&meta, "procstat_rss");
    assert_eq!(rss["attached"], false);
    assert_eq!(rss["standby"], true, "{rss}");
    let synth = probe(&meta, "procstat_synthetic");
    assert_eq!(synth["attached"], true, "{synth}");
    assert_eq!(synth["lost"], 0, "{synth}");
    let written = synth["events"].as_u64().unwrap();
    // Two seconds at 100 k/s, give or take start-up and one drain period
    // (100 ms) at the end.
    assert!((150_000..=215_000).contains(&written), "{written}");
    let reasons = procstat_reasons(&out);
    assert_eq!(
        reasons.get("synthetic").copied(),
        Some(written),
        "{reasons:?}"
    );

    // --procstat-sampler rss: the other way round, and no load test.
    let out = dir.path().join("rss.parquet");
    let (code, _, err) = record(
        &out,
        &[
            "--duration",
            "1s",
            "--probes",
            "procstat",
            "--procstat-sampler",
            "rss",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let meta = meta_json(&out);
    assert_eq!(probe(&meta, "procstat_rss")["attached"], true);
    let tick = probe(&meta, "procstat_tick");
    assert_eq!(tick["standby"], true, "{tick}");
    assert_eq!(tick["error"], "not asked for");
    let synth = probe(&meta, "procstat_synthetic");
    assert_eq!(synth["standby"], true, "{synth}");
    assert!(!procstat_reasons(&out).contains_key("synthetic"));
    assert!(!procstat_reasons(&out).contains_key("tick"));
}

// --- tracer conventions: -p, -e, -- CMD, help, completions, man pages --------

#[test]
fn p_is_the_pid_and_e_the_probe_groups() {
    let (code, _, err) = run(&["record", "-o", "x.parquet", "-p", "procstat"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'--pid <PID>'"), "-p takes a pid: {err}");
    let (code, _, err) = run(&["record", "-o", "x.parquet", "-e", "pr,bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown probe group `bogus`"), "{err}");
    // A pid and a command to follow are two different filters.
    let (code, _, err) = run(&["record", "-o", "x.parquet", "-p", "1", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    // --all is about a command's run.
    let (code, _, err) = run(&["record", "-o", "x.parquet", "--all"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Found nowhere, or not runnable: memrec's own 127 and 126 (as env and
/// timeout), one line, before anything is loaded (so without root too).
#[test]
fn a_command_that_cannot_run_is_127_or_126() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.parquet");
    let out = out.to_str().unwrap();
    let (code, _, err) = run(&["record", "-o", out, "--", "memrec-test-no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("memrec: cannot run `memrec-test-no-such-command`: "),
        "{err}"
    );
    let not_exec = dir.path().join("script");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
    let (code, _, err) = run(&["record", "-o", out, "--", not_exec.to_str().unwrap()]);
    // Root may run any file with an execute bit; this one has none.
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(!Path::new(out).exists());
}

#[test]
fn every_help_has_examples_and_the_exit_statuses_are_documented() {
    for args in [
        &["--help"][..],
        &["record", "--help"],
        &["probes", "--help"],
        &["recover", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Examples:\n  memrec "), "{args:?}: {out}");
    }
    for args in [
        &["--help"][..],
        &["record", "--help"],
        &["-h"],
        &["record", "-h"],
    ] {
        let (_, out, _) = run(args);
        assert!(out.contains("Exit status:"), "{args:?}: {out}");
        for code in ["0 ", "1 ", "2 ", "126", "127", "128+S"] {
            assert!(
                out.contains(&format!("\n  {code}")),
                "{args:?}: exit {code}: {out}"
            );
        }
    }
    let (_, out, _) = run(&["record", "--help"]);
    assert!(out.contains("[-- <CMD>...]"), "{out}");
    assert!(out.contains("-p, --pid <PID>"), "{out}");
    assert!(out.contains("-e, --probes <GROUPS>"), "{out}");
    assert!(out.contains("1m30s"), "{out}");
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in ["record", "recover", "probes", "pid", "probes", "checkpoint"] {
            assert!(out.contains(word), "{shell}: {word} missing");
        }
    }
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn man_pages_are_printed_or_written() {
    let (code, out, err) = run(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(".TH memrec 1"), "{out}");
    assert!(out.contains("Exit status:"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("man1");
    let (code, out, err) = run(&["man", "--dir", man1.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut pages: Vec<String> = std::fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "memrec-completions.1",
            "memrec-man.1",
            "memrec-probes.1",
            "memrec-record.1",
            "memrec-recover.1",
            "memrec.1"
        ]
    );
    // The files written are listed, one a line.
    assert_eq!(out.lines().count(), pages.len(), "{out}");
    let record = std::fs::read_to_string(man1.join("memrec-record.1")).unwrap();
    assert!(record.contains(".TH memrec-record 1"), "{record}");
    assert!(record.contains("\\-\\-pid"), "{record}");
    // An unwritable directory is one line and exit 1.
    let (code, _, err) = run(&["man", "--dir", "/proc/self/man1"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("memrec: creating /proc/self/man1: "),
        "{err}"
    );
}

/// The one duration syntax: memrec and memana take and refuse the same
/// inputs, with the same message (both parse through memtrace-cli).
#[test]
fn memrec_and_memana_parse_durations_alike() {
    let memana = Path::new(MEMREC).with_file_name("memana");
    assert!(
        memana.exists(),
        "{} is missing: build the workspace (cargo build --release --workspace --bins)",
        memana.display()
    );
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/oom.parquet");
    let table = [
        ("1m30s", true),
        ("500ms", true),
        ("10us", true),
        ("30", true),
        ("1.5s", true),
        ("2h 5m", true),
        ("0.25ms", true),
        ("ten", false),
        ("5 parsecs", false),
        ("1x", false),
        ("-1s", false),
        ("300years", false),
    ];
    for (input, valid) in table {
        // memrec: a valid duration gets as far as the output path.
        let d = format!("--duration={input}");
        let (code, _, rec) = run(&["record", "-o", "/nonexistent-dir/x.parquet", &d]);
        assert_eq!(code, 2, "{input}: {rec}");
        let out = Command::new(&memana)
            .args(["report", fixture.to_str().unwrap()])
            .arg(format!("--oom-window={input}"))
            .output()
            .unwrap();
        let ana = String::from_utf8_lossy(&out.stderr);
        if valid {
            assert!(rec.contains("/nonexistent-dir"), "memrec -d {input}: {rec}");
            assert!(out.status.success(), "memana --oom-window {input}: {ana}");
        } else {
            assert_eq!(out.status.code(), Some(2), "memana {input}: {ana}");
            // The same message from the same parser, after each tool's prefix.
            let why = |s: &str| {
                let at = s
                    .find("duration `")
                    .unwrap_or_else(|| panic!("{input}: {s}"));
                s[at..]
                    .split(" (")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            assert_eq!(why(&rec), why(&ana), "{input}");
        }
    }
}
