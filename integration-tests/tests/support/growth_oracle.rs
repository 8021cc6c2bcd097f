//! A plain batch computation of the growth tables, written from the metric
//! definitions without any dataflow, to check the engine against.

use std::collections::{BTreeMap, BTreeSet};

use streamflix_model::records::{
    AccountFlag, ExperimentAssignment, PlanCatalog, Subscription, SubscriptionType,
};
use streamflix_model::{Calendar, Day, Feed, Id, Instant};
use streamflix_operators::growth::{Counts, GrowthDay, GrowthVariantDay, GrowthWeek};

pub struct GrowthOracle {
    pub daily: Vec<GrowthDay>,
    pub by_variant: Vec<GrowthVariantDay>,
    pub weekly: Vec<GrowthWeek>,
    /// Data-quality counts by feed and issue, zeros left out.
    pub issues: BTreeMap<(Feed, &'static str), i64>,
}

/// What an event did, as the definitions name it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Meaning {
    New,
    Reactivated,
    Churned,
    Upgrade,
    Downgrade,
    Neither,
    DuplicateSignup,
    OrphanCancel,
    OrphanPlanChange,
}

fn add(counts: &mut Counts, meaning: Meaning) {
    match meaning {
        Meaning::New => counts.new += 1,
        Meaning::Reactivated => counts.reactivated += 1,
        Meaning::Churned => counts.churned += 1,
        Meaning::Upgrade => counts.upgrades += 1,
        Meaning::Downgrade => counts.downgrades += 1,
        _ => {}
    }
}

fn counts_something(meaning: Meaning) -> bool {
    matches!(
        meaning,
        Meaning::New
            | Meaning::Reactivated
            | Meaning::Churned
            | Meaning::Upgrade
            | Meaning::Downgrade
    )
}

/// Of records sharing an event id, the copy with the earliest event time,
/// ties settled by the remaining fields; and how many ids had differing
/// copies.
fn dedup<R: Clone + Ord, K: Ord>(
    records: &[R],
    event_id: impl Fn(&R) -> &Id,
    order: impl Fn(&R) -> K,
) -> (Vec<R>, i64) {
    let mut by_id: BTreeMap<&Id, Vec<&R>> = BTreeMap::new();
    for record in records {
        by_id.entry(event_id(record)).or_default().push(record);
    }
    let mut conflicts = 0;
    let mut kept = Vec::new();
    for copies in by_id.values() {
        let distinct: BTreeSet<&R> = copies.iter().copied().collect();
        if distinct.len() > 1 {
            conflicts += 1;
        }
        kept.push((*distinct.iter().min_by_key(|r| order(r)).unwrap()).clone());
    }
    (kept, conflicts)
}

/// Tier of each plan: the current row of each (plan, currency) is the one
/// with the latest `updated_at` (the higher tier on a tie); the highest
/// tier across currencies counts.
fn tiers(catalog: &[PlanCatalog]) -> BTreeMap<Id, i64> {
    let mut current: BTreeMap<(Id, String), (Instant, i64)> = BTreeMap::new();
    for row in catalog {
        let key = (row.plan_id.clone(), row.currency.as_str().to_string());
        let candidate = (row.updated_at, row.tier);
        current
            .entry(key)
            .and_modify(|held| {
                if candidate > *held {
                    *held = candidate
                }
            })
            .or_insert(candidate);
    }
    let mut tiers: BTreeMap<Id, i64> = BTreeMap::new();
    for ((plan, _), (_, tier)) in current {
        let entry = tiers.entry(plan).or_insert(tier);
        *entry = (*entry).max(tier);
    }
    tiers
}

pub fn growth(
    subscriptions: &[Subscription],
    assignments: &[ExperimentAssignment],
    flags: &[AccountFlag],
    catalog: &[PlanCatalog],
    calendar: &Calendar,
) -> GrowthOracle {
    let mut issues: BTreeMap<(Feed, &'static str), i64> = BTreeMap::new();
    let (events, conflicts) = dedup(
        subscriptions,
        |s| &s.event_id,
        |s| {
            (
                s.event_time,
                s.subscriber_id.clone(),
                s.kind,
                s.plan_id.clone(),
                s.country.clone(),
            )
        },
    );
    issues.insert((Feed::Subscriptions, "conflicting_duplicate"), conflicts);
    let (assignments, conflicts) = dedup(
        assignments,
        |a| &a.event_id,
        |a| {
            (
                a.event_time,
                a.subscriber_id.clone(),
                a.experiment_id.clone(),
                a.variant.clone(),
            )
        },
    );
    issues.insert(
        (Feed::ExperimentAssignments, "conflicting_duplicate"),
        conflicts,
    );

    // Each subscriber's variant per experiment: the earliest assignment.
    let mut by_experiment: BTreeMap<(&Id, &Id), Vec<&ExperimentAssignment>> = BTreeMap::new();
    for assignment in &assignments {
        by_experiment
            .entry((&assignment.subscriber_id, &assignment.experiment_id))
            .or_default()
            .push(assignment);
    }
    let mut variant_of: BTreeMap<&Id, Vec<(&Id, &Id)>> = BTreeMap::new();
    let mut conflicting_assignments = 0;
    for ((subscriber, experiment), mut list) in by_experiment {
        list.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        let first = &list[0].variant;
        conflicting_assignments += list.iter().filter(|a| a.variant != *first).count() as i64;
        variant_of
            .entry(subscriber)
            .or_default()
            .push((experiment, first));
    }
    issues.insert(
        (Feed::ExperimentAssignments, "conflicting_assignment"),
        conflicting_assignments,
    );

    let tiers = tiers(catalog);
    let flagged: BTreeSet<&Id> = flags.iter().map(|f| &f.subscriber_id).collect();
    let day_of = |s: &Subscription| calendar.day_of(s.event_time);
    let tier_of = |plan: &Option<Id>| plan.as_ref().and_then(|p| tiers.get(p).copied());

    let (Some(first), Some(last)) = (
        events.iter().map(day_of).min(),
        events.iter().map(day_of).max(),
    ) else {
        return GrowthOracle {
            daily: vec![],
            by_variant: vec![],
            weekly: vec![],
            issues: nonzero(issues),
        };
    };
    let last_sunday = last.week().plus(6);

    // Replay each subscriber's history.
    let mut histories: BTreeMap<&Id, Vec<&Subscription>> = BTreeMap::new();
    for event in &events {
        histories
            .entry(&event.subscriber_id)
            .or_default()
            .push(event);
    }
    let mut meanings: Vec<(&Id, Day, Meaning)> = Vec::new();
    let mut active_end: BTreeMap<Day, i64> = BTreeMap::new();
    let mut unknown_plan_days: Vec<Day> = Vec::new();
    for (subscriber, history) in histories.iter_mut() {
        history.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        // (active, tier of the current plan), None before any signup.
        let mut active = false;
        let mut seen_active = false;
        let mut tier: Option<i64> = None;
        // State after each event, to read off the state at each day's end.
        let mut after: Vec<(Day, bool)> = Vec::new();
        for event in history.iter() {
            let day = day_of(event);
            if event.kind != SubscriptionType::Cancel && tier_of(&event.plan_id).is_none() {
                unknown_plan_days.push(day);
            }
            let meaning = match event.kind {
                SubscriptionType::Signup if active => Meaning::DuplicateSignup,
                SubscriptionType::Signup => {
                    let meaning = if seen_active {
                        Meaning::Reactivated
                    } else {
                        Meaning::New
                    };
                    active = true;
                    seen_active = true;
                    tier = tier_of(&event.plan_id);
                    meaning
                }
                SubscriptionType::Cancel if active => {
                    active = false;
                    Meaning::Churned
                }
                SubscriptionType::Cancel => Meaning::OrphanCancel,
                SubscriptionType::PlanChange if active => {
                    let new_tier = tier_of(&event.plan_id);
                    let meaning = match (tier, new_tier) {
                        (Some(old), Some(new)) if new > old => Meaning::Upgrade,
                        (Some(old), Some(new)) if new < old => Meaning::Downgrade,
                        _ => Meaning::Neither,
                    };
                    tier = new_tier;
                    meaning
                }
                SubscriptionType::PlanChange => Meaning::OrphanPlanChange,
            };
            meanings.push((subscriber, day, meaning));
            after.push((day, active));
        }
        if flagged.contains(subscriber) {
            continue;
        }
        for day in (first.0..=last_sunday.0).map(Day) {
            let at_end = after
                .iter()
                .rev()
                .find(|(at, _)| *at <= day)
                .is_some_and(|(_, active)| *active);
            if at_end {
                *active_end.entry(day).or_default() += 1;
            }
        }
    }
    for (meaning, name) in [
        (Meaning::DuplicateSignup, "duplicate_signup"),
        (Meaning::OrphanCancel, "orphan_cancel"),
        (Meaning::OrphanPlanChange, "orphan_plan_change"),
    ] {
        let count = meanings.iter().filter(|(_, _, m)| *m == meaning).count() as i64;
        issues.insert((Feed::Subscriptions, name), count);
    }
    issues.insert(
        (Feed::Subscriptions, "unknown_plan"),
        unknown_plan_days.len() as i64,
    );

    let counted: Vec<&(&Id, Day, Meaning)> = meanings
        .iter()
        .filter(|(subscriber, _, _)| !flagged.contains(subscriber))
        .collect();

    let mut daily = Vec::new();
    for day in (first.0..=last.0).map(Day) {
        let mut counts = Counts::default();
        for (_, _, meaning) in counted.iter().filter(|(_, d, _)| *d == day) {
            add(&mut counts, *meaning);
        }
        let with_event: BTreeSet<&Id> = events
            .iter()
            .filter(|e| day_of(e) == day && !flagged.contains(&e.subscriber_id))
            .map(|e| &e.subscriber_id)
            .collect();
        daily.push(GrowthDay {
            day,
            counts,
            active_end: active_end.get(&day).copied().unwrap_or(0),
            signup_events: events
                .iter()
                .filter(|e| day_of(e) == day && e.kind == SubscriptionType::Signup)
                .count() as i64,
            subscribers: with_event.len() as i64,
            covered: with_event
                .iter()
                .filter(|s| variant_of.contains_key(**s))
                .count() as i64,
        });
    }

    let mut per_variant: BTreeMap<(Day, Id, Id), Counts> = BTreeMap::new();
    for (subscriber, day, meaning) in &counted {
        if !counts_something(*meaning) {
            continue;
        }
        for (experiment, variant) in variant_of.get(*subscriber).into_iter().flatten() {
            add(
                per_variant
                    .entry((*day, (*experiment).clone(), (*variant).clone()))
                    .or_default(),
                *meaning,
            );
        }
    }
    let by_variant = per_variant
        .into_iter()
        .map(|((day, experiment_id, variant), counts)| GrowthVariantDay {
            day,
            experiment_id,
            variant,
            counts,
        })
        .collect();

    let weeks: BTreeSet<Day> = (first.0..=last.0).map(|d| Day(d).week()).collect();
    let mut weekly = Vec::new();
    for week in weeks {
        let sunday = week.plus(6);
        let in_week = |day: Day| day >= week && day <= sunday;
        let mut counts = Counts::default();
        for (_, _, meaning) in counted.iter().filter(|(_, d, _)| in_week(*d)) {
            add(&mut counts, *meaning);
        }
        weekly.push(GrowthWeek {
            week,
            counts,
            active_end: active_end.get(&sunday).copied().unwrap_or(0),
            excluded_subscribers: events
                .iter()
                .filter(|e| in_week(day_of(e)) && flagged.contains(&e.subscriber_id))
                .map(|e| &e.subscriber_id)
                .collect::<BTreeSet<_>>()
                .len() as i64,
            unknown_plan_events: unknown_plan_days.iter().filter(|d| in_week(**d)).count() as i64,
        });
    }
    GrowthOracle {
        daily,
        by_variant,
        weekly,
        issues: nonzero(issues),
    }
}

fn nonzero(mut issues: BTreeMap<(Feed, &'static str), i64>) -> BTreeMap<(Feed, &'static str), i64> {
    issues.retain(|_, count| *count != 0);
    issues
}
