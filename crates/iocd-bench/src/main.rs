//! Benchmarks iocd through its real HTTP server (the release `iocd` binary, started as a child
//! process on a loopback port with a fresh data directory) and prints the figures:
//! (a) indicators per second through 500-item `import` calls, (b) indicators per second through
//! one streamed bulk request, (c) latency of a filtered list by value on the bulk-loaded tenant.
//!
//! (d) write-to-enforce latency: from a write until `/api/match` returns its verdict, and
//! (e) `/api/match` throughput and latency under `wrk` load from a second process.
//!
//! Usage: `iocd-bench [--import N] [--bulk N] [--queries N] [--writes N] [--wrk-seconds N]`
//! (defaults 100,000, 1,000,000, 500, 500, 10).

use anyhow::{Result, bail};
use iocd_bench::server::{self, Server};
use iocd_bench::{Rng, arg};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A realistic mix: 60 % SHA-256, 20 % domains, 10 % IPv4, 10 % URLs.
fn indicator(rng: &mut Rng, n: u64) -> Value {
    let (indicator_type, value) = match n % 10 {
        0..=5 => ("FileSha256", rng.hex(64)),
        6 | 7 => (
            "DomainName",
            format!("{}.example{}.com", rng.hex(12), n % 97),
        ),
        8 => {
            let a = rng.next_u64();
            (
                "IpAddress",
                format!(
                    "{}.{}.{}.{}",
                    1 + a % 223,
                    (a >> 8) % 256,
                    (a >> 16) % 256,
                    (a >> 24) % 256
                ),
            )
        }
        _ => (
            "Url",
            format!("http://{}.example.net/path/{}", rng.hex(10), rng.hex(8)),
        ),
    };
    json!({"indicatorValue": value, "indicatorType": indicator_type, "action": "Block",
           "title": format!("bench {n}"), "description": "benchmark indicator", "severity": "Medium"})
}

fn main() -> Result<()> {
    let import_count = arg("--import", 100_000)?;
    let bulk_count = arg("--bulk", 1_000_000)?;
    let queries = arg("--queries", 500)?;
    server::install_tls_provider();
    let iocd = server::iocd_binary()?;
    let data = std::env::temp_dir().join(format!("iocd-bench-{}", std::process::id()));
    // Show the server's own account of bulk requests (time spent in the store).
    let server = Server::start(&iocd, data.clone(), server::UNLIMITED_RATES, |line| {
        if let Some(start) = line.find("bulk request done") {
            println!("    server: {}", &line[start..]);
        }
    })?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    println!(
        "iocd benchmark: server {} (release build), data in {}",
        server.base,
        data.display()
    );
    println!(
        "machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // (a) 500-item import calls.
    let import_token = server.token("bench-import", &["Ti.ReadWrite.All"])?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let bodies: Vec<Vec<u8>> = (0..import_count.div_ceil(500))
        .map(|call| {
            let items: Vec<Value> = (0..500)
                .map(|i| indicator(&mut rng, call * 500 + i))
                .collect();
            serde_json::to_vec(&json!({"Indicators": items})).unwrap_or_default()
        })
        .collect();
    let started = Instant::now();
    let mut imported = 0u64;
    for body in bodies {
        let response = client
            .post(format!("{}/api/indicators/import", server.base))
            .bearer_auth(&import_token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()?;
        if !response.status().is_success() {
            bail!("import failed: {}", response.text()?);
        }
        let answer: Value = response.json()?;
        imported += answer["value"]
            .as_array()
            .map_or(0, |v| v.iter().filter(|r| r["isFailed"] == false).count())
            as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "(a) import, 500 per call: {imported} indicators in {elapsed:.2} s = {:.0} indicators/s (target >= 20,000/s; MDE's documented limit allows 250/s, ratio {:.0}x)",
        imported as f64 / elapsed,
        imported as f64 / elapsed / 250.0
    );

    // (b) one streamed bulk request.
    let bulk_token = server.token("bench-bulk", &["Ti.ReadWrite.All"])?;
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut body = Vec::with_capacity(bulk_count as usize * 200);
    let mut probe_values = Vec::new();
    for n in 0..bulk_count {
        let item = indicator(&mut rng, n);
        if n % (bulk_count / 1000).max(1) == 0 {
            probe_values.push(
                item["indicatorValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        serde_json::to_writer(&mut body, &item)?;
        body.push(b'\n');
    }
    let body_mb = body.len() as f64 / 1e6;
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/indicators/bulk", server.base))
        .bearer_auth(&bulk_token)
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()?;
    if !response.status().is_success() {
        bail!("bulk failed: {}", response.text()?);
    }
    let answer: Value = response.json()?;
    let elapsed = started.elapsed().as_secs_f64();
    let created = answer["created"].as_u64().unwrap_or(0);
    println!(
        "(b) bulk NDJSON, one request ({body_mb:.0} MB): {created} indicators in {elapsed:.2} s = {:.0} indicators/s (target >= 100,000/s); failed {}",
        created as f64 / elapsed,
        answer["failed"]
    );

    // (c) filtered list by value on the bulk tenant.
    let mut latencies = Vec::with_capacity(queries as usize);
    for i in 0..queries {
        let value = &probe_values[i as usize % probe_values.len()];
        let started = Instant::now();
        let response = client
            .get(format!("{}/api/indicators", server.base))
            .query(&[("$filter", format!("indicatorValue eq '{value}'"))])
            .bearer_auth(&bulk_token)
            .send()?;
        let page: Value = response.json()?;
        latencies.push(started.elapsed());
        if page["value"].as_array().map(Vec::len) != Some(1) {
            bail!("filter for {value} did not find exactly one indicator: {page}");
        }
    }
    latencies.sort();
    let pick = |q| percentile_ms(&latencies, q);
    println!(
        "(c) GET /api/indicators?$filter=indicatorValue eq '…' on a {created}-indicator tenant, {queries} queries: p50 {:.2} ms, p99 {:.2} ms (target < 10 ms)",
        pick(0.5),
        pick(0.99)
    );

    // (d) write-to-enforce: from sending a write until /api/match returns its verdict, on the
    // tenant holding the bulk-loaded indicators.
    let writes = arg("--writes", 500)?;
    let mut latencies = Vec::with_capacity(writes as usize);
    for n in 0..writes {
        let domain = format!("enforce-{n}.bench.example");
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/indicators", server.base))
            .bearer_auth(&bulk_token)
            .json(
                &json!({"indicatorValue": domain, "indicatorType": "DomainName", "action": "Block",
                "title": "t", "description": "d"}),
            )
            .send()?;
        if !response.status().is_success() {
            bail!("submit failed: {}", response.text()?);
        }
        loop {
            let verdict: Value = client
                .post(format!("{}/api/match", server.base))
                .bearer_auth(&bulk_token)
                .json(&json!({"observables": [{"type": "DomainName", "value": format!("www.{domain}")}]}))
                .send()?
                .json()?;
            if verdict["value"][0]["action"] == "Block" {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("{domain} was not enforced within 10 s");
            }
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let pick = |q| percentile_ms(&latencies, q);
    println!(
        "(d) write-to-enforce (POST /api/indicators until /api/match blocks it) with {created} indicators loaded, {writes} writes: p50 {:.2} ms, p99 {:.2} ms (target p99 < 100 ms; MDE: 15 min to 48 h)",
        pick(0.5),
        pick(0.99)
    );

    // (e) /api/match under load from wrk in a second process.
    let seconds = arg("--wrk-seconds", 10)?;
    if seconds > 0 {
        match wrk_match(&server.base, &bulk_token, &probe_values, seconds) {
            Ok(summary) => println!("(e) {summary}"),
            Err(error) => println!("(e) wrk load on /api/match skipped: {error:#}"),
        }
    }
    Ok(())
}

/// Runs `wrk` against `POST /api/match` with a batch of 10 observables per request (half of
/// them bulk-loaded values) and reports requests/s, observables/s and latency percentiles.
fn wrk_match(base: &str, token: &str, probes: &[String], seconds: u64) -> Result<String> {
    let observables: Vec<Value> = (0..10)
        .map(|i| {
            let value = if i % 2 == 0 {
                probes[i % probes.len()].clone()
            } else {
                format!("miss-{i}.example.org")
            };
            let kind = if value.len() == 64 {
                "FileSha256"
            } else if value.contains("://") {
                "Url"
            } else if value.parse::<std::net::IpAddr>().is_ok() {
                "IpAddress"
            } else {
                "DomainName"
            };
            json!({"type": kind, "value": value})
        })
        .collect();
    let body = json!({"device": {"id": "bench", "groups": ["g1"]}, "observables": observables})
        .to_string();
    let summary = iocd_bench::wrk::post(&format!("{base}/api/match"), token, &body, seconds)?;
    Ok(format!(
        "POST /api/match with 10 observables per request, wrk -t1 -c16 for {seconds} s in a second process: {:.0} requests/s ({:.0} observables/s), p50 {:.2} ms, p99 {:.2} ms, {} errors",
        summary.requests_per_second,
        summary.requests_per_second * 10.0,
        summary.p50_ms,
        summary.p99_ms,
        summary.errors
    ))
}

/// The `q` quantile (0 to 1) of sorted, non-empty `latencies`, in milliseconds.
fn percentile_ms(latencies: &[Duration], q: f64) -> f64 {
    let last = latencies.len().saturating_sub(1);
    latencies
        .get((last as f64 * q).round() as usize)
        .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
}
