//! What a device shows the user when an indicator warns or blocks: the indicator's
//! `application`, `educateUrl`, `notificationBody` and `bypassDurationHours`, kept in memory
//! per tenant for the indicators that set any of them (most set none), in step with the
//! matcher: written under the tenant's write order, loaded at start.

use iocd_model::IndicatorSpec;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One indicator's notification fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    pub application: Option<String>,
    pub educate_url: Option<String>,
    pub notification_body: Option<String>,
    pub bypass_duration_hours: Option<i64>,
}

impl Notice {
    /// The notice of `spec`, or `None` when it sets none of the fields.
    pub fn of(spec: &IndicatorSpec) -> Option<Notice> {
        let notice = Notice {
            application: spec.application.clone(),
            educate_url: spec.educate_url.clone(),
            notification_body: spec.notification_body.clone(),
            bypass_duration_hours: spec.bypass_duration_hours,
        };
        (notice != Notice::default()).then_some(notice)
    }
}

/// The notices of every tenant's indicators.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    tenants: RwLock<HashMap<String, HashMap<i64, Arc<Notice>>>>,
}

impl Notices {
    pub(crate) fn get(&self, tenant: &str, id: i64) -> Option<Arc<Notice>> {
        self.tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)?
            .get(&id)
            .cloned()
    }

    /// Records the notice of indicator `id` (or forgets it when `spec` sets none).
    pub(crate) fn set(&self, tenant: &str, id: i64, spec: &IndicatorSpec) {
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        match Notice::of(spec) {
            Some(notice) => {
                tenants
                    .entry(tenant.to_owned())
                    .or_default()
                    .insert(id, Arc::new(notice));
            }
            None => {
                if let Some(map) = tenants.get_mut(tenant) {
                    map.remove(&id);
                }
            }
        }
    }

    pub(crate) fn forget(&self, tenant: &str, ids: &[i64]) {
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = tenants.get_mut(tenant) {
            for id in ids {
                map.remove(id);
            }
        }
    }
}
