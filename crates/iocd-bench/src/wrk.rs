//! Load from `wrk` (Debian's `wrk`) in a second process: one POST body repeated over 16
//! connections from one thread, summarised by a Lua `done` hook.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// What one `wrk` run measured.
#[derive(Debug, Clone, Copy)]
pub struct WrkSummary {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

/// Posts `body` (JSON) to `url` with `token` for `seconds` with `wrk -t1 -c16`.
pub fn post(url: &str, token: &str, body: &str, seconds: u64) -> Result<WrkSummary> {
    let script =
        std::env::temp_dir().join(format!("iocd-bench-{}-{}.lua", std::process::id(), seconds));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n\
             done = function(summary, latency, requests)\n  io.write(string.format(\"IOCD %d %d %.0f %.0f %.0f\\n\", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, latency:percentile(50), latency:percentile(99), summary.duration))\nend\n"
        ),
    )?;
    let output = Command::new("wrk")
        .args(["-t", "1", "-c", "16", "-d", &format!("{seconds}s"), "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .context("cannot run wrk (apt-get install wrk)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("IOCD "))
        .with_context(|| format!("unexpected wrk output: {text}"))?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [requests, errors, p50_us, p99_us, duration_us] = numbers[..] else {
        bail!("unexpected wrk summary {line}");
    };
    Ok(WrkSummary {
        requests_per_second: requests / (duration_us / 1e6),
        p50_ms: p50_us / 1000.0,
        p99_ms: p99_us / 1000.0,
        errors: errors as u64,
    })
}
