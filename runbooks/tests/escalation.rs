//! Pages, escalations, on-call and business hours on a simulated clock.

mod support;

use streamflix_runbooks::{
    Action, CheckResult, IncidentBook, IncidentManager, IncidentState, OnCall, Role,
};
use support::{at, minutes, runbooks, runbooks_with};

fn failing(pipeline: &str, check: &str, period: &str, value: &str) -> CheckResult {
    CheckResult {
        pipeline: pipeline.into(),
        check: check.into(),
        period: period.into(),
        passed: false,
        value: Some(value.into()),
        threshold: Some("0".into()),
    }
}

#[test]
fn a_sev1_check_failure_pages_at_once_escalates_at_15_and_30_minutes_and_stops_once_acknowledged() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    // Tuesday 2026-11-10 03:00 CST: Sev-1 is covered at night too.
    let opened = at("2026-11-10T09:00:00Z");
    let said = manager.report_check(
        &failing("aggregate_profit", "fx_complete", "2026-10", "3"),
        opened,
    );
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].action, Action::Page);
    assert_eq!(said[0].to.as_deref(), Some("A"), "the primary, at once");
    let id = said[0].incident.id;

    assert!(manager.escalate(opened + minutes(14)).is_empty());
    let at_15 = manager.escalate(opened + minutes(15));
    assert_eq!(at_15.len(), 1);
    assert_eq!(at_15[0].action, Action::Escalate);
    assert_eq!(
        at_15[0].to.as_deref(),
        Some("B"),
        "the secondary after 15 min"
    );
    assert!(manager.escalate(opened + minutes(29)).is_empty());
    let at_30 = manager.escalate(opened + minutes(30));
    assert_eq!(at_30.len(), 1);
    assert_eq!(
        at_30[0].to.as_deref(),
        Some("EM"),
        "the manager after 30 min"
    );
    assert!(
        manager.escalate(opened + minutes(600)).is_empty(),
        "nobody after the manager"
    );

    // A second incident acknowledged at 10 minutes never escalates.
    let other = manager.report_check(
        &failing(
            "aggregate_engagement",
            "event_time_skew",
            "2026-11-02",
            "700",
        ),
        opened,
    );
    assert_eq!(other[0].to.as_deref(), Some("C"));
    let other_id = other[0].incident.id;
    let acked = manager
        .acknowledge(other_id, "C", opened + minutes(10))
        .unwrap();
    assert_eq!(acked[0].action, Action::Acknowledge);
    assert!(manager.escalate(opened + minutes(15)).is_empty());
    assert!(manager.escalate(opened + minutes(120)).is_empty());
    let incident = manager.incident(other_id).unwrap();
    assert_eq!(incident.state, IncidentState::Acknowledged);
    assert_eq!(incident.holder.as_deref(), Some("C"));
    assert_ne!(id, other_id);
}

#[test]
fn a_time_jump_sends_every_overdue_escalation_in_order() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    let opened = at("2026-11-10T09:00:00Z");
    manager.report_check(
        &failing("aggregate_growth", "plans_known", "2026-11-02", "2"),
        opened,
    );
    let said = manager.escalate(opened + minutes(45));
    let to: Vec<_> = said.iter().map(|n| n.to.clone().unwrap()).collect();
    assert_eq!(to, ["D", "EM"]);
    assert_eq!(said[0].at, opened + minutes(15));
    assert_eq!(said[1].at, opened + minutes(30));
}

#[test]
fn a_sev2_opened_on_a_friday_evening_waits_until_monday_nine_central() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    // Friday 2026-10-30 18:30 CDT (UTC-5). Daylight saving ends on Sunday
    // 2026-11-01, so Monday 09:00 CST is 15:00 UTC, not 14:00.
    let friday_evening = at("2026-10-30T23:30:00Z");
    let said = manager.report_check(
        &failing("daily_growth", "experiment_coverage", "2026-10-30", "0.95"),
        friday_evening,
    );
    assert_eq!(said[0].action, Action::Opened, "recorded, nobody paged");
    assert_eq!(said[0].to, None);
    let monday_nine = at("2026-11-02T15:00:00Z");
    assert_eq!(said[0].incident.next_escalation_at, Some(monday_nine));
    assert!(
        manager.escalate(at("2026-10-31T15:00:00Z")).is_empty(),
        "Saturday"
    );
    assert!(manager.escalate(monday_nine - minutes(1)).is_empty());
    let paged = manager.escalate(monday_nine);
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].action, Action::Page);
    assert_eq!(paged[0].to.as_deref(), Some("B"));
    assert_eq!(paged[0].at, monday_nine);
    // One business hour to acknowledge, then the other owner.
    assert!(manager.escalate(monday_nine + minutes(59)).is_empty());
    let escalated = manager.escalate(monday_nine + minutes(60));
    assert_eq!(escalated[0].to.as_deref(), Some("A"));
}

#[test]
fn a_sev2_acknowledgement_window_counts_business_time_only() {
    let mut manager = IncidentManager::new(runbooks(), IncidentBook::default());
    // Tuesday 2026-11-10 16:30 CST: 30 minutes today, 30 tomorrow.
    let opened = at("2026-11-10T22:30:00Z");
    let said = manager.report_check(
        &failing("daily_growth", "signups_match_log", "2026-11-09", "0.05"),
        opened,
    );
    assert_eq!(said[0].action, Action::Page);
    assert_eq!(
        said[0].incident.next_escalation_at,
        Some(at("2026-11-11T15:30:00Z")),
        "Wednesday 09:30 CST"
    );
}

#[test]
fn business_hours_follow_daylight_saving() {
    let runbooks = runbooks();
    // Friday 2026-10-30, CDT (UTC-5): 09:00 local is 14:00 UTC.
    assert!(!runbooks.is_business_time(at("2026-10-30T13:59:00Z")));
    assert!(runbooks.is_business_time(at("2026-10-30T14:00:00Z")));
    assert!(runbooks.is_business_time(at("2026-10-30T21:59:00Z")));
    assert!(!runbooks.is_business_time(at("2026-10-30T22:00:00Z")));
    // Monday 2026-11-02, CST (UTC-6): 09:00 local is 15:00 UTC.
    assert!(!runbooks.is_business_time(at("2026-11-02T14:30:00Z")));
    assert!(runbooks.is_business_time(at("2026-11-02T15:00:00Z")));
    assert!(!runbooks.is_business_time(at("2026-11-02T23:00:00Z")));
    // Spring forward, Monday 2027-03-15 CDT again: 14:00 UTC.
    assert!(runbooks.is_business_time(at("2027-03-15T14:00:00Z")));
    assert_eq!(
        runbooks.next_business_start(at("2027-03-13T12:00:00Z")),
        at("2027-03-15T14:00:00Z"),
        "from a Saturday before the change to Monday 09:00 CDT"
    );
    // Weekends are not business time.
    assert!(!runbooks.is_business_time(at("2026-10-31T16:00:00Z")));
}

#[test]
fn the_secondary_is_paged_on_a_configured_holiday() {
    let runbooks = runbooks();
    let mut manager = IncidentManager::new(runbooks.clone(), IncidentBook::default());
    // Thanksgiving 2026-11-26, 10:00 CST, a configured holiday.
    let thanksgiving = at("2026-11-26T16:00:00Z");
    let said = manager.report_check(
        &failing("aggregate_growth", "plans_known", "2026-11-16", "1"),
        thanksgiving,
    );
    assert_eq!(said[0].to.as_deref(), Some("D"), "growth's secondary");
    assert_eq!(said[0].incident.holder_role, Some(Role::Secondary));
    // Not paged the primary the day before.
    let day_before = at("2026-11-25T16:00:00Z");
    let said = manager.report_check(
        &failing("aggregate_growth", "plans_known", "2026-11-09", "1"),
        day_before,
    );
    assert_eq!(said[0].to.as_deref(), Some("B"));
    // Sev-2 on a holiday in business hours: the secondary too.
    let daily = runbooks.pipeline("daily_growth").unwrap();
    assert_eq!(
        runbooks.on_call(daily, thanksgiving),
        OnCall::Page {
            contact: "A".into(),
            role: Role::Secondary
        }
    );
    // Remove the holiday from the configuration: the primary again.
    let no_holiday =
        runbooks_with(|text| text.replace("date = \"2026-11-26\"", "date = \"2026-12-31\""));
    assert_eq!(
        no_holiday.on_call(
            no_holiday.pipeline("aggregate_growth").unwrap(),
            thanksgiving
        ),
        OnCall::Page {
            contact: "B".into(),
            role: Role::Primary
        }
    );
}

#[test]
fn an_unavailable_primary_hands_sev2_to_the_secondary() {
    let runbooks = runbooks_with(|text| {
        text.replace(
            "name = \"Engineer B\"",
            "name = \"Engineer B\"\nunavailable = [\"2026-11-10\"]",
        )
    });
    let daily = runbooks.pipeline("daily_growth").unwrap();
    assert_eq!(
        runbooks.on_call(daily, at("2026-11-10T16:00:00Z")),
        OnCall::Page {
            contact: "A".into(),
            role: Role::Secondary
        }
    );
    assert_eq!(
        runbooks.on_call(daily, at("2026-11-11T16:00:00Z")),
        OnCall::Page {
            contact: "B".into(),
            role: Role::Primary
        }
    );
    // Outside business hours nobody is paged, and the screen says when.
    match runbooks.on_call(daily, at("2026-11-11T03:00:00Z")) {
        OnCall::AfterHours { from, contact, .. } => {
            assert_eq!(from, at("2026-11-11T15:00:00Z"));
            assert_eq!(contact, "B");
        }
        other => panic!("expected after hours, got {other:?}"),
    }
}

#[test]
fn sev3_files_a_ticket_and_pages_nobody() {
    let runbooks = runbooks_with(|text| {
        text.replace(
            "name = \"daily_growth\"\ntitle = \"Daily growth, for experiments\"\nseverity = 2",
            "name = \"daily_growth\"\ntitle = \"Daily growth, for experiments\"\nseverity = 3",
        )
    });
    assert_eq!(
        runbooks.pipeline("daily_growth").unwrap().severity,
        streamflix_runbooks::Severity::Sev3
    );
    let mut manager = IncidentManager::new(runbooks, IncidentBook::default());
    let opened = at("2026-11-10T16:00:00Z");
    let said = manager.report_check(
        &failing("daily_growth", "experiment_coverage", "2026-11-09", "0.9"),
        opened,
    );
    assert_eq!(said[0].action, Action::Ticket);
    assert_eq!(
        said[0].incident.holder.as_deref(),
        Some("streamflix-data-quality")
    );
    assert!(manager.escalate(opened + minutes(24 * 60)).is_empty());
}

#[test]
fn records_beyond_their_horizon_file_a_sev3_ticket_for_every_reader_of_the_feed() {
    let runbooks = runbooks();
    let mut manager = IncidentManager::new(runbooks.clone(), IncidentBook::default());
    let seen = at("2026-11-10T16:00:00Z");
    let said = manager.report_beyond_retention("viewing", 3, seen);
    let readers: Vec<&str> = runbooks
        .pipelines
        .iter()
        .filter(|pipeline| pipeline.upstream.iter().any(|feed| feed == "viewing"))
        .map(|pipeline| pipeline.name.as_str())
        .collect();
    assert!(!readers.is_empty());
    assert_eq!(said.len(), readers.len());
    for note in &said {
        assert_eq!(note.action, Action::Ticket);
        // Sev-1 pipelines among them: a data-quality ticket pages nobody.
        assert_eq!(note.incident.severity, streamflix_runbooks::Severity::Sev3);
        assert_eq!(note.incident.period, "2026-11-10");
        assert_eq!(note.incident.value.as_deref(), Some("3"));
        assert!(
            note.incident
                .dedup_key
                .ends_with("/beyond_retention:viewing/2026-11-10"),
            "{}",
            note.incident.dedup_key
        );
    }
    // More of them the same day update the tickets; nothing escalates.
    let again = manager.report_beyond_retention("viewing", 5, seen + minutes(10));
    assert!(again.iter().all(|note| note.action == Action::Update));
    assert_eq!(manager.open_incidents().len(), readers.len());
    assert!(manager.escalate(seen + minutes(24 * 60)).is_empty());
}
