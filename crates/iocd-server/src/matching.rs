//! The matching engine inside the service: one [`LiveMatcher`] per tenant, loaded from the
//! store at start and fed by every committed write through [`MatchingStore`], which wraps the
//! real store so no handler can forget to.
//!
//! Ordering: a tenant's writes hold that tenant's `order` lock from the store call until their
//! changes are queued to the tenant's applier thread, so the matcher sees writes in commit order.
//! A write of fewer than [`ASYNC_APPLY_MIN`] indicators (every single-indicator call, every
//! import) waits until its changes are applied, so the API answers only once they are enforced;
//! larger batches (bulk loads) do not wait, so the store's writer thread is not slowed by the
//! matcher. Readers never lock; they clone the published snapshot.

use iocd_engine::{Change, EngineIndicator, LiveMatcher, MatchSet, Snapshot, compile};
use iocd_model::{Indicator, IndicatorSpec, Timestamp};
use iocd_store::detections::DetectionStore;
use iocd_store::{
    Actor, DeleteOutcome, HistoryEntry, IndicatorStore, ListPage, ListQuery, StoreError, TypeCount,
    UpsertOutcome, Visibility, WriteContext,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, mpsc};

/// Below this many changed ids no merge into the base is started.
const MIN_MERGE_PENDING: usize = 65_536;

/// Writes of at least this many indicators return before the matcher has applied them.
pub const ASYNC_APPLY_MIN: usize = 1_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Changes committed to the store, not yet compiled.
#[derive(Debug)]
enum Pending {
    Upserts(Vec<EngineIndicator>),
    Removes(Vec<i64>),
}

impl Pending {
    fn len(&self) -> usize {
        match self {
            Pending::Upserts(items) => items.len(),
            Pending::Removes(ids) => ids.len(),
        }
    }
}

/// One committed write on its way to the matcher.
struct Job {
    pending: Pending,
    now: Timestamp,
    /// Signalled once applied, when the writer waits.
    done: Option<mpsc::SyncSender<()>>,
}

#[derive(Debug, Default)]
struct TenantMatcher {
    live: Mutex<LiveMatcher>,
    published: RwLock<Snapshot>,
    merging: AtomicBool,
    /// Held from the store write until its changes are queued; holds the applier's queue.
    order: Mutex<Option<mpsc::Sender<Job>>>,
}

impl TenantMatcher {
    fn publish(&self, live: &LiveMatcher) {
        let snapshot = live.snapshot();
        *self
            .published
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = snapshot;
    }

    /// Compiles and applies one write's changes, publishes the snapshot, and starts a merge
    /// when the overlay has grown.
    fn apply(self: &Arc<Self>, pending: Pending, now: Timestamp) {
        let changes: Vec<Change> = match pending {
            Pending::Removes(ids) => ids.into_iter().map(Change::Remove).collect(),
            Pending::Upserts(items) => items
                .iter()
                .map(|indicator| Change::Upsert(compile(indicator)))
                .collect(),
        };
        let mut live = lock(&self.live);
        live.apply(changes);
        self.publish(&live);
        // Merging when the overlay reaches half the base keeps the total merge work linear in
        // the number of writes (each merge at least grows the base by half).
        let threshold = MIN_MERGE_PENDING.max(live.base_len() / 2);
        if live.pending() > threshold && !self.merging.swap(true, Ordering::AcqRel) {
            let plan = live.merge_plan();
            let matcher = self.clone();
            std::thread::spawn(move || {
                let merged = plan.build(now);
                let mut live = lock(&matcher.live);
                live.install(merged);
                matcher.publish(&live);
                matcher.merging.store(false, Ordering::Release);
            });
        }
    }
}

/// Starts the thread that applies `matcher`'s writes in order. It holds only a weak
/// reference, so it ends when the matcher (and with it the queue's sender) is dropped.
fn spawn_applier(matcher: &Arc<TenantMatcher>) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let weak = Arc::downgrade(matcher);
    std::thread::spawn(move || {
        for job in receiver {
            let Some(matcher) = weak.upgrade() else {
                return;
            };
            matcher.apply(job.pending, job.now);
            if let Some(done) = job.done {
                let _ = done.send(());
            }
        }
    });
    sender
}

/// Every tenant's matcher.
#[derive(Debug, Default)]
pub struct Engines {
    tenants: RwLock<HashMap<String, Arc<TenantMatcher>>>,
}

impl Engines {
    /// Builds every tenant's match set from the store's active indicators.
    pub fn load(store: &dyn IndicatorStore, now: Timestamp) -> Result<Engines, StoreError> {
        let mut compiled: HashMap<String, Vec<iocd_engine::CompiledIndicator>> = HashMap::new();
        store.scan_active(now, &mut |tenant, indicator| {
            let indicator = compile(&EngineIndicator::from(&indicator));
            compiled
                .entry(tenant.to_owned())
                .or_default()
                .push(indicator);
        })?;
        let engines = Engines::default();
        {
            let mut tenants = engines
                .tenants
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (tenant, indicators) in compiled {
                let live = LiveMatcher::new(MatchSet::build(indicators));
                let matcher = TenantMatcher {
                    published: RwLock::new(live.snapshot()),
                    live: Mutex::new(live),
                    merging: AtomicBool::new(false),
                    order: Mutex::new(None),
                };
                tenants.insert(tenant, Arc::new(matcher));
            }
        }
        Ok(engines)
    }

    /// The current matching view of `tenant` (empty for a tenant with no indicators).
    pub fn snapshot(&self, tenant: &str) -> Snapshot {
        let tenants = self
            .tenants
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match tenants.get(tenant) {
            Some(matcher) => matcher
                .published
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
            None => Snapshot::default(),
        }
    }

    fn tenant(&self, tenant: &str) -> Arc<TenantMatcher> {
        if let Some(found) = self
            .tenants
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tenant)
        {
            return found.clone();
        }
        self.tenants
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(tenant.to_owned())
            .or_default()
            .clone()
    }

    /// Runs `write` (a store call) in the tenant's commit order and hands the changes it
    /// reports to the tenant's applier; waits until they are applied when the write is small or
    /// `wait` is set.
    fn write<T>(
        &self,
        tenant: &str,
        now: Timestamp,
        wait: bool,
        write: impl FnOnce() -> Result<(T, Pending), StoreError>,
    ) -> Result<T, StoreError> {
        let matcher = self.tenant(tenant);
        let applied = {
            let mut order = lock(&matcher.order);
            let (result, pending) = write()?;
            if pending.len() == 0 {
                return Ok(result);
            }
            let wait = wait || pending.len() < ASYNC_APPLY_MIN;
            let (done, applied) = if wait {
                let (sender, receiver) = mpsc::sync_channel(1);
                (Some(sender), Some(receiver))
            } else {
                (None, None)
            };
            let queue = order.get_or_insert_with(|| spawn_applier(&matcher));
            if let Err(mpsc::SendError(job)) = queue.send(Job { pending, now, done }) {
                // The applier is gone (it never should be): apply here, still in order.
                matcher.apply(job.pending, job.now);
                *order = None;
                return Ok(result);
            }
            (result, applied)
        };
        let (result, applied) = applied;
        if let Some(applied) = applied {
            let _ = applied.recv();
        }
        Ok(result)
    }
}

/// Most past sightings one retro-hunt turns into alerts.
const RETRO_HUNT_LIMIT: usize = 10_000;

/// An [`IndicatorStore`] that keeps the matchers in step with every committed write, and runs
/// the retro-hunt for indicators created or updated with `historicalDetection`.
#[derive(Debug)]
pub struct MatchingStore {
    inner: Arc<dyn IndicatorStore>,
    detections: Arc<dyn DetectionStore>,
    engines: Arc<Engines>,
    retention_seconds: u64,
}

impl MatchingStore {
    pub fn new(
        inner: Arc<dyn IndicatorStore>,
        detections: Arc<dyn DetectionStore>,
        engines: Arc<Engines>,
        retention_seconds: u64,
    ) -> MatchingStore {
        MatchingStore {
            inner,
            detections,
            engines,
            retention_seconds,
        }
    }

    /// Matches newly written `historicalDetection` indicators against the sightings of the
    /// last `lookBackPeriod` (at most the retention) and raises alerts for what they find.
    /// The write has already committed, so a failure here is logged, not returned.
    fn retro_hunt(
        &self,
        tenant: &str,
        specs: &[IndicatorSpec],
        outcomes: &[UpsertOutcome],
        now: Timestamp,
    ) {
        let wanted: Vec<(i64, &IndicatorSpec)> = specs
            .iter()
            .zip(outcomes)
            .filter(|(spec, _)| spec.historical_detection)
            .filter_map(|(spec, outcome)| outcome.id().map(|id| (id, spec)))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let snapshot = self.engines.snapshot(tenant);
        let mut hits = Vec::new();
        for (id, spec) in wanted {
            let retention = self.retention_seconds as i64;
            let look_back = spec
                .look_back_period
                .map_or(retention, |period| (period.seconds() as i64).min(retention));
            let since = now.plus_seconds(-look_back);
            let query = crate::detection::retro_hunt_query(&spec.value, since, RETRO_HUNT_LIMIT);
            match self.detections.find_sightings(tenant, &query) {
                Ok(found) => hits.extend(crate::detection::retro_hunt_hits(
                    &snapshot, id, &found, now,
                )),
                Err(error) => tracing::warn!(tenant, id, %error, "retro-hunt query failed"),
            }
        }
        if let Err(error) = self.detections.record_hits(tenant, &hits, now) {
            tracing::warn!(tenant, %error, "retro-hunt alerts could not be recorded");
        } else if !hits.is_empty() {
            tracing::info!(
                tenant,
                alerts = hits.len(),
                "retro-hunt found past sightings"
            );
        }
    }
}

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
                    groups: spec.rbac_group_names.clone(),
                    expires: spec.expiration_time,
                    generate_alert: spec.generate_alert,
                })
            })
            .collect(),
    )
}

impl IndicatorStore for MatchingStore {
    fn upsert_batch(
        &self,
        tenant: &str,
        actor: &Actor,
        specs: &[IndicatorSpec],
        context: &WriteContext,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        // A retro-hunt evaluates with the new indicators, so it must wait for them.
        let hunts = specs.iter().any(|spec| spec.historical_detection);
        let outcomes = self.engines.write(tenant, context.now, hunts, || {
            let outcomes = self.inner.upsert_batch(tenant, actor, specs, context)?;
            let changes = upsert_changes(specs, &outcomes);
            Ok((outcomes, changes))
        })?;
        self.retro_hunt(tenant, specs, &outcomes, context.now);
        Ok(outcomes)
    }

    fn get(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Option<Indicator>, StoreError> {
        self.inner.get(tenant, id, visibility, now)
    }

    fn list(
        &self,
        tenant: &str,
        query: &ListQuery,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<ListPage, StoreError> {
        self.inner.list(tenant, query, visibility, now)
    }

    fn delete(
        &self,
        tenant: &str,
        ids: &[i64],
        actor: &Actor,
        context: &WriteContext,
    ) -> Result<DeleteOutcome, StoreError> {
        self.engines.write(tenant, context.now, false, || {
            let outcome = self.inner.delete(tenant, ids, actor, context)?;
            let changes = match outcome {
                DeleteOutcome::Deleted(_) => ids.to_vec(),
                DeleteOutcome::NotFound(_) => Vec::new(),
            };
            Ok((outcome, Pending::Removes(changes)))
        })
    }

    fn history(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
    ) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        self.inner.history(tenant, id, visibility)
    }

    /// Expired indicators already never match (every query compares with `now`), and merges
    /// drop them, so the sweeper's deletions need no change to the matchers.
    fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.inner.sweep_expired(now, limit)
    }

    fn count_active(&self, tenant: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.count_active(tenant, now)
    }

    fn count_by_type(&self, now: Timestamp) -> Result<Vec<TypeCount>, StoreError> {
        self.inner.count_by_type(now)
    }

    fn scan_active(
        &self,
        now: Timestamp,
        visit: &mut dyn FnMut(&str, Indicator),
    ) -> Result<(), StoreError> {
        self.inner.scan_active(now, visit)
    }
}
