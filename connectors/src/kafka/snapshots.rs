//! The snapshot topic: every published revision of every table and period,
//! keyed `<table>/<period>`, and reading back what it already holds.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::producer::ReliableProducer;
use super::{KafkaError, KafkaSettings, METADATA_TIMEOUT};

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

/// Every message of `topic` from its beginning up to its end at the time
/// of the call, as (key, value), partition by partition in offset order.
pub fn read_topic(
    settings: &KafkaSettings,
    topic: &str,
) -> Result<Vec<(String, Vec<u8>)>, KafkaError> {
    let mut config = settings.client_config();
    // Partitions are assigned by hand; the id only names the client.
    config.set("group.id", "streamflix-snapshot-reader");
    // The topic is read whole at every start: nothing to commit.
    config.set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config
        .create()
        .map_err(settings.error("creating a consumer"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(settings.error(format!("reading the metadata of {topic}")))?;
    let mut messages = Vec::new();
    for found in metadata.topics() {
        if found.error().is_some() {
            // The topic does not exist yet: nothing was published.
            continue;
        }
        for partition in found.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)
                .map_err(settings.error(format!("reading the offsets of {topic}")))?;
            if high <= low {
                continue;
            }
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Offset(low))
                .map_err(settings.error("assigning a partition"))?;
            consumer
                .assign(&assignment)
                .map_err(settings.error("assigning a partition"))?;
            let mut next = low;
            let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
            while next < high {
                if std::time::Instant::now() > deadline {
                    return Err(KafkaError::Other(format!(
                        "reading {topic}/{} stopped at offset {next} of {high}: the broker did not deliver the rest within {METADATA_TIMEOUT:?}",
                        partition.id()
                    )));
                }
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(message)) => {
                        next = message.offset() + 1;
                        let key = message
                            .key()
                            .map(|key| String::from_utf8_lossy(key).into_owned())
                            .unwrap_or_default();
                        messages.push((key, message.payload().unwrap_or_default().to_vec()));
                    }
                    Some(Err(error)) => tracing::warn!(%error, topic, "kafka read error, retrying"),
                    None => {}
                }
            }
        }
    }
    Ok(messages)
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
