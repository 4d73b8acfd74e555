//! Feeds in process: a plain list and a MISP feed directory read from files, and a TAXII
//! collection on a real medallion server (the OASIS reference TAXII server, from PyPI), each
//! written with the feed's action, severity, groups and expiry; what a snapshot feed stops
//! listing is deleted; revoked TAXII objects are removed; `GET /api/feeds` shows the runs.

use axum::http::StatusCode;
use iocd_server::auth::Role;
use iocd_server::config::Config;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

mod common;
use common::TestApi;

fn api_with_feeds(feeds_toml: &str) -> TestApi {
    let mut config = Config::from_toml(feeds_toml).unwrap();
    config.public_url = Some("http://iocd.test".to_owned());
    TestApi::with_config(config)
}

async fn indicators(api: &TestApi) -> Vec<Value> {
    let admin = api.admin();
    api.get("/api/indicators", &admin).await.body["value"]
        .as_array()
        .unwrap()
        .clone()
}

fn values(list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|e| e["indicatorValue"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_feed_writes_its_values_and_deletes_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urlhaus.txt");
    std::fs::write(
        &list,
        "# test list\nevil.example\n203.0.113.7\nhttp://evil.example/payload\nnot a value\n",
    )
    .unwrap();
    let api = api_with_feeds(&format!(
        r#"[[feeds]]
name = "urlhaus"
tenant = "tenant-a"
kind = "list"
url = "file://{}"
action = "Block"
severity = "High"
groups = ["Servers"]
expiry_days = 30
expiry_days_by_type = {{ Url = 7 }}
removed = "delete""#,
        list.display()
    ));
    let feed = api.state.config().feeds[0].clone();
    iocd_server::feeds::run_feed(&api.state, &feed).await;
    let written = indicators(&api).await;
    assert_eq!(
        values(&written),
        ["203.0.113.7", "evil.example", "http://evil.example/payload"]
    );
    for entity in &written {
        assert_eq!(entity["action"], "Block");
        assert_eq!(entity["severity"], "High");
        assert_eq!(entity["createdBy"], "feed:urlhaus");
        assert_eq!(entity["rbacGroupNames"], json!(["Servers"]));
        let expiry =
            iocd_model::Timestamp::parse(entity["expirationTime"].as_str().unwrap()).unwrap();
        let seconds = expiry.unix_seconds() - api.state.now().unix_seconds();
        let days = if entity["indicatorType"] == "Url" {
            7
        } else {
            30
        };
        assert!(
            (seconds - days * 86_400).abs() < 60,
            "{days} days: {entity}"
        );
    }
    // An indicator someone else made is not the feed's to delete.
    let admin = api.admin();
    api.post(
        "/api/indicators",
        &admin,
        common::indicator("mine.example", "DomainName", "Block"),
    )
    .await;
    // The list drops a value: the next run deletes it.
    std::fs::write(&list, "evil.example\n203.0.113.7\n").unwrap();
    iocd_server::feeds::run_feed(&api.state, &feed).await;
    assert_eq!(
        values(&indicators(&api).await),
        ["203.0.113.7", "evil.example", "mine.example"]
    );

    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let feeds = api.get("/api/feeds", &reader).await;
    assert_eq!(feeds.status, StatusCode::OK, "{}", feeds.text);
    let status = &feeds.body["value"][0];
    assert_eq!(status["name"], "urlhaus");
    assert_eq!(status["kind"], "list");
    assert_eq!(
        (
            status["items"].clone(),
            status["written"].clone(),
            status["removed"].clone()
        ),
        (json!(2), json!(2), json!(1))
    );
    assert!(status["lastSuccess"].is_string() && status["lastError"].is_null());
    // The first run's bad line was reported; a missing file is an error of the run.
    std::fs::remove_file(&list).unwrap();
    iocd_server::feeds::run_feed(&api.state, &feed).await;
    let feeds = api.get("/api/feeds", &reader).await;
    assert!(
        feeds.body["value"][0]["lastError"]
            .as_str()
            .unwrap()
            .contains("cannot read")
    );
    // Another tenant sees no feed of tenant A.
    let outsider = api.token("tenant-b", Role::ReadAll, "other");
    assert_eq!(
        api.get("/api/feeds", &outsider).await.body["value"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_misp_feed_directory_is_read_event_by_event() {
    let dir = tempfile::tempdir().unwrap();
    let event = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../iocd-interop/tests/fixtures/misp-event.json");
    std::fs::copy(
        &event,
        dir.path().join("5e3b1a2c-0000-4000-8000-00000000e001.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"5e3b1a2c-0000-4000-8000-00000000e001": {"info": "Phishing wave 2026-03", "timestamp": "1767225600"},
            "00000000-0000-4000-8000-0000000000ff": {"info": "missing", "timestamp": "1767225600"}}"#,
    )
    .unwrap();
    let api = api_with_feeds(&format!(
        "[[feeds]]\nname = \"circl\"\ntenant = \"tenant-a\"\nkind = \"misp\"\nurl = \"file://{}\"",
        dir.path().display()
    ));
    let feed = api.state.config().feeds[0].clone();
    iocd_server::feeds::run_feed(&api.state, &feed).await;
    let written = indicators(&api).await;
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(
        written
            .iter()
            .all(|e| e["action"] == "Audit" && e["generateAlert"] == true)
    );
    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let status = &api.get("/api/feeds", &reader).await.body["value"][0];
    let failures: Vec<String> = status["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["origin"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        failures
            .iter()
            .any(|o| o.contains("00000000-0000-4000-8000-0000000000ff")),
        "{failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_are_added_and_removed_through_the_api() {
    let api = api_with_feeds(
        "[[feeds]]\nname = \"from-config\"\ntenant = \"tenant-a\"\nkind = \"list\"\nurl = \"file:///nonexistent\"",
    );
    let admin = api.admin();
    let feed = json!({"name": "urlhaus", "kind": "list", "url": "https://urlhaus.example/downloads/text/",
                      "action": "Block", "expiry_days": 14, "removed": "delete"});
    let created = api.post("/api/feeds", &admin, feed.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["origin"], "api");
    assert_eq!(
        created.body["source"],
        "https://urlhaus.example/downloads/text/"
    );
    assert_eq!(
        api.post("/api/feeds", &admin, feed).await.status,
        StatusCode::CONFLICT
    );
    let clash = json!({"name": "from-config", "kind": "list", "url": "https://x.example/"});
    assert_eq!(
        api.post("/api/feeds", &admin, clash).await.status,
        StatusCode::CONFLICT
    );
    for (bad, why) in [
        (
            json!({"name": "f", "kind": "list", "url": "file:///etc/passwd"}),
            "file://",
        ),
        (
            json!({"name": "f", "kind": "nope", "url": "https://x.example/"}),
            "unknown variant `nope`",
        ),
        (
            json!({"name": "f", "kind": "list", "url": "https://x.example/", "expiry_days_by_type": {"Nope": 1}}),
            "Nope",
        ),
        (
            json!({"name": "f", "kind": "list", "url": "https://x.example/", "extra": 1}),
            "extra",
        ),
    ] {
        let reply = api.post("/api/feeds", &admin, bad).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{why}: {}",
            reply.text
        );
        assert!(reply.text.contains(why), "{why}: {}", reply.text);
    }
    let writer = api.token("tenant-a", Role::ReadWrite, "own-only");
    let refused = api
        .post(
            "/api/feeds",
            &writer,
            json!({"name": "g", "kind": "list", "url": "https://x.example/"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let listed = api.get("/api/feeds", &reader).await;
    let origins: Vec<(String, String)> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        origins,
        [
            ("from-config".to_owned(), "config".to_owned()),
            ("urlhaus".into(), "api".into())
        ]
    );
    let outsider = api.token("tenant-b", Role::ReadWriteAll, "other");
    assert_eq!(
        api.get("/api/feeds", &outsider).await.body["value"],
        json!([])
    );
    assert_eq!(
        api.send(
            "DELETE",
            "/api/feeds/urlhaus",
            Some(&outsider),
            None,
            Vec::new()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Stored in the database (so it outlives the process); the configuration's feeds are not.
    let stored = api.state.service().feed_store().stored_feeds().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].tenant.as_str(), stored[0].name.as_str()),
        ("tenant-a", "urlhaus")
    );
    let deleted_config = api
        .send(
            "DELETE",
            "/api/feeds/from-config",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(deleted_config.status, StatusCode::FORBIDDEN);
    let deleted = api
        .send(
            "DELETE",
            "/api/feeds/urlhaus",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/feeds", &reader).await.body["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn medallion() -> PathBuf {
    if let Some(path) = std::env::var_os("IOCD_MEDALLION") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/medallion");
    assert!(
        path.exists(),
        "medallion is not installed: run scripts/test-tools, or set IOCD_MEDALLION"
    );
    path
}

/// medallion on a free port with one empty collection (its files in the directory kept
/// until then); killed when dropped.
struct Medallion(
    std::process::Child,
    String,
    #[allow(dead_code)] tempfile::TempDir,
);

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const COLLECTION: &str = "1c6e1f4e-0000-4000-8000-000000000001";
const TAXII: &str = "application/taxii+json;version=2.1";

fn start_medallion() -> Medallion {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let data = json!({
        "/discovery": {"title": "t", "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
        "api1": {"information": {"title": "api1", "versions": [TAXII], "max_content_length": 10485760},
                 "status": [],
                 "collections": [{"id": COLLECTION, "title": "feed", "can_read": true, "can_write": true,
                                  "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]}
    });
    std::fs::write(dir.path().join("data.json"), data.to_string()).unwrap();
    let config = json!({"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                                    "filename": dir.path().join("data.json")},
                        "users": {"feed": "secret"}, "taxii": {"max_page_size": 2}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let child = std::process::Command::new(medallion())
        .args(["--port", &port.to_string()])
        .arg(dir.path().join("config.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start medallion");
    let server = Medallion(child, base, dir);
    let client = reqwest::blocking::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{}/taxii2/", server.1))
            .basic_auth("feed", Some("secret"))
            .header("Accept", TAXII)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("medallion did not start");
}

fn stix(n: u32, pattern: &str, revoked: bool) -> Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--3d3d0000-0000-4000-8000-{n:012}"),
           "created": "2026-01-01T00:00:00.000Z", "modified": format!("2026-01-0{}T00:00:00.000Z", if revoked { 2 } else { 1 }),
           "name": format!("taxii {n}"), "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
           "revoked": revoked})
}

fn post(server: &Medallion, objects: Vec<Value>) {
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!(
            "{}/api1/collections/{COLLECTION}/objects/",
            server.1
        ))
        .basic_auth("feed", Some("secret"))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .body(json!({"objects": objects}).to_string())
        .send()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        202,
        "{}",
        response.text().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taxii_feed_pulls_pages_from_medallion_and_follows_revocations() {
    iocd_server::tls::install_default_provider();
    let server = tokio::task::spawn_blocking(|| {
        let server = start_medallion();
        post(
            &server,
            (1..=5)
                .map(|n| {
                    stix(
                        n,
                        &format!("[domain-name:value = 't{n}.taxii.example']"),
                        false,
                    )
                })
                .collect(),
        );
        server
    })
    .await
    .unwrap();
    let api = api_with_feeds(&format!(
        "[[feeds]]\nname = \"partner\"\ntenant = \"tenant-a\"\nkind = \"taxii\"\nurl = \"{}/api1/collections/{COLLECTION}/objects/\"\nusername = \"feed\"\npassword = \"secret\"\naction = \"Warn\"",
        server.1
    ));
    let feed = api.state.config().feeds[0].clone();
    iocd_server::feeds::run_feed(&api.state, &feed).await;
    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let status = api.get("/api/feeds", &reader).await.body["value"][0].clone();
    assert!(status["lastError"].is_null(), "{status}");
    let written = indicators(&api).await;
    assert_eq!(
        written.len(),
        5,
        "five objects over three pages of two: {status}"
    );
    assert!(written.iter().all(|e| e["action"] == "Warn"));
    // Another application's indicator of the same value is not the feed's to remove.
    let admin = api.admin();
    let own = api
        .post(
            "/api/indicators",
            &admin,
            json!({"indicatorValue": "t2.taxii.example", "indicatorType": "DomainName",
                   "action": "Block", "title": "mine", "description": "d"}),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    // A revocation published later removes the feed's indicator on the next run.
    let server = tokio::task::spawn_blocking(move || {
        post(
            &server,
            vec![stix(2, "[domain-name:value = 't2.taxii.example']", true)],
        );
        server
    })
    .await
    .unwrap();
    iocd_server::feeds::run_feed(&api.state, &feed).await;
    let left = indicators(&api).await;
    let t2: Vec<&Value> = left
        .iter()
        .filter(|e| e["indicatorValue"] == "t2.taxii.example")
        .collect();
    assert_eq!(t2.len(), 1, "{left:?}");
    assert_eq!(t2[0]["action"], "Block", "the other application's stays");
    assert_eq!(left.len(), 5);
    drop(server);
}

/// A run cut off by a leader that died (its stored status still says it is running, and its
/// next run is a day away) is run again at once by the node that takes the lead.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_cut_off_by_a_dead_leader_runs_again_when_the_lead_is_taken() {
    use iocd_store::records::{RecordKind, StoredRecord};
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "cut.example\n").unwrap();
    let api = api_with_feeds(&format!(
        "[[feeds]]\nname = \"cut\"\ntenant = \"tenant-a\"\nkind = \"list\"\nurl = \"file://{}\"\ninterval_minutes = 1440\naction = \"Block\"",
        list.display()
    ));
    let left_behind = json!({"status": {"running": true, "lastRunStart": "2026-01-01T00:00:00Z"},
                             "nextRun": i64::MAX});
    let record = StoredRecord {
        kind: RecordKind::FeedRun,
        tenant: "tenant-a".into(),
        name: "cut".into(),
        body: left_behind.to_string(),
        updated: api.state.now(),
    };
    api.state
        .service()
        .records()
        .put_record(&record, None)
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(iocd_server::feeds::run_feeds(api.state.clone(), stopped));
    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let start = std::time::Instant::now();
    let status = loop {
        let status = api.get("/api/feeds", &reader).await.body["value"][0].clone();
        if status["lastSuccess"].is_string() {
            break status;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never ran again: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status["running"], false, "{status}");
    assert_eq!(status["written"], 1, "{status}");
    assert!(status["lastError"].is_null(), "{status}");
    assert_ne!(status["lastRunStart"], "2026-01-01T00:00:00Z");
    assert_eq!(values(&indicators(&api).await), ["cut.example"]);
    stop.send(true).unwrap();
    runner.await.unwrap();
}
