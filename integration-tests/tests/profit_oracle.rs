//! The dataflow's profit tables, checks and data-quality counts equal a
//! plain batch computation, cent for cent (micro-dollar for micro-dollar).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches};
use streamflix_model::Calendar;
use streamflix_model::records::Record;

use crate::support::profit::{ProfitTables, profit_tables};
use crate::support::{profit_oracle, random_profit};

fn run(batches: Vec<Vec<Record>>, workers: usize, calendar: &Calendar) -> ProfitTables {
    let store = run_batches(
        batches
            .into_iter()
            .map(|records| Batch {
                records,
                dead_letters: vec![],
            })
            .collect(),
        &ClusterArgs::single(workers),
        &Settings::new(calendar.clone()),
    )
    .expect("the dataflow runs");
    profit_tables(&store)
}

#[test]
fn profit_equals_the_batch_oracle_on_random_histories() {
    let calendar = Calendar::central();
    let mut seen = Seen::default();
    for seed in 0..60 {
        let records = random_profit::generate(seed, &calendar, true);
        let expected = ProfitTables::from(profit_oracle::profit(&records, &calendar));
        seen.note(&expected);
        let workers = 1 + (seed as usize % 3);
        // In read order, at once or in consecutive batches: later rate rows
        // still come later.
        let mut rng = StdRng::seed_from_u64(seed);
        let mut batches = Vec::new();
        let mut rest = records.clone();
        while !rest.is_empty() {
            let take = if seed % 2 == 0 {
                rest.len()
            } else {
                rng.random_range(1..=rest.len().min(40))
            };
            batches.push(rest.drain(..take).collect());
        }
        let actual = run(batches, workers, &calendar);
        actual.assert_eq(&expected, &format!("seed {seed}, {workers} worker(s)"));
    }
    seen.assert_covers_the_awkward_cases();
}

/// Which awkward cases the random histories reached: the comparison is
/// only as good as the cases it meets.
#[derive(Default)]
struct Seen {
    fx_missing: bool,
    pk_violation: bool,
    price_mismatch: bool,
    negative_without_refund: bool,
    negative_with_refund: bool,
    unallocated: bool,
    partial_coverage: bool,
    no_settlements: bool,
    gl: bool,
    experiments: bool,
    conflicts: bool,
}

impl Seen {
    fn note(&mut self, tables: &ProfitTables) {
        let failing = |check: &str| {
            tables
                .checks
                .iter()
                .any(|row| row[1] == check && row[3] == "fail")
        };
        self.fx_missing |= failing("fx_complete");
        self.pk_violation |= failing("pk_unique");
        self.price_mismatch |= failing("plan_price_matches_catalog");
        self.negative_without_refund |= failing("no_negative_profit_without_refund");
        self.partial_coverage |= failing("content_cost_coverage");
        self.no_settlements |= tables
            .checks
            .iter()
            .any(|row| row[1] == "revenue_matches_processor" && row[4].is_empty());
        self.gl |= tables
            .checks
            .iter()
            .any(|row| row[1] == "gl_reconciles" && !row[4].is_empty());
        self.negative_with_refund |= tables
            .subscriber_monthly
            .iter()
            .any(|row| row[11].starts_with('-') && row[5] != "0");
        self.unallocated |= tables.monthly.iter().any(|row| row[7] != "0");
        self.experiments |= tables
            .subscriber_monthly
            .iter()
            .any(|row| row[12].contains(';'));
        self.conflicts |= tables.quality.len() >= 2;
    }

    fn assert_covers_the_awkward_cases(&self) {
        assert!(self.fx_missing, "no month missed a rate");
        assert!(self.pk_violation, "no primary-key violation");
        assert!(self.price_mismatch, "no price mismatch");
        assert!(
            self.negative_without_refund,
            "no negative profit without refund"
        );
        assert!(
            self.negative_with_refund,
            "no negative profit with a refund"
        );
        assert!(self.unallocated, "no unallocated content cost");
        assert!(self.partial_coverage, "coverage never fell short");
        assert!(self.no_settlements, "every month had settlements");
        assert!(self.gl, "no GL revenue");
        assert!(self.experiments, "no subscriber in two experiments");
        assert!(self.conflicts, "too few data-quality issues");
    }
}
