//! `streamflix produce`: loads the JSONL feed files of a directory into
//! their topics, one message per line, as the platform's producers would.
//!
//! Lines are sent as they are, malformed ones included, so that the
//! engine's dead-letter path sees them. A line that decodes is keyed by its
//! `subscriber_id` (so a subscriber's events stay in order in one
//! partition, and every partition gets a share of every period, as the
//! platform's producers would do; FX rates by date and currency, so that
//! the later of two rates for one key is also read later), and gets its
//! `received_at` (viewing) or
//! its event time as the message timestamp, or the time of sending when
//! that lies in the future: a real upstream never stamps the future, and
//! brokers refuse timestamps more than `log.message.timestamp.after.max.ms`
//! ahead (one hour by default in Kafka 4). The event time is in the
//! payload either way. Other lines go to a random partition with the time
//! of sending.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use streamflix_model::Feed;
use streamflix_model::records::Record;

use super::producer::ReliableProducer;
use super::{KafkaError, KafkaSettings, admin};
use crate::decode::decode;

/// Messages sent per feed.
pub type Produced = BTreeMap<Feed, u64>;

/// Produces every `<feed>.jsonl` found in `dir` to its topic, creating the
/// topics first; `progress` is called with the running total.
pub fn produce_directory(
    settings: &KafkaSettings,
    dir: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Produced, KafkaError> {
    let mut topics: Vec<String> = Feed::ALL.iter().map(|feed| settings.topic(*feed)).collect();
    topics.extend(
        Feed::ALL
            .iter()
            .map(|feed| super::dead_letters::dlq_topic(&settings.topic(*feed))),
    );
    topics.push(settings.snapshots_topic.clone());
    admin::ensure_topics(settings, &topics)?;
    let producer = ReliableProducer::new(settings)?;

    let mut produced = Produced::new();
    let mut total = 0u64;
    let mut stamped_now = 0u64;
    for feed in Feed::ALL {
        let path = dir.join(format!("{}.jsonl", feed.name()));
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(KafkaError::Other(format!(
                    "cannot read {}: {error}",
                    path.display()
                )));
            }
        };
        let topic = settings.topic(feed);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut count = 0u64;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(|error| {
                KafkaError::Other(format!("cannot read {}: {error}", path.display()))
            })?;
            if read == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (key, mut time) = key_and_time(feed, &line);
            let now = now_ms();
            if time.is_some_and(|time| time > now) {
                time = Some(now);
                stamped_now += 1;
            }
            producer.send(&topic, key.as_deref().map(str::as_bytes), &line, None, time)?;
            count += 1;
            total += 1;
            if total.is_multiple_of(100_000) {
                producer.poll();
                progress(total);
            }
        }
        produced.insert(feed, count);
    }
    producer.flush(Duration::from_secs(300))?;
    progress(total);
    if stamped_now > 0 {
        tracing::warn!(
            records = stamped_now,
            "records dated in the future were stamped with the time of sending (the event time stays in the payload)"
        );
    }
    Ok(produced)
}

/// Milliseconds since 1970 by the wall clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// The message key (the subscriber; for FX rates, the date and currency)
/// and timestamp (milliseconds) of a line.
fn key_and_time(feed: Feed, line: &[u8]) -> (Option<String>, Option<i64>) {
    let Ok(record) = decode(feed, line) else {
        return (None, None);
    };
    let key = match &record {
        Record::Viewing(r) => Some(r.subscriber_id.to_string()),
        Record::Subscription(r) => Some(r.subscriber_id.to_string()),
        Record::Billing(r) => Some(r.subscriber_id.to_string()),
        Record::AdRevenue(r) => Some(r.subscriber_id.to_string()),
        Record::ExperimentAssignment(r) => Some(r.subscriber_id.to_string()),
        Record::AccountFlag(r) => Some(r.subscriber_id.to_string()),
        // Of two rates for one date and currency the one read later counts:
        // one key keeps them in one partition, where offsets order them as
        // the file's lines did.
        Record::FxRate(r) => Some(format!("{}/{}", r.date, r.currency)),
        _ => None,
    };
    let at = match &record {
        Record::Viewing(viewing) => Some(viewing.received_at.unwrap_or(viewing.event_time)),
        other => other.event_time(),
    };
    (key, at.map(|at| at.0.div_euclid(1_000_000)))
}
