//! memrec as root against hostile paths: links planted at every name it
//! could be expected to write, and devices, FIFOs, links and directories at
//! `-o`. Whatever happens to the recording, no target is ever touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use parquet::file::reader::{FileReader, SerializedFileReader};

const MEMREC: &str = env!("CARGO_BIN_EXE_memrec");

fn skip(name: &str) -> bool {
    memtrace_cli::testing::skip_unless_root(name, "records a real kernel and makes device nodes")
}

fn memrec(args: &[&str]) -> (i32, String) {
    let out = Command::new(MEMREC).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Files whose bytes must not change.
struct Victims(Vec<(PathBuf, Vec<u8>)>);

impl Victims {
    fn new(dir: &Path, n: usize) -> Self {
        Victims(
            (0..n)
                .map(|i| {
                    let p = dir.join(format!("victim-{i}"));
                    let bytes = format!("precious {i}\n").repeat(100).into_bytes();
                    std::fs::write(&p, &bytes).unwrap();
                    (p, bytes)
                })
                .collect(),
        )
    }

    fn path(&self, i: usize) -> &Path {
        &self.0[i].0
    }

    fn assert_untouched(&self) {
        for (p, bytes) in &self.0 {
            let now = std::fs::read(p).unwrap();
            assert_eq!(now.len(), bytes.len(), "{} changed size", p.display());
            assert!(now == *bytes, "{} changed", p.display());
        }
    }
}

fn read_number(path: &str) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn root_links_at_guessable_temporary_names_are_never_followed() {
    if skip("root_links_at_guessable_temporary_names_are_never_followed") {
        return;
    }
    // A world-writable sticky directory, like /tmp, where anyone can plant names.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o1777)).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victims = Victims::new(elsewhere.path(), 3);
    // Every name an attacker could guess: the temporary and reserve names
    // of earlier versions for the next 2000 process ids, and plain ones.
    let pid_max = read_number("/proc/sys/kernel/pid_max");
    let next = read_number("/proc/sys/kernel/ns_last_pid") + 1;
    let pids: Vec<u32> = (0..2000).map(|i| (next + i) % pid_max).collect();
    let mut planted: Vec<(PathBuf, PathBuf)> = Vec::new();
    for &pid in &pids {
        planted.push((
            dir.path().join(format!(".atk.parquet.partial-{pid}")),
            victims.path(0).to_path_buf(),
        ));
        planted.push((
            dir.path()
                .join(format!(".atk.parquet.partial-{pid}.reserve")),
            victims.path(1).to_path_buf(),
        ));
    }
    for name in [
        "atk.parquet.reserve",
        ".atk.parquet.reserve",
        ".atk.parquet.partial",
        ".memrec.reserve",
    ] {
        planted.push((dir.path().join(name), victims.path(2).to_path_buf()));
    }
    for (link, target) in &planted {
        std::os::unix::fs::symlink(target, link).unwrap();
    }

    let out = dir.path().join("atk.parquet");
    let child = Command::new(MEMREC)
        .args([
            "record",
            "-o",
            out.to_str().unwrap(),
            "--duration",
            "2s",
            "--probes",
            "sysstat,procstat",
            "--no-progress",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The attack was aimed right: memrec's pid was among the planted ones.
    assert!(
        pids.contains(&pid),
        "memrec ran as pid {pid}, outside the planted range"
    );

    victims.assert_untouched();
    for (link, target) in &planted {
        assert_eq!(&std::fs::read_link(link).unwrap(), target);
    }
    // The recording is a whole regular file, and nothing else was left.
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.file_type().is_file());
    // Only its owner reads it, as with perf.data.
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let r = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert!(r.metadata().file_metadata().num_rows() > 0);
    assert_eq!(entries(dir.path()).len(), planted.len() + 1);
}

fn mknod_char(path: &Path, major: u32, minor: u32) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid path; makedev has no preconditions.
    let rc = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFCHR | 0o666,
            libc::makedev(major, minor),
        )
    };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn root_non_regular_outputs_are_refused_and_left_alone() {
    if skip("root_non_regular_outputs_are_refused_and_left_alone") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let victims = Victims::new(elsewhere.path(), 1);
    // A copy of /dev/null, as `mknod c 1 3` makes it.
    let null = d.join("null");
    mknod_char(&null, 1, 3);
    let fifo = d.join("fifo");
    mkfifo(&fifo);
    let link = d.join("link");
    std::os::unix::fs::symlink(victims.path(0), &link).unwrap();
    let dangling = d.join("dangling");
    let nowhere = elsewhere.path().join("nowhere.parquet");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    let subdir = d.join("subdir");
    std::fs::create_dir(&subdir).unwrap();
    let before = entries(d);

    let slash = format!("{}/newdir/", d.display());
    let cases: Vec<(String, &str)> = vec![
        (null.display().to_string(), "is a character device"),
        (fifo.display().to_string(), "is a FIFO"),
        (link.display().to_string(), "is a symbolic link"),
        (dangling.display().to_string(), "is a symbolic link"),
        (subdir.display().to_string(), "is a directory"),
        (slash, "ends in '/'"),
    ];
    for (path, what) in &cases {
        for force in [true, false] {
            let mut args = vec!["record", "-o", path, "--duration", "1s", "--no-progress"];
            if force {
                args.push("--force");
            }
            let (code, err) = memrec(&args);
            assert_eq!(code, 2, "{path} (force {force}): {err}");
            assert!(err.contains(what), "{path} (force {force}): {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    let m = std::fs::symlink_metadata(&null).unwrap();
    assert!(
        m.file_type().is_char_device(),
        "the device node was replaced"
    );
    assert_eq!(m.rdev(), libc::makedev(1, 3));
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(std::fs::read_link(&link).unwrap(), victims.path(0));
    assert_eq!(std::fs::read_link(&dangling).unwrap(), nowhere);
    assert!(!nowhere.exists(), "memrec wrote through a dangling link");
    assert_eq!(std::fs::read_dir(&subdir).unwrap().count(), 0);
    victims.assert_untouched();
    // Nothing new: no newdir, no temporary file left behind.
    assert_eq!(entries(d), before);
}

#[test]
fn root_a_signal_while_loading_leaves_no_temporary_file() {
    if skip("root_a_signal_while_loading_leaves_no_temporary_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Before, during and after loading the probes: whatever it hits, no
    // hidden file is left, only a complete recording or nothing.
    for (i, delay_ms) in [20u64, 150, 400, 800].into_iter().enumerate() {
        let out = dir.path().join(format!("sig{i}.parquet"));
        let mut child = Command::new(MEMREC)
            .args(["record", "-o", out.to_str().unwrap(), "--no-progress"])
            .args(["--duration", "10s"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait().unwrap();
        let hidden: Vec<String> = entries(dir.path())
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "after {delay_ms} ms: {hidden:?}");
        if out.exists() {
            let r = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
            assert!(r.metadata().num_row_groups() > 0);
        }
    }
}

#[test]
fn root_a_recording_that_cannot_be_moved_into_place_says_where_it_is() {
    if skip("root_a_recording_that_cannot_be_moved_into_place_says_where_it_is") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let mut child = Command::new(MEMREC)
        .args(["record", "-o", out.to_str().unwrap(), "--no-progress"])
        .args(["--duration", "2s", "--probes", "sysstat"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Someone else's file appears at the path while memrec records.
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&out, b"theirs").unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"theirs");
    let line = err.lines().last().unwrap();
    assert!(line.contains("was created while recording"), "{err}");
    // The exact path of the kept recording, and a whole file there.
    let kept = line.rsplit("the recording is kept at ").next().unwrap();
    let r = SerializedFileReader::new(std::fs::File::open(kept).unwrap()).unwrap();
    assert!(r.metadata().file_metadata().num_rows() > 0);
}
