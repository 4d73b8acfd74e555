//! `/api/deviceGroups` through the router: groups listed by rank with the default last, a
//! rename reaching the indicators scoped to the group, and deletion refused while in use.

use axum::http::StatusCode;
use serde_json::json;

mod common;
use common::{TestApi, indicator};

#[tokio::test]
async fn groups_are_ranked_renamed_into_indicators_and_kept_while_used() {
    let api = TestApi::new();
    let admin = api.admin();
    for (name, rank) in [("Servers", 5), ("Laptops", 1)] {
        let reply = api
            .post(
                "/api/deviceGroups",
                &admin,
                json!({"name": name, "rank": rank}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    let listed = api.get("/api/deviceGroups", &admin).await;
    let names: Vec<&str> = listed.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Laptops", "Servers", "Ungrouped devices"]);
    assert_eq!(listed.body["value"][2]["isDefault"], true);
    assert_eq!(listed.body["value"][2]["rank"], serde_json::Value::Null);

    let mut scoped = indicator("dc.example", "DomainName", "Block");
    scoped["rbacGroupNames"] = json!(["servers"]);
    let created = api.post("/api/indicators", &admin, scoped).await;
    assert_eq!(created.body["rbacGroupNames"], json!(["Servers"]));
    let id = created.body["id"].as_str().unwrap().to_owned();

    let renamed = api
        .send(
            "PATCH",
            "/api/deviceGroups/1",
            Some(&admin),
            Some("application/json"),
            json!({"name": "Data centre"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let indicator = api.get(&format!("/api/indicators/{id}"), &admin).await;
    assert_eq!(indicator.body["rbacGroupNames"], json!(["Data centre"]));
    assert_eq!(indicator.body["rbacGroupIds"], json!([1]));

    let refused = api
        .send(
            "DELETE",
            "/api/deviceGroups/1",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text.contains("1 indicators"), "{}", refused.text);
    let default = api
        .send(
            "DELETE",
            "/api/deviceGroups/0",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(default.status, StatusCode::FORBIDDEN);
    // Once the indicator is gone, so may the group be.
    let gone = api
        .send(
            "DELETE",
            &format!("/api/indicators/{id}"),
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let deleted = api
        .send(
            "DELETE",
            "/api/deviceGroups/1",
            Some(&admin),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
}
