//! TAXII 2.1 throughput, iocd against medallion (the OASIS reference server, memory backend),
//! same machine, same run: `POST objects` of STIX indicators in envelopes of 1,000, then
//! `GET objects` paging through the collection 1,000 at a time. Prints objects per second for
//! each and the ratio. Target (issue 19): iocd at least 20 times faster on both.
//!
//! medallion's memory backend walks its whole data for every object it adds and every page
//! it serves, so its cost grows faster than its collection (100,000 objects did not finish
//! within 20 minutes here; at 5,000 objects one page of 1,000 takes it over a minute): it
//! POSTs the first `--peer-post-objects` (default 30,000) objects and GETs from a fresh
//! collection of the first `--peer-get-objects` (default 2,000), which overstates its speed at
//! the full size (stated in the output).
//!
//! Usage: `taxii-bench [--objects N] [--peer-post-objects N] [--peer-get-objects N]`
//! (defaults 100,000, 30,000 and 2,000);
//! medallion is run from `$MEDALLION` or `bench-venv/bin/medallion` (`scripts/bench-tools`
//! installs it).

use anyhow::{Context, Result, bail};
use iocd_bench::arg;
use iocd_bench::server::{self, Server};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ENVELOPE: usize = 1000;
const PAGE: usize = 1000;
const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
const MEDIA: &str = "application/taxii+json;version=2.1";

fn object(n: usize) -> Value {
    json!({"type": "indicator", "spec_version": "2.1",
           "id": format!("indicator--{:08x}-0000-4000-8000-{:012x}", n / 65536, n),
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "name": format!("bench {n}"), "indicator_types": ["malicious-activity"],
           "pattern": format!("[domain-name:value = 'd{n}.bench-taxii.example']"),
           "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"})
}

/// medallion as a child process, stopped when dropped.
struct Medallion {
    child: Child,
    base: String,
    _dir: PathBuf,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts medallion on `port` with an empty collection.
fn start_medallion(port: u16) -> Result<Medallion> {
    let program = std::env::var_os("MEDALLION")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("bench-venv/bin/medallion"));
    let base = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("taxii-bench-medallion-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let data = json!({
        "/discovery": {"title": "medallion", "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
        "api1": {
            "information": {"title": "api1", "versions": [MEDIA], "max_content_length": 104857600},
            "status": [],
            "collections": [{"id": COLLECTION, "title": "bench", "can_read": true, "can_write": true,
                             "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]
        }
    });
    let data_path = dir.join("data.json");
    std::fs::write(&data_path, data.to_string())?;
    let config = json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": data_path},
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": PAGE}
    });
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, config.to_string())?;
    let child = Command::new(&program)
        .args(["--port", &port.to_string(), "--log-level", "ERROR"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (run scripts/bench-tools)",
                program.display()
            )
        })?;
    let medallion = Medallion {
        child,
        base,
        _dir: dir,
    };
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client
            .get(format!("{}/taxii2/", medallion.base))
            .basic_auth("bench", Some("bench"))
            .header("Accept", MEDIA)
            .send()
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(medallion);
        }
        if Instant::now() > deadline {
            bail!("medallion did not answer within 30 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How one server is reached: its objects URL and its credentials.
struct Target {
    name: &'static str,
    objects_url: String,
    auth: Box<dyn Fn(reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder>,
}

/// Posts the envelopes; returns (objects, seconds).
fn post_all(
    client: &reqwest::blocking::Client,
    target: &Target,
    envelopes: &[String],
) -> Result<(usize, f64)> {
    let started = Instant::now();
    let mut posted = 0;
    for envelope in envelopes {
        let response = (target.auth)(client.post(&target.objects_url))
            .header("Accept", MEDIA)
            .header("Content-Type", MEDIA)
            .body(envelope.clone())
            .send()?;
        let status = response.status();
        let text = response.text()?;
        if status.as_u16() != 202 {
            bail!(
                "{}: POST answered {status}: {}",
                target.name,
                &text[..text.len().min(300)]
            );
        }
        let answer: Value = serde_json::from_str(&text)?;
        posted += answer["success_count"].as_u64().unwrap_or(0) as usize;
    }
    Ok((posted, started.elapsed().as_secs_f64()))
}

/// Pages through the collection; returns (objects, seconds).
fn get_all(client: &reqwest::blocking::Client, target: &Target) -> Result<(usize, f64)> {
    let started = Instant::now();
    let mut read = 0;
    let mut next: Option<String> = None;
    loop {
        let mut url = format!("{}?limit={PAGE}", target.objects_url);
        if let Some(token) = &next {
            url.push_str(&format!("&next={token}"));
        }
        let response = (target.auth)(client.get(&url))
            .header("Accept", MEDIA)
            .send()?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "{}: GET answered {status}: {}",
                target.name,
                response.text()?
            );
        }
        let page: Value = response.json()?;
        read += page["objects"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(token) if page["more"] == true => next = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok((read, started.elapsed().as_secs_f64()))
}

fn main() -> Result<()> {
    let count = arg("--objects", 100_000)? as usize;
    let peer_count = (arg("--peer-get-objects", 2_000)? as usize).min(count);
    let peer_post = (arg("--peer-post-objects", 30_000)? as usize).min(count);
    server::install_tls_provider();
    let iocd = server::iocd_binary()?;
    let data = std::env::temp_dir().join(format!("taxii-bench-iocd-{}", std::process::id()));
    let iocd_server = Server::start(&iocd, data, server::UNLIMITED_RATES, |_| {})?;
    let token = iocd_server.token("bench-taxii", &["Ti.ReadWrite.All"])?;
    let medallion_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut medallion = start_medallion(medallion_port)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let envelopes: Vec<String> = (0..count)
        .collect::<Vec<_>>()
        .chunks(ENVELOPE)
        .map(|chunk| {
            json!({"objects": chunk.iter().map(|n| object(*n)).collect::<Vec<_>>()}).to_string()
        })
        .collect();
    let bearer = token.clone();
    let targets = [
        Target {
            name: "iocd",
            objects_url: format!(
                "{}/taxii2/iocd/collections/{}/objects/",
                iocd_server.base, "4f1b5e0a-6c2d-4e8f-9a1b-2c3d4e5f6a7b"
            ),
            auth: Box::new(move |r| r.bearer_auth(&bearer)),
        },
        Target {
            name: "medallion",
            objects_url: format!("{}/api1/collections/{COLLECTION}/objects/", medallion.base),
            auth: Box::new(|r| r.basic_auth("bench", Some("bench"))),
        },
    ];
    println!(
        "taxii-bench: {count} STIX indicators, POST in envelopes of {ENVELOPE}, GET in pages of {PAGE}; medallion 3.0.0 (memory backend) POSTs the first {peer_post} and GETs from a collection of the first {peer_count}"
    );
    let mut post_rates = Vec::new();
    let mut get_rates = Vec::new();
    for target in &targets {
        let posting = if target.name == "iocd" {
            &envelopes[..]
        } else {
            &envelopes[..peer_post.div_ceil(ENVELOPE)]
        };
        let (posted, seconds) = post_all(&client, target, posting)?;
        let post_rate = posted as f64 / seconds;
        if target.name == "medallion" {
            // A fresh medallion with a collection small enough to page through.
            let _ = medallion.child.kill();
            let _ = medallion.child.wait();
            medallion = start_medallion(medallion_port)?;
            post_all(&client, target, &envelopes[..peer_count.div_ceil(ENVELOPE)])?;
        }
        let (read, get_seconds) = get_all(&client, target)?;
        let get_rate = read as f64 / get_seconds;
        println!(
            "  {:9}: POST {posted} objects in {seconds:.1} s = {post_rate:.0}/s; GET {read} objects in {get_seconds:.2} s = {get_rate:.0}/s",
            target.name
        );
        post_rates.push(post_rate);
        get_rates.push(get_rate);
    }
    println!(
        "iocd/medallion: POST {:.0}x, GET {:.0}x (target >= 20x each; medallion measured on smaller collections, where it is faster)",
        post_rates[0] / post_rates[1],
        get_rates[0] / get_rates[1]
    );
    Ok(())
}
