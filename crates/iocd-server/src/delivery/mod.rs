//! Telling people about alerts: webhook deliveries (signed JSON posts, retried with
//! exponential backoff from the queue the alert's transaction filled) and syslog lines in CEF
//! (read from the alert outbox in commit order). Both run as background tasks of `iocd serve`
//! and pick up after a restart where the database says they were.

pub mod syslog;
pub mod webhooks;

pub use syslog::{SyslogConfig, SyslogTarget, cef_line, run_syslog};
pub use webhooks::{WebhookSettings, run_webhooks, signature};

use crate::state::AppState;
use std::time::Duration;

/// How often the devices seen are written to the store.
pub const DEVICE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Writes the devices seen every [`DEVICE_FLUSH_INTERVAL`] until `shutdown` fires (the
/// service writes the last ones when it shuts down).
pub async fn run_device_flush(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DEVICE_FLUSH_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        if state.service().devices_pending() == 0 {
            continue;
        }
        if let Err(error) = state.blocking(|service| service.flush_devices()).await {
            tracing::warn!(code = %error.code, message = %error.message, "writing the devices seen failed");
        }
    }
}
