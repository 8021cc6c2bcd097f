//! Summing equal records where they are produced, before any exchange.
//!
//! A collection whose differences carry amounts (watch time per content,
//! subscriber and month, say) is summed by differential's arrangement, but
//! only after every record has been exchanged and sorted there. When many
//! records of one batch share a key (a subscriber's heartbeats on one
//! title), adding them up first, in a hash map over what a worker receives
//! at once, sends one record per key instead of one per event: on the
//! generator's viewing, batches of 4,096 events hold about a seventh as
//! many (content, subscriber, month) keys.
//!
//! The sum of updates is itself a valid set of updates, so nothing waits
//! for a frontier: records of the batch's own epoch are summed, any record
//! scheduled for a later epoch (a retirement) passes through as it is.

use std::collections::HashMap;
use std::hash::Hash;

use differential_dataflow::{AsCollection, Data, VecCollection};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::Time;

/// `records`, with the differences of equal records received together
/// (at one epoch) added up; records whose sum is zero are dropped.
pub fn presum<'s, T, D>(name: &str, records: VecCollection<'s, T, D>) -> VecCollection<'s, T, D>
where
    T: Time,
    D: Data + Hash + Eq,
{
    records
        .inner
        .unary::<CapacityContainerBuilder<Vec<(D, T, isize)>>, _, _, _>(
            Pipeline,
            name,
            |_capability, _info| {
                let mut sums: HashMap<D, isize, foldhash::fast::RandomState> = HashMap::default();
                let mut later: Vec<(D, T, isize)> = Vec::new();
                move |input, output| {
                    input.for_each_stamp(|capability, containers| {
                        let Some(epoch) = capability.least().cloned() else {
                            return;
                        };
                        for container in containers {
                            for (record, time, diff) in container.drain(..) {
                                if time == epoch {
                                    *sums.entry(record).or_insert(0) += diff;
                                } else {
                                    later.push((record, time, diff));
                                }
                            }
                        }
                        let mut session = output.session(&capability);
                        for (record, diff) in sums.drain() {
                            if diff != 0 {
                                session.give((record, epoch.clone(), diff));
                            }
                        }
                        drop(session);
                        for (record, time, diff) in later.drain(..) {
                            let at = capability.delayed(&time, 0);
                            output.session(&at).give((record, time, diff));
                        }
                    });
                }
            },
        )
        .as_collection()
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use proptest::prelude::*;
    use timely::dataflow::operators::capture::Capture;

    use super::*;
    use crate::testing::{retire, sorted_updates};

    type Updates = Vec<((u8, u64), u64, isize)>;

    /// The updates after `presum` and without it (both consolidated), for
    /// batches of (record, diff), each record retired `delay` epochs after
    /// it arrives; and how many updates `presum` emitted.
    fn with_and_without(batches: Vec<Vec<(u8, isize)>>, delay: u64) -> (Updates, Updates, usize) {
        let (summed, plain, raw) = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (plain_tx, plain_rx) = std::sync::mpsc::channel();
            let (raw_tx, raw_rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<(u8, u64), isize>();
                let records = retire(records, move |(_, arrived)| arrived + delay);
                let summed = presum("Test", records.clone());
                summed.clone().inner.capture_into(raw_tx);
                summed.consolidate().inner.capture_into(tx);
                records.consolidate().inner.capture_into(plain_tx);
                input
            });
            for (epoch, batch) in batches.into_iter().enumerate() {
                input.advance_to(epoch as u64);
                for (record, diff) in batch {
                    input.update((record, epoch as u64), diff);
                }
            }
            input.close();
            while worker.step() {}
            (rx, plain_rx, raw_rx)
        });
        (
            sorted_updates(summed),
            sorted_updates(plain),
            sorted_updates(raw).len(),
        )
    }

    #[test]
    fn equal_records_of_a_batch_become_one() {
        let (summed, plain, emitted) = with_and_without(
            vec![vec![(1, 1), (1, 1), (1, 1), (2, 1), (3, 1), (3, -1)]],
            5,
        );
        assert_eq!(summed, plain);
        // (1, 0) three times becomes one update, (3, 0) cancels; each
        // retirement five epochs on passes through as it is.
        assert_eq!(
            summed,
            vec![
                ((1, 0), 0, 3),
                ((1, 0), 5, -3),
                ((2, 0), 0, 1),
                ((2, 0), 5, -1)
            ]
        );
        assert_eq!(emitted, 2 + 6);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn summing_first_changes_no_update(
            batches in prop::collection::vec(
                prop::collection::vec((0u8..5, prop_oneof![Just(1isize), Just(-1), Just(3)]), 0..20),
                1..5,
            ),
            delay in 1u64..3,
        ) {
            let (summed, plain, _) = with_and_without(batches, delay);
            prop_assert_eq!(summed, plain);
        }
    }
}
