//! Warn bypasses as the service keeps them: recorded in the store and held in memory per
//! tenant (device and indicator to expiry), loaded at start, so a verdict checks one map.

use crate::notices::Notices;
use crate::verdict_report::DEFAULT_BYPASS_HOURS;
use iocd_model::{Action, Timestamp};
use iocd_store::bypasses::{Bypass, BypassStore};
use iocd_store::detections::{AlertHit, DetectionStore, DeviceRef};
use iocd_store::{Actor, IndicatorReader, StoreError, Visibility};
use serde_json::json;
use std::collections::HashMap;
use std::sync::RwLock;

/// Why a bypass was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BypassRefusal {
    /// No active indicator of the tenant has this id.
    NoSuchIndicator,
    /// The indicator's action is not `Warn`; only warnings can be bypassed.
    NotWarn(Action),
}

type Key = (String, i64);

/// The unexpired bypasses of every tenant: (device, indicator) to expiry.
#[derive(Debug, Default)]
pub(crate) struct Bypasses {
    tenants: RwLock<HashMap<String, HashMap<Key, Timestamp>>>,
}

impl Bypasses {
    pub(crate) fn load(store: &dyn BypassStore, now: Timestamp) -> Result<Self, StoreError> {
        let bypasses = Bypasses::default();
        for (tenant, bypass) in store.active_bypasses(now)? {
            bypasses.insert(&tenant, &bypass);
        }
        Ok(bypasses)
    }

    fn insert(&self, tenant: &str, bypass: &Bypass) {
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant.to_owned())
            .or_default()
            .insert(
                (bypass.device_id.clone(), bypass.indicator_id),
                bypass.expires,
            );
    }

    /// Replaces the tenant's bypasses with `bypasses` (read again from the store after another
    /// node recorded one).
    pub(crate) fn replace_tenant(&self, tenant: &str, bypasses: &[Bypass]) {
        let map = bypasses
            .iter()
            .map(|b| ((b.device_id.clone(), b.indicator_id), b.expires))
            .collect();
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.to_owned(), map);
    }

    /// When the bypass of `indicator` on `device` ends, if one is in force at `now`.
    pub(crate) fn until(
        &self,
        tenant: &str,
        device: &str,
        indicator: i64,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        let map = tenants.get(tenant)?;
        if map.is_empty() {
            return None;
        }
        map.get(&(device.to_owned(), indicator))
            .copied()
            .filter(|expires| *expires > now)
    }

    /// Drops the bypasses expired at `now`.
    pub(crate) fn prune(&self, now: Timestamp) {
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        for map in tenants.values_mut() {
            map.retain(|_, expires| *expires > now);
        }
    }
}

/// Everything recording a bypass needs from the service.
pub(crate) struct BypassContext<'a> {
    pub(crate) store: &'a dyn BypassStore,
    pub(crate) indicators: &'a dyn IndicatorReader,
    pub(crate) detections: &'a dyn DetectionStore,
    pub(crate) notices: &'a Notices,
    pub(crate) bypasses: &'a Bypasses,
}

/// Records that `user` on `device` continued past indicator `indicator_id`'s warning: for the
/// indicator's `bypassDurationHours` (24 by default) that device gets `Allowed` for it. When
/// the indicator raises alerts, its alert for the device records the bypass as evidence.
pub(crate) fn record(
    context: &BypassContext<'_>,
    tenant: &str,
    device: &str,
    indicator_id: i64,
    user: Option<String>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Result<Bypass, BypassRefusal>, StoreError> {
    let Some(indicator) = context
        .indicators
        .get(tenant, indicator_id, &Visibility::All, now)?
    else {
        return Ok(Err(BypassRefusal::NoSuchIndicator));
    };
    if indicator.spec.action != Action::Warn {
        return Ok(Err(BypassRefusal::NotWarn(indicator.spec.action)));
    }
    let hours = context
        .notices
        .get(tenant, indicator_id)
        .and_then(|notice| notice.bypass_duration_hours)
        .unwrap_or(DEFAULT_BYPASS_HOURS)
        .max(0);
    let bypass = Bypass {
        device_id: device.to_owned(),
        indicator_id,
        user,
        created: now,
        expires: now.plus_seconds(hours.saturating_mul(3600)),
    };
    if !context.store.record_bypass(tenant, &bypass, actor)? {
        return Ok(Err(BypassRefusal::NoSuchIndicator));
    }
    context.bypasses.insert(tenant, &bypass);
    if indicator.spec.generate_alert {
        let hit = AlertHit {
            indicator_id,
            device: DeviceRef {
                id: device.to_owned(),
                name: None,
                group: None,
            },
            event_time: now,
            evidence: json!({
                "source": "bypass",
                "user": bypass.user,
                "until": bypass.expires.to_mde_seconds(),
            }),
        };
        context.detections.record_hits(tenant, &[hit], now)?;
    }
    Ok(Ok(bypass))
}
