//! The readers against feed-shaped fixtures: every object, attribute or line either becomes
//! an indicator or is reported with its reason (nothing is dropped silently).

use iocd_interop::{ImportBatch, ImportDefaults, misp, plain, stix};
use serde_json::{Value, json};
use std::path::Path;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// (origin, type, value, action) of each item.
fn items(batch: &ImportBatch) -> Vec<(String, String, String, String)> {
    batch
        .items
        .iter()
        .map(|item| {
            let s = &item.submission;
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
            (
                item.origin.clone(),
                text("indicatorType"),
                text("indicatorValue"),
                text("action"),
            )
        })
        .collect()
}

fn reasons(batch: &ImportBatch) -> Vec<(String, String)> {
    batch
        .problems
        .iter()
        .map(|p| (p.origin.clone(), p.reason.clone()))
        .collect()
}

#[test]
fn a_stix_feed_becomes_indicators_removals_and_reasons() {
    let document: Value = serde_json::from_str(&fixture("feed-bundle.json")).unwrap();
    assert!(stix::is_stix(&document));
    let batch = stix::read(&document, &ImportDefaults::default());
    let id = |n: u32| format!("object indicator--a1b2c3d4-0001-4000-8000-00000000000{n}");
    let expected = vec![
        (
            id(1),
            "IpAddress".into(),
            "203.0.113.7".into(),
            "Audit".into(),
        ),
        (
            id(1),
            "IpAddress".into(),
            "203.0.113.8".into(),
            "Audit".into(),
        ),
        (
            id(2),
            "DomainName".into(),
            "phish.example".into(),
            "Block".into(),
        ),
        (
            id(7),
            "Url".into(),
            "https://partner.example/app".into(),
            "Allowed".into(),
        ),
    ];
    assert_eq!(items(&batch), expected);
    // The newest version of object 2 won: its name and severity.
    let phish = &batch.items[2].submission;
    assert_eq!(phish["title"], "Phishing landing page");
    assert_eq!(phish["severity"], "High");
    let emotet = &batch.items[0].submission;
    assert_eq!(emotet["expirationTime"], "2027-01-01T00:00:00Z");
    assert_eq!(emotet["mitreTechniques"], json!(["T1071.001"]));
    assert_eq!(emotet["generateAlert"], true, "Audit raises alerts");
    // Two values from one object: each indicator gets an id of its own; one value keeps it.
    assert!(emotet.get("externalId").is_none());
    assert_eq!(
        phish["externalId"],
        "indicator--a1b2c3d4-0001-4000-8000-000000000002"
    );
    assert_eq!(batch.removals.len(), 1);
    assert_eq!(batch.removals[0].value, "cdn.example");
    let problems = reasons(&batch);
    let reason_of = |origin: &str| {
        problems
            .iter()
            .filter(|(o, _)| o == origin)
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        reason_of("object identity--f431f809-377b-45e0-aa1c-6a4751cae5ff")
            .contains("identity object")
    );
    assert!(reason_of(&id(2)).contains("older version"));
    assert!(reason_of(&id(3)).contains("AND across objects"));
    assert!(reason_of(&id(4)).contains("REPEATS"));
    assert!(reason_of(&id(6)).contains("pattern_type sigma"));
    assert!(
        reason_of("object relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad")
            .contains("relationship")
    );
    // Every object is accounted for: an item, a removal or a reason.
    let objects = document["objects"].as_array().unwrap().len();
    let accounted: std::collections::HashSet<&str> = batch
        .items
        .iter()
        .map(|i| i.origin.as_str())
        .chain(batch.removals.iter().map(|r| r.origin.as_str()))
        .chain(batch.problems.iter().map(|p| p.origin.as_str()))
        .collect();
    // Object 2 appears twice under one origin.
    assert_eq!(accounted.len(), objects - 1);
}

#[test]
fn single_objects_and_arrays_are_read_too() {
    let object = json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--a1b2c3d4-0001-4000-8000-00000000000a",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[domain-name:value = 'one.example']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"});
    for document in [object.clone(), json!([object])] {
        assert!(stix::is_stix(&document));
        let batch = stix::read(&document, &ImportDefaults::default());
        assert_eq!(batch.items.len(), 1, "{:?}", batch.problems);
        // Without a name, the title is the STIX id.
        assert_eq!(
            batch.items[0].submission["title"],
            "indicator--a1b2c3d4-0001-4000-8000-00000000000a"
        );
    }
    assert!(!stix::is_stix(&json!({"Event": {}})));
    let batch = stix::read(&json!("nope"), &ImportDefaults::default());
    assert_eq!(batch.problems.len(), 1);
}

#[test]
fn a_misp_event_honours_to_ids_and_maps_attribute_types() {
    let document: Value = serde_json::from_str(&fixture("misp-event.json")).unwrap();
    assert!(misp::is_misp(&document));
    let defaults = ImportDefaults {
        title_prefix: "MISP: ".into(),
        ..ImportDefaults::default()
    };
    let batch = misp::read(&document, &defaults);
    let attribute = |n: u32| format!("attribute a0000000-0000-4000-8000-00000000000{n}");
    let expected = vec![
        (
            attribute(1),
            "DomainName".into(),
            "login-phish.example".into(),
            "Audit".into(),
        ),
        (
            attribute(2),
            "IpAddress".into(),
            "198.51.100.23".into(),
            "Audit".into(),
        ),
        (
            attribute(5),
            "DomainName".into(),
            "cdn-phish.example".into(),
            "Audit".into(),
        ),
        (
            attribute(5),
            "IpAddress".into(),
            "198.51.100.24".into(),
            "Audit".into(),
        ),
        (
            attribute(6),
            "FileSha256".into(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            "Audit".into(),
        ),
    ];
    assert_eq!(items(&batch), expected);
    let first = &batch.items[0].submission;
    assert_eq!(first["title"], "MISP: Phishing wave 2026-03");
    assert_eq!(first["description"], "Phishing wave 2026-03: landing page");
    assert_eq!(first["mitreTechniques"], json!(["T1566"]));
    let problems = reasons(&batch);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].1.contains("to_ids is not set"));
    assert!(problems[1].1.contains("email-src has no indicator type"));
    assert!(problems[2].1.contains("to_ids is not set"));
}

#[test]
fn csv_lists_give_the_first_field_that_is_a_value() {
    let text = "################\n# abuse.ch URLhaus\n\"id\",\"dateadded\",\"url\",\"url_status\"\n\"3001\",\"2026-03-01 10:00:00\",\"http://203.0.113.9/bins/x.sh\",\"online\"\nfirst_seen_utc,dst_ip,dst_port\n2026-03-01 10:00:00,198.51.100.4,443\n";
    let batch = plain::read(text, "urlhaus.csv", &ImportDefaults::default());
    let got: Vec<(String, String)> = items(&batch)
        .into_iter()
        .map(|(_, t, v, _)| (t, v))
        .collect();
    assert_eq!(
        got,
        [
            ("Url".to_owned(), "http://203.0.113.9/bins/x.sh".to_owned()),
            ("IpAddress".into(), "198.51.100.4".into()),
        ]
    );
    // The header lines hold no value: reported, not dropped.
    assert_eq!(batch.problems.len(), 2, "{:?}", batch.problems);
}

#[test]
fn a_plain_list_recognises_each_value_and_reports_the_rest() {
    let batch = plain::read(
        &fixture("blocklist.txt"),
        "abuse.ch",
        &ImportDefaults::default(),
    );
    let got: Vec<(String, String)> = items(&batch)
        .into_iter()
        .map(|(origin, t, _, _)| (origin, t))
        .collect();
    assert_eq!(
        got,
        [
            ("line 2".to_owned(), "IpAddress".to_owned()),
            ("line 3".into(), "IpAddress".into()),
            ("line 4".into(), "DomainName".into()),
            ("line 5".into(), "Url".into()),
            ("line 6".into(), "FileMd5".into()),
        ]
    );
    assert_eq!(reasons(&batch).len(), 1);
    assert_eq!(batch.problems[0].origin, "line 8");
    assert_eq!(batch.items[0].submission["title"], "abuse.ch");
}
