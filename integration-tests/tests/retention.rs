//! A restatement horizon keeps state bounded, and the figures it freezes
//! are the right ones.

use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use streamflix_engine::clock::Retention;
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches_observed};
use streamflix_engine::output::Output;
use streamflix_engine::state_size::StateSize;
use streamflix_model::records::{Record, Viewing};
use streamflix_model::{Calendar, Day, Instant, Micros};

use crate::support::{engagement_rows, oracle};

const DAYS: i32 = 120;

/// A few subscribers watching a little every day for `DAYS` days, one
/// batch per day in event-time order.
fn daily_batches(calendar: &Calendar) -> Vec<Vec<Viewing>> {
    let mut rng = StdRng::seed_from_u64(7);
    let first = Day::parse("2026-01-05").unwrap();
    let mut next_id = 0;
    (0..DAYS)
        .map(|offset| {
            let day = first.plus(offset);
            let mut events = Vec::new();
            for subscriber in 0..6 {
                let start = calendar.start_of(day).0 + rng.random_range(0..80_000) * 1_000_000_000;
                for beat in 0..rng.random_range(1..6) {
                    next_id += 1;
                    events.push(Viewing {
                        event_id: format!("e{next_id}").into(),
                        event_time: Instant(start + beat * 300 * 1_000_000_000),
                        subscriber_id: format!("s{subscriber}").into(),
                        device_id: "tv".into(),
                        content_id: format!("c{}", rng.random_range(0..3)).into(),
                        watch_seconds: Micros::from_units(rng.random_range(0..300)),
                        position_seconds: Micros::from_units(rng.random_range(0..1000)),
                        duration_seconds: Micros::from_units(1000),
                        received_at: Some(Instant(start + 5_000_000_000)),
                    });
                }
            }
            events.sort_by_key(|event| event.event_time);
            events
        })
        .collect()
}

/// Runs the batches and returns the store and the state held after each.
fn run(
    retention: Option<u32>,
    calendar: &Calendar,
) -> (
    streamflix_engine::output::OutputStore,
    Vec<i64>,
    Vec<Viewing>,
) {
    let batches = daily_batches(calendar);
    let all: Vec<Viewing> = batches.iter().flatten().cloned().collect();
    let batches = batches
        .into_iter()
        .map(|events| Batch {
            records: events.into_iter().map(Record::Viewing).collect(),
            dead_letters: vec![],
        })
        .collect();
    let mut settings = Settings::new(calendar.clone());
    settings.retention = retention.map(|days| Retention {
        days,
        calendar: calendar.clone(),
    });
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let observed = sizes.clone();
    let store = run_batches_observed(
        batches,
        &ClusterArgs::single(2),
        &settings,
        &StateSize::default(),
        move |_, state| {
            observed.lock().unwrap().push(state.updates());
        },
    )
    .expect("the dataflow runs");
    let sizes = sizes.lock().unwrap().clone();
    (store, sizes, all)
}

#[test]
fn state_stays_bounded_with_a_retention_and_grows_without() {
    let calendar = Calendar::central();
    let (_, bounded, _) = run(Some(5), &calendar);
    let (_, unbounded, _) = run(None, &calendar);
    let middle = DAYS as usize / 2;
    let last = DAYS as usize - 1;
    assert!(
        bounded[last] as f64 <= bounded[middle] as f64 * 1.25,
        "with a 5-day retention state went from {} to {} updates",
        bounded[middle],
        bounded[last]
    );
    assert!(
        unbounded[last] as f64 >= unbounded[middle] as f64 * 1.5,
        "without retention state should grow: {} then {}",
        unbounded[middle],
        unbounded[last]
    );
}

#[test]
fn frozen_figures_equal_the_oracle() {
    let calendar = Calendar::central();
    let (store, _, all) = run(Some(5), &calendar);
    let expected = oracle::engagement(&all, &[], &calendar);
    let (daily, weekly) = engagement_rows(&store);
    assert_eq!(daily, expected.daily);
    assert_eq!(weekly, expected.weekly);
    assert!(
        store
            .rows()
            .unwrap()
            .iter()
            .all(|row| !matches!(row, Output::DeadLetter(_)))
    );
}

#[test]
fn events_for_frozen_periods_are_dead_letters() {
    let calendar = Calendar::central();
    let mut batches = daily_batches(&calendar);
    let mut stale = batches[0][0].clone();
    stale.event_id = "stale".into();
    let late_batch = batches.len() - 1;
    batches[late_batch].push(stale);
    let batches = batches
        .into_iter()
        .map(|events| Batch {
            records: events.into_iter().map(Record::Viewing).collect(),
            dead_letters: vec![],
        })
        .collect();
    let mut settings = Settings::new(calendar.clone());
    settings.retention = Some(Retention {
        days: 5,
        calendar: calendar.clone(),
    });
    let store = run_batches_observed(
        batches,
        &ClusterArgs::single(1),
        &settings,
        &StateSize::default(),
        |_, _| {},
    )
    .expect("the dataflow runs");
    let letters = store.dead_letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].kind, "beyond_retention");
    assert!(letters[0].raw.contains("stale"));
}
