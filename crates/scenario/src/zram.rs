//! A zram swap device that exists only for the length of a scenario.
//!
//! Setup: hot-add (or borrow an unused) zram device, size it, write a swap
//! header, swapon. Drop undoes each step that was done, in reverse.

use std::ffi::CString;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::{info, warn};

use crate::procfs;

const HOT_ADD: &str = "/sys/class/zram-control/hot_add";
const HOT_REMOVE: &str = "/sys/class/zram-control/hot_remove";
// From <linux/swap.h>; libc does not export them.
const SWAP_FLAG_PREFER: i32 = 0x8000;
const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;
/// Our swap is preferred over any other so the scenario's pages land in it.
pub const SWAP_PRIORITY: i32 = 32000;

/// `/sys/block/zramN/mm_stat`, in bytes (pages for the last counters).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MmStat {
    pub orig_data_size: u64,
    pub compr_data_size: u64,
    pub mem_used_total: u64,
    pub mem_limit: u64,
    pub mem_used_max: u64,
    pub same_pages: u64,
    pub pages_compacted: u64,
    pub huge_pages: Option<u64>,
}

pub fn parse_mm_stat(text: &str) -> Option<MmStat> {
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if v.len() < 7 {
        return None;
    }
    Some(MmStat {
        orig_data_size: v[0],
        compr_data_size: v[1],
        mem_used_total: v[2],
        mem_limit: v[3],
        mem_used_max: v[4],
        same_pages: v[5],
        pages_compacted: v[6],
        huge_pages: v.get(7).copied(),
    })
}

/// Builds a v1 swap header ("SWAPSPACE2") for a device of `size` bytes:
/// the first page, zero except version, last_page, nr_badpages and magic.
pub fn swap_header(size: u64, page_size: u64) -> Result<Vec<u8>> {
    let ps = usize::try_from(page_size).context("page size")?;
    if ps < 4096 {
        bail!("page size {page_size} too small for a swap header");
    }
    let pages = size / page_size;
    if pages < 10 {
        bail!("swap area of {size} bytes is too small");
    }
    let last_page = u32::try_from(pages - 1).context("swap area too large for a v1 header")?;
    let mut page = vec![0u8; ps];
    // union swap_header { info: { bootbits[1024], version, last_page, nr_badpages, uuid[16], ... } }
    page[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    page[1028..1032].copy_from_slice(&last_page.to_ne_bytes());
    page[1032..1036].copy_from_slice(&0u32.to_ne_bytes());
    page[ps - 10..].copy_from_slice(b"SWAPSPACE2");
    Ok(page)
}

#[derive(Debug)]
pub struct ZramSwap {
    pub index: u32,
    pub hot_added: bool,
    pub dev: PathBuf,
    pub disksize: u64,
    /// "mkswap" or "builtin": who wrote the swap header.
    pub header_by: String,
    sized: bool,
    swapped_on: bool,
}

impl ZramSwap {
    fn sys(&self) -> PathBuf {
        PathBuf::from(format!("/sys/block/zram{}", self.index))
    }

    /// Creates and enables the zram swap. On any error the partially set-up
    /// device is torn down by Drop before the error is returned.
    pub fn setup(disksize: u64) -> Result<Self> {
        let (index, hot_added) = allocate_device()?;
        let mut z = ZramSwap {
            index,
            hot_added,
            dev: PathBuf::from(format!("/dev/zram{index}")),
            disksize,
            header_by: String::new(),
            sized: false,
            swapped_on: false,
        };
        info!(dev = %z.dev.display(), hot_added, "using zram device");
        z.ensure_dev_node()?;
        // Mark it sized before writing: a failed write may still have sized it.
        z.sized = true;
        procfs::write_text(z.sys().join("disksize"), &disksize.to_string())?;
        z.write_header()?;
        let path = CString::new(z.dev.as_os_str().as_bytes()).context("device path")?;
        let flags = SWAP_FLAG_PREFER | (SWAP_PRIORITY & SWAP_FLAG_PRIO_MASK);
        // SAFETY: path is a valid NUL-terminated string.
        if unsafe { libc::swapon(path.as_ptr(), flags) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(e).with_context(|| format!("swapon {}", z.dev.display()));
        }
        z.swapped_on = true;
        let swaps = procfs::read_text("/proc/swaps")?;
        if !swaps
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&*z.dev.to_string_lossy()))
        {
            bail!(
                "{} is not listed in /proc/swaps after swapon",
                z.dev.display()
            );
        }
        info!(dev = %z.dev.display(), disksize, header = %z.header_by, "zram swap on");
        Ok(z)
    }

    /// devtmpfs creates /dev/zramN by itself; without it (or while it lags)
    /// we make the node from /sys/block/zramN/dev.
    fn ensure_dev_node(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.dev.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.dev.exists() {
            return Ok(());
        }
        let devno = procfs::read_text(self.sys().join("dev"))?;
        let (maj, min) = devno
            .trim()
            .split_once(':')
            .with_context(|| format!("bad device number {devno:?}"))?;
        let (maj, min): (u32, u32) = (maj.parse()?, min.parse()?);
        let path = CString::new(self.dev.as_os_str().as_bytes()).context("device path")?;
        // SAFETY: valid path; creates a block device node.
        let rc = unsafe {
            libc::mknod(
                path.as_ptr(),
                libc::S_IFBLK | 0o600,
                libc::makedev(maj, min),
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(e).with_context(|| format!("mknod {}", self.dev.display()));
        }
        Ok(())
    }

    /// Uses util-linux mkswap when present; otherwise (or with
    /// MEMSCEN_BUILTIN_SWAP_HEADER=1, which tests this path) writes the
    /// header itself.
    fn write_header(&mut self) -> Result<()> {
        let mkswap = match std::env::var_os("MEMSCEN_BUILTIN_SWAP_HEADER") {
            Some(_) => None,
            None => find_in_path("mkswap"),
        };
        if let Some(mkswap) = mkswap {
            let out = std::process::Command::new(&mkswap)
                .arg(&self.dev)
                .output()
                .with_context(|| format!("running {}", mkswap.display()))?;
            if out.status.success() {
                self.header_by = "mkswap".into();
                return Ok(());
            }
            warn!(
                "mkswap failed ({}), writing the header ourselves: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let header = swap_header(self.disksize, crate::sys::page_size())?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.dev)
            .with_context(|| format!("opening {}", self.dev.display()))?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header)
            .with_context(|| format!("writing the swap header to {}", self.dev.display()))?;
        f.sync_all().context("syncing the swap header")?;
        self.header_by = "builtin".into();
        Ok(())
    }

    pub fn mm_stat(&self) -> Option<MmStat> {
        parse_mm_stat(&procfs::read_text(self.sys().join("mm_stat")).ok()?)
    }
}

impl Drop for ZramSwap {
    fn drop(&mut self) {
        if self.swapped_on {
            match CString::new(self.dev.as_os_str().as_bytes()) {
                Ok(path) => {
                    // SAFETY: valid NUL-terminated path.
                    if unsafe { libc::swapoff(path.as_ptr()) } != 0 {
                        warn!(dev = %self.dev.display(), "swapoff: {}", std::io::Error::last_os_error());
                    } else {
                        info!(dev = %self.dev.display(), "swapoff done");
                    }
                }
                Err(e) => warn!("swapoff: {e}"),
            }
        }
        if self.sized {
            // reset returns EBUSY for a moment after swapoff drops the last opener.
            let reset = self.sys().join("reset");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match std::fs::write(&reset, "1") {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        warn!(dev = %self.dev.display(), "zram reset: {e}");
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        if self.hot_added {
            if let Err(e) = std::fs::write(HOT_REMOVE, self.index.to_string()) {
                warn!(index = self.index, "zram hot_remove: {e}");
            } else {
                info!(index = self.index, "zram device removed");
            }
        }
    }
}

/// Returns (index, hot_added). Prefers a fresh device; otherwise borrows an
/// existing one that is unsized and not in use.
fn allocate_device() -> Result<(u32, bool)> {
    if Path::new(HOT_ADD).exists() {
        let text = procfs::read_text(HOT_ADD)?;
        let index = text
            .trim()
            .parse()
            .with_context(|| format!("bad zram hot_add answer {text:?}"))?;
        return Ok((index, true));
    }
    let swaps = procfs::read_text("/proc/swaps").unwrap_or_default();
    let mut entries: Vec<_> = std::fs::read_dir("/sys/block")
        .context("listing /sys/block")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("zram")?
                .parse::<u32>()
                .ok()
        })
        .collect();
    entries.sort_unstable();
    for index in entries {
        let size = procfs::read_u64(format!("/sys/block/zram{index}/disksize")).unwrap_or(1);
        if size == 0 && !swaps.contains(&format!("/dev/zram{index} ")) {
            return Ok((index, false));
        }
    }
    bail!("no zram: neither {HOT_ADD} nor an unused /sys/block/zramN (is the zram driver there?)")
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let h = swap_header(512 << 20, 4096).unwrap();
        assert_eq!(h.len(), 4096);
        assert_eq!(&h[4086..], b"SWAPSPACE2");
        assert_eq!(u32::from_ne_bytes(h[1024..1028].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_ne_bytes(h[1028..1032].try_into().unwrap()),
            (512 << 20) / 4096 - 1
        );
        assert_eq!(u32::from_ne_bytes(h[1032..1036].try_into().unwrap()), 0);
        assert!(h[..1024].iter().all(|&b| b == 0));
        assert!(swap_header(4096, 4096).is_err());
    }

    #[test]
    fn mm_stat() {
        let m = parse_mm_stat(
            "  209715200 52428800 53000000        0 53000000     1024        0        5        5\n",
        )
        .unwrap();
        assert_eq!(m.orig_data_size, 209_715_200);
        assert_eq!(m.compr_data_size, 52_428_800);
        assert_eq!(m.same_pages, 1024);
        assert_eq!(m.huge_pages, Some(5));
        assert!(parse_mm_stat("1 2 3").is_none());
    }
}
