//! The devices seen: every device that asked for a verdict or sent events, with what it said
//! about itself, the group it was placed in, and when it was first and last seen.

use crate::StoreError;
use iocd_model::Timestamp;

/// A device as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenDevice {
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub os: Option<String>,
    pub tags: Vec<String>,
    /// The device group it was placed in on its last request, if the registry placed it.
    pub group_id: Option<i64>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// Storage of the devices seen.
pub trait DeviceStore: Send + Sync + std::fmt::Debug {
    /// Inserts devices or updates them: what a device says now replaces what it said before
    /// (a property it leaves out keeps its value), the group is the latest, and first/last seen
    /// widen.
    fn record_devices(&self, tenant: &str, devices: &[SeenDevice]) -> Result<(), StoreError>;

    /// The tenant's devices, last seen first (then by id), skipping `skip`, at most `top`.
    fn devices(&self, tenant: &str, skip: usize, top: usize)
    -> Result<Vec<SeenDevice>, StoreError>;

    /// How many devices the tenant has.
    fn count_devices(&self, tenant: &str) -> Result<u64, StoreError>;

    fn device(&self, tenant: &str, id: &str) -> Result<Option<SeenDevice>, StoreError>;
}
