//! The stack store as memana reads it (the schema's `tables::stacks`:
//! `stack_frame`, `module_map`, `kernel_symbol`): stacks named on this
//! machine, for any group whose rows carry a `stack_id`.
//!
//! - [`symbolized_stacks`]: a set of stack ids to their frames, leaf first.
//!   A user frame becomes a module and file offset through the process's
//!   mappings as memrec read them, then a function name where
//!   [`Symbolizer`] finds the module's file here (`--debuginfo`); a kernel
//!   frame a function, offset and module through the kernel's symbols as
//!   recorded (`kernel_symbol`). [`Frame::label`] always names something.
//! - [`folded`]: a stack as one line of folded stacks (`root;...;leaf`) for
//!   flamegraph.pl, inferno or speedscope.
//! - [`push_top_locations`]: the "top code locations" table of a group's
//!   sample table (faults' `fault_stack`), counted in samples; each sample
//!   stands for `every` events (the sampling period), which the report
//!   states.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use memtrace_schema::file_column_name;
use polars::prelude::*;

use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Table, Unit};
use crate::recording::{ReadError, Recording};
use crate::report_row;
use crate::symbolize::Symbolizer;

/// The store's schema group: not a probe group of its own, memrec records
/// it with the groups that use it.
pub const GROUP: &str = memtrace_schema::tables::stacks::stack_frame::TABLE.group;

/// The groups whose rows name stacks of the store: those with a table that
/// has a `stack_id` column (the schema says so; no list to keep).
pub fn store_users() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in memtrace_schema::tables() {
        if t.group != GROUP && t.column("stack_id").is_some() && !out.contains(&t.group) {
            out.push(t.group);
        }
    }
    out
}

/// Whether the store's rows may be in the recording more than once: each
/// file of a recording read as several (rotated files, a flight-recorder
/// window's) carries the store rows of every stack seen before it, so that
/// it names its stacks alone. Rows repeated that way are the same in every
/// column.
fn repeats_store(rec: &Recording) -> bool {
    rec.files.len() > 1
}

/// One frame of a recorded stack, named as well as this machine can.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// A kernel frame (named from `kernel_symbol`); a user frame otherwise.
    pub kernel: bool,
    /// User: the module's path as the process saw it (None when the address
    /// lay in no mapping read, or the process's mappings were never read).
    /// Kernel: the module (`ext4`), None for the kernel image or an address
    /// no symbol covers.
    pub module: Option<String>,
    /// User: the file offset in `module`. Kernel: the distance from
    /// `function`'s start. None when there is no module (user) or function
    /// (kernel).
    pub offset: Option<u64>,
    /// The function, where a symbol names it.
    pub function: Option<String>,
    /// The address as recorded.
    pub ip: u64,
}

impl Frame {
    /// A short name that is never empty: the function; else the module's
    /// file name and offset (`libfoo.so+0x1234`); else the address in hex.
    pub fn label(&self) -> String {
        match (&self.function, &self.module, self.offset) {
            (Some(f), _, _) => f.clone(),
            (None, Some(m), Some(off)) if !self.kernel => format!("{}+{off:#x}", short(m)),
            _ => format!("{:#x}", self.ip),
        }
    }

    /// The label with where it is: `func (libfoo.so+0x1234)` for user
    /// code, `func+0x1a [ext4]` for kernel code.
    pub fn detail(&self) -> String {
        match (self.kernel, &self.function, &self.module, self.offset) {
            (true, Some(f), m, off) => {
                let mut s = format!("{f}+{:#x}", off.unwrap_or(0));
                if let Some(m) = m {
                    s.push_str(&format!(" [{m}]"));
                }
                s
            }
            (false, Some(f), Some(m), Some(off)) => format!("{f} ({}+{off:#x})", short(m)),
            _ => self.label(),
        }
    }
}

/// Stacks by id, and what could not be named (for the report's notes).
#[derive(Debug, Default)]
pub struct Symbolized {
    /// Frames of each stack found in the file, leaf (depth 0) first.
    pub stacks: HashMap<u64, Vec<Frame>>,
    /// Sentences for the report's notes: frames that stay addresses, and
    /// why.
    pub notes: Vec<String>,
}

/// The kernel's text symbols as recorded (`kernel_symbol`), by address.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// (address, name, module), sorted by address.
    syms: Vec<(u64, String, Option<String>)>,
}

/// A kernel address further than this past the nearest symbol below it is
/// in no function the recording names (the largest kernel functions are
/// tens of KiB; the gap before the modules' area is far larger).
const MAX_KERNEL_FUNCTION_BYTES: u64 = 1 << 20;

impl KernelSymbols {
    /// From (address, name, module) rows in any order; one symbol per
    /// address (so rows that the files of a rotated recording repeat
    /// count once).
    pub fn new(mut syms: Vec<(u64, String, Option<String>)>) -> KernelSymbols {
        syms.sort();
        syms.dedup_by_key(|s| s.0);
        KernelSymbols { syms }
    }

    /// The recording's `kernel_symbol` table (empty when it has none).
    pub fn read(rec: &Recording) -> Result<KernelSymbols, ReadError> {
        let fr = rec.fetch(
            "kernel_symbol",
            rec.scan_with(
                "kernel_symbol",
                &Filter::default(),
                &["address", "name", "module"],
                false,
            )?,
        )?;
        let syms = fr
            .u64_or0("address")?
            .into_iter()
            .zip(fr.str_or_empty("name")?)
            .zip(fr.str("module")?)
            .map(|((a, n), m)| (a, n, m))
            .collect();
        Ok(KernelSymbols::new(syms))
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The symbol covering `addr`: (name, distance from its start, module).
    /// A symbol covers its address up to the next symbol's.
    pub fn lookup(&self, addr: u64) -> Option<(&str, u64, Option<&str>)> {
        let i = self.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (a, name, module) = &self.syms[i];
        let off = addr - a;
        (off < MAX_KERNEL_FUNCTION_BYTES).then_some((name.as_str(), off, module.as_deref()))
    }

    /// `name+0xoff` (`name` at the symbol itself), or the address in hex
    /// when no symbol covers it: for call sites.
    pub fn name(&self, addr: u64) -> String {
        match self.lookup(addr) {
            Some((n, 0, _)) => n.to_string(),
            Some((n, off, _)) => format!("{n}+{off:#x}"),
            None => format!("{addr:#x}"),
        }
    }

    /// A kernel frame at `ip`; a return address (`depth` >= 1) is looked up
    /// one byte back, inside its call.
    pub fn frame(&self, ip: u64, depth: u32) -> Frame {
        let at = if depth > 0 { ip.saturating_sub(1) } else { ip };
        match self.lookup(at) {
            Some((name, off, module)) => Frame {
                kernel: true,
                module: module.map(str::to_string),
                // From the function's start to the address as recorded.
                offset: Some(off + (ip - at)),
                function: Some(name.to_string()),
                ip,
            },
            None => Frame {
                kernel: true,
                module: None,
                offset: None,
                function: None,
                ip,
            },
        }
    }
}

/// One row of `stack_frame`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct RawFrame {
    depth: u32,
    ip: u64,
    kernel: bool,
    ts: i64,
    tgid: u32,
}

/// The stacks `ids` as frames named here, leaf first; stacks the file does
/// not hold are left out (and counted in the notes). User frames are named
/// through the process's recorded mappings and a file with the recorded
/// build-id (`debuginfo` directories, then /usr/lib/debug, then the
/// recorded path); kernel frames through the recorded `kernel_symbol`.
/// Reads `stack_frame` whole (frames are written when a stack is first
/// seen, whatever the window), keeping only the ids asked for.
pub fn symbolized_stacks(
    rec: &Recording,
    ids: impl IntoIterator<Item = u64>,
    debuginfo: &[PathBuf],
) -> Result<Symbolized, ReadError> {
    let want: HashSet<u64> = ids.into_iter().collect();
    let mut out = Symbolized::default();
    if want.is_empty() {
        return Ok(out);
    }
    // Files recorded before kernel stacks have no `kernel` column: user.
    let has_kernel = rec
        .columns
        .contains(&file_column_name("stack_frame", "kernel"));
    let mut cols = vec!["ts_ns", "tgid", "stack_id", "depth", "ip"];
    if has_kernel {
        cols.push("kernel");
    }
    let mut raw: HashMap<u64, Vec<RawFrame>> = HashMap::new();
    rec.stream(
        "stack_frame",
        rec.scan_with("stack_frame", &Filter::default(), &cols, false)?,
        |fr| {
            let ids = fr.u64_or0("stack_id")?;
            let (ts, tg, d, ip) = (
                fr.i64_or0("ts_ns")?,
                fr.u64_or0("tgid")?,
                fr.u64_or0("depth")?,
                fr.u64_or0("ip")?,
            );
            let k = if has_kernel {
                fr.bool("kernel")?
            } else {
                vec![None; ids.len()]
            };
            for i in 0..ids.len() {
                if want.contains(&ids[i]) {
                    raw.entry(ids[i]).or_default().push(RawFrame {
                        depth: d[i] as u32,
                        ip: ip[i],
                        kernel: k[i].unwrap_or(false),
                        ts: ts[i],
                        tgid: tg[i] as u32,
                    });
                }
            }
            Ok(())
        },
    )?;
    // Each file of a rotated recording repeats the store rows of the
    // stacks seen before it: a frame read twice is one frame.
    if repeats_store(rec) {
        for frames in raw.values_mut() {
            frames.sort();
            frames.dedup();
        }
    }
    let any_kernel = raw.values().flatten().any(|f| f.kernel);
    let any_user = raw.values().flatten().any(|f| !f.kernel);
    let ksyms = if any_kernel {
        KernelSymbols::read(rec)?
    } else {
        KernelSymbols::default()
    };
    let reads = if any_user {
        read_mappings(rec)?
    } else {
        Reads::new()
    };
    let mut sym = Symbolizer::new(debuginfo);
    let (mut gone, mut unmapped, mut kernel_unnamed) = (0u64, 0u64, 0u64);
    let mut unnamed: BTreeSet<String> = BTreeSet::new();
    for (id, mut frames) in raw {
        frames.sort_by_key(|f| f.depth);
        let named = frames
            .iter()
            .map(|f| {
                if f.kernel {
                    let fr = ksyms.frame(f.ip, f.depth);
                    if fr.function.is_none() {
                        kernel_unnamed += 1;
                    }
                    return fr;
                }
                let p = place(&reads, f.tgid, f.ts, f.ip);
                match &p {
                    Place::Module(path, bid, off) => {
                        // A return address points after its call.
                        let at = if f.depth > 0 {
                            off.saturating_sub(1)
                        } else {
                            *off
                        };
                        let function = sym.symbol(path, bid.as_deref(), at).map(|s| s.name);
                        if function.is_none() && !sym.found(path, bid.as_deref()) {
                            unnamed.insert(path.clone());
                        }
                        Frame {
                            kernel: false,
                            module: Some(path.clone()),
                            offset: Some(*off),
                            function,
                            ip: f.ip,
                        }
                    }
                    Place::Unmapped(ip) | Place::NoMaps(ip) => {
                        if matches!(p, Place::NoMaps(_)) {
                            gone += 1;
                        } else {
                            unmapped += 1;
                        }
                        Frame {
                            kernel: false,
                            module: None,
                            offset: None,
                            function: None,
                            ip: *ip,
                        }
                    }
                }
            })
            .collect();
        out.stacks.insert(id, named);
    }
    let missing = want.len() - out.stacks.len();
    if missing > 0 {
        out.notes.push(format!(
            "{missing} stacks named by rows have no frames in the file (damaged, or cut \
             short): they show as no stack."
        ));
    }
    if kernel_unnamed > 0 {
        out.notes.push(if ksyms.is_empty() {
            "Kernel frames are addresses: the file holds no kernel symbols (memrec could \
             not read /proc/kallsyms addresses: run it as root, or with kernel.kptr_restrict=0)."
                .to_string()
        } else {
            format!("{kernel_unnamed} kernel frames lie outside every recorded kernel symbol: addresses.")
        });
    }
    if gone > 0 {
        out.notes.push(format!(
            "{gone} user frames are in processes that exited before memrec read their \
             mappings: addresses only."
        ));
    }
    if unmapped > 0 {
        out.notes.push(format!(
            "{unmapped} user frames lie outside every mapping memrec read (anonymous or JIT \
             code, or a library loaded since): addresses only."
        ));
    }
    if !unnamed.is_empty() {
        out.notes.push(format!(
            "No file with the recorded build-id was found here for {} module(s) (e.g. {}): \
             their code shows as module and file offset. Give a directory of debug files with \
             `--debuginfo DIR` (searched by .build-id/, path and file name).",
            unnamed.len(),
            unnamed.iter().next().map(|p| short(p)).unwrap_or_default()
        ));
    }
    Ok(out)
}

/// A stack as one line of folded stacks, without its count: frames from
/// the root to the leaf joined by `;`, as flamegraph.pl, inferno and
/// speedscope read them (`main;work;leak_here`). A `;` in a name becomes
/// `:`, and control characters a space, so a line stays one stack; an
/// empty stack is `[no stack]`.
pub fn folded(frames: &[Frame]) -> String {
    if frames.is_empty() {
        return "[no stack]".to_string();
    }
    frames
        .iter()
        .rev()
        .map(|f| {
            f.label()
                .chars()
                .map(|c| match c {
                    ';' => ':',
                    c if c.is_control() => ' ',
                    c => c,
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// A group's table of stack samples.
#[derive(Debug)]
pub struct Samples {
    /// The sample table (one row per sampled event).
    pub table: &'static str,
    /// What one event is, plural (`faults`): the metric prefix and the text.
    pub events: &'static str,
    /// The memrec option that turns sampling on.
    pub flag: &'static str,
}

/// Page faults' stacks (`memrec record --fault-stacks N`).
pub const FAULT_SAMPLES: Samples = Samples {
    table: "fault_stack",
    events: "faults",
    flag: "--fault-stacks",
};

report_row! {
    /// One code location (a function, or a module offset where no symbol
    /// file was found) by its sampled stacks.
    pub struct LocationRow {
        function: String => None,
        module: String => None,
        offset: String => None,
        samples: u64 => Count,
        estimated: u64 => Count,
        share: f64 => Ratio,
        caller: String => None,
        comms: String => None,
    }
}

/// One executable mapping as memrec read it.
#[derive(Debug, Clone, PartialEq)]
struct Mapping {
    start: u64,
    end: u64,
    file_offset: u64,
    path: String,
    build_id: Option<String>,
}

/// A frame placed in a module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Place {
    /// Module path and file offset.
    Module(String, Option<String>, u64),
    /// Outside every mapping read (anonymous code, a JIT, a library loaded
    /// after the last read).
    Unmapped(u64),
    /// The process's mappings were never read (it exited first).
    NoMaps(u64),
}

/// Per process: its mapping reads by time.
type Reads = HashMap<u32, BTreeMap<i64, Vec<Mapping>>>;

/// Every process's mapping reads (`module_map`, the whole file: a read may
/// precede the window).
fn read_mappings(rec: &Recording) -> Result<Reads, ReadError> {
    let mm = rec.fetch(
        "module_map",
        rec.scan_with(
            "module_map",
            &Filter::default(),
            &[
                "ts_ns",
                "tgid",
                "start",
                "end",
                "file_offset",
                "path",
                "build_id",
            ],
            false,
        )?,
    )?;
    let mut reads: Reads = HashMap::new();
    let (mts, mtg, mst, men, mof, mpa, mbi) = (
        mm.i64_or0("ts_ns")?,
        mm.u64_or0("tgid")?,
        mm.u64_or0("start")?,
        mm.u64_or0("end")?,
        mm.u64_or0("file_offset")?,
        mm.str_or_empty("path")?,
        mm.str("build_id")?,
    );
    // Each file of a rotated recording repeats the mappings read before
    // it: a read's mapping is kept once (a read is its rows of one tgid
    // and ts, so a later read of the same mappings stays a read of its own).
    let repeats = repeats_store(rec);
    for i in 0..mm.height() {
        let m = Mapping {
            start: mst[i],
            end: men[i],
            file_offset: mof[i],
            path: mpa[i].clone(),
            build_id: mbi[i].clone(),
        };
        let read = reads
            .entry(mtg[i] as u32)
            .or_default()
            .entry(mts[i])
            .or_default();
        if !(repeats && read.contains(&m)) {
            read.push(m);
        }
    }
    Ok(reads)
}

fn place(reads: &Reads, tgid: u32, ts: i64, ip: u64) -> Place {
    let Some(r) = reads.get(&tgid) else {
        return Place::NoMaps(ip);
    };
    // The read this sample caused (or the first after it), else the last.
    let read = r
        .range(ts..)
        .next()
        .or_else(|| r.iter().next_back())
        .map(|(_, m)| m);
    match read.and_then(|m| m.iter().find(|m| ip >= m.start && ip < m.end)) {
        Some(m) => Place::Module(
            m.path.clone(),
            m.build_id.clone(),
            ip - m.start + m.file_offset,
        ),
        None => Place::Unmapped(ip),
    }
}

/// A place as text, with its function where one is found.
fn name(sym: &mut Symbolizer, p: &Place, return_address: bool) -> (String, String, String) {
    match p {
        Place::Module(path, id, off) => {
            // A return address points after its call: look up the call.
            let at = if return_address {
                off.saturating_sub(1)
            } else {
                *off
            };
            let f = sym
                .symbol(path, id.as_deref(), at)
                .map_or_else(|| "?".to_string(), |s| s.name);
            (f, path.clone(), format!("{off:#x}"))
        }
        Place::Unmapped(ip) => ("?".into(), "[unmapped]".into(), format!("{ip:#x}")),
        Place::NoMaps(ip) => ("?".into(), "[process gone]".into(), format!("{ip:#x}")),
    }
}

#[derive(Debug, Default)]
struct Acc {
    samples: u64,
    estimated: u64,
    offsets: BTreeMap<String, u64>,
    callers: BTreeMap<String, u64>,
    comms: BTreeSet<String>,
}

/// Adds the "top code locations by sampled stack" table to a section, with
/// the sampling period in its notes and metrics. A file recorded before the
/// stack store, or without sampling, gets an empty table and a note saying
/// how to record stacks.
pub fn push_top_locations(
    rec: &Recording,
    f: &Filter,
    r: &mut SectionReport,
    s: &Samples,
) -> Result<(), ReadError> {
    let title = format!(
        "Code locations by sampled user stack (the function of the {} instruction; \
         estimated = samples × the sampling period)",
        if s.events == "faults" {
            "faulting"
        } else {
            "leaf"
        }
    );
    let mut t = Table::of::<LocationRow>("stack_locations", &title);
    let has_store = rec.columns.contains(&file_column_name(s.table, "stack_id"));
    let sm = if has_store {
        let lf = rec.scan(s.table, f, &["ts_ns", "tgid", "comm", "stack_id", "every"])?;
        let q = count_by(
            lf,
            &["tgid", "comm", "stack_id", "every"],
            vec![col("ts_ns").min().alias("first_ts")],
        );
        Some(rec.fetch(s.table, q)?)
    } else {
        None
    };
    let Some(sm) = sm.filter(|x| x.height() > 0) else {
        r.notes.push(format!(
            "No user stacks were sampled: record with `{} N` (one {} in N per CPU) for the \
             code locations.",
            s.flag,
            s.events.trim_end_matches('s')
        ));
        r.tables.push(t);
        return Ok(());
    };
    let (tg, cm, sid, ev, ts, n) = (
        sm.u64_or0("tgid")?,
        sm.str_or_empty("comm")?,
        sm.u64("stack_id")?,
        sm.u64_or0("every")?,
        sm.i64_or0("first_ts")?,
        sm.u64_or0(COUNT)?,
    );
    // Frames and mappings may have been written before the window, and
    // belong to the sampled process: read them whole.
    let all = Filter {
        from_ns: None,
        to_ns: None,
        ..f.clone()
    };
    let fr = rec.fetch(
        "stack_frame",
        rec.scan_with("stack_frame", &all, &["stack_id", "depth", "ip"], false)?
            .filter(col("depth").lt_eq(lit(1u32))),
    )?;
    let mut frames: HashMap<(u64, u64), u64> = HashMap::new();
    for ((id, d), ip) in fr
        .u64_or0("stack_id")?
        .into_iter()
        .zip(fr.u64_or0("depth")?)
        .zip(fr.u64_or0("ip")?)
    {
        frames.insert((id, d), ip);
    }
    let reads = read_mappings(rec)?;
    let mut sym = Symbolizer::new(&f.debuginfo);
    let mut by_loc: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let (mut total, mut no_stack, mut gone) = (0u64, 0u64, 0u64);
    let mut periods: BTreeSet<u64> = BTreeSet::new();
    let mut unnamed: BTreeSet<String> = BTreeSet::new();
    // Samples in a module whose file was found but has no symbol there
    // (stripped to its dynamic symbols), by module.
    let mut stripped: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..sm.height() {
        total += n[i];
        periods.insert(ev[i]);
        let Some(leaf) = sid[i].and_then(|id| frames.get(&(id, 0))) else {
            no_stack += n[i];
            continue;
        };
        let tgid = tg[i] as u32;
        let p = place(&reads, tgid, ts[i], *leaf);
        if matches!(p, Place::NoMaps(_)) {
            gone += n[i];
        }
        let (func, module, offset) = name(&mut sym, &p, false);
        if func == "?" {
            if let Place::Module(path, id, _) = &p {
                if !sym.found(path, id.as_deref()) {
                    unnamed.insert(path.clone());
                } else {
                    *stripped.entry(path.clone()).or_default() += n[i];
                }
            }
        }
        // A function is one location; unnamed code is one per offset.
        let key = if func == "?" {
            (format!("?{offset}"), module.clone())
        } else {
            (func.clone(), module.clone())
        };
        let a = by_loc.entry(key).or_default();
        a.samples += n[i];
        a.estimated += n[i] * ev[i];
        *a.offsets.entry(offset).or_default() += n[i];
        a.comms.insert(cm[i].clone());
        // Only a caller inside a module: without frame pointers the next
        // "frame" is whatever the stack held, usually outside every module.
        if let Some(c) = sid[i].and_then(|id| frames.get(&(id, 1))) {
            let p = place(&reads, tgid, ts[i], *c);
            if matches!(p, Place::Module(..)) {
                let (cf, cmod, coff) = name(&mut sym, &p, true);
                let caller = if cf == "?" {
                    format!("{} {coff}", short(&cmod))
                } else {
                    cf
                };
                *a.callers.entry(caller).or_default() += n[i];
            }
        }
    }
    let top = |m: &BTreeMap<String, u64>| {
        m.iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(k, _)| k.clone())
            .unwrap_or_default()
    };
    let mut rows: Vec<LocationRow> = by_loc
        .into_iter()
        .map(|((func, module), a)| LocationRow {
            function: if func.starts_with('?') {
                "?".into()
            } else {
                func
            },
            module,
            offset: top(&a.offsets),
            samples: a.samples,
            estimated: a.estimated,
            share: a.samples as f64 / total.max(1) as f64,
            caller: top(&a.callers),
            comms: a.comms.into_iter().take(3).collect::<Vec<_>>().join(", "),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.samples.cmp(&a.samples).then_with(|| {
            (&a.function, &a.module, &a.offset).cmp(&(&b.function, &b.module, &b.offset))
        })
    });
    for row in rows {
        t.push_row(row);
    }
    t.truncate(f.top);
    r.tables.push(t);
    let prefix = s.events;
    r.metrics.push(Metric::new(
        format!("{prefix}.stack_samples"),
        total,
        Unit::Count,
    ));
    let period = match (periods.first(), periods.len()) {
        (Some(p), 1) => {
            r.metrics.push(Metric::new(
                format!("{prefix}.stack_every"),
                *p,
                Unit::Count,
            ));
            if *p == 1 {
                format!("every {}", s.events.trim_end_matches('s'))
            } else {
                format!("one {} in {p} per CPU", s.events.trim_end_matches('s'))
            }
        }
        _ => format!(
            "at periods {}",
            periods
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    r.notes.push(format!(
        "Code locations: {total} sampled user stacks, {period} ({} N): counts are samples, \
         `estimated` scales them by N.",
        s.flag
    ));
    if no_stack > 0 {
        r.notes.push(format!(
            "{no_stack} samples had no readable user stack (kernel threads, or the stack \
             could not be read)."
        ));
    }
    if gone > 0 {
        r.notes.push(format!(
            "{gone} samples are in processes that exited before memrec read their mappings: \
             addresses only (`[process gone]`)."
        ));
    }
    if !unnamed.is_empty() {
        r.notes.push(format!(
            "No file with the recorded build-id was found here for {} module(s) (e.g. {}): \
             their code shows as module and file offset. Give a directory of debug files with \
             `--debuginfo DIR` (searched by .build-id/, path and file name).",
            unnamed.len(),
            unnamed.iter().next().map(|p| short(p)).unwrap_or_default()
        ));
    }
    if let Some((module, k)) = stripped.iter().max_by_key(|(_, k)| **k) {
        r.notes.push(format!(
            "{} samples are in modules found here without a symbol at their address \
             (e.g. {k} in {}: stripped to its exported symbols): debug files (the \
             distribution's debug packages under /usr/lib/debug, or `--debuginfo DIR`) name them.",
            stripped.values().sum::<u64>(),
            short(module)
        ));
    }
    Ok(())
}

/// A module's file name, for short mentions.
fn short(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::testutil::{hdr, Builder};
    use memtrace_schema::tables::stacks::{fault_stack, kernel_symbol, module_map, stack_frame};
    use memtrace_schema::Text;
    use object::Object;

    #[inline(never)]
    fn faulting_here() -> u64 {
        faulting_here as fn() -> u64 as usize as u64
    }

    /// This test binary's mapping that holds `addr`: (start, end, offset, path).
    fn own_mapping(addr: u64) -> (u64, u64, u64, String) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        for l in maps.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let Some((s, e)) = f.first().and_then(|r| r.split_once('-')) else {
                continue;
            };
            let (s, e) = (
                u64::from_str_radix(s, 16).unwrap_or(0),
                u64::from_str_radix(e, 16).unwrap_or(0),
            );
            if s <= addr && addr < e && f.len() >= 6 {
                let off = u64::from_str_radix(f[2], 16).unwrap_or(0);
                return (s, e, off, f[5].to_string());
            }
        }
        panic!("{addr:#x} is in no mapping");
    }

    fn build_id(path: &str) -> String {
        let data = std::fs::read(path).unwrap_or_default();
        let file = object::File::parse(&*data).unwrap_or_else(|e| panic!("{e}"));
        let id = file.build_id().ok().flatten().unwrap_or_default();
        id.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sample(b: &mut Builder, ts: i64, tgid: u32, comm: &str, stack_id: Option<u64>, every: u32) {
        b.add(
            hdr(ts, tgid, tgid, comm),
            &fault_stack::Row {
                stack_id,
                every,
                stack_error: stack_id.is_none().then_some(-14),
            },
        );
    }

    fn frame(b: &mut Builder, ts: i64, tgid: u32, stack_id: u64, depth: u32, ip: u64) {
        b.add(
            hdr(ts, tgid, tgid, "x"),
            &stack_frame::Row {
                stack_id,
                depth,
                ip,
                kernel: false,
            },
        );
    }

    fn cell<'a>(t: &'a Table, row: usize, col: &str) -> &'a Value {
        let i = t
            .columns
            .iter()
            .position(|c| c.name == col)
            .unwrap_or(usize::MAX);
        &t.rows[row][i]
    }

    /// Rows written as memrec lays them out, read back by memana, and the
    /// leaf frames named from this very binary by its build-id; frames and
    /// mappings written before the window still place a sample inside it.
    /// The code locations of a recording built by `b`, from 1 000 ns on
    /// (frames written earlier still count).
    fn locations(mut b: Builder) -> SectionReport {
        b.count();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("stacks.parquet");
        b.write(&p);
        let rec = Recording::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let f = Filter {
            from_ns: Some(1_000),
            ..Default::default()
        };
        let mut r = SectionReport::new("faults", "t");
        push_top_locations(&rec, &f, &mut r, &FAULT_SAMPLES).unwrap_or_else(|e| panic!("{e}"));
        r
    }

    #[test]
    fn sampled_stacks_become_named_code_locations() {
        let ip = faulting_here() + 2;
        let (start, end, off, path) = own_mapping(ip);
        let id = build_id(&path);
        assert!(!id.is_empty(), "test binaries carry a build-id");
        let mut b = Builder::new(0, 10_000);
        // Process 10: its maps and stack 1 (leaf in faulting_here) at
        // ts 100, before the window; 3 samples of it inside, every 4th fault.
        b.add(
            hdr(100, 10, 10, "app"),
            &module_map::Row {
                start,
                end,
                file_offset: off,
                path: Text::from(path.clone()),
                build_id: Some(Text::from(id.clone())),
            },
        );
        frame(&mut b, 100, 10, 1, 0, ip);
        sample(&mut b, 100, 10, "app", Some(1), 4);
        for ts in [2_000, 3_000, 4_000] {
            sample(&mut b, ts, 10, "app", Some(1), 4);
        }
        // Stack 2 of process 10 outside every mapping; process 11 exited
        // before its maps were read; one sample without a stack.
        frame(&mut b, 2_500, 10, 2, 0, 0x10);
        sample(&mut b, 2_500, 10, "app", Some(2), 4);
        frame(&mut b, 2_600, 11, 3, 0, ip);
        sample(&mut b, 2_600, 11, "gone", Some(3), 4);
        sample(&mut b, 2_700, 12, "kthread", None, 4);
        let r = locations(b);
        let t = &r.tables[0];
        assert_eq!(t.id, "stack_locations");
        assert_eq!(t.rows.len(), 3, "{:?}", t.rows);
        let function = cell(t, 0, "function");
        assert!(
            matches!(function, Value::Text(s) if s.ends_with("faulting_here")),
            "{function:?}"
        );
        assert_eq!(cell(t, 0, "module"), &Value::Text(path.clone()));
        assert_eq!(cell(t, 0, "samples"), &Value::UInt(3));
        assert_eq!(cell(t, 0, "estimated"), &Value::UInt(12));
        assert_eq!(cell(t, 0, "share"), &Value::Float(3.0 / 6.0));
        assert_eq!(cell(t, 0, "comms"), &Value::Text("app".into()));
        let modules: Vec<&Value> = (1..3).map(|i| cell(t, i, "module")).collect();
        assert!(
            modules.contains(&&Value::Text("[unmapped]".into())),
            "{modules:?}"
        );
        assert!(
            modules.contains(&&Value::Text("[process gone]".into())),
            "{modules:?}"
        );
        let metric = |k: &str| {
            r.metrics
                .iter()
                .find(|m| m.key() == k)
                .map(|m| m.value.clone())
        };
        assert_eq!(metric("faults.stack_samples"), Some(Value::UInt(6)));
        assert_eq!(metric("faults.stack_every"), Some(Value::UInt(4)));
        let notes = r.notes.join(" | ");
        assert!(notes.contains("one fault in 4 per CPU"), "{notes}");
        assert!(
            notes.contains("1 samples had no readable user stack"),
            "{notes}"
        );
        assert!(
            notes.contains("1 samples are in processes that exited"),
            "{notes}"
        );
    }

    /// A hand-built snapshot: two functions of the kernel image, one of a
    /// module (listed out of order, as kallsyms lists modules).
    fn ksyms() -> KernelSymbols {
        KernelSymbols::new(vec![
            (
                0xffff_ffff_c000_0000,
                "ext4_iget".into(),
                Some("ext4".into()),
            ),
            (0xffff_ffff_8100_0000, "do_sys_open".into(), None),
            (0xffff_ffff_8100_0100, "kmem_cache_alloc".into(), None),
        ])
    }

    #[test]
    fn kernel_addresses_are_named_from_the_recorded_symbols() {
        let k = ksyms();
        assert_eq!(
            k.lookup(0xffff_ffff_8100_0010),
            Some(("do_sys_open", 0x10, None))
        );
        assert_eq!(k.name(0xffff_ffff_8100_0100), "kmem_cache_alloc");
        assert_eq!(k.name(0xffff_ffff_8100_0123), "kmem_cache_alloc+0x23");
        assert_eq!(
            k.lookup(0xffff_ffff_c000_0042),
            Some(("ext4_iget", 0x42, Some("ext4")))
        );
        // Below every symbol, or far past the last one: no name.
        assert_eq!(k.lookup(0x1000), None);
        assert_eq!(k.name(0x1000), "0x1000");
        assert_eq!(k.lookup(0xffff_ffff_c000_0000 + (1 << 20)), None);
        // A leaf at a function's first byte is that function; a return
        // address there belongs to the call at the end of the one before.
        let leaf = k.frame(0xffff_ffff_8100_0100, 0);
        assert_eq!(leaf.function.as_deref(), Some("kmem_cache_alloc"));
        assert_eq!(leaf.offset, Some(0));
        let ret = k.frame(0xffff_ffff_8100_0100, 1);
        assert_eq!(ret.function.as_deref(), Some("do_sys_open"));
        assert_eq!(ret.offset, Some(0x100));
        assert!(ret.kernel);
        assert_eq!(ret.detail(), "do_sys_open+0x100");
        let m = k.frame(0xffff_ffff_c000_0042, 2);
        assert_eq!(m.detail(), "ext4_iget+0x42 [ext4]");
        assert_eq!(m.label(), "ext4_iget");
        let none = k.frame(0x1000, 0);
        assert_eq!(
            (none.function.clone(), none.label()),
            (None, "0x1000".into())
        );
        assert!(KernelSymbols::default()
            .lookup(0xffff_ffff_8100_0000)
            .is_none());
    }

    #[test]
    fn a_frame_label_is_never_empty() {
        let f = Frame {
            kernel: false,
            module: Some("/usr/lib/libfoo.so".into()),
            offset: Some(0x1234),
            function: None,
            ip: 0x7f00_0000_1234,
        };
        assert_eq!(f.label(), "libfoo.so+0x1234");
        let named = Frame {
            function: Some("leak_here".into()),
            ..f.clone()
        };
        assert_eq!(named.label(), "leak_here");
        assert_eq!(named.detail(), "leak_here (libfoo.so+0x1234)");
        let bare = Frame {
            module: None,
            offset: None,
            ..f.clone()
        };
        assert_eq!(bare.label(), "0x7f0000001234");
        // Leaf first in, root first out; `;` and newlines cannot split it.
        let odd = Frame {
            function: Some("a;b\nc".into()),
            ..f.clone()
        };
        assert_eq!(
            folded(&[named.clone(), odd, f]),
            "libfoo.so+0x1234;a:b c;leak_here"
        );
        assert_eq!(folded(&[]), "[no stack]");
    }

    fn ksym_row(b: &mut Builder, address: u64, name: &'static str, module: Option<&'static str>) {
        b.add(
            hdr(1, 0, 0, ""),
            &kernel_symbol::Row {
                address,
                name: Text::from(name),
                module: module.map(Text::from),
            },
        );
    }

    fn kframe(b: &mut Builder, ts: i64, tgid: u32, stack_id: u64, depth: u32, ip: u64) {
        b.add(
            hdr(ts, tgid, tgid, "x"),
            &stack_frame::Row {
                stack_id,
                depth,
                ip,
                kernel: true,
            },
        );
    }

    /// A user stack named from this very binary, a kernel stack from the
    /// recorded kernel symbols (shared by two processes), ids asked for
    /// that the file lacks, and frames of other stacks left out.
    fn store_recording(b: &mut Builder) -> (u64, String) {
        let ip = faulting_here() + 2;
        let (start, end, off, path) = own_mapping(ip);
        b.add(
            hdr(100, 10, 10, "app"),
            &module_map::Row {
                start,
                end,
                file_offset: off,
                path: Text::from(path.clone()),
                build_id: Some(Text::from(build_id(&path))),
            },
        );
        frame(b, 100, 10, 1, 0, ip);
        frame(b, 100, 10, 1, 1, 0x10);
        ksym_row(b, 0xffff_ffff_8100_0000, "do_sys_open", None);
        ksym_row(b, 0xffff_ffff_8100_0100, "kmem_cache_alloc", None);
        ksym_row(b, 0xffff_ffff_c000_0000, "ext4_iget", Some("ext4"));
        kframe(b, 200, 20, 2, 1, 0xffff_ffff_8100_0010);
        kframe(b, 200, 20, 2, 0, 0xffff_ffff_8100_0123);
        kframe(b, 200, 20, 3, 0, 0xffff_ffff_c000_0042);
        (ip, path)
    }

    fn open(b: &mut Builder, dir: &std::path::Path) -> Recording {
        b.count();
        let p = dir.join("store.parquet");
        b.write(&p);
        Recording::open(&p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn stacks_are_named_user_and_kernel() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut b = Builder::new(0, 10_000);
        let (ip, path) = store_recording(&mut b);
        let rec = open(&mut b, dir.path());
        let s = symbolized_stacks(&rec, [1, 2, 99], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.stacks.len(), 2, "{:?}", s.stacks.keys());
        let user = &s.stacks[&1];
        assert_eq!(user.len(), 2);
        assert!(!user[0].kernel);
        assert_eq!(user[0].ip, ip);
        assert_eq!(user[0].module.as_deref(), Some(path.as_str()));
        assert!(
            user[0]
                .function
                .as_deref()
                .is_some_and(|f| f.ends_with("faulting_here")),
            "{:?}",
            user[0]
        );
        // The caller lies in no mapping: its address.
        assert_eq!(user[1].label(), "0x10");
        let kernel = &s.stacks[&2];
        let labels: Vec<String> = kernel.iter().map(Frame::detail).collect();
        assert_eq!(labels, ["kmem_cache_alloc+0x23", "do_sys_open+0x10"]);
        assert_eq!(folded(kernel), "do_sys_open;kmem_cache_alloc");
        let notes = s.notes.join(" | ");
        assert!(
            notes.contains("1 stacks named by rows have no frames"),
            "{notes}"
        );
        assert!(notes.contains("1 user frames lie outside"), "{notes}");
        let only3 = symbolized_stacks(&rec, [3], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(only3.stacks[&3][0].detail(), "ext4_iget+0x42 [ext4]");
        assert!(only3.notes.is_empty(), "{:?}", only3.notes);
        assert!(symbolized_stacks(&rec, [], &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .stacks
            .is_empty());
    }

    #[test]
    fn kernel_frames_without_recorded_symbols_are_addresses_and_say_why() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut b = Builder::new(0, 10_000);
        kframe(&mut b, 200, 20, 2, 0, 0xffff_ffff_8100_0123);
        let rec = open(&mut b, dir.path());
        let s = symbolized_stacks(&rec, [2], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.stacks[&2][0].label(), "0xffffffff81000123");
        assert!(
            s.notes.join(" ").contains("no kernel symbols"),
            "{:?}",
            s.notes
        );
    }

    /// A file recorded before the store was a group of its own: no
    /// `stack_frame.kernel` column, no `stacks` entry in its metadata. Its
    /// stacks read as user stacks, recorded with faults.
    #[test]
    fn a_file_from_before_the_store_was_a_group_still_reads() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::arrow::ArrowWriter;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut b = Builder::new(0, 10_000);
        let ip = faulting_here() + 2;
        frame(&mut b, 100, 10, 1, 0, ip);
        sample(&mut b, 100, 10, "app", Some(1), 1);
        b.meta.groups.retain(|g| g.name != GROUP);
        b.meta.groups_requested.retain(|g| g != GROUP);
        b.count();
        let new = dir.path().join("new.parquet");
        b.write(&new);
        // The same rows without the column that came with the store.
        let old = dir.path().join("old.parquet");
        {
            let f = std::fs::File::open(&new).unwrap_or_else(|e| panic!("{e}"));
            let r = ParquetRecordBatchReaderBuilder::try_new(f).unwrap_or_else(|e| panic!("{e}"));
            let kv = r.metadata().file_metadata().key_value_metadata().cloned();
            let schema = r.schema().clone();
            let keep: Vec<usize> = (0..schema.fields().len())
                .filter(|&i| schema.field(i).name() != "stack_frame.kernel")
                .collect();
            assert_eq!(keep.len() + 1, schema.fields().len());
            let schema =
                std::sync::Arc::new(schema.project(&keep).unwrap_or_else(|e| panic!("{e}")));
            let props = parquet::file::properties::WriterProperties::builder()
                .set_key_value_metadata(kv)
                .build();
            let out = std::fs::File::create(&old).unwrap_or_else(|e| panic!("{e}"));
            let mut w = ArrowWriter::try_new(out, schema.clone(), Some(props))
                .unwrap_or_else(|e| panic!("{e}"));
            for batch in r.build().unwrap_or_else(|e| panic!("{e}")) {
                let batch = batch.unwrap_or_else(|e| panic!("{e}"));
                let batch = batch.project(&keep).unwrap_or_else(|e| panic!("{e}"));
                w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
                w.flush().unwrap_or_else(|e| panic!("{e}"));
            }
            w.close().unwrap_or_else(|e| panic!("{e}"));
        }
        let rec = Recording::open(&old).unwrap_or_else(|e| panic!("{e}"));
        assert!(!rec.columns.contains("stack_frame.kernel"));
        assert_eq!(
            rec.group_state(GROUP),
            crate::recording::GroupState::Recorded
        );
        let s = symbolized_stacks(&rec, [1], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.stacks[&1].len(), 1);
        assert!(!s.stacks[&1][0].kernel);
        assert_eq!(s.stacks[&1][0].ip, ip);
    }

    #[test]
    fn the_store_is_used_by_the_groups_with_stack_ids() {
        let users = store_users();
        for g in ["faults", "memleak", "kmemleak"] {
            assert!(users.contains(&g), "{users:?}");
        }
        assert!(!users.contains(&GROUP));
        assert!(!users.contains(&"oom"));
    }

    #[test]
    fn a_recording_without_samples_says_how_to_get_them() {
        let mut b = Builder::new(0, 10_000);
        sample(&mut b, 5, 1, "x", None, 1);
        let r = locations(b);
        assert_eq!(r.tables[0].rows.len(), 0);
        assert!(r.notes[0].contains("--fault-stacks N"), "{:?}", r.notes);
    }
}
