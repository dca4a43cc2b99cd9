//! The stack store: user and kernel stacks decoded into a table of
//! distinct stacks (`stack_frame`), each sampled process's executable
//! mappings with their build-ids (`module_map`), and the kernel's symbols
//! (`kernel_symbol`), so that stacks recorded here can be named on another
//! machine (memana).
//!
//! faults sends sampled user stacks as records of their own (kind [`KIND`],
//! bpf/common/stacks.h) and hands them to [`decode`] with the row a sample
//! makes (`fault_stack`); memleak and kmemleak carry a stack inline in each
//! record and call [`intern_user`] / [`intern_kernel`]. The store is the
//! decoding thread's, shared by every group, so stack ids are unique in a
//! recording. Its tables are the schema group [`GROUP`], listed in the file
//! when a group that uses it is recorded ([`store_meta`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::FileExt;

use memtrace_schema::tables::stacks::{kernel_symbol, module_map, stack_frame};
use memtrace_schema::{GroupMeta, GroupStatus, Header, Row, Text};

use crate::bpf::faults::types::{mt_stack, mt_stack_kind};
use crate::probes::decode::{header, DecodeCtx, DecodeError, RowSink};
use crate::probes::Group;

/// The store's schema group (`stack_frame`, `module_map`,
/// `kernel_symbol`): not a probe group of its own, it is recorded with the
/// groups that use it.
pub const GROUP: &str = stack_frame::TABLE.group;

/// Whether a group's rows name stacks of the store: one of its tables has a
/// `stack_id` column (the schema says so; no list to keep).
pub fn uses_store(g: &Group) -> bool {
    g.tables.iter().any(|t| t.column("stack_id").is_some())
}

/// The store's entry in the file's `groups`: attached when a group that
/// uses it was recorded (attached or partial), so memana reads its tables;
/// none when no such group was.
pub fn store_meta(groups: &[GroupMeta]) -> Option<GroupMeta> {
    let users: Vec<&str> = groups
        .iter()
        .filter(|m| {
            m.status == GroupStatus::Attached.as_str() || m.status == GroupStatus::Partial.as_str()
        })
        .filter(|m| crate::probes::group(&m.name).is_some_and(uses_store))
        .map(|m| m.name.as_str())
        .collect();
    if users.is_empty() {
        return None;
    }
    Some(GroupMeta {
        name: GROUP.to_string(),
        status: GroupStatus::Attached.to_string(),
        ..Default::default()
    })
}

/// One text symbol of /proc/kallsyms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSymbol {
    pub address: u64,
    pub name: String,
    /// The module, without its brackets; None for the kernel image.
    pub module: Option<String>,
}

/// The text symbols (types t, T, w, W) of a /proc/kallsyms listing, by
/// address; those listed at address 0 (hidden by kptr_restrict) are left
/// out.
pub fn parse_kallsyms(text: &str) -> Vec<KernelSymbol> {
    let mut out: Vec<KernelSymbol> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let address = u64::from_str_radix(it.next()?, 16).ok()?;
            let ty = it.next()?;
            let name = it.next()?;
            let module = it
                .next()
                .and_then(|m| m.strip_prefix('['))
                .and_then(|m| m.strip_suffix(']'))
                .map(str::to_string);
            (address != 0 && matches!(ty, "t" | "T" | "w" | "W")).then(|| KernelSymbol {
                address,
                name: name.to_string(),
                module,
            })
        })
        .collect();
    // Sorted, the addresses delta-encode and compress to little.
    out.sort_by(|a, b| a.address.cmp(&b.address).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Why the kernel's symbols were not written.
pub const NO_KERNEL_SYMBOLS: &str = "kernel addresses (call sites, kernel stacks) are recorded \
     unnamed: /proc/kallsyms shows no addresses here (needs CAP_SYSLOG, or \
     kernel.kptr_restrict=0 with perf_event_paranoid <= 1)";

/// Writes the kernel's text symbols (`kernel_symbol`) from `kallsyms` (the
/// text of /proc/kallsyms), stamped `ts_ns`, for the groups whose rows hold
/// kernel addresses; returns how many. When every address reads as 0
/// (kptr_restrict), writes nothing and says so once in `warnings`.
pub fn write_kernel_symbols<O: RowSink>(
    kallsyms: &str,
    ts_ns: i64,
    out: &mut O,
    warnings: &mut Vec<String>,
) -> Result<usize, crate::writer::WriteError> {
    let syms = parse_kallsyms(kallsyms);
    if syms.is_empty() {
        tracing::warn!("{NO_KERNEL_SYMBOLS}");
        warnings.push(NO_KERNEL_SYMBOLS.to_string());
        return Ok(0);
    }
    // A system-wide table: no task.
    let hdr = Header {
        ts_ns,
        ..Default::default()
    };
    for s in &syms {
        out.push(
            &hdr,
            &kernel_symbol::Row {
                address: s.address,
                name: Text::from(s.name.clone()),
                module: s.module.clone().map(Text::from),
            },
        )?;
    }
    Ok(syms.len())
}

// SAFETY: generated from a C struct of fixed-width integers.
unsafe impl plain::Plain for mt_stack {}

/// Record kind of a stack sample, the same in every group. The layout is
/// taken from the faults skeleton, the first group that includes stacks.h.
pub const KIND: u16 = mt_stack_kind::MT_KIND_USER_STACK.0 as u16;

/// A `--GROUP-stacks N` option: which group it samples, and what it costs.
#[derive(Debug)]
pub struct Sampler {
    pub group: &'static str,
    pub flag: &'static str,
    /// For `memrec probes`: the cost of a sample, measured (docs/BENCHMARKS.md).
    pub cost: &'static str,
}

/// Every group that can sample user stacks.
pub static SAMPLERS: &[Sampler] = &[Sampler {
    group: "faults",
    flag: "--fault-stacks",
    cost: "user stack of every Nth fault per CPU (off unless N is given): \
           about 0.4-0.7 us more per sampled fault in the kernel (frame walk and copy), \
           up to 1 KiB in the ring, and memrec's decoding; other faults pay a per-CPU count; \
           tables fault_stack, stack_frame, module_map",
}];

/// Bytes of a stack record before its frames.
const HEAD: usize = std::mem::size_of::<mt_stack>() - 8 * MT_STACK_MAX;
/// MT_STACK_MAX in stacks.h.
const MT_STACK_MAX: usize = 127;

/// What a group's sample row is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Null when no user stack could be read.
    pub stack_id: Option<u64>,
    /// The sampling period.
    pub every: u32,
    /// The kernel's error when no stack could be read.
    pub error: Option<i32>,
}

/// Distinct stacks kept for dedup; past this the map starts afresh (a stack
/// seen again then gets a new id and its frames again: more rows, same
/// answers).
const MAX_STACKS: usize = 1 << 20;
/// Processes whose mappings are remembered; past this they start afresh
/// (their maps are read again at their next sample).
const MAX_PROCS: usize = 1 << 16;
/// A process's maps are read again for an address outside them at most
/// this often.
const REREAD_NS: i64 = 1_000_000_000;

/// One process's executable mappings as last read.
#[derive(Debug, Default)]
struct Proc {
    ranges: Vec<(u64, u64)>,
    read_ts: i64,
    /// Its maps could not be read (it had exited): not tried again.
    gone: bool,
}

/// A distinct stack: its address space, frames and id.
type Interned = (Space, Box<[u64]>, u64);

#[derive(Debug, Default)]
struct Store {
    /// Distinct stacks by a hash of (space, frames), each bucket the
    /// stacks with that hash and their ids.
    stacks: HashMap<u64, Vec<Interned>>,
    nr_stacks: usize,
    next_id: u64,
    procs: HashMap<u32, Proc>,
    /// Build-ids by (device, inode) of the file, or None if it has none.
    build_ids: HashMap<(String, u64), Option<Text>>,
}

thread_local! {
    static STORE: RefCell<Store> = RefCell::new(Store::default());
}

/// Decodes a stack record (kind [`KIND`]): writes its stack's frames the
/// first time the process has it, the process's mappings the first time it
/// has a stack (or when a frame lies outside them), and the group's sample
/// row made by `row`.
pub fn decode<O: RowSink, R: Row>(
    data: &[u8],
    ctx: &mut DecodeCtx,
    out: &mut O,
    row: impl FnOnce(Sample) -> R,
) -> Result<(), DecodeError> {
    let (hdr, _) = header(data, ctx)?;
    let hdr = &hdr;
    if data.len() < HEAD {
        return Err(DecodeError::Short {
            got: data.len(),
            want: HEAD,
        });
    }
    let mut buf = [0u8; std::mem::size_of::<mt_stack>()];
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    let rec: mt_stack = crate::probes::decode::read(&buf)?;
    let nr = (rec.nr as usize).min(MT_STACK_MAX);
    if data.len() < HEAD + 8 * nr {
        return Err(DecodeError::Short {
            got: data.len(),
            want: HEAD + 8 * nr,
        });
    }
    let frames = &rec.ips[..nr];
    let stack_id = if frames.is_empty() {
        None
    } else {
        Some(STORE.with(|s| s.borrow_mut().intern(hdr, frames, out))?)
    };
    let sample = Sample {
        stack_id,
        every: rec.every,
        error: (rec.err != 0).then_some(rec.err),
    };
    out.push(hdr, &row(sample))?;
    Ok(())
}

/// The id of a user stack of the process `hdr.tgid` (frames from
/// `bpf_get_stack(..., BPF_F_USER_STACK)`, leaf first), writing its frames
/// and the process's mappings the first time. For groups whose records
/// carry their stack inline (memleak); `None` for an empty stack.
pub fn intern_user<O: RowSink>(
    hdr: &Header,
    frames: &[u64],
    out: &mut O,
) -> Result<Option<u64>, DecodeError> {
    if frames.is_empty() {
        return Ok(None);
    }
    STORE.with(|s| s.borrow_mut().intern(hdr, frames, out).map(Some))
}

/// The id of a kernel stack (frames from `bpf_get_stack(..., 0)`, leaf
/// first), writing its frames (`kernel` = true) the first time it is seen
/// in the recording, from whichever task; `None` for an empty stack.
pub fn intern_kernel<O: RowSink>(
    hdr: &Header,
    frames: &[u64],
    out: &mut O,
) -> Result<Option<u64>, DecodeError> {
    if frames.is_empty() {
        return Ok(None);
    }
    STORE.with(|s| {
        s.borrow_mut()
            .intern_in(hdr, Space::Kernel, frames, out)
            .map(Some)
    })
}

/// Whose addresses a stack holds: a process's, or the kernel's (one
/// address space for every task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Space {
    User(u32),
    Kernel,
}

impl Store {
    /// The user stack's id, writing its frames (and the process's maps) if new.
    fn intern<O: RowSink>(
        &mut self,
        hdr: &Header,
        frames: &[u64],
        out: &mut O,
    ) -> Result<u64, DecodeError> {
        self.maps_for(hdr, frames, out)?;
        self.intern_in(hdr, Space::User(hdr.tgid), frames, out)
    }

    /// The stack's id in its address space, writing its frames if new.
    fn intern_in<O: RowSink>(
        &mut self,
        hdr: &Header,
        space: Space,
        frames: &[u64],
        out: &mut O,
    ) -> Result<u64, DecodeError> {
        // Looked up by a hash of the borrowed frames: every allocation
        // event of memleak and kmemleak comes here, and a stack seen before
        // must cost no allocation.
        let hash = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (space, frames).hash(&mut h);
            h.finish()
        };
        if let Some(id) = self.stacks.get(&hash).and_then(|b| {
            b.iter()
                .find(|(s, f, _)| *s == space && &f[..] == frames)
                .map(|&(_, _, id)| id)
        }) {
            return Ok(id);
        }
        if self.nr_stacks >= MAX_STACKS {
            self.stacks.clear();
            self.nr_stacks = 0;
        }
        self.next_id += 1;
        let id = self.next_id;
        for (depth, &ip) in frames.iter().enumerate() {
            out.push(
                hdr,
                &stack_frame::Row {
                    stack_id: id,
                    depth: depth as u32,
                    ip,
                    kernel: space == Space::Kernel,
                },
            )?;
        }
        self.stacks
            .entry(hash)
            .or_default()
            .push((space, frames.into(), id));
        self.nr_stacks += 1;
        Ok(id)
    }

    /// Reads the process's mappings on its first stack, and again (rate
    /// limited) when a frame lies outside every mapping read.
    fn maps_for<O: RowSink>(
        &mut self,
        hdr: &Header,
        frames: &[u64],
        out: &mut O,
    ) -> Result<(), DecodeError> {
        if let Some(p) = self.procs.get(&hdr.tgid) {
            let outside = frames
                .iter()
                .any(|&ip| !p.ranges.iter().any(|&(s, e)| ip >= s && ip < e));
            if p.gone || !outside || hdr.ts_ns - p.read_ts < REREAD_NS {
                return Ok(());
            }
        }
        if self.procs.len() >= MAX_PROCS {
            self.procs.clear();
        }
        let maps = match std::fs::read_to_string(format!("/proc/{}/maps", hdr.tgid)) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("stacks: maps of {} not read: {e}", hdr.tgid);
                self.procs.insert(
                    hdr.tgid,
                    Proc {
                        gone: true,
                        read_ts: hdr.ts_ns,
                        ..Default::default()
                    },
                );
                return Ok(());
            }
        };
        let mut proc = Proc {
            read_ts: hdr.ts_ns,
            ..Default::default()
        };
        for m in maps.lines().filter_map(parse_maps_line) {
            let build_id = match m.inode {
                0 => None,
                inode => {
                    let key = (m.dev.to_string(), inode);
                    match self.build_ids.get(&key) {
                        Some(b) => b.clone(),
                        None => {
                            let b = read_build_id(hdr.tgid, &m).map(|b| Text::from(hex(&b)));
                            self.build_ids.insert(key, b.clone());
                            b
                        }
                    }
                }
            };
            proc.ranges.push((m.start, m.end));
            out.push(
                hdr,
                &module_map::Row {
                    start: m.start,
                    end: m.end,
                    file_offset: m.offset,
                    path: Text::from(m.path.to_string()),
                    build_id,
                },
            )?;
        }
        self.procs.insert(hdr.tgid, proc);
        Ok(())
    }
}

/// One executable mapping from /proc/PID/maps.
#[derive(Debug, PartialEq, Eq)]
pub struct MapsLine<'a> {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub dev: &'a str,
    pub inode: u64,
    pub path: &'a str,
}

/// Parses a /proc/PID/maps line; only executable mappings of a file or the
/// vDSO are kept.
pub fn parse_maps_line(line: &str) -> Option<MapsLine<'_>> {
    let mut f = line.splitn(6, ' ');
    let range = f.next()?;
    let perms = f.next()?;
    let offset = u64::from_str_radix(f.next()?, 16).ok()?;
    let dev = f.next()?;
    let inode = f.next()?.parse().ok()?;
    let path = f.next().unwrap_or("").trim_start();
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    if perms.as_bytes().get(2) != Some(&b'x') {
        return None;
    }
    if !(path.starts_with('/') || path == "[vdso]") {
        return None;
    }
    Some(MapsLine {
        start,
        end,
        offset,
        dev,
        inode,
        path,
    })
}

/// The build-id of a mapped file, read through /proc/PID/map_files (the
/// very file mapped, even deleted or in another mount namespace), else
/// through the process's root.
fn read_build_id(tgid: u32, m: &MapsLine<'_>) -> Option<Vec<u8>> {
    let by_map = format!("/proc/{tgid}/map_files/{:x}-{:x}", m.start, m.end);
    let path = m.path.trim_end_matches(" (deleted)");
    let file = File::open(by_map)
        .or_else(|_| File::open(format!("/proc/{tgid}/root{path}")))
        .ok()?;
    elf_build_id(&file)
}

/// The GNU build-id note of a 64-bit little-endian ELF file (what memrec's
/// targets run), read from its PT_NOTE segments.
pub fn elf_build_id(f: &File) -> Option<Vec<u8>> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    let mut eh = [0u8; 64];
    f.read_exact_at(&mut eh, 0).ok()?;
    // ELFCLASS64, ELFDATA2LSB.
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |b: &[u8], o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    let u64_at = |b: &[u8], o: usize| {
        b.get(o..o + 8)
            .and_then(|x| x.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let phoff = u64_at(&eh, 0x20)?;
    let phentsize = u64::from(u16_at(&eh, 0x36));
    let phnum = u64::from(u16_at(&eh, 0x38)).min(256);
    if phentsize < 56 {
        return None;
    }
    for i in 0..phnum {
        let mut ph = [0u8; 56];
        f.read_exact_at(&mut ph, phoff.checked_add(i * phentsize)?)
            .ok()?;
        if u32_at(&ph, 0)? != PT_NOTE {
            continue;
        }
        let (off, size) = (u64_at(&ph, 8)?, u64_at(&ph, 32)?.min(1 << 16));
        let mut notes = vec![0u8; size as usize];
        f.read_exact_at(&mut notes, off).ok()?;
        let mut at = 0usize;
        let align = |x: usize| (x + 3) & !3;
        while at + 12 <= notes.len() {
            let namesz = u32_at(&notes, at)? as usize;
            let descsz = u32_at(&notes, at + 4)? as usize;
            let ty = u32_at(&notes, at + 8)?;
            let name = at + 12;
            let desc = name.checked_add(align(namesz))?;
            let next = desc.checked_add(align(descsz))?;
            if desc + descsz > notes.len() {
                break;
            }
            if ty == NT_GNU_BUILD_ID && notes.get(name..name + namesz) == Some(b"GNU\0") {
                return Some(notes[desc..desc + descsz].to_vec());
            }
            at = next;
        }
    }
    None
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, ctx, Collect, Val};
    use memtrace_schema::tables::stacks::fault_stack;

    fn record(tgid: u32, ts: u64, frames: &[u64]) -> Vec<u8> {
        let mut r = mt_stack {
            every: 4,
            nr: frames.len() as u32,
            ..Default::default()
        };
        r.hdr.kind = KIND;
        r.hdr.tgid = tgid;
        r.hdr.pid = tgid;
        r.hdr.ts_ns = ts;
        r.ips[..frames.len()].copy_from_slice(frames);
        let mut b = bytes(&r);
        // The kernel sends only the frames found.
        b.truncate(HEAD + 8 * frames.len());
        b
    }

    /// The store is the thread's: a test starts with an empty one (tests may
    /// share a thread under --test-threads=1).
    fn fresh_store() {
        STORE.with(|s| *s.borrow_mut() = Store::default());
    }

    fn decode_one(data: &[u8], out: &mut Collect) -> Result<(), DecodeError> {
        decode(data, &mut ctx(), out, |s| fault_stack::Row {
            stack_id: s.stack_id,
            every: s.every,
            stack_error: s.error,
        })
    }

    #[inline(never)]
    fn here() -> u64 {
        here as fn() -> u64 as usize as u64
    }

    #[test]
    fn a_stack_is_written_once_per_process_with_the_maps_that_place_it() {
        fresh_store();
        let me = std::process::id();
        let ip = here();
        let mut out = Collect::default();
        decode_one(&record(me, 1_000, &[ip, ip + 1]), &mut out).unwrap();
        decode_one(&record(me, 2_000, &[ip, ip + 1]), &mut out).unwrap();
        let tables: Vec<&str> = out.rows.iter().map(|r| r.table).collect();
        let frames: Vec<&_> = out
            .rows
            .iter()
            .filter(|r| r.table == "stack_frame")
            .collect();
        assert_eq!(frames.len(), 2, "{tables:?}");
        assert_eq!(frames[0].get("depth"), &Val::U32(0));
        assert_eq!(frames[0].get("ip"), &Val::U64(ip));
        assert_eq!(frames[1].get("ip"), &Val::U64(ip + 1));
        let samples: Vec<&_> = out
            .rows
            .iter()
            .filter(|r| r.table == "fault_stack")
            .collect();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].get("stack_id"), samples[1].get("stack_id"));
        assert_eq!(samples[0].get("every"), &Val::U32(4));
        assert_eq!(samples[0].get("stack_error"), &Val::Null);
        assert_eq!(samples[1].hdr.ts_ns, 2_000);
        // This test binary's own text mapping holds `here`, with its build-id.
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let mine = out
            .rows
            .iter()
            .filter(|r| r.table == "module_map")
            .find(|r| match (r.get("start"), r.get("end")) {
                (Val::U64(s), Val::U64(e)) => *s <= ip && ip < *e,
                _ => false,
            })
            .expect("a mapping holds the test's own code");
        assert_eq!(mine.get("path"), &Val::from(exe.to_str().unwrap()));
        let own = elf_build_id(&File::open(&exe).unwrap()).map(|b| hex(&b));
        assert!(own.is_some(), "the test binary has a build-id note");
        assert_eq!(mine.get("build_id"), &Val::from(own.unwrap().as_str()));
        // The maps were read once: the second sample found them.
        let reads = out.rows.iter().filter(|r| r.table == "module_map").count();
        let in_maps = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter_map(parse_maps_line)
            .count();
        assert!(
            reads >= 1 && reads <= in_maps + 2,
            "{reads} rows, {in_maps} mappings"
        );
    }

    /// Through the real writer and back with a Parquet reader: the three
    /// tables keep their values and their join keys.
    #[test]
    fn the_stack_tables_round_trip_through_the_writer() {
        fresh_store();
        use arrow_array::cast::AsArray;
        use arrow_array::types::{UInt32Type, UInt64Type};
        use arrow_array::Array;
        let me = std::process::id();
        let ip = here();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let opts = crate::writer::WriterOptions {
            zstd_level: 1,
            ..Default::default()
        };
        let (mut t, w) = crate::writer::create(file, dir.path(), &opts).unwrap();
        let mut c = ctx();
        for (ts, frames) in [
            (10u64, vec![ip, ip + 7]),
            (20, vec![ip, ip + 7]),
            (30, vec![ip]),
        ] {
            decode(&record(me, ts, &frames), &mut c, &mut t, |s| {
                fault_stack::Row {
                    stack_id: s.stack_id,
                    every: s.every,
                    stack_error: s.error,
                }
            })
            .unwrap();
        }
        t.finish(memtrace_schema::FileMeta {
            schema_version: memtrace_schema::SCHEMA_VERSION,
            ..Default::default()
        })
        .unwrap();
        w.join().unwrap();

        // (kind, ts_ns, the table's own columns as u64, null as None)
        let mut rows: Vec<(String, i64, Vec<Option<u64>>)> = Vec::new();
        for b in crate::writer::merge::test_segments::batches(&path) {
            let (kind, ts) = crate::writer::merge::test_segments::kind_ts(&b);
            for i in 0..b.num_rows() {
                let k = kind.value(i).to_string();
                let cols: Vec<Option<u64>> = b
                    .schema()
                    .fields()
                    .iter()
                    .zip(b.columns())
                    .filter(|(f, _)| f.name().starts_with(&format!("{k}.")))
                    .map(|(_, a)| {
                        if a.is_null(i) {
                            return None;
                        }
                        match a.data_type() {
                            arrow_schema::DataType::UInt64 => {
                                Some(a.as_primitive::<UInt64Type>().value(i))
                            }
                            arrow_schema::DataType::UInt32 => {
                                Some(u64::from(a.as_primitive::<UInt32Type>().value(i)))
                            }
                            arrow_schema::DataType::Boolean => {
                                Some(u64::from(a.as_boolean().value(i)))
                            }
                            // Text (path, build-id) and i32: present or not.
                            _ => Some(u64::MAX),
                        }
                    })
                    .collect();
                rows.push((k, ts.value(i), cols));
            }
        }
        let of = |k: &str| -> Vec<(i64, Vec<Option<u64>>)> {
            rows.iter()
                .filter(|r| r.0 == k)
                .map(|r| (r.1, r.2.clone()))
                .collect()
        };
        let samples = of("fault_stack");
        // stack_id, every, stack_error
        assert_eq!(
            samples,
            [
                (10, vec![Some(1), Some(4), None]),
                (20, vec![Some(1), Some(4), None]),
                (30, vec![Some(2), Some(4), None]),
            ]
        );
        // stack_id, depth, ip, kernel: stack 1 once, then stack 2.
        assert_eq!(
            of("stack_frame"),
            [
                (10, vec![Some(1), Some(0), Some(ip), Some(0)]),
                (10, vec![Some(1), Some(1), Some(ip + 7), Some(0)]),
                (30, vec![Some(2), Some(0), Some(ip), Some(0)]),
            ]
        );
        let maps = of("module_map");
        assert!(!maps.is_empty());
        assert!(
            maps.iter().all(|(ts, _)| *ts == 10),
            "read once, at the first sample"
        );
        assert!(maps
            .iter()
            .any(|(_, m)| m[0].unwrap() <= ip && ip < m[1].unwrap()));
    }

    #[test]
    fn a_sample_without_a_stack_has_no_id_and_says_why() {
        fresh_store();
        let mut r = mt_stack {
            every: 1,
            err: -14,
            ..Default::default()
        };
        r.hdr.kind = KIND;
        let mut b = bytes(&r);
        b.truncate(HEAD);
        let mut out = Collect::default();
        decode_one(&b, &mut out).unwrap();
        assert_eq!(out.rows.len(), 1);
        assert_eq!(out.rows[0].get("stack_id"), &Val::Null);
        assert_eq!(out.rows[0].get("stack_error"), &Val::I32(-14));
    }

    #[test]
    fn a_record_shorter_than_its_frames_is_refused() {
        fresh_store();
        let mut b = record(1, 1, &[0x1000, 0x2000, 0x3000]);
        b.truncate(b.len() - 4);
        let mut out = Collect::default();
        let e = decode_one(&b, &mut out).err();
        assert!(matches!(e, Some(DecodeError::Short { .. })), "{e:?}");
        assert!(out.rows.is_empty());
    }

    fn hdr_of(tgid: u32, ts_ns: i64) -> Header {
        Header {
            ts_ns,
            pid: tgid,
            tgid,
            ..Default::default()
        }
    }

    #[test]
    fn a_kernel_stack_is_written_once_for_every_task() {
        fresh_store();
        let mut out = Collect::default();
        let k = [0xffff_ffff_8100_1000u64, 0xffff_ffff_8100_2000];
        let a = intern_kernel(&hdr_of(10, 1), &k, &mut out).unwrap();
        // Another process, the same kernel code: the same stack.
        let b = intern_kernel(&hdr_of(20, 2), &k, &mut out).unwrap();
        assert_eq!(a, b);
        assert!(a.is_some());
        let c = intern_kernel(&hdr_of(10, 3), &k[..1], &mut out).unwrap();
        assert_ne!(a, c);
        assert_eq!(intern_kernel(&hdr_of(10, 4), &[], &mut out).unwrap(), None);
        let frames: Vec<&_> = out
            .rows
            .iter()
            .filter(|r| r.table == "stack_frame")
            .collect();
        assert_eq!(
            frames.len(),
            3,
            "2 frames of the first stack, 1 of the second"
        );
        assert!(frames.iter().all(|r| r.get("kernel") == &Val::Bool(true)));
        assert_eq!(frames[0].get("ip"), &Val::U64(k[0]));
        assert_eq!(frames[1].get("depth"), &Val::U32(1));
        assert_eq!(frames[0].hdr.tgid, 10, "the first task's header");
        // The kernel's addresses are nobody's mappings: none were read.
        assert!(out.rows.iter().all(|r| r.table != "module_map"));
    }

    #[test]
    fn kernel_and_user_stacks_of_the_same_addresses_are_two_stacks() {
        fresh_store();
        let mut out = Collect::default();
        let ips = [0x1000u64, 0x2000];
        // tgid 0 has no /proc maps: the user stack is still interned.
        let u = intern_user(&hdr_of(u32::MAX, 1), &ips, &mut out).unwrap();
        let k = intern_kernel(&hdr_of(u32::MAX, 2), &ips, &mut out).unwrap();
        assert!(u.is_some() && k.is_some());
        assert_ne!(u, k);
        let kernel: Vec<&Val> = out
            .rows
            .iter()
            .filter(|r| r.table == "stack_frame")
            .map(|r| r.get("kernel"))
            .collect();
        assert_eq!(
            kernel,
            [
                &Val::Bool(false),
                &Val::Bool(false),
                &Val::Bool(true),
                &Val::Bool(true)
            ]
        );
    }

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81001000 t do_one_initcall
ffffffff81002000 D some_data
ffffffff81003000 W weak_fn
ffffffffc0a01000 t ext4_fill_super	[ext4]
ffffffffc0a00000 T ext4_iget	[ext4]
0000000000000000 A fixed_percpu_data
";

    #[test]
    fn kallsyms_keeps_text_symbols_with_their_module() {
        let s = parse_kallsyms(KALLSYMS);
        let names: Vec<(&str, Option<&str>)> = s
            .iter()
            .map(|s| (s.name.as_str(), s.module.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("_stext", None),
                ("do_one_initcall", None),
                ("weak_fn", None),
                ("ext4_iget", Some("ext4")),
                ("ext4_fill_super", Some("ext4")),
            ]
        );
        assert_eq!(s[3].address, 0xffffffffc0a00000);
        // kptr_restrict: every address 0, nothing kept.
        let hidden = "0000000000000000 T _stext\n0000000000000000 t do_one_initcall\n";
        assert!(parse_kallsyms(hidden).is_empty());
    }

    #[test]
    fn kernel_symbols_are_written_once_or_a_warning_says_why_not() {
        let mut out = Collect::default();
        let mut warnings = Vec::new();
        let n = write_kernel_symbols(KALLSYMS, 77, &mut out, &mut warnings).unwrap();
        assert_eq!(n, 5);
        assert!(warnings.is_empty());
        assert_eq!(out.rows.len(), 5);
        assert!(out.rows.iter().all(|r| r.table == "kernel_symbol"));
        assert!(out
            .rows
            .iter()
            .all(|r| r.hdr.ts_ns == 77 && r.hdr.tgid == 0));
        assert_eq!(out.rows[4].get("module"), &Val::from("ext4"));
        assert_eq!(out.rows[0].get("module"), &Val::Null);
        let mut out = Collect::default();
        let hidden = "0000000000000000 T _stext\n";
        let n = write_kernel_symbols(hidden, 77, &mut out, &mut warnings).unwrap();
        assert_eq!((n, out.rows.len()), (0, 0));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("kptr_restrict"), "{warnings:?}");
    }

    /// This machine's own kallsyms (root sees the addresses): how many rows
    /// and how long reading takes, for the docs' cost figures.
    #[test]
    fn this_hosts_kallsyms_parse() {
        let t = std::time::Instant::now();
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let syms = parse_kallsyms(&text);
        eprintln!(
            "kallsyms: {} text symbols of {} lines in {:?}",
            syms.len(),
            text.lines().count(),
            t.elapsed()
        );
        if !syms.is_empty() {
            assert!(syms.windows(2).all(|w| w[0].address <= w[1].address));
        }
    }

    #[test]
    fn the_store_is_recorded_with_the_groups_that_use_it() {
        let m = |name: &str, status: GroupStatus| GroupMeta {
            name: name.into(),
            status: status.to_string(),
            ..Default::default()
        };
        let faults = crate::probes::group("faults").unwrap();
        assert!(uses_store(faults));
        assert!(!uses_store(crate::probes::group("oom").unwrap()));
        assert_eq!(store_meta(&[m("oom", GroupStatus::Attached)]), None);
        assert_eq!(store_meta(&[m("faults", GroupStatus::Failed)]), None);
        let s = store_meta(&[
            m("oom", GroupStatus::Attached),
            m("faults", GroupStatus::Partial),
        ])
        .unwrap();
        assert_eq!((s.name.as_str(), s.status.as_str()), ("stacks", "attached"));
    }

    #[test]
    fn maps_lines_keep_executable_file_mappings() {
        let l = "7f1c2a428000-7f1c2a5bd000 r-xp 00028000 fd:01 1837218                    /usr/lib/x86_64-linux-gnu/libc.so.6";
        assert_eq!(
            parse_maps_line(l),
            Some(MapsLine {
                start: 0x7f1c2a428000,
                end: 0x7f1c2a5bd000,
                offset: 0x28000,
                dev: "fd:01",
                inode: 1837218,
                path: "/usr/lib/x86_64-linux-gnu/libc.so.6",
            })
        );
        let data = "7f1c2a400000-7f1c2a428000 r--p 00000000 fd:01 1837218 /usr/lib/libc.so.6";
        assert_eq!(parse_maps_line(data), None);
        let anon = "7ffd1000-7ffd3000 rwxp 00000000 00:00 0 ";
        assert_eq!(parse_maps_line(anon), None);
        let vdso =
            "7ffd5b9f0000-7ffd5b9f2000 r-xp 00000000 00:00 0                          [vdso]";
        assert_eq!(parse_maps_line(vdso).map(|m| m.path), Some("[vdso]"));
        let deleted = "55d0a000-55d0b000 r-xp 00001000 08:02 42 /tmp/a.out (deleted)";
        assert_eq!(
            parse_maps_line(deleted).map(|m| m.path),
            Some("/tmp/a.out (deleted)")
        );
    }
}
