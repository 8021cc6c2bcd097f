//! The dataflow's growth tables equal a plain batch computation, and a
//! flag that arrives after a week was computed restates that week.

use std::collections::BTreeMap;

use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches};
use streamflix_engine::output::OutputStore;
use streamflix_model::records::{
    AccountFlag, FlagKind, PlanCatalog, Record, Subscription, SubscriptionType,
};
use streamflix_model::{Calendar, Currency, Day, Feed, Instant, Micros};

use crate::support::growth_oracle::{self, GrowthOracle};
use crate::support::{growth_rows, quality_counts, random_growth};

fn run(batches: Vec<Vec<Record>>, workers: usize, calendar: &Calendar) -> OutputStore {
    run_batches(
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
    .expect("the dataflow runs")
}

fn oracle_quality(oracle: &GrowthOracle) -> BTreeMap<(Feed, String), i64> {
    oracle
        .issues
        .iter()
        .map(|((feed, issue), count)| ((*feed, issue.to_string()), *count))
        .collect()
}

fn oracle_of(records: &[Record], calendar: &Calendar) -> GrowthOracle {
    let (mut subscriptions, mut assignments, mut flags, mut catalog) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for record in records {
        match record {
            Record::Subscription(r) => subscriptions.push(r.clone()),
            Record::ExperimentAssignment(r) => assignments.push(r.clone()),
            Record::AccountFlag(r) => flags.push(r.clone()),
            Record::PlanCatalog(r) => catalog.push(r.clone()),
            _ => {}
        }
    }
    growth_oracle::growth(&subscriptions, &assignments, &flags, &catalog, calendar)
}

#[test]
fn growth_equals_the_batch_oracle_on_random_histories() {
    let calendar = Calendar::central();
    // The random histories must hold the cases the rules are about.
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for seed in 0..80 {
        let input = random_growth::generate(seed, &calendar);
        let records = input.records();
        let expected = oracle_of(&records, &calendar);
        let store = run(vec![records], 1 + (seed as usize % 3), &calendar);
        let (daily, by_variant, weekly) = growth_rows(&store);
        assert_eq!(
            daily, expected.daily,
            "growth_daily differs for seed {seed}"
        );
        assert_eq!(
            by_variant, expected.by_variant,
            "growth_daily_by_variant differs for seed {seed}"
        );
        assert_eq!(
            weekly, expected.weekly,
            "growth_weekly differs for seed {seed}"
        );
        assert_eq!(
            quality_counts(&store),
            oracle_quality(&expected),
            "data_quality differs for seed {seed}"
        );
        for ((_, issue), count) in &expected.issues {
            *seen.entry(issue.to_string()).or_default() += count;
        }
        for row in &expected.daily {
            for (name, count) in [
                ("new", row.counts.new),
                ("reactivated", row.counts.reactivated),
                ("churned", row.counts.churned),
                ("upgrades", row.counts.upgrades),
                ("downgrades", row.counts.downgrades),
            ] {
                *seen.entry(name.to_string()).or_default() += count;
            }
        }
        for row in &expected.weekly {
            *seen.entry("excluded".to_string()).or_default() += row.excluded_subscribers;
        }
    }
    for case in [
        "new",
        "reactivated",
        "churned",
        "upgrades",
        "downgrades",
        "excluded",
        "duplicate_signup",
        "orphan_cancel",
        "orphan_plan_change",
        "unknown_plan",
        "conflicting_duplicate",
        "conflicting_assignment",
    ] {
        assert!(
            seen.get(case).copied().unwrap_or(0) > 0,
            "no random history holds {case}: {seen:?}"
        );
    }
}

fn signup(id: &str, subscriber: &str, day: Day, calendar: &Calendar) -> Record {
    Record::Subscription(Subscription {
        event_id: id.into(),
        event_time: Instant(calendar.start_of(day).0 + 10 * 3_600 * 1_000_000_000),
        subscriber_id: subscriber.into(),
        kind: SubscriptionType::Signup,
        plan_id: Some("basic".into()),
        country: None,
    })
}

/// A week's figures are computed without a flag; the flag, dated two
/// weeks later, arrives in a later batch: the week's row is restated (the
/// flagged subscriber leaves `new` and `active_end` and enters
/// `excluded_subscribers`), and equals the oracle's with the flag.
#[test]
fn a_late_flag_restates_an_earlier_week() {
    let calendar = Calendar::central();
    let monday = Day::parse("2026-10-05").unwrap();
    let mut before = vec![
        signup("e1", "keeps", monday, &calendar),
        signup("e2", "flagged", monday.plus(1), &calendar),
        signup("e3", "later", monday.plus(8), &calendar),
        Record::PlanCatalog(PlanCatalog {
            plan_id: "basic".into(),
            currency: Currency::parse("USD").unwrap(),
            tier: 1,
            monthly_price: Micros::from_units(8),
            updated_at: Instant::from_seconds(0),
        }),
    ];
    let flag = Record::AccountFlag(AccountFlag {
        event_id: "f1".into(),
        event_time: calendar.start_of(monday.plus(15)),
        subscriber_id: "flagged".into(),
        flag: FlagKind::Spam,
    });
    let published = growth_rows(&run(vec![before.clone()], 2, &calendar));
    let restated = growth_rows(&run(vec![before.clone(), vec![flag.clone()]], 2, &calendar));
    let week = |rows: &crate::support::GrowthRows| {
        rows.2
            .iter()
            .find(|row| row.week == monday)
            .cloned()
            .expect("a row for the first week")
    };
    let (old, new) = (week(&published), week(&restated));
    assert_eq!(
        (old.counts.new, old.active_end, old.excluded_subscribers),
        (2, 2, 0)
    );
    assert_eq!(
        (new.counts.new, new.active_end, new.excluded_subscribers),
        (1, 1, 1)
    );
    // The next week's active_end changes too; its own counts do not.
    let next = |rows: &crate::support::GrowthRows| rows.2[1].clone();
    assert_eq!(next(&published).active_end, 3);
    assert_eq!(next(&restated).active_end, 2);
    assert_eq!(next(&published).counts, next(&restated).counts);
    before.push(flag);
    let expected = oracle_of(&before, &calendar);
    assert_eq!(
        restated,
        (expected.daily, expected.by_variant, expected.weekly)
    );
}
