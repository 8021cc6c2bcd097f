//! Business hours and holidays in the business time zone.
//!
//! Business time is a configured weekday between the configured start and
//! end, local time (09:00 to 17:00 CT, Monday to Friday by default), daylight
//! saving included: the zone's rules turn local times into instants, so a
//! Monday 09:00 after the change is a different UTC hour from the Friday
//! 09:00 before it. Holidays are still business days for coverage, but the
//! secondary owner covers them (RUNBOOKS.md: "Secondary covers holidays").

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};

use crate::config::Runbooks;

impl Runbooks {
    /// The business-calendar date of `at`.
    pub fn local_date(&self, at: Timestamp) -> Date {
        at.to_zoned_datetime(self.zone.clone()).date()
    }

    /// Whether `at` falls on a configured holiday.
    pub fn is_holiday(&self, at: Timestamp) -> bool {
        self.holidays.contains_key(&self.local_date(at))
    }

    /// The instant `time` o'clock on `date`, local time (a time skipped by
    /// a daylight-saving change is taken as the next valid one).
    pub fn local_instant(&self, date: Date, time: Time) -> Timestamp {
        self.zone
            .to_timestamp(date.to_datetime(time))
            .unwrap_or(Timestamp::MAX)
    }

    fn is_business_day(&self, date: Date) -> bool {
        self.business_weekdays
            .contains(&date.weekday().to_monday_one_offset())
    }

    /// Whether `at` is inside business hours.
    pub fn is_business_time(&self, at: Timestamp) -> bool {
        let zoned = at.to_zoned_datetime(self.zone.clone());
        self.is_business_day(zoned.date())
            && zoned.time() >= self.business_start
            && zoned.time() < self.business_end
    }

    /// `at` itself in business hours, else the next start of business hours.
    pub fn next_business_start(&self, at: Timestamp) -> Timestamp {
        let mut date = self.local_date(at);
        // Two weeks always hold a business day unless none is configured.
        for _ in 0..15 {
            if self.is_business_day(date) {
                let open = self.local_instant(date, self.business_start);
                let close = self.local_instant(date, self.business_end);
                if at < close {
                    return at.max(open);
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        Timestamp::MAX
    }

    /// The instant `minutes` of business time after `at`.
    pub fn add_business_minutes(&self, at: Timestamp, minutes: i64) -> Timestamp {
        let mut remaining = SignedDuration::from_mins(minutes);
        let mut from = self.next_business_start(at);
        while from < Timestamp::MAX {
            let close = self.local_instant(self.local_date(from), self.business_end);
            let available = close.duration_since(from);
            if remaining <= available {
                return from + remaining;
            }
            remaining -= available;
            from = self.next_business_start(close);
        }
        Timestamp::MAX
    }
}
