//! Random money histories with the awkward cases of the profit
//! definitions: FX gaps of seven and eight days, corrected rates, a
//! currency with no rates, primary-key violations and corrections,
//! identical and conflicting copies, prices off the catalog and unknown
//! plans, refunds, partners without cost lines or without billed
//! watchers, originals and titles missing from the catalog, viewing across
//! a Central month end, conflicting experiment assignments, settlements of
//! both signs, GL updates.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use streamflix_model::records::*;
use streamflix_model::{Calendar, Currency, Day, Id, Instant, Micros, Month, Rate};

const SECOND: i64 = 1_000_000_000;

fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

/// An amount with at most four decimals.
fn money(rng: &mut StdRng, low: i64, high: i64) -> Micros {
    Micros(rng.random_range(low * 10_000..=high * 10_000) * 100)
}

/// A random instant within `month`, in the business calendar.
fn instant_in(rng: &mut StdRng, calendar: &Calendar, month: Month) -> Instant {
    let first = month.first_day();
    let last = month.next().first_day().plus(-1);
    let day = Day(rng.random_range(first.0..=last.0));
    let start = calendar.start_of(day).0;
    let end = calendar.end_of(day).0;
    Instant(rng.random_range(start..end) / SECOND * SECOND)
}

/// A random money history, in read order. Without `conflicting_fx` no two
/// rate rows share a (date, currency), so the history means the same in
/// any order.
pub fn generate(seed: u64, calendar: &Calendar, conflicting_fx: bool) -> Vec<Record> {
    let mut rng = StdRng::seed_from_u64(seed);
    let first = *["2026-10", "2026-02", "2026-12"].choose(&mut rng).unwrap();
    let first = Month::parse(first).unwrap();
    let months = [first, first.next()];
    let mut records = Vec::new();
    let mut next_id = 0u64;
    let mut id = |prefix: &str| {
        next_id += 1;
        Id::from(format!("{prefix}{next_id:05}"))
    };

    // FX: daily EUR rates with one gap of 6 to 9 days, sparse BRL, no JPY.
    let from = first.first_day().plus(-10);
    let to = months[1].next().first_day();
    let gap_start = Day(rng.random_range(from.0..to.0));
    let gap = rng.random_range(6..=9);
    let mut rate_rows = Vec::new();
    for d in from.0..to.0 {
        let day = Day(d);
        if day >= gap_start && day < gap_start.plus(gap) {
            continue;
        }
        rate_rows.push(FxRate {
            date: day,
            currency: currency("EUR"),
            usd_per_unit: Rate(rng.random_range(1_050_000..1_120_000) * 1_000_000_000_000),
        });
        if rng.random_bool(0.2) {
            rate_rows.push(FxRate {
                date: day,
                currency: currency("BRL"),
                usd_per_unit: Rate(rng.random_range(170_000_000..210_000_000) * 1_000_000_000),
            });
        }
    }
    // A USD row, which must be ignored.
    rate_rows.push(FxRate {
        date: first.first_day(),
        currency: Currency::USD,
        usd_per_unit: Rate(2 * Rate::SCALE),
    });
    if conflicting_fx {
        // Corrections: later rows for dates already published.
        for _ in 0..3 {
            let mut corrected = rate_rows.choose(&mut rng).unwrap().clone();
            corrected.usd_per_unit = Rate(corrected.usd_per_unit.0 + 31_000_000_000_000_000);
            rate_rows.push(corrected);
        }
    }
    records.extend(rate_rows.into_iter().map(Record::FxRate));

    // Plans, with a price change, a tie on updated_at, and no JPY rows.
    let launch = Instant(calendar.start_of(first.first_day()).0 - 400 * 86_400 * SECOND);
    let mut plan = |plan_id: &str, code: &str, tier: i64, price: i64, updated: i64| {
        records.push(Record::PlanCatalog(PlanCatalog {
            plan_id: plan_id.into(),
            currency: currency(code),
            tier,
            monthly_price: Micros(price),
            updated_at: Instant(launch.0 + updated * SECOND),
        }));
    };
    plan("basic", "USD", 1, 7_990_000, 0);
    plan("basic", "EUR", 1, 6_990_000, 0);
    plan("basic", "BRL", 1, 19_900_000, 0);
    plan("standard", "USD", 2, 16_990_000, 100); // the later price
    plan("standard", "USD", 2, 15_490_000, 0);
    plan("standard", "EUR", 2, 12_990_000, 0);
    plan("standard", "EUR", 2, 13_490_000, 0); // a tie: the greater row counts
    plan("standard", "BRL", 2, 39_900_000, 0);

    // Titles: partners p0..p2, an original, one title not listed, and one
    // that changed partner.
    let contents = ["c0", "c1", "c2", "c3", "c4", "c5"];
    for (content, partner, updated) in [
        ("c0", Some("p0"), 0),
        ("c1", Some("p0"), 0),
        ("c1", Some("p1"), 50), // moved to p1
        ("c2", Some("p1"), 0),
        ("c3", None, 0),
        ("c4", Some("p2"), 0),
    ] {
        records.push(Record::ContentCatalog(ContentCatalog {
            content_id: content.into(),
            partner_id: partner.map(Id::from),
            updated_at: Instant(launch.0 + updated * SECOND),
        }));
    }

    let subscribers: Vec<Id> = (0..rng.random_range(1..=7))
        .map(|s| Id::from(format!("s{s}")))
        .collect();
    let codes = ["USD", "USD", "EUR", "BRL", "JPY"];
    for subscriber in &subscribers {
        for month in months {
            if rng.random_bool(0.2) {
                continue;
            }
            let code = *codes.choose(&mut rng).unwrap();
            let plan_id = *["basic", "standard", "promo"].choose(&mut rng).unwrap();
            let base = match (plan_id, code) {
                ("basic", "USD") => 7_990_000,
                ("standard", "USD") => 16_990_000,
                ("standard", "EUR") => 13_490_000,
                _ => 9_990_000,
            };
            let plan_amount = Micros(
                base + *[0, 0, 0, 4_000, -5_000, 6_000, -1_000_000]
                    .choose(&mut rng)
                    .unwrap(),
            );
            let addons = if rng.random_bool(0.4) {
                vec![Addon {
                    addon_id: "sports".into(),
                    amount: money(&mut rng, 1, 10),
                }]
            } else {
                vec![]
            };
            let total = plan_amount.0 + addons.iter().map(|a| a.amount.0).sum::<i64>();
            let refund_amount = match rng.random_range(0..10) {
                0 => Micros(total),
                1 => Micros(total / 2),
                _ => Micros(0),
            };
            // Mostly in the period, sometimes charged the month before.
            let charged = if rng.random_bool(0.1) {
                Month(month.0 - 1)
            } else {
                month
            };
            let bill = Billing {
                event_id: id("b"),
                event_time: instant_in(&mut rng, calendar, charged),
                subscriber_id: subscriber.clone(),
                billing_period: month,
                plan_id: plan_id.into(),
                currency: currency(code),
                plan_amount,
                addons,
                refund_amount,
            };
            records.push(Record::Billing(bill.clone()));
            match rng.random_range(0..12) {
                // A second record for the key: a refund or a re-bill, later
                // or (arriving late) earlier.
                0 | 1 => {
                    let mut second = bill.clone();
                    second.event_id = id("b");
                    second.event_time =
                        Instant(bill.event_time.0 + rng.random_range(-3_000..3_000) * SECOND);
                    second.refund_amount = money(&mut rng, 0, 5);
                    records.push(Record::Billing(second));
                }
                2 => records.push(Record::Billing(bill.clone())),
                3 => {
                    let mut conflicting = bill.clone();
                    conflicting.plan_amount = Micros(bill.plan_amount.0 + 10_000);
                    records.push(Record::Billing(conflicting));
                }
                _ => {}
            }
        }
        // Ad revenue.
        for _ in 0..rng.random_range(0..5) {
            let month = *months.choose(&mut rng).unwrap();
            let ad = AdRevenue {
                event_id: id("a"),
                event_time: instant_in(&mut rng, calendar, month),
                subscriber_id: subscriber.clone(),
                amount: money(&mut rng, 0, 3),
                currency: currency(codes.choose(&mut rng).unwrap()),
            };
            if rng.random_bool(0.1) {
                records.push(Record::AdRevenue(ad.clone()));
            }
            if rng.random_bool(0.05) {
                let mut conflicting = ad.clone();
                conflicting.amount = Micros(ad.amount.0 + 100);
                records.push(Record::AdRevenue(conflicting));
            }
            records.push(Record::AdRevenue(ad));
        }
        // Experiment assignments: some conflict, some arrive out of order.
        for experiment in ["exp_a", "exp-b"] {
            if rng.random_bool(0.3) {
                continue;
            }
            let month = months[0];
            let assignment = ExperimentAssignment {
                event_id: id("x"),
                event_time: instant_in(&mut rng, calendar, month),
                subscriber_id: subscriber.clone(),
                experiment_id: experiment.into(),
                variant: (*["control", "treatment"].choose(&mut rng).unwrap()).into(),
            };
            if rng.random_bool(0.3) {
                let mut other = assignment.clone();
                other.event_id = id("x");
                other.event_time =
                    Instant(assignment.event_time.0 + rng.random_range(-86_400..86_400) * SECOND);
                other.variant = (*["control", "treatment", "holdout"]
                    .choose(&mut rng)
                    .unwrap())
                .into();
                records.push(Record::ExperimentAssignment(other));
            }
            if rng.random_bool(0.1) {
                records.push(Record::ExperimentAssignment(assignment.clone()));
            }
            records.push(Record::ExperimentAssignment(assignment));
        }
    }

    // Viewing, by billed subscribers and one who is never billed, some of
    // it in the last hours of a Central month (the next month in UTC).
    let mut watchers = subscribers.clone();
    watchers.push("u0".into());
    for subscriber in &watchers {
        for _ in 0..rng.random_range(0..15) {
            let month = *months.choose(&mut rng).unwrap();
            let event_time = if rng.random_bool(0.2) {
                Instant(
                    calendar.start_of(month.next().first_day()).0
                        - rng.random_range(1..7200) * SECOND,
                )
            } else {
                instant_in(&mut rng, calendar, month)
            };
            let watch = if rng.random_bool(0.1) {
                0
            } else {
                rng.random_range(1..3_600)
            };
            let event = Viewing {
                event_id: id("v"),
                event_time,
                subscriber_id: subscriber.clone(),
                device_id: "tv".into(),
                content_id: (*contents.choose(&mut rng).unwrap()).into(),
                watch_seconds: Micros::from_units(watch),
                position_seconds: Micros::from_units(10),
                duration_seconds: Micros::from_units(3_600),
                received_at: None,
            };
            if rng.random_bool(0.1) {
                records.push(Record::Viewing(event.clone()));
            }
            if rng.random_bool(0.05) {
                let mut conflicting = event.clone();
                conflicting.watch_seconds = Micros::from_units(rng.random_range(0..3_600));
                conflicting.event_time =
                    Instant(event.event_time.0 + rng.random_range(-60..60) * SECOND);
                records.push(Record::Viewing(conflicting));
            }
            records.push(Record::Viewing(event));
        }
    }

    // Costs, settlements and the GL.
    for month in months {
        for partner in ["p0", "p1", "p2"] {
            // p2 never reports: its viewing is uncovered.
            if partner == "p2" || rng.random_bool(0.1) {
                continue;
            }
            for _ in 0..rng.random_range(1..=3) {
                let line = ContentCost {
                    event_id: id("cc"),
                    partner_id: partner.into(),
                    period: month,
                    amount: money(&mut rng, 0, 40),
                    currency: currency(["USD", "USD", "EUR", "JPY"].choose(&mut rng).unwrap()),
                };
                if rng.random_bool(0.1) {
                    records.push(Record::ContentCost(line.clone()));
                }
                records.push(Record::ContentCost(line));
            }
        }
        for category in ["cdn", "support"] {
            if rng.random_bool(0.2) {
                continue;
            }
            let line = OperationalCost {
                event_id: id("op"),
                period: month,
                category: category.into(),
                amount: money(&mut rng, 0, 20),
                currency: currency(["USD", "EUR", "JPY"].choose(&mut rng).unwrap()),
            };
            if rng.random_bool(0.05) {
                let mut conflicting = line.clone();
                conflicting.amount = Micros(line.amount.0 + 1);
                records.push(Record::OperationalCost(conflicting));
            }
            records.push(Record::OperationalCost(line));
        }
        if rng.random_bool(0.8) {
            for _ in 0..rng.random_range(1..4) {
                let date = calendar.day_of(instant_in(&mut rng, calendar, month));
                let mut amount = money(&mut rng, 0, 30);
                if rng.random_bool(0.2) {
                    amount = Micros(-amount.0);
                }
                records.push(Record::PaymentSettlement(PaymentSettlement {
                    event_id: id("ps"),
                    date,
                    currency: currency(["USD", "EUR", "BRL"].choose(&mut rng).unwrap()),
                    amount,
                }));
            }
        }
        if rng.random_bool(0.7) {
            let posted = calendar.start_of(month.next().first_day());
            for (hours, amount) in [(3, money(&mut rng, 0, 60)), (50, money(&mut rng, 0, 60))] {
                if hours == 50 && rng.random_bool(0.5) {
                    continue;
                }
                records.push(Record::FinanceGl(FinanceGl {
                    period: month,
                    account: GlAccount::Revenue,
                    amount_usd: amount,
                    updated_at: Instant(posted.0 + hours * 3_600 * SECOND),
                }));
            }
        }
    }
    records
}
