//! Table sinks: the engine's output tables ([`Table`]) written as CSV,
//! Parquet or Arrow IPC files.
//!
//! All three take the same table and agree on types: `Int` is a 64-bit
//! integer, `Float` a 64-bit float, `Money` an exact decimal with six
//! places (`Decimal128(38, 6)` in Arrow and Parquet, so a reader sees the
//! same digits the CSV shows, never a rounded float), `Text` UTF-8, and an
//! `Empty` cell is null (an empty CSV field). A cell of another kind than
//! its column is an error, except an `Int` in a `Float` column, which is
//! widened. The `*_file` helpers write to a temporary file beside the
//! target and rename it into place, so a reader never sees half a table.

mod arrow;
mod csv;

pub use self::arrow::{
    record_batch, schema, write_arrow_ipc, write_arrow_ipc_file, write_parquet, write_parquet_file,
};
pub use self::csv::{write_csv, write_csv_file};

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use streamflix_model::table::{Cell, ColumnKind, Table};

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("Arrow error: {0}")]
    Arrow(#[from] ::arrow::error::ArrowError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
    #[error("table `{table}`: row {row} has {found} cells for {expected} columns")]
    RowLength {
        table: String,
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("table `{table}`: row {row}, column `{column}` ({kind:?}) holds {cell:?}")]
    CellKind {
        table: String,
        row: usize,
        column: String,
        kind: ColumnKind,
        cell: Cell,
    },
}

/// Checks that every row has one cell per column.
fn check_row_lengths(table: &Table) -> Result<(), SinkError> {
    let expected = table.columns.len();
    match table.rows.iter().position(|row| row.len() != expected) {
        None => Ok(()),
        Some(row) => Err(SinkError::RowLength {
            table: table.name.clone(),
            row,
            expected,
            found: table.rows[row].len(),
        }),
    }
}

/// Writes through `write` into a temporary file beside `path`, then renames
/// it to `path`; on error the temporary file is removed.
fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(BufWriter<File>) -> Result<(), SinkError>,
) -> Result<(), SinkError> {
    let mut temporary = PathBuf::from(path);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    temporary.set_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = File::create(&temporary)
        .map_err(SinkError::from)
        .and_then(|file| write(BufWriter::new(file)))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(SinkError::from));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Flushes a buffered file and makes sure its bytes reached the OS.
fn finish_file(mut out: BufWriter<File>) -> Result<(), SinkError> {
    out.flush()?;
    Ok(())
}
