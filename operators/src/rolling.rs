//! Rolling windows of distinct subscribers (WAU, MAU).
//!
//! A subscriber active on day `d` counts towards every window of `width`
//! days that ends on `d ..= d + width - 1`. Expanding every active day into
//! its `width` window ends and keeping distinct pairs works, but it moves
//! `width` records per active day, most of them repeats for subscribers who
//! come back often. Instead days are cut into blocks of `width` days, and
//! one reduction per (subscriber, block) emits each window end of the block
//! that the subscriber covers, exactly once: the covering days are the
//! subscriber's active days in the block, plus the last active day of the
//! previous block, carried forward (no earlier day reaches this block).
//! Work per update is bounded by the block, and the output is already
//! distinct: one record per (window end, subscriber) covered.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::{Day, Fingerprint};

use crate::Time;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Cover {
    /// The last active day of the previous block.
    Carried(Day),
    /// An active day of this block.
    Own(Day),
}

/// One `window end` record per (window end, subscriber) such that the
/// subscriber was active in the `width` days ending there. `width` is at
/// most 64.
pub fn rolling_window_ends<'s, T: Time>(
    active: VecCollection<'s, T, (Day, Fingerprint)>,
    width: i32,
) -> VecCollection<'s, T, Day> {
    assert!((1..=64).contains(&width), "window widths are 1 to 64 days");
    let block_of = move |day: Day| day.0.div_euclid(width);
    let own = active.map(move |(day, subscriber)| ((subscriber, block_of(day)), Cover::Own(day)));
    let carried = own
        .clone()
        .reduce_named(
            "LastActiveDayOfBlock",
            |_key, days: &[(&Cover, isize)], output: &mut Vec<(Day, isize)>| {
                if let Cover::Own(last) = days[days.len() - 1].0 {
                    output.push((*last, 1));
                }
            },
        )
        .map(|((subscriber, block), last)| ((subscriber, block + 1), Cover::Carried(last)));
    // The covered ends of a block travel as one bit mask per (subscriber,
    // block), which keeps the reduction's output arrangement small.
    own.concat(carried)
        .reduce_named(
            "WindowEndsOfBlock",
            move |(_subscriber, block),
                  covers: &[(&Cover, isize)],
                  output: &mut Vec<(u64, isize)>| {
                let first = block * width;
                let mut mask = 0u64;
                for (cover, _) in covers {
                    let day = match cover {
                        Cover::Carried(day) | Cover::Own(day) => day.0,
                    };
                    // Ends day ..= day + width - 1, clipped to this block.
                    let from = (day - first).max(0);
                    let to = (day - first + width - 1).min(width - 1);
                    for offset in from..=to {
                        mask |= 1 << offset;
                    }
                }
                output.push((mask, 1));
            },
        )
        .flat_map(move |((_subscriber, block), mask)| {
            (0..width)
                .filter(move |offset| mask & (1 << offset) != 0)
                .map(move |offset| Day(block * width + offset))
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use differential_dataflow::input::Input;
    use proptest::prelude::*;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    fn window_counts(active: &[(i32, u128)], width: i32) -> BTreeMap<i32, isize> {
        let active = active.to_vec();
        let captured = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, days) = scope.new_collection::<(Day, Fingerprint), isize>();
                rolling_window_ends(days.distinct(), width)
                    .consolidate()
                    .inner
                    .capture_into(tx);
                input
            });
            for (day, subscriber) in active {
                input.insert((Day(day), subscriber));
            }
            input.advance_to(1);
            input.close();
            while worker.step() {}
            rx
        });
        let mut counts = BTreeMap::new();
        for (end, _, diff) in captured.extract().into_iter().flat_map(|(_, v)| v) {
            *counts.entry(end.0).or_insert(0) += diff;
        }
        counts.retain(|_, count| *count != 0);
        counts
    }

    fn expected(active: &[(i32, u128)], width: i32) -> BTreeMap<i32, isize> {
        let mut counts = BTreeMap::new();
        let (Some(min), Some(max)) = (
            active.iter().map(|a| a.0).min(),
            active.iter().map(|a| a.0).max(),
        ) else {
            return counts;
        };
        for end in min..=max + width - 1 {
            let subscribers: std::collections::BTreeSet<_> = active
                .iter()
                .filter(|(day, _)| *day <= end && *day > end - width)
                .map(|(_, s)| *s)
                .collect();
            if !subscribers.is_empty() {
                counts.insert(end, subscribers.len() as isize);
            }
        }
        counts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn equals_distinct_subscribers_per_window(
            active in proptest::collection::vec((-40i32..80, 0u128..5), 0..40),
            width in prop_oneof![Just(7), Just(30), 1i32..10],
        ) {
            prop_assert_eq!(window_counts(&active, width), expected(&active, width));
        }
    }
}
