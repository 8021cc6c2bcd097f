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
//!
//! Every partition has its own librdkafka queue, and a poll takes from
//! them in turn, so that the service can hold a partition that runs ahead
//! of the others in event time by not reading its queue
//! ([`KafkaSource::pace`]): nothing is dropped and fetched again.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant as WallInstant};

use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::{BorrowedMessage, Timestamp};
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

/// What has been read from one partition this worker reads.
struct PartitionReader {
    feed: Feed,
    topic: String,
    partition: i32,
    end_at_open: i64,
    next_offset: i64,
    max_event_ms: Option<i64>,
    last_message: WallInstant,
    messages: u64,
    /// Held by [`KafkaSource::pace`]: its event time ran ahead, so its
    /// queue is not read.
    held: bool,
}

impl PartitionReader {
    /// Takes in one message of this partition.
    fn read(&mut self, message: &BorrowedMessage<'_>, now: WallInstant) -> Polled {
        let offset = message.offset();
        let partition = self.partition;
        // A message taken from the client's own queue (see `serve`) may
        // come after later ones of its partition.
        self.next_offset = self.next_offset.max(offset + 1);
        self.last_message = now;
        self.messages += 1;
        let payload = message.payload().unwrap_or_default();
        match decode(self.feed, payload) {
            Ok(mut record) => {
                if let Record::Viewing(viewing) = &mut record
                    && viewing.received_at.is_none()
                {
                    viewing.received_at = message_time(message.timestamp());
                }
                if let Some(event) = record.event_time() {
                    let ms = event.0.div_euclid(1_000_000);
                    self.max_event_ms = Some(self.max_event_ms.map_or(ms, |max| max.max(ms)));
                }
                Polled::Record {
                    record,
                    partition,
                    offset: offset.max(0) as u64,
                }
            }
            Err(error) => Polled::Dead {
                letter: DeadLetter::new(
                    self.feed,
                    format!("{}/{partition}:{offset}", self.topic),
                    &error,
                    payload,
                ),
                topic: self.topic.clone(),
                partition,
                offset,
                payload: payload.to_vec(),
            },
        }
    }

    fn caught_up(&self) -> bool {
        self.next_offset >= self.end_at_open
    }

    /// Whether to hold the partition, now `ahead` ms past the cluster's
    /// slowest: a paced partition with a backlog is held beyond
    /// `ahead_ms` and let go within half of it (so that it does not flap
    /// at the edge); a caught-up one is never held (live data waits for
    /// nothing).
    fn held_next(&self, paced: bool, ahead: i64, ahead_ms: i64) -> bool {
        if self.caught_up() || !paced {
            false
        } else if self.held {
            ahead > ahead_ms / 2
        } else {
            ahead > ahead_ms
        }
    }
}

/// A worker's reader of its partitions.
pub struct KafkaSource {
    /// Each reader's own queue, split from the consumer's so that a
    /// partition can be left unread while it runs ahead. Declared before
    /// `consumer` so that the queues are destroyed while the client is
    /// still alive (fields drop in order).
    queues: Vec<PartitionQueue<DefaultConsumerContext>>,
    /// Serves the client's callbacks and errors; every partition's
    /// messages come through its own queue.
    consumer: Arc<BaseConsumer>,
    readers: Vec<PartitionReader>,
    /// Raised by librdkafka when a partition queue goes from empty to not
    /// empty: what a poll with nothing queued waits for.
    arrived: Arc<Arrived>,
    /// The reader the next poll starts with: partitions take turns.
    next_reader: usize,
    read: u64,
    /// How many partitions the whole cluster reads, this worker's included.
    cluster_partitions: usize,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("partitions", &self.readers.len())
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
        // Should topic retention delete records ahead of where a partition
        // is read (more likely now that a partition may be held while the
        // others catch up), go on from the log's start, not its end
        // (librdkafka's default): the records deleted are gone either way,
        // the ones after them are not.
        config.set("auto.offset.reset", "earliest");
        // The fetch tuning below are defaults: `[kafka.properties]` may set
        // any of them (the settings above it are what the service relies on
        // and always win).
        let mut tune = |keys: &[&str], value: &str| {
            // `keys`: the setting's name and its aliases.
            if !keys
                .iter()
                .any(|key| settings.properties.contains_key(*key))
            {
                config.set(keys[0], value);
            }
        };
        // Wait at most 100 ms for a fetch to fill: latency stays low when
        // traffic is thin.
        tune(&["fetch.wait.max.ms"], "100");
        // Keep a deep local queue: start-up reads whole topics, and the
        // worker polls in bursts between dataflow steps. A held partition
        // (see `pace`) stops being fetched once its queue is this full.
        tune(&["queued.min.messages"], "200000");
        // ... but at most 4 MB of it per partition (librdkafka's default
        // is 64 MB): a held partition keeps its queue full, and the small
        // feeds are held for most of a catch-up. At 10,000 subscribers x
        // 120 days, 16 MB took the peak RSS from 2.1 GB to 1.7 GB, and a
        // heap profile still found librdkafka's fetch buffers and queued
        // messages holding 360 MB at the peak; 4 MB took it from 1.58 to
        // 1.38 GB (and 1.27 to 1.02 GB at 30 days). The 120-day catch-up
        // took 111.5 s against 106.5 s, the 30-day one 27.0 and 24.4 s in
        // two runs against 24.9 s (single runs otherwise).
        tune(&["queued.max.messages.kbytes"], "4096");
        // Large fetches for the same reason (50 MB per request) ...
        tune(&["fetch.max.bytes"], "52428800");
        // ... and up to 2 MB per partition in each, within the queue's bound.
        tune(
            &["fetch.message.max.bytes", "max.partition.fetch.bytes"],
            "2097152",
        );
        // Once a partition's local queue is full, look again after 10 ms,
        // not librdkafka's default second: catching up, the workers drain
        // a full queue in well under a second and then sat idle, waiting
        // for the next fetch (a second-long gap in every bench run).
        tune(&["fetch.queue.backoff.ms"], "10");
        let consumer: Arc<BaseConsumer> = Arc::new(
            config
                .create()
                .map_err(settings.error("creating a consumer"))?,
        );
        let every = all_partitions(settings, &consumer)?;
        let cluster_partitions = every.len();
        let mine = share(&every, worker, peers);
        let mut assignment = TopicPartitionList::new();
        let mut ends = Vec::with_capacity(mine.len());
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
            ends.push((low, high));
        }
        consumer
            .assign(&assignment)
            .map_err(settings.error("assigning partitions"))?;
        let now = WallInstant::now();
        let mut readers = Vec::with_capacity(mine.len());
        let mut queues = Vec::with_capacity(mine.len());
        let arrived = Arc::new(Arrived::default());
        for (partition, (low, high)) in mine.iter().zip(ends) {
            // Split after `assign` (which drops earlier splits) and before
            // the first poll, so that no message of it goes to the
            // consumer's own queue.
            let mut queue = consumer
                .split_partition_queue(&partition.topic, partition.partition)
                .ok_or_else(|| KafkaError::Topic {
                    topic: partition.topic.clone(),
                    reason: format!(
                        "librdkafka gave no queue for partition {} after assigning it",
                        partition.partition
                    ),
                })?;
            let waker = arrived.clone();
            queue.set_nonempty_callback(move || waker.raise());
            queues.push(queue);
            readers.push(PartitionReader {
                feed: partition.feed,
                topic: partition.topic.clone(),
                partition: partition.partition,
                end_at_open: high,
                // Reading starts at the log's first offset: a partition
                // whose records have all been deleted (topic retention) is
                // caught up from the start.
                next_offset: low,
                max_event_ms: None,
                last_message: now,
                messages: 0,
                held: false,
            });
        }
        tracing::info!(worker, partitions = mine.len(), "kafka source opened");
        Ok(KafkaSource {
            queues,
            consumer,
            readers,
            arrived,
            next_reader: 0,
            read: 0,
            cluster_partitions,
        })
    }

    /// Reads up to `max` messages into `out` from the partitions not held,
    /// taking turns, and waits at most `wait` when none has any. Transient
    /// broker errors are logged and retried by librdkafka; they never end
    /// the source.
    pub fn poll(&mut self, max: usize, wait: Duration, out: &mut Vec<Polled>) -> usize {
        let mut count = self.serve(max, out);
        count += self.drain(max - count, out);
        if count == 0 && !wait.is_zero() {
            // Nothing queued in any partition read: wait for one to fill,
            // or for the timeout.
            self.arrived.wait(wait);
            count = self.serve(max, out);
            count += self.drain(max - count, out);
        }
        self.read += count as u64;
        count
    }

    /// Serves the client's own queue: callbacks, errors, and any message
    /// fetched between `assign` and its partition's split (librdkafka may
    /// have queued one there), which goes to its partition's reader like
    /// any other.
    fn serve(&mut self, max: usize, out: &mut Vec<Polled>) -> usize {
        let mut count = 0;
        while count < max {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Err(error)) => {
                    tracing::warn!(%error, "kafka consumer error, retrying");
                    break;
                }
                Some(Ok(message)) => {
                    let Some(reader) = self.readers.iter_mut().find(|reader| {
                        reader.partition == message.partition() && reader.topic == message.topic()
                    }) else {
                        continue;
                    };
                    out.push(reader.read(&message, WallInstant::now()));
                    count += 1;
                }
            }
        }
        count
    }

    /// Takes up to `max` queued messages, each partition in turn.
    fn drain(&mut self, max: usize, out: &mut Vec<Polled>) -> usize {
        let mut count = 0;
        let readers = self.readers.len();
        // One clock reading per call: a poll lasts milliseconds, and the
        // idle timeout is counted in seconds.
        let now = WallInstant::now();
        for step in 0..readers {
            let index = (self.next_reader + step) % readers;
            let (reader, queue) = (&mut self.readers[index], &self.queues[index]);
            if reader.held {
                continue;
            }
            while count < max {
                match queue.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(message)) => {
                        let polled = reader.read(&message, now);
                        out.push(polled);
                        count += 1;
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, topic = reader.topic, partition = reader.partition, "kafka partition error, retrying");
                        break;
                    }
                }
            }
            if count >= max {
                // The next poll starts with the partition after this one.
                self.next_reader = (index + 1) % readers;
                break;
            }
        }
        count
    }

    /// The state of every partition this source reads.
    pub fn progress(&self, idle_after: Duration) -> Vec<PartitionProgress> {
        let now = WallInstant::now();
        let mut progress: Vec<PartitionProgress> = self
            .readers
            .iter()
            .map(|reader| {
                let caught_up = reader.caught_up();
                PartitionProgress {
                    feed: reader.feed,
                    topic: reader.topic.clone(),
                    partition: reader.partition,
                    max_event_ms: reader.max_event_ms,
                    // A partition with a backlog is never idle, however
                    // long since its last message: its worker may be
                    // waiting for the dataflow rather than the broker.
                    idle: caught_up && now.duration_since(reader.last_message) >= idle_after,
                    caught_up,
                    messages: reader.messages,
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

    /// Paces the catch-up by event time (Flink's watermark alignment): a
    /// partition of a `paced` feed that has not caught up yet is held (its
    /// queue left unread) while its greatest event time is more than
    /// `ahead_ms` past `reach` (the cluster's slowest partition), and read
    /// again once it is within half of that. Without it the small feeds
    /// (ad revenue, billing) are read to their end within seconds and wait,
    /// decoded, in the dataflow's state for the viewing watermark to reach
    /// them. A held partition's messages wait in librdkafka's queue, which
    /// stops fetching once it is full (`queued.min.messages`,
    /// `queued.max.messages.kbytes`): nothing is lost or fetched twice.
    /// `reach` of `None` holds nothing. Returns how many partitions are
    /// held.
    pub fn pace(
        &mut self,
        reach: Option<i64>,
        ahead_ms: i64,
        paced: impl Fn(Feed) -> bool,
    ) -> usize {
        let mut held = 0;
        for reader in &mut self.readers {
            let ahead = match (reach, reader.max_event_ms) {
                (Some(reach), Some(max)) => max - reach,
                _ => 0,
            };
            let hold = reader.held_next(paced(reader.feed), ahead, ahead_ms);
            if hold != reader.held {
                tracing::debug!(
                    topic = reader.topic,
                    partition = reader.partition,
                    hold,
                    ahead_ms = ahead,
                    "partition paced"
                );
                reader.held = hold;
            }
            held += usize::from(hold);
        }
        held
    }
}

/// Whether a message has arrived in a partition queue since the last
/// wait: librdkafka calls [`Arrived::raise`] from its own threads when a
/// queue goes from empty to not empty.
#[derive(Debug, Default)]
struct Arrived {
    raised: Mutex<bool>,
    changed: Condvar,
}

impl Arrived {
    fn raise(&self) {
        *self.raised.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_one();
    }

    /// Waits until raised or `timeout` has passed, and lowers it.
    fn wait(&self, timeout: Duration) {
        let raised = self.raised.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut raised, _) = self
            .changed
            .wait_timeout_while(raised, timeout, |raised| !*raised)
            .unwrap_or_else(PoisonError::into_inner);
        *raised = false;
    }
}

/// A message timestamp as an instant, when the message has one.
fn message_time(timestamp: Timestamp) -> Option<Instant> {
    timestamp
        .to_millis()
        .filter(|ms| *ms >= 0)
        .map(|ms| Instant(ms * 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(next_offset: i64, held: bool) -> PartitionReader {
        PartitionReader {
            feed: Feed::AdRevenue,
            topic: "ad_revenue".into(),
            partition: 0,
            end_at_open: 100,
            next_offset,
            max_event_ms: None,
            last_message: WallInstant::now(),
            messages: 0,
            held,
        }
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_partition_with_a_backlog_is_held_beyond_the_allowance_and_let_go_within_half() {
        let free = reader(10, false);
        assert!(
            !free.held_next(true, DAY, DAY),
            "at the allowance it reads on"
        );
        assert!(free.held_next(true, DAY + 1, DAY));
        let held = reader(10, true);
        assert!(
            held.held_next(true, DAY / 2 + 1, DAY),
            "still more than half ahead"
        );
        assert!(!held.held_next(true, DAY / 2, DAY));
        assert!(!held.held_next(true, -DAY, DAY), "behind: read it");
    }

    #[test]
    fn caught_up_or_unpaced_partitions_are_never_held() {
        assert!(!reader(100, false).held_next(true, 10 * DAY, DAY));
        assert!(!reader(100, true).held_next(true, 10 * DAY, DAY));
        assert!(!reader(10, true).held_next(false, 10 * DAY, DAY));
    }
}
