//! The authorisation matrix: every route, under `/api` and `/api/v1.0`, with every kind of
//! credential (none, malformed, wrongly signed, expired, another tenant's, and a token of each
//! role), each cell answered with an exact status. Every cell runs on a fresh server holding
//! one indicator (created by another application) and one alert of tenant A, so each answer
//! depends only on the credential.

use axum::http::StatusCode;
use iocd_server::auth::{Role, SigningKey};
use serde_json::json;

mod common;
use common::{TestApi, indicator};

/// The credentials, in the order of each row's statuses.
const CREDENTIALS: [&str; 13] = [
    "none",
    "malformed",
    "bad signature",
    "expired",
    "other tenant",
    "Ti.Read.All",
    "Ti.ReadWrite",
    "Ti.ReadWrite.All",
    "Metrics.Read",
    "Events.Write",
    "Alert.Read.All",
    "Alert.ReadWrite.All",
    "Machine.Read.All",
];

/// One route: method, path (`{indicator}` and `{alert}` stand for the fixture's ids), content
/// type, body, and the status for each credential in [`CREDENTIALS`] order.
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    [u16; 13],
);

const JSON: Option<&str> = Some("application/json");
const TAXII: Option<&str> = Some("application/taxii+json;version=2.1");
const TAXII_OBJECTS: &str =
    "/taxii2/iocd/collections/4f1b5e0a-6c2d-4e8f-9a1b-2c3d4e5f6a7b/objects/";
const TAXII_ENVELOPE: &str = r#"{"objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--0a0b0c0d-0000-4000-8000-000000000001","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'taxii.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}]}"#;
const NDJSON: Option<&str> = Some("application/x-ndjson");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                       none mal  sig  exp  othr R    RW   RWA  Met  Evt  AR   ARW  MR
    ("GET",    "/indicators",                     None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("POST",   "/indicators",                     JSON,   SUBMIT,           [401, 401, 401, 401, 200, 403, 200, 200, 403, 403, 403, 403, 403]),
    ("POST",   "/indicators/import",              JSON,   IMPORT,           [401, 401, 401, 401, 200, 403, 200, 200, 403, 403, 403, 403, 403]),
    ("POST",   "/indicators/bulk",                NDJSON, BULK,             [401, 401, 401, 401, 200, 403, 200, 200, 403, 403, 403, 403, 403]),
    // Ti.ReadWrite sees only what its own application created; another tenant sees nothing.
    ("POST",   "/indicators/BatchDelete",         JSON,   BATCH_DELETE,     [401, 401, 401, 401, 404, 403, 404, 204, 403, 403, 403, 403, 403]),
    ("GET",    "/indicators/{indicator}",         None,   "",               [401, 401, 401, 401, 404, 200, 404, 200, 403, 403, 403, 403, 403]),
    ("DELETE", "/indicators/{indicator}",         None,   "",               [401, 401, 401, 401, 404, 403, 404, 204, 403, 403, 403, 403, 403]),
    ("GET",    "/indicators/{indicator}/history", None,   "",               [401, 401, 401, 401, 404, 200, 404, 200, 403, 403, 403, 403, 403]),
    ("POST",   "/match",                          JSON,   MATCH,            [401, 401, 401, 401, 200, 200, 200, 200, 403, 200, 403, 403, 403]),
    ("POST",   "/match/bypass",                   JSON,   BYPASS,           [401, 401, 401, 401, 404, 400, 400, 400, 403, 400, 403, 403, 403]),
    ("GET",    "/match/bypasses",                 None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 200, 403, 403, 403]),
    ("POST",   "/events",                         NDJSON, EVENTS,           [401, 401, 401, 401, 200, 403, 403, 200, 403, 200, 403, 403, 403]),
    ("GET",    "/alerts",                         None,   "",               [401, 401, 401, 401, 200, 403, 403, 403, 403, 403, 200, 200, 403]),
    ("GET",    "/alerts/{alert}",                 None,   "",               [401, 401, 401, 401, 404, 403, 403, 403, 403, 403, 200, 200, 403]),
    ("PATCH",  "/alerts/{alert}",                 JSON,   ALERT_UPDATE,     [401, 401, 401, 401, 404, 403, 403, 403, 403, 403, 403, 200, 403]),
    ("GET",    "/deviceGroups",                   None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("POST",   "/deviceGroups",                   JSON,   GROUP,            [401, 401, 401, 401, 201, 403, 403, 201, 403, 403, 403, 403, 403]),
    ("GET",    "/deviceGroups/{group}",           None,   "",               [401, 401, 401, 401, 404, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("PATCH",  "/deviceGroups/{group}",           JSON,   GROUP_UPDATE,     [401, 401, 401, 401, 404, 403, 403, 200, 403, 403, 403, 403, 403]),
    ("DELETE", "/deviceGroups/{group}",           None,   "",               [401, 401, 401, 401, 404, 403, 403, 204, 403, 403, 403, 403, 403]),
    ("GET",    "/machines",                       None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
    ("GET",    "/machines/d9",                    None,   "",               [401, 401, 401, 401, 404, 200, 200, 200, 403, 403, 403, 403, 200]),
    ("GET",    "/devices",                        None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 403, 403, 403, 200]),
    ("GET",    "/devices/d9",                     None,   "",               [401, 401, 401, 401, 404, 200, 200, 200, 403, 403, 403, 403, 200]),
    ("GET",    "/feeds",                          None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("POST",   "/feeds",                          JSON,   FEED,             [401, 401, 401, 401, 201, 403, 403, 201, 403, 403, 403, 403, 403]),
    ("DELETE", "/feeds/nope",                     None,   "",               [401, 401, 401, 401, 404, 403, 403, 404, 403, 403, 403, 403, 403]),
    ("POST",   "/feeds/nope/run",                 None,   "",               [401, 401, 401, 401, 404, 403, 403, 404, 403, 403, 403, 403, 403]),
    ("GET",    "/webhooks",                       None,   "",               [401, 401, 401, 401, 200, 403, 403, 403, 403, 403, 403, 200, 403]),
    ("POST",   "/webhooks",                       JSON,   WEBHOOK,          [401, 401, 401, 401, 201, 403, 403, 403, 403, 403, 403, 201, 403]),
    ("GET",    "/webhooks/{webhook}",             None,   "",               [401, 401, 401, 401, 404, 403, 403, 403, 403, 403, 403, 200, 403]),
    ("GET",    "/webhooks/{webhook}/deliveries",  None,   "",               [401, 401, 401, 401, 404, 403, 403, 403, 403, 403, 403, 200, 403]),
    ("DELETE", "/webhooks/{webhook}",             None,   "",               [401, 401, 401, 401, 404, 403, 403, 403, 403, 403, 403, 204, 403]),
];

/// Routes outside `/api`.
#[rustfmt::skip]
const OUTSIDE_API: &[Row] = &[
    ("GET",    "/healthz",                        None,   "",               [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // The console's page and assets are public; the page asks for a token.
    ("GET",    "/",                               None,   "",               [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/console/app.js",                 None,   "",               [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // The API's description is public, like MDE's.
    ("GET",    "/openapi.json",                   None,   "",               [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // The token issuer's discovery document and keys are public, like Entra's.
    ("GET",    "/.well-known/openid-configuration", None, "",             [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/discovery/v2.0/keys",            None,   "",               [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // The token endpoint takes client credentials, not bearer tokens: without them, 400.
    ("POST",   "/oauth2/v2.0/token",              FORM,   "grant_type=client_credentials", [400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400]),
    // TAXII: any valid token finds the server; the collection is read and written as the
    // indicator roles allow (another tenant's collection is its own, empty).
    ("GET",    "/taxii2/",                        None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    TAXII_OBJECTS,                     None,   "",               [401, 401, 401, 401, 200, 200, 200, 200, 403, 403, 403, 403, 403]),
    ("POST",   TAXII_OBJECTS,                     TAXII,  TAXII_ENVELOPE,   [401, 401, 401, 401, 202, 403, 202, 202, 403, 403, 403, 403, 403]),
    // Metrics cover every tenant: operators only.
    ("GET",    "/metrics",                        None,   "",               [401, 401, 401, 401, 200, 403, 403, 403, 200, 403, 403, 403, 403]),
];

const SUBMIT: &str = r#"{"indicatorValue":"new.example","indicatorType":"DomainName","action":"Block","title":"t","description":"d"}"#;
const IMPORT: &str = r#"{"Indicators":[{"indicatorValue":"imported.example","indicatorType":"DomainName","action":"Block","title":"t","description":"d"}]}"#;
const BULK: &str = "{\"indicatorValue\":\"bulk.example\",\"indicatorType\":\"DomainName\",\"action\":\"Block\",\"title\":\"t\",\"description\":\"d\"}\n";
const BATCH_DELETE: &str = r#"{"IndicatorIds":["{indicator}"]}"#;
const MATCH: &str = r#"{"observables":[{"type":"DomainName","value":"watched.example"}]}"#;
const EVENTS: &str = "{\"DeviceId\":\"d9\",\"DeviceName\":\"pc.watched.example\",\"RemoteUrl\":\"http://watched.example/\"}\n";
const ALERT_UPDATE: &str = r#"{"status":"InProgress"}"#;
const GROUP: &str = r#"{"name":"New group"}"#;
// The fixture's indicator is an Audit: a bypass is refused (400) where the caller may ask.
const BYPASS: &str = r#"{"device":{"id":"d1"},"indicatorId":"{indicator}"}"#;
const GROUP_UPDATE: &str = r#"{"description":"changed"}"#;
const WEBHOOK: &str = r#"{"url":"http://127.0.0.1:9/hook"}"#;
const FEED: &str = r#"{"name":"f","kind":"list","url":"http://127.0.0.1:9/list.txt"}"#;

/// What a fixture holds besides the server: the ids the routes name.
struct Ids {
    indicator: String,
    alert: String,
    group: String,
    webhook: String,
}

/// A fresh server whose tenant A holds one alerting indicator (created by the application
/// `owner`), one alert it raised on device d9 (a device seen), one device group and one
/// webhook; returns the server and the ids.
async fn fixture() -> (TestApi, Ids) {
    let api = TestApi::new();
    let owner = api.token("tenant-a", Role::ReadWriteAll, "owner");
    let mut body = indicator("watched.example", "DomainName", "Audit");
    body["generateAlert"] = json!(true);
    let created = api.post("/api/indicators", &owner, body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let indicator_id = created.body["id"].as_str().expect("an id").to_owned();
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let events = api
        .send(
            "POST",
            "/api/events",
            Some(&sensor),
            NDJSON,
            EVENTS.as_bytes().to_vec(),
        )
        .await;
    let alert_id = events.body["alerts"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no alert raised: {}", events.text))
        .to_owned();
    let group = api
        .state
        .service()
        .create_device_group(
            "tenant-a",
            &iocd_store::device_groups::GroupSpec {
                name: "Fixture group".into(),
                description: String::new(),
                rank: None,
                rules: Default::default(),
            },
            api.state.now(),
        )
        .unwrap()
        .unwrap();
    api.state.service().flush_devices().unwrap();
    let webhook = api
        .state
        .service()
        .webhooks()
        .create_webhook(
            "tenant-a",
            &iocd_store::webhooks::WebhookSpec {
                url: "http://hooks.watched.example/".into(),
                secret: "fixture-secret-123".into(),
                events: iocd_store::webhooks::AlertEvent::ALL.to_vec(),
            },
            "owner",
            api.state.now(),
        )
        .unwrap();
    let ids = Ids {
        indicator: indicator_id,
        alert: alert_id,
        group: group.id.to_string(),
        webhook: webhook.id.to_string(),
    };
    (api, ids)
}

/// The token for credential `kind` on `api`, if it sends one.
fn credential(api: &TestApi, kind: &str) -> Option<String> {
    let now = api.state.now().unix_seconds();
    let roles_by_name = |name: &str| Role::parse(name).map(|role| vec![role]);
    Some(match kind {
        "none" => return None,
        "malformed" => "not-a-jwt".to_owned(),
        "bad signature" => SigningKey::from_bytes([7; 32]).issue(
            "tenant-a",
            &Role::ALL,
            "forger",
            "forger",
            now,
            3600,
        ),
        "expired" => {
            api.state
                .key()
                .issue("tenant-a", &Role::ALL, "late", "late", now - 7200, 3600)
        }
        "other tenant" => {
            api.state
                .key()
                .issue("tenant-b", &Role::ALL, "outsider", "outsider", now, 3600)
        }
        role => {
            let roles = roles_by_name(role).unwrap_or_else(|| panic!("no role {role}"));
            api.state
                .key()
                .issue("tenant-a", &roles, "member", "member", now, 3600)
        }
    })
}

async fn check(rows: &[Row], prefixes: &[&str]) {
    let mut wrong = Vec::new();
    let mut cells = 0;
    for &(method, route, content_type, body, statuses) in rows {
        for prefix in prefixes {
            for (kind, expected) in CREDENTIALS.iter().zip(statuses) {
                let (api, ids) = fixture().await;
                let fill = |text: &str| {
                    text.replace("{indicator}", &ids.indicator)
                        .replace("{alert}", &ids.alert)
                        .replace("{group}", &ids.group)
                        .replace("{webhook}", &ids.webhook)
                };
                let path = format!("{prefix}{}", fill(route));
                let token = credential(&api, kind);
                let reply = api
                    .send(
                        method,
                        &path,
                        token.as_deref(),
                        content_type,
                        fill(body).into_bytes(),
                    )
                    .await;
                cells += 1;
                if reply.status.as_u16() != expected {
                    wrong.push(format!(
                        "{method} {path} with {kind}: {} (expected {expected}) {}",
                        reply.status.as_u16(),
                        reply.text.chars().take(200).collect::<String>()
                    ));
                }
                // Another tenant's answers never show tenant A's data, and its observations never
                // match tenant A's indicator (the match answer echoes the value it was asked).
                let leaked = if route == "/match" {
                    !reply.body["value"][0]["indicatorId"].is_null()
                } else {
                    reply.text.contains("watched.example")
                };
                // ...while the same request from tenant A does see it (so the check can fail).
                let owner_reads = match *kind {
                    "Ti.ReadWrite.All" => ["/indicators", "/machines", "/devices", TAXII_OBJECTS]
                        .iter()
                        .any(|p| route.starts_with(p)),
                    "Alert.ReadWrite.All" => route == "/webhooks" || route == "/webhooks/{webhook}",
                    _ => false,
                };
                if owner_reads && method == "GET" && !leaked {
                    wrong.push(format!(
                        "{method} {path}: tenant A did not see its own data"
                    ));
                }
                if *kind == "Ti.ReadWrite.All" && route == "/match" && !leaked {
                    wrong.push(format!(
                        "{method} {path}: tenant A's observation did not match"
                    ));
                }
                if *kind == "other tenant" && leaked {
                    wrong.push(format!(
                        "{method} {path}: another tenant saw tenant A's data"
                    ));
                }
                let oauth = route.contains("oauth2");
                let taxii = route.starts_with("/taxii2");
                if expected >= 400 && taxii && reply.body["http_status"].as_str().is_none() {
                    wrong.push(format!("{method} {path} with {kind}: no TAXII error body"));
                } else if expected >= 400
                    && !oauth
                    && !taxii
                    && reply.body["error"]["code"].as_str().is_none()
                {
                    wrong.push(format!("{method} {path} with {kind}: no error body"));
                }
            }
        }
    }
    assert!(cells > 0);
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn every_api_route_answers_every_credential_exactly() {
    check(MATRIX, &["/api", "/api/v1.0"]).await;
}

#[tokio::test]
async fn routes_outside_the_api_answer_every_credential_exactly() {
    check(OUTSIDE_API, &[""]).await;
}

#[test]
fn the_matrix_names_every_role() {
    for role in Role::ALL {
        assert!(
            CREDENTIALS.contains(&role.as_str()),
            "{} has no column",
            role.as_str()
        );
    }
}
