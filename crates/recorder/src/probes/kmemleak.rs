//! kmemleak: kernel allocations (kmalloc, slab caches, pages, percpu areas)
//! with their kernel stacks, and the frees of the allocations recorded.

use memtrace_schema::tables::kmemleak::{kernel_alloc, kernel_free};
use memtrace_schema::Text;

use super::decode::{header, read, DecodeCtx, DecodeError, RowSink};
#[cfg(test)]
use super::object_programs;
use super::{load_skeleton, BpfSettings, Group, Method, Program};
use crate::bpf::kmemleak::{types, KmemleakSkelBuilder};
use crate::printfmt::FlagTable;
use crate::writer::Tables;
use types::kmemleak_probe as P;

// SAFETY: generated from C structs of fixed-width integers and byte arrays.
unsafe impl plain::Plain for types::kml_alloc {}
// SAFETY: as above.
unsafe impl plain::Plain for types::kml_free {}

const fn program(name: &'static str, target: &'static str, method: Method, slot: P) -> Program {
    Program {
        name,
        target,
        method,
        slot: slot.0,
        fallback: None,
        requires: None,
    }
}

pub static GROUP: Group = Group {
    name: "kmemleak",
    about: "kernel allocations (kmalloc, slab caches, pages, percpu) with kernel stacks, and \
            the frees of those recorded, for leaks by stack afterwards. Off by default: \
            every kmalloc, kfree and page allocation and free runs a program; one left out \
            (filters, --alloc-sample) costs about 0.1 us, one recorded about 3 us with its \
            stack and 0.7 us without (--no-alloc-stacks), a recorded free about 0.5 us \
            (BPF stats on a loaded 2-CPU VM); --alloc-sample, --alloc-min-size and \
            --kmem-cache cut what is recorded",
    programs: &[
        program(
            "kml_kmalloc",
            "kmem:kmalloc",
            Method::TpBtf,
            P::KML_PROBE_KMALLOC,
        ),
        program(
            "kml_cache_alloc",
            "kmem:kmem_cache_alloc",
            Method::TpBtf,
            P::KML_PROBE_CACHE_ALLOC,
        ),
        program("kml_kfree", "kmem:kfree", Method::TpBtf, P::KML_PROBE_KFREE),
        program(
            "kml_cache_free",
            "kmem:kmem_cache_free",
            Method::TpBtf,
            P::KML_PROBE_CACHE_FREE,
        ),
        program(
            "kml_page_alloc",
            "kmem:mm_page_alloc",
            Method::Tp,
            P::KML_PROBE_PAGE_ALLOC,
        ),
        program(
            "kml_page_free",
            "kmem:mm_page_free",
            Method::Tp,
            P::KML_PROBE_PAGE_FREE,
        ),
        program(
            "kml_page_free_batched",
            "kmem:mm_page_free_batched",
            Method::Tp,
            P::KML_PROBE_PAGE_FREE_BATCHED,
        ),
        program(
            "kml_percpu_alloc",
            "percpu:percpu_alloc_percpu",
            Method::TpBtf,
            P::KML_PROBE_PERCPU_ALLOC,
        ),
        program(
            "kml_percpu_free",
            "percpu:percpu_free_percpu",
            Method::TpBtf,
            P::KML_PROBE_PERCPU_FREE,
        ),
    ],
    tables: memtrace_schema::tables::kmemleak::TABLES,
    // Records with stacks are up to 1.2 KiB, at up to 10^5 a second.
    max_ring_bytes: 64 << 20,
    default_on: false,
    implies: &[],
    needs_ksyms: false,
    kernel_symbols: true,
    timer: None,
    load_test: None,
    load_object: load,
    #[cfg(test)]
    object_programs: || object_programs!(KmemleakSkelBuilder),
    decode: decode::<Tables>,
};

/// Most `--kmem-cache` names of each sort (KML_MAX_CACHES).
const MAX_CACHES: usize = 8;
/// Bytes kept of a cache name, its NUL included (KML_NAME_LEN).
const NAME_LEN: usize = 32;

/// The kmalloc cache types (`enum kml_kmalloc_type`), by the prefix the
/// kernel gives their names. Longest prefixes first.
const KMALLOC_PREFIXES: &[(&str, types::kml_kmalloc_type)] = &[
    ("kmalloc-cg-", types::kml_kmalloc_type::KML_KMALLOC_CGROUP),
    ("kmalloc-rcl-", types::kml_kmalloc_type::KML_KMALLOC_RECLAIM),
    ("dma-kmalloc-", types::kml_kmalloc_type::KML_KMALLOC_DMA),
    ("kmalloc-", types::kml_kmalloc_type::KML_KMALLOC_NORMAL),
];

/// `--kmem-cache`, split as the BPF side compares it: kmalloc caches by
/// their type and object size (the kmalloc tracepoint has no cache), other
/// caches by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheFilter {
    /// `type << 32 | object size`, as `kml_kmalloc_wanted` builds it.
    pub kmalloc: Vec<u64>,
    pub names: Vec<String>,
}

impl CacheFilter {
    /// Checks and splits the names; the message is for the user.
    pub fn parse(names: &[String]) -> Result<CacheFilter, String> {
        let mut f = CacheFilter::default();
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            if let Some((ty, size)) = kmalloc_cache(name) {
                let key = u64::from(ty.0) << 32 | size;
                if !f.kmalloc.contains(&key) {
                    f.kmalloc.push(key);
                }
            } else {
                if name.len() >= NAME_LEN {
                    return Err(format!(
                        "--kmem-cache `{name}`: longer than the {} bytes compared",
                        NAME_LEN - 1
                    ));
                }
                if !f.names.iter().any(|n| n == name) {
                    f.names.push(name.to_string());
                }
            }
        }
        if f.kmalloc.len() > MAX_CACHES || f.names.len() > MAX_CACHES {
            return Err(format!(
                "--kmem-cache: at most {MAX_CACHES} kmalloc caches and {MAX_CACHES} other caches"
            ));
        }
        Ok(f)
    }
}

/// Checks `--kmem-cache` and the `--alloc-*` options against the groups to
/// record (`recorded`, by name): an option for a group not recorded is an
/// error, not silently nothing. The message is for the user.
pub fn check_options(
    caches: &[String],
    alloc: &super::alloc::AllocSettings,
    recorded: &[&str],
) -> Result<(), String> {
    CacheFilter::parse(caches)?;
    let has = |g: &str| recorded.contains(&g);
    if !caches.is_empty() && !has(GROUP.name) {
        return Err(
            "--kmem-cache filters the kmemleak group, which is not recorded: \
             add `--probes +kmemleak`"
                .into(),
        );
    }
    if *alloc != super::alloc::AllocSettings::default() && !has(GROUP.name) && !has("memleak") {
        return Err(
            "--alloc-sample, --alloc-min-size and --no-alloc-stacks set the \
                    allocation groups, none of which is recorded: add `--probes +kmemleak` \
                    or `--probes +memleak`"
                .into(),
        );
    }
    Ok(())
}

/// The type and object size of a kmalloc cache's name (`kmalloc-64`,
/// `kmalloc-cg-1k`, `dma-kmalloc-8k`).
fn kmalloc_cache(name: &str) -> Option<(types::kml_kmalloc_type, u64)> {
    let (ty, size) = KMALLOC_PREFIXES
        .iter()
        .find_map(|(p, ty)| name.strip_prefix(p).map(|s| (*ty, s)))?;
    let (digits, unit) = match size.strip_suffix('k') {
        Some(d) => (d, 1024),
        None => match size.strip_suffix('M') {
            Some(d) => (d, 1 << 20),
            None => (size, 1),
        },
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ty, digits.parse::<u64>().ok()?.checked_mul(unit)?))
}

/// How the kernel writes a kmalloc size in a cache name (kmalloc_info[]).
fn size_name(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{}M", bytes >> 20)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{}k", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

/// This kernel's gfp bits that choose a kmalloc cache type, by name from
/// the tracepoint format (their values moved between kernels), with the
/// values of 6.1 where a name is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KmallocBits {
    dma: u64,
    reclaimable: u64,
    account: u64,
}

impl KmallocBits {
    fn of(gfp: &FlagTable) -> KmallocBits {
        let bit = |name: &str, default: u64| {
            gfp.flags
                .iter()
                .find(|(_, n)| n == name)
                .map_or(default, |(v, _)| *v)
        };
        KmallocBits {
            dma: bit("__GFP_DMA", 0x1),
            reclaimable: bit("__GFP_RECLAIMABLE", 0x10),
            account: bit("__GFP_ACCOUNT", 0x40_0000),
        }
    }

    /// The kmalloc cache's name prefix, as kmalloc_type() chooses.
    fn prefix(&self, gfp: u64) -> &'static str {
        if gfp & self.dma != 0 {
            "dma-kmalloc-"
        } else if gfp & self.reclaimable != 0 {
            "kmalloc-rcl-"
        } else if gfp & self.account != 0 {
            "kmalloc-cg-"
        } else {
            "kmalloc-"
        }
    }
}

/// The gfp names of this kernel's kmalloc tracepoint, for the BPF side's
/// cache filter.
fn kmalloc_gfp() -> FlagTable {
    crate::kernel::tracepoint_format("kmem/kmalloc")
        .ok()
        .and_then(|f| crate::printfmt::parse_flags(&f, "gfp_flags").ok())
        .unwrap_or_default()
}

fn load(s: &BpfSettings, skip: &[&str]) -> Result<super::Object, libbpf_rs::Error> {
    // Checked with the other options before anything was loaded.
    let filter = CacheFilter::parse(&s.kmem_caches)
        .map_err(|e| libbpf_rs::Error::from(std::io::Error::other(e)))?;
    let bits = if filter.kmalloc.is_empty() {
        None
    } else {
        Some(KmallocBits::of(&kmalloc_gfp()))
    };
    let page_shift = crate::kernel::page_size().trailing_zeros();
    load_skeleton!(KmemleakSkelBuilder, s, skip, |ro: &mut types::rodata| {
        let a = &mut ro.alloc_cfg;
        a.sample_bytes = s.alloc.sample_bytes;
        a.min_size = s.alloc.min_size;
        a.stacks = u32::from(s.alloc.stacks);
        a.exp_q = super::alloc::exp_quantiles();
        let k = &mut ro.kml_cfg;
        k.page_shift = page_shift;
        k.nr_kmalloc = filter.kmalloc.len() as u32;
        k.kmalloc[..filter.kmalloc.len()].copy_from_slice(&filter.kmalloc);
        k.nr_caches = filter.names.len() as u32;
        for (slot, name) in k.caches.iter_mut().zip(&filter.names) {
            for (d, b) in slot.iter_mut().zip(name.bytes()) {
                *d = b as _;
            }
        }
        if let Some(b) = bits {
            // gfp_t is 32 bits wide: every flag fits.
            k.gfp_dma = b.dma as u32;
            k.gfp_reclaimable = b.reclaimable as u32;
            k.gfp_account = b.account as u32;
        }
    })
}

/// The `kind` column of an `enum kml_what`.
fn kind_name(what: u32) -> Text {
    use types::kml_what as W;
    Text::from(match what {
        x if x == W::KML_KMALLOC.0 => "kmalloc",
        x if x == W::KML_CACHE.0 => "cache",
        x if x == W::KML_PAGE.0 => "page",
        x if x == W::KML_PERCPU.0 => "percpu",
        _ => "unknown",
    })
}

/// A cache's name as the decoder meets it: a slab cache's own, or a kmalloc
/// cache's prefix and size.
enum CacheKey<'a> {
    Named(&'a [u8]),
    Kmalloc(&'static str, u64),
}

/// Slab caches' names, and kmalloc caches' by prefix and size.
type CacheNames = (
    std::collections::HashMap<Vec<u8>, Text>,
    std::collections::HashMap<(&'static str, u64), Text>,
);

thread_local! {
    /// Cache names made once: every allocation row names its cache, and a
    /// box has a few hundred caches.
    static CACHE_NAMES: std::cell::RefCell<CacheNames> = Default::default();
}

/// The `cache` column's text for a key, made on its first use.
fn cache_text(key: CacheKey<'_>) -> Text {
    CACHE_NAMES.with(|c| {
        let (named, kmalloc) = &mut *c.borrow_mut();
        match key {
            CacheKey::Named(name) => {
                if let Some(t) = named.get(name) {
                    return t.clone();
                }
                let t = Text::from(String::from_utf8_lossy(name).into_owned());
                named.insert(name.to_vec(), t.clone());
                t
            }
            CacheKey::Kmalloc(prefix, bytes) => kmalloc
                .entry((prefix, bytes))
                .or_insert_with(|| Text::from(format!("{prefix}{}", size_name(bytes))))
                .clone(),
        }
    })
}

/// Bytes of an allocation record before its frames.
const HEAD: usize = std::mem::size_of::<types::kml_alloc>() - 8 * STACK_MAX;
/// KML_STACK_MAX in kmemleak.h.
const STACK_MAX: usize = 127;

fn decode<O: RowSink>(data: &[u8], ctx: &mut DecodeCtx, out: &mut O) -> Result<(), DecodeError> {
    use types::kml_what as W;
    let (hdr, kind) = header(data, ctx)?;
    match u32::from(kind) {
        k if k == types::kmemleak_kind::KML_ALLOC.0 => {
            // The frames after the head are as many as the record says;
            // the ring holds only those.
            if data.len() < HEAD {
                return Err(DecodeError::Short {
                    got: data.len(),
                    want: HEAD,
                });
            }
            let mut buf = [0u8; std::mem::size_of::<types::kml_alloc>()];
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            let e: types::kml_alloc = read(&buf)?;
            let nr = (e.nr as usize).min(STACK_MAX);
            if data.len() < HEAD + 8 * nr {
                return Err(DecodeError::Short {
                    got: data.len(),
                    want: HEAD + 8 * nr,
                });
            }
            // The tracepoint's iterator, when it is on the stack, is not
            // the allocation's code.
            let first = (e.first as usize).min(nr);
            let stack_id = crate::stacks::intern_kernel(&hdr, &e.ips[first..nr], out)?;
            let what = e.what;
            let gfp = u64::from(e.gfp);
            let slab = what == W::KML_KMALLOC.0 || what == W::KML_CACHE.0;
            let cache = if what == W::KML_CACHE.0 {
                let bytes = e.cache.map(|c| c as u8);
                let len = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
                Some(cache_text(CacheKey::Named(&bytes[..len])))
            } else if what == W::KML_KMALLOC.0 && e.bytes_alloc <= 2 * ctx.page_size {
                // Larger ones come from the page allocator (kmalloc_large).
                let prefix = KmallocBits::of(&ctx.gfp).prefix(gfp);
                Some(cache_text(CacheKey::Kmalloc(prefix, e.bytes_alloc)))
            } else {
                None
            };
            let row = kernel_alloc::Row {
                kind: kind_name(what),
                address: e.address,
                bytes_req: (what != W::KML_PAGE.0).then_some(e.bytes_req),
                bytes_alloc: e.bytes_alloc,
                cache,
                order: (what == W::KML_PAGE.0).then_some(e.order),
                call_site: (what != W::KML_PAGE.0).then_some(e.call_site),
                gfp: e.gfp,
                gfp_flags: ctx.gfp.decode_cached(gfp),
                node: slab.then_some(e.node),
                stack_id,
                stack_error: (e.stacks != 0 && e.stack_err != 0).then_some(e.stack_err),
                sample_bytes: (e.sample_bytes != 0).then_some(e.sample_bytes),
            };
            out.push(&hdr, &row)?;
        }
        k if k == types::kmemleak_kind::KML_FREE.0 => {
            let e: types::kml_free = read(data)?;
            let slab = e.what == W::KML_KMALLOC.0 || e.what == W::KML_CACHE.0;
            out.push(
                &hdr,
                &kernel_free::Row {
                    kind: kind_name(e.what),
                    address: e.address,
                    call_site: slab.then_some(e.call_site),
                },
            )?;
        }
        other => return Err(DecodeError::UnknownKind(other as u16)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::decode::testing::{bytes, comm, ctx, Collect, Val};
    use types::kml_what as W;

    fn alloc(what: W, frames: &[u64]) -> types::kml_alloc {
        let mut e = types::kml_alloc {
            address: 0xffff_8880_1234_5600,
            bytes_req: 50,
            bytes_alloc: 64,
            call_site: 0xffff_ffff_8123_4567,
            gfp: 0xcc0,
            node: -1,
            what: what.0,
            stacks: 1,
            nr: frames.len() as u32,
            ..Default::default()
        };
        e.ips[..frames.len()].copy_from_slice(frames);
        e.hdr.kind = types::kmemleak_kind::KML_ALLOC.0 as u16;
        e.hdr.tgid = 7;
        e.hdr.pid = 7;
        e.hdr.comm = comm("worker");
        e
    }

    /// The bytes the ring holds: the head and only the frames used.
    fn sent(e: &types::kml_alloc) -> Vec<u8> {
        let mut b = bytes(e);
        b.truncate(HEAD + 8 * e.nr as usize);
        b
    }

    fn decode_all(records: &[Vec<u8>]) -> Collect {
        let mut c = ctx();
        let mut out = Collect::default();
        for r in records {
            decode(r, &mut c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_kmalloc_names_its_cache_and_its_stack() {
        let frames = [0xffff_ffff_8100_0010, 0xffff_ffff_8100_0020];
        let out = decode_all(&[sent(&alloc(W::KML_KMALLOC, &frames))]);
        let frame_rows: Vec<_> = out
            .rows
            .iter()
            .filter(|r| r.table == "stack_frame")
            .collect();
        assert_eq!(frame_rows.len(), 2, "{:?}", out.rows);
        assert!(frame_rows
            .iter()
            .all(|r| r.get("kernel") == &Val::Bool(true)));
        let row = out.rows.iter().find(|r| r.table == "kernel_alloc").unwrap();
        assert_eq!(row.hdr.comm.as_str(), "worker");
        assert_eq!(row.get("kind"), &Val::from("kmalloc"));
        assert_eq!(row.get("address"), &Val::U64(0xffff_8880_1234_5600));
        assert_eq!(row.get("bytes_req"), &Val::U64(50));
        assert_eq!(row.get("bytes_alloc"), &Val::U64(64));
        assert_eq!(row.get("cache"), &Val::from("kmalloc-64"));
        assert_eq!(row.get("order"), &Val::Null);
        assert_eq!(row.get("call_site"), &Val::U64(0xffff_ffff_8123_4567));
        assert_eq!(row.get("gfp"), &Val::U32(0xcc0));
        assert_eq!(row.get("gfp_flags"), &Val::from("GFP_KERNEL"));
        assert_eq!(row.get("node"), &Val::I32(-1));
        assert_eq!(row.get("stack_id"), frame_rows[0].get("stack_id"));
        assert_eq!(row.get("stack_error"), &Val::Null);
        assert_eq!(row.get("sample_bytes"), &Val::Null);
    }

    #[test]
    fn the_tracepoint_iterator_frame_is_left_out() {
        let mut e = alloc(
            W::KML_CACHE,
            &[0xffff_ffff_8100_0001, 0xffff_ffff_8100_0002],
        );
        e.first = 1;
        let out = decode_all(&[sent(&e)]);
        let ips: Vec<&Val> = out
            .rows
            .iter()
            .filter(|r| r.table == "stack_frame")
            .map(|r| r.get("ip"))
            .collect();
        assert_eq!(ips, [&Val::U64(0xffff_ffff_8100_0002)]);
        // Only the iterator: no stack.
        let mut e = alloc(W::KML_CACHE, &[0xffff_ffff_8100_0001]);
        e.first = 1;
        let out = decode_all(&[sent(&e)]);
        assert_eq!(out.rows.len(), 1, "{:?}", out.rows);
        assert_eq!(out.rows[0].get("stack_id"), &Val::Null);
    }

    #[test]
    fn kmalloc_caches_are_named_as_the_kernel_names_them() {
        let name = |gfp: u32, bytes: u64| {
            let mut e = alloc(W::KML_KMALLOC, &[]);
            e.gfp = gfp;
            e.bytes_alloc = bytes;
            let out = decode_all(&[sent(&e)]);
            out.rows[0].get("cache").clone()
        };
        assert_eq!(name(0xcc0, 1024), Val::from("kmalloc-1k"));
        assert_eq!(name(0xcc0, 96), Val::from("kmalloc-96"));
        assert_eq!(name(0xcc0 | 0x40_0000, 8192), Val::from("kmalloc-cg-8k"));
        assert_eq!(name(0xcc0 | 0x10, 192), Val::from("kmalloc-rcl-192"));
        assert_eq!(name(0x1, 64), Val::from("dma-kmalloc-64"));
        // Above two pages kmalloc takes pages: no cache.
        assert_eq!(name(0xcc0, 16384), Val::Null);
    }

    #[test]
    fn a_cache_allocation_keeps_the_cache_name() {
        let mut e = alloc(W::KML_CACHE, &[1]);
        e.cache[..4].copy_from_slice(&[b'f' as _, b'i' as _, b'l' as _, b'p' as _]);
        e.node = 0;
        e.sample_bytes = 512 * 1024;
        let out = decode_all(&[sent(&e)]);
        let row = out.rows.iter().find(|r| r.table == "kernel_alloc").unwrap();
        assert_eq!(row.get("kind"), &Val::from("cache"));
        assert_eq!(row.get("cache"), &Val::from("filp"));
        assert_eq!(row.get("node"), &Val::I32(0));
        assert_eq!(row.get("sample_bytes"), &Val::U64(512 * 1024));
    }

    #[test]
    fn a_page_has_an_order_and_no_request_or_call_site() {
        let mut e = alloc(W::KML_PAGE, &[]);
        e.address = 0x12345;
        e.bytes_alloc = 4096 << 2;
        e.order = 2;
        let out = decode_all(&[sent(&e)]);
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.get("kind"), &Val::from("page"));
        assert_eq!(row.get("address"), &Val::U64(0x12345));
        assert_eq!(row.get("order"), &Val::U32(2));
        assert_eq!(row.get("bytes_alloc"), &Val::U64(16384));
        for c in ["bytes_req", "cache", "call_site", "node", "stack_id"] {
            assert_eq!(row.get(c), &Val::Null, "{c}");
        }
    }

    #[test]
    fn stacks_off_and_stack_errors_differ() {
        let mut off = alloc(W::KML_PERCPU, &[]);
        off.stacks = 0;
        let mut failed = alloc(W::KML_PERCPU, &[]);
        failed.stack_err = -14;
        let out = decode_all(&[sent(&off), sent(&failed)]);
        assert_eq!(out.rows[0].get("stack_error"), &Val::Null);
        assert_eq!(out.rows[1].get("stack_error"), &Val::I32(-14));
        assert_eq!(out.rows[1].get("stack_id"), &Val::Null);
        assert_eq!(out.rows[1].get("node"), &Val::Null);
        assert_eq!(out.rows[1].get("cache"), &Val::Null);
    }

    #[test]
    fn a_free_decodes() {
        let mut e = types::kml_free {
            address: 0xffff_8880_1234_5600,
            call_site: 0xffff_ffff_8100_0999,
            what: W::KML_CACHE.0,
            ..Default::default()
        };
        e.hdr.kind = types::kmemleak_kind::KML_FREE.0 as u16;
        let out = decode_all(&[bytes(&e)]);
        let [row] = &out.rows[..] else {
            panic!("{:?}", out.rows)
        };
        assert_eq!(row.table, "kernel_free");
        assert_eq!(row.get("kind"), &Val::from("cache"));
        assert_eq!(row.get("address"), &Val::U64(0xffff_8880_1234_5600));
        assert_eq!(row.get("call_site"), &Val::U64(0xffff_ffff_8100_0999));
        e.what = W::KML_PAGE.0;
        let out = decode_all(&[bytes(&e)]);
        assert_eq!(out.rows[0].get("call_site"), &Val::Null);
    }

    #[test]
    fn short_records_are_refused_not_misread() {
        let e = alloc(W::KML_KMALLOC, &[1, 2, 3]);
        let b = sent(&e);
        let mut out = Collect::default();
        // Frames cut off: the count says 3.
        let r = decode(&b[..b.len() - 8], &mut ctx(), &mut out).err();
        assert!(matches!(r, Some(DecodeError::Short { .. })), "{r:?}");
        // The head cut off.
        let r = decode(&b[..HEAD - 4], &mut ctx(), &mut out).err();
        assert!(matches!(r, Some(DecodeError::Short { .. })), "{r:?}");
        let mut f = types::kml_free::default();
        f.hdr.kind = types::kmemleak_kind::KML_FREE.0 as u16;
        let b = bytes(&f);
        let r = decode(&b[..b.len() - 4], &mut ctx(), &mut out).err();
        assert!(matches!(r, Some(DecodeError::Short { .. })), "{r:?}");
        assert!(out.rows.is_empty());
    }

    #[test]
    fn the_cache_filter_splits_kmalloc_caches_from_named_ones() {
        let names: Vec<String> = [
            "filp",
            "kmalloc-64",
            "kmalloc-cg-1k",
            "dma-kmalloc-8k",
            "filp",
        ]
        .map(String::from)
        .to_vec();
        let f = CacheFilter::parse(&names).unwrap();
        assert_eq!(f.names, ["filp"]);
        use types::kml_kmalloc_type as T;
        assert_eq!(
            f.kmalloc,
            [
                64,
                u64::from(T::KML_KMALLOC_CGROUP.0) << 32 | 1024,
                u64::from(T::KML_KMALLOC_DMA.0) << 32 | 8192,
            ]
        );
        // Not a kmalloc size: an ordinary name.
        let f = CacheFilter::parse(&["kmalloc-rnd-01-64".to_string()]).unwrap();
        assert_eq!(f.names, ["kmalloc-rnd-01-64"]);
        assert!(CacheFilter::parse(&["x".repeat(40)]).is_err());
        let many: Vec<String> = (0..9).map(|i| format!("cache{i}")).collect();
        assert!(CacheFilter::parse(&many).is_err());
        assert_eq!(CacheFilter::parse(&[]).unwrap(), CacheFilter::default());
    }

    #[test]
    fn options_need_their_group() {
        use crate::probes::alloc::AllocSettings;
        let caches = vec!["filp".to_string()];
        let none = AllocSettings::default();
        assert!(check_options(&caches, &none, &["kmemleak"]).is_ok());
        let e = check_options(&caches, &none, &["memleak", "faults"]).unwrap_err();
        assert!(e.contains("--probes +kmemleak"), "{e}");
        let sampled = AllocSettings {
            sample_bytes: 4096,
            ..none
        };
        assert!(check_options(&[], &sampled, &["memleak"]).is_ok());
        let e = check_options(&[], &sampled, &["faults"]).unwrap_err();
        assert!(e.contains("--alloc-sample"), "{e}");
        assert!(check_options(&[], &none, &["faults"]).is_ok());
        assert!(check_options(&["x".repeat(40)], &none, &["kmemleak"]).is_err());
    }

    #[test]
    fn kmalloc_sizes_round_trip_through_names() {
        for b in [8, 96, 192, 1024, 8192, 1 << 20] {
            assert_eq!(
                kmalloc_cache(&format!("kmalloc-{}", size_name(b))),
                Some((types::kml_kmalloc_type::KML_KMALLOC_NORMAL, b))
            );
        }
        assert_eq!(kmalloc_cache("kmalloc-"), None);
        assert_eq!(kmalloc_cache("kmalloc-x1k"), None);
    }
}
