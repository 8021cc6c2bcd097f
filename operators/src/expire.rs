//! Facts that leave the state when nothing can need them any more.
//!
//! Differential's arrangements drop a record only when its updates cancel.
//! Scheduling each record's retraction in advance (an insertion now and a
//! retraction at a future epoch) does that, but every scheduled retraction
//! then waits in the batchers and arrangements it passes through until its
//! epoch comes: on long inputs that held more memory than the records
//! themselves. This operator retracts instead at the moment it is due:
//! records pass through unchanged, and each is counted here, in a bucket
//! of its expiry epoch (`expires_at(record)`). When the input frontier has
//! passed a bucket's epoch, every record still counted in it is retracted
//! at the frontier, and the bucket is dropped. Downstream the retraction
//! meets the record at an epoch that is about to complete, so the two
//! cancel at the next compaction.
//!
//! Records are exchanged by their hash, so that a record's insertions and
//! retractions meet in one bucket. The state is one count per distinct
//! record still to expire: put this operator where records are already
//! compact facts (one summary per subscriber-day, watch time per content,
//! subscriber and month), not on raw events.
//!
//! What changes downstream when a record expires is the figure of a period
//! that is frozen by then: the engine's sink ignores it. When the input
//! ends nothing is retracted.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use differential_dataflow::hashable::Hashable;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::Time;

/// Counts per distinct record of one expiry epoch.
type Bucket<D> = HashMap<D, isize, foldhash::fast::RandomState>;

/// Passes `records` through, and retracts each once the frontier has
/// passed `expires_at(record)`.
pub fn expire<'s, T, D, F>(
    name: &str,
    records: VecCollection<'s, T, D>,
    expires_at: F,
) -> VecCollection<'s, T, D>
where
    T: Time,
    D: ExchangeData + Hash + Eq,
    F: Fn(&D) -> T + 'static,
{
    let exchange = Exchange::new(|(record, _, _): &(D, T, isize)| record.hashed());
    records
        .inner
        .unary_frontier::<CapacityContainerBuilder<Vec<(D, T, isize)>>, _, _, _>(
            exchange,
            name,
            |_capability, _info| {
                let mut buckets: BTreeMap<T, Bucket<D>> = BTreeMap::new();
                // Held while any bucket waits: at the input frontier, where
                // the retractions will be emitted.
                let mut held: Option<Capability<T>> = None;
                move |(input, frontier), output| {
                    input.for_each(|capability, updates| {
                        // A message without a time makes no claim: nothing
                        // to pass on or count.
                        let Some(capability) = capability.retain_least(0) else {
                            return;
                        };
                        if held
                            .as_ref()
                            .is_none_or(|held| capability.time() < held.time())
                        {
                            held = Some(capability.clone());
                        }
                        for (record, _, diff) in updates.iter() {
                            let bucket = buckets.entry(expires_at(record)).or_default();
                            let count = bucket.entry(record.clone()).or_insert(0);
                            *count += diff;
                            if *count == 0 {
                                bucket.remove(record);
                            }
                        }
                        output.session(&capability).give_container(updates);
                    });
                    let Some(now) = frontier.frontier().first().cloned() else {
                        // The input has ended: nothing more to retract.
                        buckets.clear();
                        held = None;
                        return;
                    };
                    if let Some(capability) = held.as_mut()
                        && capability.time() < &now
                    {
                        capability.downgrade(&now);
                    }
                    while let Some(due) = buckets.first_entry() {
                        if frontier.less_equal(due.key()) {
                            break;
                        }
                        let bucket = due.remove();
                        let capability = held
                            .as_ref()
                            .expect("a capability is held while buckets wait");
                        let at = capability.time().clone();
                        let mut session = output.session(capability);
                        for (record, count) in bucket {
                            session.give((record, at.clone(), -count));
                        }
                    }
                    if buckets.is_empty() {
                        held = None;
                    }
                }
            },
        )
        .as_collection()
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::Capture;

    use super::*;
    use crate::testing::sorted_updates;

    #[test]
    fn records_are_retracted_once_their_epoch_has_passed() {
        let captured = timely::execute_directly(|worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<u64, isize>();
                expire("Expire", records, |value| value + 10)
                    .consolidate()
                    .inner
                    .capture_into(tx);
                input
            });
            input.advance_to(5);
            input.insert(3); // expires at 13
            input.insert(1); // expires at 11
            input.insert(1);
            input.advance_to(8);
            input.remove(1); // one copy of 1 left
            input.insert(7); // expires at 17
            input.advance_to(12);
            input.flush();
            for _ in 0..20 {
                worker.step();
            }
            input.advance_to(15);
            input.flush();
            for _ in 0..20 {
                worker.step();
            }
            input.close();
            while worker.step() {}
            rx
        });
        // 1 leaves when the frontier reaches 12 (past 11), 3 at 15 (past
        // 13); 7 is still counted when the input ends.
        assert_eq!(
            sorted_updates(captured),
            vec![
                (1, 5, 2),
                (1, 8, -1),
                (1, 12, -1),
                (3, 5, 1),
                (3, 15, -1),
                (7, 8, 1)
            ]
        );
    }
}
