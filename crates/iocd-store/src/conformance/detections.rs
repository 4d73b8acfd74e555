//! Conformance cases of the detection store: alerts folded per device and day, listed,
//! filtered and updated, and sightings found by key ranges.

use super::{NOW, spec, t, upsert};
use crate::{IndicatorStore, ListQuery};

fn hit(indicator_id: i64, device: &str, at: &str, seen: &str) -> crate::detections::AlertHit {
    crate::detections::AlertHit {
        indicator_id,
        device: crate::detections::DeviceRef {
            id: device.to_owned(),
            name: Some(format!("{device}.corp")),
            group: Some("Finance".to_owned()),
        },
        event_time: t(at),
        evidence: serde_json::json!({"value": seen}),
    }
}

pub fn alerts_carry_the_indicator_and_fold_per_device_and_day<S>(store: &S)
where
    S: IndicatorStore + crate::detections::DetectionStore,
{
    use crate::detections::AlertStatus;
    upsert(
        store,
        "t1",
        &[spec(
            "DomainName",
            "evil.example",
            "Audit",
            serde_json::json!({"generateAlert": true, "title": "Evil", "severity": "High",
                "category": "Malware", "recommendedActions": "Isolate", "description": "bad",
                "mitreTechniques": ["T1071", "T1071.001"]}),
        )],
    );
    let hits = [
        hit(1, "d1", "2026-03-01T10:00:00Z", "a.evil.example"),
        hit(1, "d1", "2026-03-01T20:00:00Z", "b.evil.example"),
        hit(1, "d2", "2026-03-01T10:00:00Z", "a.evil.example"),
        // 24 hours after the first event of d1's alert: a new alert.
        hit(1, "d1", "2026-03-02T10:00:00Z", "c.evil.example"),
        hit(99, "d1", "2026-03-01T10:00:00Z", "no such indicator"),
    ];
    let recorded = store.record_hits("t1", &hits, t(NOW)).unwrap();
    let recorded: Vec<Option<(i64, bool)>> = recorded
        .iter()
        .map(|r| r.map(|r| (r.alert_id, r.created)))
        .collect();
    assert_eq!(
        recorded,
        vec![
            Some((1, true)),
            Some((1, false)),
            Some((2, true)),
            Some((3, true)),
            None
        ]
    );
    let alert = store.get_alert("t1", 1).unwrap().expect("alert 1");
    assert_eq!(alert.indicator_id, 1);
    assert_eq!(alert.indicator_value, "evil.example");
    assert_eq!(alert.title, "Evil");
    assert_eq!(alert.description, "bad");
    assert_eq!(alert.severity, "High");
    assert_eq!(alert.category, "Malware");
    assert_eq!(alert.recommended_actions.as_deref(), Some("Isolate"));
    assert_eq!(alert.mitre_techniques, ["T1071", "T1071.001"]);
    assert!(alert.comments.is_empty());
    assert_eq!(alert.detection_source, "CustomerTI");
    assert_eq!(alert.action, "Audit");
    assert_eq!(alert.device.id, "d1");
    assert_eq!(alert.device.name.as_deref(), Some("d1.corp"));
    assert_eq!(alert.first_event_time, t("2026-03-01T10:00:00Z"));
    assert_eq!(alert.last_event_time, t("2026-03-01T20:00:00Z"));
    assert_eq!(alert.event_count, 2);
    assert_eq!(alert.status, AlertStatus::New);
    assert_eq!(alert.evidence.len(), 2);
    // Evidence is capped, the count is not.
    let many: Vec<_> = (0..15)
        .map(|i| {
            hit(
                1,
                "d2",
                "2026-03-01T11:00:00Z",
                &format!("x{i}.evil.example"),
            )
        })
        .collect();
    store.record_hits("t1", &many, t(NOW)).unwrap();
    let alert = store.get_alert("t1", 2).unwrap().unwrap();
    assert_eq!(alert.event_count, 16);
    assert_eq!(alert.evidence.len(), crate::detections::MAX_EVIDENCE);
    // Tenants are isolated.
    assert!(store.get_alert("t2", 1).unwrap().is_none());
}

pub fn alerts_list_filter_and_update<S>(store: &S)
where
    S: IndicatorStore + crate::detections::DetectionStore,
{
    use crate::detections::{AlertClassification, AlertStatus, AlertUpdate};
    use crate::odata::{Entity, parse_filter_for, parse_order_by_for};
    upsert(
        store,
        "t1",
        &[
            spec(
                "DomainName",
                "a.example",
                "Audit",
                serde_json::json!({"generateAlert": true, "severity": "Low"}),
            ),
            spec(
                "DomainName",
                "b.example",
                "Block",
                serde_json::json!({"generateAlert": true, "severity": "High"}),
            ),
        ],
    );
    store
        .record_hits(
            "t1",
            &[
                hit(1, "d1", "2026-03-01T10:00:00Z", "a.example"),
                hit(2, "d1", "2026-03-01T11:00:00Z", "b.example"),
                hit(2, "d2", "2026-03-01T12:00:00Z", "b.example"),
            ],
            t(NOW),
        )
        .unwrap();
    let list = |filter: &str, order: &str| -> Vec<i64> {
        let query = ListQuery {
            filter: (!filter.is_empty()).then(|| parse_filter_for(Entity::Alert, filter).unwrap()),
            order_by: if order.is_empty() {
                Vec::new()
            } else {
                parse_order_by_for(Entity::Alert, order).unwrap()
            },
            top: 100,
            count: true,
            ..ListQuery::default()
        };
        store
            .list_alerts("t1", &query)
            .unwrap()
            .items
            .iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(list("", ""), vec![1, 2, 3]);
    assert_eq!(list("severity eq 'High'", ""), vec![2, 3]);
    assert_eq!(
        list("machineId eq 'd1' and indicatorValue eq 'b.example'", ""),
        vec![2]
    );
    assert_eq!(
        list(
            "lastEventTime ge 2026-03-01T11:00:00Z",
            "lastEventTime desc"
        ),
        vec![3, 2]
    );
    assert_eq!(list("status eq 'New'", "severity desc"), vec![2, 3, 1]);
    assert!(parse_filter_for(Entity::Alert, "expirationTime eq null").is_err());

    let update = AlertUpdate {
        status: Some(AlertStatus::Resolved),
        classification: Some(Some(AlertClassification::FalsePositive)),
        assigned_to: Some(Some("analyst@example.com".to_owned())),
        comment: Some(("Looks benign.".to_owned(), "ana".to_owned())),
    };
    let updated = store
        .update_alert("t1", 2, &update, t("2026-03-01T13:00:00Z"))
        .unwrap()
        .expect("alert 2");
    assert_eq!(updated.status, AlertStatus::Resolved);
    assert_eq!(
        updated.classification,
        Some(AlertClassification::FalsePositive)
    );
    assert_eq!(updated.assigned_to.as_deref(), Some("analyst@example.com"));
    assert_eq!(updated.last_update_time, t("2026-03-01T13:00:00Z"));
    assert_eq!(list("status eq 'Resolved'", ""), vec![2]);
    let cleared = store
        .update_alert(
            "t1",
            2,
            &AlertUpdate {
                assigned_to: Some(None),
                ..AlertUpdate::default()
            },
            t(NOW),
        )
        .unwrap()
        .unwrap();
    assert_eq!(cleared.assigned_to, None);
    assert_eq!(cleared.status, AlertStatus::Resolved);
    // Comments accumulate, each with its author and time.
    let commented = store
        .update_alert(
            "t1",
            2,
            &AlertUpdate {
                comment: Some(("Closed after review.".to_owned(), "bo".to_owned())),
                ..AlertUpdate::default()
            },
            t(NOW),
        )
        .unwrap()
        .unwrap();
    let comments: Vec<(&str, &str)> = commented
        .comments
        .iter()
        .map(|c| (c.comment.as_str(), c.created_by.as_str()))
        .collect();
    assert_eq!(
        comments,
        [("Looks benign.", "ana"), ("Closed after review.", "bo")]
    );
    assert_eq!(
        commented.comments[0].created_time,
        t("2026-03-01T13:00:00Z")
    );
    assert!(
        store
            .update_alert("t1", 42, &update, t(NOW))
            .unwrap()
            .is_none()
    );
    // An id outside 1..=MAX_ID names nothing, not the alert its low bits make.
    let alias = 2 + (1_i64 << 40);
    assert!(store.get_alert("t1", alias).unwrap().is_none());
    assert!(
        store
            .update_alert("t1", alias, &update, t(NOW))
            .unwrap()
            .is_none()
    );
}

pub fn sightings_widen_and_are_found_by_key_ranges<S>(store: &S)
where
    S: IndicatorStore + crate::detections::DetectionStore,
{
    use crate::detections::{DeviceRef, Sighting, SightingKind, SightingQuery};
    let seen = |key: &str, device: &str, first: &str, last: &str| Sighting {
        kind: SightingKind::Domain,
        key: key.to_owned(),
        display: key.split('.').rev().collect::<Vec<_>>().join("."),
        device: DeviceRef {
            id: device.to_owned(),
            name: None,
            group: Some("G".to_owned()),
        },
        first_seen: t(first),
        last_seen: t(last),
    };
    store
        .record_sightings(
            "t1",
            &[
                seen(
                    "com.example",
                    "d1",
                    "2026-02-10T00:00:00Z",
                    "2026-02-10T00:00:00Z",
                ),
                seen(
                    "com.example.www",
                    "d1",
                    "2026-02-20T00:00:00Z",
                    "2026-02-21T00:00:00Z",
                ),
                seen(
                    "com.examplefoo",
                    "d1",
                    "2026-02-20T00:00:00Z",
                    "2026-02-20T00:00:00Z",
                ),
                seen(
                    "org.example",
                    "d2",
                    "2026-02-20T00:00:00Z",
                    "2026-02-20T00:00:00Z",
                ),
            ],
        )
        .unwrap();
    // Seen again earlier and later: the interval widens.
    store
        .record_sightings(
            "t1",
            &[seen(
                "com.example",
                "d1",
                "2026-02-01T00:00:00Z",
                "2026-02-25T00:00:00Z",
            )],
        )
        .unwrap();
    let query = |since: &str| SightingQuery {
        kind: SightingKind::Domain,
        exact: vec!["com.example".to_owned()],
        ranges: vec![("com.example.".to_owned(), "com.example/".to_owned())],
        since: t(since),
        limit: 100,
    };
    let found = store
        .find_sightings("t1", &query("2026-01-01T00:00:00Z"))
        .unwrap();
    let keys: Vec<&str> = found.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, vec!["com.example", "com.example.www"]);
    assert_eq!(found[0].first_seen, t("2026-02-01T00:00:00Z"));
    assert_eq!(found[0].last_seen, t("2026-02-25T00:00:00Z"));
    assert_eq!(found[1].display, "www.example.com");
    let recent = store
        .find_sightings("t1", &query("2026-02-22T00:00:00Z"))
        .unwrap();
    assert_eq!(recent.len(), 1);
    assert!(
        store
            .find_sightings("t2", &query("2026-01-01T00:00:00Z"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.sweep_sightings(t("2026-02-21T00:00:01Z")).unwrap(), 3);
    let left = store
        .find_sightings("t1", &query("2026-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(left.len(), 1);
}
