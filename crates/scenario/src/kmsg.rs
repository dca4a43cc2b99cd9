//! Reads kernel log records written during a scenario (from /dev/kmsg).

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use tracing::debug;

#[derive(Debug)]
pub struct KernelLog {
    file: File,
}

impl KernelLog {
    /// Opens the log positioned after the last existing record, so only
    /// new records are read. `None` if /dev/kmsg is unavailable.
    pub fn open_at_end() -> Option<Self> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| debug!("/dev/kmsg: {e}"))
            .ok()?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| debug!("/dev/kmsg seek: {e}"))
            .ok()?;
        Some(KernelLog { file })
    }

    /// Returns the message text of every record since the last call.
    pub fn read_new(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        // One read returns one record; records are at most ~8 KiB.
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    // "prio,seq,ts_us,flags;message\n continuation lines"
                    if let Some((_, msg)) = rec.split_once(';') {
                        if let Some(first) = msg.lines().next() {
                            out.push(first.to_string());
                        }
                    }
                }
                // EPIPE: records were overwritten before we read them; go on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("/dev/kmsg read: {e}");
                    break;
                }
            }
        }
        out
    }
}
