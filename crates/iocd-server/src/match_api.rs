//! `POST /api/match` (extension): the prevention and investigation engines over HTTP. Takes a
//! device and a batch of observables, returns per observable (in request order) the action,
//! the winning indicator, the rule that decided and every indicator that matched.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::odata::Json;
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::matching::{
    BypassEntity, BypassList, BypassRequest, MatchRequest, MatchResponse, MatchResult,
    ObservableRequest,
};
use iocd_engine::observable::{parse_hex, parse_thumbprint};
use iocd_engine::{
    DetectorVerdict, Device, FileHashes, Observable, ObservableKind, Snapshot, investigate,
};
use iocd_model::{ErrorCode, Timestamp};
use iocd_service::VerdictReport;

/// Most observables in one match request.
pub(crate) const MAX_OBSERVABLES: usize = 10_000;

/// Above this many observables the work moves to a blocking thread.
const INLINE_OBSERVABLES: usize = 256;

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
pub(crate) fn parse_observable(item: &ObservableRequest) -> Result<Observable, String> {
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

fn evaluate_all(
    snapshot: &Snapshot,
    device: &Device,
    now: Timestamp,
    items: &[Checked<'_>],
) -> Vec<MatchResult> {
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
        .zip(parsed)
        .map(|(item, parsed)| match parsed {
            Ok(_) => {
                let verdict = verdicts.next().unwrap_or_default();
                MatchResult {
                    observable: item.request.clone(),
                    investigation_verdict: item.detector.map(|detector| {
                        investigate(detector, verdict.action()).as_str().to_owned()
                    }),
                    verdict: VerdictReport::from(&verdict),
                    is_failed: false,
                    failure_reason: None,
                }
            }
            Err(reason) => MatchResult {
                observable: item.request.clone(),
                verdict: VerdictReport::none(),
                investigation_verdict: None,
                is_failed: true,
                failure_reason: Some(reason),
            },
        })
        .collect()
}

/// `POST /api/match`: verdicts for a batch of observables seen on one device.
#[utoipa::path(post, path = "/api/match", tag = "matching", request_body = MatchRequest,
    responses((status = 200, description = "One result per observable, in request order", body = MatchResponse),
        (status = 400, body = crate::wire::errors::ErrorBody), (status = 401, body = crate::wire::errors::ErrorBody),
        (status = 403, body = crate::wire::errors::ErrorBody), (status = 413, body = crate::wire::errors::ErrorBody),
        (status = 415, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn match_observables(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<MatchRequest>,
) -> Result<Json<MatchResponse>, ApiError> {
    principal.require_match()?;
    state.check_rate(&principal, Operation::Match)?;
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
    let groups = state.device_groups(&principal.tenant).await?;
    let context = &request.device;
    let facts = iocd_service::groups::DeviceFacts {
        name: context.name.as_deref(),
        domain: context.domain.as_deref(),
        os: context.os.as_deref(),
        tags: &context.tags,
    };
    let described = context.groups.is_empty() && !facts.is_empty();
    let (device, described_group) = if described {
        let group = groups.classify(&facts);
        (
            iocd_service::groups::TenantGroups::device_in(group),
            Some(group),
        )
    } else {
        (groups.device_for_names(&context.groups), None)
    };
    let device_id = request.device.id.clone();
    let now = state.now();
    if let Some(id) = device_id.as_deref().filter(|id| is_device_id(id)) {
        let group_id = described_group.unwrap_or_else(|| groups.group_for_names(&context.groups));
        state.service().note_device(
            &principal.tenant,
            iocd_store::devices::SeenDevice {
                id: id.to_owned(),
                name: kept(&context.name),
                domain: kept(&context.domain),
                os: kept(&context.os),
                tags: context
                    .tags
                    .iter()
                    .filter(|tag| is_device_id(tag))
                    .take(MAX_KEPT_TAGS)
                    .cloned()
                    .collect(),
                group_id: Some(group_id),
                first_seen: now,
                last_seen: now,
            },
        );
    }
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
    count_matches(&state, &values);
    // What the device shows the user comes from the winning indicator; a warning the user
    // bypassed on this device is allowed there.
    let values = values
        .into_iter()
        .map(|mut result| {
            let winner: Option<i64> = result
                .verdict
                .indicator_id
                .as_deref()
                .and_then(|id| id.parse().ok());
            if let Some(id) = winner {
                let bypass = match (&device_id, result.verdict.action) {
                    (Some(device), Some(iocd_model::Action::Warn)) => state
                        .service()
                        .bypassed_until(&principal.tenant, device, id, now),
                    _ => None,
                };
                result.verdict = match bypass {
                    Some(until) => result.verdict.bypassed(until),
                    None => {
                        let notice = state.service().notice(&principal.tenant, id);
                        result.verdict.with_notice(notice.as_deref())
                    }
                };
            }
            result
        })
        .collect();
    Ok(Json(MatchResponse {
        device_id,
        value: values,
    }))
}

/// Counts the request's matches by the winning action (one increment per action).
fn count_matches(state: &AppState, values: &[MatchResult]) {
    let mut by_action = [0u64; iocd_model::Action::ALL.len()];
    for result in values {
        if let Some(action) = result.verdict.action
            && result.verdict.indicator_id.is_some()
            && let Some(slot) = iocd_model::Action::ALL.iter().position(|a| *a == action)
        {
            by_action[slot] += 1;
        }
    }
    let telemetry = state.service().telemetry();
    for (action, n) in iocd_model::Action::ALL.iter().zip(by_action) {
        telemetry.count(
            iocd_service::telemetry::MATCHES,
            &[("source", "match"), ("action", action.as_str())],
            n,
        );
    }
}

/// Whether a device id (or a property it gives) is kept in the devices seen: 1 to 256
/// characters.
fn is_device_id(id: &str) -> bool {
    !id.trim().is_empty() && id.chars().count() <= 256
}

/// Most tags kept per device.
const MAX_KEPT_TAGS: usize = 50;

/// A device property as kept in the devices seen: dropped when it is not 1 to 256 characters.
fn kept(property: &Option<String>) -> Option<String> {
    property.clone().filter(|text| is_device_id(text))
}

fn checked_items(request: &MatchRequest) -> Result<Vec<Checked<'_>>, ApiError> {
    request
        .observables
        .iter()
        .enumerate()
        .map(|(index, item)| check_structure(index, item))
        .collect()
}

/// `POST /api/match/bypass`: a user shown a warning on a device chose to continue; until the
/// indicator's `bypassDurationHours` (24 by default) pass, that device gets `Allowed` for that
/// indicator. Recorded in the indicator's history, and in its alert's evidence when it raises
/// alerts.
#[utoipa::path(post, path = "/api/match/bypass", tag = "matching", request_body = BypassRequest,
    responses((status = 200, body = BypassEntity), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn bypass(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<BypassRequest>,
) -> Result<Json<BypassEntity>, ApiError> {
    principal.require_match()?;
    state.check_rate(&principal, Operation::Match)?;
    let device = request.device.id.trim().to_owned();
    if device.is_empty() || device.chars().count() > 256 {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "device.id: 1 to 256 characters.",
        ));
    }
    if request
        .user
        .as_ref()
        .is_some_and(|u| u.chars().count() > 256)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "user: at most 256 characters.",
        ));
    }
    let indicator_id = crate::indicators::parse_id(&request.indicator_id)?;
    let tenant = principal.tenant.clone();
    let actor = crate::indicators::actor(&principal);
    let now = state.now();
    let user = request.user.clone();
    let recorded = state
        .blocking(move |service| {
            service.record_bypass(&tenant, &device, indicator_id, user, &actor, now)
        })
        .await?;
    match recorded {
        Ok(bypass) => Ok(Json(BypassEntity::from(&bypass))),
        Err(iocd_service::bypasses::BypassRefusal::NoSuchIndicator) => {
            Err(ApiError::not_found(format!("indicator {indicator_id}")))
        }
        Err(iocd_service::bypasses::BypassRefusal::NotWarn(action)) => Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("Indicator {indicator_id} is {action}; only Warn indicators can be bypassed."),
        )),
    }
}

/// `GET /api/match/bypasses`: the bypasses in force, oldest first.
#[utoipa::path(get, path = "/api/match/bypasses", tag = "matching",
    responses((status = 200, body = BypassList), (status = 401, body = crate::wire::errors::ErrorBody),
        (status = 403, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn bypasses(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
) -> Result<Json<BypassList>, ApiError> {
    principal.require_match()?;
    state.check_rate(&principal, Operation::Match)?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let list = state
        .blocking(move |service| service.bypasses(&tenant, now))
        .await?;
    Ok(Json(BypassList {
        value: list.iter().map(BypassEntity::from).collect(),
    }))
}
