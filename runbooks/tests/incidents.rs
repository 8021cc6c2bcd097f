//! Opening, deduplicating and resolving incidents from what the engine sees.

mod support;

use streamflix_runbooks::{
    Action, Cause, CheckResult, FeedProgress, IncidentBook, IncidentManager, IncidentState,
    OperatorAction, OperatorVerb, Publication, Severity, StatusView,
};
use support::{at, minutes, runbooks};

fn check(passed: bool, value: &str) -> CheckResult {
    CheckResult {
        pipeline: "aggregate_engagement".into(),
        check: "event_time_skew".into(),
        period: "2026-11-02".into(),
        passed,
        value: Some(value.into()),
        threshold: Some("600".into()),
    }
}

#[test]
fn repeated_failures_of_one_check_give_one_incident_and_a_pass_resolves_it() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    let start = at("2026-11-10T16:00:00Z");
    let first = manager.report_check(&check(false, "700"), start);
    assert_eq!(first.len(), 1);
    for step in 1..5 {
        let again = manager.report_check(&check(false, "700"), start + minutes(step));
        assert!(again.is_empty(), "same value: nothing new to say");
    }
    let changed = manager.report_check(&check(false, "720"), start + minutes(6));
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].action, Action::Update);
    assert_eq!(manager.open_incidents().len(), 1);
    let incident = manager.open_incidents()[0].clone();
    assert_eq!(incident.occurrences, 6);
    assert_eq!(incident.value.as_deref(), Some("720"));
    assert_eq!(incident.threshold.as_deref(), Some("600"));
    assert_eq!(
        incident.dedup_key,
        "aggregate_engagement/check:event_time_skew/2026-11-02"
    );
    assert_eq!(incident.runbook, "RUNBOOKS.md#aggregate_engagement");
    assert_eq!(incident.severity, Severity::Sev1);

    // Another period is another incident.
    let mut other = check(false, "650");
    other.period = "2026-11-09".into();
    assert_eq!(manager.report_check(&other, start + minutes(7)).len(), 1);
    assert_eq!(manager.open_incidents().len(), 2);

    let resolved = manager.report_check(&check(true, "500"), start + minutes(8));
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].action, Action::Resolve);
    assert_eq!(
        manager.incident(incident.id).unwrap().state,
        IncidentState::Resolved
    );
    assert_eq!(manager.open_incidents().len(), 1);
    // Failing again after the resolution opens a new incident.
    let reopened = manager.report_check(&check(false, "800"), start + minutes(9));
    assert_eq!(reopened[0].action, Action::Page);
    assert_ne!(reopened[0].incident.id, incident.id);
}

fn feed(name: &str, watermark: &str) -> FeedProgress {
    FeedProgress {
        feed: name.into(),
        watermark: Some(at(watermark)),
        last_data_at: Some(at(watermark)),
    }
}

#[test]
fn late_billing_makes_unit_profit_late_at_day_end_plus_four_hours() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    // Day 2026-11-10 ends at 2026-11-11 06:00 UTC (midnight CST); due 10:00 UTC.
    let feeds = |billing: &str| {
        vec![
            feed("billing", billing),
            feed("ad_revenue", "2026-11-11T09:30:00Z"),
            feed("viewing", "2026-11-11T09:55:00Z"),
            feed("subscriptions", "2026-11-11T09:55:00Z"),
        ]
    };
    // Billing stuck at 2026-11-10 20:00 CST.
    let stuck = "2026-11-11T02:00:00Z";
    let before = manager.report_feeds(&feeds(stuck), at("2026-11-11T09:59:00Z"));
    assert!(
        before.iter().all(|n| n.incident.pipeline != "unit_profit"
            || n.incident.cause != Cause::Late
            || n.incident.period != "2026-11-10"),
        "not due yet: {before:?}"
    );
    let due = manager.report_feeds(&feeds(stuck), at("2026-11-11T10:00:00Z"));
    let late: Vec<_> = due
        .iter()
        .filter(|n| n.incident.pipeline == "unit_profit" && n.incident.cause == Cause::Late)
        .collect();
    assert_eq!(late.len(), 1, "{due:#?}");
    let incident = &late[0].incident;
    assert_eq!(incident.period, "2026-11-10");
    assert_eq!(incident.severity, Severity::Sev2);
    assert!(incident.summary.contains("billing"), "{}", incident.summary);
    assert!(
        !incident.summary.contains("viewing"),
        "{}",
        incident.summary
    );
    // Wednesday 04:00 CST: outside business hours, so it waits for 09:00.
    assert_eq!(late[0].action, Action::Opened);
    // Same state a minute later: no second incident.
    let again = manager.report_feeds(&feeds(stuck), at("2026-11-11T10:01:00Z"));
    assert!(
        again
            .iter()
            .all(|n| n.incident.cause != Cause::Late || n.incident.pipeline != "unit_profit")
    );
    // Billing catches up: resolved.
    let caught_up =
        manager.report_feeds(&feeds("2026-11-11T09:00:00Z"), at("2026-11-11T10:30:00Z"));
    assert!(caught_up.iter().any(|n| n.action == Action::Resolve
        && n.incident.pipeline == "unit_profit"
        && n.incident.cause == Cause::Late));
    assert!(
        manager
            .open_incidents()
            .iter()
            .all(|i| !(i.pipeline == "unit_profit" && i.cause == Cause::Late))
    );
}

#[test]
fn a_stalled_fx_feed_opens_a_sev1_for_aggregate_profit_and_resumes_resolve_it() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    let last_fx = at("2026-11-09T06:00:00Z");
    let fx = |last| FeedProgress {
        feed: "fx_rates".into(),
        watermark: None,
        last_data_at: Some(last),
    };
    // 36 hours allowed.
    assert!(
        manager
            .report_feeds(&[fx(last_fx)], last_fx + minutes(36 * 60))
            .iter()
            .all(|n| !matches!(n.incident.cause, Cause::FeedStalled { .. }))
    );
    let said = manager.report_feeds(&[fx(last_fx)], last_fx + minutes(36 * 60 + 1));
    let stalled: Vec<_> = said
        .iter()
        .filter(|n| {
            n.incident.cause
                == Cause::FeedStalled {
                    feed: "fx_rates".into(),
                }
        })
        .collect();
    assert_eq!(stalled.len(), 1, "only aggregate_profit reads FX");
    assert_eq!(stalled[0].incident.pipeline, "aggregate_profit");
    assert_eq!(stalled[0].incident.severity, Severity::Sev1);
    assert_eq!(stalled[0].to.as_deref(), Some("A"));
    let resumed = manager.report_feeds(
        &[fx(last_fx + minutes(37 * 60))],
        last_fx + minutes(37 * 60),
    );
    assert!(
        resumed.iter().any(|n| n.action == Action::Resolve
            && matches!(n.incident.cause, Cause::FeedStalled { .. }))
    );
}

#[test]
fn a_revision_after_publication_opens_a_restatement_incident() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    let published = |revision| Publication {
        pipeline: "aggregate_growth".into(),
        table: "growth_weekly".into(),
        period: "2026-11-02".into(),
        revision,
        at: at("2026-11-09T12:00:00Z"),
    };
    assert!(
        manager
            .report_publication(&published(1), at("2026-11-09T12:00:00Z"))
            .is_empty()
    );
    let said = manager.report_publication(&published(2), at("2026-11-10T12:00:00Z"));
    assert_eq!(said.len(), 1);
    assert_eq!(
        said[0].incident.cause,
        Cause::Restated {
            table: "growth_weekly".into()
        }
    );
    assert_eq!(said[0].incident.value.as_deref(), Some("revision 2"));
    let third = manager.report_publication(&published(3), at("2026-11-10T13:00:00Z"));
    assert_eq!(third[0].action, Action::Update, "the same incident");
    assert_eq!(manager.open_incidents().len(), 1);
    let view = StatusView::build(
        manager.runbooks(),
        manager.book(),
        at("2026-11-10T13:00:00Z"),
    );
    let growth = view
        .pipelines
        .iter()
        .find(|p| p.name == "aggregate_growth")
        .unwrap();
    assert_eq!(growth.last_published.as_ref().unwrap().revision, 3);
    assert_eq!(growth.open_incidents.len(), 1);
    let text = view.render(manager.runbooks());
    assert!(
        text.contains("growth_weekly 2026-11-02 revision 3"),
        "{text}"
    );
}

#[test]
fn operator_actions_are_applied_once_and_survive_a_round_trip_through_disk() {
    let dir = tempfile::tempdir().unwrap();
    let files = streamflix_runbooks::store::StateFiles::new(dir.path());
    let mut manager = IncidentManager::new(runbooks(), files.load_book().unwrap());
    let opened = at("2026-11-10T09:00:00Z");
    let id = manager.report_check(&check(false, "700"), opened)[0]
        .incident
        .id;
    files.save_book(manager.book()).unwrap();
    files
        .append_action(&OperatorAction {
            id,
            action: OperatorVerb::Ack,
            by: "C".into(),
            at: opened + minutes(5),
        })
        .unwrap();
    let mut reloaded = IncidentManager::new(runbooks(), files.load_book().unwrap());
    let actions = files.read_actions().unwrap();
    let said = reloaded.apply_actions(&actions);
    assert_eq!(said.len(), 1);
    assert!(reloaded.apply_actions(&actions).is_empty(), "applied once");
    assert_eq!(
        reloaded.incident(id).unwrap().state,
        IncidentState::Acknowledged
    );
    assert!(reloaded.escalate(opened + minutes(60)).is_empty());
    assert!(reloaded.acknowledge(999, "C", opened).is_err());
}
