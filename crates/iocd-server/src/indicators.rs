//! Handlers of MDE's indicator endpoints: list (OData), get, submit, import, delete, batch
//! delete, and iocd's history extension.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::rate_limit::Operation;
use crate::{AppState, base_url};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use iocd_model::{
    ErrorCode, Indicator, IndicatorSubmission, ValidationOptions, validate_submission,
};
use iocd_store::odata::{Entity, parse_filter_for, parse_order_by_for};
use iocd_store::{Actor, DeleteOutcome, ListQuery, UpsertOutcome, WriteContext};
use serde_json::{Map, Value, json};

/// Most items one list page returns (MDE's `$top` maximum).
pub const MAX_TOP: u32 = 10_000;
/// Most items in one import or batch delete (MDE's limit).
pub const MAX_BATCH: usize = 500;

/// A JSON response with the headers MDE's OData endpoints send.
pub(crate) fn odata_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8",
        ),
    );
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

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

pub(crate) fn validation_options(state: &AppState) -> ValidationOptions {
    ValidationOptions::json(state.now(), state.config().strict)
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

fn entity_body(base: &str, indicator: &Indicator) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".to_owned(),
        json!(format!("{base}/api/$metadata#Indicators/$entity")),
    );
    if let Value::Object(fields) = serde_json::to_value(indicator).unwrap_or_default() {
        body.extend(fields);
    }
    Value::Object(body)
}

/// The parsed OData options of a list request.
pub(crate) struct ListOptions {
    pub(crate) query: ListQuery,
    pub(crate) select: Option<Vec<String>>,
    pairs: Vec<(String, String)>,
}

/// Parses OData query options for a list of `entity`, whose properties are `properties`.
pub(crate) fn parse_list_options(
    raw: Option<&str>,
    entity: Entity,
    properties: &[&str],
) -> Result<ListOptions, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut query = ListQuery {
        top: MAX_TOP,
        ..ListQuery::default()
    };
    let mut select = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "$filter" => {
                query.filter = Some(
                    parse_filter_for(entity, value)
                        .map_err(|e| ApiError::odata(format!("Invalid $filter: {e}.")))?,
                )
            }
            "$top" => {
                let top: u32 = value.trim().parse().map_err(|_| {
                    ApiError::odata(format!("Invalid $top '{value}': expected a whole number."))
                })?;
                if top > MAX_TOP {
                    return Err(ApiError::odata(format!(
                        "Invalid $top {top}: the maximum is {MAX_TOP}."
                    )));
                }
                query.top = top;
            }
            "$skip" => {
                query.skip = value.trim().parse().map_err(|_| {
                    ApiError::odata(format!("Invalid $skip '{value}': expected a whole number."))
                })?
            }
            "$skiptoken" => {
                query.after_id = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| ApiError::odata(format!("Invalid $skiptoken '{value}'.")))?,
                )
            }
            "$orderby" => {
                query.order_by = parse_order_by_for(entity, value)
                    .map_err(|e| ApiError::odata(format!("Invalid $orderby: {e}.")))?
            }
            "$count" => {
                query.count = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::odata(format!(
                            "Invalid $count '{value}': expected true or false."
                        )));
                    }
                }
            }
            "$select" => {
                let fields: Vec<String> = value
                    .split(',')
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect();
                if let Some(unknown) = fields.iter().find(|f| !properties.contains(&f.as_str())) {
                    return Err(ApiError::odata(format!(
                        "Invalid $select: unknown property '{unknown}'."
                    )));
                }
                select = Some(fields);
            }
            other if other.starts_with('$') => {
                return Err(ApiError::odata(format!(
                    "The query option {other} is not supported here."
                )));
            }
            _ => {}
        }
    }
    if query.after_id.is_some() && !query.order_by.is_empty() {
        return Err(ApiError::odata(
            "$skiptoken cannot be combined with $orderby.",
        ));
    }
    Ok(ListOptions {
        query,
        select,
        pairs,
    })
}

pub(crate) fn next_link(
    base: &str,
    path: &str,
    options: &ListOptions,
    last_id: Option<i64>,
) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &options.pairs {
        if name != "$skip" && name != "$skiptoken" {
            serializer.append_pair(name, value);
        }
    }
    let query = &options.query;
    match last_id {
        Some(id) if query.order_by.is_empty() && query.skip == 0 => {
            serializer.append_pair("$skiptoken", &id.to_string());
        }
        _ => {
            if let Some(after) = query.after_id {
                serializer.append_pair("$skiptoken", &after.to_string());
            }
            serializer.append_pair("$skip", &(query.skip + u64::from(query.top)).to_string());
        }
    }
    format!("{base}{path}?{}", serializer.finish())
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
    responses((status = 200, body = crate::openapi::IndicatorList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 429, body = crate::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::List)?;
    let visibility = principal.read_visibility()?;
    let options = parse_list_options(raw.as_deref(), Entity::Indicator, &Indicator::PROPERTIES)?;
    let now = state.now();
    let tenant = principal.tenant.clone();
    let query = options.query.clone();
    let page = state
        .blocking(move |service| service.indicators().list(&tenant, &query, &visibility, now))
        .await?;
    let items = page
        .items
        .iter()
        .map(|indicator| serde_json::to_value(indicator).unwrap_or_default())
        .collect();
    let last_id = page.items.last().map(|i| i.id);
    let base = base_url(&state, &headers);
    let page = ListPage {
        entity_set: "Indicators",
        count: page.count,
        items,
        has_more: page.has_more,
        last_id,
    };
    Ok(list_response(&base, uri.path(), &options, page))
}

/// One page of a list, as JSON entities.
pub(crate) struct ListPage {
    /// `Indicators` or `Alerts`, for `@odata.context`.
    pub(crate) entity_set: &'static str,
    pub(crate) count: Option<u64>,
    pub(crate) items: Vec<Value>,
    pub(crate) has_more: bool,
    pub(crate) last_id: Option<i64>,
}

/// The OData answer for a list page: `@odata.context`, `@odata.count` when asked, the items
/// reduced to `$select`, and `@odata.nextLink` when more remain.
pub(crate) fn list_response(
    base: &str,
    path: &str,
    options: &ListOptions,
    page: ListPage,
) -> Response {
    let mut body = Map::new();
    body.insert(
        "@odata.context".to_owned(),
        json!(format!("{base}/api/$metadata#{}", page.entity_set)),
    );
    if let Some(count) = page.count {
        body.insert("@odata.count".to_owned(), json!(count));
    }
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|value| match (&options.select, value) {
            (Some(fields), Value::Object(mut map)) => {
                map.retain(|key, _| fields.iter().any(|f| f == key));
                Value::Object(map)
            }
            (_, value) => value,
        })
        .collect();
    body.insert("value".to_owned(), Value::Array(items));
    if page.has_more {
        let link = next_link(base, path, options, page.last_id);
        body.insert("@odata.nextLink".to_owned(), json!(link));
    }
    odata_response(StatusCode::OK, Value::Object(body))
}

/// `GET /api/indicators/{id}`.
#[utoipa::path(get, path = "/api/indicators/{id}", tag = "indicators", params(("id" = String, Path)),
    responses((status = 200, body = crate::openapi::Indicator), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::List)?;
    let visibility = principal.read_visibility()?;
    let id = parse_id(&id)?;
    let now = state.now();
    let tenant = principal.tenant.clone();
    let found = state
        .blocking(move |service| service.indicators().get(&tenant, id, &visibility, now))
        .await?;
    let indicator = found.ok_or_else(|| ApiError::not_found(format!("indicator {id}")))?;
    Ok(odata_response(
        StatusCode::OK,
        entity_body(&base_url(&state, &headers), &indicator),
    ))
}

/// `POST /api/indicators`: submit or update one indicator.
#[utoipa::path(post, path = "/api/indicators", tag = "indicators", request_body = crate::openapi::IndicatorRequest,
    responses((status = 200, description = "Created or updated", body = crate::openapi::Indicator),
        (status = 400, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 415, body = crate::openapi::ErrorBody), (status = 429, body = crate::openapi::ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(submission): ApiJson<IndicatorSubmission>,
) -> Result<Response, ApiError> {
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
        (_, Some(indicator)) => Ok(odata_response(
            StatusCode::OK,
            entity_body(&base_url(&state, &headers), &indicator),
        )),
        _ => Err(ApiError::internal(
            &"the upserted indicator could not be read back",
        )),
    }
}

/// Reads a wrapper object's list (`Indicators`, `IndicatorIds`), enforcing MDE's batch limit.
fn batch_items(body: &Value, key: &'static str) -> Result<Vec<Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_body(format!(
            "Invalid request body: expected an object with an array {key}."
        )));
    };
    let lower = key.to_ascii_lowercase();
    let found = map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.to_ascii_lowercase() == lower)
            .map(|(_, v)| v)
    });
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
    Ok(items.clone())
}

/// One item's result, as MDE's import returns it.
pub(crate) fn item_result(
    id: Option<i64>,
    indicator: Option<String>,
    failure: Option<String>,
) -> Value {
    json!({
        "id": id.map(|id| id.to_string()),
        "indicator": indicator,
        "isFailed": failure.is_some(),
        "failureReason": failure,
    })
}

/// `POST /api/indicators/import`: up to 500 indicators, partial success, results in order.
#[utoipa::path(post, path = "/api/indicators/import", tag = "indicators", request_body = crate::openapi::ImportRequest,
    responses((status = 200, body = crate::openapi::ImportResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::Import)?;
    let context = write_context(&state, &principal)?;
    let items = batch_items(&body, "Indicators")?;
    let options = validation_options(&state);
    let mut echoes = Vec::with_capacity(items.len());
    let mut validated = Vec::with_capacity(items.len());
    for item in items {
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
    let results: Vec<Value> = outcomes
        .into_iter()
        .zip(echoes)
        .map(|(outcome, echo)| match outcome {
            Ok(UpsertOutcome::Created(id) | UpsertOutcome::Updated(id)) => {
                item_result(Some(id), echo, None)
            }
            Ok(UpsertOutcome::Failed { message, .. }) | Err(message) => {
                item_result(None, echo, Some(message))
            }
        })
        .collect();
    let base = base_url(&state, &headers);
    Ok(odata_response(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{base}/api/$metadata#Collection(microsoft.windowsDefenderATP.api.ImportIndicatorResult)"),
            "value": results,
        }),
    ))
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
            let what = if list.len() == 1 {
                format!("indicator {}", list[0])
            } else {
                format!("indicators {}", list.join(", "))
            };
            Err(ApiError::not_found(what))
        }
    }
}

/// `DELETE /api/indicators/{id}`: 204, or 404 if no such (visible) indicator.
#[utoipa::path(delete, path = "/api/indicators/{id}", tag = "indicators", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn delete_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::Delete)?;
    let id = parse_id(&id)?;
    delete_ids(&state, &principal, vec![id]).await
}

/// `POST /api/indicators/BatchDelete`: all-or-nothing; 404 names the ids that do not exist.
#[utoipa::path(post, path = "/api/indicators/BatchDelete", tag = "indicators", request_body = crate::openapi::BatchDeleteRequest,
    responses((status = 204, description = "All deleted"), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, description = "Some ids do not exist; nothing was deleted", body = crate::openapi::ErrorBody)))]
pub async fn batch_delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::BatchDelete)?;
    principal.write_visibility()?;
    let items = batch_items(&body, "IndicatorIds")?;
    let mut ids = Vec::with_capacity(items.len());
    for item in &items {
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
    responses((status = 200, body = crate::openapi::HistoryResponse), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.check_rate(&principal, Operation::List)?;
    let visibility = principal.read_visibility()?;
    let id = parse_id(&id)?;
    let tenant = principal.tenant.clone();
    let entries = state
        .blocking(move |service| service.indicators().history(&tenant, id, &visibility))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("indicator {id}")))?;
    let value: Vec<Value> = entries
        .into_iter()
        .map(|entry| {
            json!({
                "sequence": entry.sequence,
                "operation": entry.op.as_str(),
                "time": entry.at.to_mde_precise(),
                "actorId": entry.actor_id,
                "actorName": entry.actor_name,
                "before": entry.before,
                "after": entry.after,
            })
        })
        .collect();
    let base = base_url(&state, &headers);
    Ok(odata_response(
        StatusCode::OK,
        json!({"@odata.context": format!("{base}/api/$metadata#IndicatorHistory"), "indicatorId": id.to_string(), "value": value}),
    ))
}
