//! `POST /api/events` (extension): the detection engine. Takes device events as JSON (one
//! object or an array) or NDJSON, in MDE advanced-hunting field names (`?profile=mde`, the
//! default) or Elastic Common Schema (`?profile=ecs`); matches every observable, records it in
//! the retro-hunt index, and raises or folds alerts.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::odata::Json;
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::events::{EventFailure, EventsResponse};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use iocd_model::ErrorCode;
use iocd_service::events::EventProfile;
use iocd_service::{EventInput, IngestReport};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeSet;

/// How the events of a request are numbered: NDJSON lines from 1, array items from 0.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Position {
    Line,
    Index,
}

/// Events handed to the service at a time: bounds the memory of parsed events whatever the
/// body's length.
const CHUNK_EVENTS: usize = 10_000;

/// Most failures one answer lists; the rest are counted in `unlisted`.
const MAX_LISTED_FAILURES: usize = 1_000;

/// The shape of a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyKind {
    Ndjson,
    Json,
}

pub(crate) fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-ndjson")
        || content_type.starts_with("application/jsonl")
    {
        Ok(BodyKind::Ndjson)
    } else if content_type.starts_with("application/json") {
        Ok(BodyKind::Json)
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send events as application/json (an object or an array) or application/x-ndjson.",
        ))
    }
}

/// Each event of the body, with its position, or why it is not JSON: NDJSON lines are read
/// one at a time; a JSON array is split into its items without building them, and each is
/// parsed when its turn comes.
pub(crate) fn events<'a>(
    kind: BodyKind,
    body: &'a [u8],
) -> Result<(Box<dyn Iterator<Item = EventInput> + 'a>, Position), ApiError> {
    match kind {
        BodyKind::Ndjson => {
            let lines = body
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
                .map(|(index, line)| EventInput {
                    position: index as u64 + 1,
                    event: serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}")),
                });
            Ok((Box::new(lines), Position::Line))
        }
        BodyKind::Json => {
            let bad =
                |e: serde_json::Error| ApiError::bad_body(format!("Invalid request body: {e}."));
            let starts_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
            if !starts_array {
                let value: Value = serde_json::from_slice(body).map_err(bad)?;
                let single = EventInput {
                    position: 0,
                    event: Ok(value),
                };
                return Ok((Box::new(std::iter::once(single)), Position::Index));
            }
            let items: Vec<&'a RawValue> = serde_json::from_slice(body).map_err(bad)?;
            let parsed = items
                .into_iter()
                .enumerate()
                .map(|(index, item)| EventInput {
                    position: index as u64,
                    event: serde_json::from_str(item.get())
                        .map_err(|e| format!("invalid JSON: {e}")),
                });
            Ok((Box::new(parsed), Position::Index))
        }
    }
}

/// `POST /api/events`.
#[utoipa::path(post, path = "/api/events", tag = "detection",
    params(("profile" = Option<String>, Query, description = "mde (default) or ecs")),
    request_body(description = "One event (a JSON object), an array of events, or NDJSON (one event per line)",
        content((Object = "application/json"), (String = "application/x-ndjson"))),
    responses((status = 200, body = EventsResponse, description = "Matched here"),
        (status = 202, body = crate::wire::events::EventsQueued, description = "Published to NATS JetStream (the server consumes events from it)"),
        (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 413, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody), (status = 503, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    principal.require_events()?;
    state.check_rate(&principal, Operation::Events)?;
    let body = body.map_err(|rejection| match rejection.status() {
        _ if crate::body_timeout::is_stalled(&rejection) => ApiError::body_stalled(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "The request body is too large.")
        }
        _ => ApiError::bad_body(format!(
            "The request body could not be read: {}",
            rejection.body_text()
        )),
    })?;
    let mut profile = EventProfile::Mde;
    let raw = raw.unwrap_or_default();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        match name.as_ref() {
            "profile" => {
                profile = EventProfile::parse(&value).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidInput,
                        format!("profile {value:?} is unknown; use mde or ecs."),
                    )
                })?
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("The query parameter {other} is not supported here."),
                ));
            }
        }
    }
    let kind = body_kind(&headers)?;
    let tenant = principal.tenant.clone();
    if let Some(bus) = state.bus() {
        let queued = crate::events_bus::publish(&state, bus, &tenant, profile, kind, &body).await?;
        return Ok((StatusCode::ACCEPTED, Json(queued)).into_response());
    }
    let now = state.now();
    state
        .blocking(move |service| {
            let (inputs, position) = match events(kind, &body) {
                Ok(parsed) => parsed,
                Err(error) => return Ok(Err(error)),
            };
            let mut answer = Answer::new(position);
            let mut chunk = Vec::with_capacity(CHUNK_EVENTS);
            for input in inputs {
                chunk.push(input);
                if chunk.len() == CHUNK_EVENTS {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_EVENTS));
                    answer.add(service.ingest_events(&tenant, profile, full, now)?);
                }
            }
            if !chunk.is_empty() {
                answer.add(service.ingest_events(&tenant, profile, chunk, now)?);
            }
            Ok(Ok(Json(answer.finish()).into_response()))
        })
        .await?
}

/// The answer of a request, gathered chunk by chunk.
struct Answer {
    response: EventsResponse,
    alerts: BTreeSet<i64>,
    position: Position,
}

impl Answer {
    fn new(position: Position) -> Answer {
        Answer {
            response: EventsResponse {
                events: 0,
                observables: 0,
                matches: 0,
                alerts: Vec::new(),
                failed: Vec::new(),
                unlisted: 0,
            },
            alerts: BTreeSet::new(),
            position,
        }
    }

    fn add(&mut self, report: IngestReport) {
        let response = &mut self.response;
        response.events += report.events;
        response.observables += report.observables;
        response.matches += report.matches;
        self.alerts.extend(report.alerts);
        for failure in report.failed {
            if response.failed.len() == MAX_LISTED_FAILURES {
                response.unlisted += 1;
                continue;
            }
            let (line, index) = match self.position {
                Position::Line => (Some(failure.position), None),
                Position::Index => (None, Some(failure.position)),
            };
            response.failed.push(EventFailure {
                line,
                index,
                reason: failure.reason,
            });
        }
    }

    fn finish(mut self) -> EventsResponse {
        self.response.alerts = self.alerts.iter().map(i64::to_string).collect();
        self.response
    }
}
