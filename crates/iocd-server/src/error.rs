//! The API error type and MDE's error body `{"error":{"code","message","target"}}`.

use crate::wire::errors::{ErrorBody, ErrorDetail};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use iocd_model::{ErrorCode, ValidationError};

/// An error answered to an API client. `target` in the body is a fresh correlation id; a 5xx
/// is logged in one line holding that id and the server-side details, which the client never
/// sees.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
    /// What went wrong inside, for the log line of a 5xx.
    detail: Option<String>,
    /// The request property the error is about, if one.
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after_seconds: None,
            detail: None,
            field: None,
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

    /// The client stopped sending its request body.
    pub(crate) fn body_stalled() -> Self {
        ApiError::new(
            ErrorCode::RequestTimeout,
            "The request body stopped arriving; send it without long pauses.",
        )
    }

    pub fn bad_body(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequestBody, message)
    }

    /// An unexpected server-side failure: the details go to the log, not to the client.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        ApiError {
            detail: Some(error.to_string()),
            ..ApiError::new(
                ErrorCode::InternalServerError,
                "An internal error occurred; retry the request.",
            )
        }
    }

    /// The same error, telling the client to retry after `seconds` (`Retry-After`).
    pub fn retry_after(self, seconds: u64) -> Self {
        ApiError {
            retry_after_seconds: Some(seconds),
            ..self
        }
    }

    /// The HTTP status MDE answers this error's code with.
    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }
}

/// The one mapping from error codes to HTTP statuses.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest
        | ErrorCode::ODataError
        | ErrorCode::InvalidInput
        | ErrorCode::InvalidRequestBody
        | ErrorCode::InvalidHashValue
        | ErrorCode::InvalidDomainName
        | ErrorCode::InvalidIpAddress
        | ErrorCode::InvalidUrl
        | ErrorCode::MaximumBatchSizeExceeded
        | ErrorCode::MissingRequiredParameter => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::DisallowedOperation | ErrorCode::QuotaExceeded => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError {
            field: Some(error.field).filter(|f| !f.is_empty()),
            ..ApiError::new(error.code, error.message)
        }
    }
}

impl From<iocd_store::StoreError> for ApiError {
    fn from(error: iocd_store::StoreError) -> Self {
        match error {
            iocd_store::StoreError::Unstorable(message) => {
                ApiError::new(ErrorCode::InvalidInput, message)
            }
            other => ApiError::internal(&other),
        }
    }
}

/// The body of an MDE error, with a fresh correlation id as its `target`.
pub fn error_body(code: ErrorCode, message: &str) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            code: code.as_str().to_owned(),
            message: message.to_owned(),
            target: uuid::Uuid::new_v4().to_string(),
            details: Vec::new(),
        },
    }
}

impl ApiError {
    /// Logs a server error with the details the client never sees, under the correlation id
    /// `target` its answer carries (nothing for a client error).
    pub(crate) fn log_server_error(&self, target: &str) {
        if self.status().is_server_error() {
            let detail = self.detail.as_deref().unwrap_or(&self.message);
            tracing::error!(
                target_id = %target,
                code = %self.code,
                error = detail,
                "request failed"
            );
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = error_body(self.code, &self.message);
        if let Some(field) = self.field {
            body.error.details.push(ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                target: field.to_owned(),
                details: Vec::new(),
            });
        }
        self.log_server_error(&body.error.target);
        let mut response = (status, crate::odata::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
