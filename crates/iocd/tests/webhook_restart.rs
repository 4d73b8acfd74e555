//! A webhook delivery survives `kill -9` of the real server: the alert is committed with its
//! delivery queued, the receiver refuses the first attempt, the server is killed before the
//! retry, and after a restart the delivery arrives, signed, and is recorded as delivered.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{Server, token};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    accepted: bool,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 webhook receiver: answers 503 while `accept` is false, 200 after.
fn receiver(accept: Arc<AtomicBool>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let shared = inbox.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let accepted = accept.load(Ordering::SeqCst);
            shared.lock().unwrap().push(Received {
                headers,
                body,
                accepted,
            });
            let status = if accepted {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (url, inbox)
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_pending_delivery_is_made_after_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = dir.path().join("iocd.toml");
    // A long first retry, so the kill surely falls between the refusal and the retry.
    std::fs::write(&config, "[webhooks]\nretry_base_seconds = 3\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let accept = Arc::new(AtomicBool::new(false));
    let (url, inbox) = receiver(accept.clone());

    let mut server = Server::start_with(&data_dir, &["--config", config_arg]);
    let admin = token(&data_dir, "Ti.ReadWrite.All");
    let analyst = token(&data_dir, "Alert.ReadWrite.All");
    let sensor = token(&data_dir, "Events.Write");
    let client = reqwest::blocking::Client::new();
    let created: Value = client
        .post(server.url("/api/webhooks"))
        .bearer_auth(&analyst)
        .json(&json!({"url": url, "secret": "restart-test-secret-0123"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let webhook_id = created["id"].as_i64().expect("a webhook id");
    let indicator = client
        .post(server.url("/api/indicators"))
        .bearer_auth(&admin)
        .json(
            &json!({"indicatorValue": "kill.example", "indicatorType": "DomainName",
            "action": "Audit", "generateAlert": true, "title": "t", "description": "d"}),
        )
        .send()
        .unwrap();
    assert_eq!(indicator.status(), 200);
    let events: Value = client
        .post(server.url("/api/events"))
        .bearer_auth(&sensor)
        .json(&json!([{"DeviceId": "d1", "RemoteUrl": "http://kill.example/"}]))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let alert_id = events["alerts"][0].as_str().expect("an alert").to_owned();

    // The first attempt is refused; kill -9 before the retry.
    wait_until("the first attempt", Duration::from_secs(20), || {
        !inbox.lock().unwrap().is_empty()
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(inbox.lock().unwrap().len(), 1, "no retry before the kill");
    accept.store(true, Ordering::SeqCst);

    let server = Server::start_with(&data_dir, &["--config", config_arg]);
    wait_until(
        "the delivery after the restart",
        Duration::from_secs(30),
        || inbox.lock().unwrap().iter().any(|r| r.accepted),
    );
    let received = inbox.lock().unwrap().clone();
    let delivered = received.iter().find(|r| r.accepted).unwrap();
    assert_eq!(
        delivered.header("x-iocd-signature"),
        Some(
            iocd_server::delivery::signature("restart-test-secret-0123", &delivered.body).as_str()
        )
    );
    assert_eq!(
        delivered.header("x-iocd-delivery"),
        received[0].header("x-iocd-delivery"),
        "the same delivery, tried again"
    );
    let alert: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(alert["id"], alert_id.as_str());

    let mut state = Value::Null;
    wait_until(
        "the delivery to be recorded",
        Duration::from_secs(10),
        || {
            let listed: Value = client
                .get(server.url(&format!("/api/webhooks/{webhook_id}/deliveries")))
                .bearer_auth(&analyst)
                .send()
                .unwrap()
                .json()
                .unwrap();
            state = listed["value"][0].clone();
            state["state"] == "Delivered"
        },
    );
    assert_eq!(state["attempts"], 2, "{state}");
    assert_eq!(state["lastStatus"], 200);
}
