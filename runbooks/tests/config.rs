//! Validation of `pipelines.toml`: mistakes are refused with a clear reason.

mod support;

use streamflix_runbooks::{Runbooks, Severity};
use support::{SHIPPED, known};

fn error_of(text: &str) -> String {
    Runbooks::parse(text, "pipelines.toml", &known())
        .expect_err("invalid runbooks are refused")
        .to_string()
}

#[test]
fn the_shipped_runbooks_state_the_five_pipelines() {
    let runbooks = support::runbooks();
    let names: Vec<&str> = runbooks.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "unit_profit",
            "aggregate_profit",
            "aggregate_growth",
            "daily_growth",
            "aggregate_engagement"
        ]
    );
    let owners: Vec<(&str, &str, Severity)> = runbooks
        .pipelines
        .iter()
        .map(|p| (p.primary.as_str(), p.secondary.as_str(), p.severity))
        .collect();
    assert_eq!(
        owners,
        [
            ("A", "C", Severity::Sev2),
            ("A", "B", Severity::Sev1),
            ("B", "D", Severity::Sev1),
            ("B", "A", Severity::Sev2),
            ("C", "A", Severity::Sev1),
        ]
    );
    assert_eq!(runbooks.zone_name, "America/Chicago");
}

#[test]
fn an_unknown_feed_is_refused() {
    let error = error_of(&SHIPPED.replace(
        "upstream = [\"subscriptions\", \"experiment_assignments\"]",
        "upstream = [\"subscriptions\", \"experiment_logs\"]",
    ));
    assert!(
        error.contains("daily_growth") && error.contains("experiment_logs"),
        "{error}"
    );
}

#[test]
fn an_owner_without_a_contact_is_refused() {
    let error = error_of(&SHIPPED.replace("secondary = \"D\"", "secondary = \"Z\""));
    assert!(error.contains("\"Z\" has no contact"), "{error}");
}

#[test]
fn a_check_that_does_not_exist_is_refused() {
    let error =
        error_of(&SHIPPED.replace("checks = [\"plans_known\"]", "checks = [\"dedupe_ids\"]"));
    assert!(
        error.contains("dedupe_ids") && error.contains("plans_known"),
        "names the check and the ones that exist: {error}"
    );
}

#[test]
fn other_mistakes_are_named() {
    assert!(
        error_of(&SHIPPED.replace("zone = \"America/Chicago\"", "zone = \"Mars/Olympus\""))
            .contains("Mars/Olympus")
    );
    assert!(error_of(&SHIPPED.replace("severity = 2", "severity = 4")).contains("severity 4"));
    assert!(
        error_of(&SHIPPED.replace(
            "publishes = [\"growth_weekly\"]",
            "publishes = [\"growth_yearly\"]"
        ))
        .contains("growth_yearly")
    );
    assert!(error_of(&SHIPPED.replace("ticket_queue", "ticket_qeueu")).contains("ticket_qeueu"));
    assert!(error_of(&SHIPPED.replace("fx_rates = 2160", "fx_ratez = 2160")).contains("fx_ratez"));
}
