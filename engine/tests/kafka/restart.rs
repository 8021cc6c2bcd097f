//! The service killed with SIGKILL mid-stream and started again: the same
//! final snapshots, no revision published twice, and no dead letter sent
//! twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use streamflix_connectors::kafka::dead_letters::dlq_topic;
use streamflix_connectors::kafka::produce::produce_directory;
use streamflix_connectors::kafka::snapshots::read_topic;
use streamflix_engine::snapshots::SnapshotMessage;

use crate::support::*;

#[test]
fn a_killed_service_restarts_without_loss_or_duplicate_revisions() {
    let _turn = crate::support::one_at_a_time();
    let input = generated(300, 21, 11);
    let (first, second) = halves(input.path());
    let kafka = kafka_settings(&bootstrap(), "restart");
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &kafka);
    // Every record is kept, as in the replay this is compared with: the
    // second half comes after the cluster has gone idle, and under the
    // default horizons the idle cluster's watermark (the furthest of its
    // feeds) had passed the first days of the second half's viewing.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[retention]\nenabled = false\n");
    std::fs::write(&config, text).unwrap();

    let first_count: u64 = produce_directory(&kafka, first.path(), |_| {})
        .unwrap()
        .values()
        .sum();
    let mut service = Service::start(&config, &["-w", "2"], "first.log");
    service.wait_settled(first_count);
    let published_before = service.status().unwrap()["published"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        published_before > 0,
        "the first half completes some periods"
    );
    // More data while it runs, then SIGKILL in the middle of reading it.
    let second_count: u64 = produce_directory(&kafka, second.path(), |_| {})
        .unwrap()
        .values()
        .sum();
    service.wait_for(
        "reading the second half",
        Duration::from_secs(60),
        |status| status["messages"].as_u64().unwrap_or(0) > first_count,
    );
    service.kill();

    let mut restarted = Service::start(&config, &["-w", "2"], "second.log");
    restarted.wait_settled(first_count + second_count);
    restarted.terminate();

    let replay = replayed(input.path());
    let tables = replay.tables;
    let snapshots = latest_snapshots(&work.path().join("snapshots"));
    let expected = due_engagement_weeks(input.path(), &tables);
    assert_snapshots_match_replay(&snapshots, &tables, &expected);

    // On the topic: every key's revisions are 1, 2, ... once each, and
    // each revision differs from the one before.
    let mut revisions: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for (key, value) in read_topic(&kafka, &kafka.snapshots_topic).unwrap() {
        let message: SnapshotMessage = serde_json::from_slice(&value).unwrap();
        revisions
            .entry(key)
            .or_default()
            .push((message.revision, message.digest));
    }
    assert!(!revisions.is_empty());
    for (key, list) in &revisions {
        let numbers: Vec<u32> = list.iter().map(|(revision, _)| *revision).collect();
        let expected: Vec<u32> = (1..=list.len() as u32).collect();
        assert_eq!(numbers, expected, "revisions of {key} on the topic");
        for pair in list.windows(2) {
            assert_ne!(
                pair[0].1, pair[1].1,
                "{key}: revision {} repeats {}",
                pair[1].0, pair[0].0
            );
        }
    }

    // The restarted service read the refused messages of the first run
    // again: each dead letter is on its topic once, none missing.
    let expected_letters = replay.dead_letters;
    assert!(
        expected_letters.values().sum::<u64>() > 0,
        "the generator injects malformed records"
    );
    for (feed, count) in expected_letters {
        let topic = dlq_topic(&kafka.topic(feed));
        let keys: Vec<String> = read_topic(&kafka, &topic)
            .unwrap()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let distinct: BTreeSet<&String> = keys.iter().collect();
        assert_eq!(
            distinct.len(),
            keys.len(),
            "a dead letter sent twice to {topic}"
        );
        assert_eq!(keys.len() as u64, count, "dead letters on {topic}");
    }
}
