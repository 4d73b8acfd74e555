//! `GET /api/alerts`, `GET /api/alerts/{id}` and `PATCH /api/alerts/{id}`: the alerts the
//! detection and retro-hunting engines raise, in the shape of MDE's alert entity plus the
//! indicator that raised them.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::indicators::parse_id;
use crate::odata::{OData, base_url, page_link, parse_list_options, select};
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::alerts::{AlertEntity, AlertPage, AlertPatch, AlertResponse};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use iocd_model::ErrorCode;
use iocd_store::detections::{AlertClassification, AlertStatus, AlertUpdate};
use iocd_store::odata::Entity;

fn alert_response(base: &str, alert: AlertEntity) -> AlertResponse {
    AlertResponse {
        context: format!("{base}/api/$metadata#Alerts/$entity"),
        alert,
    }
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
        ("$skiptoken" = Option<i64>, Query, description = "Continuation from @odata.nextLink"),
    ),
    responses((status = 200, body = AlertPage), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Result<OData<AlertPage>, ApiError> {
    principal.require_alert_read()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let options = parse_list_options(raw.as_deref(), Entity::Alert, &AlertEntity::PROPERTIES)?;
    let tenant = principal.tenant.clone();
    let query = options.query.clone();
    let page = state
        .blocking(move |service| service.detections().list_alerts(&tenant, &query))
        .await?;
    let entities: Vec<AlertEntity> = page.items.iter().map(AlertEntity::from).collect();
    let base = base_url(&state);
    let last_id = page.items.last().map(|alert| alert.id);
    Ok(OData(AlertPage {
        context: format!("{base}/api/$metadata#Alerts"),
        count: page.count,
        value: select(&entities, &options)?,
        next_link: page_link(&base, uri.path(), &options, page.has_more, last_id),
    }))
}

/// `GET /api/alerts/{id}`.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<OData<AlertResponse>, ApiError> {
    principal.require_alert_read()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let id = parse_id(&id)?;
    let tenant = principal.tenant.clone();
    let alert = state
        .blocking(move |service| service.detections().get_alert(&tenant, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?;
    Ok(OData(alert_response(
        &base_url(&state),
        AlertEntity::from(&alert),
    )))
}

/// Checks an alert update's values and turns it into the store's.
fn parse_update(patch: AlertPatch, author: &str) -> Result<AlertUpdate, ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidInput, message);
    let mut update = AlertUpdate::default();
    if let Some(text) = patch.status {
        update.status = Some(AlertStatus::parse(&text).ok_or_else(|| {
            invalid(format!(
                "status {text:?} is invalid; possible values: New, InProgress, Resolved."
            ))
        })?);
    }
    if let Some(classification) = patch.classification {
        update.classification = Some(match classification {
            None => None,
            Some(text) => Some(AlertClassification::parse(&text).ok_or_else(|| {
                invalid(format!(
                    "classification {text:?} is invalid; possible values: TruePositive, InformationalExpectedActivity, FalsePositive."
                ))
            })?),
        });
    }
    if let Some(assigned_to) = patch.assigned_to {
        if assigned_to
            .as_ref()
            .is_some_and(|text| text.chars().count() > 256)
        {
            return Err(invalid(
                "assignedTo must be a string of at most 256 characters, or null.".into(),
            ));
        }
        update.assigned_to = Some(assigned_to);
    }
    if let Some(comment) = patch.comment {
        let count = comment.chars().count();
        if comment.trim().is_empty() || count > 10_000 {
            return Err(invalid(
                "comment must be a string of 1 to 10,000 characters.".into(),
            ));
        }
        update.comment = Some((comment, author.to_owned()));
    }
    if update == AlertUpdate::default() {
        return Err(ApiError::new(
            ErrorCode::MissingRequiredParameter,
            "Nothing to update: give status, classification, assignedTo or comment.",
        ));
    }
    Ok(update)
}

/// `PATCH /api/alerts/{id}`: status, classification, assignedTo.
#[utoipa::path(patch, path = "/api/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    request_body = AlertPatch,
    responses((status = 200, body = AlertResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AlertPatch>,
) -> Result<OData<AlertResponse>, ApiError> {
    principal.require_alert_write()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let id = parse_id(&id)?;
    let update = parse_update(patch, &principal.app_id)?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let alert = state
        .blocking(move |service| service.detections().update_alert(&tenant, id, &update, now))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?;
    Ok(OData(alert_response(
        &base_url(&state),
        AlertEntity::from(&alert),
    )))
}
