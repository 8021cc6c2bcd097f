//! The growth pipelines: `growth_daily` and `growth_daily_by_variant`
//! (experiments, daily), `growth_weekly` (investors), and their checks.
//!
//! ```text
//! subscriptions ──event dedup──► events ──(plan tiers)──► lifecycle per subscriber
//!                                  │                        │ new, reactivated, churned,
//!                                  │                        │ upgrades, downgrades, issues,
//!                                  │                        │ active from / until
//! account_flags ──flagged set──────┼──────► exclusion ◄─────┘
//!                                  │            │ counted
//! variants (assignments in force) ──────────────────────► per variant
//!                                  │            │
//!                        subscriber-days    active_days (running sum)
//!                                  └──── facts ─┘──► rows per day, variant, week
//! ```
//!
//! Definitions (the project's README states them in full): each
//! subscriber's deduplicated events are replayed in order (see
//! [`crate::lifecycle`]); flagged subscribers are left out of every figure
//! but `signup_events` (counted before any exclusion) and
//! `excluded_subscribers`; `active_end` counts subscribers active at the
//! end of the day over the whole history; a subscriber counts under its
//! variant of every experiment it is assigned to.
//!
//! Rows carry exact counts; ratios are formed only when a row becomes
//! cells.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::{AccountFlag, PlanCatalog, Subscription, SubscriptionType};
use streamflix_model::table::{Cell, Column, ColumnKind};
use streamflix_model::{Calendar, Day, Feed, Fingerprint, Id, fingerprint};

use crate::Time;
use crate::active_days::{Mark, active_at_day_end};
use crate::engagement::CheckRow;
use crate::event_dedup::{Deduplicated, dedup_events};
use crate::exclusion::{flagged_subscribers, split_excluded};
use crate::facts::{as_facts, rows_from_facts};
use crate::lifecycle::{LifeEvent, LifeOutput, Outcome, lifecycle};
use crate::plan_tiers::plan_tiers;

/// `experiment_coverage` fails below this share.
pub const COVERAGE_THRESHOLD: f64 = 0.97;
/// `signups_match_log` fails when the relative difference is above this.
pub const SIGNUP_MATCH_THRESHOLD: f64 = 0.02;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Fact {
    InRange,
    New,
    Reactivated,
    Churned,
    Upgrades,
    Downgrades,
    ActiveEnd,
    SignupEvents,
    /// Distinct counted subscribers with a subscriptions event.
    Subscribers,
    /// Of those, the ones with an experiment assignment.
    Covered,
    Excluded,
    UnknownPlans,
}

impl Fact {
    /// The fact an outcome adds to, if it is one of the table's counts.
    fn of(outcome: Outcome) -> Option<Fact> {
        match outcome {
            Outcome::New => Some(Fact::New),
            Outcome::Reactivated => Some(Fact::Reactivated),
            Outcome::Churned => Some(Fact::Churned),
            Outcome::Upgrade => Some(Fact::Upgrades),
            Outcome::Downgrade => Some(Fact::Downgrades),
            Outcome::SideGrade
            | Outcome::DuplicateSignup
            | Outcome::OrphanCancel
            | Outcome::OrphanPlanChange => None,
        }
    }
}

/// A data-quality issue of the growth feeds, counted once per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Issue {
    /// Copies of a `subscriptions` event that differ.
    SubscriptionConflict,
    DuplicateSignup,
    OrphanCancel,
    OrphanPlanChange,
    UnknownPlan,
}

impl Issue {
    pub fn feed(self) -> Feed {
        Feed::Subscriptions
    }

    pub fn name(self) -> &'static str {
        match self {
            Issue::SubscriptionConflict => "conflicting_duplicate",
            Issue::DuplicateSignup => "duplicate_signup",
            Issue::OrphanCancel => "orphan_cancel",
            Issue::OrphanPlanChange => "orphan_plan_change",
            Issue::UnknownPlan => "unknown_plan",
        }
    }
}

/// The figures both daily tables share.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Counts {
    pub new: i64,
    pub reactivated: i64,
    pub churned: i64,
    pub upgrades: i64,
    pub downgrades: i64,
}

impl Counts {
    pub fn net_growth(&self) -> i64 {
        self.new + self.reactivated - self.churned
    }

    /// Adds `total` to the count `fact` names; false for other facts.
    fn add(&mut self, fact: &Fact, total: i64) -> bool {
        let count = match fact {
            Fact::New => &mut self.new,
            Fact::Reactivated => &mut self.reactivated,
            Fact::Churned => &mut self.churned,
            Fact::Upgrades => &mut self.upgrades,
            Fact::Downgrades => &mut self.downgrades,
            _ => return false,
        };
        *count += total;
        true
    }

    fn cells(&self) -> [Cell; 6] {
        [
            Cell::Int(self.new),
            Cell::Int(self.reactivated),
            Cell::Int(self.churned),
            Cell::Int(self.upgrades),
            Cell::Int(self.downgrades),
            Cell::Int(self.net_growth()),
        ]
    }
}

/// A row of `growth_daily`, as exact counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GrowthDay {
    pub day: Day,
    pub counts: Counts,
    pub active_end: i64,
    pub signup_events: i64,
    /// Distinct counted subscribers with a subscriptions event that day.
    pub subscribers: i64,
    /// Of those, the ones with at least one experiment assignment.
    pub covered: i64,
}

/// A row of `growth_daily_by_variant`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GrowthVariantDay {
    pub day: Day,
    pub experiment_id: Id,
    pub variant: Id,
    pub counts: Counts,
}

/// A row of `growth_weekly`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GrowthWeek {
    pub week: Day,
    pub counts: Counts,
    /// Active at the end of the week's Sunday.
    pub active_end: i64,
    pub excluded_subscribers: i64,
    /// `signup` and `plan_change` events of the week (all subscribers)
    /// whose plan has no catalog row.
    pub unknown_plan_events: i64,
}

/// The feeds the growth pipelines read.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct GrowthInputs<'s, T: Time> {
    pub subscriptions: VecCollection<'s, T, Subscription>,
    /// Each subscriber's variant of each experiment, as
    /// [`crate::assignments::assignments_in_force`] settles it (the engine
    /// computes it once for growth and profit, and reports its issues).
    pub variants: VecCollection<'s, T, (Fingerprint, (Id, Id))>,
    pub flags: VecCollection<'s, T, AccountFlag>,
    pub plan_catalog: VecCollection<'s, T, PlanCatalog>,
}

/// The pipelines' outputs.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Growth<'s, T: Time> {
    pub daily: VecCollection<'s, T, GrowthDay>,
    pub by_variant: VecCollection<'s, T, GrowthVariantDay>,
    pub weekly: VecCollection<'s, T, GrowthWeek>,
    /// One record per issue occurrence.
    pub issues: VecCollection<'s, T, Issue>,
}

/// Builds the growth pipelines.
pub fn growth<'s, T: Time>(inputs: GrowthInputs<'s, T>, calendar: &Calendar) -> Growth<'s, T> {
    let Deduplicated {
        events: subscriptions,
        conflicting: subscription_conflicts,
    } = dedup_events("SubscriptionCopies", inputs.subscriptions, |event| {
        event.event_id.as_str()
    });
    let variants = inputs.variants;

    let calendar = calendar.clone();
    let events = subscriptions.map(move |event| {
        let day = calendar.day_of(event.event_time);
        let subscriber = fingerprint(&event.subscriber_id);
        let plan = match event.kind {
            SubscriptionType::Cancel => None,
            SubscriptionType::Signup | SubscriptionType::PlanChange => event.plan_id,
        };
        let life = LifeEvent {
            time: event.event_time,
            event_id: event.event_id,
            day,
            kind: event.kind,
            tier: None,
        };
        (plan, (subscriber, life))
    });
    let life_events = with_tiers(events.clone(), plan_tiers(inputs.plan_catalog));
    let outcomes = lifecycle(life_events);
    let flagged = flagged_subscribers(inputs.flags);
    let (counted, _) = split_excluded(outcomes.clone(), flagged.clone());

    // Issues count every subscriber's records, flagged or not: they are
    // about the feed, not about who counts.
    let lifecycle_issues = outcomes.clone().flat_map(|(_, output)| match output {
        LifeOutput::Outcome(_, Outcome::DuplicateSignup) => Some(Issue::DuplicateSignup),
        LifeOutput::Outcome(_, Outcome::OrphanCancel) => Some(Issue::OrphanCancel),
        LifeOutput::Outcome(_, Outcome::OrphanPlanChange) => Some(Issue::OrphanPlanChange),
        LifeOutput::UnknownPlan(_) => Some(Issue::UnknownPlan),
        _ => None,
    });
    let issues =
        lifecycle_issues.concat(subscription_conflicts.map(|_| Issue::SubscriptionConflict));
    let unknown_plans = outcomes.flat_map(|(_, output)| match output {
        LifeOutput::UnknownPlan(day) => Some((day.week(), Fact::UnknownPlans, 1)),
        _ => None,
    });

    // Rows exist for every day from the first to the last subscriptions
    // event, before any exclusion, and for every week holding one.
    let range = events
        .clone()
        .map(|(_, (_, event))| ((), event.day))
        .reduce_named(
            "GrowthDayRange",
            |_unit, days: &[(&Day, isize)], output: &mut Vec<((Day, Day), isize)>| {
                output.push(((*days[0].0, *days[days.len() - 1].0), 1));
            },
        )
        .map(|((), range)| range);
    let days_in_range = range
        .clone()
        .flat_map(|(first, last)| (first.0..=last.0).map(Day));
    let last_sunday = range.map(|(_, last)| Mark::Through(last.week().plus(6)));

    let counted_outcomes = counted
        .clone()
        .flat_map(|(subscriber, output)| match output {
            LifeOutput::Outcome(day, outcome) => {
                Fact::of(outcome).map(|fact| (subscriber, (day, fact)))
            }
            _ => None,
        });
    let marks = counted.flat_map(|(_, output)| match output {
        LifeOutput::ActiveFrom(day) => Some(Mark::Start(day)),
        LifeOutput::ActiveUntil(day) => Some(Mark::Stop(day)),
        _ => None,
    });
    let active_end = active_at_day_end(marks.concat(last_sunday))
        .map(|(day, active)| (day, Fact::ActiveEnd, active));

    let signups = events.clone().flat_map(|(_, (_, event))| {
        (event.kind == SubscriptionType::Signup).then_some((event.day, Fact::SignupEvents, 1))
    });
    let subscriber_days = events
        .map(|(_, (subscriber, event))| (subscriber, event.day))
        .distinct();
    let (counted_days, excluded_days) = split_excluded(subscriber_days, flagged);
    let assigned = variants
        .clone()
        .map(|(subscriber, _)| subscriber)
        .distinct();
    let covered = counted_days
        .clone()
        .semijoin(assigned)
        .map(|(_, day)| (day, Fact::Covered, 1));
    let subscribers = counted_days.map(|(_, day)| (day, Fact::Subscribers, 1));
    let excluded = excluded_days
        .map(|(subscriber, day)| (day.week(), subscriber))
        .distinct()
        .map(|(week, _)| (week, Fact::Excluded, 1));

    let day_facts = as_facts(
        days_in_range
            .clone()
            .map(|day| (day, Fact::InRange, 1))
            .concat(
                counted_outcomes
                    .clone()
                    .map(|(_, (day, fact))| (day, fact, 1)),
            )
            .concat(active_end)
            .concat(signups)
            .concat(covered)
            .concat(subscribers),
    );
    let daily = rows_from_facts(
        "GrowthDailyRow",
        day_facts.clone(),
        |day: &Day, totals: &[(&Fact, isize)]| {
            let mut row = GrowthDay {
                day: *day,
                ..Default::default()
            };
            let mut in_range = false;
            for (fact, total) in totals {
                let total = *total as i64;
                if row.counts.add(fact, total) {
                    continue;
                }
                match fact {
                    Fact::InRange => in_range = true,
                    Fact::ActiveEnd => row.active_end = total,
                    Fact::SignupEvents => row.signup_events = total,
                    Fact::Subscribers => row.subscribers = total,
                    Fact::Covered => row.covered = total,
                    _ => {}
                }
            }
            in_range.then_some(row)
        },
    )
    .map(|(_, row)| row);

    let variant_facts = as_facts(counted_outcomes.join_map(
        variants,
        |_subscriber, (day, fact), (experiment, variant)| {
            ((*day, experiment.clone(), variant.clone()), fact.clone(), 1)
        },
    ));
    let by_variant = rows_from_facts(
        "GrowthVariantRow",
        variant_facts,
        |(day, experiment, variant): &(Day, Id, Id), totals: &[(&Fact, isize)]| {
            let mut row = GrowthVariantDay {
                day: *day,
                experiment_id: experiment.clone(),
                variant: variant.clone(),
                ..Default::default()
            };
            for (fact, total) in totals {
                row.counts.add(fact, *total as i64);
            }
            Some(row)
        },
    )
    .map(|(_, row)| row);

    let week_sums = day_facts.flat_map(|(day, fact)| {
        let week = day.week();
        match fact {
            Fact::New | Fact::Reactivated | Fact::Churned | Fact::Upgrades | Fact::Downgrades => {
                Some((week, fact))
            }
            Fact::ActiveEnd if day.weekday_from_monday() == 6 => Some((week, fact)),
            _ => None,
        }
    });
    let weeks_in_range = days_in_range
        .map(|day| day.week())
        .distinct()
        .map(|week| (week, Fact::InRange));
    let week_facts = week_sums
        .concat(weeks_in_range)
        .concat(as_facts(excluded.concat(unknown_plans)));
    let weekly = rows_from_facts(
        "GrowthWeeklyRow",
        week_facts,
        |week: &Day, totals: &[(&Fact, isize)]| {
            let mut row = GrowthWeek {
                week: *week,
                ..Default::default()
            };
            let mut in_range = false;
            for (fact, total) in totals {
                let total = *total as i64;
                if row.counts.add(fact, total) {
                    continue;
                }
                match fact {
                    Fact::InRange => in_range = true,
                    Fact::ActiveEnd => row.active_end = total,
                    Fact::Excluded => row.excluded_subscribers = total,
                    Fact::UnknownPlans => row.unknown_plan_events = total,
                    _ => {}
                }
            }
            in_range.then_some(row)
        },
    )
    .map(|(_, row)| row);

    Growth {
        daily,
        by_variant,
        weekly,
        issues,
    }
}

/// Gives each event the tier of its plan: a join with the tiers for plans
/// in the catalog, `None` for the others and for cancels. A catalog change
/// re-keys only the events of that plan.
fn with_tiers<'s, T: Time>(
    events: VecCollection<'s, T, (Option<Id>, (Fingerprint, LifeEvent))>,
    tiers: VecCollection<'s, T, (Id, i64)>,
) -> VecCollection<'s, T, (Fingerprint, LifeEvent)> {
    let planned = events
        .clone()
        .flat_map(|(plan, event)| plan.map(|plan| (plan, event)));
    let unplanned = events.flat_map(|(plan, event)| plan.is_none().then_some(event));
    let known = planned
        .clone()
        .join_map(tiers.clone(), |_plan, (subscriber, event), tier| {
            let mut event = event.clone();
            event.tier = Some(*tier);
            (*subscriber, event)
        });
    let unknown = planned
        .antijoin(tiers.map(|(plan, _)| plan))
        .map(|(_, event)| event);
    known.concat(unknown).concat(unplanned)
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

const COUNT_COLUMNS: [&str; 6] = [
    "new",
    "reactivated",
    "churned",
    "upgrades",
    "downgrades",
    "net_growth",
];

fn with_counts(
    keys: &[(&'static str, ColumnKind)],
    rest: &[(&'static str, ColumnKind)],
) -> Vec<Column> {
    let mut names: Vec<(&str, ColumnKind)> = keys.to_vec();
    names.extend(COUNT_COLUMNS.iter().map(|name| (*name, ColumnKind::Int)));
    names.extend_from_slice(rest);
    columns(&names)
}

impl GrowthDay {
    pub const TABLE: &'static str = "growth_daily";

    pub fn columns() -> Vec<Column> {
        with_counts(
            &[("day", ColumnKind::Text)],
            &[
                ("active_end", ColumnKind::Int),
                ("signup_events", ColumnKind::Int),
                ("experiment_coverage", ColumnKind::Float),
            ],
        )
    }

    /// The share of the day's counted subscribers with an event who have
    /// an assignment; 1 when there are none.
    pub fn experiment_coverage(&self) -> f64 {
        if self.subscribers == 0 {
            1.0
        } else {
            self.covered as f64 / self.subscribers as f64
        }
    }

    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = vec![Cell::Text(self.day.to_string())];
        cells.extend(self.counts.cells());
        cells.extend([
            Cell::Int(self.active_end),
            Cell::Int(self.signup_events),
            Cell::Float(self.experiment_coverage()),
        ]);
        cells
    }

    /// The `daily_growth` checks of this day: `experiment_coverage`, and
    /// `signups_match_log` when the day has signup events.
    pub fn checks(&self) -> Vec<CheckRow> {
        let period = self.day.to_string();
        // Exact comparisons: covered / subscribers < 0.97 and
        // |difference| / signup_events > 0.02, in integers.
        let coverage_fails = self.covered * 100 < self.subscribers * 97;
        let mut checks = vec![CheckRow {
            pipeline: "daily_growth",
            check: "experiment_coverage",
            period: period.clone(),
            pass: !coverage_fails,
            value: Cell::Float(self.experiment_coverage()),
            threshold: Cell::Float(COVERAGE_THRESHOLD),
        }];
        if self.signup_events > 0 {
            let difference = (self.counts.new + self.counts.reactivated - self.signup_events).abs();
            checks.push(CheckRow {
                pipeline: "daily_growth",
                check: "signups_match_log",
                period,
                pass: difference * 50 <= self.signup_events,
                value: Cell::Float(difference as f64 / self.signup_events as f64),
                threshold: Cell::Float(SIGNUP_MATCH_THRESHOLD),
            });
        }
        checks
    }
}

impl GrowthVariantDay {
    pub const TABLE: &'static str = "growth_daily_by_variant";

    pub fn columns() -> Vec<Column> {
        with_counts(
            &[
                ("day", ColumnKind::Text),
                ("experiment_id", ColumnKind::Text),
                ("variant", ColumnKind::Text),
            ],
            &[],
        )
    }

    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = vec![
            Cell::Text(self.day.to_string()),
            Cell::Text(self.experiment_id.to_string()),
            Cell::Text(self.variant.to_string()),
        ];
        cells.extend(self.counts.cells());
        cells
    }
}

impl GrowthWeek {
    pub const TABLE: &'static str = "growth_weekly";

    pub fn columns() -> Vec<Column> {
        with_counts(
            &[("week", ColumnKind::Text)],
            &[
                ("active_end", ColumnKind::Int),
                ("excluded_subscribers", ColumnKind::Int),
            ],
        )
    }

    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = vec![Cell::Text(self.week.to_string())];
        cells.extend(self.counts.cells());
        cells.extend([
            Cell::Int(self.active_end),
            Cell::Int(self.excluded_subscribers),
        ]);
        cells
    }

    /// The `aggregate_growth` check of this week: `plans_known`.
    pub fn plans_check(&self) -> CheckRow {
        CheckRow {
            pipeline: "aggregate_growth",
            check: "plans_known",
            period: self.week.to_string(),
            pass: self.unknown_plan_events == 0,
            value: Cell::Float(self.unknown_plan_events as f64),
            threshold: Cell::Float(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::Input;
    use streamflix_model::records::FlagKind;
    use streamflix_model::{Currency, Instant, Micros};
    use timely::dataflow::operators::capture::{Capture, Extract};

    use super::*;

    /// A flag that arrives after a week's row was produced retracts that
    /// row and inserts its next revision at the flag's epoch: the change
    /// is visible downstream, never silent.
    #[test]
    fn a_late_flag_retracts_the_week_and_inserts_its_revision() {
        let calendar = Calendar::central();
        let monday = Day::parse("2026-10-05").unwrap();
        let weekly = timely::execute_directly(move |worker| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (mut subscriptions, mut flags, mut catalog) =
                worker.dataflow::<u64, _, _>(|scope| {
                    let (subscriptions, subscription_collection) = scope.new_collection();
                    let (_variants, variant_collection) = scope.new_collection();
                    let (flags, flag_collection) = scope.new_collection();
                    let (catalog, catalog_collection) = scope.new_collection();
                    let growth = growth(
                        GrowthInputs {
                            subscriptions: subscription_collection,
                            variants: variant_collection,
                            flags: flag_collection,
                            plan_catalog: catalog_collection,
                        },
                        &calendar,
                    );
                    growth.weekly.consolidate().inner.capture_into(tx);
                    (subscriptions, flags, catalog)
                });
            catalog.insert(PlanCatalog {
                plan_id: "basic".into(),
                currency: Currency::parse("USD").unwrap(),
                tier: 1,
                monthly_price: Micros::from_units(8),
                updated_at: Instant::from_seconds(0),
            });
            for (id, subscriber) in [("e1", "a"), ("e2", "b")] {
                subscriptions.insert(Subscription {
                    event_id: id.into(),
                    event_time: calendar.start_of(monday.plus(1)),
                    subscriber_id: subscriber.into(),
                    kind: SubscriptionType::Signup,
                    plan_id: Some("basic".into()),
                    country: None,
                });
            }
            for epoch in 1..=2 {
                if epoch == 2 {
                    flags.insert(AccountFlag {
                        event_id: "f".into(),
                        event_time: calendar.start_of(monday.plus(20)),
                        subscriber_id: "b".into(),
                        flag: FlagKind::Test,
                    });
                }
                subscriptions.advance_to(epoch);
                flags.advance_to(epoch);
                catalog.advance_to(epoch);
            }
            drop((subscriptions, flags, catalog));
            while worker.step() {}
            rx
        });
        let mut updates: Vec<(u64, isize, i64, i64)> = weekly
            .extract()
            .into_iter()
            .flat_map(|(_, updates)| updates)
            .map(|(row, epoch, diff)| (epoch, diff, row.counts.new, row.excluded_subscribers))
            .collect();
        updates.sort();
        assert_eq!(
            updates,
            vec![(0, 1, 2, 0), (1, -1, 2, 0), (1, 1, 1, 1)],
            "revision 1 at epoch 0, its retraction and revision 2 at epoch 1"
        );
    }
}
