//! The huge page pool size (/proc/sys/vm/nr_hugepages), put back on drop.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tracing::{info, warn};

use crate::procfs;

pub const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

#[derive(Debug)]
pub struct HugepagePool {
    original: u64,
    restored: bool,
}

impl HugepagePool {
    /// Remembers the current pool size; from now on Drop restores it.
    pub fn save() -> Result<Self> {
        let original = procfs::read_u64(NR_HUGEPAGES)?;
        Ok(HugepagePool {
            original,
            restored: false,
        })
    }

    pub fn original(&self) -> u64 {
        self.original
    }

    /// Asks for `count` pages; returns how many the pool holds afterwards.
    /// A request the kernel cannot fully satisfy is not an error: the write
    /// succeeds and the read-back is lower.
    pub fn request(&mut self, count: u64) -> Result<u64> {
        self.restored = false;
        let res = procfs::write_text(NR_HUGEPAGES, &count.to_string());
        let now = procfs::read_u64(NR_HUGEPAGES)?;
        res.with_context(|| format!("requesting {count} huge pages (pool now {now})"))?;
        Ok(now)
    }

    /// Puts the original size back, retrying briefly (pages still being
    /// freed or a signal interrupting the write). Returns the size read back.
    pub fn restore(&mut self) -> Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let res = procfs::write_text(NR_HUGEPAGES, &self.original.to_string());
            let now = procfs::read_u64(NR_HUGEPAGES)?;
            if res.is_ok() && now == self.original {
                self.restored = true;
                info!(nr_hugepages = now, "huge page pool restored");
                return Ok(now);
            }
            if Instant::now() >= deadline {
                res?;
                anyhow::bail!("nr_hugepages is {now}, could not restore {}", self.original);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for HugepagePool {
    fn drop(&mut self) {
        if !self.restored {
            if let Err(e) = self.restore() {
                warn!("restoring nr_hugepages to {}: {e:#}", self.original);
            }
        }
    }
}
