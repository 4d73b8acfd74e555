//! Alert delivery: webhooks (a tenant's subscriptions to alert events), their deliveries, and
//! the alert outbox that the other outputs (syslog) read in commit order.
//!
//! Both queues are filled in the transaction that creates or changes the alert, so an alert
//! that exists has its deliveries queued, and a crash loses none of them: a delivery stays
//! `Pending` until an attempt is recorded.

use crate::StoreError;
use iocd_model::Timestamp;

/// Something that happened to an alert, which outputs may be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertEvent {
    /// An alert was raised.
    Created,
    /// An analyst changed an alert (status, classification, assignment or a comment).
    Updated,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 2] = [AlertEvent::Created, AlertEvent::Updated];

    /// The name subscriptions and deliveries use: `alert.created`, `alert.updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Created => "alert.created",
            AlertEvent::Updated => "alert.updated",
        }
    }

    pub fn parse(text: &str) -> Option<AlertEvent> {
        AlertEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// A webhook as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub url: String,
    /// The key of the HMAC-SHA256 signature of every delivery's body.
    pub secret: String,
    pub events: Vec<AlertEvent>,
}

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub events: Vec<AlertEvent>,
    pub created: Timestamp,
    pub created_by: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet accepted by the receiver; attempted again at `next_attempt`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "Pending",
            DeliveryState::Delivered => "Delivered",
            DeliveryState::Failed => "Failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One alert event to be posted to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Unique across the store; sent as the `X-Iocd-Delivery` header.
    pub id: i64,
    pub webhook_id: i64,
    pub alert_id: i64,
    pub event: AlertEvent,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created: Timestamp,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt: Option<Timestamp>,
    pub last_attempt: Option<Timestamp>,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub delivered: Option<Timestamp>,
}

/// A pending delivery that is due, with what posting it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub tenant: String,
    pub delivery: Delivery,
    pub url: String,
    pub secret: String,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx with this status.
    Delivered { status: u16 },
    /// The attempt failed; retried at `retry_at`, or never again when `None`.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<Timestamp>,
    },
}

/// One entry of the alert outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Increases in commit order.
    pub seq: i64,
    pub tenant: String,
    pub alert_id: i64,
    pub event: AlertEvent,
    pub time: Timestamp,
}

/// Storage of webhooks, deliveries and the alert outbox. Every method is atomic and durable
/// when it returns `Ok`.
pub trait WebhookStore: Send + Sync + std::fmt::Debug {
    fn create_webhook(
        &self,
        tenant: &str,
        spec: &WebhookSpec,
        created_by: &str,
        now: Timestamp,
    ) -> Result<Webhook, StoreError>;

    /// The tenant's webhooks, by id.
    fn webhooks(&self, tenant: &str) -> Result<Vec<Webhook>, StoreError>;

    fn webhook(&self, tenant: &str, id: i64) -> Result<Option<Webhook>, StoreError>;

    /// Deletes a webhook and its deliveries; `false` if there was none.
    fn delete_webhook(&self, tenant: &str, id: i64) -> Result<bool, StoreError>;

    /// A webhook's deliveries, newest first, at most `limit`; `None` if there is no such
    /// webhook.
    fn deliveries(
        &self,
        tenant: &str,
        webhook_id: i64,
        limit: usize,
    ) -> Result<Option<Vec<Delivery>>, StoreError>;

    /// Pending deliveries due at `now`, of every tenant, oldest due first, at most `limit`.
    fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records an attempt at delivery `id`.
    fn record_attempt(&self, id: i64, now: Timestamp, attempt: &Attempt) -> Result<(), StoreError>;

    /// The outbox entries after `seq`, oldest first, at most `limit`.
    fn outbox_after(&self, seq: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// The last outbox entry's number (0 when empty).
    fn outbox_head(&self) -> Result<i64, StoreError>;

    /// Where the outbox consumer `consumer` got to, if it ever stored a position.
    fn outbox_cursor(&self, consumer: &str) -> Result<Option<i64>, StoreError>;

    fn set_outbox_cursor(&self, consumer: &str, seq: i64) -> Result<(), StoreError>;

    /// Deletes finished deliveries and outbox entries from before `before`; returns how many.
    fn sweep_deliveries(&self, before: Timestamp) -> Result<usize, StoreError>;
}
