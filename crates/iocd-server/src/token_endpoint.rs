//! iocd's own token endpoint, shaped like Entra ID's so MDE's sample scripts work by changing
//! only the token authority's base URL: the OAuth 2.0 client-credentials grant in Entra's v2
//! form (`POST /{tenant}/oauth2/v2.0/token` with `scope=<resource>/.default`) and v1 form
//! (`POST /{tenant}/oauth2/token` with `resource=<resource>`), errors as RFC 6749 §5.2, and the
//! tokens' verification: ES256, signed with the data directory's issuer key, published through
//! OpenID discovery and a JWKS so other services can verify them too.

use crate::auth::apps::verify_secret;
use crate::auth::oidc::LEEWAY_SECONDS;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::odata::base_url;
use crate::rate_limit::Operation;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The longest lifetime of an issued token: an hour, as Entra's default (shorter if
/// `max_token_lifetime_seconds` is).
const TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// The routes: the token endpoint in both forms, with and without a tenant in the path, and
/// the discovery document and keys.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2_in_tenant))
        .route("/oauth2/token", post(token_v1))
        .route("/{tenant}/oauth2/token", post(token_v1_in_tenant))
        .route("/.well-known/openid-configuration", get(discovery))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery_in_tenant),
        )
        .route("/discovery/v2.0/keys", get(keys))
        .route("/discovery/keys", get(keys))
}

/// An error of the token endpoint, in OAuth's shape (not MDE's: token clients read this one).
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_client() -> Self {
        OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client id or secret is wrong, or the application is revoked.",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.error,
            "error_description": self.description,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}

/// Which form of the endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    V1,
    V2,
}

async fn token_v2(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    issue(state, None, Form::V2, headers, body).await
}

async fn token_v2_in_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    issue(state, Some(tenant), Form::V2, headers, body).await
}

async fn token_v1(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    issue(state, None, Form::V1, headers, body).await
}

async fn token_v1_in_tenant(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    issue(state, Some(tenant), Form::V1, headers, body).await
}

/// The claims of an issued token (Entra's names).
#[derive(Debug, Serialize, Deserialize)]
struct IssuedClaims {
    iss: String,
    aud: String,
    tid: String,
    appid: String,
    azp: String,
    app_displayname: String,
    roles: Vec<String>,
    iat: i64,
    nbf: i64,
    exp: i64,
    ver: String,
    idtyp: String,
}

async fn issue(
    state: AppState,
    path_tenant: Option<String>,
    form: Form,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match try_issue(state, path_tenant, form, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn try_issue(
    state: AppState,
    path_tenant: Option<String>,
    form: Form,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The token request must be a form: Content-Type: application/x-www-form-urlencoded.",
        ));
    }
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| -> Result<Option<&str>, OAuthError> {
        let mut values = fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("The parameter {name} is given more than once."),
            ));
        }
        Ok(first)
    };
    match field("grant_type")? {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("The grant type {other} is not supported; use client_credentials."),
            ));
        }
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request has no grant_type; use grant_type=client_credentials.",
            ));
        }
    }
    let (client_id, secret) = credentials(&headers, field("client_id")?, field("client_secret")?)?;
    let resource = requested_resource(form, field("scope")?, field("resource")?)?;
    let audience = state
        .config()
        .token_audiences
        .iter()
        .find(|a| a.trim_end_matches('/') == resource.trim_end_matches('/'))
        .cloned()
        .ok_or_else(|| {
            let (error, what) = match form {
                Form::V2 => ("invalid_scope", "scope"),
                Form::V1 => ("invalid_resource", "resource"),
            };
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                error,
                format!("This server issues no tokens for the {what} {resource}."),
            )
        })?;

    // Look the client up and check its secret (slow on purpose) on a blocking thread.
    let lookup_state = state.clone();
    let lookup_id = client_id.clone();
    let registration =
        tokio::task::spawn_blocking(move || lookup_state.apps().registry().app(&lookup_id))
            .await
            .map_err(|_| {
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "The lookup failed.",
                )
            })?
            .map_err(|error| {
                tracing::error!(%error, "cannot read application registrations");
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "The registrations cannot be read now.",
                )
            })?;
    let Some(registration) = registration.filter(|r| r.revoked.is_none()) else {
        return Err(OAuthError::invalid_client());
    };
    if let Some(tenant) = &path_tenant
        && !tenant.eq_ignore_ascii_case(&registration.tenant)
        && tenant != "common"
        && tenant != "organizations"
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!("The application {client_id} is not registered in tenant {tenant}."),
        ));
    }
    let limiter_key = Principal {
        tenant: "token-endpoint".into(),
        app_id: client_id.clone(),
        name: String::new(),
        roles: Vec::new(),
    };
    state
        .check_rate(&limiter_key, Operation::Token)
        .map_err(|error| {
            OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                error.message,
            )
        })?;
    let hash = registration.secret_hash.clone();
    let matches = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false);
    if !matches {
        return Err(OAuthError::invalid_client());
    }

    let now = state.now().unix_seconds();
    let lifetime = TOKEN_LIFETIME_SECONDS.min(state.config().max_token_lifetime_seconds);
    let claims = IssuedClaims {
        iss: base_url(&state),
        aud: audience.clone(),
        tid: registration.tenant.clone(),
        appid: registration.client_id.clone(),
        azp: registration.client_id.clone(),
        app_displayname: registration.name.clone(),
        roles: registration.roles.clone(),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        ver: match form {
            Form::V1 => "1.0".into(),
            Form::V2 => "2.0".into(),
        },
        idtyp: "app".into(),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(state.issuer_key().kid().to_owned());
    let token =
        jsonwebtoken::encode(&header, &claims, state.issuer_key().encoding()).map_err(|error| {
            tracing::error!(%error, "cannot sign a token");
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The token could not be signed.",
            )
        })?;
    let body = match form {
        Form::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }),
        // Entra's v1 endpoint writes its numbers as strings.
        Form::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": now.to_string(),
            "resource": audience,
            "access_token": token,
        }),
    };
    tracing::info!(client_id = %registration.client_id, tenant = %registration.tenant, "token issued");
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The client id and secret: from the form, or from HTTP Basic authentication.
fn credentials(
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            let decode = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    match (basic, form_id, form_secret) {
        (Some(pair), None, None) => Ok(pair),
        (None, Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_owned(), secret.to_owned()))
        }
        (Some(_), _, _) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Send the client credentials once: in the form or in the Authorization header.",
        )),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request needs client_id and client_secret.",
        )),
    }
}

/// The resource a token is asked for: v2 names it as one `<resource>/.default` scope, v1 as
/// `resource`.
fn requested_resource(
    form: Form,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<String, OAuthError> {
    match form {
        Form::V2 => {
            let scope = scope.ok_or_else(|| {
                OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request needs scope=<resource>/.default.",
                )
            })?;
            let scopes: Vec<&str> = scope.split_whitespace().collect();
            match scopes.as_slice() {
                [one] => one
                    .strip_suffix("/.default")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        OAuthError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            format!("The client-credentials grant takes one <resource>/.default scope, not {one}."),
                        )
                    }),
                _ => Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "The client-credentials grant takes exactly one <resource>/.default scope.",
                )),
            }
        }
        Form::V1 => resource.map(str::to_owned).ok_or_else(|| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request needs resource=<resource>.",
            )
        }),
    }
}

/// The OpenID discovery document of iocd's issuer.
async fn discovery(State(state): State<AppState>) -> Json<Value> {
    let base = base_url(&state);
    Json(json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "tid", "appid", "azp", "app_displayname", "roles", "iat", "nbf", "exp"],
    }))
}

async fn discovery_in_tenant(state: State<AppState>, Path(_tenant): Path<String>) -> Json<Value> {
    discovery(state).await
}

/// The issuer's public keys (JWKS).
async fn keys(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "keys": [state.issuer_key().jwk()] }))
}

/// Verifies a token this server's endpoint issued (its `iss` is this server's base URL) and
/// returns the caller; refuses the tokens of revoked applications.
pub(crate) async fn verify_issued(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| ApiError::unauthorized("The bearer token is invalid."))?;
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(state.issuer_key().kid()) {
        return Err(ApiError::unauthorized(
            "The bearer token is not signed with this server's current key.",
        ));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[base_url(state)]);
    validation.set_audience(&state.config().token_audiences);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims =
        jsonwebtoken::decode::<IssuedClaims>(token, state.issuer_key().decoding(), &validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                ApiError::unauthorized(match error.kind() {
                    ErrorKind::ExpiredSignature => "The bearer token has expired.",
                    ErrorKind::InvalidAudience => "The bearer token is for another audience.",
                    ErrorKind::ImmatureSignature => "The bearer token is not valid yet (nbf).",
                    _ => "The bearer token is invalid.",
                })
            })?
            .claims;
    let checking = state.clone();
    let client_id = claims.appid.clone();
    let active = tokio::task::spawn_blocking(move || checking.apps().is_active(&client_id))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)?;
    if !active {
        return Err(ApiError::unauthorized(format!(
            "The application {} has been revoked.",
            claims.appid
        )));
    }
    Ok(Principal {
        tenant: claims.tid,
        app_id: claims.appid,
        name: claims.app_displayname,
        roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
    })
}
