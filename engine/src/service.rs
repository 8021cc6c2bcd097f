//! `streamflix run`: the long-running service over Kafka.
//!
//! ```text
//!  every worker: its partitions ──poll──► decode ──► inputs ──► dataflow ──► worker 0's OutputStore
//!                   │                      └─► dead letter ──► <topic>.dlq       │
//!                   └─► partition progress (watermark, idle, caught up) ─────────┤
//!  worker 0: OutputStore ──publisher (complete? due? changed?)──► streamflix.snapshots + files
//! ```
//!
//! Every worker reads its share of the feed partitions from the beginning
//! (the state is rebuilt from the retained topics at every start), hands
//! each batch to the dataflow at a new epoch (milliseconds of wall time,
//! at least one past the last). A batch closes when it is full or as soon
//! as the dataflow has finished the ones before it; a worker keeps reading
//! while the dataflow works, polling a few thousand messages between steps
//! so that no worker waits on another that is busy decoding, but never
//! more than two batches ahead: a fast topic cannot flood memory. What each
//! partition's reader knows travels through the dataflow beside the data,
//! so worker 0 sees the data of an epoch and the watermarks that go with
//! it together. Worker 0 (of process 0) also publishes: it reads back what
//! the snapshot topic already holds before anything else, and publishes a
//! revision only once every partition has caught up with where it stood at
//! start-up, and only if its rows differ from the last revision.
//!
//! SIGTERM or SIGINT stops reading, lets the dataflow finish what it has,
//! publishes what is due, flushes the producers and exits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as WallInstant};

use serde::Serialize;
use streamflix_connectors::kafka::admin::ensure_topics_with;
use streamflix_connectors::kafka::dead_letters::{DeadLetterProducer, dlq_topic};
use streamflix_connectors::kafka::snapshots::{
    SNAPSHOT_TOPIC_CONFIG, SnapshotProducer, read_topic,
};
use streamflix_connectors::kafka::source::{KafkaSource, PartitionProgress, Polled};
use streamflix_connectors::kafka::{KafkaError, KafkaSettings};
use streamflix_model::{Calendar, Feed, Instant};

use crate::clock::{Retention, partitions_reach};
use crate::cluster::ClusterArgs;
use crate::config::ServiceConfig;
use crate::dataflow::{ClusterProgress, Epoch, Settings, admit, build};
use crate::incidents::ServiceIncidents;
use crate::output::{DeadLetterRow, OutputStore};
use crate::snapshots::{Pipeline, PipelineTime, Publisher, Snapshot, tables_of};

/// What can stop the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("a dataflow worker failed: {0}")]
    Worker(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Incidents(#[from] crate::incidents::IncidentsError),
}

/// What the service did, for its last words.
#[derive(Clone, Debug, Default)]
pub struct ServiceSummary {
    pub messages: u64,
    /// Dead letters sent to the dead-letter topics this run.
    pub dead_letters: u64,
    /// Refused messages whose dead letter an earlier run had sent.
    pub dead_letters_already_sent: u64,
    pub revisions_published: u64,
}

/// The status file the publisher keeps current: what an operator (or a
/// test) reads to see where the service stands.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub updated_at: String,
    /// Every partition has been read up to its end at start-up.
    pub caught_up: bool,
    /// Caught up, every partition idle, and nothing due unpublished.
    pub settled: bool,
    pub partitions: Vec<PartitionProgress>,
    pub messages: u64,
    pub dead_letters: usize,
    pub pipelines: Vec<(String, PipelineTime)>,
    /// Latest revision per snapshot key.
    pub published: Vec<(String, u32)>,
    pub revisions_published_this_run: u64,
}

/// Every topic the service reads or writes.
pub fn topics(kafka: &KafkaSettings) -> Vec<String> {
    let mut topics: Vec<String> = Feed::ALL.iter().map(|feed| kafka.topic(*feed)).collect();
    topics.extend(Feed::ALL.iter().map(|feed| dlq_topic(&kafka.topic(*feed))));
    topics.push(kafka.snapshots_topic.clone());
    topics
}

/// [`topics`] and the incidents topic, if one is configured.
pub fn service_topics(config: &ServiceConfig) -> Vec<String> {
    let mut topics = topics(&config.kafka);
    if !config.runbooks.incidents_topic.is_empty() {
        topics.push(config.runbooks.incidents_topic.clone());
    }
    topics
}

/// Creates the topics of [`service_topics`] that are missing, the
/// snapshot topic taking larger messages than Kafka's default.
pub fn ensure_service_topics(config: &ServiceConfig) -> Result<(), ServiceError> {
    let topics = service_topics(config);
    let with_settings: Vec<(&str, &[(&str, &str)])> = topics
        .iter()
        .map(|topic| {
            let settings = if *topic == config.kafka.snapshots_topic {
                SNAPSHOT_TOPIC_CONFIG
            } else {
                &[]
            };
            (topic.as_str(), settings)
        })
        .collect();
    Ok(ensure_topics_with(&config.kafka, &with_settings)?)
}

/// Runs the service until `stop` is raised.
pub fn run(
    config: &ServiceConfig,
    cluster: &ClusterArgs,
    stop: Arc<AtomicBool>,
) -> Result<ServiceSummary, ServiceError> {
    run_with_api(config, cluster, stop, None)
}

/// [`run`], keeping `api`'s view current from worker 0 (of process 0) at
/// every publisher tick that saw a change.
pub fn run_with_api(
    config: &ServiceConfig,
    cluster: &ClusterArgs,
    stop: Arc<AtomicBool>,
    api: Option<Arc<streamflix_api::Shared>>,
) -> Result<ServiceSummary, ServiceError> {
    let timely_config = cluster.timely_config()?;
    let calendar = Calendar::new(&config.time.zone)
        .map_err(|error| crate::config::ConfigError::new(error.to_string()))?;
    ensure_service_topics(config)?;
    let feeds = config.kafka.feeds()?;
    let summary = Arc::new(Mutex::new(ServiceSummary::default()));
    let worker_summary = summary.clone();
    let config = config.clone();
    let breakdown = crate::operator_time::OperatorTime::requested()
        .then(crate::state_size::StateBreakdown::default);
    let guards = timely::execute(timely_config, move |worker| -> Result<(), ServiceError> {
        if let Some(breakdown) = &breakdown {
            breakdown.attach(worker);
        }
        let index = worker.index();
        let peers = worker.peers();
        let store = Arc::new(Mutex::new(OutputStore::default()));
        let mut settings = Settings::new(calendar.clone()).with_feeds(&feeds);
        settings.retention = config
            .retention
            .horizons()
            .map(|days| Retention::new(days, calendar.clone()));
        let lateness_ms = config.lateness_ms();
        let read_ahead_ms = config.read_ahead_ms();
        let (mut inputs, probe) = build(worker, &settings, store.clone());
        let mut source = KafkaSource::open(&config.kafka, index, peers)?;
        let mut dead_letter_topic = DeadLetterProducer::new(&config.kafka)?;
        let mut publishing = (index == 0).then(|| Duty::start(&config, &calendar, api.clone()));
        let idle_after = config.idle_timeout();
        let batch = config.service.batch_messages;
        let chunk = batch.min(POLL_CHUNK);
        let mut polled = Vec::with_capacity(chunk);
        let mut reported: Vec<PartitionProgress> = Vec::new();
        let mut epoch: Epoch = 0;
        let mut batches = InFlight::default();
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            batches.retire(|closed| !probe.less_equal(closed));
            let busy = batches.busy();
            let mut read = 0;
            // Read while the dataflow works, up to two batches ahead of it
            // (memory); wait for the broker only when there is nothing else
            // to do.
            if !stopping && batches.queued() < IN_FLIGHT_BATCHES * batch {
                let wait = if busy || batches.open > 0 {
                    Duration::ZERO
                } else {
                    Duration::from_millis(20)
                };
                read = source.poll(chunk, wait, &mut polled);
            }
            for message in polled.drain(..) {
                match message {
                    Polled::Record {
                        record,
                        partition,
                        offset,
                    } => match admit(&settings, &record, epoch) {
                        Ok(()) => inputs.insert_at(record, offset),
                        Err(refused) => {
                            tracing::debug!(worker = index, epoch, reason = %refused.reason, "record refused beyond its horizon");
                            let topic = config.kafka.topic(refused.feed);
                            let letter = refused.letter(&topic, partition, offset);
                            dead_letter_topic.send(
                                &letter,
                                &topic,
                                partition,
                                offset as i64,
                                letter.raw.as_bytes(),
                            )?;
                            inputs.dead_letters.insert(DeadLetterRow::from(letter));
                        }
                    },
                    Polled::Dead {
                        letter,
                        topic,
                        partition,
                        offset,
                        payload,
                    } => {
                        dead_letter_topic.send(&letter, &topic, partition, offset, &payload)?;
                        inputs.dead_letters.insert(DeadLetterRow::from(letter));
                    }
                }
            }
            batches.open += read;
            dead_letter_topic.catch_up(false)?;
            let progress = source.progress(idle_after);
            if progress != reported {
                for old in reported.drain(..) {
                    inputs.progress.remove(old);
                }
                for new in &progress {
                    inputs.progress.insert(new.clone());
                }
                reported = progress;
            }
            let partitions = cluster_view(&inputs.cluster, &reported);
            if settings.retention.is_some() && read_ahead_ms > 0 {
                source.pace(pace_reach(&partitions), read_ahead_ms, |feed| {
                    CLOCK_FEEDS.contains(&feed)
                });
            }
            // Close the batch when it is full, or at once when the dataflow
            // has finished everything before it (fresh data waits for
            // nothing but the work it causes).
            if batches.open >= batch || !busy {
                if batches.open > 0 {
                    tracing::trace!(
                        worker = index,
                        epoch,
                        messages = batches.open,
                        "batch closed"
                    );
                }
                batches.close(epoch);
                // Not every worker has been heard from yet: nobody knows
                // where the slowest partition is.
                let reach = (partitions.len() >= source.cluster_partitions())
                    .then(|| cluster_reach(&partitions))
                    .flatten();
                let next = if settings.retention.is_none() {
                    (epoch + 1).max(wall_ms())
                } else {
                    next_epoch(epoch, reach, lateness_ms)
                };
                // Never behind another worker's batches: otherwise a
                // worker whose view of the watermark was fresher waits
                // for this one to count up to it, one epoch per loop.
                epoch = next.max(inputs.cluster.latest_epoch() + 1);
                inputs.advance_to(epoch);
            }
            // Step without waiting after a read, so that the other workers
            // hear of this one's progress between polls; otherwise park
            // until there is work.
            let pause = if read > 0 { 0 } else { 1 };
            worker.step_or_park(Some(Duration::from_millis(pause)));
            if let Some(duty) = &mut publishing
                && let Some(publishing) = duty.ready(false)?
            {
                publishing.tick(&store, false)?;
            }
            if stopping || (config.service.until_caught_up && reported.iter().all(|p| p.caught_up))
            {
                break;
            }
        }
        if let Some(breakdown) = &breakdown {
            crate::dataflow::step_until(worker, || !probe.less_than(&epoch));
            if index == 0 {
                eprintln!("state by operator at epoch {epoch}:\n{}", breakdown.report());
            }
        }
        drop(inputs);
        // Closing a consumer takes librdkafka a tenth of a second (rdkafka
        // polls for it in 100 ms steps): it closes while the dataflow
        // drains and the publisher publishes. Should no thread start, the
        // source went down with the refused closure, closed here.
        let read = source.read();
        let closing = std::thread::Builder::new()
            .name("kafka-source-close".into())
            .spawn(move || drop(source))
            .ok();
        crate::dataflow::step_until(worker, || {
            probe.done() && (index != 0 || store.lock().map(|s| s.closed()).unwrap_or(true))
        });
        let mut publishing = publishing.map(Duty::wait).transpose()?;
        if let Some(publishing) = &mut publishing {
            publishing.tick(&store, true)?;
        }
        dead_letter_topic.flush(Duration::from_secs(60))?;
        let mut summary = worker_summary
            .lock()
            .expect("no thread panics while holding the summary");
        summary.messages += read;
        summary.dead_letters += dead_letter_topic.sent();
        summary.dead_letters_already_sent += dead_letter_topic.already_held();
        if let Some(publishing) = publishing {
            summary.revisions_published += publishing.published_this_run;
            publishing.incidents.finish();
        }
        drop(summary);
        tracing::info!(worker = index, messages = read, "worker stopped");
        if let Some(closing) = closing {
            closing
                .join()
                .map_err(|_| ServiceError::Worker("closing a kafka consumer panicked".into()))?;
        }
        Ok(())
    })
    .map_err(ServiceError::Worker)?;
    for result in guards.join() {
        result.map_err(ServiceError::Worker)??;
    }
    let summary = summary.lock().expect("workers are done").clone();
    Ok(summary)
}

/// A worker's next epoch under retention, at least one past `previous`,
/// from the cluster's watermark input `reach` ([`cluster_reach`]; without
/// retention epochs are milliseconds of wall time).
///
/// Periods freeze
/// when the frontier passes their horizon, so an epoch must be comparable
/// with event time, as in `replay`: the cluster's watermark over every
/// partition of the dense event feeds ([`CLOCK_FEEDS`]), the least of
/// those not idle (the furthest when all are idle), capped by the wall
/// clock so that a record stamped in the future freezes nothing. Every
/// worker hears every partition's report through the dataflow, so all
/// move to the same watermark and the frontier follows it (with each
/// worker's own partitions only, one with idle partitions held the
/// frontier at its furthest and the others' data waited behind it). A
/// partition that has shown no event time yet and has neither caught up
/// nor gone idle holds every epoch back: until then nobody can tell what
/// is late. A record is admitted against its worker's epoch: during a
/// catch-up, before every partition has reported, an old record may
/// still be admitted, and restates.
fn next_epoch(previous: Epoch, reach: Option<i64>, lateness_ms: i64) -> Epoch {
    let watermark = reach.map_or(0, |max| {
        (max - lateness_ms).clamp(0, wall_ms() as i64) as Epoch
    });
    (previous + 1).max(watermark)
}

/// The cluster's watermark input: the greatest event time every partition
/// of the [`CLOCK_FEEDS`] has reached (see [`partitions_reach`] for idle
/// ones), or `None` while one has shown no event time and has neither
/// caught up nor gone idle.
fn cluster_reach(partitions: &[PartitionProgress]) -> Option<i64> {
    let clocked: Vec<&PartitionProgress> = partitions
        .iter()
        .filter(|partition| CLOCK_FEEDS.contains(&partition.feed))
        .collect();
    let unknown = clocked
        .iter()
        .any(|p| p.max_event_ms.is_none() && !p.idle && !p.caught_up);
    if unknown {
        None
    } else {
        partitions_reach(&clocked)
    }
}

/// What a partition that catches up is paced against
/// ([`KafkaSource::pace`]): the least event time of the [`CLOCK_FEEDS`]
/// partitions that have shown one and still have a backlog, in as much of
/// the cluster as this worker has heard of. A caught-up partition does not
/// count: its feed may simply end earlier than the others, and a worker
/// that stopped (`--until-caught-up`) leaves its last report, caught up
/// and not yet idle, for ever. A partial view can only hold
/// less, never the slowest partition, so pacing needs no start-up wait:
/// the small feeds are held within a poll of showing a day more than
/// viewing.
///
/// Viewing is paced too, although the batches in flight already bound
/// how far it runs ahead of the dataflow: they do not bound how far it
/// runs ahead of the watermark. When only the small feeds were paced, one
/// of them, just let go, held the watermark while viewing ran on, and the
/// state of 10,000 subscribers x 120 days peaked at 3.1 GB instead of
/// 1.7 GB. Pacing viewing costs speed, since a worker hears the other
/// workers' partitions a batch late and may wait for them.
fn pace_reach(partitions: &[PartitionProgress]) -> Option<i64> {
    partitions
        .iter()
        .filter(|partition| CLOCK_FEEDS.contains(&partition.feed) && !partition.caught_up)
        .filter_map(|partition| partition.max_event_ms)
        .min()
}

/// Every partition's latest report: the cluster's as broadcast, this
/// worker's own as it just read them.
fn cluster_view(cluster: &ClusterProgress, own: &[PartitionProgress]) -> Vec<PartitionProgress> {
    let mut partitions = cluster.partitions();
    partitions.retain(|heard| {
        !own.iter()
            .any(|mine| mine.topic == heard.topic && mine.partition == heard.partition)
    });
    partitions.extend(own.iter().cloned());
    partitions
}

/// The feeds whose event time moves a worker's epoch under retention: the
/// dense ones the pipelines' completeness rests on (flags and assignments
/// are sparse and may concern any past period).
const CLOCK_FEEDS: [Feed; 4] = [
    Feed::Viewing,
    Feed::Subscriptions,
    Feed::Billing,
    Feed::AdRevenue,
];

fn wall_ms() -> Epoch {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as Epoch)
        .unwrap_or(0)
}

/// Messages a worker polls between two steps of the dataflow: a few
/// milliseconds of decoding, so that no worker waits long to hear of
/// another's progress.
const POLL_CHUNK: usize = 4096;

/// How many full batches a worker reads ahead of the dataflow.
const IN_FLIGHT_BATCHES: usize = 2;

/// A worker's batches the dataflow has not finished: closed ones with
/// their epoch and size, and the open one's size.
#[derive(Debug, Default)]
struct InFlight {
    closed: std::collections::VecDeque<(Epoch, usize)>,
    open: usize,
}

impl InFlight {
    /// Forgets the closed batches `done` says are finished, oldest first.
    fn retire(&mut self, mut done: impl FnMut(&Epoch) -> bool) {
        while self.closed.front().is_some_and(|(epoch, _)| done(epoch)) {
            self.closed.pop_front();
        }
    }

    /// The dataflow still works on a closed batch.
    fn busy(&self) -> bool {
        !self.closed.is_empty()
    }

    /// Messages read and not yet through the dataflow.
    fn queued(&self) -> usize {
        self.closed.iter().map(|(_, size)| size).sum::<usize>() + self.open
    }

    fn close(&mut self, epoch: Epoch) {
        if self.open > 0 {
            self.closed.push_back((epoch, self.open));
        }
        self.open = 0;
    }
}

/// Worker 0's publishing duty while it starts: reading back the snapshot
/// topic takes a while, and worker 0's partitions need not wait for it.
struct Duty {
    starting: Option<std::thread::JoinHandle<Result<Publishing, ServiceError>>>,
    ready: Option<Publishing>,
}

impl Duty {
    fn start(
        config: &ServiceConfig,
        calendar: &Calendar,
        api: Option<Arc<streamflix_api::Shared>>,
    ) -> Duty {
        let (config, calendar) = (config.clone(), calendar.clone());
        let starting = std::thread::Builder::new()
            .name("publisher-start".into())
            .spawn(move || Publishing::start(&config, calendar, api))
            .expect("the OS can start a thread");
        Duty {
            starting: Some(starting),
            ready: None,
        }
    }

    /// The publisher once it has started; `wait` waits for it.
    fn ready(&mut self, wait: bool) -> Result<Option<&mut Publishing>, ServiceError> {
        if let Some(starting) = self
            .starting
            .take_if(|starting| wait || starting.is_finished())
        {
            let publishing = starting.join().map_err(|_| {
                ServiceError::Worker("the publisher panicked while starting".into())
            })??;
            self.ready = Some(publishing);
        }
        Ok(self.ready.as_mut())
    }

    /// The publisher, waiting for it to start if it has not yet.
    fn wait(mut self) -> Result<Publishing, ServiceError> {
        self.ready(true)?;
        Ok(self
            .ready
            .expect("a duty is either starting or ready, and ready(true) ends the start"))
    }
}

/// Where the file of a snapshot revision lives: `<dir>/<key>.r<revision>.json`.
fn snapshot_file(dir: &std::path::Path, key: &str, revision: u32) -> PathBuf {
    dir.join(format!("{key}.r{revision}.json"))
}

/// Writes `path` whole or not at all (a temporary file beside it, renamed
/// into place): a service killed while writing must not leave a
/// half-written snapshot or status behind.
fn write_atomically(path: PathBuf, value: &[u8]) -> Result<(), ServiceError> {
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    std::fs::write(&temporary, value)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|source| ServiceError::Write { path, source })
}

/// Writes the file of a snapshot revision, creating its table's folder.
fn write_snapshot_file(
    dir: &std::path::Path,
    key: &str,
    revision: u32,
    value: &[u8],
) -> Result<(), ServiceError> {
    let path = snapshot_file(dir, key, revision);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ServiceError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_atomically(path, value)
}

/// Writes the file of every revision on the snapshot topic that has none:
/// a service killed after the broker took a revision and before its file
/// was written would otherwise never write it, since the revision counts as
/// published.
fn restore_snapshot_files(
    dir: &std::path::Path,
    messages: &[(String, Vec<u8>)],
) -> Result<(), ServiceError> {
    for (key, value) in messages {
        let Ok(message) = serde_json::from_slice::<crate::snapshots::SnapshotMessage>(value) else {
            continue;
        };
        if !snapshot_file(dir, key, message.revision).exists() {
            tracing::info!(
                key,
                revision = message.revision,
                "restoring a snapshot file"
            );
            write_snapshot_file(dir, key, message.revision, value)?;
        }
    }
    Ok(())
}

/// Worker 0's publishing duty.
struct Publishing {
    publisher: Publisher,
    producer: SnapshotProducer,
    dir: PathBuf,
    interval: Duration,
    last_check: WallInstant,
    last_version: u64,
    published_this_run: u64,
    /// The runbooks: incidents from checks, restatements, lateness, stalls.
    incidents: ServiceIncidents,
    lateness_ms: i64,
    api: Option<crate::api::ApiFeed>,
}

impl Publishing {
    fn start(
        config: &ServiceConfig,
        calendar: Calendar,
        api: Option<Arc<streamflix_api::Shared>>,
    ) -> Result<Publishing, ServiceError> {
        let messages = read_topic(&config.kafka, &config.kafka.snapshots_topic)?;
        let published = Publisher::recover(&messages);
        let api = api.map(|shared| {
            let mut feed = crate::api::ApiFeed::new(shared);
            feed.recovered(&messages);
            feed
        });
        tracing::info!(
            snapshots = published.len(),
            messages = messages.len(),
            "read back the snapshot topic"
        );
        // Every worker reads the same partition list, so worker 0 can count
        // the reports it must wait for.
        let expected = {
            let consumer: rdkafka::consumer::BaseConsumer =
                config
                    .kafka
                    .client_config()
                    .create()
                    .map_err(|source| KafkaError::Client {
                        what: "creating a consumer".into(),
                        bootstrap: config.kafka.bootstrap.clone(),
                        source: Box::new(source),
                    })?;
            streamflix_connectors::kafka::source::all_partitions(&config.kafka, &consumer)?.len()
        };
        let dir = config.snapshots.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| ServiceError::Write {
            path: dir.clone(),
            source,
        })?;
        restore_snapshot_files(&dir, &messages)?;
        Ok(Publishing {
            publisher: Publisher::new(calendar, config.lateness_ms(), expected, published),
            producer: SnapshotProducer::new(&config.kafka)?,
            dir,
            interval: Duration::from_millis(config.snapshots.check_interval_ms),
            last_check: WallInstant::now(),
            last_version: u64::MAX,
            published_this_run: 0,
            incidents: ServiceIncidents::start(config)?,
            lateness_ms: config.lateness_ms(),
            api,
        })
    }

    /// Publishes what is due, at most once per interval unless `now`.
    fn tick(&mut self, store: &Arc<Mutex<OutputStore>>, now: bool) -> Result<(), ServiceError> {
        if !now && self.last_check.elapsed() < self.interval {
            return Ok(());
        }
        self.last_check = WallInstant::now();
        let (tables, progress, dead_letters, letters, refused) = {
            let store = store
                .lock()
                .expect("no thread panics while holding the store");
            let progress = store.progress();
            let tables = if store.version() != self.last_version {
                self.last_version = store.version();
                Some(tables_of(&store))
            } else {
                None
            };
            let all_letters = tables.as_ref().map(|_| store.dead_letters());
            let letters = match (&self.api, &all_letters) {
                (Some(_), Some(all)) => Some(crate::api::dead_letter_counts(all)),
                _ => None,
            };
            let refused = all_letters
                .as_deref()
                .map(crate::incidents::beyond_retention);
            (
                tables,
                progress,
                store.dead_letters().len(),
                letters,
                refused,
            )
        };
        self.publisher.observe(&progress);
        // Watermarks travel as progress rows of the store, so an unchanged
        // store means nothing new can be due.
        let due = match &tables {
            Some(tables) => self.publisher.due(tables),
            None => Vec::new(),
        };
        let nothing_due = due.is_empty();
        self.publish(&due)?;
        let now_ms = crate::incidents::timestamp_ms(wall_ms() as i64);
        if let Some(refused) = &refused {
            self.incidents.refused(refused, now_ms);
        }
        self.incidents.tick(
            &progress,
            self.publisher.caught_up(),
            crate::incidents::timestamp_ms(wall_ms() as i64),
        );
        if let (Some(api), Some(tables), Some(dead_letters)) = (&self.api, tables, letters) {
            let intake = crate::api::Intake {
                feeds: crate::api::feeds_from_progress(
                    &progress,
                    self.lateness_ms,
                    wall_ms() as i64,
                ),
                dead_letters,
            };
            api.refresh(
                tables,
                self.publisher.published(),
                self.publisher.times(),
                intake,
            );
        }
        let status = Status {
            updated_at: Instant(wall_ms() as i64 * 1_000_000).to_string(),
            caught_up: self.publisher.caught_up(),
            settled: self.publisher.caught_up()
                && nothing_due
                && progress.iter().all(|partition| partition.idle),
            messages: progress.iter().map(|partition| partition.messages).sum(),
            partitions: progress,
            dead_letters,
            pipelines: Pipeline::ALL
                .iter()
                .map(|pipeline| {
                    (
                        pipeline.name().to_string(),
                        self.publisher
                            .times()
                            .get(pipeline)
                            .copied()
                            .unwrap_or_default(),
                    )
                })
                .collect(),
            published: self
                .publisher
                .published()
                .iter()
                .map(|(key, published)| (key.clone(), published.revision))
                .collect(),
            revisions_published_this_run: self.published_this_run,
        };
        self.write_status(&status)
    }

    fn publish(&mut self, due: &[Snapshot]) -> Result<(), ServiceError> {
        if due.is_empty() {
            return Ok(());
        }
        let now = Instant(wall_ms() as i64 * 1_000_000);
        let started = WallInstant::now();
        for snapshot in due {
            let message = snapshot.message(now);
            let value = serde_json::to_vec(&message).expect("snapshots always serialize");
            self.producer.send(&snapshot.key, &value)?;
            write_snapshot_file(&self.dir, &snapshot.key, snapshot.revision, &value)?;
        }
        // A revision counts as published once the broker has it: a crash
        // before this point republishes it after the restart (same rows,
        // same revision number, so readers can drop the copy).
        self.producer.flush(Duration::from_secs(300))?;
        for snapshot in due {
            if snapshot.revision > 1 {
                tracing::warn!(
                    key = snapshot.key,
                    revision = snapshot.revision,
                    "snapshot restated"
                );
            } else {
                tracing::info!(key = snapshot.key, "snapshot published");
            }
            self.publisher.mark_published(snapshot);
            if let Some(api) = &mut self.api {
                api.published(snapshot, now, Some(started.elapsed()));
            }
            self.published_this_run += 1;
        }
        self.incidents
            .published(due, crate::incidents::timestamp_ms(wall_ms() as i64));
        Ok(())
    }

    fn write_status(&self, status: &Status) -> Result<(), ServiceError> {
        let text = serde_json::to_vec_pretty(status).expect("status always serializes");
        write_atomically(self.dir.join("status.json"), &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(feed: Feed, index: i32, max: Option<i64>, idle: bool) -> PartitionProgress {
        PartitionProgress {
            feed,
            topic: format!("{feed:?}"),
            partition: index,
            max_event_ms: max,
            idle,
            caught_up: idle,
            messages: 1,
        }
    }

    #[test]
    fn pacing_follows_the_slowest_busy_partition_of_the_dense_feeds() {
        let partitions = [
            partition(Feed::Viewing, 0, Some(500), false),
            partition(Feed::Viewing, 1, Some(300), false),
            // Caught up, idle or not: it holds nothing back.
            partition(Feed::Billing, 0, Some(100), true),
            PartitionProgress {
                idle: false,
                ..partition(Feed::Subscriptions, 0, Some(200), true)
            },
            // Not shown an event time yet: not known to be slow.
            partition(Feed::AdRevenue, 0, None, false),
            // Sparse feeds do not count.
            partition(Feed::AccountFlags, 0, Some(50), false),
        ];
        assert_eq!(pace_reach(&partitions), Some(300));
        assert_eq!(pace_reach(&partitions[2..]), None);
    }
}
