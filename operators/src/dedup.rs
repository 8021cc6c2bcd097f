//! Deduplication of events whose copies fall into different subscriber-days.
//!
//! Records sharing an `event_id` are copies of one event and count once.
//! Producers are meant to send identical payloads; then every copy lands in
//! the same (subscriber, day) group, where [`crate::subscriber_day`] keeps
//! one. When copies disagree on the subscriber or on the day, they land in
//! different groups, and this operator settles which group keeps the event:
//! the copy with the earliest `event_time` (then the least subscriber
//! fingerprint) wins, whatever order the copies arrive in, and every other
//! group receives a suppression for that event.
//!
//! The state is one small placement per event, keyed by the event's
//! fingerprint; the output is empty unless copies conflict.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::{Day, Fingerprint, Instant};

use crate::Time;

/// Where one copy of an event places it.
pub type Placement = (Instant, Fingerprint, Day);

/// What the dedup decides for a conflicting event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Ruling {
    /// The copies disagree.
    Conflict,
    /// This (subscriber, day) must drop the event.
    Suppress(Fingerprint, Day),
}

/// For events placed in more than one subscriber-day: the suppressions,
/// `((subscriber, day), event)`, and the conflicting events.
#[allow(clippy::type_complexity)] // two plain collections
pub fn cross_day_duplicates<'s, T: Time>(
    placements: VecCollection<'s, T, (Fingerprint, Placement)>,
) -> (
    VecCollection<'s, T, ((Fingerprint, Day), Fingerprint)>,
    VecCollection<'s, T, Fingerprint>,
) {
    let rulings = placements.reduce_named(
        "CrossDayDuplicates",
        |_event, copies: &[(&Placement, isize)], output: &mut Vec<(Ruling, isize)>| {
            // Sorted: the first copy is the earliest, and it wins.
            let (_, winner_subscriber, winner_day) = *copies[0].0;
            let mut losers: Vec<(Fingerprint, Day)> = copies
                .iter()
                .map(|(placement, _)| (placement.1, placement.2))
                .filter(|group| *group != (winner_subscriber, winner_day))
                .collect();
            if losers.is_empty() {
                return;
            }
            losers.sort();
            losers.dedup();
            output.push((Ruling::Conflict, 1));
            output.extend(
                losers
                    .into_iter()
                    .map(|(subscriber, day)| (Ruling::Suppress(subscriber, day), 1)),
            );
        },
    );
    let suppressions = rulings.clone().flat_map(|(event, ruling)| match ruling {
        Ruling::Suppress(subscriber, day) => Some(((subscriber, day), event)),
        Ruling::Conflict => None,
    });
    let conflicts =
        rulings.flat_map(|(event, ruling)| (ruling == Ruling::Conflict).then_some(event));
    (suppressions, conflicts)
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    #[test]
    fn only_conflicting_placements_produce_rulings() {
        let (suppressed, conflicts) = timely::execute_directly(|worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (ctx, crx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, placements) = scope.new_collection::<(Fingerprint, Placement), isize>();
                let (suppressions, conflicts) = cross_day_duplicates(placements);
                suppressions.consolidate().inner.capture_into(tx);
                conflicts.consolidate().inner.capture_into(ctx);
                input
            });
            let (early, late) = (Instant::from_seconds(10), Instant::from_seconds(20));
            // Event 1: identical copies. Event 2: copies on two days, the
            // later one arriving first.
            for record in [
                (1, (early, 7, Day(1))),
                (1, (early, 7, Day(1))),
                (2, (late, 7, Day(2))),
                (2, (early, 7, Day(1))),
            ] {
                input.insert(record);
            }
            input.advance_to(1);
            input.close();
            while worker.step() {}
            (rx, crx)
        });
        let suppressed: Vec<_> = suppressed
            .extract()
            .into_iter()
            .flat_map(|(_, v)| v)
            .map(|(d, _, r)| (d, r))
            .collect();
        assert_eq!(suppressed, vec![(((7, Day(2)), 2), 1)]);
        let conflicts: Vec<_> = conflicts
            .extract()
            .into_iter()
            .flat_map(|(_, v)| v)
            .map(|(d, _, r)| (d, r))
            .collect();
        assert_eq!(conflicts, vec![(2, 1)]);
    }
}
