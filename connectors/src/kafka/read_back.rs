//! Reading back what topics already hold, once, at start: the snapshot
//! topic's revisions (so that nothing published is published again) and
//! the dead letters sent before a restart (so that none is sent twice).
//!
//! Every partition of every topic asked for is assigned to one consumer at
//! once and read from its beginning up to the end it had when reading
//! began. Read one after the other, each partition waited out its own
//! first fetch, and a restart spent seconds here.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{KafkaError, KafkaSettings, METADATA_TIMEOUT};

/// A message read back: its key (empty when it has none) and value.
pub type KeyedMessage = (String, Vec<u8>);

/// Every message of `topic` from its beginning up to its end at the time
/// of the call, as (key, value), partition by partition in offset order.
/// A topic that does not exist holds nothing.
pub fn read_topic(settings: &KafkaSettings, topic: &str) -> Result<Vec<KeyedMessage>, KafkaError> {
    let mut topics = read_topics(settings, &[topic.to_string()])?;
    Ok(topics.remove(topic).unwrap_or_default())
}

/// [`read_topic`] of several topics with one consumer: per topic that
/// holds messages, its messages.
pub fn read_topics(
    settings: &KafkaSettings,
    topics: &[String],
) -> Result<BTreeMap<String, Vec<KeyedMessage>>, KafkaError> {
    let mut config = settings.client_config();
    // Partitions are assigned by hand, but librdkafka assigns only in a
    // named group; the id also names the client.
    config.set("group.id", "streamflix-read-back");
    // Everything is read again at every start: nothing to commit.
    config.set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config
        .create()
        .map_err(settings.error("creating a consumer"))?;
    // Per partition holding messages: where reading stands, where it ends,
    // and what it read.
    let mut partitions: BTreeMap<(String, i32), (i64, i64, Vec<KeyedMessage>)> = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(settings.error(format!("reading the metadata of {topic}")))?;
        for found in metadata.topics() {
            if found.error().is_some() {
                // The topic does not exist yet: nothing was written to it.
                continue;
            }
            for partition in found.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)
                    .map_err(settings.error(format!("reading the offsets of {topic}")))?;
                if high > low {
                    assignment
                        .add_partition_offset(topic, partition.id(), Offset::Offset(low))
                        .map_err(settings.error("assigning a partition"))?;
                    partitions.insert((topic.clone(), partition.id()), (low, high, Vec::new()));
                }
            }
        }
    }
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    consumer
        .assign(&assignment)
        .map_err(settings.error("assigning the partitions"))?;
    let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
    let unfinished =
        |(_, (next, high, _)): &(&(String, i32), &(i64, i64, Vec<KeyedMessage>))| next < high;
    while partitions.iter().any(|entry| unfinished(&entry)) {
        if std::time::Instant::now() > deadline {
            let ((topic, partition), (next, high, _)) = partitions
                .iter()
                .find(|entry| unfinished(entry))
                .expect("some partition is unfinished");
            return Err(KafkaError::Other(format!(
                "reading {topic}/{partition} stopped at offset {next} of {high}: the broker did not deliver the rest within {METADATA_TIMEOUT:?}"
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let place = (message.topic().to_string(), message.partition());
                let Some((next, _, read)) = partitions.get_mut(&place) else {
                    continue;
                };
                *next = message.offset() + 1;
                let key = message
                    .key()
                    .map(|key| String::from_utf8_lossy(key).into_owned())
                    .unwrap_or_default();
                read.push((key, message.payload().unwrap_or_default().to_vec()));
            }
            Some(Err(error)) => tracing::warn!(%error, "kafka read error, retrying"),
            None => {}
        }
    }
    let mut by_topic: BTreeMap<String, Vec<KeyedMessage>> = BTreeMap::new();
    for ((topic, _), (_, _, read)) in partitions {
        by_topic.entry(topic).or_default().extend(read);
    }
    Ok(by_topic)
}
