//! MDE's error body, `{"error": {"code", "message", "target"}}`, with OData's `details` when
//! the error is about one field of the request.

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
    /// When the error is about one property of the request: one entry whose `target` names
    /// it (such as `indicatorValue`), so a form can show the message at the field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub details: Vec<ErrorDetail>,
}
