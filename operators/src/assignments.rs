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
            |_key, assignments: &[(&(Instant, Id, Id), isize)], output: &mut Vec<(Ruling, isize)>| {
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
