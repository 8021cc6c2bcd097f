//! Watch time per (content, subscriber, month), each viewing event once,
//! for the profit pipelines' content-cost allocation and coverage.
//!
//! Profit counts every valid viewing event: flagged subscribers and
//! impossible days included (licensing costs are real either way), copies
//! of one `event_id` once. The viewing feed is by far the largest, so this
//! path is kept lean: every copy contributes its watch time at once,
//! carried in the difference of a `(content, (subscriber, month))` record,
//! so differential's consolidation does the summing and the state
//! downstream is one entry per (content, subscriber, month), not per event;
//! the surplus copies that deduplication reports
//! ([`crate::viewing_dedup`]) take theirs back. With horizons, a month's
//! watch time is retracted once its profit is frozen ([`crate::expire`]).

use differential_dataflow::VecCollection;
use streamflix_model::{Calendar, Fingerprint, Instant, Month};

use crate::Time;
use crate::expire::expire;
use crate::presum::presum;
use crate::viewing::ViewingCopies;
use crate::viewing_dedup::ViewCopy;

/// The business month of instants, remembering the last month's bounds:
/// consecutive events mostly share a month, and a bounds check is much
/// cheaper than a time-zone lookup.
struct MonthOf {
    calendar: Calendar,
    cached: Option<(Instant, Instant, Month)>,
}

impl MonthOf {
    fn new(calendar: &Calendar) -> MonthOf {
        MonthOf {
            calendar: calendar.clone(),
            cached: None,
        }
    }

    fn month(&mut self, time: Instant) -> Month {
        if let Some((start, end, month)) = self.cached
            && start <= time
            && time < end
        {
            return month;
        }
        let month = self.calendar.day_of(time).month();
        let start = self.calendar.start_of(month.first_day());
        let end = self.calendar.start_of(month.next().first_day());
        self.cached = Some((start, end, month));
        month
    }
}

/// A watch-time record: `(content, (subscriber, month))`, the difference
/// holding microseconds watched.
pub type WatchKey = (Fingerprint, (Fingerprint, Month));

/// Watch time per (content, subscriber, month): the difference of each
/// record is the total of its events' `watch_seconds`, in microseconds.
pub fn monthly_watch<'s, T: Time>(
    viewing: ViewingCopies<'s, T>,
    calendar: &Calendar,
) -> VecCollection<'s, T, WatchKey> {
    let mut months = MonthOf::new(calendar);
    let mut surplus_months = MonthOf::new(calendar);
    let watch = move |copy: &ViewCopy, months: &mut MonthOf| {
        (copy.watch != 0).then(|| {
            let month = months.month(copy.time);
            (
                (copy.content, (copy.subscriber, month)),
                copy.watch as isize,
            )
        })
    };
    let horizons = viewing.horizons;
    let watch_time = viewing
        .copies
        .explode(move |(_, copy)| watch(&copy, &mut months));
    // A subscriber's heartbeats on one title mostly share a key: summed
    // before the exchange, they travel as one record.
    let watch_time = presum("WatchTime", watch_time).concat(viewing.surplus.explode(move |copy| {
        watch(&copy, &mut surplus_months).map(|(key, micros)| (key, -micros))
    }));
    match horizons {
        Some(horizons) => expire("WatchFacts", watch_time, move |(_, (_, month))| {
            horizons.profit_expires(*month)
        }),
        None => watch_time,
    }
}

#[cfg(test)]
mod tests {
    use streamflix_model::records::Viewing;
    use streamflix_model::{Id, Micros, fingerprint};

    use super::*;
    use crate::testing::run;
    use crate::viewing::prepare_viewing;

    fn event(id: &str, time: &str, subscriber: &str, content: &str, watch: i64) -> Viewing {
        Viewing {
            event_id: Id::from(id),
            event_time: Instant::parse_rfc3339(time).unwrap(),
            subscriber_id: subscriber.into(),
            device_id: "tv".into(),
            content_id: content.into(),
            watch_seconds: Micros::from_units(watch),
            position_seconds: Micros(0),
            duration_seconds: Micros::from_units(100),
            received_at: None,
        }
    }

    fn totals(batches: Vec<Vec<Viewing>>) -> Vec<(String, isize)> {
        let names: Vec<(u128, &str)> = ["s1", "s2", "c1", "c2"]
            .into_iter()
            .map(|name| (fingerprint(name), name))
            .collect();
        let name = move |fp: u128| names.iter().find(|(f, _)| *f == fp).unwrap().1;
        let out = run(batches, |viewing| {
            let calendar = Calendar::central();
            monthly_watch(prepare_viewing(viewing, &calendar, None).copies, &calendar)
        });
        let mut totals: Vec<_> = out
            .into_iter()
            .map(|((content, (subscriber, month)), micros)| {
                (
                    format!("{} {} {month}", name(subscriber), name(content)),
                    micros / 1_000_000,
                )
            })
            .collect();
        totals.sort();
        totals
    }

    #[test]
    fn watch_adds_up_per_content_subscriber_and_central_month() {
        let out = totals(vec![vec![
            event("e1", "2026-10-10T12:00:00Z", "s1", "c1", 60),
            event("e2", "2026-10-11T12:00:00Z", "s1", "c1", 30),
            event("e3", "2026-10-11T12:00:00Z", "s1", "c2", 5),
            // 04:00 UTC on November 1st is still October 31st in Chicago.
            event("e4", "2026-11-01T04:00:00Z", "s2", "c1", 7),
            event("e5", "2026-11-01T06:00:00Z", "s2", "c1", 8),
            event("e6", "2026-11-02T06:00:00Z", "s2", "c1", 0),
        ]]);
        assert_eq!(
            out,
            vec![
                ("s1 c1 2026-10".to_string(), 90),
                ("s1 c2 2026-10".to_string(), 5),
                ("s2 c1 2026-10".to_string(), 7),
                ("s2 c1 2026-11".to_string(), 8),
            ]
        );
    }

    #[test]
    fn copies_count_once_and_differing_copies_keep_the_earliest() {
        let out = totals(vec![
            vec![
                event("e1", "2026-10-10T12:00:00Z", "s1", "c1", 60),
                event("e1", "2026-10-10T12:00:00Z", "s1", "c1", 60),
                // Differing copies: the earliest (30 s, on c2) wins.
                event("e2", "2026-10-12T12:00:00Z", "s1", "c1", 50),
            ],
            vec![
                event("e1", "2026-10-10T12:00:00Z", "s1", "c1", 60),
                event("e2", "2026-10-12T11:00:00Z", "s1", "c2", 30),
                event("e2", "2026-10-12T13:00:00Z", "s2", "c1", 70),
            ],
        ]);
        assert_eq!(
            out,
            vec![
                ("s1 c1 2026-10".to_string(), 60),
                ("s1 c2 2026-10".to_string(), 30),
            ]
        );
    }
}
