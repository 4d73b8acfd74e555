//! The collection's objects: reading them (objects, manifest, one object, its versions),
//! adding them (`POST`, answered with a status resource), deleting one, and the statuses.

use super::{
    COLLECTION_ID, STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE, TaxiiError, access, caller, check_accept,
    taxii_json,
};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::indicators::{actor, validation_options, write_context};
use crate::rate_limit::Operation;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use iocd_interop::stix;
use iocd_model::{IndicatorEntity, IndicatorSubmission, IndicatorValue, Timestamp};
use iocd_store::odata::{CompareOp, Field, Filter, Literal, OrderKey, Subject};
use iocd_store::records::{RecordKind, StoredRecord};
use iocd_store::{DeleteOutcome, ListQuery, UpsertOutcome, Visibility};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// Objects per page when the client does not say, and at most.
const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 10_000;
/// Most ids one `match[id]` names.
const MAX_MATCH_IDS: usize = 100;
/// Status resources kept, for every tenant together (the oldest are forgotten first). They
/// live in the store, so any node answers for a `POST` another node took.
const MAX_STATUSES: usize = 10_000;

/// `date_added` of an object: when its current version was written, to the microsecond.
fn date_added(time: Timestamp) -> String {
    let t = time.to_offset_date_time();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Ticks per microsecond.
const MICRO: i64 = 10;

fn compare(field: Field, op: CompareOp, value: Literal) -> Filter {
    Filter::Compare {
        subject: Subject::Field(field),
        op,
        value,
    }
}

fn all_of(filters: Vec<Filter>) -> Option<Filter> {
    filters
        .into_iter()
        .reduce(|a, b| Filter::And(Box::new(a), Box::new(b)))
}

fn any_of(filters: Vec<Filter>) -> Option<Filter> {
    filters
        .into_iter()
        .reduce(|a, b| Filter::Or(Box::new(a), Box::new(b)))
}

/// The parsed query of a read.
#[derive(Debug, Default)]
struct Query {
    added_after: Option<Timestamp>,
    limit: Option<u32>,
    next: Option<(Timestamp, i64)>,
    ids: Vec<String>,
    types: Option<Vec<String>>,
    versions: Option<Vec<String>>,
    spec_versions: Option<Vec<String>>,
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

fn parse_query(raw: Option<&str>) -> Result<Query, TaxiiError> {
    let mut query = Query::default();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "added_after" => {
                query.added_after = Some(Timestamp::parse(&value).ok_or_else(|| {
                    TaxiiError::bad_request(format!("added_after {value:?} is not a timestamp"))
                })?)
            }
            "limit" => {
                let limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        TaxiiError::bad_request(format!("limit {value:?} is not a positive number"))
                    })?;
                query.limit = Some(limit.min(MAX_LIMIT));
            }
            "next" => {
                let parsed = value
                    .split_once('_')
                    .and_then(|(t, i)| Some((t.parse::<i64>().ok()?, i.parse::<i64>().ok()?)));
                let (ticks, id) = parsed.ok_or_else(|| {
                    TaxiiError::bad_request(format!(
                        "next {value:?} is not a token this server gave"
                    ))
                })?;
                query.next = Some((Timestamp::from_ticks(ticks), id));
            }
            "match[id]" => {
                query.ids.extend(list(&value));
                if query.ids.len() > MAX_MATCH_IDS {
                    return Err(TaxiiError::bad_request(format!(
                        "match[id] names at most {MAX_MATCH_IDS} ids"
                    )));
                }
            }
            "match[type]" => query.types = Some(list(&value)),
            "match[version]" => query.versions = Some(list(&value)),
            "match[spec_version]" => query.spec_versions = Some(list(&value)),
            _ => {}
        }
    }
    Ok(query)
}

/// A page of the collection.
struct Page {
    entities: Vec<IndicatorEntity>,
    /// Each entity's `date_added`.
    added: Vec<Timestamp>,
    more: bool,
    next: Option<String>,
}

/// Reads one page of the collection for `query` (and `object`, when a path names one).
async fn read_page(
    state: &AppState,
    principal: &Principal,
    visibility: Visibility,
    query: &Query,
    object: Option<&str>,
) -> Result<Page, TaxiiError> {
    let empty = Page {
        entities: Vec::new(),
        added: Vec::new(),
        more: false,
        next: None,
    };
    if query
        .types
        .as_ref()
        .is_some_and(|types| !types.iter().any(|t| t == "indicator"))
        || query
            .spec_versions
            .as_ref()
            .is_some_and(|versions| !versions.iter().any(|v| v == "2.1"))
    {
        return Ok(empty);
    }
    let mut wanted: Vec<String> = query.ids.clone();
    if let Some(object) = object {
        wanted = vec![object.to_owned()];
    }
    let mut filters = Vec::new();
    if let Some(after) = query.added_after {
        // date_added shows microseconds: after a shown time means from the next microsecond.
        let floor = after.ticks().div_euclid(MICRO) * MICRO;
        filters.push(compare(
            Field::LastUpdateTime,
            CompareOp::Gt,
            Literal::DateTime(Timestamp::from_ticks(floor + MICRO - 1)),
        ));
    }
    if let Some((time, id)) = query.next {
        filters.push(Filter::Or(
            Box::new(compare(
                Field::LastUpdateTime,
                CompareOp::Gt,
                Literal::DateTime(time),
            )),
            Box::new(Filter::And(
                Box::new(compare(
                    Field::LastUpdateTime,
                    CompareOp::Eq,
                    Literal::DateTime(time),
                )),
                Box::new(compare(Field::Id, CompareOp::Gt, Literal::Integer(id))),
            )),
        ));
    }
    if !wanted.is_empty() {
        let mut by_id = Vec::new();
        for stix_id in &wanted {
            if !stix::is_indicator_id(stix_id) {
                continue;
            }
            by_id.push(compare(
                Field::ExternalId,
                CompareOp::Eq,
                Literal::Text(stix_id.clone()),
            ));
            if let Some(id) = stix::embedded_indicator_id(stix_id) {
                by_id.push(compare(Field::Id, CompareOp::Eq, Literal::Integer(id)));
            }
        }
        match any_of(by_id) {
            Some(filter) => filters.push(filter),
            None => return Ok(empty),
        }
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let list_query = ListQuery {
        filter: all_of(filters),
        order_by: vec![
            OrderKey {
                field: Field::LastUpdateTime,
                descending: false,
            },
            OrderKey {
                field: Field::Id,
                descending: false,
            },
        ],
        top: limit,
        ..ListQuery::default()
    };
    let tenant = principal.tenant.clone();
    let now = state.now();
    let page = state
        .blocking(move |service| {
            service
                .indicators()
                .list(&tenant, &list_query, &visibility, now)
        })
        .await?;
    let next = page
        .items
        .last()
        .filter(|_| page.has_more)
        .map(|last| format!("{}_{}", last.last_update_time.ticks(), last.id));
    let mut entities = Vec::with_capacity(page.items.len());
    let mut added = Vec::with_capacity(page.items.len());
    for indicator in &page.items {
        let entity = crate::indicators::entity(state, indicator);
        let id = stix::stix_id(&entity);
        if !wanted.is_empty() && !wanted.contains(&id) {
            continue;
        }
        if let Some(versions) = &query.versions {
            let modified = stix::indicator_object(&entity)["modified"].clone();
            let fits = versions
                .iter()
                .any(|v| matches!(v.as_str(), "last" | "first" | "all") || modified == v.as_str());
            if !fits {
                continue;
            }
        }
        entities.push(entity);
        added.push(indicator.last_update_time);
    }
    Ok(Page {
        entities,
        added,
        more: page.has_more,
        next,
    })
}

fn date_headers(page: &Page) -> Vec<(&'static str, String)> {
    match (page.added.iter().min(), page.added.iter().max()) {
        (Some(first), Some(last)) => vec![
            ("X-TAXII-Date-Added-First", date_added(*first)),
            ("X-TAXII-Date-Added-Last", date_added(*last)),
        ],
        _ => Vec::new(),
    }
}

/// Checks the request and the caller's right to read the collection.
fn reader(
    state: &AppState,
    headers: &HeaderMap,
    principal: Result<Principal, ApiError>,
    collection: &str,
) -> Result<(Principal, Visibility), TaxiiError> {
    check_accept(headers)?;
    let principal = caller(principal)?;
    if collection != COLLECTION_ID {
        return Err(TaxiiError::not_found(format!("Collection {collection}")));
    }
    state.check_rate(&principal, Operation::List)?;
    let visibility = access(&principal).read.ok_or_else(|| {
        TaxiiError::forbidden(
            "Reading the collection needs Ti.Read.All, Ti.ReadWrite or Ti.ReadWrite.All.",
        )
    })?;
    Ok((principal, visibility))
}

fn envelope(page: &Page) -> Value {
    let objects: Vec<Value> = page.entities.iter().map(stix::indicator_object).collect();
    let mut body = json!({"more": page.more, "objects": objects});
    if let Some(next) = &page.next {
        body["next"] = json!(next);
    }
    body
}

/// `GET …/collections/{id}/objects/`.
pub(super) async fn get_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let (principal, visibility) = reader(&state, &headers, principal, &collection)?;
    let query = parse_query(raw.as_deref())?;
    let page = read_page(&state, &principal, visibility, &query, None).await?;
    Ok(taxii_json(
        StatusCode::OK,
        &envelope(&page),
        &date_headers(&page),
    ))
}

/// `GET …/collections/{id}/manifest/`.
pub(super) async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let (principal, visibility) = reader(&state, &headers, principal, &collection)?;
    let query = parse_query(raw.as_deref())?;
    let page = read_page(&state, &principal, visibility, &query, None).await?;
    let objects: Vec<Value> = page
        .entities
        .iter()
        .zip(&page.added)
        .map(|(entity, added)| {
            let object = stix::indicator_object(entity);
            json!({"id": object["id"], "date_added": date_added(*added),
                   "version": object["modified"], "media_type": STIX_MEDIA_TYPE})
        })
        .collect();
    let mut body = json!({"more": page.more, "objects": objects});
    if let Some(next) = &page.next {
        body["next"] = json!(next);
    }
    Ok(taxii_json(StatusCode::OK, &body, &date_headers(&page)))
}

/// `GET …/collections/{id}/objects/{object}/`.
pub(super) async fn get_object(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path((collection, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TaxiiError> {
    let (principal, visibility) = reader(&state, &headers, principal, &collection)?;
    let query = parse_query(raw.as_deref())?;
    let page = read_page(&state, &principal, visibility, &query, Some(&object)).await?;
    if page.entities.is_empty() {
        return Err(TaxiiError::not_found(format!("Object {object}")));
    }
    Ok(taxii_json(
        StatusCode::OK,
        &envelope(&page),
        &date_headers(&page),
    ))
}

/// `GET …/collections/{id}/objects/{object}/versions/`: an indicator has one version, its
/// `modified`.
pub(super) async fn versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path((collection, object)): Path<(String, String)>,
) -> Result<Response, TaxiiError> {
    let (principal, visibility) = reader(&state, &headers, principal, &collection)?;
    let page = read_page(
        &state,
        &principal,
        visibility,
        &Query::default(),
        Some(&object),
    )
    .await?;
    let versions: Vec<String> = page
        .entities
        .iter()
        .filter_map(|entity| {
            stix::indicator_object(entity)["modified"]
                .as_str()
                .map(str::to_owned)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if versions.is_empty() {
        return Err(TaxiiError::not_found(format!("Object {object}")));
    }
    Ok(taxii_json(
        StatusCode::OK,
        &json!({"more": false, "versions": versions}),
        &date_headers(&page),
    ))
}

/// Checks the request and the caller's right to change the collection.
fn writer(
    state: &AppState,
    headers: &HeaderMap,
    principal: Result<Principal, ApiError>,
    collection: &str,
    operation: Operation,
) -> Result<Principal, TaxiiError> {
    check_accept(headers)?;
    let principal = caller(principal)?;
    if collection != COLLECTION_ID {
        return Err(TaxiiError::not_found(format!("Collection {collection}")));
    }
    state.check_rate(&principal, operation)?;
    if !access(&principal).write {
        return Err(TaxiiError::forbidden(
            "Changing the collection needs Ti.ReadWrite or Ti.ReadWrite.All.",
        ));
    }
    Ok(principal)
}

/// Deletes the indicators with these ids; returns how many went.
async fn delete_values(
    state: &AppState,
    principal: &Principal,
    ids: Vec<i64>,
) -> Result<usize, TaxiiError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let context = write_context(state, principal)?;
    let actor = actor(principal);
    let tenant = principal.tenant.clone();
    let count = ids.len();
    let outcome = state
        .blocking(move |service| service.delete(&tenant, &ids, &actor, &context))
        .await?;
    Ok(match outcome {
        DeleteOutcome::Deleted(n) => usize::try_from(n).unwrap_or(count),
        // Deleted meanwhile by someone else: nothing left to delete.
        DeleteOutcome::NotFound(_) => 0,
    })
}

/// The ids of the tenant's indicators of `indicator_type` whose value is `raw` once normalised.
async fn ids_of_value(
    state: &AppState,
    principal: &Principal,
    removal: &iocd_interop::Removal,
) -> Result<Vec<i64>, TaxiiError> {
    let Ok(value) = IndicatorValue::parse(removal.indicator_type, &removal.value, true) else {
        return Ok(Vec::new());
    };
    let filter = all_of(vec![
        compare(
            Field::IndicatorType,
            CompareOp::Eq,
            Literal::Text(removal.indicator_type.as_str().to_owned()),
        ),
        compare(
            Field::IndicatorValue,
            CompareOp::Eq,
            Literal::Text(value.to_string()),
        ),
    ]);
    let query = ListQuery {
        filter,
        top: 100,
        ..ListQuery::default()
    };
    let visibility = principal.write_visibility()?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let page = state
        .blocking(move |service| service.indicators().list(&tenant, &query, &visibility, now))
        .await?;
    Ok(page.items.iter().map(|i| i.id).collect())
}

/// `POST …/collections/{id}/objects/`: adds the envelope's objects (indicators become
/// indicators; revoked ones are removed) and answers the status resource (202), complete.
pub(super) async fn add_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path(collection): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, TaxiiError> {
    let principal = writer(&state, &headers, principal, &collection, Operation::Import)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace(' ', "");
    if !content_type.starts_with("application/taxii+json") || content_type.contains("version=2.0") {
        return Err(TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("Send the envelope as {TAXII_MEDIA_TYPE}."),
        ));
    }
    let envelope: Value = serde_json::from_slice(&body)
        .map_err(|e| TaxiiError::bad_request(format!("The body is not JSON: {e}")))?;
    let Some(objects) = envelope.get("objects").and_then(Value::as_array) else {
        return Err(TaxiiError::bad_request(
            "The body is not an envelope: an object with an objects array.",
        ));
    };
    let request_time = state.now();
    let batch = stix::read(&Value::Array(objects.clone()), &Default::default());
    // Every object's id and version, in request order, for the status.
    let versions: Vec<(String, Value)> = objects
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap_or("(no id)").to_owned(),
                o["modified"].clone(),
            )
        })
        .collect();
    let mut failed: HashMap<String, String> = batch
        .problems
        .iter()
        .map(|p| {
            (
                p.origin.trim_start_matches("object ").to_owned(),
                p.reason.clone(),
            )
        })
        .collect();
    // Indicators, through the same validation and write path as the import call.
    let options = validation_options(&state);
    let origins: Vec<String> = batch
        .items
        .iter()
        .map(|i| i.origin.trim_start_matches("object ").to_owned())
        .collect();
    let validated: Vec<Result<iocd_model::IndicatorSpec, String>> = batch
        .items
        .into_iter()
        .map(|item| {
            let submission: IndicatorSubmission =
                serde_json::from_value(Value::Object(item.submission))
                    .map_err(|e| e.to_string())?;
            iocd_model::validate_submission(&submission, &options).map_err(|e| e.message)
        })
        .collect();
    if !validated.is_empty() {
        let context = write_context(&state, &principal)?;
        let actor = actor(&principal);
        let tenant = principal.tenant.clone();
        let outcomes = state
            .blocking(move |service| service.upsert_validated(&tenant, &actor, &context, validated))
            .await?;
        for (origin, outcome) in origins.iter().zip(outcomes) {
            match outcome {
                Ok(UpsertOutcome::Created(_) | UpsertOutcome::Updated(_)) => {}
                Ok(UpsertOutcome::Failed { message, .. }) | Err(message) => {
                    failed.entry(origin.clone()).or_insert(message);
                }
            }
        }
    }
    for removal in &batch.removals {
        let ids = ids_of_value(&state, &principal, removal).await?;
        delete_values(&state, &principal, ids).await?;
    }
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    for (id, version) in &versions {
        let mut entry = json!({"id": id});
        if !version.is_null() {
            entry["version"] = version.clone();
        }
        match failed.get(id) {
            Some(reason) => {
                entry["message"] = json!(reason);
                failures.push(entry);
            }
            None => successes.push(entry),
        }
    }
    let status_id = uuid::Uuid::new_v4().to_string();
    let status = json!({
        "id": status_id,
        "status": "complete",
        "request_timestamp": date_added(request_time),
        "total_count": versions.len(),
        "success_count": successes.len(),
        "successes": successes,
        "failure_count": failures.len(),
        "failures": failures,
        "pending_count": 0,
        "pendings": [],
    });
    let record = StoredRecord {
        kind: RecordKind::TaxiiStatus,
        tenant: principal.tenant.clone(),
        name: status_id,
        body: status.to_string(),
        updated: request_time,
    };
    state
        .blocking(move |service| service.records().put_record(&record, Some(MAX_STATUSES)))
        .await?;
    Ok(taxii_json(StatusCode::ACCEPTED, &status, &[]))
}

/// `DELETE …/collections/{id}/objects/{object}/`: removes the indicator(s) of that object.
pub(super) async fn delete_object(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path((collection, object)): Path<(String, String)>,
) -> Result<Response, TaxiiError> {
    let principal = writer(&state, &headers, principal, &collection, Operation::Delete)?;
    let visibility = principal.write_visibility()?;
    let page = read_page(
        &state,
        &principal,
        visibility,
        &Query::default(),
        Some(&object),
    )
    .await?;
    if page.entities.is_empty() {
        return Err(TaxiiError::not_found(format!("Object {object}")));
    }
    let ids: Vec<i64> = page
        .entities
        .iter()
        .filter_map(|e| e.id.parse().ok())
        .collect();
    delete_values(&state, &principal, ids).await?;
    Ok(taxii_json(StatusCode::OK, &json!({}), &[]))
}

/// `GET /taxii2/iocd/status/{id}/`.
pub(super) async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    Path(id): Path<String>,
) -> Result<Response, TaxiiError> {
    check_accept(&headers)?;
    let principal = caller(principal)?;
    state.check_rate(&principal, Operation::List)?;
    let tenant = principal.tenant.clone();
    let key = id.clone();
    let record = state
        .blocking(move |service| {
            service
                .records()
                .record(RecordKind::TaxiiStatus, &tenant, &key)
        })
        .await?
        .ok_or_else(|| TaxiiError::not_found(format!("Status {id}")))?;
    let status: Value = serde_json::from_str(&record.body)
        .map_err(|e| ApiError::internal(&format!("stored TAXII status {id}: {e}")))?;
    Ok(taxii_json(StatusCode::OK, &status, &[]))
}
