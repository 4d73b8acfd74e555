//! The devices seen, gathered in memory as requests name them and written to the store in
//! batches (one row per device per flush however often it asked), so the match path never
//! waits on the database.

use crate::lock;
use iocd_store::StoreError;
use iocd_store::devices::{DeviceStore, SeenDevice};
use std::collections::HashMap;
use std::sync::Mutex;

/// Devices seen since the last flush, per tenant and device id.
#[derive(Debug, Default)]
pub(crate) struct DevicesSeen {
    pending: Mutex<HashMap<String, HashMap<String, SeenDevice>>>,
}

/// Folds `newer` into `kept`: what the device says now wins, what it leaves out is kept, and
/// the times widen.
fn merge(kept: &mut SeenDevice, newer: SeenDevice) {
    kept.name = newer.name.or(kept.name.take());
    kept.domain = newer.domain.or(kept.domain.take());
    kept.os = newer.os.or(kept.os.take());
    if !newer.tags.is_empty() {
        kept.tags = newer.tags;
    }
    kept.group_id = newer.group_id.or(kept.group_id);
    kept.first_seen = kept.first_seen.min(newer.first_seen);
    kept.last_seen = kept.last_seen.max(newer.last_seen);
}

impl DevicesSeen {
    pub(crate) fn note(&self, tenant: &str, device: SeenDevice) {
        let mut pending = lock(&self.pending);
        let devices = match pending.get_mut(tenant) {
            Some(devices) => devices,
            None => pending.entry(tenant.to_owned()).or_default(),
        };
        match devices.get_mut(&device.id) {
            Some(kept) => merge(kept, device),
            None => {
                devices.insert(device.id.clone(), device);
            }
        }
    }

    /// How many devices wait to be written.
    pub(crate) fn pending(&self) -> usize {
        lock(&self.pending).values().map(HashMap::len).sum()
    }

    /// Writes what was gathered; returns how many devices. A tenant whose write fails keeps
    /// its devices for the next flush.
    pub(crate) fn flush(&self, store: &dyn DeviceStore) -> Result<usize, StoreError> {
        let taken = std::mem::take(&mut *lock(&self.pending));
        let mut written = 0;
        let mut failure = None;
        for (tenant, devices) in taken {
            let batch: Vec<SeenDevice> = devices.into_values().collect();
            match store.record_devices(&tenant, &batch) {
                Ok(()) => written += batch.len(),
                Err(error) => {
                    for device in batch {
                        self.note(&tenant, device);
                    }
                    failure = Some(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iocd_model::Timestamp;

    fn seen(id: &str, at: &str) -> SeenDevice {
        SeenDevice {
            id: id.to_owned(),
            name: None,
            domain: None,
            os: None,
            tags: Vec::new(),
            group_id: None,
            first_seen: Timestamp::parse(at).unwrap(),
            last_seen: Timestamp::parse(at).unwrap(),
        }
    }

    #[test]
    fn a_device_seen_twice_is_one_row_with_what_it_said_last() {
        let gathered = DevicesSeen::default();
        gathered.note(
            "t",
            SeenDevice {
                name: Some("lap-1".into()),
                os: Some("Windows11".into()),
                group_id: Some(2),
                ..seen("d1", "2026-03-01T10:00:00Z")
            },
        );
        gathered.note(
            "t",
            SeenDevice {
                os: Some("Windows10".into()),
                ..seen("d1", "2026-03-01T09:00:00Z")
            },
        );
        gathered.note("u", seen("d1", "2026-03-01T11:00:00Z"));
        assert_eq!(gathered.pending(), 2);
        let pending = lock(&gathered.pending);
        let d1 = &pending["t"]["d1"];
        assert_eq!(d1.name.as_deref(), Some("lap-1"));
        assert_eq!(d1.os.as_deref(), Some("Windows10"));
        assert_eq!(d1.group_id, Some(2));
        assert_eq!(
            d1.first_seen,
            Timestamp::parse("2026-03-01T09:00:00Z").unwrap()
        );
        assert_eq!(
            d1.last_seen,
            Timestamp::parse("2026-03-01T10:00:00Z").unwrap()
        );
    }
}
