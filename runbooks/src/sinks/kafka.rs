//! The topic `streamflix.incidents`: one message per notification, keyed
//! by the incident's dedup key (so a compacted topic keeps its latest
//! state), the value a [`NotificationRecord`].
//!
//! The producer is idempotent like the engine's others
//! (`connectors/src/kafka/producer.rs`), but gives up on a message after
//! the configured timeout rather than five minutes: the dispatcher
//! retries, and an incident must not wait behind a broker outage for long.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{NotificationRecord, Sink, SinkError};
use crate::incident::Notification;

/// Produces notifications to a Kafka topic.
pub struct KafkaSink {
    producer: BaseProducer,
    topic: String,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A sink producing to `topic` with the client settings `client`
    /// (bootstrap, security), waiting at most `timeout` per flush.
    pub fn new(
        mut client: ClientConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<KafkaSink, SinkError> {
        client.set("enable.idempotence", "true");
        client.set(
            "message.timeout.ms",
            timeout.as_millis().max(1000).to_string(),
        );
        let producer = client.create().map_err(|error| SinkError {
            sink: format!("kafka {topic}"),
            message: format!("cannot create a producer: {error}"),
        })?;
        Ok(KafkaSink {
            producer,
            topic: topic.to_string(),
            timeout,
        })
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> String {
        format!("kafka {}", self.topic)
    }

    fn deliver(&mut self, notification: &Notification) -> Result<(), SinkError> {
        let value = serde_json::to_vec(&NotificationRecord::from(notification))
            .expect("notifications always serialize");
        let key = notification.incident.dedup_key.as_bytes();
        let record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&self.topic).key(key).payload(&value);
        self.producer.send(record).map_err(|(error, _)| SinkError {
            sink: self.name(),
            message: format!("cannot queue a message: {error}"),
        })?;
        // Incidents are few: wait for each one, so that a failure is this
        // notification's and the dispatcher retries it.
        self.producer
            .flush(self.timeout)
            .map_err(|error| SinkError {
                sink: self.name(),
                message: format!("the broker did not acknowledge in time: {error}"),
            })
    }
}
