//! The HTTP surface: every route, the service routes (health, metrics, the OpenAPI document)
//! and the middleware that measures requests and gives bare 405s MDE's error body.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::service::Health;
use crate::{alerts_api, bulk, events_api, indicators, match_api, openapi};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use iocd_model::ErrorCode;
use std::time::Instant;

/// The full HTTP surface: health, OpenAPI, metrics, and the indicator API under `/api` and
/// `/api/v1.0`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/indicators",
            get(indicators::list).post(indicators::submit),
        )
        .route("/indicators/import", post(indicators::import))
        .route("/indicators/BatchDelete", post(indicators::batch_delete))
        .route("/indicators/convert", post(crate::convert::convert))
        .route(
            "/indicators/bulk",
            post(bulk::bulk).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/indicators/{id}",
            get(indicators::get_one).delete(indicators::delete_one),
        )
        .route("/indicators/{id}/history", get(indicators::history))
        .route("/match", post(match_api::match_observables))
        .route("/match/bypass", post(match_api::bypass))
        .route("/match/bypasses", get(match_api::bypasses))
        .route("/events", post(events_api::ingest))
        .route(
            "/deviceGroups",
            get(crate::device_groups_api::list).post(crate::device_groups_api::create),
        )
        .route(
            "/deviceGroups/{id}",
            get(crate::device_groups_api::get_one)
                .patch(crate::device_groups_api::update)
                .delete(crate::device_groups_api::delete),
        )
        .route("/machines", get(crate::devices_api::list))
        .route("/machines/{id}", get(crate::devices_api::get_one))
        .route("/devices", get(crate::devices_api::list))
        .route("/devices/{id}", get(crate::devices_api::get_one))
        .route(
            "/webhooks",
            get(crate::webhooks_api::list).post(crate::webhooks_api::create),
        )
        .route(
            "/webhooks/{id}",
            get(crate::webhooks_api::get_one).delete(crate::webhooks_api::delete),
        )
        .route(
            "/webhooks/{id}/deliveries",
            get(crate::webhooks_api::deliveries),
        )
        .route("/feeds", get(crate::feeds::list).post(crate::feeds::create))
        .route("/feeds/{name}", axum::routing::delete(crate::feeds::delete))
        .route("/feeds/{name}/run", post(crate::feeds::run_now))
        .route("/alerts", get(alerts_api::list))
        .route(
            "/alerts/{id}",
            get(alerts_api::get_one).patch(alerts_api::update),
        );
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/openapi.json", get(openapi::serve_openapi))
        .route("/metrics", get(serve_metrics))
        .nest("/api", api.clone())
        .nest("/api/v1.0", api)
        .merge(crate::token_endpoint::routes())
        .merge(crate::taxii::routes())
        .merge(crate::console::routes(
            state
                .config()
                .oidc
                .iter()
                .filter_map(crate::auth::oidc::OidcIssuer::console_sign_in)
                .collect(),
        ))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            std::time::Duration::from_secs(state.config().body_read_timeout_seconds),
            crate::body_timeout::limit_body_waits,
        ))
        .layer(DefaultBodyLimit::max(state.config().max_json_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Readiness; needs no token. One node on SQLite is ready while it runs; a node on a shared
/// PostgreSQL store is ready while it is connected and has applied every committed change.
#[utoipa::path(get, path = "/readyz", tag = "service", security(()),
    responses((status = 200, description = "Ready for traffic", body = crate::wire::service::Readiness),
        (status = 503, description = "Not ready: disconnected from the store, behind its change log, or missed changes the log no longer holds", body = crate::wire::service::Readiness)))]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let readiness = match state.follower() {
        None => crate::wire::service::Readiness {
            ready: true,
            store: "sqlite",
            connected: None,
            caught_up: None,
            missed_changes: None,
            applied_change: None,
            leader: None,
        },
        Some(follower) => crate::wire::service::Readiness {
            ready: follower.connected() && follower.caught_up() && !follower.missed_changes(),
            store: "postgres",
            connected: Some(follower.connected()),
            caught_up: Some(follower.caught_up()),
            missed_changes: Some(follower.missed_changes()),
            applied_change: Some(follower.applied()),
            leader: Some(follower.leading()),
        },
    };
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, crate::odata::Json(readiness)).into_response()
}

/// Liveness; needs no token.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "The service is up", body = Health)))]
pub(crate) async fn health() -> crate::odata::Json<Health> {
    crate::odata::Json(Health { status: "ok" })
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No API route matches this path.")
}

/// Prometheus metrics; needs a token with the Metrics.Read role.
#[utoipa::path(get, path = "/metrics", tag = "service", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
    (status = 401, body = crate::wire::errors::ErrorBody),
    (status = 403, body = crate::wire::errors::ErrorBody),
))]
pub(crate) async fn serve_metrics(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    if !principal.can_read_metrics() {
        return Err(ApiError::forbidden(
            "Reading /metrics needs the Metrics.Read role.",
        ));
    }
    let now = state.now();
    let (counts, database_bytes) = state
        .blocking(move |service| {
            Ok((
                service.indicators().count_by_type(now)?,
                service.indicators().storage_bytes(),
            ))
        })
        .await?;
    let text = state
        .metrics()
        .render(&counts, database_bytes, state.service().devices_pending());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The method as a metrics label: the standard ones by name, any other as `OTHER`, so a
/// client inventing methods cannot grow the label set (and `/metrics`) without bound.
fn metric_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("OTHER", |(_, name)| name)
}

/// Records metrics and a log line for every request, and gives axum's bare 405 answers MDE's
/// error body (keeping the `Allow` header).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let method_label = metric_method(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(header::CONTENT_TYPE).is_none()
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        let message = format!(
            "The method {method} is not allowed on this path; the Allow header lists those that are."
        );
        response = ApiError::new(ErrorCode::MethodNotAllowed, message).into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics()
        .record(method_label, &route, status, elapsed);
    tracing::debug!(%method, %route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}
