//! A restatement horizon keeps state bounded in bytes, and the figures it
//! freezes are the right ones.
//!
//! A test binary of its own: it counts every byte the process allocates
//! and frees (`stats_alloc`), so that what the dataflow holds is measured
//! as memory, not as arrangement update counts (the hash-map state of the
//! per-event operators has no such count). Its tests take turns, so that
//! one test's allocations never land in another's figures.

#[allow(dead_code)] // each test binary uses part of the helpers
mod support;

use std::alloc::System;
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use streamflix_engine::clock::{HorizonDays, Retention};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches_observed};
use streamflix_engine::output::{Output, OutputStore};
use streamflix_engine::state_size::StateSize;
use streamflix_model::records::{Record, Viewing};
use streamflix_model::{Calendar, Day, Instant, Micros};

use crate::support::{engagement_rows, oracle};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One test at a time: the allocator's counts are the whole process's.
static TURN: Mutex<()> = Mutex::new(());

const DAYS: i32 = 120;

/// Bytes allocated and not yet freed, process-wide.
fn bytes_held() -> i64 {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

/// `subscribers` subscribers watching a little every day for `DAYS` days,
/// one batch per day in event-time order.
fn daily_batches(calendar: &Calendar, subscribers: u32) -> Vec<Vec<Viewing>> {
    let mut rng = StdRng::seed_from_u64(7);
    let first = Day::parse("2026-01-05").unwrap();
    let mut next_id = 0;
    (0..DAYS)
        .map(|offset| {
            let day = first.plus(offset);
            let mut events = Vec::new();
            for subscriber in 0..subscribers {
                let start = calendar.start_of(day).0 + rng.random_range(0..80_000) * 1_000_000_000;
                for beat in 0..rng.random_range(1..12) {
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

fn settings(horizon: Option<u32>, calendar: &Calendar) -> Settings {
    let mut settings = Settings::new(calendar.clone());
    settings.retention =
        horizon.map(|days| Retention::new(HorizonDays::uniform(days), calendar.clone()));
    settings
}

fn as_batches(days: Vec<Vec<Viewing>>) -> Vec<Batch> {
    days.into_iter()
        .map(|events| Batch {
            records: events.into_iter().map(Record::Viewing).collect(),
            dead_letters: vec![],
        })
        .collect()
}

/// Runs the batches and returns the store and the bytes held after each.
fn run(
    horizon: Option<u32>,
    days: Vec<Vec<Viewing>>,
    calendar: &Calendar,
) -> (OutputStore, Vec<i64>) {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let observed = sizes.clone();
    let store = run_batches_observed(
        as_batches(days),
        &ClusterArgs::single(2),
        &settings(horizon, calendar),
        &StateSize::default(),
        move |_, _| {
            let held = bytes_held();
            observed.lock().unwrap().push(held);
        },
    )
    .expect("the dataflow runs");
    let sizes = sizes.lock().unwrap().clone();
    (store, sizes)
}

#[test]
fn bytes_held_stay_flat_with_a_horizon_and_grow_without() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let calendar = Calendar::central();
    let days = daily_batches(&calendar, 300);
    let events: usize = days.iter().map(Vec::len).sum();
    // A first small run takes the process's one-time allocations (the
    // time-zone database, thread-local caches) out of the figures.
    run(Some(5), daily_batches(&calendar, 2), &calendar);
    let (_, unbounded) = run(None, days.clone(), &calendar);
    let (_, bounded) = run(Some(5), days, &calendar);
    // What the state grew by since the first day: a process's fixed
    // costs (thread stacks, channel buffers, what an earlier test run
    // left to the allocator) fall out. Arrangements merge their batches
    // now and then, so one day's figure swings by a quarter: the median
    // of ten days is compared.
    let held = |sizes: &[i64], last_day: usize| {
        let mut window: Vec<i64> = sizes[last_day - 9..=last_day]
            .iter()
            .map(|size| size - sizes[0])
            .collect();
        window.sort_unstable();
        window[5] as f64
    };
    let (middle, last) = (DAYS as usize / 2 - 1, DAYS as usize - 1);
    eprintln!(
        "{events} events, median bytes held over days 51-60 and 111-120: with a 5-day horizon {:.1} MB and {:.1} MB; without {:.1} MB and {:.1} MB",
        held(&bounded, middle) / 1e6,
        held(&bounded, last) / 1e6,
        held(&unbounded, middle) / 1e6,
        held(&unbounded, last) / 1e6,
    );
    assert!(
        held(&bounded, last) <= held(&bounded, middle) * 1.2,
        "with a 5-day horizon the bytes held went from {} around day 60 to {} around day 120",
        held(&bounded, middle),
        held(&bounded, last)
    );
    assert!(
        held(&unbounded, last) >= held(&unbounded, middle) * 1.5,
        "without a horizon state must grow: {} then {}",
        held(&unbounded, middle),
        held(&unbounded, last)
    );
    assert!(
        held(&bounded, last) <= held(&unbounded, last) / 2.0,
        "a 5-day horizon should hold well under half of 120 days' state: {} against {}",
        held(&bounded, last),
        held(&unbounded, last)
    );
}

#[test]
fn frozen_figures_equal_the_oracle() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let calendar = Calendar::central();
    let days = daily_batches(&calendar, 6);
    let all: Vec<Viewing> = days.iter().flatten().cloned().collect();
    let (store, _) = run(Some(5), days, &calendar);
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
fn a_late_event_inside_the_horizon_restates_as_the_oracle_says() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let calendar = Calendar::central();
    let mut days = daily_batches(&calendar, 6);
    // An event of day 100 arrives with day 103: three days late, inside a
    // five-day horizon. It makes a new subscriber active on day 100.
    let mut late = days[100][0].clone();
    late.event_id = "late".into();
    late.subscriber_id = "newcomer".into();
    late.watch_seconds = Micros::from_units(120);
    days[103].push(late);
    let all: Vec<Viewing> = days.iter().flatten().cloned().collect();
    let (store, _) = run(Some(5), days, &calendar);
    let expected = oracle::engagement(&all, &[], &calendar);
    let (daily, weekly) = engagement_rows(&store);
    assert_eq!(daily, expected.daily);
    assert_eq!(weekly, expected.weekly);
    assert!(store.dead_letters().is_empty());
}

#[test]
fn events_beyond_the_horizon_are_dead_letters_and_change_nothing() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let calendar = Calendar::central();
    let days = daily_batches(&calendar, 6);
    let (clean, _) = run(Some(5), days.clone(), &calendar);
    let mut with_stale = days;
    let mut stale = with_stale[90][0].clone();
    stale.event_id = "stale".into();
    stale.subscriber_id = "newcomer".into();
    let late_batch = with_stale.len() - 1;
    with_stale[late_batch].push(stale);
    let (store, _) = run(Some(5), with_stale, &calendar);
    let letters = store.dead_letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].kind, "beyond_retention");
    assert!(letters[0].raw.contains("stale"));
    assert!(
        letters[0].reason.contains("frozen"),
        "{}",
        letters[0].reason
    );
    let without_letters = |store: &OutputStore| {
        store
            .rows()
            .unwrap()
            .into_iter()
            .filter(|row| !matches!(row, Output::DeadLetter(_)))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(without_letters(&store), without_letters(&clean));
}
