//! Request extractors that answer in MDE's error shape: the bearer-token caller, and JSON
//! bodies whose problems become 400 `InvalidRequestBody`, 413 or 415.

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use iocd_model::ErrorCode;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "The request has no Authorization header; send 'Authorization: Bearer <token>'.",
            ));
        };
        let text = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("The Authorization header is not valid text."))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("The Authorization header must use the Bearer scheme.")
            })?;
        let token = token.trim();
        if let Some(issuer) = crate::auth::unverified_issuer(token)
            && issuer != crate::auth::LOCAL_ISSUER
        {
            if issuer == crate::odata::base_url(state) {
                return crate::token_endpoint::verify_issued(state, token).await;
            }
            return match state.oidc() {
                Some(verifier) => verifier.verify(token, &issuer).await,
                None => Err(ApiError::unauthorized(format!(
                    "The bearer token's issuer {issuer} is not trusted by this server."
                ))),
            };
        }
        let max_lifetime = state.config().max_token_lifetime_seconds;
        state
            .key()
            .verify(token, state.now().unix_seconds(), max_lifetime)
    }
}

/// A JSON body, with errors in MDE's shape.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if crate::body_timeout::is_stalled(&rejection) {
        return ApiError::body_stalled();
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "The request body must be JSON with 'Content-Type: application/json'.",
        ),
        JsonRejection::BytesRejection(inner) if inner.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "The request body is too large.")
        }
        other => ApiError::bad_body(format!("Invalid request body: {}", other.body_text())),
    }
}
