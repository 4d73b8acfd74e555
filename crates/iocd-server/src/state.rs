//! The state every handler shares: the service, the configuration, the token key, the rate
//! limiter, the metrics and the clock.

use crate::auth::apps::AppStatus;
use crate::auth::issuer::IssuerKey;
use crate::auth::oidc::OidcVerifier;
use crate::auth::{Principal, SigningKey};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::rate_limit::{Operation, RateLimiter};
use iocd_model::{ErrorCode, Timestamp};
use iocd_service::{Service, Settings};
use iocd_store::apps::AppRegistry;
use iocd_store::detections::DetectionStore;
use iocd_store::device_groups::DeviceGroupStore;
use iocd_store::{IndicatorStore, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

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
    /// The status resources of TAXII `POST`s.
    /// The feeds' last runs and schedule.
    feeds: crate::feeds::FeedRunner,
    /// Added to the system clock; lets tests move time forward.
    clock_offset_ticks: AtomicI64,
    /// One permit per bulk request that may run at once.
    bulk_slots: Arc<tokio::sync::Semaphore>,
    /// The address the server is bound to, once it is (the configured one may say port 0).
    bound_address: std::sync::OnceLock<std::net::SocketAddr>,
    /// The external token issuers, when any are configured.
    oidc: Option<OidcVerifier>,
    /// The token endpoint's signing key.
    issuer: IssuerKey,
    /// The application registrations, and which are active.
    apps: AppStatus,
    /// Where this node stands against the shared store's change log (PostgreSQL only).
    follower: std::sync::OnceLock<Arc<crate::follower::FollowerStatus>>,
    /// NATS JetStream, once the event bus is connected (`events` configured).
    bus: std::sync::OnceLock<async_nats::jetstream::Context>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create the HTTP client for the token issuers' keys: {0}")]
    Http(String),
    #[error("warninglists: {0}")]
    Warninglists(#[from] iocd_service::warninglists::WarninglistError),
}

impl AppState {
    /// Builds the state and starts the service, which loads every tenant's active indicators
    /// into its matcher.
    pub fn new<S>(
        store: Arc<S>,
        config: Config,
        key: SigningKey,
        issuer: IssuerKey,
    ) -> Result<Self, StartError>
    where
        S: IndicatorStore
            + DetectionStore
            + AppRegistry
            + DeviceGroupStore
            + iocd_store::bypasses::BypassStore
            + iocd_store::webhooks::WebhookStore
            + iocd_store::devices::DeviceStore
            + iocd_store::feeds::FeedStore
            + iocd_store::records::RecordStore
            + 'static,
    {
        let apps = AppStatus::new(Arc::clone(&store) as Arc<dyn AppRegistry>);
        let limiter = RateLimiter::new(config.rate_limits);
        let now = Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc());
        let settings = Settings {
            sighting_retention_days: config.sighting_retention_days,
            auto_create_device_groups: config.auto_create_device_groups,
            ..Settings::default()
        };
        let metrics = Metrics::default();
        let service = Arc::new(Service::start_with(
            store,
            settings,
            metrics.telemetry(),
            now,
        )?);
        if let Some(settings) = &config.warninglists {
            let lists = iocd_service::warninglists::Warninglists::load(&settings.path)?;
            tracing::info!(lists = lists.len(), skipped = ?lists.skipped, path = %settings.path.display(), "warninglists loaded");
            service.set_guard(Some(iocd_service::warninglists::Guard {
                lists,
                mode: settings.mode,
            }));
        }
        let bulk_slots = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_bulk));
        let oidc = if config.oidc.is_empty() {
            None
        } else {
            Some(
                OidcVerifier::new(config.oidc.clone())
                    .map_err(|e| StartError::Http(e.to_string()))?,
            )
        };
        Ok(AppState {
            inner: Arc::new(Inner {
                service,
                config,
                key,
                limiter,
                metrics,
                feeds: crate::feeds::FeedRunner::default(),
                clock_offset_ticks: AtomicI64::new(0),
                bound_address: std::sync::OnceLock::new(),
                follower: std::sync::OnceLock::new(),
                bus: std::sync::OnceLock::new(),
                bulk_slots,
                oidc,
                issuer,
                apps,
            }),
        })
    }

    /// The token endpoint's signing key.
    pub fn issuer_key(&self) -> &IssuerKey {
        &self.inner.issuer
    }

    /// The application registrations and their status.
    pub(crate) fn apps(&self) -> &AppStatus {
        &self.inner.apps
    }

    /// The store of application registrations (for `iocd app` and tests).
    pub fn app_registry(&self) -> &Arc<dyn AppRegistry> {
        self.inner.apps.registry()
    }

    /// The tenant's device groups: cached, or read on a blocking thread.
    pub(crate) async fn device_groups(
        &self,
        tenant: &str,
    ) -> Result<Arc<iocd_service::groups::TenantGroups>, ApiError> {
        if let Some(groups) = self.inner.service.cached_device_groups(tenant) {
            return Ok(groups);
        }
        let tenant = tenant.to_owned();
        self.blocking(move |service| service.device_groups(&tenant))
            .await
    }

    /// The verifier of external issuers' tokens, if any issuer is configured.
    pub(crate) fn oidc(&self) -> Option<&OidcVerifier> {
        self.inner.oidc.as_ref()
    }

    /// The application layer.
    pub fn service(&self) -> &Arc<Service> {
        &self.inner.service
    }

    /// Attaches the change-log follower whose status `/readyz` reports (once).
    pub fn set_follower(&self, status: Arc<crate::follower::FollowerStatus>) {
        let _ = self.inner.follower.set(status);
    }

    /// The change-log follower, when the store is shared.
    pub fn follower(&self) -> Option<&Arc<crate::follower::FollowerStatus>> {
        self.inner.follower.get()
    }

    /// Hands `POST /api/events` to JetStream from now on (once).
    pub fn set_bus(&self, bus: async_nats::jetstream::Context) {
        let _ = self.inner.bus.set(bus);
    }

    /// JetStream, when events go through it.
    pub fn bus(&self) -> Option<&async_nats::jetstream::Context> {
        self.inner.bus.get()
    }

    /// Whether this node runs the jobs only one node may run: always on SQLite; on a shared
    /// store, while it holds the leader's lock.
    pub fn is_leader(&self) -> bool {
        self.inner.follower.get().is_none_or(|f| f.leading())
    }

    /// Runs a service call (which may block on the store or the matcher) on a blocking
    /// thread.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Service) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let service = Arc::clone(&self.inner.service);
        match tokio::task::spawn_blocking(move || work(&service)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(join_error) => Err(ApiError::internal(&join_error)),
        }
    }

    pub(crate) fn feeds(&self) -> &crate::feeds::FeedRunner {
        &self.inner.feeds
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A slot for one bulk request, held until its work ends; 503 with `Retry-After` when all
    /// `max_concurrent_bulk` are taken.
    pub(crate) fn bulk_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.inner.bulk_slots)
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    format!(
                        "{} bulk requests are running, the most this server takes at once; retry later.",
                        self.inner.config.max_concurrent_bulk
                    ),
                )
                .retry_after(5)
            })
    }

    /// Records the address the server is bound to (by [`crate::serve`]).
    pub(crate) fn set_bound_address(&self, address: std::net::SocketAddr) {
        let _ = self.inner.bound_address.set(address);
    }

    /// The address the server listens on: the bound one once serving, else the configured one.
    pub fn listen_address(&self) -> std::net::SocketAddr {
        self.inner
            .bound_address
            .get()
            .copied()
            .unwrap_or(self.inner.config.listen)
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
    pub(crate) fn check_rate(
        &self,
        principal: &Principal,
        operation: Operation,
    ) -> Result<(), ApiError> {
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
