//! The API error type and MDE's error body `{"error":{"code","message","target"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use iocd_model::{ErrorCode, ValidationError};

/// An error answered to an API client. `target` in the body is a fresh correlation id, which
/// is also logged, so an operator can find the server-side details of a 5xx.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn odata(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ODataError, message)
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorCode::NotFound,
            format!("Resource {what} wasn't found."),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    pub fn bad_body(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequestBody, message)
    }

    /// An unexpected server-side failure: the details go to the log, not to the client.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        ApiError::new(
            ErrorCode::InternalServerError,
            "An internal error occurred; retry the request.",
        )
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::new(error.code, error.message)
    }
}

impl From<iocd_store::StoreError> for ApiError {
    fn from(error: iocd_store::StoreError) -> Self {
        ApiError::internal(&error)
    }
}

/// The JSON body of an MDE error.
pub fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    let target = uuid::Uuid::new_v4().to_string();
    serde_json::json!({"error": {"code": code.as_str(), "message": message, "target": target}})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = error_body(self.code, &self.message);
        if status.is_server_error() {
            tracing::warn!(target_id = %body["error"]["target"], code = %self.code, "request failed");
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
