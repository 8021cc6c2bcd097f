//! The experiment assignment in force per (subscriber, experiment).
//!
//! A subscriber's variant in an experiment is the one of its earliest
//! assignment, by `event_time` then `event_id`, whenever it arrived. Later
//! assignments to another variant are conflicts (`conflicting_assignment`)
//! and are ignored; later ones to the same variant are harmless repeats.
//! Copies of one assignment (same `event_id`) count once first (see
//! [`crate::event_dedup`]).
//!
//! The reduction is keyed by (subscriber, experiment): an assignment
//! recomputes that pair only, and an earlier one that arrives late takes
//! over and restates whatever used the variant.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::ExperimentAssignment;
use streamflix_model::{Fingerprint, Id, Instant, fingerprint};

use crate::Time;
use crate::event_dedup::dedup_events;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum PairState {
    Variant(Id),
    /// The event id of a later assignment to another variant.
    Conflict(Id),
}

/// Assignments reduced to one variant per subscriber and experiment.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Assignments<'s, T: Time> {
    /// `(subscriber, (experiment_id, variant))`, one per subscriber and
    /// experiment the subscriber was ever assigned to.
    pub in_force: VecCollection<'s, T, (Fingerprint, (Id, Id))>,
    /// Event ids of later assignments to another variant, each once.
    pub conflicting_assignments: VecCollection<'s, T, Id>,
    /// Fingerprints of event ids whose copies differ.
    pub conflicting_duplicates: VecCollection<'s, T, Fingerprint>,
}

/// Deduplicates assignments and settles each subscriber's variant of each
/// experiment; growth and profit both read the result.
pub fn assignments_in_force<'s, T: Time>(
    assignments: VecCollection<'s, T, ExperimentAssignment>,
) -> Assignments<'s, T> {
    let unique = dedup_events("DedupAssignments", assignments, |a| a.event_id.as_str());
    let states = unique
        .events
        .map(|a| {
            (
                (fingerprint(&a.subscriber_id), a.experiment_id),
                (a.event_time, a.event_id, a.variant),
            )
        })
        .reduce_named(
            "AssignmentInForce",
            |_pair,
             assignments: &[(&(Instant, Id, Id), isize)],
             output: &mut Vec<(PairState, isize)>| {
                // Sorted by (event_time, event_id): the first is in force.
                let (_, _, variant) = assignments[0].0;
                output.push((PairState::Variant(variant.clone()), 1));
                for (later, _) in &assignments[1..] {
                    if later.2 != *variant {
                        output.push((PairState::Conflict(later.1.clone()), 1));
                    }
                }
            },
        );
    let in_force = states
        .clone()
        .flat_map(|((subscriber, experiment), state)| match state {
            PairState::Variant(variant) => Some((subscriber, (experiment, variant))),
            PairState::Conflict(_) => None,
        });
    let conflicting_assignments = states.flat_map(|(_, state)| match state {
        PairState::Conflict(event_id) => Some(event_id),
        PairState::Variant(_) => None,
    });
    Assignments {
        in_force,
        conflicting_assignments,
        conflicting_duplicates: unique.conflicting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    fn assign(
        id: &str,
        seconds: i64,
        subscriber: &str,
        experiment: &str,
        variant: &str,
    ) -> ExperimentAssignment {
        ExperimentAssignment {
            event_id: id.into(),
            event_time: Instant::from_seconds(seconds),
            subscriber_id: subscriber.into(),
            experiment_id: experiment.into(),
            variant: variant.into(),
        }
    }

    #[test]
    fn the_earliest_assignment_wins_whenever_it_arrives() {
        let batches = vec![
            vec![
                assign("a2", 200, "s1", "exp", "treatment"),
                assign("a3", 300, "s1", "exp", "treatment"),
                assign("b1", 100, "s2", "exp", "control"),
                assign("b1", 100, "s2", "exp", "control"), // a copy
                assign("c1", 100, "s1", "other", "x"),
            ],
            // Arrives late but is the earliest: it takes over, and both
            // later ones now conflict.
            vec![
                assign("a1", 100, "s1", "exp", "control"),
                // Same time as b1, greater id: later, same variant.
                assign("b2", 100, "s2", "exp", "control"),
            ],
        ];
        let out = run(batches, |assignments| {
            let result = assignments_in_force(assignments);
            result
                .in_force
                .map(|(s, (e, v))| {
                    let name = ["s1", "s2"]
                        .into_iter()
                        .find(|name| fingerprint(name) == s)
                        .unwrap_or("?");
                    format!("{name} {e}={v}")
                })
                .concat(
                    result
                        .conflicting_assignments
                        .map(|id| format!("conflict {id}")),
                )
                .concat(result.conflicting_duplicates.map(|_| "duplicate".into()))
        });
        let out: Vec<_> = out.into_iter().collect();
        assert_eq!(
            out,
            vec![
                ("conflict a2".to_string(), 1),
                ("conflict a3".to_string(), 1),
                ("s1 exp=control".to_string(), 1),
                ("s1 other=x".to_string(), 1),
                ("s2 exp=control".to_string(), 1),
            ]
        );
    }
}
