//! The one duration syntax of both tools: humantime's (`500ms`, `10us`,
//! `1m30s`, `2h 5m`), plus a bare number meaning seconds (`30`, `1.5`) and
//! one decimal term with a unit (`1.5s`, `0.5ms`). Every value fits in an
//! `i64` of nanoseconds, the type of the recording's timestamps, so code
//! that adds it to a timestamp only has to check that one sum.

use std::time::Duration;

/// Largest duration accepted: what an `i64` of nanoseconds holds (~292 years).
pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// A duration that is not in the syntax, or too large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration `{text}`: {why} (examples: 500ms, 30s, 1m30s, 2h, or a number of seconds)")]
    Invalid { text: String, why: String },
    #[error("duration `{0}` is too large (at most 292 years)")]
    TooLarge(String),
}

/// Parses a duration in the shared syntax; see the module docs.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let d = if let Some(d) = decimal(s, "")? {
        d
    } else {
        match humantime::parse_duration(s) {
            Ok(d) => d,
            Err(humantime::DurationError::NumberOverflow) => {
                return Err(DurationError::TooLarge(s.to_string()))
            }
            Err(e) => match decimal_with_unit(s)? {
                Some(d) => d,
                None => {
                    return Err(DurationError::Invalid {
                        text: s.to_string(),
                        why: why(&e),
                    })
                }
            },
        }
    };
    if d > MAX {
        return Err(DurationError::TooLarge(s.to_string()));
    }
    Ok(d)
}

/// humantime's reason, shortened where it lists its own units (ours differ:
/// a bare number is seconds).
fn why(e: &humantime::DurationError) -> String {
    match e {
        humantime::DurationError::UnknownUnit { unit, .. } if !unit.is_empty() => {
            format!("unknown unit `{unit}`")
        }
        e => e.to_string(),
    }
}

/// The duration as nanoseconds in an `i64`; every parsed duration fits.
pub fn as_nanos_i64(d: Duration) -> Option<i64> {
    i64::try_from(d.as_nanos()).ok()
}

/// `1.5s`, `0.25ms`: one decimal term, which humantime does not take.
fn decimal_with_unit(s: &str) -> Result<Option<Duration>, DurationError> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if !num.contains('.') {
        return Ok(None);
    }
    decimal(num, unit.trim())
}

/// A plain decimal number (`30`, `1.5`) times a unit's nanoseconds.
fn decimal(num: &str, unit: &str) -> Result<Option<Duration>, DurationError> {
    if num.is_empty()
        || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || num.bytes().filter(|&b| b == b'.').count() > 1
        || num == "."
    {
        return Ok(None);
    }
    let scale: u128 = match unit {
        "" | "s" | "sec" | "secs" => 1_000_000_000,
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "m" | "min" | "mins" => 60_000_000_000,
        "h" | "hr" | "hrs" => 3_600_000_000_000,
        _ => return Ok(None),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let too_large = || DurationError::TooLarge(format!("{num}{unit}"));
    // Exact integer arithmetic: no float rounding, and overflow is an error.
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_large())?
    };
    let mut nanos = int.checked_mul(scale).ok_or_else(too_large)?;
    let mut place = scale;
    for digit in frac.bytes().take(30) {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos = nanos
            .checked_add(u128::from(digit - b'0') * place)
            .ok_or_else(too_large)?;
    }
    let nanos = u64::try_from(nanos).map_err(|_| too_large())?;
    Ok(Some(Duration::from_nanos(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn the_syntax() {
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("2h 5m"), Duration::from_secs(2 * 3600 + 300));
        assert_eq!(ok("30"), Duration::from_secs(30));
        assert_eq!(ok(" 1.5 "), Duration::from_millis(1500));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.25ms"), Duration::from_micros(250));
        assert_eq!(ok("0"), Duration::ZERO);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        for s in ["abc", "1x", "-1s", "1..5s", ".", "5 apples", "1.5.5", "s"] {
            assert!(
                matches!(parse_duration(s), Err(DurationError::Invalid { .. })),
                "{s}: {:?}",
                parse_duration(s)
            );
        }
        for s in [
            "99999999999999999999h",
            "99999999999999999999",
            "2562048h",
            "300years",
            "9999999999999999999999999.5s",
        ] {
            assert!(
                matches!(parse_duration(s), Err(DurationError::TooLarge(_))),
                "{s}: {:?}",
                parse_duration(s)
            );
        }
    }

    #[test]
    fn everything_parsed_fits_in_i64_nanoseconds() {
        let d = ok("2562047h");
        assert!(as_nanos_i64(d).is_some());
        assert_eq!(as_nanos_i64(MAX), Some(i64::MAX));
    }
}
