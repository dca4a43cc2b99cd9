//! `memrec record [OPTIONS] -- CMD ARGS...`: the command memrec starts once
//! its probes are live, how it is followed, and how it ended.
//!
//! The command's process puts its own tgid into the map of followed
//! processes (`mt_followed`, bpf/common/runtime.h) between fork and exec,
//! so nothing it does after exec is missed; BPF adds what it forks.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};

/// The command to run, as given after `--`.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub argv: Vec<OsString>,
    /// Record only it and its descendants (false: `--all`).
    pub follow: bool,
}

impl CommandSpec {
    /// The command line as text, for messages and the metadata.
    pub fn argv_lossy(&self) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }
}

/// The command could not be started. memrec exits with 127 when it was not
/// found and 126 when it could not be run, as `env`, `timeout` and shells do.
#[derive(Debug, thiserror::Error)]
#[error("cannot run `{cmd}`: {source}")]
pub struct CommandError {
    cmd: String,
    #[source]
    source: io::Error,
}

impl CommandError {
    fn new(cmd: &OsStr, source: io::Error) -> CommandError {
        CommandError {
            cmd: cmd.to_string_lossy().into_owned(),
            source,
        }
    }

    /// memrec's exit status for it.
    pub fn exit_code(&self) -> u8 {
        if self.source.kind() == io::ErrorKind::NotFound {
            127
        } else {
            126
        }
    }
}

/// Checks, before anything is loaded, that the command names an executable
/// file (through `PATH` when it has no `/`), so that a typo costs no
/// recording. The exec itself may still fail later; that is reported the
/// same way.
pub fn check(spec: &CommandSpec) -> Result<(), CommandError> {
    let Some(cmd) = spec.argv.first() else {
        return Err(CommandError::new(
            OsStr::new(""),
            io::Error::new(io::ErrorKind::NotFound, "no command after `--`"),
        ));
    };
    resolve(cmd)
        .map(|_| ())
        .map_err(|e| CommandError::new(cmd, e))
}

/// Where `cmd` is: itself when it has a `/`, else the first executable
/// file of that name in `PATH`.
fn resolve(cmd: &OsStr) -> io::Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let executable = |p: &Path| -> io::Result<()> {
        let meta = std::fs::metadata(p)?;
        if meta.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let c = std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a NUL-terminated path we own.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    if cmd.as_bytes().contains(&b'/') {
        let p = PathBuf::from(cmd);
        return executable(&p).map(|()| p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let mut found_unrunnable = None;
    for dir in std::env::split_paths(&path) {
        let p = dir.join(cmd);
        match executable(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                found_unrunnable.get_or_insert(e);
            }
        }
    }
    Err(found_unrunnable
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "command not found in PATH")))
}

/// The command, started.
#[derive(Debug)]
pub struct Running {
    child: Child,
    status: Option<ExitStatus>,
}

/// Starts the command with memrec's standard input, output and error.
/// `follow_map`: the map of followed processes, which the child enters
/// itself before exec. `oom_score_adj`: the value it gets instead of
/// memrec's own (see [`crate::protect::reset_for_child`]).
pub fn start(
    spec: &CommandSpec,
    follow_map: Option<RawFd>,
    oom_score_adj: Option<i32>,
) -> Result<Running, CommandError> {
    let cmd = spec.argv.first().map_or(OsStr::new(""), |c| c.as_os_str());
    let mut c = Command::new(cmd);
    c.args(spec.argv.iter().skip(1));
    if let Some(adj) = oom_score_adj {
        crate::protect::reset_for_child(&mut c, adj);
    }
    if let Some(fd) = follow_map {
        // SAFETY: the hook makes one bpf() system call on memory it owns;
        // the map's descriptor stays open in the child until exec.
        unsafe {
            c.pre_exec(move || {
                let tgid = libc::getpid() as u32;
                let parent: u32 = 0;
                let r = libbpf_sys::bpf_map_update_elem(
                    fd,
                    (&tgid as *const u32).cast(),
                    (&parent as *const u32).cast(),
                    u64::from(libbpf_sys::BPF_ANY),
                );
                if r != 0 {
                    return Err(io::Error::from_raw_os_error(-r));
                }
                Ok(())
            });
        }
    }
    let child = c.spawn().map_err(|e| CommandError::new(cmd, e))?;
    Ok(Running {
        child,
        status: None,
    })
}

/// An exit status as a shell gives it: the code, or 128 + the signal.
pub fn shell_status(s: ExitStatus) -> i32 {
    match (s.code(), s.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 128,
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its status as a shell gives it, once it has exited (without waiting).
    pub fn try_wait(&mut self) -> io::Result<Option<i32>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status.map(shell_status))
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> io::Result<i32> {
        if self.status.is_none() {
            self.status = Some(self.child.wait()?);
        }
        Ok(self.status.map_or(128, shell_status))
    }

    /// Sends it a signal, unless it has been reaped (its pid may be
    /// another process's by then).
    pub fn signal(&self, sig: libc::c_int) {
        if self.status.is_some() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory arguments.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str]) -> CommandSpec {
        CommandSpec {
            argv: argv.iter().map(OsString::from).collect(),
            follow: false,
        }
    }

    #[test]
    fn statuses_are_as_a_shell_says_them() {
        let run = |script: &str| {
            let mut r = start(&spec(&["sh", "-c", script]), None, None).expect("sh starts");
            r.wait().expect("waits")
        };
        assert_eq!(run("exit 0"), 0);
        assert_eq!(run("exit 3"), 3);
        assert_eq!(run("kill -9 $$"), 137);
        assert_eq!(run("kill -TERM $$"), 143);
    }

    #[test]
    fn a_missing_command_is_127_and_an_unrunnable_one_126() {
        let e = check(&spec(&["memrec-no-such-command"])).unwrap_err();
        assert_eq!(e.exit_code(), 127, "{e}");
        assert!(e.to_string().contains("memrec-no-such-command"), "{e}");
        let e = check(&spec(&["/"])).unwrap_err();
        assert_eq!(e.exit_code(), 126, "{e}");
        let e = start(&spec(&["/nonexistent/x"]), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 127, "{e}");
        assert!(check(&spec(&["sh"])).is_ok());
        assert!(check(&spec(&[])).is_err());
    }
}
