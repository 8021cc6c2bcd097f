//! The Kafka source: a worker's share of the feed partitions.
//!
//! Every worker of every process computes the same list of partitions (all
//! partitions of every feed topic, sorted by feed then partition) and takes
//! every `peers`-th one starting at its own index, so the partitions are
//! spread over the whole cluster without a consumer group and each is read
//! by exactly one worker. Partitions are read from the beginning: the
//! engine's state is rebuilt from the retained topics at every start.
//!
//! Each partition keeps its own watermark input (the greatest event time
//! read), whether it has been idle for a while (so that a quiet partition
//! does not hold the frontier back) and whether it has reached the end it
//! had when the source opened (so that a restarted service knows when it
//! has caught up with what it had already seen).

use std::collections::HashMap;
use std::time::{Duration, Instant as WallInstant};

use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Timestamp;
use serde::{Deserialize, Serialize};
use streamflix_model::records::Record;
use streamflix_model::{Feed, Instant};

use super::{KafkaError, KafkaSettings, METADATA_TIMEOUT};
use crate::dead_letter::DeadLetter;
use crate::decode::decode;

/// One partition of one feed topic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPartition {
    pub feed: Feed,
    pub topic: String,
    pub partition: i32,
}

/// What a partition's reader knows about it, reported into the dataflow
/// so that one place can tell which periods are complete.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionProgress {
    pub feed: Feed,
    pub topic: String,
    pub partition: i32,
    /// The greatest event time read, in milliseconds since the epoch.
    pub max_event_ms: Option<i64>,
    /// Caught up, and no message for the idle timeout: it does not hold
    /// the frontier back.
    pub idle: bool,
    /// Read up to the end the partition had when the source opened.
    pub caught_up: bool,
    /// Messages read from the partition, dead letters included.
    pub messages: u64,
}

/// One message read: a record, or a dead letter with its message's place.
#[derive(Debug)]
pub enum Polled {
    /// A decoded record, its partition and its offset: the read position
    /// that settles which of two rows of one key counts (see `produce` for
    /// the keys that keep such rows in one partition).
    Record {
        record: Record,
        partition: i32,
        offset: u64,
    },
    Dead {
        letter: DeadLetter,
        topic: String,
        partition: i32,
        offset: i64,
        payload: Vec<u8>,
    },
}

/// Every partition of every feed topic, in the order workers share them.
pub fn all_partitions(
    settings: &KafkaSettings,
    consumer: &BaseConsumer,
) -> Result<Vec<FeedPartition>, KafkaError> {
    let mut partitions = Vec::new();
    for feed in settings.feeds()? {
        let topic = settings.topic(feed);
        let metadata = consumer
            .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
            .map_err(settings.error(format!("reading the metadata of {topic}")))?;
        for found in metadata.topics() {
            if let Some(error) = found.error() {
                return Err(KafkaError::Topic {
                    topic: topic.clone(),
                    reason: format!("{error:?}"),
                });
            }
            for partition in found.partitions() {
                partitions.push(FeedPartition {
                    feed,
                    topic: topic.clone(),
                    partition: partition.id(),
                });
            }
        }
    }
    partitions.sort();
    Ok(partitions)
}

/// The partitions worker `worker` of `peers` reads.
pub fn share(partitions: &[FeedPartition], worker: usize, peers: usize) -> Vec<FeedPartition> {
    partitions
        .iter()
        .enumerate()
        .filter(|(index, _)| index % peers == worker)
        .map(|(_, partition)| partition.clone())
        .collect()
}

struct PartitionState {
    feed: Feed,
    end_at_open: i64,
    next_offset: i64,
    max_event_ms: Option<i64>,
    last_message: WallInstant,
    messages: u64,
}

/// A worker's reader of its partitions.
pub struct KafkaSource {
    consumer: BaseConsumer,
    /// By topic, then partition: a message's topic is looked up as the
    /// `&str` the client hands out, without allocating per message.
    partitions: HashMap<String, HashMap<i32, PartitionState>>,
    read: u64,
    /// How many partitions the whole cluster reads, this worker's included.
    cluster_partitions: usize,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field(
                "partitions",
                &self.partitions.values().map(HashMap::len).sum::<usize>(),
            )
            .field("read", &self.read)
            .finish()
    }
}

impl KafkaSource {
    /// How many partitions every worker of the cluster reads together.
    pub fn cluster_partitions(&self) -> usize {
        self.cluster_partitions
    }

    /// Opens worker `worker`'s share of the feed partitions, from the
    /// beginning of each.
    pub fn open(
        settings: &KafkaSettings,
        worker: usize,
        peers: usize,
    ) -> Result<KafkaSource, KafkaError> {
        let mut config = settings.client_config();
        // Partitions are assigned by hand, never by a group, but
        // librdkafka assigns only in a named group; the id also names the
        // client in broker logs.
        config.set("group.id", "streamflix-engine");
        // Nothing is committed: the state is rebuilt from the start of
        // every partition at each start.
        config.set("enable.auto.commit", "false");
        // Likewise no offsets are stored for a commit that never comes.
        config.set("enable.auto.offset.store", "false");
        // Wait at most 100 ms for a fetch to fill: latency stays low when
        // traffic is thin.
        config.set("fetch.wait.max.ms", "100");
        // Keep a deep local queue: start-up reads whole topics, and the
        // worker polls in bursts between dataflow steps.
        config.set("queued.min.messages", "200000");
        // Large fetches for the same reason (50 MB per request) ...
        config.set("fetch.max.bytes", "52428800");
        // ... and up to 10 MB per partition in each.
        config.set("max.partition.fetch.bytes", "10485760");
        // Once a partition's local queue is full, look again after 10 ms,
        // not librdkafka's default second: catching up, the workers drain
        // a full queue in well under a second and then sat idle, waiting
        // for the next fetch (a second-long gap in every bench run).
        config.set("fetch.queue.backoff.ms", "10");
        let consumer: BaseConsumer = config
            .create()
            .map_err(settings.error("creating a consumer"))?;
        let every = all_partitions(settings, &consumer)?;
        let cluster_partitions = every.len();
        let mine = share(&every, worker, peers);
        let mut assignment = TopicPartitionList::new();
        let mut partitions = HashMap::new();
        let now = WallInstant::now();
        for partition in &mine {
            let (low, high) = consumer
                .fetch_watermarks(&partition.topic, partition.partition, METADATA_TIMEOUT)
                .map_err(settings.error(format!(
                    "reading the offsets of {}/{}",
                    partition.topic, partition.partition
                )))?;
            assignment
                .add_partition_offset(&partition.topic, partition.partition, Offset::Beginning)
                .map_err(settings.error("assigning partitions"))?;
            partitions
                .entry(partition.topic.clone())
                .or_insert_with(HashMap::new)
                .insert(
                    partition.partition,
                    PartitionState {
                        feed: partition.feed,
                        end_at_open: high,
                        // Reading starts at the log's first offset: a
                        // partition whose records have all been deleted
                        // (topic retention) is caught up from the start.
                        next_offset: low,
                        max_event_ms: None,
                        last_message: now,
                        messages: 0,
                    },
                );
        }
        consumer
            .assign(&assignment)
            .map_err(settings.error("assigning partitions"))?;
        tracing::info!(worker, partitions = mine.len(), "kafka source opened");
        Ok(KafkaSource {
            consumer,
            partitions,
            read: 0,
            cluster_partitions,
        })
    }

    /// Reads up to `max` messages into `out`, waiting at most `wait` for the
    /// first one. Transient broker errors are logged and retried by
    /// librdkafka; they never end the source.
    pub fn poll(&mut self, max: usize, wait: Duration, out: &mut Vec<Polled>) -> usize {
        let mut count = 0;
        let mut timeout = wait;
        // One clock reading per call: a poll lasts milliseconds, and the
        // idle timeout is counted in seconds.
        let mut now = None;
        while count < max {
            let Some(result) = self.consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let message = match result {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "kafka consumer error, retrying");
                    break;
                }
            };
            let partition = message.partition();
            let offset = message.offset();
            let Some(state) = self
                .partitions
                .get_mut(message.topic())
                .and_then(|partitions| partitions.get_mut(&partition))
            else {
                continue;
            };
            state.next_offset = offset + 1;
            state.last_message = *now.get_or_insert_with(WallInstant::now);
            state.messages += 1;
            let payload = message.payload().unwrap_or_default();
            let polled = match decode(state.feed, payload) {
                Ok(mut record) => {
                    if let Record::Viewing(viewing) = &mut record
                        && viewing.received_at.is_none()
                    {
                        viewing.received_at = message_time(message.timestamp());
                    }
                    if let Some(event) = record.event_time() {
                        let ms = event.0.div_euclid(1_000_000);
                        state.max_event_ms = Some(state.max_event_ms.map_or(ms, |max| max.max(ms)));
                    }
                    Polled::Record {
                        record,
                        partition,
                        offset: offset.max(0) as u64,
                    }
                }
                Err(error) => Polled::Dead {
                    letter: DeadLetter::new(
                        state.feed,
                        format!("{}/{partition}:{offset}", message.topic()),
                        &error,
                        payload,
                    ),
                    topic: message.topic().to_string(),
                    partition,
                    offset,
                    payload: payload.to_vec(),
                },
            };
            out.push(polled);
            count += 1;
        }
        self.read += count as u64;
        count
    }

    /// The state of every partition this source reads.
    pub fn progress(&self, idle_after: Duration) -> Vec<PartitionProgress> {
        let now = WallInstant::now();
        let mut progress: Vec<PartitionProgress> = self
            .partitions
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(move |(partition, state)| (topic, partition, state))
            })
            .map(|(topic, partition, state)| {
                let caught_up = state.next_offset >= state.end_at_open;
                PartitionProgress {
                    feed: state.feed,
                    topic: topic.clone(),
                    partition: *partition,
                    max_event_ms: state.max_event_ms,
                    // A partition with a backlog is never idle, however
                    // long since its last message: its worker may be
                    // waiting for the dataflow rather than the broker.
                    idle: caught_up && now.duration_since(state.last_message) >= idle_after,
                    caught_up,
                    messages: state.messages,
                }
            })
            .collect();
        progress.sort();
        progress
    }

    /// Messages read so far.
    pub fn read(&self) -> u64 {
        self.read
    }
}

/// A message timestamp as an instant, when the message has one.
fn message_time(timestamp: Timestamp) -> Option<Instant> {
    timestamp
        .to_millis()
        .filter(|ms| *ms >= 0)
        .map(|ms| Instant(ms * 1_000_000))
}
