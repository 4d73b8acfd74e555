//! Two release `iocd serve` nodes on one PostgreSQL database (made for the run on the server
//! `IOCD_BENCH_POSTGRES` names, by default the machine's, and dropped afterwards), measured in
//! one run (issue 20):
//!
//! - write-on-A to enforced-on-B: a Block indicator submitted to node A, then node B asked
//!   `/api/match` until it blocks; the time from A's answer to B's first block (target p99 below
//!   250 ms), and A's own answer time;
//! - bulk import into PostgreSQL through A's bulk endpoint (target at least 50,000/s), node B
//!   stopped meanwhile (on two cores its follower would compete with the import), then the
//!   first million of those rows again (each an update, as a feed's next run);
//! - restart: node B started again with every indicator in the store, until it listens (its
//!   matchers loaded from a snapshot) and `/readyz` says it is caught up.
//!
//! Usage: `nodes-bench [--writes N] [--indicators N]` (defaults 300 and 1,000,000).

use anyhow::{Result, bail};
use iocd_bench::arg;
use iocd_bench::database::{self, store_token};
use iocd_bench::server::{self, Server};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    let writes = arg("--writes", 300)? as usize;
    let indicators = arg("--indicators", 1_000_000)?;
    server::install_tls_provider();
    let iocd = server::iocd_binary()?;
    let db = database::create("iocd_nodes_bench")?;
    let config = format!("store = \"{}\"\n{}", db.url(), server::UNLIMITED_RATES);
    let temp = std::env::temp_dir();
    let pid = std::process::id();
    let a = Server::start(
        &iocd,
        temp.join(format!("iocd-nodes-bench-a-{pid}")),
        &config,
        |_| {},
    )?;
    let mut b = Some(Server::start(
        &iocd,
        temp.join(format!("iocd-nodes-bench-b-{pid}")),
        &config,
        |_| {},
    )?);
    let token = store_token(&iocd, db.url(), "bench", "Ti.ReadWrite.All")?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;

    // Write on A, enforced on B.
    let mut acked = Vec::with_capacity(writes);
    let mut propagated = Vec::with_capacity(writes);
    let b_base = b.as_ref().map(|s| s.base.clone()).unwrap_or_default();
    for n in 0..writes {
        let domain = format!("w{n}.nodes-bench.example");
        let start = Instant::now();
        let response = client
            .post(format!("{}/api/indicators", a.base))
            .bearer_auth(&token)
            .json(&json!({"indicatorValue": domain, "indicatorType": "DomainName", "action": "Block", "title": "t", "description": "d"}))
            .send()?;
        if !response.status().is_success() {
            bail!("submit on A: {}", response.status());
        }
        let ack = Instant::now();
        acked.push(ack - start);
        loop {
            let answer: Value = client
                .post(format!("{b_base}/api/match"))
                .bearer_auth(&token)
                .json(&json!({"device": {"id": "d1"}, "observables": [{"type": "DomainName", "value": domain}]}))
                .send()?
                .json()?;
            if answer["value"][0]["action"] == "Block" {
                break;
            }
            if ack.elapsed() > Duration::from_secs(30) {
                bail!("B never enforced {domain}");
            }
        }
        propagated.push(ack.elapsed());
    }
    acked.sort();
    propagated.sort();
    println!(
        "write on A, enforced on B ({writes} writes): p50 {}, p99 {}, max {} (target p99 < 250 ms); A's answer p50 {}, p99 {}",
        ms(percentile(&propagated, 0.5)),
        ms(percentile(&propagated, 0.99)),
        ms(percentile(&propagated, 1.0)),
        ms(percentile(&acked, 0.5)),
        ms(percentile(&acked, 0.99)),
    );

    // Bulk import into PostgreSQL, with B stopped: this machine's two cores would otherwise
    // run B's follower (fetching and compiling every row) beside the import; B's restart
    // below then loads them.
    drop(b.take());
    let mut body = String::with_capacity(indicators as usize * 160);
    for n in 0..indicators {
        body.push_str(&json!({"indicatorValue": format!("d{n}.nodes-bench.example"), "indicatorType": "DomainName", "action": "Block", "title": format!("bench {n}"), "description": "nodes benchmark"}).to_string());
        body.push('\n');
    }
    let start = Instant::now();
    let loaded: Value = client
        .post(format!("{}/api/indicators/bulk", a.base))
        .bearer_auth(&token)
        .header("Content-Type", "application/x-ndjson")
        .body(body.clone())
        .send()?
        .json()?;
    let seconds = start.elapsed().as_secs_f64();
    if loaded["created"].as_u64() != Some(indicators) {
        bail!("bulk load: {}", loaded["failed"]);
    }
    println!(
        "bulk import into PostgreSQL: {indicators} indicators in {seconds:.1} s, {:.0}/s (target 50,000/s)",
        indicators as f64 / seconds
    );
    // The first million rows again: each updates the indicator it names (a feed's next run).
    let again_rows = indicators.min(1_000_000);
    let again_body: String = body
        .split_inclusive('\n')
        .take(again_rows as usize)
        .collect();
    drop(body);
    let start = Instant::now();
    let again: Value = client
        .post(format!("{}/api/indicators/bulk", a.base))
        .bearer_auth(&token)
        .header("Content-Type", "application/x-ndjson")
        .body(again_body)
        .send()?
        .json()?;
    let seconds = start.elapsed().as_secs_f64();
    if again["updated"].as_u64() != Some(again_rows) {
        bail!("bulk update: {}", again["failed"]);
    }
    println!(
        "bulk re-import into PostgreSQL (every row an update): {again_rows} indicators in {seconds:.1} s, {:.0}/s",
        again_rows as f64 / seconds
    );

    // Restart B with everything in the store.
    let start = Instant::now();
    let restarted = Server::start(
        &iocd,
        temp.join(format!("iocd-nodes-bench-b-{pid}")),
        &config,
        |_| {},
    )?;
    let listening = start.elapsed();
    loop {
        let ready = client.get(format!("{}/readyz", restarted.base)).send()?;
        if ready.status().is_success() {
            break;
        }
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("B never became ready");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let resident = restarted.memory().map_or_else(
        || "unknown".to_owned(),
        |(now, _)| format!("{} MiB", now >> 20),
    );
    println!(
        "restart of B with {} indicators in the store: listening after {:.2} s, ready after {:.2} s; B's resident memory {resident}",
        indicators + writes as u64,
        listening.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
