//! Regressions of the security review's findings (issue 15): each request that once crashed
//! the server, took its memory or made it enforce the wrong thing, and what it gets now.

use axum::http::StatusCode;
use serde_json::json;

mod common;
use common::{TestApi, indicator};

async fn blocks(api: &TestApi, token: &str, host: &str) -> bool {
    let reply = api
        .post(
            "/api/match",
            token,
            json!({"observables": [{"type": "DomainName", "value": host}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["value"][0]["blocks"] == json!(true)
}

/// Ids were masked to 40 bits, so `id + 2^40` reached the same row: deleting through the alias
/// deleted the indicator but told the matcher to remove another id, and the indicator kept
/// blocking. Now an id outside the store's range names nothing.
#[tokio::test]
async fn an_id_past_forty_bits_is_not_an_alias() {
    let api = TestApi::new();
    let admin = api.admin();
    for n in 0..31 {
        let body = indicator(&format!("d{n}.example"), "DomainName", "Block");
        let reply = api.post("/api/indicators", &admin, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let alias = 31 + (1_u64 << 40);
    let path = format!("/api/indicators/{alias}");
    for method in ["GET", "DELETE"] {
        let reply = api
            .send(method, &path, Some(&admin), None, Vec::new())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method}: {}",
            reply.text
        );
    }
    let history = api.get(&format!("{path}/history"), &admin).await;
    assert_eq!(history.status, StatusCode::NOT_FOUND);
    let batch = api
        .post(
            "/api/indicators/BatchDelete",
            &admin,
            json!({"IndicatorIds": [alias.to_string()]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/api/indicators/31", &admin).await.status,
        StatusCode::OK
    );
    assert!(blocks(&api, &admin, "d30.example").await);
    // Deleting the real id stops the matching.
    let deleted = api
        .send(
            "DELETE",
            "/api/indicators/31",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(!blocks(&api, &admin, "d30.example").await);
}

/// Non-ASCII text in a date was sliced inside a character and panicked: the connection
/// dropped with no answer, or a 500.
#[tokio::test]
async fn non_ascii_dates_are_refused_with_a_reason() {
    let api = TestApi::new();
    let admin = api.admin();
    let filter = api
        .get(
            "/api/indicators?$filter=expirationTime%20gt%20'2024-01-%E2%82%AC'",
            &admin,
        )
        .await;
    assert_eq!(filter.status, StatusCode::BAD_REQUEST, "{}", filter.text);
    assert_eq!(filter.body["error"]["code"], "ODataError");
    let mut body = indicator("a.example", "DomainName", "Block");
    body["expirationTime"] = json!("2030-01-€");
    let submit = api.post("/api/indicators", &admin, body).await;
    assert_eq!(submit.status, StatusCode::BAD_REQUEST, "{}", submit.text);
    assert_eq!(submit.body["error"]["code"], "InvalidInput");
    let sensor = api.token("tenant-a", iocd_server::auth::Role::EventsWrite, "sensor");
    let events = api
        .post(
            "/api/events",
            &sensor,
            json!({"DeviceId": "d1", "Timestamp": "2026-03-0€", "RemoteIP": "198.51.100.7"}),
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    assert_eq!(events.body["events"], 0);
    assert_eq!(events.body["failed"][0]["index"], 0);
}
