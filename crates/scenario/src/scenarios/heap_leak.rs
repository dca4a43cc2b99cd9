//! heap-leak: a worker leaks heap blocks of known sizes through one chain
//! of named C functions and churns through another that frees everything,
//! so that a recording of its C library calls (memrec's memleak group) can
//! be checked for exact outstanding bytes per stack.
//!
//! The worker is a small C program (csrc/heapleak.c, built by build.rs with
//! frame pointers, no inlining and no tail calls) that memscen carries in
//! its own binary, writes to a scratch directory, runs, and deletes after
//! the run: the program's file is gone by the time anyone symbolizes the
//! recording, as on a production machine whose binary was replaced. Its
//! build-id and symbols go into the truth. The worker waits (up to a
//! bound) until uprobes are in place on its `malloc` and `free` before it
//! allocates, so a recorder that attaches to new processes by comm sees
//! every call.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{RunConfig, ScenarioName};
use crate::supervise::{Waited, Worker};
use crate::truth::GroundTruth;

/// The worker's comm: the program's file name, so it is the comm from exec on.
pub const COMM: &str = "memscen-heap";

/// The worker program, built by build.rs from csrc/heapleak.c.
const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/memscen-heap"));

/// The block sizes the C program cycles through (its LEAK_SIZES and
/// CHURN_SIZES): block i of the leak has `LEAK_SIZES[i % 4]` bytes.
const LEAK_SIZES: [u64; 4] = [64, 512, 4096, 12288];
const CHURN_SIZES: [u64; 3] = [32, 256, 2048];
/// Blocks the churn allocates before freeing them all.
const CHURN_BATCH: u64 = 100;
/// How long the worker stays after its last call, before it exits.
const HOLD: Duration = Duration::from_millis(1000);
/// How long the worker waits for a recorder's uprobes before it goes on.
const WAIT_UPROBES_MS: u64 = 10_000;

/// The functions of the C program, leak chain first (outermost last).
pub const LEAK_CHAIN: [&str; 3] = [
    "memtrace_leak_alloc",
    "memtrace_leak_middle",
    "memtrace_leak_outer",
];
pub const CHURN_CHAIN: [&str; 3] = [
    "memtrace_churn_alloc",
    "memtrace_churn_middle",
    "memtrace_churn_outer",
];
pub const CHURN_FREE: &str = "memtrace_churn_free";

/// `heap_leak` section of the ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct HeapLeakTruth {
    /// The worker's pid (one thread makes every call).
    pub pid: i32,
    pub comm: String,
    /// Where the program was written and run from (deleted after the run).
    pub binary_path: String,
    /// Its GNU build-id (hex), as its `.note.gnu.build-id` has it.
    pub build_id: Option<String>,
    /// The program's file no longer exists when memscen ends.
    pub binary_removed: bool,
    /// The program itself (hex): what a debug-info directory on the
    /// analysis host would hold for this build-id (about 18 KB).
    pub program_hex: String,
    /// The function that calls malloc in the leak chain; a leaked
    /// block's stack holds a return address inside `leak_function`.
    pub leak_function: String,
    pub leak_chain: Vec<String>,
    pub churn_chain: Vec<String>,
    pub churn_free_function: String,
    /// Every function of the chains: its address range in the worker
    /// (`start`..`end`, run-time addresses) and in the file (`elf_value`,
    /// `size`, from the symbol table).
    pub functions: BTreeMap<String, Function>,
    /// What the leak chain allocated and never freed.
    pub leak: Allocations,
    /// What the churn chain allocated; it freed every block.
    pub churn: Allocations,
    pub churn_batch: u64,
    /// Uprobes were found on the worker's malloc and free before it began
    /// (a recorder was attached), and how long it waited for them.
    pub uprobes_seen: bool,
    pub uprobes_waited_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Function {
    pub start: u64,
    pub end: u64,
    pub elf_value: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Allocations {
    /// Blocks allocated (each one `malloc` call that returned memory).
    pub count: u64,
    pub bytes: u64,
    /// How many blocks of each size.
    pub sizes: Vec<SizeCount>,
    /// CLOCK_BOOTTIME before the first call of the chain and after the last.
    pub start_ns: u64,
    pub end_ns: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SizeCount {
    pub size: u64,
    pub count: u64,
}

/// `count` blocks with sizes cycled from `sizes`: block i has
/// `sizes[i % sizes.len()]` bytes.
fn cycled(sizes: &[u64], count: u64) -> Vec<SizeCount> {
    let n = sizes.len() as u64;
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| SizeCount {
            size,
            count: count / n + u64::from((i as u64) < count % n),
        })
        .collect()
}

fn allocations(sizes: Vec<SizeCount>, start_ns: u64, end_ns: u64) -> Allocations {
    Allocations {
        count: sizes.iter().map(|s| s.count).sum(),
        bytes: sizes.iter().map(|s| s.size * s.count).sum(),
        sizes,
        start_ns,
        end_ns,
    }
}

/// Removes the scratch directory (and the program in it) on drop.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.0) {
            Ok(()) => tracing::info!(path = %self.0.display(), "removed scratch directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %self.0.display(), "removing scratch directory: {e}"),
        }
    }
}

/// Writes the program into a new directory of its own.
fn write_program(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = dir.join(COMM);
    std::fs::write(&exe, PROGRAM).with_context(|| format!("writing {}", exe.display()))?;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", exe.display()))?;
    Ok(exe)
}

pub fn run(cfg: &RunConfig, truth: &mut GroundTruth) -> Result<()> {
    let leak_count = cfg.scale.pick(1024u64, 4096);
    let churn_count = cfg.scale.pick(5_000u64, 100_000);
    let symbols = elf::symbols(PROGRAM).context("reading the worker program's symbols")?;
    let build_id = elf::build_id(PROGRAM);
    let dir = PathBuf::from(format!(
        "/var/tmp/memscen-{}-{}",
        crate::sys::pid(),
        ScenarioName::HeapLeak.as_str()
    ));

    truth.begin(None)?;
    let scratch = ScratchDir(dir.clone());
    let exe = write_program(&dir)?;
    let args: Vec<String> = [leak_count, churn_count, CHURN_BATCH, WAIT_UPROBES_MS]
        .iter()
        .map(u64::to_string)
        .collect();
    let mut w = Worker::spawn_program(&exe, &[], &args, COMM, None, Duration::from_secs(1))?;
    let deadline =
        Instant::now() + Duration::from_millis(WAIT_UPROBES_MS) + Duration::from_secs(120);
    if let Waited::Event = w.wait_for(Some("hold"), deadline)? {
        w.sample_now();
        // Alive a while: a recorder reads the process's mappings (what
        // names its frames) shortly after its first stack, not at once.
        std::thread::sleep(HOLD);
        w.finish(deadline)?;
    }
    truth.add_worker(&w);
    let wt = w.truth.clone();
    drop(w);
    drop(scratch);
    let binary_removed = !exe.exists();
    truth.end(None)?;

    let ev = |name: &str| wt.events.iter().find(|e| e.name == name);
    let at = |name: &str| ev(name).map(|e| e.boottime_ns).unwrap_or(0);
    let num = |name: &str, field: &str| ev(name).and_then(|e| e.data.get(field)?.as_u64());
    let addrs: BTreeMap<String, u64> = ev("functions")
        .and_then(|e| e.data.get("functions")?.as_object().cloned())
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| Some((k, v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    // PIE: the load bias is the same for every function of the program.
    let bias = addrs
        .get(LEAK_CHAIN[0])
        .zip(symbols.get(LEAK_CHAIN[0]))
        .map(|(run, sym)| run.wrapping_sub(sym.0));
    let mut functions = BTreeMap::new();
    for name in LEAK_CHAIN.iter().chain(&CHURN_CHAIN).chain([&CHURN_FREE]) {
        let (Some(&run), Some(&(value, size)), Some(bias)) =
            (addrs.get(*name), symbols.get(*name), bias)
        else {
            bail!("the worker did not report {name}, or the program has no symbol for it");
        };
        if run.wrapping_sub(value) != bias {
            bail!("{name} is at {run:#x}, not at its symbol {value:#x} + the load bias {bias:#x}");
        }
        functions.insert(
            name.to_string(),
            Function {
                start: run,
                end: run + size,
                elf_value: value,
                size,
            },
        );
    }
    let pid = wt.pid;
    let exit_ok = wt.exit_code == Some(0);
    let leaked = num("leak-done", "count");
    let churned = num("churn-done", "count");
    let uprobes_seen = ev("uprobes")
        .and_then(|e| e.data.get("uprobes_seen")?.as_bool())
        .unwrap_or(false);
    let waited = num("uprobes", "waited_ms").unwrap_or(0);
    let leak = allocations(
        cycled(&LEAK_SIZES, leak_count),
        at("leak-start"),
        at("leak-done"),
    );
    let churn = allocations(
        churn_sizes(churn_count),
        at("churn-start"),
        at("churn-done"),
    );
    let produced =
        exit_ok && leaked == Some(leak_count) && churned == Some(churn_count) && binary_removed;
    truth.set_verdict(
        produced,
        if produced {
            format!(
                "{} blocks ({} bytes) leaked through {}, {} allocated and freed through {}",
                leak.count, leak.bytes, LEAK_CHAIN[0], churn.count, CHURN_CHAIN[0]
            )
        } else {
            format!(
                "worker exit {:?}, leaked {leaked:?} of {leak_count}, churned {churned:?} of {churn_count}, program removed: {binary_removed}",
                wt.exit_code
            )
        },
    );
    truth.note(format!(
        "worker {pid} ({COMM}): leaked {} blocks / {} bytes, churned {} blocks / {} bytes",
        leak.count, leak.bytes, churn.count, churn.bytes
    ));
    truth.note(if uprobes_seen {
        format!("uprobes on malloc and free found after {waited} ms")
    } else {
        format!("no uprobes on malloc and free after {waited} ms: nothing was recording this worker's heap")
    });
    truth.heap_leak = Some(HeapLeakTruth {
        pid,
        comm: COMM.to_string(),
        binary_path: exe.display().to_string(),
        build_id,
        binary_removed,
        program_hex: PROGRAM.iter().map(|b| format!("{b:02x}")).collect(),
        leak_function: LEAK_CHAIN[0].to_string(),
        leak_chain: LEAK_CHAIN.iter().map(|s| s.to_string()).collect(),
        churn_chain: CHURN_CHAIN.iter().map(|s| s.to_string()).collect(),
        churn_free_function: CHURN_FREE.to_string(),
        functions,
        leak,
        churn,
        churn_batch: CHURN_BATCH,
        uprobes_seen,
        uprobes_waited_ms: waited,
    });
    Ok(())
}

/// The churn's block sizes: each batch continues the cycle where the last
/// one ended (`(first + i) % 3`), so the run is one long cycle.
fn churn_sizes(count: u64) -> Vec<SizeCount> {
    cycled(&CHURN_SIZES, count)
}

/// Just enough ELF reading for the worker program memscen built: its
/// function symbols and its build-id (64-bit little-endian ELF).
pub(crate) mod elf {
    use std::collections::BTreeMap;

    use anyhow::{bail, Context, Result};

    const SHT_SYMTAB: u32 = 2;
    const SHT_NOTE: u32 = 7;
    const STT_FUNC: u8 = 2;
    const NT_GNU_BUILD_ID: u32 = 3;

    fn u16_at(b: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
    }
    fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }
    fn u64_at(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    }

    struct Section {
        kind: u32,
        offset: usize,
        size: usize,
        link: usize,
    }

    fn sections(b: &[u8]) -> Result<Vec<Section>> {
        // ELF64 (class 2), little-endian (data 1).
        if b.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
            bail!("not a 64-bit little-endian ELF file");
        }
        let shoff = u64_at(b, 0x28).context("e_shoff")? as usize;
        let shentsize = u16_at(b, 0x3a).context("e_shentsize")? as usize;
        let shnum = u16_at(b, 0x3c).context("e_shnum")? as usize;
        (0..shnum)
            .map(|i| {
                let h = shoff + i * shentsize;
                Ok(Section {
                    kind: u32_at(b, h + 4).context("sh_type")?,
                    offset: u64_at(b, h + 0x18).context("sh_offset")? as usize,
                    size: u64_at(b, h + 0x20).context("sh_size")? as usize,
                    link: u32_at(b, h + 0x28).context("sh_link")? as usize,
                })
            })
            .collect()
    }

    /// Function symbols of the symbol table: name → (value, size).
    pub fn symbols(b: &[u8]) -> Result<BTreeMap<String, (u64, u64)>> {
        let secs = sections(b)?;
        let symtab = secs
            .iter()
            .find(|s| s.kind == SHT_SYMTAB)
            .context("no symbol table")?;
        let strtab = secs
            .get(symtab.link)
            .context("the symbol table's strings")?;
        let strings = b
            .get(strtab.offset..strtab.offset + strtab.size)
            .context("string table out of the file")?;
        let mut out = BTreeMap::new();
        for at in (symtab.offset..symtab.offset + symtab.size).step_by(24) {
            let (Some(name), Some(info), Some(value), Some(size)) = (
                u32_at(b, at),
                b.get(at + 4),
                u64_at(b, at + 8),
                u64_at(b, at + 16),
            ) else {
                bail!("symbol table out of the file");
            };
            if info & 0xf != STT_FUNC || size == 0 {
                continue;
            }
            let rest = strings.get(name as usize..).context("symbol name")?;
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            out.insert(
                String::from_utf8_lossy(&rest[..end]).into_owned(),
                (value, size),
            );
        }
        Ok(out)
    }

    /// The GNU build-id note's bytes in hex.
    pub fn build_id(b: &[u8]) -> Option<String> {
        for s in sections(b).ok()?.iter().filter(|s| s.kind == SHT_NOTE) {
            let mut at = s.offset;
            while at + 12 <= s.offset + s.size {
                let namesz = u32_at(b, at)? as usize;
                let descsz = u32_at(b, at + 4)? as usize;
                let kind = u32_at(b, at + 8)?;
                let name = at + 12;
                let desc = name + namesz.div_ceil(4) * 4;
                if kind == NT_GNU_BUILD_ID && b.get(name..name + namesz)? == b"GNU\0" {
                    let id = b.get(desc..desc + descsz)?;
                    return Some(id.iter().map(|x| format!("{x:02x}")).collect());
                }
                at = desc + descsz.div_ceil(4) * 4;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_program_has_the_chains_and_a_build_id() {
        let syms = elf::symbols(PROGRAM).unwrap();
        for name in LEAK_CHAIN.iter().chain(&CHURN_CHAIN).chain([&CHURN_FREE]) {
            let (_, size) = syms[*name];
            assert!(size > 0, "{name}");
        }
        let id = elf::build_id(PROGRAM).unwrap();
        assert_eq!(id.len(), 40, "{id}");
    }

    #[test]
    fn sizes_cycle_as_the_c_program_does() {
        let s = cycled(&LEAK_SIZES, 1026);
        assert_eq!(
            s.iter().map(|x| x.count).collect::<Vec<_>>(),
            [257, 257, 256, 256]
        );
        let a = allocations(cycled(&CHURN_SIZES, 7), 0, 0);
        assert_eq!((a.count, a.bytes), (7, 3 * 32 + 2 * 256 + 2 * 2048));
    }
}
