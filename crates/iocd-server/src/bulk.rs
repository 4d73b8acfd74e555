//! `POST /api/indicators/bulk` (iocd extension): a streamed NDJSON or MDE-CSV body of any
//! length, validated row by row and committed in large transactions, with a result per row.
//!
//! The body is forwarded chunk by chunk to a blocking worker that parses, validates and writes;
//! memory stays bounded by the batch size, not the body size. Each batch is committed before
//! the next is read, so what the response reports as stored is durable.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::indicators::{actor, validation_options, write_context};
use crate::odata::OData;
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::indicators::{BulkResponse, BulkRow, ImportResult};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use iocd_model::csv_format::CsvReader;
use iocd_model::{
    ErrorCode, IndicatorSubmission, SubmissionSource, ValidationOptions, validate_submission,
};
use iocd_service::Service;
use iocd_store::{Actor, UpsertOutcome, WriteContext};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// A batch (one transaction) ends once its rows reach this many bytes, counted as each row's
/// text plus [`ROW_OVERHEAD_BYTES`]: about 25,000 typical rows, enough to amortise the commit,
/// and the batches in flight (one filling, two queued, one being written) stay near 64 MiB
/// whatever the rows hold.
const BATCH_BYTES: usize = 16 << 20;
/// What a row costs beyond its source text, for the count above: its slot in the batch (the
/// parsed spec, about 600 bytes) and a failure's message.
const ROW_OVERHEAD_BYTES: usize = std::mem::size_of::<Pending>() + 64;
/// Longest NDJSON line accepted (CSV rows have the same limit, `csv_format::MAX_ROW_BYTES`).
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Most rows one answer lists (the first failed ones, or the first of all with `report=all`);
/// the totals count every row. Bounds the answer's memory whatever the body's length.
pub(crate) const MAX_LISTED_ROWS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Ndjson,
    Csv,
}

/// Reads the request body as it arrives from the async side.
struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(message)) => return Err(std::io::Error::other(message)),
            }
        }
        let n = buffer.len().min(self.current.len());
        buffer[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Totals and per-row results of one bulk request.
#[derive(Debug, Default)]
struct BulkReport {
    answer: BulkResponse,
    /// Time spent inside store transactions.
    store_time: std::time::Duration,
}

struct Pending {
    line: u64,
    echo: Option<String>,
    spec: Result<iocd_model::IndicatorSpec, String>,
}

/// The first pipeline stage: parses and validates rows, handing full batches to the writer.
struct Batcher {
    options: ValidationOptions,
    pending: Vec<Pending>,
    /// The source bytes of the pending rows, plus their overhead.
    pending_bytes: usize,
    sender: std::sync::mpsc::SyncSender<Vec<Pending>>,
}

impl Batcher {
    fn push(
        &mut self,
        line: u64,
        bytes: usize,
        submission: Result<IndicatorSubmission, String>,
    ) -> Result<(), WriterGone> {
        let (echo, spec) = match submission {
            Ok(submission) => (
                submission.value_text(),
                validate_submission(&submission, &self.options).map_err(|e| e.message),
            ),
            Err(reason) => (None, Err(reason)),
        };
        self.pending.push(Pending { line, echo, spec });
        self.pending_bytes += bytes + ROW_OVERHEAD_BYTES;
        if self.pending_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), WriterGone> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.sender.send(batch).map_err(|_| WriterGone)
    }
}

/// The writer stage stopped (its error is reported when it is joined).
struct WriterGone;

/// The second pipeline stage: stores each batch in one transaction and tallies the results.
fn write_batches(
    service: &Service,
    tenant: &str,
    actor: &Actor,
    context: &WriteContext,
    report_all: bool,
    batches: std::sync::mpsc::Receiver<Vec<Pending>>,
) -> Result<BulkReport, iocd_store::StoreError> {
    let mut report = BulkReport::default();
    for batch in batches {
        let mut lines = Vec::with_capacity(batch.len());
        let mut validated = Vec::with_capacity(batch.len());
        for item in batch {
            lines.push((item.line, item.echo));
            validated.push(item.spec);
        }
        let started = std::time::Instant::now();
        let outcomes = service.upsert_validated(tenant, actor, context, validated)?;
        report.store_time += started.elapsed();
        let answer = &mut report.answer;
        for ((line, echo), outcome) in lines.into_iter().zip(outcomes) {
            answer.received += 1;
            let (id, failure) = match outcome {
                Ok(UpsertOutcome::Created(id)) => {
                    answer.created += 1;
                    (Some(id), None)
                }
                Ok(UpsertOutcome::Updated(id)) => {
                    answer.updated += 1;
                    (Some(id), None)
                }
                Ok(UpsertOutcome::Failed { message, .. }) | Err(message) => {
                    answer.failed += 1;
                    (None, Some(message))
                }
            };
            if report_all || failure.is_some() {
                if answer.value.len() < MAX_LISTED_ROWS {
                    answer.value.push(BulkRow {
                        line,
                        result: ImportResult::new(id, echo, failure),
                    });
                } else {
                    answer.unlisted += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Parses the whole body into batches. A file-level problem (bad CSV header, a row over the
/// length limit, an unreadable body) ends the request with an error; every complete row read
/// before it is still handed over and committed, and a row cut off by the problem is not.
fn parse_body(
    batcher: &mut Batcher,
    format: BodyFormat,
    input: ChannelReader,
) -> Result<(), ApiError> {
    let read = read_rows(batcher, format, input);
    batcher.flush().map_err(writer_gone)?;
    read
}

fn writer_gone(_: WriterGone) -> ApiError {
    ApiError::internal(&"the bulk writer stopped")
}

/// Reads the body's rows into `batcher`, stopping at the first file-level problem.
fn read_rows(
    batcher: &mut Batcher,
    format: BodyFormat,
    input: ChannelReader,
) -> Result<(), ApiError> {
    match format {
        BodyFormat::Csv => {
            let mut reader = CsvReader::new(input).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("Failed to parse CSV file: {e}."),
                )
            })?;
            for row in reader.by_ref() {
                batcher
                    .push(row.line, row.bytes, row.submission.map_err(|e| e.message))
                    .map_err(writer_gone)?;
            }
            if let Some(error) = reader.take_error() {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "Failed to parse CSV file: {error}; the rows before it were processed."
                    ),
                ));
            }
        }
        BodyFormat::Ndjson => {
            let mut reader = BufReader::with_capacity(256 * 1024, input);
            let mut line = Vec::new();
            let mut number = 0u64;
            loop {
                line.clear();
                let read = reader
                    .by_ref()
                    .take(MAX_LINE_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| {
                        ApiError::bad_body(format!(
                            "Reading the body failed at line {}: {e}; the rows before it were processed.",
                            number + 1
                        ))
                    })?;
                if read == 0 {
                    break;
                }
                number += 1;
                if line.len() > MAX_LINE_BYTES {
                    return Err(ApiError::bad_body(format!(
                        "Line {number} is longer than {MAX_LINE_BYTES} bytes; the rows before it were processed."
                    )));
                }
                let text = line.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                let submission = serde_json::from_slice::<IndicatorSubmission>(text)
                    .map_err(|e| format!("Line {number} is not a JSON indicator object: {e}."));
                batcher
                    .push(number, text.len(), submission)
                    .map_err(writer_gone)?;
            }
        }
    }
    Ok(())
}

/// Streams NDJSON or MDE CSV of any length; one result per failed row (all rows with
/// `report=all`).
#[utoipa::path(post, path = "/api/indicators/bulk", tag = "indicators",
    params(("report" = Option<String>, Query, description = "failures (default) or all")),
    request_body(content((String = "application/x-ndjson"), (String = "text/csv")), description = "One indicator per line, or MDE CSV"),
    responses((status = 200, body = BulkResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 413, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 408, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody),
        (status = 503, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn bulk(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
    body: Body,
) -> Result<OData<BulkResponse>, ApiError> {
    let request_started = std::time::Instant::now();
    state.check_rate(&principal, Operation::Bulk)?;
    // Held by the writer, so the slot frees when the work ends, not when the client goes.
    let slot = state.bulk_slot()?;
    let context = write_context(&state, &principal)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match media_type.as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => {
            BodyFormat::Ndjson
        }
        "text/csv" => BodyFormat::Csv,
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The bulk endpoint takes 'Content-Type: application/x-ndjson' or 'Content-Type: text/csv'.",
            ));
        }
    };
    let report_all = match form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "report")
        .map(|(_, value)| value.into_owned())
        .as_deref()
    {
        None | Some("failures") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("report={other} is not one of: all, failures."),
            ));
        }
    };
    let options = match format {
        BodyFormat::Csv => ValidationOptions {
            source: SubmissionSource::Csv,
            ..validation_options(&state)
        },
        BodyFormat::Ndjson => validation_options(&state),
    };

    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(32);
    let (batch_sender, batch_receiver) = std::sync::mpsc::sync_channel::<Vec<Pending>>(2);
    let service = Arc::clone(state.service());
    let tenant = principal.tenant.clone();
    let actor = actor(&principal);
    let writer = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        write_batches(
            &service,
            &tenant,
            &actor,
            &context,
            report_all,
            batch_receiver,
        )
    });
    let parser = tokio::task::spawn_blocking(move || {
        let mut batcher = Batcher {
            options,
            pending: Vec::new(),
            pending_bytes: 0,
            sender: batch_sender,
        };
        parse_body(
            &mut batcher,
            format,
            ChannelReader {
                receiver,
                current: Bytes::new(),
            },
        )
    });

    let max_bytes = state.config().max_bulk_body_bytes;
    let mut received_bytes: u64 = 0;
    let mut too_large = false;
    let mut stalled = false;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let message = match chunk {
            Ok(bytes) => {
                received_bytes += bytes.len() as u64;
                if received_bytes > max_bytes {
                    too_large = true;
                    // An error, not the end of the body: the row cut off here must fail, not
                    // be read as complete.
                    let _ = sender
                        .send(Err(format!("the body exceeds {max_bytes} bytes")))
                        .await;
                    break;
                }
                Ok(bytes)
            }
            Err(error) => {
                stalled = crate::body_timeout::is_stalled(&error);
                Err(format!("the request body could not be read: {error}"))
            }
        };
        let failed_read = message.is_err();
        if sender.send(message).await.is_err() || failed_read {
            break;
        }
    }
    drop(sender);
    let parse_started = std::time::Instant::now();
    let parsed = parser.await.map_err(|e| ApiError::internal(&e))?;
    let report = writer.await.map_err(|e| ApiError::internal(&e))??;
    tracing::info!(
        rows = report.answer.received,
        created = report.answer.created,
        failed = report.answer.failed,
        store_seconds = report.store_time.as_secs_f64(),
        total_seconds = request_started.elapsed().as_secs_f64(),
        waited_for_parser_seconds = parse_started.elapsed().as_secs_f64(),
        "bulk request done"
    );
    if stalled {
        return Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "The request body stopped arriving; {} rows before that point were processed.",
                report.answer.received
            ),
        ));
    }
    if too_large {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The body exceeds {max_bytes} bytes; {} rows before that point were processed.",
                report.answer.received
            ),
        ));
    }
    parsed?;
    Ok(OData(report.answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iocd_model::Timestamp;

    #[test]
    fn a_batch_ends_at_its_byte_budget() {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Pending>>(64);
        let mut batcher = Batcher {
            options: ValidationOptions::json(Timestamp::from_unix_seconds(0), false),
            pending: Vec::new(),
            pending_bytes: 0,
            sender,
        };
        let row = || Err::<IndicatorSubmission, _>("a row".to_owned());
        // Rows of 1 MiB: a batch holds 16 of them.
        for line in 0..40 {
            assert!(batcher.push(line, 1 << 20, row()).is_ok());
        }
        let batches: Vec<usize> = receiver.try_iter().map(|batch| batch.len()).collect();
        assert_eq!(batches, vec![16, 16]);
        assert_eq!(batcher.pending.len(), 8);
        assert!(batcher.flush().is_ok());
        assert_eq!(
            receiver.try_iter().map(|batch| batch.len()).sum::<usize>(),
            8
        );
        // Small rows: each counts its text and its slot.
        let per_batch = BATCH_BYTES.div_ceil(100 + ROW_OVERHEAD_BYTES);
        for line in 0..per_batch as u64 * 2 {
            assert!(batcher.push(line, 100, row()).is_ok());
        }
        let batches: Vec<usize> = receiver.try_iter().map(|batch| batch.len()).collect();
        assert_eq!(batches, vec![per_batch, per_batch]);
        assert!((20_000..30_000).contains(&per_batch), "{per_batch}");
    }
}
