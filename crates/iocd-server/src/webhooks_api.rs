//! `/api/webhooks` (an iocd extension): a tenant's subscriptions to alert events, each posted
//! as the alert's JSON with an HMAC signature (see [`crate::delivery`]), and the state of
//! their deliveries. Managed and read with `Alert.ReadWrite.All`.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::indicators::parse_id;
use crate::odata::{OData, base_url};
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::webhooks::{
    DeliveryEntity, DeliveryList, WebhookEntity, WebhookList, WebhookRequest, WebhookResponse,
};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use iocd_model::ErrorCode;
use iocd_store::webhooks::{AlertEvent, WebhookSpec};

/// Most webhooks one tenant may have.
pub(crate) const MAX_WEBHOOKS: usize = 20;
const MAX_URL: usize = 2048;
const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=256;
/// Most deliveries one listing returns (and its default).
const MAX_DELIVERIES: usize = 1000;
const DEFAULT_DELIVERIES: usize = 100;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

/// A new random secret: 32 bytes, hex.
fn generate_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks a webhook's fields, returning them as the store takes them.
fn checked(request: WebhookRequest) -> Result<WebhookSpec, ApiError> {
    let url = request.url.trim();
    if url.len() > MAX_URL {
        return Err(invalid(format!("url: at most {MAX_URL} characters.")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(format!("url: {e}.")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(
            "url: an http or https URL with a host, such as https://soar.example/hooks/iocd.",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "url: credentials do not belong in the URL; the receiver checks X-Iocd-Signature.",
        ));
    }
    let secret = match request.secret {
        Some(secret) => {
            if !SECRET_CHARS.contains(&secret.chars().count()) {
                return Err(invalid(format!(
                    "secret: {} to {} characters.",
                    SECRET_CHARS.start(),
                    SECRET_CHARS.end()
                )));
            }
            secret
        }
        None => generate_secret()?,
    };
    let events = match request.events {
        None => AlertEvent::ALL.to_vec(),
        Some(names) => {
            let mut events = Vec::new();
            for name in &names {
                let event = AlertEvent::parse(name).ok_or_else(|| {
                    invalid(format!(
                        "events: unknown event {name:?}; expected alert.created or alert.updated."
                    ))
                })?;
                if !events.contains(&event) {
                    events.push(event);
                }
            }
            if events.is_empty() {
                return Err(invalid("events: name at least one event."));
            }
            events
        }
    };
    Ok(WebhookSpec {
        url: parsed.to_string(),
        secret,
        events,
    })
}

fn response(state: &AppState, webhook: WebhookEntity) -> WebhookResponse {
    WebhookResponse {
        context: format!("{}/api/$metadata#Webhooks/$entity", base_url(state)),
        webhook,
    }
}

/// `GET /api/webhooks`: the tenant's webhooks (without their secrets).
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<OData<WebhookList>, ApiError> {
    principal.require_alert_write()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let tenant = principal.tenant.clone();
    let webhooks = state
        .blocking(move |service| service.webhooks().webhooks(&tenant))
        .await?;
    Ok(OData(WebhookList {
        context: format!("{}/api/$metadata#Webhooks", base_url(&state)),
        value: webhooks.iter().map(WebhookEntity::from).collect(),
    }))
}

/// `GET /api/webhooks/{id}`.
#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<OData<WebhookResponse>, ApiError> {
    principal.require_alert_write()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let id = parse_id(&id)?;
    let tenant = principal.tenant.clone();
    let webhook = state
        .blocking(move |service| service.webhooks().webhook(&tenant, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    Ok(OData(response(&state, WebhookEntity::from(&webhook))))
}

/// `POST /api/webhooks`: subscribes a URL to alert events. The answer holds the secret; it is
/// never shown again.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", request_body = WebhookRequest,
    responses((status = 201, body = WebhookResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 409, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, OData<WebhookResponse>), ApiError> {
    principal.require_alert_write()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let spec = checked(request)?;
    let tenant = principal.tenant.clone();
    let created_by = principal.app_id.clone();
    let now = state.now();
    let webhook = state
        .blocking(move |service| {
            let store = service.webhooks();
            if store.webhooks(&tenant)?.len() >= MAX_WEBHOOKS {
                return Ok(None);
            }
            store
                .create_webhook(&tenant, &spec, &created_by, now)
                .map(Some)
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!("A tenant has at most {MAX_WEBHOOKS} webhooks; delete one first."),
            )
        })?;
    let mut entity = WebhookEntity::from(&webhook);
    entity.secret = Some(webhook.secret);
    Ok((StatusCode::CREATED, OData(response(&state, entity))))
}

/// `DELETE /api/webhooks/{id}`: removes the webhook and its deliveries.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_alert_write()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let id = parse_id(&id)?;
    let tenant = principal.tenant.clone();
    let deleted = state
        .blocking(move |service| service.webhooks().delete_webhook(&tenant, id))
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("webhook {id}")))
    }
}

/// `GET /api/webhooks/{id}/deliveries`: the webhook's deliveries, newest first (`$top`, at
/// most 1,000, default 100).
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), ("$top" = Option<u32>, Query, description = "At most 1000; default 100")),
    responses((status = 200, body = DeliveryList), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<OData<DeliveryList>, ApiError> {
    principal.require_alert_write()?;
    state.check_rate(&principal, Operation::Alerts)?;
    let id = parse_id(&id)?;
    let mut top = DEFAULT_DELIVERIES;
    for (name, value) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "$top" => {
                top = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= MAX_DELIVERIES)
                    .ok_or_else(|| {
                        ApiError::odata(format!(
                            "Invalid $top '{value}': a whole number up to {MAX_DELIVERIES}."
                        ))
                    })?
            }
            other if other.starts_with('$') => {
                return Err(ApiError::odata(format!(
                    "The query option {other} is not supported here."
                )));
            }
            _ => {}
        }
    }
    let tenant = principal.tenant.clone();
    let deliveries = state
        .blocking(move |service| service.webhooks().deliveries(&tenant, id, top))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    Ok(OData(DeliveryList {
        context: format!("{}/api/$metadata#Deliveries", base_url(&state)),
        value: deliveries.iter().map(DeliveryEntity::from).collect(),
    }))
}
