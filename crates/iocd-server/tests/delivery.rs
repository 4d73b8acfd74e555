//! Alerts that reach people, end to end in process: webhooks (a receiver on loopback that
//! fails first and then accepts; signatures, delivery ids, retries, alert.updated, the
//! deliveries' state), syslog in CEF over UDP and TCP, and the devices seen.

use axum::http::{HeaderMap, StatusCode};
use iocd_server::auth::Role;
use iocd_server::config::Config;
use iocd_server::delivery::{SyslogConfig, SyslogTarget, signature};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{TestApi, indicator};

/// What the receiver got: headers and body of each request, in order.
#[derive(Default)]
struct Inbox {
    requests: Vec<(HeaderMap, Vec<u8>)>,
}

/// A webhook receiver on loopback that answers 500 to its first `failures` requests and 204
/// afterwards. Returns its URL and inbox.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Inbox>>) {
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let shared = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let mut inbox = shared.lock().unwrap();
                inbox.requests.push((headers, body.to_vec()));
                if inbox.requests.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hook"), inbox)
}

fn api_with(config_toml: &str) -> TestApi {
    let mut config = Config::from_toml(config_toml).unwrap();
    config.public_url = Some("http://iocd.test".to_owned());
    TestApi::with_config(config)
}

/// Posts an alerting indicator and an event that matches it; returns the alert id.
async fn raise_alert(api: &TestApi, value: &str) -> String {
    let admin = api.admin();
    let mut body = indicator(value, "DomainName", "Audit");
    body["generateAlert"] = json!(true);
    body["mitreTechniques"] = json!(["T1566"]);
    let created = api.post("/api/indicators", &admin, body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let event =
        json!({"DeviceId": "d1", "DeviceName": "pc1", "RemoteUrl": format!("http://{value}/")});
    let reply = api.post("/api/events", &sensor, json!([event])).await;
    reply.body["alerts"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no alert: {}", reply.text))
        .to_owned()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_retried_until_accepted_and_their_state_is_readable() {
    let api = api_with("[webhooks]\nretry_base_seconds = 1\nmax_attempts = 5");
    let analyst = api.token("tenant-a", Role::AlertReadWriteAll, "soar");
    let (url, inbox) = receiver(1).await;
    let created = api
        .post(
            "/api/webhooks",
            &analyst,
            json!({"url": url, "events": ["alert.created", "alert.updated"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        secret.len(),
        64,
        "a generated secret: 32 random bytes in hex"
    );
    let listed = api.get("/api/webhooks", &analyst).await;
    assert!(
        listed.body["value"][0].get("secret").is_none(),
        "never shown again"
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(iocd_server::delivery::run_webhooks(
        api.state.clone(),
        stopped,
    ));
    let alert_id = raise_alert(&api, "phish.example").await;
    let started = Instant::now();
    wait_for("the retry to be accepted", || {
        inbox.lock().unwrap().requests.len() >= 2
    })
    .await;
    let retried_after = started.elapsed();
    assert!(
        retried_after < Duration::from_secs(10),
        "first retry within a few seconds, took {retried_after:?}"
    );
    {
        let inbox = inbox.lock().unwrap();
        let (first_headers, first_body) = &inbox.requests[0];
        let (headers, body) = &inbox.requests[1];
        assert_eq!(first_body, body, "a retry posts the same alert");
        assert_eq!(
            headers["x-iocd-delivery"], first_headers["x-iocd-delivery"],
            "a retry keeps the delivery id"
        );
        assert_eq!(headers["x-iocd-event"], "alert.created");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["x-iocd-signature"].to_str().unwrap(),
            signature(&secret, body)
        );
        assert_ne!(
            headers["x-iocd-signature"].to_str().unwrap(),
            signature("another secret value", body)
        );
        let alert: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["id"], alert_id.as_str());
        assert_eq!(alert["indicatorValue"], "phish.example");
        assert_eq!(alert["mitreTechniques"], json!(["T1566"]));
    }
    let deliveries = api.get("/api/webhooks/1/deliveries", &analyst).await;
    let first = &deliveries.body["value"][0];
    assert_eq!(first["event"], "alert.created", "{}", deliveries.text);
    assert_eq!(first["alertId"], alert_id.as_str());

    // An analyst's change is delivered as alert.updated.
    let patched = api
        .send(
            "PATCH",
            &format!("/api/alerts/{alert_id}"),
            Some(&analyst),
            Some("application/json"),
            json!({"status": "InProgress", "comment": "on it"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    wait_for("the update", || inbox.lock().unwrap().requests.len() >= 3).await;
    {
        let inbox = inbox.lock().unwrap();
        let (headers, body) = &inbox.requests[2];
        assert_eq!(headers["x-iocd-event"], "alert.updated");
        let alert: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["status"], "InProgress");
        assert_eq!(alert["comments"][0]["comment"], "on it");
    }
    // The record: newest first; the first delivery took two attempts.
    let mut states = Value::Null;
    for _ in 0..100 {
        let reply = api.get("/api/webhooks/1/deliveries", &analyst).await;
        states = reply.body["value"].clone();
        if states
            .as_array()
            .is_some_and(|v| v.len() == 2 && v.iter().all(|d| d["state"] == "Delivered"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(states[0]["event"], "alert.updated", "{states}");
    assert_eq!(states[0]["attempts"], 1);
    assert_eq!(states[1]["state"], "Delivered");
    assert_eq!(states[1]["attempts"], 2);
    assert_eq!(states[1]["lastStatus"], 204);
    assert!(states[1]["deliveredDateTimeUtc"].is_string());
    let operator = api.token("tenant-a", Role::MetricsRead, "prometheus");
    let metrics = api.get("/metrics", &operator).await.text;
    for line in [
        "iocd_webhook_attempts_total{outcome=\"retry\"} 1",
        "iocd_webhook_attempts_total{outcome=\"delivered\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in\n{metrics}"
        );
    }
    let _ = stop.send(true);
    worker.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_that_never_succeeds_is_marked_failed_with_the_reason() {
    let api = api_with("[webhooks]\nretry_base_seconds = 1\nmax_attempts = 2");
    let analyst = api.token("tenant-a", Role::AlertReadWriteAll, "soar");
    let (url, inbox) = receiver(usize::MAX).await;
    let created = api
        .post(
            "/api/webhooks",
            &analyst,
            json!({"url": url, "secret": "a-shared-secret-0123", "events": ["alert.created"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(iocd_server::delivery::run_webhooks(
        api.state.clone(),
        stopped,
    ));
    raise_alert(&api, "never.example").await;
    let mut delivery = Value::Null;
    for _ in 0..200 {
        let reply = api.get("/api/webhooks/1/deliveries", &analyst).await;
        delivery = reply.body["value"][0].clone();
        if delivery["state"] == "Failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivery["state"], "Failed", "{delivery}");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["lastStatus"], 500);
    assert!(delivery["lastError"].as_str().unwrap().contains("500"));
    assert!(delivery["nextAttemptDateTimeUtc"].is_null());
    assert_eq!(inbox.lock().unwrap().requests.len(), 2);
    let _ = stop.send(true);
    worker.await.unwrap();
}

/// Splits an RFC 5424 message into its header fields and its text.
fn rfc5424_parts(message: &str) -> (Vec<&str>, &str) {
    let fields: Vec<&str> = message.splitn(8, ' ').collect();
    assert_eq!(fields.len(), 8, "{message}");
    (fields[..7].to_vec(), fields[7])
}

/// Splits a CEF line into its seven header fields and its extension's key-value pairs
/// (unescaping `\=`, `\\`, `\n`).
fn cef_parts(line: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut header = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars();
    while header.len() < 7 {
        match chars.next() {
            Some('\\') => current.push(chars.next().unwrap()),
            Some('|') => header.push(std::mem::take(&mut current)),
            Some(c) => current.push(c),
            None => panic!("a CEF line has seven header fields: {line}"),
        }
    }
    let rest: String = chars.collect();
    // Keys are the words before unescaped '='; a value runs to the next key.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut token = String::new();
    let mut chars = rest.chars().peekable();
    let mut key: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => token.push('\n'),
                Some('r') => token.push('\r'),
                Some(other) => token.push(other),
                None => {}
            },
            '=' => {
                // The key is the last word of what came before.
                let (value, new_key) = match token.rfind(' ') {
                    Some(at) => (token[..at].to_owned(), token[at + 1..].to_owned()),
                    None => (String::new(), token.clone()),
                };
                if let Some(k) = key.take() {
                    pairs.push((k, value));
                }
                key = Some(new_key);
                token.clear();
            }
            c => token.push(c),
        }
    }
    if let Some(k) = key {
        pairs.push((k, token));
    }
    (header, pairs)
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {pairs:?}"))
}

fn check_syslog_message(message: &str, alert_id: &str, event: &str) {
    let (header, cef) = rfc5424_parts(message);
    // <PRI>VERSION: facility local0 (16) × 8 + severity error (3) for a High alert.
    assert_eq!(header[0], "<131>1", "{message}");
    assert!(
        iocd_model::Timestamp::parse(header[1]).is_some(),
        "{}",
        header[1]
    );
    assert_eq!(header[2], "siem-test");
    assert_eq!(header[3], "iocd");
    assert!(header[4].parse::<u32>().is_ok(), "PROCID {}", header[4]);
    assert_eq!((header[5], header[6]), ("alert", "-"));
    let (cef_header, pairs) = cef_parts(cef);
    assert_eq!(cef_header[0], "CEF:0");
    assert_eq!(&cef_header[1..3], ["iocd", "iocd"]);
    assert_eq!(cef_header[4], event);
    assert_eq!(
        cef_header[5], "Phish | kit",
        "the pipe in the title escaped"
    );
    assert_eq!(cef_header[6], "8");
    assert_eq!(field(&pairs, "externalId"), alert_id);
    assert_eq!(field(&pairs, "deviceExternalId"), "d1");
    assert_eq!(field(&pairs, "dvchost"), "pc1");
    assert_eq!(field(&pairs, "act"), "Audit");
    assert_eq!(field(&pairs, "cs1"), "syslog.example");
    assert_eq!(field(&pairs, "cs1Label"), "indicatorValue");
    assert_eq!(field(&pairs, "cs3"), "tenant-a");
    assert_eq!(field(&pairs, "cs5"), "T1566");
    assert_eq!(
        field(&pairs, "msg"),
        "a=b\nsecond line",
        "equals sign and line break escaped"
    );
    assert_eq!(field(&pairs, "cnt"), "1");
}

async fn raise_syslog_alert(api: &TestApi) -> String {
    let admin = api.admin();
    let mut body = indicator("syslog.example", "DomainName", "Audit");
    body["generateAlert"] = json!(true);
    body["severity"] = json!("High");
    body["title"] = json!("Phish | kit");
    body["description"] = json!("a=b\nsecond line");
    body["mitreTechniques"] = json!(["T1566"]);
    let created = api.post("/api/indicators", &admin, body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let event =
        json!({"DeviceId": "d1", "DeviceName": "pc1", "RemoteUrl": "http://syslog.example/"});
    let reply = api.post("/api/events", &sensor, json!([event])).await;
    reply.body["alerts"][0].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_go_to_syslog_over_udp_as_cef() {
    let api = api_with("");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = SyslogConfig {
        target: SyslogTarget::Udp(socket.local_addr().unwrap().to_string()),
        facility: 16,
        hostname: "siem-test".into(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(iocd_server::delivery::run_syslog(
        api.state.clone(),
        config,
        stopped,
    ));
    // The output starts at the end of the outbox: let it take its position first.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let alert_id = raise_syslog_alert(&api).await;
    let mut buffer = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buffer))
        .await
        .expect("a datagram within ten seconds")
        .unwrap();
    let message = std::str::from_utf8(&buffer[..n]).unwrap();
    check_syslog_message(message, &alert_id, "alert.created");
    let _ = stop.send(true);
    worker.await.unwrap();
}

/// Reads one octet-counted message (RFC 6587) from `stream`.
async fn read_framed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no whole message");
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((length, rest)) = text.split_once(' ') {
            let length: usize = length.parse().expect("an octet count first");
            if rest.len() >= length {
                assert_eq!(rest.len(), length, "one message, exactly counted");
                return rest.to_owned();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_go_to_syslog_over_tcp_with_octet_counting_and_resume_where_they_stopped() {
    let api = api_with("");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = SyslogConfig {
        target: SyslogTarget::Tcp(listener.local_addr().unwrap().to_string()),
        facility: 16,
        hostname: "siem-test".into(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(iocd_server::delivery::run_syslog(
        api.state.clone(),
        config.clone(),
        stopped,
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let alert_id = raise_syslog_alert(&api).await;
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("a connection")
        .unwrap();
    check_syslog_message(&read_framed(&mut stream).await, &alert_id, "alert.created");
    let _ = stop.send(true);
    worker.await.unwrap();
    drop(stream);

    // While the output is stopped an analyst changes the alert; started again (as after a
    // restart), it sends what it missed.
    let analyst = api.token("tenant-a", Role::AlertReadWriteAll, "soar");
    let patched = api
        .send(
            "PATCH",
            &format!("/api/alerts/{alert_id}"),
            Some(&analyst),
            Some("application/json"),
            json!({"status": "Resolved"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(iocd_server::delivery::run_syslog(
        api.state.clone(),
        config,
        stopped,
    ));
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("a new connection")
        .unwrap();
    let message = read_framed(&mut stream).await;
    check_syslog_message(&message, &alert_id, "alert.updated");
    assert!(message.contains("cs4=Resolved"), "{message}");
    let _ = stop.send(true);
    worker.await.unwrap();
}

#[tokio::test]
async fn devices_seen_are_listed_with_their_group_and_times() {
    let api = TestApi::new();
    let admin = api.admin();
    let group = api
        .post(
            "/api/deviceGroups",
            &admin,
            json!({"name": "Kiosks", "rules": {"nameStartsWith": ["kiosk-"]}}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text);
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let ask = |device: Value| json!({"device": device, "observables": [{"type": "DomainName", "value": "x.example"}]});
    for body in [
        ask(json!({"id": "k1", "name": "kiosk-7", "os": "Windows11", "tags": ["lobby"]})),
        ask(json!({"id": "k1", "name": "kiosk-7"})),
        ask(json!({"id": "f1", "groups": ["Kiosks"]})),
        ask(json!({"groups": ["Kiosks"]})),
    ] {
        let reply = api.post("/api/match", &sensor, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let events = api
        .post(
            "/api/events",
            &sensor,
            json!([{"DeviceId": "e1", "DeviceName": "pc-9", "RemoteIP": "203.0.113.1"}]),
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    // Nothing is written until the flush.
    let reader = api.token("tenant-a", Role::MachineReadAll, "inventory");
    assert_eq!(
        api.get("/api/machines", &reader).await.body["value"],
        json!([])
    );
    assert_eq!(api.state.service().flush_devices().unwrap(), 3);
    let listed = api.get("/api/machines?$count=true", &reader).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["@odata.count"], 3);
    let by_id = |id: &str| {
        listed.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {}", listed.text))
    };
    let kiosk = by_id("k1");
    assert_eq!(kiosk["computerDnsName"], "kiosk-7");
    assert_eq!(kiosk["osPlatform"], "Windows11", "kept when not said again");
    assert_eq!(kiosk["machineTags"], json!(["lobby"]));
    assert_eq!(kiosk["rbacGroupName"], "Kiosks");
    assert_eq!(kiosk["rbacGroupId"], group.body["id"]);
    assert_eq!(by_id("f1")["rbacGroupName"], "Kiosks");
    let event_device = by_id("e1");
    assert_eq!(event_device["computerDnsName"], "pc-9");
    assert_eq!(event_device["rbacGroupId"], 0, "the default group");
    assert!(event_device["lastSeen"].is_string());
    // Paging and the single device; another tenant sees none of them.
    let page = api.get("/api/devices?$top=2", &reader).await;
    assert_eq!(page.body["value"].as_array().unwrap().len(), 2);
    assert!(
        page.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("skip=2")
    );
    let one = api.get("/api/machines/k1", &reader).await;
    assert_eq!(one.body["id"], "k1");
    let outsider = api.token("tenant-b", Role::MachineReadAll, "other");
    assert_eq!(
        api.get("/api/machines", &outsider).await.body["value"],
        json!([])
    );
    assert_eq!(
        api.get("/api/machines/k1", &outsider).await.status,
        StatusCode::NOT_FOUND
    );
}
