//! MDE's portal CSV format: reading rows into submissions (with line numbers) and writing
//! indicators back out so the file re-imports unchanged.
//!
//! Header (MDE's sample order): `IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,
//! Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert`.
//! Columns are matched by name, ignoring case; the camelCase names of MDE's docs table and
//! `RbacGroupNames` are accepted as aliases. Unknown columns are refused rather than dropped.

use crate::{IndicatorEntity, IndicatorSubmission, ValidationError};
use serde_json::Value;
use std::io::{Read, Write};

/// The header iocd writes, in the order of Microsoft's sample file.
pub const HEADER: [&str; 12] = [
    "IndicatorType",
    "IndicatorValue",
    "ExpirationTime",
    "Action",
    "Severity",
    "Title",
    "Description",
    "RecommendedActions",
    "RbacGroups",
    "Category",
    "MitreTechniques",
    "GenerateAlert",
];

const REQUIRED: [&str; 5] = [
    "IndicatorType",
    "IndicatorValue",
    "Action",
    "Title",
    "Description",
];

/// A problem with the file as a whole (as opposed to one row).
#[derive(Debug, thiserror::Error)]
pub enum CsvFileError {
    #[error("the CSV file has no header row")]
    MissingHeader,
    #[error("unknown CSV column {0:?}; expected the columns {columns}", columns = HEADER.join(","))]
    UnknownColumn(String),
    #[error("the CSV header names column {0} twice")]
    DuplicateColumn(String),
    #[error("the CSV header lacks the required column {0}")]
    MissingColumn(&'static str),
    #[error("cannot read the CSV header: {0}")]
    Read(String),
    #[error("line {line}: a row is longer than {max} bytes")]
    RowTooLong { line: u64, max: usize },
    #[error("line {line}: cannot read the file: {reason}")]
    Interrupted { line: u64, reason: String },
}

/// The longest row accepted, in bytes (as for an NDJSON line): a longer one ends the file with
/// [`CsvFileError::RowTooLong`] before it is held in memory.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// A reader that fails once more than `max` bytes pass without an end of row: a line end
/// outside quotes (RFC 4180 quoting: `""` inside quotes toggles twice, so it changes nothing).
#[derive(Debug)]
struct RowGuard<R> {
    inner: R,
    max: usize,
    in_quotes: bool,
    since_row: usize,
}

/// The message of the error [`RowGuard`] reads with, so the reader can tell it from others.
const ROW_TOO_LONG: &str = "row too long";

impl<R: Read> Read for RowGuard<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        for &byte in &buffer[..n] {
            match byte {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.since_row = 0,
                _ => {}
            }
            self.since_row += 1;
            if self.since_row > self.max {
                return Err(std::io::Error::other(ROW_TOO_LONG));
            }
        }
        Ok(n)
    }
}

/// One data row: its 1-based line number (the header is line 1) and the submission, or why the
/// row could not be read.
#[derive(Debug)]
pub struct CsvRow {
    pub line: u64,
    /// The row's size in bytes (its cells and separators), for callers that bound what they
    /// hold by bytes.
    pub bytes: usize,
    pub submission: Result<IndicatorSubmission, ValidationError>,
}

/// Reads an MDE CSV stream row by row. A row with a problem of its own is a [`CsvRow`] with an
/// error; a problem with the stream (a row over [`MAX_ROW_BYTES`], a failed read) ends the
/// rows, and [`CsvReader::take_error`] tells it.
pub struct CsvReader<R: Read> {
    reader: csv::Reader<RowGuard<R>>,
    columns: Vec<usize>,
    record: csv::StringRecord,
    /// What ended the rows early, if anything did.
    error: Option<CsvFileError>,
    /// The line of the last row returned (the header's at first).
    last_line: u64,
}

impl<R: Read> std::fmt::Debug for CsvReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReader")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

fn canonical_column(name: &str) -> Option<usize> {
    let name = name.trim().trim_start_matches('\u{feff}');
    let name = if name.eq_ignore_ascii_case("RbacGroupNames") {
        "RbacGroups"
    } else {
        name
    };
    HEADER.iter().position(|h| h.eq_ignore_ascii_case(name))
}

impl<R: Read> CsvReader<R> {
    pub fn new(input: R) -> Result<Self, CsvFileError> {
        let guarded = RowGuard {
            inner: input,
            max: MAX_ROW_BYTES,
            in_quotes: false,
            since_row: 0,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(guarded);
        let headers = reader
            .headers()
            .map_err(|e| CsvFileError::Read(e.to_string()))?
            .clone();
        if headers.is_empty() || headers.iter().all(|h| h.trim().is_empty()) {
            return Err(CsvFileError::MissingHeader);
        }
        let mut columns = Vec::with_capacity(headers.len());
        for name in headers.iter() {
            let index = canonical_column(name)
                .ok_or_else(|| CsvFileError::UnknownColumn(name.to_owned()))?;
            if columns.contains(&index) {
                return Err(CsvFileError::DuplicateColumn(HEADER[index].to_owned()));
            }
            columns.push(index);
        }
        for required in REQUIRED {
            let index = HEADER.iter().position(|h| *h == required).unwrap_or(0);
            if !columns.contains(&index) {
                return Err(CsvFileError::MissingColumn(required));
            }
        }
        Ok(CsvReader {
            reader,
            columns,
            record: csv::StringRecord::new(),
            error: None,
            last_line: 1,
        })
    }

    /// What ended the rows before the end of the input, if anything did.
    pub fn take_error(&mut self) -> Option<CsvFileError> {
        self.error.take()
    }

    /// The next data row, or `None` at the end of the input. Blank lines are skipped.
    pub fn next_row(&mut self) -> Option<CsvRow> {
        if self.error.is_some() {
            return None;
        }
        loop {
            let line_before = self.reader.position().line();
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {
                    let line = self.record.position().map_or(line_before, |p| p.line());
                    let line = self.after_last(line);
                    if self.record.iter().all(|cell| cell.trim().is_empty()) {
                        continue;
                    }
                    return Some(CsvRow {
                        line,
                        bytes: self.record.as_slice().len() + self.record.len(),
                        submission: self.submission_from_record(),
                    });
                }
                Err(error) => {
                    let line = error.position().map_or(line_before, |p| p.line());
                    if let csv::ErrorKind::Io(io) = error.kind() {
                        // The stream itself failed: no later row can be trusted. The row it
                        // failed in starts where the reader stood.
                        let line = line_before;
                        self.error = Some(if io.to_string() == ROW_TOO_LONG {
                            CsvFileError::RowTooLong {
                                line,
                                max: MAX_ROW_BYTES,
                            }
                        } else {
                            CsvFileError::Interrupted {
                                line,
                                reason: io.to_string(),
                            }
                        });
                        return None;
                    }
                    let line = self.after_last(line);
                    let message = match error.kind() {
                        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_owned(),
                        _ => error.to_string(),
                    };
                    return Some(CsvRow {
                        line,
                        bytes: 0,
                        submission: Err(ValidationError::new(
                            crate::ErrorCode::InvalidInput,
                            "csv",
                            format!(
                                "Failed to parse CSV file. Invalid line: {line}, Reason: {message}"
                            ),
                        )),
                    });
                }
            }
        }
    }

    /// The line number of the row the reader stands on: the reader counts only line feeds, so
    /// in a file whose lines end in a bare carriage return every row would be line 1; each row
    /// is at least one line after the last.
    fn after_last(&mut self, line: u64) -> u64 {
        self.last_line = line.max(self.last_line + 1);
        self.last_line
    }

    fn submission_from_record(&self) -> Result<IndicatorSubmission, ValidationError> {
        if self.record.len() != self.columns.len() {
            return Err(ValidationError::invalid(
                "csv",
                format!(
                    "the row has {} cells but the header has {} columns",
                    self.record.len(),
                    self.columns.len()
                ),
            ));
        }
        let mut submission = IndicatorSubmission::default();
        for (cell, &column) in self.record.iter().zip(&self.columns) {
            if cell.trim().is_empty() {
                continue;
            }
            let value = Some(Value::String(cell.to_owned()));
            match HEADER[column] {
                "IndicatorType" => submission.indicator_type = value,
                "IndicatorValue" => submission.indicator_value = value,
                "ExpirationTime" => submission.expiration_time = value,
                "Action" => submission.action = value,
                "Severity" => submission.severity = value,
                "Title" => submission.title = value,
                "Description" => submission.description = value,
                "RecommendedActions" => submission.recommended_actions = value,
                "RbacGroups" => submission.rbac_group_names = value,
                "Category" => submission.category = value,
                "MitreTechniques" => submission.mitre_techniques = value,
                _ => submission.generate_alert = value,
            }
        }
        Ok(submission)
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = CsvRow;

    fn next(&mut self) -> Option<CsvRow> {
        self.next_row()
    }
}

/// Writes indicators in MDE's CSV format (header first).
pub struct CsvWriter<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> std::fmt::Debug for CsvWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvWriter").finish_non_exhaustive()
    }
}

impl<W: Write> CsvWriter<W> {
    pub fn new(output: W) -> std::io::Result<Self> {
        let mut writer = csv::Writer::from_writer(output);
        writer.write_record(HEADER).map_err(std::io::Error::other)?;
        Ok(CsvWriter { writer })
    }

    /// Writes one indicator, given as MDE's entity (as the API returns it).
    pub fn write(&mut self, entity: &IndicatorEntity) -> std::io::Result<()> {
        let expiration = entity
            .expiration_time
            .as_deref()
            .and_then(crate::Timestamp::parse)
            .map(|t| t.to_mde_seconds().replace('Z', ".0Z"))
            .unwrap_or_default();
        let category = crate::Category::from_number(i64::from(entity.category)).unwrap_or_default();
        let record = [
            entity.indicator_type.as_str(),
            &entity.indicator_value,
            &expiration,
            entity.action.as_str(),
            entity.severity.as_str(),
            &entity.title,
            &entity.description,
            entity.recommended_actions.as_deref().unwrap_or_default(),
            &entity.rbac_group_names.join(","),
            category.name(),
            &entity.mitre_techniques.join(","),
            if entity.generate_alert {
                "true"
            } else {
                "false"
            },
        ];
        self.writer
            .write_record(record)
            .map_err(std::io::Error::other)
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.writer.flush()?;
        self.writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's line and title (or its error), then what ended the rows.
    type Read = (Vec<(u64, Result<String, String>)>, Option<CsvFileError>);

    fn read_all(text: &str) -> Read {
        let mut reader = CsvReader::new(text.as_bytes()).expect("header");
        let rows = reader
            .by_ref()
            .map(|row| {
                let title = row
                    .submission
                    .map(|s| {
                        s.title
                            .and_then(|t| t.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    })
                    .map_err(|e| e.message);
                (row.line, title)
            })
            .collect();
        (rows, reader.take_error())
    }

    const HEAD: &str = "IndicatorType,IndicatorValue,Action,Title,Description\n";

    #[test]
    fn quoted_line_ends_and_quotes_stay_within_a_row() {
        let text = format!(
            "{HEAD}DomainName,a.example,Block,\"two\nlines\",d\nDomainName,b.example,Block,\"say \"\"hi\"\"\",d\n"
        );
        let (rows, error) = read_all(&text);
        assert!(error.is_none());
        assert_eq!(
            rows,
            vec![
                (2, Ok("two\nlines".to_owned())),
                (4, Ok("say \"hi\"".to_owned()))
            ]
        );
    }

    #[test]
    fn rows_of_a_file_with_carriage_return_line_ends_get_their_own_lines() {
        let text = HEAD.replace('\n', "\r")
            + "DomainName,a.example,Block,x,d\rDomainName,b.example,Block,y,d\r";
        let (rows, error) = read_all(&text);
        assert!(error.is_none());
        assert_eq!(rows, vec![(2, Ok("x".to_owned())), (3, Ok("y".to_owned()))]);
    }

    #[test]
    fn a_row_past_the_limit_ends_the_rows_with_its_line() {
        let long = "x".repeat(MAX_ROW_BYTES);
        let text = format!(
            "{HEAD}DomainName,a.example,Block,t,d\nDomainName,b.example,Block,\"{long}\",d\nDomainName,c.example,Block,t,d\n"
        );
        let (rows, error) = read_all(&text);
        assert_eq!(rows, vec![(2, Ok("t".to_owned()))]);
        assert!(
            matches!(error, Some(CsvFileError::RowTooLong { line: 3, .. })),
            "{error:?}"
        );
        // Just under the limit passes, on as many lines as it likes.
        let fits = format!(
            "{HEAD}DomainName,a.example,Block,\"{}\",d\n",
            "y\n".repeat(MAX_ROW_BYTES / 4)
        );
        let (rows, error) = read_all(&fits);
        assert!(error.is_none());
        assert_eq!(rows.len(), 1);
    }
}
