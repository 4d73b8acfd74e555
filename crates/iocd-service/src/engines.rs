//! The matching engines inside the service: one [`LiveMatcher`] per tenant, loaded from the
//! store at start and fed by every committed write, in commit order.
//!
//! Ordering: a tenant's writes hold that tenant's `order` lock from the store call until their
//! changes are queued to the tenant's applier (see [`crate::workers`]), so the matcher sees
//! writes in commit order. A write of fewer than [`ASYNC_APPLY_MIN`] indicators (every
//! single-indicator call, every import) waits until its changes are applied, so the API answers
//! only once they are enforced; larger batches (bulk loads) do not wait, so the store's writer
//! is not slowed by the matcher. Readers never lock; they clone the published snapshot.

use crate::lock;
use crate::workers::{ApplyJob, MergeJob, Workers};
use iocd_engine::{Change, EngineIndicator, LiveMatcher, MatchSet, Snapshot, compile};
use iocd_model::Timestamp;
use iocd_store::{IndicatorReader, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};

/// Below this many changed ids no merge into the base is started.
const MIN_MERGE_PENDING: usize = 65_536;

/// Writes of at least this many indicators return before the matcher has applied them.
pub const ASYNC_APPLY_MIN: usize = 1_000;

/// Changes committed to the store, not yet compiled.
#[derive(Debug)]
pub(crate) enum Pending {
    Upserts(Vec<EngineIndicator>),
    Removes(Vec<i64>),
    /// Nothing to apply: a marker whose completion tells that everything queued before it
    /// has been applied.
    Barrier,
}

impl Pending {
    fn len(&self) -> usize {
        match self {
            Pending::Upserts(items) => items.len(),
            Pending::Removes(ids) => ids.len(),
            Pending::Barrier => 0,
        }
    }
}

/// One tenant's matcher: the mutable state behind its snapshots and the published snapshot.
#[derive(Debug)]
pub(crate) struct TenantMatcher {
    live: Mutex<LiveMatcher>,
    published: RwLock<Snapshot>,
    merging: AtomicBool,
    /// Held from the store write until its changes are queued.
    order: Mutex<()>,
    /// Where merges go.
    workers: Arc<Workers>,
}

impl TenantMatcher {
    fn new(live: LiveMatcher, workers: Arc<Workers>) -> TenantMatcher {
        TenantMatcher {
            published: RwLock::new(live.snapshot()),
            live: Mutex::new(live),
            merging: AtomicBool::new(false),
            order: Mutex::new(()),
            workers,
        }
    }

    fn publish(&self, live: &LiveMatcher) {
        *self
            .published
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = live.snapshot();
    }

    fn snapshot(&self) -> Snapshot {
        self.published
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Compiles and applies one write's changes, publishes the snapshot, and queues a merge
    /// when the overlay has grown.
    pub(crate) fn apply(self: &Arc<Self>, pending: Pending, now: Timestamp) {
        let changes: Vec<Change> = match pending {
            Pending::Removes(ids) => ids.into_iter().map(Change::Remove).collect(),
            Pending::Upserts(items) => items
                .iter()
                .map(|indicator| Change::Upsert(compile(indicator)))
                .collect(),
            Pending::Barrier => return,
        };
        let mut live = lock(&self.live);
        live.apply(changes);
        self.publish(&live);
        // Merging when the overlay reaches half the base keeps the total merge work linear in
        // the number of writes (each merge at least grows the base by half).
        let threshold = MIN_MERGE_PENDING.max(live.base_len() / 2);
        if live.pending() > threshold && !self.merging.swap(true, Ordering::AcqRel) {
            drop(live);
            let queued = self.workers.merge(MergeJob {
                matcher: self.clone(),
                now,
            });
            if !queued {
                // Stopped: the overlay stays until the next start builds a fresh base.
                self.merging.store(false, Ordering::Release);
            }
        }
    }

    /// Merges the overlay into a new base, built without holding the lock.
    pub(crate) fn merge(&self, now: Timestamp) {
        let plan = lock(&self.live).merge_plan();
        let merged = plan.build(now);
        let mut live = lock(&self.live);
        live.install(merged);
        self.publish(&live);
        self.merging.store(false, Ordering::Release);
    }
}

/// Every tenant's matcher, and the threads that apply writes to them.
#[derive(Debug)]
pub(crate) struct Engines {
    tenants: RwLock<HashMap<String, Arc<TenantMatcher>>>,
    workers: Arc<Workers>,
}

impl Engines {
    /// Builds every tenant's match set from the store's active indicators and starts the
    /// worker threads.
    pub(crate) fn load(
        store: &dyn IndicatorReader,
        now: Timestamp,
        appliers: usize,
        notices: &crate::notices::Notices,
        telemetry: crate::telemetry::Telemetry,
    ) -> Result<Engines, StoreError> {
        let mut compiled: HashMap<String, Vec<iocd_engine::CompiledIndicator>> = HashMap::new();
        store.scan_active(now, &mut |tenant, indicator| {
            if crate::notices::Notice::of(&indicator.spec).is_some() {
                notices.set(tenant, indicator.id, &indicator.spec);
            }
            let indicator = compile(&EngineIndicator::from(&indicator));
            compiled
                .entry(tenant.to_owned())
                .or_default()
                .push(indicator);
        })?;
        let workers =
            Arc::new(
                Workers::start(appliers, telemetry).map_err(|error| StoreError::Open {
                    path: "matcher threads".to_owned(),
                    reason: error.to_string(),
                })?,
            );
        let tenants = compiled
            .into_iter()
            .map(|(tenant, indicators)| {
                let live = LiveMatcher::new(MatchSet::build(indicators));
                (tenant, Arc::new(TenantMatcher::new(live, workers.clone())))
            })
            .collect();
        Ok(Engines {
            tenants: RwLock::new(tenants),
            workers,
        })
    }

    /// The current matching view of `tenant` (empty for a tenant with no indicators).
    pub(crate) fn snapshot(&self, tenant: &str) -> Snapshot {
        let tenants = self
            .tenants
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants
            .get(tenant)
            .map(|matcher| matcher.snapshot())
            .unwrap_or_default()
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
            .or_insert_with(|| {
                Arc::new(TenantMatcher::new(
                    LiveMatcher::default(),
                    self.workers.clone(),
                ))
            })
            .clone()
    }

    /// Runs `write` (a store call) in the tenant's commit order and hands the changes it
    /// reports to the tenant's applier; waits until they are applied when the write is small or
    /// `wait` is set.
    pub(crate) fn write<T>(
        &self,
        tenant: &str,
        now: Timestamp,
        wait: bool,
        write: impl FnOnce() -> Result<(T, Pending), StoreError>,
    ) -> Result<T, StoreError> {
        let matcher = self.tenant(tenant);
        let applied = {
            let _order = lock(&matcher.order);
            let (result, pending) = write()?;
            if pending.len() == 0 {
                return Ok(result);
            }
            let wait = wait || pending.len() < ASYNC_APPLY_MIN;
            (result, self.queue(&matcher, tenant, pending, now, wait))
        };
        let (result, applied) = applied;
        if let Some(applied) = applied {
            // An error means the applier dropped the job, which it does only when applied.
            let _ = applied.recv();
        }
        Ok(result)
    }

    /// Queues `pending` to the tenant's applier, or applies it here once the workers have
    /// stopped; returns what to wait on when `wait` is set.
    fn queue(
        &self,
        matcher: &Arc<TenantMatcher>,
        tenant: &str,
        pending: Pending,
        now: Timestamp,
        wait: bool,
    ) -> Option<mpsc::Receiver<()>> {
        let (done, applied) = if wait {
            let (sender, receiver) = mpsc::sync_channel(1);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let job = ApplyJob {
            matcher: matcher.clone(),
            pending,
            now,
            done,
            queued: std::time::Instant::now(),
        };
        match self.workers.apply(tenant, job) {
            Ok(()) => applied,
            Err(job) => {
                // Still under the order lock, so still in commit order.
                job.matcher.apply(job.pending, job.now);
                None
            }
        }
    }

    /// Waits until every write of `tenant` queued so far has been applied.
    pub(crate) fn wait_until_applied(&self, tenant: &str, now: Timestamp) {
        let matcher = self.tenant(tenant);
        let applied = {
            let _order = lock(&matcher.order);
            self.queue(&matcher, tenant, Pending::Barrier, now, true)
        };
        if let Some(applied) = applied {
            let _ = applied.recv();
        }
    }

    /// Stops the worker threads; later writes are applied by their writers.
    pub(crate) fn shutdown(&self) {
        self.workers.shutdown();
    }
}
