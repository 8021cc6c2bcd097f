//! One deduplication of viewing by `event_id`, for engagement and profit.
//!
//! Records sharing an `event_id` are copies of one event and count once.
//! Of copies that differ, the earliest `event_time` wins, then the least
//! subscriber, content and watch time, whatever order the copies arrive
//! in. Both pipelines keep that same copy.
//!
//! Deduplication only corrects: every event flows on at once, and this
//! operator emits nothing for an event seen once. For an event with more
//! than one copy it emits
//!
//! * the **surplus**: every copy but the kept one, for profit to subtract
//!   its watch time;
//! * a **suppression** for each (subscriber, day) other than the kept
//!   copy's that a copy landed in, for engagement to drop the event there
//!   (copies in the kept copy's own subscriber-day are settled by
//!   [`crate::subscriber_day`], which sees the whole payload);
//! * the event as a **conflict** when its copies fall in different
//!   subscriber-days.
//!
//! The state is a compact copy of each event, keyed by the event's
//! fingerprint, in a hash map ([`crate::total_reduce`]): the largest
//! per-event state in the dataflow after the subscriber-days, so it exists
//! once. With horizons an event is forgotten once the latest day its copies
//! fall on settles: a copy can no longer arrive then, and what was emitted
//! for it stays where it went.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::{Calendar, Day, Fingerprint, Instant};

use crate::Time;
use crate::retention::SharedHorizons;
use crate::total_reduce::reduce_total_settling;

/// What deduplication needs to know of one viewing event, kept small: the
/// state holds one per event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ViewCopy {
    pub time: Instant,
    pub subscriber: Fingerprint,
    pub content: Fingerprint,
    /// Watch seconds, in microseconds.
    pub watch: i64,
}

impl ViewCopy {
    /// The order in which copies are preferred. Content compares by the
    /// low 64 bits of its fingerprint first, as engagement's heartbeats do.
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

/// What deduplication says about one event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Correction {
    /// A copy that does not count, with how many times it arrived beyond
    /// the kept one in the difference.
    Surplus(ViewCopy),
    /// This (subscriber, day) must drop the event.
    Suppress(Fingerprint, Day),
    /// The copies fall in different subscriber-days.
    Conflict,
}

/// The corrections for events with more than one copy.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Corrections<'s, T: Time> {
    /// Copies that do not count, with multiplicity.
    pub surplus: VecCollection<'s, T, ViewCopy>,
    /// `((subscriber, day), event)`: the event does not count there.
    pub suppressions: VecCollection<'s, T, ((Fingerprint, Day), Fingerprint)>,
    /// Events whose copies fall in different subscriber-days.
    pub conflicts: VecCollection<'s, T, Fingerprint>,
}

/// Deduplicates `(event, copy)` records; `calendar` places copies on days.
pub fn dedup_viewing<'s, T: Time>(
    copies: VecCollection<'s, T, (Fingerprint, ViewCopy)>,
    calendar: &Calendar,
    horizons: SharedHorizons<T>,
) -> Corrections<'s, T> {
    let settle_calendar = calendar.clone();
    // Copies are sorted by time first: the last is the latest.
    let settles = move |_event: &Fingerprint, copies: &[(ViewCopy, isize)]| {
        let horizons = horizons.as_ref()?;
        let latest = &copies.last()?.0;
        Some(horizons.viewing_settles(settle_calendar.day_of(latest.time)))
    };
    let calendar = calendar.clone();
    let corrections = reduce_total_settling(
        "ViewingCopies",
        copies,
        move |_event, copies: &[(ViewCopy, isize)], output: &mut Vec<(Correction, isize)>| {
            // Sorted: the first copy is kept, once.
            let (kept, count) = &copies[0];
            let count = *count;
            if count > 1 {
                output.push((Correction::Surplus(kept.clone()), count - 1));
            }
            if copies.len() == 1 {
                return;
            }
            let group = |copy: &ViewCopy| (copy.subscriber, calendar.day_of(copy.time));
            let kept_group = group(kept);
            let mut other_groups: Vec<(Fingerprint, Day)> = Vec::new();
            for (copy, count) in &copies[1..] {
                output.push((Correction::Surplus(copy.clone()), *count));
                let copy_group = group(copy);
                if copy_group != kept_group {
                    other_groups.push(copy_group);
                }
            }
            if other_groups.is_empty() {
                return;
            }
            other_groups.sort();
            other_groups.dedup();
            output.push((Correction::Conflict, 1));
            output.extend(
                other_groups
                    .into_iter()
                    .map(|(subscriber, day)| (Correction::Suppress(subscriber, day), 1)),
            );
        },
        settles,
    );
    let surplus = corrections
        .clone()
        .flat_map(|(_, correction)| match correction {
            Correction::Surplus(copy) => Some(copy),
            _ => None,
        });
    let suppressions = corrections
        .clone()
        .flat_map(|(event, correction)| match correction {
            Correction::Suppress(subscriber, day) => Some(((subscriber, day), event)),
            _ => None,
        });
    let conflicts = corrections
        .flat_map(|(event, correction)| (correction == Correction::Conflict).then_some(event));
    Corrections {
        surplus,
        suppressions,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    enum Out {
        Surplus(ViewCopy),
        Suppress((Fingerprint, Day), Fingerprint),
        Conflict(Fingerprint),
    }

    fn copy(hour: i64, subscriber: Fingerprint, content: Fingerprint, watch: i64) -> ViewCopy {
        ViewCopy {
            // 2026-10-10 00:00 UTC is 19:00 on the 9th in Chicago.
            time: Instant::from_seconds(1_791_590_400 + hour * 3_600),
            subscriber,
            content,
            watch,
        }
    }

    fn corrections(batches: Vec<Vec<(Fingerprint, ViewCopy)>>) -> Vec<(Out, isize)> {
        run(batches, |copies| {
            let corrections = dedup_viewing(copies, &Calendar::central(), None);
            corrections
                .surplus
                .map(Out::Surplus)
                .concat(
                    corrections
                        .suppressions
                        .map(|(group, event)| Out::Suppress(group, event)),
                )
                .concat(corrections.conflicts.map(Out::Conflict))
        })
        .into_iter()
        .collect()
    }

    #[test]
    fn an_event_seen_once_needs_no_correction() {
        let out = corrections(vec![
            vec![(1, copy(1, 7, 3, 60)), (2, copy(1, 7, 3, 60))],
            vec![(3, copy(2, 8, 3, 5))],
        ]);
        assert_eq!(out, vec![]);
    }

    #[test]
    fn identical_copies_leave_all_but_one_as_surplus() {
        let out = corrections(vec![
            vec![(1, copy(1, 7, 3, 60)), (1, copy(1, 7, 3, 60))],
            vec![(1, copy(1, 7, 3, 60))],
        ]);
        assert_eq!(out, vec![(Out::Surplus(copy(1, 7, 3, 60)), 2)]);
    }

    #[test]
    fn the_earliest_copy_wins_and_other_days_are_suppressed() {
        // Hours 1 and 30 from the start fall on different Chicago days; the
        // later copy arrives first.
        let (early, late) = (copy(1, 7, 3, 60), copy(30, 7, 3, 50));
        let late_day = Calendar::central().day_of(late.time);
        let out = corrections(vec![vec![(1, late.clone())], vec![(1, early)]]);
        assert_eq!(
            out,
            vec![
                (Out::Surplus(late), 1),
                (Out::Suppress((7, late_day), 1), 1),
                (Out::Conflict(1), 1),
            ]
        );
    }

    #[test]
    fn copies_differing_within_one_subscriber_day_are_surplus_only() {
        // Same subscriber, same day, different content: engagement settles
        // the day itself, profit still drops the later copy.
        let (kept, other) = (copy(1, 7, 3, 60), copy(2, 7, 4, 60));
        let out = corrections(vec![vec![(1, other.clone()), (1, kept)]]);
        assert_eq!(out, vec![(Out::Surplus(other), 1)]);
    }
}
