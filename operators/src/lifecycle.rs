//! The subscriber lifecycle: what each `subscriptions` event means.
//!
//! A subscriber's events are replayed in order of `event_time`, then
//! `event_id`:
//! * a `signup` of a subscriber never active before is **new**; of one
//!   whose last state is cancelled, **reactivated** (a returning subscriber
//!   is never new); while active it is ignored, plan included
//!   (`duplicate_signup`);
//! * a `cancel` while active is **churn**; otherwise it is ignored
//!   (`orphan_cancel`);
//! * a `plan_change` while active is an **upgrade** when the new plan's
//!   tier is higher than the current plan's, a **downgrade** when lower,
//!   neither when equal or when either tier is unknown; the plan changes in
//!   every case. While not active it is ignored (`orphan_plan_change`).
//! * a `signup` or `plan_change` to a plan without a catalog row is an
//!   `unknown_plan` issue, whatever else it is.
//!
//! The subscriber is active at the end of a day when its state after the
//! day's last event is active; the operator emits the days on which that
//! starts and stops being so, from which `active_end` is counted over the
//! whole history (see [`crate::active_days`]).
//!
//! The state is a subscriber's own events: one reduction per subscriber
//! replays them when any of them changes (a few events a month per
//! subscriber), and emits only the meanings that changed. A late event in
//! the middle of a history therefore restates exactly the figures it
//! changes, and no other subscriber is looked at.

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::SubscriptionType;
use streamflix_model::{Day, Fingerprint, Id, Instant};

use crate::Time;

/// A deduplicated `subscriptions` event, ready for replay. Ordered by
/// `time`, then `event_id`: the order of the replay.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LifeEvent {
    pub time: Instant,
    pub event_id: Id,
    /// The business day of `time`.
    pub day: Day,
    pub kind: SubscriptionType,
    /// The tier of the event's plan (`signup`, `plan_change`); `None` when
    /// the plan has no catalog row, or for a `cancel`.
    pub tier: Option<i64>,
}

/// What one event meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    New,
    Reactivated,
    Churned,
    Upgrade,
    Downgrade,
    /// A plan change to the same tier, or with a tier unknown.
    SideGrade,
    DuplicateSignup,
    OrphanCancel,
    OrphanPlanChange,
}

/// One fact about a subscriber's history, counted with its multiplicity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LifeOutput {
    /// An event of that day meant this.
    Outcome(Day, Outcome),
    /// A `signup` or `plan_change` of that day to a plan without a catalog
    /// row.
    UnknownPlan(Day),
    /// Active at the end of this day, not at the end of the previous one.
    ActiveFrom(Day),
    /// Not active at the end of this day, active at the end of the
    /// previous one.
    ActiveUntil(Day),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Never,
    Active { tier: Option<i64> },
    Cancelled,
}

/// Replays one subscriber's events, sorted by `(time, event_id)`, and
/// returns what they mean with multiplicities.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a LifeEvent>) -> BTreeMap<LifeOutput, isize> {
    let mut output = BTreeMap::new();
    let mut add = |fact: LifeOutput| *output.entry(fact).or_insert(0) += 1;
    let mut state = State::Never;
    // The state at the end of the last day that had events.
    let mut active_at_day_end = false;
    let mut events = events.into_iter().peekable();
    while let Some(event) = events.next() {
        let day = event.day;
        let known_plan = event.tier.is_some();
        let (outcome, next) = match (event.kind, state) {
            (SubscriptionType::Signup, State::Never) => {
                (Outcome::New, State::Active { tier: event.tier })
            }
            (SubscriptionType::Signup, State::Cancelled) => {
                (Outcome::Reactivated, State::Active { tier: event.tier })
            }
            (SubscriptionType::Signup, State::Active { .. }) => (Outcome::DuplicateSignup, state),
            (SubscriptionType::Cancel, State::Active { .. }) => {
                (Outcome::Churned, State::Cancelled)
            }
            (SubscriptionType::Cancel, _) => (Outcome::OrphanCancel, state),
            (SubscriptionType::PlanChange, State::Active { tier: current }) => {
                let outcome = match (current, event.tier) {
                    (Some(from), Some(to)) if to > from => Outcome::Upgrade,
                    (Some(from), Some(to)) if to < from => Outcome::Downgrade,
                    _ => Outcome::SideGrade,
                };
                (outcome, State::Active { tier: event.tier })
            }
            (SubscriptionType::PlanChange, _) => (Outcome::OrphanPlanChange, state),
        };
        add(LifeOutput::Outcome(day, outcome));
        if event.kind != SubscriptionType::Cancel && !known_plan {
            add(LifeOutput::UnknownPlan(day));
        }
        state = next;
        let day_ends = events.peek().is_none_or(|following| following.day != day);
        if day_ends {
            let active = matches!(state, State::Active { .. });
            if active != active_at_day_end {
                add(if active {
                    LifeOutput::ActiveFrom(day)
                } else {
                    LifeOutput::ActiveUntil(day)
                });
                active_at_day_end = active;
            }
        }
    }
    output
}

/// Replays each subscriber's events (keyed by subscriber) and returns what
/// they mean, keyed by subscriber, with multiplicities.
pub fn lifecycle<'s, T: Time>(
    events: VecCollection<'s, T, (Fingerprint, LifeEvent)>,
) -> VecCollection<'s, T, (Fingerprint, LifeOutput)> {
    events.reduce_named(
        "Lifecycle",
        |_subscriber, events: &[(&LifeEvent, isize)], output: &mut Vec<(LifeOutput, isize)>| {
            // Each event is there once after deduplication; a record with a
            // non-positive count is not an event.
            let events = events
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(event, _)| *event);
            output.extend(replay(events));
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use LifeOutput::{ActiveFrom, ActiveUntil, UnknownPlan};
    use Outcome::*;
    use SubscriptionType::{Cancel, PlanChange, Signup};

    /// An event at `seconds` into day `day`, with the plan's tier.
    fn event(
        day: i32,
        seconds: i64,
        id: &str,
        kind: SubscriptionType,
        tier: Option<i64>,
    ) -> LifeEvent {
        LifeEvent {
            time: Instant::from_seconds(i64::from(day) * 86_400 + seconds),
            event_id: id.into(),
            day: Day(day),
            kind,
            tier,
        }
    }

    fn run(mut events: Vec<LifeEvent>) -> Vec<(LifeOutput, isize)> {
        events.sort();
        replay(&events).into_iter().collect()
    }

    fn outcome(day: i32, outcome: Outcome) -> (LifeOutput, isize) {
        (LifeOutput::Outcome(Day(day), outcome), 1)
    }

    #[test]
    fn a_first_signup_is_new_and_stays_active() {
        assert_eq!(
            run(vec![event(1, 10, "a", Signup, Some(1))]),
            vec![outcome(1, New), (ActiveFrom(Day(1)), 1)]
        );
    }

    #[test]
    fn a_signup_after_churn_is_a_reactivation_never_new() {
        let events = vec![
            event(1, 10, "a", Signup, Some(1)),
            event(3, 10, "b", Cancel, None),
            event(5, 10, "c", Signup, Some(2)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, New),
                outcome(3, Churned),
                outcome(5, Reactivated),
                (ActiveFrom(Day(1)), 1),
                (ActiveFrom(Day(5)), 1),
                (ActiveUntil(Day(3)), 1),
            ]
        );
    }

    #[test]
    fn ignored_events_before_the_first_signup_do_not_count_as_seen() {
        let events = vec![
            event(1, 10, "a", Cancel, None),
            event(1, 20, "b", PlanChange, Some(2)),
            event(2, 10, "c", Signup, Some(1)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, OrphanCancel),
                outcome(1, OrphanPlanChange),
                outcome(2, New),
                (ActiveFrom(Day(2)), 1),
            ]
        );
    }

    #[test]
    fn a_cancel_while_cancelled_is_an_orphan() {
        let events = vec![
            event(1, 10, "a", Signup, Some(1)),
            event(2, 10, "b", Cancel, None),
            event(3, 10, "c", Cancel, None),
            event(4, 10, "d", PlanChange, Some(3)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, New),
                outcome(2, Churned),
                outcome(3, OrphanCancel),
                outcome(4, OrphanPlanChange),
                (ActiveFrom(Day(1)), 1),
                (ActiveUntil(Day(2)), 1),
            ]
        );
    }

    #[test]
    fn a_signup_while_active_is_ignored_with_its_plan() {
        let events = vec![
            event(1, 10, "a", Signup, Some(1)),
            // Would make the next change a downgrade if its plan counted.
            event(1, 20, "b", Signup, Some(3)),
            event(2, 10, "c", PlanChange, Some(2)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, New),
                outcome(1, DuplicateSignup),
                outcome(2, Upgrade),
                (ActiveFrom(Day(1)), 1),
            ]
        );
    }

    #[test]
    fn plan_changes_compare_tiers_and_always_change_the_plan() {
        let events = vec![
            event(1, 10, "a", Signup, Some(2)),
            event(2, 10, "b", PlanChange, Some(3)),
            event(3, 10, "c", PlanChange, Some(3)),
            event(4, 10, "d", PlanChange, Some(1)),
            event(5, 10, "e", PlanChange, Some(2)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, New),
                outcome(2, Upgrade),
                outcome(3, SideGrade),
                outcome(4, Downgrade),
                outcome(5, Upgrade),
                (ActiveFrom(Day(1)), 1),
            ]
        );
    }

    #[test]
    fn a_change_to_or_from_an_unknown_plan_is_neither_up_nor_down() {
        let events = vec![
            event(1, 10, "a", Signup, Some(1)),
            event(2, 10, "b", PlanChange, None),
            // From the unknown plan to a known one: still neither.
            event(3, 10, "c", PlanChange, Some(3)),
            event(4, 10, "d", PlanChange, Some(2)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(2, SideGrade),
                outcome(3, SideGrade),
                outcome(1, New),
                outcome(4, Downgrade),
                (UnknownPlan(Day(2)), 1),
                (ActiveFrom(Day(1)), 1),
            ]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_signup_to_an_unknown_plan_still_counts_and_is_reported() {
        let events = vec![
            event(1, 10, "a", Signup, None),
            event(2, 10, "b", Signup, None),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, New),
                outcome(2, DuplicateSignup),
                (UnknownPlan(Day(1)), 1),
                (UnknownPlan(Day(2)), 1),
                (ActiveFrom(Day(1)), 1),
            ]
        );
    }

    #[test]
    fn events_at_the_same_time_are_ordered_by_event_id() {
        // A cancel and a signup in the same second: "a-cancel" sorts
        // first, so the signup is a reactivation.
        let cancel_first = vec![
            event(1, 10, "s1", Signup, Some(1)),
            event(2, 10, "z-signup", Signup, Some(1)),
            event(2, 10, "a-cancel", Cancel, None),
        ];
        assert_eq!(
            run(cancel_first),
            vec![
                outcome(1, New),
                outcome(2, Reactivated),
                outcome(2, Churned),
                (ActiveFrom(Day(1)), 1),
            ]
        );
        // The other way round the signup is a duplicate and the cancel
        // churns.
        let signup_first = vec![
            event(1, 10, "s1", Signup, Some(1)),
            event(2, 10, "a-signup", Signup, Some(1)),
            event(2, 10, "z-cancel", Cancel, None),
        ];
        assert_eq!(
            run(signup_first),
            vec![
                outcome(1, New),
                outcome(2, Churned),
                outcome(2, DuplicateSignup),
                (ActiveFrom(Day(1)), 1),
                (ActiveUntil(Day(2)), 1),
            ]
        );
    }

    #[test]
    fn activity_counts_at_the_end_of_the_day() {
        // Signed up and cancelled on day 1: never active at a day's end.
        // Cancelled and back on day 3: active throughout.
        let events = vec![
            event(1, 10, "a", Signup, Some(1)),
            event(1, 20, "b", Cancel, None),
            event(2, 10, "c", Signup, Some(1)),
            event(3, 10, "d", Cancel, None),
            event(3, 20, "e", Signup, Some(1)),
        ];
        assert_eq!(
            run(events),
            vec![
                outcome(1, New),
                outcome(1, Churned),
                outcome(2, Reactivated),
                outcome(3, Reactivated),
                outcome(3, Churned),
                (ActiveFrom(Day(2)), 1),
            ]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
    }
}
