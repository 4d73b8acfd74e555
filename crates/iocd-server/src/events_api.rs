//! `POST /api/events` (extension): the detection engine. Takes device events as JSON (one
//! object or an array) or NDJSON, in MDE advanced-hunting field names (`?profile=mde`, the
//! default) or Elastic Common Schema (`?profile=ecs`); matches every observable, records it in
//! the retro-hunt index, and raises or folds alerts.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::odata::Json;
use crate::state::AppState;
use crate::wire::events::{EventFailure, EventsResponse};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use iocd_model::ErrorCode;
use iocd_service::EventInput;
use iocd_service::events::EventProfile;
use serde_json::Value;

/// How the events of a request are numbered: NDJSON lines from 1, array items from 0.
#[derive(Debug, Clone, Copy)]
enum Position {
    Line,
    Index,
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<(Vec<EventInput>, Position), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-ndjson")
        || content_type.starts_with("application/jsonl")
    {
        let events = body
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(index, line)| EventInput {
                position: index as u64 + 1,
                event: serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}")),
            })
            .collect();
        return Ok((events, Position::Line));
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send events as application/json (an object or an array) or application/x-ndjson.",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_body(format!("Invalid request body: {e}.")))?;
    let events = match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, event)| EventInput {
                position: index as u64,
                event: Ok(event),
            })
            .collect(),
        other => vec![EventInput {
            position: 0,
            event: Ok(other),
        }],
    };
    Ok((events, Position::Index))
}

/// `POST /api/events`.
#[utoipa::path(post, path = "/api/events", tag = "detection",
    params(("profile" = Option<String>, Query, description = "mde (default) or ecs")),
    request_body(content = String, description = "JSON object or array, or NDJSON", content_type = "application/x-ndjson"),
    responses((status = 200, body = EventsResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 413, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    principal.require_events()?;
    let body = body.map_err(|rejection| match rejection.status() {
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
    let (events, position_name) = parse_body(&headers, &body)?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let report = state
        .blocking(move |service| service.ingest_events(&tenant, profile, events, now))
        .await?;
    let failed = report
        .failed
        .into_iter()
        .map(|failure| {
            let (line, index) = match position_name {
                Position::Line => (Some(failure.position), None),
                Position::Index => (None, Some(failure.position)),
            };
            EventFailure {
                line,
                index,
                reason: failure.reason,
            }
        })
        .collect();
    Ok(Json(EventsResponse {
        events: report.events,
        observables: report.observables,
        matches: report.matches,
        alerts: report.alerts.iter().map(i64::to_string).collect(),
        failed,
    }))
}
