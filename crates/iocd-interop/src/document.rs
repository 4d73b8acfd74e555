//! Telling what a file is from its content: JSON that is STIX or a MISP event, MDE CSV (its
//! header names `IndicatorType`), or else a plain list; and reading the formats that are not
//! MDE CSV into an [`ImportBatch`]. `iocd import` and the console's import (through
//! `POST /api/indicators/convert`) both go through here.

use crate::{ImportBatch, ImportDefaults, misp, plain, stix};
use serde_json::Value;

/// What a document is, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Starts with `{` or `[`: STIX or MISP.
    Json,
    /// The first line names `IndicatorType`: MDE's CSV, read by `iocd_model::csv_format`.
    MdeCsv,
    /// Anything else: one value per line.
    List,
}

/// The format a document was read as, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Stix,
    Misp,
    List,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Stix => "STIX",
            Format::Misp => "MISP",
            Format::List => "list",
        }
    }
}

/// Why a document could not be read at all (as opposed to items in it, which are reported in
/// [`ImportBatch::problems`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("the document is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "the document is JSON but neither a STIX document (a bundle or objects) nor a MISP event"
    )]
    UnknownJson,
    #[error(
        "the document is MDE CSV, which the bulk endpoint reads (POST /api/indicators/bulk with Content-Type: text/csv)"
    )]
    MdeCsv,
}

/// The kind of `bytes`, looking past a byte-order mark and leading white space.
pub fn sniff(bytes: &[u8]) -> DocumentKind {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
    if matches!(start.map(|i| bytes[i]), Some(b'{' | b'[')) {
        return DocumentKind::Json;
    }
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    if String::from_utf8_lossy(first_line)
        .to_ascii_lowercase()
        .contains("indicatortype")
    {
        DocumentKind::MdeCsv
    } else {
        DocumentKind::List
    }
}

/// Reads a STIX, MISP or list document; `name` is the list's name in titles and origins.
/// MDE CSV is refused with [`DocumentError::MdeCsv`]: it has its own streaming reader.
pub fn read(
    bytes: &[u8],
    name: &str,
    defaults: &ImportDefaults,
) -> Result<(Format, ImportBatch), DocumentError> {
    match sniff(bytes) {
        DocumentKind::Json => {
            let document: Value =
                serde_json::from_slice(bytes).map_err(|e| DocumentError::NotJson(e.to_string()))?;
            if misp::is_misp(&document) {
                Ok((Format::Misp, misp::read(&document, defaults)))
            } else if stix::is_stix(&document) {
                Ok((Format::Stix, stix::read(&document, defaults)))
            } else {
                Err(DocumentError::UnknownJson)
            }
        }
        DocumentKind::MdeCsv => Err(DocumentError::MdeCsv),
        DocumentKind::List => Ok((
            Format::List,
            plain::read(&String::from_utf8_lossy(bytes), name, defaults),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_apart_by_their_content() {
        let cases: [(&[u8], DocumentKind); 7] = [
            (b"{\"type\":\"bundle\"}", DocumentKind::Json),
            (b"\xEF\xBB\xBF  [ ]", DocumentKind::Json),
            (b"\n\t{}", DocumentKind::Json),
            (
                b"IndicatorType,IndicatorValue,Action\n",
                DocumentKind::MdeCsv,
            ),
            (b"indicatortype,indicatorvalue", DocumentKind::MdeCsv),
            (b"evil.example\n203.0.113.9\n", DocumentKind::List),
            (b"", DocumentKind::List),
        ];
        for (bytes, kind) in cases {
            assert_eq!(sniff(bytes), kind, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn each_format_is_read_by_its_reader() {
        let defaults = ImportDefaults::default();
        let stix = br#"{"type":"bundle","id":"bundle--6b0b8ad5-2c8a-4d9b-a7a4-7d8f6c9f1e11","objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--a932fcc6-e032-476c-826f-cb970a5a1ade","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"x","pattern":"[domain-name:value = 'evil.example']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}]}"#;
        let (format, batch) = read(stix, "f", &defaults).expect("stix");
        assert_eq!(format, Format::Stix);
        assert_eq!(batch.items.len(), 1, "{batch:?}");
        let misp = br#"{"Event":{"info":"e","Attribute":[{"type":"domain","value":"evil.example","to_ids":true}]}}"#;
        let (format, batch) = read(misp, "f", &defaults).expect("misp");
        assert_eq!(format, Format::Misp);
        assert_eq!(batch.items.len(), 1, "{batch:?}");
        let (format, batch) = read(b"evil.example\nnot a value\n", "f", &defaults).expect("list");
        assert_eq!(format, Format::List);
        assert_eq!(
            (batch.items.len(), batch.problems.len()),
            (1, 1),
            "{batch:?}"
        );
        assert_eq!(
            read(b"{\"a\":1}", "f", &defaults).map(|_| ()),
            Err(DocumentError::UnknownJson)
        );
        assert!(matches!(
            read(b"{", "f", &defaults),
            Err(DocumentError::NotJson(_))
        ));
        assert_eq!(
            read(b"IndicatorType,IndicatorValue\n", "f", &defaults).map(|_| ()),
            Err(DocumentError::MdeCsv)
        );
    }
}
