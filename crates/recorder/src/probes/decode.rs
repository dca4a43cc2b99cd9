//! What every decoder shares: length-checked reads of generated types, the
//! record header, and the lookup tables that turn raw values into names.

use std::collections::{BTreeSet, HashMap};

use memtrace_schema::{Comm, Header, Row, Text};

use crate::bpf::sysstat::types::mt_hdr;
use crate::kernel::Ksyms;
use crate::printfmt::{FlagTable, SymbolTable};
use crate::writer::{Tables, WriteError};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {got} bytes is shorter than its {want}-byte layout")]
    Short { got: usize, want: usize },
    #[error("unknown record kind {0}")]
    UnknownKind(u16),
    /// A record that relies on an earlier one the decoder never saw.
    #[error("{0}")]
    Missing(&'static str),
    #[error(transparent)]
    Write(#[from] crate::writer::WriteError),
}

/// Where decoded rows go: the writer's tables, or a list in tests.
pub trait RowSink {
    fn push<R: Row>(&mut self, hdr: &Header, row: &R) -> Result<(), WriteError>;
}

impl RowSink for Tables {
    fn push<R: Row>(&mut self, hdr: &Header, row: &R) -> Result<(), WriteError> {
        Tables::push(self, hdr, row)
    }
}

/// Copies a record into its generated type after checking its length.
pub fn read<T: plain::Plain + Default>(data: &[u8]) -> Result<T, DecodeError> {
    let want = std::mem::size_of::<T>();
    let mut out = T::default();
    plain::copy_from_bytes(&mut out, data).map_err(|_| DecodeError::Short {
        got: data.len(),
        want,
    })?;
    Ok(out)
}

// SAFETY: generated from C structs of fixed-width integers and byte arrays:
// every bit pattern is a valid value.
unsafe impl plain::Plain for mt_hdr {}

/// The common header of a record, and its kind.
pub fn header(data: &[u8], ctx: &mut DecodeCtx) -> Result<(Header, u16), DecodeError> {
    let h: mt_hdr = read(data)?;
    let comm: [u8; 16] = h.comm.map(|c| c as u8);
    ctx.cgroup_ids.insert(h.cgroup_id);
    Ok((
        Header {
            ts_ns: h.ts_ns as i64,
            cpu: h.cpu,
            pid: h.pid,
            tgid: h.tgid,
            comm: Comm(comm),
            cgroup_id: h.cgroup_id,
        },
        h.kind,
    ))
}

/// Lookup tables and per-recording state the decoders share.
#[derive(Debug, Default)]
pub struct DecodeCtx {
    pub page_size: u64,
    pub hpage_pmd_nr: u64,
    /// Zone names by zone index.
    pub zone_names: Vec<Text>,
    /// Migrate type names by value.
    pub migratetypes: Vec<Text>,
    pub gfp: FlagTable,
    pub compact_result: SymbolTable,
    /// This kernel's migrate mode and reason names (compaction group).
    pub compaction: super::compaction::Names,
    pub ksyms: Option<Ksyms>,
    pub symbols: HashMap<u64, Text>,
    /// Highest zone index of the last allocation failure seen per CPU: the
    /// zone snapshots that follow it use it to pick their lowmem reserve.
    pub fail_highest_zone: HashMap<u32, usize>,
    /// Memory cgroup ids seen, for the metadata's id → path map.
    pub cgroup_ids: BTreeSet<u64>,
    /// The kernel log, for the OOM kills' constraint and memcgs (oom group).
    pub kernel_log: Option<crate::kmsg::KernelLog>,
}

impl DecodeCtx {
    pub fn zone_name(&self, idx: i64) -> Text {
        usize::try_from(idx)
            .ok()
            .and_then(|i| self.zone_names.get(i))
            .cloned()
            .unwrap_or_else(|| Text::from(idx.to_string()))
    }

    pub fn migratetype_name(&self, mt: i32) -> Text {
        usize::try_from(mt)
            .ok()
            .and_then(|i| self.migratetypes.get(i))
            .cloned()
            .unwrap_or_else(|| Text::from(mt.to_string()))
    }

    pub fn symbol(&mut self, addr: u64) -> Text {
        if let Some(t) = self.symbols.get(&addr) {
            return t.clone();
        }
        let name = match &self.ksyms {
            Some(k) => k.name(addr),
            None => format!("{addr:#x}"),
        };
        let t = Text::from(name);
        self.symbols.insert(addr, t.clone());
        t
    }

    /// The highest zone a gfp mask allows, as gfp_zone() computes it, as an
    /// index into `zone_names`.
    pub fn gfp_highest_zone(&self, gfp: u64) -> usize {
        // Bits from include/linux/gfp_types.h (stable since 4.x).
        const DMA: u64 = 0x01;
        const HIGHMEM: u64 = 0x02;
        const DMA32: u64 = 0x04;
        const MOVABLE: u64 = 0x08;
        let find = |name: &str| self.zone_names.iter().position(|z| &**z == name);
        let normal = find("Normal").unwrap_or(self.zone_names.len().saturating_sub(1));
        let zone = match gfp & (DMA | HIGHMEM | DMA32 | MOVABLE) {
            b if b & DMA != 0 => find("DMA"),
            b if b & DMA32 != 0 => find("DMA32"),
            b if b & (HIGHMEM | MOVABLE) == (HIGHMEM | MOVABLE) => find("Movable"),
            b if b & HIGHMEM != 0 => find("HighMem"),
            _ => None,
        };
        zone.unwrap_or(normal)
    }
}

/// Decoding hand-built records in tests: the rows a decoder pushes, with
/// their values as the writer would see them.
#[cfg(test)]
pub mod testing {
    use super::*;
    use memtrace_schema::Visitor;

    /// One column value.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Val {
        U32(u32),
        U64(u64),
        I32(i32),
        I64(i64),
        F64(f64),
        Bool(bool),
        Text(String),
        Null,
    }

    impl From<&str> for Val {
        fn from(s: &str) -> Val {
            Val::Text(s.to_string())
        }
    }

    /// One decoded row.
    #[derive(Debug)]
    pub struct Decoded {
        pub table: &'static str,
        pub hdr: Header,
        pub values: Vec<(&'static str, Val)>,
    }

    impl Decoded {
        /// The value of a column, by its name in the table.
        pub fn get(&self, column: &str) -> &Val {
            match self.values.iter().find(|(c, _)| *c == column) {
                Some((_, v)) => v,
                None => panic!("{} has no column {column}", self.table),
            }
        }
    }

    /// Collects pushed rows.
    #[derive(Debug, Default)]
    pub struct Collect {
        pub rows: Vec<Decoded>,
    }

    struct Values(Vec<Val>);

    impl Visitor for Values {
        fn u32(&mut self, v: u32) {
            self.0.push(Val::U32(v));
        }
        fn u64(&mut self, v: u64) {
            self.0.push(Val::U64(v));
        }
        fn i32(&mut self, v: i32) {
            self.0.push(Val::I32(v));
        }
        fn i64(&mut self, v: i64) {
            self.0.push(Val::I64(v));
        }
        fn f64(&mut self, v: f64) {
            self.0.push(Val::F64(v));
        }
        fn bool(&mut self, v: bool) {
            self.0.push(Val::Bool(v));
        }
        fn text(&mut self, v: &str) {
            self.0.push(Val::Text(v.to_string()));
        }
        fn null(&mut self) {
            self.0.push(Val::Null);
        }
    }

    impl RowSink for Collect {
        fn push<R: Row>(&mut self, hdr: &Header, row: &R) -> Result<(), WriteError> {
            let mut v = Values(Vec::new());
            row.visit(&mut v);
            assert_eq!(v.0.len(), R::TABLE.columns.len(), "{}", R::TABLE.name);
            self.rows.push(Decoded {
                table: R::TABLE.name,
                hdr: hdr.clone(),
                values: R::TABLE.columns.iter().map(|c| c.name).zip(v.0).collect(),
            });
            Ok(())
        }
    }

    /// A group's decoder, as the tests call it.
    pub type DecodeFn = fn(&[u8], &mut DecodeCtx, &mut Collect) -> Result<(), DecodeError>;

    /// Decodes one record and returns the one row it must give.
    pub fn decode_one<T: plain::Plain>(decode: DecodeFn, record: &T) -> Decoded {
        let mut out = Collect::default();
        decode(&bytes(record), &mut ctx(), &mut out).unwrap();
        assert_eq!(out.rows.len(), 1, "{:?}", out.rows);
        out.rows.remove(0)
    }

    /// The bytes of a generated record type, as the ring buffer holds them.
    pub fn bytes<T: plain::Plain>(record: &T) -> Vec<u8> {
        // SAFETY: generated types are plain old data; viewing them as bytes is sound.
        unsafe { plain::as_bytes(record) }.to_vec()
    }

    /// A C `char` of a generated type: `i8` or `u8` by architecture.
    pub trait CChar: Copy + Default {
        fn from_byte(b: u8) -> Self;
    }

    impl CChar for i8 {
        fn from_byte(b: u8) -> i8 {
            b as i8
        }
    }

    impl CChar for u8 {
        fn from_byte(b: u8) -> u8 {
            b
        }
    }

    /// `comm` as the kernel stores it, NUL-padded.
    pub fn comm<C: CChar>(name: &str) -> [C; 16] {
        let mut out = [C::default(); 16];
        for (d, b) in out.iter_mut().zip(name.bytes()) {
            *d = C::from_byte(b);
        }
        out
    }

    /// A context with x86-64's page size and zones, and one gfp flag and
    /// compaction result known by name.
    pub fn ctx() -> DecodeCtx {
        DecodeCtx {
            page_size: 4096,
            hpage_pmd_nr: 512,
            zone_names: ["DMA", "DMA32", "Normal", "Movable", "Device"]
                .map(Text::from)
                .to_vec(),
            migratetypes: ["Unmovable", "Movable", "Reclaimable"]
                .map(Text::from)
                .to_vec(),
            gfp: FlagTable::new(vec![(0xcc0, "GFP_KERNEL".into())]),
            compact_result: SymbolTable::new(vec![(1, "COMPACT_SKIPPED".into())]),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> DecodeCtx {
        DecodeCtx {
            zone_names: ["DMA", "DMA32", "Normal", "Movable", "Device"]
                .map(Text::from)
                .to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn gfp_zone_follows_the_kernel_table() {
        let c = ctx();
        assert_eq!(c.gfp_highest_zone(0xcc0), 2); // GFP_KERNEL: Normal
        assert_eq!(c.gfp_highest_zone(0x1), 0); // __GFP_DMA
        assert_eq!(c.gfp_highest_zone(0x4), 1); // __GFP_DMA32
        assert_eq!(c.gfp_highest_zone(0x8), 2); // __GFP_MOVABLE alone: Normal
        assert_eq!(c.gfp_highest_zone(0xa), 3); // GFP_HIGHUSER_MOVABLE: Movable
        assert_eq!(c.gfp_highest_zone(0x2), 2); // __GFP_HIGHMEM on 64-bit: Normal
    }

    #[test]
    fn short_records_are_refused() {
        let mut c = ctx();
        let e = header(&[0u8; 10], &mut c).err();
        assert!(
            matches!(e, Some(DecodeError::Short { got: 10, .. })),
            "{e:?}"
        );
    }

    #[test]
    fn header_decodes_from_bytes() {
        let mut raw = mt_hdr {
            ts_ns: 123,
            pid: 7,
            tgid: 6,
            cpu: 1,
            kind: 2,
            cgroup_id: 99,
            ..Default::default()
        };
        raw.comm[..4].copy_from_slice(&[b'b' as _, b'a' as _, b's' as _, b'h' as _]);
        // SAFETY: mt_hdr is Plain; viewing it as bytes is sound.
        let bytes = unsafe { plain::as_bytes(&raw) };
        let mut c = ctx();
        let (h, kind) = header(bytes, &mut c).unwrap();
        assert_eq!((h.ts_ns, h.pid, h.tgid, h.cpu, kind), (123, 7, 6, 1, 2));
        assert_eq!(h.comm.as_str(), "bash");
        assert!(c.cgroup_ids.contains(&99));
    }
}
