//! Device events through NATS JetStream (`events = "nats://…"`): every node pulls from one
//! durable consumer of the work-queue stream `{prefix}_events` (subjects
//! `{prefix}.events.<tenant>`, each message an event or events in the JSON `POST /api/events`
//! takes, `Content-Type` telling JSON from NDJSON when set; header `Iocd-Profile: ecs` for
//! Elastic Common Schema), so each event goes to one node. With the bus, `POST /api/events`
//! publishes there too ([`publish`]).
//! A message is acknowledged only after the alerts it raises are committed to the store and
//! published to `{prefix}.alerts.<tenant>` (stream `{prefix}_alerts`) with a `Nats-Msg-Id` of
//! the alert's tenant and id: the alert a fold key names keeps its id, so an event delivered
//! again (its node died before acknowledging it) folds into the same alert and its publication
//! is dropped as a duplicate. At most `max_ack_pending` events are in flight across the nodes:
//! JetStream holds the rest back.

use crate::error::ApiError;
use crate::events_api::{BodyKind, Position, events};
use crate::state::AppState;
use crate::wire::events::{EventFailure, EventsQueued};
use async_nats::jetstream;
use async_nats::jetstream::consumer::pull;
use futures_util::StreamExt;
use iocd_service::events::EventProfile;
use std::time::Duration;

/// Events in flight (delivered, not yet acknowledged) across every node.
const MAX_ACK_PENDING: i64 = 1_000;
/// Messages one node asks for at a time.
const FETCH: usize = 100;
/// Largest message `POST /api/events` publishes (NATS servers take 1 MiB by default): a body
/// is split into NDJSON messages of at most this many bytes.
const MAX_MESSAGE_BYTES: usize = 512 * 1024;
/// Most failures one answer lists.
const MAX_LISTED_FAILURES: usize = 1_000;

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
    state.set_bus(js.clone());
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
    let content_type = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Content-Type"))
        .map(|value| value.as_str().to_ascii_lowercase());
    let kind = match content_type.as_deref() {
        Some("application/x-ndjson") => BodyKind::Ndjson,
        Some("application/json") => BodyKind::Json,
        _ => guess_kind(&payload),
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
    // The alerts as they are now, read together; published together.
    let lookup_tenant = tenant.clone();
    let ids = report.alerts;
    let alerts = state
        .blocking(move |service| {
            ids.iter()
                .filter_map(|id| {
                    service
                        .detections()
                        .get_alert(&lookup_tenant, *id)
                        .transpose()
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|error| error.message)?;
    let mut acks = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        let body = serde_json::to_vec(&crate::wire::alerts::AlertEntity::from(alert))
            .map_err(|e| e.to_string())?;
        let mut headers = async_nats::HeaderMap::new();
        // The alert's fold key names one alert id: its first publication is kept, later ones
        // (the alert updated, or an event delivered again) are dropped by JetStream.
        headers.insert("Nats-Msg-Id", format!("{tenant}-{}", alert.id).as_str());
        let ack = js
            .publish_with_headers(format!("{prefix}.alerts.{tenant}"), headers, body.into())
            .await
            .map_err(|e| e.to_string())?;
        acks.push(ack);
    }
    for ack in acks {
        ack.await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A message without a `Content-Type`: an array, or one JSON value (pretty-printed or not),
/// is JSON; anything else is read as NDJSON.
fn guess_kind(payload: &[u8]) -> BodyKind {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => BodyKind::Json,
        Some(b'{') if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok() => {
            BodyKind::Json
        }
        _ => BodyKind::Ndjson,
    }
}

/// The subject of `tenant`'s events, or `None` when the tenant's id cannot be a subject token.
fn events_subject(prefix: &str, tenant: &str) -> Option<String> {
    let valid = !tenant.is_empty()
        && tenant
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>'));
    valid.then(|| format!("{prefix}.events.{tenant}"))
}

/// `POST /api/events` with the bus: the body's events, as NDJSON messages of at most
/// [`MAX_MESSAGE_BYTES`], published to the tenant's subject and stored by JetStream before
/// the answer; events that are not JSON are reported, not published.
pub(crate) async fn publish(
    state: &AppState,
    bus: &jetstream::Context,
    tenant: &str,
    profile: EventProfile,
    kind: BodyKind,
    body: &[u8],
) -> Result<EventsQueued, ApiError> {
    let prefix = &state.config().events_prefix;
    let subject = events_subject(prefix, tenant).ok_or_else(|| {
        ApiError::new(
            iocd_model::ErrorCode::InvalidInput,
            format!("The tenant id {tenant:?} cannot name a NATS subject; events for it must be posted to a server without `events`."),
        )
    })?;
    let (inputs, position) = events(kind, body)?;
    let mut answer = EventsQueued {
        queued: 0,
        subject: subject.clone(),
        failed: Vec::new(),
        unlisted: 0,
    };
    let mut messages: Vec<Vec<u8>> = vec![Vec::new()];
    for input in inputs {
        match input.event {
            Ok(event) => {
                let line = serde_json::to_vec(&event).map_err(|e| ApiError::internal(&e))?;
                let current = messages.last().map_or(0, Vec::len);
                if current > 0 && current + line.len() + 1 > MAX_MESSAGE_BYTES {
                    messages.push(Vec::new());
                }
                if let Some(message) = messages.last_mut() {
                    message.extend_from_slice(&line);
                    message.push(b'\n');
                }
                answer.queued += 1;
            }
            Err(reason) => {
                if answer.failed.len() == MAX_LISTED_FAILURES {
                    answer.unlisted += 1;
                    continue;
                }
                let (line, index) = match position {
                    Position::Line => (Some(input.position), None),
                    Position::Index => (None, Some(input.position)),
                };
                answer.failed.push(EventFailure {
                    line,
                    index,
                    reason,
                });
            }
        }
    }
    let unavailable = |error: String| {
        tracing::warn!(%error, "publishing events to JetStream failed");
        ApiError::new(
            iocd_model::ErrorCode::ServiceUnavailable,
            "The event bus did not take the events; send them again.",
        )
        .retry_after(5)
    };
    for message in messages.into_iter().filter(|m| !m.is_empty()) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Iocd-Profile", profile.as_str());
        headers.insert("Content-Type", "application/x-ndjson");
        bus.publish_with_headers(subject.clone(), headers, message.into())
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .await
            .map_err(|e| unavailable(e.to_string()))?;
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_without_a_content_type_are_told_apart() {
        let cases: [(&[u8], bool); 5] = [
            (b"{\"DeviceId\": \"d1\"}", true),
            (b"{\n  \"DeviceId\": \"d1\"\n}\n", true),
            (b"[{\"DeviceId\": \"d1\"}]", true),
            (b"{\"DeviceId\": \"d1\"}\n{\"DeviceId\": \"d2\"}\n", false),
            (b"not json", false),
        ];
        for (payload, json) in cases {
            assert_eq!(
                matches!(guess_kind(payload), BodyKind::Json),
                json,
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn only_tenant_ids_that_are_one_subject_token_name_a_subject() {
        assert_eq!(
            events_subject("iocd", "contoso").as_deref(),
            Some("iocd.events.contoso")
        );
        assert_eq!(
            events_subject("iocd", "2b6c0e51-7d6a-4c1c-9a4f-0d7c4e0a1f11").as_deref(),
            Some("iocd.events.2b6c0e51-7d6a-4c1c-9a4f-0d7c4e0a1f11")
        );
        for bad in ["", "a.b", "a*", ">", "a b", "tab\t"] {
            assert_eq!(events_subject("iocd", bad), None, "{bad:?}");
        }
    }
}
