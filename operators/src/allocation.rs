//! Content-cost allocation: a partner's cost for a month, shared among the
//! month's billed subscribers in proportion to their watch time on the
//! partner's content.
//!
//! Rule (exact, and the oracle follows it): subscriber `s` with watch time
//! `w_s` of the partner's total `W` (billed subscribers only, in
//! microseconds) receives `cost x w_s / W` micro-dollars, computed in
//! 128-bit integers and rounded half to even once. What the rounded shares
//! leave of the cost (less than half a micro-dollar per watcher, or the
//! whole cost when no billed subscriber watched the partner) is
//! *unallocated*, so shares plus unallocated always equal the partner's
//! cost to the micro-dollar.
//!
//! Inputs carry their amounts in the difference: watch time on a
//! `((partner, month), subscriber)` record, cost on a `(partner, month)`
//! record. The reduction is keyed by (partner, month): a change recomputes
//! that partner's month, whose shares all move with its total watch time
//! anyway.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::{Fingerprint, Id, Micros, Month};

use crate::Time;
use crate::currency::div_half_even;

/// A partner and a month.
pub type PartnerMonth = (Id, Month);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    Cost,
    Watch(Fingerprint),
}

/// The outcome of one partner's month.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Allocation {
    /// A subscriber's share.
    Share(Fingerprint, Micros),
    /// What was not allocated.
    Unallocated(Micros),
}

/// Shares each partner's monthly cost among its billed watchers.
///
/// `watch`: `((partner, month), subscriber)` with watch microseconds in
/// the difference, billed subscribers only; `cost`: `(partner, month)`
/// with micro-dollars in the difference.
pub fn allocate<'s, T: Time>(
    watch: VecCollection<'s, T, (PartnerMonth, Fingerprint)>,
    cost: VecCollection<'s, T, PartnerMonth>,
) -> VecCollection<'s, T, (PartnerMonth, Allocation)> {
    let parts = watch
        .map(|(key, subscriber)| (key, Part::Watch(subscriber)))
        .concat(cost.map(|key| (key, Part::Cost)));
    parts.reduce_named(
        "AllocateContentCost",
        |_key, parts: &[(&Part, isize)], output: &mut Vec<(Allocation, isize)>| {
            output.extend(shares(parts).into_iter().map(|share| (share, 1)));
        },
    )
}

/// One partner-month's allocation from its cost and watch totals.
fn shares(parts: &[(&Part, isize)]) -> Vec<Allocation> {
    let cost: i128 = parts
        .iter()
        .filter(|(part, _)| **part == Part::Cost)
        .map(|(_, total)| *total as i128)
        .sum();
    let watchers: Vec<(Fingerprint, i128)> = parts
        .iter()
        .filter_map(|(part, total)| match part {
            Part::Watch(subscriber) if *total > 0 => Some((*subscriber, *total as i128)),
            _ => None,
        })
        .collect();
    let watched: i128 = watchers.iter().map(|(_, watch)| watch).sum();
    let mut result = Vec::new();
    let mut allocated = 0i128;
    if watched > 0 && cost != 0 {
        for (subscriber, watch) in watchers {
            let share = div_half_even(cost * watch, watched);
            if share != 0 {
                allocated += share;
                result.push(Allocation::Share(subscriber, micros(share)));
            }
        }
    }
    if cost - allocated != 0 {
        result.push(Allocation::Unallocated(micros(cost - allocated)));
    }
    result
}

/// Sums of i64 amounts fit an i64 wherever the inputs' own sums do.
fn micros(value: i128) -> Micros {
    Micros(i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_once;

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    enum In {
        Watch(String, u128, i64),
        Cost(String, i64),
    }

    fn allocate_all(input: Vec<In>) -> Vec<(String, Allocation)> {
        let out = run_once(input, |records| {
            let month = Month::parse("2026-10").unwrap();
            let watch = records.clone().explode(move |record| match record {
                In::Watch(partner, subscriber, micros) => Some((
                    ((Id::from(partner.as_str()), month), subscriber),
                    micros as isize,
                )),
                In::Cost(..) => None,
            });
            let cost = records.explode(move |record| match record {
                In::Cost(partner, micros) => {
                    Some(((Id::from(partner.as_str()), month), micros as isize))
                }
                In::Watch(..) => None,
            });
            allocate(watch, cost)
        });
        out.into_iter()
            .map(|(((partner, _), allocation), count)| {
                assert_eq!(count, 1);
                (partner.to_string(), allocation)
            })
            .collect()
    }

    #[test]
    fn cost_follows_watch_time_and_rounding_stays_unallocated() {
        // 10 dollars over watch times 1:1:1: 3.333333 each, 0.000001 left.
        let out = allocate_all(vec![
            In::Cost("p".into(), 10_000_000),
            In::Watch("p".into(), 1, 60),
            In::Watch("p".into(), 2, 60),
            In::Watch("p".into(), 3, 60),
        ]);
        assert_eq!(
            out,
            vec![
                ("p".into(), Allocation::Share(1, Micros(3_333_333))),
                ("p".into(), Allocation::Share(2, Micros(3_333_333))),
                ("p".into(), Allocation::Share(3, Micros(3_333_333))),
                ("p".into(), Allocation::Unallocated(Micros(1))),
            ]
        );
    }

    #[test]
    fn shares_are_proportional_and_exact() {
        // 7 dollars over 1:2:4 watch time.
        let out = allocate_all(vec![
            In::Cost("p".into(), 7_000_000),
            In::Watch("p".into(), 1, 1_000_000),
            In::Watch("p".into(), 2, 2_000_000),
            In::Watch("p".into(), 3, 4_000_000),
        ]);
        assert_eq!(
            out,
            vec![
                ("p".into(), Allocation::Share(1, Micros(1_000_000))),
                ("p".into(), Allocation::Share(2, Micros(2_000_000))),
                ("p".into(), Allocation::Share(3, Micros(4_000_000))),
            ]
        );
    }

    #[test]
    fn without_watchers_the_cost_stays_unallocated() {
        let out = allocate_all(vec![
            In::Cost("p".into(), 5_000_000),
            In::Watch("q".into(), 1, 100),
        ]);
        assert_eq!(
            out,
            vec![("p".into(), Allocation::Unallocated(Micros(5_000_000)))]
        );
    }

    #[test]
    fn watchers_without_cost_receive_nothing() {
        let out = allocate_all(vec![
            In::Watch("q".into(), 1, 100),
            In::Watch("q".into(), 2, 50),
        ]);
        assert!(out.is_empty(), "{out:?}");
    }

    proptest::proptest! {
        /// Shares and unallocated add up to the cost exactly, and no share
        /// is more than half a micro-dollar from the exact proportion.
        #[test]
        fn shares_add_up_to_the_cost(
            cost in 0i64..10_000_000_000,
            watch in proptest::collection::vec(0i64..10_000_000_000, 0..12),
        ) {
            let parts: Vec<(Part, isize)> = std::iter::once((Part::Cost, cost as isize))
                .chain(watch.iter().enumerate().map(|(i, w)| (Part::Watch(i as u128), *w as isize)))
                .filter(|(_, total)| *total != 0)
                .collect();
            let refs: Vec<(&Part, isize)> = parts.iter().map(|(p, t)| (p, *t)).collect();
            let result = shares(&refs);
            let total: i64 = result.iter().map(|a| match a {
                Allocation::Share(_, m) | Allocation::Unallocated(m) => m.0,
            }).sum();
            proptest::prop_assert_eq!(total, cost);
            let watched: i128 = watch.iter().map(|w| *w as i128).sum();
            for allocation in &result {
                if let Allocation::Share(i, share) = allocation {
                    let exact_twice = 2 * cost as i128 * watch[*i as usize] as i128;
                    proptest::prop_assert!((2 * share.0 as i128 * watched - exact_twice).abs() <= watched);
                }
            }
        }
    }
}
