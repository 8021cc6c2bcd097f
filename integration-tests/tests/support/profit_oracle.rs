//! A plain batch computation of the profit tables, their checks and their
//! data-quality counts, written from the metric definitions without any
//! dataflow, to check the engine against.
//!
//! Records are taken in read order: for `fx_rates`, whose later rows
//! replace earlier ones, that order matters.

use std::collections::{BTreeMap, BTreeSet};

use streamflix_model::records::*;
use streamflix_model::table::Cell;
use streamflix_model::{Calendar, Currency, Day, Feed, Id, Micros, Month, Rate, fingerprint};

/// The oracle's tables, as cells in key order.
pub struct ProfitOracle {
    pub subscriber_monthly: Vec<Vec<Cell>>,
    pub monthly: Vec<Vec<Cell>>,
    /// `pipeline, check, period, status, value, threshold`, sorted.
    pub checks: Vec<Vec<Cell>>,
    /// `(feed, issue) -> count`, non-zero counts only.
    pub quality: BTreeMap<(Feed, &'static str), i64>,
}

const SCALE: i128 = 1_000_000_000_000_000_000;

/// `n / d` to the nearest integer, ties to the even one (`d > 0`).
fn round_half_even(n: i128, d: i128) -> i128 {
    let floor = n.div_euclid(d);
    let rest = n - floor * d;
    match (2 * rest).cmp(&d) {
        std::cmp::Ordering::Less => floor,
        std::cmp::Ordering::Greater => floor + 1,
        std::cmp::Ordering::Equal => floor + floor.rem_euclid(2),
    }
}

/// Events with the same `event_id` count once: the least copy in field
/// order. Returns the kept events and how many ids had differing copies.
fn dedup<R: Ord + Clone>(records: &[R], id: impl Fn(&R) -> &str) -> (Vec<R>, i64) {
    let mut groups: BTreeMap<&str, BTreeSet<&R>> = BTreeMap::new();
    for record in records {
        groups.entry(id(record)).or_default().insert(record);
    }
    let conflicts = groups.values().filter(|copies| copies.len() > 1).count() as i64;
    let kept = groups
        .values()
        .map(|copies| (*copies.iter().next().unwrap()).clone())
        .collect();
    (kept, conflicts)
}

struct Fx {
    /// The last row read for each (currency, date).
    rows: BTreeMap<(Currency, Day), Rate>,
}

impl Fx {
    fn rate(&self, currency: Currency, day: Day) -> Option<Rate> {
        if currency == Currency::USD {
            return Some(Rate(SCALE));
        }
        (0..=7).find_map(|back| self.rows.get(&(currency, day.plus(-back))).copied())
    }

    /// The amount in micro-dollars, or `None` without a usable rate.
    fn usd(&self, amount: Micros, currency: Currency, day: Day) -> Option<i64> {
        let rate = self.rate(currency, day)?;
        i64::try_from(round_half_even(i128::from(amount.0) * rate.0, SCALE)).ok()
    }
}

fn latest_by<R: Ord + Clone, K: Ord, O: Ord>(
    rows: &[R],
    key: impl Fn(&R) -> K,
    order: impl Fn(&R) -> O,
) -> BTreeMap<K, R> {
    let mut current: BTreeMap<K, R> = BTreeMap::new();
    for row in rows {
        let k = key(row);
        let replace = match current.get(&k) {
            None => true,
            Some(old) => (order(row), row) > (order(old), old),
        };
        if replace {
            current.insert(k, row.clone());
        }
    }
    current
}

#[derive(Default)]
struct SubscriberMonth {
    subscriber_id: Id,
    plan_id: Id,
    subscription: i64,
    addons: i64,
    refund: i64,
    ad_revenue: i64,
    content_cost: i64,
    operational_cost: i64,
}

#[derive(Default)]
struct MonthTotals {
    subscription: i64,
    addons: i64,
    refund: i64,
    ad_revenue: i64,
    content_cost: i64,
    unallocated: i64,
    operational_cost: i64,
    billed: i64,
    settled: i64,
    partner_watch: i64,
    covered_watch: i64,
    fx_missing: i64,
    has_billing: bool,
    pk_violations: i64,
    price_mismatches: i64,
    negative_without_refund: i64,
}

pub fn profit(records: &[Record], calendar: &Calendar) -> ProfitOracle {
    macro_rules! feed {
        ($variant:ident) => {
            records
                .iter()
                .filter_map(|r| match r {
                    Record::$variant(x) => Some(x.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }
    let mut quality: BTreeMap<(Feed, &'static str), i64> = BTreeMap::new();
    let mut count_quality = |feed: Feed, issue: &'static str, n: i64| {
        if n > 0 {
            *quality.entry((feed, issue)).or_default() += n;
        }
    };
    let (billing, n) = dedup(&feed!(Billing), |b| &b.event_id);
    count_quality(Feed::Billing, "conflicting_duplicate", n);
    let (ads, n) = dedup(&feed!(AdRevenue), |a| &a.event_id);
    count_quality(Feed::AdRevenue, "conflicting_duplicate", n);
    let (content_lines, n) = dedup(&feed!(ContentCost), |c| &c.event_id);
    count_quality(Feed::ContentCosts, "conflicting_duplicate", n);
    let (operational_lines, n) = dedup(&feed!(OperationalCost), |c| &c.event_id);
    count_quality(Feed::OperationalCosts, "conflicting_duplicate", n);
    let (settlements, n) = dedup(&feed!(PaymentSettlement), |s| &s.event_id);
    count_quality(Feed::PaymentSettlements, "conflicting_duplicate", n);
    let (assignments, n) = dedup(&feed!(ExperimentAssignment), |a| &a.event_id);
    count_quality(Feed::ExperimentAssignments, "conflicting_duplicate", n);

    let mut fx = Fx {
        rows: BTreeMap::new(),
    };
    for rate in feed!(FxRate) {
        fx.rows
            .insert((rate.currency, rate.date), rate.usd_per_unit);
    }
    let plans = latest_by(
        &feed!(PlanCatalog),
        |p| (p.plan_id.clone(), p.currency),
        |p| p.updated_at,
    );
    let contents = latest_by(
        &feed!(ContentCatalog),
        |c| c.content_id.clone(),
        |c| c.updated_at,
    );
    let gl = latest_by(
        &feed!(FinanceGl),
        |g| (g.period, g.account),
        |g| g.updated_at,
    );

    let mut months: BTreeMap<Month, MonthTotals> = BTreeMap::new();

    // Billing records in force, and the unit checks that look at them
    // before currency.
    let mut by_key: BTreeMap<(Id, Month), Vec<&Billing>> = BTreeMap::new();
    for bill in &billing {
        by_key
            .entry((bill.subscriber_id.clone(), bill.billing_period))
            .or_default()
            .push(bill);
    }
    let mut rows: BTreeMap<(Id, Month), SubscriberMonth> = BTreeMap::new();
    for ((subscriber, period), bills) in &by_key {
        let month = months.entry(*period).or_default();
        month.has_billing = true;
        if bills.len() > 1 {
            month.pk_violations += 1;
        }
        let bill = bills
            .iter()
            .max_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)))
            .unwrap();
        match plans.get(&(bill.plan_id.clone(), bill.currency)) {
            Some(plan) if (bill.plan_amount.0 - plan.monthly_price.0).abs() <= 5_000 => {}
            _ => month.price_mismatches += 1,
        }
        let day = calendar.day_of(bill.event_time);
        let addons = Micros(bill.addons.iter().map(|a| a.amount.0).sum());
        let converted = (
            fx.usd(bill.plan_amount, bill.currency, day),
            fx.usd(addons, bill.currency, day),
            fx.usd(bill.refund_amount, bill.currency, day),
        );
        let (Some(subscription), Some(addons), Some(refund)) = converted else {
            month.fx_missing += 1;
            continue;
        };
        rows.insert(
            (subscriber.clone(), *period),
            SubscriberMonth {
                subscriber_id: subscriber.clone(),
                plan_id: bill.plan_id.clone(),
                subscription,
                addons,
                refund,
                ..SubscriberMonth::default()
            },
        );
    }
    for ((_, period), row) in &rows {
        let month = months.entry(*period).or_default();
        month.subscription += row.subscription;
        month.addons += row.addons;
        month.refund += row.refund;
        month.billed += 1;
    }

    for ad in &ads {
        let day = calendar.day_of(ad.event_time);
        let month = months.entry(day.month()).or_default();
        match fx.usd(ad.amount, ad.currency, day) {
            Some(usd) => {
                month.ad_revenue += usd;
                if let Some(row) = rows.get_mut(&(ad.subscriber_id.clone(), day.month())) {
                    row.ad_revenue += usd;
                }
            }
            None => month.fx_missing += 1,
        }
    }

    // Partner costs per month, and which partners have a line at all.
    let mut partner_cost: BTreeMap<(Id, Month), i64> = BTreeMap::new();
    let mut costed: BTreeSet<(Id, Month)> = BTreeSet::new();
    for line in &content_lines {
        costed.insert((line.partner_id.clone(), line.period));
        let month = months.entry(line.period).or_default();
        match fx.usd(line.amount, line.currency, line.period.first_day()) {
            Some(usd) => {
                month.content_cost += usd;
                *partner_cost
                    .entry((line.partner_id.clone(), line.period))
                    .or_default() += usd;
            }
            None => month.fx_missing += 1,
        }
    }
    let mut operational: BTreeMap<Month, i64> = BTreeMap::new();
    for line in &operational_lines {
        let month = months.entry(line.period).or_default();
        match fx.usd(line.amount, line.currency, line.period.first_day()) {
            Some(usd) => {
                month.operational_cost += usd;
                *operational.entry(line.period).or_default() += usd;
            }
            None => month.fx_missing += 1,
        }
    }
    for settlement in &settlements {
        let month = months.entry(settlement.date.month()).or_default();
        match fx.usd(settlement.amount, settlement.currency, settlement.date) {
            Some(usd) => month.settled += usd,
            None => month.fx_missing += 1,
        }
    }

    // Viewing: every valid event once (the earliest copy, then the least
    // subscriber, content and watch), flagged and impossible days included.
    let mut viewing_by_id: BTreeMap<&Id, Vec<&Viewing>> = BTreeMap::new();
    let all_viewing = feed!(Viewing);
    for event in &all_viewing {
        viewing_by_id
            .entry(&event.event_id)
            .or_default()
            .push(event);
    }
    let mut partner_watch: BTreeMap<(Id, Month), BTreeMap<Id, i64>> = BTreeMap::new();
    for copies in viewing_by_id.values() {
        let event = copies
            .iter()
            .min_by_key(|e| {
                (
                    e.event_time,
                    fingerprint(&e.subscriber_id),
                    fingerprint(&e.content_id) as u64,
                    e.watch_seconds,
                )
            })
            .unwrap();
        let month_of_event = calendar.day_of(event.event_time).month();
        let watch = event.watch_seconds.0;
        match contents.get(&event.content_id).map(|c| &c.partner_id) {
            Some(None) => {} // an original
            Some(Some(partner)) => {
                let month = months.entry(month_of_event).or_default();
                month.partner_watch += watch;
                if costed.contains(&(partner.clone(), month_of_event)) {
                    month.covered_watch += watch;
                }
                *partner_watch
                    .entry((partner.clone(), month_of_event))
                    .or_default()
                    .entry(event.subscriber_id.clone())
                    .or_default() += watch;
            }
            // Not in the catalog: partner content with no cost line.
            None => months.entry(month_of_event).or_default().partner_watch += watch,
        }
    }

    // Content cost allocation among billed watchers.
    for ((partner, period), cost) in &partner_cost {
        let watchers: Vec<(&Id, i64)> = partner_watch
            .get(&(partner.clone(), *period))
            .map(|watchers| {
                watchers
                    .iter()
                    .filter(|(s, w)| **w > 0 && rows.contains_key(&((*s).clone(), *period)))
                    .map(|(s, w)| (s, *w))
                    .collect()
            })
            .unwrap_or_default();
        let total: i128 = watchers.iter().map(|(_, w)| i128::from(*w)).sum();
        let mut allocated = 0i64;
        if total > 0 {
            for (subscriber, watch) in watchers {
                let share = round_half_even(i128::from(*cost) * i128::from(watch), total) as i64;
                allocated += share;
                rows.get_mut(&(subscriber.clone(), *period))
                    .unwrap()
                    .content_cost += share;
            }
        }
        months.entry(*period).or_default().unallocated += cost - allocated;
    }
    // Operational cost, evenly.
    for (period, total) in &operational {
        let billed = rows.keys().filter(|(_, p)| p == period).count() as i128;
        if billed == 0 {
            continue;
        }
        let share = round_half_even(i128::from(*total), billed) as i64;
        for ((_, p), row) in rows.iter_mut() {
            if p == period {
                row.operational_cost = share;
            }
        }
    }

    // Experiments: the earliest assignment per (subscriber, experiment).
    let mut pairs: BTreeMap<(Id, Id), Vec<&ExperimentAssignment>> = BTreeMap::new();
    for a in &assignments {
        pairs
            .entry((a.subscriber_id.clone(), a.experiment_id.clone()))
            .or_default()
            .push(a);
    }
    let mut variants: BTreeMap<Id, Vec<(Id, Id)>> = BTreeMap::new();
    let mut conflicting_assignments = 0;
    for ((subscriber, experiment), list) in &mut pairs {
        list.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        let variant = &list[0].variant;
        conflicting_assignments += list[1..].iter().filter(|a| a.variant != *variant).count();
        variants
            .entry(subscriber.clone())
            .or_default()
            .push((experiment.clone(), variant.clone()));
    }
    count_quality(
        Feed::ExperimentAssignments,
        "conflicting_assignment",
        conflicting_assignments as i64,
    );

    // The unit table.
    let money = |micros: i64| Cell::Money(Micros(micros));
    let mut subscriber_monthly = Vec::new();
    for ((subscriber, period), row) in &rows {
        let revenue = row.subscription + row.addons - row.refund + row.ad_revenue;
        let cost = row.content_cost + row.operational_cost;
        let profit = revenue - cost;
        if profit < 0 && row.refund == 0 {
            months.get_mut(period).unwrap().negative_without_refund += 1;
        }
        let mut tags = variants.get(subscriber).cloned().unwrap_or_default();
        tags.sort();
        let tags: Vec<String> = tags.iter().map(|(e, v)| format!("{e}={v}")).collect();
        subscriber_monthly.push(vec![
            Cell::Text(row.subscriber_id.to_string()),
            Cell::Text(period.to_string()),
            Cell::Text(row.plan_id.to_string()),
            money(row.subscription),
            money(row.addons),
            money(row.refund),
            money(row.ad_revenue),
            money(revenue),
            money(row.content_cost),
            money(row.operational_cost),
            money(cost),
            money(profit),
            if tags.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(tags.join(";"))
            },
        ]);
    }

    // The monthly table and the checks.
    let percent = |n: i64, d: i64| -> Option<f64> {
        // No negative zero: 0, not -0.
        (d != 0).then(|| (100 * i128::from(n)) as f64 / d as f64 + 0.0)
    };
    let float = |value: Option<f64>| value.map_or(Cell::Empty, Cell::Float);
    let mut monthly = Vec::new();
    let mut checks = Vec::new();
    for (month, t) in &months {
        // Watch alone does not make a month's row.
        let listed = t.has_billing
            || ads
                .iter()
                .any(|a| calendar.day_of(a.event_time).month() == *month)
            || content_lines.iter().any(|c| c.period == *month)
            || operational_lines.iter().any(|c| c.period == *month)
            || settlements.iter().any(|s| s.date.month() == *month);
        if !listed {
            continue;
        }
        let billed_net = t.subscription + t.addons - t.refund;
        let revenue = billed_net + t.ad_revenue;
        let cost = t.content_cost + t.operational_cost;
        let profit = revenue - cost;
        let gl_revenue = gl
            .get(&(*month, GlAccount::Revenue))
            .map(|row| row.amount_usd.0);
        let processor_pct = percent(billed_net - t.settled, t.settled);
        let gl_pct = gl_revenue.and_then(|gl| percent(revenue - gl, gl));
        let coverage = if t.partner_watch == 0 {
            1.0
        } else {
            t.covered_watch as f64 / t.partner_watch as f64
        };
        let per_subscriber = |total: i64| {
            if t.billed == 0 {
                Cell::Empty
            } else {
                money(round_half_even(i128::from(total), i128::from(t.billed)) as i64)
            }
        };
        monthly.push(vec![
            Cell::Text(month.to_string()),
            money(t.subscription),
            money(t.addons),
            money(t.refund),
            money(t.ad_revenue),
            money(revenue),
            money(t.content_cost),
            money(t.unallocated),
            money(t.operational_cost),
            money(profit),
            Cell::Int(t.billed),
            per_subscriber(profit),
            per_subscriber(cost),
            money(t.settled),
            float(processor_pct),
            gl_revenue.map_or(Cell::Empty, money),
            float(gl_pct),
            Cell::Float(coverage),
        ]);
        let mut check =
            |pipeline: &str, name: &str, pass: bool, value: Option<f64>, threshold: f64| {
                checks.push(vec![
                    Cell::Text(pipeline.into()),
                    Cell::Text(name.into()),
                    Cell::Text(month.to_string()),
                    Cell::Text(if pass { "pass" } else { "fail" }.into()),
                    float(value),
                    Cell::Float(threshold),
                ]);
            };
        let within = |pct: Option<f64>| matches!(pct, Some(p) if p.abs() <= 0.5);
        check(
            "aggregate_profit",
            "revenue_matches_processor",
            within(processor_pct),
            processor_pct,
            0.5,
        );
        check(
            "aggregate_profit",
            "content_cost_coverage",
            coverage >= 0.995,
            Some(coverage),
            0.995,
        );
        check(
            "aggregate_profit",
            "gl_reconciles",
            within(gl_pct),
            gl_pct,
            0.5,
        );
        check(
            "aggregate_profit",
            "fx_complete",
            t.fx_missing == 0,
            Some(t.fx_missing as f64),
            0.0,
        );
        if t.has_billing {
            for (name, count) in [
                ("pk_unique", t.pk_violations),
                ("plan_price_matches_catalog", t.price_mismatches),
                (
                    "no_negative_profit_without_refund",
                    t.negative_without_refund,
                ),
            ] {
                check("unit_profit", name, count == 0, Some(count as f64), 0.0);
            }
        }
    }
    checks.sort_by(|a, b| {
        let key = |row: &Vec<Cell>| (row[0].to_string(), row[1].to_string(), row[2].to_string());
        key(a).cmp(&key(b))
    });
    ProfitOracle {
        subscriber_monthly,
        monthly,
        checks,
        quality,
    }
}
