//! `POST /api/events` (extension): the detection engine. Takes device events as JSON (one
//! object or an array) or NDJSON, in MDE advanced-hunting field names (`?profile=mde`, the
//! default) or Elastic Common Schema (`?profile=ecs`); matches every observable, records it in
//! the retro-hunt index, and raises or folds alerts.

use crate::AppState;
use crate::auth::Principal;
use crate::detection::{EventProfile, extract, sightings};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use iocd_engine::{Device, Observable};
use iocd_model::ErrorCode;
use iocd_store::detections::AlertHit;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// An event and where it was in the request (NDJSON line or array index).
struct Numbered {
    position: u64,
    event: Result<Value, String>,
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<(Vec<Numbered>, &'static str), ApiError> {
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
            .map(|(index, line)| Numbered {
                position: index as u64 + 1,
                event: serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}")),
            })
            .collect();
        return Ok((events, "line"));
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
            .map(|(index, event)| Numbered {
                position: index as u64,
                event: Ok(event),
            })
            .collect(),
        other => vec![Numbered {
            position: 0,
            event: Ok(other),
        }],
    };
    Ok((events, "index"))
}

/// `POST /api/events`.
#[utoipa::path(post, path = "/api/events", tag = "detection",
    params(("profile" = Option<String>, Query, description = "mde (default) or ecs")),
    request_body(content = String, description = "JSON object or array, or NDJSON", content_type = "application/x-ndjson"),
    responses((status = 200, body = crate::openapi::EventsResponseDoc), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 415, body = crate::openapi::ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require_events()?;
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
    let snapshot = state.engines().snapshot(&tenant);
    let detections = state.detections().clone();
    let summary = tokio::task::spawn_blocking(move || -> Result<Value, iocd_store::StoreError> {
        let mut failed = Vec::new();
        let mut hits = Vec::new();
        let mut seen_index = Vec::new();
        let (mut accepted, mut matches) = (0u64, 0u64);
        let mut extracted = Vec::new();
        for numbered in events {
            let event = match numbered.event.and_then(|event| extract(profile, &event, now)) {
                Ok(event) => event,
                Err(reason) => {
                    failed.push(json!({position_name: numbered.position, "reason": reason}));
                    continue;
                }
            };
            accepted += 1;
            for reason in &event.invalid {
                failed.push(json!({position_name: numbered.position, "reason": reason}));
            }
            for seen in &event.seen {
                seen_index.extend(sightings(&seen.observable, &event.device, event.time));
            }
            let device = Device::new(event.device.group.as_slice());
            extracted.push((event, device));
        }
        // Every observable of the request in one batch, so their lookups overlap.
        let items: Vec<(&Observable, &Device)> = extracted
            .iter()
            .flat_map(|(event, device)| event.seen.iter().map(move |s| (&s.observable, device)))
            .collect();
        let observables = items.len();
        let mut verdicts = Vec::with_capacity(items.len());
        snapshot.evaluate_batch(&items, now, &mut verdicts);
        let mut verdicts = verdicts.into_iter();
        for (event, _) in &extracted {
            for (seen, verdict) in event.seen.iter().zip(verdicts.by_ref()) {
                if verdict.winner().is_some() {
                    matches += 1;
                }
                if let Some(winner) = verdict.winner().filter(|_| verdict.raises_alert()) {
                    hits.push(AlertHit {
                        indicator_id: winner.id,
                        device: event.device.clone(),
                        event_time: event.time,
                        evidence: json!({
                            "source": "event",
                            "field": seen.field,
                            "value": seen.value,
                            "eventTime": event.time.to_mde_seconds(),
                            "action": winner.action.as_str(),
                            "rule": verdict.rule.map(|r| r.as_str()),
                            "matched": verdict.matched.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(),
                        }),
                    });
                }
            }
        }
        detections.record_sightings(&tenant, &seen_index)?;
        let alert_ids: BTreeSet<i64> = detections
            .record_hits(&tenant, &hits, now)?
            .into_iter()
            .flatten()
            .collect();
        Ok(json!({
            "events": accepted,
            "observables": observables,
            "matches": matches,
            "alerts": alert_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
            "failed": failed,
        }))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(ApiError::from)?;
    Ok(axum::Json(summary).into_response())
}
