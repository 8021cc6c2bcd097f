//! Event time, watermarks, epochs and the restatement horizon.
//!
//! The dataflow's timestamp is an *epoch*: milliseconds on a clock that
//! never runs behind the watermark. A source that hands in a batch advances
//! its epoch to `max(previous epoch + 1, watermark)`, where the watermark is
//! the greatest event time it has read minus the allowed lateness. The
//! frontier of the dataflow is therefore a lower bound on every source's
//! watermark, and an epoch can be compared with event times.
//!
//! Event time itself is data. A record that arrives late is not dropped: it
//! enters at the current epoch and lands in the day it belongs to, and the
//! figures it changes are restated.
//!
//! What bounds state is the *retention* (restatement horizon): a period is
//! frozen once the watermark is `retention` past its end. Its published
//! figures never change again; the records that fed it are retracted from
//! the dataflow, and a record that arrives for a frozen period is a dead
//! letter (`beyond_retention`). Without a retention (the default for
//! `replay`), nothing is ever frozen.

use streamflix_model::records::Record;
use streamflix_model::{Calendar, Day, Instant};

use crate::dataflow::Epoch;

/// Default allowed lateness: one hour.
pub const DEFAULT_LATENESS_MS: i64 = 3_600_000;

/// The epoch of an instant: its milliseconds since 1970, 0 before that.
pub fn epoch_of(instant: Instant) -> Epoch {
    instant.0.div_euclid(1_000_000).max(0) as Epoch
}

/// A source's clock: its watermark and its epoch.
#[derive(Clone, Debug)]
pub struct EpochClock {
    lateness_ms: i64,
    max_event: Option<Instant>,
    epoch: Epoch,
}

impl EpochClock {
    pub fn new(lateness_ms: i64) -> EpochClock {
        EpochClock {
            lateness_ms,
            max_event: None,
            epoch: 0,
        }
    }

    /// Takes note of a record's event time.
    pub fn observe(&mut self, event_time: Instant) {
        self.max_event = Some(self.max_event.map_or(event_time, |max| max.max(event_time)));
    }

    /// The greatest event time read, minus the allowed lateness.
    pub fn watermark(&self) -> Option<Instant> {
        self.max_event.map(|max| {
            Instant(
                max.0
                    .saturating_sub(self.lateness_ms.saturating_mul(1_000_000)),
            )
        })
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Moves to the next epoch, at least one past the last, at least the
    /// watermark.
    pub fn tick(&mut self) -> Epoch {
        let watermark = self.watermark().map_or(0, epoch_of);
        self.epoch = (self.epoch + 1).max(watermark);
        self.epoch
    }
}

/// The restatement horizon.
#[derive(Clone, Debug)]
pub struct Retention {
    pub days: u32,
    pub calendar: Calendar,
}

impl Retention {
    fn horizon_ms(&self) -> Epoch {
        u64::from(self.days) * 86_400_000
    }

    /// The epoch from which a period ending with `last_day` is frozen.
    pub fn frozen_from(&self, last_day: Day) -> Epoch {
        epoch_of(self.calendar.end_of(last_day)) + self.horizon_ms()
    }

    /// The epoch at which the viewing of `day` leaves the dataflow: when
    /// both the last engagement figure it feeds (the 30-day window ending
    /// 29 days later) and its month's profit are frozen.
    pub fn viewing_retires_at(&self, day: Day) -> Epoch {
        let reach = streamflix_operators::engagement::LAST_DAY_FED;
        let month_end = day.month().next().first_day().plus(-1);
        self.frozen_from(day.plus(reach).max(month_end))
    }

    /// Refuses a record that arrives for a frozen period.
    pub fn admit(&self, record: &Record, epoch: Epoch) -> Result<(), String> {
        if let Record::Viewing(event) = record {
            let day = self.calendar.day_of(event.event_time);
            if self.viewing_retires_at(day) <= epoch {
                return Err(format!(
                    "event day {day} is more than {} days behind the watermark: its periods are frozen (retention)",
                    self.days
                ));
            }
            return Ok(());
        }
        // Money records feed their month's profit rows only.
        let month = match record {
            Record::Billing(bill) => bill.billing_period,
            Record::AdRevenue(ad) => self.calendar.day_of(ad.event_time).month(),
            Record::ContentCost(line) => line.period,
            Record::OperationalCost(line) => line.period,
            Record::PaymentSettlement(settlement) => settlement.date.month(),
            _ => return Ok(()),
        };
        if self.frozen_from(month.next().first_day().plus(-1)) <= epoch {
            return Err(format!(
                "month {month} ended more than {} days before the watermark: its profit figures are frozen (retention)",
                self.days
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_advance_and_never_fall_behind_the_watermark() {
        let mut clock = EpochClock::new(DEFAULT_LATENESS_MS);
        assert_eq!(clock.tick(), 1);
        clock.observe(Instant::from_seconds(10_000));
        assert_eq!(clock.watermark(), Some(Instant::from_seconds(6_400)));
        assert_eq!(clock.tick(), 6_400_000);
        clock.observe(Instant::from_seconds(5)); // late: the watermark holds
        assert_eq!(clock.tick(), 6_400_001);
    }

    #[test]
    fn periods_freeze_after_the_horizon() {
        let calendar = Calendar::central();
        let retention = Retention {
            days: 10,
            calendar: calendar.clone(),
        };
        let day = Day::parse("2026-11-02").unwrap();
        let end = epoch_of(calendar.end_of(day));
        assert_eq!(retention.frozen_from(day), end + 10 * 86_400_000);
        let event = |day: &str| {
            let start = calendar.start_of(Day::parse(day).unwrap());
            Record::Viewing(streamflix_model::records::Viewing {
                event_id: "e".into(),
                event_time: start,
                subscriber_id: "s".into(),
                device_id: "d".into(),
                content_id: "c".into(),
                watch_seconds: Default::default(),
                position_seconds: Default::default(),
                duration_seconds: streamflix_model::Micros(1),
                received_at: None,
            })
        };
        // Viewing freezes with the 30-day window ending 29 days later...
        let now = retention.frozen_from(day.plus(29));
        assert_eq!(retention.viewing_retires_at(day), now);
        assert!(retention.admit(&event("2026-11-03"), now).is_ok());
        assert!(retention.admit(&event("2026-11-02"), now).is_err());
        // ...or with its month's profit, when that is later: October 1st's
        // window ends on the 30th, its month on the 31st.
        let october_first = Day::parse("2026-10-01").unwrap();
        let october_frozen = retention.frozen_from(Day::parse("2026-10-31").unwrap());
        assert_eq!(retention.viewing_retires_at(october_first), october_frozen);
        assert!(
            retention
                .admit(&event("2026-10-01"), october_frozen - 1)
                .is_ok()
        );
        assert!(
            retention
                .admit(&event("2026-10-01"), october_frozen)
                .is_err()
        );
        // A cost line freezes with its month, 10 days after the month ends.
        let line = |period: &str| {
            Record::OperationalCost(streamflix_model::records::OperationalCost {
                event_id: "op".into(),
                period: streamflix_model::Month::parse(period).unwrap(),
                category: "cdn".into(),
                amount: Default::default(),
                currency: streamflix_model::Currency::USD,
            })
        };
        let november_frozen = retention.frozen_from(Day::parse("2026-11-30").unwrap());
        assert!(
            retention
                .admit(&line("2026-11"), november_frozen - 1)
                .is_ok()
        );
        assert!(retention.admit(&line("2026-11"), november_frozen).is_err());
        assert!(retention.admit(&line("2026-12"), november_frozen).is_ok());
    }
}
