//! Durations as users write them in specs: Go/Flux style strings such as `"30s"`, `"5m"`,
//! `"1h30m"`, `"1.5h"`, `"500ms"`.
//!
//! The fields stay strings in the API (so objects round-trip exactly as written and
//! `kubectl explain` shows the format); [`DURATION_PATTERN`] goes into the schema so the API
//! server rejects malformed values, and [`parse`] turns a validated string into a
//! [`std::time::Duration`] for the reconcilers.
//!
//! Hand-written because the duration crates on crates.io (`humantime`, `go-parse-duration`)
//! each accept a different grammar (`humantime` takes `"5 min"` and `"1d"`, which the schema
//! pattern rejects); the parser must accept exactly what the pattern accepts.

use std::time::Duration;

use crate::error::{Error, Result};

/// The schema pattern every duration field carries. Same grammar as Flux's
/// `metav1.Duration` fields: one or more `<number><unit>` groups, no sign, no spaces.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// Parses a duration string accepted by [`DURATION_PATTERN`].
///
/// ```
/// use std::time::Duration;
/// assert_eq!(crds::duration::parse("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(crds::duration::parse("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(crds::duration::parse("5 min").is_err());
/// ```
pub fn parse(value: &str) -> Result<Duration> {
    let invalid = |reason| Error::InvalidDuration {
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("empty string"));
    }
    let bytes = value.as_bytes();
    let mut pos = 0;
    let mut total_nanos: u128 = 0;
    while pos < bytes.len() {
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == int_start {
            return Err(invalid("expected a number"));
        }
        let int_part = &value[int_start..pos];
        let mut frac_part = "";
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == frac_start {
                return Err(invalid("expected digits after the decimal point"));
            }
            frac_part = &value[frac_start..pos];
        }
        let rest = &value[pos..];
        let (unit_nanos, unit_len): (u128, usize) = if rest.starts_with("ms") {
            (1_000_000, 2)
        } else if rest.starts_with('s') {
            (1_000_000_000, 1)
        } else if rest.starts_with('m') {
            (60_000_000_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000_000_000, 1)
        } else if rest.is_empty() {
            return Err(invalid("missing unit"));
        } else {
            return Err(invalid("unknown unit"));
        };
        pos += unit_len;

        let int_value: u128 = int_part.parse().map_err(|_| invalid("number too large"))?;
        let mut nanos = int_value
            .checked_mul(unit_nanos)
            .ok_or_else(|| invalid("number too large"))?;
        // Fractions below a nanosecond are dropped, as Go's time.ParseDuration does.
        let mut scale = unit_nanos;
        for digit in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| invalid("number too large"))?;
    }
    let secs =
        u64::try_from(total_nanos / 1_000_000_000).map_err(|_| invalid("number too large"))?;
    // The remainder is below 10^9, so it always fits.
    let subsec = (total_nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_combine_left_to_right() {
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(90 * 60));
        assert_eq!(parse("2m5s").unwrap(), Duration::from_secs(125));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1m500ms").unwrap(), Duration::from_millis(60_500));
    }

    #[test]
    fn decimal_fractions_scale_with_the_unit() {
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("0.25s").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.0000000001s").unwrap(), Duration::from_secs(1));
    }

    #[test]
    fn zero_is_allowed_with_a_unit() {
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn malformed_strings_are_rejected_with_a_reason() {
        for (value, reason) in [
            ("", "empty string"),
            ("5", "missing unit"),
            ("5d", "unknown unit"),
            ("5 m", "unknown unit"),
            ("-5m", "expected a number"),
            ("1.m", "expected digits after the decimal point"),
            ("m", "expected a number"),
            (
                "99999999999999999999999999999999999999999h",
                "number too large",
            ),
        ] {
            match parse(value) {
                Err(Error::InvalidDuration { reason: got, .. }) => {
                    assert_eq!(got, reason, "for {value:?}")
                }
                other => panic!("{value:?} should be rejected, got {other:?}"),
            }
        }
    }

    #[test]
    fn parser_accepts_exactly_what_the_schema_pattern_accepts() {
        let pattern = regex::Regex::new(DURATION_PATTERN).unwrap();
        for value in [
            "1h", "1h30m", "1.5h", "10ms", "0s", "01m", "5", "5d", "", "1.m", "h", "1hh", "1h ",
            " 1h", "1e3s", "1.5.5s", "+1s", "1µs",
        ] {
            assert_eq!(
                parse(value).is_ok(),
                pattern.is_match(value),
                "parser and DURATION_PATTERN disagree on {value:?}"
            );
        }
    }
}
