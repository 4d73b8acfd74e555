//! Validation errors carrying MDE's error codes.

use std::fmt;

/// The machine-readable error codes of MDE's API (`api/common-errors.md`) that iocd returns.
/// Transport-neutral: the HTTP server maps each to its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    ODataError,
    InvalidInput,
    InvalidRequestBody,
    InvalidHashValue,
    InvalidDomainName,
    InvalidIpAddress,
    InvalidUrl,
    MaximumBatchSizeExceeded,
    MissingRequiredParameter,
    Unauthorized,
    Forbidden,
    DisallowedOperation,
    NotFound,
    /// The request conflicts with the current state (a name taken, a resource in use).
    Conflict,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    QuotaExceeded,
    InternalServerError,
    /// The server is at a limit of its own (not the caller's quota); retry later.
    ServiceUnavailable,
    /// The client sent its request (headers or body) too slowly.
    RequestTimeout,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BadRequest",
            ErrorCode::ODataError => "ODataError",
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::InvalidRequestBody => "InvalidRequestBody",
            ErrorCode::InvalidHashValue => "InvalidHashValue",
            ErrorCode::InvalidDomainName => "InvalidDomainName",
            ErrorCode::InvalidIpAddress => "InvalidIpAddress",
            ErrorCode::InvalidUrl => "InvalidUrl",
            ErrorCode::MaximumBatchSizeExceeded => "MaximumBatchSizeExceeded",
            ErrorCode::MissingRequiredParameter => "MissingRequiredParameter",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::DisallowedOperation => "DisallowedOperation",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::PayloadTooLarge => "PayloadTooLarge",
            ErrorCode::UnsupportedMediaType => "UnsupportedMediaType",
            ErrorCode::TooManyRequests => "TooManyRequests",
            ErrorCode::QuotaExceeded => "QuotaExceeded",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::RequestTimeout => "RequestTimeout",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a submitted value or indicator was refused: an MDE error code, a human-readable message
/// (MDE style: a full sentence) and the name of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub code: ErrorCode,
    pub message: String,
    pub field: &'static str,
}

impl ValidationError {
    pub fn new(code: ErrorCode, field: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            message: message.into(),
            field,
        }
    }

    pub fn missing(field: &'static str) -> Self {
        ValidationError::new(
            ErrorCode::MissingRequiredParameter,
            field,
            format!("Parameter {field} is missing."),
        )
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ValidationError::new(ErrorCode::InvalidInput, field, message)
    }
}
