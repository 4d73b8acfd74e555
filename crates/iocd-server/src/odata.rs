//! OData in one place: the query options of a list (`$filter`, `$top`, `$skip`, `$orderby`,
//! `$count`, `$select`, `$skiptoken`), its next link, `$select` applied to entities, the base
//! URL of `@odata.context`, and the JSON answers with MDE's OData headers.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use iocd_store::ListQuery;
use iocd_store::odata::{Entity, parse_filter_for, parse_order_by_for};
use serde::Serialize;
use serde_json::{Map, Value};

/// Most items one list page returns (MDE's `$top` maximum).
pub(crate) const MAX_TOP: u32 = 10_000;

/// The content type MDE's OData endpoints answer with.
const ODATA_JSON: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8";

/// A body answered as JSON with MDE's OData headers. A body that cannot be serialised is a
/// 500 (logged), never an empty or partial answer.
#[derive(Debug)]
pub(crate) struct OData<T>(pub T);

impl<T: Serialize> IntoResponse for OData<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut response = bytes.into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
                headers.insert("OData-Version", HeaderValue::from_static("4.0"));
                response
            }
            Err(error) => ApiError::internal(&error).into_response(),
        }
    }
}

/// A body answered as plain JSON, with the same care as [`OData`].
#[derive(Debug)]
pub(crate) struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut response = bytes.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(error) => ApiError::internal(&error).into_response(),
        }
    }
}

/// The base URL for `@odata.context` and `@odata.nextLink`: `public_url`, else the address
/// the server listens on. The request's `Host` header is never echoed: a client could name any
/// host there and have the server hand out links to it.
pub(crate) fn base_url(state: &AppState) -> String {
    match &state.config().public_url {
        Some(url) => url.clone(),
        None => {
            let scheme = if state.config().tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", state.listen_address())
        }
    }
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

/// `@odata.nextLink` of a page: none when no more items follow, or when the page asked for
/// none (`$top=0`, whose next page would be itself).
pub(crate) fn page_link(
    base: &str,
    path: &str,
    options: &ListOptions,
    has_more: bool,
    last_id: Option<i64>,
) -> Option<String> {
    (has_more && options.query.top > 0).then(|| next_link(base, path, options, last_id))
}

/// The link to the page after one that ended with `last_id`: the same options, then a
/// `$skiptoken` (keyset paging, for the default order) or a `$skip`.
fn next_link(base: &str, path: &str, options: &ListOptions, last_id: Option<i64>) -> String {
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

/// `items` as JSON objects, each reduced to the properties `$select` names (all of them
/// without it).
pub(crate) fn select<T: Serialize>(
    items: &[T],
    options: &ListOptions,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    items
        .iter()
        .map(|item| match serde_json::to_value(item) {
            Ok(Value::Object(mut fields)) => {
                if let Some(selected) = &options.select {
                    fields.retain(|key, _| selected.iter().any(|name| name == key));
                }
                Ok(fields)
            }
            Ok(other) => Err(ApiError::internal(&format!(
                "an entity serialised as {other}, not an object"
            ))),
            Err(error) => Err(ApiError::internal(&error)),
        })
        .collect()
}
