//! The runbooks wired into the service's publisher: a flag that arrives
//! after a week was published restates it, and the incident manager opens
//! a restatement incident for the pipeline that published it.

use std::collections::BTreeMap;

use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::config::ServiceConfig;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::incidents::{ServiceIncidents, timestamp_ms};
use streamflix_engine::memory::{Batch, run_batches};
use streamflix_engine::snapshots::Publisher;
use streamflix_model::records::{
    AccountFlag, FlagKind, PlanCatalog, Record, Subscription, SubscriptionType,
};
use streamflix_model::table::Table;
use streamflix_model::{Calendar, Currency, Day, Feed, Instant, Micros};
use streamflix_runbooks::store::StateFiles;
use streamflix_runbooks::{Cause, IncidentState};

fn signup(id: &str, subscriber: &str, day: Day, calendar: &Calendar) -> Record {
    Record::Subscription(Subscription {
        event_id: id.into(),
        event_time: Instant(calendar.start_of(day).0 + 10 * 3_600 * 1_000_000_000),
        subscriber_id: subscriber.into(),
        kind: SubscriptionType::Signup,
        plan_id: Some("basic".into()),
        country: None,
    })
}

fn tables(batches: Vec<Vec<Record>>, calendar: &Calendar) -> Vec<Table> {
    let store = run_batches(
        batches
            .into_iter()
            .map(|records| Batch {
                records,
                dead_letters: vec![],
            })
            .collect(),
        &ClusterArgs::single(1),
        &Settings::new(calendar.clone()),
    )
    .expect("the dataflow runs");
    store.tables().expect("consistent outputs")
}

#[test]
fn a_flag_arriving_after_publication_opens_a_restatement_incident() {
    let calendar = Calendar::central();
    let monday = Day::parse("2026-10-05").unwrap();
    let before = vec![
        signup("e1", "keeps", monday, &calendar),
        signup("e2", "flagged", monday.plus(1), &calendar),
        signup("e3", "later", monday.plus(8), &calendar),
        Record::PlanCatalog(PlanCatalog {
            plan_id: "basic".into(),
            currency: Currency::parse("USD").unwrap(),
            tier: 1,
            monthly_price: Micros::from_units(8),
            updated_at: Instant::from_seconds(0),
        }),
    ];
    let flag = Record::AccountFlag(AccountFlag {
        event_id: "f1".into(),
        event_time: calendar.start_of(monday.plus(15)),
        subscriber_id: "flagged".into(),
        flag: FlagKind::Spam,
    });

    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::load_from(
        None,
        [
            (
                "STREAMFLIX_SNAPSHOTS__DIR".to_string(),
                dir.path().display().to_string(),
            ),
            (
                "STREAMFLIX_RUNBOOKS__INCIDENTS_TOPIC".to_string(),
                String::new(),
            ),
        ],
    )
    .unwrap();
    let mut incidents = ServiceIncidents::start(&config).unwrap();
    let mut publisher = Publisher::new(calendar.clone(), 3_600_000, 1, BTreeMap::new());
    // Subscriptions have been read well past the first week's Monday 06:00.
    let far = calendar.start_of(monday.plus(20)).0 / 1_000_000;
    publisher.observe(&[PartitionProgress {
        feed: Feed::Subscriptions,
        topic: "streamflix.subscriptions".into(),
        partition: 0,
        max_event_ms: Some(far),
        idle: false,
        caught_up: true,
        messages: 3,
    }]);
    let now = timestamp_ms(far);

    let first = publisher.due(&tables(vec![before.clone()], &calendar));
    assert!(
        first
            .iter()
            .any(|s| s.key == "growth_weekly/2026-10-05" && s.revision == 1)
    );
    for snapshot in &first {
        publisher.mark_published(snapshot);
    }
    incidents.published(&first, now);

    let restated = publisher.due(&tables(vec![before, vec![flag]], &calendar));
    let week = restated
        .iter()
        .find(|s| s.key == "growth_weekly/2026-10-05")
        .expect("the flag restates the first week");
    assert_eq!(week.revision, 2);
    incidents.published(&restated, now);
    incidents.finish();

    let book = StateFiles::new(dir.path()).load_book().unwrap();
    let restatements: Vec<_> = book
        .incidents
        .values()
        .filter(|i| matches!(i.cause, Cause::Restated { .. }))
        .collect();
    let growth = restatements
        .iter()
        .find(|i| i.pipeline == "aggregate_growth")
        .unwrap_or_else(|| panic!("no aggregate_growth restatement in {restatements:#?}"));
    assert_eq!(
        growth.cause,
        Cause::Restated {
            table: "growth_weekly".into()
        }
    );
    assert_eq!(growth.period, "2026-10-05");
    assert_eq!(growth.state, IncidentState::Open);
    assert_eq!(
        growth.holder.as_deref(),
        Some("B"),
        "growth's primary is paged"
    );
    assert_eq!(growth.value.as_deref(), Some("revision 2"));
    // Nothing was restated on the first publication.
    assert!(
        restatements
            .iter()
            .all(|i| i.value.as_deref() != Some("revision 1"))
    );
    let log = std::fs::read_to_string(dir.path().join("incidents.jsonl")).unwrap();
    assert!(
        log.contains("aggregate_growth/restated:growth_weekly/2026-10-05"),
        "{log}"
    );
}
