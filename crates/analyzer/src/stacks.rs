//! Top code locations from sampled user stacks (the stack store: a group's
//! sample table, `stack_frame` and `module_map`; see the schema's
//! `tables::stacks`).
//!
//! A sample's leaf frame (for a fault, the faulting instruction) becomes a
//! module and file offset through the process's mappings as memrec read
//! them, then a function name where [`Symbolizer`] finds the module's file
//! here. Locations are counted in samples; each sample stands for `every`
//! events (the sampling period), which the report states.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use memtrace_schema::file_column_name;
use polars::prelude::*;

use crate::filter::Filter;
use crate::frame::{count_by, COUNT};
use crate::model::{Metric, SectionReport, Table, Unit};
use crate::recording::{ReadError, Recording};
use crate::report_row;
use crate::symbolize::Symbolizer;

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
#[derive(Debug, Clone)]
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
    let mm = rec.fetch(
        "module_map",
        rec.scan_with(
            "module_map",
            &all,
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
    for i in 0..mm.height() {
        reads
            .entry(mtg[i] as u32)
            .or_default()
            .entry(mts[i])
            .or_default()
            .push(Mapping {
                start: mst[i],
                end: men[i],
                file_offset: mof[i],
                path: mpa[i].clone(),
                build_id: mbi[i].clone(),
            });
    }
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
    use memtrace_schema::tables::stacks::{fault_stack, module_map, stack_frame};
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

    #[test]
    fn a_recording_without_samples_says_how_to_get_them() {
        let mut b = Builder::new(0, 10_000);
        sample(&mut b, 5, 1, "x", None, 1);
        let r = locations(b);
        assert_eq!(r.tables[0].rows.len(), 0);
        assert!(r.notes[0].contains("--fault-stacks N"), "{:?}", r.notes);
    }
}
