//! The snapshot topic takes revisions over Kafka's default message size
//! (a month of `profit_subscriber_monthly` for a few thousand subscribers),
//! and a revision the broker refuses is an error, never a silent loss.

use std::time::Duration;

use streamflix_connectors::kafka::KafkaError;
use streamflix_connectors::kafka::admin::ensure_topics_with;
use streamflix_connectors::kafka::snapshots::{
    SnapshotProducer, ensure_snapshot_topic, read_topic,
};

use crate::support::{bootstrap, kafka_settings};

/// Bytes that no compression shrinks much, so that the size the broker
/// checks is close to the size sent.
fn incompressible(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn a_snapshot_over_a_megabyte_is_published_and_read_back_whole() {
    let _turn = crate::support::one_at_a_time();
    let settings = kafka_settings(&bootstrap(), "large-snapshot");
    ensure_snapshot_topic(&settings).unwrap();
    let producer = SnapshotProducer::new(&settings).unwrap();
    let large = incompressible(3 << 20, 7);
    producer
        .send("profit_subscriber_monthly/2026-10", &large)
        .unwrap();
    producer.flush(Duration::from_secs(60)).unwrap();
    let messages = read_topic(&settings, &settings.snapshots_topic).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0, "profit_subscriber_monthly/2026-10");
    assert!(messages[0].1 == large, "the revision came back changed");
}

#[test]
fn a_revision_the_broker_refuses_fails_the_flush_with_the_reason() {
    let _turn = crate::support::one_at_a_time();
    let settings = kafka_settings(&bootstrap(), "refused-snapshot");
    // A snapshot topic made elsewhere, with a small limit.
    ensure_topics_with(
        &settings,
        &[(
            settings.snapshots_topic.as_str(),
            &[("max.message.bytes", "10000")],
        )],
    )
    .unwrap();
    let producer = SnapshotProducer::new(&settings).unwrap();
    producer
        .send("growth_daily/2026-10-01", &incompressible(50_000, 11))
        .unwrap();
    let error = producer.flush(Duration::from_secs(60)).unwrap_err();
    assert!(
        matches!(error, KafkaError::Refused { refused: 1, .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("max.message.bytes"), "{text}");
    assert!(text.contains("Message size too large"), "{text}");
    // Nothing reached the topic, and the producer is usable again.
    assert!(
        read_topic(&settings, &settings.snapshots_topic)
            .unwrap()
            .is_empty()
    );
    producer.send("growth_daily/2026-10-01", b"{}").unwrap();
    producer.flush(Duration::from_secs(60)).unwrap();
}
