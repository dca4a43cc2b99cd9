//! Many recordings read together: the files the arguments name, grouped into
//! recordings (segments of one recording stay one), each opened and checked
//! on its own. Host and recording are the fleet's dimensions.

use crate::inputs::Inputs;
use crate::recording::{segment_of, OpenError, Recording};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The recordings the arguments name, ordered by host, then start time.
#[derive(Debug)]
pub struct Fleet {
    pub recordings: Vec<Recording>,
    /// The arguments as given, for messages.
    pub name: String,
}

impl Fleet {
    /// Groups the files into recordings and opens each. Files of one
    /// recording (its segments and merged files) are one group, as
    /// [`Recording::open_files`] reads them; a file without segment
    /// information, or one the flight recorder wrote around a trigger, is
    /// a recording of its own. The resolver's notes go to every recording.
    pub fn open(inputs: &Inputs) -> Result<Fleet, OpenError> {
        let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for path in &inputs.files {
            let key = match segment_of(path) {
                Some(p) => match (&p.trigger, &p.segment) {
                    (None, Some(s)) => format!("id:{}", s.recording_id),
                    _ => format!("file:{}", path.display()),
                },
                // The full checks name what is wrong with it.
                None => format!("file:{}", path.display()),
            };
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(path.clone());
        }
        let single = order.len() == 1;
        let mut recordings = Vec::with_capacity(order.len());
        for key in &order {
            let paths = groups.remove(key).unwrap_or_default();
            let name = if single {
                inputs.name.clone()
            } else {
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut rec = Recording::open_files(&name, &paths)?;
            rec.warnings.splice(0..0, inputs.notes.iter().cloned());
            rec.notes.splice(0..0, inputs.notes.iter().cloned());
            recordings.push(rec);
        }
        recordings.sort_by(|a, b| {
            a.host()
                .cmp(b.host())
                .then(a.wall_start_ns().cmp(&b.wall_start_ns()))
                .then(a.id().cmp(&b.id()))
        });
        Ok(Fleet {
            recordings,
            name: inputs.name.clone(),
        })
    }

    /// One recording, read as before fleets.
    pub fn is_single(&self) -> bool {
        self.recordings.len() == 1
    }

    /// The distinct hosts, sorted.
    pub fn hosts(&self) -> Vec<&str> {
        let mut h: Vec<&str> = self.recordings.iter().map(|r| r.host()).collect();
        h.dedup();
        h
    }
}

impl Recording {
    /// The host that recorded it (`hostname` in the metadata).
    pub fn host(&self) -> &str {
        &self.meta.hostname
    }

    /// The recording's id: the one memrec gave its segments, else the
    /// name of its (one) file without `.parquet`.
    pub fn id(&self) -> String {
        if let Some(s) = &self.meta.segment {
            return s.recording_id.clone();
        }
        self.files
            .first()
            .and_then(|f| f.path.file_stem())
            .map_or_else(|| self.name.clone(), |s| s.to_string_lossy().into_owned())
    }

    /// Unix-epoch ns minus `ts_ns`, from the start anchor; None for a file
    /// without one.
    pub fn wall_offset_ns(&self) -> Option<i64> {
        self.meta
            .to_realtime_ns(self.start_ns)
            .and_then(|w| w.checked_sub(self.start_ns))
    }

    /// The recording's start as Unix-epoch ns, or its `ts_ns` without an
    /// anchor (sorts such files by boot time).
    pub fn wall_start_ns(&self) -> i64 {
        self.start_ns
            .saturating_add(self.wall_offset_ns().unwrap_or_default())
    }
}
