//! The store conformance suite run through the service's write path: every write goes through
//! `Service::upsert` or `Service::delete` (commit, then the matcher in commit order), the store
//! must still behave as the suite demands, and after each write the tenant's matcher must hold
//! exactly the indicators the store holds as active.

use iocd_model::{Indicator, IndicatorSpec, Timestamp};
use iocd_service::{Service, Settings};
use iocd_store::detections::{
    Alert, AlertHit, AlertPage, AlertUpdate, DetectionStore, Sighting, SightingQuery,
};
use iocd_store::{
    Actor, DeleteOutcome, HistoryEntry, IndicatorReader, IndicatorStore, ListPage, ListQuery,
    SqliteStore, StoreError, TypeCount, UpsertOutcome, Visibility, WriteContext,
};
use std::sync::Arc;

/// A store whose writes go through a [`Service`] over SQLite.
#[derive(Debug)]
struct ThroughService {
    service: Service,
    _dir: tempfile::TempDir,
}

fn make() -> Box<ThroughService> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("iocd.db")).expect("open store");
    let now = Timestamp::parse("2026-01-01T00:00:00Z").expect("now");
    let service = Service::start(Arc::new(store), Settings::default(), now).expect("start");
    Box::new(ThroughService { service, _dir: dir })
}

impl ThroughService {
    /// The matcher of `tenant`, once every write is applied, matches exactly the indicators
    /// the store holds as active at `now`.
    fn check_matcher(&self, tenant: &str, now: Timestamp) {
        self.service.wait_until_applied(tenant, now);
        let matched = self.service.snapshot(tenant).active_ids(now);
        let mut stored = Vec::new();
        self.service
            .indicators()
            .scan_active(now, &mut |owner, indicator| {
                if owner == tenant {
                    stored.push(indicator.id);
                }
            })
            .expect("scan");
        stored.sort_unstable();
        assert_eq!(matched, stored, "tenant {tenant} at {now:?}");
    }
}

impl IndicatorReader for ThroughService {
    fn get(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Option<Indicator>, StoreError> {
        self.service.indicators().get(tenant, id, visibility, now)
    }

    fn list(
        &self,
        tenant: &str,
        query: &ListQuery,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<ListPage, StoreError> {
        self.service
            .indicators()
            .list(tenant, query, visibility, now)
    }

    fn history(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
    ) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        self.service.indicators().history(tenant, id, visibility)
    }

    fn count_active(&self, tenant: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.service.indicators().count_active(tenant, now)
    }

    fn count_by_type(&self, now: Timestamp) -> Result<Vec<TypeCount>, StoreError> {
        self.service.indicators().count_by_type(now)
    }

    fn scan_active(
        &self,
        now: Timestamp,
        visit: &mut dyn FnMut(&str, Indicator),
    ) -> Result<(), StoreError> {
        self.service.indicators().scan_active(now, visit)
    }
}

impl IndicatorStore for ThroughService {
    fn upsert_batch(
        &self,
        tenant: &str,
        actor: &Actor,
        specs: &[IndicatorSpec],
        context: &WriteContext,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        let outcomes = self.service.upsert(tenant, actor, specs, context)?;
        self.check_matcher(tenant, context.now);
        Ok(outcomes)
    }

    fn delete(
        &self,
        tenant: &str,
        ids: &[i64],
        actor: &Actor,
        context: &WriteContext,
    ) -> Result<DeleteOutcome, StoreError> {
        let outcome = self.service.delete(tenant, ids, actor, context)?;
        self.check_matcher(tenant, context.now);
        Ok(outcome)
    }

    fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.service.sweep_expired(now, limit)
    }
}

impl DetectionStore for ThroughService {
    fn record_hits(
        &self,
        tenant: &str,
        hits: &[AlertHit],
        now: Timestamp,
    ) -> Result<Vec<Option<iocd_store::detections::RecordedHit>>, StoreError> {
        self.service.detections().record_hits(tenant, hits, now)
    }

    fn list_alerts(&self, tenant: &str, query: &ListQuery) -> Result<AlertPage, StoreError> {
        self.service.detections().list_alerts(tenant, query)
    }

    fn get_alert(&self, tenant: &str, id: i64) -> Result<Option<Alert>, StoreError> {
        self.service.detections().get_alert(tenant, id)
    }

    fn update_alert(
        &self,
        tenant: &str,
        id: i64,
        update: &AlertUpdate,
        now: Timestamp,
    ) -> Result<Option<Alert>, StoreError> {
        self.service
            .detections()
            .update_alert(tenant, id, update, now)
    }

    fn record_sightings(&self, tenant: &str, sightings: &[Sighting]) -> Result<(), StoreError> {
        self.service
            .detections()
            .record_sightings(tenant, sightings)
    }

    fn find_sightings(
        &self,
        tenant: &str,
        query: &SightingQuery,
    ) -> Result<Vec<Sighting>, StoreError> {
        self.service.detections().find_sightings(tenant, query)
    }

    fn sweep_sightings(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.service.detections().sweep_sightings(before)
    }
}

mod through_service {
    use super::*;

    iocd_store::conformance_suite!(make());

    mod detections {
        use super::*;
        iocd_store::detection_conformance_suite!(make());
    }
}
