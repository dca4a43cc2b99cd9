//! Which files a recording argument names: a Parquet file, a directory
//! (segments, merged files, a fleet's subdirectories), a glob (`**` for
//! any depth), or a recording memrec did not finish (`run.parquet`
//! missing while `run.parquet.segments/` is there).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The suffix of a closed segment or a merged file.
const PARQUET: &str = ".parquet";
/// The suffix of the segment memrec was writing: no footer, unreadable.
const PARTIAL: &str = ".parquet.partial";
/// Where memrec keeps a directory-mode recording's open segments.
const SEGMENTS_DIR: &str = ".segments";

/// Why an argument names no file to read. Each message is one line naming
/// the argument.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot open: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{pattern}: no file matches this pattern")]
    NoMatch { pattern: String },
    #[error("{path}: no recording files (*.parquet) in this directory{partial}")]
    EmptyDir { path: String, partial: String },
    #[error(
        "{path}: memrec did not finish this recording and closed no segment of it \
         in {path}.segments/{partial}"
    )]
    NothingClosed { path: String, partial: String },
}

/// The files of one recording, as the arguments name them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// The arguments as given, for messages.
    pub name: String,
    /// Every file to read, each once, in the order found.
    pub files: Vec<PathBuf>,
    /// What the reader should know about what was left out (partial
    /// segments) or read in place of a missing file.
    pub notes: Vec<String>,
}

/// Resolves every argument into files: a file is itself, a directory its
/// `*.parquet` files and those of its `.segments/` and other (not hidden)
/// subdirectories, a pattern with `*`, `?`, `[...]` or `**` the paths it
/// matches, and a missing `PATH` whose `PATH.segments/` exists the closed
/// segments there. [`crate::fleet::Fleet::open`] groups them into
/// recordings.
pub fn resolve(args: &[PathBuf]) -> Result<Inputs, InputError> {
    let mut out = Inputs {
        name: args
            .iter()
            .map(|a| a.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        ..Inputs::default()
    };
    let mut seen = HashSet::new();
    for arg in args {
        for f in resolve_one(arg, &mut out.notes)? {
            // The same file named twice (a directory and a file in it) is
            // read once.
            let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.insert(key) {
                out.files.push(f);
            }
        }
    }
    Ok(out)
}

fn resolve_one(arg: &Path, notes: &mut Vec<String>) -> Result<Vec<PathBuf>, InputError> {
    let name = arg.display().to_string();
    let missing = match std::fs::metadata(arg) {
        Ok(md) if md.is_dir() => return directory(arg, notes),
        Ok(_) => return Ok(file(arg, notes).into_iter().collect()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(InputError::Io {
                path: name,
                source: e,
            })
        }
        Err(e) => e,
    };
    let mut spool = arg.as_os_str().to_owned();
    spool.push(".segments");
    let spool = PathBuf::from(spool);
    if spool.is_dir() {
        let (files, partial) = listing(&spool, notes)?;
        if files.is_empty() {
            return Err(InputError::NothingClosed {
                path: name,
                partial: partial_text(partial),
            });
        }
        notes.insert(
            0,
            format!(
                "{name}: memrec did not finish this recording; reading {} closed segments \
                 from {name}.segments/ (run `memrec recover {name}` to make one file)",
                files.len()
            ),
        );
        return Ok(files);
    }
    if is_pattern(&name) {
        let matched = glob(arg).map_err(|source| InputError::Io {
            path: name.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for m in &matched {
            if m.is_dir() {
                files.extend(directory(m, notes)?);
            } else {
                files.extend(file(m, notes));
            }
        }
        if files.is_empty() {
            return Err(InputError::NoMatch { pattern: name });
        }
        return Ok(files);
    }
    Err(InputError::Io {
        path: name,
        source: missing,
    })
}

/// A file argument or match: itself, unless it is a segment memrec had not
/// closed, which is noted and left out.
fn file(path: &Path, notes: &mut Vec<String>) -> Option<PathBuf> {
    if path.to_string_lossy().ends_with(PARTIAL) {
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        notes.push(partial_note(path, bytes));
        return None;
    }
    Some(path.to_path_buf())
}

fn partial_note(path: &Path, bytes: u64) -> String {
    format!(
        "{}: skipped: a segment memrec had not closed ({bytes} bytes with no footer; \
         its rows cannot be read)",
        path.display()
    )
}

fn partial_text(p: Option<(PathBuf, u64)>) -> String {
    match p {
        Some((path, bytes)) => format!(
            " (only {}, not closed: {bytes} bytes that cannot be read)",
            path.display()
        ),
        None => String::new(),
    }
}

/// A directory's recording files, its `.segments/` subdirectory's, and
/// those of its other subdirectories, all the way down (a fleet's
/// `DIR/<host>/*.parquet`); hidden directories are left out.
fn directory(dir: &Path, notes: &mut Vec<String>) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    let mut partial = None;
    let mut dirs = vec![dir.to_path_buf()];
    for sub in {
        descendants(dir, dir, &mut dirs);
        dirs
    } {
        let (more, p) = listing(&sub, notes)?;
        files.extend(more);
        partial = partial.or(p);
        let spool = sub.join(SEGMENTS_DIR);
        if spool.is_dir() {
            let (more, p) = listing(&spool, notes)?;
            files.extend(more);
            partial = partial.or(p);
        }
    }
    if files.is_empty() {
        return Err(InputError::EmptyDir {
            path: dir.display().to_string(),
            partial: partial_text(partial),
        });
    }
    Ok(files)
}

/// One directory's `*.parquet` files, sorted by name; its partial segments
/// are noted (the last one is returned for messages).
#[allow(clippy::type_complexity)]
fn listing(
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(Vec<PathBuf>, Option<(PathBuf, u64)>), InputError> {
    let io = |source| InputError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        names.push(e.file_name());
    }
    names.sort();
    let mut files = Vec::new();
    let mut partial = None;
    for n in names {
        let path = dir.join(&n);
        let Some(s) = n.to_str() else { continue };
        // Hidden files are not recording files (`.segments` is read apart).
        if s.starts_with('.') {
            continue;
        }
        let Ok(md) = std::fs::metadata(&path) else {
            continue;
        };
        if !md.is_file() {
            continue;
        }
        if s.ends_with(PARTIAL) {
            notes.push(partial_note(&path, md.len()));
            partial = Some((path, md.len()));
        } else if s.ends_with(PARQUET) {
            files.push(path);
        }
    }
    Ok((files, partial))
}

fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths a pattern matches, sorted: `*`, `?` and `[...]` within one
/// path component, as a shell expands them (a leading `.` is matched only
/// by a pattern that starts with one).
pub fn glob(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = vec![PathBuf::new()];
    let comps: Vec<Component> = pattern.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let part = match c {
            Component::Normal(p) => p.to_string_lossy(),
            other => {
                for f in &mut found {
                    f.push(other.as_os_str());
                }
                continue;
            }
        };
        if part == "**" {
            // Any number of directories, none included, as bash's globstar.
            let mut next = Vec::new();
            for base in &found {
                let dir = if base.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    base.clone()
                };
                next.push(base.clone());
                descendants(&dir, base, &mut next);
            }
            found = next;
            continue;
        }
        if !is_pattern(&part) {
            for f in &mut found {
                f.push(part.as_ref());
            }
            continue;
        }
        let pat: Vec<char> = part.chars().collect();
        let mut next = Vec::new();
        for base in &found {
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            // A directory that cannot be read matches nothing, as in a shell.
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') || pat.first() == Some(&'.'))
                .filter(|n| matches(&pat, &n.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            for n in names {
                let p = base.join(&n);
                if last || p.is_dir() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found.retain(|p| !p.as_os_str().is_empty() && p.exists());
    found.sort();
    Ok(found)
}

/// Every directory below `dir` (not hidden ones), depth first in name
/// order, as `shown` joined with their relative paths.
fn descendants(dir: &Path, shown: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for n in names {
        let p = shown.join(&n);
        out.push(p.clone());
        descendants(&dir.join(&n), &p, out);
    }
}

/// Whether a name matches one component's pattern.
fn matches(pat: &[char], name: &[char]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|k| matches(&pat[1..], &name[k..])),
        Some('?') => !name.is_empty() && matches(&pat[1..], &name[1..]),
        Some('[') => match (class(&pat[1..]), name.first()) {
            (Some((set, rest)), Some(&c)) => set(c) && matches(rest, &name[1..]),
            // An unclosed `[` is itself.
            (None, Some('[')) => matches(&pat[1..], &name[1..]),
            _ => false,
        },
        Some(&p) => name.first() == Some(&p) && matches(&pat[1..], &name[1..]),
    }
}

/// A `[...]` class (after its `[`): whether a character is in it, and the
/// pattern after its `]`; None when it is not closed.
#[allow(clippy::type_complexity)]
fn class(p: &[char]) -> Option<(impl Fn(char) -> bool + '_, &[char])> {
    let (negate, body) = match p.first() {
        Some('!' | '^') => (true, &p[1..]),
        _ => (false, p),
    };
    // A `]` right after the opening is a member.
    let end = body.iter().skip(1).position(|&c| c == ']')? + 1;
    let members = &body[..end];
    let rest = &body[end + 1..];
    let has = move |c: char| {
        let mut i = 0;
        let mut hit = false;
        while i < members.len() {
            if i + 2 < members.len() && members[i + 1] == '-' {
                hit |= members[i] <= c && c <= members[i + 2];
                i += 3;
            } else {
                hit |= members[i] == c;
                i += 1;
            }
        }
        hit != negate
    };
    Some((has, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn component_patterns() {
        assert!(m("*.parquet", "000001.parquet"));
        assert!(!m("*.parquet", "000001.parquet.partial"));
        assert!(m("00000?.parquet", "000003.parquet"));
        assert!(!m("00000?.parquet", "000013.parquet"));
        assert!(m(
            "memrec-*-000[1-3].parquet",
            "memrec-20260101T000000Z-0002.parquet"
        ));
        assert!(!m(
            "memrec-*-000[1-3].parquet",
            "memrec-20260101T000000Z-0004.parquet"
        ));
        assert!(m("[!a]*", "b"));
        assert!(!m("[!a]*", "a"));
        assert!(m("[]]", "]"));
        assert!(m("a[", "a["));
        assert!(m("*", ""));
        assert!(m("**x", "abx"));
    }

    #[test]
    fn globs_directories_and_partials() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = d.path();
        let runs = dir.join("runs");
        let seg = runs.join(SEGMENTS_DIR);
        std::fs::create_dir_all(&seg).unwrap_or_else(|e| panic!("{e}"));
        for f in ["a.parquet", "b.parquet", "notes.txt"] {
            std::fs::write(runs.join(f), b"x").unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(seg.join("000001.parquet"), b"x").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(seg.join("000002.parquet.partial"), b"12345")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(runs.join("deeper")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(runs.join("deeper").join("c.parquet"), b"x")
            .unwrap_or_else(|e| panic!("{e}"));

        // Subdirectories too (a fleet's DIR/<host>/), after the segments.
        let r = resolve(std::slice::from_ref(&runs)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.files,
            [
                runs.join("a.parquet"),
                runs.join("b.parquet"),
                seg.join("000001.parquet"),
                runs.join("deeper").join("c.parquet"),
            ]
        );
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("5 bytes"), "{:?}", r.notes);
        // `**`: any depth, none included; hidden directories left out.
        let r = resolve(&[runs.join("**").join("*.parquet")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.files,
            [
                runs.join("a.parquet"),
                runs.join("b.parquet"),
                runs.join("deeper").join("c.parquet"),
            ]
        );

        let r = resolve(&[runs.join("*.parquet")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.files, [runs.join("a.parquet"), runs.join("b.parquet")]);
        let r = resolve(&[runs.join("*").join("c.parquet")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.files, [runs.join("deeper").join("c.parquet")]);
        let r = resolve(&[runs.join(".seg*").join("*")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.files, [seg.join("000001.parquet")]);
        assert_eq!(r.notes.len(), 1);

        // A file given twice, once through its directory, is read once.
        let r = resolve(&[runs.join("a.parquet"), runs.clone()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.files.len(), 4);

        assert!(matches!(
            resolve(&[runs.join("*.nothing")]),
            Err(InputError::NoMatch { .. })
        ));
        assert!(matches!(
            resolve(&[runs.join("deeper").join("none.parquet")]),
            Err(InputError::Io { .. })
        ));
        let empty = dir.join("empty");
        std::fs::create_dir(&empty).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            resolve(&[empty]),
            Err(InputError::EmptyDir { .. })
        ));
    }

    #[test]
    fn an_unfinished_recording_reads_its_closed_segments() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let run = d.path().join("run.parquet");
        let seg = d.path().join("run.parquet.segments");
        std::fs::create_dir(&seg).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(seg.join("000001.parquet.partial"), b"abc")
            .unwrap_or_else(|e| panic!("{e}"));
        let e = resolve(std::slice::from_ref(&run)).map(|_| ()).unwrap_err();
        assert!(matches!(e, InputError::NothingClosed { .. }), "{e}");
        assert!(e.to_string().contains("3 bytes"), "{e}");
        std::fs::write(seg.join("000001.parquet"), b"x").unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(
            seg.join("000001.parquet.partial"),
            seg.join("000002.parquet.partial"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = resolve(std::slice::from_ref(&run)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.files, [seg.join("000001.parquet")]);
        assert!(
            r.notes[0].contains("memrec did not finish this recording; reading 1 closed segments"),
            "{:?}",
            r.notes
        );
        assert_eq!(r.notes.len(), 2);
        // A name that looks like a pattern is still a name.
        let odd = d.path().join("run[1].parquet");
        std::fs::rename(&seg, d.path().join("run[1].parquet.segments"))
            .unwrap_or_else(|e| panic!("{e}"));
        let r = resolve(std::slice::from_ref(&odd)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.files.len(), 1);
    }
}
