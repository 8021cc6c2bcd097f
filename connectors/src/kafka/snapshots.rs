//! The snapshot topic: every published revision of every table and period,
//! keyed `<table>/<period>`, and reading back what it already holds.

use std::time::Duration;

use super::producer::ReliableProducer;
use super::{KafkaError, KafkaSettings};

pub use super::read_back::read_topic;

/// Publishes snapshot revisions.
pub struct SnapshotProducer {
    producer: ReliableProducer,
    topic: String,
}

impl std::fmt::Debug for SnapshotProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotProducer")
            .field("topic", &self.topic)
            .finish()
    }
}

/// The largest snapshot message, before compression: one revision is one
/// message, and a month of `profit_subscriber_monthly` for a few thousand
/// subscribers is already over Kafka's default of 1 MB. Above this, a
/// table's period would have to be split over several messages, which the
/// snapshot format does not do (ARCHITECTURE.md states the bound).
pub const SNAPSHOT_MAX_BYTES: usize = 64 << 20;

/// The topic settings the snapshot topic is created with: messages of up
/// to [`SNAPSHOT_MAX_BYTES`].
pub const SNAPSHOT_TOPIC_CONFIG: &[(&str, &str)] = &[("max.message.bytes", "67108864")];

/// Creates the snapshot topic if it is missing, with
/// [`SNAPSHOT_TOPIC_CONFIG`].
pub fn ensure_snapshot_topic(settings: &KafkaSettings) -> Result<(), KafkaError> {
    super::admin::ensure_topics_with(
        settings,
        &[(settings.snapshots_topic.as_str(), SNAPSHOT_TOPIC_CONFIG)],
    )
}

impl SnapshotProducer {
    pub fn new(settings: &KafkaSettings) -> Result<SnapshotProducer, KafkaError> {
        let max = SNAPSHOT_MAX_BYTES.to_string();
        let producer = ReliableProducer::with(
            settings,
            &[
                // A revision is one message, and large tables' periods are
                // over librdkafka's default limit of 1 MB.
                ("message.max.bytes", &max),
                // Snapshot JSON repeats its keys and digits: lz4 shrinks it
                // several times over at little CPU, and librdkafka always
                // has it (no system library).
                ("compression.type", "lz4"),
            ],
        )?;
        Ok(SnapshotProducer {
            producer,
            topic: settings.snapshots_topic.clone(),
        })
    }

    /// Queues one revision.
    pub fn send(&self, key: &str, value: &[u8]) -> Result<(), KafkaError> {
        self.producer
            .send(&self.topic, Some(key.as_bytes()), value, None, None)
    }

    /// Waits until every queued revision is acknowledged: a revision counts
    /// as published only then.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_takes_what_the_producer_sends() {
        assert_eq!(
            SNAPSHOT_TOPIC_CONFIG,
            [("max.message.bytes", SNAPSHOT_MAX_BYTES.to_string().as_str())]
        );
    }
}
