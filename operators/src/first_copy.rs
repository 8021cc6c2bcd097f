//! One copy per `event_id` for event feeds that are not viewing.
//!
//! Records sharing an `event_id` are copies of one event and count once.
//! Producers are meant to send identical payloads; when they do not, the
//! engine keeps one copy and reports the event as a conflicting duplicate.
//! The rule is the one engagement applies to viewing (see [`crate::dedup`]):
//! the copy with the earliest `event_time` wins, and ties are settled by a
//! fixed order of the other fields, so the winner never depends on the
//! order copies arrive in. Record types of the model derive `Ord` with
//! `event_id` first and `event_time` second, so among copies of one event
//! the least record is exactly that winner.
//!
//! Viewing has its own operator because its copies are grouped per
//! subscriber-day for speed; the feeds deduplicated here are small, so one
//! reduction per event is simpler and costs one record of state per event.

use differential_dataflow::{ExchangeData, VecCollection};
use streamflix_model::Fingerprint;

use crate::Time;

/// Keeps the least copy of each event (`records` are keyed by the
/// fingerprint of their `event_id`); returns the winners and the events
/// whose copies differ.
#[allow(clippy::type_complexity)] // two plain collections
pub fn first_copies<'s, T, D>(
    name: &str,
    records: VecCollection<'s, T, (Fingerprint, D)>,
) -> (VecCollection<'s, T, D>, VecCollection<'s, T, Fingerprint>)
where
    T: Time,
    D: ExchangeData,
{
    let rulings = records.reduce_named(
        name,
        |_event, copies: &[(&D, isize)], output: &mut Vec<(Option<D>, isize)>| {
            // Sorted: the first copy is the least, and it wins.
            output.push((Some(copies[0].0.clone()), 1));
            if copies.len() > 1 {
                output.push((None, 1));
            }
        },
    );
    let winners = rulings.clone().flat_map(|(_, winner)| winner);
    let conflicts = rulings.flat_map(|(event, winner)| winner.is_none().then_some(event));
    (winners, conflicts)
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    #[test]
    fn the_least_copy_wins_whatever_the_arrival_order() {
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let (winners, conflicts) = timely::execute_directly(move |worker| {
                let (tx, rx) = std::sync::mpsc::channel();
                let (ctx, crx) = std::sync::mpsc::channel();
                let mut input = worker.dataflow::<u64, _, _>(|scope| {
                    let (input, records) = scope.new_collection::<(Fingerprint, (u8, u8)), isize>();
                    let (winners, conflicts) = first_copies("Test", records);
                    winners.consolidate().inner.capture_into(tx);
                    conflicts.consolidate().inner.capture_into(ctx);
                    input
                });
                // Event 1: identical copies. Event 2: copies that differ,
                // (time 5) earlier than (time 9).
                let copies = [(1, (4, 0)), (1, (4, 0)), (2, (9, 1)), (2, (5, 7))];
                for index in order {
                    input.insert(copies[index]);
                    input.advance_to(input.time() + 1);
                }
                input.close();
                while worker.step() {}
                (rx, crx)
            });
            let mut winners: Vec<_> = winners
                .extract()
                .into_iter()
                .flat_map(|(_, v)| v)
                .collect::<Vec<_>>();
            // Only the final state matters here.
            let mut total = std::collections::BTreeMap::new();
            for (record, _, diff) in winners.drain(..) {
                *total.entry(record).or_insert(0isize) += diff;
            }
            total.retain(|_, diff| *diff != 0);
            assert_eq!(
                total.into_iter().collect::<Vec<_>>(),
                vec![((4, 0), 1), ((5, 7), 1)]
            );
            let mut conflicted = std::collections::BTreeMap::new();
            for (event, _, diff) in conflicts.extract().into_iter().flat_map(|(_, v)| v) {
                *conflicted.entry(event).or_insert(0isize) += diff;
            }
            conflicted.retain(|_, diff| *diff != 0);
            assert_eq!(conflicted.into_iter().collect::<Vec<_>>(), vec![(2, 1)]);
        }
    }
}
