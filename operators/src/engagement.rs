//! The Aggregate Engagement pipeline: `engagement_daily`,
//! `engagement_weekly` and their checks.
//!
//! Definitions (the project's README states them in full):
//! * viewing events count once per `event_id`; flagged subscribers and
//!   impossible subscriber-days (over 86,400 watch seconds) are left out;
//! * a subscriber is active on a day with an event of `watch_seconds > 0`;
//!   DAU, WAU (7 days ending on the day) and MAU (30 days) count distinct
//!   active subscribers;
//! * sessions split at gaps over 30 minutes and belong to the day of their
//!   first event; a play is a distinct content within a session, completed
//!   when its furthest position reaches 90% of its last event's duration;
//! * the weekly median of event-time skew (`received_at - event_time`).
//!
//! Rows carry exact integer totals (microseconds, counts); ratios are only
//! formed when a row is turned into cells.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use streamflix_model::records::AccountFlag;
use streamflix_model::table::{Cell, Column, ColumnKind};
use streamflix_model::{Day, Fingerprint};

use crate::Time;
use crate::exclusion::{flagged_subscribers, split_excluded};
use crate::expire::expire;
use crate::facts::{as_facts, rows_from_facts};
use crate::median::twice_median;
use crate::rolling::rolling_window_ends;
use crate::sessions::{Edges, SessionParts, sessions};
use crate::split::split;
use crate::subscriber_day::{DayOutput, Piece, SubscriberDay, subscriber_days};
use crate::viewing::ViewingDays;

/// Microseconds in an hour, a minute.
const HOUR_MICROS: f64 = 3_600_000_000.0;
const MINUTE_MICROS: f64 = 60_000_000.0;
/// The `event_time_skew` check fails at a median of this many seconds.
pub const SKEW_THRESHOLD_SECONDS: f64 = 600.0;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum DayFact {
    InRange,
    Dau,
    Wau,
    Mau,
    Watch,
    Sessions,
    SessionWatch,
    Plays,
    Completed,
    BotDays,
}

/// A piece of a counted subscriber-day, on its way to one operator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum DayPart {
    Fact(Day, DayFact, i64),
    /// Week, skew in nanoseconds, how many events.
    Skew(Day, i64, u32),
    Edges((Fingerprint, Day), Edges),
    First((Fingerprint, Day), Piece),
    Last((Fingerprint, Day), Piece),
}

impl DayPart {
    fn route(&self) -> u64 {
        match self {
            DayPart::Fact(..) => 0,
            DayPart::Skew(..) => 1,
            DayPart::Edges(..) => 2,
            DayPart::First(..) => 3,
            DayPart::Last(..) => 4,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum WeekFact {
    InRange,
    DauSum,
    Wau,
    SundayMau,
    Watch,
    Sessions,
    Plays,
    Completed,
    BotDays,
    Excluded,
    /// Twice the median skew in nanoseconds (the value is in the fact, the
    /// difference is 1).
    SkewMedian(i128),
}

/// A row of `engagement_daily`, as exact totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EngagementDay {
    pub day: Day,
    pub dau: i64,
    pub wau: i64,
    pub mau: i64,
    pub sessions: i64,
    /// Watch time of the day's counted events, in microseconds.
    pub watch_micros: i64,
    /// Watch time of the sessions that start on the day, in microseconds.
    pub session_watch_micros: i64,
    pub plays: i64,
    pub completed_plays: i64,
    pub bot_days: i64,
}

/// A row of `engagement_weekly`, as exact totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EngagementWeek {
    pub week: Day,
    pub wau: i64,
    /// The sum of the week's seven DAU values.
    pub dau_sum: i64,
    pub mau: i64,
    pub sessions: i64,
    pub watch_micros: i64,
    pub plays: i64,
    pub completed_plays: i64,
    /// Twice the median skew in nanoseconds; `None` without skew data.
    pub skew_median_twice_nanos: Option<i128>,
    pub excluded_subscribers: i64,
    pub bot_days: i64,
}

/// A row of the `checks` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    pub pipeline: &'static str,
    pub check: &'static str,
    pub period: String,
    pub pass: bool,
    pub value: Cell,
    pub threshold: Cell,
}

/// The pipeline's outputs.
#[allow(missing_debug_implementations)] // collections have no Debug
pub struct Engagement<'s, T: Time> {
    pub daily: VecCollection<'s, T, EngagementDay>,
    pub weekly: VecCollection<'s, T, EngagementWeek>,
    /// Fingerprints of viewing event ids whose copies disagree.
    pub conflicting_duplicates: VecCollection<'s, T, Fingerprint>,
}

/// A day's viewing feeds figures of that day and of the next 29 (MAU).
pub const LAST_DAY_FED: i32 = 29;

/// Builds the engagement pipeline over prepared viewing and flags. Flags
/// are never retired: an excluded subscriber stays excluded.
pub fn engagement<'s, T: Time>(
    viewing: ViewingDays<'s, T>,
    flags: VecCollection<'s, T, AccountFlag>,
) -> Engagement<'s, T> {
    let horizons = viewing.horizons;
    let day_outputs = subscriber_days(viewing.inputs, horizons.clone());
    let [conflicts, all_days]: [_; 2] = split(day_outputs, 2, |(_, output)| match output {
        DayOutput::Conflicts(_) => 0,
        DayOutput::Summary(_) => 1,
    })
    .try_into()
    .unwrap_or_else(|_| unreachable!("split returns as many collections as asked"));
    let conflicting_duplicates = conflicts
        .flat_map(|(_, output)| match output {
            DayOutput::Conflicts(events) => events,
            DayOutput::Summary(_) => Vec::new(),
        })
        .concat(viewing.cross_day_conflicts)
        .distinct();

    // Rows exist for every day from the first to the last valid event,
    // before any exclusion, and for every week holding one of those days.
    // Downstream of the map this is one count per day: it is never expired.
    let days_in_range = all_days
        .clone()
        .map(|((_, day), _)| ((), day))
        .reduce_named(
            "DayRange",
            |_unit, days: &[(&Day, isize)], output: &mut Vec<((Day, Day), isize)>| {
                output.push(((*days[0].0, *days[days.len() - 1].0), 1));
            },
        )
        .flat_map(|((), (first, last))| (first.0..=last.0).map(Day));

    // The compact facts outlive the heartbeats, each only as long as a
    // figure it feeds can change: an active day feeds MAU for 30 days; the
    // rest of a summary feeds its day and week, and its sessions may be
    // stitched to the next day's, so it stays until the week holding the
    // next day is frozen.
    let active_days = all_days.clone().flat_map(|((subscriber, day), output)| {
        let active = matches!(&output, DayOutput::Summary(SubscriberDay::Counted(s)) if s.active);
        active.then_some((subscriber, day))
    });
    let (active_days, all_days) = match horizons {
        Some(horizons) => {
            let long = horizons.clone();
            (
                expire("ActiveDays", active_days, move |(_, day)| {
                    long.engagement_expires(*day)
                }),
                expire("SubscriberDayFacts", all_days, move |((_, day), _)| {
                    horizons.viewing_settles(day.plus(1).week().plus(6))
                }),
            )
        }
        None => (active_days, all_days),
    };
    let flagged = flagged_subscribers(flags);
    let (active, _) = split_excluded(active_days, flagged.clone());
    let active = active.map(|(subscriber, day)| (day, subscriber));
    let (counted, excluded) = split_excluded(
        all_days.flat_map(|((subscriber, day), output)| match output {
            DayOutput::Summary(summary) => Some((subscriber, (day, summary))),
            DayOutput::Conflicts(_) => None,
        }),
        flagged,
    );
    let excluded_days = excluded.map(|(subscriber, (day, _))| (day, subscriber));

    // Each counted summary is taken apart once and its parts routed to the
    // operators that need them, rather than cloning it for each.
    let parts = counted.flat_map(|(subscriber, (day, summary))| {
        let summary = match summary {
            SubscriberDay::Impossible => return vec![DayPart::Fact(day, DayFact::BotDays, 1)],
            SubscriberDay::Counted(summary) => summary,
        };
        let mut parts = vec![DayPart::Fact(day, DayFact::Watch, summary.watch)];
        if summary.inner.sessions > 0 {
            parts.push(DayPart::Fact(
                day,
                DayFact::Sessions,
                summary.inner.sessions,
            ));
            parts.push(DayPart::Fact(
                day,
                DayFact::SessionWatch,
                summary.inner.watch,
            ));
            parts.push(DayPart::Fact(day, DayFact::Plays, summary.inner.plays));
            parts.push(DayPart::Fact(
                day,
                DayFact::Completed,
                summary.inner.completed,
            ));
        }
        let week = day.week();
        parts.extend(
            summary
                .skews
                .iter()
                .map(|(skew, count)| DayPart::Skew(week, *skew, *count)),
        );
        parts.push(DayPart::Edges((subscriber, day), Edges::of(&summary)));
        if let Some(last) = summary.last {
            parts.push(DayPart::Last((subscriber, day), last));
        }
        parts.push(DayPart::First((subscriber, day), summary.first));
        parts
    });
    let [facts, skews, edges, firsts, lasts]: [_; 5] = split(parts, 5, DayPart::route)
        .try_into()
        .unwrap_or_else(|_| unreachable!("split returns as many collections as asked"));

    let excluded_weeks = excluded_days
        .map(|(day, subscriber)| (day.week(), subscriber))
        .distinct();

    let day_parts = facts.flat_map(|part| match part {
        DayPart::Fact(day, fact, amount) => Some((day, fact, amount)),
        _ => None,
    });
    let skews = skews.explode(|part| match part {
        DayPart::Skew(week, skew, count) => Some(((week, skew), count as isize)),
        _ => None,
    });
    let session_parts = SessionParts {
        edges: edges.flat_map(|part| match part {
            DayPart::Edges(key, edges) => Some((key, edges)),
            _ => None,
        }),
        firsts: firsts.flat_map(|part| match part {
            DayPart::First(key, piece) => Some((key, piece)),
            _ => None,
        }),
        lasts: lasts.flat_map(|part| match part {
            DayPart::Last(key, piece) => Some((key, piece)),
            _ => None,
        }),
    };
    let session_facts = sessions(session_parts).flat_map(|(day, totals)| {
        [
            (day, DayFact::Sessions, totals.sessions),
            (day, DayFact::SessionWatch, totals.watch),
            (day, DayFact::Plays, totals.plays),
            (day, DayFact::Completed, totals.completed),
        ]
    });
    let dau = active.clone().map(|(day, _)| (day, DayFact::Dau, 1));
    let wau = rolling_window_ends(active.clone(), 7).map(|day| (day, DayFact::Wau, 1));
    let mau = rolling_window_ends(active.clone(), 30).map(|day| (day, DayFact::Mau, 1));
    let in_range = days_in_range.clone().map(|day| (day, DayFact::InRange, 1));

    let day_facts = as_facts(
        in_range
            .concat(dau)
            .concat(wau)
            .concat(mau)
            .concat(day_parts)
            .concat(session_facts),
    );
    let daily = rows_from_facts(
        "EngagementDailyRow",
        day_facts.clone(),
        |day: &Day, totals: &[(&DayFact, isize)]| {
            let mut row = EngagementDay {
                day: *day,
                ..Default::default()
            };
            let mut in_range = false;
            for (fact, total) in totals {
                let total = *total as i64;
                match fact {
                    DayFact::InRange => in_range = true,
                    DayFact::Dau => row.dau = total,
                    DayFact::Wau => row.wau = total,
                    DayFact::Mau => row.mau = total,
                    DayFact::Watch => row.watch_micros = total,
                    DayFact::Sessions => row.sessions = total,
                    DayFact::SessionWatch => row.session_watch_micros = total,
                    DayFact::Plays => row.plays = total,
                    DayFact::Completed => row.completed_plays = total,
                    DayFact::BotDays => row.bot_days = total,
                }
            }
            in_range.then_some(row)
        },
    )
    .map(|(_, row)| row);

    // Weekly figures: sums of the daily facts, plus the week's own distinct
    // counts and median.
    let week_sums = day_facts.flat_map(|(day, fact)| {
        let week = day.week();
        let fact = match fact {
            DayFact::Dau => Some(WeekFact::DauSum),
            DayFact::Mau if day.weekday_from_monday() == 6 => Some(WeekFact::SundayMau),
            DayFact::Watch => Some(WeekFact::Watch),
            DayFact::Sessions => Some(WeekFact::Sessions),
            DayFact::Plays => Some(WeekFact::Plays),
            DayFact::Completed => Some(WeekFact::Completed),
            DayFact::BotDays => Some(WeekFact::BotDays),
            DayFact::InRange | DayFact::Wau | DayFact::Mau | DayFact::SessionWatch => None,
        };
        fact.map(|fact| (week, fact))
    });
    let weekly_wau = active
        .map(|(day, subscriber)| (day.week(), subscriber))
        .distinct()
        .map(|(week, _)| (week, WeekFact::Wau));
    let weeks_in_range = days_in_range
        .map(|day| day.week())
        .distinct()
        .map(|week| (week, WeekFact::InRange));
    let excluded_facts = excluded_weeks.map(|(week, _)| (week, WeekFact::Excluded));
    let skew_medians =
        twice_median(skews).map(|(week, median)| (week, WeekFact::SkewMedian(median)));
    let week_facts = week_sums
        .concat(weekly_wau)
        .concat(weeks_in_range)
        .concat(excluded_facts)
        .concat(skew_medians);
    let weekly = rows_from_facts(
        "EngagementWeeklyRow",
        week_facts,
        |week: &Day, totals: &[(&WeekFact, isize)]| {
            let mut row = EngagementWeek {
                week: *week,
                ..Default::default()
            };
            let mut in_range = false;
            for (fact, total) in totals {
                let total = *total as i64;
                match fact {
                    WeekFact::InRange => in_range = true,
                    WeekFact::DauSum => row.dau_sum = total,
                    WeekFact::Wau => row.wau = total,
                    WeekFact::SundayMau => row.mau = total,
                    WeekFact::Watch => row.watch_micros = total,
                    WeekFact::Sessions => row.sessions = total,
                    WeekFact::Plays => row.plays = total,
                    WeekFact::Completed => row.completed_plays = total,
                    WeekFact::BotDays => row.bot_days = total,
                    WeekFact::Excluded => row.excluded_subscribers = total,
                    WeekFact::SkewMedian(median) => row.skew_median_twice_nanos = Some(*median),
                }
            }
            in_range.then_some(row)
        },
    )
    .map(|(_, row)| row);

    Engagement {
        daily,
        weekly,
        conflicting_duplicates,
    }
}

fn int(value: i64) -> Cell {
    Cell::Int(value)
}

fn text_columns(names: &[(&str, ColumnKind)]) -> Vec<Column> {
    names
        .iter()
        .map(|(name, kind)| Column {
            name: name.to_string(),
            kind: *kind,
        })
        .collect()
}

impl EngagementDay {
    pub const TABLE: &'static str = "engagement_daily";

    pub fn columns() -> Vec<Column> {
        use ColumnKind::*;
        text_columns(&[
            ("day", Text),
            ("dau", Int),
            ("wau", Int),
            ("mau", Int),
            ("sessions", Int),
            ("hours_watched", Float),
            ("avg_session_minutes", Float),
            ("plays", Int),
            ("completed_plays", Int),
            ("completion_rate", Float),
            ("bot_days", Int),
        ])
    }

    pub fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.day.to_string()),
            int(self.dau),
            int(self.wau),
            int(self.mau),
            int(self.sessions),
            Cell::Float(self.watch_micros as f64 / HOUR_MICROS),
            Cell::ratio(
                self.session_watch_micros as f64,
                MINUTE_MICROS * self.sessions as f64,
            ),
            int(self.plays),
            int(self.completed_plays),
            Cell::ratio(self.completed_plays as f64, self.plays as f64),
            int(self.bot_days),
        ]
    }
}

impl EngagementWeek {
    pub const TABLE: &'static str = "engagement_weekly";

    pub fn columns() -> Vec<Column> {
        use ColumnKind::*;
        text_columns(&[
            ("week", Text),
            ("wau", Int),
            ("avg_dau", Float),
            ("mau", Int),
            ("sessions", Int),
            ("hours_watched", Float),
            ("hours_per_active", Float),
            ("completion_rate", Float),
            ("skew_median_seconds", Float),
            ("excluded_subscribers", Int),
            ("bot_days", Int),
        ])
    }

    /// The median skew in seconds.
    pub fn skew_median_seconds(&self) -> Option<f64> {
        self.skew_median_twice_nanos.map(|twice| twice as f64 / 2e9)
    }

    pub fn cells(&self) -> Vec<Cell> {
        let hours = self.watch_micros as f64 / HOUR_MICROS;
        vec![
            Cell::Text(self.week.to_string()),
            int(self.wau),
            Cell::Float(self.dau_sum as f64 / 7.0),
            int(self.mau),
            int(self.sessions),
            Cell::Float(hours),
            Cell::ratio(self.watch_micros as f64, HOUR_MICROS * self.wau as f64),
            Cell::ratio(self.completed_plays as f64, self.plays as f64),
            self.skew_median_seconds().map_or(Cell::Empty, Cell::Float),
            int(self.excluded_subscribers),
            int(self.bot_days),
        ]
    }

    /// The `aggregate_engagement` check of this week, if it has skew data.
    pub fn skew_check(&self) -> Option<CheckRow> {
        let median = self.skew_median_seconds()?;
        Some(CheckRow {
            pipeline: "aggregate_engagement",
            check: "event_time_skew",
            period: self.week.to_string(),
            pass: median < SKEW_THRESHOLD_SECONDS,
            value: Cell::Float(median),
            threshold: Cell::Float(SKEW_THRESHOLD_SECONDS),
        })
    }
}

impl CheckRow {
    pub const TABLE: &'static str = "checks";

    pub fn columns() -> Vec<Column> {
        use ColumnKind::*;
        text_columns(&[
            ("pipeline", Text),
            ("check", Text),
            ("period", Text),
            ("status", Text),
            ("value", Float),
            ("threshold", Float),
        ])
    }

    pub fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(self.pipeline.to_string()),
            Cell::Text(self.check.to_string()),
            Cell::Text(self.period.clone()),
            Cell::Text(if self.pass { "pass" } else { "fail" }.to_string()),
            self.value.clone(),
            self.threshold.clone(),
        ]
    }
}
