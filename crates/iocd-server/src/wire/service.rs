//! The bodies of the service routes: health.

use serde::Serialize;

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` while the process serves requests.
    pub status: &'static str,
}
