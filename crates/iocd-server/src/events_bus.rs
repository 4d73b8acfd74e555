//! Device events through NATS JetStream (`events = "nats://…"`): every node pulls from one
//! durable consumer of the work-queue stream `{prefix}_events` (subjects
//! `{prefix}.events.<tenant>`, each message an event or events in the JSON `POST /api/events`
//! takes; header `Iocd-Profile: ecs` for Elastic Common Schema), so each event goes to one node.
//! A message is acknowledged only after the alerts it raises are committed to the store and
//! published to `{prefix}.alerts.<tenant>` (stream `{prefix}_alerts`) with a `Nats-Msg-Id` of
//! the alert's tenant and id: the alert a fold key names keeps its id, so an event delivered
//! again (its node died before acknowledging it) folds into the same alert and its publication
//! is dropped as a duplicate. At most `max_ack_pending` events are in flight across the nodes:
//! JetStream holds the rest back.

use crate::events_api::{BodyKind, events};
use crate::state::AppState;
use async_nats::jetstream;
use async_nats::jetstream::consumer::pull;
use futures_util::StreamExt;
use iocd_service::events::EventProfile;
use std::time::Duration;

/// Events in flight (delivered, not yet acknowledged) across every node.
const MAX_ACK_PENDING: i64 = 1_000;
/// Messages one node asks for at a time.
const FETCH: usize = 100;

/// Why the event bus could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BusError(String);

fn bus_error(what: &str) -> impl Fn(String) -> BusError + '_ {
    move |reason| BusError(format!("{what}: {reason}"))
}

/// The streams and the shared consumer of `prefix`, created if missing.
async fn consumer(
    js: &jetstream::Context,
    prefix: &str,
    ack_wait: Duration,
) -> Result<jetstream::consumer::Consumer<pull::Config>, BusError> {
    let events = js
        .get_or_create_stream(jetstream::stream::Config {
            name: format!("{prefix}_events"),
            subjects: vec![format!("{prefix}.events.>")],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .map_err(|e| bus_error("the events stream")(e.to_string()))?;
    js.get_or_create_stream(jetstream::stream::Config {
        name: format!("{prefix}_alerts"),
        subjects: vec![format!("{prefix}.alerts.>")],
        duplicate_window: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .map_err(|e| bus_error("the alerts stream")(e.to_string()))?;
    let name = format!("{prefix}-nodes");
    events
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait,
                max_ack_pending: MAX_ACK_PENDING,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| bus_error("the shared consumer")(e.to_string()))
}

/// Connects to `url`, makes the streams and the consumer, and consumes until `shutdown`.
pub async fn run(
    state: AppState,
    url: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BusError> {
    let prefix = state.config().events_prefix.clone();
    let ack_wait = Duration::from_secs(state.config().events_ack_wait_seconds);
    let client = async_nats::connect(url.trim_start_matches("nats://"))
        .await
        .map_err(|e| bus_error("cannot reach NATS")(e.to_string()))?;
    let js = jetstream::new(client);
    let consumer = consumer(&js, &prefix, ack_wait).await?;
    tracing::info!(%url, %prefix, "consuming device events from JetStream");
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let batch = consumer
            .fetch()
            .max_messages(FETCH)
            .expires(Duration::from_secs(1))
            .messages()
            .await;
        let mut messages = match batch {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "fetching events from JetStream failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "receiving an event failed");
                    continue;
                }
            };
            match handle(&state, &js, &prefix, &message).await {
                // Committed and published: the event is done.
                Ok(()) => {
                    if let Err(error) = message.ack().await {
                        tracing::warn!(%error, "acknowledging an event failed; it will come again");
                    }
                }
                // Not acknowledged: JetStream hands it out again after ack_wait.
                Err(error) => {
                    tracing::warn!(%error, subject = %message.subject, "an event was not processed")
                }
            }
        }
    }
}

/// Ingests one message's events for the tenant its subject names and publishes the alerts
/// they raised or updated.
async fn handle(
    state: &AppState,
    js: &jetstream::Context,
    prefix: &str,
    message: &jetstream::Message,
) -> Result<(), String> {
    let Some(tenant) = message
        .subject
        .as_str()
        .rsplit('.')
        .next()
        .map(str::to_owned)
    else {
        return Ok(());
    };
    let profile = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Iocd-Profile"))
        .and_then(|value| EventProfile::parse(value.as_str()))
        .unwrap_or(EventProfile::Mde);
    let payload = message.payload.clone();
    let kind = match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => BodyKind::Json,
        _ => BodyKind::Ndjson,
    };
    let now = state.now();
    let ingest_tenant = tenant.clone();
    let report = state
        .blocking(move |service| {
            // A message that is not JSON at all is refused whole (and acknowledged: sending it
            // again cannot help); its events are counted as refused.
            let Ok((inputs, _)) = events(kind, &payload) else {
                return Ok(None);
            };
            service
                .ingest_events(&ingest_tenant, profile, inputs.collect(), now)
                .map(Some)
        })
        .await
        .map_err(|error| error.message)?;
    let Some(report) = report else {
        tracing::warn!(%tenant, "an event message is not JSON; dropped");
        return Ok(());
    };
    for alert_id in report.alerts {
        let lookup_tenant = tenant.clone();
        let alert = state
            .blocking(move |service| service.detections().get_alert(&lookup_tenant, alert_id))
            .await
            .map_err(|error| error.message)?;
        let Some(alert) = alert else { continue };
        let body = serde_json::to_vec(&crate::wire::alerts::AlertEntity::from(&alert))
            .map_err(|e| e.to_string())?;
        let mut headers = async_nats::HeaderMap::new();
        // The alert's fold key names one alert id: its first publication is kept, later ones
        // (the alert updated, or an event delivered again) are dropped by JetStream.
        headers.insert("Nats-Msg-Id", format!("{tenant}-{alert_id}").as_str());
        js.publish_with_headers(format!("{prefix}.alerts.{tenant}"), headers, body.into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
