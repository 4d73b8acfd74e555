//! Device events through NATS JetStream, with one node and with two, in one run (issue 20):
//! release nodes on one PostgreSQL database (made for the run) consume the shared work-queue
//! stream; the benchmark publishes NDJSON messages of 1,000 events (as a sensor gateway would)
//! and times from the first publication until JetStream holds no unacknowledged event. 2,000
//! domain indicators (half raising alerts); one event in 20 hits one, from 500 devices.
//!
//! On a machine with two cores, two nodes share the same two cores with PostgreSQL, NATS and
//! the publisher: the second figure shows the overhead of sharing the stream, not scaling.
//!
//! Usage: `events-bench [--events N]` (default 200,000 per run).

use anyhow::{Result, bail};
use iocd_bench::arg;
use iocd_bench::database::{self, store_token};
use iocd_bench::server::{self, Server};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const INDICATORS: u64 = 2_000;
const PER_MESSAGE: u64 = 1_000;

/// Publishes `events` events for tenant `bench` and waits until the stream is drained; events/s.
async fn run(
    js: &async_nats::jetstream::Context,
    prefix: &str,
    events: u64,
    round: u64,
) -> Result<f64> {
    let start = Instant::now();
    let mut n = 0;
    while n < events {
        let mut message = String::with_capacity(PER_MESSAGE as usize * 100);
        for _ in 0..PER_MESSAGE.min(events - n) {
            let domain = if n % 20 == 0 {
                format!("i{}.events-bench.example", n % INDICATORS)
            } else {
                format!("miss{n}-{round}.example")
            };
            message.push_str(&json!({"DeviceId": format!("dev-{}", n % 500), "RemoteUrl": format!("https://{domain}/x")}).to_string());
            message.push('\n');
            n += 1;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", "application/x-ndjson");
        js.publish_with_headers(format!("{prefix}.events.bench"), headers, message.into())
            .await?
            .await?;
    }
    let mut stream = js.get_stream(format!("{prefix}_events")).await?;
    loop {
        if stream.info().await?.state.messages == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(1800) {
            bail!("the events were not consumed in half an hour");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let events = arg("--events", 200_000)?;
    server::install_tls_provider();
    let iocd = server::iocd_binary()?;
    let db = database::create("iocd_events_bench")?;
    let prefix = format!("eventsbench{}", std::process::id());
    let config = format!(
        "store = \"{}\"\nevents = \"nats://127.0.0.1:4222\"\nevents_prefix = \"{prefix}\"\n{}",
        db.url(),
        server::UNLIMITED_RATES
    );
    let temp = std::env::temp_dir();
    let pid = std::process::id();
    let a = Server::start(
        &iocd,
        temp.join(format!("iocd-events-bench-a-{pid}")),
        &config,
        |_| {},
    )?;
    let token = store_token(&iocd, db.url(), "bench", "Ti.ReadWrite.All")?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let lines: String = (0..INDICATORS)
        .map(|n| {
            let alert = n % 2 == 0;
            format!("{}\n", json!({"indicatorValue": format!("i{n}.events-bench.example"), "indicatorType": "DomainName",
                "action": if alert { "Audit" } else { "Block" }, "generateAlert": alert, "title": "t", "description": "d"}))
        })
        .collect();
    let loaded: Value = client
        .post(format!("{}/api/indicators/bulk", a.base))
        .bearer_auth(&token)
        .header("Content-Type", "application/x-ndjson")
        .body(lines)
        .send()?
        .json()?;
    if loaded["created"].as_u64() != Some(INDICATORS) {
        bail!("loading indicators: {}", loaded["failed"]);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let js = runtime.block_on(async {
        let nats = async_nats::connect("127.0.0.1:4222").await?;
        Ok::<_, anyhow::Error>(async_nats::jetstream::new(nats))
    })?;
    // Wait until the node made the streams.
    runtime.block_on(async {
        while js.get_stream(format!("{prefix}_events")).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let one = runtime.block_on(run(&js, &prefix, events, 1))?;
    println!("events through JetStream, one node: {one:.0} events/s ({events} events)");
    let b = Server::start(
        &iocd,
        temp.join(format!("iocd-events-bench-b-{pid}")),
        &config,
        |_| {},
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let two = runtime.block_on(run(&js, &prefix, events, 2))?;
    println!(
        "events through JetStream, two nodes: {two:.0} events/s ({events} events; {:.2}x one node, on the same two cores)",
        two / one
    );
    drop(b);
    drop(a);
    runtime.block_on(async {
        let _ = js.delete_stream(format!("{prefix}_events")).await;
        let _ = js.delete_stream(format!("{prefix}_alerts")).await;
    });
    Ok(())
}
