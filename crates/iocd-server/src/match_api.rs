//! `POST /api/match` (extension): the prevention and investigation engines over HTTP. Takes a
//! device and a batch of observables, returns per observable (in request order) the action,
//! the winning indicator, the rule that decided and every indicator that matched.

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::response::{IntoResponse, Response};
use iocd_engine::observable::{parse_hex, parse_thumbprint};
use iocd_engine::{
    DetectorVerdict, Device, FileHashes, Observable, ObservableKind, Snapshot, Verdict, investigate,
};
use iocd_model::{ErrorCode, Timestamp};
use iocd_service::VerdictReport;
use serde::Deserialize;
use serde_json::{Value, json};

/// Most observables in one match request.
pub const MAX_OBSERVABLES: usize = 10_000;

/// Above this many observables the work moves to a blocking thread.
const INLINE_OBSERVABLES: usize = 256;

#[derive(Debug, Default, Deserialize)]
pub struct DeviceContext {
    pub id: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservableRequest {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Option<String>,
    pub sha256: Option<String>,
    pub sha1: Option<String>,
    pub md5: Option<String>,
    pub certificate_thumbprint: Option<String>,
    pub detector_verdict: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MatchRequest {
    #[serde(default)]
    pub device: DeviceContext,
    pub observables: Vec<ObservableRequest>,
}

/// A request item after its structure was checked; its value may still be invalid.
struct Checked<'a> {
    request: &'a ObservableRequest,
    detector: Option<DetectorVerdict>,
}

fn structure_error(index: usize, message: String) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequestBody,
        format!("observables[{index}]: {message}"),
    )
}

fn check_structure(index: usize, item: &ObservableRequest) -> Result<Checked<'_>, ApiError> {
    let is_file = item.kind.eq_ignore_ascii_case("File");
    if is_file {
        if item.sha256.is_none()
            && item.sha1.is_none()
            && item.md5.is_none()
            && item.certificate_thumbprint.is_none()
        {
            return Err(structure_error(
                index,
                "a File observable needs at least one of sha256, sha1, md5, certificateThumbprint"
                    .into(),
            ));
        }
    } else if ObservableKind::parse(&item.kind).is_none() {
        return Err(structure_error(
            index,
            format!(
                "unknown type {:?}; expected File, FileSha256, FileSha1, FileMd5, CertificateThumbprint, IpAddress, DomainName or Url",
                item.kind
            ),
        ));
    } else if item.value.is_none() {
        return Err(structure_error(index, "value is required".into()));
    }
    let detector = match &item.detector_verdict {
        None => None,
        Some(text) => Some(DetectorVerdict::parse(text).ok_or_else(|| {
            structure_error(
                index,
                format!("detectorVerdict {text:?} is not Malicious, Suspicious or Clean"),
            )
        })?),
    };
    Ok(Checked {
        request: item,
        detector,
    })
}

/// Parses the observable's value(s); an error here fails only this item.
pub fn parse_observable(item: &ObservableRequest) -> Result<Observable, String> {
    if item.kind.eq_ignore_ascii_case("File") {
        let hashes = FileHashes {
            sha256: item
                .sha256
                .as_deref()
                .map(|h| parse_hex("sha256", h))
                .transpose()
                .map_err(|e| e.to_string())?,
            sha1: item
                .sha1
                .as_deref()
                .map(|h| parse_hex("sha1", h))
                .transpose()
                .map_err(|e| e.to_string())?,
            md5: item
                .md5
                .as_deref()
                .map(|h| parse_hex("md5", h))
                .transpose()
                .map_err(|e| e.to_string())?,
            certificate: item
                .certificate_thumbprint
                .as_deref()
                .map(parse_thumbprint)
                .transpose()
                .map_err(|e| e.to_string())?,
        };
        return Ok(Observable::File(hashes));
    }
    let kind =
        ObservableKind::parse(&item.kind).ok_or_else(|| format!("unknown type {}", item.kind))?;
    Observable::parse(kind, item.value.as_deref().unwrap_or_default()).map_err(|e| e.to_string())
}

/// The explanation of a verdict as JSON fields.
fn verdict_fields(verdict: &Verdict) -> serde_json::Map<String, Value> {
    match serde_json::to_value(VerdictReport::from(verdict)) {
        Ok(Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    }
}

fn evaluate_all(
    snapshot: &Snapshot,
    device: &Device,
    now: Timestamp,
    items: &[Checked<'_>],
) -> Vec<Value> {
    // Parse everything first, then look the valid observables up in one batch.
    let parsed: Vec<Result<Observable, String>> = items
        .iter()
        .map(|item| parse_observable(item.request))
        .collect();
    let batch: Vec<(&Observable, &Device)> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|o| (o, device)))
        .collect();
    let mut verdicts = Vec::with_capacity(batch.len());
    snapshot.evaluate_batch(&batch, now, &mut verdicts);
    let mut verdicts = verdicts.into_iter();
    items
        .iter()
        .zip(parsed.iter())
        .map(|(item, parsed)| {
            let request = item.request;
            let mut out = serde_json::Map::new();
            out.insert("type".into(), json!(request.kind));
            if request.kind.eq_ignore_ascii_case("File") {
                for (name, value) in [
                    ("sha256", &request.sha256),
                    ("sha1", &request.sha1),
                    ("md5", &request.md5),
                    ("certificateThumbprint", &request.certificate_thumbprint),
                ] {
                    if let Some(value) = value {
                        out.insert(name.into(), json!(value));
                    }
                }
            } else {
                out.insert("value".into(), json!(request.value));
            }
            match parsed {
                Ok(_) => {
                    let verdict = verdicts.next().unwrap_or_default();
                    out.extend(verdict_fields(&verdict));
                    if let Some(detector) = item.detector {
                        out.insert(
                            "investigationVerdict".into(),
                            json!(investigate(detector, verdict.action()).as_str()),
                        );
                    }
                    out.insert("isFailed".into(), json!(false));
                    out.insert("failureReason".into(), Value::Null);
                }
                Err(reason) => {
                    out.insert("action".into(), Value::Null);
                    out.insert("indicatorId".into(), Value::Null);
                    out.insert("rule".into(), Value::Null);
                    out.insert("matched".into(), json!([]));
                    out.insert("isFailed".into(), json!(true));
                    out.insert("failureReason".into(), json!(reason));
                }
            }
            Value::Object(out)
        })
        .collect()
}

/// `POST /api/match`: verdicts for a batch of observables seen on one device.
#[utoipa::path(post, path = "/api/match", tag = "matching", request_body = crate::openapi::MatchRequestDoc,
    responses((status = 200, description = "One result per observable, in request order", body = crate::openapi::MatchResponseDoc),
        (status = 400, body = crate::openapi::ErrorBody), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody)))]
pub async fn match_observables(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<MatchRequest>,
) -> Result<Response, ApiError> {
    principal.require_match()?;
    if request.observables.len() > MAX_OBSERVABLES {
        return Err(ApiError::new(
            ErrorCode::MaximumBatchSizeExceeded,
            format!(
                "A match request holds at most {MAX_OBSERVABLES} observables; this one has {}.",
                request.observables.len()
            ),
        ));
    }
    let snapshot = state.service().snapshot(&principal.tenant);
    let device = Device::new(&request.device.groups);
    let device_id = request.device.id.clone();
    let now = state.now();
    let values = if request.observables.len() <= INLINE_OBSERVABLES {
        let checked = checked_items(&request)?;
        evaluate_all(&snapshot, &device, now, &checked)
    } else {
        tokio::task::spawn_blocking(move || {
            let checked = checked_items(&request)?;
            Ok::<_, ApiError>(evaluate_all(&snapshot, &device, now, &checked))
        })
        .await
        .map_err(|e| ApiError::internal(&e))??
    };
    Ok(axum::Json(json!({ "deviceId": device_id, "value": values })).into_response())
}

fn checked_items(request: &MatchRequest) -> Result<Vec<Checked<'_>>, ApiError> {
    request
        .observables
        .iter()
        .enumerate()
        .map(|(index, item)| check_structure(index, item))
        .collect()
}
