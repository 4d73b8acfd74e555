//! `GET /api/alerts`, `GET /api/alerts/{id}` and `PATCH /api/alerts/{id}`: the alerts the
//! detection and retro-hunting engines raise, in the shape of MDE's alert entity plus the
//! indicator that raised them.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::indicators::{ListPage, list_response, odata_response, parse_id, parse_list_options};
use crate::{AppState, base_url};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use iocd_model::ErrorCode;
use iocd_store::detections::{Alert, AlertClassification, AlertStatus, AlertUpdate};
use iocd_store::odata::Entity;
use serde_json::{Map, Value, json};

/// Every property of an alert, in the order they are written.
pub const ALERT_PROPERTIES: [&str; 26] = [
    "id",
    "incidentId",
    "assignedTo",
    "severity",
    "status",
    "classification",
    "determination",
    "detectionSource",
    "category",
    "title",
    "description",
    "recommendedActions",
    "alertCreationTime",
    "firstEventTime",
    "lastEventTime",
    "lastUpdateTime",
    "machineId",
    "computerDnsName",
    "rbacGroupName",
    "indicatorId",
    "indicatorValue",
    "indicatorType",
    "action",
    "eventCount",
    "evidence",
    "machineGroup",
];

/// An alert as JSON (MDE's alert property names where MDE has them).
pub fn alert_json(alert: &Alert) -> Value {
    json!({
        "id": alert.id.to_string(),
        "incidentId": null,
        "assignedTo": alert.assigned_to,
        "severity": alert.severity,
        "status": alert.status.as_str(),
        "classification": alert.classification.map(AlertClassification::as_str),
        "determination": null,
        "detectionSource": alert.detection_source,
        "category": alert.category,
        "title": alert.title,
        "description": alert.description,
        "recommendedActions": alert.recommended_actions,
        "alertCreationTime": alert.creation_time.to_mde_precise(),
        "firstEventTime": alert.first_event_time.to_mde_precise(),
        "lastEventTime": alert.last_event_time.to_mde_precise(),
        "lastUpdateTime": alert.last_update_time.to_mde_precise(),
        "machineId": alert.device.id,
        "computerDnsName": alert.device.name,
        "rbacGroupName": alert.device.group,
        "indicatorId": alert.indicator_id.to_string(),
        "indicatorValue": alert.indicator_value,
        "indicatorType": alert.indicator_type,
        "action": alert.action,
        "eventCount": alert.event_count,
        "evidence": alert.evidence,
        "machineGroup": alert.device.group,
    })
}

fn entity_body(base: &str, alert: &Alert) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{base}/api/$metadata#Alerts/$entity")),
    );
    if let Value::Object(fields) = alert_json(alert) {
        body.extend(fields);
    }
    Value::Object(body)
}

/// `GET /api/alerts`: OData `$filter`, `$top`, `$skip`, `$orderby`, `$count`, `$select`.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts",
    params(
        ("$filter" = Option<String>, Query, description = "e.g. status eq 'New' and severity eq 'High'"),
        ("$top" = Option<u32>, Query, description = "Page size, at most 10000"),
        ("$skip" = Option<u64>, Query),
        ("$orderby" = Option<String>, Query, description = "e.g. lastEventTime desc"),
        ("$count" = Option<bool>, Query),
        ("$select" = Option<String>, Query),
    ),
    responses((status = 200, body = crate::openapi::AlertList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    principal.require_alert_read()?;
    let options = parse_list_options(raw.as_deref(), Entity::Alert, &ALERT_PROPERTIES)?;
    let tenant = principal.tenant.clone();
    let query = options.query.clone();
    let page = state
        .blocking(move |service| service.detections().list_alerts(&tenant, &query))
        .await?;
    let page = ListPage {
        entity_set: "Alerts",
        count: page.count,
        items: page.items.iter().map(alert_json).collect(),
        has_more: page.has_more,
        last_id: page.items.last().map(|a| a.id),
    };
    Ok(list_response(
        &base_url(&state, &headers),
        uri.path(),
        &options,
        page,
    ))
}

/// `GET /api/alerts/{id}`.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = crate::openapi::AlertDoc), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require_alert_read()?;
    let id = parse_id(&id)?;
    let tenant = principal.tenant.clone();
    let alert = state
        .blocking(move |service| service.detections().get_alert(&tenant, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?;
    Ok(odata_response(
        StatusCode::OK,
        entity_body(&base_url(&state, &headers), &alert),
    ))
}

fn parse_update(body: &Value) -> Result<AlertUpdate, ApiError> {
    let Some(fields) = body.as_object() else {
        return Err(ApiError::bad_body("The body must be a JSON object."));
    };
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidInput, message);
    let mut update = AlertUpdate::default();
    for (name, value) in fields {
        match name.as_str() {
            "status" => {
                let text = value.as_str().unwrap_or_default();
                update.status = Some(AlertStatus::parse(text).ok_or_else(|| {
                    invalid(format!(
                        "status {value} is invalid; possible values: New, InProgress, Resolved."
                    ))
                })?);
            }
            "classification" => {
                update.classification = Some(match value {
                    Value::Null => None,
                    Value::String(text) => Some(AlertClassification::parse(text).ok_or_else(|| {
                        invalid(format!(
                            "classification {value} is invalid; possible values: TruePositive, InformationalExpectedActivity, FalsePositive."
                        ))
                    })?),
                    _ => return Err(invalid("classification must be a string or null.".into())),
                });
            }
            "assignedTo" => {
                update.assigned_to = Some(match value {
                    Value::Null => None,
                    Value::String(text) if text.len() <= 256 => Some(text.clone()),
                    _ => {
                        return Err(invalid(
                            "assignedTo must be a string of at most 256 characters, or null."
                                .into(),
                        ));
                    }
                });
            }
            other => {
                return Err(invalid(format!(
                    "The property {other} cannot be updated; updatable: status, classification, assignedTo."
                )));
            }
        }
    }
    if update == AlertUpdate::default() {
        return Err(ApiError::new(
            ErrorCode::MissingRequiredParameter,
            "Nothing to update: give status, classification or assignedTo.",
        ));
    }
    Ok(update)
}

/// `PATCH /api/alerts/{id}`: status, classification, assignedTo.
#[utoipa::path(patch, path = "/api/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    request_body = crate::openapi::AlertUpdateDoc,
    responses((status = 200, body = crate::openapi::AlertDoc), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require_alert_write()?;
    let id = parse_id(&id)?;
    let update = parse_update(&body)?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let alert = state
        .blocking(move |service| service.detections().update_alert(&tenant, id, &update, now))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?;
    Ok(odata_response(
        StatusCode::OK,
        entity_body(&base_url(&state, &headers), &alert),
    ))
}
