//! The output file. memrec runs as root in directories other users may
//! write to, so it never opens a path it did not create itself:
//!
//! - `-o` is checked before any probe loads: a file name (no trailing `/`)
//!   in an existing directory, and nothing at it but, with `--force`, a
//!   regular file. Symbolic links, directories, devices, FIFOs and sockets
//!   are refused even with `--force`.
//! - The data goes to `.NAME.partial-RANDOM` beside it, created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW` (an existing file or link at that name is an
//!   error, never followed or truncated) and an unguessable suffix from
//!   getrandom. Creating it is also the proof that the directory is writable.
//! - It is created mode 0600, as perf creates perf.data: a recording names
//!   every process, command and cgroup on the host.
//! - At the end it is renamed into place: `RENAME_NOREPLACE` without
//!   `--force`; with it, only over a regular file, checked again right
//!   before. If that fails, the error says where the recording was kept.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
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
    temp: PathBuf,
    file: File,
    force: bool,
    /// Moved into place, or kept on purpose: not removed on drop.
    keep: bool,
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
        let Some(name) = path.file_name().map(OsStr::to_string_lossy) else {
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
        // The suffix must fit in NAME_MAX (255 bytes) with any name.
        let mut short = String::new();
        for c in name.chars() {
            if short.len() + c.len_utf8() > 160 {
                break;
            }
            short.push(c);
        }
        let (file, temp) =
            create_exclusive(&dir, &format!("{short}.partial")).map_err(|source| {
                OutputError::Create {
                    path: shown,
                    source,
                }
            })?;
        Ok(Output {
            path: path.to_path_buf(),
            dir,
            temp,
            file,
            force,
            keep: false,
        })
    }

    /// Another handle on the temporary file (the same open file).
    pub fn file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// The directory the file is written in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves the finished recording to the path asked for.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let result = self.move_into_place();
        if result.is_ok() {
            // The rename is durable only once the directory is on disk.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
        }
        // Moved, or left where the error says it is.
        self.keep = true;
        result.map_err(|why| OutputError::NotMoved {
            why,
            kept: self.temp.display().to_string(),
        })
    }

    fn move_into_place(&self) -> Result<(), String> {
        let shown = self.path.display();
        // The temporary name must still be our file: in a directory others
        // can write to, it could have been swapped for a link.
        let ours = self.file.metadata().map_err(|e| e.to_string())?;
        match std::fs::symlink_metadata(&self.temp) {
            Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => {}
            _ => {
                return Err(format!(
                    "{} was replaced or removed while recording; not moving it to {shown}",
                    self.temp.display()
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
                std::fs::rename(&self.temp, &self.path)
            } else {
                rename_noreplace(&self.temp, &self.path)
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
    /// A recording that never started leaves nothing behind.
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let ours = self.file.metadata().ok();
        let same = std::fs::symlink_metadata(&self.temp)
            .ok()
            .zip(ours)
            .is_some_and(|(m, o)| m.dev() == o.dev() && m.ino() == o.ino());
        if same {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_file_is_written_beside_and_moved_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        let out = Output::prepare(&p, false).unwrap();
        let n = names(dir.path());
        assert_eq!(n.len(), 1);
        assert!(n[0].starts_with(".r.parquet.partial-"), "{n:?}");
        // 32 hex digits: not guessable from the pid.
        assert_eq!(n[0].len(), ".r.parquet.partial-".len() + 32, "{n:?}");
        std::io::Write::write_all(&mut out.file().unwrap(), b"data").unwrap();
        out.commit().unwrap();
        assert_eq!(names(dir.path()), ["r.parquet"]);
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
    }

    #[test]
    fn a_long_name_still_gets_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("{}.parquet", "é".repeat(120)));
        let out = Output::prepare(&p, false).unwrap();
        out.commit().unwrap();
        assert!(p.is_file());
    }

    #[test]
    fn an_unused_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        drop(Output::prepare(&dir.path().join("r.parquet"), false).unwrap());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn existing_output_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.parquet");
        std::fs::write(&p, b"x").unwrap();
        let e = Output::prepare(&p, false).unwrap_err();
        assert!(matches!(e, OutputError::Exists(_)), "{e}");
        let out = Output::prepare(&p, true).unwrap();
        std::io::Write::write_all(&mut out.file().unwrap(), b"new").unwrap();
        out.commit().unwrap();
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
        let e = out.commit().unwrap_err();
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
        let e = out.commit().unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
