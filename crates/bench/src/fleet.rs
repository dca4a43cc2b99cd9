//! Fleet test data: copies of recordings under other host names and
//! recording ids, each still a checksum-verified memtrace file.
//!
//! A copy keeps every data byte: only the footer is written anew. The
//! chunk checksums of `memtrace.checksums` cover the column chunks' bytes,
//! which stay where they were; its footer digest covers the key-value
//! entries, `memtrace.meta` among them, so it is recomputed with the
//! schema crate's own [`integrity::footer_digest`]. A source that fails its
//! checks is refused, so a copy never launders damage.
//!
//! The analyzer's tests include this file as it is (one implementation);
//! it uses only `std`, `anyhow`, `serde_json`, `parquet` and the schema.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use memtrace_schema::integrity::{self, Checksums, Verified, CHECKSUMS_KEY};
use memtrace_schema::META_KEY;
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter,
};
use serde_json::Value as Json;

/// Nanoseconds in a day.
pub const DAY_NS: i64 = 86_400_000_000_000;

/// What a copy changes.
#[derive(Debug, Clone)]
pub struct CopyAs {
    /// The new `hostname`.
    pub host: String,
    /// The new recording id (the segments' `recording_id`; a file without
    /// segment information is named by its file name, so name the copy
    /// `<id>.parquet`).
    pub recording_id: String,
    /// Added to the wall clock (the clock anchors' realtime readings and
    /// the start and end times): a copy recorded on another day. `ts_ns`
    /// (boot time) is left alone.
    pub shift_ns: i64,
}

/// What a copy kept, for the caller's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    /// Column chunks whose checksums the source had (and the copy keeps);
    /// 0 for a file without checksums.
    pub chunks: usize,
}

/// A recording id for the copy of recording `id` on `host`: 32 hex digits,
/// the same for the same pair (two FNV-1a hashes, mixed).
pub fn copy_id(id: &str, host: &str) -> String {
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in id.bytes().chain([0]).chain(host.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // splitmix64's finalizer, so that ids of near names look unrelated.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// Copies the recording file `src` to `dst` as recorded by `to.host` under
/// `to.recording_id`, `to.shift_ns` later. `dst` is written beside itself
/// and renamed into place.
pub fn copy_recording(src: &Path, dst: &Path, to: &CopyAs) -> Result<Copied> {
    let mut file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let md = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .with_context(|| format!("{}: reading its Parquet footer", src.display()))?;
    let chunks = match integrity::verify(&file, &md)
        .with_context(|| format!("{}: damaged, not copied", src.display()))?
    {
        Verified::Intact { chunks } => chunks,
        Verified::Unchecked => 0,
    };
    let fmd = md.file_metadata();
    let kv: Vec<KeyValue> = fmd.key_value_metadata().cloned().unwrap_or_default();
    let Some(meta) = kv.iter().find(|k| k.key == META_KEY) else {
        bail!(
            "{}: not a memtrace recording (no `{META_KEY}`)",
            src.display()
        );
    };
    let meta = retarget(meta.value.as_deref().unwrap_or(""), to)
        .with_context(|| format!("{}: its `{META_KEY}`", src.display()))?;
    let mut kv: Vec<KeyValue> = kv
        .into_iter()
        .map(|k| {
            if k.key == META_KEY {
                KeyValue::new(META_KEY.to_string(), meta.clone())
            } else {
                k
            }
        })
        .collect();
    // The footer digest covers every other entry, the new metadata too;
    // the chunks' checksums stay (their bytes do).
    if let Some(pos) = kv.iter().position(|k| k.key == CHECKSUMS_KEY) {
        let mut sums: Checksums = serde_json::from_str(kv[pos].value.as_deref().unwrap_or(""))
            .with_context(|| format!("{}: its `{CHECKSUMS_KEY}`", src.display()))?;
        sums.footer = format!("{:08x}", integrity::footer_digest(md.row_groups(), &kv));
        kv[pos] = integrity::to_key_value(&sums);
    }
    let new_fmd = FileMetaData::new(
        fmd.version(),
        fmd.num_rows(),
        fmd.created_by().map(str::to_string),
        Some(kv),
        fmd.schema_descr_ptr(),
        fmd.column_orders().cloned(),
    );
    let new_md = ParquetMetaData::new(new_fmd, md.row_groups().to_vec());

    // Everything before the footer (data pages, page indexes) as it is.
    let len = file.metadata()?.len();
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))?;
    file.read_exact(&mut tail)?;
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let Some(body) = len.checked_sub(8 + footer_len) else {
        bail!("{}: its footer length exceeds the file", src.display());
    };
    let tmp = sibling_tmp(dst);
    let out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::new(out);
    file.seek(SeekFrom::Start(0))?;
    let copied = std::io::copy(&mut (&mut file).take(body), &mut w)?;
    if copied != body {
        bail!("{}: shorter than its footer says", src.display());
    }
    // Offsets in the footer are the source's; the body keeps them valid.
    // No page index is loaded, so the writer keeps their locations too.
    ParquetMetaDataWriter::new(&mut w, &new_md)
        .finish()
        .with_context(|| format!("writing {}", tmp.display()))?;
    w.flush()?;
    let out = w.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    let bytes = out.metadata()?.len();
    drop(out);
    std::fs::rename(&tmp, dst)
        .with_context(|| format!("renaming {} to {}", tmp.display(), dst.display()))?;
    Ok(Copied { bytes, chunks })
}

fn sibling_tmp(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    dst.with_file_name(format!(".{name}.tmp"))
}

/// The metadata JSON with the new host, id and wall clock. Edited as JSON
/// so that fields this build does not know survive.
fn retarget(json: &str, to: &CopyAs) -> Result<String> {
    let mut m: Json = serde_json::from_str(json)?;
    let Some(obj) = m.as_object_mut() else {
        bail!("not a JSON object");
    };
    obj.insert("hostname".into(), Json::String(to.host.clone()));
    if let Some(seg) = obj.get_mut("segment").and_then(Json::as_object_mut) {
        seg.insert("recording_id".into(), Json::String(to.recording_id.clone()));
    }
    if to.shift_ns != 0 {
        if let Some(anchors) = obj.get_mut("clock_anchors").and_then(Json::as_array_mut) {
            for a in anchors {
                if let Some(rt) = a.get_mut("realtime_ns") {
                    let Some(v) = rt.as_i64() else {
                        bail!("a clock anchor's realtime_ns is not an integer");
                    };
                    *rt = Json::from(v.saturating_add(to.shift_ns));
                }
            }
        }
        for key in ["start_time", "end_time"] {
            if let Some(Json::String(s)) = obj.get_mut(key) {
                if let Some(ns) = parse_rfc3339(s) {
                    *s = format_rfc3339(ns.saturating_add(to.shift_ns));
                }
            }
        }
    }
    Ok(serde_json::to_string(&m)?)
}

/// Unix-epoch ns of an RFC 3339 time.
fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

/// RFC 3339 in UTC with nanoseconds, as chrono's `to_rfc3339` writes it.
fn format_rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}

/// The host name of copy `i` (from 0): `host-001`, `host-002`...
pub fn host_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{:03}", i + 1)
}

/// `membench fleet`: copies of recordings, one directory per host.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Copies of each file: one per host.
    #[arg(long, default_value_t = 50)]
    pub copies: usize,
    /// Spread the copies over this many days (copy i is i % DAYS days
    /// earlier), so that a lake has several date partitions.
    #[arg(long, default_value_t = 1)]
    pub days: usize,
    /// Host names are PREFIX-001, PREFIX-002...
    #[arg(long, default_value = "host", value_name = "PREFIX")]
    pub host_prefix: String,
    /// Output directory (OUT/<host>/<recording id>.parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// The recordings to copy (single files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `membench fleet`.
pub fn run(a: &FleetArgs) -> Result<FleetMade> {
    if a.copies == 0 {
        bail!("--copies must be at least 1");
    }
    make_fleet(&a.files, a.copies, a.days, &a.host_prefix, &a.out)
}

/// What [`make_fleet`] wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FleetMade {
    pub hosts: usize,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
}

/// Writes `copies` copies of every file in `files` under `out`, one
/// directory per host (`out/<host>/<id>.parquet`), copy `i` on host
/// `host_name(prefix, i)` and `i % days` days earlier.
pub fn make_fleet(
    files: &[PathBuf],
    copies: usize,
    days: usize,
    prefix: &str,
    out: &Path,
) -> Result<FleetMade> {
    let t = std::time::Instant::now();
    let mut made = FleetMade::default();
    let ids = files
        .iter()
        .map(|f| source_id(f))
        .collect::<Result<Vec<_>>>()?;
    for i in 0..copies {
        let host = host_name(prefix, i);
        let dir = out.join(&host);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let back = i64::try_from(i % days.max(1)).unwrap_or(0);
        for (src, id) in files.iter().zip(&ids) {
            let to = CopyAs {
                recording_id: copy_id(id, &host),
                host: host.clone(),
                shift_ns: -back * DAY_NS,
            };
            let dst = dir.join(format!("{}.parquet", to.recording_id));
            let c = copy_recording(src, &dst, &to)?;
            made.files += 1;
            made.bytes += c.bytes;
        }
        made.hosts += 1;
    }
    made.seconds = t.elapsed().as_secs_f64();
    Ok(made)
}

/// The source's recording id (its segments'), else its file name.
fn source_id(path: &Path) -> Result<String> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let md = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .with_context(|| format!("{}: reading its Parquet footer", path.display()))?;
    let meta = md
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == META_KEY))
        .and_then(|k| k.value.as_deref())
        .and_then(|v| serde_json::from_str::<Json>(v).ok());
    let id = meta
        .as_ref()
        .and_then(|m| m.pointer("/segment/recording_id"))
        .and_then(Json::as_str)
        .map(str::to_string);
    Ok(id.unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let s = "2026-12-01T00:29:27.855008657+00:00";
        let ns = parse_rfc3339(s).unwrap();
        assert_eq!(ns, 1_796_084_967_855_008_657);
        assert_eq!(format_rfc3339(ns), s);
        assert_eq!(
            format_rfc3339(ns - DAY_NS),
            "2026-11-30T00:29:27.855008657+00:00"
        );
        assert_eq!(
            parse_rfc3339("2026-12-01T02:29:27+02:00"),
            Some(ns - 855_008_657)
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000000+00:00");
    }

    #[test]
    fn copy_ids_differ_by_host() {
        let a = copy_id("ed26", "host-001");
        assert_eq!(a.len(), 32);
        assert_eq!(a, copy_id("ed26", "host-001"));
        assert_ne!(a, copy_id("ed26", "host-002"));
    }
}
