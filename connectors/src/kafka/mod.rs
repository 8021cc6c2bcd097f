//! Kafka: one topic per feed in, dead-letter topics and the snapshot topic
//! out, all through librdkafka (built from source by `rdkafka-sys`).
//!
//! ```text
//!  streamflix.<feed> ──source──► decode ──► Record ──────────────► engine
//!        (partitions spread      └──────► DeadLetter ──dead_letters──► streamflix.<feed>.dlq
//!         over timely workers)                                          (Kafka Connect headers)
//!  engine snapshots ──snapshots──► streamflix.snapshots (key <table>/<period>)
//!  <feed>.jsonl ──produce──► streamflix.<feed>
//! ```
//!
//! * [`KafkaSettings`]: the broker, topic names and any librdkafka
//!   property passed through untouched (security: `security.protocol`,
//!   `sasl.*`, `ssl.*`).
//! * [`source`]: a worker's share of the feed partitions, read from the
//!   beginning, decoded, with a watermark, an idle flag and a caught-up
//!   flag per partition.
//! * [`dead_letters`]: unusable messages to `<topic>.dlq`.
//! * [`snapshots`]: snapshot revisions to the snapshot topic.
//! * [`read_back`]: what topics already hold, read at start: the snapshot
//!   topic's revisions and the dead letters sent before a restart.
//! * [`produce`]: loading JSONL feed files into their topics.
//! * [`admin`]: creating the topics.
//! * [`delivery`]: knowing that the broker took what was produced.

pub mod admin;
pub mod dead_letters;
pub mod delivery;
pub mod produce;
mod producer;
pub mod read_back;
pub mod snapshots;
pub mod source;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use streamflix_model::Feed;

/// How to reach Kafka and what the topics are called.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Feed topics are `<prefix><feed>` unless named in `topics`.
    pub topic_prefix: String,
    /// Per-feed topic names, by feed name (`viewing = "prod.viewing"`).
    pub topics: BTreeMap<String, String>,
    /// The feeds to read, by name; empty (the default) reads all fourteen.
    /// A deployment that maintains one pipeline only, or a benchmark of one
    /// topic, names its feeds here.
    pub feeds: Vec<String>,
    /// Where snapshot revisions are published.
    pub snapshots_topic: String,
    /// Partitions of the topics streamflix creates when they are missing.
    pub partitions: i32,
    /// Replication factor of the topics streamflix creates.
    pub replication: i32,
    /// librdkafka properties passed through as they are, for example
    /// `security.protocol = "SASL_SSL"`, `sasl.mechanism = "SCRAM-SHA-512"`,
    /// `sasl.username`, `sasl.password`, `ssl.ca.location`.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            bootstrap: "127.0.0.1:9092".into(),
            topic_prefix: "streamflix.".into(),
            topics: BTreeMap::new(),
            feeds: Vec::new(),
            snapshots_topic: "streamflix.snapshots".into(),
            partitions: 4,
            replication: 1,
            properties: BTreeMap::new(),
        }
    }
}

/// Everything that can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error(
        "kafka {what} failed: {source}; check that the broker at {bootstrap} is up and reachable (KAFKA_BOOTSTRAP or [kafka] bootstrap)"
    )]
    Client {
        what: String,
        bootstrap: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error(
        "the kafka broker at {bootstrap} refused {refused} message(s), first: {first}; for MessageSizeTooLarge raise the topic's max.message.bytes (kafka-configs --alter --entity-type topics --add-config max.message.bytes=...), for an authorization error grant the write ACL"
    )]
    Refused {
        refused: usize,
        first: String,
        bootstrap: String,
    },
    #[error("topic {topic} does not exist and could not be created: {reason}")]
    Topic { topic: String, reason: String },
    #[error(
        "[kafka] feeds names {name:?}, which is not a feed; use the feed names of the README (viewing, subscriptions, billing, ...)"
    )]
    UnknownFeed { name: String },
    #[error("{0}")]
    Other(String),
}

impl KafkaSettings {
    /// The topic a feed is read from.
    pub fn topic(&self, feed: Feed) -> String {
        self.topics
            .get(feed.name())
            .cloned()
            .unwrap_or_else(|| format!("{}{}", self.topic_prefix, feed.name()))
    }

    /// The feeds this service reads: those named in `feeds`, or all.
    pub fn feeds(&self) -> Result<Vec<Feed>, KafkaError> {
        if self.feeds.is_empty() {
            return Ok(Feed::ALL.to_vec());
        }
        self.feeds
            .iter()
            .map(|name| {
                Feed::from_name(name).ok_or_else(|| KafkaError::UnknownFeed { name: name.clone() })
            })
            .collect()
    }

    /// The feed a topic carries, if it is one of the feed topics.
    pub fn feed_of(&self, topic: &str) -> Option<Feed> {
        Feed::ALL
            .into_iter()
            .find(|feed| self.topic(*feed) == topic)
    }

    /// The client configuration every streamflix client starts from.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        // Where the cluster is: from the configuration or KAFKA_BOOTSTRAP.
        config.set("bootstrap.servers", &self.bootstrap);
        // Quiet librdkafka's own stderr logging: errors reach us as results
        // and are logged through tracing with context.
        config.set("log_level", "3");
        for (key, value) in &self.properties {
            // The operator's own settings (security and the like) win.
            config.set(key, value);
        }
        config
    }

    pub(crate) fn error(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError + '_ {
        let what = what.into();
        move |source| KafkaError::Client {
            what,
            bootstrap: self.bootstrap.clone(),
            source: Box::new(source),
        }
    }
}

/// How long metadata and admin calls may wait for the broker.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
