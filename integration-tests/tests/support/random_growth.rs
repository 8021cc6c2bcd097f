//! Random subscriber histories with the awkward cases of the growth
//! definitions: reactivations, cancels while cancelled, plan changes while
//! cancelled or to plans without a catalog row, sign-ups while active,
//! events at equal times (settled by event id), days across daylight
//! saving, identical and conflicting duplicates, catalog rows that
//! disagree or are replaced, conflicting experiment assignments, flags.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use streamflix_model::records::{
    AccountFlag, ExperimentAssignment, FlagKind, PlanCatalog, Record, Subscription,
    SubscriptionType,
};
use streamflix_model::{Calendar, Currency, Day, Id, Instant, Micros};

const SECOND: i64 = 1_000_000_000;

pub struct RandomGrowth {
    pub subscriptions: Vec<Subscription>,
    pub assignments: Vec<ExperimentAssignment>,
    pub flags: Vec<AccountFlag>,
    pub catalog: Vec<PlanCatalog>,
}

impl RandomGrowth {
    pub fn records(&self) -> Vec<Record> {
        self.subscriptions
            .iter()
            .cloned()
            .map(Record::Subscription)
            .chain(
                self.assignments
                    .iter()
                    .cloned()
                    .map(Record::ExperimentAssignment),
            )
            .chain(self.flags.iter().cloned().map(Record::AccountFlag))
            .chain(self.catalog.iter().cloned().map(Record::PlanCatalog))
            .collect()
    }
}

/// Plans: `mixed` has tier 2 in USD and 3 in EUR (the highest counts),
/// `moved` was tier 1 and is now tier 3, `tied` has two USD rows at the
/// same time, `promo` has no row at all.
const PLANS: [&str; 7] = [
    "basic", "standard", "premium", "mixed", "moved", "tied", "promo",
];

fn catalog() -> Vec<PlanCatalog> {
    let row = |plan: &str, currency: &str, tier: i64, at: i64| PlanCatalog {
        plan_id: plan.into(),
        currency: Currency::parse(currency).unwrap(),
        tier,
        monthly_price: Micros::from_units(10),
        updated_at: Instant::from_seconds(at),
    };
    vec![
        row("basic", "USD", 1, 100),
        row("basic", "EUR", 1, 100),
        row("standard", "USD", 2, 100),
        // A later price for the same key, tier unchanged.
        row("standard", "USD", 2, 200),
        row("premium", "USD", 3, 100),
        row("mixed", "USD", 2, 100),
        row("mixed", "EUR", 3, 100),
        row("moved", "USD", 1, 100),
        row("moved", "USD", 3, 300),
        row("tied", "USD", 1, 100),
        row("tied", "USD", 2, 100),
    ]
}

pub fn generate(seed: u64, calendar: &Calendar) -> RandomGrowth {
    let mut rng = StdRng::seed_from_u64(seed);
    let base = *["2026-03-05", "2026-10-28", "2026-06-15", "2026-12-28"]
        .choose(&mut rng)
        .unwrap();
    let base = Day::parse(base).unwrap();
    let subscribers = rng.random_range(1..=10);
    let mut subscriptions = Vec::new();
    let mut assignments = Vec::new();
    let mut flags = Vec::new();
    let mut next_id = 0u64;
    let mut id = |prefix: &str, rng: &mut StdRng| {
        next_id += 1;
        // Random letters first, so that ids do not follow time order.
        format!("{prefix}{}{next_id:05}", rng.random_range(0..100)).into()
    };
    for s in 0..subscribers {
        let subscriber: Id = format!("s{s}").into();
        let mut time = calendar.start_of(base.plus(rng.random_range(0..5))).0;
        let events = rng.random_range(1..=10);
        let mut last_event: Option<Subscription> = None;
        for _ in 0..events {
            // Some events share their predecessor's time exactly; others
            // fall minutes to days later, often just before midnight.
            if last_event.is_none() || !rng.random_bool(0.15) {
                time += *[60, 3_600, 23 * 3_600, 86_400, 3 * 86_400]
                    .choose(&mut rng)
                    .unwrap()
                    * SECOND;
            }
            let kind = *[
                SubscriptionType::Signup,
                SubscriptionType::Signup,
                SubscriptionType::Cancel,
                SubscriptionType::Cancel,
                SubscriptionType::PlanChange,
                SubscriptionType::PlanChange,
                SubscriptionType::PlanChange,
            ]
            .choose(&mut rng)
            .unwrap();
            let plan = (kind != SubscriptionType::Cancel)
                .then(|| Id::from(*PLANS.choose(&mut rng).unwrap()));
            let event = Subscription {
                event_id: id("e", &mut rng),
                event_time: Instant(time),
                subscriber_id: subscriber.clone(),
                kind,
                plan_id: plan,
                country: rng.random_bool(0.5).then(|| "US".to_string()),
            };
            if rng.random_bool(0.1) {
                subscriptions.push(event.clone());
            }
            if rng.random_bool(0.05) {
                // A copy that disagrees: later, or another type.
                let mut conflicting = event.clone();
                if rng.random_bool(0.5) {
                    conflicting.event_time = Instant(time + 90_000 * SECOND);
                } else {
                    conflicting.kind = SubscriptionType::Cancel;
                    conflicting.plan_id = None;
                }
                subscriptions.push(conflicting);
            }
            subscriptions.push(event.clone());
            last_event = Some(event);
        }
        for experiment in ["exp_a", "exp_b"] {
            if rng.random_bool(0.3) {
                continue;
            }
            let variants = ["control", "treatment", "other"];
            let at = calendar.start_of(base).0 + rng.random_range(0..10) * 86_400 * SECOND;
            let assignment = ExperimentAssignment {
                event_id: id("a", &mut rng),
                event_time: Instant(at),
                subscriber_id: subscriber.clone(),
                experiment_id: experiment.into(),
                variant: (*variants.choose(&mut rng).unwrap()).into(),
            };
            if rng.random_bool(0.1) {
                assignments.push(assignment.clone());
            }
            if rng.random_bool(0.3) {
                // Another assignment, at the same time or later.
                let mut other = assignment.clone();
                other.event_id = id("a", &mut rng);
                other.variant = (*variants.choose(&mut rng).unwrap()).into();
                if rng.random_bool(0.5) {
                    other.event_time = Instant(at + 3_600 * SECOND);
                }
                assignments.push(other);
            }
            assignments.push(assignment);
        }
        if rng.random_bool(0.15) {
            flags.push(AccountFlag {
                event_id: id("f", &mut rng),
                event_time: Instant(time + 86_400 * SECOND),
                subscriber_id: subscriber.clone(),
                flag: FlagKind::Fraud,
            });
        }
    }
    if rng.random_bool(0.3) {
        // A cancel from someone who never signed up.
        subscriptions.push(Subscription {
            event_id: id("e", &mut rng),
            event_time: Instant(calendar.start_of(base).0 + 7_200 * SECOND),
            subscriber_id: "ghost".into(),
            kind: SubscriptionType::Cancel,
            plan_id: None,
            country: None,
        });
    }
    RandomGrowth {
        subscriptions,
        assignments,
        flags,
        catalog: catalog(),
    }
}
