//! `streamflix produce` on feeds dated after today: the broker refuses
//! message timestamps more than an hour ahead (Kafka 4's
//! `log.message.timestamp.after.max.ms`), so such records are stamped with
//! the time of sending; their event time stays in the payload.

use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use streamflix_connectors::kafka::produce::produce_directory;

use crate::support::*;

#[test]
fn future_dated_records_are_produced_with_the_time_of_sending() {
    let _turn = crate::support::one_at_a_time();
    let kafka = kafka_settings(&bootstrap(), "future");
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30);
    let past = "2026-10-05T14:00:00Z";
    let event = |id: &str, time: &str| {
        serde_json::json!({
            "event_id": id,
            "event_time": time,
            "subscriber_id": "sub-future",
            "device_id": "dev-future",
            "content_id": "ct-000001",
            "watch_seconds": 60,
            "position_seconds": 60,
            "duration_seconds": 600,
        })
        .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("viewing.jsonl"),
        format!(
            "{}\n{}\n",
            event("past", past),
            event("future", &future.to_string())
        ),
    )
    .unwrap();
    let before = jiff::Timestamp::now().as_millisecond();
    let produced = produce_directory(&kafka, dir.path(), |_| {}).expect("every record is accepted");
    let after = jiff::Timestamp::now().as_millisecond();
    assert_eq!(produced[&streamflix_model::Feed::Viewing], 2);

    let topic = kafka.topic(streamflix_model::Feed::Viewing);
    let mut config = kafka.client_config();
    config.set("group.id", "future-reader");
    config.set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut stamps = std::collections::BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stamps.len() < 2 && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let payload: serde_json::Value =
                serde_json::from_slice(message.payload().unwrap()).unwrap();
            stamps.insert(
                payload["event_id"].as_str().unwrap().to_string(),
                message.timestamp().to_millis().unwrap(),
            );
        }
    }
    // The past event keeps its own time; the future one gets the send time.
    assert_eq!(
        stamps["past"],
        past.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    );
    assert!(
        (before..=after).contains(&stamps["future"]),
        "{} not within {before}..={after}",
        stamps["future"]
    );
}
