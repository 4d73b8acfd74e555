//! MDE's error body, `{"error": {"code", "message", "target"}}`.

use serde::Serialize;

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// An MDE error code, e.g. InvalidHashValue, ODataError, NotFound, TooManyRequests.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
    /// A correlation id, also in the server's log line of a 5xx.
    pub target: String,
}
