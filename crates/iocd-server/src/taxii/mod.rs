//! A TAXII 2.1 server under `/taxii2/`: discovery, one API root (`/taxii2/iocd/`), and per
//! tenant one collection of its indicators as STIX 2.1 objects (the mapping of
//! `iocd_interop::stix`), readable and writable as the token's role allows. Objects (with
//! `added_after`, `limit`, `next` and the `match[…]` filters), manifest, one object, its
//! versions, delete, and the status of each `POST`. The same bearer tokens as the API; TAXII's
//! media types and error bodies.
//!
//! An object's `date_added` is when its current version was written (the indicator's
//! `lastUpdateTime`), so a client polling with `added_after` sees new and changed indicators;
//! pages run in that order, and `next` continues exactly where a page ended.

mod objects;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use iocd_store::Visibility;
use serde_json::{Value, json};

/// TAXII's media type, of every answer and of every body sent.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The media type of the objects in the collection.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The id of each tenant's collection of indicators (the same for every tenant; its contents
/// are the token's tenant's).
pub const COLLECTION_ID: &str = "4f1b5e0a-6c2d-4e8f-9a1b-2c3d4e5f6a7b";
/// The API root's name.
pub const API_ROOT: &str = "iocd";

/// The TAXII routes, under `/taxii2`.
pub fn routes() -> Router<AppState> {
    let collection = "/taxii2/iocd/collections/{collection}";
    let mut router = Router::new();
    // TAXII URLs end with a slash; the same routes answer without it.
    for slash in ["/", ""] {
        router = router
            .route(&format!("/taxii2{slash}"), get(discovery))
            .route(&format!("/taxii2/iocd{slash}"), get(api_root))
            .route(
                &format!("/taxii2/iocd/collections{slash}"),
                get(collections),
            )
            .route(&format!("{collection}{slash}"), get(one_collection))
            .route(
                &format!("{collection}/objects{slash}"),
                get(objects::get_objects).post(objects::add_objects),
            )
            .route(
                &format!("{collection}/manifest{slash}"),
                get(objects::manifest),
            )
            .route(
                &format!("{collection}/objects/{{object}}{slash}"),
                get(objects::get_object).delete(objects::delete_object),
            )
            .route(
                &format!("{collection}/objects/{{object}}/versions{slash}"),
                get(objects::versions),
            )
            .route(
                &format!("/taxii2/iocd/status/{{status}}{slash}"),
                get(objects::status),
            );
    }
    router
}

/// An error in TAXII's shape.
#[derive(Debug)]
pub(crate) struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl TaxiiError {
    pub(crate) fn new(
        status: StatusCode,
        title: &'static str,
        description: impl Into<String>,
    ) -> Self {
        TaxiiError {
            status,
            title,
            description: description.into(),
            retry_after: None,
        }
    }

    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        TaxiiError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("{what} was not found."),
        )
    }

    pub(crate) fn bad_request(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::BAD_REQUEST, "Bad request", description)
    }

    pub(crate) fn forbidden(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::FORBIDDEN, "Forbidden", description)
    }
}

impl From<ApiError> for TaxiiError {
    fn from(error: ApiError) -> Self {
        let status = error.status();
        let title = match status {
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            StatusCode::PAYLOAD_TOO_LARGE => "Request too large",
            s if s.is_server_error() => "Server error",
            _ => "Bad request",
        };
        // TAXII's error body has no correlation id; the log line gets one of its own.
        error.log_server_error(&uuid::Uuid::new_v4().to_string());
        let retry_after = error.retry_after_seconds;
        TaxiiError {
            retry_after,
            ..TaxiiError::new(status, title, error.message)
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        );
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A TAXII answer: JSON with TAXII's media type, and extra headers.
pub(crate) fn taxii_json(
    status: StatusCode,
    body: &Value,
    headers: &[(&'static str, String)],
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TAXII_MEDIA_TYPE),
    );
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

/// Whether the `Accept` header allows TAXII 2.1 (absent, `*/*`, `application/*`,
/// `application/taxii+json` with no version or 2.1).
pub(crate) fn check_accept(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or_default().to_ascii_lowercase();
    let fits = accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let version = parts
            .find_map(|p| p.strip_prefix("version="))
            .map(|v| v.trim_matches('"'));
        match media {
            "*/*" | "application/*" => true,
            "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
            _ => false,
        }
    });
    if fits {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!("This server answers {TAXII_MEDIA_TYPE}."),
        ))
    }
}

/// The caller, or TAXII's 401.
pub(crate) fn caller(principal: Result<Principal, ApiError>) -> Result<Principal, TaxiiError> {
    principal.map_err(TaxiiError::from)
}

/// What the caller may do with its tenant's collection.
pub(crate) struct Access {
    pub(crate) read: Option<Visibility>,
    pub(crate) write: bool,
}

pub(crate) fn access(principal: &Principal) -> Access {
    Access {
        read: principal.read_visibility().ok(),
        write: principal.write_visibility().is_ok(),
    }
}

fn base(state: &AppState) -> String {
    crate::odata::base_url(state)
}

fn collection_resource(principal: &Principal) -> Value {
    let access = access(principal);
    json!({
        "id": COLLECTION_ID,
        "title": "Indicators",
        "description": "The tenant's indicators as STIX 2.1 indicator objects (iocd).",
        "can_read": access.read.is_some(),
        "can_write": access.write,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

/// `GET /taxii2/`: the discovery resource.
async fn discovery(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
) -> Result<Response, TaxiiError> {
    check_accept(&headers)?;
    caller(principal)?;
    let root = format!("{}/taxii2/{API_ROOT}/", base(&state));
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": "iocd TAXII server",
            "description": "Indicators of compromise as STIX 2.1, one collection per tenant.",
            "default": root,
            "api_roots": [root],
        }),
        &[],
    ))
}

/// `GET /taxii2/iocd/`: the API root.
async fn api_root(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
) -> Result<Response, TaxiiError> {
    check_accept(&headers)?;
    caller(principal)?;
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": "iocd",
            "description": "The tenant's indicators.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": state.config().max_json_body_bytes,
        }),
        &[],
    ))
}

/// `GET /taxii2/iocd/collections/`.
async fn collections(
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
) -> Result<Response, TaxiiError> {
    check_accept(&headers)?;
    let principal = caller(principal)?;
    let access = access(&principal);
    if access.read.is_none() && !access.write {
        return Err(TaxiiError::forbidden(
            "The token has no indicator role (Ti.Read.All, Ti.ReadWrite, Ti.ReadWrite.All).",
        ));
    }
    Ok(taxii_json(
        StatusCode::OK,
        &json!({"collections": [collection_resource(&principal)]}),
        &[],
    ))
}

/// `GET /taxii2/iocd/collections/{id}/`.
async fn one_collection(
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, TaxiiError> {
    check_accept(&headers)?;
    let principal = caller(principal)?;
    if id != COLLECTION_ID {
        return Err(TaxiiError::not_found(format!("Collection {id}")));
    }
    let access = access(&principal);
    if access.read.is_none() && !access.write {
        return Err(TaxiiError::forbidden(
            "The token has no indicator role (Ti.Read.All, Ti.ReadWrite, Ti.ReadWrite.All).",
        ));
    }
    Ok(taxii_json(
        StatusCode::OK,
        &collection_resource(&principal),
        &[],
    ))
}
