//! The CSV sink: a header row of the column names, then one line per row.
//!
//! Values are [`Cell`]'s `Display` (plain decimals, never an exponent; an
//! empty field for `Empty`). A field is quoted, RFC 4180 style, only when
//! it holds a comma, a double quote, a CR or an LF; quotes inside are
//! doubled. Lines end with `\n` (not RFC 4180's CRLF): every CSV reader
//! accepts it, and it keeps the files diffable with ordinary tools.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use streamflix_model::table::Table;

use super::{SinkError, check_row_lengths, finish_file, write_file_atomically};

/// Writes `table` as CSV to `out`.
pub fn write_csv<W: Write>(table: &Table, mut out: W) -> Result<(), SinkError> {
    check_row_lengths(table)?;
    let mut line = String::new();
    let mut field = String::new();
    let names = table.columns.iter().map(|column| column.name.as_str());
    push_line(&mut line, names);
    out.write_all(line.as_bytes())?;
    for row in &table.rows {
        line.clear();
        let mut first = true;
        for cell in row {
            if !first {
                line.push(',');
            }
            first = false;
            field.clear();
            // Writing to a String cannot fail.
            let _ = write!(field, "{cell}");
            push_field(&mut line, &field);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// Writes `table` as CSV to the file at `path`, replacing it.
pub fn write_csv_file(table: &Table, path: &Path) -> Result<(), SinkError> {
    write_file_atomically(path, |mut out| {
        write_csv(table, &mut out)?;
        finish_file(out)
    })
}

fn push_line<'a>(line: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_field(line, field);
    }
    line.push('\n');
}

fn push_field(line: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        line.push('"');
        line.push_str(&field.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use streamflix_model::Micros;
    use streamflix_model::table::{Column, ColumnKind};

    use super::*;
    use streamflix_model::table::Cell;

    fn table() -> Table {
        let column = |name: &str, kind| Column {
            name: name.into(),
            kind,
        };
        Table {
            name: "t".into(),
            columns: vec![
                column("day", ColumnKind::Text),
                column("count", ColumnKind::Int),
                column("ratio", ColumnKind::Float),
                column("revenue_usd", ColumnKind::Money),
            ],
            rows: vec![
                vec![
                    Cell::Text("2026-11-02".into()),
                    Cell::Int(3),
                    Cell::Float(0.5),
                    Cell::Money(Micros(1_500_000)),
                ],
                vec![
                    Cell::Text("a,b".into()),
                    Cell::Int(-1),
                    Cell::Empty,
                    Cell::Money(Micros(-1)),
                ],
                vec![
                    Cell::Text("say \"hi\"\nbye".into()),
                    Cell::Empty,
                    Cell::Float(1e-7),
                    Cell::Empty,
                ],
            ],
        }
    }

    #[test]
    fn writes_header_and_rows_quoting_only_when_needed() {
        let mut out = Vec::new();
        write_csv(&table(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "day,count,ratio,revenue_usd\n\
             2026-11-02,3,0.5,1.5\n\
             \"a,b\",-1,,-0.000001\n\
             \"say \"\"hi\"\"\nbye\",,0.0000001,\n"
        );
    }

    #[test]
    fn header_names_are_quoted_when_needed_and_empty_tables_have_a_header() {
        let mut t = table();
        t.columns[0].name = "a,b".into();
        t.rows.clear();
        let mut out = Vec::new();
        write_csv(&t, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\",count,ratio,revenue_usd\n"
        );
    }

    #[test]
    fn rows_of_the_wrong_length_are_refused() {
        let mut t = table();
        t.rows[1].pop();
        let error = write_csv(&t, Vec::new()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "table `t`: row 1 has 3 cells for 4 columns"
        );
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "old").unwrap();
        write_csv_file(&table(), &path).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("day,count")
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
