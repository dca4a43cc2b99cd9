//! Segment files: a recording is written as a series of ordinary Parquet
//! files, each closed at a checkpoint, so a crash loses at most the one
//! being written.
//!
//! A segment is written as `NNNNNN.parquet.partial` and renamed to
//! `NNNNNN.parquet` once its footer is on disk (file synced, then the
//! directory synced after the rename): a name without `.partial` always
//! means a whole file. The directory is memrec's own (created 0700 by
//! [`crate::output`]), so names in it are not raced by other users.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Suffix of the segment being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// With rotation or the flight recorder: the stack store's rows of the
/// segments already gone, which every later file is merged with (see
/// `spool.rs`). Not a segment: [`segment_index`] does not take it; and
/// hidden, so that a reader of the directory's `*.parquet` files (memana
/// on a live or crashed recording) does not take it for a recording file.
pub const CARRY_NAME: &str = ".carry.parquet";

/// The file name of segment `index`.
pub fn segment_name(index: u64) -> String {
    format!("{index:06}.parquet")
}

/// The segment number in a file name (`000012.parquet` → 12).
pub fn segment_index(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".parquet")?;
    (stem.len() >= 6 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Renames closed (and synced) segment `index` in `dir` to its final name
/// and syncs the directory, so that the name survives a power cut.
pub fn seal_in(dir: &Path, index: u64) -> io::Result<PathBuf> {
    let to = dir.join(segment_name(index));
    let from = dir.join(format!("{}{PARTIAL_SUFFIX}", segment_name(index)));
    std::fs::rename(from, &to)?;
    File::open(dir)?.sync_all()?;
    Ok(to)
}

/// The sealed segments in `dir`, in order.
pub fn list_sealed(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let i = segment_index(&e.file_name().to_string_lossy())?;
            Some((i, e.path()))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// A segment closed and renamed into place.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub index: u64,
    pub path: PathBuf,
    pub bytes: u64,
    /// Its row groups: a file merged of segments lists each in its footer.
    pub row_groups: usize,
    /// The segment's window (`ts_ns` clock).
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Where segments are written.
#[derive(Debug)]
pub struct SegmentDir {
    dir: PathBuf,
    next: u64,
}

impl SegmentDir {
    /// Segments in `dir` (existing, memrec's own), numbered from 1.
    pub fn new(dir: &Path) -> Self {
        SegmentDir {
            dir: dir.to_path_buf(),
            next: 1,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the next segment's `.partial` file; returns it and its number.
    pub fn create_next(&mut self) -> io::Result<(File, u64)> {
        let index = self.next;
        let path = self.partial_path(index);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        self.next += 1;
        Ok((file, index))
    }

    fn partial_path(&self, index: u64) -> PathBuf {
        self.dir
            .join(format!("{}{PARTIAL_SUFFIX}", segment_name(index)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(12), "000012.parquet");
        assert_eq!(segment_index("000012.parquet"), Some(12));
        assert_eq!(segment_index("1234567.parquet"), Some(1_234_567));
        assert_eq!(segment_index("000012.parquet.partial"), None);
        assert_eq!(segment_index("run.parquet"), None);
        assert_eq!(segment_index(CARRY_NAME), None);
    }

    #[test]
    fn a_segment_is_partial_until_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SegmentDir::new(dir.path());
        let (_, i) = s.create_next().unwrap();
        assert_eq!(i, 1);
        assert!(dir.path().join("000001.parquet.partial").exists());
        let p = seal_in(dir.path(), 1).unwrap();
        assert_eq!(p, dir.path().join("000001.parquet"));
        assert!(!dir.path().join("000001.parquet.partial").exists());
        assert_eq!(s.create_next().unwrap().1, 2);
    }
}
