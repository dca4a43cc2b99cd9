//! memrec's protection from the OOM killer it records: its own
//! `oom_score_adj`.
//!
//! The value is inherited across fork and exec, so a command memrec starts
//! must be given its own back ([`reset_for_child`]), or the workload under
//! study would be shielded too.

use std::io;
use std::process::Command;

/// Where a process sets its own badness adjustment.
pub const PATH: &str = "/proc/self/oom_score_adj";

/// What memrec gives itself by default. Not -1000: that makes the task
/// unkillable, and were it the only candidate left the kernel would panic
/// rather than kill it. memrec's memory is bounded, so a strongly negative
/// but killable score keeps it out of the incident it records without
/// taking the last way out from the kernel.
pub const DEFAULT_OOM_SCORE_ADJ: i32 = -900;

/// The range the kernel takes (OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX).
pub const RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;

/// Why memrec could not set its `oom_score_adj`; the caller warns and goes
/// on.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error("oom_score_adj {0} is out of range (-1000 to 1000)")]
    Range(i32),
    #[error("setting {PATH} to {adj}: {source}{}", hint(.source))]
    Write {
        adj: i32,
        #[source]
        source: io::Error,
    },
    #[error("reading {PATH} back: {0}")]
    Read(#[source] io::Error),
    #[error("{PATH} reads `{0}`, not a number")]
    Parse(String),
}

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        // Root in a container is often without it.
        Some(libc::EACCES | libc::EPERM) => {
            " (lowering it needs CAP_SYS_RESOURCE, which memrec lacks)"
        }
        Some(libc::EROFS) => " (/proc is read-only here)",
        _ => "",
    }
}

/// Sets this process's `oom_score_adj` to `adj` and returns what the kernel
/// says it now is.
pub fn protect(adj: i32) -> Result<i32, ProtectError> {
    if !RANGE.contains(&adj) {
        return Err(ProtectError::Range(adj));
    }
    std::fs::write(PATH, format!("{adj}\n"))
        .map_err(|source| ProtectError::Write { adj, source })?;
    let text = std::fs::read_to_string(PATH).map_err(ProtectError::Read)?;
    text.trim()
        .parse()
        .map_err(|_| ProtectError::Parse(text.trim().to_string()))
}

/// This process's `oom_score_adj`, if /proc says.
pub fn current() -> Option<i32> {
    std::fs::read_to_string(PATH).ok()?.trim().parse().ok()
}

/// Whether this process holds CAP_SYS_RESOURCE (what lowering
/// `oom_score_adj` and a PSI trigger of any window need): root in a
/// container often does not.
pub fn has_cap_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// Makes `cmd`'s process set its `oom_score_adj` to `adj` (what memrec had
/// before [`protect`], usually 0) between fork and exec, so it does not
/// inherit memrec's. Raising the value needs no privilege. If the kernel
/// refuses, the spawn fails with that error rather than run the command
/// shielded from the OOM killer.
// For `memrec record -- CMD`, which starts a workload that must not
// inherit memrec's protection.
#[cfg_attr(not(test), allow(dead_code))]
pub fn reset_for_child(cmd: &mut Command, adj: i32) {
    use std::os::unix::process::CommandExt;
    // Formatted now: between fork and exec only async-signal-safe calls
    // are allowed, so no allocation there.
    let mut text = [0u8; 16];
    let n = {
        let s = format!("{}\n", adj.clamp(*RANGE.start(), *RANGE.end()));
        text[..s.len()].copy_from_slice(s.as_bytes());
        s.len()
    };
    // SAFETY: the hook only makes raw open/write/close system calls on
    // memory it owns.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let w = libc::write(fd, text.as_ptr().cast(), n);
            let err = io::Error::last_os_error();
            libc::close(fd);
            if w != n as isize {
                return Err(err);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_is_refused_before_the_kernel() {
        let e = protect(-1001).unwrap_err();
        assert!(matches!(e, ProtectError::Range(-1001)));
        assert!(protect(1001).is_err());
    }

    // The default is strongly negative but killable (not OOM_SCORE_ADJ_MIN).
    const _: () = assert!(DEFAULT_OOM_SCORE_ADJ > -1000 && DEFAULT_OOM_SCORE_ADJ < -500);

    #[test]
    fn the_current_value_is_read() {
        let v = current().expect("/proc/self/oom_score_adj");
        assert!(RANGE.contains(&v));
    }

    #[test]
    fn a_refusal_says_what_to_do() {
        let e = ProtectError::Write {
            adj: -900,
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("-900") && msg.contains("CAP_SYS_RESOURCE"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
        let e = ProtectError::Write {
            adj: -900,
            source: io::Error::from_raw_os_error(libc::EROFS),
        };
        assert!(e.to_string().contains("read-only"));
    }

    /// What a child reads as its oom_score_adj, reset to `reset` or not.
    fn child_reads(reset: Option<i32>) -> String {
        let mut cmd = Command::new("cat");
        cmd.arg(PATH);
        if let Some(adj) = reset {
            reset_for_child(&mut cmd, adj);
        }
        let out = cmd.output().expect("cat runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn a_child_gets_the_value_it_is_given() {
        // Raising needs no privilege, and only the child's value changes.
        assert_eq!(child_reads(Some(250)), "250");
        assert_eq!(child_reads(Some(1000)), "1000");
    }

    /// Sets, reads back, and checks that a child gets the value it is given
    /// and not memrec's. One test, since the value is the whole process's.
    #[test]
    fn protect_and_reset_for_child() {
        if memtrace_cli::testing::skip_unless_root(
            "protect_and_reset_for_child",
            "lowering oom_score_adj needs CAP_SYS_RESOURCE",
        ) {
            return;
        }
        let before = current().expect("readable");
        if !has_cap_sys_resource() {
            // Root without the capability (a container): the refusal memrec
            // warns with, and nothing changed.
            let e = protect(DEFAULT_OOM_SCORE_ADJ).unwrap_err();
            assert!(
                matches!(&e, ProtectError::Write { source, .. }
                    if source.raw_os_error() == Some(libc::EACCES)),
                "{e}"
            );
            assert!(e.to_string().contains("CAP_SYS_RESOURCE"), "{e}");
            assert_eq!(current(), Some(before));
            assert_eq!(child_reads(None), before.to_string());
            eprintln!("protect_and_reset_for_child: no CAP_SYS_RESOURCE here; checked the refusal");
            return;
        }
        assert_eq!(
            protect(DEFAULT_OOM_SCORE_ADJ).unwrap(),
            DEFAULT_OOM_SCORE_ADJ
        );
        assert_eq!(current(), Some(DEFAULT_OOM_SCORE_ADJ));
        // Inherited without the reset: why the reset exists.
        assert_eq!(child_reads(None), DEFAULT_OOM_SCORE_ADJ.to_string());
        assert_eq!(child_reads(Some(before)), before.to_string());
        assert_eq!(protect(before).unwrap(), before);
    }
}
