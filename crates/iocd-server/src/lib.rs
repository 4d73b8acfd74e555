//! The iocd service: an MDE-compatible Indicators API over an [`IndicatorStore`].
//!
//! [`router`] builds the whole HTTP surface as a plain axum `Router`, so tests drive it without
//! a socket; [`serve`] binds it, runs the expiry sweeper and shuts down gracefully. Handlers
//! stay thin: parse, check the caller, call the store on a blocking thread, shape the answer.
//! The crate does not know which storage backend it runs on.

mod alerts_api;
pub mod auth;
mod bulk;
pub mod config;
pub mod error;
mod events_api;
mod extract;
mod indicators;
mod match_api;
pub mod metrics;
mod openapi;
pub mod rate_limit;

use crate::auth::{Principal, SigningKey};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::rate_limit::{Operation, RateLimiter};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use iocd_model::{ErrorCode, Timestamp};
use iocd_service::{Service, Settings};
use iocd_store::detections::DetectionStore;
use iocd_store::{IndicatorStore, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

pub use openapi::openapi_document;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The application layer: every write goes through it, so the matchers see it.
    service: Arc<Service>,
    config: Config,
    key: SigningKey,
    limiter: RateLimiter,
    metrics: Metrics,
    /// Added to the system clock; lets tests move time forward.
    clock_offset_ticks: AtomicI64,
}

impl AppState {
    /// Builds the state and starts the service, which loads every tenant's active indicators
    /// into its matcher.
    pub fn new<S>(store: Arc<S>, config: Config, key: SigningKey) -> Result<Self, StoreError>
    where
        S: IndicatorStore + DetectionStore + 'static,
    {
        let limiter = RateLimiter::new(config.rate_limits);
        let now = Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc());
        let settings = Settings {
            sighting_retention_days: config.sighting_retention_days,
            ..Settings::default()
        };
        let service = Arc::new(Service::start(store, settings, now)?);
        Ok(AppState {
            inner: Arc::new(Inner {
                service,
                config,
                key,
                limiter,
                metrics: Metrics::default(),
                clock_offset_ticks: AtomicI64::new(0),
            }),
        })
    }

    /// The application layer.
    pub fn service(&self) -> &Arc<Service> {
        &self.inner.service
    }

    /// Runs a service call (which may block on the store or the matcher) on a blocking
    /// thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Service) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let service = Arc::clone(&self.inner.service);
        match tokio::task::spawn_blocking(move || work(&service)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(join_error) => Err(ApiError::internal(&join_error)),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn key(&self) -> &SigningKey {
        &self.inner.key
    }

    /// The current time as the service sees it.
    pub fn now(&self) -> Timestamp {
        let system = Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc());
        Timestamp::from_ticks(
            system.ticks() + self.inner.clock_offset_ticks.load(Ordering::Relaxed),
        )
    }

    /// Moves the service's clock forward (for tests of expiry).
    pub fn advance_clock(&self, seconds: i64) {
        self.inner
            .clock_offset_ticks
            .fetch_add(seconds * 10_000_000, Ordering::Relaxed);
    }

    /// Counts a request against the caller's quota for `operation`.
    fn check_rate(&self, principal: &Principal, operation: Operation) -> Result<(), ApiError> {
        let now = self.now().unix_seconds();
        self.inner
            .limiter
            .check(&principal.tenant, &principal.app_id, operation, now)
            .map_err(|wait| {
                ApiError::new(
                    ErrorCode::TooManyRequests,
                    format!("Rate limit exceeded; retry after {wait} seconds."),
                )
                .retry_after(wait)
            })
    }
}

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
        .route("/events", post(events_api::ingest))
        .route("/alerts", get(alerts_api::list))
        .route(
            "/alerts/{id}",
            get(alerts_api::get_one).patch(alerts_api::update),
        );
    Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi::serve_openapi))
        .route("/metrics", get(serve_metrics))
        .nest("/api", api.clone())
        .nest("/api/v1.0", api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config().max_json_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No API route matches this path.")
}

async fn serve_metrics(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    if !principal.can_read_metrics() {
        return Err(ApiError::forbidden(
            "Reading /metrics needs the Metrics.Read role.",
        ));
    }
    let now = state.now();
    let counts = state
        .blocking(move |service| service.indicators().count_by_type(now))
        .await?;
    let text = state.inner.metrics.render(&counts);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Records metrics and a log line for every request, and gives axum's bare 405 answers MDE's
/// error body (keeping the `Allow` header).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
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
    state.inner.metrics.record(&method, &route, status, elapsed);
    tracing::debug!(%method, %route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

/// The base URL for `@odata.context` and `@odata.nextLink`.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config().public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Deletes expired indicators, and sightings past their retention, every
/// `sweep_interval_seconds` until `shutdown` fires.
pub async fn run_sweeper(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let interval = std::time::Duration::from_secs(state.config().sweep_interval_seconds);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let now = state.now();
        match state.blocking(move |service| service.sweep(now)).await {
            Ok(report) => {
                if report.expired_indicators > 0 {
                    tracing::info!(
                        expired = report.expired_indicators,
                        "swept expired indicators"
                    );
                }
                if report.forgotten_sightings > 0 {
                    tracing::info!(
                        sightings = report.forgotten_sightings,
                        "forgot sightings past retention"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(code = %error.code, message = %error.message, "expiry sweep failed")
            }
        }
    }
}

/// Serves the router and the sweeper on `listener` until SIGINT or SIGTERM, then finishes the
/// requests in flight. The signal handlers are installed before the "listening" log line, so a
/// signal sent by whoever reads that line is never missed.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let shutdown = shutdown_signal()?;
    let address = listener.local_addr()?;
    let config = state.config();
    tracing::info!(
        address = %address,
        data_dir = %config.data_dir.display(),
        profile = ?config.profile,
        strict = config.strict,
        "iocd listening on http://{address}"
    );
    let (stop_sweeper, sweeper_shutdown) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(run_sweeper(state.clone(), sweeper_shutdown));
    let service = state.service().clone();
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    service.shutdown();
    result
}

/// Registers SIGINT and SIGTERM handlers now and returns a future that completes on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
