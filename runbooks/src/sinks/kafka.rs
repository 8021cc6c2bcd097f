//! The topic `streamflix.incidents`: one message per notification, keyed
//! by the incident's dedup key (so a compacted topic keeps its latest
//! state), the value a [`NotificationRecord`].
//!
//! The producer is idempotent like the engine's others
//! (`connectors/src/kafka/producer.rs`), but gives up on a message after
//! the configured timeout rather than five minutes: the dispatcher
//! retries, and an incident must not wait behind a broker outage for long.
//!
//! [`Sink::deliver`] only queues; [`Sink::flush`] waits for the broker once
//! per batch (the connectors' `wait_for_acknowledgements`) and fails if any
//! message of it was not acknowledged. Waiting for each message had cost
//! ten seconds for the hundred incidents of a replayed month, during which
//! the service could not stop.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord};
use streamflix_connectors::kafka::delivery::{
    Deliveries, Unacknowledged, wait_for_acknowledgements,
};

use super::{NotificationRecord, Sink, SinkError};
use crate::incident::Notification;

/// Produces notifications to a Kafka topic.
pub struct KafkaSink {
    producer: BaseProducer<Deliveries>,
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
        let producer = client
            .create_with_context(Deliveries::default())
            .map_err(|error| SinkError {
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
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match wait_for_acknowledgements(&self.producer, self.timeout) {
            Ok(()) => Ok(()),
            Err(Unacknowledged::TimedOut { in_flight }) => Err(SinkError {
                sink: self.name(),
                message: format!(
                    "the broker did not acknowledge {in_flight} notification(s) in time"
                ),
            }),
            Err(Unacknowledged::Refused { refused, first }) => Err(SinkError {
                sink: self.name(),
                message: format!("the broker refused {refused} notification(s): {first}"),
            }),
        }
    }
}
