//! The broker stopped for 20 seconds mid-stream and started again: the
//! service neither crashes nor loses or doubles an event.
//!
//! The service keeps every record here (`retention.enabled = false`), as
//! the replay it is compared with does: the second half of the feeds comes
//! after the first has gone idle, and under the default horizons its
//! reference rows (a later plan catalog row) would reach growth weeks the
//! first half had already frozen, which a replay of everything at once
//! restates.

use std::time::Duration;

use streamflix_connectors::kafka::produce::produce_directory;

use crate::support::*;

#[test]
fn the_service_rides_out_a_broker_outage() {
    let _turn = crate::support::one_at_a_time();
    let broker = PrivateBroker::start(19_392);
    let input = generated(200, 21, 13);
    let (first, second) = halves(input.path());
    let kafka = kafka_settings(&broker.bootstrap(), "outage");
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &kafka);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[retention]\nenabled = false\n");
    std::fs::write(&config, text).unwrap();

    let first_count: u64 = produce_directory(&kafka, first.path(), |_| {})
        .unwrap()
        .values()
        .sum();
    let mut service = Service::start(&config, &["-w", "2"], "service.log");
    service.wait_for("reading", Duration::from_secs(120), |status| {
        status["messages"].as_u64().unwrap_or(0) > 0
    });
    broker.stop();
    std::thread::sleep(Duration::from_secs(20));
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "the service died while the broker was down:\n{}",
        service.log_text()
    );
    broker.restart_keeping_data();
    let second_count: u64 = produce_directory(&kafka, second.path(), |_| {})
        .unwrap()
        .values()
        .sum();
    service.wait_settled(first_count + second_count);
    service.terminate();

    let tables = replayed(input.path()).tables;
    let snapshots = latest_snapshots(&work.path().join("snapshots"));
    let expected = due_engagement_weeks(input.path(), &tables);
    assert_snapshots_match_replay(&snapshots, &tables, &expected);
}
