//! The HTTP API through the router (no socket): MDE compatibility, errors, tenancy, roles,
//! limits, expiry, history, bulk, metrics and the OpenAPI document.

use axum::http::{StatusCode, header};
use iocd_server::auth::{Role, SigningKey};
use iocd_server::config::{Config, Profile};
use serde_json::{Value, json};

mod common;
use common::{TestApi, indicator};

const MDE_PROPERTY_ORDER: [&str; 31] = [
    "id",
    "indicatorValue",
    "indicatorType",
    "action",
    "createdBy",
    "severity",
    "category",
    "application",
    "educateUrl",
    "bypassDurationHours",
    "title",
    "description",
    "recommendedActions",
    "creationTimeDateTimeUtc",
    "expirationTime",
    "lastUpdateTime",
    "lastUpdatedBy",
    "rbacGroupNames",
    "rbacGroupIds",
    "notificationId",
    "notificationBody",
    "version",
    "mitreTechniques",
    "historicalDetection",
    "lookBackPeriod",
    "generateAlert",
    "additionalInfo",
    "createdByDisplayName",
    "externalId",
    "createdBySource",
    "certificateInfo",
];

#[tokio::test]
async fn submit_returns_the_full_mde_entity_in_mde_order() {
    let api = TestApi::new();
    let reply = api
        .post(
            "/api/indicators",
            &api.admin(),
            indicator("203.0.113.7", "IpAddress", "Block"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body["@odata.context"],
        "http://iocd.test/api/$metadata#Indicators/$entity"
    );
    let keys: Vec<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .skip(1)
        .collect();
    assert_eq!(keys, MDE_PROPERTY_ORDER);
    assert_eq!(
        iocd_model::IndicatorEntity::PROPERTIES,
        MDE_PROPERTY_ORDER,
        "the list $select checks against"
    );
    assert_eq!(reply.body["id"], "1");
    assert_eq!(reply.body["category"], 1);
    assert_eq!(reply.body["severity"], "Informational");
    assert_eq!(reply.body["application"], Value::Null);
    assert_eq!(reply.body["rbacGroupNames"], json!([]));
    assert_eq!(reply.body["createdBy"], "admin-app");
    assert_eq!(reply.body["createdByDisplayName"], "admin-app name");
    assert_eq!(reply.body["createdBySource"], "PublicApi");
    let created = reply.body["creationTimeDateTimeUtc"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2021-08-17T08:57:46.1460707Z".len(),
        "{created}"
    );
    assert_eq!(reply.headers["OData-Version"], "4.0");
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json; odata.metadata=minimal")
    );

    let fetched = api.get("/api/indicators/1", &api.admin()).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, reply.body);
    let versioned = api.get("/api/v1.0/indicators/1", &api.admin()).await;
    assert_eq!(versioned.body["indicatorValue"], "203.0.113.7");

    // Same type, value and action: an update of the same id.
    let mut update = indicator("203.0.113.7", "IpAddress", "Block");
    update["title"] = json!("renamed");
    let updated = api.post("/api/indicators", &api.admin(), update).await;
    assert_eq!(updated.body["id"], "1");
    assert_eq!(updated.body["title"], "renamed");
    assert_eq!(updated.body["lastUpdatedBy"], "admin-app");
    assert_eq!(
        updated.body["creationTimeDateTimeUtc"],
        reply.body["creationTimeDateTimeUtc"]
    );
    // Another action: a second indicator.
    let other = api
        .post(
            "/api/indicators",
            &api.admin(),
            indicator("203.0.113.7", "IpAddress", "Allowed"),
        )
        .await;
    assert_eq!(other.body["id"], "2");
}

/// One row per malformed request: method, path, content type, body, expected status and code.
#[tokio::test]
async fn malformed_requests_get_mde_errors() {
    let api = TestApi::new();
    let token = api.admin();
    let json = Some("application/json");
    let valid = indicator("evil.example", "DomainName", "Block").to_string();
    let many: Vec<Value> = (0..501)
        .map(|i| indicator(&format!("d{i}.example"), "DomainName", "Block"))
        .collect();
    let too_many = json!({"Indicators": many}).to_string();
    let too_many_ids =
        json!({"IndicatorIds": (1..=501).map(|i| i.to_string()).collect::<Vec<_>>()}).to_string();
    let huge = format!("{{\"title\":\"{}\"}}", "x".repeat(33 * 1024 * 1024));
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("POST", "/api/indicators", json, indicator("abc", "FileSha256", "Block").to_string(), 400, "InvalidHashValue"),
        ("POST", "/api/indicators", json, indicator("300.1.1.1", "IpAddress", "Block").to_string(), 400, "InvalidIpAddress"),
        ("POST", "/api/indicators", json, indicator("bad_domain..x", "DomainName", "Block").to_string(), 400, "InvalidDomainName"),
        ("POST", "/api/indicators", json, indicator("no-scheme.example/x", "Url", "Block").to_string(), 400, "InvalidUrl"),
        ("POST", "/api/indicators", json, json!({"indicatorValue": "x.example", "indicatorType": "DomainName", "action": "Block", "description": "d"}).to_string(), 400, "MissingRequiredParameter"),
        ("POST", "/api/indicators", json, indicator("x.example", "DomainName", "Audit").to_string(), 400, "InvalidInput"),
        ("POST", "/api/indicators", json, "{not json".to_owned(), 400, "InvalidRequestBody"),
        ("POST", "/api/indicators", json, "[1,2]".to_owned(), 400, "InvalidRequestBody"),
        ("POST", "/api/indicators", Some("text/plain"), valid.clone(), 415, "UnsupportedMediaType"),
        ("POST", "/api/indicators", None, valid.clone(), 415, "UnsupportedMediaType"),
        ("POST", "/api/indicators", json, huge, 413, "PayloadTooLarge"),
        ("PUT", "/api/indicators", json, valid.clone(), 405, "MethodNotAllowed"),
        ("PATCH", "/api/indicators/1", json, valid, 405, "MethodNotAllowed"),
        ("GET", "/api/indicators/import", None, String::new(), 405, "MethodNotAllowed"),
        ("GET", "/api/nothing-here", None, String::new(), 404, "NotFound"),
        ("GET", "/api/indicators/77", None, String::new(), 404, "NotFound"),
        ("GET", "/api/indicators/abc", None, String::new(), 400, "InvalidInput"),
        ("DELETE", "/api/indicators/77", None, String::new(), 404, "NotFound"),
        ("DELETE", "/api/indicators/-1", None, String::new(), 400, "InvalidInput"),
        ("GET", "/api/indicators?$filter=title%20eq", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$filter=nosuch%20eq%20'x'", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$filter=$", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$filter=title%20eq%20'x'%20and%20$", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$top=10001", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$top=ten", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$orderby=title%20up", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$expand=x", None, String::new(), 400, "ODataError"),
        ("GET", "/api/indicators?$select=nosuch", None, String::new(), 400, "ODataError"),
        ("POST", "/api/indicators/import", json, json!({"Indicators": []}).to_string(), 400, "InvalidInput"),
        ("POST", "/api/indicators/import", json, json!({"Other": []}).to_string(), 400, "MissingRequiredParameter"),
        ("POST", "/api/indicators/import", json, json!({"Indicators": "x"}).to_string(), 400, "InvalidRequestBody"),
        ("POST", "/api/indicators/import", json, too_many, 400, "MaximumBatchSizeExceeded"),
        ("POST", "/api/indicators/BatchDelete", json, json!({"IndicatorIds": []}).to_string(), 400, "InvalidInput"),
        ("POST", "/api/indicators/BatchDelete", json, json!({"IndicatorIds": ["1", "x"]}).to_string(), 400, "InvalidInput"),
        ("POST", "/api/indicators/BatchDelete", json, too_many_ids, 400, "MaximumBatchSizeExceeded"),
        ("POST", "/api/indicators/BatchDelete", json, json!({"IndicatorIds": ["5"]}).to_string(), 404, "NotFound"),
        ("POST", "/api/indicators/bulk", Some("application/json"), "{}".to_owned(), 415, "UnsupportedMediaType"),
        ("POST", "/api/indicators/bulk", Some("text/csv"), "Nonsense,Header\n".to_owned(), 400, "InvalidInput"),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let reply = api
            .send(method, path, Some(&token), content_type, body.into_bytes())
            .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path}: {}",
            reply.text.chars().take(300).collect::<String>()
        );
        assert_eq!(
            reply.body["error"]["code"], code,
            "{method} {path}: {}",
            reply.text
        );
        assert!(
            !reply.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{method} {path}"
        );
        assert_eq!(
            reply.body["error"]["target"].as_str().map(str::len),
            Some(36),
            "{method} {path}"
        );
        if status == 405 {
            assert!(
                reply.headers.contains_key(header::ALLOW),
                "{method} {path} lacks Allow"
            );
        }
    }
}

#[tokio::test]
async fn every_api_route_needs_a_valid_token() {
    let api = TestApi::new();
    let other_key = SigningKey::from_bytes([1; 32]);
    let forged = other_key.issue(
        "tenant-a",
        &[Role::ReadWriteAll],
        "x",
        "x",
        api.state.now().unix_seconds(),
        3600,
    );
    let expired = api
        .state
        .key()
        .issue("tenant-a", &[Role::ReadWriteAll], "x", "x", 1_000, 60);
    let routes = [
        ("GET", "/api/indicators"),
        ("GET", "/api/v1.0/indicators"),
        ("POST", "/api/indicators"),
        ("GET", "/api/indicators/1"),
        ("DELETE", "/api/indicators/1"),
        ("GET", "/api/indicators/1/history"),
        ("POST", "/api/indicators/import"),
        ("POST", "/api/indicators/BatchDelete"),
        ("POST", "/api/indicators/bulk"),
        ("GET", "/metrics"),
    ];
    for (method, path) in routes {
        for token in [
            None,
            Some(forged.as_str()),
            Some(expired.as_str()),
            Some("garbage"),
        ] {
            let reply = api
                .send(
                    method,
                    path,
                    token,
                    Some("application/json"),
                    b"{}".to_vec(),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert_eq!(reply.body["error"]["code"], "Unauthorized");
        }
    }
    let health = api.send("GET", "/healthz", None, None, Vec::new()).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn tenants_are_isolated_and_roles_are_enforced() {
    let api = TestApi::new();
    let a = api.admin();
    let b = api.token("tenant-b", Role::ReadWriteAll, "admin-app");
    api.post(
        "/api/indicators",
        &a,
        indicator("a.example", "DomainName", "Block"),
    )
    .await;
    assert_eq!(
        api.get("/api/indicators/1", &b).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/indicators", &b).await.body["value"],
        json!([])
    );
    assert_eq!(
        api.send("DELETE", "/api/indicators/1", Some(&b), None, Vec::new())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/indicators/1", &a).await.status,
        StatusCode::OK
    );

    // Ti.ReadWrite: only its own application's indicators.
    let own = api.token("tenant-a", Role::ReadWrite, "soar-app");
    let created = api
        .post(
            "/api/indicators",
            &own,
            indicator("soar.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(created.body["id"], "2");
    let listed = api.get("/api/indicators", &own).await;
    let ids: Vec<&str> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["2"]);
    assert_eq!(
        api.get("/api/indicators/1", &own).await.status,
        StatusCode::NOT_FOUND
    );
    let clash = api
        .post(
            "/api/indicators",
            &own,
            indicator("a.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(clash.status, StatusCode::FORBIDDEN, "{}", clash.text);
    assert_eq!(
        api.send("DELETE", "/api/indicators/1", Some(&own), None, Vec::new())
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Ti.Read.All reads everything and writes nothing.
    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    assert_eq!(
        api.get("/api/indicators", &reader).await.body["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let denied = api
        .post(
            "/api/indicators",
            &reader,
            indicator("r.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.body["error"]["code"], "Forbidden");
    let denied = api
        .post(
            "/api/indicators/BatchDelete",
            &reader,
            json!({"IndicatorIds": ["1"]}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    // Metrics need Metrics.Read, which an admin token does not have.
    assert_eq!(api.get("/metrics", &a).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn import_is_partial_and_in_request_order() {
    let api = TestApi::new();
    let body = json!({"Indicators": [
        indicator("good.example", "DomainName", "Block"),
        indicator("not a hash", "FileSha1", "Block"),
        "not an object",
        indicator("http://good.example/x", "Url", "Warn"),
        indicator("good.example", "DomainName", "Block"),
    ]});
    let reply = api.post("/api/indicators/import", &api.admin(), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let results = reply.body["value"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let summary: Vec<(Value, Value, bool)> = results
        .iter()
        .map(|r| {
            (
                r["id"].clone(),
                r["indicator"].clone(),
                r["isFailed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!("1"), json!("good.example"), false),
            (Value::Null, json!("not a hash"), true),
            (Value::Null, Value::Null, true),
            (json!("2"), json!("http://good.example/x"), false),
            (json!("1"), json!("good.example"), false),
        ]
    );
    assert!(
        results[1]["failureReason"]
            .as_str()
            .unwrap()
            .contains("Hash value not a hash is invalid")
    );
    assert_eq!(results[0]["failureReason"], Value::Null);
}

#[tokio::test]
async fn batch_delete_is_all_or_nothing() {
    let api = TestApi::new();
    let token = api.admin();
    for value in ["a.example", "b.example", "c.example"] {
        api.post(
            "/api/indicators",
            &token,
            indicator(value, "DomainName", "Block"),
        )
        .await;
    }
    let missing = api
        .post(
            "/api/indicators/BatchDelete",
            &token,
            json!({"IndicatorIds": ["1", "2", "9"]}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains('9')
    );
    assert_eq!(
        api.get("/api/indicators?$count=true", &token).await.body["@odata.count"],
        3
    );
    let done = api
        .post(
            "/api/indicators/BatchDelete",
            &token,
            json!({"IndicatorIds": ["1", 2]}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/indicators?$count=true", &token).await.body["@odata.count"],
        1
    );
    let single = api
        .send(
            "DELETE",
            "/api/indicators/3",
            Some(&token),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(single.status, StatusCode::NO_CONTENT);
    assert_eq!(single.text, "");
}

#[tokio::test]
async fn list_pages_with_next_links_count_and_select() {
    let api = TestApi::new();
    let token = api.admin();
    let items: Vec<Value> = (0..25)
        .map(|i| indicator(&format!("d{i:02}.example"), "DomainName", "Block"))
        .collect();
    api.post(
        "/api/indicators/import",
        &token,
        json!({"Indicators": items}),
    )
    .await;
    let mut path = "/api/indicators?$top=10&$count=true&$select=id,indicatorValue".to_owned();
    let mut seen = Vec::new();
    loop {
        let page = api.get(&path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert_eq!(page.body["@odata.count"], 25);
        for item in page.body["value"].as_array().unwrap() {
            assert_eq!(
                item.as_object().unwrap().len(),
                2,
                "$select keeps two properties"
            );
            seen.push(item["id"].as_str().unwrap().parse::<i64>().unwrap());
        }
        match page.body["@odata.nextLink"].as_str() {
            Some(link) => path = link.strip_prefix("http://iocd.test").unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    let ordered = api
        .get(
            "/api/indicators?$orderby=indicatorValue%20desc&$top=3&$skip=1",
            &token,
        )
        .await;
    let values: Vec<&str> = ordered.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["indicatorValue"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["d23.example", "d22.example", "d21.example"]);
    assert!(
        ordered.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("%24skip=4")
    );
    let filtered = api
        .get(
            "/api/indicators?$filter=indicatorValue+eq+'d07.example'",
            &token,
        )
        .await;
    assert_eq!(filtered.body["value"][0]["id"], "8");
}

#[tokio::test]
async fn expired_indicators_vanish_at_their_second_and_leave_history() {
    let api = TestApi::new();
    let token = api.admin();
    let mut item = indicator("short.example", "DomainName", "Block");
    let expiry = api.state.now().plus_seconds(30).truncated_to_second();
    item["expirationTime"] = json!(expiry.to_mde_seconds());
    assert_eq!(
        api.post("/api/indicators", &token, item).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/indicators/1", &token).await.status,
        StatusCode::OK
    );
    api.state.advance_clock(31);
    assert_eq!(
        api.get("/api/indicators/1", &token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/indicators?$count=true", &token).await.body["@odata.count"],
        0
    );
    let swept = api
        .state
        .service()
        .sweep_expired(api.state.now(), 100)
        .unwrap();
    assert_eq!(swept, 1);
    let history = api.get("/api/indicators/1/history", &token).await;
    let operations: Vec<&str> = history.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations, ["create", "expire"]);
    assert_eq!(
        history.body["value"][1]["before"]["indicatorValue"],
        "short.example"
    );
    // A past expiry is refused.
    let mut past = indicator("past.example", "DomainName", "Block");
    past["expirationTime"] = json!("2020-01-01T00:00:00Z");
    let refused = api.post("/api/indicators", &token, past).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mde_profile_rate_limits_with_retry_after_and_caps_tenants() {
    let mut config = Config::for_profile(Profile::Mde);
    config.max_active_indicators = Some(3);
    let api = TestApi::with_config(config);
    let token = api.admin();
    for i in 0..30 {
        let reply = api
            .post(
                "/api/indicators/import",
                &token,
                json!({"Indicators": [indicator(&format!("r{i}.example"), "DomainName", "Block")]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let limited = api
        .post(
            "/api/indicators/import",
            &token,
            json!({"Indicators": [indicator("x.example", "DomainName", "Block")]}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["error"]["code"], "TooManyRequests");
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    // Another application has its own quota; the tenant cap (3) has been reached.
    let other = api.token("tenant-a", Role::ReadWriteAll, "other-app");
    let capped = api
        .post(
            "/api/indicators",
            &other,
            indicator("over.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(capped.status, StatusCode::FORBIDDEN, "{}", capped.text);
    assert_eq!(capped.body["error"]["code"], "QuotaExceeded");
    // Strict MDE mode refuses CIDR.
    let cidr = api
        .post(
            "/api/indicators",
            &other,
            indicator("198.51.100.0/24", "IpAddress", "Block"),
        )
        .await;
    assert_eq!(cidr.body["error"]["code"], "InvalidIpAddress");
}

#[tokio::test]
async fn bulk_takes_ndjson_and_csv_with_per_line_results() {
    let api = TestApi::new();
    let token = api.admin();
    let ndjson = [
        indicator("a.example", "DomainName", "Block").to_string(),
        String::new(),
        "{broken".to_owned(),
        indicator("198.51.100.0/24", "IpAddress", "Block").to_string(),
        indicator("zzz", "FileMd5", "Block").to_string(),
    ]
    .join("\n");
    let reply = api
        .send(
            "POST",
            "/api/indicators/bulk?report=all",
            Some(&token),
            Some("application/x-ndjson"),
            ndjson.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        (
            reply.body["received"].as_u64(),
            reply.body["created"].as_u64(),
            reply.body["failed"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    let lines: Vec<(u64, bool)> = reply.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["isFailed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, vec![(1, false), (3, true), (4, false), (5, true)]);

    let csv = "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert\n\
        FileSha256,e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,,Audit,Low,\"t, with comma\",d,,\"G1,G2\",Discovery,T1046,true\n\
        DomainName,b.example,,AlertAndBlock,Low,t,d,,,,,true\n";
    let reply = api
        .send(
            "POST",
            "/api/indicators/bulk",
            Some(&token),
            Some("text/csv; charset=utf-8"),
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["created"], 1);
    assert_eq!(
        reply.body["value"][0]["line"], 3,
        "only the failure is reported, with its line"
    );
    assert!(
        reply.body["value"][0]["failureReason"]
            .as_str()
            .unwrap()
            .contains("AlertAndBlock")
    );
    let stored = api
        .get(
            "/api/indicators?$filter=indicatorType+eq+'FileSha256'",
            &token,
        )
        .await;
    assert_eq!(
        stored.body["value"][0]["rbacGroupNames"],
        json!(["G1", "G2"])
    );
    assert_eq!(stored.body["value"][0]["category"], 6);
    assert_eq!(stored.body["value"][0]["title"], "t, with comma");
}

#[tokio::test]
async fn metrics_and_openapi_describe_the_service() {
    let api = TestApi::new();
    let token = api.admin();
    api.post(
        "/api/indicators",
        &token,
        indicator("m.example", "DomainName", "Block"),
    )
    .await;
    let metrics_token = api.token("tenant-a", Role::MetricsRead, "prometheus");
    let metrics = api.get("/metrics", &metrics_token).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains(
            "iocd_http_requests_total{method=\"POST\",route=\"/api/indicators\",status=\"200\"} 1"
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("iocd_indicators{tenant=\"tenant-a\",type=\"DomainName\"} 1")
    );

    // What the engines do: a match, events (one refused), an alert, the apply lag.
    let mut audited = indicator("audit.example", "DomainName", "Audit");
    audited["generateAlert"] = json!(true);
    assert_eq!(
        api.post("/api/indicators", &token, audited).await.status,
        StatusCode::OK
    );
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");
    let matched = api
        .post(
            "/api/match",
            &sensor,
            json!({"observables": [
                {"type": "DomainName", "value": "m.example"},
                {"type": "DomainName", "value": "www.m.example"},
                {"type": "DomainName", "value": "unknown.example"},
            ]}),
        )
        .await;
    assert_eq!(matched.status, StatusCode::OK, "{}", matched.text);
    let events = api
        .send(
            "POST",
            "/api/events",
            Some(&sensor),
            Some("application/x-ndjson"),
            b"{\"DeviceId\":\"d1\",\"RemoteUrl\":\"http://audit.example/\"}\nnot json\n".to_vec(),
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    let text = api.get("/metrics", &metrics_token).await.text;
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        value("iocd_matches_total{source=\"match\",action=\"Block\"}"),
        2.0
    );
    assert_eq!(
        value("iocd_matches_total{source=\"events\",action=\"Audit\"}"),
        1.0
    );
    assert_eq!(value("iocd_events_total{outcome=\"accepted\"}"), 1.0);
    assert_eq!(value("iocd_events_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(value("iocd_alerts_created_total{source=\"events\"}"), 1.0);
    assert!(value("iocd_engine_apply_lag_seconds_count") >= 2.0);
    assert!(value("iocd_database_bytes") > 0.0);
    assert_eq!(value("iocd_devices_pending_write"), 1.0);
    assert!(
        !text.contains("unknown.example"),
        "no label from request text"
    );

    let openapi = api
        .send("GET", "/openapi.json", None, None, Vec::new())
        .await;
    assert_eq!(openapi.status, StatusCode::OK);
    let paths = openapi.body["paths"].as_object().unwrap();
    for (method, path) in [
        ("get", "/api/indicators"),
        ("post", "/api/indicators"),
        ("get", "/api/indicators/{id}"),
        ("delete", "/api/indicators/{id}"),
        ("post", "/api/indicators/import"),
        ("post", "/api/indicators/BatchDelete"),
        ("post", "/api/indicators/bulk"),
        ("get", "/api/indicators/{id}/history"),
        ("get", "/api/v1.0/indicators"),
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "OpenAPI lacks {method} {path}"
        );
    }
    assert!(openapi.body["components"]["schemas"]["Indicator"].is_object());
}

#[tokio::test]
async fn the_background_sweeper_deletes_expired_indicators() {
    let api = TestApi::new();
    let token = api.admin();
    let mut item = indicator("sweep.example", "DomainName", "Block");
    item["expirationTime"] = json!(api.state.now().plus_seconds(30).to_mde_seconds());
    assert_eq!(
        api.post("/api/indicators", &token, item).await.status,
        StatusCode::OK
    );
    api.state.advance_clock(31);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(iocd_server::run_sweeper(api.state.clone(), stopped));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let history = api.get("/api/indicators/1/history", &token).await;
        let last = history.body["value"]
            .as_array()
            .and_then(|v| v.last())
            .map(|h| h["operation"].clone());
        if last == Some(json!("expire")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not expire the indicator"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        api.state
            .service()
            .indicators()
            .count_active("tenant-a", api.state.now())
            .unwrap(),
        0
    );
    stop.send(true).unwrap();
    sweeper.await.unwrap();
}
