//! Business-calendar arithmetic on millisecond timestamps, and RFC 3339 text.
//!
//! jiff is consulted once per day when the clock is built; afterwards every
//! conversion is integer arithmetic, because the viewing feed formats two
//! timestamps per line for millions of lines.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::GenerateError;
use crate::util::{Prng, push_2, push_padded};
use rand::Rng;

pub(crate) const SEC: i64 = 1000;
pub(crate) const MIN: i64 = 60 * SEC;
pub(crate) const HOUR: i64 = 60 * MIN;
pub(crate) const DAY: i64 = 24 * HOUR;

/// How a producer prints a timestamp. The instant is the same either way;
/// the variety is there because real producers disagree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ts {
    /// `2026-10-05T14:03:11Z`
    Z,
    /// `2026-10-05T14:03:11.123Z`
    ZMs,
    /// `2026-10-05T09:03:11-05:00`, the Central offset in force.
    Ct,
    /// `2026-10-05T09:03:11.123-05:00`
    CtMs,
}

impl Ts {
    /// Mostly `Z`, sometimes a Central offset or milliseconds.
    pub(crate) fn pick(rng: &mut Prng) -> Ts {
        match rng.random_range(0..100) {
            0..80 => Ts::Z,
            80..90 => Ts::Ct,
            90..97 => Ts::ZMs,
            _ => Ts::CtMs,
        }
    }

    pub(crate) fn has_ms(self) -> bool {
        matches!(self, Ts::ZMs | Ts::CtMs)
    }

    /// The instant this style can express: whole seconds unless it prints
    /// milliseconds, so that what is printed is exactly what was generated.
    pub(crate) fn fit(self, ms: i64) -> i64 {
        if self.has_ms() {
            ms
        } else {
            ms.div_euclid(SEC) * SEC
        }
    }

    pub(crate) fn to_bits(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_bits(bits: u8) -> Ts {
        match bits & 3 {
            0 => Ts::Z,
            1 => Ts::ZMs,
            2 => Ts::Ct,
            _ => Ts::CtMs,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A calendar month, `y * 12 + (m - 1)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct MonthId(pub i64);

impl MonthId {
    pub(crate) fn new(y: i64, m: u32) -> MonthId {
        MonthId(y * 12 + i64::from(m) - 1)
    }

    pub(crate) fn year(self) -> i64 {
        self.0.div_euclid(12)
    }

    pub(crate) fn month(self) -> u32 {
        self.0.rem_euclid(12) as u32 + 1
    }

    pub(crate) fn next(self) -> MonthId {
        MonthId(self.0 + 1)
    }

    /// `YYYY-MM`
    pub(crate) fn push(self, buf: &mut Vec<u8>) {
        push_padded(buf, self.year() as u64, 4);
        buf.push(b'-');
        push_2(buf, self.month());
    }
}

/// Day indexes are relative to the configured start day (day 0).
pub(crate) struct Clock {
    lo: i32,
    /// Central midnight, in UTC milliseconds, of days `lo..=hi+1`.
    starts: Vec<i64>,
    epoch_day0: i64,
    first_offset: i32,
    /// `(instant, offset in force from then on)`, in seconds east of UTC.
    transitions: Vec<(i64, i32)>,
}

impl Clock {
    pub(crate) fn new(start: Date, lo: i32, hi: i32) -> Result<Clock, GenerateError> {
        let tz = TimeZone::get("America/Chicago")
            .map_err(|e| GenerateError::Config(format!("time zone America/Chicago: {e}")))?;
        let epoch_day0 = days_from_civil(
            i64::from(start.year()),
            start.month() as u32,
            start.day() as u32,
        );
        let mut starts = Vec::with_capacity((hi - lo + 2) as usize);
        for d in lo..=hi + 1 {
            let (y, m, dd) = civil_from_days(epoch_day0 + i64::from(d));
            let date = Date::new(y as i16, m as i8, dd as i8)
                .map_err(|e| GenerateError::Config(format!("date out of range: {e}")))?;
            let zoned = date
                .to_zoned_datetime(tz.clone())
                .map_err(|e| GenerateError::Config(format!("date out of range: {e}")))?;
            starts.push(zoned.timestamp().as_millisecond());
        }
        let offset = |ms: i64| -> i32 {
            let ts = jiff::Timestamp::from_millisecond(ms).expect("within the clock's range");
            tz.to_offset(ts).seconds()
        };
        let first_offset = offset(starts[0]);
        let mut transitions = Vec::new();
        let mut current = first_offset;
        for w in starts.windows(2) {
            let after = offset(w[1]);
            if after != current {
                // The first second of the new offset, by bisection.
                let (mut a, mut b) = (w[0] / SEC, w[1] / SEC);
                while b - a > 1 {
                    let mid = a + (b - a) / 2;
                    if offset(mid * SEC) == current {
                        a = mid
                    } else {
                        b = mid
                    }
                }
                transitions.push((b * SEC, after));
                current = after;
            }
        }
        Ok(Clock {
            lo,
            starts,
            epoch_day0,
            first_offset,
            transitions,
        })
    }

    /// Central midnight that starts day `d`.
    pub(crate) fn day_start(&self, d: i32) -> i64 {
        self.starts[(d - self.lo) as usize]
    }

    /// The Central day of an instant.
    pub(crate) fn day_of(&self, ms: i64) -> i32 {
        let i = self.starts.partition_point(|&s| s <= ms);
        assert!(
            i > 0 && i < self.starts.len(),
            "instant outside the generator's calendar"
        );
        self.lo + i as i32 - 1
    }

    pub(crate) fn epoch_day(&self, d: i32) -> i64 {
        self.epoch_day0 + i64::from(d)
    }

    pub(crate) fn civil(&self, d: i32) -> (i64, u32, u32) {
        civil_from_days(self.epoch_day(d))
    }

    /// 0 = Monday ... 6 = Sunday.
    pub(crate) fn weekday(&self, d: i32) -> u32 {
        // 1970-01-01 was a Thursday.
        (self.epoch_day(d) + 3).rem_euclid(7) as u32
    }

    pub(crate) fn month_of_day(&self, d: i32) -> MonthId {
        let (y, m, _) = self.civil(d);
        MonthId::new(y, m)
    }

    /// The day index of the first day of a month.
    pub(crate) fn month_first_day(&self, month: MonthId) -> i32 {
        (days_from_civil(month.year(), month.month(), 1) - self.epoch_day0) as i32
    }

    pub(crate) fn offset_at(&self, ms: i64) -> i32 {
        let i = self.transitions.partition_point(|&(t, _)| t <= ms);
        if i == 0 {
            self.first_offset
        } else {
            self.transitions[i - 1].1
        }
    }

    pub(crate) fn push_date(&self, buf: &mut Vec<u8>, d: i32) {
        let (y, m, dd) = self.civil(d);
        push_padded(buf, y as u64, 4);
        buf.push(b'-');
        push_2(buf, m);
        buf.push(b'-');
        push_2(buf, dd);
    }

    pub(crate) fn push_ts(&self, buf: &mut Vec<u8>, ms: i64, style: Ts) {
        let offset = match style {
            Ts::Z | Ts::ZMs => 0,
            Ts::Ct | Ts::CtMs => self.offset_at(ms),
        };
        let local = ms + i64::from(offset) * SEC;
        let (y, m, d) = civil_from_days(local.div_euclid(DAY));
        let in_day = local.rem_euclid(DAY);
        let secs = (in_day / SEC) as u32;
        // Built in a fixed array and appended whole (see util::push_padded).
        let mut t = *b"0000-00-00T00:00:00.000-00:00___";
        let digit = |v: u32| b'0' + (v % 10) as u8;
        let y = y.clamp(0, 9999) as u32;
        t[0] = digit(y / 1000);
        t[1] = digit(y / 100);
        t[2] = digit(y / 10);
        t[3] = digit(y);
        t[5] = digit(m / 10);
        t[6] = digit(m);
        t[8] = digit(d / 10);
        t[9] = digit(d);
        t[11] = digit(secs / 36_000);
        t[12] = digit(secs / 3600);
        t[14] = digit(secs / 600 % 6);
        t[15] = digit(secs / 60);
        t[17] = digit(secs % 60 / 10);
        t[18] = digit(secs % 60);
        let mut len = 19;
        if style.has_ms() {
            let ms = (in_day % SEC) as u32;
            t[20] = digit(ms / 100);
            t[21] = digit(ms / 10);
            t[22] = digit(ms);
            len = 23;
        }
        match style {
            Ts::Z | Ts::ZMs => {
                t[len] = b'Z';
                len += 1;
            }
            Ts::Ct | Ts::CtMs => {
                let a = offset.unsigned_abs();
                t[len] = if offset < 0 { b'-' } else { b'+' };
                t[len + 1] = digit(a / 36_000);
                t[len + 2] = digit(a / 3600);
                t[len + 3] = b':';
                t[len + 4] = digit(a / 600 % 6);
                t[len + 5] = digit(a / 60);
                len += 6;
            }
        }
        let start = buf.len();
        buf.extend_from_slice(&t);
        buf.truncate(start + len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(clock: &Clock, ms: i64, style: Ts) -> String {
        let mut b = Vec::new();
        clock.push_ts(&mut b, ms, style);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 20_000, 20_731, 400_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 10, 5), 20_731);
    }

    #[test]
    fn central_days_and_offsets() {
        let clock = Clock::new(jiff::civil::date(2026, 10, 5), -3, 40).unwrap();
        let d0 = clock.day_start(0);
        assert_eq!(text(&clock, d0, Ts::Z), "2026-10-05T05:00:00Z");
        assert_eq!(text(&clock, d0, Ts::Ct), "2026-10-05T00:00:00-05:00");
        assert_eq!(
            text(&clock, d0 + 1234, Ts::CtMs),
            "2026-10-05T00:00:01.234-05:00"
        );
        assert_eq!(clock.weekday(0), 0);
        assert_eq!(clock.day_of(d0), 0);
        assert_eq!(clock.day_of(d0 - 1), -1);
        // 2026-11-01 is 25 hours long: Central daylight time ends at 2:00.
        let nov1 = clock.day_start(27);
        assert_eq!(clock.day_start(28) - nov1, 25 * HOUR);
        assert_eq!(
            text(&clock, nov1 + 12 * HOUR, Ts::Ct),
            "2026-11-01T11:00:00-06:00"
        );
        assert_eq!(clock.month_first_day(MonthId::new(2026, 10)), -4);
    }
}
