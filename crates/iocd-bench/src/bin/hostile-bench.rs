//! Replays the hostile requests of the security review (issue 15) against the real release
//! server and prints, for each, the answer, how long it took and the server's resident memory
//! (now and at its peak), then checks that the server still answers.
//!
//! Usage: `hostile-bench` (after `cargo build --release -p iocd -p iocd-bench`). The server runs
//! with its default limits except the header and body timeouts (5 s, to keep the run short).

use anyhow::{Context, Result, bail};
use iocd_bench::server::{self, Server};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const CONFIG: &str = "header_read_timeout_seconds = 5\nbody_read_timeout_seconds = 5\n";
const MIB: f64 = 1024.0 * 1024.0;

/// Prints one finding's outcome; `passed` says whether the answer is the expected one.
fn report(server: &Server, name: &str, started: Instant, passed: bool, detail: &str) -> bool {
    let (rss, peak) = server.memory().unwrap_or((0, 0));
    println!(
        "{:<4} {name:<58} {:>8.0} ms  rss {:>6.1} MiB  peak {:>6.1} MiB  {detail}",
        if passed { "ok" } else { "FAIL" },
        started.elapsed().as_secs_f64() * 1000.0,
        rss as f64 / MIB,
        peak as f64 / MIB,
    );
    passed
}

/// Sends raw bytes on a new connection and reads the answer until the server closes it (or
/// `limit` passes); returns the status code, 0 when there was no answer.
fn raw(address: &str, request: &[u8], limit: Duration) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(limit))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

struct Run {
    server: Server,
    client: Client,
    address: String,
    admin: String,
    sensor: String,
    passed: usize,
    failed: usize,
}

impl Run {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    fn record(&mut self, name: &str, started: Instant, passed: bool, detail: &str) {
        if report(&self.server, name, started, passed, detail) {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }

    fn get(&self, path: &str, token: &str) -> Result<(u16, Value)> {
        let reply = self.client.get(self.url(path)).bearer_auth(token).send()?;
        let status = reply.status().as_u16();
        Ok((status, reply.json().unwrap_or(Value::Null)))
    }

    fn post(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value)> {
        let reply = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()?;
        let status = reply.status().as_u16();
        Ok((status, reply.json().unwrap_or(Value::Null)))
    }

    fn healthy_within(&self, limit: Duration) -> bool {
        let started = Instant::now();
        let ok = self
            .client
            .get(self.url("/healthz"))
            .timeout(limit)
            .send()
            .is_ok_and(|r| r.status().is_success());
        ok && started.elapsed() <= limit
    }
}

fn indicator(value: &str, indicator_type: &str) -> Value {
    json!({"indicatorValue": value, "indicatorType": indicator_type, "action": "Block",
           "title": "t", "description": "d"})
}

fn main() -> Result<()> {
    server::install_tls_provider();
    let iocd = server::iocd_binary()?;
    let data = std::env::temp_dir().join(format!("iocd-hostile-{}", std::process::id()));
    let server = Server::start(&iocd, data, CONFIG, |_| {})?;
    let admin = server.token("tenant-a", &["Ti.ReadWrite.All", "Metrics.Read"])?;
    let sensor = server.token("tenant-a", &["Events.Write"])?;
    let address = server.base.trim_start_matches("http://").to_owned();
    let client = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut run = Run {
        server,
        client,
        address,
        admin,
        sensor,
        passed: 0,
        failed: 0,
    };
    println!(
        "hostile-bench: iocd {} (release build), {} cores",
        run.server.base,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let (rss, peak) = run
        .server
        .memory()
        .context("cannot read the server's memory")?;
    println!(
        "start: rss {:.1} MiB, peak {:.1} MiB",
        rss as f64 / MIB,
        peak as f64 / MIB
    );

    odata(&mut run)?;
    bulk_junk(&mut run)?;
    stalled_bulk(&mut run)?;
    big_lists(&mut run)?;
    csv_quote(&mut run)?;
    events_junk(&mut run)?;
    dates_ids_and_networks(&mut run)?;
    methods(&mut run)?;
    slow_headers(&mut run)?;
    links(&mut run)?;

    let started = Instant::now();
    let healthy = run.healthy_within(Duration::from_secs(1));
    run.record(
        "afterwards: /healthz answers within 1 s",
        started,
        healthy,
        "",
    );
    println!("{} passed, {} failed", run.passed, run.failed);
    if run.failed > 0 {
        bail!("{} findings were not answered as expected", run.failed);
    }
    Ok(())
}

fn odata(run: &mut Run) -> Result<()> {
    for path in [
        "/api/indicators?$filter=$",
        "/api/alerts?$filter=$",
        "/api/indicators?$filter=expirationTime%20gt%20%272024-01-%E2%82%AC%27",
    ] {
        let started = Instant::now();
        let token = if path.starts_with("/api/alerts") {
            run.server.token("tenant-a", &["Alert.Read.All"])?
        } else {
            run.admin.clone()
        };
        let (status, _) = run.get(path, &token)?;
        run.record(
            &format!("GET {path:.50}"),
            started,
            status == 400,
            &format!("{status}"),
        );
    }
    let started = Instant::now();
    let order_by = vec!["id"; 2_001].join(",");
    let (status, _) = run.get(&format!("/api/indicators?$orderby={order_by}"), &run.admin)?;
    run.record(
        "$orderby with 2,001 keys",
        started,
        status == 400,
        &format!("{status}"),
    );
    let started = Instant::now();
    let any = (0..300)
        .map(|n| format!("rbacGroupNames/any(g:g%20eq%20%27g{n}%27)"))
        .collect::<Vec<_>>()
        .join("%20or%20");
    let (status, _) = run.get(&format!("/api/indicators?$filter={any}"), &run.admin)?;
    run.record(
        "$filter with 300 any() conditions",
        started,
        status == 400,
        &format!("{status}"),
    );
    let started = Instant::now();
    let (status, body) = run.get("/api/indicators?$top=0", &run.admin)?;
    let no_link = body.get("@odata.nextLink").is_none();
    run.record(
        "$top=0",
        started,
        status == 200 && no_link,
        &format!("{status}, next link: {}", !no_link),
    );
    Ok(())
}

fn bulk_junk(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let body = b"1\n".repeat(2_000_000);
    let (status, answer) = run.post(
        "/api/indicators/bulk",
        &run.admin,
        "application/x-ndjson",
        body,
    )?;
    let listed = answer["value"].as_array().map_or(0, Vec::len);
    let passed = status == 200 && listed == 1_000 && answer["unlisted"] == 1_999_000;
    run.record(
        "bulk: 2,000,000 lines of `1` (4 MB)",
        started,
        passed,
        &format!("{status}, {listed} listed, {} unlisted", answer["unlisted"]),
    );
    Ok(())
}

fn stalled_bulk(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let head = format!(
        "POST /api/indicators/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":\r\n",
        run.admin
    );
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&run.address)?;
        stream.write_all(head.as_bytes())?;
        stalled.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile the rest of the API answers at once.
    let list_started = Instant::now();
    let (status, _) = run.get("/api/indicators?$top=1", &run.admin)?;
    let list_ms = list_started.elapsed().as_secs_f64() * 1000.0;
    let mut refused = 0;
    for stream in &mut stalled {
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut buffer = [0u8; 12];
        if stream.read(&mut buffer).is_ok() && buffer.starts_with(b"HTTP/1.1 503") {
            refused += 1;
        }
    }
    let passed = status == 200 && list_ms < 1_000.0 && refused >= 296;
    run.record(
        "300 stalled bulk uploads",
        started,
        passed,
        &format!("{refused} answered 503 at once, a list meanwhile took {list_ms:.0} ms"),
    );
    // The four that hold slots are cut at the body timeout.
    let started = Instant::now();
    let mut timed_out = 0;
    for stream in &mut stalled {
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if answer.starts_with(b"HTTP/1.1 408") {
            timed_out += 1;
        }
    }
    run.record(
        "the 4 holding slots end at body_read_timeout (5 s)",
        started,
        timed_out == 300 - refused,
        &format!("{timed_out} answered 408"),
    );
    Ok(())
}

fn big_lists(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let names: Vec<String> = (0..80_000).map(|n| format!("group-{n}")).collect();
    let mut body = indicator("lists.example", "DomainName");
    body["rbacGroupNames"] = json!(names);
    let body = body.to_string().into_bytes();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let client = run.client.clone();
            let url = run.url("/api/indicators");
            let token = run.admin.clone();
            let body = body.clone();
            std::thread::spawn(move || {
                client
                    .post(url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let healthy = run.healthy_within(Duration::from_secs(1));
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap_or(0)).collect();
    let passed = statuses.iter().all(|s| *s == 400) && healthy;
    run.record(
        "2 concurrent bodies of 80,000 group names",
        started,
        passed,
        &format!("{statuses:?}, /healthz meanwhile: {healthy}"),
    );
    Ok(())
}

fn csv_quote(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let total: usize = 256 << 20;
    let head = format!(
        "POST /api/indicators/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        run.admin, total
    );
    let mut stream = TcpStream::connect(&run.address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = stream.try_clone()?;
    let answer = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer);
        answer
    });
    stream.write_all(head.as_bytes())?;
    let mut body =
        b"IndicatorType,IndicatorValue,Action,Title,Description\nDomainName,a.example,Block,\""
            .to_vec();
    body.resize(1 << 20, b'x');
    let mut sent = 0;
    while sent < total {
        let piece = &body[..body.len().min(total - sent)];
        if stream.write_all(piece).is_err() {
            break;
        }
        sent += piece.len();
        body.fill(b'x');
    }
    let answer = answer.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&answer);
    let passed = text.starts_with("HTTP/1.1 400") && text.contains("longer than");
    run.record(
        "CSV bulk with an unterminated 256 MB quote",
        started,
        passed,
        &format!(
            "{}, the client sent {} MiB before the server stopped reading",
            text.lines().next().unwrap_or(""),
            sent >> 20
        ),
    );
    Ok(())
}

fn events_junk(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let body = b"1\n".repeat(2_000_000);
    let (status, answer) = run.post("/api/events", &run.sensor, "application/x-ndjson", body)?;
    let listed = answer["failed"].as_array().map_or(0, Vec::len);
    run.record(
        "events: 2,000,000 junk lines (4 MB)",
        started,
        status == 200 && listed == 1_000,
        &format!("{status}, {listed} listed, {} unlisted", answer["unlisted"]),
    );
    let started = Instant::now();
    let body = format!("{{\"DeviceId\":\"{}\"}}\n", "x".repeat(33 << 20)).into_bytes();
    let (status, answer) = run.post("/api/events", &run.sensor, "application/x-ndjson", body)?;
    run.record(
        "events: a body over max_json_body_bytes",
        started,
        status == 413 && answer["error"]["code"] == "PayloadTooLarge",
        &format!("{status} {}", answer["error"]["code"]),
    );
    Ok(())
}

fn dates_ids_and_networks(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let mut body = indicator("dated.example", "DomainName");
    body["expirationTime"] = json!("2024-01-€");
    let (status, _) = run.post(
        "/api/indicators",
        &run.admin,
        "application/json",
        body.to_string().into_bytes(),
    )?;
    run.record(
        "expirationTime with a non-ASCII character",
        started,
        status == 400,
        &format!("{status}"),
    );

    let started = Instant::now();
    let (status, created) = run.post(
        "/api/indicators",
        &run.admin,
        "application/json",
        indicator("alias.example", "DomainName")
            .to_string()
            .into_bytes(),
    )?;
    let id: i64 = created["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let alias = id + (1 << 40);
    let deleted = run
        .client
        .delete(run.url(&format!("/api/indicators/{alias}")))
        .bearer_auth(&run.admin)
        .send()?
        .status()
        .as_u16();
    let probe = json!({"observables": [{"type": "DomainName", "value": "alias.example"}]});
    let (_, verdict) = run.post(
        "/api/match",
        &run.admin,
        "application/json",
        probe.to_string().into_bytes(),
    )?;
    let still_blocked = verdict["value"][0]["action"] == "Block";
    run.record(
        "DELETE /api/indicators/{id + 2^40}",
        started,
        status == 200 && deleted == 404 && still_blocked,
        &format!("{deleted}, the indicator still enforced: {still_blocked}"),
    );

    for value in ["0.0.0.0/0", "::/0"] {
        let started = Instant::now();
        let (status, answer) = run.post(
            "/api/indicators",
            &run.admin,
            "application/json",
            indicator(value, "IpAddress").to_string().into_bytes(),
        )?;
        run.record(
            &format!("IpAddress {value}"),
            started,
            status == 400,
            &format!("{status} {}", answer["error"]["code"]),
        );
    }
    Ok(())
}

fn methods(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    for n in 0..3_000 {
        let request = format!("M{n:05} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = raw(&run.address, request.as_bytes(), Duration::from_secs(5))?;
    }
    let metrics = run
        .client
        .get(run.url("/metrics"))
        .bearer_auth(&run.admin)
        .send()?
        .text()?;
    run.record(
        "3,000 requests with invented methods",
        started,
        metrics.len() < 64 * 1024,
        &format!("/metrics is {} KiB", metrics.len() / 1024),
    );
    Ok(())
}

fn slow_headers(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(&run.address)?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        slow.push(stream);
    }
    let healthy = run.healthy_within(Duration::from_secs(1));
    let mut closed = 0;
    for stream in &mut slow {
        let mut buffer = Vec::new();
        if stream.read_to_end(&mut buffer).is_ok() {
            closed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    run.record(
        "100 connections with partial headers",
        started,
        closed == 100 && healthy && seconds < 10.0,
        &format!(
            "{closed} closed by the server (header timeout 5 s), /healthz meanwhile: {healthy}"
        ),
    );
    Ok(())
}

fn links(run: &mut Run) -> Result<()> {
    let started = Instant::now();
    for n in 0..3 {
        let _ = run.post(
            "/api/indicators",
            &run.admin,
            "application/json",
            indicator(&format!("link{n}.example"), "DomainName")
                .to_string()
                .into_bytes(),
        )?;
    }
    let request = format!(
        "GET /api/indicators?$top=1 HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        run.admin
    );
    let (status, text) = raw(&run.address, request.as_bytes(), Duration::from_secs(10))?;
    run.record(
        "Host: attacker.example",
        started,
        status == 200 && !text.contains("attacker.example") && text.contains("@odata.nextLink"),
        &format!(
            "{status}, attacker.example in the answer: {}",
            text.contains("attacker.example")
        ),
    );
    Ok(())
}
