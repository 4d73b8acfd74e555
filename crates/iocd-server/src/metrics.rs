//! Prometheus metrics: request counts and latencies per route, written in the text exposition
//! format without a metrics framework (a handful of counters does not need one).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Per-route request statistics.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = routes
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in stats.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        stats.count += 1;
        stats.sum_seconds += seconds;
    }

    /// Renders request metrics plus the given gauge of active indicators per tenant and type.
    pub fn render(&self, indicators: &[iocd_store::TypeCount]) -> String {
        let mut out = String::new();
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str(
            "# HELP iocd_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE iocd_http_requests_total counter\n");
        for ((method, route), stats) in routes.iter() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "iocd_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP iocd_http_request_duration_seconds HTTP request latency by method and route.\n",
        );
        out.push_str("# TYPE iocd_http_request_duration_seconds histogram\n");
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (count, bound) in stats.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "iocd_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "iocd_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "iocd_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "iocd_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        out.push_str("# HELP iocd_indicators Active indicators by tenant and type.\n");
        out.push_str("# TYPE iocd_indicators gauge\n");
        for count in indicators {
            let _ = writeln!(
                out,
                "iocd_indicators{{tenant=\"{}\",type=\"{}\"}} {}",
                escape(&count.tenant),
                count.indicator_type,
                count.count
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        let text = metrics.render(&[iocd_store::TypeCount {
            tenant: "t\"1".into(),
            indicator_type: iocd_model::IndicatorType::Url,
            count: 5,
        }]);
        assert!(text.contains(
            "iocd_http_requests_total{method=\"GET\",route=\"/api/indicators\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "iocd_http_requests_total{method=\"GET\",route=\"/api/indicators\",status=\"400\"} 1"
        ));
        assert!(text.contains("le=\"0.005\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("iocd_indicators{tenant=\"t\\\"1\",type=\"Url\"} 5"));
    }
}
