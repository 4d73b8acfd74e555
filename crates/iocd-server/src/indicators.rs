//! Handlers of MDE's indicator endpoints: list (OData), get, submit, import, delete, batch
//! delete, and iocd's history extension.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::odata::{OData, base_url, page_link, parse_list_options, select};
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::indicators::{
    BatchDeleteRequest, HistoryEntry, HistoryResponse, ImportRequest, ImportResponse, ImportResult,
    IndicatorPage, IndicatorResponse,
};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iocd_model::{
    ErrorCode, IndicatorEntity, IndicatorSubmission, ValidationOptions, validate_submission,
};
use iocd_store::odata::Entity;
use iocd_store::{Actor, DeleteOutcome, UpsertOutcome, WriteContext};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Most items in one import or batch delete (MDE's limit).
pub(crate) const MAX_BATCH: usize = 500;

pub(crate) fn actor(principal: &Principal) -> Actor {
    Actor {
        id: principal.app_id.clone(),
        display_name: principal.name.clone(),
        source: "PublicApi".to_owned(),
    }
}

pub(crate) fn write_context(
    state: &AppState,
    principal: &Principal,
) -> Result<WriteContext, ApiError> {
    Ok(WriteContext {
        now: state.now(),
        visibility: principal.write_visibility()?,
        max_active: state.config().max_active_indicators,
    })
}

/// An indicator in MDE's shape, with the warninglists it hits (when the guard flags).
pub(crate) fn entity(state: &AppState, indicator: &iocd_model::Indicator) -> IndicatorEntity {
    let mut entity = IndicatorEntity::from(indicator);
    entity.warninglists = state
        .service()
        .warninglist_hits(&indicator.spec.value, indicator.spec.action);
    entity
}

pub(crate) fn validation_options(state: &AppState) -> ValidationOptions {
    state.config().validation_options(state.now())
}

pub(crate) fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("Id {text} is invalid: ids are positive whole numbers."),
            )
        })
}

fn indicator_response(base: &str, entity: IndicatorEntity) -> IndicatorResponse {
    IndicatorResponse {
        context: format!("{base}/api/$metadata#Indicators/$entity"),
        indicator: entity,
    }
}

/// `GET /api/indicators`: OData `$filter`, `$top`, `$skip`, `$orderby`, `$count`, `$select`.
#[utoipa::path(get, path = "/api/indicators", tag = "indicators",
    params(
        ("$filter" = Option<String>, Query, description = "OData filter, e.g. indicatorType eq 'Url' and startswith(title,'C2')"),
        ("$top" = Option<u32>, Query, description = "Page size, at most 10000 (the default)"),
        ("$skip" = Option<u64>, Query, description = "Items to skip"),
        ("$orderby" = Option<String>, Query, description = "e.g. creationTimeDateTimeUtc desc"),
        ("$count" = Option<bool>, Query, description = "Adds @odata.count"),
        ("$select" = Option<String>, Query, description = "Comma-separated properties to return"),
        ("$skiptoken" = Option<i64>, Query, description = "Continuation from @odata.nextLink"),
    ),
    responses((status = 200, body = IndicatorPage), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Result<OData<IndicatorPage>, ApiError> {
    state.check_rate(&principal, Operation::List)?;
    let visibility = principal.read_visibility()?;
    let options = parse_list_options(
        raw.as_deref(),
        Entity::Indicator,
        &IndicatorEntity::PROPERTIES,
    )?;
    let now = state.now();
    let tenant = principal.tenant.clone();
    let query = options.query.clone();
    let page = state
        .blocking(move |service| service.indicators().list(&tenant, &query, &visibility, now))
        .await?;
    let entities: Vec<IndicatorEntity> = page.items.iter().map(|i| entity(&state, i)).collect();
    let base = base_url(&state);
    let last_id = page.items.last().map(|indicator| indicator.id);
    Ok(OData(IndicatorPage {
        context: format!("{base}/api/$metadata#Indicators"),
        count: page.count,
        value: select(&entities, &options)?,
        next_link: page_link(&base, uri.path(), &options, page.has_more, last_id),
    }))
}

/// `GET /api/indicators/{id}`.
#[utoipa::path(get, path = "/api/indicators/{id}", tag = "indicators", params(("id" = String, Path)),
    responses((status = 200, body = IndicatorResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<OData<IndicatorResponse>, ApiError> {
    state.check_rate(&principal, Operation::List)?;
    let visibility = principal.read_visibility()?;
    let id = parse_id(&id)?;
    let now = state.now();
    let tenant = principal.tenant.clone();
    let found = state
        .blocking(move |service| service.indicators().get(&tenant, id, &visibility, now))
        .await?;
    let indicator = found.ok_or_else(|| ApiError::not_found(format!("indicator {id}")))?;
    Ok(OData(indicator_response(
        &base_url(&state),
        entity(&state, &indicator),
    )))
}

/// `POST /api/indicators`: submit or update one indicator.
#[utoipa::path(post, path = "/api/indicators", tag = "indicators", request_body = IndicatorSubmission,
    responses((status = 200, description = "Created or updated", body = IndicatorResponse),
        (status = 400, body = crate::wire::errors::ErrorBody), (status = 401, body = crate::wire::errors::ErrorBody),
        (status = 403, body = crate::wire::errors::ErrorBody), (status = 413, body = crate::wire::errors::ErrorBody),
        (status = 415, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(submission): ApiJson<IndicatorSubmission>,
) -> Result<OData<IndicatorResponse>, ApiError> {
    state.check_rate(&principal, Operation::Submit)?;
    let context = write_context(&state, &principal)?;
    let spec = validate_submission(&submission, &validation_options(&state))?;
    let actor = actor(&principal);
    let tenant = principal.tenant.clone();
    let visibility = context.visibility.clone();
    let now = context.now;
    let (outcome, indicator) = state
        .blocking(move |service| {
            let outcome = service
                .upsert(&tenant, &actor, std::slice::from_ref(&spec), &context)?
                .into_iter()
                .next();
            let indicator = match outcome.as_ref().and_then(UpsertOutcome::id) {
                Some(id) => service.indicators().get(&tenant, id, &visibility, now)?,
                None => None,
            };
            Ok((outcome, indicator))
        })
        .await?;
    match (outcome, indicator) {
        (Some(UpsertOutcome::Failed { code, message }), _) => Err(ApiError::new(code, message)),
        (_, Some(indicator)) => Ok(OData(indicator_response(
            &base_url(&state),
            entity(&state, &indicator),
        ))),
        _ => Err(ApiError::internal(
            &"the upserted indicator could not be read back",
        )),
    }
}

/// Reads a wrapper object (`{"Indicators": [...]}`, `{"IndicatorIds": [...]}`) whose key may
/// come in any letter case, enforcing MDE's batch limit on its list, as `T`.
fn batch_request<T: DeserializeOwned>(body: Value, key: &'static str) -> Result<T, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_body(format!(
            "Invalid request body: expected an object with an array {key}."
        )));
    };
    let found = map
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value);
    let items = match found {
        None | Some(Value::Null) => {
            return Err(ApiError::new(
                ErrorCode::MissingRequiredParameter,
                format!("Parameter {key} is missing."),
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::bad_body(format!(
                "Invalid request body: {key} must be an array."
            )));
        }
    };
    if items.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("{key} is empty; send at least one item."),
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorCode::MaximumBatchSizeExceeded,
            format!(
                "Maximum batch size exceeded. Received: {}, allowed: {MAX_BATCH}.",
                items.len()
            ),
        ));
    }
    let wrapper = Value::Object(serde_json::Map::from_iter([(
        key.to_owned(),
        Value::Array(items),
    )]));
    serde_json::from_value(wrapper)
        .map_err(|error| ApiError::bad_body(format!("Invalid request body: {error}.")))
}

/// `POST /api/indicators/import`: up to 500 indicators, partial success, results in order.
#[utoipa::path(post, path = "/api/indicators/import", tag = "indicators", request_body = ImportRequest,
    responses((status = 200, body = ImportResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 413, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<OData<ImportResponse>, ApiError> {
    state.check_rate(&principal, Operation::Import)?;
    let context = write_context(&state, &principal)?;
    let request: ImportRequest = batch_request(body, "Indicators")?;
    let options = validation_options(&state);
    let mut echoes = Vec::with_capacity(request.indicators.len());
    let mut validated = Vec::with_capacity(request.indicators.len());
    for item in request.indicators {
        match serde_json::from_value::<IndicatorSubmission>(item) {
            Ok(submission) => {
                echoes.push(submission.value_text());
                validated.push(validate_submission(&submission, &options).map_err(|e| e.message));
            }
            Err(_) => {
                echoes.push(None);
                validated.push(Err(
                    "Invalid request body: each item must be an indicator object.".to_owned(),
                ));
            }
        }
    }
    let actor = actor(&principal);
    let tenant = principal.tenant.clone();
    let outcomes = state
        .blocking(move |service| service.upsert_validated(&tenant, &actor, &context, validated))
        .await?;
    let value = outcomes
        .into_iter()
        .zip(echoes)
        .map(|(outcome, echo)| match outcome {
            Ok(UpsertOutcome::Created(id) | UpsertOutcome::Updated(id)) => {
                ImportResult::new(Some(id), echo, None)
            }
            Ok(UpsertOutcome::Failed { message, .. }) | Err(message) => {
                ImportResult::new(None, echo, Some(message))
            }
        })
        .collect();
    let base = base_url(&state);
    Ok(OData(ImportResponse {
        context: format!(
            "{base}/api/$metadata#Collection(microsoft.windowsDefenderATP.api.ImportIndicatorResult)"
        ),
        value,
    }))
}

async fn delete_ids(
    state: &AppState,
    principal: &Principal,
    ids: Vec<i64>,
) -> Result<Response, ApiError> {
    let context = write_context(state, principal)?;
    let actor = actor(principal);
    let tenant = principal.tenant.clone();
    let outcome = state
        .blocking(move |service| service.delete(&tenant, &ids, &actor, &context))
        .await?;
    match outcome {
        DeleteOutcome::Deleted(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        DeleteOutcome::NotFound(missing) => {
            let list: Vec<String> = missing.iter().map(i64::to_string).collect();
            let what = match list.as_slice() {
                [one] => format!("indicator {one}"),
                _ => format!("indicators {}", list.join(", ")),
            };
            Err(ApiError::not_found(what))
        }
    }
}

/// `DELETE /api/indicators/{id}`: 204, or 404 if no such (visible) indicator.
#[utoipa::path(delete, path = "/api/indicators/{id}", tag = "indicators", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn delete_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::Delete)?;
    let id = parse_id(&id)?;
    delete_ids(&state, &principal, vec![id]).await
}

/// `POST /api/indicators/BatchDelete`: all-or-nothing; 404 names the ids that do not exist.
#[utoipa::path(post, path = "/api/indicators/BatchDelete", tag = "indicators", request_body = BatchDeleteRequest,
    responses((status = 204, description = "All deleted"), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, description = "Some ids do not exist; nothing was deleted", body = crate::wire::errors::ErrorBody),
        (status = 415, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn batch_delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::BatchDelete)?;
    principal.write_visibility()?;
    let request: BatchDeleteRequest = batch_request(body, "IndicatorIds")?;
    let mut ids = Vec::with_capacity(request.indicator_ids.len());
    for item in &request.indicator_ids {
        let id = match item {
            Value::String(text) => parse_id(text)?,
            Value::Number(n) => parse_id(&n.to_string())?,
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("Indicator id {other} is invalid."),
                ));
            }
        };
        ids.push(id);
    }
    delete_ids(&state, &principal, ids).await
}

/// `GET /api/indicators/{id}/history` (iocd extension): every change, kept after deletion.
#[utoipa::path(get, path = "/api/indicators/{id}/history", tag = "indicators", params(("id" = String, Path)),
    responses((status = 200, body = HistoryResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<OData<HistoryResponse>, ApiError> {
    state.check_rate(&principal, Operation::List)?;
    let visibility = principal.read_visibility()?;
    let id = parse_id(&id)?;
    let tenant = principal.tenant.clone();
    let entries = state
        .blocking(move |service| service.indicators().history(&tenant, id, &visibility))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("indicator {id}")))?;
    let value = entries
        .into_iter()
        .map(|entry| HistoryEntry {
            sequence: entry.sequence,
            operation: entry.op.as_str().to_owned(),
            time: entry.at.to_mde_precise(),
            actor_id: entry.actor_id,
            actor_name: entry.actor_name,
            before: entry.before.as_ref().map(IndicatorEntity::from),
            after: entry.after.as_ref().map(IndicatorEntity::from),
        })
        .collect();
    let base = base_url(&state);
    Ok(OData(HistoryResponse {
        context: format!("{base}/api/$metadata#IndicatorHistory"),
        indicator_id: id.to_string(),
        value,
    }))
}
