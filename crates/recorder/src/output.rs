//! The output file. memrec runs as root in directories other users may
//! write to, so it never opens a path it did not create itself:
//!
//! - `-o` is checked before any probe loads: a file name (no trailing `/`)
//!   in an existing directory, and nothing at it but, with `--force`, a
//!   regular file. Symbolic links, directories, devices, FIFOs and sockets
//!   are refused even with `--force`.
//! - The data goes to segments in `NAME.segments/` beside it, a directory
//!   memrec creates itself (mode 0700; an existing one is an earlier
//!   recording that did not finish, and is refused). Inside it nobody else
//!   can create or swap names. Creating it is also the proof that the
//!   directory is writable.
//! - Files are created mode 0600, as perf creates perf.data: a recording
//!   names every process, command and cgroup on the host. Files memrec
//!   writes into directories others may write to are created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW` under an unguessable name
//!   ([`create_exclusive`]) and renamed into place.
//! - At the end the merged recording is renamed into place: `RENAME_NOREPLACE` without
//!   `--force`; with it, only over a regular file, checked again right
//!   before. If that fails, the error says where the recording was kept.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What is at a path, when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    /// `None` for a regular file.
    fn of(t: std::fs::FileType) -> Option<Self> {
        if t.is_file() {
            return None;
        }
        Some(if t.is_dir() {
            FileKind::Directory
        } else if t.is_symlink() {
            FileKind::Symlink
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else if t.is_fifo() {
            FileKind::Fifo
        } else {
            FileKind::Socket
        })
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Symlink => {
                "a symbolic link (memrec neither writes through nor replaces links; name the file itself)"
            }
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("-o {0}: ends in '/': give a file name, e.g. {0}recording.parquet")]
    TrailingSlash(String),
    #[error("-o {0}: not a file name")]
    NoFileName(String),
    #[error("cannot write {path}: directory {dir} does not exist")]
    NoDirectory { path: String, dir: String },
    #[error("cannot write {path}: {dir} is not a directory")]
    NotADirectory { path: String, dir: String },
    #[error("{0} exists; pass --force to overwrite it")]
    Exists(String),
    #[error("{path} is {kind}; memrec writes only regular files, even with --force")]
    NotRegular { path: String, kind: FileKind },
    #[error("cannot write {path}: {source}")]
    Create { path: String, source: io::Error },
    #[error("-o {path}: with --rotate or several flight-recorder files, -o names a directory, and this is {kind}")]
    NotDirectoryOutput { path: String, kind: String },
    #[error("{0} exists: an earlier recording there did not finish; run `memrec recover {1}` or remove it")]
    SegmentsExist(String, String),
    /// The recording is done but could not be put at the path asked for.
    #[error("{why}; the recording is kept at {kept}")]
    NotMoved { why: String, kept: String },
}

impl OutputError {
    /// A problem with the path the user gave (found before recording), not
    /// a failure at the end of a recording.
    pub fn is_usage(&self) -> bool {
        !matches!(self, OutputError::NotMoved { .. })
    }
}

/// The recording's file while it is written, and where it will go.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    dir: PathBuf,
    /// `PATH.segments/`: memrec's own directory (0700) for the segments.
    segs: PathBuf,
    force: bool,
    /// Moved into place, or kept on purpose: not removed on drop.
    keep: bool,
    /// An exclusive lock on the segments directory while memrec writes it:
    /// `memrec recover` takes it too, so it never merges a live recording.
    _lock: Option<File>,
}

/// Creates the segments directory `segs` of the output `shown` (refusing an
/// existing one: an earlier recording that did not finish) and locks it.
fn create_segments_dir(segs: &Path, shown: String) -> Result<Option<File>, OutputError> {
    match create_own_dir(segs) {
        Ok(()) => Ok(lock_dir(segs)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(OutputError::SegmentsExist(
            segs.display().to_string(),
            shown,
        )),
        Err(source) => Err(OutputError::Create {
            path: shown,
            source,
        }),
    }
}

/// Locks `dir` exclusively (flock) for as long as the returned file is open.
fn lock_dir(dir: &Path) -> Option<File> {
    use std::os::fd::AsRawFd;
    let f = File::open(dir).ok()?;
    // SAFETY: a valid open descriptor.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(f)
}

/// The segments directory of a recording written to `path`.
pub fn segments_dir_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".segments");
    PathBuf::from(s)
}

/// Creates `dir` as memrec's own directory (0700, never an existing one:
/// its names are then not raced by other users).
pub fn create_own_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

/// `Some(kind)` when something other than a regular file is at `path`,
/// `None` when a regular file is, and `Err(NotFound)` when nothing is.
fn lstat_kind(path: &Path) -> io::Result<Option<FileKind>> {
    std::fs::symlink_metadata(path).map(|m| FileKind::of(m.file_type()))
}

/// 16 random bytes as hex, from the kernel's generator.
fn random_suffix() -> io::Result<String> {
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: writes at most the remaining length into our buffer.
        let n = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates `dir/.{stem}-RANDOM` exclusively (`O_EXCL|O_NOFOLLOW`: an
/// existing file or link at that name is never followed or truncated),
/// open for reading and writing. Returns it with its path.
pub fn create_exclusive(dir: &Path, stem: &str) -> io::Result<(File, PathBuf)> {
    let mut last = None;
    // A collision of 128 random bits means someone can read our random
    // numbers; give up after a few.
    for _ in 0..4 {
        let path = dir.join(format!(".{stem}-{}", random_suffix()?));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            // Like perf.data: a recording names every process and cgroup
            // on the host, so only its owner reads it until they share it.
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("cannot create a temporary file")))
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// rename(2) that fails with `AlreadyExists` when `to` exists. Filesystems
/// without RENAME_NOREPLACE get link + unlink, which fails the same way.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (cstring(from)?, cstring(to)?);
    // SAFETY: two valid NUL-terminated paths.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(e);
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

impl Output {
    /// Checks `path` and creates the temporary file beside it. Nothing is
    /// loaded yet, so every refusal here costs the user nothing.
    pub fn prepare(path: &Path, force: bool) -> Result<Self, OutputError> {
        let shown = path.display().to_string();
        if path.as_os_str().as_bytes().ends_with(b"/") {
            return Err(OutputError::TrailingSlash(shown));
        }
        if path.file_name().is_none() {
            return Err(OutputError::NoFileName(shown));
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir_shown = dir.display().to_string();
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(OutputError::NotADirectory {
                    path: shown,
                    dir: dir_shown,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(OutputError::NoDirectory {
                    path: shown,
                    dir: dir_shown,
                })
            }
            Err(source) => {
                return Err(OutputError::Create {
                    path: shown,
                    source,
                })
            }
        }
        match lstat_kind(path) {
            Ok(Some(kind)) => return Err(OutputError::NotRegular { path: shown, kind }),
            Ok(None) if !force => return Err(OutputError::Exists(shown)),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(OutputError::Create {
                    path: shown,
                    source,
                })
            }
        }
        // The segments directory is also the proof that the directory is
        // writable, before any probe loads.
        let segs = segments_dir_of(path);
        let _lock = create_segments_dir(&segs, shown)?;
        Ok(Output {
            path: path.to_path_buf(),
            dir,
            segs,
            force,
            keep: false,
            _lock,
        })
    }

    /// Checks the directory `-o` names for rotated or flight-recorder
    /// files, creating it (0700) if it does not exist, and creates its
    /// `.segments/` directory.
    pub fn prepare_dir(path: &Path) -> Result<Self, OutputError> {
        let shown = path.display().to_string();
        match lstat_kind(path) {
            Ok(Some(FileKind::Directory)) => {}
            Ok(Some(kind)) => {
                return Err(OutputError::NotDirectoryOutput {
                    path: shown,
                    kind: kind.to_string(),
                })
            }
            Ok(None) => {
                return Err(OutputError::NotDirectoryOutput {
                    path: shown,
                    kind: "a file".to_string(),
                })
            }
            // `-o run.parquet` with --rotate or several flight-recorder
            // files is almost surely meant as a file: say so rather than
            // make a directory of that name.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && path.extension().is_some_and(|x| x == "parquet") =>
            {
                return Err(OutputError::NotDirectoryOutput {
                    path: shown,
                    kind: "a file name (give a directory, e.g. runs/; the flight recorder writes one file with --until)".to_string(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_own_dir(path).map_err(|source| OutputError::Create {
                    path: shown.clone(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(OutputError::Create {
                    path: shown,
                    source,
                })
            }
        }
        let segs = path.join(".segments");
        let _lock = create_segments_dir(&segs, shown)?;
        Ok(Output {
            path: path.to_path_buf(),
            dir: path.to_path_buf(),
            segs,
            force: false,
            keep: false,
            _lock,
        })
    }

    /// Removes the segments directory (its segments were merged elsewhere
    /// or are not wanted).
    pub fn discard_segments(mut self) {
        let _ = std::fs::remove_dir_all(&self.segs);
        self.keep = true;
    }

    /// The directory files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the segments are written.
    pub fn segments_dir(&self) -> &Path {
        &self.segs
    }

    /// Moves the finished recording (`done`, a file in the segments
    /// directory) to the path asked for, then removes the segments.
    pub fn commit(mut self, done: &Path) -> Result<(), OutputError> {
        let result = self.move_into_place(done);
        if result.is_ok() {
            // The rename is durable only once the directory is on disk.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            let _ = std::fs::remove_dir_all(&self.segs);
        }
        // Moved, or left where the error says it is.
        self.keep = true;
        result.map_err(|why| OutputError::NotMoved {
            why,
            kept: done.display().to_string(),
        })
    }

    /// Leaves the segments where they are (the recording could not be
    /// merged): they are the recording.
    pub fn keep_segments(mut self) {
        self.keep = true;
    }

    fn move_into_place(&self, done: &Path) -> Result<(), String> {
        let shown = self.path.display();
        // In memrec's own directory, so nobody else can swap it; still, it
        // must be a regular file.
        match std::fs::symlink_metadata(done) {
            Ok(m) if m.file_type().is_file() => {}
            _ => {
                return Err(format!(
                    "{} is not a regular file; not moving it to {shown}",
                    done.display()
                ))
            }
        }
        // Without --force, or with nothing there: never replace anything.
        // With --force, check right before replacing that it is a regular
        // file (a rename replaces the name, so a link's target is never touched).
        for _ in 0..3 {
            let replace = match lstat_kind(&self.path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(format!("cannot write {shown}: {e}")),
                Ok(Some(kind)) => {
                    return Err(format!(
                        "{shown} became {kind} while recording; memrec writes only regular files"
                    ))
                }
                Ok(None) if self.force => true,
                Ok(None) => {
                    return Err(format!(
                        "{shown} was created while recording; pass --force to overwrite it"
                    ))
                }
            };
            let moved = if replace {
                std::fs::rename(done, &self.path)
            } else {
                rename_noreplace(done, &self.path)
            };
            match moved {
                Ok(()) => return Ok(()),
                // Something appeared between the check and the rename: look again.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("moving the recording to {shown}: {e}")),
            }
        }
        Err(format!(
            "{shown} keeps changing while memrec moves the recording there"
        ))
    }
}

impl Drop for Output {
    /// A recording that never started leaves nothing behind; one that
    /// closed a segment keeps it (it is the recording).
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let sealed = std::fs::read_dir(&self.segs).is_ok_and(|d| {
            d.flatten().any(|e| {
                crate::writer::segments::segment_index(&e.file_name().to_string_lossy()).is_some()
            })
        });
        if !sealed {
            let _ = std::fs::remove_dir_all(&self.segs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Writes `data` as the finished recording in the segments directory.
    fn done(out: &Output, data: &[u8]) -> PathBuf {
        let p = out.segments_dir().join("merged");
        std::fs::write(&p, data).unwrap();
        p
    }

    #[test]
    fn segments_go_beside_and_the_recording_moves_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        let out = Output::prepare(&p, false).unwrap();
        assert_eq!(names(dir.path()), ["r.parquet.segments"]);
        let mode = std::fs::metadata(out.segments_dir()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let d = done(&out, b"data");
        out.commit(&d).unwrap();
        assert_eq!(names(dir.path()), ["r.parquet"]);
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
    }

    #[test]
    fn an_unfinished_recording_is_found_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        let out = Output::prepare(&p, false).unwrap();
        std::fs::write(out.segments_dir().join("000001.parquet"), b"x").unwrap();
        // Dropped after a segment was sealed (an error mid-recording): kept.
        drop(out);
        let e = Output::prepare(&p, true).unwrap_err();
        assert!(matches!(e, OutputError::SegmentsExist(..)), "{e}");
        assert!(e.to_string().contains("memrec recover"), "{e}");
    }

    #[test]
    fn an_unused_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::prepare(&dir.path().join("r.parquet"), false).unwrap();
        std::fs::write(out.segments_dir().join("000001.parquet.partial"), b"x").unwrap();
        drop(out);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_directory_output_is_made_and_a_file_name_refused() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let out = Output::prepare_dir(&runs).unwrap();
        assert_eq!(names(&runs), [".segments"]);
        let mode = std::fs::metadata(&runs).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A second memrec on the same directory finds the first's segments.
        let e = Output::prepare_dir(&runs).unwrap_err();
        assert!(matches!(e, OutputError::SegmentsExist(..)), "{e}");
        out.discard_segments();
        assert!(names(&runs).is_empty());
        let e = Output::prepare_dir(&dir.path().join("run.parquet")).unwrap_err();
        assert!(e.to_string().contains("names a directory"), "{e}");
        std::fs::write(dir.path().join("f"), b"").unwrap();
        assert!(Output::prepare_dir(&dir.path().join("f")).is_err());
        assert_eq!(names(dir.path()), ["f", "runs"]);
    }

    #[test]
    fn existing_output_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        std::fs::write(&p, b"x").unwrap();
        let e = Output::prepare(&p, false).unwrap_err();
        assert!(matches!(e, OutputError::Exists(_)), "{e}");
        let out = Output::prepare(&p, true).unwrap();
        let d = done(&out, b"new");
        out.commit(&d).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn bad_paths_are_refused_before_anything_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let slash = format!("{}/newdir/", d.display());
        let e = Output::prepare(Path::new(&slash), true).unwrap_err();
        assert!(matches!(e, OutputError::TrailingSlash(_)), "{e}");
        assert!(e.to_string().contains("ends in '/'"), "{e}");
        let e = Output::prepare(&d.join("no/such/r.parquet"), true).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::fs::write(d.join("f"), b"").unwrap();
        let e = Output::prepare(&d.join("f/r.parquet"), true).unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");
        std::fs::create_dir(d.join("sub")).unwrap();
        for force in [false, true] {
            let e = Output::prepare(&d.join("sub"), force).unwrap_err();
            assert!(
                e.to_string().ends_with(
                    "is a directory; memrec writes only regular files, even with --force"
                ),
                "{e}"
            );
        }
        symlink(d.join("f"), d.join("link")).unwrap();
        symlink(d.join("nowhere"), d.join("dangling")).unwrap();
        for l in ["link", "dangling"] {
            let e = Output::prepare(&d.join(l), true).unwrap_err();
            assert!(e.to_string().contains("is a symbolic link"), "{e}");
            assert!(e.is_usage());
        }
        assert!(Output::prepare(Path::new(".."), true).is_err());
        assert_eq!(names(d), ["dangling", "f", "link", "sub"]);
    }

    #[test]
    fn output_appearing_while_recording_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        let out = Output::prepare(&p, false).unwrap();
        std::fs::write(&p, b"theirs").unwrap();
        let d = done(&out, b"ours");
        let e = out.commit(&d).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("was created while recording"), "{msg}");
        // The message names the file the recording is in, and it is there.
        let kept = msg.rsplit("kept at ").next().unwrap();
        assert!(Path::new(kept).is_file(), "{msg}");
        assert_eq!(std::fs::read(&p).unwrap(), b"theirs");
    }

    #[test]
    fn a_link_put_at_the_output_while_recording_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let out = Output::prepare(&p, true).unwrap();
        symlink(&victim, &p).unwrap();
        let d = done(&out, b"ours");
        let e = out.commit(&d).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
