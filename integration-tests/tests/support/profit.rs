//! The profit part of a store's tables, as text, for comparisons.

use streamflix_engine::output::OutputStore;
use streamflix_model::table::{Cell, Table};

use super::profit_oracle::ProfitOracle;

/// The profit tables as their CSV text, cell by cell.
#[derive(Debug, PartialEq)]
pub struct ProfitTables {
    pub subscriber_monthly: Vec<Vec<String>>,
    pub monthly: Vec<Vec<String>>,
    /// The `unit_profit` and `aggregate_profit` rows of `checks`.
    pub checks: Vec<Vec<String>>,
    /// `data_quality` rows of the feeds profit reads (viewing's belong to
    /// engagement).
    pub quality: Vec<Vec<String>>,
}

fn text(rows: &[Vec<Cell>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(Cell::to_string).collect())
        .collect()
}

fn table<'t>(tables: &'t [Table], name: &str) -> &'t Table {
    tables
        .iter()
        .find(|table| table.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

/// The profit tables of `store`.
pub fn profit_tables(store: &OutputStore) -> ProfitTables {
    let tables = store.tables().expect("every row has multiplicity 1");
    let checks = text(&table(&tables, "checks").rows)
        .into_iter()
        .filter(|row| row[0] == "unit_profit" || row[0] == "aggregate_profit")
        .collect();
    let quality = text(&table(&tables, "data_quality").rows)
        .into_iter()
        .filter(|row| row[0] != "viewing")
        .collect();
    ProfitTables {
        subscriber_monthly: text(&table(&tables, "profit_subscriber_monthly").rows),
        monthly: text(&table(&tables, "profit_monthly").rows),
        checks,
        quality,
    }
}

impl From<ProfitOracle> for ProfitTables {
    fn from(oracle: ProfitOracle) -> ProfitTables {
        ProfitTables {
            subscriber_monthly: text(&oracle.subscriber_monthly),
            monthly: text(&oracle.monthly),
            checks: text(&oracle.checks),
            quality: oracle
                .quality
                .iter()
                .map(|((feed, issue), count)| {
                    vec![feed.to_string(), issue.to_string(), count.to_string()]
                })
                .collect(),
        }
    }
}

impl ProfitTables {
    /// Panics with the first row that differs, table by table.
    pub fn assert_eq(&self, expected: &ProfitTables, context: &str) {
        for (name, actual, expected) in [
            (
                "profit_subscriber_monthly",
                &self.subscriber_monthly,
                &expected.subscriber_monthly,
            ),
            ("profit_monthly", &self.monthly, &expected.monthly),
            ("checks", &self.checks, &expected.checks),
            ("data_quality", &self.quality, &expected.quality),
        ] {
            if actual == expected {
                continue;
            }
            let first = (0..actual.len().max(expected.len()))
                .find(|&i| actual.get(i) != expected.get(i))
                .unwrap_or(0);
            panic!(
                "{context}: {name} differs from the oracle ({} rows, {} expected); first difference at row {first}:\n  dataflow: {:?}\n  oracle:   {:?}",
                actual.len(),
                expected.len(),
                actual.get(first),
                expected.get(first),
            );
        }
    }
}
