//! The bodies of `/api/webhooks`: a webhook in and out, and its deliveries.

use iocd_store::webhooks::{Delivery, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where deliveries are posted: an `http` or `https` URL.
    pub url: String,
    /// The key of each delivery's `X-Iocd-Signature` (16 to 256 characters); when left out,
    /// one is generated and returned once, in this request's answer.
    pub secret: Option<String>,
    /// `alert.created`, `alert.updated`; default both.
    pub events: Option<Vec<String>>,
}

/// A webhook. Its secret is shown only in the answer to its creation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEntity {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_by: String,
    pub created_date_time_utc: String,
    /// The signing secret: present only when the webhook was just created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<&Webhook> for WebhookEntity {
    fn from(webhook: &Webhook) -> Self {
        WebhookEntity {
            id: webhook.id,
            url: webhook.url.clone(),
            events: webhook
                .events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            created_by: webhook.created_by.clone(),
            created_date_time_utc: webhook.created.to_mde_precise(),
            secret: None,
        }
    }
}

/// One webhook with its OData context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub webhook: WebhookEntity,
}

/// The tenant's webhooks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    #[serde(rename = "@odata.context")]
    pub context: String,
    pub value: Vec<WebhookEntity>,
}

/// One delivery of an alert event to a webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryEntity {
    /// Sent as the `X-Iocd-Delivery` header.
    pub id: String,
    pub webhook_id: i64,
    pub alert_id: String,
    /// `alert.created` or `alert.updated`.
    pub event: String,
    /// Pending, Delivered or Failed (every attempt failed).
    pub state: String,
    pub attempts: u32,
    pub created_date_time_utc: String,
    pub next_attempt_date_time_utc: Option<String>,
    pub last_attempt_date_time_utc: Option<String>,
    /// The receiver's HTTP status on the last attempt.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_date_time_utc: Option<String>,
}

impl From<&Delivery> for DeliveryEntity {
    fn from(delivery: &Delivery) -> Self {
        DeliveryEntity {
            id: delivery.id.to_string(),
            webhook_id: delivery.webhook_id,
            alert_id: delivery.alert_id.to_string(),
            event: delivery.event.as_str().to_owned(),
            state: delivery.state.as_str().to_owned(),
            attempts: delivery.attempts,
            created_date_time_utc: delivery.created.to_mde_precise(),
            next_attempt_date_time_utc: delivery.next_attempt.map(|t| t.to_mde_precise()),
            last_attempt_date_time_utc: delivery.last_attempt.map(|t| t.to_mde_precise()),
            last_status: delivery.last_status,
            last_error: delivery.last_error.clone(),
            delivered_date_time_utc: delivery.delivered.map(|t| t.to_mde_precise()),
        }
    }
}

/// A webhook's deliveries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    #[serde(rename = "@odata.context")]
    pub context: String,
    pub value: Vec<DeliveryEntity>,
}
