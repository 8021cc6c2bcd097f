//! The business calendar: which day, week and month an instant belongs to.
//!
//! A day is a calendar date in the business time zone (America/Chicago by
//! default, daylight saving included), so a day lasts 23, 24 or 25 hours. A
//! week is named by its Monday; a month is a calendar month.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::instant::{Instant, civil_from_days, days_from_civil};

/// The default business time zone.
pub const DEFAULT_TIME_ZONE: &str = "America/Chicago";

/// A calendar date, as days since 1970-01-01 (a Thursday).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Day(pub i32);

/// A calendar month, as `year * 12 + (month - 1)`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Month(pub i32);

impl Day {
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Day {
        Day(days_from_civil(i64::from(year), i64::from(month), i64::from(day)) as i32)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = number(&b[0..4])?;
        let month = number(&b[5..7])?;
        let day = number(&b[8..10])?;
        if !(1..=12).contains(&month) || day < 1 || day > crate::instant::days_in_month(year, month)
        {
            return None;
        }
        Some(Day(days_from_civil(year, month, day) as i32))
    }

    pub fn ymd(self) -> (i32, u8, u8) {
        let (y, m, d) = civil_from_days(i64::from(self.0));
        (y as i32, m as u8, d as u8)
    }

    /// 0 for Monday through 6 for Sunday.
    pub fn weekday_from_monday(self) -> i32 {
        (self.0 + 3).rem_euclid(7)
    }

    /// The Monday that names this day's week.
    pub fn week(self) -> Day {
        Day(self.0 - self.weekday_from_monday())
    }

    pub fn month(self) -> Month {
        let (y, m, _) = self.ymd();
        Month(y * 12 + i32::from(m) - 1)
    }

    pub fn plus(self, days: i32) -> Day {
        Day(self.0 + days)
    }
}

impl Month {
    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let b = text.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return None;
        }
        let year = number(&b[0..4])?;
        let month = number(&b[5..7])?;
        if !(1..=12).contains(&month) {
            return None;
        }
        Some(Month((year * 12 + month - 1) as i32))
    }

    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// 1 to 12.
    pub fn month_of_year(self) -> u8 {
        (self.0.rem_euclid(12) + 1) as u8
    }

    pub fn first_day(self) -> Day {
        Day::from_ymd(self.year(), self.month_of_year(), 1)
    }

    pub fn next(self) -> Month {
        Month(self.0 + 1)
    }
}

fn number(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month_of_year())
    }
}

/// Why a time zone name was refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone `{name}`: use an IANA name such as America/Chicago ({source})")]
pub struct UnknownTimeZone {
    name: String,
    source: jiff::Error,
}

/// Assigns instants to business days in one time zone.
#[derive(Clone, Debug)]
pub struct Calendar {
    zone: jiff::tz::TimeZone,
    name: String,
}

impl Calendar {
    pub fn new(zone_name: &str) -> Result<Calendar, UnknownTimeZone> {
        let zone = jiff::tz::TimeZone::get(zone_name).map_err(|source| UnknownTimeZone {
            name: zone_name.to_string(),
            source,
        })?;
        Ok(Calendar {
            zone,
            name: zone_name.to_string(),
        })
    }

    /// The America/Chicago calendar.
    pub fn central() -> Calendar {
        Calendar::new(DEFAULT_TIME_ZONE)
            .expect("the bundled time zone database has America/Chicago")
    }

    pub fn zone_name(&self) -> &str {
        &self.name
    }

    /// Seconds east of UTC in force at `instant`.
    pub fn offset_seconds(&self, instant: Instant) -> i64 {
        let seconds = instant.seconds().clamp(
            jiff::Timestamp::MIN.as_second(),
            jiff::Timestamp::MAX.as_second(),
        );
        let timestamp = jiff::Timestamp::from_second(seconds).expect("clamped into jiff's range");
        i64::from(self.zone.to_offset(timestamp).seconds())
    }

    /// The business day of an instant.
    pub fn day_of(&self, instant: Instant) -> Day {
        let local = instant.seconds() + self.offset_seconds(instant);
        Day(local.div_euclid(86_400) as i32)
    }

    /// The instant at which `day` begins (local midnight, or the first
    /// instant of the day where midnight does not exist).
    pub fn start_of(&self, day: Day) -> Instant {
        let (y, m, d) = day.ymd();
        let start = jiff::civil::date(y as i16, m as i8, d as i8)
            .to_zoned_datetime(self.zone.clone())
            .map(|zoned| zoned.timestamp().as_second())
            .unwrap_or_else(|_| i64::from(day.0) * 86_400);
        Instant::from_seconds(start)
    }

    /// The instant at which `day` ends: the start of the next day.
    pub fn end_of(&self, day: Day) -> Instant {
        self.start_of(day.plus(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Instant {
        Instant::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn days_follow_central_time_across_daylight_saving() {
        let cal = Calendar::central();
        // Summer: CDT is UTC-5.
        assert_eq!(
            cal.day_of(at("2026-07-01T04:59:59Z")).to_string(),
            "2026-06-30"
        );
        assert_eq!(
            cal.day_of(at("2026-07-01T05:00:00Z")).to_string(),
            "2026-07-01"
        );
        // Winter: CST is UTC-6.
        assert_eq!(
            cal.day_of(at("2026-12-01T05:59:59Z")).to_string(),
            "2026-11-30"
        );
        assert_eq!(
            cal.day_of(at("2026-12-01T06:00:00Z")).to_string(),
            "2026-12-01"
        );
        // 2026-11-01 is the fall-back day: 25 hours long.
        let day = Day::parse("2026-11-01").unwrap();
        assert_eq!(
            cal.end_of(day).seconds() - cal.start_of(day).seconds(),
            25 * 3600
        );
        // 2026-03-08 is the spring-forward day: 23 hours long.
        let day = Day::parse("2026-03-08").unwrap();
        assert_eq!(
            cal.end_of(day).seconds() - cal.start_of(day).seconds(),
            23 * 3600
        );
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let day = Day::parse("2026-11-25").unwrap(); // a Wednesday
        assert_eq!(day.week().to_string(), "2026-11-23");
        assert_eq!(
            Day::parse("2026-11-29").unwrap().week().to_string(),
            "2026-11-23"
        );
        assert_eq!(
            Day::parse("2026-11-30").unwrap().week().to_string(),
            "2026-11-30"
        );
        assert_eq!(day.month().to_string(), "2026-11");
        assert_eq!(day.month().first_day().to_string(), "2026-11-01");
        assert_eq!(
            Month::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Day::parse("2026-02-30"), None);
    }

    #[test]
    fn unknown_zones_are_refused_with_a_reason() {
        let err = Calendar::new("Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"));
    }
}
