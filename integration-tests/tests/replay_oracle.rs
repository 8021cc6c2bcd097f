//! `replay` over a generated Streamflix (every fault on) writes exactly the
//! engagement and growth tables, checks, data-quality counts and dead
//! letters a plain batch computation gives, for any number of workers and
//! any batch size.

use std::collections::BTreeMap;
use std::path::Path;

use streamflix_engine::clock::{HorizonDays, Retention};
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::replay::{ReplayOptions, ReplaySummary, replay};
use streamflix_generator::{Faults, GenerateSummary, GeneratorConfig, generate};
use streamflix_model::{Calendar, Day, Feed};

use crate::support::tables::{Expected, TABLE_FILES, assert_file_eq, expected};

/// Generates a Streamflix with every fault into a temporary directory.
fn generated(
    subscribers: u64,
    days: u32,
    seed: u64,
    start: &str,
) -> (tempfile::TempDir, GenerateSummary) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = GeneratorConfig {
        subscribers,
        days,
        seed,
        faults: Faults::ALL,
        ..GeneratorConfig::default()
    };
    config.start = start.parse().expect("a YYYY-MM-DD start");
    let summary = generate(&config, dir.path()).expect("the generator runs");
    (dir, summary)
}

fn run_replay(
    input: &Path,
    out: &Path,
    workers: usize,
    batch_records: Option<usize>,
) -> ReplaySummary {
    let mut options = ReplayOptions::new(input, out);
    options.cluster = ClusterArgs::single(workers);
    if let Some(batch) = batch_records {
        options.batch_records = batch;
    }
    replay(&options).expect("replay succeeds on generated data")
}

/// Replays `input` several ways and compares every file with the oracle.
fn replay_equals_oracle(input: &Path, generated: &GenerateSummary, expected: &Expected) {
    // The generated data must exercise what it is meant to: dead letters,
    // exclusions, impossible days and skew checks.
    let total_malformed: u64 = generated.malformed_per_feed.iter().map(|(_, n)| n).sum();
    assert!(
        total_malformed > 0,
        "the generator wrote no malformed lines"
    );
    assert_eq!(
        expected.contents.dead_letters.len() as u64,
        total_malformed,
        "the plain reader's dead letters"
    );
    let weekly = String::from_utf8_lossy(&expected.files["engagement_weekly.csv"]).into_owned();
    assert!(weekly.lines().count() >= 3, "too few weeks:\n{weekly}");
    assert!(expected.files["checks.csv"].len() > 60, "no skew checks");

    let runs: [(usize, Option<usize>); 3] = [(1, None), (2, None), (2, Some(997))];
    for (workers, batch) in runs {
        let out = tempfile::tempdir().unwrap();
        let summary = run_replay(input, out.path(), workers, batch);
        let context = format!("{workers} worker(s), batch {batch:?}");
        for name in TABLE_FILES {
            assert_file_eq(out.path(), name, &expected.files[name], &context);
        }
        assert_file_eq(
            out.path(),
            "dead_letters.jsonl",
            &expected.files["dead_letters.jsonl"],
            &context,
        );
        check_dead_letter_file(out.path(), generated, &context);
        check_read_counts(&summary, generated, &context);
    }
}

/// One dead letter per malformed line the generator reported, per feed,
/// each an object with exactly the keys feed, position, reason, raw.
fn check_dead_letter_file(out: &Path, generated: &GenerateSummary, context: &str) {
    let text = std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap();
    let mut per_feed: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{context}: {line}: {e}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("{context}: not an object: {line}"));
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        // serde_json's map keeps keys sorted, so check the order in the text.
        let positions: Vec<usize> = ["\"feed\":", "\"position\":", "\"reason\":", "\"raw\":"]
            .iter()
            .map(|key| {
                line.find(key)
                    .unwrap_or_else(|| panic!("{context}: {key} missing in {line}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{context}: keys out of order in {line}"
        );
        assert_eq!(keys.len(), 4, "{context}: {line}");
        assert!(line.starts_with("{\"feed\":"), "{context}: {line}");
        let feed = object["feed"].as_str().unwrap().to_string();
        let position = object["position"].as_str().unwrap();
        let (file, number) = position
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{context}: position {position}"));
        assert_eq!(file, format!("{feed}.jsonl"), "{context}: {line}");
        assert!(
            number.parse::<u64>().is_ok_and(|n| n >= 1),
            "{context}: {line}"
        );
        assert!(
            !object["reason"].as_str().unwrap().is_empty(),
            "{context}: {line}"
        );
        *per_feed.entry(feed).or_insert(0) += 1;
    }
    for (feed, malformed) in &generated.malformed_per_feed {
        assert_eq!(
            per_feed.remove(*feed).unwrap_or(0),
            *malformed,
            "{context}: dead letters of {feed}"
        );
    }
    assert!(
        per_feed.is_empty(),
        "{context}: dead letters of unknown feeds {per_feed:?}"
    );
}

fn check_read_counts(summary: &ReplaySummary, generated: &GenerateSummary, context: &str) {
    for (name, lines) in &generated.lines_per_feed {
        let feed = Feed::from_name(name).unwrap_or_else(|| panic!("unknown feed {name}"));
        assert_eq!(
            summary.read.get(&feed).copied().unwrap_or(0),
            *lines,
            "{context}: lines read of {name}"
        );
    }
    assert_eq!(summary.records_read(), generated.total_lines(), "{context}");
    let letters: u64 = generated.malformed_per_feed.iter().map(|(_, n)| n).sum();
    assert_eq!(summary.dead_letter_count(), letters, "{context}");
}

#[test]
fn replay_equals_the_oracle_on_three_generated_weeks() {
    let (input, generated) = generated(300, 21, 11, "2026-10-05");
    let expected = expected(input.path(), &Calendar::central());
    assert_weeks_hold_exclusions_and_bot_days(&expected);
    assert_growth_cases(&expected, &generated);
    replay_equals_oracle(input.path(), &generated, &expected);
}

/// The generated data holds the awkward cases of the growth definitions,
/// so the comparison covers those rules too.
fn assert_growth_cases(expected: &Expected, generated: &GenerateSummary) {
    let growth = &expected.growth;
    let issue = |feed: Feed, name: &str| {
        growth
            .issues
            .get(&(feed, name))
            .copied()
            .unwrap_or_default()
    };
    for name in [
        "duplicate_signup",
        "orphan_cancel",
        "orphan_plan_change",
        "unknown_plan",
    ] {
        assert!(issue(Feed::Subscriptions, name) > 0, "no {name}");
    }
    assert!(issue(Feed::ExperimentAssignments, "conflicting_assignment") > 0);
    let total = |count: fn(&streamflix_operators::growth::Counts) -> i64| -> i64 {
        growth.daily.iter().map(|row| count(&row.counts)).sum()
    };
    assert!(total(|c| c.new) > 0 && total(|c| c.reactivated) > 0);
    assert!(total(|c| c.churned) > 0);
    assert!(total(|c| c.upgrades) > 0 && total(|c| c.downgrades) > 0);
    assert!(growth.weekly.iter().any(|w| w.excluded_subscribers > 0));
    assert!(!growth.by_variant.is_empty());
    for injected in ["same_time_events", "tier_disagreements"] {
        let count = generated
            .injected
            .iter()
            .find(|(name, _)| *name == injected)
            .map_or(0, |(_, count)| *count);
        assert!(count > 0, "the generator injected no {injected}");
    }
}

#[test]
fn replay_equals_the_oracle_across_the_end_of_daylight_saving() {
    let (input, generated) = generated(300, 21, 2026, "2026-10-19");
    let expected = expected(input.path(), &Calendar::central());
    // Sunday 2026-11-01 lasts 25 hours in Chicago: it must be a row.
    let daily = String::from_utf8_lossy(&expected.files["engagement_daily.csv"]).into_owned();
    let dst = Day::parse("2026-11-01").unwrap().to_string();
    assert!(
        daily.lines().any(|line| line.starts_with(&dst)),
        "no row for {dst}:\n{daily}"
    );
    replay_equals_oracle(input.path(), &generated, &expected);
}

/// Days, weeks and sessions follow the configured business time zone:
/// here one with a half-hour offset, and one whose daylight saving ends a
/// week before Chicago's.
#[test]
fn replay_equals_the_oracle_in_other_time_zones() {
    let (input, generated) = generated(120, 14, 5, "2026-10-19");
    for zone in ["Asia/Kolkata", "Europe/London"] {
        let calendar = Calendar::new(zone).unwrap();
        let expected = expected(input.path(), &calendar);
        let out = tempfile::tempdir().unwrap();
        let mut options = ReplayOptions::new(input.path(), out.path());
        options.settings.calendar = calendar;
        let summary = replay(&options).expect("replay succeeds");
        for name in TABLE_FILES {
            assert_file_eq(out.path(), name, &expected.files[name], zone);
        }
        check_read_counts(&summary, &generated, zone);
    }
}

/// The generated data is not a trivial case: some weeks exclude flagged
/// subscribers and count impossible days, so the comparison covers those
/// rules too.
fn assert_weeks_hold_exclusions_and_bot_days(expected: &Expected) {
    let weekly = String::from_utf8_lossy(&expected.files["engagement_weekly.csv"]).into_owned();
    let mut lines = weekly.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (excluded, bots) = (column("excluded_subscribers"), column("bot_days"));
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert!(rows.iter().any(|row| row[excluded] != "0"), "{weekly}");
    assert!(rows.iter().any(|row| row[bots] != "0"), "{weekly}");
}

/// With a restatement horizon longer than any lateness in the generated
/// data, periods freeze while the replay goes on, yet no record is refused
/// and none is left out silently (flags included): the frozen tables equal
/// the oracle's, whatever the number of workers.
#[test]
fn replay_with_a_retention_longer_than_the_lateness_equals_the_oracle() {
    let (input, _) = generated(300, 21, 11, "2026-10-05");
    let calendar = Calendar::central();
    let expected = expected(input.path(), &calendar);
    let mut written = Vec::new();
    for workers in [1, 2] {
        let out = tempfile::tempdir().unwrap();
        let mut options = ReplayOptions::new(input.path(), out.path());
        options.cluster = ClusterArgs::single(workers);
        options.settings.retention =
            Some(Retention::new(HorizonDays::uniform(5), calendar.clone()));
        // Small batches, so that periods freeze while the replay goes on.
        options.batch_records = 2_000;
        let summary = replay(&options).expect("replay succeeds");
        let refused: u64 = summary
            .dead_letters
            .iter()
            .filter(|((_, kind), _)| kind == "beyond_retention")
            .map(|(_, count)| count)
            .sum();
        // The generator writes nothing more than 3 days late: nothing is
        // beyond a 5-day horizon, so every record must count.
        assert_eq!(
            refused, 0,
            "{workers} worker(s): records refused as beyond_retention"
        );
        let context = format!("--retention-days 5, {workers} worker(s), batches of 2000");
        for name in TABLE_FILES {
            assert_file_eq(out.path(), name, &expected.files[name], &context);
        }
        written.push(TABLE_FILES.map(|name| std::fs::read(out.path().join(name)).unwrap()));
    }
    for (i, name) in TABLE_FILES.iter().enumerate() {
        assert!(
            written[0][i] == written[1][i],
            "--retention-days 5: {name} differs between 1 and 2 workers"
        );
    }
}
