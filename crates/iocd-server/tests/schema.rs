//! Every answer agrees with the served `/openapi.json`: a table of requests reaches every
//! documented route with every documented status, each answer's body is validated against
//! the schema the document gives for that route and status, and a documented (route, status)
//! that no request reached fails the test, as does an answer whose status is not documented.

mod common;

use axum::http::StatusCode;
use common::{Reply, TestApi, indicator, stalled_request};
use iocd_server::auth::Role;
use iocd_server::config::{Config, Profile, Quota, RateLimits};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const JSON: Option<&str> = Some("application/json");
const NDJSON: Option<&str> = Some("application/x-ndjson");
const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The served document and what the requests have covered of it.
struct Document {
    doc: Value,
    covered: BTreeSet<(String, String, String)>,
}

impl Document {
    /// The documented path template that `path` (without its query) is an instance of.
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()?
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(part, segment)| part.starts_with('{') || part == segment)
            })
            .cloned()
    }

    /// Checks one answer: its status is documented for its route, and its body validates
    /// against the documented schema.
    fn check(&mut self, method: &str, path: &str, reply: &Reply) {
        let template = self
            .template(path)
            .unwrap_or_else(|| panic!("{method} {path}: no documented route"));
        let method = method.to_ascii_lowercase();
        let status = reply.status.as_u16().to_string();
        let documented = &self.doc["paths"][&template][&method]["responses"][&status];
        assert!(
            documented.is_object(),
            "{method} {path}: status {status} is not documented: {}",
            reply.text
        );
        self.covered
            .insert((template.clone(), method.clone(), status.clone()));
        let Some(content) = documented["content"].as_object() else {
            assert!(
                reply.text.is_empty(),
                "{method} {path}: {status} documents no body, but one came: {}",
                reply.text
            );
            return;
        };
        let content_type = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (media_type, entry) = content
            .iter()
            .find(|(media_type, _)| content_type.starts_with(media_type.as_str()))
            .unwrap_or_else(|| {
                panic!("{method} {path}: {status} answered {content_type}, not a documented type")
            });
        if !media_type.starts_with("application/json") {
            return;
        }
        let Some(schema) = entry.get("schema") else {
            return;
        };
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("{method} {template} {status}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&reply.body)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} breaks its schema:\n{}\nbody: {}",
            errors.join("\n"),
            reply.text
        );
    }

    /// The documented (route, method, status) triples no request reached, for `/api` routes
    /// counted once (their `/api/v1.0` twins are the same operations).
    fn uncovered(&self) -> Vec<(String, String, String)> {
        let mut missing = Vec::new();
        let paths = self.doc["paths"].as_object().expect("paths");
        for (template, item) in paths {
            if template.starts_with("/api/v1.0/") {
                continue;
            }
            for (method, operation) in item.as_object().expect("path item") {
                for status in operation["responses"]
                    .as_object()
                    .expect("responses")
                    .keys()
                {
                    let key = (template.clone(), method.clone(), status.clone());
                    if !self.covered.contains(&key) {
                        missing.push(key);
                    }
                }
            }
        }
        missing
    }
}

/// One request: method, path, token, content type, body, and the status it must get.
type Case = (
    &'static str,
    String,
    Option<String>,
    Option<&'static str>,
    String,
    u16,
);

async fn run(api: &TestApi, doc: &mut Document, cases: Vec<Case>) {
    for (method, path, token, content_type, body, status) in cases {
        let reply = api
            .send(
                method,
                &path,
                token.as_deref(),
                content_type,
                body.into_bytes(),
            )
            .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path}: {}",
            reply.text
        );
        doc.check(method, &path, &reply);
    }
}

/// An API whose limits are tiny: one request per minute of each operation per application,
/// and bodies of at most 2 KiB.
fn limited_api() -> TestApi {
    let mut config = Config::for_profile(Profile::Default);
    let one = Quota {
        per_minute: Some(1),
        per_hour: None,
    };
    config.rate_limits = RateLimits {
        list: one,
        submit: one,
        import: one,
        delete: one,
        batch_delete: one,
        bulk: one,
        matching: one,
        events: one,
        alerts: one,
        token: one,
    };
    config.max_json_body_bytes = 2048;
    config.max_bulk_body_bytes = 2048;
    config.max_concurrent_bulk = 1;
    config.body_read_timeout_seconds = 1;
    TestApi::with_config(config)
}

#[tokio::test]
async fn every_documented_answer_validates_against_the_served_document() {
    let api = TestApi::new();
    let served = api
        .send("GET", "/openapi.json", None, None, Vec::new())
        .await;
    assert_eq!(served.status, StatusCode::OK);
    let mut doc = Document {
        doc: served.body.clone(),
        covered: BTreeSet::new(),
    };
    doc.check("GET", "/openapi.json", &served);

    let token = |role: Role, app: &str| Some(api.token("tenant-a", role, app));
    let admin = token(Role::ReadWriteAll, "admin");
    let reader = token(Role::ReadAll, "reader");
    let alerts_reader = token(Role::AlertReadAll, "alerts-reader");
    let analyst = token(Role::AlertReadWriteAll, "analyst");
    let sensor = token(Role::EventsWrite, "sensor");
    let metrics = token(Role::MetricsRead, "metrics");
    let bad = Some("not.a.token".to_owned());
    let mut alerting = indicator("evil.example", "DomainName", "Audit");
    alerting["generateAlert"] = json!(true);
    alerting["historicalDetection"] = json!(true);
    alerting["lookBackPeriod"] = json!("P7D");
    let mut certificate = indicator(&SHA256[..40], "CertificateThumbprint", "Allowed");
    certificate["certificateInfo"] = json!({"issuer": "CN=Example CA"});
    let post = |path: &str, token: &Option<String>, body: Value, status: u16| -> Case {
        (
            "POST",
            path.to_owned(),
            token.clone(),
            JSON,
            body.to_string(),
            status,
        )
    };
    let get = |path: &str, token: &Option<String>, status: u16| -> Case {
        (
            "GET",
            path.to_owned(),
            token.clone(),
            None,
            String::new(),
            status,
        )
    };
    let delete = |path: &str, token: &Option<String>, status: u16| -> Case {
        (
            "DELETE",
            path.to_owned(),
            token.clone(),
            None,
            String::new(),
            status,
        )
    };
    let patch = |path: &str, token: &Option<String>, body: Value, status: u16| -> Case {
        (
            "PATCH",
            path.to_owned(),
            token.clone(),
            JSON,
            body.to_string(),
            status,
        )
    };
    let ndjson = |path: &str, token: &Option<String>, lines: &[Value], status: u16| -> Case {
        let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
        ("POST", path.to_owned(), token.clone(), NDJSON, body, status)
    };
    let cases: Vec<Case> = vec![
        // The service routes.
        get("/healthz", &None, 200),
        get("/readyz", &None, 200),
        get("/metrics", &metrics, 200),
        get("/metrics", &None, 401),
        get("/metrics", &admin, 403),
        // Indicators: 1 and 2 are created, 2 updated; 3 is a certificate with its info.
        post("/api/indicators", &admin, alerting.clone(), 200),
        post(
            "/api/indicators",
            &admin,
            indicator("203.0.113.0/24", "IpAddress", "Block"),
            200,
        ),
        post(
            "/api/indicators",
            &admin,
            indicator("203.0.113.0/24", "IpAddress", "Block"),
            200,
        ),
        post("/api/indicators", &admin, certificate, 200),
        post(
            "/api/indicators",
            &admin,
            indicator("abc", "FileSha256", "Block"),
            400,
        ),
        post(
            "/api/indicators",
            &None,
            indicator("a.example", "DomainName", "Block"),
            401,
        ),
        post(
            "/api/indicators",
            &bad,
            indicator("a.example", "DomainName", "Block"),
            401,
        ),
        post(
            "/api/indicators",
            &reader,
            indicator("a.example", "DomainName", "Block"),
            403,
        ),
        (
            "POST",
            "/api/indicators".into(),
            admin.clone(),
            Some("text/plain"),
            "x".into(),
            415,
        ),
        get("/api/indicators", &admin, 200),
        get("/api/v1.0/indicators", &admin, 200),
        get(
            "/api/indicators?$top=1&$count=true&$select=id,indicatorValue",
            &admin,
            200,
        ),
        get("/api/indicators?$filter=$", &admin, 400),
        get("/api/indicators", &None, 401),
        get("/api/indicators", &alerts_reader, 403),
        get("/api/indicators/1", &reader, 200),
        get("/api/indicators/3", &reader, 200),
        get("/api/indicators/abc", &reader, 400),
        get("/api/indicators/1", &None, 401),
        get("/api/indicators/1", &alerts_reader, 403),
        get("/api/indicators/999", &reader, 404),
        post(
            "/api/indicators/import",
            &admin,
            json!({"Indicators": [indicator(SHA256, "FileSha256", "Block"), indicator("x", "FileSha256", "Block"), 7]}),
            200,
        ),
        post(
            "/api/indicators/import",
            &admin,
            json!({"Indicators": []}),
            400,
        ),
        post(
            "/api/indicators/import",
            &None,
            json!({"Indicators": []}),
            401,
        ),
        post(
            "/api/indicators/import",
            &reader,
            json!({"Indicators": [indicator(SHA256, "FileSha256", "Block")]}),
            403,
        ),
        (
            "POST",
            "/api/indicators/import".into(),
            admin.clone(),
            None,
            "{}".into(),
            415,
        ),
        ndjson(
            "/api/indicators/bulk?report=all",
            &admin,
            &[indicator("bulk.example", "DomainName", "Block"), json!(1)],
            200,
        ),
        (
            "POST",
            "/api/indicators/bulk".into(),
            admin.clone(),
            Some("text/csv"),
            "Nonsense\n".into(),
            400,
        ),
        ndjson("/api/indicators/bulk", &None, &[], 401),
        ndjson("/api/indicators/bulk", &reader, &[], 403),
        (
            "POST",
            "/api/indicators/bulk".into(),
            admin.clone(),
            JSON,
            "{}".into(),
            415,
        ),
        // Reading a STIX, MISP or list document without storing it.
        (
            "POST",
            "/api/indicators/convert?action=Block".into(),
            admin.clone(),
            JSON,
            json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [{
                "type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000001",
                "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
                "pattern": "[domain-name:value = 'convert.example']", "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00Z"}]})
            .to_string(),
            200,
        ),
        (
            "POST",
            "/api/indicators/convert".into(),
            admin.clone(),
            Some("text/plain"),
            "convert.example\n203.0.113.9\nnot a value\n".into(),
            200,
        ),
        (
            "POST",
            "/api/indicators/convert".into(),
            admin.clone(),
            JSON,
            "{\"unclosed\": ".into(),
            400,
        ),
        (
            "POST",
            "/api/indicators/convert?action=Explode".into(),
            admin.clone(),
            Some("text/plain"),
            "convert.example\n".into(),
            400,
        ),
        (
            "POST",
            "/api/indicators/convert".into(),
            None,
            Some("text/plain"),
            "convert.example\n".into(),
            401,
        ),
        (
            "POST",
            "/api/indicators/convert".into(),
            reader.clone(),
            Some("text/plain"),
            "convert.example\n".into(),
            403,
        ),
        (
            "POST",
            "/api/indicators/convert".into(),
            admin.clone(),
            Some("text/csv"),
            "IndicatorType,IndicatorValue,Action\nDomainName,a.example,Block\n".into(),
            415,
        ),
        // Matching and detection.
        post(
            "/api/match",
            &sensor,
            json!({"device": {"id": "d1", "groups": ["Finance"]}, "observables": [
                {"type": "Url", "value": "https://a.evil.example/x", "detectorVerdict": "Malicious"},
                {"type": "IpAddress", "value": "203.0.113.9"},
                {"type": "File", "sha256": SHA256, "certificateThumbprint": &SHA256[..40]},
                {"type": "IpAddress", "value": "not-an-address"},
            ]}),
            200,
        ),
        post(
            "/api/match",
            &sensor,
            json!({"observables": [{"type": "Nope", "value": "x"}]}),
            400,
        ),
        post("/api/match", &None, json!({"observables": []}), 401),
        post(
            "/api/match",
            &alerts_reader,
            json!({"observables": []}),
            403,
        ),
        (
            "POST",
            "/api/match".into(),
            sensor.clone(),
            Some("text/plain"),
            "x".into(),
            415,
        ),
        ndjson(
            "/api/events",
            &sensor,
            &[
                json!({"DeviceId": "d1", "DeviceName": "pc1", "RemoteUrl": "https://b.evil.example/"}),
                json!({"nothing": true}),
                json!({"DeviceId": "d2", "RemoteIP": "300.1.1.1"}),
            ],
            200,
        ),
        post(
            "/api/events",
            &sensor,
            json!([{"DeviceId": "d3", "RemoteIP": "203.0.113.7"}, 5]),
            200,
        ),
        ndjson("/api/events?profile=nope", &sensor, &[], 400),
        ndjson("/api/events", &None, &[], 401),
        ndjson("/api/events", &reader, &[], 403),
        (
            "POST",
            "/api/events".into(),
            sensor.clone(),
            Some("text/plain"),
            "x".into(),
            415,
        ),
        // Alerts (1 from the events above).
        get("/api/alerts", &analyst, 200),
        get(
            "/api/alerts?$top=1&$count=true&$select=id,status",
            &analyst,
            200,
        ),
        get("/api/alerts?$filter=$", &analyst, 400),
        get("/api/alerts", &None, 401),
        get("/api/alerts", &admin, 403),
        get("/api/alerts/1", &analyst, 200),
        get("/api/alerts/x", &analyst, 400),
        get("/api/alerts/1", &None, 401),
        get("/api/alerts/1", &admin, 403),
        get("/api/alerts/99", &analyst, 404),
        patch(
            "/api/alerts/1",
            &analyst,
            json!({"status": "Resolved", "classification": "TruePositive", "assignedTo": null}),
            200,
        ),
        patch("/api/alerts/1", &analyst, json!({"status": "Done"}), 400),
        patch("/api/alerts/1", &None, json!({"status": "New"}), 401),
        patch(
            "/api/alerts/1",
            &alerts_reader,
            json!({"status": "New"}),
            403,
        ),
        patch("/api/alerts/99", &analyst, json!({"status": "New"}), 404),
        (
            "PATCH",
            "/api/alerts/1".into(),
            analyst.clone(),
            Some("text/plain"),
            "x".into(),
            415,
        ),
        // History (2 was created then updated), then deletes.
        get("/api/indicators/2/history", &reader, 200),
        get("/api/indicators/x/history", &reader, 400),
        get("/api/indicators/2/history", &None, 401),
        get("/api/indicators/2/history", &alerts_reader, 403),
        get("/api/indicators/999/history", &reader, 404),
        delete("/api/indicators/2", &admin, 204),
        get("/api/indicators/2/history", &reader, 200),
        delete("/api/indicators/-1", &admin, 400),
        delete("/api/indicators/1", &None, 401),
        delete("/api/indicators/1", &reader, 403),
        delete("/api/indicators/2", &admin, 404),
        post(
            "/api/indicators/BatchDelete",
            &admin,
            json!({"IndicatorIds": ["3"]}),
            204,
        ),
        post(
            "/api/indicators/BatchDelete",
            &admin,
            json!({"IndicatorIds": ["x"]}),
            400,
        ),
        post(
            "/api/indicators/BatchDelete",
            &None,
            json!({"IndicatorIds": ["1"]}),
            401,
        ),
        post(
            "/api/indicators/BatchDelete",
            &reader,
            json!({"IndicatorIds": ["1"]}),
            403,
        ),
        post(
            "/api/indicators/BatchDelete",
            &admin,
            json!({"IndicatorIds": ["3"]}),
            404,
        ),
        (
            "POST",
            "/api/indicators/BatchDelete".into(),
            admin.clone(),
            None,
            "{}".into(),
            415,
        ),
        // Device groups: an indicator names "Finance" (group 1, in use); Kiosks is group 2.
        post(
            "/api/indicators",
            &admin,
            {
                let mut scoped = indicator("scoped.example", "DomainName", "Block");
                scoped["rbacGroupNames"] = json!(["Finance"]);
                scoped
            },
            200,
        ),
        post(
            "/api/deviceGroups",
            &admin,
            json!({"name": "Kiosks", "rules": {"nameStartsWith": ["kiosk-"]}}),
            201,
        ),
        post("/api/deviceGroups", &admin, json!({"name": ""}), 400),
        post("/api/deviceGroups", &None, json!({"name": "A"}), 401),
        post("/api/deviceGroups", &reader, json!({"name": "A"}), 403),
        post("/api/deviceGroups", &admin, json!({"name": "KIOSKS"}), 409),
        (
            "POST",
            "/api/deviceGroups".into(),
            admin.clone(),
            None,
            "{}".into(),
            415,
        ),
        get("/api/deviceGroups", &reader, 200),
        get("/api/deviceGroups", &None, 401),
        get("/api/deviceGroups", &alerts_reader, 403),
        get("/api/deviceGroups/0", &reader, 200),
        get("/api/deviceGroups/1", &None, 401),
        get("/api/deviceGroups/1", &alerts_reader, 403),
        get("/api/deviceGroups/999", &reader, 404),
        patch(
            "/api/deviceGroups/2",
            &admin,
            json!({"rank": 0, "description": "shop floor"}),
            200,
        ),
        patch("/api/deviceGroups/2", &admin, json!({"rank": -1}), 400),
        patch("/api/deviceGroups/2", &None, json!({"rank": 1}), 401),
        patch("/api/deviceGroups/2", &reader, json!({"rank": 1}), 403),
        patch("/api/deviceGroups/999", &admin, json!({"rank": 1}), 404),
        patch(
            "/api/deviceGroups/2",
            &admin,
            json!({"name": "finance"}),
            409,
        ),
        (
            "PATCH",
            "/api/deviceGroups/2".into(),
            admin.clone(),
            Some("text/plain"),
            "x".into(),
            415,
        ),
        delete("/api/deviceGroups/2", &None, 401),
        delete("/api/deviceGroups/2", &reader, 403),
        delete("/api/deviceGroups/999", &admin, 404),
        delete("/api/deviceGroups/1", &admin, 409),
        delete("/api/deviceGroups/2", &admin, 204),
    ];
    run(&api, &mut doc, cases).await;

    // Bypasses, of a Warn indicator made here.
    let warned = api
        .post(
            "/api/indicators",
            admin.as_deref().unwrap_or_default(),
            indicator("warned.example", "DomainName", "Warn"),
        )
        .await;
    let warn_id = warned.body["id"].as_str().unwrap_or_default().to_owned();
    let bypass = |id: &str| json!({"device": {"id": "d1"}, "indicatorId": id, "user": "ana"});
    let cases: Vec<Case> = vec![
        post("/api/match/bypass", &sensor, bypass(&warn_id), 200),
        post("/api/match/bypass", &sensor, bypass("1"), 400),
        post("/api/match/bypass", &None, bypass(&warn_id), 401),
        post("/api/match/bypass", &metrics, bypass(&warn_id), 403),
        post("/api/match/bypass", &sensor, bypass("999"), 404),
        (
            "POST",
            "/api/match/bypass".into(),
            sensor.clone(),
            None,
            "{}".into(),
            415,
        ),
        get("/api/match/bypasses", &sensor, 200),
        get("/api/match/bypasses", &None, 401),
        get("/api/match/bypasses", &metrics, 403),
    ];
    run(&api, &mut doc, cases).await;

    // Devices seen (the events and matches above, once written) and webhooks.
    api.state.service().flush_devices().unwrap();
    let cases: Vec<Case> = vec![
        get("/api/machines", &reader, 200),
        get("/api/machines?$top=1&$skip=1&$count=true", &reader, 200),
        get("/api/machines?$filter=x", &reader, 400),
        get("/api/machines", &None, 401),
        get("/api/machines", &metrics, 403),
        get("/api/machines/d1", &reader, 200),
        get("/api/machines/d1", &None, 401),
        get("/api/machines/d1", &metrics, 403),
        get("/api/machines/nowhere", &reader, 404),
        post(
            "/api/webhooks",
            &analyst,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["alert.created"]}),
            201,
        ),
        post("/api/webhooks", &analyst, json!({"url": "ftp://x"}), 400),
        post("/api/webhooks", &None, json!({"url": "http://a/"}), 401),
        post(
            "/api/webhooks",
            &alerts_reader,
            json!({"url": "http://a/"}),
            403,
        ),
        (
            "POST",
            "/api/webhooks".into(),
            analyst.clone(),
            None,
            "{}".into(),
            415,
        ),
        get("/api/webhooks", &analyst, 200),
        get("/api/webhooks", &None, 401),
        get("/api/webhooks", &alerts_reader, 403),
        get("/api/webhooks/1", &analyst, 200),
        get("/api/webhooks/x", &analyst, 400),
        get("/api/webhooks/1", &None, 401),
        get("/api/webhooks/1", &alerts_reader, 403),
        get("/api/webhooks/9", &analyst, 404),
        get("/api/webhooks/1/deliveries", &analyst, 200),
        get("/api/webhooks/1/deliveries?$top=5000", &analyst, 400),
        get("/api/webhooks/1/deliveries", &None, 401),
        get("/api/webhooks/1/deliveries", &alerts_reader, 403),
        get("/api/webhooks/9/deliveries", &analyst, 404),
        delete("/api/webhooks/x", &analyst, 400),
        delete("/api/webhooks/1", &None, 401),
        delete("/api/webhooks/1", &alerts_reader, 403),
        delete("/api/webhooks/9", &analyst, 404),
        delete("/api/webhooks/1", &analyst, 204),
    ];
    run(&api, &mut doc, cases).await;
    // Feeds: none configured here; a server with one runs it on request.
    let cases: Vec<Case> = vec![
        get("/api/feeds", &reader, 200),
        get("/api/feeds", &None, 401),
        get("/api/feeds", &alerts_reader, 403),
        post("/api/feeds/nope/run", &admin, json!({}), 404),
        post("/api/feeds/nope/run", &None, json!({}), 401),
        post("/api/feeds/nope/run", &reader, json!({}), 403),
        post(
            "/api/feeds",
            &admin,
            json!({"name": "api-feed", "kind": "list", "url": "http://127.0.0.1:9/list.txt"}),
            201,
        ),
        post(
            "/api/feeds",
            &admin,
            json!({"name": "api-feed", "kind": "list", "url": "http://127.0.0.1:9/list.txt"}),
            409,
        ),
        post(
            "/api/feeds",
            &admin,
            json!({"name": "x", "kind": "list", "url": "file:///etc/passwd"}),
            400,
        ),
        post("/api/feeds", &None, json!({}), 401),
        post("/api/feeds", &reader, json!({}), 403),
        (
            "POST",
            "/api/feeds".into(),
            admin.clone(),
            Some("text/plain"),
            "x".into(),
            415,
        ),
        delete("/api/feeds/api-feed", &None, 401),
        delete("/api/feeds/api-feed", &reader, 403),
        delete("/api/feeds/nope", &admin, 404),
        delete("/api/feeds/api-feed", &admin, 204),
    ];
    run(&api, &mut doc, cases).await;
    let mut with_feed = iocd_server::config::Config::from_toml(
        "[[feeds]]\nname = \"list\"\ntenant = \"tenant-s\"\nkind = \"list\"\nurl = \"file:///nonexistent\"",
    )
    .unwrap();
    with_feed.public_url = Some("http://iocd.test".to_owned());
    let feed_api = TestApi::with_config(with_feed);
    let feed_admin = Some(feed_api.token("tenant-s", Role::ReadWriteAll, "admin"));
    run(
        &feed_api,
        &mut doc,
        vec![post("/api/feeds/list/run", &feed_admin, json!({}), 202)],
    )
    .await;
    // A tenant's webhooks are capped: the one over the cap is a conflict.
    for n in 0..20 {
        let created = api
            .post(
                "/api/webhooks",
                analyst.as_deref().unwrap_or_default(),
                json!({"url": format!("http://127.0.0.1:9/{n}")}),
            )
            .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    }
    let cases: Vec<Case> = vec![post(
        "/api/webhooks",
        &analyst,
        json!({"url": "http://127.0.0.1:9/one-too-many"}),
        409,
    )];
    run(&api, &mut doc, cases).await;

    // Rate limits and body limits, on an API whose limits are tiny; every case uses its own
    // application, whose first request of an operation passes and second is refused.
    let limited = limited_api();
    let big = "x".repeat(4096);
    let mut cases: Vec<Case> = Vec::new();
    for (n, (method, path, content_type, body)) in [
        ("GET", "/api/indicators", None, String::new()),
        ("GET", "/api/indicators/1", None, String::new()),
        ("GET", "/api/indicators/1/history", None, String::new()),
        ("DELETE", "/api/indicators/1", None, String::new()),
        (
            "POST",
            "/api/indicators",
            JSON,
            indicator("a.example", "DomainName", "Block").to_string(),
        ),
        (
            "POST",
            "/api/indicators/import",
            JSON,
            json!({"Indicators": [indicator("b.example", "DomainName", "Block")]}).to_string(),
        ),
        (
            "POST",
            "/api/indicators/BatchDelete",
            JSON,
            json!({"IndicatorIds": ["77"]}).to_string(),
        ),
        ("POST", "/api/indicators/bulk", NDJSON, String::new()),
        ("POST", "/api/indicators/convert", None, String::new()),
        (
            "POST",
            "/api/match",
            JSON,
            json!({"observables": []}).to_string(),
        ),
        (
            "POST",
            "/api/match/bypass",
            JSON,
            json!({"device": {"id": "d"}, "indicatorId": "5"}).to_string(),
        ),
        ("GET", "/api/match/bypasses", None, String::new()),
        ("POST", "/api/events", NDJSON, String::new()),
        ("GET", "/api/alerts", None, String::new()),
        ("GET", "/api/alerts/1", None, String::new()),
        ("GET", "/api/deviceGroups", None, String::new()),
        ("GET", "/api/deviceGroups/0", None, String::new()),
        (
            "POST",
            "/api/deviceGroups",
            JSON,
            json!({"name": "Limited"}).to_string(),
        ),
        (
            "PATCH",
            "/api/deviceGroups/0",
            JSON,
            json!({"rank": 1}).to_string(),
        ),
        ("DELETE", "/api/deviceGroups/77", None, String::new()),
        ("GET", "/api/machines", None, String::new()),
        ("GET", "/api/machines/d1", None, String::new()),
        ("GET", "/api/webhooks", None, String::new()),
        ("GET", "/api/webhooks/1", None, String::new()),
        ("GET", "/api/webhooks/1/deliveries", None, String::new()),
        (
            "POST",
            "/api/webhooks",
            JSON,
            json!({"url": "http://127.0.0.1:9/"}).to_string(),
        ),
        ("DELETE", "/api/webhooks/1", None, String::new()),
        ("GET", "/api/feeds", None, String::new()),
        ("POST", "/api/feeds/nope/run", None, String::new()),
        (
            "POST",
            "/api/feeds",
            JSON,
            json!({"name": "limited", "kind": "list", "url": "http://127.0.0.1:9/"}).to_string(),
        ),
        ("DELETE", "/api/feeds/nope", None, String::new()),
        (
            "PATCH",
            "/api/alerts/1",
            JSON,
            json!({"status": "New"}).to_string(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let role = if path.starts_with("/api/alerts") || path.starts_with("/api/webhooks") {
            Role::AlertReadWriteAll
        } else {
            Role::ReadWriteAll
        };
        let token = Some(limited.token("tenant-l", role, &format!("app-{n}")));
        let first = limited
            .send(
                method,
                path,
                token.as_deref(),
                content_type,
                body.clone().into_bytes(),
            )
            .await;
        assert_ne!(
            first.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{method} {path}"
        );
        cases.push((method, path.to_owned(), token, content_type, body, 429));
    }
    let writer = Some(limited.token("tenant-l", Role::ReadWriteAll, "big-writer"));
    let sensor = Some(limited.token("tenant-l", Role::EventsWrite, "big-sensor"));
    cases.push((
        "POST",
        "/api/indicators".into(),
        writer.clone(),
        JSON,
        json!({"title": big}).to_string(),
        413,
    ));
    let writer = Some(limited.token("tenant-l", Role::ReadWriteAll, "big-importer"));
    cases.push((
        "POST",
        "/api/indicators/import".into(),
        writer,
        JSON,
        json!({"Indicators": [big]}).to_string(),
        413,
    ));
    let writer = Some(limited.token("tenant-l", Role::ReadWriteAll, "big-convert"));
    cases.push((
        "POST",
        "/api/indicators/convert".into(),
        writer,
        Some("text/plain"),
        format!("{big}\n"),
        413,
    ));
    let writer = Some(limited.token("tenant-l", Role::ReadWriteAll, "big-bulk"));
    let rows: String = (0..100)
        .map(|n| {
            format!(
                "{}\n",
                indicator(&format!("n{n}.example"), "DomainName", "Block")
            )
        })
        .collect();
    cases.push((
        "POST",
        "/api/indicators/bulk".into(),
        writer,
        NDJSON,
        rows,
        413,
    ));
    cases.push((
        "POST",
        "/api/match".into(),
        sensor.clone(),
        JSON,
        json!({"observables": [], "pad": big}).to_string(),
        413,
    ));
    cases.push((
        "POST",
        "/api/events".into(),
        sensor,
        NDJSON,
        format!("{}\n", json!({"DeviceId": big})),
        413,
    ));
    run(&limited, &mut doc, cases).await;

    // A node on a shared store that has not caught up with the change log is not ready.
    limited.state.set_follower(std::sync::Arc::new(
        iocd_server::follower::FollowerStatus::new(0),
    ));
    run(&limited, &mut doc, vec![get("/readyz", &None, 503)]).await;

    // With events going through NATS JetStream (the machine's server on 127.0.0.1:4222),
    // `POST /api/events` publishes them: 202 when a stream takes the subject, 503 when none
    // does.
    let nats = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS must answer on 127.0.0.1:4222");
    let js = async_nats::jetstream::new(nats);
    let prefix = format!("schema{}", std::process::id());
    let stream = format!("{prefix}_events");
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{prefix}.events.>")],
        ..Default::default()
    })
    .await
    .expect("a stream for the test");
    for (prefix, status) in [(prefix.clone(), 202), (format!("{prefix}none"), 503)] {
        let mut config = Config::for_profile(Profile::Default);
        config.events_prefix = prefix;
        let bus_api = TestApi::with_config(config);
        bus_api.state.set_bus(js.clone());
        let sensor = Some(bus_api.token("tenant-bus", Role::EventsWrite, "sensor"));
        let events = vec![
            json!({"DeviceId": "d1", "RemoteUrl": "https://a.example/"}),
            json!({"DeviceId": "d2", "RemoteIP": "203.0.113.9"}),
        ];
        run(
            &bus_api,
            &mut doc,
            vec![ndjson("/api/events", &sensor, &events, status)],
        )
        .await;
    }
    js.delete_stream(&stream)
        .await
        .expect("delete the test stream");

    // One bulk upload that stalls holds the only bulk slot: another is answered 503; the
    // stalled one is answered 408 when its body's wait passes body_read_timeout_seconds.
    let holder = limited.token("tenant-l", Role::ReadWriteAll, "holder");
    let (request, keep_open) = stalled_request(
        &holder,
        "/api/indicators/bulk",
        "application/x-ndjson",
        b"{",
    );
    let stalled_api = limited.state.clone();
    let stalled = tokio::spawn(async move {
        use tower::ServiceExt;
        iocd_server::router(stalled_api).oneshot(request).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let other = Some(limited.token("tenant-l", Role::ReadWriteAll, "second-bulk"));
    run(
        &limited,
        &mut doc,
        vec![(
            "POST",
            "/api/indicators/bulk".into(),
            other,
            NDJSON,
            String::new(),
            503,
        )],
    )
    .await;
    let timed_out = stalled
        .await
        .expect("the stalled upload ran")
        .expect("infallible");
    let timed_out = Reply::read(timed_out).await;
    assert_eq!(timed_out.status.as_u16(), 408, "{}", timed_out.text);
    doc.check("POST", "/api/indicators/bulk", &timed_out);
    drop(keep_open);

    let missing = doc.uncovered();
    assert!(
        missing.is_empty(),
        "documented answers no request reached: {missing:#?}"
    );
}
