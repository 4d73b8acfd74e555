//! The file formats of `iocd import` and `iocd export` beyond MDE CSV and JSON: reading STIX,
//! MISP and plain lists (recognised by their content, `iocd_interop::document`), and writing STIX, Zeek, Suricata and
//! block lists (with `iocd_interop`).

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use iocd_interop::document::{self, DocumentKind};
use iocd_interop::{ImportBatch, ImportDefaults, Removal, sensors, stix};
use iocd_model::IndicatorEntity;
use iocd_model::csv_format::CsvReader;
use iocd_model::{Action, LegacyAction, Severity};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One indicator to submit, from where in the file.
pub(crate) struct Row {
    /// Orders reports (the line, or the position in the document).
    pub(crate) key: u64,
    pub(crate) origin: String,
    pub(crate) submission: Value,
}

/// What a file held: indicators, removals, and what could not be read, each with its origin.
pub(crate) struct Source {
    pub(crate) format: &'static str,
    pub(crate) rows: Vec<Row>,
    pub(crate) removals: Vec<Removal>,
    pub(crate) failures: Vec<(u64, String, String)>,
}

/// The defaults for formats that carry no action or severity (`--action`, `--severity`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ActionArg {
    Allowed,
    Audit,
    Warn,
    Block,
    BlockAndRemediate,
}

impl ActionArg {
    pub(crate) fn action(self) -> Action {
        match self {
            ActionArg::Allowed => Action::Allowed,
            ActionArg::Audit => Action::Audit,
            ActionArg::Warn => Action::Warn,
            ActionArg::Block => Action::Block,
            ActionArg::BlockAndRemediate => Action::BlockAndRemediate,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SeverityArg {
    Informational,
    Low,
    Medium,
    High,
}

impl SeverityArg {
    pub(crate) fn severity(self) -> Severity {
        match self {
            SeverityArg::Informational => Severity::Informational,
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
        }
    }
}

/// Reads `path` in whatever format its content shows: JSON that is STIX or a MISP event, MDE
/// CSV (its header names `IndicatorType`), or else a plain list.
pub(crate) fn read_source(path: &Path, defaults: &ImportDefaults) -> Result<Source> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if document::sniff(&bytes) == DocumentKind::MdeCsv {
        return read_csv(&bytes, path);
    }
    let name = path
        .file_name()
        .map_or_else(|| "list".to_owned(), |n| n.to_string_lossy().into_owned());
    let (format, batch) = document::read(&bytes, &name, defaults)
        .with_context(|| format!("in {}", path.display()))?;
    Ok(from_batch(format.as_str(), batch))
}

fn from_batch(format: &'static str, batch: ImportBatch) -> Source {
    // Reports follow the document: items and problems in the order their origins appear.
    let mut order: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut key_of = |origin: &str| {
        let next = order.len() as u64 + 1;
        *order.entry(origin.to_owned()).or_insert(next)
    };
    let rows = batch
        .items
        .into_iter()
        .map(|item| Row {
            key: key_of(&item.origin),
            origin: item.origin,
            submission: Value::Object(item.submission),
        })
        .collect();
    let failures = batch
        .problems
        .into_iter()
        .map(|p| (key_of(&p.origin), p.origin, p.reason))
        .collect();
    Source {
        format,
        rows,
        removals: batch.removals,
        failures,
    }
}

fn read_csv(bytes: &[u8], path: &Path) -> Result<Source> {
    let mut reader = CsvReader::new(bytes).with_context(|| format!("in {}", path.display()))?;
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for row in reader.by_ref() {
        let origin = format!("line {}", row.line);
        match row.submission {
            Err(error) => failures.push((row.line, origin, error.message)),
            Ok(submission) => {
                let action = submission
                    .action
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if LegacyAction::parse(action).is_some() {
                    failures.push((
                        row.line,
                        origin,
                        format!("Error in parsing field Action, value: {action}. Possible values: Allowed,Audit,BlockAndRemediate,Warn,Block"),
                    ));
                    continue;
                }
                rows.push(Row {
                    key: row.line,
                    origin,
                    submission: serde_json::to_value(&submission)?,
                });
            }
        }
    }
    if let Some(error) = reader.take_error() {
        bail!("{}: {error}", path.display());
    }
    Ok(Source {
        format: "CSV",
        rows,
        removals: Vec::new(),
        failures,
    })
}

/// Export formats that need the whole set before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collected {
    Stix,
    Zeek,
    Suricata,
    Text,
    /// MDE CSV split into 500-row files (`--output-dir`).
    CsvFiles,
}

/// Writes `entities` in `format`: to `output` (a file, or stdout when `None`) for one-file
/// formats, or as files in `dir`.
pub(crate) fn write_collected(
    format: Collected,
    entities: &[IndicatorEntity],
    output: Option<&PathBuf>,
    dir: Option<&PathBuf>,
) -> Result<()> {
    let files: Vec<sensors::ExportFile> = match (format, dir) {
        (Collected::Stix, _) => {
            let mut text = serde_json::to_vec_pretty(&stix::bundle(entities))?;
            text.push(b'\n');
            return write_one(output, &text);
        }
        (Collected::Zeek, _) => return write_one(output, &sensors::zeek_intel(entities).1),
        (Collected::Text, None) => return write_one(output, &sensors::block_list(entities)),
        (Collected::Text, Some(_)) => sensors::block_lists(entities),
        (Collected::Suricata, Some(_)) => {
            let (files, skipped) = sensors::suricata(entities);
            if skipped > 0 {
                eprintln!(
                    "{skipped} indicators (SHA-1 hashes, certificates, URLs) have no Suricata list; export them for Zeek or as lists"
                );
            }
            files
        }
        (Collected::CsvFiles, Some(_)) => sensors::mde_csv_files(entities)?,
        (Collected::Suricata | Collected::CsvFiles, None) => {
            bail!("this format writes several files: name a directory with --output-dir")
        }
    };
    let Some(dir) = dir else {
        bail!("--output-dir is needed");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, contents) in &files {
        let path = dir.join(name);
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}

fn write_one(output: Option<&PathBuf>, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    match output {
        Some(path) => std::fs::write(path, contents)
            .with_context(|| format!("cannot write {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(contents)?;
            stdout.flush()?;
            Ok(())
        }
    }
}
