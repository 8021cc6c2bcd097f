//! Feeding the same input in random batches and orders gives the same
//! final tables as feeding it at once: engagement, growth and data
//! quality.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches};
use streamflix_engine::output::OutputStore;
use streamflix_model::Calendar;
use streamflix_model::records::Record;

use crate::support::profit::profit_tables;
use crate::support::{
    engagement_rows, growth_rows, quality_counts, random_growth, random_profit, random_viewing,
};

#[test]
fn random_batch_orders_give_the_same_tables() {
    let calendar = Calendar::central();
    for seed in 100..130 {
        let input = random_viewing::generate(seed, &calendar);
        let mut records = input.records();
        records.extend(random_growth::generate(seed, &calendar).records());
        let (at_once, in_batches) = at_once_and_in_random_batches(records, seed, &calendar, 20);
        assert_eq!(
            engagement_rows(&in_batches),
            engagement_rows(&at_once),
            "seed {seed}"
        );
        assert_eq!(
            growth_rows(&in_batches),
            growth_rows(&at_once),
            "seed {seed}"
        );
        assert_eq!(
            quality_counts(&in_batches),
            quality_counts(&at_once),
            "seed {seed}"
        );
    }
}

/// The profit tables too: money histories shuffled into random batches
/// (no rate row is corrected, so read order does not matter) give the same
/// tables as the whole history at once.
#[test]
fn random_batch_orders_give_the_same_profit_tables() {
    let calendar = Calendar::central();
    for seed in 200..230 {
        let records = random_profit::generate(seed, &calendar, false);
        let (at_once, in_batches) = at_once_and_in_random_batches(records, seed, &calendar, 25);
        let expected = profit_tables(&at_once);
        assert!(!expected.monthly.is_empty(), "seed {seed}: no months");
        profit_tables(&in_batches).assert_eq(&expected, &format!("seed {seed}"));
    }
}

/// Runs `records` once in one batch on one worker, and once shuffled (by
/// `seed`) into random batches of at most `largest` records on one or two
/// workers.
fn at_once_and_in_random_batches(
    mut records: Vec<Record>,
    seed: u64,
    calendar: &Calendar,
    largest: usize,
) -> (OutputStore, OutputStore) {
    let at_once = run_batches(
        vec![Batch {
            records: records.clone(),
            dead_letters: vec![],
        }],
        &ClusterArgs::single(1),
        &Settings::new(calendar.clone()),
    )
    .expect("the dataflow runs");
    let mut rng = StdRng::seed_from_u64(seed);
    records.shuffle(&mut rng);
    let mut batches = Vec::new();
    while !records.is_empty() {
        let take = rng.random_range(1..=records.len().min(largest));
        batches.push(Batch {
            records: records.drain(..take).collect(),
            dead_letters: vec![],
        });
    }
    let workers = 1 + (seed as usize % 2);
    let in_batches = run_batches(
        batches,
        &ClusterArgs::single(workers),
        &Settings::new(calendar.clone()),
    )
    .expect("the dataflow runs");
    (at_once, in_batches)
}
