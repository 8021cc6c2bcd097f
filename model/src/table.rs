//! Output tables as plain rows of cells, ready for any writer.
//!
//! The operators produce typed rows; the engine turns each into a [`Table`]
//! of [`Cell`]s with the exact column order of the metric definitions, and
//! the connectors write that to CSV, Parquet or Arrow.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a column holds, for writers that need a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    /// Whole numbers: counts.
    Int,
    /// Ratios, hours, means: written as plain decimals.
    Float,
    /// Exact amounts in millionths ([`crate::Micros`]).
    Money,
    /// Keys and labels: days, months, ids.
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// One value of a row. `Empty` is a value with no source or a ratio over
/// zero: an empty CSV field, a null elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    Empty,
    Int(i64),
    Float(f64),
    Money(crate::Micros),
    Text(String),
}

impl Cell {
    /// A ratio, empty when the denominator is zero.
    pub fn ratio(numerator: f64, denominator: f64) -> Cell {
        if denominator == 0.0 {
            Cell::Empty
        } else {
            Cell::Float(numerator / denominator)
        }
    }
}

impl fmt::Display for Cell {
    /// The CSV text: plain decimals, never exponent notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Empty => Ok(()),
            Cell::Int(value) => write!(f, "{value}"),
            // Rust's `Display` for f64 prints the shortest text that reads
            // back to the same float, and never uses an exponent.
            Cell::Float(value) => write!(f, "{value}"),
            Cell::Money(value) => write!(f, "{value}"),
            Cell::Text(value) => f.write_str(value),
        }
    }
}

/// A whole table: its name, its columns in order, and rows sorted by key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_print_as_plain_decimals() {
        assert_eq!(Cell::Float(1e-7).to_string(), "0.0000001");
        assert_eq!(Cell::Float(2.5).to_string(), "2.5");
        assert_eq!(Cell::Float(3.0).to_string(), "3");
        assert_eq!(Cell::Int(-4).to_string(), "-4");
        assert_eq!(Cell::Empty.to_string(), "");
        assert_eq!(Cell::ratio(1.0, 0.0), Cell::Empty);
        assert_eq!(Cell::Money(crate::Micros(1_500_000)).to_string(), "1.5");
    }
}
