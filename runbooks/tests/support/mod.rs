//! What the tests share: the shipped runbooks, validated against the
//! feeds, tables and checks of the metric contract, and a simulated clock.

#![allow(dead_code)]

use std::sync::Arc;

use jiff::Timestamp;
use streamflix_runbooks::{Known, Runbooks};

pub const SHIPPED: &str = include_str!("../../../engine/config/pipelines.toml");

pub fn known() -> Known {
    let feeds = [
        "viewing",
        "subscriptions",
        "billing",
        "ad_revenue",
        "content_costs",
        "operational_costs",
        "experiment_assignments",
        "account_flags",
        "payment_settlements",
        "plan_catalog",
        "content_catalog",
        "devices",
        "fx_rates",
        "finance_gl",
    ];
    let tables = [
        "engagement_daily",
        "engagement_weekly",
        "growth_daily",
        "growth_daily_by_variant",
        "growth_weekly",
        "profit_subscriber_monthly",
        "profit_monthly",
    ];
    let checks = [
        ("unit_profit", "pk_unique"),
        ("unit_profit", "plan_price_matches_catalog"),
        ("unit_profit", "no_negative_profit_without_refund"),
        ("aggregate_profit", "revenue_matches_processor"),
        ("aggregate_profit", "content_cost_coverage"),
        ("aggregate_profit", "gl_reconciles"),
        ("aggregate_profit", "fx_complete"),
        ("daily_growth", "experiment_coverage"),
        ("daily_growth", "signups_match_log"),
        ("aggregate_growth", "plans_known"),
        ("aggregate_engagement", "event_time_skew"),
    ];
    Known {
        feeds: feeds.iter().map(|f| f.to_string()).collect(),
        tables: tables.iter().map(|t| t.to_string()).collect(),
        checks: checks
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect(),
    }
}

pub fn runbooks() -> Arc<Runbooks> {
    Arc::new(
        Runbooks::parse(SHIPPED, "pipelines.toml", &known())
            .expect("the shipped runbooks are valid"),
    )
}

/// The shipped runbooks with `edit` applied to the text.
pub fn runbooks_with(edit: impl Fn(&str) -> String) -> Arc<Runbooks> {
    Arc::new(Runbooks::parse(&edit(SHIPPED), "pipelines.toml", &known()).expect("valid runbooks"))
}

pub fn at(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 instant")
}

pub fn minutes(m: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(m)
}
