//! Prometheus metrics, kept by a `metrics-exporter-prometheus` recorder that belongs to the
//! server (not installed globally, so servers in one process keep their own figures): HTTP
//! requests per route, what the service layer measures (matches by action, events, alerts,
//! the engine's apply lag and merge time, bypasses; see [`iocd_service::telemetry`]), the
//! sweeper, webhook deliveries and syslog output, and gauges read at scrape time (active
//! indicators, database size, devices waiting to be written).
//!
//! No label takes request text: methods outside the standard ones are `OTHER`, routes are the
//! router's patterns, the rest come from fixed sets.

use iocd_service::telemetry::{DESCRIPTIONS, Telemetry};
use metrics::{Key, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::Arc;
use std::time::Duration;

/// Histogram buckets (seconds) of every `_seconds` metric.
const BUCKETS: [f64; 14] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

pub const HTTP_REQUESTS: &str = "iocd_http_requests_total";
pub const HTTP_DURATION: &str = "iocd_http_request_duration_seconds";
pub const INDICATORS: &str = "iocd_indicators";
pub const DATABASE_BYTES: &str = "iocd_database_bytes";
pub const DEVICES_PENDING: &str = "iocd_devices_pending_write";
pub const SWEEPER_DELETED: &str = "iocd_sweeper_deleted_total";
pub const WEBHOOK_ATTEMPTS: &str = "iocd_webhook_attempts_total";
pub const SYSLOG_MESSAGES: &str = "iocd_syslog_messages_total";

const SERVER_DESCRIPTIONS: &[(&str, &str)] = &[
    (HTTP_REQUESTS, "HTTP requests by method, route and status."),
    (HTTP_DURATION, "HTTP request latency by method and route."),
    (INDICATORS, "Active indicators by tenant and type."),
    (
        DATABASE_BYTES,
        "Size of the database on disk (with its write-ahead log).",
    ),
    (
        DEVICES_PENDING,
        "Devices seen that wait to be written to the store.",
    ),
    (
        SWEEPER_DELETED,
        "Rows the sweeper deleted, by kind (indicators, sightings, bypasses, deliveries).",
    ),
    (
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts, by outcome (delivered, retry, failed: no attempts left).",
    ),
    (SYSLOG_MESSAGES, "Alert events sent to syslog, by outcome."),
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The server's recorder and the handle that renders it.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        for (name, help) in DESCRIPTIONS.iter().chain(SERVER_DESCRIPTIONS) {
            let help = SharedString::const_str(help);
            if name.ends_with("_total") {
                recorder.describe_counter((*name).into(), None, help);
            } else if name.ends_with("_seconds") {
                recorder.describe_histogram((*name).into(), None, help);
            } else {
                recorder.describe_gauge((*name).into(), None, help);
            }
        }
        Metrics {
            recorder: Arc::new(recorder),
            handle,
        }
    }
}

impl Metrics {
    /// A handle for the service layer's measurements.
    pub fn telemetry(&self) -> Telemetry {
        Telemetry::new(self.recorder.clone())
    }

    /// Counts one request; `route` is the router's pattern (or `unmatched`).
    pub fn record(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let labels = vec![
            Label::from_static_parts("method", method),
            Label::new("route", route.to_owned()),
        ];
        let mut with_status = labels.clone();
        with_status.push(Label::new("status", status.to_string()));
        self.recorder
            .register_counter(&Key::from_parts(HTTP_REQUESTS, with_status), &METADATA)
            .increment(1);
        self.recorder
            .register_histogram(&Key::from_parts(HTTP_DURATION, labels), &METADATA)
            .record(elapsed.as_secs_f64());
    }

    /// Renders every metric, after setting the gauges read at scrape time.
    pub fn render(
        &self,
        indicators: &[iocd_store::TypeCount],
        database_bytes: Option<u64>,
        devices_pending: usize,
    ) -> String {
        for count in indicators {
            let key = Key::from_parts(
                INDICATORS,
                vec![
                    Label::new("tenant", count.tenant.clone()),
                    Label::from_static_parts("type", count.indicator_type.as_str()),
                ],
            );
            self.recorder
                .register_gauge(&key, &METADATA)
                .set(count.count as f64);
        }
        let telemetry = self.telemetry();
        if let Some(bytes) = database_bytes {
            telemetry.set(DATABASE_BYTES, &[], bytes as f64);
        }
        telemetry.set(DEVICES_PENDING, &[], devices_pending as f64);
        self.handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.record("GET", "/api/indicators", 200, Duration::from_millis(3));
        metrics.record("GET", "/api/indicators", 200, Duration::from_millis(30));
        metrics.record("GET", "/api/indicators", 400, Duration::from_micros(100));
        metrics.telemetry().count(
            iocd_service::telemetry::MATCHES,
            &[("source", "match"), ("action", "Block")],
            7,
        );
        let text = metrics.render(
            &[iocd_store::TypeCount {
                tenant: "t\"1".into(),
                indicator_type: iocd_model::IndicatorType::Url,
                count: 5,
            }],
            Some(4096),
            3,
        );
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(
            has(
                "iocd_http_requests_total{method=\"GET\",route=\"/api/indicators\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(has(
            "iocd_http_requests_total{method=\"GET\",route=\"/api/indicators\",status=\"400\"} 1"
        ));
        assert!(has(
            "iocd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/indicators\",le=\"0.005\"} 2"
        ));
        assert!(has(
            "iocd_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/indicators\",le=\"+Inf\"} 3"
        ));
        assert!(
            has("iocd_indicators{tenant=\"t\\\"1\",type=\"Url\"} 5"),
            "{text}"
        );
        assert!(has(
            "iocd_matches_total{source=\"match\",action=\"Block\"} 7"
        ));
        assert!(has("iocd_database_bytes 4096"));
        assert!(has("iocd_devices_pending_write 3"));
        assert!(text.contains("# HELP iocd_matches_total "));
        assert!(text.contains("# TYPE iocd_http_request_duration_seconds histogram"));
    }
}
