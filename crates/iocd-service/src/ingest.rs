//! The detection pipeline: device events in, then their observables matched in one batch,
//! recorded as sightings for retro-hunting, and the matches that raise alerts recorded as
//! alerts (folded per indicator, device and day by the store).

use crate::events::{EventProfile, extract};
use crate::sightings::sightings;
use iocd_engine::{Device, Observable, Snapshot};
use iocd_model::Timestamp;
use iocd_store::StoreError;
use iocd_store::detections::{AlertHit, DetectionStore};
use iocd_store::devices::SeenDevice;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One event of a request, with where it was (an NDJSON line number or an array index), or
/// why it could not be read as JSON.
#[derive(Debug, Clone)]
pub struct EventInput {
    pub position: u64,
    pub event: Result<Value, String>,
}

/// An event, or one field of one, that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFailure {
    pub position: u64,
    pub reason: String,
}

/// What one batch of events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Events accepted.
    pub events: u64,
    /// Observables taken from them.
    pub observables: u64,
    /// Observables that matched an indicator.
    pub matches: u64,
    /// The alerts created or updated, in id order.
    pub alerts: Vec<i64>,
    /// How many of them are new.
    pub alerts_created: u64,
    /// Events refused whole (not JSON, no device, no time).
    pub refused: u64,
    /// Matches by the winning indicator's action.
    pub matches_by_action: std::collections::BTreeMap<&'static str, u64>,
    pub failed: Vec<EventFailure>,
}

/// What matching events of one tenant consults: its indicators, device groups and bypasses.
pub(crate) struct TenantView<'a> {
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) groups: &'a crate::groups::TenantGroups,
    pub(crate) bypasses: &'a crate::bypasses::Bypasses,
}

/// Runs `inputs` through the pipeline against the tenant's `view`, recording sightings and
/// alerts in `detections` for `tenant`.
pub(crate) fn ingest(
    detections: &dyn DetectionStore,
    devices_seen: &crate::devices::DevicesSeen,
    view: &TenantView<'_>,
    tenant: &str,
    profile: EventProfile,
    inputs: Vec<EventInput>,
    now: Timestamp,
) -> Result<IngestReport, StoreError> {
    let mut report = IngestReport::default();
    let mut seen_index = Vec::new();
    let mut extracted = Vec::new();
    for input in inputs {
        let position = input.position;
        let event = match input.event.and_then(|event| extract(profile, &event, now)) {
            Ok(event) => event,
            Err(reason) => {
                report.failed.push(EventFailure { position, reason });
                report.refused += 1;
                continue;
            }
        };
        report.events += 1;
        for reason in &event.invalid {
            report.failed.push(EventFailure {
                position,
                reason: reason.clone(),
            });
        }
        for seen in &event.seen {
            seen_index.extend(sightings(&seen.observable, &event.device, event.time));
        }
        let device = view.groups.device_for(&event.device);
        devices_seen.note(
            tenant,
            SeenDevice {
                id: event.device.id.clone(),
                name: event.device.name.clone(),
                domain: None,
                os: None,
                tags: Vec::new(),
                group_id: Some(view.groups.group_for(&event.device)),
                first_seen: event.time.min(now),
                last_seen: event.time.min(now),
            },
        );
        extracted.push((event, device));
    }
    // Every observable of the request in one batch, so their lookups overlap.
    let items: Vec<(&Observable, &Device)> = extracted
        .iter()
        .flat_map(|(event, device)| event.seen.iter().map(move |s| (&s.observable, device)))
        .collect();
    report.observables = items.len() as u64;
    let mut verdicts = Vec::with_capacity(items.len());
    view.snapshot.evaluate_batch(&items, now, &mut verdicts);
    let mut verdicts = verdicts.into_iter();
    let mut hits = Vec::new();
    for (event, _) in &extracted {
        for (seen, verdict) in event.seen.iter().zip(verdicts.by_ref()) {
            if let Some(winner) = verdict.winner() {
                report.matches += 1;
                *report
                    .matches_by_action
                    .entry(winner.action.as_str())
                    .or_default() += 1;
            }
            // A warning the user bypassed on this device is allowed there: no alert.
            let bypassed = verdict.winner().is_some_and(|winner| {
                winner.action == iocd_model::Action::Warn
                    && view
                        .bypasses
                        .until(tenant, &event.device.id, winner.id, now)
                        .is_some()
            });
            if let Some(winner) = verdict
                .winner()
                .filter(|_| verdict.raises_alert() && !bypassed)
            {
                hits.push(AlertHit {
                    indicator_id: winner.id,
                    device: event.device.clone(),
                    event_time: event.time,
                    evidence: json!({
                        "source": "event",
                        "field": seen.field,
                        "value": seen.value,
                        "eventTime": event.time.to_mde_seconds(),
                        "action": winner.action.as_str(),
                        "rule": verdict.rule.map(|r| r.as_str()),
                        "matched": verdict.matched.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(),
                    }),
                });
            }
        }
    }
    detections.record_sightings(tenant, &seen_index)?;
    let recorded = detections.record_hits(tenant, &hits, now)?;
    report.alerts_created = recorded.iter().flatten().filter(|r| r.created).count() as u64;
    let alerts: BTreeSet<i64> = recorded.into_iter().flatten().map(|r| r.alert_id).collect();
    report.alerts = alerts.into_iter().collect();
    Ok(report)
}
