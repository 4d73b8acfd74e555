//! Warn bypasses: a user shown a `Warn` chose to continue, so until the bypass expires that
//! device gets `Allowed` for that indicator (other devices still get `Warn`). Recorded in the
//! indicator's history.

use crate::{Actor, StoreError};
use iocd_model::Timestamp;

/// One bypass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    pub device_id: String,
    pub indicator_id: i64,
    /// Who chose to continue, if the sensor said.
    pub user: Option<String>,
    pub created: Timestamp,
    pub expires: Timestamp,
}

/// Storage of bypasses.
pub trait BypassStore: Send + Sync + std::fmt::Debug {
    /// Records (or renews) a bypass of an active indicator and adds a `bypass` entry to its
    /// history; `false` if the tenant has no such active indicator.
    fn record_bypass(
        &self,
        tenant: &str,
        bypass: &Bypass,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// The tenant's bypasses that have not expired at `now`, oldest first.
    fn bypasses(&self, tenant: &str, now: Timestamp) -> Result<Vec<Bypass>, StoreError>;

    /// Every tenant's bypasses that have not expired at `now` (to load at start).
    fn active_bypasses(&self, now: Timestamp) -> Result<Vec<(String, Bypass)>, StoreError>;

    /// Deletes the bypasses expired at `now`; returns how many.
    fn sweep_bypasses(&self, now: Timestamp) -> Result<usize, StoreError>;
}
