//! A producer that does not lose or double a message: idempotent, waits
//! out a full queue, and tells when everything sent has been acknowledged,
//! or that the broker refused some of it (a message over the topic's
//! `max.message.bytes`, a topic it may not write): a refused message is an
//! error, never a silent loss.

use std::time::Duration;

use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord};

use super::delivery::{Deliveries, Unacknowledged, wait_for_acknowledgements};
use super::{KafkaError, KafkaSettings};

pub(crate) struct ReliableProducer {
    producer: BaseProducer<Deliveries>,
    bootstrap: String,
}

impl ReliableProducer {
    pub(crate) fn new(settings: &KafkaSettings) -> Result<ReliableProducer, KafkaError> {
        Self::with(settings, &[])
    }

    /// A producer with `extra` librdkafka settings on top of the usual
    /// ones (the caller says why each is set).
    pub(crate) fn with(
        settings: &KafkaSettings,
        extra: &[(&str, &str)],
    ) -> Result<ReliableProducer, KafkaError> {
        let mut config = settings.client_config();
        // Retries after a broker outage must not write a message twice.
        config.set("enable.idempotence", "true");
        // Keep retrying through an outage of a few minutes rather than
        // dropping a snapshot or a dead letter.
        config.set("message.timeout.ms", "300000");
        // Batch a little: dead letters and snapshots come in bursts.
        config.set("linger.ms", "20");
        // Unkeyed messages go to a random partition each rather than in
        // sticky batches, so that every partition of a feed sees every
        // period (a partition holding only old data holds its watermark
        // back until it goes idle).
        config.set("sticky.partitioning.linger.ms", "0");
        for (key, value) in extra {
            config.set(*key, *value);
        }
        let producer = config
            .create_with_context(Deliveries::default())
            .map_err(settings.error("creating a producer"))?;
        Ok(ReliableProducer {
            producer,
            bootstrap: settings.bootstrap.clone(),
        })
    }

    /// Queues one message, waiting while librdkafka's queue is full.
    pub(crate) fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
        timestamp_ms: Option<i64>,
    ) -> Result<(), KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        if let Some(ms) = timestamp_ms {
            record = record.timestamp(ms);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((
                    RdKafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
                    _,
                )) => {
                    return Err(KafkaError::Other(format!(
                        "kafka producing to {topic} failed: a message of {} bytes is over the producer's message.max.bytes; this is a streamflix limit, please report it",
                        payload.len()
                    )));
                }
                Err((source, _)) => {
                    return Err(KafkaError::Client {
                        what: format!("producing to {topic}"),
                        bootstrap: self.bootstrap.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
    }

    /// Serves delivery reports without waiting.
    pub(crate) fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every queued message is acknowledged by the broker, and
    /// fails if the broker refused any of them since the last flush.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        match wait_for_acknowledgements(&self.producer, timeout) {
            Ok(()) => Ok(()),
            Err(Unacknowledged::Refused { refused, first }) => Err(KafkaError::Refused {
                refused,
                first,
                bootstrap: self.bootstrap.clone(),
            }),
            Err(Unacknowledged::TimedOut { in_flight }) => Err(KafkaError::Client {
                what: format!(
                    "waiting for the broker to acknowledge messages ({in_flight} still unacknowledged after {:.0} s)",
                    timeout.as_secs_f64()
                ),
                bootstrap: self.bootstrap.clone(),
                source: Box::new(RdKafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)),
            }),
        }
    }
}
