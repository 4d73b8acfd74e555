//! `POST /api/match` through the router: writes are matched at once, deletes stop matching,
//! scope, files with several hashes, the investigation verdict, errors and tenancy.

use axum::http::StatusCode;
use iocd_server::auth::Role;
use serde_json::{Value, json};

mod common;
use common::{TestApi, indicator};

const SHA256: &str = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
const SHA1: &str = "00112233445566778899aabbccddeeff00112233";

async fn submit(api: &TestApi, token: &str, body: Value) -> String {
    let reply = api.post("/api/indicators", token, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// Loads NDJSON indicators through the bulk endpoint and checks the request succeeded.
async fn bulk_load(api: &TestApi, token: &str, ndjson: String) {
    let reply = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(token),
            Some("application/x-ndjson"),
            ndjson.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

async fn match_one(api: &TestApi, token: &str, groups: &[&str], observable: Value) -> Value {
    let reply = api
        .post(
            "/api/match",
            token,
            json!({"device": {"id": "d1", "groups": groups}, "observables": [observable]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["deviceId"], "d1");
    reply.body["value"][0].clone()
}

#[tokio::test]
async fn a_write_is_matched_at_once_and_a_delete_stops_it() {
    let api = TestApi::new();
    let admin = api.admin();
    let url = json!({"type": "Url", "value": "http://a.example.com/x/y"});
    let before = match_one(&api, &admin, &[], url.clone()).await;
    assert_eq!(before["action"], Value::Null);
    assert_eq!(before["indicatorId"], Value::Null);
    assert_eq!(before["matched"], json!([]));

    let domain = submit(
        &api,
        &admin,
        indicator("example.com", "DomainName", "Allowed"),
    )
    .await;
    let path = submit(
        &api,
        &admin,
        indicator("http://a.example.com/x", "Url", "Block"),
    )
    .await;
    let after = match_one(&api, &admin, &[], url.clone()).await;
    assert_eq!(after["action"], "Block", "{after}");
    assert_eq!(after["indicatorId"], path);
    assert_eq!(after["rule"], "longest-match");
    assert_eq!(after["matched"], json!([path, domain]));
    assert_eq!(after["blocks"], true);
    assert_eq!(after["explanation"][1]["indicatorType"], "DomainName");
    assert_eq!(after["isFailed"], false);

    let reply = api
        .send(
            "DELETE",
            &format!("/api/indicators/{path}"),
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let deleted = match_one(&api, &admin, &[], url).await;
    assert_eq!(deleted["action"], "Allowed");
    assert_eq!(deleted["matched"], json!([domain]));
    assert_eq!(deleted["rule"], "only-match");
}

#[tokio::test]
async fn updates_replace_the_matched_version_and_expiry_stops_matching() {
    let api = TestApi::new();
    let admin = api.admin();
    let observable = json!({"type": "IpAddress", "value": "198.51.100.7"});
    let mut body = indicator("198.51.100.7", "IpAddress", "Block");
    let id = submit(&api, &admin, body.clone()).await;
    // Same key (type, value, action): an update, now scoped to a group the device is not in.
    body["rbacGroupNames"] = json!(["Finance"]);
    assert_eq!(submit(&api, &admin, body.clone()).await, id);
    assert_eq!(
        match_one(&api, &admin, &["HR"], observable.clone()).await["action"],
        Value::Null
    );
    assert_eq!(
        match_one(&api, &admin, &["finance"], observable.clone()).await["action"],
        "Block"
    );

    let expiring = indicator("203.0.113.9", "IpAddress", "Block");
    let mut expiring = expiring;
    let soon = api.state.now().plus_seconds(5).to_mde_seconds();
    expiring["expirationTime"] = json!(soon);
    submit(&api, &admin, expiring).await;
    let seen = json!({"type": "IpAddress", "value": "203.0.113.9"});
    assert_eq!(
        match_one(&api, &admin, &[], seen.clone()).await["action"],
        "Block"
    );
    api.state.advance_clock(5);
    assert_eq!(
        match_one(&api, &admin, &[], seen).await["action"],
        Value::Null
    );
}

#[tokio::test]
async fn a_file_with_several_hashes_uses_the_strongest() {
    let api = TestApi::new();
    let admin = api.admin();
    let sha1 = submit(&api, &admin, indicator(SHA1, "FileSha1", "Allowed")).await;
    let sha256 = submit(&api, &admin, indicator(SHA256, "FileSha256", "Block")).await;
    let file = json!({"type": "File", "sha256": SHA256.to_uppercase(), "sha1": SHA1, "detectorVerdict": "Clean"});
    let verdict = match_one(&api, &admin, &[], file).await;
    assert_eq!(verdict["action"], "Block", "{verdict}");
    assert_eq!(verdict["indicatorId"], sha256);
    assert_eq!(verdict["rule"], "strongest-hash");
    assert_eq!(verdict["matched"], json!([sha256, sha1]));
    assert_eq!(verdict["investigationVerdict"], "Malicious");
    assert_eq!(verdict["sha256"], SHA256.to_uppercase());

    let only_sha1 = json!({"type": "FileSha1", "value": SHA1, "detectorVerdict": "Malicious"});
    let verdict = match_one(&api, &admin, &[], only_sha1).await;
    assert_eq!(verdict["action"], "Allowed");
    assert_eq!(verdict["investigationVerdict"], "Clean");
}

#[tokio::test]
async fn results_follow_request_order_and_bad_values_fail_only_their_item() {
    let api = TestApi::new();
    let admin = api.admin();
    submit(&api, &admin, indicator("example.com", "DomainName", "Warn")).await;
    let reply = api
        .post(
            "/api/match",
            &admin,
            json!({"observables": [
                {"type": "DomainName", "value": "www.example.com"},
                {"type": "Url", "value": "not a url"},
                {"type": "FileMd5", "value": "xyz"},
                {"type": "DomainName", "value": "badexample.com"},
            ]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let results = reply.body["value"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["action"], "Warn");
    assert_eq!(results[1]["isFailed"], true);
    assert!(
        results[1]["failureReason"]
            .as_str()
            .unwrap()
            .contains("URL")
    );
    assert_eq!(results[2]["isFailed"], true);
    assert_eq!(results[3]["action"], Value::Null);
    assert_eq!(results[3]["isFailed"], false);
}

#[tokio::test]
async fn malformed_requests_are_400_with_the_item_named() {
    let api = TestApi::new();
    let admin = api.admin();
    let cases = [
        (json!({}), "observables"),
        (
            json!({"observables": [{"type": "Banana", "value": "x"}]}),
            "observables[0]",
        ),
        (json!({"observables": [{"type": "Url"}]}), "observables[0]"),
        (json!({"observables": [{"type": "File"}]}), "observables[0]"),
        (
            json!({"observables": [{"type": "Url", "value": "http://a/"}, {"type": "Url", "value": "http://a/", "detectorVerdict": "Evil"}]}),
            "observables[1]",
        ),
    ];
    for (body, named) in cases {
        let reply = api.post("/api/match", &admin, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.body["error"]["code"], "InvalidRequestBody", "{body}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    let too_many: Vec<Value> = (0..10_001)
        .map(|_| json!({"type": "IpAddress", "value": "192.0.2.1"}))
        .collect();
    let reply = api
        .post("/api/match", &admin, json!({"observables": too_many}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"]["code"], "MaximumBatchSizeExceeded");
}

#[tokio::test]
async fn matching_needs_a_token_and_never_crosses_tenants() {
    let api = TestApi::new();
    let admin = api.admin();
    submit(
        &api,
        &admin,
        indicator("example.com", "DomainName", "Block"),
    )
    .await;
    let body = json!({"observables": [{"type": "DomainName", "value": "example.com"}]});
    let reply = api
        .send(
            "POST",
            "/api/match",
            None,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    let other_tenant = api.token("tenant-b", Role::ReadAll, "reader");
    let reply = api.post("/api/match", &other_tenant, body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["value"][0]["action"], Value::Null);

    let metrics_only = api.token("tenant-a", Role::MetricsRead, "ops");
    let reply = api.post("/api/match", &metrics_only, body).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn matchers_are_loaded_from_the_store_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iocd.db");
    let config = iocd_server::config::Config::for_profile(iocd_server::config::Profile::Default);
    {
        let store = iocd_store::SqliteStore::open(&path).unwrap();
        let spec = iocd_store::conformance::spec("DomainName", "example.com", "Block", json!({}));
        iocd_store::IndicatorStore::upsert_batch(
            &store,
            "tenant-a",
            &iocd_store::conformance::actor("loader"),
            &[spec],
            &iocd_store::WriteContext {
                now: iocd_model::Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc()),
                visibility: iocd_store::Visibility::All,
                max_active: None,
            },
        )
        .unwrap();
    }
    let store = iocd_store::SqliteStore::open(&path).unwrap();
    let state = iocd_server::AppState::new(
        std::sync::Arc::new(store),
        config,
        iocd_server::auth::SigningKey::from_bytes([42; 32]),
        iocd_server::auth::issuer::IssuerKey::ephemeral().unwrap(),
    )
    .unwrap();
    let snapshot = state.service().snapshot("tenant-a");
    assert_eq!(snapshot.base_len(), 1);
    let verdict = snapshot.evaluate(
        &iocd_engine::Observable::parse(iocd_engine::ObservableKind::DomainName, "x.example.com")
            .unwrap(),
        &iocd_engine::Device::default(),
        iocd_model::Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc()),
    );
    assert_eq!(verdict.action(), Some(iocd_model::Action::Block));
}

#[tokio::test]
async fn imports_and_bulk_loads_are_matched() {
    let api = TestApi::new();
    let admin = api.admin();
    let reply = api
        .post(
            "/api/indicators/import",
            &admin,
            json!({"Indicators": [
                indicator("imported.example", "DomainName", "Block"),
                indicator("192.0.2.0/24", "IpAddress", "Warn"),
            ]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let ndjson: String = (0..3)
        .map(|i| {
            format!(
                "{}\n",
                indicator(&format!("bulk{i}.example"), "DomainName", "Audit")
                    .to_string()
                    .replace(
                        "\"action\":\"Audit\"",
                        "\"action\":\"Audit\",\"generateAlert\":true"
                    )
            )
        })
        .collect();
    bulk_load(&api, &admin, ndjson).await;
    let expectations = [
        ("DomainName", "a.imported.example", "Block"),
        ("IpAddress", "192.0.2.200", "Warn"),
        ("Url", "https://bulk2.example/x", "Audit"),
    ];
    for (kind, value, action) in expectations {
        let verdict = match_one(&api, &admin, &[], json!({"type": kind, "value": value})).await;
        assert_eq!(verdict["action"], action, "{value}: {verdict}");
    }
}

#[tokio::test]
async fn a_large_bulk_load_is_matched_soon_after_it_commits() {
    let api = TestApi::new();
    let admin = api.admin();
    let count = iocd_service::ASYNC_APPLY_MIN + 500;
    let ndjson: String = (0..count)
        .map(|i| {
            format!(
                "{}\n",
                indicator(&format!("host{i}.bulk.example"), "DomainName", "Block")
            )
        })
        .collect();
    bulk_load(&api, &admin, ndjson).await;
    // Large batches are applied by the tenant's applier without holding up the store writer;
    // they become visible within milliseconds, in commit order.
    let last =
        json!({"type": "DomainName", "value": format!("www.host{}.bulk.example", count - 1)});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if match_one(&api, &admin, &[], last.clone()).await["action"] == "Block" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not matched within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A later single write waits for the queue, so it is enforced when the API answers.
    submit(
        &api,
        &admin,
        indicator("after.bulk.example", "DomainName", "Warn"),
    )
    .await;
    let after = json!({"type": "DomainName", "value": "after.bulk.example"});
    assert_eq!(match_one(&api, &admin, &[], after).await["action"], "Warn");
}

/// An indicator scoped only by `rbacGroupIds` applied to every device: an `Allowed` meant for
/// one group allowed everywhere. Groups are now registered, indicators name them both ways, and
/// the matcher scopes by id.
#[tokio::test]
async fn an_indicator_scoped_by_group_id_applies_to_that_group_only() {
    let api = TestApi::new();
    let admin = api.admin();
    let kiosks = api
        .state
        .service()
        .create_device_group(
            "tenant-a",
            &iocd_store::device_groups::GroupSpec {
                name: "Kiosks".into(),
                description: String::new(),
                rank: None,
                rules: Default::default(),
            },
            api.state.now(),
        )
        .unwrap()
        .unwrap();
    submit(
        &api,
        &admin,
        indicator("shop.example", "DomainName", "Block"),
    )
    .await;
    let mut allow = indicator("shop.example", "DomainName", "Allowed");
    allow["rbacGroupIds"] = json!([kiosks.id]);
    let reply = api.post("/api/indicators", &admin, allow).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // The indicator names its group both ways.
    assert_eq!(reply.body["rbacGroupNames"], json!(["Kiosks"]));
    assert_eq!(reply.body["rbacGroupIds"], json!([kiosks.id]));
    let domain = json!({"type": "DomainName", "value": "shop.example"});
    assert_eq!(
        match_one(&api, &admin, &["KIOSKS"], domain.clone()).await["action"],
        "Allowed"
    );
    assert_eq!(
        match_one(&api, &admin, &["Finance"], domain.clone()).await["action"],
        "Block"
    );
    assert_eq!(
        match_one(&api, &admin, &[], domain.clone()).await["action"],
        "Block"
    );

    // A name creates its group (default profile); an unknown id is refused, naming it.
    let mut named = indicator("lab.example", "DomainName", "Block");
    named["rbacGroupNames"] = json!(["Lab"]);
    let reply = api.post("/api/indicators", &admin, named).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["rbacGroupIds"], json!([kiosks.id + 1]));
    let lab = json!({"type": "DomainName", "value": "lab.example"});
    assert_eq!(
        match_one(&api, &admin, &["lab"], lab.clone()).await["action"],
        "Block"
    );
    assert_eq!(
        match_one(&api, &admin, &["Kiosks"], lab).await["action"],
        Value::Null
    );
    let mut unknown = indicator("x.example", "DomainName", "Block");
    unknown["rbacGroupIds"] = json!([99]);
    let reply = api.post("/api/indicators", &admin, unknown).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.text.contains("99"), "{}", reply.text);
}

/// In the `mde` profile an indicator naming an unknown group is refused, as MDE refuses it.
#[tokio::test]
async fn the_mde_profile_refuses_unknown_group_names() {
    let mut config = iocd_server::config::Config::for_profile(iocd_server::config::Profile::Mde);
    config.public_url = Some("http://iocd.test".into());
    let api = TestApi::with_config(config);
    let mut named = indicator("lab.example", "DomainName", "Block");
    named["rbacGroupNames"] = json!(["Nowhere"]);
    let reply = api.post("/api/indicators", &api.admin(), named).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.text.contains("Nowhere"), "{}", reply.text);
}

/// A device that describes itself (name, domain, OS, tags) gets the group whose rules match it
/// first by rank; events are grouped by their device's name the same way.
#[tokio::test]
async fn described_devices_are_grouped_by_the_rules() {
    let api = TestApi::new();
    let admin = api.admin();
    for body in [
        json!({"name": "Kiosks", "rank": 1, "rules": {"nameStartsWith": ["kiosk-"]}}),
        json!({"name": "Mac laptops", "rank": 2, "rules": {"os": ["macOS"], "tags": ["laptop"]}}),
    ] {
        let reply = api.post("/api/deviceGroups", &admin, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    submit(
        &api,
        &admin,
        indicator("shop.example", "DomainName", "Block"),
    )
    .await;
    let mut allow = indicator("shop.example", "DomainName", "Allowed");
    allow["rbacGroupNames"] = json!(["Kiosks"]);
    submit(&api, &admin, allow).await;
    let mut warn = indicator("shop.example", "DomainName", "Warn");
    warn["rbacGroupNames"] = json!(["Mac laptops"]);
    submit(&api, &admin, warn).await;
    let verdict = |device: Value| {
        let api = &api;
        let admin = admin.clone();
        async move {
            let reply = api
                .post(
                    "/api/match",
                    &admin,
                    json!({"device": device, "observables": [{"type": "DomainName", "value": "shop.example"}]}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            reply.body["value"][0]["action"].clone()
        }
    };
    assert_eq!(
        verdict(json!({"id": "k1", "name": "KIOSK-12"})).await,
        "Allowed"
    );
    assert_eq!(
        verdict(json!({"id": "m1", "name": "kiosk-2", "os": "macOS", "tags": ["laptop"]})).await,
        "Allowed"
    );
    assert_eq!(
        verdict(json!({"id": "m2", "name": "ana-mbp", "os": "macos", "tags": ["Laptop"]})).await,
        "Warn"
    );
    assert_eq!(
        verdict(json!({"id": "p1", "name": "pc-1", "os": "Windows 11"})).await,
        "Block"
    );
    // Stated groups win over the description.
    assert_eq!(
        verdict(json!({"id": "k2", "name": "kiosk-3", "groups": ["Mac laptops"]})).await,
        "Warn"
    );

    // Events: MDE's DeviceName places the device by the same rules.
    let mut audit = indicator("tracker.example", "DomainName", "Audit");
    audit["rbacGroupNames"] = json!(["Kiosks"]);
    audit["generateAlert"] = json!(true);
    submit(&api, &admin, audit).await;
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let events = [
        json!({"DeviceId": "k9", "DeviceName": "kiosk-9", "RemoteUrl": "tracker.example"}),
        json!({"DeviceId": "p9", "DeviceName": "pc-9", "RemoteUrl": "tracker.example"}),
    ];
    let reply = api.post("/api/events", &sensor, json!(events)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["matches"], 1, "{}", reply.text);
    assert_eq!(reply.body["alerts"].as_array().map(Vec::len), Some(1));
}

/// Warn verdicts can be bypassed (for the indicator's `bypassDurationHours`, 24 by default)
/// and Warn and Block verdicts carry what the device shows the user.
#[tokio::test]
async fn warn_and_block_verdicts_carry_the_notification() {
    let api = TestApi::new();
    let admin = api.admin();
    let mut warn = indicator("warned.example", "DomainName", "Warn");
    warn["educateUrl"] = json!("https://intranet.example/why");
    warn["notificationBody"] = json!("This site is not allowed at work.");
    warn["bypassDurationHours"] = json!(4);
    warn["application"] = json!("Browser");
    submit(&api, &admin, warn).await;
    let mut block = indicator("blocked.example", "DomainName", "Block");
    block["notificationBody"] = json!("Blocked by security.");
    submit(&api, &admin, block).await;
    submit(
        &api,
        &admin,
        indicator("plain.example", "DomainName", "Warn"),
    )
    .await;
    let mut allowed = indicator("fine.example", "DomainName", "Allowed");
    allowed["notificationBody"] = json!("never shown");
    submit(&api, &admin, allowed).await;

    let domain = |value: &str| json!({"type": "DomainName", "value": value});
    let warned = match_one(&api, &admin, &[], domain("warned.example")).await;
    assert_eq!(warned["action"], "Warn");
    assert_eq!(warned["bypassable"], true);
    assert_eq!(warned["bypassDurationHours"], 4);
    assert_eq!(warned["educateUrl"], "https://intranet.example/why");
    assert_eq!(
        warned["notificationBody"],
        "This site is not allowed at work."
    );
    assert_eq!(warned["application"], "Browser");
    let blocked = match_one(&api, &admin, &[], domain("blocked.example")).await;
    assert_eq!(blocked["notificationBody"], "Blocked by security.");
    assert_eq!(blocked.get("bypassable"), None);
    let plain = match_one(&api, &admin, &[], domain("plain.example")).await;
    assert_eq!(
        (
            plain["bypassable"].clone(),
            plain["bypassDurationHours"].clone()
        ),
        (json!(true), json!(24))
    );
    assert_eq!(plain.get("notificationBody"), None);
    let fine = match_one(&api, &admin, &[], domain("fine.example")).await;
    assert_eq!(fine.get("notificationBody"), None);
}

/// A user who continues past a warning on one device is allowed there until the bypass
/// duration ends; other devices still get the warning. Bypasses are listed, recorded in the
/// indicator's history and in its alert's evidence, and expire.
#[tokio::test]
async fn a_bypassed_warning_allows_that_device_until_it_expires() {
    let api = TestApi::new();
    let admin = api.admin();
    let mut warn = indicator("warned.example", "DomainName", "Warn");
    warn["bypassDurationHours"] = json!(2);
    warn["generateAlert"] = json!(true);
    let id = submit(&api, &admin, warn).await;
    let block = submit(
        &api,
        &admin,
        indicator("blocked.example", "DomainName", "Block"),
    )
    .await;
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let bypass = |indicator: &str| json!({"device": {"id": "d1"}, "indicatorId": indicator, "user": "ana@contoso.example"});
    let reply = api.post("/api/match/bypass", &sensor, bypass(&id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["deviceId"], "d1");
    let until = reply.body["expirationDateTimeUtc"].clone();

    let check = |device: &'static str| {
        let api = &api;
        // A fresh token each time: the clock moves below.
        let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
        async move {
            let reply = api
                .post(
                    "/api/match",
                    &sensor,
                    json!({"device": {"id": device}, "observables": [{"type": "DomainName", "value": "warned.example"}]}),
                )
                .await;
            reply.body["value"][0].clone()
        }
    };
    let allowed = check("d1").await;
    assert_eq!(allowed["action"], "Allowed");
    assert_eq!(allowed["rule"], "bypass");
    assert_eq!(allowed["bypassedUntil"], until);
    assert_eq!(check("d2").await["action"], "Warn");

    let listed = api.get("/api/match/bypasses", &sensor).await;
    assert_eq!(listed.body["value"][0]["user"], "ana@contoso.example");
    let history = api
        .get(&format!("/api/indicators/{id}/history"), &admin)
        .await;
    let ops: Vec<&str> = history.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "bypass"]);
    let analyst = api.token("tenant-a", Role::AlertReadAll, "analyst");
    let alerts = api.get("/api/alerts", &analyst).await;
    assert_eq!(alerts.body["value"][0]["evidence"][0]["source"], "bypass");

    // Only warnings can be bypassed; unknown indicators are 404.
    let refused = api.post("/api/match/bypass", &sensor, bypass(&block)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    let missing = api.post("/api/match/bypass", &sensor, bypass("999")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Two hours later the warning is back.
    api.state.advance_clock(2 * 3600 + 1);
    assert_eq!(check("d1").await["action"], "Warn");
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let listed = api.get("/api/match/bypasses", &sensor).await;
    assert_eq!(listed.body["value"], json!([]));
}
