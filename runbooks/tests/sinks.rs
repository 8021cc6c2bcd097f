//! The sinks against real endpoints: a tiny HTTP server on 127.0.0.1
//! started by the test, and a JSONL file.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use streamflix_runbooks::sinks::jsonl::JsonlSink;
use streamflix_runbooks::sinks::kafka::KafkaSink;
use streamflix_runbooks::sinks::webhook::WebhookSink;
use streamflix_runbooks::sinks::{Dispatcher, NotificationRecord, Sink, SinkError};
use streamflix_runbooks::{CheckResult, IncidentBook, IncidentManager, Notification};
use support::{at, minutes, runbooks};

/// The requests a test server received: request line and body.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A server that answers `failures` requests with 500, then 202; returns
/// its address and the bodies it received.
fn server(failures: usize) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}/v2/enqueue", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let log = received.clone();
    std::thread::spawn(move || {
        for (count, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push((
                request_line.trim().to_string(),
                String::from_utf8(body).unwrap(),
            ));
            let response = if count < failures {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            };
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (address, received)
}

fn page() -> Vec<Notification> {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    manager.report_check(
        &CheckResult {
            pipeline: "aggregate_profit".into(),
            check: "fx_complete".into(),
            period: "2026-10".into(),
            passed: false,
            value: Some("4".into()),
            threshold: Some("0".into()),
        },
        at("2026-11-10T09:00:00Z"),
    )
}

#[test]
fn the_webhook_posts_a_pagerduty_event_and_retries_a_server_that_fails_twice() {
    let (url, received) = server(2);
    let sink = WebhookSink::new(&url, "routing-key-123", Duration::from_secs(5));
    let mut dispatcher = Dispatcher::new(vec![Box::new(sink)], 3, Duration::from_millis(10));
    let notifications = page();
    assert_eq!(
        dispatcher.deliver(&notifications),
        0,
        "delivered on the third try"
    );
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "two failures, then accepted");
    assert!(
        received[0].0.starts_with("POST /v2/enqueue"),
        "{}",
        received[0].0
    );
    assert_eq!(received[0].1, received[2].1, "the same event each time");
    let event: Value = serde_json::from_str(&received[2].1).unwrap();
    assert_eq!(event["routing_key"], "routing-key-123");
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(
        event["dedup_key"],
        "aggregate_profit/check:fx_complete/2026-10"
    );
    let payload = &event["payload"];
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["source"], "streamflix");
    assert!(payload["summary"].as_str().unwrap().contains("fx_complete"));
    let details = &payload["custom_details"];
    assert_eq!(details["pipeline"], "aggregate_profit");
    assert_eq!(details["page"], "A");
    assert_eq!(details["value"], "4");
    assert_eq!(details["threshold"], "0");
    assert_eq!(details["runbook"], "RUNBOOKS.md#aggregate_profit");
    let health = dispatcher.health();
    let webhook = health.values().next().unwrap();
    assert_eq!(
        (webhook.delivered, webhook.failed_attempts, webhook.failed),
        (1, 2, 0)
    );
}

#[test]
fn a_webhook_that_keeps_failing_is_reported_and_given_up_without_panicking() {
    let (url, received) = server(usize::MAX);
    let sink = WebhookSink::new(&url, "key", Duration::from_secs(5));
    let mut dispatcher = Dispatcher::new(vec![Box::new(sink)], 2, Duration::from_millis(1));
    assert_eq!(dispatcher.deliver(&page()), 1);
    assert_eq!(received.lock().unwrap().len(), 2);
    let health = dispatcher.health();
    let webhook = health.values().next().unwrap();
    assert_eq!(webhook.failed, 1);
    assert!(
        webhook.last_error.as_deref().unwrap().contains("500"),
        "{webhook:?}"
    );
    // Nobody listens at all: a connection error, also given up.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let mut dispatcher = Dispatcher::new(
        vec![Box::new(WebhookSink::new(
            &url,
            "key",
            Duration::from_millis(500),
        ))],
        2,
        Duration::from_millis(1),
    );
    assert_eq!(dispatcher.deliver(&page()), 1);
}

#[test]
fn acknowledgements_and_resolutions_are_sent_with_the_same_dedup_key() {
    let (url, received) = server(0);
    let mut sink = WebhookSink::new(&url, "key", Duration::from_secs(5));
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    let opened = at("2026-11-10T09:00:00Z");
    let paged = manager.report_check(
        &CheckResult {
            pipeline: "aggregate_growth".into(),
            check: "plans_known".into(),
            period: "2026-11-02".into(),
            passed: false,
            value: Some("1".into()),
            threshold: Some("0".into()),
        },
        opened,
    );
    let id = paged[0].incident.id;
    let mut all = paged;
    all.extend(manager.acknowledge(id, "B", opened + minutes(3)).unwrap());
    all.extend(manager.resolve(id, "B", opened + minutes(40)).unwrap());
    for notification in &all {
        sink.deliver(notification).unwrap();
    }
    let actions: Vec<(String, String)> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            let event: Value = serde_json::from_str(body).unwrap();
            (
                event["event_action"].as_str().unwrap().to_string(),
                event["dedup_key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let key = "aggregate_growth/check:plans_known/2026-11-02".to_string();
    assert_eq!(
        actions,
        [
            ("trigger".to_string(), key.clone()),
            ("acknowledge".to_string(), key.clone()),
            ("resolve".to_string(), key)
        ]
    );
}

#[test]
fn the_jsonl_log_appends_one_record_per_notification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log/incidents.jsonl");
    let mut dispatcher = Dispatcher::new(
        vec![Box::new(JsonlSink::new(&path))],
        1,
        Duration::from_millis(1),
    );
    let notifications = page();
    dispatcher.deliver(&notifications);
    dispatcher.deliver(&notifications);
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<NotificationRecord> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].pipeline, "aggregate_profit");
    assert_eq!(records[0].paged.as_deref(), Some("A"));
    assert_eq!(records[0].value.as_deref(), Some("4"));
}

/// A sink that queues, and whose first flush loses the queue: what a
/// Kafka producer does when the broker refuses a batch.
#[derive(Debug, Default)]
struct LosesFirstBatch {
    queued: Vec<u64>,
    durable: Arc<Mutex<Vec<u64>>>,
    flushes: usize,
}

impl Sink for LosesFirstBatch {
    fn name(&self) -> String {
        "loses-first-batch".into()
    }

    fn deliver(&mut self, notification: &Notification) -> Result<(), SinkError> {
        self.queued.push(notification.incident.id);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.flushes += 1;
        let queued = std::mem::take(&mut self.queued);
        if self.flushes == 1 {
            return Err(SinkError {
                sink: self.name(),
                message: "the broker refused 2 notification(s)".into(),
            });
        }
        self.durable.lock().unwrap().extend(queued);
        Ok(())
    }
}

fn two_incidents() -> Vec<Notification> {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    let mut said = Vec::new();
    for check in ["fx_complete", "gl_reconciles"] {
        said.extend(manager.report_check(
            &CheckResult {
                pipeline: "aggregate_profit".into(),
                check: check.into(),
                period: "2026-10".into(),
                passed: false,
                value: Some("4".into()),
                threshold: Some("0".into()),
            },
            at("2026-11-10T09:00:00Z"),
        ));
    }
    said
}

#[test]
fn a_batch_lost_at_flush_is_handed_to_the_sink_again_and_counted_once() {
    let sink = LosesFirstBatch::default();
    let durable = sink.durable.clone();
    let mut dispatcher = Dispatcher::new(vec![Box::new(sink)], 3, Duration::from_millis(1));
    let said = two_incidents();
    assert_eq!(said.len(), 2);
    assert_eq!(dispatcher.deliver(&said), 0);
    let ids: Vec<u64> = said.iter().map(|n| n.incident.id).collect();
    assert_eq!(*durable.lock().unwrap(), ids);
    let health = dispatcher.health();
    let health = &health["loses-first-batch"];
    assert_eq!(
        (health.delivered, health.failed_attempts, health.failed),
        (2, 1, 0)
    );
    assert!(health.last_error.as_deref().unwrap().contains("refused"));
}

#[test]
fn a_kafka_sink_without_a_broker_gives_the_batch_up_and_says_so() {
    let mut client = rdkafka::ClientConfig::new();
    // Nothing listens on port 1: every message times out.
    client.set("bootstrap.servers", "127.0.0.1:1");
    let sink = KafkaSink::new(client, "streamflix.incidents", Duration::from_millis(1000)).unwrap();
    let mut dispatcher = Dispatcher::new(vec![Box::new(sink)], 2, Duration::from_millis(1));
    let said = two_incidents();
    assert_eq!(dispatcher.deliver(&said), 2, "both given up");
    let health = dispatcher.health();
    let health = health.values().next().unwrap();
    assert_eq!((health.delivered, health.failed), (0, 2));
    assert_eq!(health.failed_attempts, 2);
    assert!(health.last_error.is_some());
}
