//! `streamflix demo`: a few weeks of synthetic Streamflix, replayed.
//!
//! The one command a new user runs first: it needs no Kafka and no input.
//! It generates the feeds, replays them through every pipeline, prints the
//! latest weekly snapshot, the month-to-date profit and the failing checks,
//! and says where the tables are.

use std::fmt::Write as _;
use std::path::PathBuf;

use streamflix_model::table::Table;

/// A table as aligned text columns, for a terminal.
pub fn render(table: &Table) -> String {
    let header: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| row.iter().map(short).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    for line in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:>width$}"))
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    text
}

/// A wide table with few rows, on its side: one line per column, one
/// column per row (the profit months).
pub fn render_transposed(table: &Table) -> String {
    let mut columns: Vec<Vec<String>> =
        vec![table.columns.iter().map(|c| c.name.clone()).collect()];
    columns.extend(
        table
            .rows
            .iter()
            .map(|row| row.iter().map(short).collect::<Vec<_>>()),
    );
    let widths: Vec<usize> = columns
        .iter()
        .map(|column| column.iter().map(String::len).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for line in 0..table.columns.len() {
        let cells: Vec<String> = columns
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (column, width))| {
                if i == 0 {
                    format!("{:<width$}", column[line])
                } else {
                    format!("{:>width$}", column[line])
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    text
}

/// The rows of the `checks` table whose status is `fail`.
pub fn failing_checks(checks: &Table) -> Table {
    let status = checks.columns.iter().position(|c| c.name == "status");
    Table {
        name: checks.name.clone(),
        columns: checks.columns.clone(),
        rows: checks
            .rows
            .iter()
            .filter(|row| {
                status.is_some_and(
                    |i| matches!(&row[i], streamflix_model::table::Cell::Text(s) if s == "fail"),
                )
            })
            .cloned()
            .collect(),
    }
}

/// Floats shortened to 4 decimals for the screen; files keep full precision.
fn short(cell: &streamflix_model::table::Cell) -> String {
    match cell {
        streamflix_model::table::Cell::Float(value) => {
            let text = format!("{value:.4}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        other => other.to_string(),
    }
}

/// Where the demo writes.
#[derive(Clone, Debug)]
pub struct DemoPaths {
    pub input: PathBuf,
    pub out: PathBuf,
}

impl DemoPaths {
    pub fn under(dir: impl Into<PathBuf>) -> DemoPaths {
        let dir = dir.into();
        DemoPaths {
            input: dir.join("input"),
            out: dir.join("out"),
        }
    }
}

/// The demo's view for the query API: the replayed tables, with every
/// snapshot that would be due by the end of the generated range published
/// once (revision 1, now), as the service would have published it had it
/// read the same feeds live; later periods stay provisional.
pub fn publish_replayed(
    summary: &crate::replay::ReplaySummary,
    calendar: &streamflix_model::Calendar,
    last_day: streamflix_model::Day,
    shared: std::sync::Arc<streamflix_api::Shared>,
) -> usize {
    use streamflix_connectors::kafka::source::PartitionProgress;
    use streamflix_model::Feed;

    let clock_ms = calendar.end_of(last_day).0.div_euclid(1_000_000);
    let feeds = [
        Feed::Viewing,
        Feed::Subscriptions,
        Feed::Billing,
        Feed::AdRevenue,
    ];
    let progress: Vec<PartitionProgress> = feeds
        .iter()
        .map(|feed| PartitionProgress {
            feed: *feed,
            topic: feed.name().to_string(),
            partition: 0,
            max_event_ms: Some(clock_ms),
            idle: false,
            caught_up: true,
            messages: summary.read.get(feed).copied().unwrap_or(0),
        })
        .collect();
    let mut publisher = crate::snapshots::Publisher::new(
        calendar.clone(),
        crate::clock::DEFAULT_LATENESS_MS,
        feeds.len(),
        Default::default(),
    );
    publisher.observe(&progress);
    let mut feed = crate::api::ApiFeed::new(shared);
    let due = publisher.due(&summary.tables);
    let now = streamflix_model::Instant(crate::api::wall_ms() * 1_000_000);
    for snapshot in &due {
        publisher.mark_published(snapshot);
        feed.published(snapshot, now, None);
    }
    let intake = crate::api::Intake {
        feeds: crate::api::feeds_from_counts(&summary.read),
        dead_letters: summary
            .dead_letters
            .iter()
            .map(|((feed, kind), count)| ((feed.name().to_string(), kind.clone()), *count))
            .collect(),
    };
    feed.refresh(
        summary.tables.clone(),
        publisher.published(),
        publisher.times(),
        intake,
    );
    due.len()
}

#[cfg(test)]
mod tests {
    use streamflix_model::table::{Cell, Column, ColumnKind};

    use super::*;

    #[test]
    fn renders_aligned_columns() {
        let table = Table {
            name: "t".into(),
            columns: vec![
                Column {
                    name: "week".into(),
                    kind: ColumnKind::Text,
                },
                Column {
                    name: "rate".into(),
                    kind: ColumnKind::Float,
                },
            ],
            rows: vec![
                vec![Cell::Text("2026-11-23".into()), Cell::Float(0.123456)],
                vec![Cell::Text("x".into()), Cell::Empty],
            ],
        };
        assert_eq!(
            render(&table),
            "      week    rate\n2026-11-23  0.1235\n         x\n"
        );
        assert_eq!(
            render_transposed(&table),
            "week  2026-11-23  x\nrate      0.1235\n"
        );
    }

    #[test]
    fn keeps_only_failing_checks() {
        let text = |s: &str| Cell::Text(s.into());
        let checks = Table {
            name: "checks".into(),
            columns: ["pipeline", "check", "period", "status"]
                .iter()
                .map(|name| Column {
                    name: name.to_string(),
                    kind: ColumnKind::Text,
                })
                .collect(),
            rows: vec![
                vec![
                    text("unit_profit"),
                    text("pk_unique"),
                    text("2026-10"),
                    text("pass"),
                ],
                vec![
                    text("unit_profit"),
                    text("pk_unique"),
                    text("2026-11"),
                    text("fail"),
                ],
            ],
        };
        let failing = failing_checks(&checks);
        assert_eq!(failing.rows, vec![checks.rows[1].clone()]);
    }
}
