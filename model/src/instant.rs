//! Instants: RFC 3339 timestamps held as UTC nanoseconds.

use serde::{Deserialize, Serialize};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
///
/// Nanoseconds keep every fraction a producer is likely to send exact, so
/// that "exactly 30 minutes" stays exactly 30 minutes and ties are real ties.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Instant(pub i64);

/// Why a timestamp string is not an RFC 3339 timestamp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp with an offset ({0})")]
pub struct InstantError(&'static str);

impl std::fmt::Display for Instant {
    /// RFC 3339 in UTC (`2026-11-02T14:03:12Z`, fractional seconds only
    /// when there are any).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match jiff::Timestamp::from_nanosecond(i128::from(self.0)) {
            Ok(timestamp) => write!(f, "{timestamp}"),
            Err(_) => write!(f, "{}ns", self.0),
        }
    }
}

impl Instant {
    pub const fn from_seconds(seconds: i64) -> Instant {
        Instant(seconds * NANOS_PER_SECOND)
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SECOND)
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
    ///
    /// `T` and `Z` may be lower case, as RFC 3339 allows. Digits of a
    /// fraction beyond the ninth are truncated; leap seconds (`:60`) are
    /// rejected because no calendar here can place them.
    pub fn parse_rfc3339(text: &str) -> Result<Instant, InstantError> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(InstantError("too short"));
        }
        let year = digits(b, 0, 4)?;
        expect(b, 4, b'-')?;
        let month = digits(b, 5, 2)?;
        expect(b, 7, b'-')?;
        let day = digits(b, 8, 2)?;
        if !(b[10] == b'T' || b[10] == b't') {
            return Err(InstantError("expected `T` between date and time"));
        }
        let hour = digits(b, 11, 2)?;
        expect(b, 13, b':')?;
        let minute = digits(b, 14, 2)?;
        expect(b, 16, b':')?;
        let second = digits(b, 17, 2)?;
        if !(1..=12).contains(&month) {
            return Err(InstantError("month out of range"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(InstantError("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(InstantError("time of day out of range"));
        }
        let mut pos = 19;
        let mut fraction_nanos = 0i64;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                if pos - start < 9 {
                    fraction_nanos = fraction_nanos * 10 + i64::from(b[pos] - b'0');
                }
                pos += 1;
            }
            let count = pos - start;
            if count == 0 {
                return Err(InstantError("empty fraction"));
            }
            for _ in count..9 {
                fraction_nanos *= 10;
            }
        }
        let offset_seconds = match b.get(pos) {
            Some(b'Z') | Some(b'z') if pos + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if pos + 6 == b.len() => {
                let hours = digits(b, pos + 1, 2)?;
                expect(b, pos + 3, b':')?;
                let minutes = digits(b, pos + 4, 2)?;
                if hours > 23 || minutes > 59 {
                    return Err(InstantError("offset out of range"));
                }
                let magnitude = hours * 3600 + minutes * 60;
                if sign == b'-' { -magnitude } else { magnitude }
            }
            _ => return Err(InstantError("missing or malformed offset")),
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
        Ok(Instant(seconds * NANOS_PER_SECOND + fraction_nanos))
    }
}

fn digits(b: &[u8], at: usize, len: usize) -> Result<i64, InstantError> {
    let slice = b.get(at..at + len).ok_or(InstantError("too short"))?;
    let mut value = 0i64;
    for &c in slice {
        if !c.is_ascii_digit() {
            return Err(InstantError("expected a digit"));
        }
        value = value * 10 + i64::from(c - b'0');
    }
    Ok(value)
}

fn expect(b: &[u8], at: usize, c: u8) -> Result<(), InstantError> {
    if b.get(at) == Some(&c) {
        Ok(())
    } else {
        Err(InstantError("misplaced separator"))
    }
}

pub(crate) fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Instant, InstantError> {
        Instant::parse_rfc3339(text)
    }

    #[test]
    fn parses_utc_and_offsets_to_the_same_instant() {
        let utc = parse("2026-11-02T14:03:11Z").unwrap();
        assert_eq!(utc, parse("2026-11-02T08:03:11-06:00").unwrap());
        assert_eq!(utc, parse("2026-11-02t14:03:11z").unwrap());
        assert_eq!(utc.seconds(), 1_793_628_191);
    }

    #[test]
    fn keeps_fractions_to_the_nanosecond() {
        let base = parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            parse("2026-01-01T00:00:00.5Z").unwrap().0 - base.0,
            500_000_000
        );
        assert_eq!(
            parse("2026-01-01T00:00:00.123456789123Z").unwrap().0 - base.0,
            123_456_789
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-11-02",
            "2026-11-02T14:03:11",
            "2026-11-02 14:03:11Z",
            "2026-13-02T14:03:11Z",
            "2026-02-29T14:03:11Z",
            "2026-11-02T24:00:00Z",
            "2026-11-02T14:03:60Z",
            "2026-11-02T14:03:11.Z",
            "2026-11-02T14:03:11+0600",
            "2026-11-02T14:03:11+06:00x",
            "2026-11-02T14:03:11Zjunk",
            "１０２6-11-02T14:03:11Z",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(parse("2028-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn civil_conversions_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_424, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
    }
}
