//! Deduplication of event feeds by `event_id`.
//!
//! Records sharing an `event_id` are copies of one event and count once.
//! Producers are meant to send identical payloads; when they do not, one
//! payload must still win, and it must win whatever order the copies arrive
//! in, so that every batch order gives the same tables. The winner is the
//! least payload in the record's own ordering (for viewing: earliest
//! `event_time`, then the other fields), and the event is reported as a
//! conflicting duplicate.

use differential_dataflow::{ExchangeData, Hashable, VecCollection};

use crate::Time;

/// Keeps one record per event id; also returns the ids whose copies carry
/// different payloads.
pub fn dedup_by_event_id<'s, T, K, D>(
    records: VecCollection<'s, T, (K, D)>,
) -> (VecCollection<'s, T, D>, VecCollection<'s, T, K>)
where
    T: Time,
    K: ExchangeData + Hashable,
    D: ExchangeData,
{
    let decided = records.reduce_named("DedupByEventId", |_id, copies: &[(&D, isize)], output: &mut Vec<((D, bool), isize)>| {
        // `copies` is sorted: the first is the least payload.
        let conflicting = copies.len() > 1;
        output.push(((copies[0].0.clone(), conflicting), 1));
    });
    let conflicts = decided.clone().filter(|(_id, (_record, conflicting))| *conflicting).map(|(id, _)| id);
    let kept = decided.map(|(_id, (record, _conflicting))| record);
    (kept, conflicts)
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    #[test]
    fn keeps_one_copy_and_reports_differing_payloads() {
        let (kept, conflicts) = timely::execute_directly(|worker| {
            let (kept_tx, kept_rx) = std::sync::mpsc::channel();
            let (conf_tx, conf_rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_collection::<(u32, (u64, char)), isize>();
                let (kept, conflicts) = dedup_by_event_id(records);
                kept.consolidate().inner.capture_into(kept_tx);
                conflicts.consolidate().inner.capture_into(conf_tx);
                input
            });
            // Event 1 arrives three times identically, event 2 twice with
            // different payloads, the later copy first.
            for record in [(1, (10, 'a')), (2, (30, 'z')), (1, (10, 'a')), (2, (20, 'b')), (1, (10, 'a'))] {
                input.insert(record);
            }
            input.advance_to(1);
            input.close();
            while worker.step() {}
            (kept_rx, conf_rx)
        });
        let kept: Vec<_> = kept.extract().into_iter().flat_map(|(_, v)| v).map(|(d, _, r)| (d, r)).collect();
        assert_eq!(kept, vec![((10, 'a'), 1), ((20, 'b'), 1)]);
        let conflicts: Vec<_> = conflicts.extract().into_iter().flat_map(|(_, v)| v).map(|(d, _, r)| (d, r)).collect();
        assert_eq!(conflicts, vec![(2, 1)]);
    }
}
