//! Experiment assignments: each subscriber's variant of each experiment.
//!
//! A subscriber's variant in an experiment is the one of its earliest
//! assignment, by `event_time` then `event_id`. A later assignment to
//! another variant is a `conflicting_assignment` issue and is ignored; a
//! later one to the same variant is simply redundant. The variant holds
//! for the subscriber's whole history, whenever the assignment arrived.
//!
//! State: the (deduplicated) assignments of one subscriber and experiment,
//! which a reduction re-reads when one of them changes.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::ExperimentAssignment;
use streamflix_model::{Fingerprint, Id, Instant, fingerprint};

use crate::Time;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Ruling {
    Variant(Id),
    /// An assignment to another variant than the earliest one.
    Conflict,
}

/// The pipeline's view of the assignments.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Variants<'s, T: Time> {
    /// `(subscriber, (experiment_id, variant))`, one per subscriber and
    /// experiment.
    pub variants: VecCollection<'s, T, (Fingerprint, (Id, Id))>,
    /// One record per conflicting assignment.
    pub conflicts: VecCollection<'s, T, ()>,
}

/// Settles each subscriber's variant of each experiment from
/// deduplicated assignments.
pub fn variants<'s, T: Time>(
    assignments: VecCollection<'s, T, ExperimentAssignment>,
) -> Variants<'s, T> {
    let rulings = assignments
        .map(|assignment| {
            (
                (
                    fingerprint(&assignment.subscriber_id),
                    assignment.experiment_id,
                ),
                (
                    assignment.event_time,
                    assignment.event_id,
                    assignment.variant,
                ),
            )
        })
        .reduce_named(
            "Assignments",
            |_key,
             assignments: &[(&(Instant, Id, Id), isize)],
             output: &mut Vec<(Ruling, isize)>| {
                // Sorted by time, then event id: the first one wins.
                let winner = &assignments[0].0.2;
                output.push((Ruling::Variant(winner.clone()), 1));
                let conflicts = assignments
                    .iter()
                    .filter(|((_, _, variant), count)| *count > 0 && variant != winner)
                    .count();
                if conflicts > 0 {
                    output.push((Ruling::Conflict, conflicts as isize));
                }
            },
        );
    let variants = rulings
        .clone()
        .flat_map(|((subscriber, experiment), ruling)| match ruling {
            Ruling::Variant(variant) => Some((subscriber, (experiment, variant))),
            Ruling::Conflict => None,
        });
    let conflicts = rulings.flat_map(|(_, ruling)| (ruling == Ruling::Conflict).then_some(()));
    Variants {
        variants,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use differential_dataflow::input::Input;
    use timely::dataflow::operators::capture::{Capture, Event, Extract};

    use super::*;

    type Captured<D> = std::sync::mpsc::Receiver<Event<u64, Vec<(D, u64, isize)>>>;

    fn assignment(id: &str, seconds: i64, experiment: &str, variant: &str) -> ExperimentAssignment {
        ExperimentAssignment {
            event_id: id.into(),
            event_time: Instant::from_seconds(seconds),
            subscriber_id: "s".into(),
            experiment_id: experiment.into(),
            variant: variant.into(),
        }
    }

    #[test]
    fn the_earliest_assignment_wins_and_later_other_variants_conflict() {
        let (variants_rx, conflicts_rx) = timely::execute_directly(|worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (ctx, crx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, assignments) = scope.new_collection();
                let Variants {
                    variants,
                    conflicts,
                } = variants(assignments);
                variants.inner.capture_into(tx);
                conflicts.inner.capture_into(ctx);
                input
            });
            // Experiment x: "b" at 10 then "a" and "b" again later; the
            // late-arriving "c" at 5 is earlier still and takes over.
            // Experiment y: two at the same time, settled by event id.
            for (epoch, record) in [
                (0, assignment("e2", 10, "x", "b")),
                (0, assignment("e3", 20, "x", "a")),
                (0, assignment("e4", 30, "x", "b")),
                (0, assignment("z9", 10, "y", "late-id")),
                (0, assignment("a1", 10, "y", "early-id")),
                (1, assignment("e1", 5, "x", "c")),
            ] {
                input.advance_to(epoch);
                input.insert(record);
            }
            input.close();
            while worker.step() {}
            (rx, crx)
        });
        fn totals<D: Ord + Clone + 'static>(rx: Captured<D>) -> Vec<(D, isize)> {
            let mut totals = BTreeMap::new();
            for (record, _, diff) in rx.extract().into_iter().flat_map(|(_, updates)| updates) {
                *totals.entry(record).or_insert(0isize) += diff;
            }
            totals.retain(|_, diff| *diff != 0);
            totals.into_iter().collect()
        }
        let subscriber = fingerprint("s");
        assert_eq!(
            totals(variants_rx),
            vec![
                ((subscriber, (Id::from("x"), Id::from("c"))), 1),
                ((subscriber, (Id::from("y"), Id::from("early-id"))), 1),
            ]
        );
        // x: "b", "a", "b" all differ from "c"; y: "late-id" differs.
        assert_eq!(totals(conflicts_rx), vec![((), 4)]);
    }
}
