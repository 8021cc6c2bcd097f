//! Subscribers active at the end of each day, over the whole history.
//!
//! The lifecycle reports, per subscriber, the days on which it becomes
//! active at the day's end and the days on which it stops being so. The
//! number active at the end of day `d` is the number of starts on or before
//! `d` minus the number of stops on or before `d`: a running sum over days.
//!
//! The starts and stops of all subscribers are first consolidated into one
//! net count per day (differential adds them up), so the running sum sees
//! one record per day that had a change, never one per subscriber. It is
//! one reduction over a single key: when any day's net count changes, it
//! re-adds the days, O(days of history) per batch of changes, whatever the
//! number of subscribers. That is the size of the answer anyway: a late
//! change on day `d` changes the figure of every day after `d`.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::Day;

use crate::Time;

/// A change to the number of active subscribers, or how far to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Mark {
    /// Active from the end of this day (one record per subscriber).
    Start(Day),
    /// Inactive from the end of this day (one record per subscriber).
    Stop(Day),
    /// Report every day up to this one.
    Through(Day),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Net {
    Change,
    Through,
}

/// `(day, active at its end)` for every day from the first change to the
/// greatest `Through`, where the count is not zero.
pub fn active_at_day_end<'s, T: Time>(
    marks: VecCollection<'s, T, Mark>,
) -> VecCollection<'s, T, (Day, i64)> {
    // Starts count +1 and stops -1 in the difference, so that the records
    // of one day consolidate into one net change.
    let net = marks.explode(|mark| match mark {
        Mark::Start(day) => Some((((), (day, Net::Change)), 1isize)),
        Mark::Stop(day) => Some((((), (day, Net::Change)), -1)),
        Mark::Through(day) => Some((((), (day, Net::Through)), 1)),
    });
    net.reduce_named(
        "ActiveAtDayEnd",
        |_unit, days: &[(&(Day, Net), isize)], output: &mut Vec<((Day, i64), isize)>| {
            output
                .extend(running_sums(days.iter().map(|((day, net), count)| {
                    (*day, *net == Net::Through, *count)
                })));
        },
    )
    .map(|((), day_count)| day_count)
}

/// The running sum of net changes `(day, is_through, count)` sorted by
/// day, for every day from the first to the last day or greatest through,
/// where it is not zero.
fn running_sums(days: impl Iterator<Item = (Day, bool, isize)>) -> Vec<((Day, i64), isize)> {
    let mut output = Vec::new();
    let mut days = days.peekable();
    let Some(&(first, _, _)) = days.peek() else {
        return output;
    };
    let mut changes = Vec::new();
    let mut last = first;
    for (day, through, count) in days {
        last = last.max(day);
        if !through {
            changes.push((day, count as i64));
        }
    }
    let mut changes = changes.into_iter().peekable();
    let mut active = 0i64;
    for day in (first.0..=last.0).map(Day) {
        while let Some((_, count)) = changes.next_if(|(at, _)| *at == day) {
            active += count;
        }
        if active != 0 {
            output.push(((day, active), 1));
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_sums_cover_every_day_through_the_last_mark() {
        let sums = running_sums(
            [
                (Day(1), false, 2),
                (Day(3), false, -1),
                (Day(4), false, -1),
                (Day(4), true, 1),
                (Day(6), true, 1),
            ]
            .into_iter(),
        );
        // Day 1: 2 start; day 3: one stops; day 4: the other stops.
        assert_eq!(
            sums,
            vec![((Day(1), 2), 1), ((Day(2), 2), 1), ((Day(3), 1), 1)]
        );
        let open = running_sums([(Day(2), false, 1), (Day(5), true, 1)].into_iter());
        assert_eq!(
            open,
            vec![
                ((Day(2), 1), 1),
                ((Day(3), 1), 1),
                ((Day(4), 1), 1),
                ((Day(5), 1), 1)
            ]
        );
        assert!(running_sums(std::iter::empty()).is_empty());
    }
}
