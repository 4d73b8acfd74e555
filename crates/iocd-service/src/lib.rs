//! The iocd application layer, between the front ends (the HTTP server, the CLI) and the
//! engine and store: it keeps one matcher per tenant in step with the store (every write
//! commits, then reaches the matcher in commit order), answers verdicts, runs device events
//! through detection into sightings and alerts, and retro-hunts `historicalDetection`
//! indicators.
//!
//! It knows nothing of HTTP, tokens or rate limits; callers pass the tenant, the acting
//! principal and the current time. Its methods are synchronous and may block (store calls,
//! waiting for the matcher); async callers run them on a blocking thread.
//!
//! - [`Service`]: the write path ([`Service::upsert`], [`Service::delete`]), reads
//!   ([`Service::indicators`]), matching ([`Service::snapshot`]), detection
//!   ([`Service::ingest_events`]) and the expiry sweep;
//! - [`events`]: the event field profiles and the readers of events;
//! - [`VerdictReport`]: a verdict explained, as the API and the CLI show it.

pub mod bypasses;
mod devices;
mod engines;
pub mod events;
pub mod groups;
mod ingest;
pub mod notices;
mod retro_hunt;
mod sightings;
pub mod telemetry;
mod verdict_report;
pub mod warninglists;
mod workers;

pub use engines::ASYNC_APPLY_MIN;
pub use ingest::{EventFailure, EventInput, IngestReport};
pub use retro_hunt::retro_hunt_query;
pub use sightings::sightings;
pub use verdict_report::{DEFAULT_BYPASS_HOURS, MatchExplanation, VerdictReport};
pub use workers::{APPLIER_THREAD, MERGE_THREAD};

use engines::{Engines, Pending};
use groups::{GroupDirectory, TenantGroups};
use iocd_engine::{EngineIndicator, Snapshot};
use iocd_model::{IndicatorSpec, Timestamp};
use iocd_store::bypasses::{Bypass, BypassStore};
use iocd_store::detections::DetectionStore;
use iocd_store::device_groups::{DeviceGroup, DeviceGroupStore, GroupConflict, GroupSpec};
use iocd_store::devices::{DeviceStore, SeenDevice};
use iocd_store::webhooks::WebhookStore;
use iocd_store::{
    Actor, DeleteOutcome, IndicatorReader, IndicatorStore, StoreError, UpsertOutcome, WriteContext,
};
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks a mutex, taking over one a panicking thread left: every value behind the service's
/// locks stays consistent between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the service needs to know beyond its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long sightings stay in the retro-hunt index, and the longest look-back.
    pub sighting_retention_days: u64,
    /// Threads applying writes to the matchers (each owns a share of the tenants).
    pub applier_threads: usize,
    /// Whether an indicator naming an unknown device group creates it (else the indicator is
    /// refused).
    pub auto_create_device_groups: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sighting_retention_days: 30,
            applier_threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 4),
            auto_create_device_groups: true,
        }
    }
}

/// One batch of the expiry sweep's work.
const SWEEP_BATCH: usize = 5_000;

/// What one run of the sweeper deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired_indicators: usize,
    pub forgotten_sightings: usize,
    pub expired_bypasses: usize,
    /// Finished webhook deliveries and alert-outbox entries older than
    /// [`DELIVERY_RETENTION_DAYS`].
    pub pruned_deliveries: usize,
}

/// How long finished webhook deliveries and alert-outbox entries are kept.
pub const DELIVERY_RETENTION_DAYS: i64 = 7;

/// The application: the store, the detection store and the per-tenant matchers.
#[derive(Debug)]
pub struct Service {
    store: Arc<dyn IndicatorStore>,
    detections: Arc<dyn DetectionStore>,
    groups: GroupDirectory,
    notices: notices::Notices,
    bypass_store: Arc<dyn BypassStore>,
    bypasses: bypasses::Bypasses,
    webhook_store: Arc<dyn WebhookStore>,
    feed_store: Arc<dyn iocd_store::feeds::FeedStore>,
    record_store: Arc<dyn iocd_store::records::RecordStore>,
    device_store: Arc<dyn DeviceStore>,
    devices_seen: devices::DevicesSeen,
    engines: Engines,
    settings: Settings,
    telemetry: telemetry::Telemetry,
    /// The known-good guard, when lists are configured (replaced when they are reloaded).
    guard: std::sync::RwLock<Option<Arc<warninglists::Guard>>>,
}

impl Service {
    /// Loads every tenant's active indicators into its matcher and starts the threads that
    /// apply writes. The threads end with [`Service::shutdown`] or when the service is
    /// dropped.
    pub fn start<S>(
        store: Arc<S>,
        settings: Settings,
        now: Timestamp,
    ) -> Result<Service, StoreError>
    where
        S: IndicatorStore
            + DetectionStore
            + DeviceGroupStore
            + BypassStore
            + WebhookStore
            + DeviceStore
            + iocd_store::feeds::FeedStore
            + iocd_store::records::RecordStore
            + 'static,
    {
        Service::start_with(store, settings, telemetry::Telemetry::default(), now)
    }

    /// [`Service::start`], with measurements going to `telemetry`.
    pub fn start_with<S>(
        store: Arc<S>,
        settings: Settings,
        telemetry: telemetry::Telemetry,
        now: Timestamp,
    ) -> Result<Service, StoreError>
    where
        S: IndicatorStore
            + DetectionStore
            + DeviceGroupStore
            + BypassStore
            + WebhookStore
            + DeviceStore
            + iocd_store::feeds::FeedStore
            + iocd_store::records::RecordStore
            + 'static,
    {
        let notices = notices::Notices::default();
        let engines = Engines::load(
            store.as_ref(),
            now,
            settings.applier_threads,
            &notices,
            telemetry.clone(),
        )?;
        let bypasses = bypasses::Bypasses::load(store.as_ref(), now)?;
        Ok(Service {
            notices,
            bypass_store: store.clone(),
            bypasses,
            webhook_store: store.clone(),
            feed_store: store.clone(),
            record_store: store.clone(),
            device_store: store.clone(),
            devices_seen: devices::DevicesSeen::default(),
            detections: store.clone(),
            groups: GroupDirectory::new(store.clone()),
            store,
            engines,
            settings,
            telemetry,
            guard: std::sync::RwLock::new(None),
        })
    }

    /// Reads of indicators (writes go through [`Service::upsert`] and [`Service::delete`], so
    /// that the matchers see them).
    pub fn indicators(&self) -> &dyn IndicatorReader {
        self.store.as_ref()
    }

    /// Alerts and sightings.
    pub fn detections(&self) -> &dyn DetectionStore {
        self.detections.as_ref()
    }

    /// Webhooks, their deliveries and the alert outbox.
    pub fn webhooks(&self) -> &dyn WebhookStore {
        self.webhook_store.as_ref()
    }

    /// The feeds defined through the API.
    pub fn feed_store(&self) -> &dyn iocd_store::feeds::FeedStore {
        self.feed_store.as_ref()
    }

    /// Small documents every node sees alike: feed runs, TAXII statuses.
    pub fn records(&self) -> &dyn iocd_store::records::RecordStore {
        self.record_store.as_ref()
    }

    /// The devices seen, as last written (see [`Service::flush_devices`]).
    pub fn devices(&self) -> &dyn DeviceStore {
        self.device_store.as_ref()
    }

    /// Notes that `device` was seen; it reaches the store on the next
    /// [`Service::flush_devices`]. Never blocks on the store.
    pub fn note_device(&self, tenant: &str, device: SeenDevice) {
        self.devices_seen.note(tenant, device);
    }

    /// How many noted devices wait for [`Service::flush_devices`].
    pub fn devices_pending(&self) -> usize {
        self.devices_seen.pending()
    }

    /// Writes the devices noted since the last flush; returns how many.
    pub fn flush_devices(&self) -> Result<usize, StoreError> {
        self.devices_seen.flush(self.device_store.as_ref())
    }

    /// Records that a user on `device` continued past the warning of indicator `indicator_id`
    /// (see [`bypasses::record`]).
    pub fn record_bypass(
        &self,
        tenant: &str,
        device: &str,
        indicator_id: i64,
        user: Option<String>,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Result<Bypass, bypasses::BypassRefusal>, StoreError> {
        let context = bypasses::BypassContext {
            store: self.bypass_store.as_ref(),
            indicators: self.store.as_ref(),
            detections: self.detections.as_ref(),
            notices: &self.notices,
            bypasses: &self.bypasses,
        };
        let recorded = bypasses::record(&context, tenant, device, indicator_id, user, actor, now)?;
        if recorded.is_ok() {
            self.telemetry.count(telemetry::BYPASSES, &[], 1);
        }
        Ok(recorded)
    }

    /// Installs (or with `None` removes) the known-good guard; writes from now on use it.
    pub fn set_guard(&self, guard: Option<warninglists::Guard>) {
        *self.guard.write().unwrap_or_else(|e| e.into_inner()) = guard.map(Arc::new);
    }

    fn guard(&self) -> Option<Arc<warninglists::Guard>> {
        self.guard.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The warninglists an indicator with `value` and `action` hits (none for `Allowed`:
    /// allowing what everyone needs is harmless).
    pub fn warninglist_hits(
        &self,
        value: &iocd_model::IndicatorValue,
        action: iocd_model::Action,
    ) -> Vec<String> {
        match self.guard() {
            Some(guard) if action != iocd_model::Action::Allowed => guard.lists.hits(value),
            _ => Vec::new(),
        }
    }

    /// In `refuse` mode, turns each spec that would block (`Warn`, `Block`,
    /// `BlockAndRemediate`) something on a warninglist into a failure naming the lists.
    fn refuse_known_good(&self, resolved: &mut [groups::Resolved]) {
        let Some(guard) = self
            .guard()
            .filter(|g| g.mode == warninglists::GuardMode::Refuse && !g.lists.is_empty())
        else {
            return;
        };
        for item in resolved.iter_mut() {
            let Ok(spec) = item else { continue };
            if !matches!(
                spec.action,
                iocd_model::Action::Warn
                    | iocd_model::Action::Block
                    | iocd_model::Action::BlockAndRemediate
            ) {
                continue;
            }
            let hits = guard.lists.hits(&spec.value);
            if !hits.is_empty() {
                *item = Err((
                    iocd_model::ErrorCode::InvalidInput,
                    format!(
                        "{} is on the known-good warninglist{} {}: blocking it would block what everyone needs, so it is refused ([warninglists] mode = \"refuse\").",
                        spec.value,
                        if hits.len() > 1 { "s" } else { "" },
                        hits.join("; ")
                    ),
                ));
            }
        }
    }

    /// Where the service's measurements go.
    pub fn telemetry(&self) -> &telemetry::Telemetry {
        &self.telemetry
    }

    /// When the bypass of `indicator_id` on `device` ends, if one is in force at `now`.
    pub fn bypassed_until(
        &self,
        tenant: &str,
        device: &str,
        indicator_id: i64,
        now: Timestamp,
    ) -> Option<Timestamp> {
        self.bypasses.until(tenant, device, indicator_id, now)
    }

    /// The tenant's bypasses in force at `now`.
    pub fn bypasses(&self, tenant: &str, now: Timestamp) -> Result<Vec<Bypass>, StoreError> {
        self.bypass_store.bypasses(tenant, now)
    }

    /// The notification fields of indicator `id` of `tenant`, if it sets any.
    pub fn notice(&self, tenant: &str, id: i64) -> Option<Arc<notices::Notice>> {
        self.notices.get(tenant, id)
    }

    /// The tenant's device groups if they are cached: never reads the store, so it may be
    /// called on an async thread.
    pub fn cached_device_groups(&self, tenant: &str) -> Option<Arc<TenantGroups>> {
        self.groups.cached(tenant)
    }

    /// The tenant's device groups (cached until one changes).
    pub fn device_groups(&self, tenant: &str) -> Result<Arc<TenantGroups>, StoreError> {
        self.groups.get(tenant)
    }

    /// Creates a device group.
    pub fn create_device_group(
        &self,
        tenant: &str,
        spec: &GroupSpec,
        now: Timestamp,
    ) -> Result<Result<DeviceGroup, GroupConflict>, StoreError> {
        let result = self.groups.store().create_device_group(tenant, spec, now);
        self.groups.forget(tenant);
        result
    }

    /// Replaces a device group's fields (a new name reaches the indicators scoped to it).
    /// Holds the tenant's write order, like indicator writes.
    pub fn update_device_group(
        &self,
        tenant: &str,
        id: i64,
        spec: &GroupSpec,
        now: Timestamp,
    ) -> Result<Result<DeviceGroup, GroupConflict>, StoreError> {
        let result = self.engines.write(tenant, now, false, || {
            let result = self
                .groups
                .store()
                .update_device_group(tenant, id, spec, now)?;
            Ok((result, Pending::Upserts(Vec::new())))
        });
        self.groups.forget(tenant);
        result
    }

    /// Deletes a device group no indicator is scoped to; holds the tenant's write order so no
    /// indicator write can name it meanwhile.
    pub fn delete_device_group(
        &self,
        tenant: &str,
        id: i64,
        now: Timestamp,
    ) -> Result<Result<(), GroupConflict>, StoreError> {
        let result = self.engines.write(tenant, now, false, || {
            let result = self.groups.store().delete_device_group(tenant, id)?;
            Ok((result, Pending::Upserts(Vec::new())))
        });
        self.groups.forget(tenant);
        result
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Creates or updates each spec (see [`IndicatorStore::upsert_batch`]), then hands the
    /// changes to the tenant's matcher in commit order, and retro-hunts the specs with
    /// `historicalDetection`. Fewer than [`ASYNC_APPLY_MIN`] indicators are enforced when
    /// this returns; more are enforced moments later.
    pub fn upsert(
        &self,
        tenant: &str,
        actor: &Actor,
        specs: &[IndicatorSpec],
        context: &WriteContext,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        // A retro-hunt evaluates with the new indicators, so it must wait for them.
        let hunts = specs.iter().any(|spec| spec.historical_detection);
        let outcomes = self.engines.write(tenant, context.now, hunts, || {
            let mut resolved = groups::resolve(
                &self.groups,
                tenant,
                specs,
                self.settings.auto_create_device_groups,
                context.now,
            )?;
            self.refuse_known_good(&mut resolved);
            let writable: Vec<IndicatorSpec> = resolved
                .iter()
                .filter_map(|r| r.as_ref().ok().cloned())
                .collect();
            let stored = self.store.upsert_batch(tenant, actor, &writable, context)?;
            for (spec, outcome) in writable.iter().zip(&stored) {
                if let Some(id) = outcome.id() {
                    self.notices.set(tenant, id, spec);
                }
            }
            let changes = upsert_changes(&writable, &stored);
            let mut stored = stored.into_iter();
            let outcomes = resolved
                .into_iter()
                .map(|item| match item {
                    Ok(_) => stored.next().unwrap_or(UpsertOutcome::Failed {
                        code: iocd_model::ErrorCode::InternalServerError,
                        message: "the store returned fewer results than specs".into(),
                    }),
                    Err((code, message)) => UpsertOutcome::Failed { code, message },
                })
                .collect::<Vec<_>>();
            Ok((outcomes, changes))
        })?;
        let retention_seconds = self.settings.sighting_retention_days.saturating_mul(86_400);
        let written: Vec<(&IndicatorSpec, &UpsertOutcome)> = specs.iter().zip(&outcomes).collect();
        let raised = retro_hunt::hunt(
            self.detections.as_ref(),
            &self.engines.snapshot(tenant),
            &*self.groups.get(tenant)?,
            tenant,
            &written,
            retention_seconds,
            context.now,
        );
        self.telemetry.count(
            telemetry::ALERTS_CREATED,
            &[("source", "retro_hunt")],
            raised,
        );
        Ok(outcomes)
    }

    /// [`Service::upsert`] for a batch whose items were validated one by one: the valid specs
    /// are written in one transaction, and each item gets its outcome or its own failure
    /// reason, in input order.
    pub fn upsert_validated(
        &self,
        tenant: &str,
        actor: &Actor,
        context: &WriteContext,
        validated: Vec<Result<IndicatorSpec, String>>,
    ) -> Result<Vec<Result<UpsertOutcome, String>>, StoreError> {
        let mut specs = Vec::with_capacity(validated.len());
        let mut failures: Vec<Option<String>> = Vec::with_capacity(validated.len());
        for item in validated {
            match item {
                Ok(spec) => {
                    specs.push(spec);
                    failures.push(None);
                }
                Err(reason) => failures.push(Some(reason)),
            }
        }
        let mut stored = self.upsert(tenant, actor, &specs, context)?.into_iter();
        failures
            .into_iter()
            .map(|failure| match failure {
                None => stored.next().map(Ok).ok_or_else(|| {
                    StoreError::Corrupt("the store returned fewer results than specs".into())
                }),
                Some(reason) => Ok(Err(reason)),
            })
            .collect()
    }

    /// Deletes all of `ids` or none (see [`IndicatorStore::delete`]); deleted indicators stop
    /// matching before this returns.
    pub fn delete(
        &self,
        tenant: &str,
        ids: &[i64],
        actor: &Actor,
        context: &WriteContext,
    ) -> Result<DeleteOutcome, StoreError> {
        self.engines.write(tenant, context.now, false, || {
            let outcome = self.store.delete(tenant, ids, actor, context)?;
            let changes = match outcome {
                DeleteOutcome::Deleted(_) => ids.to_vec(),
                DeleteOutcome::NotFound(_) => Vec::new(),
            };
            self.notices.forget(tenant, &changes);
            Ok((outcome, Pending::Removes(changes)))
        })
    }

    /// Applies a change another node wrote to the shared store (read from the change log):
    /// `present` are the named indicators as they are now, `named` every id the change names;
    /// a named id not present was deleted or has expired. Waits until the matcher has applied
    /// it, so a follower's watermark moves only past what it enforces.
    pub fn apply_remote(
        &self,
        tenant: &str,
        present: &[iocd_model::Indicator],
        named: &[i64],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // The change may scope indicators to groups another node created, or be a bypass
        // another node recorded: read the tenant's groups again at its next lookup, and its
        // bypasses now.
        self.groups.forget(tenant);
        let bypasses = self.bypass_store.bypasses(tenant, now)?;
        self.bypasses.replace_tenant(tenant, &bypasses);
        let present_ids: std::collections::HashSet<i64> = present.iter().map(|i| i.id).collect();
        let removed: Vec<i64> = named
            .iter()
            .copied()
            .filter(|id| !present_ids.contains(id))
            .collect();
        if !removed.is_empty() {
            self.engines.write(tenant, now, true, || {
                self.notices.forget(tenant, &removed);
                Ok(((), Pending::Removes(removed.clone())))
            })?;
        }
        if !present.is_empty() {
            self.engines.write(tenant, now, true, || {
                for indicator in present {
                    self.notices.set(tenant, indicator.id, &indicator.spec);
                }
                let upserts = present.iter().map(EngineIndicator::from).collect();
                Ok(((), Pending::Upserts(upserts)))
            })?;
        }
        Ok(())
    }

    /// Deletes up to `limit` expired indicators (see [`IndicatorStore::sweep_expired`]).
    /// Expired indicators already never match (every lookup compares with `now`) and merges
    /// drop them, so the matchers need no change.
    pub fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.store.sweep_expired(now, limit)
    }

    /// One run of the sweeper: every expired indicator, in batches, then the sightings older
    /// than the retention.
    pub fn sweep(&self, now: Timestamp) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        loop {
            let expired = self.sweep_expired(now, SWEEP_BATCH)?;
            report.expired_indicators += expired;
            if expired < SWEEP_BATCH {
                break;
            }
        }
        let retention = self.settings.sighting_retention_days.saturating_mul(86_400);
        let before = now.plus_seconds(-(retention.min(i64::MAX as u64) as i64));
        report.forgotten_sightings = self.detections.sweep_sightings(before)?;
        report.expired_bypasses = self.bypass_store.sweep_bypasses(now)?;
        self.bypasses.prune(now);
        report.pruned_deliveries = self
            .webhook_store
            .sweep_deliveries(now.plus_seconds(-DELIVERY_RETENTION_DAYS * 86_400))?;
        Ok(report)
    }

    /// The current matching view of `tenant`: cheap to take, immutable, shareable.
    pub fn snapshot(&self, tenant: &str) -> Snapshot {
        self.engines.snapshot(tenant)
    }

    /// Waits until every write of `tenant` made so far is applied to its matcher (writes of
    /// [`ASYNC_APPLY_MIN`] or more indicators return before that).
    pub fn wait_until_applied(&self, tenant: &str, now: Timestamp) {
        self.engines.wait_until_applied(tenant, now);
    }

    /// Runs device events through detection for `tenant`: matches their observables,
    /// records them as sightings, and raises or folds alerts.
    pub fn ingest_events(
        &self,
        tenant: &str,
        profile: events::EventProfile,
        inputs: Vec<EventInput>,
        now: Timestamp,
    ) -> Result<IngestReport, StoreError> {
        let snapshot = self.engines.snapshot(tenant);
        let groups = self.groups.get(tenant)?;
        let view = ingest::TenantView {
            snapshot: &snapshot,
            groups: &groups,
            bypasses: &self.bypasses,
        };
        let report = ingest::ingest(
            self.detections.as_ref(),
            &self.devices_seen,
            &view,
            tenant,
            profile,
            inputs,
            now,
        )?;
        use telemetry::{ALERTS_CREATED, EVENTS, MATCHES};
        self.telemetry
            .count(EVENTS, &[("outcome", "accepted")], report.events);
        self.telemetry
            .count(EVENTS, &[("outcome", "refused")], report.refused);
        for (action, n) in &report.matches_by_action {
            self.telemetry
                .count(MATCHES, &[("source", "events"), ("action", action)], *n);
        }
        self.telemetry.count(
            ALERTS_CREATED,
            &[("source", "events")],
            report.alerts_created,
        );
        Ok(report)
    }

    /// Stops the threads that apply writes, after they finish what they hold. Writes made
    /// afterwards are applied by the writing thread.
    pub fn shutdown(&self) {
        self.engines.shutdown();
        if let Err(error) = self.flush_devices() {
            tracing::warn!(%error, "the devices seen last could not be written");
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The engine's view of what an upsert stored.
fn upsert_changes(specs: &[IndicatorSpec], outcomes: &[UpsertOutcome]) -> Pending {
    Pending::Upserts(
        specs
            .iter()
            .zip(outcomes)
            .filter_map(|(spec, outcome)| {
                Some(EngineIndicator {
                    id: outcome.id()?,
                    value: spec.value.clone(),
                    action: spec.action,
                    groups: iocd_engine::scope_keys(spec),
                    expires: spec.expiration_time,
                    generate_alert: spec.generate_alert,
                })
            })
            .collect(),
    )
}
