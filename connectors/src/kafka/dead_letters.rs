//! Dead-letter topics: an unusable message goes to `<topic>.dlq` as it
//! was, with headers saying where it came from and why, named as Kafka
//! Connect names them so that existing tooling reads them.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};

use super::producer::ReliableProducer;
use super::{KafkaError, KafkaSettings};
use crate::dead_letter::DeadLetter;

/// The dead-letter topic of a feed topic.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// Header names, as Kafka Connect's dead-letter queue writes them.
pub mod headers {
    pub const TOPIC: &str = "__connect.errors.topic";
    pub const PARTITION: &str = "__connect.errors.partition";
    pub const OFFSET: &str = "__connect.errors.offset";
    pub const CONNECTOR: &str = "__connect.errors.connector.name";
    pub const STAGE: &str = "__connect.errors.stage";
    /// The stable reason code (`not_json`, `missing_field`, ...).
    pub const KIND: &str = "__connect.errors.exception.class.name";
    pub const MESSAGE: &str = "__connect.errors.exception.message";
}

/// Writes dead letters to their topics.
pub struct DeadLetterProducer {
    producer: ReliableProducer,
    sent: u64,
}

impl std::fmt::Debug for DeadLetterProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterProducer")
            .field("sent", &self.sent)
            .finish()
    }
}

impl DeadLetterProducer {
    pub fn new(settings: &KafkaSettings) -> Result<DeadLetterProducer, KafkaError> {
        Ok(DeadLetterProducer {
            producer: ReliableProducer::new(settings)?,
            sent: 0,
        })
    }

    /// Sends the original bytes of a refused message to `<topic>.dlq`.
    pub fn send(
        &mut self,
        letter: &DeadLetter,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let partition_text = partition.to_string();
        let offset_text = offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(header(headers::TOPIC, topic))
            .insert(header(headers::PARTITION, &partition_text))
            .insert(header(headers::OFFSET, &offset_text))
            .insert(header(headers::CONNECTOR, "streamflix"))
            .insert(header(headers::STAGE, "VALUE_CONVERTER"))
            .insert(header(headers::KIND, letter.kind))
            .insert(header(headers::MESSAGE, &letter.reason));
        let key = format!("{topic}/{partition}:{offset}");
        self.producer.send(
            &dlq_topic(topic),
            Some(key.as_bytes()),
            payload,
            Some(headers),
            None,
        )?;
        self.sent += 1;
        self.producer.poll();
        Ok(())
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
