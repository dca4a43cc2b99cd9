//! Decoding flags and enums exactly as the kernel prints them in trace
//! output. The tables come from the tracepoints' own `print fmt` lines in
//! tracefs, so names match the running kernel, whatever its version.

use std::collections::HashMap;
use std::fmt::Write;

use memtrace_schema::Text;

/// Parse failure of a print fmt.
#[derive(Debug, thiserror::Error)]
pub enum FmtError {
    #[error("no {0}(...) for field `{1}` in the print fmt")]
    NotFound(&'static str, String),
    #[error("cannot parse print fmt expression `{0}`")]
    Expr(String),
}

/// A `__print_flags` table: `(mask, name)` in the kernel's order.
#[derive(Debug, Clone, Default)]
pub struct FlagTable {
    pub flags: Vec<(u64, String)>,
    cache: HashMap<u64, Text>,
}

impl FlagTable {
    pub fn new(flags: Vec<(u64, String)>) -> Self {
        FlagTable {
            flags,
            cache: HashMap::new(),
        }
    }

    /// Decodes like the kernel's trace_print_flags_seq(): each name whose
    /// whole mask is set is printed and its bits cleared, in table order;
    /// leftover bits are printed in hex; 0 is "none" as the format says.
    pub fn decode(&self, value: u64) -> String {
        if value == 0 {
            return "none".to_string();
        }
        let mut out = String::new();
        let mut rest = value;
        for (mask, name) in &self.flags {
            if rest == 0 {
                break;
            }
            if rest & mask != *mask {
                continue;
            }
            rest &= !mask;
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
        }
        if rest != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            let _ = write!(out, "{rest:#x}");
        }
        out
    }

    /// [`Self::decode`], cached: a recording sees few distinct masks.
    pub fn decode_cached(&mut self, value: u64) -> Text {
        if let Some(t) = self.cache.get(&value) {
            return t.clone();
        }
        let t = Text::from(self.decode(value));
        if self.cache.len() < 65536 {
            self.cache.insert(value, t.clone());
        }
        t
    }
}

/// A `__print_symbolic` table.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    pub values: Vec<(i64, String)>,
    cache: HashMap<i64, Text>,
}

impl SymbolTable {
    pub fn new(values: Vec<(i64, String)>) -> Self {
        SymbolTable {
            values,
            cache: HashMap::new(),
        }
    }

    /// The name, or the value in hex as the kernel prints unknown values.
    pub fn decode_cached(&mut self, value: i64) -> Text {
        if let Some(t) = self.cache.get(&value) {
            return t.clone();
        }
        let name = self
            .values
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("{value:#x}"));
        let t = Text::from(name);
        self.cache.insert(value, t.clone());
        t
    }
}

/// Finds `<func>(REC-><field>, ...)` in a print fmt and returns the text of
/// its `{value, "name"}` entries as pairs of (expression, name).
fn entries<'a>(
    fmt: &'a str,
    func: &'static str,
    field: &str,
) -> Result<Vec<(&'a str, String)>, FmtError> {
    let needle = format!("{func}(REC->{field},");
    let start = fmt
        .find(&needle)
        .ok_or_else(|| FmtError::NotFound(func, field.into()))?;
    let body = &fmt[start + needle.len()..];
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    let mut entry_start = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip a string literal (the delimiter, or a name).
                let end = body[i + 1..]
                    .find('"')
                    .map(|e| i + 1 + e)
                    .unwrap_or(bytes.len());
                i = end;
            }
            b'{' if depth == 0 => {
                entry_start = Some(i + 1);
                depth = 1;
            }
            b'{' | b'(' => depth += 1,
            b'}' if depth == 1 => {
                if let Some(s) = entry_start.take() {
                    let entry = &body[s..i];
                    // The name is the last string literal in the entry; an
                    // entry without one is the table's `{ 0, NULL }` end.
                    if let Some(q2) = entry.rfind('"') {
                        let q1 = entry[..q2]
                            .rfind('"')
                            .ok_or_else(|| FmtError::Expr(entry.into()))?;
                        let name = entry[q1 + 1..q2].to_string();
                        let expr = entry[..q1].trim().trim_end_matches(',').trim();
                        out.push((expr, name));
                    }
                }
                depth = 0;
            }
            b'}' => depth -= 1,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    Ok(out)
}

/// Parses the `__print_flags` table for `field` out of a print fmt.
pub fn parse_flags(fmt: &str, field: &str) -> Result<FlagTable, FmtError> {
    let mut flags = Vec::new();
    for (expr, name) in entries(fmt, "__print_flags", field)? {
        flags.push((eval(expr)? as u64, name));
    }
    Ok(FlagTable::new(flags))
}

/// Parses the `__print_symbolic` table for `field` out of a print fmt.
pub fn parse_symbolic(fmt: &str, field: &str) -> Result<SymbolTable, FmtError> {
    let mut values = Vec::new();
    for (expr, name) in entries(fmt, "__print_symbolic", field)? {
        values.push((eval(expr)?, name));
    }
    Ok(SymbolTable::new(values))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Ident,
    Op(&'static str),
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FmtError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let lit = s[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(hex) = lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                u64::from_str_radix(hex, 16).map(|v| v as i64)
            } else {
                lit.parse::<u64>().map(|v| v as i64)
            }
            .map_err(|_| FmtError::Expr(s.into()))?;
            out.push(Tok::Num(v));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident);
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let (tok, n) = match (c, two) {
                (_, "<<") => (Tok::Op("<<"), 2),
                (_, ">>") => (Tok::Op(">>"), 2),
                (b'(', _) => (Tok::Open, 1),
                (b')', _) => (Tok::Close, 1),
                (b'|', _) => (Tok::Op("|"), 1),
                (b'&', _) => (Tok::Op("&"), 1),
                (b'^', _) => (Tok::Op("^"), 1),
                (b'~', _) => (Tok::Op("~"), 1),
                (b'+', _) => (Tok::Op("+"), 1),
                (b'-', _) => (Tok::Op("-"), 1),
                (b'*', _) => (Tok::Op("*"), 1),
                _ => return Err(FmtError::Expr(s.into())),
            };
            out.push(tok);
            i += n;
        }
    }
    Ok(out)
}

/// Evaluates the constant C expressions print fmts use: integer literals,
/// casts, parentheses and | & ^ ~ << >> + - *.
pub fn eval(expr: &str) -> Result<i64, FmtError> {
    let toks = tokenize(expr)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        src: expr,
    };
    let v = p.expr(0)?;
    if p.pos != toks.len() {
        return Err(FmtError::Expr(expr.into()));
    }
    Ok(v)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self) -> FmtError {
        FmtError::Expr(self.src.into())
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn binding(op: &str) -> Option<u8> {
        Some(match op {
            "|" => 1,
            "^" => 2,
            "&" => 3,
            "<<" | ">>" => 4,
            "+" | "-" => 5,
            "*" => 6,
            _ => return None,
        })
    }

    fn expr(&mut self, min: u8) -> Result<i64, FmtError> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            let Some(prec) = Self::binding(op) else { break };
            if prec <= min {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(prec)?;
            lhs = match op {
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "<<" => lhs.checked_shl(rhs as u32).ok_or_else(|| self.err())?,
                ">>" => lhs.checked_shr(rhs as u32).ok_or_else(|| self.err())?,
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                _ => return Err(self.err()),
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<i64, FmtError> {
        match self.peek().cloned() {
            Some(Tok::Op("~")) => {
                self.pos += 1;
                Ok(!self.unary()?)
            }
            Some(Tok::Op("-")) => {
                self.pos += 1;
                Ok(self.unary()?.wrapping_neg())
            }
            Some(Tok::Num(v)) => {
                self.pos += 1;
                Ok(v)
            }
            Some(Tok::Open) => {
                // A cast is a parenthesised list of identifiers: skip it.
                let mut j = self.pos + 1;
                while matches!(self.toks.get(j), Some(Tok::Ident)) {
                    j += 1;
                }
                if j > self.pos + 1 && matches!(self.toks.get(j), Some(Tok::Close)) {
                    self.pos = j + 1;
                    return self.unary();
                }
                self.pos += 1;
                let v = self.expr(0)?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.err());
                }
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.err()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GFP_FMT: &str = r#"print fmt: "order=%d gfp_flags=%s", REC->order, (REC->gfp_flags) ? __print_flags(REC->gfp_flags, "|", {( unsigned long)((( gfp_t)((((1UL))) << (10))) | (( gfp_t)((((1UL))) << (11))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))), "GFP_KERNEL"}, {( unsigned long)(( gfp_t)((((1UL))) << (11))), "__GFP_KSWAPD_RECLAIM"}, {( unsigned long)(( gfp_t)((((1UL))) << (13))), "__GFP_NOWARN"}, {( unsigned long)(( gfp_t)((((1UL))) << (18))), "__GFP_COMP"}, { 0, ((void *)0) } ) : "none", REC->prio"#;

    #[test]
    fn evaluates_kernel_constant_expressions() {
        assert_eq!(eval("(( gfp_t)((((1UL))) << (11)))").ok(), Some(2048));
        assert_eq!(eval("~(( gfp_t)0x3) & 0xff").ok(), Some(0xfc));
        assert_eq!(eval("(1UL << 3) | 0x10 + 1").ok(), Some(8 | 0x11));
        assert!(eval("1 +").is_err());
        assert!(eval("foo").is_err());
    }

    #[test]
    fn parses_and_decodes_gfp_like_the_kernel() {
        let t = parse_flags(GFP_FMT, "gfp_flags").unwrap_or_default();
        assert_eq!(t.flags.len(), 4);
        assert_eq!(t.flags[0], (0xcc0, "GFP_KERNEL".to_string()));
        assert_eq!(t.decode(0xcc0), "GFP_KERNEL");
        assert_eq!(t.decode(0xcc0 | (1 << 13)), "GFP_KERNEL|__GFP_NOWARN");
        assert_eq!(
            t.decode((1 << 11) | (1 << 30)),
            "__GFP_KSWAPD_RECLAIM|0x40000000"
        );
        assert_eq!(t.decode(0), "none");
    }

    #[test]
    fn parses_symbolic() {
        let fmt = r#"print fmt: "node=%d zone=%-8s ret=%s", REC->nid, __print_symbolic(REC->idx, {0, "DMA"}, {1, "DMA32"}), __print_symbolic(REC->ret, {1, "skipped"}, {0, "not_suitable_zone"})"#;
        let mut z = parse_symbolic(fmt, "idx").unwrap_or_default();
        assert_eq!(&*z.decode_cached(1), "DMA32");
        let mut r = parse_symbolic(fmt, "ret").unwrap_or_default();
        assert_eq!(&*r.decode_cached(0), "not_suitable_zone");
        assert_eq!(&*r.decode_cached(9), "0x9");
        assert!(parse_symbolic(fmt, "nope").is_err());
    }

    #[test]
    fn parses_this_kernels_gfp_table_when_available() {
        let path = "/sys/kernel/tracing/events/kmem/mm_page_alloc/format";
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let t = parse_flags(&text, "gfp_flags").unwrap_or_default();
        assert!(
            t.flags.iter().any(|(_, n)| n == "GFP_KERNEL"),
            "{:?}",
            t.flags
        );
    }
}
