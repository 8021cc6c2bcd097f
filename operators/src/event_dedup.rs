//! One record per `event_id`, for the event feeds other than viewing.
//!
//! Records sharing an `event_id` are copies of one event and count once.
//! Identical copies consolidate on their own; when copies differ, the
//! least copy in the record's field order is kept (for records with an
//! `event_time`, the earliest copy, as engagement does for viewing), and
//! the event is reported as a conflicting duplicate. Record types of the model derive `Ord` with
//! `event_id` first and `event_time` second, so among copies of one event
//! the least record is the earliest one, ties settled by a fixed order of
//! the other fields: the winner never depends on the order copies arrive
//! in (growth's subscriptions, profit's money feeds and the experiment
//! assignments all rely on it).
//!
//! The state is one arrangement of the feed's records keyed by event id;
//! a new copy recomputes its own event only. Viewing, whose volume calls
//! for a leaner state, has its own deduplication (see [`crate::watch`]).

use differential_dataflow::{ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use streamflix_model::{Fingerprint, fingerprint};

use crate::Time;

/// What the deduplication decides for one event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Ruling<R> {
    Keep(R),
    /// The copies differ.
    Conflict,
}

/// A feed with one record per event.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Deduplicated<'s, T: Time, R: 'static> {
    pub events: VecCollection<'s, T, R>,
    /// Fingerprints of the event ids whose copies differ.
    pub conflicting: VecCollection<'s, T, Fingerprint>,
}

/// Keeps one copy of each event, keyed by `event_id(record)`.
pub fn dedup_events<'s, T, R, F>(
    name: &str,
    records: VecCollection<'s, T, R>,
    event_id: F,
) -> Deduplicated<'s, T, R>
where
    T: Time,
    R: ExchangeData,
    F: Fn(&R) -> &str + 'static,
{
    let rulings = records
        .map(move |record| (fingerprint(event_id(&record)), record))
        .reduce_named(
            name,
            |_event, copies: &[(&R, isize)], output: &mut Vec<(Ruling<R>, isize)>| {
                // Sorted: the first copy is the least.
                output.push((Ruling::Keep(copies[0].0.clone()), 1));
                if copies.len() > 1 {
                    output.push((Ruling::Conflict, 1));
                }
            },
        );
    let events = rulings.clone().flat_map(|(_, ruling)| match ruling {
        Ruling::Keep(record) => Some(record),
        Ruling::Conflict => None,
    });
    let conflicting =
        rulings.flat_map(|(event, ruling)| (ruling == Ruling::Conflict).then_some(event));
    Deduplicated {
        events,
        conflicting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn copies_count_once_and_differing_copies_keep_the_least() {
        // (event_id, time, amount)
        let batches = vec![
            vec![
                ("a".to_string(), 5u32, 10u32),
                ("a".to_string(), 5, 10),
                ("b".to_string(), 9, 1),
            ],
            vec![("b".to_string(), 3, 2), ("c".to_string(), 1, 1)],
        ];
        let out = run(batches, |records| {
            let dedup = dedup_events("Test", records, |(id, _, _)| id.as_str());
            dedup
                .events
                .map(|(id, time, amount)| (id, time, amount, false))
                .concat(
                    dedup
                        .conflicting
                        .map(|event| (format!("{event:x}"), 0, 0, true)),
                )
        });
        let kept: Vec<_> = out
            .iter()
            .filter(|((_, _, _, conflict), _)| !conflict)
            .map(|((id, time, amount, _), count)| (id.as_str(), *time, *amount, *count))
            .collect();
        assert_eq!(kept, vec![("a", 5, 10, 1), ("b", 3, 2, 1), ("c", 1, 1, 1)]);
        let conflicts: Vec<_> = out.keys().filter(|(_, _, _, c)| *c).collect();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].0, format!("{:x}", fingerprint("b")));
    }
}
