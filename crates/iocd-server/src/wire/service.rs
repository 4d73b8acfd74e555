//! The bodies of the service routes: health.

use serde::Serialize;

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` while the process serves requests.
    pub status: &'static str,
}

/// `GET /readyz`: whether this node may take traffic.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// Connected to its store and caught up with the change log.
    pub ready: bool,
    /// `sqlite` (one node) or `postgres` (shared).
    pub store: &'static str,
    /// The shared store: whether the node is connected and listening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// The shared store: whether the node has applied every change committed so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caught_up: Option<bool>,
    /// The shared store: whether the node was cut off for longer than the change log keeps
    /// entries (a day) and missed some; it stays not ready until restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_changes: Option<bool>,
    /// The shared store: the newest change this node has applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_change: Option<i64>,
    /// The shared store: whether this node runs the leader-only jobs (expiry sweep, pruning,
    /// feed polling, webhook and syslog delivery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
}
