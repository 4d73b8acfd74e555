//! The detection engine through the router: events in MDE and ECS field names raise and fold
//! alerts, the alerts API (OData, get, patch), retro-hunting of past sightings, and errors.

use axum::http::StatusCode;
use iocd_server::auth::Role;
use serde_json::{Value, json};

mod common;
use common::{TestApi, indicator};

const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn alerting(value: &str, indicator_type: &str, action: &str) -> Value {
    let mut body = indicator(value, indicator_type, action);
    body["generateAlert"] = json!(true);
    body["title"] = json!(format!("{value} seen"));
    body["severity"] = json!("High");
    body["category"] = json!("CommandAndControl");
    body["recommendedActions"] = json!("Isolate the device");
    body
}

async fn submit(api: &TestApi, body: Value) -> String {
    let reply = api.post("/api/indicators", &api.admin(), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn send_ndjson(api: &TestApi, token: &str, query: &str, lines: &[Value]) -> common::Reply {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    api.send(
        "POST",
        &format!("/api/events{query}"),
        Some(token),
        Some("application/x-ndjson"),
        body.into_bytes(),
    )
    .await
}

fn sensor(api: &TestApi) -> String {
    api.token("tenant-a", Role::EventsWrite, "sensor")
}

fn analyst(api: &TestApi) -> String {
    api.token("tenant-a", Role::AlertReadWriteAll, "analyst")
}

#[tokio::test]
async fn mde_events_raise_alerts_with_the_indicators_own_fields_and_fold_per_device() {
    let api = TestApi::new();
    let domain = submit(&api, alerting("evil.example", "DomainName", "Audit")).await;
    let file = submit(&api, alerting(SHA256, "FileSha256", "Block")).await;
    submit(&api, alerting("good.example", "DomainName", "Allowed")).await;
    submit(&api, indicator("quiet.example", "DomainName", "Block")).await;
    let events = [
        json!({"Timestamp": "2026-03-01T10:00:00Z", "DeviceId": "d1", "DeviceName": "pc1.corp", "MachineGroup": "Finance",
               "RemoteUrl": "https://a.evil.example/x", "RemoteIP": "192.0.2.1"}),
        json!({"Timestamp": "2026-03-01T11:00:00Z", "DeviceId": "d1", "DeviceName": "pc1.corp", "RemoteUrl": "b.evil.example"}),
        json!({"Timestamp": "2026-03-01T11:30:00Z", "DeviceId": "d2", "RemoteUrl": "evil.example"}),
        json!({"Timestamp": "2026-03-01T12:00:00Z", "DeviceId": "d1", "SHA256": SHA256, "SHA1": "0".repeat(40)}),
        json!({"Timestamp": "2026-03-01T12:00:00Z", "DeviceId": "d1", "RemoteUrl": "good.example"}),
        json!({"Timestamp": "2026-03-01T12:00:00Z", "DeviceId": "d1", "RemoteUrl": "quiet.example"}),
    ];
    let reply = send_ndjson(&api, &sensor(&api), "", &events).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["events"], 6);
    assert_eq!(reply.body["matches"], 6, "{}", reply.text);
    assert_eq!(reply.body["alerts"], json!(["1", "2", "3"]));
    assert_eq!(reply.body["failed"], json!([]));

    let reader = api.token("tenant-a", Role::AlertReadAll, "reader");
    let list = api.get("/api/alerts?$count=true", &reader).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["@odata.count"], 3);
    let first = &list.body["value"][0];
    assert_eq!(first["indicatorId"], domain);
    assert_eq!(first["title"], "evil.example seen");
    assert_eq!(first["severity"], "High");
    assert_eq!(first["category"], "CommandAndControl");
    assert_eq!(first["recommendedActions"], "Isolate the device");
    assert_eq!(first["detectionSource"], "CustomerTI");
    assert_eq!(first["machineId"], "d1");
    assert_eq!(first["computerDnsName"], "pc1.corp");
    assert_eq!(first["rbacGroupName"], "Finance");
    assert_eq!(first["status"], "New");
    assert_eq!(first["eventCount"], 2);
    assert_eq!(first["firstEventTime"], "2026-03-01T10:00:00.0000000Z");
    assert_eq!(first["lastEventTime"], "2026-03-01T11:00:00.0000000Z");
    assert_eq!(first["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(first["evidence"][0]["field"], "RemoteUrl");
    let third = &list.body["value"][2];
    assert_eq!(third["indicatorId"], file);
    assert_eq!(third["action"], "Block");

    let filtered = api
        .get(
            "/api/alerts?$filter=machineId%20eq%20'd2'&$select=id,machineId",
            &reader,
        )
        .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
    assert_eq!(
        filtered.body["value"],
        json!([{"id": "2", "machineId": "d2"}])
    );
    let bad = api
        .get("/api/alerts?$filter=expirationTime%20eq%20null", &reader)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "ODataError");
    // A lone `$` once looped the lexer until the process was killed.
    let dollar = api.get("/api/alerts?$filter=$", &reader).await;
    assert_eq!(dollar.status, StatusCode::BAD_REQUEST, "{}", dollar.text);
    assert_eq!(dollar.body["error"]["code"], "ODataError");
}

#[tokio::test]
async fn ecs_events_are_read_from_nested_or_dotted_fields() {
    let api = TestApi::new();
    submit(&api, alerting("198.51.100.0/24", "IpAddress", "Block")).await;
    submit(&api, alerting(SHA256, "FileSha256", "Audit")).await;
    let events = [
        json!({"@timestamp": "2026-03-01T10:00:00Z", "host": {"id": "h1", "name": "web1"}, "destination": {"ip": "198.51.100.7"}}),
        json!({"@timestamp": "2026-03-01T10:00:00Z", "host.id": "h1", "file.hash.sha256": SHA256}),
        json!({"@timestamp": "2026-03-01T10:00:00Z", "host.id": "h1", "url": {"full": "http://198.51.100.9/payload"}}),
    ];
    let reply = send_ndjson(&api, &sensor(&api), "?profile=ecs", &events).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["matches"], 3, "{}", reply.text);
    assert_eq!(reply.body["alerts"], json!(["1", "2"]));
}

#[tokio::test]
async fn bad_events_are_reported_and_the_rest_is_processed() {
    let api = TestApi::new();
    submit(&api, alerting("evil.example", "DomainName", "Audit")).await;
    let body = "{\"DeviceId\": \"d1\", \"RemoteUrl\": \"evil.example\"}\nnot json\n{\"RemoteUrl\": \"evil.example\"}\n{\"DeviceId\": \"d1\", \"SHA256\": \"xyz\", \"RemoteIP\": \"not-an-ip\"}\n{\"DeviceId\": \"d1\", \"Timestamp\": \"yesterday\"}\n";
    let reply = api
        .send(
            "POST",
            "/api/events",
            Some(&sensor(&api)),
            Some("application/x-ndjson"),
            body.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["events"], 2);
    let failed = reply.body["failed"].as_array().unwrap();
    let lines: Vec<u64> = failed.iter().map(|f| f["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 3, 4, 4, 5], "{failed:?}");
    assert!(failed[1]["reason"].as_str().unwrap().contains("no device"));

    let cases = [
        (
            "application/json",
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (content_type, body, status) in cases {
        let reply = api
            .send(
                "POST",
                "/api/events",
                Some(&sensor(&api)),
                Some(content_type),
                body,
            )
            .await;
        assert_eq!(reply.status, status, "{content_type}: {}", reply.text);
        assert!(reply.body["error"]["code"].is_string());
    }
    let reply = send_ndjson(&api, &sensor(&api), "?profile=splunk", &[json!({})]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let reply = send_ndjson(&api, &reader, "", &[json!({"DeviceId": "d"})]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // A JSON array is accepted too, reported by index.
    let reply = api
        .post(
            "/api/events",
            &sensor(&api),
            json!([{"DeviceId": "d1", "RemoteUrl": "evil.example"}, 7]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["failed"][0]["index"], 1);
}

#[tokio::test]
async fn alerts_are_updated_by_analysts_only_and_never_cross_tenants() {
    let api = TestApi::new();
    submit(&api, alerting("evil.example", "DomainName", "Audit")).await;
    send_ndjson(
        &api,
        &sensor(&api),
        "",
        &[json!({"DeviceId": "d1", "RemoteUrl": "evil.example"})],
    )
    .await;
    let analyst = analyst(&api);
    let reply = api
        .send(
            "PATCH",
            "/api/alerts/1",
            Some(&analyst),
            Some("application/json"),
            json!({"status": "Resolved", "classification": "TruePositive", "assignedTo": "ana@example.com"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["status"], "Resolved");
    assert_eq!(reply.body["classification"], "TruePositive");
    assert_eq!(reply.body["assignedTo"], "ana@example.com");
    let got = api.get("/api/alerts/1", &analyst).await;
    assert_eq!(got.body["status"], "Resolved");

    let patch = |body: Value, token: String| {
        let api = &api;
        async move {
            api.send(
                "PATCH",
                "/api/alerts/1",
                Some(&token),
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    let cases = [
        (json!({"status": "Done"}), StatusCode::BAD_REQUEST),
        (json!({"classification": 3}), StatusCode::BAD_REQUEST),
        (json!({"severity": "Low"}), StatusCode::BAD_REQUEST),
        (json!({}), StatusCode::BAD_REQUEST),
    ];
    for (body, status) in cases {
        let reply = patch(body.clone(), analyst.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
    }
    let reader = api.token("tenant-a", Role::AlertReadAll, "reader");
    assert_eq!(
        patch(json!({"status": "New"}), reader).await.status,
        StatusCode::FORBIDDEN
    );
    let ti_admin = api.admin();
    assert_eq!(
        api.get("/api/alerts", &ti_admin).await.status,
        StatusCode::FORBIDDEN
    );
    let other = api.token("tenant-b", Role::AlertReadWriteAll, "analyst");
    assert_eq!(
        api.get("/api/alerts/1", &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/alerts", &other).await.body["value"],
        json!([])
    );
    assert_eq!(
        api.get("/api/alerts/99", &analyst).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/alerts/abc", &analyst).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_historical_detection_indicator_hunts_past_sightings_at_once() {
    let api = TestApi::new();
    let now = api.state.now();
    let ten_days_ago = now.plus_seconds(-10 * 86_400).to_mde_seconds();
    let events = [
        json!({"Timestamp": ten_days_ago, "DeviceId": "d1", "MachineGroup": "Finance", "RemoteUrl": "http://www.old.example/path/page"}),
        json!({"Timestamp": ten_days_ago, "DeviceId": "d2", "SHA256": SHA256}),
        json!({"Timestamp": ten_days_ago, "DeviceId": "d3", "RemoteIP": "203.0.113.77"}),
    ];
    let reply = send_ndjson(&api, &sensor(&api), "", &events).await;
    assert_eq!(reply.body["alerts"], json!([]), "nothing matches yet");

    // Without historicalDetection: no hunt.
    submit(&api, alerting("203.0.113.0/24", "IpAddress", "Audit")).await;
    // Look-back shorter than the sighting's age: no alert.
    let mut short = alerting(SHA256, "FileSha256", "Audit");
    short["historicalDetection"] = json!(true);
    short["lookBackPeriod"] = json!("P7D");
    submit(&api, short).await;
    let reader = analyst(&api);
    assert_eq!(
        api.get("/api/alerts", &reader).await.body["value"],
        json!([])
    );

    let mut domain = alerting("old.example", "DomainName", "Block");
    domain["historicalDetection"] = json!(true);
    domain["lookBackPeriod"] = json!("P30D");
    let id = submit(&api, domain).await;
    let mut url = alerting("http://www.old.example/path", "Url", "Audit");
    url["historicalDetection"] = json!(true);
    url["rbacGroupNames"] = json!(["Finance"]);
    let url_id = submit(&api, url).await;
    let alerts = api.get("/api/alerts", &reader).await;
    let value = alerts.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 2, "{}", alerts.text);
    assert_eq!(value[0]["indicatorId"], id);
    assert_eq!(value[0]["machineId"], "d1");
    assert_eq!(value[0]["evidence"][0]["source"], "retro-hunt");
    assert_eq!(
        value[0]["lastEventTime"],
        now.plus_seconds(-10 * 86_400)
            .truncated_to_second()
            .to_mde_precise()
    );
    // The URL indicator is more specific than the domain, so it wins this sighting now.
    assert_eq!(value[1]["indicatorId"], url_id);
    assert_eq!(value[1]["rbacGroupName"], "Finance");
}

/// Alerts carry the indicator's MITRE techniques, and keep analysts' comments with their
/// author and time.
#[tokio::test]
async fn alerts_carry_techniques_and_keep_comments() {
    let api = TestApi::new();
    let mut body = alerting("c2.example", "DomainName", "Audit");
    body["mitreTechniques"] = json!(["T1071.001"]);
    submit(&api, body).await;
    let event = json!({"DeviceId": "d1", "RemoteUrl": "c2.example"});
    let reply = send_ndjson(&api, &sensor(&api), "", &[event]).await;
    assert_eq!(reply.body["alerts"], json!(["1"]), "{}", reply.text);
    let analyst = analyst(&api);
    let alert = api.get("/api/alerts/1", &analyst).await;
    assert_eq!(alert.body["mitreTechniques"], json!(["T1071.001"]));
    assert_eq!(alert.body["comments"], json!([]));
    for comment in ["Investigating.", "Known test host."] {
        let reply = api
            .send(
                "PATCH",
                "/api/alerts/1",
                Some(&analyst),
                Some("application/json"),
                json!({"comment": comment}).to_string().into_bytes(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let alert = api.get("/api/alerts/1", &analyst).await;
    let comments = alert.body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[1]["comment"], "Known test host.");
    assert_eq!(comments[0]["createdBy"], "analyst");
    assert!(comments[0]["createdTime"].as_str().unwrap().ends_with('Z'));
    let empty = api
        .send(
            "PATCH",
            "/api/alerts/1",
            Some(&analyst),
            Some("application/json"),
            json!({"comment": "  "}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
}
