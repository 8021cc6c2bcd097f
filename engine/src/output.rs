//! What the dataflow hands to the outside world, and where it collects.
//!
//! Every table row, data-quality count and dead letter leaves the dataflow
//! as one [`Output`] update. All updates are routed to worker 0, which
//! applies them to a shared [`OutputStore`]: a multiset per output, so a
//! retraction (a restated row) cancels the row it replaces.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use streamflix_connectors::kafka::source::PartitionProgress;
use streamflix_model::Feed;

use crate::dataflow::Epoch;
use streamflix_model::table::{Cell, Column, ColumnKind, Table};
use streamflix_operators::engagement::{CheckRow, EngagementDay, EngagementWeek};
use streamflix_operators::growth::{GrowthDay, GrowthVariantDay, GrowthWeek};
use streamflix_operators::profit::{ProfitMonth, ProfitSubscriberMonth};

/// A record that could not be used, with where it came from and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeadLetterRow {
    pub feed: Feed,
    /// The file or topic-partition.
    pub source: String,
    /// The 1-based line, or the offset.
    pub line: u64,
    /// A short code for counting (`not_json`, `out_of_range`, ...).
    pub kind: String,
    pub reason: String,
    pub raw: String,
}

impl From<streamflix_connectors::dead_letter::DeadLetter> for DeadLetterRow {
    /// Positions `file:line` (or `topic/partition:offset`) keep their
    /// number apart so that letters sort in source order.
    fn from(letter: streamflix_connectors::dead_letter::DeadLetter) -> Self {
        let (source, line) = match letter.position.rsplit_once(':') {
            Some((source, number)) if number.parse::<u64>().is_ok() => {
                (source.to_string(), number.parse().expect("checked above"))
            }
            _ => (letter.position.clone(), 0),
        };
        DeadLetterRow {
            feed: letter.feed,
            source,
            line,
            kind: letter.kind.to_string(),
            reason: letter.reason,
            raw: letter.raw,
        }
    }
}

impl DeadLetterRow {
    pub fn position(&self) -> String {
        format!("{}:{}", self.source, self.line)
    }
}

/// A data-quality issue that did not stop a record from counting.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QualityCount {
    pub feed: Feed,
    pub issue: String,
    pub count: i64,
}

/// One row of one output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Output {
    EngagementDaily(EngagementDay),
    EngagementWeekly(EngagementWeek),
    GrowthDaily(GrowthDay),
    GrowthDailyByVariant(GrowthVariantDay),
    GrowthWeekly(GrowthWeek),
    ProfitSubscriberMonthly(ProfitSubscriberMonth),
    ProfitMonthly(ProfitMonth),
    Quality(QualityCount),
    DeadLetter(DeadLetterRow),
    /// A Kafka partition's reader state: not a table row.
    Progress(PartitionProgress),
}

impl Output {
    /// The last day of the period the row describes, for rows of periods.
    pub fn last_day(&self) -> Option<streamflix_model::Day> {
        match self {
            Output::EngagementDaily(row) => Some(row.day),
            Output::EngagementWeekly(row) => Some(row.week.plus(6)),
            Output::GrowthDaily(row) => Some(row.day),
            Output::GrowthDailyByVariant(row) => Some(row.day),
            Output::GrowthWeekly(row) => Some(row.week.plus(6)),
            Output::ProfitSubscriberMonthly(row) => {
                Some(row.billing_period.next().first_day().plus(-1))
            }
            Output::ProfitMonthly(row) => Some(row.last_day()),
            Output::Quality(_) | Output::DeadLetter(_) | Output::Progress(_) => None,
        }
    }
}

/// The current contents of every output: rows with their multiplicities.
#[derive(Debug, Default)]
pub struct OutputStore {
    rows: BTreeMap<Output, i64>,
    /// The sink's frontier: every epoch before it is in `rows`; `None`
    /// once the input has ended (or before the first update).
    frontier: Option<Epoch>,
    /// Bumped by every change, so that readers can skip an unchanged store.
    version: u64,
    /// The dataflow's input has ended and every update is in.
    closed: bool,
}

/// An output row whose multiplicity is not 1: a bug, never a data problem.
#[derive(Debug, thiserror::Error)]
#[error(
    "output row {row:?} has multiplicity {count}, expected 1; this is a streamflix bug, please report it"
)]
pub struct InconsistentOutput {
    row: String,
    count: i64,
}

pub type SharedStore = Arc<Mutex<OutputStore>>;

impl OutputStore {
    pub fn frontier(&self) -> Option<Epoch> {
        self.frontier
    }

    pub fn set_frontier(&mut self, frontier: Option<Epoch>) {
        self.closed |= frontier.is_none();
        if self.frontier != frontier {
            self.frontier = frontier;
            self.version += 1;
        }
    }

    /// Whether every update the dataflow will ever send is in.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Changes whenever a row or the frontier changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The current state of every Kafka partition's reader.
    pub fn progress(&self) -> Vec<PartitionProgress> {
        self.rows
            .keys()
            .filter_map(|row| match row {
                Output::Progress(progress) => Some(progress.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn apply(&mut self, row: Output, diff: i64) {
        self.version += 1;
        let entry = self.rows.entry(row.clone()).or_insert(0);
        *entry += diff;
        if *entry == 0 {
            self.rows.remove(&row);
        }
    }

    /// Every row, once each, in key order.
    pub fn rows(&self) -> Result<Vec<&Output>, InconsistentOutput> {
        self.rows
            .iter()
            .map(|(row, count)| {
                if *count == 1 {
                    Ok(row)
                } else {
                    Err(InconsistentOutput {
                        row: format!("{row:?}"),
                        count: *count,
                    })
                }
            })
            .collect()
    }

    /// The tables of the metric definitions, in their published form.
    pub fn tables(&self) -> Result<Vec<Table>, InconsistentOutput> {
        let rows = self.rows()?;
        let mut daily = Vec::new();
        let mut weekly = Vec::new();
        let mut checks: Vec<CheckRow> = Vec::new();
        let (mut growth_daily, mut growth_by_variant, mut growth_weekly) =
            (Vec::new(), Vec::new(), Vec::new());
        let (mut unit_profit, mut monthly_profit) = (Vec::new(), Vec::new());
        let mut quality = Vec::new();
        for row in rows {
            match row {
                Output::EngagementDaily(day) => daily.push(day.cells()),
                Output::EngagementWeekly(week) => {
                    weekly.push(week.cells());
                    checks.extend(week.skew_check());
                }
                Output::GrowthDaily(day) => {
                    growth_daily.push(day.cells());
                    checks.extend(day.checks());
                }
                Output::GrowthDailyByVariant(row) => growth_by_variant.push(row.cells()),
                Output::GrowthWeekly(week) => {
                    growth_weekly.push(week.cells());
                    checks.push(week.plans_check());
                }
                Output::ProfitSubscriberMonthly(row) => unit_profit.push(row.cells()),
                Output::ProfitMonthly(month) => {
                    monthly_profit.push(month.cells());
                    checks.extend(month.checks());
                }
                Output::Quality(count) => quality.push(vec![
                    Cell::Text(count.feed.to_string()),
                    Cell::Text(count.issue.clone()),
                    Cell::Int(count.count),
                ]),
                Output::DeadLetter(_) | Output::Progress(_) => {}
            }
        }
        checks.sort_by(|a, b| {
            (a.pipeline, a.check, &a.period).cmp(&(b.pipeline, b.check, &b.period))
        });
        Ok(vec![
            Table {
                name: EngagementDay::TABLE.into(),
                columns: EngagementDay::columns(),
                rows: daily,
            },
            Table {
                name: EngagementWeek::TABLE.into(),
                columns: EngagementWeek::columns(),
                rows: weekly,
            },
            Table {
                name: GrowthDay::TABLE.into(),
                columns: GrowthDay::columns(),
                rows: growth_daily,
            },
            Table {
                name: GrowthVariantDay::TABLE.into(),
                columns: GrowthVariantDay::columns(),
                rows: growth_by_variant,
            },
            Table {
                name: GrowthWeek::TABLE.into(),
                columns: GrowthWeek::columns(),
                rows: growth_weekly,
            },
            Table {
                name: ProfitSubscriberMonth::TABLE.into(),
                columns: ProfitSubscriberMonth::columns(),
                rows: unit_profit,
            },
            Table {
                name: ProfitMonth::TABLE.into(),
                columns: ProfitMonth::columns(),
                rows: monthly_profit,
            },
            Table {
                name: CheckRow::TABLE.into(),
                columns: CheckRow::columns(),
                rows: checks.iter().map(CheckRow::cells).collect(),
            },
            Table {
                name: "data_quality".into(),
                columns: vec![
                    Column {
                        name: "feed".into(),
                        kind: ColumnKind::Text,
                    },
                    Column {
                        name: "issue".into(),
                        kind: ColumnKind::Text,
                    },
                    Column {
                        name: "count".into(),
                        kind: ColumnKind::Int,
                    },
                ],
                rows: quality,
            },
        ])
    }

    /// Dead letters in feed and position order.
    pub fn dead_letters(&self) -> Vec<DeadLetterRow> {
        self.rows
            .keys()
            .filter_map(|row| match row {
                Output::DeadLetter(letter) => Some(letter.clone()),
                _ => None,
            })
            .collect()
    }
}
