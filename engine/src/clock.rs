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
//! What bounds state is the *retention* (restatement horizons, one per kind
//! of feed): a period is frozen once the watermark is its horizon past its
//! end. Its published figures never change again; the state that fed it
//! leaves the dataflow as the operators evict it (raw viewing when its day
//! settles, compact facts when the last figure they feed freezes), and a
//! record that arrives for a frozen period is a dead letter
//! (`beyond_retention`). Without a retention (the default for `replay`),
//! nothing is ever frozen.

use serde::{Deserialize, Serialize};
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_model::records::Record;
use streamflix_model::{Calendar, Day, Instant, Month};
use streamflix_operators::engagement::LAST_DAY_FED;
use streamflix_operators::retention::Horizons;

use crate::dataflow::Epoch;
use crate::output::Output;

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

/// How far a group of partitions has surely read: the least greatest
/// event time of those not idle, or the furthest when all are idle (none
/// then holds the others back). Partitions that have shown no event time
/// count for nothing. Milliseconds since 1970, before lateness.
pub fn partitions_reach(partitions: &[&PartitionProgress]) -> Option<i64> {
    if partitions.iter().all(|partition| partition.idle) {
        partitions.iter().filter_map(|p| p.max_event_ms).max()
    } else {
        partitions
            .iter()
            .filter(|partition| !partition.idle)
            .filter_map(|partition| partition.max_event_ms)
            .min()
    }
}

/// How many days after a period's end each kind of feed may still restate
/// it. A record that arrives later is a dead letter (`beyond_retention`)
/// and the period's figures are frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizonDays {
    /// Viewing: a day's events are admitted until this many days after the
    /// day ends; engagement periods freeze as long after their last day.
    pub viewing_days: u32,
    /// Subscriptions: the growth periods, by the event's day.
    pub subscriptions_days: u32,
    /// Billing, ad revenue, content and operational costs, settlements: a
    /// month's profit, after the month ends.
    pub money_days: u32,
}

impl HorizonDays {
    /// The same horizon for every feed (replay's `--retention-days`).
    pub fn uniform(days: u32) -> HorizonDays {
        HorizonDays {
            viewing_days: days,
            subscriptions_days: days,
            money_days: days,
        }
    }
}

/// Which horizon freezes a row: the pipeline it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Engagement,
    Growth,
    Profit,
}

/// The restatement horizons, on a calendar. Flags, experiment
/// assignments, catalogs, FX rates and the GL are never refused: they are
/// small and may concern any period (a late flag restates what is not yet
/// frozen).
#[derive(Clone, Debug)]
pub struct Retention {
    pub days: HorizonDays,
    pub calendar: Calendar,
}

const DAY_MS: Epoch = 86_400_000;

impl Retention {
    pub fn new(days: HorizonDays, calendar: Calendar) -> Retention {
        Retention { days, calendar }
    }

    fn horizon_days(&self, class: Class) -> u32 {
        match class {
            Class::Engagement => self.days.viewing_days,
            Class::Growth => self.days.subscriptions_days,
            // A month's profit also reads its viewing (watch time).
            Class::Profit => self.days.money_days.max(self.days.viewing_days),
        }
    }

    fn frozen(&self, last_day: Day, class: Class) -> Epoch {
        epoch_of(self.calendar.end_of(last_day)) + u64::from(self.horizon_days(class)) * DAY_MS
    }

    /// The epoch from which the row's period is frozen, for rows of
    /// periods.
    pub fn frozen_from(&self, row: &Output) -> Option<Epoch> {
        let class = match row {
            Output::EngagementDaily(_) | Output::EngagementWeekly(_) => Class::Engagement,
            Output::GrowthDaily(_) | Output::GrowthDailyByVariant(_) | Output::GrowthWeekly(_) => {
                Class::Growth
            }
            Output::ProfitSubscriberMonthly(_) | Output::ProfitMonthly(_) => Class::Profit,
            Output::Quality(_) | Output::DeadLetter(_) | Output::Progress(_) => return None,
        };
        row.last_day().map(|day| self.frozen(day, class))
    }

    /// Refuses a record that arrives for a frozen period.
    pub fn admit(&self, record: &Record, epoch: Epoch) -> Result<(), String> {
        let (what, last_day, class) = match record {
            Record::Viewing(event) => {
                let day = self.calendar.day_of(event.event_time);
                (format!("event day {day}"), day, Class::Engagement)
            }
            Record::Subscription(event) => {
                let day = self.calendar.day_of(event.event_time);
                (format!("event day {day}"), day, Class::Growth)
            }
            record => {
                let month = match record {
                    Record::Billing(bill) => bill.billing_period,
                    Record::AdRevenue(ad) => self.calendar.day_of(ad.event_time).month(),
                    Record::ContentCost(line) => line.period,
                    Record::OperationalCost(line) => line.period,
                    Record::PaymentSettlement(settlement) => settlement.date.month(),
                    _ => return Ok(()),
                };
                let last_day = month.next().first_day().plus(-1);
                (format!("month {month}"), last_day, Class::Profit)
            }
        };
        if self.frozen(last_day, class) <= epoch {
            return Err(format!(
                "{what} ended more than {} days before the watermark: its {} figures are frozen (retention); raise the {} horizon to restate this far back",
                self.horizon_days(class),
                match class {
                    Class::Engagement => "engagement",
                    Class::Growth => "growth",
                    Class::Profit => "profit",
                },
                record.feed().name(),
            ));
        }
        Ok(())
    }
}

impl Horizons<Epoch> for Retention {
    fn viewing_settles(&self, day: Day) -> Epoch {
        self.frozen(day, Class::Engagement)
    }

    fn engagement_expires(&self, day: Day) -> Epoch {
        self.frozen(day.plus(LAST_DAY_FED), Class::Engagement)
    }

    fn profit_expires(&self, month: Month) -> Epoch {
        self.frozen(month.next().first_day().plus(-1), Class::Profit)
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
    fn periods_freeze_after_their_feeds_horizon() {
        let calendar = Calendar::central();
        let retention = Retention::new(
            HorizonDays {
                viewing_days: 3,
                subscriptions_days: 7,
                money_days: 10,
            },
            calendar.clone(),
        );
        let day = Day::parse("2026-11-02").unwrap();
        let end = epoch_of(calendar.end_of(day));
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
        // A day's viewing settles 3 days after the day; what it built
        // stays until its last MAU window (29 days on) freezes too.
        let settles = end + 3 * DAY_MS;
        assert_eq!(retention.viewing_settles(day), settles);
        assert!(retention.admit(&event("2026-11-02"), settles - 1).is_ok());
        assert!(retention.admit(&event("2026-11-02"), settles).is_err());
        assert!(retention.admit(&event("2026-11-03"), settles).is_ok());
        assert_eq!(
            retention.engagement_expires(day),
            epoch_of(calendar.end_of(day.plus(29))) + 3 * DAY_MS
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
        let november = streamflix_model::Month::parse("2026-11").unwrap();
        let november_frozen =
            epoch_of(calendar.end_of(Day::parse("2026-11-30").unwrap())) + 10 * DAY_MS;
        assert_eq!(retention.profit_expires(november), november_frozen);
        assert!(
            retention
                .admit(&line("2026-11"), november_frozen - 1)
                .is_ok()
        );
        let refused = retention
            .admit(&line("2026-11"), november_frozen)
            .unwrap_err();
        assert!(refused.contains("month 2026-11"), "{refused}");
        assert!(refused.contains("operational_costs"), "{refused}");
        assert!(retention.admit(&line("2026-12"), november_frozen).is_ok());
        // A flag is never refused.
        let flag = Record::AccountFlag(streamflix_model::records::AccountFlag {
            event_id: "f".into(),
            event_time: calendar.start_of(day),
            subscriber_id: "s".into(),
            flag: streamflix_model::records::FlagKind::Test,
        });
        assert!(retention.admit(&flag, u64::MAX).is_ok());
    }
}
