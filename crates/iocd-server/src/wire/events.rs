//! The answer of `POST /api/events`.

use serde::Serialize;
use utoipa::ToSchema;

/// What a batch of events did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventsResponse {
    /// Events accepted.
    pub events: u64,
    /// Observables taken from them.
    pub observables: u64,
    /// Observables that matched an indicator.
    pub matches: u64,
    /// Ids of the alerts created or updated.
    pub alerts: Vec<String>,
    /// The first 1,000 events or fields that could not be used.
    pub failed: Vec<EventFailure>,
    /// Failures left out of `failed` after the first 1,000.
    pub unlisted: u64,
}

/// One event, or one field of an event, that could not be used: where it was (`line` of an
/// NDJSON body, `index` of a JSON array) and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventFailure {
    /// The NDJSON line number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The index in a JSON array (0 for a single object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    pub reason: String,
}

/// The answer of `POST /api/events` when events go through NATS JetStream (`events` set): the
/// events were stored by JetStream and are matched by whichever node takes them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventsQueued {
    /// Events published.
    pub queued: u64,
    /// The subject they were published to.
    pub subject: String,
    /// The first 1,000 events that are not JSON (not published).
    pub failed: Vec<EventFailure>,
    /// Failures left out of `failed` after the first 1,000.
    pub unlisted: u64,
}
