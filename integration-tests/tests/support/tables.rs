//! The replay contract's files as the batch oracle says they must be: the
//! same rows, formatted by the row types and written by the same CSV
//! writer, so that the engine's files can be compared byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use streamflix_connectors::files::{DirectoryContents, read_directory};
use streamflix_connectors::sinks::write_csv;
use streamflix_model::Calendar;
use streamflix_model::records::Record;
use streamflix_model::table::{Cell, Table};
use streamflix_operators::engagement::{CheckRow, EngagementDay, EngagementWeek};
use streamflix_operators::growth::{GrowthDay, GrowthVariantDay, GrowthWeek};
use streamflix_operators::profit::{ProfitMonth, ProfitSubscriberMonth};

use super::{growth_oracle, oracle, profit_oracle};

/// The files replay must write, by file name, as computed by the oracle
/// from the same input directory.
pub struct Expected {
    pub files: BTreeMap<&'static str, Vec<u8>>,
    /// The growth oracle's result, to check what the data exercises.
    pub growth: growth_oracle::GrowthOracle,
    /// What a single plain reader decoded from the directory.
    pub contents: DirectoryContents,
}

/// The table files replay compares against the oracle.
pub const TABLE_FILES: [&str; 9] = [
    "engagement_daily.csv",
    "engagement_weekly.csv",
    "growth_daily.csv",
    "growth_daily_by_variant.csv",
    "growth_weekly.csv",
    "profit_subscriber_monthly.csv",
    "profit_monthly.csv",
    "checks.csv",
    "data_quality.csv",
];

/// Decodes `input` with the connectors' reader, runs the oracle, and
/// formats its rows as the engine's CSV files and dead-letter file.
pub fn expected(input: &Path, calendar: &Calendar) -> Expected {
    let contents = read_directory(input).expect("the input directory is readable");
    let mut viewing = Vec::new();
    let mut flags = Vec::new();
    let (mut subscriptions, mut assignments, mut catalog) = (Vec::new(), Vec::new(), Vec::new());
    for record in &contents.records {
        match record {
            Record::Viewing(event) => viewing.push(event.clone()),
            Record::AccountFlag(flag) => flags.push(flag.clone()),
            Record::Subscription(event) => subscriptions.push(event.clone()),
            Record::ExperimentAssignment(event) => assignments.push(event.clone()),
            Record::PlanCatalog(row) => catalog.push(row.clone()),
            _ => {}
        }
    }
    let oracle = oracle::engagement(&viewing, &flags, calendar);
    let growth = growth_oracle::growth(&subscriptions, &assignments, &flags, &catalog, calendar);
    let profit = profit_oracle::profit(&contents.records, calendar);
    let mut checks: Vec<Vec<Cell>> = oracle
        .weekly
        .iter()
        .filter_map(EngagementWeek::skew_check)
        .chain(growth.daily.iter().flat_map(GrowthDay::checks))
        .chain(growth.weekly.iter().map(GrowthWeek::plans_check))
        .map(|check| check.cells())
        .chain(profit.checks)
        .collect();
    checks.sort_by_key(|row| (row[0].to_string(), row[1].to_string(), row[2].to_string()));
    let daily = Table {
        name: EngagementDay::TABLE.into(),
        columns: EngagementDay::columns(),
        rows: oracle.daily.iter().map(EngagementDay::cells).collect(),
    };
    let weekly = Table {
        name: EngagementWeek::TABLE.into(),
        columns: EngagementWeek::columns(),
        rows: oracle.weekly.iter().map(EngagementWeek::cells).collect(),
    };
    let checks = Table {
        name: CheckRow::TABLE.into(),
        columns: CheckRow::columns(),
        rows: checks,
    };
    let unit_profit = Table {
        name: ProfitSubscriberMonth::TABLE.into(),
        columns: ProfitSubscriberMonth::columns(),
        rows: profit.subscriber_monthly,
    };
    let monthly_profit = Table {
        name: ProfitMonth::TABLE.into(),
        columns: ProfitMonth::columns(),
        rows: profit.monthly,
    };
    let mut files = BTreeMap::new();
    files.insert("engagement_daily.csv", csv_bytes(&daily));
    files.insert("engagement_weekly.csv", csv_bytes(&weekly));
    files.insert(
        "growth_daily.csv",
        csv_bytes(&Table {
            name: GrowthDay::TABLE.into(),
            columns: GrowthDay::columns(),
            rows: growth.daily.iter().map(GrowthDay::cells).collect(),
        }),
    );
    files.insert(
        "growth_daily_by_variant.csv",
        csv_bytes(&Table {
            name: GrowthVariantDay::TABLE.into(),
            columns: GrowthVariantDay::columns(),
            rows: growth
                .by_variant
                .iter()
                .map(GrowthVariantDay::cells)
                .collect(),
        }),
    );
    files.insert(
        "growth_weekly.csv",
        csv_bytes(&Table {
            name: GrowthWeek::TABLE.into(),
            columns: GrowthWeek::columns(),
            rows: growth.weekly.iter().map(GrowthWeek::cells).collect(),
        }),
    );
    files.insert("profit_subscriber_monthly.csv", csv_bytes(&unit_profit));
    files.insert("profit_monthly.csv", csv_bytes(&monthly_profit));
    files.insert("checks.csv", csv_bytes(&checks));
    // Viewing's conflicting duplicates (engagement), then the other feeds'
    // issues by feed and issue name. Growth and profit both report the
    // experiment assignments' issues (the engine computes them once): their
    // two oracles must agree on them.
    let mut quality_counts = growth.issues.clone();
    for (key, count) in &profit.quality {
        if let Some(growth_count) = quality_counts.insert(*key, *count) {
            assert_eq!(
                growth_count, *count,
                "the growth and profit oracles disagree on {key:?}"
            );
        }
    }
    let mut quality = String::from("feed,issue,count\n");
    if oracle.conflicting_duplicates > 0 {
        quality.push_str(&format!(
            "viewing,conflicting_duplicate,{}\n",
            oracle.conflicting_duplicates
        ));
    }
    for ((feed, issue), count) in &quality_counts {
        quality.push_str(&format!("{},{issue},{count}\n", feed.name()));
    }
    files.insert("data_quality.csv", quality.into_bytes());
    let mut letters = String::new();
    for letter in &contents.dead_letters {
        letters.push_str(&letter.to_json_line());
        letters.push('\n');
    }
    files.insert("dead_letters.jsonl", letters.into_bytes());
    Expected {
        files,
        growth,
        contents,
    }
}

pub fn csv_bytes(table: &Table) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv(table, &mut out).expect("writing to memory cannot fail");
    out
}

/// Compares one written file with its expected bytes, showing the first
/// line that differs.
pub fn assert_file_eq(dir: &Path, name: &str, expected: &[u8], context: &str) {
    let path = dir.join(name);
    let actual = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("{context}: cannot read {}: {error}", path.display()));
    if actual == expected {
        return;
    }
    let actual = String::from_utf8_lossy(&actual);
    let expected = String::from_utf8_lossy(expected);
    let (actual_lines, expected_lines): (Vec<&str>, Vec<&str>) =
        (actual.lines().collect(), expected.lines().collect());
    let first = (0..actual_lines.len().max(expected_lines.len()))
        .find(|&i| actual_lines.get(i) != expected_lines.get(i))
        .unwrap_or(0);
    let show = |lines: &[&str]| {
        lines
            .get(first)
            .map(|line| line.chars().take(400).collect::<String>())
    };
    panic!(
        "{context}: {name} differs from the oracle ({} lines written, {} expected); first difference at line {}:\n  written:  {:?}\n  expected: {:?}",
        actual_lines.len(),
        expected_lines.len(),
        first + 1,
        show(&actual_lines),
        show(&expected_lines),
    );
}
