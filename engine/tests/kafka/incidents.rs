//! The incident sink on the Kafka topic: notifications arrive keyed by
//! their dedup key, as the flat JSON record.

use std::time::Duration;

use streamflix_connectors::kafka::admin::ensure_topics;
use streamflix_connectors::kafka::snapshots::read_topic;
use streamflix_engine::incidents::load_runbooks;
use streamflix_runbooks::sinks::kafka::KafkaSink;
use streamflix_runbooks::sinks::{Dispatcher, NotificationRecord};
use streamflix_runbooks::{Action, CheckResult, IncidentBook, IncidentManager};

use crate::support::{bootstrap, kafka_settings};

#[test]
fn incidents_reach_the_kafka_topic_keyed_by_their_dedup_key() {
    let _turn = crate::support::one_at_a_time();
    let settings = kafka_settings(&bootstrap(), "incidents");
    let topic = format!("{}incidents", settings.topic_prefix);
    ensure_topics(&settings, std::slice::from_ref(&topic)).unwrap();
    let sink = KafkaSink::new(settings.client_config(), &topic, Duration::from_secs(30)).unwrap();
    let mut dispatcher = Dispatcher::new(vec![Box::new(sink)], 3, Duration::from_millis(200));
    let mut manager = IncidentManager::new(load_runbooks(None).unwrap(), IncidentBook::default());
    let opened: jiff::Timestamp = "2026-11-10T09:00:00Z".parse().unwrap();
    let mut said = manager.report_check(
        &CheckResult {
            pipeline: "aggregate_engagement".into(),
            check: "event_time_skew".into(),
            period: "2026-11-02".into(),
            passed: false,
            value: Some("700".into()),
            threshold: Some("600".into()),
        },
        opened,
    );
    said.extend(manager.escalate(opened + jiff::SignedDuration::from_mins(16)));
    assert_eq!(dispatcher.deliver(&said), 0);
    let messages = read_topic(&settings, &topic).unwrap();
    assert_eq!(messages.len(), 2);
    let key = "aggregate_engagement/check:event_time_skew/2026-11-02";
    let records: Vec<NotificationRecord> = messages
        .iter()
        .map(|(k, value)| {
            assert_eq!(k, key);
            serde_json::from_slice(value).unwrap()
        })
        .collect();
    let mut actions: Vec<(Action, Option<String>)> = records
        .iter()
        .map(|r| (r.action, r.paged.clone()))
        .collect();
    actions.sort_by_key(|(action, _)| *action as u8);
    assert_eq!(
        actions,
        [
            (Action::Page, Some("C".to_string())),
            (Action::Escalate, Some("A".to_string()))
        ]
    );
    assert_eq!(dispatcher.health().values().next().unwrap().delivered, 2);
}
