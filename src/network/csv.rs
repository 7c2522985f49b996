//! The CSV files a network names (spike times, synapse lists): a header line, then rows of
//! numbers. Read as a stream into one flat array (the text is never held whole), after a
//! first pass that counts the rows and refuses a file whose rows would not fit in memory.

use crate::error::{Error, Result, quoted, short_number};
use crate::files::{self, InputKind};
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// Bytes of memory one row of a synapse list takes while the network is built: the parsed row
/// (four numbers and its line), the edge it becomes, and the synapse tables built from it.
pub const BYTES_PER_CSV_ROW: f64 = 36.0 + 16.0 + 12.0;

/// Rows of numbers of a CSV file, `width` values per row (absent trailing columns are NaN).
#[derive(Debug, Clone, Default)]
pub struct CsvRows {
    width: usize,
    values: Vec<f64>,
    lines: Vec<u32>,
}

impl CsvRows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Each row: its 1-based line number and its values (absent trailing columns are NaN).
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[f64])> {
        self.lines
            .iter()
            .zip(self.values.chunks_exact(self.width.max(1)))
            .map(|(&line, values)| (line as usize, values))
    }
}

/// The value of a column, `None` where the row does not have it.
pub fn column(values: &[f64], k: usize) -> Option<f64> {
    values.get(k).copied().filter(|v| !v.is_nan())
}

/// Check the header line of a CSV file: the first `min_cols` to `columns.len()` of `columns`,
/// in that order. Returns the number of columns it names.
fn check_csv_header(
    path: &Path,
    first: Option<&str>,
    columns: &[&str],
    min_cols: usize,
) -> Result<usize> {
    let expected = |n: usize| columns[..n].join(",");
    let wanted = if min_cols == columns.len() {
        format!("`{}`", expected(min_cols))
    } else {
        format!(
            "`{}` (optionally followed by `{}`)",
            expected(min_cols),
            columns[min_cols..].join(",")
        )
    };
    let fail = |message: String| Error::Csv {
        path: path.to_path_buf(),
        line: 1,
        message,
    };
    let first = first.map(str::trim).unwrap_or_default();
    let quoted = quoted(first, 60);
    let names: Vec<&str> = first.split(',').map(str::trim).collect();
    if names.iter().all(|c| c.parse::<f64>().is_ok()) && !first.is_empty() {
        return Err(fail(format!(
            "the first line must be the header {wanted}, found data `{quoted}` (it would be lost)"
        )));
    }
    let n = names.len();
    if n < min_cols || n > columns.len() || names[..] != columns[..n] {
        return Err(fail(format!(
            "expected the header {wanted}, found `{quoted}`"
        )));
    }
    Ok(n)
}

/// Count the lines of a file in one streaming pass.
fn count_lines(file: &mut std::fs::File, path: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    file.rewind()
        .map_err(|e| Error::io(path, "cannot read", e))?;
    Ok(lines + u64::from(last != b'\n'))
}

/// Refuse a file of `rows` rows whose rows would not fit in `limit` bytes (default: the
/// memory available).
fn check_rows_fit(path: &Path, rows: u64, limit: Option<u64>) -> Result<()> {
    let needed = rows as f64 * BYTES_PER_CSV_ROW;
    if let Some(available) = super::build::exceeds_memory(needed, limit) {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: format!(
                "{} lines need about {} MB to build, {} MB available",
                rows,
                short_number(needed / 1e6),
                short_number(available as f64 / 1e6)
            ),
        });
    }
    Ok(())
}

/// Read a CSV file into rows of numbers after its header line (the columns `columns`, the
/// first `min_cols` required); errors name the line. A file whose rows would not fit in
/// `memory_limit` bytes (default: the memory available) is refused before they are read.
pub fn read_csv(
    path: &Path,
    columns: &[&str],
    min_cols: usize,
    memory_limit: Option<u64>,
) -> Result<CsvRows> {
    let (mut file, _) = files::open(path, InputKind::Csv)?;
    check_rows_fit(path, count_lines(&mut file, path)?, memory_limit)?;
    let mut lines = BufReader::new(file).lines().enumerate();
    let read_error = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::InvalidData => Error::Data {
            path: path.to_path_buf(),
            message: "not a text file (bytes that are not UTF-8)".into(),
        },
        _ => Error::io(path, "cannot read", e),
    };
    let first = lines
        .next()
        .map(|(_, l)| l)
        .transpose()
        .map_err(read_error)?;
    let width = check_csv_header(path, first.as_deref(), columns, min_cols)?;
    let mut rows = CsvRows {
        width,
        ..CsvRows::default()
    };
    for (i, line) in lines {
        let line = line.map_err(read_error)?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        parse_row(path, i + 1, line, (min_cols, width), &mut rows.values)?;
        rows.lines.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
    }
    Ok(rows)
}

/// Append the `min_cols..=width` numbers of line `line` to `values`, padded to `width` with
/// NaN.
fn parse_row(
    path: &Path,
    line: usize,
    text: &str,
    (min_cols, width): (usize, usize),
    values: &mut Vec<f64>,
) -> Result<()> {
    let csv = |message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let start = values.len();
    for c in text.split(',').map(str::trim) {
        if values.len() - start == width {
            values.truncate(start);
            let found = text.split(',').count();
            return Err(csv(format!(
                "expected {min_cols} to {width} columns, found {found}"
            )));
        }
        let v: f64 = c
            .parse()
            .map_err(|_| csv(format!("`{}` is not a number", quoted(c, 60))))?;
        if !v.is_finite() {
            return Err(csv(format!("`{}` is not finite", quoted(c, 60))));
        }
        values.push(v);
    }
    let found = values.len() - start;
    if found < min_cols {
        return Err(csv(format!(
            "expected {min_cols} to {width} columns, found {found}"
        )));
    }
    values.resize(start + width, f64::NAN);
    Ok(())
}

/// A population index read from a CSV file.
pub fn csv_index(path: &Path, line: usize, v: f64, size: u32, what: &str) -> Result<u32> {
    if v < 0.0 || v.fract() != 0.0 || v >= f64::from(size) {
        return Err(Error::Csv {
            path: PathBuf::from(path),
            line,
            message: format!(
                "{what} {} is not an index of a population of {size} neurons (0 to {})",
                short_number(v),
                size.saturating_sub(1)
            ),
        });
    }
    Ok(v as u32)
}
