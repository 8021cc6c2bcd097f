//! The billing record in force per (subscriber, billing period), and the
//! primary-key violations.
//!
//! `billing` has the key `(subscriber_id, billing_period)`: one charge per
//! subscriber and month. A second record with another `event_id` for the
//! same key violates the key (the `pk_unique` check counts the keys that
//! do) and is a correction: the record with the greatest
//! `(event_time, event_id)` is the one in force. A re-bill or a refund that
//! arrives later therefore replaces the month's figures, and the month is
//! restated.
//!
//! The input must hold one record per event (see [`crate::event_dedup`]).
//! The reduction is keyed by (subscriber, period): a correction recomputes
//! that key only.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::Billing;
use streamflix_model::{Id, Month};

use crate::Time;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum KeyState {
    InForce(Billing),
    /// The key has records of more than one event.
    Violated,
}

/// Billing records reduced to one per key.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct BillingInForce<'s, T: Time> {
    pub in_force: VecCollection<'s, T, Billing>,
    /// One `(subscriber_id, billing_period)` per key with more than one
    /// record.
    pub violations: VecCollection<'s, T, (Id, Month)>,
}

pub fn billing_in_force<'s, T: Time>(
    billing: VecCollection<'s, T, Billing>,
) -> BillingInForce<'s, T> {
    let states = billing
        .map(|record| {
            (
                (record.subscriber_id.clone(), record.billing_period),
                record,
            )
        })
        .reduce_named(
            "BillingInForce",
            |_key, records: &[(&Billing, isize)], output: &mut Vec<(KeyState, isize)>| {
                let latest = records
                    .iter()
                    .map(|(record, _)| *record)
                    .max_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)))
                    .expect("a reduction sees at least one record");
                output.push((KeyState::InForce(latest.clone()), 1));
                // Sorted by event_id first: distinct ids are neighbours.
                let events = 1 + records
                    .windows(2)
                    .filter(|pair| pair[0].0.event_id != pair[1].0.event_id)
                    .count();
                if events > 1 {
                    output.push((KeyState::Violated, 1));
                }
            },
        );
    let in_force = states.clone().flat_map(|(_, state)| match state {
        KeyState::InForce(record) => Some(record),
        KeyState::Violated => None,
    });
    let violations = states.flat_map(|(key, state)| (state == KeyState::Violated).then_some(key));
    BillingInForce {
        in_force,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use streamflix_model::{Currency, Instant, Micros};

    use super::*;
    use crate::testing::run;

    fn bill(event_id: &str, seconds: i64, subscriber: &str, refund: i64) -> Billing {
        Billing {
            event_id: event_id.into(),
            event_time: Instant::from_seconds(seconds),
            subscriber_id: subscriber.into(),
            billing_period: Month::parse("2026-10").unwrap(),
            plan_id: "basic".into(),
            currency: Currency::USD,
            plan_amount: Micros::from_units(10),
            addons: vec![],
            refund_amount: Micros::from_units(refund),
        }
    }

    fn in_force(batches: Vec<Vec<Billing>>) -> (Vec<String>, Vec<String>) {
        let out = run(batches, |billing| {
            let state = billing_in_force(billing);
            state
                .in_force
                .map(|b| (true, b.event_id.to_string()))
                .concat(state.violations.map(|(s, _)| (false, s.to_string())))
        });
        let kept = out.keys().filter(|(k, _)| *k).map(|(_, id)| id.clone());
        let violated = out.keys().filter(|(k, _)| !*k).map(|(_, s)| s.clone());
        (kept.collect(), violated.collect())
    }

    #[test]
    fn a_later_record_corrects_the_month_and_violates_the_key() {
        // s1: a refund re-bill arrives in a later batch, and wins.
        // s2: the later record arrives first, and still wins.
        // s3: equal times: the greater event_id wins.
        // s4: a single record.
        let batches = vec![
            vec![
                bill("b1", 100, "s1", 0),
                bill("b4", 500, "s2", 0),
                bill("b5", 50, "s3", 0),
                bill("b7", 10, "s4", 0),
            ],
            vec![
                bill("b2", 200, "s1", 10),
                bill("b3", 400, "s2", 0),
                bill("b6", 50, "s3", 0),
            ],
        ];
        let (kept, violated) = in_force(batches);
        assert_eq!(kept, vec!["b2", "b4", "b6", "b7"]);
        assert_eq!(violated, vec!["s1", "s2", "s3"]);
    }

    #[test]
    fn retracting_the_correction_restores_the_original() {
        let out = run(
            vec![
                vec![(bill("b1", 100, "s1", 0), 1), (bill("b2", 200, "s1", 5), 1)],
                vec![(bill("b2", 200, "s1", 5), -1)],
            ],
            |records| {
                let billing = records.explode(|(record, diff)| Some((record, diff)));
                let state = billing_in_force(billing);
                state
                    .in_force
                    .map(|b| b.event_id.to_string())
                    .concat(state.violations.map(|_| "violation".to_string()))
            },
        );
        assert_eq!(out.into_keys().collect::<Vec<_>>(), vec!["b1"]);
    }
}
