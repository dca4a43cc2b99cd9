//! The file's key-value metadata: everything needed to read a recording on
//! another host. Stored as JSON under [`crate::META_KEY`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Errors reading the metadata of a recording.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("not a memtrace recording: no `{0}` key in the Parquet metadata")]
    Missing(&'static str),
    #[error("recording metadata is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema version `{0}` is not a number")]
    BadVersion(String),
    #[error(
        "recording has schema version {found}, newer than this build understands ({known}); \
         use a newer memana"
    )]
    TooNew { found: u32, known: u32 },
}

/// Pair of clock readings taken back to back, to map `ts_ns` to wall time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockAnchor {
    /// CLOCK_BOOTTIME, ns (the `ts_ns` clock).
    pub boottime_ns: i64,
    /// CLOCK_REALTIME, ns since the Unix epoch.
    pub realtime_ns: i64,
    /// CLOCK_MONOTONIC, ns.
    pub monotonic_ns: i64,
}

/// How one program (one tracepoint) fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeMeta {
    /// Probe group, e.g. `pr`.
    pub group: String,
    /// BPF program name.
    pub program: String,
    /// What it is attached to, e.g. `vmscan:mm_vmscan_lru_shrink_inactive`.
    pub target: String,
    /// `tp_btf`, `tp`, `raw_tp`, `cpu_timer` (a cpu-clock perf event per CPU)
    /// or `test_run` (run by the recorder itself).
    pub method: String,
    /// Whether it is attached.
    pub attached: bool,
    /// Why not, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Not attached on purpose: a fallback whose program runs, or a program
    /// the command line did not ask for. `error` says which.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
    /// Records the kernel wrote to the ring buffer.
    pub events: u64,
    /// Records the kernel dropped because the ring buffer was full.
    pub lost: u64,
    /// Times the kernel did not run the program for its event because a
    /// BPF program was already running on that CPU (it interrupted one:
    /// the program's `recursion_misses`); those events have no record.
    /// Absent when 0, and in files written before it existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missed: u64,
    /// Whether it ran and, if not, whose doing that was. Absent from files
    /// written before it existed: [`ProbeMeta::state`] derives it then.
    #[serde(default, rename = "state", skip_serializing_if = "Option::is_none")]
    pub recorded_state: Option<ProbeState>,
}

/// For serde: a count of 0 is left out of the metadata.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ProbeMeta {
    /// What became of the program. Older files, which lack the field, could
    /// not tell a missing target from a failed attach: both read `failed`.
    pub fn state(&self) -> ProbeState {
        match self.recorded_state {
            Some(s) => s,
            None if self.attached => ProbeState::Attached,
            None if self.standby => ProbeState::Standby,
            None => ProbeState::Failed,
        }
    }
}

/// What became of one program of a recording: [`ProbeMeta::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeState {
    /// It ran for the whole recording.
    Attached,
    /// This kernel lacks what it needs (its tracepoint or function, or the
    /// kernel cannot use it here); `error` says what. Not a fault of memrec.
    Missing,
    /// Not needed: it stands in for a program that runs.
    Standby,
    /// Turned off on the command line.
    NotAsked,
    /// Loading or attaching it failed on a kernel that has its target.
    Failed,
}

impl ProbeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeState::Attached => "attached",
            ProbeState::Missing => "missing",
            ProbeState::Standby => "standby",
            ProbeState::NotAsked => "not_asked",
            ProbeState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ProbeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one probe group fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMeta {
    pub name: String,
    /// `attached`, `partial`, `skipped` or `failed`.
    pub status: String,
    /// Why it is not fully attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Records received and decoded in user space.
    pub decoded: u64,
    /// Records user space could not decode (wrong size or unknown kind).
    pub malformed: u64,
    /// Sum of the group's probes' kernel-side losses.
    pub lost: u64,
}

/// A zone as /proc/zoneinfo printed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneInfo {
    pub node: u32,
    pub zone: String,
    pub zone_idx: u32,
    pub free: u64,
    pub boost: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub promo: u64,
    pub spanned: u64,
    pub present: u64,
    pub managed: u64,
    pub cma: u64,
    pub free_cma: u64,
    /// `protection: (...)`: lowmem reserve against each higher zone index.
    pub protection: Vec<u64>,
}

/// A zone's line of /proc/buddyinfo: free blocks per order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuddyInfo {
    pub node: u32,
    pub zone: String,
    /// Free blocks of order 0, 1, ... (each 2^order pages).
    pub free_blocks: Vec<u64>,
}

impl BuddyInfo {
    /// Parses /proc/buddyinfo text (`Node 0, zone   Normal   12 7 ...`);
    /// lines of another shape are left out.
    pub fn parse(text: &str) -> Vec<BuddyInfo> {
        text.lines()
            .filter_map(|l| {
                let (node, rest) = l.strip_prefix("Node ")?.split_once(',')?;
                let mut words = rest.split_whitespace();
                if words.next()? != "zone" {
                    return None;
                }
                let zone = words.next()?.to_string();
                let free_blocks = words
                    .map(str::parse)
                    .collect::<Result<Vec<u64>, _>>()
                    .ok()?;
                Some(BuddyInfo {
                    node: node.trim().parse().ok()?,
                    zone,
                    free_blocks,
                })
            })
            .collect()
    }
}

/// The task filter the recording used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_id: Option<u64>,
    /// `memrec record -- CMD`: the command memrec started. Absent in
    /// files of older memrec and in recordings without a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandFilter>,
}

/// The command a recording started (`memrec record [OPTIONS] -- CMD ARGS...`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandFilter {
    /// The command and its arguments, as given.
    pub argv: Vec<String>,
    /// Its process id (memrec's child).
    pub pid: u32,
    /// True: only it and the processes it forked, however deep, were
    /// recorded (node-wide state always is); false (`--all`): every process.
    pub follow: bool,
    /// How it ended, as a shell says it: its exit code, or 128 + the
    /// signal that killed it. Absent while it ran (a checkpoint's segment)
    /// or when memrec stopped first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// Processes it started that were not followed because the table of
    /// followed processes was full: their events are missing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_followed: u64,
}

/// Everything the file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub schema_version: u32,
    pub memrec_version: String,
    pub hostname: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -v`.
    pub kernel_version: String,
    /// `uname -m`.
    pub machine: String,
    pub page_size: u64,
    /// Base pages per PMD-sized huge page.
    pub hpage_pmd_nr: u64,
    pub nr_cpus: u32,
    /// Online NUMA nodes.
    pub nodes: Vec<u32>,
    /// Clock of every `ts_ns`: always `CLOCK_BOOTTIME`.
    pub clock: String,
    /// Clock readings at start and at end.
    pub clock_anchors: Vec<ClockAnchor>,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Start and end as RFC 3339 wall-clock time.
    pub start_time: String,
    pub end_time: String,
    /// memrec's command line.
    pub command_line: Vec<String>,
    /// Probe groups asked for.
    pub groups_requested: Vec<String>,
    pub groups: Vec<GroupMeta>,
    pub probes: Vec<ProbeMeta>,
    pub filter: FilterMeta,
    /// Recorder settings (sampling intervals, ring size...).
    pub settings: BTreeMap<String, String>,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
    /// /proc/zoneinfo at start (right after the start snapshot) and at end
    /// (right before the end one), read while the probes record: a
    /// recomputation of the watermarks in between is a `wmark_setup` row.
    /// Older memrec read the start one before attaching its probes.
    pub zones_start: Vec<ZoneInfo>,
    pub zones_end: Vec<ZoneInfo>,
    /// /proc/buddyinfo read right after the start snapshot and right before
    /// the end one; absent in recordings from older memrec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buddyinfo_start: Option<Vec<BuddyInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buddyinfo_end: Option<Vec<BuddyInfo>>,
    /// The same read right before the start snapshot and right after the
    /// end one: with the above, each snapshot lies between two reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buddyinfo_start_before: Option<Vec<BuddyInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buddyinfo_end_after: Option<Vec<BuddyInfo>>,
    /// /proc/vmstat at start and at end: ground truth for the recorded figures.
    pub vmstat_start: BTreeMap<String, u64>,
    pub vmstat_end: BTreeMap<String, u64>,
    /// The gfp flag names the recording decoded masks with, in the kernel's
    /// print order: `[value, name]`.
    pub gfp_names: Vec<(u64, String)>,
    /// Memory cgroup ids seen, with their paths relative to the controller's root.
    /// memrec resolves an id when it first sees it, so a cgroup removed
    /// during the recording is named too (older memrec resolved them at the
    /// end, and missed those).
    pub cgroups: BTreeMap<u64, String>,
    /// Memory limit (bytes) of the cgroups of `cgroups` that had one when
    /// first seen: v1 `memory.limit_in_bytes`, v2 `memory.max`. No limit
    /// (`max`, v1's unlimited) is no entry. Absent in files of older memrec.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cgroup_limits: BTreeMap<u64, u64>,
    /// How the recording ended: `duration`, `signal`, `error: ...`.
    pub end_reason: String,
    /// Warnings raised while recording (fallbacks, skipped probes).
    pub warnings: Vec<String>,
    /// Which segments of which recording this file holds. Absent in files
    /// from memrec before segments (one file, one recording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentMeta>,
    /// The `oom_score_adj` memrec gave itself, when it set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// What made the flight recorder write this file, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerMeta>,
}

/// A recording is written as segments: each an ordinary Parquet file closed
/// at a checkpoint. A segment's metadata describes that segment alone: its
/// window (`start_ns`..`end_ns`), the counters read at its two edges, and
/// the events, losses and rows inside it. [`FileMeta::combine`] joins
/// consecutive segments into the metadata of the whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Random id shared by every segment of one recording (hex).
    pub recording_id: String,
    /// First and last segment held, numbered from 1 in recording order.
    /// A single segment has `first == last`; a merged file spans several.
    pub first: u64,
    pub last: u64,
}

/// Why a flight-recorder file was written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerMeta {
    /// `oom`, `alloc-fail`, `direct-reclaim-over`, `compaction-over`, `psi`.
    pub kind: String,
    /// When it fired (`ts_ns` clock).
    pub ts_ns: i64,
    /// What fired it, in words (victim, latency, pressure line...).
    pub detail: String,
    /// The window kept before the trigger and the tail after it, in ns.
    pub keep_ns: i64,
    pub tail_ns: i64,
}

/// Why segments cannot be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CombineError {
    #[error("no segments to combine")]
    Empty,
    #[error("segments of different recordings ({0} and {1})")]
    Recordings(String, String),
    #[error("segment {0} appears twice")]
    Duplicate(u64),
}

impl FileMeta {
    /// Joins the metadata of segments of one recording into that of the
    /// whole: edges (start, anchors, counters read at the start) from the
    /// first, end edges from the last, and the sum of what each one counted
    /// (events, losses, rows). Segments are ordered by number; a gap (a
    /// segment deleted by rotation, or lost in a crash) is allowed and
    /// reported by [`Self::missing_segments`]. Files without segment
    /// information combine only alone.
    pub fn combine(metas: &[FileMeta]) -> Result<FileMeta, CombineError> {
        let mut sorted: Vec<&FileMeta> = metas.iter().collect();
        sorted.sort_by_key(|m| m.segment.as_ref().map_or(0, |s| s.first));
        let (first, last) = match (sorted.first(), sorted.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return Err(CombineError::Empty),
        };
        if sorted.len() == 1 {
            return Ok(first.clone());
        }
        let id = |m: &FileMeta| m.segment.as_ref().map(|s| s.recording_id.clone());
        for pair in sorted.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if id(a) != id(b) || id(a).is_none() {
                return Err(CombineError::Recordings(
                    id(a).unwrap_or_else(|| "none".into()),
                    id(b).unwrap_or_else(|| "none".into()),
                ));
            }
            if let (Some(sa), Some(sb)) = (&a.segment, &b.segment) {
                if sb.first <= sa.last {
                    return Err(CombineError::Duplicate(sb.first));
                }
            }
        }
        let mut out = last.clone();
        out.start_ns = first.start_ns;
        out.start_time = first.start_time.clone();
        out.clock_anchors = first
            .clock_anchors
            .first()
            .into_iter()
            .chain(last.clock_anchors.last())
            .cloned()
            .collect();
        out.zones_start = first.zones_start.clone();
        out.buddyinfo_start = first.buddyinfo_start.clone();
        out.buddyinfo_start_before = first.buddyinfo_start_before.clone();
        out.vmstat_start = first.vmstat_start.clone();
        out.segment = Some(SegmentMeta {
            recording_id: id(first).unwrap_or_default(),
            first: first.segment.as_ref().map_or(0, |s| s.first),
            last: last.segment.as_ref().map_or(0, |s| s.last),
        });
        // Counts inside the window: the sum over segments.
        out.rows.clear();
        for p in out.probes.iter_mut() {
            (p.events, p.lost, p.missed) = (0, 0, 0);
        }
        for g in out.groups.iter_mut() {
            (g.decoded, g.malformed, g.lost) = (0, 0, 0);
        }
        for m in &sorted {
            for (t, n) in &m.rows {
                *out.rows.entry(t.clone()).or_default() += n;
            }
            for p in &m.probes {
                if let Some(o) = out
                    .probes
                    .iter_mut()
                    .find(|o| o.group == p.group && o.program == p.program)
                {
                    o.events += p.events;
                    o.lost += p.lost;
                    o.missed += p.missed;
                }
            }
            for g in &m.groups {
                if let Some(o) = out.groups.iter_mut().find(|o| o.name == g.name) {
                    o.decoded += g.decoded;
                    o.malformed += g.malformed;
                    o.lost += g.lost;
                }
            }
            for (id, path) in &m.cgroups {
                out.cgroups.entry(*id).or_insert_with(|| path.clone());
            }
            for w in &m.warnings {
                if !out.warnings.contains(w) {
                    out.warnings.push(w.clone());
                }
            }
        }
        Ok(out)
    }

    /// Segment numbers missing between the first and the last one held:
    /// only meaningful on the output of [`Self::combine`] together with the
    /// list of segments that went into it.
    pub fn missing_segments(held: &[u64]) -> Vec<u64> {
        let mut held = held.to_vec();
        held.sort_unstable();
        let mut missing = Vec::new();
        for w in held.windows(2) {
            missing.extend(w[0] + 1..w[1]);
        }
        missing
    }
}

impl FileMeta {
    /// Parses the JSON and checks the schema version.
    pub fn from_json(json: &str) -> Result<Self, MetaError> {
        let meta: FileMeta = serde_json::from_str(json)?;
        check_version(meta.schema_version)?;
        Ok(meta)
    }

    pub fn to_json(&self) -> Result<String, MetaError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Total records lost in the kernel, over every probe.
    pub fn total_lost(&self) -> u64 {
        self.probes.iter().map(|p| p.lost).sum()
    }

    /// Converts a `ts_ns` to Unix-epoch nanoseconds with the start anchor.
    pub fn to_realtime_ns(&self, ts_ns: i64) -> Option<i64> {
        self.clock_anchors
            .first()
            .map(|a| ts_ns - a.boottime_ns + a.realtime_ns)
    }
}

/// How a probe group fared: [`GroupMeta::status`] as an enum, written as
/// the same lowercase word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// Every program it has on this kernel runs.
    Attached,
    /// Some programs run; a missing one has no fallback.
    Partial,
    /// Not recorded: this kernel has none of its tracepoints.
    #[default]
    Skipped,
    /// Not recorded: loading its BPF programs failed.
    Failed,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Attached => "attached",
            GroupStatus::Partial => "partial",
            GroupStatus::Skipped => "skipped",
            GroupStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for GroupStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a recording ended: [`FileMeta::end_reason`] as an enum, written as
/// the same text (`duration`, `signal`, `error: <message>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EndReason {
    /// `--duration` elapsed.
    #[default]
    Duration,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// The flight recorder wrote its file and `--until` said to stop.
    Trigger,
    /// The command memrec started (`-- CMD`) exited.
    Command,
    /// Not the end: a segment closed at a checkpoint. A recording whose
    /// last segment says this was cut short after it (memrec killed).
    Checkpoint,
    /// Writing failed; what was written until then is in the file.
    Error(String),
    /// A reason this build does not know (a newer memrec's), kept as written.
    Other(String),
}

impl EndReason {
    const ERROR_PREFIX: &'static str = "error: ";

    /// Reads the text form; never fails, unknown text is [`EndReason::Other`].
    pub fn parse(text: &str) -> EndReason {
        match text {
            "duration" => EndReason::Duration,
            "signal" => EndReason::Signal,
            "checkpoint" => EndReason::Checkpoint,
            "trigger" => EndReason::Trigger,
            "command exited" => EndReason::Command,
            _ => match text.strip_prefix(Self::ERROR_PREFIX) {
                Some(e) => EndReason::Error(e.to_string()),
                None => EndReason::Other(text.to_string()),
            },
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::Duration => f.write_str("duration"),
            EndReason::Signal => f.write_str("signal"),
            EndReason::Checkpoint => f.write_str("checkpoint"),
            EndReason::Trigger => f.write_str("trigger"),
            EndReason::Command => f.write_str("command exited"),
            EndReason::Error(e) => write!(f, "{}{e}", Self::ERROR_PREFIX),
            EndReason::Other(t) => f.write_str(t),
        }
    }
}

impl Serialize for EndReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EndReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(EndReason::parse(&text))
    }
}

#[cfg(feature = "parquet")]
impl FileMeta {
    /// Reads a recording's schema version ([`crate::SCHEMA_VERSION_KEY`])
    /// and metadata ([`crate::META_KEY`]) from its Parquet footer's
    /// key-value metadata. A missing key means the file is not a memtrace
    /// recording; a version newer than this build is refused.
    pub fn from_parquet(
        footer: &parquet::file::metadata::FileMetaData,
    ) -> Result<(u32, FileMeta), MetaError> {
        Self::from_key_value(footer.key_value_metadata().map(Vec::as_slice))
    }

    /// [`Self::from_parquet`] on the key-value list itself.
    pub fn from_key_value(
        kv: Option<&[parquet::file::metadata::KeyValue]>,
    ) -> Result<(u32, FileMeta), MetaError> {
        let get = |key: &'static str| {
            kv.unwrap_or_default()
                .iter()
                .find(|k| k.key == key)
                .and_then(|k| k.value.as_deref())
                .ok_or(MetaError::Missing(key))
        };
        let version = parse_version(get(crate::SCHEMA_VERSION_KEY)?)?;
        let meta = FileMeta::from_json(get(crate::META_KEY)?)?;
        Ok((version, meta))
    }
}

/// Checks a schema version read from a file.
pub fn check_version(found: u32) -> Result<(), MetaError> {
    if found > crate::SCHEMA_VERSION {
        return Err(MetaError::TooNew {
            found,
            known: crate::SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Parses the [`crate::SCHEMA_VERSION_KEY`] value.
pub fn parse_version(text: &str) -> Result<u32, MetaError> {
    let v = text
        .trim()
        .parse::<u32>()
        .map_err(|_| MetaError::BadVersion(text.to_string()))?;
    check_version(v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn buddyinfo_lines_parse_into_zones() {
        let text = "Node 0, zone      DMA      0      0      1 \n\
                    Node 0, zone   Normal  22944   7242      0 \n\
                    garbage\n";
        let b = BuddyInfo::parse(text);
        assert_eq!(b.len(), 2);
        assert_eq!((b[1].node, b[1].zone.as_str()), (0, "Normal"));
        assert_eq!(b[1].free_blocks, [22944, 7242, 0]);
    }

    use super::*;

    #[test]
    fn json_round_trip() {
        let mut m = FileMeta {
            schema_version: crate::SCHEMA_VERSION,
            ..Default::default()
        };
        m.gfp_names.push((0xcc0, "GFP_KERNEL".into()));
        m.vmstat_start.insert("pgsteal_direct".into(), 42);
        let back = FileMeta::from_json(&m.to_json().unwrap_or_default()).ok();
        assert_eq!(back, Some(m));
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn reads_the_footer_keys() {
        use parquet::file::metadata::KeyValue;
        let m = FileMeta {
            schema_version: crate::SCHEMA_VERSION,
            hostname: "h".into(),
            ..Default::default()
        };
        let json = m.to_json().unwrap_or_default();
        let version = KeyValue::new(crate::SCHEMA_VERSION_KEY.into(), "1".to_string());
        let meta = KeyValue::new(crate::META_KEY.into(), json);
        let got = FileMeta::from_key_value(Some(&[version.clone(), meta.clone()])).ok();
        assert_eq!(got, Some((1, m)));
        assert!(matches!(
            FileMeta::from_key_value(Some(std::slice::from_ref(&meta))),
            Err(MetaError::Missing(k)) if k == crate::SCHEMA_VERSION_KEY
        ));
        assert!(matches!(
            FileMeta::from_key_value(Some(std::slice::from_ref(&version))),
            Err(MetaError::Missing(k)) if k == crate::META_KEY
        ));
        assert!(matches!(
            FileMeta::from_key_value(None),
            Err(MetaError::Missing(_))
        ));
        let newer = KeyValue::new(crate::SCHEMA_VERSION_KEY.into(), "999".to_string());
        assert!(matches!(
            FileMeta::from_key_value(Some(&[newer, meta])),
            Err(MetaError::TooNew { found: 999, .. })
        ));
        let bad = KeyValue::new(crate::META_KEY.into(), "{".to_string());
        assert!(matches!(
            FileMeta::from_key_value(Some(&[version, bad])),
            Err(MetaError::Json(_))
        ));
    }

    #[test]
    fn statuses_and_end_reasons_keep_their_text() {
        for (st, text) in [
            (GroupStatus::Attached, "attached"),
            (GroupStatus::Partial, "partial"),
            (GroupStatus::Skipped, "skipped"),
            (GroupStatus::Failed, "failed"),
        ] {
            assert_eq!(serde_json::to_value(st).ok(), Some(text.into()));
            assert_eq!(
                serde_json::from_value::<GroupStatus>(text.into()).ok(),
                Some(st)
            );
            assert_eq!(st.to_string(), text);
        }
        for (r, text) in [
            (EndReason::Duration, "duration"),
            (EndReason::Signal, "signal"),
            (EndReason::Command, "command exited"),
            (EndReason::Error("disk full".into()), "error: disk full"),
            (EndReason::Other("watchdog".into()), "watchdog"),
        ] {
            assert_eq!(serde_json::to_value(&r).ok(), Some(text.into()));
            assert_eq!(
                serde_json::from_value::<EndReason>(text.into()).ok(),
                Some(r)
            );
        }
    }

    #[test]
    fn newer_version_is_refused() {
        assert!(matches!(
            parse_version("999"),
            Err(MetaError::TooNew { .. })
        ));
        assert!(matches!(parse_version("x"), Err(MetaError::BadVersion(_))));
        assert_eq!(parse_version("1").ok(), Some(1));
    }

    fn segment(id: &str, n: u64, start: i64, end: i64, rows: u64, events: u64) -> FileMeta {
        FileMeta {
            start_ns: start,
            end_ns: end,
            vmstat_start: [("pgfault".to_string(), start as u64)].into(),
            vmstat_end: [("pgfault".to_string(), end as u64)].into(),
            rows: [("procstat".to_string(), rows)].into(),
            probes: vec![ProbeMeta {
                group: "procstat".into(),
                program: "p".into(),
                events,
                lost: 1,
                ..Default::default()
            }],
            segment: Some(SegmentMeta {
                recording_id: id.into(),
                first: n,
                last: n,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn segments_combine_into_the_whole() {
        let parts = [
            segment("a", 2, 10, 20, 5, 6),
            segment("a", 1, 0, 10, 3, 4),
            segment("a", 4, 30, 40, 1, 1),
        ];
        let all = FileMeta::combine(&parts).unwrap();
        assert_eq!((all.start_ns, all.end_ns), (0, 40));
        assert_eq!(all.vmstat_start["pgfault"], 0);
        assert_eq!(all.vmstat_end["pgfault"], 40);
        assert_eq!(all.rows["procstat"], 9);
        assert_eq!((all.probes[0].events, all.probes[0].lost), (11, 3));
        let seg = all.segment.unwrap();
        assert_eq!((seg.first, seg.last), (1, 4));
        assert_eq!(FileMeta::missing_segments(&[1, 2, 4]), vec![3]);

        let other = [segment("a", 1, 0, 10, 3, 4), segment("b", 2, 10, 20, 1, 1)];
        assert!(matches!(
            FileMeta::combine(&other),
            Err(CombineError::Recordings(..))
        ));
        let twice = [segment("a", 1, 0, 10, 3, 4), segment("a", 1, 0, 10, 3, 4)];
        assert_eq!(FileMeta::combine(&twice), Err(CombineError::Duplicate(1)));
        assert_eq!(FileMeta::combine(&[]), Err(CombineError::Empty));
    }
}
