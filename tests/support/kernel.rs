//! What the kernel under test is and does, for the checks that depend on
//! it: what became of each of a recording's programs, what `memrec probes`
//! finds on the running kernel, the per-thread RSS cache of kernels before
//! 6.2, and whether the machine is emulated. docs/FIDELITY.md ("Kernels")
//! says what each one changes in the checks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

// ---------------------------------------------------------------------------
// Probe states

pub use memtrace_schema::ProbeState;

/// The state of a `probes` entry, as memtrace-schema reads it
/// (`ProbeMeta::state()`: derived for files written before the field).
/// `Err` holds a state this schema does not know.
pub fn probe_state(probe: &Value) -> Result<ProbeState, String> {
    let recorded_state = match probe.get("state") {
        Some(s) => Some(
            serde_json::from_value::<ProbeState>(s.clone())
                .map_err(|_| format!("unknown state {s}"))?,
        ),
        None => None,
    };
    Ok(memtrace_schema::ProbeMeta {
        attached: probe["attached"] == true,
        standby: probe["standby"] == true,
        recorded_state,
        ..Default::default()
    }
    .state())
}

/// One program of a recording: its state and memrec's reason.
#[derive(Debug, Clone)]
pub struct RecordedProbe {
    pub program: String,
    pub target: String,
    pub state: Result<ProbeState, String>,
    pub error: String,
    pub lost: u64,
}

/// The programs of a recording, from its metadata.
pub fn recorded_probes(meta: &Value) -> Vec<RecordedProbe> {
    meta["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| RecordedProbe {
            program: p["program"].as_str().unwrap_or("").to_string(),
            target: p["target"].as_str().unwrap_or("").to_string(),
            state: probe_state(p),
            error: p["error"].as_str().unwrap_or("").to_string(),
            lost: p["lost"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// The state of one program of a recording, or None when the recording has
/// no such program (a memrec older than it).
pub fn state_of(meta: &Value, program: &str) -> Option<(ProbeState, String)> {
    recorded_probes(meta)
        .into_iter()
        .find(|p| p.program == program)
        .and_then(|p| p.state.ok().map(|s| (s, p.error)))
}

/// What `memrec probes --json` says of each program on the running kernel:
/// missing (with why), or not.
#[derive(Debug, Clone, Default)]
pub struct KernelProbes {
    missing: BTreeMap<String, String>,
    known: Vec<String>,
}

impl KernelProbes {
    /// Runs `memrec probes --json`. Its programs carry `state` ("available",
    /// "missing", "standby") and `available`; older memrecs only the latter.
    pub fn here(memrec: &Path) -> Result<Self, String> {
        let out = Command::new(memrec)
            .args(["probes", "--json"])
            .output()
            .map_err(|e| format!("running memrec probes: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "memrec probes --json exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let groups: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("memrec probes --json: {e}"))?;
        Ok(Self::parse(&groups))
    }

    pub fn parse(groups: &Value) -> Self {
        let mut k = KernelProbes::default();
        for p in groups
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["programs"].as_array().into_iter().flatten())
        {
            let name = p["program"].as_str().unwrap_or("").to_string();
            let missing = match p.get("state").and_then(Value::as_str) {
                Some(s) => s == "missing",
                None => p["available"] == false,
            };
            if missing {
                let why = p["why"].as_str().unwrap_or("not available").to_string();
                k.missing.insert(name.clone(), why);
            }
            k.known.push(name);
        }
        k
    }

    /// Why the program cannot run on this kernel, if `memrec probes` says so.
    pub fn missing(&self, program: &str) -> Option<&str> {
        self.missing.get(program).map(String::as_str)
    }

    pub fn knows(&self, program: &str) -> bool {
        self.known.iter().any(|p| p == program)
    }
}

/// The verdict on one program of a recording made on the running kernel
/// (`here` is `memrec probes` there) or elsewhere (`here` None: a fixture).
/// "failed" fails; "missing" passes only if the running kernel's `memrec
/// probes` also says the program's target is missing, so that a regression
/// cannot pass as "missing". Returns (ok, what was seen).
pub fn probe_verdict(p: &RecordedProbe, here: Option<&KernelProbes>) -> (bool, String) {
    let state = match &p.state {
        Ok(s) => *s,
        Err(e) => return (false, e.clone()),
    };
    let why = if p.error.is_empty() {
        String::new()
    } else {
        format!(" (memrec: {})", p.error)
    };
    match state {
        ProbeState::Attached | ProbeState::Standby | ProbeState::NotAsked => {
            (true, format!("{}{why}", state.as_str()))
        }
        ProbeState::Failed => (false, format!("failed{why}")),
        ProbeState::Missing => match here {
            Some(k) => match k.missing(&p.program) {
                Some(kwhy) => (
                    true,
                    format!("missing{why}; memrec probes on this kernel agrees: {kwhy}"),
                ),
                None if k.knows(&p.program) => (
                    false,
                    format!("missing{why}; but memrec probes finds it available on this kernel"),
                ),
                None => (
                    false,
                    format!("missing{why}; memrec probes does not list it"),
                ),
            },
            None => (
                false,
                format!(
                    "missing{why}; not the running kernel's recording, so it cannot be \
                     cross-checked (a fixture must have every program)"
                ),
            ),
        },
    }
}

// ---------------------------------------------------------------------------
// Per-thread RSS counting (before 6.2)

/// `TASK_RSS_EVENTS_THRESH` of kernels with `SPLIT_RSS_COUNTING`.
pub const TASK_RSS_EVENTS_THRESH: u64 = 64;

/// Pages one thread may hold back from one of its mm's RSS counters on a
/// kernel with per-thread RSS counting (before 6.2). Page faults of a
/// thread on its own mm count in `current->rss_stat`, not in the mm, and
/// `check_sync_rss_stat()` folds them in at the start of a fault only when
/// `rss_stat.events++ > TASK_RSS_EVENTS_THRESH`: the 66th fault since the
/// last fold. So the changes of up to 66 faults are pending, and an
/// anonymous or swap-in fault changes each counter by one page (a THP fault
/// and every unmap, reclaim or swap-out update the mm directly).
pub const SPLIT_RSS_PENDING_PAGES: u64 = TASK_RSS_EVENTS_THRESH + 2;

/// Whether a kernel counts RSS per thread first (`SPLIT_RSS_COUNTING`,
/// removed in 6.2 when the mm counters became per-CPU counters).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRss {
    pub present: bool,
    /// How it was found.
    pub why: String,
}

/// From the running kernel's BTF: `struct task_rss_stat` (the per-thread
/// cache) exists exactly where SPLIT_RSS_COUNTING is compiled in.
pub fn split_rss_here() -> Result<SplitRss, String> {
    const BTF: &str = "/sys/kernel/btf/vmlinux";
    let data = std::fs::read(BTF).map_err(|e| format!("{BTF}: {e}"))?;
    // BTF's string section: NUL-separated names.
    let present = data
        .windows(b"\0task_rss_stat\0".len())
        .any(|w| w == b"\0task_rss_stat\0");
    Ok(SplitRss {
        present,
        why: format!(
            "struct task_rss_stat {} the running kernel's BTF",
            if present { "is in" } else { "is not in" }
        ),
    })
}

/// `major.minor` of a release string (`6.1.0-57-amd64` -> (6, 1)).
pub fn release_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-', '+']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// The running kernel's release (`uname -r`).
pub fn running_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Per-thread RSS counting on the kernel a recording was made on: the
/// running kernel's BTF when it is that kernel, else its release (< 6.2).
pub fn split_rss_of(meta: &Value) -> SplitRss {
    let release = meta["kernel_release"].as_str().unwrap_or("");
    if running_release().as_deref() == Some(release) {
        if let Ok(s) = split_rss_here() {
            return s;
        }
    }
    let present = release_version(release).is_some_and(|v| v < (6, 2));
    SplitRss {
        present,
        why: format!(
            "kernel {release} is {} 6.2",
            if present { "before" } else { "not before" }
        ),
    }
}

/// The page size of the running kernel.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(v).unwrap_or(4096)
}

// ---------------------------------------------------------------------------
// Multi-generational LRU

/// Whether the running kernel reclaims with the multi-generational LRU
/// (`/sys/kernel/mm/lru_gen/enabled` with its main switch, bit 0, set):
/// Some(why) then. There `mm_vmscan_lru_shrink_inactive`'s `nr_scanned`
/// is what `evict_folios()` scanned (sorted folios and generation bumps
/// included, and again on its retry pass), not the isolated folios that
/// `pgscan_*` count; `nr_reclaimed` is still what `pgsteal_*` count.
pub fn mglru_here() -> Option<String> {
    mglru_in(std::fs::read_to_string(LRU_GEN).ok()?.trim(), "")
}

const LRU_GEN: &str = "/sys/kernel/mm/lru_gen/enabled";

/// The same for the kernel a recording was made on, from what memscen
/// read there (`host.lru_gen_enabled` in its truth; absent in truth files
/// from before it did, which were all made with it off or absent).
pub fn mglru_of(truth: &Value) -> Option<String> {
    let text = truth["host"]["lru_gen_enabled"].as_str()?;
    mglru_in(text, " when memscen ran")
}

fn mglru_in(text: &str, when: &str) -> Option<String> {
    let bits = u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()?;
    (bits & 1 == 1).then(|| {
        format!(
            "the multi-generational LRU is on ({LRU_GEN} {}{when})",
            text.trim()
        )
    })
}

// ---------------------------------------------------------------------------
// Emulation

/// What the kernel matrix exports into guests it runs under emulation
/// (`tcg`).
pub const EMULATED_ENV: &str = "MEMTRACE_EMULATED";

/// The emulator the test runs under, if the environment says so.
pub fn emulated() -> Option<String> {
    std::env::var(EMULATED_ENV)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `vm.stat_interval` of the running kernel, in ns (1 s when unreadable,
/// the kernel's default).
pub fn stat_interval_ns() -> i128 {
    std::fs::read_to_string("/proc/sys/vm/stat_interval")
        .ok()
        .and_then(|s| s.trim().parse::<i128>().ok())
        .map_or(1_000_000_000, |s| s * 1_000_000_000)
}
