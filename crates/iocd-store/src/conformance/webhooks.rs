//! Conformance cases of alert delivery and the devices seen: deliveries queued with the alert
//! for the webhooks that subscribe, attempts recorded until delivered or given up, the outbox
//! in commit order with consumers' cursors, and devices merged as they are seen again.

use super::{NOW, spec, t, upsert};
use crate::IndicatorStore;
use crate::detections::{AlertHit, AlertUpdate, DetectionStore, DeviceRef};
use crate::devices::{DeviceStore, SeenDevice};
use crate::webhooks::{AlertEvent, Attempt, DeliveryState, WebhookSpec, WebhookStore};

fn hit(indicator_id: i64, device: &str) -> AlertHit {
    AlertHit {
        indicator_id,
        device: DeviceRef {
            id: device.to_owned(),
            name: None,
            group: None,
        },
        event_time: t(NOW),
        evidence: serde_json::json!({}),
    }
}

fn hook(url: &str, events: &[AlertEvent]) -> WebhookSpec {
    WebhookSpec {
        url: url.to_owned(),
        secret: "s3cret".to_owned(),
        events: events.to_vec(),
    }
}

pub fn deliveries_are_queued_with_the_alert_and_retried_until_done<S>(store: &S)
where
    S: IndicatorStore + DetectionStore + WebhookStore,
{
    upsert(
        store,
        "t",
        &[spec(
            "DomainName",
            "evil.example",
            "Block",
            serde_json::json!({"generateAlert": true}),
        )],
    );
    let all = store
        .create_webhook(
            "t",
            &hook("http://a.test/", &AlertEvent::ALL),
            "admin",
            t(NOW),
        )
        .unwrap();
    let updates_only = store
        .create_webhook(
            "t",
            &hook("http://b.test/", &[AlertEvent::Updated]),
            "admin",
            t(NOW),
        )
        .unwrap();
    let other_tenant = store
        .create_webhook(
            "u",
            &hook("http://c.test/", &AlertEvent::ALL),
            "admin",
            t(NOW),
        )
        .unwrap();
    assert_eq!((all.id, updates_only.id, other_tenant.id), (1, 2, 1));
    assert_eq!(
        store.webhooks("t").unwrap(),
        vec![all.clone(), updates_only.clone()]
    );
    assert_eq!(store.webhook("u", 2).unwrap(), None);

    let alert = store.record_hits("t", &[hit(1, "d1")], t(NOW)).unwrap()[0]
        .unwrap()
        .alert_id;
    // Folding into the same alert queues nothing more.
    store.record_hits("t", &[hit(1, "d1")], t(NOW)).unwrap();
    let due = store.due_deliveries(t(NOW), 10).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].tenant, "t");
    assert_eq!(due[0].url, "http://a.test/");
    assert_eq!(due[0].secret, "s3cret");
    assert_eq!(due[0].delivery.alert_id, alert);
    assert_eq!(due[0].delivery.event, AlertEvent::Created);
    assert_eq!(due[0].delivery.state, DeliveryState::Pending);

    // A failure with a retry time: pending again, not due before it.
    let first = due[0].delivery.id;
    let retry = t(NOW).plus_seconds(2);
    store
        .record_attempt(
            first,
            t(NOW),
            &Attempt::Failed {
                status: Some(500),
                error: "HTTP 500".to_owned(),
                retry_at: Some(retry),
            },
        )
        .unwrap();
    assert!(store.due_deliveries(t(NOW), 10).unwrap().is_empty());
    let again = store.due_deliveries(retry, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.attempts, 1);
    assert_eq!(again[0].delivery.last_status, Some(500));
    store
        .record_attempt(first, retry, &Attempt::Delivered { status: 204 })
        .unwrap();
    let listed = store.deliveries("t", all.id, 10).unwrap().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, DeliveryState::Delivered);
    assert_eq!(listed[0].attempts, 2);
    assert_eq!(listed[0].delivered, Some(retry));
    assert_eq!(listed[0].last_error, None);
    // A finished delivery takes no more attempts.
    store
        .record_attempt(first, retry, &Attempt::Delivered { status: 200 })
        .unwrap();
    assert_eq!(
        store.deliveries("t", all.id, 10).unwrap().unwrap()[0].attempts,
        2
    );

    // An analyst's change reaches both webhooks; giving up marks the delivery failed.
    store
        .update_alert(
            "t",
            alert,
            &AlertUpdate {
                comment: Some(("looked".to_owned(), "ana".to_owned())),
                ..AlertUpdate::default()
            },
            t(NOW),
        )
        .unwrap()
        .unwrap();
    let due = store.due_deliveries(retry, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.delivery.event == AlertEvent::Updated));
    let to_b = due.iter().find(|d| d.url == "http://b.test/").unwrap();
    store
        .record_attempt(
            to_b.delivery.id,
            retry,
            &Attempt::Failed {
                status: None,
                error: "connection refused".to_owned(),
                retry_at: None,
            },
        )
        .unwrap();
    let b = store.deliveries("t", updates_only.id, 10).unwrap().unwrap();
    assert_eq!(b[0].state, DeliveryState::Failed);
    assert_eq!(b[0].next_attempt, None);
    assert_eq!(b[0].last_error.as_deref(), Some("connection refused"));

    // Deleting a webhook drops its deliveries; the other tenant's is untouched.
    assert!(store.delete_webhook("t", all.id).unwrap());
    assert!(!store.delete_webhook("t", all.id).unwrap());
    assert_eq!(store.deliveries("t", all.id, 10).unwrap(), None);
    assert!(store.due_deliveries(retry, 10).unwrap().is_empty());
    assert_eq!(store.webhooks("u").unwrap(), vec![other_tenant]);

    // Finished deliveries are swept after their time.
    assert_eq!(
        store.sweep_deliveries(t(NOW).plus_seconds(1)).unwrap(),
        1 + 2,
        "the failed delivery and two outbox entries"
    );
    assert!(
        store
            .deliveries("t", updates_only.id, 10)
            .unwrap()
            .unwrap()
            .is_empty()
    );
}

pub fn the_outbox_lists_alert_events_in_order_and_keeps_cursors<S>(store: &S)
where
    S: IndicatorStore + DetectionStore + WebhookStore,
{
    assert_eq!(store.outbox_head().unwrap(), 0);
    for tenant in ["t", "u"] {
        upsert(
            store,
            tenant,
            &[spec(
                "DomainName",
                "evil.example",
                "Audit",
                serde_json::json!({"generateAlert": true}),
            )],
        );
    }
    let a = store.record_hits("t", &[hit(1, "d1")], t(NOW)).unwrap()[0]
        .unwrap()
        .alert_id;
    let b = store.record_hits("u", &[hit(1, "d9")], t(NOW)).unwrap()[0]
        .unwrap()
        .alert_id;
    store
        .update_alert(
            "t",
            a,
            &AlertUpdate {
                assigned_to: Some(Some("ana".to_owned())),
                ..AlertUpdate::default()
            },
            t(NOW),
        )
        .unwrap();
    let entries = store.outbox_after(0, 10).unwrap();
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e.tenant.as_str(), e.alert_id, e.event))
        .collect();
    assert_eq!(
        seen,
        [
            ("t", a, AlertEvent::Created),
            ("u", b, AlertEvent::Created),
            ("t", a, AlertEvent::Updated)
        ]
    );
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.outbox_head().unwrap(), entries[2].seq);
    assert_eq!(
        store.outbox_after(entries[0].seq, 1).unwrap(),
        entries[1..2].to_vec()
    );

    assert_eq!(store.outbox_cursor("syslog").unwrap(), None);
    store.set_outbox_cursor("syslog", entries[1].seq).unwrap();
    store.set_outbox_cursor("syslog", entries[2].seq).unwrap();
    assert_eq!(store.outbox_cursor("syslog").unwrap(), Some(entries[2].seq));
    // Pruning keeps the numbering going.
    store.sweep_deliveries(t(NOW).plus_seconds(1)).unwrap();
    assert!(store.outbox_after(0, 10).unwrap().is_empty());
    assert_eq!(store.outbox_head().unwrap(), entries[2].seq);
}

fn device(id: &str, at: &str) -> SeenDevice {
    SeenDevice {
        id: id.to_owned(),
        name: None,
        domain: None,
        os: None,
        tags: Vec::new(),
        group_id: None,
        first_seen: t(at),
        last_seen: t(at),
    }
}

pub fn devices_merge_what_they_say_and_widen_their_times<S>(store: &S)
where
    S: DeviceStore,
{
    assert!(store.devices("t", 0, 10).unwrap().is_empty());
    let described = SeenDevice {
        name: Some("lap-1".to_owned()),
        domain: Some("corp.example".to_owned()),
        os: Some("Windows11".to_owned()),
        tags: vec!["vip".to_owned()],
        group_id: Some(3),
        ..device("d1", "2026-03-01T10:00:00Z")
    };
    store
        .record_devices(
            "t",
            &[described.clone(), device("d2", "2026-03-01T11:00:00Z")],
        )
        .unwrap();
    store
        .record_devices("u", &[device("d1", "2026-03-01T09:00:00Z")])
        .unwrap();
    // Seen again, saying less and earlier and later: the rest is kept, times widen.
    store
        .record_devices(
            "t",
            &[SeenDevice {
                first_seen: t("2026-03-01T08:00:00Z"),
                last_seen: t("2026-03-01T12:00:00Z"),
                os: Some("Windows10".to_owned()),
                ..device("d1", "2026-03-01T08:00:00Z")
            }],
        )
        .unwrap();
    let listed = store.devices("t", 0, 10).unwrap();
    let ids: Vec<_> = listed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d1", "d2"], "last seen first");
    assert_eq!(
        listed[0],
        SeenDevice {
            os: Some("Windows10".to_owned()),
            first_seen: t("2026-03-01T08:00:00Z"),
            last_seen: t("2026-03-01T12:00:00Z"),
            ..described
        }
    );
    assert_eq!(store.devices("t", 1, 10).unwrap(), listed[1..].to_vec());
    assert_eq!(store.devices("t", 0, 1).unwrap(), listed[..1].to_vec());
    assert_eq!(store.count_devices("t").unwrap(), 2);
    assert_eq!(store.count_devices("u").unwrap(), 1);
    assert_eq!(store.device("u", "d1").unwrap().unwrap().name, None);
    assert_eq!(store.device("u", "d2").unwrap(), None);
}

pub fn feeds_are_named_once_per_tenant_and_deleted<S>(store: &S)
where
    S: crate::feeds::FeedStore,
{
    use crate::feeds::StoredFeed;
    let feed = |tenant: &str, name: &str| StoredFeed {
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        definition: format!("{{\"url\": \"https://{name}.example/\"}}"),
        created: t(NOW),
        created_by: "admin".to_owned(),
    };
    assert!(store.create_feed(&feed("t", "b")).unwrap());
    assert!(store.create_feed(&feed("t", "a")).unwrap());
    assert!(store.create_feed(&feed("u", "a")).unwrap());
    let mut taken = feed("t", "a");
    taken.definition = "{}".into();
    assert!(
        !store.create_feed(&taken).unwrap(),
        "a name is taken once per tenant"
    );
    let names: Vec<(String, String)> = store
        .stored_feeds()
        .unwrap()
        .into_iter()
        .map(|f| (f.tenant, f.name))
        .collect();
    let expected: Vec<(String, String)> = [("t", "a"), ("t", "b"), ("u", "a")]
        .iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(store.stored_feeds().unwrap()[0], feed("t", "a"));
    assert!(store.delete_feed("t", "a").unwrap());
    assert!(!store.delete_feed("t", "a").unwrap());
    assert!(!store.delete_feed("nobody", "a").unwrap());
    assert_eq!(store.stored_feeds().unwrap().len(), 2);
}

pub fn records_are_kept_per_kind_tenant_and_name<S>(store: &S)
where
    S: crate::records::RecordStore,
{
    use crate::records::{RecordKind, StoredRecord};
    let record = |kind: RecordKind, tenant: &str, name: &str, body: &str, at: &str| StoredRecord {
        kind,
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        body: body.to_owned(),
        updated: t(at),
    };
    let names = |records: Vec<StoredRecord>| -> Vec<String> {
        records
            .into_iter()
            .map(|r| format!("{}/{}={}", r.tenant, r.name, r.body))
            .collect()
    };
    let run = RecordKind::FeedRun;
    let status = RecordKind::TaxiiStatus;
    store
        .put_record(&record(run, "t", "b", "1", "2026-03-01T10:00:00Z"), None)
        .unwrap();
    store
        .put_record(&record(run, "t", "a", "2", "2026-03-01T10:00:00Z"), None)
        .unwrap();
    store
        .put_record(&record(run, "u", "a", "3", "2026-03-01T10:00:00Z"), None)
        .unwrap();
    store
        .put_record(&record(status, "t", "a", "4", "2026-03-01T10:00:00Z"), None)
        .unwrap();
    // Replaced whole, body and time.
    let replaced = record(run, "t", "b", "5", "2026-03-01T11:00:00Z");
    store.put_record(&replaced, None).unwrap();
    assert_eq!(store.record(run, "t", "b").unwrap(), Some(replaced));
    assert_eq!(store.record(run, "t", "c").unwrap(), None);
    assert_eq!(store.record(run, "v", "b").unwrap(), None);
    assert_eq!(
        store.record(RecordKind::FeedRunRequest, "t", "b").unwrap(),
        None
    );
    assert_eq!(
        names(store.records(run).unwrap()),
        ["t/a=2", "t/b=5", "u/a=3"]
    );
    assert_eq!(names(store.records(status).unwrap()), ["t/a=4"]);

    // Taking empties the kind, and only that kind.
    assert_eq!(
        names(store.take_records(run).unwrap()),
        ["t/a=2", "t/b=5", "u/a=3"]
    );
    assert!(store.take_records(run).unwrap().is_empty());
    assert!(store.records(run).unwrap().is_empty());
    assert_eq!(names(store.records(status).unwrap()), ["t/a=4"]);

    assert!(store.delete_record(status, "t", "a").unwrap());
    assert!(!store.delete_record(status, "t", "a").unwrap());
    assert!(!store.delete_record(status, "nobody", "a").unwrap());

    // Keeping the newest three of a kind drops the oldest, whatever their tenant.
    for (n, at) in ["09", "07", "08", "10", "06"].iter().enumerate() {
        let at = format!("2026-03-01T{at}:00:00Z");
        let tenant = if n % 2 == 0 { "t" } else { "u" };
        store
            .put_record(
                &record(status, tenant, &format!("s{n}"), "{}", &at),
                Some(3),
            )
            .unwrap();
        store
            .put_record(&record(run, tenant, &format!("r{n}"), "{}", &at), None)
            .unwrap();
    }
    let kept: Vec<String> = store
        .records(status)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    // s1 (07:00) went when s3 came; s4 (06:00), the oldest, went as soon as it was written.
    assert_eq!(kept, ["s0", "s2", "s3"]);
    assert_eq!(
        store.records(run).unwrap().len(),
        5,
        "other kinds are not trimmed"
    );
}

/// Expands to one `#[test]` per delivery and device case, each on a store made by `$make`
/// that implements [`IndicatorStore`], [`DetectionStore`], [`WebhookStore`] and
/// [`DeviceStore`].
#[macro_export]
macro_rules! delivery_conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            deliveries_are_queued_with_the_alert_and_retried_until_done,
            the_outbox_lists_alert_events_in_order_and_keeps_cursors,
            devices_merge_what_they_say_and_widen_their_times,
            feeds_are_named_once_per_tenant_and_deleted,
            records_are_kept_per_kind_tenant_and_name,
        );
    };
}
