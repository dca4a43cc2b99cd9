//! The one byte-size syntax of both tools: a number of bytes with an
//! optional binary unit, `K`, `M`, `G` or `T` (1024, 1024², …), case
//! insensitive, optionally followed by `B` or `iB` (`512K`, `1M`, `4KiB`,
//! `1.5M`, `4096`). Units are powers of 1024 because what is sized here
//! (allocations, pages) is, and `4K` meaning 4000 would surprise a kernel
//! user.

/// A size that is not in the syntax, or too large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("empty size")]
    Empty,
    #[error("invalid size `{0}` (examples: 4096, 512K, 1M, 1.5G)")]
    Invalid(String),
    #[error("size `{0}` is too large (at most 2^64 - 1 bytes)")]
    TooLarge(String),
}

/// Parses a size in bytes in the shared syntax; see the module docs. A
/// fraction of a byte is rounded down (`1.5` is 1).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(SizeError::Empty);
    }
    let invalid = || SizeError::Invalid(s.to_string());
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let shift: u32 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(invalid()),
    };
    if num.is_empty() || num == "." || num.bytes().filter(|&b| b == b'.').count() > 1 {
        return Err(invalid());
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let too_large = || SizeError::TooLarge(s.to_string());
    // Exact integer arithmetic: no float rounding, and overflow is an error.
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_large())?
    };
    let scale = 1u128 << shift;
    let mut bytes = int.checked_mul(scale).ok_or_else(too_large)?;
    // The fraction's digits, each worth scale / 10^k, summed exactly as
    // (digits * scale) / 10^len, at most 30 digits.
    let frac = &frac[..frac.len().min(30)];
    if !frac.is_empty() {
        let digits: u128 = frac.parse().map_err(|_| invalid())?;
        let den = 10u128.pow(frac.len() as u32);
        bytes = bytes
            .checked_add(digits.checked_mul(scale).ok_or_else(too_large)? / den)
            .ok_or_else(too_large)?;
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> u64 {
        match parse_size(s) {
            Ok(n) => n,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn the_syntax() {
        assert_eq!(ok("4096"), 4096);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("512K"), 512 * 1024);
        assert_eq!(ok("512k"), 512 * 1024);
        assert_eq!(ok("4KiB"), 4096);
        assert_eq!(ok("4kb"), 4096);
        assert_eq!(ok("1M"), 1 << 20);
        assert_eq!(ok(" 1M "), 1 << 20);
        assert_eq!(ok("1 M"), 1 << 20);
        assert_eq!(ok("2G"), 2 << 30);
        assert_eq!(ok("1T"), 1 << 40);
        assert_eq!(ok("100B"), 100);
        assert_eq!(ok("1.5M"), 3 << 19);
        assert_eq!(ok(".5K"), 512);
        assert_eq!(ok("1.5"), 1);
        assert_eq!(ok("0.001K"), 1);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert_eq!(parse_size("  "), Err(SizeError::Empty));
        for s in [
            "K", "abc", "1X", "-1K", "1..5K", ".", "1.5.5M", "1KK", "1 K B", "1e3",
        ] {
            assert!(
                matches!(parse_size(s), Err(SizeError::Invalid(_))),
                "{s}: {:?}",
                parse_size(s)
            );
        }
        for s in [
            "18446744073709551616",
            "16777216T",
            "99999999999999999999999999999999999999999",
        ] {
            assert!(
                matches!(parse_size(s), Err(SizeError::TooLarge(_))),
                "{s}: {:?}",
                parse_size(s)
            );
        }
        assert_eq!(ok("18446744073709551615"), u64::MAX);
    }
}
