//! Several `iocd serve` processes on one PostgreSQL database (the machine's, or the server
//! `IOCD_TEST_POSTGRES` names; each test makes and drops a database of its own): a write on one
//! node is enforced by the other, a delete on the other is gone from the first, a node that lost
//! its listening connection catches up, a node killed with `kill -9` and started again after
//! missing changes enforces them, every node serves the same tokens, the leader-only sweeper
//! moves when its node dies, a feed added or asked to run on any node is run by the leader and
//! its status and a TAXII POST's status read the same on every node, and device events consumed from NATS JetStream (127.0.0.1:4222,
//! streams named for the test) are neither lost nor turned into duplicate alerts when a
//! consuming node is killed.

mod common;

use common::{Server, database, token_for};
use iocd_store::scratch::ScratchDatabase;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn node(db: &ScratchDatabase, dir: &tempfile::TempDir) -> Server {
    Server::start_with(dir.path(), &["--store", db.url()])
}

fn token(db: &ScratchDatabase) -> String {
    token_for(
        "contoso",
        &["Ti.ReadWrite.All"],
        "nodes",
        &["--store", db.url()],
    )
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The action `server` decides for `domain` now (`None`: nothing matches).
fn verdict(server: &Server, token: &str, domain: &str) -> Option<String> {
    let answer: Value = client()
        .post(server.url("/api/match"))
        .bearer_auth(token)
        .json(&json!({"device": {"id": "d1"}, "observables": [{"type": "DomainName", "value": domain}]}))
        .send()
        .expect("match")
        .json()
        .expect("match answer");
    answer["value"][0]["action"].as_str().map(str::to_owned)
}

/// Waits until `done` holds (asked every 5 ms, for at most 10 seconds); `what` names it when
/// it never does.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `server` decides `expected` for `domain`; how long that took.
fn until_verdict(server: &Server, token: &str, domain: &str, expected: Option<&str>) -> Duration {
    let start = Instant::now();
    loop {
        if verdict(server, token, domain).as_deref() == expected {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never decided {expected:?} for {domain}",
            server.base
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn submit(server: &Server, token: &str, domain: &str) -> Value {
    let response = client()
        .post(server.url("/api/indicators"))
        .bearer_auth(token)
        .json(&json!({"indicatorValue": domain, "indicatorType": "DomainName", "action": "Block", "title": "t", "description": "d"}))
        .send()
        .expect("submit");
    assert_eq!(response.status(), 200);
    response.json().expect("indicator")
}

fn ready(server: &Server) -> Value {
    client()
        .get(server.url("/readyz"))
        .send()
        .expect("readyz")
        .json()
        .expect("readiness")
}

#[test]
fn two_nodes_serve_one_store_interchangeably() {
    let db = database();
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = node(&db, &dir_a);
    let mut b = node(&db, &dir_b);
    let token = token(&db);
    assert_eq!(ready(&a)["store"], "postgres");

    // Written on A, enforced on B; deleted on B, gone from A.
    let created = submit(&a, &token, "one.example");
    let took = until_verdict(&b, &token, "one.example", Some("Block"));
    assert!(
        took < Duration::from_secs(2),
        "B enforced A's write after {took:?}"
    );
    let id = created["id"].as_str().expect("id");
    let deleted = client()
        .delete(b.url(&format!("/api/indicators/{id}")))
        .bearer_auth(&token)
        .send()
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    until_verdict(&a, &token, "one.example", None);

    // A Warn bypass recorded through A is honoured by B for that device.
    let response = client()
        .post(a.url("/api/indicators"))
        .bearer_auth(&token)
        .json(&json!({"indicatorValue": "warned.example", "indicatorType": "DomainName", "action": "Warn", "title": "t", "description": "d"}))
        .send()
        .expect("submit");
    let warned: Value = response.json().expect("indicator");
    until_verdict(&b, &token, "warned.example", Some("Warn"));
    let bypassed = client()
        .post(a.url("/api/match/bypass"))
        .bearer_auth(&token)
        .json(&json!({"device": {"id": "d1"}, "indicatorId": warned["id"], "user": "ana"}))
        .send()
        .expect("bypass");
    assert_eq!(bypassed.status(), 200);
    until_verdict(&b, &token, "warned.example", Some("Allowed"));

    // A device group's rules changed on A place devices on B, though no indicator changed.
    let group: Value = client()
        .post(a.url("/api/deviceGroups"))
        .bearer_auth(&token)
        .json(&json!({"name": "Servers", "rules": {"nameStartsWith": ["web"]}}))
        .send()
        .expect("create group")
        .json()
        .expect("group");
    let scoped = client()
        .post(a.url("/api/indicators"))
        .bearer_auth(&token)
        .json(&json!({"indicatorValue": "scoped.example", "indicatorType": "DomainName", "action": "Block",
            "title": "t", "description": "d", "rbacGroupNames": ["Servers"]}))
        .send()
        .expect("submit");
    assert_eq!(scoped.status(), 200);
    let on_device = |server: &Server, name: &str| -> Option<String> {
        let answer: Value = client()
            .post(server.url("/api/match"))
            .bearer_auth(&token)
            .json(&json!({"device": {"id": name, "name": name},
                "observables": [{"type": "DomainName", "value": "scoped.example"}]}))
            .send()
            .expect("match")
            .json()
            .expect("match answer");
        answer["value"][0]["action"].as_str().map(str::to_owned)
    };
    eventually("B never scoped web1", || {
        on_device(&b, "web1").as_deref() == Some("Block")
    });
    assert_eq!(on_device(&b, "db1"), None);
    let changed = client()
        .patch(a.url(&format!("/api/deviceGroups/{}", group["id"])))
        .bearer_auth(&token)
        .json(&json!({"rules": {"nameStartsWith": ["db"]}}))
        .send()
        .expect("change group");
    assert_eq!(changed.status(), 200);
    eventually("B never saw the group's new rules", || {
        on_device(&b, "db1").as_deref() == Some("Block")
    });
    assert_eq!(on_device(&b, "web1"), None);

    // A bulk load on B (applied after the answer) reaches A.
    let lines: String = (0..3_000)
        .map(|n| format!("{}\n", json!({"indicatorValue": format!("bulk{n}.example"), "indicatorType": "DomainName", "action": "Warn", "title": "t", "description": "d"})))
        .collect();
    let loaded: Value = client()
        .post(b.url("/api/indicators/bulk"))
        .bearer_auth(&token)
        .header("Content-Type", "application/x-ndjson")
        .body(lines)
        .send()
        .expect("bulk")
        .json()
        .expect("bulk answer");
    assert_eq!(loaded["created"], 3_000, "failed: {}", loaded["failed"]);
    until_verdict(&a, &token, "bulk2999.example", Some("Warn"));

    // B's listening connection is cut: it reconnects and reads on from its watermark.
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .expect("cut the listening connection");
    submit(&a, &token, "after-cut.example");
    until_verdict(&b, &token, "after-cut.example", Some("Block"));

    // B is killed; A writes while it is down; B started again enforces what it missed.
    b.child.kill().expect("kill -9");
    b.child.wait().expect("reap");
    submit(&a, &token, "missed.example");
    let b = node(&db, &dir_b);
    assert_eq!(
        verdict(&b, &token, "missed.example").as_deref(),
        Some("Block")
    );
    let readiness = ready(&b);
    assert_eq!(readiness["ready"], true, "{readiness}");
    // Both nodes list the same indicators.
    let count = |server: &Server| -> usize {
        let page: Value = client()
            .get(server.url("/api/indicators?$top=10000"))
            .bearer_auth(&token)
            .send()
            .expect("list")
            .json()
            .expect("page");
        page["value"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(count(&a), count(&b));
    assert_eq!(count(&a), 3_004);
}

/// Waits until `pick` finds one of `servers` leading; its index.
fn leader_among(servers: &[&Server]) -> usize {
    let start = Instant::now();
    loop {
        let leading: Vec<usize> = servers
            .iter()
            .enumerate()
            .filter(|(_, server)| ready(server)["leader"] == true)
            .map(|(index, _)| index)
            .collect();
        assert!(leading.len() <= 1, "two leaders at once: {leading:?}");
        if let [one] = leading[..] {
            return one;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no node took the lead"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_sweeper_runs_on_one_node_and_moves_when_the_leader_dies() {
    let db = database();
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let mut nodes = vec![node(&db, &dirs[0]), node(&db, &dirs[1])];
    let token = token(&db);
    let first = leader_among(&[&nodes[0], &nodes[1]]);
    // The leader dies; the other node takes the lead.
    let mut dead = nodes.remove(first);
    dead.child.kill().expect("kill -9");
    dead.child.wait().expect("reap");
    let survivor = &nodes[0];
    assert_eq!(leader_among(&[survivor]), 0);
    // An indicator that expires in two seconds is swept by the new leader.
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let expiry = expires
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let created: Value = client()
        .post(survivor.url("/api/indicators"))
        .bearer_auth(&token)
        .json(&json!({"indicatorValue": "brief.example", "indicatorType": "DomainName", "action": "Block",
            "title": "t", "description": "d", "expirationTime": expiry}))
        .send()
        .expect("submit")
        .json()
        .expect("indicator");
    let id = created["id"].as_str().expect("id").to_owned();
    let start = Instant::now();
    loop {
        let history: Value = client()
            .get(survivor.url(&format!("/api/indicators/{id}/history")))
            .bearer_auth(&token)
            .send()
            .expect("history")
            .json()
            .expect("history answer");
        let swept = history["value"]
            .as_array()
            .is_some_and(|entries| entries.iter().any(|e| e["operation"] == "expire"));
        if swept {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never swept: {history}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A plain-list feed source: answers every request with the lines `list` holds then.
fn list_source(list: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/list.txt",
        listener.local_addr().expect("address")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let body = list.lock().expect("list").clone();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// The feed `name` as `GET /api/feeds` on `server` shows it.
fn feed_status(server: &Server, token: &str, name: &str) -> Value {
    let feeds: Value = client()
        .get(server.url("/api/feeds"))
        .bearer_auth(token)
        .send()
        .expect("feeds")
        .json()
        .expect("feeds answer");
    feeds["value"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no feed {name} on {}: {feeds}", server.base))
}

/// Waits until `done` holds for the feed's status on `server`.
fn until_feed(server: &Server, token: &str, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let status = feed_status(server, token, name);
        if done(&status) {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "feed {name} on {} never got there: {status}",
            server.base
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn feed_runs_and_taxii_statuses_look_the_same_from_every_node() {
    let db = database();
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let nodes = [node(&db, &dirs[0]), node(&db, &dirs[1])];
    let token = token(&db);
    let leader = leader_among(&[&nodes[0], &nodes[1]]);
    let (leading, following) = (&nodes[leader], &nodes[1 - leader]);

    // A feed added on the follower is run by the leader; both nodes show the run.
    let list = std::sync::Arc::new(std::sync::Mutex::new(
        "first.feed.example\nsecond.feed.example\n".to_owned(),
    ));
    let url = list_source(list.clone());
    let created = client()
        .post(following.url("/api/feeds"))
        .bearer_auth(&token)
        .json(&json!({"name": "shared", "kind": "list", "url": url, "interval_minutes": 1440, "action": "Block"}))
        .send()
        .expect("create feed");
    assert_eq!(
        created.status(),
        201,
        "{}",
        created.text().unwrap_or_default()
    );
    let first = until_feed(following, &token, "shared", |f| {
        f["lastSuccess"].is_string()
    });
    assert_eq!(first["written"], 2, "{first}");
    assert_eq!(feed_status(leading, &token, "shared"), first);
    until_verdict(following, &token, "second.feed.example", Some("Block"));

    // Asked to run again on the follower: the leader runs it (its interval is a day).
    *list.lock().expect("list") += "third.feed.example\n";
    let requested = client()
        .post(following.url("/api/feeds/shared/run"))
        .bearer_auth(&token)
        .send()
        .expect("run feed");
    assert_eq!(requested.status(), 202);
    let second = until_feed(leading, &token, "shared", |f| {
        f["lastRunStart"] != first["lastRunStart"] && f["running"] == false
    });
    assert_eq!(second["written"], 3, "{second}");
    assert_eq!(feed_status(following, &token, "shared"), second);
    until_verdict(following, &token, "third.feed.example", Some("Block"));

    // A TAXII POST taken by one node has a status the other node answers for.
    let collection = "/taxii2/iocd/collections/4f1b5e0a-6c2d-4e8f-9a1b-2c3d4e5f6a7b/objects/";
    let taxii = "application/taxii+json;version=2.1";
    let indicator = json!({"type": "indicator", "spec_version": "2.1",
        "id": "indicator--6b3a9b0e-2f57-4c8e-9d4a-5c1f2e3d4b5a",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[domain-name:value = 'taxii.nodes.example']", "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z", "indicator_types": ["malicious-activity"],
        "x_iocd_action": "Block"});
    let posted = client()
        .post(leading.url(collection))
        .bearer_auth(&token)
        .header("Accept", taxii)
        .header("Content-Type", taxii)
        .body(json!({"objects": [indicator]}).to_string())
        .send()
        .expect("TAXII POST");
    assert_eq!(posted.status(), 202);
    let status: Value = posted.json().expect("status");
    assert_eq!(status["success_count"], 1, "{status}");
    let id = status["id"].as_str().expect("status id");
    let again = client()
        .get(following.url(&format!("/taxii2/iocd/status/{id}/")))
        .bearer_auth(&token)
        .header("Accept", taxii)
        .send()
        .expect("TAXII status");
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().expect("status"), status);
    until_verdict(following, &token, "taxii.nodes.example", Some("Block"));
}

fn alert_count(server: &Server, token: &str) -> usize {
    let page: Value = client()
        .get(server.url("/api/alerts?$top=10000"))
        .bearer_auth(token)
        .send()
        .expect("alerts")
        .json()
        .expect("alerts page");
    page["value"].as_array().map_or(0, Vec::len)
}

#[test]
fn events_through_jetstream_survive_a_killed_node_without_loss_or_duplicate_alerts() {
    use futures_util::StreamExt;
    const EVENTS: usize = 300;
    let db = database();
    let prefix = format!("iocdtest{}", std::process::id());
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let config = dirs[0].path().join("bus.toml");
    std::fs::write(
        &config,
        format!("events_prefix = \"{prefix}\"\nevents_ack_wait_seconds = 2\n"),
    )
    .expect("config");
    let config = config.to_str().expect("path").to_owned();
    let start = |dir: &tempfile::TempDir| {
        Server::start_with(
            dir.path(),
            &[
                "--store",
                db.url(),
                "--events",
                "nats://127.0.0.1:4222",
                "--config",
                &config,
            ],
        )
    };
    let a = start(&dirs[0]);
    let mut b = start(&dirs[1]);
    let token = token_for(
        "contoso",
        &["Ti.ReadWrite.All", "Alert.ReadWrite.All"],
        "bus",
        &["--store", db.url()],
    );
    let response = client()
        .post(a.url("/api/indicators"))
        .bearer_auth(&token)
        .json(&json!({"indicatorValue": "hit.example", "indicatorType": "DomainName", "action": "Audit",
            "generateAlert": true, "title": "Watch", "description": "d"}))
        .send()
        .expect("submit");
    assert_eq!(response.status(), 200);
    until_verdict(&b, &token, "hit.example", Some("Audit"));

    // NATS work runs on a runtime of its own (the rest of the test uses blocking clients).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let js = runtime.block_on(async {
        let nats = async_nats::connect("127.0.0.1:4222")
            .await
            .expect("NATS must answer on 127.0.0.1:4222");
        async_nats::jetstream::new(nats)
    });
    // The nodes make the streams when they start.
    runtime.block_on(async {
        let begun = Instant::now();
        while js.get_stream(format!("{prefix}_events")).await.is_err() {
            assert!(
                begun.elapsed() < Duration::from_secs(20),
                "no node made the events stream"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let publish = |from: usize, to: usize| {
        runtime.block_on(async {
            for n in from..to {
                let event = json!({"DeviceId": format!("dev-{n}"), "DeviceName": format!("pc-{n}"), "RemoteUrl": "https://hit.example/login"});
                js.publish(format!("{prefix}.events.contoso"), event.to_string().into())
                    .await
                    .expect("publish")
                    .await
                    .expect("stored by JetStream");
            }
        })
    };
    publish(0, EVENTS / 2);
    // B dies in the middle of the stream, possibly holding unacknowledged events.
    b.child.kill().expect("kill -9");
    b.child.wait().expect("reap");
    // The rest through POST /api/events on A, which publishes them to JetStream.
    let lines: String = (EVENTS / 2..EVENTS)
        .map(|n| format!("{}\n", json!({"DeviceId": format!("dev-{n}"), "DeviceName": format!("pc-{n}"), "RemoteUrl": "https://hit.example/login"})))
        .collect();
    let sensor = token_for(
        "contoso",
        &["Events.Write"],
        "sensor",
        &["--store", db.url()],
    );
    let queued = client()
        .post(a.url("/api/events"))
        .bearer_auth(&sensor)
        .header("Content-Type", "application/x-ndjson")
        .body(lines)
        .send()
        .expect("post events");
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().expect("queued");
    assert_eq!(queued["queued"], (EVENTS - EVENTS / 2) as u64, "{queued}");

    // Every event raises the alert of its own device: all of them, once each.
    let begun = Instant::now();
    while alert_count(&a, &token) < EVENTS {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "{} of {EVENTS} alerts after a minute",
            alert_count(&a, &token)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Redeliveries after the ack wait add no alert.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(alert_count(&a, &token), EVENTS, "an alert was duplicated");
    let (alerts_published, events_left) = runtime.block_on(async {
        let mut alerts = js
            .get_stream(format!("{prefix}_alerts"))
            .await
            .expect("alerts stream");
        let mut events = js
            .get_stream(format!("{prefix}_events"))
            .await
            .expect("events stream");
        let published = alerts.info().await.expect("info").state.messages;
        let left = events.info().await.expect("info").state.messages;
        // Read the alerts stream back: one message per alert, each a different alert id.
        let consumer = alerts
            .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
            .await
            .expect("reader");
        let mut ids = std::collections::HashSet::new();
        let mut batch = consumer
            .fetch()
            .max_messages(EVENTS + 10)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .expect("fetch");
        while let Some(message) = batch.next().await {
            let message = message.expect("message");
            let alert: Value = serde_json::from_slice(&message.payload).expect("alert JSON");
            assert!(
                ids.insert(alert["id"].as_str().expect("id").to_owned()),
                "alert {} published twice",
                alert["id"]
            );
        }
        assert_eq!(ids.len(), EVENTS);
        js.delete_stream(format!("{prefix}_events"))
            .await
            .expect("delete");
        js.delete_stream(format!("{prefix}_alerts"))
            .await
            .expect("delete");
        (published, left)
    });
    assert_eq!(alerts_published, EVENTS as u64, "alerts published");
    assert_eq!(events_left, 0, "every event acknowledged");
}

/// A node cut off while the log was pruned past its watermark says it is not ready (it
/// missed changes it can no longer read); started again, it loads a snapshot and is ready.
#[test]
fn a_node_that_missed_pruned_changes_is_not_ready_until_restarted() {
    let db = database();
    let dir = tempfile::tempdir().expect("dir");
    let mut a = node(&db, &dir);
    let token = token(&db);
    submit(&a, &token, "before.example");
    eventually("never ready", || ready(&a)["ready"] == true);
    // As if the leader had pruned entries this node never read while it was cut off.
    db.execute(
        "UPDATE change_log_state SET pruned_through = (SELECT max(seq) FROM changes) + 1000;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .expect("prune and cut");
    eventually("never noticed the pruned changes", || {
        ready(&a)["missedChanges"] == true
    });
    assert_eq!(ready(&a)["ready"], false);
    let answer = client().get(a.url("/readyz")).send().expect("readyz");
    assert_eq!(answer.status(), 503);
    a.child.kill().expect("kill");
    a.child.wait().expect("reap");
    let a = node(&db, &dir);
    eventually("not ready after a restart", || ready(&a)["ready"] == true);
    assert_eq!(
        verdict(&a, &token, "before.example").as_deref(),
        Some("Block")
    );
}
