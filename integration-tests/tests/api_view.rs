//! The engine's view for the query API: rows provisional until their
//! snapshot is published, then marked with its revision, provisional again
//! once changed, and marked with the next revision once that is published.

use std::collections::BTreeMap;
use std::time::Duration;

use streamflix_api::Shared;
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_engine::api::{ApiFeed, Intake};
use streamflix_engine::snapshots::Publisher;
use streamflix_model::table::{Cell, Column, ColumnKind, Table};
use streamflix_model::{Calendar, Feed, Instant};

fn weekly(wau: i64) -> Table {
    Table {
        name: "engagement_weekly".into(),
        columns: vec![
            Column {
                name: "week".into(),
                kind: ColumnKind::Text,
            },
            Column {
                name: "wau".into(),
                kind: ColumnKind::Int,
            },
        ],
        rows: vec![
            vec![Cell::Text("2026-11-02".into()), Cell::Int(wau)],
            vec![Cell::Text("2026-11-09".into()), Cell::Int(5)],
        ],
    }
}

fn viewing_at(text: &str) -> PartitionProgress {
    PartitionProgress {
        feed: Feed::Viewing,
        topic: "streamflix.viewing".into(),
        partition: 0,
        max_event_ms: Some(
            Instant::parse_rfc3339(text)
                .expect("valid time")
                .0
                .div_euclid(1_000_000),
        ),
        idle: false,
        caught_up: true,
        messages: 10,
    }
}

/// Provisional until published, then with its revision, provisional
/// again once changed, and the next revision once that is published.
#[test]
fn rows_are_provisional_until_published_and_again_once_changed() {
    let shared = Shared::new();
    let mut feed = ApiFeed::new(shared.clone());
    let mut publisher = Publisher::new(Calendar::central(), 3_600_000, 1, BTreeMap::new());
    let revisions = |shared: &Shared| shared.load().tables[0].revisions.clone();

    // Monday 05:00 CT: the week of 2026-11-02 is complete, not due.
    publisher.observe(&[viewing_at("2026-11-09T11:00:00Z")]);
    let tables = vec![weekly(10)];
    assert!(publisher.due(&tables).is_empty());
    feed.refresh(
        tables,
        publisher.published(),
        publisher.times(),
        Intake::default(),
    );
    assert_eq!(revisions(&shared), vec![None, None]);

    // Monday 06:00 CT: due, published as revision 1.
    publisher.observe(&[viewing_at("2026-11-09T12:00:00Z")]);
    let tables = vec![weekly(10)];
    let due = publisher.due(&tables);
    assert_eq!(due.len(), 1);
    publisher.mark_published(&due[0]);
    feed.published(&due[0], Instant(0), Some(Duration::from_millis(3)));
    feed.refresh(
        tables,
        publisher.published(),
        publisher.times(),
        Intake::default(),
    );
    assert_eq!(revisions(&shared), vec![Some(1), None]);
    assert_eq!(shared.load().revisions.len(), 1);
    assert_eq!(shared.publication_latency().len(), 1);

    // Late data changes the published week: provisional again.
    feed.refresh(
        vec![weekly(11)],
        publisher.published(),
        publisher.times(),
        Intake::default(),
    );
    assert_eq!(revisions(&shared), vec![None, None]);

    // Its restatement is published as revision 2.
    let due = publisher.due(&[weekly(11)]);
    publisher.mark_published(&due[0]);
    feed.published(&due[0], Instant(0), None);
    feed.refresh(
        vec![weekly(11)],
        publisher.published(),
        publisher.times(),
        Intake::default(),
    );
    let view = shared.load();
    assert_eq!(view.tables[0].revisions, vec![Some(2), None]);
    assert!(view.revisions[1].restated);
    let engagement = view
        .pipelines
        .iter()
        .find(|p| p.pipeline == "aggregate_engagement")
        .expect("every pipeline has a status");
    assert_eq!(engagement.revisions, 2);
    assert_eq!(engagement.last_published[0].revision, 2);
    assert!(view.generation >= 4);
}
