//! The TAXII 2.1 server in process: discovery, API root and collection as the token's role
//! allows; objects added through `POST` (with its status), read back in pages with `limit`,
//! `next` and `added_after`, the manifest, one object, its versions and delete; TAXII's media
//! types and error bodies.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use iocd_server::auth::Role;
use iocd_server::taxii::{COLLECTION_ID, TAXII_MEDIA_TYPE};
use serde_json::{Value, json};

mod common;
use common::{Reply, TestApi};

async fn taxii(
    api: &TestApi,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT, TAXII_MEDIA_TYPE);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, TAXII_MEDIA_TYPE);
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    api.send_request(request.body(body).unwrap()).await
}

fn objects_path(rest: &str) -> String {
    format!("/taxii2/iocd/collections/{COLLECTION_ID}/{rest}")
}

fn indicator(n: u32, pattern: &str) -> Value {
    json!({"type": "indicator", "spec_version": "2.1",
           "id": format!("indicator--6f1d0000-0000-4000-8000-{n:012}"),
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
           "name": format!("feed item {n}"), "pattern": pattern, "pattern_type": "stix",
           "valid_from": "2026-01-01T00:00:00Z"})
}

#[tokio::test]
async fn a_taxii_client_sees_the_tenants_collection_as_its_role_allows() {
    let api = TestApi::new();
    let reader = api.token("tenant-a", Role::ReadAll, "reader");
    let writer = api.token("tenant-a", Role::ReadWriteAll, "writer");
    let sensor = api.token("tenant-a", Role::EventsWrite, "sensor");

    let discovery = taxii(&api, "GET", "/taxii2/", Some(&reader), None).await;
    assert_eq!(discovery.status, StatusCode::OK, "{}", discovery.text);
    assert_eq!(discovery.headers[header::CONTENT_TYPE], TAXII_MEDIA_TYPE);
    assert_eq!(
        discovery.body["api_roots"],
        json!(["http://iocd.test/taxii2/iocd/"])
    );
    let root = taxii(&api, "GET", "/taxii2/iocd/", Some(&reader), None).await;
    assert_eq!(root.body["versions"], json!([TAXII_MEDIA_TYPE]));

    let collections = taxii(
        &api,
        "GET",
        "/taxii2/iocd/collections/",
        Some(&reader),
        None,
    )
    .await;
    let collection = &collections.body["collections"][0];
    assert_eq!(collection["id"], COLLECTION_ID);
    assert_eq!(
        (
            collection["can_read"].clone(),
            collection["can_write"].clone()
        ),
        (json!(true), json!(false))
    );
    let as_writer = taxii(&api, "GET", &objects_path(""), Some(&writer), None).await;
    assert_eq!(as_writer.body["can_write"], true);

    // Errors in TAXII's shape.
    let unauthorised = taxii(&api, "GET", "/taxii2/", None, None).await;
    assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthorised.headers[header::CONTENT_TYPE], TAXII_MEDIA_TYPE);
    assert_eq!(unauthorised.body["http_status"], "401");
    assert!(unauthorised.body["title"].is_string());
    let forbidden = taxii(&api, "GET", &objects_path("objects/"), Some(&sensor), None).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let no_collection = taxii(
        &api,
        "GET",
        "/taxii2/iocd/collections/nope/objects/",
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(no_collection.status, StatusCode::NOT_FOUND);
    let read_only = taxii(
        &api,
        "POST",
        &objects_path("objects/"),
        Some(&reader),
        Some(json!({"objects": []})),
    )
    .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    let wrong_accept = api
        .send_request(
            Request::builder()
                .uri("/taxii2/")
                .header(header::ACCEPT, "text/html")
                .header(header::AUTHORIZATION, format!("Bearer {reader}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_accept.status, StatusCode::NOT_ACCEPTABLE);
    let wrong_type = api
        .send_request(
            Request::builder()
                .method("POST")
                .uri(objects_path("objects/"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {writer}"))
                .body(Body::from("{\"objects\": []}"))
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn objects_go_in_and_come_back_in_pages() {
    let api = TestApi::new();
    let writer = api.token("tenant-a", Role::ReadWriteAll, "writer");
    let objects: Vec<Value> = (1..=25)
        .map(|n| indicator(n, &format!("[domain-name:value = 'd{n}.feed.example']")))
        .chain([
            indicator(90, "[domain-name:value = 'x.example'] WITHIN 5 SECONDS"),
            json!({"type": "malware", "spec_version": "2.1", "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                   "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "x", "is_family": false}),
        ])
        .collect();
    let added = taxii(
        &api,
        "POST",
        &objects_path("objects/"),
        Some(&writer),
        Some(json!({"objects": objects})),
    )
    .await;
    assert_eq!(added.status, StatusCode::ACCEPTED, "{}", added.text);
    let status = &added.body;
    assert_eq!(status["status"], "complete");
    assert_eq!(
        (
            status["total_count"].clone(),
            status["success_count"].clone(),
            status["failure_count"].clone()
        ),
        (json!(27), json!(25), json!(2))
    );
    assert_eq!(
        status["successes"][0]["version"],
        "2026-01-02T00:00:00.000Z"
    );
    let failures: Vec<String> = status["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    assert!(failures[0].contains("WITHIN"), "{failures:?}");
    assert!(failures[1].contains("malware object"), "{failures:?}");
    // The status can be read again, by this tenant only.
    let status_path = format!("/taxii2/iocd/status/{}/", status["id"].as_str().unwrap());
    let again = taxii(&api, "GET", &status_path, Some(&writer), None).await;
    assert_eq!(again.body, *status);
    let outsider = api.token("tenant-b", Role::ReadWriteAll, "writer");
    assert_eq!(
        taxii(&api, "GET", &status_path, Some(&outsider), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        taxii(
            &api,
            "GET",
            &objects_path("objects/"),
            Some(&outsider),
            None
        )
        .await
        .body["objects"],
        json!([])
    );

    // Pages of 10 with next: every object once, in the order written.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &next {
            Some(token) => objects_path(&format!("objects/?limit=10&next={token}")),
            None => objects_path("objects/?limit=10"),
        };
        let page = taxii(&api, "GET", &path, Some(&writer), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.headers.contains_key("x-taxii-date-added-first"));
        pages += 1;
        for object in page.body["objects"].as_array().unwrap() {
            seen.push(object["id"].as_str().unwrap().to_owned());
        }
        match page.body["next"].as_str() {
            Some(token) => {
                assert_eq!(page.body["more"], true);
                next = Some(token.to_owned());
            }
            None => {
                assert_eq!(page.body["more"], false);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (1..=25)
        .map(|n| format!("indicator--6f1d0000-0000-4000-8000-{n:012}"))
        .collect();
    assert_eq!(
        seen, expected,
        "the posted ids come back, once each, in order"
    );

    // added_after: what was written after the last date a client saw.
    let first_page = taxii(
        &api,
        "GET",
        &objects_path("objects/?limit=25"),
        Some(&writer),
        None,
    )
    .await;
    let last_seen = first_page.headers["x-taxii-date-added-last"]
        .to_str()
        .unwrap()
        .to_owned();
    let nothing_new = taxii(
        &api,
        "GET",
        &objects_path(&format!("objects/?added_after={last_seen}")),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(nothing_new.body["objects"], json!([]));
    let changed = indicator(3, "[domain-name:value = 'd3.feed.example']");
    let mut changed = changed;
    changed["modified"] = json!("2026-02-01T00:00:00.000Z");
    changed["name"] = json!("renamed");
    taxii(
        &api,
        "POST",
        &objects_path("objects/"),
        Some(&writer),
        Some(json!({"objects": [changed]})),
    )
    .await;
    let news = taxii(
        &api,
        "GET",
        &objects_path(&format!("objects/?added_after={last_seen}")),
        Some(&writer),
        None,
    )
    .await;
    let news = news.body["objects"].as_array().unwrap().clone();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(news[0]["name"], "renamed");

    // Manifest, one object, its versions, filters.
    let manifest = taxii(
        &api,
        "GET",
        &objects_path("manifest/?limit=2"),
        Some(&writer),
        None,
    )
    .await;
    let entry = &manifest.body["objects"][0];
    assert_eq!(entry["media_type"], "application/stix+json;version=2.1");
    assert!(entry["date_added"].as_str().unwrap().ends_with('Z'));
    let id = &expected[4];
    let one = taxii(
        &api,
        "GET",
        &objects_path(&format!("objects/{id}/")),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(
        one.body["objects"][0]["pattern"],
        "[domain-name:value = 'd5.feed.example']"
    );
    let versions = taxii(
        &api,
        "GET",
        &objects_path(&format!("objects/{id}/versions/")),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(versions.body["versions"].as_array().unwrap().len(), 1);
    let by_match = taxii(
        &api,
        "GET",
        &objects_path(&format!("objects/?match[id]={id},{}", expected[5])),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(by_match.body["objects"].as_array().unwrap().len(), 2);
    let other_type = taxii(
        &api,
        "GET",
        &objects_path("objects/?match[type]=malware"),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(other_type.body["objects"], json!([]));
    let missing = taxii(
        &api,
        "GET",
        &objects_path("objects/indicator--00000000-0000-4000-8000-000000000000/"),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Delete one; revoke another.
    let deleted = taxii(
        &api,
        "DELETE",
        &objects_path(&format!("objects/{id}/")),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(
        taxii(
            &api,
            "GET",
            &objects_path(&format!("objects/{id}/")),
            Some(&writer),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let mut revoked = indicator(6, "[domain-name:value = 'd6.feed.example']");
    revoked["revoked"] = json!(true);
    let status = taxii(
        &api,
        "POST",
        &objects_path("objects/"),
        Some(&writer),
        Some(json!({"objects": [revoked]})),
    )
    .await;
    assert_eq!(status.body["success_count"], 1);
    let all = taxii(&api, "GET", &objects_path("objects/"), Some(&writer), None).await;
    assert_eq!(all.body["objects"].as_array().unwrap().len(), 23);

    // Indicators made through the MDE API are in the collection too, with ids that lead back.
    let created = api
        .post(
            "/api/indicators",
            &writer,
            common::indicator("api.example", "DomainName", "Block"),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let all = taxii(&api, "GET", &objects_path("objects/"), Some(&writer), None).await;
    let native = all.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["pattern"] == "[domain-name:value = 'api.example']")
        .cloned()
        .unwrap();
    assert_eq!(native["x_iocd_action"], "Block");
    let back = taxii(
        &api,
        "GET",
        &objects_path(&format!("objects/{}/", native["id"].as_str().unwrap())),
        Some(&writer),
        None,
    )
    .await;
    assert_eq!(back.body["objects"][0], native);
}
