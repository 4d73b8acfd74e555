//! The known-good guard through the API: with `mode = "refuse"` an indicator that would block
//! something on a warninglist is refused with the list named (submit, import and bulk alike);
//! with `mode = "flag"` it is accepted and carries `warninglists` (and STIX's
//! `x_iocd_warninglist` over TAXII). Allowed indicators are never caught.

use axum::http::StatusCode;
use iocd_server::config::Config;
use serde_json::json;

mod common;
use common::{TestApi, indicator};

fn api(mode: &str) -> (TestApi, tempfile::TempDir) {
    let lists = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(lists.path().join("lists/top")).unwrap();
    std::fs::write(
        lists.path().join("lists/top/list.json"),
        r#"{"name": "Top sites", "type": "hostname", "version": 1, "description": "d",
            "list": ["google.com", "microsoft.com"], "matching_attributes": ["domain", "hostname", "url"]}"#,
    )
    .unwrap();
    std::fs::write(
        lists.path().join("cloud.json"),
        r#"{"name": "Cloud ranges", "type": "cidr", "list": ["52.94.0.0/16"], "matching_attributes": ["ip-dst"]}"#,
    )
    .unwrap();
    let mut config = Config::from_toml(&format!(
        "[warninglists]\npath = {:?}\nmode = \"{mode}\"",
        lists.path().to_str().unwrap()
    ))
    .unwrap();
    config.public_url = Some("http://iocd.test".to_owned());
    (TestApi::with_config(config), lists)
}

#[tokio::test]
async fn refuse_mode_refuses_what_would_block_known_good_values() {
    let (api, _lists) = api("refuse");
    let admin = api.admin();
    let refused = api
        .post(
            "/api/indicators",
            &admin,
            indicator("google.com", "DomainName", "Block"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Top sites") && message.contains("google.com"),
        "{message}"
    );
    // Import and bulk report it per item; the rest goes in.
    let import = api
        .post(
            "/api/indicators/import",
            &admin,
            json!({"Indicators": [indicator("52.94.3.4", "IpAddress", "Block"), indicator("evil.example", "DomainName", "Block")]}),
        )
        .await;
    assert_eq!(import.body["value"][0]["isFailed"], true, "{}", import.text);
    assert!(
        import.body["value"][0]["failureReason"]
            .as_str()
            .unwrap()
            .contains("Cloud ranges")
    );
    assert_eq!(import.body["value"][1]["isFailed"], false);
    let bulk = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(&admin),
            Some("application/x-ndjson"),
            format!("{}\n", indicator("https://microsoft.com/", "Url", "Warn")).into_bytes(),
        )
        .await;
    assert_eq!(bulk.body["failed"], 1, "{}", bulk.text);
    // What blocks nothing everyone needs goes in: a subdomain, a page, an allow, an audit.
    for (value, kind, action) in [
        ("evil.google.com", "DomainName", "Block"),
        ("https://google.com/phish", "Url", "Block"),
        ("google.com", "DomainName", "Allowed"),
    ] {
        let reply = api
            .post("/api/indicators", &admin, indicator(value, kind, action))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{value} {action}: {}",
            reply.text
        );
        assert!(reply.body.get("warninglists").is_none());
    }
}

#[tokio::test]
async fn flag_mode_accepts_and_flags() {
    let (api, _lists) = api("flag");
    let admin = api.admin();
    let flagged = api
        .post(
            "/api/indicators",
            &admin,
            indicator("microsoft.com", "DomainName", "Block"),
        )
        .await;
    assert_eq!(flagged.status, StatusCode::OK, "{}", flagged.text);
    assert_eq!(flagged.body["warninglists"], json!(["Top sites"]));
    let listed = api.get("/api/indicators", &admin).await;
    assert_eq!(
        listed.body["value"][0]["warninglists"],
        json!(["Top sites"])
    );
    let fine = api
        .post(
            "/api/indicators",
            &admin,
            indicator("evil.example", "DomainName", "Block"),
        )
        .await;
    assert!(fine.body.get("warninglists").is_none());
    // Over TAXII, the STIX object says so too.
    let objects = api
        .get(
            "/taxii2/iocd/collections/4f1b5e0a-6c2d-4e8f-9a1b-2c3d4e5f6a7b/objects/",
            &admin,
        )
        .await;
    let microsoft = objects.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["pattern"] == "[domain-name:value = 'microsoft.com']")
        .cloned()
        .unwrap();
    assert_eq!(microsoft["x_iocd_warninglist"], json!(["Top sites"]));
}

#[test]
fn a_broken_list_stops_the_start_with_its_name() {
    let lists = tempfile::tempdir().unwrap();
    std::fs::write(lists.path().join("bad.json"), "[1, 2]").unwrap();
    let config = Config::from_toml(&format!(
        "[warninglists]\npath = {:?}",
        lists.path().to_str().unwrap()
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = iocd_store::SqliteStore::open(&dir.path().join("iocd.db")).unwrap();
    let error = iocd_server::AppState::new(
        std::sync::Arc::new(store),
        config,
        iocd_server::auth::SigningKey::from_bytes([1; 32]),
        iocd_server::auth::issuer::IssuerKey::ephemeral().unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("bad.json"), "{error}");
    assert!(Config::from_toml("[warninglists]\npath = \"/x\"\nmode = \"maybe\"").is_err());
}
