//! Names for code addresses recorded on another machine: a module (an ELF
//! file, named by its path and GNU build-id where it was recorded) and a
//! file offset become a function name when a file with that build-id can
//! be read here.
//!
//! Where a module's file is looked for, in order: the recorded path itself,
//! then each `--debuginfo DIR` and `/usr/lib/debug`: `DIR/.build-id/xx/
//! rest.debug` (the layout debuginfo packages install), `DIR/.build-id/xx/
//! rest`, `DIR/<recorded path>` and `DIR/<file name>`. A candidate is used
//! only if its build-id is the recorded one (a module recorded without a
//! build-id matches only its own path, unverified): a different build of a
//! library at the same path would name the wrong functions. Of the
//! candidates that match, the first with a symbol table wins, else one with
//! only dynamic symbols. Rust names are demangled; C++ names are printed as
//! the file has them.
//!
//! The ELF reader is the `object` crate (read-only, ELF only; already in
//! Cargo.lock), without DWARF: function names, not lines.
//!
//! The paths come from the recording, which memana does not trust: only
//! regular files are opened (no FIFO, device or directory), at most
//! [`MAX_FILES`] per report and [`MAX_FILE_BYTES`] each, a recorded path is
//! looked up under a directory only without `..`, and a file is only parsed
//! (bounds-checked) and never run. What a report can show of a file is the
//! name of a function in an ELF file whose build-id the recording named.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// Where memana looks for debug files besides `--debuginfo` directories.
pub const SYSTEM_DEBUG_DIR: &str = "/usr/lib/debug";

/// Files read at most; a hostile recording naming many modules cannot make
/// memana read the whole disk.
const MAX_FILES: usize = 256;
/// Files larger than this are not read (a module's file, or its debug file).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// A function found for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The function's name, demangled where it is a Rust name.
    pub name: String,
    /// The address's distance from the function's start.
    pub offset: u64,
}

/// The symbols of one ELF file and how its file offsets map to addresses.
#[derive(Debug, Default)]
struct ElfSyms {
    /// PT_LOAD segments: (file offset, file size, virtual address).
    loads: Vec<(u64, u64, u64)>,
    /// Functions by start address: (address, size, name).
    funcs: Vec<(u64, u64, Arc<str>)>,
}

impl ElfSyms {
    fn parse(data: &[u8]) -> Option<(ElfSyms, Option<Vec<u8>>)> {
        let file = object::File::parse(data).ok()?;
        let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
        let loads = file
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        let take = |syms: &mut dyn Iterator<Item = object::Symbol<'_, '_>>| {
            syms.filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
                .filter_map(|s| Some((s.address(), s.size(), Arc::from(demangle(s.name().ok()?)))))
                .collect::<Vec<(u64, u64, Arc<str>)>>()
        };
        let mut funcs = take(&mut file.symbols());
        if funcs.is_empty() {
            funcs = take(&mut file.dynamic_symbols());
        }
        // At one address (aliases), the largest first: dedup keeps it.
        funcs.sort_by_key(|f| (f.0, std::cmp::Reverse(f.1)));
        funcs.dedup_by_key(|f| f.0);
        Some((ElfSyms { loads, funcs }, build_id))
    }

    /// The virtual address that a file offset is loaded at.
    fn vaddr(&self, file_offset: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|&&(off, size, _)| file_offset >= off && file_offset - off < size)
            .map(|&(off, _, va)| va + (file_offset - off))
    }

    fn lookup(&self, file_offset: u64) -> Option<Symbol> {
        let va = self.vaddr(file_offset)?;
        let i = self.funcs.partition_point(|f| f.0 <= va).checked_sub(1)?;
        let (start, size, name) = &self.funcs[i];
        // A symbol without a size covers up to the next one.
        let inside = if *size > 0 {
            va - start < *size
        } else {
            self.funcs.get(i + 1).is_none_or(|n| va < n.0)
        };
        inside.then(|| Symbol {
            name: name.to_string(),
            offset: va - start,
        })
    }
}

fn demangle(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        // `{:#}` leaves out the hash suffix.
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Finds and caches the files of recorded modules.
#[derive(Debug)]
pub struct Symbolizer {
    dirs: Vec<PathBuf>,
    /// By (recorded path, recorded build-id): the file's symbols, or None
    /// when no file matched.
    modules: HashMap<(String, Option<String>), Option<Arc<ElfSyms>>>,
    files_read: usize,
}

impl Symbolizer {
    /// Looks in `dirs` (`--debuginfo`), then the system's debug directory.
    pub fn new(dirs: &[PathBuf]) -> Symbolizer {
        let mut dirs = dirs.to_vec();
        dirs.push(PathBuf::from(SYSTEM_DEBUG_DIR));
        Symbolizer {
            dirs,
            modules: HashMap::new(),
            files_read: 0,
        }
    }

    /// The function at `file_offset` of the module recorded as `path` with
    /// `build_id` (hex); None when no matching file is readable here or no
    /// symbol covers it.
    pub fn symbol(
        &mut self,
        path: &str,
        build_id: Option<&str>,
        file_offset: u64,
    ) -> Option<Symbol> {
        let key = (path.to_string(), build_id.map(str::to_string));
        if !self.modules.contains_key(&key) {
            let found = self.find(path, build_id).map(Arc::new);
            self.modules.insert(key.clone(), found);
        }
        self.modules.get(&key)?.as_ref()?.lookup(file_offset)
    }

    /// Whether a file for the module was found (its functions can be named).
    pub fn found(&self, path: &str, build_id: Option<&str>) -> bool {
        let key = (path.to_string(), build_id.map(str::to_string));
        self.modules.get(&key).is_some_and(Option::is_some)
    }

    fn candidates(&self, path: &str, build_id: Option<&str>) -> Vec<PathBuf> {
        let path = path.trim_end_matches(" (deleted)");
        let mut out = vec![PathBuf::from(path)];
        let rel = path.trim_start_matches('/');
        let name = Path::new(path).file_name();
        for d in &self.dirs {
            if let Some(b) = build_id.filter(|b| b.len() > 2) {
                let by_id = d.join(".build-id").join(&b[..2]);
                out.push(by_id.join(format!("{}.debug", &b[2..])));
                out.push(by_id.join(&b[2..]));
            }
            // A recorded path is only looked up under DIR, never out of it.
            let escapes = Path::new(rel)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)));
            if !rel.is_empty() && !escapes {
                out.push(d.join(rel));
            }
            if let Some(n) = name {
                out.push(d.join(n));
            }
        }
        out
    }

    fn find(&mut self, path: &str, build_id: Option<&str>) -> Option<ElfSyms> {
        if !path.starts_with('/') {
            // [vdso] and the like: no file to read.
            return None;
        }
        let mut fallback: Option<ElfSyms> = None;
        for c in self.candidates(path, build_id) {
            if build_id.is_none() && c != Path::new(path.trim_end_matches(" (deleted)")) {
                continue;
            }
            if self.files_read >= MAX_FILES {
                break;
            }
            let Ok(md) = std::fs::metadata(&c) else {
                continue;
            };
            if !md.is_file() || md.len() > MAX_FILE_BYTES {
                continue;
            }
            self.files_read += 1;
            let Ok(data) = std::fs::read(&c) else {
                continue;
            };
            let Some((syms, id)) = ElfSyms::parse(&data) else {
                continue;
            };
            if let Some(want) = build_id {
                if id.as_deref().map(hex).as_deref() != Some(want) {
                    tracing::debug!("{}: not the recorded build of {path}", c.display());
                    continue;
                }
            }
            if !syms.funcs.is_empty() {
                return Some(syms);
            }
            fallback.get_or_insert(syms);
        }
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_known_function() -> u64 {
        a_known_function as fn() -> u64 as usize as u64
    }

    /// This test binary's own text mapping, from /proc/self/maps:
    /// (start, file offset, path).
    fn own_text(addr: u64) -> (u64, u64, String) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for l in maps.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (s, e) = f[0].split_once('-').unwrap();
            let (s, e) = (
                u64::from_str_radix(s, 16).unwrap(),
                u64::from_str_radix(e, 16).unwrap(),
            );
            if s <= addr && addr < e {
                return (s, u64::from_str_radix(f[2], 16).unwrap(), f[5].to_string());
            }
        }
        panic!("{addr:#x} is in no mapping");
    }

    fn own_build_id(path: &str) -> Option<String> {
        let data = std::fs::read(path).unwrap();
        ElfSyms::parse(&data).unwrap().1.map(|b| hex(&b))
    }

    #[test]
    fn a_file_offset_of_this_binary_names_its_function() {
        let ip = a_known_function() + 3;
        let (start, off, path) = own_text(ip);
        let id = own_build_id(&path);
        assert!(id.is_some(), "test binaries carry a build-id");
        let mut s = Symbolizer::new(&[]);
        let sym = s.symbol(&path, id.as_deref(), ip - start + off).unwrap();
        assert!(sym.name.ends_with("a_known_function"), "{sym:?}");
        assert_eq!(sym.offset, 3);
        assert!(s.found(&path, id.as_deref()));
    }

    #[test]
    fn another_build_at_the_same_path_is_not_used() {
        let ip = a_known_function();
        let (start, off, path) = own_text(ip);
        let mut s = Symbolizer::new(&[]);
        let other = "00112233445566778899aabbccddeeff00112233";
        assert_eq!(s.symbol(&path, Some(other), ip - start + off), None);
        assert!(!s.found(&path, Some(other)));
    }

    #[test]
    fn a_debuginfo_dir_is_searched_by_build_id() {
        let ip = a_known_function();
        let (start, off, path) = own_text(ip);
        let id = own_build_id(&path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let by_id = dir.path().join(".build-id").join(&id[..2]);
        std::fs::create_dir_all(&by_id).unwrap();
        std::fs::copy(&path, by_id.join(format!("{}.debug", &id[2..]))).unwrap();
        let mut s = Symbolizer::new(&[dir.path().to_path_buf()]);
        // Recorded at a path that does not exist here.
        let sym = s
            .symbol("/opt/elsewhere/app", Some(&id), ip - start + off)
            .unwrap();
        assert!(sym.name.ends_with("a_known_function"), "{sym:?}");
    }

    #[test]
    fn a_recorded_path_never_leads_out_of_a_debuginfo_dir() {
        let s = Symbolizer::new(&[PathBuf::from("/dbg")]);
        let c = s.candidates("/usr/../../etc/x", None);
        assert!(c.iter().all(|p| !p.starts_with("/dbg/usr")), "{c:?}");
        assert!(c.contains(&PathBuf::from("/dbg/x")), "{c:?}");
        let c = s.candidates("/usr/lib/libc.so.6", Some("ab12cd"));
        assert!(
            c.contains(&PathBuf::from("/dbg/.build-id/ab/12cd.debug")),
            "{c:?}"
        );
        assert!(
            c.contains(&PathBuf::from("/dbg/usr/lib/libc.so.6")),
            "{c:?}"
        );
    }

    #[test]
    fn rust_names_are_demangled_without_their_hash() {
        assert_eq!(
            demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE"),
            "core::ptr::drop_in_place"
        );
        assert_eq!(demangle("memset"), "memset");
    }
}
