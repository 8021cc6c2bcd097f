//! Watch time per (content, subscriber, month), each viewing event once,
//! for the profit pipelines' content-cost allocation and coverage.
//!
//! Profit counts every valid viewing event: flagged subscribers and
//! impossible days included (licensing costs are real either way), copies
//! of one `event_id` once. The viewing feed is by far the largest, so this
//! path is kept lean:
//!
//! * every event contributes its watch time at once, carried in the
//!   difference of a `((content, (subscriber, month)))` record, so
//!   differential's consolidation does the summing and the state
//!   downstream is one entry per (content, subscriber, month), not per
//!   event;
//! * deduplication only corrects: one reduction per event id, over a
//!   compact copy of each event, emits nothing for an event seen once and,
//!   for copies, retracts the watch time of every copy but one. Of copies
//!   that differ the kept one is the copy engagement keeps: the earliest
//!   `event_time`, then the least subscriber, content and watch time.
//!
//! With a restatement horizon, each event is retired when its month
//! freezes ([`crate::retention`]).

use std::rc::Rc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::Viewing;
use streamflix_model::{Calendar, Fingerprint, Instant, Month, fingerprint};

use crate::Time;
use crate::retention::retire;

/// When the records of a month leave the dataflow.
pub type RetireMonth<T> = Rc<dyn Fn(Month) -> T>;

/// What deduplication needs to know of one viewing event, kept small: the
/// arrangement holds one per event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct ViewCopy {
    time: Instant,
    subscriber: Fingerprint,
    content: Fingerprint,
    watch: i64,
}

impl ViewCopy {
    /// The order in which copies are preferred: engagement's (content by
    /// the low 64 bits of its fingerprint first).
    fn preference(&self) -> impl Ord + use<> {
        (
            self.time,
            self.subscriber,
            self.content as u64,
            self.watch,
            self.content,
        )
    }
}

impl PartialOrd for ViewCopy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ViewCopy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.preference().cmp(&other.preference())
    }
}

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
    viewing: VecCollection<'s, T, Viewing>,
    calendar: &Calendar,
    retire_month: Option<RetireMonth<T>>,
) -> VecCollection<'s, T, WatchKey> {
    let copies = viewing.map(|event| {
        (
            fingerprint(&event.event_id),
            ViewCopy {
                time: event.event_time,
                subscriber: fingerprint(&event.subscriber_id),
                content: fingerprint(&event.content_id),
                watch: event.watch_seconds.0,
            },
        )
    });
    let copies = match retire_month {
        Some(retire_at) => {
            let calendar = calendar.clone();
            retire(copies, move |(_, copy)| {
                retire_at(calendar.day_of(copy.time).month())
            })
        }
        None => copies,
    };
    let surplus = copies.clone().reduce_named(
        "ViewingCopies",
        |_event, copies: &[(&ViewCopy, isize)], output: &mut Vec<(ViewCopy, isize)>| {
            // Sorted: the first copy is kept, once.
            let mut counts = copies.iter();
            let (first, count) = counts.next().expect("a reduction sees at least one copy");
            if *count > 1 {
                output.push(((*first).clone(), count - 1));
            }
            for (copy, count) in counts {
                output.push(((*copy).clone(), *count));
            }
        },
    );
    let mut months = MonthOf::new(calendar);
    let mut surplus_months = MonthOf::new(calendar);
    copies
        .explode(move |(_, copy)| {
            (copy.watch != 0).then(|| {
                let month = months.month(copy.time);
                (
                    (copy.content, (copy.subscriber, month)),
                    copy.watch as isize,
                )
            })
        })
        .concat(surplus.explode(move |(_, copy)| {
            (copy.watch != 0).then(|| {
                let month = surplus_months.month(copy.time);
                (
                    (copy.content, (copy.subscriber, month)),
                    -(copy.watch as isize),
                )
            })
        }))
}

#[cfg(test)]
mod tests {
    use streamflix_model::{Id, Micros};

    use super::*;
    use crate::testing::run;

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
            monthly_watch(viewing, &Calendar::central(), None)
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
