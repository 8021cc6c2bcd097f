//! Snapshots: which rows make a snapshot, when a period is complete and
//! due, and revisions.
//!
//! A snapshot is the rows of one table for one period of the pipeline that
//! publishes it, keyed `<table>/<period>` (check rows:
//! `checks/<pipeline>/<period>`). The service publishes it when
//!
//! * the period is **complete**: the watermark of the pipeline (the least
//!   watermark of the partitions of its upstream feeds that are not idle,
//!   or the greatest if all are; a partition's watermark is the greatest
//!   event time read minus the allowed lateness) has passed the period's
//!   end, and
//! * its **publication time** has come on the pipeline's event clock (the
//!   greatest event time read on its upstream feeds): day end + 2 h for
//!   daily growth, day end + 4 h for unit profit's months, Monday 06:00 CT
//!   for the weeks, month end + 4 h for the months.
//!
//! Once published, a snapshot whose rows change (late data, a flag, a
//! correction) is published again as the next revision, never changed in
//! place; a snapshot whose rows are unchanged is never published again, in
//! particular not after a restart: the revisions already on the snapshot
//! topic are read back first, and nothing is published until every
//! partition has been read up to where it ended at start-up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_model::table::{Cell, Table};
use streamflix_model::{Calendar, Day, Feed, Instant, Month};

use crate::output::OutputStore;

/// The five pipelines of the runbooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    UnitProfit,
    AggregateProfit,
    AggregateGrowth,
    DailyGrowth,
    AggregateEngagement,
}

/// How a pipeline's periods are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodKind {
    Day,
    Week,
    Month,
}

const HOUR_MS: i64 = 3_600_000;
/// Weekly snapshots are published on Monday 06:00 CT for the week that
/// ended at Monday 00:00.
const WEEKLY_PUBLICATION_DELAY_MS: i64 = 6 * HOUR_MS;
/// The table the weekly run also publishes month to date (investors).
const MONTH_TO_DATE_TABLE: &str = "profit_monthly";

impl Pipeline {
    pub const ALL: [Pipeline; 5] = [
        Pipeline::UnitProfit,
        Pipeline::AggregateProfit,
        Pipeline::AggregateGrowth,
        Pipeline::DailyGrowth,
        Pipeline::AggregateEngagement,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pipeline::UnitProfit => "unit_profit",
            Pipeline::AggregateProfit => "aggregate_profit",
            Pipeline::AggregateGrowth => "aggregate_growth",
            Pipeline::DailyGrowth => "daily_growth",
            Pipeline::AggregateEngagement => "aggregate_engagement",
        }
    }

    pub fn from_name(name: &str) -> Option<Pipeline> {
        Pipeline::ALL
            .into_iter()
            .find(|pipeline| pipeline.name() == name)
    }

    /// The upstream feeds whose watermarks decide completeness: the dense
    /// event feeds each pipeline is built from. Reference feeds and cost
    /// lines have no event time; flags and experiment assignments come at
    /// any time, for any past period, so waiting for their watermark would
    /// hold every period back for ever: they never hold a period back,
    /// and one that arrives after publication restates it.
    pub fn upstream(self) -> &'static [Feed] {
        match self {
            Pipeline::UnitProfit | Pipeline::AggregateProfit => {
                &[Feed::Billing, Feed::AdRevenue, Feed::Viewing]
            }
            Pipeline::AggregateGrowth | Pipeline::DailyGrowth => &[Feed::Subscriptions],
            Pipeline::AggregateEngagement => &[Feed::Viewing],
        }
    }

    pub fn period_kind(self) -> PeriodKind {
        match self {
            Pipeline::UnitProfit | Pipeline::AggregateProfit => PeriodKind::Month,
            Pipeline::AggregateGrowth | Pipeline::AggregateEngagement => PeriodKind::Week,
            Pipeline::DailyGrowth => PeriodKind::Day,
        }
    }

    /// How long after the period's end its snapshot is published.
    fn publication_delay_ms(self) -> i64 {
        match self {
            Pipeline::DailyGrowth => 2 * HOUR_MS,
            Pipeline::UnitProfit | Pipeline::AggregateProfit => 4 * HOUR_MS,
            Pipeline::AggregateGrowth | Pipeline::AggregateEngagement => {
                WEEKLY_PUBLICATION_DELAY_MS
            }
        }
    }
}

/// One period of a pipeline: its first and last day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub kind: PeriodKindOrd,
    pub first: Day,
    pub last: Day,
}

/// [`PeriodKind`] with an order, for sorting periods.
pub type PeriodKindOrd = u8;

impl Period {
    fn of_day(kind: PeriodKind, day: Day) -> Period {
        match kind {
            PeriodKind::Day => Period {
                kind: 0,
                first: day,
                last: day,
            },
            PeriodKind::Week => Period {
                kind: 1,
                first: day.week(),
                last: day.week().plus(6),
            },
            PeriodKind::Month => {
                let month = day.month();
                Period {
                    kind: 2,
                    first: month.first_day(),
                    last: month.next().first_day().plus(-1),
                }
            }
        }
    }

    /// Parses a period as tables write it: a day, a week's Monday or a month.
    fn parse(kind: PeriodKind, text: &str) -> Option<Period> {
        match kind {
            PeriodKind::Day | PeriodKind::Week => {
                Day::parse(text).map(|day| Period::of_day(kind, day))
            }
            PeriodKind::Month => {
                Month::parse(text).map(|month| Period::of_day(kind, month.first_day()))
            }
        }
    }

    pub fn label(&self) -> String {
        if self.kind == 2 {
            self.first.month().to_string()
        } else {
            self.first.to_string()
        }
    }

    fn end_ms(&self, calendar: &Calendar) -> i64 {
        millis(calendar.end_of(self.last))
    }
}

fn millis(instant: Instant) -> i64 {
    instant.0.div_euclid(1_000_000)
}

/// Which pipeline publishes a table, and which column holds the period.
pub fn table_period(table: &str) -> Option<(Pipeline, &'static str)> {
    Some(match table {
        "engagement_daily" => (Pipeline::AggregateEngagement, "day"),
        "engagement_weekly" => (Pipeline::AggregateEngagement, "week"),
        "growth_daily" | "growth_daily_by_variant" => (Pipeline::DailyGrowth, "day"),
        "growth_weekly" => (Pipeline::AggregateGrowth, "week"),
        "profit_subscriber_monthly" => (Pipeline::UnitProfit, "billing_period"),
        "profit_monthly" => (Pipeline::AggregateProfit, "month"),
        _ => return None,
    })
}

/// Where a row goes: its snapshot key, pipeline and period.
type Placement = (String, Pipeline, Period);
type Place = dyn Fn(&[Cell]) -> Option<Placement>;

/// The function that places a row of `table` in its snapshot, or `None`
/// for a table that is not published.
fn placer(table: &Table) -> Option<Box<Place>> {
    let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let position = |name: &str| columns.iter().position(|c| c == name);
    if table.name == "checks" {
        let (pipeline_at, period_at) = (position("pipeline")?, position("period")?);
        Some(Box::new(move |row: &[Cell]| {
            let pipeline = Pipeline::from_name(&row[pipeline_at].to_string())?;
            let period = Period::parse(pipeline.period_kind(), &row[period_at].to_string())?;
            Some((
                format!("checks/{}/{}", pipeline.name(), period.label()),
                pipeline,
                period,
            ))
        }))
    } else if let Some((pipeline, column)) = table_period(&table.name) {
        let at = position(column)?;
        let name = table.name.clone();
        Some(Box::new(move |row: &[Cell]| {
            let text = row[at].to_string();
            let period = match pipeline.period_kind() {
                PeriodKind::Month => Period::parse(PeriodKind::Month, &text),
                kind => Day::parse(&text).map(|day| Period::of_day(kind, day)),
            }?;
            Some((format!("{name}/{}", period.label()), pipeline, period))
        }))
    } else {
        None
    }
}

/// Each row's snapshot: its key, pipeline and period label, or `None` for
/// rows of tables that are not published.
pub fn row_snapshots(table: &Table) -> Vec<Option<(String, Pipeline, String)>> {
    match placer(table) {
        Some(place) => table
            .rows
            .iter()
            .map(|row| place(row).map(|(key, pipeline, period)| (key, pipeline, period.label())))
            .collect(),
        None => vec![None; table.rows.len()],
    }
}

/// One revision of one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub key: String,
    pub table: String,
    pub pipeline: Pipeline,
    pub period: String,
    pub revision: u32,
    pub digest: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The published form of a snapshot: what goes to the topic and the files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMessage {
    pub table: String,
    pub pipeline: String,
    pub period: String,
    pub revision: u32,
    pub published_at: String,
    /// XXH3-128 of the rows' CSV text: equal digests, equal rows.
    pub digest: String,
    pub columns: Vec<String>,
    /// One object per row, column name to the cell's CSV text (`null` for
    /// an empty cell): decimals stay exact, never rounded through a float.
    pub rows: Vec<BTreeMap<String, Option<String>>>,
}

impl Snapshot {
    pub fn message(&self, published_at: Instant) -> SnapshotMessage {
        SnapshotMessage {
            table: self.table.clone(),
            pipeline: self.pipeline.name().to_string(),
            period: self.period.clone(),
            revision: self.revision,
            published_at: published_at.to_string(),
            digest: self.digest.clone(),
            columns: self.columns.clone(),
            rows: self
                .rows
                .iter()
                .map(|row| {
                    self.columns
                        .iter()
                        .cloned()
                        .zip(row.iter().map(|cell| match cell {
                            Cell::Empty => None,
                            cell => Some(cell.to_string()),
                        }))
                        .collect()
                })
                .collect(),
        }
    }
}

/// The digest of a snapshot's rows, as its revisions carry it.
pub fn digest(rows: &[Vec<Cell>]) -> String {
    let mut text = String::new();
    for row in rows {
        for cell in row {
            text.push_str(&cell.to_string());
            text.push('\u{1f}');
        }
        text.push('\n');
    }
    format!("{:032x}", streamflix_model::fingerprint(&text))
}

/// The latest revision of a published snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub revision: u32,
    pub digest: String,
}

/// A pipeline's watermark and event clock, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PipelineTime {
    pub watermark_ms: Option<i64>,
    pub clock_ms: Option<i64>,
}

/// Decides which snapshots are due and numbers their revisions.
#[derive(Debug)]
pub struct Publisher {
    calendar: Calendar,
    lateness_ms: i64,
    expected_partitions: usize,
    published: BTreeMap<String, Published>,
    times: BTreeMap<Pipeline, PipelineTime>,
    caught_up: bool,
}

impl Publisher {
    /// A publisher that knows what was already published (read back from
    /// the snapshot topic), and expects reports from `expected_partitions`
    /// partitions before it trusts any watermark.
    pub fn new(
        calendar: Calendar,
        lateness_ms: i64,
        expected_partitions: usize,
        published: BTreeMap<String, Published>,
    ) -> Publisher {
        Publisher {
            calendar,
            lateness_ms,
            expected_partitions,
            published,
            times: BTreeMap::new(),
            caught_up: false,
        }
    }

    /// The latest revision per key, from the snapshot messages of the
    /// topic in order; messages that are not snapshots are skipped.
    pub fn recover(messages: &[(String, Vec<u8>)]) -> BTreeMap<String, Published> {
        let mut published = BTreeMap::new();
        for (key, value) in messages {
            let Ok(message) = serde_json::from_slice::<SnapshotMessage>(value) else {
                tracing::warn!(
                    key,
                    "skipping a message of the snapshot topic that is not a snapshot"
                );
                continue;
            };
            let newer = published
                .get(key)
                .is_none_or(|known: &Published| known.revision < message.revision);
            if newer {
                published.insert(
                    key.clone(),
                    Published {
                        revision: message.revision,
                        digest: message.digest,
                    },
                );
            }
        }
        published
    }

    pub fn published(&self) -> &BTreeMap<String, Published> {
        &self.published
    }

    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    pub fn times(&self) -> &BTreeMap<Pipeline, PipelineTime> {
        &self.times
    }

    /// Updates watermarks and clocks from the partitions' reports.
    pub fn observe(&mut self, progress: &[PartitionProgress]) {
        if progress.len() < self.expected_partitions {
            return;
        }
        if !self.caught_up && progress.iter().all(|partition| partition.caught_up) {
            tracing::info!(partitions = progress.len(), "every partition caught up");
            self.caught_up = true;
        }
        for pipeline in Pipeline::ALL {
            let upstream: Vec<&PartitionProgress> = progress
                .iter()
                .filter(|partition| pipeline.upstream().contains(&partition.feed))
                .collect();
            let time = self.times.entry(pipeline).or_default();
            let furthest = upstream.iter().filter_map(|p| p.max_event_ms).max();
            if let Some(clock) = furthest {
                time.clock_ms = Some(time.clock_ms.map_or(clock, |known| known.max(clock)));
            }
            // Partitions that have shown no event time yet (empty ones, or
            // ones whose every message so far was refused) do not hold the
            // watermark back: until every partition has caught up with its
            // start-up end nothing is published anyway, and data that comes
            // later than the watermark restates.
            //
            // When every partition is idle, none holds the watermark back,
            // and it goes as far as the furthest has shown. Waiting for one
            // to flow again instead made the outcome depend on sampling: a
            // restarted service reads a small feed in a moment, and if the
            // dataflow is still busy when the feed goes idle, the publisher
            // never sees it flowing and never publishes its pipeline.
            let reached = crate::clock::partitions_reach(&upstream);
            if let Some(max) = reached {
                let least = max - self.lateness_ms;
                time.watermark_ms = Some(time.watermark_ms.map_or(least, |known| known.max(least)));
            }
        }
    }

    /// The snapshots due now whose rows differ from their last revision,
    /// each with its next revision number. Nothing is due before every
    /// partition has caught up with where it stood at start-up.
    pub fn due(&self, tables: &[Table]) -> Vec<Snapshot> {
        if !self.caught_up {
            return Vec::new();
        }
        let mut groups: BTreeMap<Placement, (Vec<String>, Vec<Vec<Cell>>)> = BTreeMap::new();
        for table in tables {
            let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            let Some(placement) = placer(table) else {
                continue;
            };
            for row in &table.rows {
                let Some((key, pipeline, period)) = placement(row) else {
                    continue;
                };
                groups
                    .entry((key, pipeline, period))
                    .or_insert_with(|| (columns.clone(), Vec::new()))
                    .1
                    .push(row.clone());
            }
        }
        let mut due = Vec::new();
        for ((key, pipeline, period), (columns, rows)) in groups {
            if !self.is_due(pipeline, &period) {
                if key.split('/').next() == Some(MONTH_TO_DATE_TABLE)
                    && let Some(snapshot) =
                        self.month_to_date(&key, pipeline, &period, &columns, &rows)
                {
                    due.push(snapshot);
                }
                continue;
            }
            let digest = digest(&rows);
            let revision = match self.published.get(&key) {
                Some(published) if published.digest == digest => continue,
                Some(published) => published.revision + 1,
                None => 1,
            };
            let table = key.split('/').next().unwrap_or_default().to_string();
            due.push(Snapshot {
                key,
                table,
                pipeline,
                period: period.label(),
                revision,
                digest,
                columns,
                rows,
            });
        }
        due
    }

    /// The weekly run's month-to-date snapshot of an open month: the
    /// month's row as it stands when the latest week ending in the month is
    /// complete and its Monday 06:00 has come, under the key
    /// `<table>/<month>/to-<sunday>`. It is published once and never
    /// revised: it says what was known that Monday; the closed month's own
    /// snapshot is the one that restates.
    fn month_to_date(
        &self,
        key: &str,
        pipeline: Pipeline,
        month: &Period,
        columns: &[String],
        rows: &[Vec<Cell>],
    ) -> Option<Snapshot> {
        let time = self.times.get(&pipeline)?;
        let (watermark, clock) = (time.watermark_ms?, time.clock_ms?);
        let mut sunday = month.first.week().plus(6);
        let mut latest = None;
        while sunday <= month.last {
            let end = millis(self.calendar.end_of(sunday));
            if watermark >= end && clock >= end + WEEKLY_PUBLICATION_DELAY_MS {
                latest = Some(sunday);
            }
            sunday = sunday.plus(7);
        }
        let sunday = latest?;
        let key = format!("{key}/to-{sunday}");
        if self.published.contains_key(&key) {
            return None;
        }
        Some(Snapshot {
            table: MONTH_TO_DATE_TABLE.to_string(),
            pipeline,
            period: format!("{}/to-{sunday}", month.label()),
            revision: 1,
            digest: digest(rows),
            columns: columns.to_vec(),
            rows: rows.to_vec(),
            key,
        })
    }

    /// Whether `period` of `pipeline` is complete and its time has come.
    pub fn is_due(&self, pipeline: Pipeline, period: &Period) -> bool {
        let Some(time) = self.times.get(&pipeline) else {
            return false;
        };
        let end = period.end_ms(&self.calendar);
        let complete = time.watermark_ms.is_some_and(|watermark| watermark >= end);
        let time_has_come = time
            .clock_ms
            .is_some_and(|clock| clock >= end + pipeline.publication_delay_ms());
        complete && time_has_come
    }

    /// Records that `snapshot` reached the topic.
    pub fn mark_published(&mut self, snapshot: &Snapshot) {
        self.published.insert(
            snapshot.key.clone(),
            Published {
                revision: snapshot.revision,
                digest: snapshot.digest.clone(),
            },
        );
    }
}

/// The tables of a store, or none if it is inconsistent (logged).
pub fn tables_of(store: &OutputStore) -> Vec<Table> {
    match store.tables() {
        Ok(tables) => tables,
        Err(error) => {
            tracing::error!(%error, "output store inconsistent, nothing published");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamflix_model::table::{Column, ColumnKind};

    fn progress(feed: Feed, max: Option<i64>, idle: bool) -> PartitionProgress {
        PartitionProgress {
            feed,
            topic: format!("streamflix.{}", feed.name()),
            partition: 0,
            max_event_ms: max,
            idle,
            caught_up: true,
            messages: 1,
        }
    }

    fn weekly(rows: &[(&str, i64)]) -> Table {
        Table {
            name: "engagement_weekly".into(),
            columns: vec![
                Column {
                    name: "week".into(),
                    kind: ColumnKind::Text,
                },
                Column {
                    name: "wau".into(),
                    kind: ColumnKind::Int,
                },
            ],
            rows: rows
                .iter()
                .map(|(week, wau)| vec![Cell::Text(week.to_string()), Cell::Int(*wau)])
                .collect(),
        }
    }

    fn ms(text: &str) -> i64 {
        millis(Instant::parse_rfc3339(text).unwrap())
    }

    #[test]
    fn a_week_is_due_at_monday_six_in_the_morning_and_only_when_complete() {
        let calendar = Calendar::central();
        let mut publisher = Publisher::new(calendar, HOUR_MS, 2, BTreeMap::new());
        let table = weekly(&[("2026-11-02", 10)]);
        // Sunday 23:00 CT: not complete.
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-09T05:00:00Z")), false),
            progress(Feed::AccountFlags, None, true),
        ]);
        assert!(publisher.due(std::slice::from_ref(&table)).is_empty());
        // Monday 05:59 CT (11:59Z): complete, not yet due.
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-09T11:59:00Z")), false),
            progress(Feed::AccountFlags, None, true),
        ]);
        assert!(publisher.due(std::slice::from_ref(&table)).is_empty());
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-09T12:00:00Z")), false),
            progress(Feed::AccountFlags, None, true),
        ]);
        let due = publisher.due(std::slice::from_ref(&table));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, "engagement_weekly/2026-11-02");
        assert_eq!(due[0].revision, 1);
        publisher.mark_published(&due[0]);
        assert!(publisher.due(&[table]).is_empty(), "unchanged: not again");
        let restated = publisher.due(&[weekly(&[("2026-11-02", 11)])]);
        assert_eq!(restated[0].revision, 2);
    }

    fn monthly_profit(rows: &[(&str, i64)]) -> Table {
        Table {
            name: "profit_monthly".into(),
            columns: vec![
                Column {
                    name: "month".into(),
                    kind: ColumnKind::Text,
                },
                Column {
                    name: "billed_subscribers".into(),
                    kind: ColumnKind::Int,
                },
            ],
            rows: rows
                .iter()
                .map(|(month, billed)| vec![Cell::Text(month.to_string()), Cell::Int(*billed)])
                .collect(),
        }
    }

    fn profit_feeds_at(text: &str) -> Vec<PartitionProgress> {
        [Feed::Billing, Feed::AdRevenue, Feed::Viewing]
            .into_iter()
            .map(|feed| progress(feed, Some(ms(text)), false))
            .collect()
    }

    #[test]
    fn the_weekly_run_publishes_the_open_month_to_date_once_per_week() {
        let mut publisher = Publisher::new(Calendar::central(), HOUR_MS, 3, BTreeMap::new());
        // Tuesday 2026-11-10 06:00 CST: October is closed; of November, the
        // weeks ending Sunday 1 and Sunday 8 have had their Monday 06:00,
        // and only the latest is published.
        publisher.observe(&profit_feeds_at("2026-11-10T12:00:00Z"));
        let due = publisher.due(&[monthly_profit(&[("2026-10", 100), ("2026-11", 40)])]);
        let keys: Vec<(&str, &str, u32)> = due
            .iter()
            .map(|s| (s.key.as_str(), s.period.as_str(), s.revision))
            .collect();
        assert_eq!(
            keys,
            [
                ("profit_monthly/2026-10", "2026-10", 1),
                (
                    "profit_monthly/2026-11/to-2026-11-08",
                    "2026-11/to-2026-11-08",
                    1
                ),
            ]
        );
        assert_eq!(due[1].table, "profit_monthly");
        assert_eq!(
            due[1].rows,
            [vec![Cell::Text("2026-11".into()), Cell::Int(40)]]
        );
        for snapshot in &due {
            publisher.mark_published(snapshot);
        }
        // Later November data: the month to date is not revised (it said
        // what was known that Monday); a correction to October is.
        let later = [monthly_profit(&[("2026-10", 101), ("2026-11", 70)])];
        let due = publisher.due(&later);
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].key.as_str(), due[0].revision),
            ("profit_monthly/2026-10", 2)
        );
        publisher.mark_published(&due[0]);
        // Monday 2026-11-16 05:59 CST: the next week is complete but its
        // time has not come; at 06:00 it has.
        publisher.observe(&profit_feeds_at("2026-11-16T11:59:00Z"));
        assert!(publisher.due(&later).is_empty());
        publisher.observe(&profit_feeds_at("2026-11-16T12:00:00Z"));
        let due = publisher.due(&later);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, "profit_monthly/2026-11/to-2026-11-15");
        assert_eq!(
            due[0].rows,
            [vec![Cell::Text("2026-11".into()), Cell::Int(70)]]
        );
    }

    #[test]
    fn the_least_flowing_partition_sets_the_watermark_and_idle_ones_do_not() {
        let mut publisher = Publisher::new(Calendar::central(), HOUR_MS, 4, BTreeMap::new());
        let week = || weekly(&[("2026-11-02", 10)]);
        // One viewing partition is behind (Sunday noon CT) and flowing: the
        // week is not complete. Flags never hold back.
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-20T00:00:00Z")), false),
            progress(Feed::Viewing, Some(ms("2026-11-08T18:00:00Z")), false),
            progress(Feed::Viewing, None, false),
            progress(Feed::AccountFlags, Some(ms("2026-08-01T00:00:00Z")), false),
        ]);
        assert!(publisher.due(&[week()]).is_empty());
        // The lagging partition goes idle: it no longer holds back.
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-20T00:00:00Z")), false),
            progress(Feed::Viewing, Some(ms("2026-11-08T18:00:00Z")), true),
            progress(Feed::Viewing, None, false),
            progress(Feed::AccountFlags, Some(ms("2026-08-01T00:00:00Z")), false),
        ]);
        assert_eq!(publisher.due(&[week()]).len(), 1);
        // Watermarks never move back, even when everything goes quiet.
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-20T00:00:00Z")), true),
            progress(Feed::Viewing, Some(ms("2026-11-08T18:00:00Z")), true),
            progress(Feed::Viewing, None, true),
            progress(Feed::AccountFlags, Some(ms("2026-08-01T00:00:00Z")), true),
        ]);
        assert_eq!(publisher.due(&[week()]).len(), 1);
    }

    #[test]
    fn when_every_partition_is_idle_the_furthest_one_sets_the_watermark() {
        let mut publisher = Publisher::new(Calendar::central(), HOUR_MS, 3, BTreeMap::new());
        let week = || weekly(&[("2026-11-02", 10)]);
        // The publisher never saw them flowing (the dataflow was busy while
        // they were read): the lagging partition must not hold back.
        publisher.observe(&[
            progress(Feed::Viewing, Some(ms("2026-11-20T00:00:00Z")), true),
            progress(Feed::Viewing, Some(ms("2026-11-08T18:00:00Z")), true),
            progress(Feed::AccountFlags, Some(ms("2026-08-01T00:00:00Z")), false),
        ]);
        assert_eq!(
            publisher.times()[&Pipeline::AggregateEngagement].watermark_ms,
            Some(ms("2026-11-20T00:00:00Z") - HOUR_MS)
        );
        assert_eq!(publisher.due(&[week()]).len(), 1);
        // No event time at all: still no watermark.
        let mut empty = Publisher::new(Calendar::central(), HOUR_MS, 1, BTreeMap::new());
        empty.observe(&[progress(Feed::Viewing, None, true)]);
        assert_eq!(
            empty.times()[&Pipeline::AggregateEngagement].watermark_ms,
            None
        );
    }

    #[test]
    fn nothing_is_due_before_every_partition_reported_and_caught_up() {
        let mut publisher = Publisher::new(Calendar::central(), HOUR_MS, 3, BTreeMap::new());
        let far = Some(ms("2026-12-20T00:00:00Z"));
        publisher.observe(&[
            progress(Feed::Viewing, far, false),
            progress(Feed::AccountFlags, far, false),
        ]);
        assert!(publisher.due(&[weekly(&[("2026-11-02", 10)])]).is_empty());
        let mut behind = progress(Feed::Subscriptions, far, false);
        behind.caught_up = false;
        publisher.observe(&[
            progress(Feed::Viewing, far, false),
            progress(Feed::AccountFlags, far, false),
            behind,
        ]);
        assert!(publisher.due(&[weekly(&[("2026-11-02", 10)])]).is_empty());
    }

    #[test]
    fn recovery_keeps_the_latest_revision_and_a_restart_republishes_nothing_unchanged() {
        let table = weekly(&[("2026-11-02", 10)]);
        let snapshot = Snapshot {
            key: "engagement_weekly/2026-11-02".into(),
            table: "engagement_weekly".into(),
            pipeline: Pipeline::AggregateEngagement,
            period: "2026-11-02".into(),
            revision: 3,
            digest: digest(&table.rows),
            columns: vec!["week".into(), "wau".into()],
            rows: table.rows.clone(),
        };
        let mut old = snapshot.clone();
        old.revision = 2;
        old.digest = "stale".into();
        let messages: Vec<(String, Vec<u8>)> = [snapshot.clone(), old]
            .iter()
            .map(|s| {
                (
                    s.key.clone(),
                    serde_json::to_vec(&s.message(Instant(0))).unwrap(),
                )
            })
            .collect();
        let published = Publisher::recover(&messages);
        assert_eq!(published[&snapshot.key].revision, 3);
        let mut publisher = Publisher::new(Calendar::central(), HOUR_MS, 1, published);
        publisher.observe(&[progress(
            Feed::Viewing,
            Some(ms("2026-12-01T00:00:00Z")),
            true,
        )]);
        assert!(publisher.due(&[table]).is_empty());
        assert_eq!(
            publisher.due(&[weekly(&[("2026-11-02", 12)])])[0].revision,
            4
        );
    }
}
