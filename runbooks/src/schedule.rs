//! Periods and publication times in the business time zone.
//!
//! A day is a local calendar date, a week runs Monday to Monday and is
//! named by its Monday, a month is `YYYY-MM`. A period is due
//! `publish_after_hours` (elapsed hours, across any daylight-saving
//! change) after its end.

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::{PeriodKind, Runbooks, Schedule};

/// One period of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub label: String,
    pub first: Date,
    /// The first day after the period.
    pub next: Date,
}

impl Period {
    /// The period of `kind` that holds `date`.
    pub fn containing(kind: PeriodKind, date: Date) -> Period {
        let (first, next) = match kind {
            PeriodKind::Day => (date, date.tomorrow().unwrap_or(date)),
            PeriodKind::Week => {
                let back = i64::from(date.weekday().to_monday_zero_offset());
                let monday = date
                    .checked_sub(jiff::Span::new().days(back))
                    .unwrap_or(date);
                (
                    monday,
                    monday
                        .checked_add(jiff::Span::new().days(7))
                        .unwrap_or(date),
                )
            }
            PeriodKind::Month => {
                let first = date.first_of_month();
                (
                    first,
                    first
                        .checked_add(jiff::Span::new().months(1))
                        .unwrap_or(first),
                )
            }
        };
        let label = match kind {
            PeriodKind::Month => first.strftime("%Y-%m").to_string(),
            _ => first.to_string(),
        };
        Period {
            kind,
            label,
            first,
            next,
        }
    }

    /// The period before this one.
    pub fn previous(&self) -> Period {
        Period::containing(self.kind, self.first.yesterday().unwrap_or(self.first))
    }
}

impl Runbooks {
    /// When `period` ends: local midnight starting its next day.
    pub fn period_end(&self, period: &Period) -> Timestamp {
        self.local_instant(period.next, Time::midnight())
    }

    /// When `period` is due under `schedule`.
    pub fn due_at(&self, schedule: &Schedule, period: &Period) -> Timestamp {
        self.period_end(period) + SignedDuration::from_hours(schedule.publish_after_hours)
    }

    /// The latest period of `schedule` whose publication time is at or
    /// before `now`.
    pub fn latest_due_period(&self, schedule: &Schedule, now: Timestamp) -> Period {
        let shifted = now - SignedDuration::from_hours(schedule.publish_after_hours);
        let mut period = Period::containing(schedule.period, self.local_date(shifted));
        while self.due_at(schedule, &period) > now {
            period = period.previous();
        }
        period
    }

    /// The next publication time after `now` of `schedule`.
    pub fn next_due_at(&self, schedule: &Schedule, now: Timestamp) -> Timestamp {
        let latest = self.latest_due_period(schedule, now);
        let next = Period::containing(schedule.period, latest.next);
        self.due_at(schedule, &next)
    }
}
