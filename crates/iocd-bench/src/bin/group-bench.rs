//! Match throughput when devices describe themselves (the server finds their device group by
//! the registry's membership rules) against devices that state their group, in the same run:
//! the release server with 100,000 indicators (a tenth scoped to groups) and 50 ranked groups
//! whose rules name a name prefix, a domain and an OS; `wrk` posts the same 10 observables with
//! either device, in alternating runs. Target (issue 17): within 10 % of each other.
//!
//! Usage: `group-bench [--seconds N] [--rounds N]` (defaults 10 and 2 runs of each kind).

use anyhow::{Result, bail};
use iocd_bench::server::{self, Server};
use iocd_bench::{Rng, arg};
use serde_json::{Value, json};
use std::time::Duration;

const GROUPS: u64 = 50;
const INDICATORS: u64 = 100_000;
/// The described device belongs to this group: the registry tries 37 groups' rules first.
const DEVICE_GROUP: u64 = 37;

fn main() -> Result<()> {
    let seconds = arg("--seconds", 10)?;
    let rounds = arg("--rounds", 2)?;
    server::install_tls_provider();
    let iocd = server::iocd_binary()?;
    let data = std::env::temp_dir().join(format!("iocd-group-bench-{}", std::process::id()));
    let server = Server::start(&iocd, data, server::UNLIMITED_RATES, |_| {})?;
    let token = server.token("bench-groups", &["Ti.ReadWrite.All"])?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;

    for n in 0..GROUPS {
        let response = client
            .post(format!("{}/api/deviceGroups", server.base))
            .bearer_auth(&token)
            .json(&json!({"name": format!("G{n}"), "rules": {
                "nameStartsWith": [format!("host-{n}-")],
                "domain": [format!("corp{n}.example")],
                "os": ["Windows11"],
            }}))
            .send()?;
        if !response.status().is_success() {
            bail!("creating group {n} failed: {}", response.text()?);
        }
    }
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    let mut body = Vec::new();
    let mut probes = Vec::new();
    for n in 0..INDICATORS {
        let value = format!("{}.bench{}.example", rng.hex(10), n % 101);
        let mut item = json!({"indicatorValue": value, "indicatorType": "DomainName",
            "action": "Block", "title": "t", "description": "d"});
        if n % 10 == 0 {
            item["rbacGroupNames"] = json!([format!("G{}", n % GROUPS)]);
        }
        if n % (INDICATORS / 5) == 1 {
            probes.push(value);
        }
        serde_json::to_writer(&mut body, &item)?;
        body.push(b'\n');
    }
    let response = client
        .post(format!("{}/api/indicators/bulk", server.base))
        .bearer_auth(&token)
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()?;
    if !response.status().is_success() {
        bail!("bulk failed: {}", response.text()?);
    }
    let observables: Vec<Value> = (0..10)
        .map(|i| {
            let value = if i % 2 == 0 {
                probes[i % probes.len()].clone()
            } else {
                format!("miss-{i}.example.org")
            };
            json!({"type": "DomainName", "value": value})
        })
        .collect();
    let stated = json!({"device": {"id": "bench-1", "groups": [format!("G{DEVICE_GROUP}")]},
        "observables": observables})
    .to_string();
    let described = json!({"device": {"id": "bench-1", "name": format!("host-{DEVICE_GROUP}-0042"),
        "domain": format!("corp{DEVICE_GROUP}.example"), "os": "Windows11"},
        "observables": observables})
    .to_string();
    // Both forms must place the device in the same group: the answers are the same.
    let answer = |body: &str| -> Result<Value> {
        Ok(client
            .post(format!("{}/api/match", server.base))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()?
            .json()?)
    };
    let (a, b) = (answer(&stated)?, answer(&described)?);
    if a["value"] != b["value"] {
        bail!("the stated and described devices got different answers:\n{a}\n{b}");
    }
    println!(
        "group-bench: server {}, {INDICATORS} indicators ({} scoped to groups), {GROUPS} groups; the described device is placed in G{DEVICE_GROUP} by rank",
        server.base,
        INDICATORS / 10
    );
    let url = format!("{}/api/match", server.base);
    let (mut stated_rates, mut described_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        for (kind, body, rates) in [
            ("stated", &stated, &mut stated_rates),
            ("described", &described, &mut described_rates),
        ] {
            let summary = iocd_bench::wrk::post(&url, &token, body, seconds)?;
            println!(
                "  round {round}, {kind:9}: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                summary.requests_per_second, summary.p50_ms, summary.p99_ms, summary.errors
            );
            rates.push(summary.requests_per_second);
        }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let (stated_mean, described_mean) = (mean(&stated_rates), mean(&described_rates));
    let ratio = described_mean / stated_mean;
    println!(
        "POST /api/match, 10 observables, wrk -t1 -c16, {rounds} x {seconds} s each: stated {stated_mean:.0} requests/s, described {described_mean:.0} requests/s; described/stated = {ratio:.3} (target 0.90 to 1.10)"
    );
    Ok(())
}
