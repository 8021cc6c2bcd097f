//! Table metadata, filters and encodings.
//!
//! Metadata comes from the tables themselves: a table's key is its columns
//! whose names are dimensions ([`KEY_COLUMNS`], the key columns of the
//! metric definitions), its period is the first of [`PERIOD_COLUMNS`] it
//! has. A table the engine adds later gets both without a change here.
//!
//! Every row carries two columns beside the table's own: `provisional`
//! (`true` until its snapshot is published, or again once it changed since)
//! and `revision` (the revision it was published in, else empty).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use streamflix_model::table::{Cell, Column, ColumnKind, Table};

use crate::access::{Role, readers};
use crate::state::ApiTable;

/// Column names that identify a row (with the period).
pub const KEY_COLUMNS: &[&str] = &[
    "day",
    "week",
    "month",
    "billing_period",
    "period",
    "pipeline",
    "check",
    "experiment_id",
    "variant",
    "subscriber_id",
    "feed",
    "issue",
];

/// Column names that hold a row's period, in order of preference.
pub const PERIOD_COLUMNS: &[&str] = &["day", "week", "month", "billing_period", "period"];

/// A table's description for `GET /v1/tables`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMeta {
    pub name: String,
    pub key: Vec<String>,
    pub period_column: Option<String>,
    pub columns: Vec<ColumnMeta>,
    pub roles: Vec<Role>,
    pub rows: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub name: String,
    /// `int`, `float`, `money` (an exact decimal, as a string in JSON) or `text`.
    pub kind: String,
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Int => "int",
        ColumnKind::Float => "float",
        ColumnKind::Money => "money",
        ColumnKind::Text => "text",
    }
}

pub fn meta(table: &Table) -> TableMeta {
    TableMeta {
        name: table.name.clone(),
        key: table
            .columns
            .iter()
            .filter(|column| KEY_COLUMNS.contains(&column.name.as_str()))
            .map(|column| column.name.clone())
            .collect(),
        period_column: period_column(table).map(|at| table.columns[at].name.clone()),
        columns: table
            .columns
            .iter()
            .map(|column| ColumnMeta {
                name: column.name.clone(),
                kind: kind_name(column.kind).into(),
            })
            .collect(),
        roles: readers(&table.name),
        rows: table.rows.len(),
    }
}

fn period_column(table: &Table) -> Option<usize> {
    PERIOD_COLUMNS
        .iter()
        .find_map(|name| table.columns.iter().position(|c| c.name == *name))
}

/// The filters of `GET /v1/tables/{table}`; all optional, all must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// First period, inclusive: `YYYY-MM-DD` or `YYYY-MM`.
    pub from: Option<String>,
    /// Last period, inclusive: `YYYY-MM-DD` or `YYYY-MM` (the whole month).
    pub to: Option<String>,
    pub experiment: Option<String>,
    pub variant: Option<String>,
    pub subscriber: Option<String>,
    /// `provisional` or `published`.
    pub status: Option<String>,
    /// `json`, `csv` or `arrow`; otherwise the `Accept` header decides.
    pub format: Option<String>,
}

/// A filter that cannot apply to the table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("table {table} has no column {column}, so it cannot be filtered by {filter}")]
    NoColumn {
        table: String,
        column: &'static str,
        filter: &'static str,
    },
    #[error("{filter}={value:?} is not a period: use YYYY-MM-DD or YYYY-MM")]
    BadPeriod { filter: &'static str, value: String },
    #[error("status={0:?}: use provisional or published")]
    BadStatus(String),
}

/// A period as a comparable day text: a month is its first day.
fn period_key(text: &str) -> String {
    if text.len() == 7 {
        format!("{text}-01")
    } else {
        text.to_string()
    }
}

fn bound(filter: &'static str, value: &str, end: bool) -> Result<String, FilterError> {
    let bytes = value.as_bytes();
    let shape = |len: usize| {
        bytes.len() == len
            && bytes.iter().enumerate().all(|(at, byte)| {
                if at == 4 || at == 7 {
                    *byte == b'-'
                } else {
                    byte.is_ascii_digit()
                }
            })
    };
    if shape(10) {
        Ok(value.to_string())
    } else if shape(7) {
        // A month as the upper bound covers every day of it.
        Ok(format!("{value}-{}", if end { "99" } else { "01" }))
    } else {
        Err(FilterError::BadPeriod {
            filter,
            value: value.to_string(),
        })
    }
}

/// One condition on a row and its revision.
type RowTest<'a> = dyn Fn(&[Cell], Option<u32>) -> bool + 'a;

/// The rows of `table` that pass `filter`: indexes into its rows.
pub fn select(table: &ApiTable, filter: &Filter) -> Result<Vec<usize>, FilterError> {
    let columns = &table.table.columns;
    let column = |name: &'static str, filter_name: &'static str| {
        columns
            .iter()
            .position(|c| c.name == name)
            .ok_or(FilterError::NoColumn {
                table: table.table.name.clone(),
                column: name,
                filter: filter_name,
            })
    };
    let mut tests: Vec<Box<RowTest<'_>>> = Vec::new();
    if filter.from.is_some() || filter.to.is_some() {
        let at = period_column(&table.table).ok_or(FilterError::NoColumn {
            table: table.table.name.clone(),
            column: "day",
            filter: "period",
        })?;
        let from = filter
            .from
            .as_deref()
            .map(|v| bound("from", v, false))
            .transpose()?;
        let to = filter
            .to
            .as_deref()
            .map(|v| bound("to", v, true))
            .transpose()?;
        tests.push(Box::new(move |row, _| {
            let period = period_key(&row[at].to_string());
            from.as_ref().is_none_or(|from| &period >= from)
                && to.as_ref().is_none_or(|to| &period <= to)
        }));
    }
    for (value, name, filter_name) in [
        (&filter.experiment, "experiment_id", "experiment"),
        (&filter.variant, "variant", "variant"),
        (&filter.subscriber, "subscriber_id", "subscriber"),
    ] {
        if let Some(value) = value {
            let at = column(name, filter_name)?;
            tests.push(Box::new(move |row, _| row[at].to_string() == *value));
        }
    }
    if let Some(status) = &filter.status {
        let published = match status.as_str() {
            "published" => true,
            "provisional" => false,
            other => return Err(FilterError::BadStatus(other.to_string())),
        };
        tests.push(Box::new(move |_, revision| revision.is_some() == published));
    }
    Ok(table
        .table
        .rows
        .iter()
        .zip(&table.revisions)
        .enumerate()
        .filter(|(_, (row, revision))| tests.iter().all(|test| test(row, **revision)))
        .map(|(at, _)| at)
        .collect())
}

/// How a body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Arrow,
}

/// The media type of Arrow's IPC stream format.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => ARROW_STREAM,
        }
    }

    /// `format=` wins; then the first media type of `Accept` we serve;
    /// JSON by default. `None`: a format was asked for that we do not serve.
    pub fn negotiate(parameter: Option<&str>, accept: Option<&str>) -> Option<Format> {
        if let Some(parameter) = parameter {
            return match parameter {
                "json" => Some(Format::Json),
                "csv" => Some(Format::Csv),
                "arrow" => Some(Format::Arrow),
                _ => None,
            };
        }
        let Some(accept) = accept else {
            return Some(Format::Json);
        };
        let mut any = false;
        for part in accept.split(',') {
            let media = part.split(';').next().unwrap_or_default().trim();
            match media {
                "application/json" => return Some(Format::Json),
                "text/csv" => return Some(Format::Csv),
                ARROW_STREAM | "application/vnd.apache.arrow.file" => return Some(Format::Arrow),
                "*/*" | "application/*" | "text/*" | "" => any = true,
                _ => {}
            }
        }
        any.then_some(Format::Json)
    }
}

/// A JSON value of a cell: numbers as numbers, money as its exact decimal
/// text (never rounded through a float), empty as null.
fn json_cell(cell: &Cell) -> Value {
    match cell {
        Cell::Empty => Value::Null,
        Cell::Int(value) => Value::from(*value),
        Cell::Float(value) => serde_json::Number::from_f64(*value)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Cell::Money(value) => Value::String(value.to_string()),
        Cell::Text(value) => Value::String(value.clone()),
    }
}

/// `{"table", "updated_at", "columns", "key", "rows": [{column: value, ..., "provisional", "revision"}]}`.
pub fn to_json(table: &ApiTable, rows: &[usize], updated_at: Option<&str>) -> Vec<u8> {
    let meta = meta(&table.table);
    let objects: Vec<Value> = rows
        .iter()
        .map(|at| {
            let mut object = Map::new();
            for (column, cell) in table.table.columns.iter().zip(&table.table.rows[*at]) {
                object.insert(column.name.clone(), json_cell(cell));
            }
            let revision = table.revisions[*at];
            object.insert("provisional".into(), Value::Bool(revision.is_none()));
            object.insert(
                "revision".into(),
                revision.map(Value::from).unwrap_or(Value::Null),
            );
            Value::Object(object)
        })
        .collect();
    let body = serde_json::json!({
        "table": meta.name,
        "updated_at": updated_at,
        "key": meta.key,
        "period_column": meta.period_column,
        "columns": meta.columns,
        "rows": objects,
    });
    serde_json::to_vec(&body).expect("json values always serialize")
}

/// The selected rows with the two marking columns, as a plain table.
fn marked(table: &ApiTable, rows: &[usize]) -> Table {
    let mut columns = table.table.columns.clone();
    columns.push(Column {
        name: "provisional".into(),
        kind: ColumnKind::Text,
    });
    columns.push(Column {
        name: "revision".into(),
        kind: ColumnKind::Int,
    });
    Table {
        name: table.table.name.clone(),
        columns,
        rows: rows
            .iter()
            .map(|at| {
                let mut row = table.table.rows[*at].clone();
                let revision = table.revisions[*at];
                row.push(Cell::Text(revision.is_none().to_string()));
                row.push(revision.map_or(Cell::Empty, |r| Cell::Int(r.into())));
                row
            })
            .collect(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot encode table {table}: {message}")]
pub struct EncodeError {
    table: String,
    message: String,
}

/// CSV as the replay writes it, plus `provisional` and `revision`.
pub fn to_csv(table: &ApiTable, rows: &[usize]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    streamflix_connectors::sinks::write_csv(&marked(table, rows), &mut out).map_err(|error| {
        EncodeError {
            table: table.table.name.clone(),
            message: error.to_string(),
        }
    })?;
    Ok(out)
}

/// One Arrow IPC stream with one batch: the table's columns as the Arrow
/// writer types them (money as `Decimal128(38, 6)`), then `provisional`
/// (boolean) and `revision` (uint32, null while provisional).
pub fn to_arrow(table: &ApiTable, rows: &[usize]) -> Result<Vec<u8>, EncodeError> {
    let error = |message: String| EncodeError {
        table: table.table.name.clone(),
        message,
    };
    let selected = Table {
        name: table.table.name.clone(),
        columns: table.table.columns.clone(),
        rows: rows
            .iter()
            .map(|at| table.table.rows[*at].clone())
            .collect(),
    };
    let batch =
        streamflix_connectors::sinks::record_batch(&selected).map_err(|e| error(e.to_string()))?;
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("provisional", DataType::Boolean, false));
    fields.push(Field::new("revision", DataType::UInt32, true));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(BooleanArray::from(
        rows.iter()
            .map(|at| table.revisions[*at].is_none())
            .collect::<Vec<bool>>(),
    )));
    columns.push(Arc::new(UInt32Array::from(
        rows.iter()
            .map(|at| table.revisions[*at])
            .collect::<Vec<Option<u32>>>(),
    )));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| error(e.to_string()))?;
    let mut out = Vec::new();
    {
        let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())
            .map_err(|e| error(e.to_string()))?;
        writer.write(&batch).map_err(|e| error(e.to_string()))?;
        writer.finish().map_err(|e| error(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ApiTable {
        let column = |name: &str, kind| Column {
            name: name.into(),
            kind,
        };
        let row = |day: &str, experiment: &str, variant: &str, new: i64| {
            vec![
                Cell::Text(day.into()),
                Cell::Text(experiment.into()),
                Cell::Text(variant.into()),
                Cell::Int(new),
            ]
        };
        ApiTable {
            table: Table {
                name: "growth_daily_by_variant".into(),
                columns: vec![
                    column("day", ColumnKind::Text),
                    column("experiment_id", ColumnKind::Text),
                    column("variant", ColumnKind::Text),
                    column("new", ColumnKind::Int),
                ],
                rows: vec![
                    row("2026-10-05", "exp_a", "control", 3),
                    row("2026-10-05", "exp_a", "treatment", 4),
                    row("2026-10-06", "exp_a", "control", 5),
                    row("2026-10-31", "exp_b", "control", 6),
                    row("2026-11-01", "exp_b", "control", 7),
                ],
            },
            revisions: vec![Some(1), Some(2), None, None, None],
        }
    }

    fn filter() -> Filter {
        Filter::default()
    }

    #[test]
    fn keys_and_period_come_from_the_columns() {
        let meta = meta(&table().table);
        assert_eq!(meta.key, ["day", "experiment_id", "variant"]);
        assert_eq!(meta.period_column.as_deref(), Some("day"));
        assert_eq!(meta.roles, [Role::Experiment, Role::Operator]);
    }

    #[test]
    fn filters_combine() {
        let table = table();
        let all = select(&table, &filter()).unwrap();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        let range = Filter {
            from: Some("2026-10-06".into()),
            to: Some("2026-10".into()),
            ..filter()
        };
        assert_eq!(select(&table, &range).unwrap(), [2, 3]);
        let variant = Filter {
            experiment: Some("exp_a".into()),
            variant: Some("control".into()),
            ..filter()
        };
        assert_eq!(select(&table, &variant).unwrap(), [0, 2]);
        let published = Filter {
            status: Some("published".into()),
            ..filter()
        };
        assert_eq!(select(&table, &published).unwrap(), [0, 1]);
        let month = Filter {
            from: Some("2026-11".into()),
            ..filter()
        };
        assert_eq!(select(&table, &month).unwrap(), [4]);
    }

    #[test]
    fn filters_that_cannot_apply_are_errors() {
        let table = table();
        let subscriber = Filter {
            subscriber: Some("s1".into()),
            ..filter()
        };
        assert!(matches!(
            select(&table, &subscriber),
            Err(FilterError::NoColumn {
                column: "subscriber_id",
                ..
            })
        ));
        let bad = Filter {
            from: Some("last week".into()),
            ..filter()
        };
        assert!(matches!(
            select(&table, &bad),
            Err(FilterError::BadPeriod { .. })
        ));
    }

    #[test]
    fn formats_are_negotiated() {
        assert_eq!(Format::negotiate(None, None), Some(Format::Json));
        assert_eq!(
            Format::negotiate(None, Some("text/csv, application/json")),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::negotiate(None, Some(ARROW_STREAM)),
            Some(Format::Arrow)
        );
        assert_eq!(Format::negotiate(None, Some("*/*")), Some(Format::Json));
        assert_eq!(Format::negotiate(None, Some("image/png")), None);
        assert_eq!(
            Format::negotiate(Some("csv"), Some(ARROW_STREAM)),
            Some(Format::Csv)
        );
        assert_eq!(Format::negotiate(Some("xml"), None), None);
    }

    #[test]
    fn csv_marks_each_row() {
        let table = table();
        let text = String::from_utf8(to_csv(&table, &[0, 2]).unwrap()).unwrap();
        assert_eq!(
            text,
            "day,experiment_id,variant,new,provisional,revision\n2026-10-05,exp_a,control,3,false,1\n2026-10-06,exp_a,control,5,true,\n"
        );
    }

    #[test]
    fn json_marks_each_row() {
        let table = table();
        let body: Value = serde_json::from_slice(&to_json(&table, &[1, 3], None)).unwrap();
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["variant"], "treatment");
        assert_eq!(rows[0]["new"], 4);
        assert_eq!(rows[0]["revision"], 2);
        assert_eq!(rows[0]["provisional"], false);
        assert_eq!(rows[1]["revision"], Value::Null);
        assert_eq!(rows[1]["provisional"], true);
    }
}
