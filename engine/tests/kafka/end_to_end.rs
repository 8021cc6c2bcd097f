//! Generated feeds produced to topics: the service's snapshots equal
//! `streamflix replay` of the same files, and malformed messages land in
//! the dead-letter topics with Kafka Connect's headers.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use streamflix_connectors::kafka::dead_letters::{dlq_topic, headers};
use streamflix_connectors::kafka::produce::produce_directory;

use crate::support::*;

#[test]
fn snapshots_equal_replay_and_bad_messages_reach_the_dead_letter_topics() {
    let _turn = crate::support::one_at_a_time();
    let input = generated(300, 21, 7);
    let kafka = kafka_settings(&bootstrap(), "e2e");
    let produced = produce_directory(&kafka, input.path(), |_| {}).expect("produce");
    let total: u64 = produced.values().sum();
    assert_eq!(total, line_count(input.path()));

    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &kafka);
    let mut service = Service::start(&config, &["-w", "2"], "service.log");
    service.wait_settled(total);
    let status = service.status().unwrap();
    let log = service.terminate();
    assert!(
        log.contains("streamflix run stopped"),
        "no clean stop in the log:\n{log}"
    );

    let replay = replayed(input.path());
    let tables = replay.tables;
    let snapshots = latest_snapshots(&work.path().join("snapshots"));
    let expected = due_engagement_weeks(input.path(), &tables);
    assert!(
        expected.len() >= 2,
        "the data should hold two complete weeks: {expected:?}"
    );
    assert_snapshots_match_replay(&snapshots, &tables, &expected);
    // Data produced before the service started gives first revisions only.
    assert!(snapshots.values().all(|message| message.revision == 1));

    // Dead letters: every refused message, once, with its origin and reason.
    let expected_per_feed = replay.dead_letters;
    assert!(
        expected_per_feed.values().sum::<u64>() > 0,
        "the generator injects malformed records"
    );
    assert_eq!(
        status["dead_letters"].as_u64().unwrap(),
        expected_per_feed.values().sum::<u64>()
    );
    for (feed, count) in expected_per_feed {
        let topic = kafka.topic(feed);
        let letters = read_all(&kafka, &dlq_topic(&topic));
        assert_eq!(letters.len() as u64, count, "dead letters of {topic}");
        for (message_headers, payload) in letters {
            assert_eq!(message_headers[headers::TOPIC], topic);
            let partition: i32 = message_headers[headers::PARTITION].parse().unwrap();
            let offset: i64 = message_headers[headers::OFFSET].parse().unwrap();
            assert!(partition >= 0 && offset >= 0);
            assert!(!message_headers[headers::KIND].is_empty());
            assert!(!message_headers[headers::MESSAGE].is_empty());
            assert!(
                streamflix_connectors::decode(feed, &payload).is_err(),
                "a dead letter must hold the original bytes, which do not decode"
            );
        }
    }
}

/// Every message of a topic with its headers.
pub fn read_all(
    kafka: &streamflix_connectors::kafka::KafkaSettings,
    topic: &str,
) -> Vec<(BTreeMap<String, String>, Vec<u8>)> {
    let mut config = kafka.client_config();
    config.set("group.id", "test-reader");
    config.set("auto.offset.reset", "earliest");
    config.set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    let mut end = 0;
    for partition in metadata.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
            .unwrap();
        end += high;
        assignment
            .add_partition_offset(topic, partition.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut found = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (found.len() as i64) < end && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let mut map = BTreeMap::new();
            if let Some(headers) = message.headers() {
                for header in headers.iter() {
                    map.insert(
                        header.key.to_string(),
                        String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            found.push((map, message.payload().unwrap_or_default().to_vec()));
        }
    }
    found
}
