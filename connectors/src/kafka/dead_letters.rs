//! Dead-letter topics: an unusable message goes to `<topic>.dlq` as it
//! was, with headers saying where it came from and why, named as Kafka
//! Connect names them so that existing tooling reads them.
//!
//! The service reads every feed topic from the beginning at each start, so
//! it meets again the messages it refused before a restart. Each dead
//! letter is keyed by its origin (`<topic>/<partition>:<offset>`), and the
//! keys the dead-letter topics already hold are read back when the
//! producer opens, on a thread of their own so that the source never
//! waits for them: a message refused before is not sent twice. Letters
//! refused while that read is under way wait for it.

use std::collections::HashSet;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};

use super::producer::ReliableProducer;
use super::read_back::read_topics;
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
    /// The keys the dead-letter topics held when the producer opened.
    held: Held,
    /// Refused messages waiting for `held` to be read.
    waiting: Vec<Refused>,
    sent: u64,
    already_held: u64,
}

enum Held {
    Reading(JoinHandle<Result<HashSet<String>, KafkaError>>),
    Read(HashSet<String>),
}

/// A refused message and where it was read.
struct Refused {
    letter: DeadLetter,
    topic: String,
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
}

impl std::fmt::Debug for DeadLetterProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterProducer")
            .field("waiting", &self.waiting.len())
            .field("sent", &self.sent)
            .field("already_held", &self.already_held)
            .finish()
    }
}

impl DeadLetterProducer {
    /// A producer for the dead letters of `settings`' feeds, starting to
    /// read back the keys their dead-letter topics hold.
    pub fn new(settings: &KafkaSettings) -> Result<DeadLetterProducer, KafkaError> {
        let topics: Vec<String> = settings
            .feeds()?
            .into_iter()
            .map(|feed| dlq_topic(&settings.topic(feed)))
            .collect();
        let reader_settings = settings.clone();
        let reading = std::thread::Builder::new()
            .name("dead-letters-read-back".into())
            .spawn(move || {
                Ok(read_topics(&reader_settings, &topics)?
                    .into_values()
                    .flatten()
                    .map(|(key, _)| key)
                    .collect())
            })
            .map_err(|error| KafkaError::Other(format!("cannot start a thread: {error}")))?;
        Ok(DeadLetterProducer {
            producer: ReliableProducer::new(settings)?,
            held: Held::Reading(reading),
            waiting: Vec::new(),
            sent: 0,
            already_held: 0,
        })
    }

    /// Sends the original bytes of a refused message to `<topic>.dlq`,
    /// unless that topic holds its dead letter already; while the keys it
    /// holds are still being read, the message waits (see [`Self::catch_up`]).
    pub fn send(
        &mut self,
        letter: &DeadLetter,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        self.waiting.push(Refused {
            letter: letter.clone(),
            topic: topic.to_string(),
            partition,
            offset,
            payload: payload.to_vec(),
        });
        self.catch_up(false)
    }

    /// Sends the messages waiting for the read-back, once it is done;
    /// with `wait`, waits for it.
    pub fn catch_up(&mut self, wait: bool) -> Result<(), KafkaError> {
        if self.waiting.is_empty() && !wait {
            return Ok(());
        }
        if let Held::Reading(reading) = &self.held {
            if !wait && !reading.is_finished() {
                return Ok(());
            }
            let Held::Reading(reading) =
                std::mem::replace(&mut self.held, Held::Read(HashSet::new()))
            else {
                unreachable!("matched just above");
            };
            let keys = reading.join().map_err(|_| {
                KafkaError::Other("reading back the dead-letter topics panicked".into())
            })??;
            self.held = Held::Read(keys);
        }
        let Held::Read(held) = &self.held else {
            unreachable!("the read-back is done");
        };
        for refused in std::mem::take(&mut self.waiting) {
            let key = format!("{}/{}:{}", refused.topic, refused.partition, refused.offset);
            if held.contains(&key) {
                self.already_held += 1;
                continue;
            }
            let partition_text = refused.partition.to_string();
            let offset_text = refused.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(header(headers::TOPIC, &refused.topic))
                .insert(header(headers::PARTITION, &partition_text))
                .insert(header(headers::OFFSET, &offset_text))
                .insert(header(headers::CONNECTOR, "streamflix"))
                .insert(header(headers::STAGE, "VALUE_CONVERTER"))
                .insert(header(headers::KIND, refused.letter.kind))
                .insert(header(headers::MESSAGE, &refused.letter.reason));
            self.producer.send(
                &dlq_topic(&refused.topic),
                Some(key.as_bytes()),
                &refused.payload,
                Some(headers),
                None,
            )?;
            self.sent += 1;
            self.producer.poll();
        }
        Ok(())
    }

    /// Dead letters sent this run.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Refused messages whose dead letter a previous run had sent.
    pub fn already_held(&self) -> u64 {
        self.already_held
    }

    /// Sends what waits for the read-back, then waits until the broker
    /// has acknowledged every dead letter.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), KafkaError> {
        self.catch_up(true)?;
        self.producer.flush(timeout)
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
