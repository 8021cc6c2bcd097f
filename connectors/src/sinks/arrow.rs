//! The Arrow and Parquet sinks: a [`Table`] as one Arrow record batch,
//! written as an Arrow IPC file or a Parquet file (Snappy-compressed).
//!
//! Column types: `Int` -> Int64, `Float` -> Float64, `Money` ->
//! Decimal128(38, 6) holding the exact millionths, `Text` -> Utf8. Every
//! column is nullable; `Empty` cells are nulls.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use streamflix_model::table::{Cell, ColumnKind, Table};

use super::{SinkError, check_row_lengths, finish_file, write_file_atomically};

/// Decimal precision and scale of `Money` columns: six places, as
/// [`streamflix_model::Micros`]; 38 digits hold any i64 of millionths.
pub const MONEY_PRECISION: u8 = 38;
pub const MONEY_SCALE: i8 = 6;

fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Int => DataType::Int64,
        ColumnKind::Float => DataType::Float64,
        ColumnKind::Money => DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE),
        ColumnKind::Text => DataType::Utf8,
    }
}

/// The Arrow schema of a table: its columns in order, all nullable.
pub fn schema(table: &Table) -> SchemaRef {
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|column| Field::new(&column.name, data_type(column.kind), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The whole table as one record batch.
pub fn record_batch(table: &Table) -> Result<RecordBatch, SinkError> {
    check_row_lengths(table)?;
    let rows = table.rows.len();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(table.columns.len());
    for (c, column) in table.columns.iter().enumerate() {
        let cells = table.rows.iter().map(|row| &row[c]).enumerate();
        let wrong = |row: usize, cell: &Cell| SinkError::CellKind {
            table: table.name.clone(),
            row,
            column: column.name.clone(),
            kind: column.kind,
            cell: cell.clone(),
        };
        let array: ArrayRef = match column.kind {
            ColumnKind::Int => {
                let mut builder = Int64Builder::with_capacity(rows);
                for (row, cell) in cells {
                    match cell {
                        Cell::Int(value) => builder.append_value(*value),
                        Cell::Empty => builder.append_null(),
                        other => return Err(wrong(row, other)),
                    }
                }
                Arc::new(builder.finish())
            }
            ColumnKind::Float => {
                let mut builder = Float64Builder::with_capacity(rows);
                for (row, cell) in cells {
                    match cell {
                        Cell::Float(value) => builder.append_value(*value),
                        Cell::Int(value) => builder.append_value(*value as f64),
                        Cell::Empty => builder.append_null(),
                        other => return Err(wrong(row, other)),
                    }
                }
                Arc::new(builder.finish())
            }
            ColumnKind::Money => {
                let mut builder = Decimal128Builder::with_capacity(rows)
                    .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)?;
                for (row, cell) in cells {
                    match cell {
                        Cell::Money(value) => builder.append_value(i128::from(value.0)),
                        Cell::Empty => builder.append_null(),
                        other => return Err(wrong(row, other)),
                    }
                }
                Arc::new(builder.finish())
            }
            ColumnKind::Text => {
                let mut builder = StringBuilder::with_capacity(rows, rows * 16);
                for (row, cell) in cells {
                    match cell {
                        Cell::Text(value) => builder.append_value(value),
                        Cell::Empty => builder.append_null(),
                        other => return Err(wrong(row, other)),
                    }
                }
                Arc::new(builder.finish())
            }
        };
        arrays.push(array);
    }
    // The row count is explicit so that a table without columns still has
    // its rows.
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema(table),
        arrays,
        &options,
    )?)
}

/// Writes `table` as an Arrow IPC file (the random-access "file" format,
/// not the stream format) to `out`.
pub fn write_arrow_ipc<W: Write>(table: &Table, out: W) -> Result<(), SinkError> {
    let batch = record_batch(table)?;
    let mut writer = FileWriter::try_new(out, &batch.schema())?;
    writer.write(&batch)?;
    writer.finish()?;
    Ok(())
}

pub fn write_arrow_ipc_file(table: &Table, path: &Path) -> Result<(), SinkError> {
    write_file_atomically(path, |mut out| {
        write_arrow_ipc(table, &mut out)?;
        finish_file(out)
    })
}

/// Writes `table` as a Snappy-compressed Parquet file to `out`.
pub fn write_parquet<W: Write + Send>(table: &Table, out: W) -> Result<(), SinkError> {
    let batch = record_batch(table)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(properties))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

pub fn write_parquet_file(table: &Table, path: &Path) -> Result<(), SinkError> {
    write_file_atomically(path, |mut out| {
        write_parquet(table, &mut out)?;
        finish_file(out)
    })
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use arrow::array::{Array, Decimal128Array, Float64Array, Int64Array, StringArray};
    use arrow::ipc::reader::FileReader;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use streamflix_model::Micros;
    use streamflix_model::table::Column;

    use super::*;

    fn table() -> Table {
        let column = |name: &str, kind| Column {
            name: name.into(),
            kind,
        };
        Table {
            name: "daily".into(),
            columns: vec![
                column("day", ColumnKind::Text),
                column("active", ColumnKind::Int),
                column("hours", ColumnKind::Float),
                column("revenue_usd", ColumnKind::Money),
            ],
            rows: vec![
                vec![
                    Cell::Text("2026-11-02".into()),
                    Cell::Int(3),
                    Cell::Float(1.25),
                    Cell::Money(Micros(9_223_372_036_854_775_807)),
                ],
                vec![Cell::Empty, Cell::Empty, Cell::Int(2), Cell::Empty],
                vec![
                    Cell::Text("ü, \"q\"".into()),
                    Cell::Int(-7),
                    Cell::Empty,
                    Cell::Money(Micros(-1)),
                ],
            ],
        }
    }

    fn check(batches: Vec<RecordBatch>) {
        let [batch] = &batches[..] else {
            panic!("{} batches", batches.len())
        };
        let expected = schema(&table());
        assert_eq!(batch.schema().fields(), expected.fields());
        assert_eq!(batch.num_rows(), 3);
        let day = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(
            (day.value(0), day.is_null(1), day.value(2)),
            ("2026-11-02", true, "ü, \"q\"")
        );
        let active = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(
            (active.value(0), active.is_null(1), active.value(2)),
            (3, true, -7)
        );
        let hours = batch
            .column(2)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(
            (hours.value(0), hours.value(1), hours.is_null(2)),
            (1.25, 2.0, true)
        );
        let revenue = batch
            .column(3)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!((revenue.precision(), revenue.scale()), (38, 6));
        assert_eq!(revenue.value(0), i128::from(i64::MAX));
        assert_eq!(revenue.value_as_string(0), "9223372036854.775807");
        assert!(revenue.is_null(1));
        assert_eq!(revenue.value_as_string(2), "-0.000001");
    }

    #[test]
    fn arrow_ipc_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daily.arrow");
        write_arrow_ipc_file(&table(), &path).unwrap();
        let reader = FileReader::try_new(File::open(&path).unwrap(), None).unwrap();
        check(reader.collect::<Result<_, _>>().unwrap());
    }

    #[test]
    fn parquet_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daily.parquet");
        write_parquet_file(&table(), &path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        check(reader.collect::<Result<_, _>>().unwrap());
    }

    #[test]
    fn empty_tables_keep_their_schema() {
        let mut t = table();
        t.rows.clear();
        let mut ipc = Vec::new();
        write_arrow_ipc(&t, &mut ipc).unwrap();
        let reader = FileReader::try_new(std::io::Cursor::new(ipc), None).unwrap();
        assert_eq!(reader.schema(), schema(&t));
        let rows: usize = reader.map(|batch| batch.unwrap().num_rows()).sum();
        assert_eq!(rows, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.parquet");
        write_parquet_file(&t, &path).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        assert_eq!(builder.schema().fields(), schema(&t).fields());
        let rows: usize = builder
            .build()
            .unwrap()
            .map(|batch| batch.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 0);
    }

    #[test]
    fn cells_of_the_wrong_kind_are_refused() {
        let mut t = table();
        t.rows[2][1] = Cell::Text("x".into());
        let error = record_batch(&t).unwrap_err();
        assert_eq!(
            error.to_string(),
            "table `daily`: row 2, column `active` (Int) holds Text(\"x\")"
        );
        let mut t = table();
        t.rows[0][3] = Cell::Float(1.0);
        assert!(matches!(record_batch(&t), Err(SinkError::CellKind { .. })));
    }
}
