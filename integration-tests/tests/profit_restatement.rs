//! A correction that arrives after a month's figures were computed (a
//! refund, a new cost line, a GL update) restates the month: its rows are
//! replaced by the ones the whole input gives, which is what the snapshot
//! publisher turns into the next revision.

use streamflix_engine::cluster::ClusterArgs;
use streamflix_engine::dataflow::Settings;
use streamflix_engine::memory::{Batch, run_batches};
use streamflix_engine::output::Output;
use streamflix_model::records::*;
use streamflix_model::{Calendar, Currency, Day, Id, Instant, Micros, Month};
use streamflix_operators::profit::{ProfitMonth, ProfitSubscriberMonth};

use crate::support::profit::{ProfitTables, profit_tables};
use crate::support::profit_oracle;

fn at(text: &str) -> Instant {
    Instant::parse_rfc3339(text).unwrap()
}

fn october() -> Month {
    Month::parse("2026-10").unwrap()
}

fn bill(event_id: &str, time: &str, subscriber: &str, refund: i64) -> Record {
    Record::Billing(Billing {
        event_id: event_id.into(),
        event_time: at(time),
        subscriber_id: subscriber.into(),
        billing_period: october(),
        plan_id: "basic".into(),
        currency: Currency::USD,
        plan_amount: Micros::from_units(10),
        addons: vec![],
        refund_amount: Micros::from_units(refund),
    })
}

fn cost_line(event_id: &str, units: i64) -> Record {
    Record::ContentCost(ContentCost {
        event_id: event_id.into(),
        partner_id: "p0".into(),
        period: october(),
        amount: Micros::from_units(units),
        currency: Currency::USD,
    })
}

fn gl(units: i64, updated: &str) -> Record {
    Record::FinanceGl(FinanceGl {
        period: october(),
        account: GlAccount::Revenue,
        amount_usd: Micros::from_units(units),
        updated_at: at(updated),
    })
}

fn watch(event_id: &str, subscriber: &str, seconds: i64) -> Record {
    Record::Viewing(Viewing {
        event_id: event_id.into(),
        event_time: at("2026-10-10T20:00:00Z"),
        subscriber_id: subscriber.into(),
        device_id: "tv".into(),
        content_id: "c0".into(),
        watch_seconds: Micros::from_units(seconds),
        position_seconds: Micros(0),
        duration_seconds: Micros::from_units(3_600),
        received_at: None,
    })
}

/// October, as first computed.
fn month() -> Vec<Record> {
    vec![
        bill("b1", "2026-10-02T12:00:00Z", "s1", 0),
        bill("b2", "2026-10-03T12:00:00Z", "s2", 0),
        Record::PlanCatalog(PlanCatalog {
            plan_id: "basic".into(),
            currency: Currency::USD,
            tier: 1,
            monthly_price: Micros::from_units(10),
            updated_at: at("2025-01-01T00:00:00Z"),
        }),
        Record::ContentCatalog(ContentCatalog {
            content_id: "c0".into(),
            partner_id: Some(Id::from("p0")),
            updated_at: at("2025-01-01T00:00:00Z"),
        }),
        watch("v1", "s1", 600),
        watch("v2", "s2", 1_800),
        cost_line("cc1", 8),
        Record::OperationalCost(OperationalCost {
            event_id: "op1".into(),
            period: october(),
            category: "cdn".into(),
            amount: Micros::from_units(3),
            currency: Currency::USD,
        }),
        Record::PaymentSettlement(PaymentSettlement {
            event_id: "ps1".into(),
            date: Day::parse("2026-10-03").unwrap(),
            currency: Currency::USD,
            amount: Micros::from_units(20),
        }),
        gl(20, "2026-11-01T09:00:00Z"),
    ]
}

/// The store after each batch of `batches` has gone in, one epoch each.
fn rows(batches: Vec<Vec<Record>>) -> (Vec<ProfitSubscriberMonth>, ProfitMonth, ProfitTables) {
    let store = run_batches(
        batches
            .into_iter()
            .map(|records| Batch {
                records,
                dead_letters: vec![],
            })
            .collect(),
        &ClusterArgs::single(2),
        &Settings::new(Calendar::central()),
    )
    .expect("the dataflow runs");
    let mut subscribers = Vec::new();
    let mut months = Vec::new();
    for row in store.rows().expect("every row has multiplicity 1") {
        match row {
            Output::ProfitSubscriberMonthly(row) => subscribers.push(row.clone()),
            Output::ProfitMonthly(row) => months.push(row.clone()),
            _ => {}
        }
    }
    assert_eq!(months.len(), 1, "one month: {months:?}");
    (subscribers, months.remove(0), profit_tables(&store))
}

/// Feeds `correction` after the month, checks that the month is restated
/// to what the oracle says of the whole input, and returns the rows
/// before and after.
fn restated(
    correction: Vec<Record>,
) -> (
    (Vec<ProfitSubscriberMonth>, ProfitMonth),
    (Vec<ProfitSubscriberMonth>, ProfitMonth),
) {
    let calendar = Calendar::central();
    let (subscribers, month_row, tables) = rows(vec![month()]);
    tables.assert_eq(
        &profit_oracle::profit(&month(), &calendar).into(),
        "before the correction",
    );
    let all: Vec<Record> = month().into_iter().chain(correction.clone()).collect();
    let (after_subscribers, after_month, after_tables) = rows(vec![month(), correction]);
    after_tables.assert_eq(
        &profit_oracle::profit(&all, &calendar).into(),
        "after the correction",
    );
    assert_ne!(month_row, after_month, "the month was not restated");
    ((subscribers, month_row), (after_subscribers, after_month))
}

#[test]
fn a_later_refund_restates_the_subscriber_and_the_month() {
    let ((before, month_before), (after, month_after)) =
        restated(vec![bill("b3", "2026-10-20T12:00:00Z", "s1", 4)]);
    assert_eq!(before[0].refund, Micros(0));
    assert_eq!(after[0].refund, Micros::from_units(4));
    assert_eq!(after[0].subscriber_id, "s1");
    assert_eq!(month_after.refund.0 - month_before.refund.0, 4_000_000);
    let unit = |m: &ProfitMonth| m.unit_checks.clone().unwrap().pk_violations;
    assert_eq!((unit(&month_before), unit(&month_after)), (0, 1));
}

#[test]
fn a_new_cost_line_restates_the_shares() {
    let ((before, month_before), (after, month_after)) = restated(vec![cost_line("cc2", 4)]);
    // 8 dollars, then 12, shared 1:3 by watch time.
    assert_eq!(
        before.iter().map(|r| r.content_cost.0).collect::<Vec<_>>(),
        vec![2_000_000, 6_000_000]
    );
    assert_eq!(
        after.iter().map(|r| r.content_cost.0).collect::<Vec<_>>(),
        vec![3_000_000, 9_000_000]
    );
    assert_eq!(
        (month_before.content_cost.0, month_after.content_cost.0),
        (8_000_000, 12_000_000)
    );
}

#[test]
fn a_gl_update_restates_the_reconciliation() {
    let ((_, month_before), (_, month_after)) = restated(vec![gl(25, "2026-11-03T09:00:00Z")]);
    assert_eq!(month_before.gl_revenue, Some(Micros::from_units(20)));
    assert_eq!(month_after.gl_revenue, Some(Micros::from_units(25)));
    // An older GL row arriving late changes nothing.
    let calendar = Calendar::central();
    let (_, month_row, tables) = rows(vec![month(), vec![gl(99, "2026-10-31T00:00:00Z")]]);
    assert_eq!(month_row, month_before);
    let all: Vec<Record> = month()
        .into_iter()
        .chain([gl(99, "2026-10-31T00:00:00Z")])
        .collect();
    tables.assert_eq(
        &profit_oracle::profit(&all, &calendar).into(),
        "stale GL row",
    );
}
