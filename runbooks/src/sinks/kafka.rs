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
//! per batch and fails if any message of it was not acknowledged. Waiting
//! for each message with rdkafka's `flush` (which polls in rounds of
//! 100 ms) had cost ten seconds for the hundred incidents of a replayed
//! month, during which the service could not stop.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

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
        // Not rdkafka's `flush`: its polls last 100 ms whatever arrives.
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            self.producer.poll(Duration::ZERO);
            let unacknowledged = self.producer.in_flight_count();
            if unacknowledged == 0 {
                break;
            }
            if std::time::Instant::now() >= deadline {
                return Err(SinkError {
                    sink: self.name(),
                    message: format!(
                        "the broker did not acknowledge {unacknowledged} notification(s) in time"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        match self.producer.context().take_failures() {
            (0, _) => Ok(()),
            (failed, first) => Err(SinkError {
                sink: self.name(),
                message: format!(
                    "the broker refused {failed} notification(s): {}",
                    first.unwrap_or_default()
                ),
            }),
        }
    }
}

/// Counts the messages the broker did not take since the last flush.
#[derive(Debug, Default)]
struct Deliveries {
    failures: Mutex<(usize, Option<String>)>,
}

impl Deliveries {
    fn take_failures(&self) -> (usize, Option<String>) {
        self.failures
            .lock()
            .map(|mut failures| std::mem::take(&mut *failures))
            .unwrap_or_default()
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((error, _)) = result
            && let Ok(mut failures) = self.failures.lock()
        {
            failures.0 += 1;
            failures.1.get_or_insert_with(|| error.to_string());
        }
    }
}
