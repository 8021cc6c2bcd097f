//! The dataflow's engagement tables equal a plain batch computation.

use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches};
use streamflix_model::Calendar;

use crate::support::{engagement_rows, oracle, random_viewing};

#[test]
fn engagement_equals_the_batch_oracle_on_random_histories() {
    let calendar = Calendar::central();
    for seed in 0..60 {
        let input = random_viewing::generate(seed, &calendar);
        let expected = oracle::engagement(&input.viewing, &input.flags, &calendar);
        let workers = 1 + (seed as usize % 3);
        let store = run_batches(
            vec![Batch {
                records: input.records(),
                dead_letters: vec![],
            }],
            &ClusterArgs::single(workers),
            &Settings::new(calendar.clone()),
        )
        .expect("the dataflow runs");
        let (daily, weekly) = engagement_rows(&store);
        assert_eq!(
            daily, expected.daily,
            "engagement_daily differs for seed {seed}"
        );
        assert_eq!(
            weekly, expected.weekly,
            "engagement_weekly differs for seed {seed}"
        );
    }
}
