//! Restatement horizons in the service: a record that comes after its
//! period's horizon is a dead letter `beyond_retention` in the feed's DLQ
//! topic, opens a Sev-3 data-quality ticket, and changes no figure.

use streamflix_connectors::kafka::dead_letters::{dlq_topic, headers};
use streamflix_connectors::kafka::produce::produce_directory;

use crate::end_to_end::read_all;
use crate::support::*;

#[test]
fn a_viewing_event_beyond_its_horizon_is_a_dead_letter_and_a_ticket() {
    let _turn = crate::support::one_at_a_time();
    let input = generated(150, 14, 31);
    let kafka = kafka_settings(&bootstrap(), "retention");
    let produced = produce_directory(&kafka, input.path(), |_| {}).expect("produce");
    let first_day: jiff::civil::Date = std::fs::read_to_string(input.path().join("viewing.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|event| event["event_time"].as_str()?.get(..10)?.parse().ok())
        .min()
        .expect("the generated viewing feed has events");
    // Sixty days before the data, produced once the service has read all
    // of it and its partitions are idle: every worker's watermark is then
    // far past the event's 3-day horizon. (Read during the catch-up, it
    // could come before a worker has heard from each of its partitions,
    // while its epoch still holds back: it would then be admitted, and
    // restate.)
    let stale_day = first_day.checked_sub(jiff::Span::new().days(60)).unwrap();
    let stale = serde_json::json!({
        "event_id": "stale-beyond-the-horizon",
        "event_time": format!("{stale_day}T12:00:00Z"),
        "subscriber_id": "sub-stale",
        "device_id": "dev-stale",
        "content_id": "ct-000001",
        "watch_seconds": 600,
        "position_seconds": 600,
        "duration_seconds": 5400,
        "received_at": format!("{stale_day}T12:00:05Z"),
    });
    let total: u64 = produced.values().sum::<u64>();

    let work = tempfile::tempdir().unwrap();
    // The default horizons: viewing 3 days.
    let config = write_config(work.path(), &kafka);
    let mut service = Service::start(&config, &["-w", "2"], "service.log");
    service.wait_settled(total);
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("viewing.jsonl"), format!("{stale}\n")).unwrap();
    produce_directory(&kafka, extra.path(), |_| {}).expect("produce the stale event");
    service.wait_settled(total + 1);
    let status = service.status().unwrap();
    let log = service.terminate();
    assert!(log.contains("streamflix run stopped"), "{log}");

    // Nothing else changed: the snapshots equal a replay without it.
    let replay = replayed(input.path());
    let snapshots = latest_snapshots(&work.path().join("snapshots"));
    let expected = due_engagement_weeks(input.path(), &replay.tables);
    assert_snapshots_match_replay(&snapshots, &replay.tables, &expected);

    // One more dead letter than the malformed ones, in viewing's DLQ.
    let malformed: u64 = replay.dead_letters.values().sum();
    assert_eq!(status["dead_letters"].as_u64().unwrap(), malformed + 1);
    let viewing_topic = kafka.topic(streamflix_model::Feed::Viewing);
    let refused: Vec<_> = read_all(&kafka, &dlq_topic(&viewing_topic))
        .into_iter()
        .filter(|(message_headers, _)| message_headers[headers::KIND] == "beyond_retention")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (message_headers, payload) = &refused[0];
    assert!(String::from_utf8_lossy(payload).contains("stale-beyond-the-horizon"));
    assert!(
        message_headers[headers::MESSAGE].contains("frozen"),
        "{}",
        message_headers[headers::MESSAGE]
    );

    // A Sev-3 ticket for every pipeline that reads viewing.
    let book: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("snapshots/incidents.json")).unwrap(),
    )
    .unwrap();
    let tickets: Vec<&serde_json::Value> = book["incidents"]
        .as_object()
        .unwrap()
        .values()
        .filter(|incident| incident["cause"]["kind"] == "beyond_retention")
        .collect();
    assert!(!tickets.is_empty(), "no beyond_retention incident: {book}");
    for ticket in tickets {
        assert_eq!(ticket["severity"], 3, "{ticket}");
        assert_eq!(ticket["cause"]["feed"], "viewing");
        assert_eq!(ticket["value"], "1");
    }
}
