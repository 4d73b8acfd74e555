//! Where the service's measurements go: a `metrics` recorder handed in by the front end (the
//! server's Prometheus recorder), or nowhere. Passed explicitly rather than installed
//! globally, so two services in one process (tests) never mix their figures.
//!
//! Label values are `&'static str`: they come from fixed sets (actions, outcomes), never from
//! request text, so the number of series stays bounded.

use metrics::{Key, Label, Metadata, Recorder};
use std::sync::Arc;
use std::time::Duration;

/// Every metric the service layer writes, with its help text.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        MATCHES,
        "Observables that matched an indicator, by where they were asked (match, events) and the winning action.",
    ),
    (
        EVENTS,
        "Device events received, by outcome (accepted, refused).",
    ),
    (
        ALERTS_CREATED,
        "Alerts raised, by source (events, retro_hunt, bypass).",
    ),
    (
        APPLY_LAG,
        "Seconds from a committed write to its indicators being matched.",
    ),
    (MERGE_TIME, "Seconds a merge of a tenant's matcher took."),
    (BYPASSES, "Warn bypasses recorded."),
];

pub const MATCHES: &str = "iocd_matches_total";
pub const EVENTS: &str = "iocd_events_total";
pub const ALERTS_CREATED: &str = "iocd_alerts_created_total";
pub const APPLY_LAG: &str = "iocd_engine_apply_lag_seconds";
pub const MERGE_TIME: &str = "iocd_engine_merge_seconds";
pub const BYPASSES: &str = "iocd_bypasses_total";

/// A handle to the recorder (cheap to clone).
#[derive(Clone)]
pub struct Telemetry {
    recorder: Arc<dyn Recorder + Send + Sync>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    /// Measurements go nowhere.
    fn default() -> Self {
        Telemetry::new(Arc::new(metrics::NoopRecorder))
    }
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect::<Vec<_>>(),
    )
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Telemetry {
    pub fn new(recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        Telemetry { recorder }
    }

    /// Adds `n` to a counter.
    pub fn count(&self, name: &'static str, labels: &[(&'static str, &'static str)], n: u64) {
        if n > 0 {
            self.recorder
                .register_counter(&key(name, labels), &METADATA)
                .increment(n);
        }
    }

    /// Records one observation of a duration, in seconds.
    pub fn time(&self, name: &'static str, labels: &[(&'static str, &'static str)], d: Duration) {
        self.recorder
            .register_histogram(&key(name, labels), &METADATA)
            .record(d.as_secs_f64());
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &'static str)], value: f64) {
        self.recorder
            .register_gauge(&key(name, labels), &METADATA)
            .set(value);
    }
}
