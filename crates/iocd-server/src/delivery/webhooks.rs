//! Webhook delivery: posts each due delivery's alert as JSON with its HMAC-SHA256 signature,
//! records the attempt, and schedules a retry with exponential backoff until the receiver
//! answers 2xx or the attempts run out. A delivery stays pending in the database until an
//! attempt is recorded, so one interrupted by a crash is posted again after the restart (at
//! least once; receivers deduplicate by `X-Iocd-Delivery`).

use crate::state::AppState;
use crate::wire::alerts::AlertEntity;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use iocd_model::Timestamp;
use iocd_store::webhooks::{Attempt, DueDelivery};
use sha2::Sha256;
use std::time::Duration;

/// How webhook deliveries are attempted (`[webhooks]` in the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Attempts before a delivery is marked `Failed`.
    pub max_attempts: u32,
    /// The wait before the first retry; each later one waits twice as long as the one before,
    /// up to an hour.
    pub retry_base_seconds: u64,
    /// How long one attempt may take.
    pub timeout_seconds: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_attempts: 12,
            retry_base_seconds: 2,
            timeout_seconds: 10,
        }
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF_SECONDS: u64 = 3600;
/// How often due deliveries are looked for.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Due deliveries taken at once, and posted at once.
const BATCH: usize = 64;
const CONCURRENT_POSTS: usize = 8;
/// Most of a receiver's answer kept as the error of a failed attempt.
const MAX_ERROR_CHARS: usize = 300;

/// `sha256=<hex HMAC-SHA256 of body keyed by secret>`: the `X-Iocd-Signature` header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The wait after `attempts` failed attempts: base, 2 × base, 4 × base, … up to an hour.
fn backoff_seconds(settings: &WebhookSettings, attempts: u32) -> u64 {
    let factor = 1u64 << attempts.saturating_sub(1).min(20);
    settings
        .retry_base_seconds
        .max(1)
        .saturating_mul(factor)
        .min(MAX_BACKOFF_SECONDS)
}

fn truncated(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// Posts due deliveries until `shutdown` fires.
pub async fn run_webhooks(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let settings = state.config().webhooks;
    crate::tls::install_default_provider();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_seconds.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("iocd/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhook delivery cannot start: no HTTP client");
            return;
        }
    };
    loop {
        let now = state.now();
        let due = if state.is_leader() {
            state
                .blocking(move |service| service.webhooks().due_deliveries(now, BATCH))
                .await
        } else {
            Ok(Vec::new())
        };
        let mut busy = false;
        match due {
            Ok(due) => {
                busy = due.len() == BATCH;
                futures_util::stream::iter(due)
                    .for_each_concurrent(CONCURRENT_POSTS, |delivery| {
                        deliver(&state, &client, &settings, delivery)
                    })
                    .await;
            }
            Err(error) => {
                tracing::warn!(code = %error.code, message = %error.message, "reading due webhook deliveries failed")
            }
        }
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        } else if *shutdown.borrow() {
            return;
        }
    }
}

/// One attempt at one delivery, recorded.
async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    due: DueDelivery,
) {
    let tenant = due.tenant.clone();
    let alert_id = due.delivery.alert_id;
    let alert = state
        .blocking(move |service| service.detections().get_alert(&tenant, alert_id))
        .await;
    let attempts_after = due.delivery.attempts.saturating_add(1);
    let retry_at = |now: Timestamp| {
        (attempts_after < settings.max_attempts).then(|| {
            let wait = backoff_seconds(settings, attempts_after);
            now.plus_seconds(i64::try_from(wait).unwrap_or(i64::MAX))
        })
    };
    let attempt = match alert {
        Err(error) => {
            tracing::warn!(code = %error.code, message = %error.message, "reading an alert to deliver failed");
            return;
        }
        Ok(None) => Attempt::Failed {
            status: None,
            error: format!("alert {alert_id} no longer exists"),
            retry_at: None,
        },
        Ok(Some(alert)) => {
            let body = match serde_json::to_vec(&AlertEntity::from(&alert)) {
                Ok(body) => body,
                Err(error) => {
                    tracing::error!(%error, "an alert could not be written as JSON");
                    return;
                }
            };
            let result = client
                .post(&due.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Iocd-Signature", signature(&due.secret, &body))
                .header("X-Iocd-Delivery", due.delivery.id.to_string())
                .header("X-Iocd-Event", due.delivery.event.as_str())
                .body(body)
                .send()
                .await;
            let now = state.now();
            match result {
                Ok(response) if response.status().is_success() => Attempt::Delivered {
                    status: response.status().as_u16(),
                },
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    Attempt::Failed {
                        status: Some(status.as_u16()),
                        error: truncated(&format!("HTTP {status}: {text}")),
                        retry_at: retry_at(now),
                    }
                }
                Err(error) => Attempt::Failed {
                    status: None,
                    error: truncated(&error_chain(&error)),
                    retry_at: retry_at(now),
                },
            }
        }
    };
    let outcome = match &attempt {
        Attempt::Delivered { .. } => "delivered",
        Attempt::Failed {
            retry_at: Some(_), ..
        } => "retry",
        Attempt::Failed { retry_at: None, .. } => "failed",
    };
    state
        .service()
        .telemetry()
        .count(crate::metrics::WEBHOOK_ATTEMPTS, &[("outcome", outcome)], 1);
    let id = due.delivery.id;
    let now = state.now();
    if let Attempt::Failed {
        error, retry_at, ..
    } = &attempt
    {
        tracing::info!(delivery = id, webhook = due.delivery.webhook_id, %error, retry = retry_at.is_some(), "webhook delivery failed");
    }
    if let Err(error) = state
        .blocking(move |service| service.webhooks().record_attempt(id, now, &attempt))
        .await
    {
        tracing::warn!(code = %error.code, message = %error.message, "recording a webhook attempt failed");
    }
}

/// An error with its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let settings = WebhookSettings::default();
        let waits: Vec<u64> = (1..=13).map(|n| backoff_seconds(&settings, n)).collect();
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600]
        );
        assert_eq!(backoff_seconds(&settings, u32::MAX), 3600);
    }
}
