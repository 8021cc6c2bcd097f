//! The profit pipelines: unit-level profit for experiments
//! (`profit_subscriber_monthly`) and aggregate profit for investors
//! (`profit_monthly`), with the `unit_profit` and `aggregate_profit` checks.
//!
//! Definitions (the README states them in full):
//! * every amount becomes US dollars with the FX look-back rule
//!   ([`crate::currency`]); an amount with no usable rate is left out and
//!   counted in `fx_missing` of its month;
//! * per subscriber and billing period, the billing record in force
//!   ([`crate::billing`]) gives subscription, add-ons and refund; ad
//!   revenue is the subscriber's in the month of its event day;
//! * a partner's content cost for a month is shared among the month's
//!   billed subscribers by watch time on its content
//!   ([`crate::allocation`]); the month's operational cost is split evenly
//!   over them; each row is tagged with the subscriber's experiment
//!   variants ([`crate::assignments`]);
//! * the month's totals, reconciliation with the payment processor and the
//!   finance GL, and content-cost coverage.
//!
//! Flagged subscribers and impossible days count here: their money is real.
//! Under a restatement horizon, billing records, ad revenue and watch time
//! leave the state when their month's profit freezes ([`crate::expire`]):
//! the retractions that follow change only frozen rows.
//! Rows carry exact totals in micro-dollars; sums, differences and
//! ratios are formed when a row becomes cells.
//!
//! ```text
//! fx_rates ─► usable rate per (currency, day) ──────────┐
//! billing ─► dedup ─► in force per (subscriber, month) ─┼─► USD ─┬─► rows per (subscriber, month)
//! ad_revenue, cost lines, settlements ─► dedup ─────────┘        │      ▲ ad revenue, shares, variants
//! viewing ─► watch per (content, subscriber, month) ─► partner ─► allocation
//!                                                        └──────► facts per month ─► monthly rows, checks
//! ```

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::{
    AdRevenue, Billing, ContentCatalog, ContentCost, FinanceGl, GlAccount, OperationalCost,
    PaymentSettlement, PlanCatalog,
};
use streamflix_model::table::{Cell, Column, ColumnKind};
use streamflix_model::{Calendar, Day, Feed, Fingerprint, Id, Micros, Month, fingerprint};

use crate::Time;
use crate::allocation::{Allocation, allocate};
use crate::billing::billing_in_force;
use crate::currency::{PositionedRate, convert, div_half_even, to_usd, usable_rates};
use crate::engagement::CheckRow;
use crate::event_dedup::dedup_events;
use crate::expire::expire;
use crate::facts::{as_facts, rows_from_facts};
use crate::reference::current_rows;
use crate::viewing::ViewingCopies;
use crate::watch::monthly_watch;

/// A plan's charge matches the catalog within half a cent.
pub const PRICE_TOLERANCE: Micros = Micros(5_000);
/// `revenue_matches_processor` and `gl_reconciles` fail beyond this many
/// percent.
pub const RECONCILIATION_PERCENT: f64 = 0.5;
/// `content_cost_coverage` fails below this ratio.
pub const COVERAGE_THRESHOLD: f64 = 0.995;

/// The profit pipelines' input feeds.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct ProfitInputs<'s, T: Time> {
    /// Viewing as [`crate::viewing::prepare_viewing`] prepares it.
    pub viewing: ViewingCopies<'s, T>,
    pub billing: VecCollection<'s, T, Billing>,
    pub ad_revenue: VecCollection<'s, T, AdRevenue>,
    pub content_costs: VecCollection<'s, T, ContentCost>,
    pub operational_costs: VecCollection<'s, T, OperationalCost>,
    /// Each subscriber's variant of each experiment, as
    /// [`crate::assignments::assignments_in_force`] settles it (the engine
    /// computes it once for growth and profit, and reports its issues).
    pub variants: VecCollection<'s, T, (Fingerprint, (Id, Id))>,
    pub payment_settlements: VecCollection<'s, T, PaymentSettlement>,
    pub plan_catalog: VecCollection<'s, T, PlanCatalog>,
    pub content_catalog: VecCollection<'s, T, ContentCatalog>,
    /// Rates with their read position: the later row of a key counts.
    pub fx_rates: VecCollection<'s, T, PositionedRate>,
    pub finance_gl: VecCollection<'s, T, FinanceGl>,
}

/// The pipelines' outputs.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Profit<'s, T: Time> {
    pub subscriber_monthly: VecCollection<'s, T, ProfitSubscriberMonth>,
    pub monthly: VecCollection<'s, T, ProfitMonth>,
    /// Data-quality issues that did not stop a record: feed, issue, one
    /// record per occurrence.
    pub issues: Vec<(Feed, &'static str, VecCollection<'s, T, ()>)>,
}

/// A row of `profit_subscriber_monthly`: one per billing record in force
/// that could be converted to USD.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProfitSubscriberMonth {
    pub subscriber_id: Id,
    pub billing_period: Month,
    pub plan_id: Id,
    pub subscription: Micros,
    pub addons: Micros,
    pub refund: Micros,
    pub ad_revenue: Micros,
    pub content_cost: Micros,
    pub operational_cost: Micros,
    /// `(experiment_id, variant)`, sorted.
    pub experiments: Vec<(Id, Id)>,
}

/// The `unit_profit` figures of a month with a billing record.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnitChecks {
    /// (subscriber, period) keys with more than one billing record.
    pub pk_violations: i64,
    /// Records in force whose plan amount is off the catalog, or has no
    /// catalog row.
    pub price_mismatches: i64,
    /// Rows with a negative profit and no refund.
    pub negative_without_refund: i64,
}

/// A row of `profit_monthly`, as exact totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProfitMonth {
    pub month: Month,
    pub subscription: Micros,
    pub addons: Micros,
    pub refund: Micros,
    /// All ad revenue of the month, billed subscribers or not.
    pub ad_revenue: Micros,
    /// The partners' total, allocated or not.
    pub content_cost: Micros,
    pub unallocated_content_cost: Micros,
    pub operational_cost: Micros,
    pub billed_subscribers: i64,
    /// Settlements dated in the month.
    pub processor_net: Micros,
    /// The GL's current revenue row, if any.
    pub gl_revenue: Option<Micros>,
    /// Watch microseconds on partner content, content missing from the
    /// catalog included.
    pub partner_watch: i64,
    /// Of those, on partners with a cost line for the month.
    pub covered_watch: i64,
    /// Amounts left out for want of a usable rate.
    pub fx_missing: i64,
    /// Present when the month has a billing record (before currency).
    pub unit_checks: Option<UnitChecks>,
}

/// A billing record in force, in dollars.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct BillUsd {
    subscriber_id: Id,
    plan_id: Id,
    subscription: Micros,
    addons: Micros,
    refund: Micros,
}

/// What a (subscriber, month) row is assembled from. Amounts travel in
/// the difference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum RowPart {
    Bill(BillUsd),
    AdRevenue,
    ContentCost,
    OperationalCost,
    Experiment(Id, Id),
}

/// What a month's row is assembled from; amounts and counts travel in the
/// difference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum MonthFact {
    /// A billing record, ad revenue, cost line or settlement of the month.
    Seen,
    /// A billing record in force (before currency).
    BillingRecord,
    Subscription,
    Addons,
    Refund,
    BilledSubscriber,
    AdRevenue,
    ContentCost,
    Unallocated,
    OperationalCost,
    /// Settlements, positive and negative apart so that every total the
    /// reduction sees is positive.
    SettledIn,
    SettledOut,
    GlRevenue(Micros),
    PartnerWatch,
    CoveredWatch,
    FxMissing,
    PkViolation,
    PriceMismatch,
    NegativeWithoutRefund,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum OperationalPart {
    Cost,
    Subscriber,
}

/// The month of a reference date or event day.
fn month_of(day: Day) -> Month {
    day.month()
}

/// One record per conflicting event ever seen. The feeds only add
/// records, so a conflict is withdrawn only when its copies expire with
/// their month: the count of conflicts found must not fall then.
fn ever_seen<'s, T: Time>(
    conflicting: VecCollection<'s, T, Fingerprint>,
) -> VecCollection<'s, T, ()> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::operators::vec::Filter;
    conflicting
        .inner
        .filter(|(_, _, diff)| *diff > 0)
        .as_collection()
        .map(|_| ())
}

/// Builds both profit pipelines.
pub fn profit<'s, T: Time>(inputs: ProfitInputs<'s, T>, calendar: &Calendar) -> Profit<'s, T> {
    let rates = usable_rates(inputs.fx_rates);
    // The per-subscriber money feeds leave the state when their month's
    // profit freezes (the same rule admits them: see `Horizons`); the
    // sparse feeds (catalogs, costs, rates, settlements) stay.
    let (billing_input, ad_revenue_input) = match inputs.viewing.horizons.clone() {
        Some(horizons) => {
            let ad_calendar = calendar.clone();
            let ad_horizons = horizons.clone();
            (
                expire("BillingRecords", inputs.billing, move |b: &Billing| {
                    horizons.profit_expires(b.billing_period)
                }),
                expire(
                    "AdRevenueRecords",
                    inputs.ad_revenue,
                    move |a: &AdRevenue| {
                        ad_horizons.profit_expires(month_of(ad_calendar.day_of(a.event_time)))
                    },
                ),
            )
        }
        None => (inputs.billing, inputs.ad_revenue),
    };
    let mut issues = Vec::new();
    let mut duplicates = |feed: Feed, conflicting: VecCollection<'s, T, Fingerprint>| {
        issues.push((feed, "conflicting_duplicate", ever_seen(conflicting)));
    };

    // Billing: one record per event, one in force per key.
    let billing = dedup_events("DedupBilling", billing_input, |b| b.event_id.as_str());
    duplicates(Feed::Billing, billing.conflicting);
    let billing = billing_in_force(billing.events);
    let in_force = billing.in_force;
    let mut facts = vec![
        in_force.clone().flat_map(|b| {
            [
                (b.billing_period, MonthFact::Seen, 1),
                (b.billing_period, MonthFact::BillingRecord, 1),
            ]
        }),
        billing
            .violations
            .map(|(_, period)| (period, MonthFact::PkViolation, 1)),
        price_mismatches(in_force.clone(), inputs.plan_catalog)
            .map(|period| (period, MonthFact::PriceMismatch, 1)),
    ];
    let day_of = {
        let calendar = calendar.clone();
        move |instant| calendar.day_of(instant)
    };
    let bill_day = day_of.clone();
    let (bills, bills_missing) = convert(
        in_force.map(move |b| ((b.currency, bill_day(b.event_time)), b)),
        rates.clone(),
        |b: &Billing, rate| {
            let addons: i64 = b
                .addons
                .iter()
                .try_fold(0i64, |sum, addon| sum.checked_add(addon.amount.0))?;
            Some((
                (fingerprint(&b.subscriber_id), b.billing_period),
                BillUsd {
                    subscriber_id: b.subscriber_id.clone(),
                    plan_id: b.plan_id.clone(),
                    subscription: to_usd(b.plan_amount, rate)?,
                    addons: to_usd(Micros(addons), rate)?,
                    refund: to_usd(b.refund_amount, rate)?,
                },
            ))
        },
    );
    facts.push(bills_missing.map(|b| (b.billing_period, MonthFact::FxMissing, 1)));
    facts.push(bills.clone().flat_map(|((_, period), bill)| {
        [
            (period, MonthFact::Subscription, bill.subscription.0),
            (period, MonthFact::Addons, bill.addons.0),
            (period, MonthFact::Refund, bill.refund.0),
            (period, MonthFact::BilledSubscriber, 1),
        ]
    }));
    let billed = bills.clone().map(|(key, _)| key);

    // Ad revenue, in the month of its event day.
    let ads = dedup_events("DedupAdRevenue", ad_revenue_input, |a| a.event_id.as_str());
    duplicates(Feed::AdRevenue, ads.conflicting);
    let ad_day = day_of.clone();
    let ads = ads.events.map(move |a| {
        let day = ad_day(a.event_time);
        (
            (a.currency, day),
            (fingerprint(&a.subscriber_id), month_of(day), a.amount),
        )
    });
    facts.push(
        ads.clone()
            .map(|(_, (_, month, _))| (month, MonthFact::Seen, 1)),
    );
    let (ads, ads_missing) = convert(ads, rates.clone(), |(subscriber, month, amount), rate| {
        Some(((*subscriber, *month), to_usd(*amount, rate)?))
    });
    facts.push(ads_missing.map(|(_, month, _)| (month, MonthFact::FxMissing, 1)));
    facts.push(
        ads.clone()
            .map(|((_, month), usd)| (month, MonthFact::AdRevenue, usd.0)),
    );

    // Content cost lines, at the first day of their period.
    let lines = dedup_events("DedupContentCosts", inputs.content_costs, |c| {
        c.event_id.as_str()
    });
    duplicates(Feed::ContentCosts, lines.conflicting);
    let costed = lines
        .events
        .clone()
        .map(|line| (line.partner_id, line.period))
        .distinct();
    let (content_cost, lines_missing) = convert(
        lines.events.map(|line| {
            (
                (line.currency, line.period.first_day()),
                (line.partner_id, line.period, line.amount),
            )
        }),
        rates.clone(),
        |(partner, period, amount), rate| {
            Some(((partner.clone(), *period), to_usd(*amount, rate)?))
        },
    );
    facts.push(lines_missing.map(|(_, period, _)| (period, MonthFact::FxMissing, 1)));
    facts.push(
        content_cost
            .clone()
            .map(|((_, period), usd)| (period, MonthFact::ContentCost, usd.0)),
    );
    facts.push(
        costed
            .clone()
            .map(|(_, period)| (period, MonthFact::Seen, 1)),
    );

    // Operational cost lines, at the first day of their period.
    let operational = dedup_events("DedupOperationalCosts", inputs.operational_costs, |c| {
        c.event_id.as_str()
    });
    duplicates(Feed::OperationalCosts, operational.conflicting);
    facts.push(
        operational
            .events
            .clone()
            .map(|line| (line.period, MonthFact::Seen, 1)),
    );
    let (operational, operational_missing) = convert(
        operational.events.map(|line| {
            (
                (line.currency, line.period.first_day()),
                (line.period, line.amount),
            )
        }),
        rates.clone(),
        |(period, amount), rate| Some((*period, to_usd(*amount, rate)?)),
    );
    facts.push(operational_missing.map(|(period, _)| (period, MonthFact::FxMissing, 1)));
    facts.push(
        operational
            .clone()
            .map(|(period, usd)| (period, MonthFact::OperationalCost, usd.0)),
    );

    // Settlements, dated.
    let settlements = dedup_events("DedupSettlements", inputs.payment_settlements, |s| {
        s.event_id.as_str()
    });
    duplicates(Feed::PaymentSettlements, settlements.conflicting);
    let settlements = settlements
        .events
        .map(|s| ((s.currency, s.date), (month_of(s.date), s.amount)));
    facts.push(
        settlements
            .clone()
            .map(|(_, (month, _))| (month, MonthFact::Seen, 1)),
    );
    let (settled, settled_missing) = convert(settlements, rates, |(month, amount), rate| {
        Some((*month, to_usd(*amount, rate)?))
    });
    facts.push(settled_missing.map(|(month, _)| (month, MonthFact::FxMissing, 1)));
    facts.push(settled.map(|(month, usd)| {
        if usd.0 >= 0 {
            (month, MonthFact::SettledIn, usd.0)
        } else {
            (month, MonthFact::SettledOut, -usd.0)
        }
    }));

    // The GL's revenue per period.
    let gl = current_rows(
        "CurrentGlRow",
        inputs
            .finance_gl
            .map(|row| ((row.period, row.account), row)),
        |row: &FinanceGl| row.updated_at,
    );
    facts.push(gl.flat_map(|((period, account), row)| {
        (account == GlAccount::Revenue).then_some((period, MonthFact::GlRevenue(row.amount_usd), 1))
    }));

    // Viewing: watch per (content, subscriber, month), then per partner.
    let watch = monthly_watch(inputs.viewing, calendar);
    let catalog = current_rows(
        "CurrentContentRow",
        inputs
            .content_catalog
            .map(|row| (fingerprint(&row.content_id), row)),
        |row: &ContentCatalog| row.updated_at,
    )
    .map(|(content, row)| (content, row.partner_id));
    let listed = watch
        .clone()
        .join_map(catalog, |_content, (subscriber, month), partner| {
            (partner.clone(), *subscriber, *month)
        });
    // Each content has one current row, so what did not join is the watch
    // less what did: content missing from the catalog, uncovered.
    let unlisted = watch
        .map(|(_, (_, month))| month)
        .concat(listed.clone().map(|(_, _, month)| month).negate());
    let partner_watch = listed.flat_map(|(partner, subscriber, month)| {
        partner.map(|partner| ((partner, month), subscriber))
    });
    let covered = partner_watch
        .clone()
        .map(|(key, _)| (key, ()))
        .semijoin(costed)
        .map(|((_, month), ())| month);
    facts.push(unlisted.map(|month| (month, MonthFact::PartnerWatch, 1)));
    facts.push(
        partner_watch
            .clone()
            .map(|((_, month), _)| (month, MonthFact::PartnerWatch, 1)),
    );
    facts.push(covered.map(|month| (month, MonthFact::CoveredWatch, 1)));

    // Allocation among billed watchers.
    let billed_watch = partner_watch
        .map(|((partner, month), subscriber)| ((subscriber, month), partner))
        .semijoin(billed.clone())
        .map(|((subscriber, month), partner)| ((partner, month), subscriber));
    let allocations = allocate(
        billed_watch,
        content_cost.explode(|(key, usd)| Some((key, usd.0 as isize))),
    );
    facts.push(
        allocations
            .clone()
            .flat_map(|((_, month), allocation)| match allocation {
                Allocation::Unallocated(usd) => Some((month, MonthFact::Unallocated, usd.0)),
                Allocation::Share(..) => None,
            }),
    );

    // Operational cost, split evenly over the month's billed subscribers.
    let operational_share = operational
        .explode(|(period, usd)| Some(((period, OperationalPart::Cost), usd.0 as isize)))
        .concat(
            billed
                .clone()
                .map(|(_, period)| (period, OperationalPart::Subscriber)),
        )
        .reduce_named(
            "OperationalShare",
            |_period, parts: &[(&OperationalPart, isize)], output: &mut Vec<(Micros, isize)>| {
                let total = |which: OperationalPart| -> i128 {
                    parts
                        .iter()
                        .filter(|(part, _)| **part == which)
                        .map(|(_, total)| *total as i128)
                        .sum()
                };
                let (cost, subscribers) = (
                    total(OperationalPart::Cost),
                    total(OperationalPart::Subscriber),
                );
                if subscribers > 0 && cost != 0 {
                    output.push((clamp(div_half_even(cost, subscribers)), 1));
                }
            },
        );

    // Experiment variants, on every month the subscriber is billed.
    let billed_by_subscriber = billed.clone();
    let variants = inputs.variants.join_map(
        billed_by_subscriber,
        |subscriber, (experiment, variant), month| {
            (
                (*subscriber, *month),
                RowPart::Experiment(experiment.clone(), variant.clone()),
            )
        },
    );

    // Rows per (subscriber, month).
    let parts = bills
        .map(|(key, bill)| (key, RowPart::Bill(bill)))
        .concat(variants)
        .concat(ads.explode(|(key, usd)| Some(((key, RowPart::AdRevenue), usd.0 as isize))))
        .concat(
            allocations
                .flat_map(|((_, month), allocation)| match allocation {
                    Allocation::Share(subscriber, usd) => {
                        Some((((subscriber, month), RowPart::ContentCost), usd))
                    }
                    Allocation::Unallocated(_) => None,
                })
                .explode(|(part, usd)| Some((part, usd.0 as isize))),
        )
        .concat(
            billed
                .map(|(subscriber, month)| (month, subscriber))
                .join_map(operational_share, |month, subscriber, share| {
                    ((*subscriber, *month), *share)
                })
                .explode(|(key, share)| Some(((key, RowPart::OperationalCost), share.0 as isize))),
        );
    let subscriber_monthly = parts
        .reduce_named(
            "ProfitSubscriberRow",
            |(_, month),
             parts: &[(&RowPart, isize)],
             output: &mut Vec<(ProfitSubscriberMonth, isize)>| {
                if let Some(row) = subscriber_row(*month, parts) {
                    output.push((row, 1));
                }
            },
        )
        .map(|(_, row)| row);
    facts.push(subscriber_monthly.clone().flat_map(|row| {
        (row.profit().0 < 0 && row.refund.0 == 0).then_some((
            row.billing_period,
            MonthFact::NegativeWithoutRefund,
            1,
        ))
    }));

    let mut all_facts = facts.pop().expect("facts were pushed");
    for more in facts {
        all_facts = all_facts.concat(more);
    }
    let monthly =
        rows_from_facts("ProfitMonthlyRow", as_facts(all_facts), month_row).map(|(_, row)| row);
    Profit {
        subscriber_monthly,
        monthly,
        issues,
    }
}

/// Records in force whose plan amount differs from the catalog's current
/// price for (plan, currency) by more than [`PRICE_TOLERANCE`], or that
/// have no catalog row: one billing period per such record.
fn price_mismatches<'s, T: Time>(
    in_force: VecCollection<'s, T, Billing>,
    plan_catalog: VecCollection<'s, T, PlanCatalog>,
) -> VecCollection<'s, T, Month> {
    let prices = current_rows(
        "CurrentPlanRow",
        plan_catalog.map(|row| ((row.plan_id.clone(), row.currency), row)),
        |row: &PlanCatalog| row.updated_at,
    )
    .map(|(key, row)| (key, row.monthly_price));
    let charges = in_force.map(|b| ((b.plan_id, b.currency), (b.billing_period, b.plan_amount)));
    let compared = charges
        .clone()
        .join_map(prices, |_plan, (period, amount), price| {
            (
                *period,
                (amount.0 as i128 - price.0 as i128).abs() > PRICE_TOLERANCE.0 as i128,
            )
        });
    // One current row per key: what did not join has no catalog row.
    let unlisted = charges
        .map(|(_, (period, _))| period)
        .concat(compared.clone().map(|(period, _)| period).negate());
    compared
        .flat_map(|(period, mismatch)| mismatch.then_some(period))
        .concat(unlisted)
}

fn clamp(value: i128) -> Micros {
    Micros(i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX }))
}

fn subscriber_row(month: Month, parts: &[(&RowPart, isize)]) -> Option<ProfitSubscriberMonth> {
    let bill = parts.iter().find_map(|(part, count)| match part {
        RowPart::Bill(bill) if *count > 0 => Some(bill),
        _ => None,
    })?;
    let mut row = ProfitSubscriberMonth {
        subscriber_id: bill.subscriber_id.clone(),
        billing_period: month,
        plan_id: bill.plan_id.clone(),
        subscription: bill.subscription,
        addons: bill.addons,
        refund: bill.refund,
        ad_revenue: Micros::ZERO,
        content_cost: Micros::ZERO,
        operational_cost: Micros::ZERO,
        experiments: Vec::new(),
    };
    for (part, total) in parts {
        let total = Micros(*total as i64);
        match part {
            RowPart::Bill(_) => {}
            RowPart::AdRevenue => row.ad_revenue = total,
            RowPart::ContentCost => row.content_cost = total,
            RowPart::OperationalCost => row.operational_cost = total,
            RowPart::Experiment(experiment, variant) => {
                row.experiments.push((experiment.clone(), variant.clone()))
            }
        }
    }
    // Parts arrive sorted, experiments among them by (id, variant).
    Some(row)
}

fn month_row(month: &Month, totals: &[(&MonthFact, isize)]) -> Option<ProfitMonth> {
    let mut row = ProfitMonth {
        month: *month,
        ..ProfitMonth::default()
    };
    let mut seen = false;
    let mut unit = UnitChecks::default();
    let mut billed_month = false;
    let (mut settled_in, mut settled_out) = (0i128, 0i128);
    for (fact, total) in totals {
        let amount = *total as i64;
        match fact {
            MonthFact::Seen => seen = true,
            MonthFact::BillingRecord => billed_month = true,
            MonthFact::Subscription => row.subscription = Micros(amount),
            MonthFact::Addons => row.addons = Micros(amount),
            MonthFact::Refund => row.refund = Micros(amount),
            MonthFact::BilledSubscriber => row.billed_subscribers = amount,
            MonthFact::AdRevenue => row.ad_revenue = Micros(amount),
            MonthFact::ContentCost => row.content_cost = Micros(amount),
            MonthFact::Unallocated => row.unallocated_content_cost = Micros(amount),
            MonthFact::OperationalCost => row.operational_cost = Micros(amount),
            MonthFact::SettledIn => settled_in = i128::from(amount),
            MonthFact::SettledOut => settled_out = i128::from(amount),
            MonthFact::GlRevenue(usd) => row.gl_revenue = Some(*usd),
            MonthFact::PartnerWatch => row.partner_watch = amount,
            MonthFact::CoveredWatch => row.covered_watch = amount,
            MonthFact::FxMissing => row.fx_missing = amount,
            MonthFact::PkViolation => unit.pk_violations = amount,
            MonthFact::PriceMismatch => unit.price_mismatches = amount,
            MonthFact::NegativeWithoutRefund => unit.negative_without_refund = amount,
        }
    }
    row.processor_net = clamp(settled_in - settled_out);
    row.unit_checks = billed_month.then_some(unit);
    seen.then_some(row)
}

fn columns(names: &[(&str, ColumnKind)]) -> Vec<Column> {
    names
        .iter()
        .map(|(name, kind)| Column {
            name: name.to_string(),
            kind: *kind,
        })
        .collect()
}

fn money(value: i128) -> Cell {
    Cell::Money(clamp(value))
}

/// `100 x numerator / denominator`, empty over zero: one floating division
/// of exact integers (a zero is written `0`, never `-0`).
fn percent(numerator: i128, denominator: i128) -> Option<f64> {
    (denominator != 0).then(|| (100 * numerator) as f64 / denominator as f64 + 0.0)
}

fn amount(value: Micros) -> i128 {
    i128::from(value.0)
}

impl ProfitSubscriberMonth {
    pub const TABLE: &'static str = "profit_subscriber_monthly";

    pub fn columns() -> Vec<Column> {
        use ColumnKind::*;
        columns(&[
            ("subscriber_id", Text),
            ("billing_period", Text),
            ("plan_id", Text),
            ("subscription_usd", Money),
            ("addons_usd", Money),
            ("refund_usd", Money),
            ("ad_revenue_usd", Money),
            ("revenue_usd", Money),
            ("content_cost_usd", Money),
            ("operational_cost_usd", Money),
            ("cost_usd", Money),
            ("profit_usd", Money),
            ("experiments", Text),
        ])
    }

    pub fn revenue(&self) -> i128 {
        amount(self.subscription) + amount(self.addons) - amount(self.refund)
            + amount(self.ad_revenue)
    }

    pub fn cost(&self) -> i128 {
        amount(self.content_cost) + amount(self.operational_cost)
    }

    pub fn profit(&self) -> Micros {
        clamp(self.revenue() - self.cost())
    }

    /// `experiment_id=variant` pairs joined by `;`.
    pub fn experiments_text(&self) -> String {
        let pairs: Vec<String> = self
            .experiments
            .iter()
            .map(|(experiment, variant)| format!("{experiment}={variant}"))
            .collect();
        pairs.join(";")
    }

    pub fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.subscriber_id.to_string()),
            Cell::Text(self.billing_period.to_string()),
            Cell::Text(self.plan_id.to_string()),
            Cell::Money(self.subscription),
            Cell::Money(self.addons),
            Cell::Money(self.refund),
            Cell::Money(self.ad_revenue),
            money(self.revenue()),
            Cell::Money(self.content_cost),
            Cell::Money(self.operational_cost),
            money(self.cost()),
            Cell::Money(self.profit()),
            if self.experiments.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(self.experiments_text())
            },
        ]
    }
}

impl ProfitMonth {
    pub const TABLE: &'static str = "profit_monthly";

    pub fn columns() -> Vec<Column> {
        use ColumnKind::*;
        columns(&[
            ("month", Text),
            ("subscription_usd", Money),
            ("addons_usd", Money),
            ("refund_usd", Money),
            ("ad_revenue_usd", Money),
            ("revenue_usd", Money),
            ("content_cost_usd", Money),
            ("unallocated_content_cost_usd", Money),
            ("operational_cost_usd", Money),
            ("profit_usd", Money),
            ("billed_subscribers", Int),
            ("profit_per_subscriber_usd", Money),
            ("cost_per_subscriber_usd", Money),
            ("processor_net_usd", Money),
            ("processor_diff_pct", Float),
            ("gl_revenue_usd", Money),
            ("gl_diff_pct", Float),
            ("content_cost_coverage", Float),
        ])
    }

    /// The last day of the month: when its figures are complete.
    pub fn last_day(&self) -> Day {
        self.month.next().first_day().plus(-1)
    }

    /// Subscription + add-ons - refunds: what the processor should settle.
    pub fn billed_net(&self) -> i128 {
        amount(self.subscription) + amount(self.addons) - amount(self.refund)
    }

    pub fn revenue(&self) -> i128 {
        self.billed_net() + amount(self.ad_revenue)
    }

    pub fn cost(&self) -> i128 {
        amount(self.content_cost) + amount(self.operational_cost)
    }

    pub fn profit(&self) -> i128 {
        self.revenue() - self.cost()
    }

    pub fn processor_diff_pct(&self) -> Option<f64> {
        let net = amount(self.processor_net);
        percent(self.billed_net() - net, net)
    }

    pub fn gl_diff_pct(&self) -> Option<f64> {
        let gl = amount(self.gl_revenue?);
        percent(self.revenue() - gl, gl)
    }

    pub fn content_cost_coverage(&self) -> f64 {
        if self.partner_watch == 0 {
            1.0
        } else {
            self.covered_watch as f64 / self.partner_watch as f64
        }
    }

    fn per_subscriber(&self, total: i128) -> Cell {
        if self.billed_subscribers == 0 {
            Cell::Empty
        } else {
            money(div_half_even(total, i128::from(self.billed_subscribers)))
        }
    }

    pub fn cells(&self) -> Vec<Cell> {
        let float = |value: Option<f64>| value.map_or(Cell::Empty, Cell::Float);
        vec![
            Cell::Text(self.month.to_string()),
            Cell::Money(self.subscription),
            Cell::Money(self.addons),
            Cell::Money(self.refund),
            Cell::Money(self.ad_revenue),
            money(self.revenue()),
            Cell::Money(self.content_cost),
            Cell::Money(self.unallocated_content_cost),
            Cell::Money(self.operational_cost),
            money(self.profit()),
            Cell::Int(self.billed_subscribers),
            self.per_subscriber(self.profit()),
            self.per_subscriber(self.cost()),
            Cell::Money(self.processor_net),
            float(self.processor_diff_pct()),
            self.gl_revenue.map_or(Cell::Empty, Cell::Money),
            float(self.gl_diff_pct()),
            Cell::Float(self.content_cost_coverage()),
        ]
    }

    /// The month's `aggregate_profit` checks, and its `unit_profit` checks
    /// when it has a billing record.
    pub fn checks(&self) -> Vec<CheckRow> {
        let period = self.month.to_string();
        let check = |pipeline, check, pass, value: Option<f64>, threshold| CheckRow {
            pipeline,
            check,
            period: period.clone(),
            pass,
            value: value.map_or(Cell::Empty, Cell::Float),
            threshold: Cell::Float(threshold),
        };
        let reconciles =
            |pct: Option<f64>| pct.is_some_and(|pct| pct.abs() <= RECONCILIATION_PERCENT);
        let processor = self.processor_diff_pct();
        let gl = self.gl_diff_pct();
        let coverage = self.content_cost_coverage();
        let mut checks = vec![
            check(
                "aggregate_profit",
                "revenue_matches_processor",
                reconciles(processor),
                processor,
                RECONCILIATION_PERCENT,
            ),
            check(
                "aggregate_profit",
                "content_cost_coverage",
                coverage >= COVERAGE_THRESHOLD,
                Some(coverage),
                COVERAGE_THRESHOLD,
            ),
            check(
                "aggregate_profit",
                "gl_reconciles",
                reconciles(gl),
                gl,
                RECONCILIATION_PERCENT,
            ),
            check(
                "aggregate_profit",
                "fx_complete",
                self.fx_missing == 0,
                Some(self.fx_missing as f64),
                0.0,
            ),
        ];
        if let Some(unit) = &self.unit_checks {
            for (name, count) in [
                ("pk_unique", unit.pk_violations),
                ("plan_price_matches_catalog", unit.price_mismatches),
                (
                    "no_negative_profit_without_refund",
                    unit.negative_without_refund,
                ),
            ] {
                checks.push(check(
                    "unit_profit",
                    name,
                    count == 0,
                    Some(count as f64),
                    0.0,
                ));
            }
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use streamflix_model::records::OperationalCost;
    use streamflix_model::{Currency, Instant};

    use super::*;
    use crate::testing::run_once;

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    enum In {
        Bill(Billing),
        Operational(OperationalCost),
    }

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    enum Out {
        Row(ProfitSubscriberMonth),
        Month(ProfitMonth),
    }

    fn october() -> Month {
        Month::parse("2026-10").unwrap()
    }

    fn bill(subscriber: &str, plan_units: i64, refund_units: i64) -> In {
        In::Bill(Billing {
            event_id: format!("b-{subscriber}").into(),
            event_time: Instant::parse_rfc3339("2026-10-02T12:00:00Z").unwrap(),
            subscriber_id: subscriber.into(),
            billing_period: october(),
            plan_id: "basic".into(),
            currency: Currency::USD,
            plan_amount: Micros::from_units(plan_units),
            addons: vec![],
            refund_amount: Micros::from_units(refund_units),
        })
    }

    fn operational(units: i64) -> In {
        In::Operational(OperationalCost {
            event_id: "op".into(),
            period: october(),
            category: "cdn".into(),
            amount: Micros::from_units(units),
            currency: Currency::USD,
        })
    }

    /// Runs both pipelines over bills and operational lines only.
    fn run(input: Vec<In>) -> (Vec<ProfitSubscriberMonth>, ProfitMonth) {
        let out = run_once(input, |records| {
            fn none<'s, D: differential_dataflow::Data>(
                records: &VecCollection<'s, u64, In>,
            ) -> VecCollection<'s, u64, D> {
                records.clone().flat_map(|_| None)
            }
            let inputs = ProfitInputs {
                viewing: ViewingCopies {
                    copies: none(&records),
                    surplus: none(&records),
                    horizons: None,
                },
                billing: records.clone().flat_map(|r| match r {
                    In::Bill(b) => Some(b),
                    In::Operational(_) => None,
                }),
                ad_revenue: none(&records),
                content_costs: none(&records),
                operational_costs: records.clone().flat_map(|r| match r {
                    In::Operational(line) => Some(line),
                    In::Bill(_) => None,
                }),
                variants: none(&records),
                payment_settlements: none(&records),
                plan_catalog: none(&records),
                content_catalog: none(&records),
                fx_rates: none(&records),
                finance_gl: none(&records),
            };
            let profit = profit(inputs, &Calendar::central());
            profit
                .subscriber_monthly
                .map(Out::Row)
                .concat(profit.monthly.map(Out::Month))
        });
        let mut rows = Vec::new();
        let mut months = Vec::new();
        for (out, count) in out {
            assert_eq!(count, 1, "{out:?}");
            match out {
                Out::Row(row) => rows.push(row),
                Out::Month(month) => months.push(month),
            }
        }
        assert_eq!(months.len(), 1);
        (rows, months.remove(0))
    }

    /// Every horizon at epoch 10.
    struct AtTen;

    impl crate::retention::Horizons<u64> for AtTen {
        fn viewing_settles(&self, _day: Day) -> u64 {
            10
        }
        fn engagement_expires(&self, _day: Day) -> u64 {
            10
        }
        fn profit_expires(&self, _month: Month) -> u64 {
            10
        }
    }

    #[test]
    fn expired_ad_revenue_keeps_its_conflicts_counted() {
        let ad = |units| AdRevenue {
            event_id: "ad-1".into(),
            event_time: Instant::parse_rfc3339("2026-10-02T12:00:00Z").unwrap(),
            subscriber_id: "s1".into(),
            amount: Micros::from_units(units),
            currency: Currency::USD,
        };
        let (conflicts, ads) = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (ads_tx, ads_rx) = std::sync::mpsc::channel();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                use differential_dataflow::input::Input;
                use timely::dataflow::operators::capture::Capture;
                let (input, ads) = scope.new_collection::<AdRevenue, isize>();
                fn none<'s, D: differential_dataflow::Data>(
                    ads: &VecCollection<'s, u64, AdRevenue>,
                ) -> VecCollection<'s, u64, D> {
                    ads.clone().flat_map(|_| None)
                }
                let inputs = ProfitInputs {
                    viewing: ViewingCopies {
                        copies: none(&ads),
                        surplus: none(&ads),
                        horizons: Some(std::rc::Rc::new(AtTen)),
                    },
                    billing: none(&ads),
                    ad_revenue: ads.clone(),
                    content_costs: none(&ads),
                    operational_costs: none(&ads),
                    variants: none(&ads),
                    payment_settlements: none(&ads),
                    plan_catalog: none(&ads),
                    content_catalog: none(&ads),
                    fx_rates: none(&ads),
                    finance_gl: none(&ads),
                };
                let profit = profit(inputs, &Calendar::central());
                for (feed, issue, occurrences) in profit.issues {
                    if feed == Feed::AdRevenue && issue == "conflicting_duplicate" {
                        occurrences.consolidate().inner.capture_into(tx.clone());
                    }
                }
                profit
                    .monthly
                    .map(|month| month.ad_revenue)
                    .consolidate()
                    .inner
                    .capture_into(ads_tx);
                input
            });
            input.advance_to(1);
            input.insert(ad(5));
            input.insert(ad(7));
            for epoch in [2, 20, 21] {
                input.advance_to(epoch);
                input.flush();
                for _ in 0..50 {
                    worker.step();
                }
            }
            input.close();
            while worker.step() {}
            (rx, ads_rx)
        });
        let total = |updates: Vec<((), u64, isize)>| updates.iter().map(|u| u.2).sum::<isize>();
        let conflicts: Vec<_> = crate::testing::sorted_updates(conflicts);
        assert_eq!(
            total(conflicts),
            1,
            "the conflict stays counted after expiry"
        );
        // The kept copy counted in October until the month froze at 10,
        // then left the state (the frozen row is the sink's to keep).
        let ads: Vec<_> = crate::testing::sorted_updates(ads);
        assert!(
            ads.iter().any(|(_, time, diff)| *time >= 10 && *diff < 0),
            "{ads:?}"
        );
    }

    fn check<'a>(checks: &'a [CheckRow], name: &str) -> &'a CheckRow {
        checks.iter().find(|c| c.check == name).unwrap()
    }

    #[test]
    fn a_negative_profit_fails_the_check_only_without_a_refund() {
        // 30 dollars of operational cost over three billed subscribers:
        // s1 is refunded in full (-10, refunded), s2 pays 5 (-5, no
        // refund), s3 pays 25 (+15).
        let (rows, month) = run(vec![
            bill("s1", 10, 10),
            bill("s2", 5, 0),
            bill("s3", 25, 0),
            operational(30),
        ]);
        let profits: Vec<i64> = rows.iter().map(|r| r.profit().0 / 1_000_000).collect();
        assert_eq!(profits, vec![-10, -5, 15]);
        assert_eq!(
            rows.iter()
                .map(|r| r.operational_cost.0)
                .collect::<Vec<_>>(),
            vec![10_000_000; 3]
        );
        let checks = month.checks();
        let negative = check(&checks, "no_negative_profit_without_refund");
        assert!(!negative.pass);
        assert_eq!(negative.value, Cell::Float(1.0));
        // No plan catalog: every record in force is a mismatch.
        assert_eq!(
            check(&checks, "plan_price_matches_catalog").value,
            Cell::Float(3.0)
        );
        assert!(check(&checks, "pk_unique").pass);
        // No settlements, no GL row: those checks fail with empty values.
        let processor = check(&checks, "revenue_matches_processor");
        assert!(!processor.pass);
        assert_eq!(processor.value, Cell::Empty);
        assert!(!check(&checks, "gl_reconciles").pass);
        assert!(check(&checks, "fx_complete").pass);
        assert_eq!(month.content_cost_coverage(), 1.0);

        // Without s2, the only negative profit is refunded: the check passes.
        let (rows, month) = run(vec![bill("s1", 10, 10), bill("s3", 25, 0), operational(30)]);
        let profits: Vec<i64> = rows.iter().map(|r| r.profit().0 / 1_000_000).collect();
        assert_eq!(profits, vec![-15, 10]);
        let checks = month.checks();
        let negative = check(&checks, "no_negative_profit_without_refund");
        assert!(negative.pass);
        assert_eq!(negative.value, Cell::Float(0.0));
    }

    #[test]
    fn monthly_cells_form_ratios_from_exact_totals() {
        let month = ProfitMonth {
            month: october(),
            subscription: Micros(10_000_000),
            refund: Micros(1_000_000),
            content_cost: Micros(1_000_001),
            billed_subscribers: 2,
            processor_net: Micros(-9_000_000),
            gl_revenue: Some(Micros(9_000_000)),
            partner_watch: 4,
            covered_watch: 3,
            unit_checks: None,
            ..ProfitMonth::default()
        };
        let cells = month.cells();
        // profit 9 - 1.000001 = 7.999999, per subscriber 3.9999995 -> to even.
        assert_eq!(cells[9], Cell::Money(Micros(7_999_999)));
        assert_eq!(cells[11], Cell::Money(Micros(4_000_000)));
        assert_eq!(cells[12], Cell::Money(Micros(500_000)));
        // 100 x (9 - -9) / -9 = -200.
        assert_eq!(cells[14], Cell::Float(-200.0));
        // Revenue equals the GL: 0, not -0.
        assert_eq!(cells[16].to_string(), "0");
        assert_eq!(cells[17], Cell::Float(0.75));
        // Only the aggregate checks without a billing record.
        assert_eq!(month.checks().len(), 4);
    }
}
