//! Readers and parsers for the /proc files the ground truth is made of.
//!
//! The parsers take text so they can be unit-tested without root or a
//! particular kernel; the `read_*` wrappers add the file access.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Reads a whole (proc/sys) file as text, with the path in the error.
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads a file holding one unsigned integer (sysctls, cgroup counters).
pub fn read_u64(path: impl AsRef<Path>) -> Result<u64> {
    let path = path.as_ref();
    let text = read_text(path)?;
    text.trim().parse::<u64>().with_context(|| {
        format!(
            "parsing {:?} from {} as an integer",
            text.trim(),
            path.display()
        )
    })
}

/// Writes a (proc/sys/cgroup) file in one `write`, with the path in the error.
pub fn write_text(path: impl AsRef<Path>, value: &str) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
}

/// Parses "name value" lines (/proc/vmstat, memory.stat, memory.oom_control).
/// Lines that do not have exactly that shape are skipped: the formats only
/// ever grow, and a new odd line must not make the whole snapshot fail.
pub fn parse_name_value(text: &str) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(name), Some(value), None) = (it.next(), it.next(), it.next()) {
            if let Ok(v) = value.parse::<u64>() {
                map.insert(name.to_string(), v);
            }
        }
    }
    map
}

pub fn read_vmstat() -> Result<BTreeMap<String, u64>> {
    Ok(parse_name_value(&read_text("/proc/vmstat")?))
}

/// Parses /proc/meminfo into name → value; values are in kB except the
/// `HugePages_*` counts, exactly as the kernel prints them.
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if let Some(v) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) {
            map.insert(name.trim().to_string(), v);
        }
    }
    map
}

pub fn read_meminfo() -> Result<BTreeMap<String, u64>> {
    Ok(parse_meminfo(&read_text("/proc/meminfo")?))
}

/// One meminfo value in kB (or count), failing if the kernel lacks it.
pub fn meminfo_value(meminfo: &BTreeMap<String, u64>, name: &str) -> Result<u64> {
    meminfo
        .get(name)
        .copied()
        .with_context(|| format!("/proc/meminfo has no {name}"))
}

/// The memory fields of /proc/PID/status, in kB. Every field is optional:
/// kernel threads and zombies have none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcStatus {
    /// `Name:` (the comm).
    pub name: Option<String>,
    /// First letter of `State:` (R, S, D, Z, ...).
    pub state: Option<String>,
    pub vm_rss_kb: Option<u64>,
    pub rss_anon_kb: Option<u64>,
    pub rss_file_kb: Option<u64>,
    pub rss_shmem_kb: Option<u64>,
    pub vm_swap_kb: Option<u64>,
    pub vm_hwm_kb: Option<u64>,
    pub vm_size_kb: Option<u64>,
    pub vm_data_kb: Option<u64>,
    pub vm_stk_kb: Option<u64>,
    pub vm_pte_kb: Option<u64>,
}

pub fn parse_status(text: &str) -> ProcStatus {
    let mut st = ProcStatus::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let rest = rest.trim();
        let kb = || {
            rest.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        };
        match key {
            "Name" => st.name = Some(rest.to_string()),
            "State" => st.state = rest.split_whitespace().next().map(str::to_string),
            "VmRSS" => st.vm_rss_kb = kb(),
            "RssAnon" => st.rss_anon_kb = kb(),
            "RssFile" => st.rss_file_kb = kb(),
            "RssShmem" => st.rss_shmem_kb = kb(),
            "VmSwap" => st.vm_swap_kb = kb(),
            "VmHWM" => st.vm_hwm_kb = kb(),
            "VmSize" => st.vm_size_kb = kb(),
            "VmData" => st.vm_data_kb = kb(),
            "VmStk" => st.vm_stk_kb = kb(),
            "VmPTE" => st.vm_pte_kb = kb(),
            _ => {}
        }
    }
    st
}

pub fn read_status(pid: i32) -> Result<ProcStatus> {
    Ok(parse_status(&read_text(format!("/proc/{pid}/status"))?))
}

/// The watermark block of one zone in /proc/zoneinfo, in pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ZoneSummary {
    pub node: u32,
    pub zone: String,
    pub free: Option<u64>,
    pub min: Option<u64>,
    pub low: Option<u64>,
    pub high: Option<u64>,
    pub spanned: Option<u64>,
    pub present: Option<u64>,
    pub managed: Option<u64>,
}

/// Parses the per-zone header and watermarks of /proc/zoneinfo. Only the
/// block right after `pages free` is read: later lines such as the
/// pagesets' `high:` must not be taken for the watermark.
pub fn parse_zoneinfo(text: &str) -> Vec<ZoneSummary> {
    let mut zones: Vec<ZoneSummary> = Vec::new();
    let mut in_watermarks = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Node ") {
            // "Node 0, zone   Normal"
            let mut it = rest.split(',');
            let node = it.next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
            let zone = it
                .next()
                .and_then(|z| z.trim().strip_prefix("zone"))
                .map(|z| z.trim().to_string())
                .unwrap_or_default();
            zones.push(ZoneSummary {
                node,
                zone,
                ..ZoneSummary::default()
            });
            in_watermarks = false;
            continue;
        }
        let Some(zone) = zones.last_mut() else {
            continue;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["pages", "free", v] => {
                zone.free = v.parse().ok();
                in_watermarks = true;
            }
            [key, v] if in_watermarks => {
                let v = v.parse().ok();
                match *key {
                    "min" => zone.min = v,
                    "low" => zone.low = v,
                    "high" => zone.high = v,
                    "spanned" => zone.spanned = v,
                    "present" => zone.present = v,
                    "managed" => zone.managed = v,
                    // boost, cma, ... belong to the block too.
                    _ if v.is_some() => {}
                    _ => in_watermarks = false,
                }
            }
            _ => in_watermarks = false,
        }
    }
    zones
}

/// One line of /proc/buddyinfo: free block counts per order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuddyZone {
    pub node: u32,
    pub zone: String,
    /// `free_blocks[k]` = number of free blocks of 2^k pages.
    pub free_blocks: Vec<u64>,
}

pub fn parse_buddyinfo(text: &str) -> Vec<BuddyZone> {
    let mut out = Vec::new();
    for line in text.lines() {
        // "Node 0, zone   Normal   5212   7342 ..."
        let Some(rest) = line.strip_prefix("Node ") else {
            continue;
        };
        let Some((node, rest)) = rest.split_once(',') else {
            continue;
        };
        let mut words = rest.split_whitespace();
        if words.next() != Some("zone") {
            continue;
        }
        let zone = words.next().unwrap_or_default().to_string();
        out.push(BuddyZone {
            node: node.trim().parse().unwrap_or(0),
            zone,
            free_blocks: words.filter_map(|w| w.parse().ok()).collect(),
        });
    }
    out
}

pub fn read_buddyinfo() -> Result<Vec<BuddyZone>> {
    Ok(parse_buddyinfo(&read_text("/proc/buddyinfo")?))
}

/// How many free blocks of 2^order pages the buddy lists hold (bigger
/// blocks count as several).
pub fn free_blocks_of_order(buddy: &[BuddyZone], order: usize) -> u64 {
    buddy
        .iter()
        .flat_map(|z| z.free_blocks.iter().enumerate())
        .filter(|(k, _)| *k >= order)
        .map(|(k, n)| n << (k - order))
        .sum()
}

/// Finds "Killed process PID" in a kernel log line (OOM killer report).
pub fn parse_killed_pid(line: &str) -> Option<i32> {
    let rest = &line[line.find("Killed process ")? + "Killed process ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmstat() {
        let m = parse_name_value(
            "nr_free_pages 123\npgfault 99999999999\noom_kill 0\nbogus line here\n",
        );
        assert_eq!(m.get("nr_free_pages"), Some(&123));
        assert_eq!(m.get("pgfault"), Some(&99_999_999_999));
        assert_eq!(m.get("oom_kill"), Some(&0));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn oom_control() {
        let m = parse_name_value("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        assert_eq!(m.get("oom_kill"), Some(&2));
        assert_eq!(m.get("under_oom"), Some(&0));
    }

    #[test]
    fn meminfo() {
        let m = parse_meminfo(
            "MemTotal:       24684092 kB\nMemFree:        22241800 kB\nHugePages_Total:       3\nHugepagesize:       2048 kB\n",
        );
        assert_eq!(m.get("MemTotal"), Some(&24_684_092));
        assert_eq!(m.get("HugePages_Total"), Some(&3));
        assert_eq!(meminfo_value(&m, "Hugepagesize").unwrap(), 2048);
        assert!(meminfo_value(&m, "Nope").is_err());
    }

    const STATUS: &str = "Name:\tmemscen-leak\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\n\
VmPeak:\t   50000 kB\nVmSize:\t   49152 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t   41000 kB\n\
VmRSS:\t   40960 kB\nRssAnon:\t   40000 kB\nRssFile:\t     900 kB\nRssShmem:\t      60 kB\nVmData:\t   45000 kB\n\
VmStk:\t     132 kB\nVmExe:\t    1000 kB\nVmLib:\t    2000 kB\nVmPTE:\t     120 kB\nVmSwap:\t       4 kB\nThreads:\t1\n";

    #[test]
    fn status() {
        let s = parse_status(STATUS);
        assert_eq!(s.name.as_deref(), Some("memscen-leak"));
        assert_eq!(s.state.as_deref(), Some("S"));
        assert_eq!(s.vm_rss_kb, Some(40960));
        assert_eq!(s.rss_anon_kb, Some(40000));
        assert_eq!(s.rss_file_kb, Some(900));
        assert_eq!(s.rss_shmem_kb, Some(60));
        assert_eq!(s.vm_swap_kb, Some(4));
        assert_eq!(s.vm_hwm_kb, Some(41000));
        assert_eq!(s.vm_size_kb, Some(49152));
        assert_eq!(s.vm_data_kb, Some(45000));
        assert_eq!(s.vm_stk_kb, Some(132));
        assert_eq!(s.vm_pte_kb, Some(120));
    }

    #[test]
    fn status_of_zombie_has_no_memory_fields() {
        let s = parse_status("Name:\tmemscen-oom\nState:\tZ (zombie)\nTgid:\t7\nThreads:\t1\n");
        assert_eq!(s.state.as_deref(), Some("Z"));
        assert_eq!(s.vm_rss_kb, None);
    }

    const ZONEINFO: &str = "Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 294906
      nr_active_anon 385
  pages free     3840
        boost    0
        min      39
        low      48
        high     57
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 2958, 6286, 6286, 6286)
      nr_free_pages 3840
  pagesets
    cpu: 0
              count: 0
              high:  0
              batch: 1
  vm stats threshold: 4
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone   Normal
  pages free     226832
        boost    0
        min      8838
        low      11047
        high     13256
        spanned  5505024
        present  5505024
        managed  851968
        cma      0
        protection: (0, 0, 0, 0, 0)
  pagesets
    cpu: 0
              count: 351
              high:  1486
              batch: 63
Node 0, zone  Movable
  pages free     0
        min      32
        low      32
        high     32
        spanned  0
        present  0
        managed  0
";

    #[test]
    fn zoneinfo() {
        let z = parse_zoneinfo(ZONEINFO);
        assert_eq!(z.len(), 3);
        assert_eq!(z[0].zone, "DMA");
        assert_eq!(z[0].free, Some(3840));
        assert_eq!(z[0].min, Some(39));
        assert_eq!(z[0].high, Some(57));
        assert_eq!(z[0].managed, Some(3840));
        assert_eq!(z[1].zone, "Normal");
        assert_eq!(z[1].node, 0);
        assert_eq!(z[1].free, Some(226_832));
        assert_eq!(z[1].low, Some(11047));
        // The pageset's "high:  1486" must not overwrite the watermark.
        assert_eq!(z[1].high, Some(13256));
        assert_eq!(z[1].present, Some(5_505_024));
        assert_eq!(z[1].managed, Some(851_968));
        assert_eq!(z[2].zone, "Movable");
        assert_eq!(z[2].free, Some(0));
        assert_eq!(z[2].min, Some(32));
    }

    #[test]
    fn buddyinfo() {
        let b = parse_buddyinfo(
            "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n\
             Node 0, zone   Normal   5212   7342   3799   5258   2323    782    208     45     34     16     57 \n",
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].zone, "Normal");
        assert_eq!(b[1].free_blocks.len(), 11);
        assert_eq!(b[1].free_blocks[0], 5212);
        // order >= 9: DMA 1 + 3*2, Normal 16 + 57*2
        assert_eq!(free_blocks_of_order(&b, 9), 7 + 130);
        assert_eq!(free_blocks_of_order(&b, 10), 3 + 57);
    }

    #[test]
    fn killed_pid() {
        let line = "Memory cgroup out of memory: Killed process 4321 (memscen-oom) total-vm:70000kB, anon-rss:65000kB";
        assert_eq!(parse_killed_pid(line), Some(4321));
        assert_eq!(parse_killed_pid("nothing here"), None);
    }
}
