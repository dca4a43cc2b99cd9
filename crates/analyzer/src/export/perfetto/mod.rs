//! A native Perfetto trace (TracePacket/TrackEvent) of a recording, for
//! ui.perfetto.dev. docs/PERFETTO.md lists the tracks it holds.
//!
//! The file is a `Trace` written one packet at a time (each framed as its
//! field 1), so memory stays bounded by the tables that have to be paired
//! (reclaim begins and ends, kswapd wakes and sleeps) and the rate bins,
//! never by the trace. Every packet is on one trusted sequence; events carry
//! `ts_ns` as CLOCK_BOOTTIME, and a clock snapshot from the recording's
//! first clock anchor maps it to wall-clock time.

mod proto;

use crate::filter::Filter;
use crate::frame::Frame;
use crate::recording::{ReadError, Recording};
use polars::prelude::*;
use prost::Message;
use proto::{
    Clock, ClockSnapshot, CounterDescriptor, Data, DebugAnnotation, EventType, ProcessDescriptor,
    ThreadDescriptor, TracePacket, TrackDescriptor, TrackEvent, Value,
};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// Why a trace could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: cannot write: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What was written, for the command's one-line summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub packets: u64,
    pub bytes: u64,
    /// Processes with RSS counter tracks.
    pub processes: u64,
    pub counter_tracks: u64,
    pub counter_values: u64,
    /// Complete slices (a begin and its end).
    pub slices: u64,
    pub instants: u64,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} packets, {} bytes: {} processes with RSS, {} counter tracks ({} values), \
             {} slices, {} instants",
            self.packets,
            self.bytes,
            self.processes,
            self.counter_tracks,
            self.counter_values,
            self.slices,
            self.instants
        )
    }
}

/// The one packet sequence of the trace (any nonzero id).
const SEQUENCE_ID: u32 = 1;

/// Width of the intervals reclaim rates are averaged over.
pub const RATE_INTERVAL_NS: i64 = 100_000_000;

/// The procstat counters each process gets a track for, with the track's
/// name. `RSS` is their sum of the three resident parts, as
/// `/proc/PID/status`'s `VmRSS`.
const RSS_TRACKS: [&str; 5] = ["RSS", "RSS anon", "RSS file", "RSS shmem", "swap"];

/// The zone counters each zone gets a track for.
const ZONE_TRACKS: [&str; 4] = ["free", "min", "low", "high"];

/// Writes the recording's window as a Perfetto trace at `out`.
pub fn write(rec: &Recording, filter: &Filter, out: &Path) -> Result<Written, ExportError> {
    let path = out.display().to_string();
    let file = std::fs::File::create(out).map_err(|source| ExportError::Io {
        path: path.clone(),
        source,
    })?;
    let mut x = Export::new(std::io::BufWriter::new(file));
    x.clock_snapshot(rec);
    let (lo, hi) = rec.window(filter);
    x.procstat(rec, filter)?;
    x.node_counters(rec, filter)?;
    x.reclaim_rates(rec, filter, lo, hi)?;
    x.reclaim_slices(rec, filter, lo, hi)?;
    x.kswapd_slices(rec, filter, lo, hi)?;
    x.compaction_slices(rec, filter, lo)?;
    x.oom_kills(rec, filter)?;
    x.alloc_failures(rec, filter)?;
    x.finish()
        .map_err(|source| ExportError::Io { path, source })
}

/// Who entered reclaim, as `reclaim_begin.reclaimer` and
/// `lru_inactive.reclaimer` name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reclaimer {
    Kswapd,
    Direct,
    Memcg,
    MemcgSoftlimit,
    Node,
    Other(String),
}

impl Reclaimer {
    fn parse(s: &str) -> Reclaimer {
        match s {
            "kswapd" => Reclaimer::Kswapd,
            "direct" => Reclaimer::Direct,
            "memcg" => Reclaimer::Memcg,
            "memcg_softlimit" => Reclaimer::MemcgSoftlimit,
            "node" => Reclaimer::Node,
            other => Reclaimer::Other(other.to_string()),
        }
    }

    /// The word the recording uses.
    fn word(&self) -> &str {
        match self {
            Reclaimer::Kswapd => "kswapd",
            Reclaimer::Direct => "direct",
            Reclaimer::Memcg => "memcg",
            Reclaimer::MemcgSoftlimit => "memcg_softlimit",
            Reclaimer::Node => "node",
            Reclaimer::Other(s) => s,
        }
    }

    /// A reclaim slice's name.
    fn slice_name(&self) -> String {
        match self {
            Reclaimer::Kswapd => "kswapd reclaim".into(),
            Reclaimer::Direct => "direct reclaim".into(),
            Reclaimer::Memcg => "memcg reclaim".into(),
            Reclaimer::MemcgSoftlimit => "memcg soft-limit reclaim".into(),
            Reclaimer::Node => "node reclaim".into(),
            Reclaimer::Other(s) => format!("{s} reclaim"),
        }
    }
}

/// Who ran a compaction, as `compaction_run.runner` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Runner {
    Direct,
    Kcompactd,
    Proactive,
    Manual,
    Other(String),
}

impl Runner {
    fn parse(s: &str) -> Runner {
        match s {
            "direct" => Runner::Direct,
            "kcompactd" => Runner::Kcompactd,
            "proactive" => Runner::Proactive,
            "manual" => Runner::Manual,
            other => Runner::Other(other.to_string()),
        }
    }

    fn slice_name(&self) -> String {
        match self {
            Runner::Direct => "direct compaction".into(),
            Runner::Kcompactd => "kcompactd compaction".into(),
            Runner::Proactive => "proactive compaction".into(),
            Runner::Manual => "manual compaction".into(),
            Runner::Other(s) => format!("{s} compaction"),
        }
    }
}

/// A `kswapd` row's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KswapdEvent {
    Wake,
    Sleep,
}

/// A debug annotation's value.
fn arg(name: &str, value: Value) -> DebugAnnotation {
    DebugAnnotation {
        name: Some(name.to_string()),
        value: Some(value),
    }
}

fn arg_u(name: &str, v: Option<u64>) -> Option<DebugAnnotation> {
    v.map(|v| arg(name, Value::Uint(v)))
}

fn arg_i(name: &str, v: Option<i64>) -> Option<DebugAnnotation> {
    v.map(|v| arg(name, Value::Int(v)))
}

fn arg_s(name: &str, v: Option<&str>) -> Option<DebugAnnotation> {
    v.map(|v| arg(name, Value::Str(v.to_string())))
}

/// One process's tracks.
struct Proc {
    uuid: u64,
    /// [`RSS_TRACKS`]' uuids, once it has samples.
    rss: Option<[u64; 5]>,
    /// Its OOM-kill instants' track.
    oom: Option<u64>,
}

/// One node's tracks.
#[derive(Default)]
struct NodeTracks {
    uuid: u64,
    free: Option<u64>,
    failures: Option<u64>,
    /// Per zone: its group track and [`ZONE_TRACKS`]' uuids.
    zones: BTreeMap<String, (u64, [u64; 4])>,
}

/// A reclaim begin or end, for pairing per thread.
#[derive(Debug, Clone)]
struct ReclaimRow {
    ts: i64,
    tid: u32,
    tgid: u32,
    comm: String,
    reclaimer: Reclaimer,
    /// For a begin: its order and gfp; for an end, None.
    begin: Option<(Option<i64>, Option<String>)>,
    /// For an end: pages reclaimed and its begin's `ts_ns`.
    end: Option<(Option<u64>, Option<i64>)>,
}

/// The trace being written, and the tracks it has so far.
struct Export<W: Write> {
    w: W,
    buf: Vec<u8>,
    /// The first write error; nothing is written after it.
    failed: Option<std::io::Error>,
    first: bool,
    next_uuid: u64,
    written: Written,
    procs: HashMap<u32, Proc>,
    threads: HashMap<u32, u64>,
    nodes: BTreeMap<u32, NodeTracks>,
    oom_global: Option<u64>,
}

impl<W: Write> Export<W> {
    fn new(w: W) -> Self {
        Export {
            w,
            buf: Vec::with_capacity(256),
            failed: None,
            first: true,
            next_uuid: 1,
            written: Written::default(),
            procs: HashMap::new(),
            threads: HashMap::new(),
            nodes: BTreeMap::new(),
            oom_global: None,
        }
    }

    fn finish(mut self) -> Result<Written, std::io::Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.w.flush()?;
        Ok(self.written)
    }

    /// Writes one packet; `ts` (CLOCK_BOOTTIME ns) for events.
    fn packet(&mut self, ts: Option<i64>, data: Data) {
        if self.failed.is_some() {
            return;
        }
        let first = std::mem::replace(&mut self.first, false);
        let p = TracePacket {
            timestamp: ts.map(|t| u64::try_from(t).unwrap_or(0)),
            timestamp_clock_id: ts.map(|_| proto::CLOCK_BOOTTIME),
            trusted_packet_sequence_id: Some(SEQUENCE_ID),
            // Nothing is interned, so the state is cleared once, up front.
            sequence_flags: first.then_some(proto::SEQ_INCREMENTAL_STATE_CLEARED),
            first_packet_on_sequence: first.then_some(true),
            data: Some(data),
        };
        self.buf.clear();
        prost::encoding::encode_key(
            proto::TRACE_PACKET_FIELD,
            prost::encoding::WireType::LengthDelimited,
            &mut self.buf,
        );
        // A Vec grows as needed: encoding into one cannot fail.
        if let Err(e) = p.encode_length_delimited(&mut self.buf) {
            self.failed = Some(std::io::Error::other(e));
            return;
        }
        match self.w.write_all(&self.buf) {
            Ok(()) => {
                self.written.packets += 1;
                self.written.bytes += self.buf.len() as u64;
            }
            Err(e) => self.failed = Some(e),
        }
    }

    /// Declares a track; returns its uuid.
    fn track(&mut self, mut d: TrackDescriptor) -> u64 {
        let uuid = self.next_uuid;
        self.next_uuid += 1;
        d.uuid = Some(uuid);
        if d.counter.is_some() {
            self.written.counter_tracks += 1;
        }
        self.packet(None, Data::TrackDescriptor(d));
        uuid
    }

    fn named(&mut self, name: &str, parent: Option<u64>) -> u64 {
        self.track(TrackDescriptor {
            name: Some(name.to_string()),
            parent_uuid: parent,
            ..Default::default()
        })
    }

    fn counter_track(&mut self, name: &str, parent: u64, unit: CounterUnit, axis: &str) -> u64 {
        let (unit, unit_name) = match unit {
            CounterUnit::Bytes => (Some(proto::UNIT_SIZE_BYTES), None),
            CounterUnit::Pages => (Some(proto::UNIT_COUNT), Some("pages".to_string())),
            CounterUnit::PagesPerSec => (None, Some("pages/s".to_string())),
        };
        self.track(TrackDescriptor {
            name: Some(name.to_string()),
            parent_uuid: Some(parent),
            counter: Some(CounterDescriptor {
                unit,
                unit_name,
                y_axis_share_key: Some(axis.to_string()),
            }),
            ..Default::default()
        })
    }

    fn event(
        &mut self,
        ts: i64,
        track: u64,
        ty: EventType,
        name: Option<String>,
        args: Vec<DebugAnnotation>,
    ) {
        match ty {
            EventType::SliceBegin => self.written.slices += 1,
            EventType::Instant => self.written.instants += 1,
            EventType::Counter | EventType::SliceEnd => {}
        }
        self.packet(
            Some(ts),
            Data::TrackEvent(TrackEvent {
                r#type: Some(ty as i32),
                track_uuid: Some(track),
                name,
                debug_annotations: args,
                ..Default::default()
            }),
        );
    }

    fn counter(&mut self, ts: i64, track: u64, v: i64) {
        self.written.counter_values += 1;
        self.packet(
            Some(ts),
            Data::TrackEvent(TrackEvent {
                r#type: Some(EventType::Counter as i32),
                track_uuid: Some(track),
                counter_value: Some(v),
                ..Default::default()
            }),
        );
    }

    fn counter_f(&mut self, ts: i64, track: u64, v: f64) {
        self.written.counter_values += 1;
        self.packet(
            Some(ts),
            Data::TrackEvent(TrackEvent {
                r#type: Some(EventType::Counter as i32),
                track_uuid: Some(track),
                double_counter_value: Some(v),
                ..Default::default()
            }),
        );
    }

    /// CLOCK_BOOTTIME against CLOCK_REALTIME (and MONOTONIC) at the
    /// recording's first anchor: the UI can then show wall-clock times.
    fn clock_snapshot(&mut self, rec: &Recording) {
        let Some(a) = rec.meta.clock_anchors.first() else {
            return;
        };
        let clock = |id, ns: i64| Clock {
            clock_id: Some(id),
            timestamp: u64::try_from(ns).ok(),
        };
        let snap = ClockSnapshot {
            clocks: vec![
                clock(proto::CLOCK_BOOTTIME, a.boottime_ns),
                clock(proto::CLOCK_REALTIME, a.realtime_ns),
                clock(proto::CLOCK_MONOTONIC, a.monotonic_ns),
            ],
            primary_trace_clock: Some(proto::CLOCK_BOOTTIME as i32),
        };
        self.packet(Some(a.boottime_ns), Data::ClockSnapshot(snap));
    }

    /// The process track of `tgid`, declared on first use.
    fn process(&mut self, tgid: u32, comm: &str) -> u64 {
        if let Some(p) = self.procs.get(&tgid) {
            return p.uuid;
        }
        let uuid = self.track(TrackDescriptor {
            process: Some(ProcessDescriptor {
                pid: i32::try_from(tgid).ok(),
                process_name: Some(comm.to_string()),
            }),
            ..Default::default()
        });
        self.procs.insert(
            tgid,
            Proc {
                uuid,
                rss: None,
                oom: None,
            },
        );
        uuid
    }

    /// The thread track of `tid`, declared on first use.
    fn thread(&mut self, tid: u32, tgid: u32, comm: &str) -> u64 {
        if let Some(&u) = self.threads.get(&tid) {
            return u;
        }
        let uuid = self.track(TrackDescriptor {
            thread: Some(ThreadDescriptor {
                pid: i32::try_from(tgid).ok(),
                tid: i32::try_from(tid).ok(),
                thread_name: Some(comm.to_string()),
            }),
            ..Default::default()
        });
        self.threads.insert(tid, uuid);
        uuid
    }

    fn node(&mut self, node: u32) -> u64 {
        if let Some(n) = self.nodes.get(&node) {
            return n.uuid;
        }
        let uuid = self.named(&format!("memory node {node}"), None);
        self.nodes.insert(
            node,
            NodeTracks {
                uuid,
                ..Default::default()
            },
        );
        uuid
    }

    /// Per process (tgid): its total RSS, the three resident parts and
    /// swap, one value per procstat sample.
    fn procstat(&mut self, rec: &Recording, f: &Filter) -> Result<(), ReadError> {
        let lf = rec.scan(
            "procstat",
            f,
            &[
                "ts_ns",
                "tgid",
                "comm",
                "rss_anon",
                "rss_file",
                "rss_shmem",
                "swap",
            ],
        )?;
        rec.stream("procstat", lf, |fr| {
            let ts = fr.i64_or0("ts_ns")?;
            let tgid = fr.u64_or0("tgid")?;
            let comm = fr.str_or_empty("comm")?;
            let (anon, file, shmem, swap) = (
                fr.u64_or0("rss_anon")?,
                fr.u64_or0("rss_file")?,
                fr.u64_or0("rss_shmem")?,
                fr.u64_or0("swap")?,
            );
            for i in 0..fr.height() {
                let Ok(pid) = u32::try_from(tgid[i]) else {
                    continue;
                };
                let tracks = self.rss_tracks(pid, &comm[i]);
                let rss = anon[i].saturating_add(file[i]).saturating_add(shmem[i]);
                for (t, v) in tracks
                    .iter()
                    .zip([rss, anon[i], file[i], shmem[i], swap[i]])
                {
                    self.counter(ts[i], *t, i64::try_from(v).unwrap_or(i64::MAX));
                }
            }
            Ok(())
        })
    }

    fn rss_tracks(&mut self, tgid: u32, comm: &str) -> [u64; 5] {
        let parent = self.process(tgid, comm);
        if let Some(t) = self.procs.get(&tgid).and_then(|p| p.rss) {
            return t;
        }
        let axis = format!("rss {tgid}");
        let mut t = [0u64; 5];
        for (slot, name) in t.iter_mut().zip(RSS_TRACKS) {
            *slot = self.counter_track(name, parent, CounterUnit::Bytes, &axis);
        }
        if let Some(p) = self.procs.get_mut(&tgid) {
            p.rss = Some(t);
        }
        self.written.processes += 1;
        t
    }

    /// Per node its free pages (sysstat); per zone its free pages and
    /// min/low/high watermarks (zone), one value per snapshot.
    fn node_counters(&mut self, rec: &Recording, f: &Filter) -> Result<(), ReadError> {
        let lf = rec.scan("sysstat", f, &["ts_ns", "node", "nr_free_pages"])?;
        rec.stream("sysstat", lf, |fr| {
            let ts = fr.i64_or0("ts_ns")?;
            let node = fr.u64_or0("node")?;
            let free = fr.u64_or0("nr_free_pages")?;
            for i in 0..fr.height() {
                let n = u32::try_from(node[i]).unwrap_or(u32::MAX);
                let t = self.node_free_track(n);
                self.counter(ts[i], t, i64::try_from(free[i]).unwrap_or(i64::MAX));
            }
            Ok(())
        })?;
        let lf = rec.scan(
            "zone",
            f,
            &["ts_ns", "node", "zone", "free", "min", "low", "high"],
        )?;
        rec.stream("zone", lf, |fr| {
            let ts = fr.i64_or0("ts_ns")?;
            let node = fr.u64_or0("node")?;
            let zone = fr.str_or_empty("zone")?;
            let cols = [
                fr.u64_or0("free")?,
                fr.u64_or0("min")?,
                fr.u64_or0("low")?,
                fr.u64_or0("high")?,
            ];
            for i in 0..fr.height() {
                let n = u32::try_from(node[i]).unwrap_or(u32::MAX);
                let tracks = self.zone_tracks(n, &zone[i]);
                for (t, c) in tracks.iter().zip(&cols) {
                    self.counter(ts[i], *t, i64::try_from(c[i]).unwrap_or(i64::MAX));
                }
            }
            Ok(())
        })
    }

    fn node_free_track(&mut self, node: u32) -> u64 {
        let parent = self.node(node);
        if let Some(t) = self.nodes.get(&node).and_then(|n| n.free) {
            return t;
        }
        let t = self.counter_track(
            "free pages",
            parent,
            CounterUnit::Pages,
            &format!("node {node}"),
        );
        if let Some(n) = self.nodes.get_mut(&node) {
            n.free = Some(t);
        }
        t
    }

    fn zone_tracks(&mut self, node: u32, zone: &str) -> [u64; 4] {
        let parent = self.node(node);
        if let Some((_, t)) = self.nodes.get(&node).and_then(|n| n.zones.get(zone)) {
            return *t;
        }
        let group = self.named(&format!("zone {zone}"), Some(parent));
        let axis = format!("node {node} zone {zone}");
        let mut t = [0u64; 4];
        for (slot, name) in t.iter_mut().zip(ZONE_TRACKS) {
            *slot = self.counter_track(name, group, CounterUnit::Pages, &axis);
        }
        if let Some(n) = self.nodes.get_mut(&node) {
            n.zones.insert(zone.to_string(), (group, t));
        }
        t
    }

    /// Pages scanned and reclaimed per second by each reclaimer, over
    /// [`RATE_INTERVAL_NS`] intervals from the window's start (the last one
    /// cut at its end), from lru_inactive (node-wide: `--pid`/`--comm` do
    /// not apply). A value holds until the next; the last interval with
    /// reclaim is followed by a 0.
    fn reclaim_rates(
        &mut self,
        rec: &Recording,
        f: &Filter,
        lo: i64,
        hi: i64,
    ) -> Result<(), ReadError> {
        let lf = rec.scan_with(
            "lru_inactive",
            f,
            &["ts_ns", "reclaimer", "nr_scanned", "nr_reclaimed"],
            false,
        )?;
        let mut bins: BTreeMap<Reclaimer, BTreeMap<i64, (u64, u64)>> = BTreeMap::new();
        rec.stream("lru_inactive", lf, |fr| {
            let ts = fr.i64_or0("ts_ns")?;
            let rc = fr.str_or_empty("reclaimer")?;
            let sc = fr.u64_or0("nr_scanned")?;
            let rl = fr.u64_or0("nr_reclaimed")?;
            for i in 0..fr.height() {
                let k = (ts[i] - lo).max(0) / RATE_INTERVAL_NS;
                let e = bins
                    .entry(Reclaimer::parse(&rc[i]))
                    .or_default()
                    .entry(k)
                    .or_default();
                e.0 = e.0.saturating_add(sc[i]);
                e.1 = e.1.saturating_add(rl[i]);
            }
            Ok(())
        })?;
        if bins.is_empty() {
            return Ok(());
        }
        let parent = self.named("reclaim rates", None);
        for (rc, per) in bins {
            let scanned = self.counter_track(
                &format!("{} pages scanned/s", rc.word()),
                parent,
                CounterUnit::PagesPerSec,
                "reclaim rates",
            );
            let reclaimed = self.counter_track(
                &format!("{} pages reclaimed/s", rc.word()),
                parent,
                CounterUnit::PagesPerSec,
                "reclaim rates",
            );
            for (t, pick) in [(scanned, 0usize), (reclaimed, 1)] {
                let points = rate_points(
                    per.iter()
                        .map(|(&k, &(s, r))| (k, if pick == 0 { s } else { r })),
                    lo,
                    hi,
                );
                for (ts, v) in points {
                    self.counter_f(ts, t, v);
                }
            }
        }
        Ok(())
    }

    /// Direct, memcg and node reclaim as slices on the thread that
    /// reclaimed: a begin and the next end on that thread. An end whose
    /// begin is not in the window begins at its `begin_ts_ns` cut to the
    /// window's start (at the start when the begin came before the
    /// recording); a begin whose end is not in the window ends at its end.
    fn reclaim_slices(
        &mut self,
        rec: &Recording,
        f: &Filter,
        lo: i64,
        hi: i64,
    ) -> Result<(), ReadError> {
        let mut rows: Vec<ReclaimRow> = Vec::new();
        let lf = rec.scan(
            "reclaim_begin",
            f,
            &["ts_ns", "pid", "tgid", "comm", "reclaimer", "order", "gfp"],
        )?;
        rec.stream("reclaim_begin", lf, |fr| {
            let (ts, tid, tgid, comm) = task_cols(fr)?;
            let rc = fr.str_or_empty("reclaimer")?;
            let order = fr.i64("order")?;
            let gfp = fr.str("gfp")?;
            for i in 0..fr.height() {
                rows.push(ReclaimRow {
                    ts: ts[i],
                    tid: tid[i],
                    tgid: tgid[i],
                    comm: comm[i].clone(),
                    reclaimer: Reclaimer::parse(&rc[i]),
                    begin: Some((order[i], gfp[i].clone())),
                    end: None,
                });
            }
            Ok(())
        })?;
        let lf = rec.scan(
            "reclaim_end",
            f,
            &[
                "ts_ns",
                "pid",
                "tgid",
                "comm",
                "reclaimer",
                "nr_reclaimed",
                "begin_ts_ns",
            ],
        )?;
        rec.stream("reclaim_end", lf, |fr| {
            let (ts, tid, tgid, comm) = task_cols(fr)?;
            let rc = fr.str_or_empty("reclaimer")?;
            let nr = fr.u64("nr_reclaimed")?;
            let begin = fr.i64("begin_ts_ns")?;
            for i in 0..fr.height() {
                rows.push(ReclaimRow {
                    ts: ts[i],
                    tid: tid[i],
                    tgid: tgid[i],
                    comm: comm[i].clone(),
                    reclaimer: Reclaimer::parse(&rc[i]),
                    begin: None,
                    end: Some((nr[i], begin[i])),
                });
            }
            Ok(())
        })?;
        // Per thread in time order; at one time, an end before a begin,
        // except the end of a pass that took no time, after its begin.
        rows.sort_by_key(|r| {
            let rank = match (&r.begin, &r.end) {
                (Some(_), _) => 1,
                (None, Some((_, Some(b)))) if *b == r.ts => 2,
                _ => 0,
            };
            (r.tid, r.ts, rank)
        });
        let mut open: HashMap<u32, Vec<Reclaimer>> = HashMap::new();
        for r in rows {
            let track = self.thread(r.tid, r.tgid, &r.comm);
            match (r.begin, r.end) {
                (Some((order, gfp)), _) => {
                    let args = [arg_i("order", order), arg_s("gfp", gfp.as_deref())];
                    self.event(
                        r.ts,
                        track,
                        EventType::SliceBegin,
                        Some(r.reclaimer.slice_name()),
                        args.into_iter().flatten().collect(),
                    );
                    open.entry(r.tid).or_default().push(r.reclaimer);
                }
                (None, Some((nr, begin_ts))) => {
                    if open.get_mut(&r.tid).and_then(Vec::pop).is_none() {
                        let at = begin_ts.map_or(lo, |b| b.max(lo)).min(r.ts);
                        let args = [Some(arg(
                            "begin",
                            Value::Str(
                                if begin_ts.is_none_or(|b| b < rec.start_ns) {
                                    "before the recording"
                                } else {
                                    "before the window"
                                }
                                .into(),
                            ),
                        ))];
                        self.event(
                            at,
                            track,
                            EventType::SliceBegin,
                            Some(r.reclaimer.slice_name()),
                            args.into_iter().flatten().collect(),
                        );
                    }
                    let args = [arg_u("nr_reclaimed", nr)];
                    self.event(
                        r.ts,
                        track,
                        EventType::SliceEnd,
                        None,
                        args.into_iter().flatten().collect(),
                    );
                }
                (None, None) => {}
            }
        }
        // Begins still open: their ends came after the window.
        let mut open: Vec<(u32, Vec<Reclaimer>)> = open.into_iter().collect();
        open.sort_by_key(|(tid, _)| *tid);
        for (tid, stack) in open {
            let Some(&track) = self.threads.get(&tid) else {
                continue;
            };
            for _ in stack {
                let args = vec![arg("end", Value::Str("after the window".into()))];
                self.event(hi, track, EventType::SliceEnd, None, args);
            }
        }
        Ok(())
    }

    /// kswapd awake as slices on its thread, per node: from the first
    /// `wake` after a `sleep` to the next `sleep` (from the window's start
    /// when the first event is a `sleep`, to its end when awake at the
    /// end), as the reclaim section counts time awake; the `wake`s in
    /// between (balancing runs) are an annotation.
    fn kswapd_slices(
        &mut self,
        rec: &Recording,
        f: &Filter,
        lo: i64,
        hi: i64,
    ) -> Result<(), ReadError> {
        let lf = rec
            .scan(
                "kswapd",
                f,
                &["ts_ns", "pid", "tgid", "comm", "event", "node"],
            )?
            .filter(
                col("event")
                    .eq(lit("wake"))
                    .or(col("event").eq(lit("sleep"))),
            );
        type Ev = (i64, KswapdEvent, u32, u32, String);
        let mut per_node: BTreeMap<i64, Vec<Ev>> = BTreeMap::new();
        rec.stream("kswapd", lf, |fr| {
            let (ts, tid, tgid, comm) = task_cols(fr)?;
            let ev = fr.str_or_empty("event")?;
            let node = fr.i64_or0("node")?;
            for i in 0..fr.height() {
                let e = match ev[i].as_str() {
                    "wake" => KswapdEvent::Wake,
                    "sleep" => KswapdEvent::Sleep,
                    _ => continue,
                };
                per_node.entry(node[i]).or_default().push((
                    ts[i],
                    e,
                    tid[i],
                    tgid[i],
                    comm[i].clone(),
                ));
            }
            Ok(())
        })?;
        let name = Reclaimer::Kswapd.slice_name();
        for (node, mut evs) in per_node {
            evs.sort_by_key(|e| e.0);
            // (track, runs) while awake.
            let mut awake: Option<(u64, u64)> = None;
            for (i, (ts, e, tid, tgid, comm)) in evs.iter().enumerate() {
                let track = self.thread(*tid, *tgid, comm);
                match (e, awake.as_mut()) {
                    (KswapdEvent::Wake, Some((_, runs))) => *runs += 1,
                    (KswapdEvent::Wake, None) => {
                        self.event(
                            *ts,
                            track,
                            EventType::SliceBegin,
                            Some(name.clone()),
                            vec![arg("node", Value::Int(node))],
                        );
                        awake = Some((track, 1));
                    }
                    (KswapdEvent::Sleep, Some(&mut (t, runs))) => {
                        self.event(
                            *ts,
                            t,
                            EventType::SliceEnd,
                            None,
                            vec![arg("balancing runs", Value::Uint(runs))],
                        );
                        awake = None;
                    }
                    (KswapdEvent::Sleep, None) if i == 0 => {
                        self.event(
                            lo.min(*ts),
                            track,
                            EventType::SliceBegin,
                            Some(name.clone()),
                            vec![
                                arg("node", Value::Int(node)),
                                arg("begin", Value::Str("awake at the window's start".into())),
                            ],
                        );
                        self.event(*ts, track, EventType::SliceEnd, None, Vec::new());
                    }
                    (KswapdEvent::Sleep, None) => {}
                }
            }
            if let Some((t, runs)) = awake {
                self.event(
                    hi,
                    t,
                    EventType::SliceEnd,
                    None,
                    vec![
                        arg("balancing runs", Value::Uint(runs)),
                        arg("end", Value::Str("awake at the window's end".into())),
                    ],
                );
            }
        }
        Ok(())
    }

    /// Each compaction run (compaction_run, written at its end) as a slice
    /// on the thread that ran it; a run whose begin was not seen begins at
    /// the window's start.
    fn compaction_slices(&mut self, rec: &Recording, f: &Filter, lo: i64) -> Result<(), ReadError> {
        let lf = rec.scan(
            "compaction_run",
            f,
            &[
                "ts_ns",
                "pid",
                "tgid",
                "comm",
                "runner",
                "node",
                "zone",
                "order",
                "status",
                "mode",
                "begin_ts_ns",
                "migrate_scanned",
                "free_scanned",
                "migrated",
                "migrate_failed",
            ],
        )?;
        rec.stream("compaction_run", lf, |fr| {
            let (ts, tid, tgid, comm) = task_cols(fr)?;
            let runner = fr.str_or_empty("runner")?;
            let node = fr.i64("node")?;
            let zone = fr.str("zone")?;
            let order = fr.i64("order")?;
            let status = fr.str("status")?;
            let mode = fr.str("mode")?;
            let begin = fr.i64("begin_ts_ns")?;
            let mscan = fr.u64("migrate_scanned")?;
            let fscan = fr.u64("free_scanned")?;
            let migrated = fr.u64("migrated")?;
            let mfailed = fr.u64("migrate_failed")?;
            for i in 0..fr.height() {
                let track = self.thread(tid[i], tgid[i], &comm[i]);
                let at = begin[i].map_or(lo, |b| b.max(lo)).min(ts[i]);
                let args = [
                    arg_i("node", node[i]),
                    arg_s("zone", zone[i].as_deref()),
                    arg_i("order", order[i]),
                    arg_s("mode", mode[i].as_deref()),
                    begin[i]
                        .is_none()
                        .then(|| arg("begin", Value::Str("not seen".into()))),
                ];
                self.event(
                    at,
                    track,
                    EventType::SliceBegin,
                    Some(Runner::parse(&runner[i]).slice_name()),
                    args.into_iter().flatten().collect(),
                );
                let args = [
                    arg_s("status", status[i].as_deref()),
                    arg_u("migrate_scanned", mscan[i]),
                    arg_u("free_scanned", fscan[i]),
                    arg_u("migrated", migrated[i]),
                    arg_u("migrate_failed", mfailed[i]),
                ];
                self.event(
                    ts[i],
                    track,
                    EventType::SliceEnd,
                    None,
                    args.into_iter().flatten().collect(),
                );
            }
            Ok(())
        })
    }

    /// Each OOM kill as an instant on an `OOM kill` track of the victim's
    /// process (beside its RSS), or of the trace when the victim's pid is
    /// unknown.
    fn oom_kills(&mut self, rec: &Recording, f: &Filter) -> Result<(), ReadError> {
        let lf = rec.scan(
            "oom_victim",
            f,
            &[
                "ts_ns",
                "tgid",
                "comm",
                "victim_pid",
                "victim_comm",
                "anon_rss",
                "file_rss",
                "shmem_rss",
                "total_vm",
                "oom_score_adj",
                "constraint",
                "oom_memcg",
                "task_memcg",
            ],
        )?;
        rec.stream("oom_victim", lf, |fr| {
            let ts = fr.i64_or0("ts_ns")?;
            let (ktgid, kcomm) = (fr.u64("tgid")?, fr.str("comm")?);
            let (vpid, vcomm) = (fr.u64("victim_pid")?, fr.str("victim_comm")?);
            let (anon, file, shmem) = (
                fr.u64("anon_rss")?,
                fr.u64("file_rss")?,
                fr.u64("shmem_rss")?,
            );
            let vm = fr.u64("total_vm")?;
            let adj = fr.i64("oom_score_adj")?;
            let cons = fr.str("constraint")?;
            let (om, tm) = (fr.str("oom_memcg")?, fr.str("task_memcg")?);
            for i in 0..fr.height() {
                let victim = vpid[i].and_then(|p| u32::try_from(p).ok());
                let who = vcomm[i].as_deref().unwrap_or("?");
                let track = match victim {
                    Some(p) => self.oom_track(p, who),
                    None => self.oom_global_track(),
                };
                let rss = match (anon[i], file[i], shmem[i]) {
                    (Some(a), Some(b), Some(c)) => Some(a.saturating_add(b).saturating_add(c)),
                    _ => None,
                };
                let name = match victim {
                    Some(p) => format!("OOM kill: {who} ({p})"),
                    None => format!("OOM kill: {who}"),
                };
                let args = [
                    arg_u("victim_pid", vpid[i]),
                    arg_s("victim_comm", vcomm[i].as_deref()),
                    arg_u("rss", rss),
                    arg_u("anon_rss", anon[i]),
                    arg_u("file_rss", file[i]),
                    arg_u("shmem_rss", shmem[i]),
                    arg_u("total_vm", vm[i]),
                    arg_i("oom_score_adj", adj[i]),
                    arg_s("constraint", cons[i].as_deref()),
                    arg_s("oom_memcg", om[i].as_deref()),
                    arg_s("task_memcg", tm[i].as_deref()),
                    arg_u("killer_pid", ktgid[i]),
                    arg_s("killer_comm", kcomm[i].as_deref()),
                ];
                self.event(
                    ts[i],
                    track,
                    EventType::Instant,
                    Some(name),
                    args.into_iter().flatten().collect(),
                );
            }
            Ok(())
        })
    }

    fn oom_track(&mut self, pid: u32, comm: &str) -> u64 {
        let parent = self.process(pid, comm);
        if let Some(t) = self.procs.get(&pid).and_then(|p| p.oom) {
            return t;
        }
        let t = self.named("OOM kill", Some(parent));
        if let Some(p) = self.procs.get_mut(&pid) {
            p.oom = Some(t);
        }
        t
    }

    fn oom_global_track(&mut self) -> u64 {
        if let Some(t) = self.oom_global {
            return t;
        }
        let t = self.named("OOM kills", None);
        self.oom_global = Some(t);
        t
    }

    /// Each allocation failure as an instant on its node's `allocation
    /// failures` track, beside the zones' free pages and watermarks.
    fn alloc_failures(&mut self, rec: &Recording, f: &Filter) -> Result<(), ReadError> {
        let lf = rec.scan(
            "paf",
            f,
            &[
                "ts_ns",
                "pid",
                "tgid",
                "comm",
                "order",
                "gfp",
                "migratetype_name",
                "highest_zone",
                "node",
            ],
        )?;
        rec.stream("paf", lf, |fr| {
            let (ts, tid, tgid, comm) = task_cols(fr)?;
            let order = fr.i64("order")?;
            let gfp = fr.str("gfp")?;
            let mt = fr.str("migratetype_name")?;
            let hz = fr.str("highest_zone")?;
            let node = fr.u64_or0("node")?;
            for i in 0..fr.height() {
                let track = self.failures_track(u32::try_from(node[i]).unwrap_or(u32::MAX));
                let name = match order[i] {
                    Some(o) => format!("allocation failure: order {o}"),
                    None => "allocation failure".to_string(),
                };
                let args = [
                    arg_i("order", order[i]),
                    arg_s("gfp", gfp[i].as_deref()),
                    arg_s("migratetype", mt[i].as_deref()),
                    arg_s("highest_zone", hz[i].as_deref()),
                    Some(arg("pid", Value::Uint(u64::from(tgid[i])))),
                    Some(arg("tid", Value::Uint(u64::from(tid[i])))),
                    Some(arg("comm", Value::Str(comm[i].clone()))),
                ];
                self.event(
                    ts[i],
                    track,
                    EventType::Instant,
                    Some(name),
                    args.into_iter().flatten().collect(),
                );
            }
            Ok(())
        })
    }

    fn failures_track(&mut self, node: u32) -> u64 {
        let parent = self.node(node);
        if let Some(t) = self.nodes.get(&node).and_then(|n| n.failures) {
            return t;
        }
        let t = self.named("allocation failures", Some(parent));
        if let Some(n) = self.nodes.get_mut(&node) {
            n.failures = Some(t);
        }
        t
    }
}

/// A counter track's unit.
#[derive(Debug, Clone, Copy)]
enum CounterUnit {
    Bytes,
    Pages,
    PagesPerSec,
}

/// `ts_ns`, `pid` (thread), `tgid` and `comm` of a batch.
type TaskCols = (Vec<i64>, Vec<u32>, Vec<u32>, Vec<String>);

fn task_cols(fr: &Frame) -> Result<TaskCols, ReadError> {
    let id = |v: Vec<u64>| -> Vec<u32> {
        v.into_iter()
            .map(|x| u32::try_from(x).unwrap_or(u32::MAX))
            .collect()
    };
    Ok((
        fr.i64_or0("ts_ns")?,
        id(fr.u64_or0("pid")?),
        id(fr.u64_or0("tgid")?),
        fr.str_or_empty("comm")?,
    ))
}

/// A rate counter's points from per-interval page sums (interval index →
/// pages, ascending): pages per second at each interval's start where it
/// changes, and a 0 at the end of an interval not followed by one with
/// reclaim. Stepped, the line's integral over time is the pages.
fn rate_points(sums: impl Iterator<Item = (i64, u64)>, lo: i64, hi: i64) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut last: Option<f64> = None;
    let mut prev_k: Option<i64> = None;
    let mut push = |out: &mut Vec<(i64, f64)>, ts: i64, v: f64| {
        if last != Some(v) {
            out.push((ts, v));
            last = Some(v);
        }
    };
    for (k, pages) in sums {
        let start = lo.saturating_add(k.saturating_mul(RATE_INTERVAL_NS));
        if start >= hi {
            break;
        }
        let end = start.saturating_add(RATE_INTERVAL_NS).min(hi);
        if let Some(p) = prev_k {
            if k > p + 1 {
                let gap = lo.saturating_add((p + 1).saturating_mul(RATE_INTERVAL_NS));
                push(&mut out, gap, 0.0);
            }
        }
        push(&mut out, start, pages as f64 * 1e9 / (end - start) as f64);
        prev_k = Some(k);
    }
    if let Some(p) = prev_k {
        let end = lo
            .saturating_add((p + 1).saturating_mul(RATE_INTERVAL_NS))
            .min(hi);
        push(&mut out, end, 0.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Trace { repeated TracePacket packet = 1; }`, to read back.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Trace {
        #[prost(message, repeated, tag = "1")]
        packet: Vec<TracePacket>,
    }

    #[test]
    fn packets_stream_as_one_trace() {
        let mut x = Export::new(Vec::new());
        let p = x.process(42, "worker");
        let t = x.counter_track("RSS", p, CounterUnit::Bytes, "rss 42");
        x.counter(1_000, t, 4096);
        x.counter(2_000, t, 8192);
        let bytes = x.w.clone();
        let w = x.finish().unwrap_or_default();
        assert_eq!(w.packets, 4);
        assert_eq!(w.counter_tracks, 1);
        assert_eq!(w.counter_values, 2);
        assert_eq!(w.bytes, bytes.len() as u64);
        let trace = Trace::decode(bytes.as_slice()).unwrap_or_default();
        assert_eq!(trace.packet.len(), 4);
        // The first packet clears the sequence's state; every packet is on it.
        assert_eq!(
            trace.packet[0].sequence_flags,
            Some(proto::SEQ_INCREMENTAL_STATE_CLEARED)
        );
        assert!(trace.packet[1..].iter().all(|p| p.sequence_flags.is_none()));
        assert!(trace
            .packet
            .iter()
            .all(|p| p.trusted_packet_sequence_id == Some(SEQUENCE_ID)));
        let Some(Data::TrackEvent(e)) = &trace.packet[3].data else {
            panic!("{:?}", trace.packet[3]);
        };
        assert_eq!(trace.packet[3].timestamp, Some(2_000));
        assert_eq!(trace.packet[3].timestamp_clock_id, Some(6));
        assert_eq!((e.track_uuid, e.counter_value), (Some(t), Some(8192)));
    }

    #[test]
    fn rates_integrate_to_the_pages() {
        let (lo, hi) = (1_000_000_000, 1_950_000_000);
        // Intervals 0 and 1 (same rate), a gap, 3, and the last, cut short.
        let sums = [(0, 10), (1, 10), (3, 5), (9, 2)];
        let p = rate_points(sums.into_iter(), lo, hi);
        assert_eq!(
            p,
            vec![
                (lo, 100.0),
                (lo + 200_000_000, 0.0),
                (lo + 300_000_000, 50.0),
                (lo + 400_000_000, 0.0),
                (lo + 900_000_000, 40.0),
                (hi, 0.0),
            ]
        );
        let area: f64 = p
            .windows(2)
            .map(|w| w[0].1 * (w[1].0 - w[0].0) as f64 / 1e9)
            .sum();
        assert!((area - 27.0).abs() < 1e-9, "{area}");
        assert!(rate_points(std::iter::empty(), lo, hi).is_empty());
        // Reclaim that stops before the end drops to 0 where it stopped.
        let p = rate_points([(2, 7)].into_iter(), lo, hi);
        assert_eq!(p, vec![(lo + 200_000_000, 70.0), (lo + 300_000_000, 0.0)]);
    }
}
