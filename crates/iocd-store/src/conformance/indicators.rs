//! Conformance cases of the indicator store: upserts and their key, ids and tenants, expiry,
//! visibility, the cap, deletion, history, listing, counts and the start-up scan.

use super::{NOW, actor, context, ids, query, spec, t, upsert};
use crate::odata::parse_order_by;
use crate::{
    DeleteOutcome, HistoryOp, IndicatorStore, ListQuery, UpsertOutcome, Visibility, WriteContext,
};
use iocd_model::{ErrorCode, IndicatorSpec, IndicatorType};

pub fn create_then_get_returns_the_full_entity(store: &dyn IndicatorStore) {
    let input = spec(
        "Url",
        "https://evil.example/x",
        "Warn",
        serde_json::json!({
            "severity": "High", "application": "Browser", "rbacGroupNames": ["Finance"], "rbacGroupIds": [1],
            "expirationTime": "2026-12-01T00:00:00Z", "educateUrl": "https://intranet.example/why",
            "mitreTechniques": ["T1046"], "category": "Malware", "certificateInfo": {"issuer": "x"},
            "externalId": "ext-1", "bypassDurationHours": 24,
        }),
    );
    let outcome = upsert(store, "tenant-a", std::slice::from_ref(&input));
    assert_eq!(outcome, vec![UpsertOutcome::Created(1)]);
    let got = store
        .get("tenant-a", 1, &Visibility::All, t(NOW))
        .unwrap()
        .expect("created indicator");
    assert_eq!(got.spec, input);
    assert_eq!(got.created_by, "app-1");
    assert_eq!(got.created_by_display_name, "app-1 app");
    assert_eq!(got.created_by_source, "PublicApi");
    assert_eq!(got.creation_time, t(NOW));
    assert_eq!(got.last_update_time, t(NOW));
    assert_eq!(got.last_updated_by, None);
    assert!(
        store
            .get("tenant-a", 2, &Visibility::All, t(NOW))
            .unwrap()
            .is_none()
    );
}

pub fn upsert_key_is_type_value_and_action(store: &dyn IndicatorStore) {
    let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    let first = spec(
        "FileSha1",
        sha1,
        "Block",
        serde_json::json!({"application": "first", "title": "one", "version": "v1",
            "rbacGroupNames": ["Finance"]}),
    );
    let other_action = spec("FileSha1", sha1, "Allowed", serde_json::json!({}));
    assert_eq!(
        upsert(store, "t", &[first, other_action]),
        vec![UpsertOutcome::Created(1), UpsertOutcome::Created(2)]
    );
    // Same key, differently spelled value: an update of id 1.
    let again = spec(
        "FileSha1",
        &sha1.to_uppercase(),
        "Block",
        serde_json::json!({"application": "second", "title": "two", "version": "v2",
            "rbacGroupNames": ["Ops"]}),
    );
    let later = "2026-03-01T13:00:00Z";
    let outcome = store
        .upsert_batch("t", &actor("app-2"), &[again], &context(later))
        .unwrap();
    assert_eq!(outcome, vec![UpsertOutcome::Updated(1)]);
    let got = store
        .get("t", 1, &Visibility::All, t(later))
        .unwrap()
        .unwrap();
    assert_eq!(got.spec.title, "two");
    assert_eq!(
        got.spec.application.as_deref(),
        Some("first"),
        "application is create-only"
    );
    assert_eq!(got.spec.version.as_deref(), Some("v1"), "so is version");
    assert_eq!(got.spec.rbac_group_names, ["Ops"]);
    let scoped = |group: &str| -> Vec<i64> {
        let filter = format!("rbacGroupNames/any(g: g eq '{group}')");
        store
            .list("t", &query(&filter), &Visibility::All, t(later))
            .expect("list")
            .items
            .iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(scoped("Ops"), [1], "the group index follows the update");
    assert!(scoped("Finance").is_empty());
    assert_eq!(got.creation_time, t(NOW));
    assert_eq!(got.last_update_time, t(later));
    assert_eq!(got.last_updated_by.as_deref(), Some("app-2"));
    assert_eq!(got.created_by, "app-1");
    // The same key twice in one batch: created, then updated.
    let dup = spec("DomainName", "dup.example", "Block", serde_json::json!({}));
    assert_eq!(
        upsert(store, "t", &[dup.clone(), dup]),
        vec![UpsertOutcome::Created(3), UpsertOutcome::Updated(3)]
    );
}

pub fn ids_are_sequential_per_tenant_and_tenants_are_isolated(store: &dyn IndicatorStore) {
    let a = spec("DomainName", "a.example", "Block", serde_json::json!({}));
    let b = spec("DomainName", "b.example", "Block", serde_json::json!({}));
    assert_eq!(
        upsert(store, "t1", &[a.clone(), b.clone()]),
        vec![UpsertOutcome::Created(1), UpsertOutcome::Created(2)]
    );
    assert_eq!(
        upsert(store, "t2", &[b, a]),
        vec![UpsertOutcome::Created(1), UpsertOutcome::Created(2)]
    );
    let t1_first = store
        .get("t1", 1, &Visibility::All, t(NOW))
        .unwrap()
        .unwrap();
    let t2_first = store
        .get("t2", 1, &Visibility::All, t(NOW))
        .unwrap()
        .unwrap();
    assert_eq!(t1_first.spec.value.to_string(), "a.example");
    assert_eq!(t2_first.spec.value.to_string(), "b.example");
    assert!(
        store
            .get("t3", 1, &Visibility::All, t(NOW))
            .unwrap()
            .is_none()
    );
    assert_eq!(ids(store, "t3", &query("")), Vec::<i64>::new());
    // Deleting in one tenant leaves the other alone, and ids are not reused.
    assert_eq!(
        store
            .delete("t1", &[2], &actor("app-1"), &context(NOW))
            .unwrap(),
        DeleteOutcome::Deleted(1)
    );
    assert!(
        store
            .get("t2", 2, &Visibility::All, t(NOW))
            .unwrap()
            .is_some()
    );
    let c = spec("DomainName", "c.example", "Block", serde_json::json!({}));
    assert_eq!(upsert(store, "t1", &[c]), vec![UpsertOutcome::Created(3)]);
}

pub fn expired_indicators_are_invisible_then_swept(store: &dyn IndicatorStore) {
    let expiring = spec(
        "IpAddress",
        "203.0.113.7",
        "Block",
        serde_json::json!({"expirationTime": "2026-03-01T12:00:10Z"}),
    );
    let lasting = spec("IpAddress", "203.0.113.8", "Block", serde_json::json!({}));
    upsert(store, "t", &[expiring.clone(), lasting]);
    let before = t("2026-03-01T12:00:09Z");
    let at_expiry = t("2026-03-01T12:00:10Z");
    assert!(
        store
            .get("t", 1, &Visibility::All, before)
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get("t", 1, &Visibility::All, at_expiry)
            .unwrap()
            .is_none(),
        "expired at its second"
    );
    assert_eq!(
        store
            .list("t", &query(""), &Visibility::All, at_expiry)
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(store.count_active("t", before).unwrap(), 2);
    assert_eq!(store.count_active("t", at_expiry).unwrap(), 1);
    assert_eq!(store.sweep_expired(before, 100).unwrap(), 0);
    assert_eq!(store.sweep_expired(at_expiry, 100).unwrap(), 1);
    assert_eq!(store.sweep_expired(at_expiry, 100).unwrap(), 0);
    let history = store.history("t", 1, &Visibility::All).unwrap().unwrap();
    assert_eq!(history.last().unwrap().op, HistoryOp::Expire);
    assert_eq!(history.last().unwrap().actor_id, None);
    // Re-submitting the same key after expiry creates a new indicator.
    let again = spec("IpAddress", "203.0.113.7", "Block", serde_json::json!({}));
    let outcome = store
        .upsert_batch(
            "t",
            &actor("app-1"),
            &[again],
            &context("2026-03-01T12:01:00Z"),
        )
        .unwrap();
    assert_eq!(outcome, vec![UpsertOutcome::Created(3)]);
}

pub fn created_by_visibility_limits_reads_and_writes(store: &dyn IndicatorStore) {
    let mine = spec("DomainName", "mine.example", "Block", serde_json::json!({}));
    let theirs = spec(
        "DomainName",
        "theirs.example",
        "Block",
        serde_json::json!({}),
    );
    store
        .upsert_batch(
            "t",
            &actor("me"),
            std::slice::from_ref(&mine),
            &context(NOW),
        )
        .unwrap();
    store
        .upsert_batch(
            "t",
            &actor("them"),
            std::slice::from_ref(&theirs),
            &context(NOW),
        )
        .unwrap();
    let only_mine = Visibility::CreatedBy("me".to_owned());
    assert!(store.get("t", 1, &only_mine, t(NOW)).unwrap().is_some());
    assert!(store.get("t", 2, &only_mine, t(NOW)).unwrap().is_none());
    let listed = store.list("t", &query(""), &only_mine, t(NOW)).unwrap();
    assert_eq!(
        listed.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1]
    );
    let restricted = WriteContext {
        visibility: only_mine.clone(),
        ..context(NOW)
    };
    let outcome = store
        .upsert_batch("t", &actor("me"), &[theirs, mine], &restricted)
        .unwrap();
    assert!(
        matches!(
            outcome[0],
            UpsertOutcome::Failed {
                code: ErrorCode::Forbidden,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(outcome[1], UpsertOutcome::Updated(1));
    assert_eq!(
        store.delete("t", &[2], &actor("me"), &restricted).unwrap(),
        DeleteOutcome::NotFound(vec![2])
    );
    assert!(store.history("t", 2, &only_mine).unwrap().is_none());
    assert!(store.history("t", 1, &only_mine).unwrap().is_some());
}

pub fn active_indicator_cap_fails_only_new_items(store: &dyn IndicatorStore) {
    let capped = WriteContext {
        max_active: Some(2),
        ..context(NOW)
    };
    let specs: Vec<IndicatorSpec> = (1..=3)
        .map(|n| {
            spec(
                "DomainName",
                &format!("d{n}.example"),
                "Block",
                serde_json::json!({}),
            )
        })
        .collect();
    let outcome = store
        .upsert_batch("t", &actor("a"), &specs, &capped)
        .unwrap();
    assert_eq!(
        outcome[..2],
        [UpsertOutcome::Created(1), UpsertOutcome::Created(2)]
    );
    assert!(
        matches!(
            outcome[2],
            UpsertOutcome::Failed {
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "{outcome:?}"
    );
    // Updates of existing indicators still succeed at the cap.
    let outcome = store
        .upsert_batch("t", &actor("a"), &specs[..1], &capped)
        .unwrap();
    assert_eq!(outcome, vec![UpsertOutcome::Updated(1)]);
    // Deleting one makes room again.
    store.delete("t", &[2], &actor("a"), &capped).unwrap();
    let outcome = store
        .upsert_batch("t", &actor("a"), &specs[2..], &capped)
        .unwrap();
    assert_eq!(outcome, vec![UpsertOutcome::Created(3)]);
    // Expired indicators do not count against the cap.
    let expiring = spec(
        "DomainName",
        "soon.example",
        "Block",
        serde_json::json!({"expirationTime": "2026-03-01T12:00:30Z"}),
    );
    let roomy = WriteContext {
        max_active: Some(3),
        ..context(NOW)
    };
    store
        .upsert_batch("t", &actor("a"), &[expiring], &roomy)
        .unwrap();
    let after_expiry = WriteContext {
        max_active: Some(3),
        ..context("2026-03-01T12:01:00Z")
    };
    let fresh = spec(
        "DomainName",
        "fresh.example",
        "Block",
        serde_json::json!({}),
    );
    let outcome = store
        .upsert_batch("t", &actor("a"), &[fresh], &after_expiry)
        .unwrap();
    assert!(
        matches!(outcome[0], UpsertOutcome::Created(_)),
        "{outcome:?}"
    );
}

/// An id outside `1..=MAX_ID` names nothing: reading, deleting or asking the history of
/// `id + 2^40` never reaches indicator `id`.
pub fn ids_out_of_range_name_nothing(store: &dyn IndicatorStore) {
    upsert(
        store,
        "t",
        &[spec(
            "DomainName",
            "a.example",
            "Block",
            serde_json::json!({}),
        )],
    );
    let alias = 1 + (1_i64 << 40);
    for id in [alias, crate::MAX_ID + 1, 0, -1, i64::MAX, i64::MIN] {
        assert_eq!(
            store.get("t", id, &Visibility::All, t(NOW)).unwrap(),
            None,
            "{id}"
        );
        assert_eq!(
            store.history("t", id, &Visibility::All).unwrap(),
            None,
            "{id}"
        );
        assert_eq!(
            store
                .delete("t", &[id], &actor("a"), &context(NOW))
                .unwrap(),
            DeleteOutcome::NotFound(vec![id]),
            "{id}"
        );
    }
    assert_eq!(ids(store, "t", &query("")), vec![1]);
}

pub fn delete_is_all_or_nothing(store: &dyn IndicatorStore) {
    let specs: Vec<IndicatorSpec> = (1..=3)
        .map(|n| {
            spec(
                "DomainName",
                &format!("d{n}.example"),
                "Block",
                serde_json::json!({}),
            )
        })
        .collect();
    upsert(store, "t", &specs);
    let outcome = store
        .delete("t", &[1, 2, 99], &actor("a"), &context(NOW))
        .unwrap();
    assert_eq!(outcome, DeleteOutcome::NotFound(vec![99]));
    assert_eq!(ids(store, "t", &query("")), vec![1, 2, 3]);
    assert_eq!(
        store
            .delete("t", &[1, 2, 1], &actor("a"), &context(NOW))
            .unwrap(),
        DeleteOutcome::Deleted(2)
    );
    assert_eq!(ids(store, "t", &query("")), vec![3]);
    assert_eq!(
        store.delete("t", &[1], &actor("a"), &context(NOW)).unwrap(),
        DeleteOutcome::NotFound(vec![1])
    );
    assert_eq!(
        store
            .delete("nobody", &[1], &actor("a"), &context(NOW))
            .unwrap(),
        DeleteOutcome::NotFound(vec![1])
    );
}

pub fn history_records_every_change_and_survives_deletion(store: &dyn IndicatorStore) {
    let v1 = spec(
        "DomainName",
        "h.example",
        "Block",
        serde_json::json!({"title": "v1"}),
    );
    let v2 = spec(
        "DomainName",
        "h.example",
        "Block",
        serde_json::json!({"title": "v2"}),
    );
    upsert(store, "t", &[v1]);
    store
        .upsert_batch(
            "t",
            &actor("editor"),
            &[v2],
            &context("2026-03-01T12:05:00Z"),
        )
        .unwrap();
    store
        .delete(
            "t",
            &[1],
            &actor("remover"),
            &context("2026-03-01T12:10:00Z"),
        )
        .unwrap();
    let history = store
        .history("t", 1, &Visibility::All)
        .unwrap()
        .expect("history kept after deletion");
    let ops: Vec<HistoryOp> = history.iter().map(|h| h.op).collect();
    assert_eq!(
        ops,
        vec![HistoryOp::Create, HistoryOp::Update, HistoryOp::Delete]
    );
    assert_eq!(history[0].before, None);
    assert_eq!(history[0].after.as_ref().unwrap().spec.title, "v1");
    assert_eq!(history[1].before.as_ref().unwrap().spec.title, "v1");
    assert_eq!(history[1].after.as_ref().unwrap().spec.title, "v2");
    assert_eq!(history[1].actor_id.as_deref(), Some("editor"));
    assert_eq!(history[1].at, t("2026-03-01T12:05:00Z"));
    assert_eq!(history[2].before.as_ref().unwrap().spec.title, "v2");
    assert_eq!(history[2].after, None);
    assert_eq!(history[2].actor_id.as_deref(), Some("remover"));
    assert!(store.history("t", 42, &Visibility::All).unwrap().is_none());

    // A batch that creates several indicators and updates one of them: each id's history holds
    // exactly its own entries, in order.
    let batch: Vec<IndicatorSpec> = ["r1.example", "r2.example", "r3.example", "r2.example"]
        .iter()
        .map(|v| spec("DomainName", v, "Block", serde_json::json!({})))
        .collect();
    let outcome = store
        .upsert_batch("t", &actor("batcher"), &batch, &context(NOW))
        .unwrap();
    assert_eq!(
        outcome[..3],
        [
            UpsertOutcome::Created(2),
            UpsertOutcome::Created(3),
            UpsertOutcome::Created(4)
        ]
    );
    let later = spec("DomainName", "r5.example", "Block", serde_json::json!({}));
    store
        .upsert_batch("t", &actor("later"), &[later], &context(NOW))
        .unwrap();
    let ops = |id: i64| -> Vec<(HistoryOp, Option<String>)> {
        store
            .history("t", id, &Visibility::All)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|h| (h.op, h.actor_id))
            .collect()
    };
    let by = |who: &str| Some(who.to_owned());
    assert_eq!(ops(2), vec![(HistoryOp::Create, by("batcher"))]);
    assert_eq!(
        ops(3),
        vec![
            (HistoryOp::Create, by("batcher")),
            (HistoryOp::Update, by("batcher"))
        ]
    );
    assert_eq!(ops(4), vec![(HistoryOp::Create, by("batcher"))]);
    assert_eq!(ops(5), vec![(HistoryOp::Create, by("later"))]);
    assert!(store.history("t", 6, &Visibility::All).unwrap().is_none());
}

pub fn list_filters_orders_and_pages(store: &dyn IndicatorStore) {
    let specs = vec![
        spec(
            "DomainName",
            "evil.example",
            "Block",
            serde_json::json!({"severity": "High", "title": "C2 server", "rbacGroupNames": ["Finance", "HR"]}),
        ),
        spec(
            "IpAddress",
            "203.0.113.7",
            "Allowed",
            serde_json::json!({"severity": "Low", "title": "Scanner"}),
        ),
        spec(
            "Url",
            "http://evil.example/payload",
            "Warn",
            serde_json::json!({"severity": "Medium", "title": "C2 path", "rbacGroupIds": [2, 3], "rbacGroupNames": ["HR", "Ops"]}),
        ),
        spec(
            "FileSha256",
            &"a".repeat(64),
            "Audit",
            serde_json::json!({"generateAlert": true, "title": "Dropper", "expirationTime": "2026-06-01T00:00:00Z"}),
        ),
    ];
    upsert(store, "t", &specs);
    let cases: &[(&str, &[i64])] = &[
        ("indicatorValue eq 'evil.example'", &[1]),
        (
            "indicatorType eq 'Url' or indicatorType eq 'IpAddress'",
            &[2, 3],
        ),
        ("startswith(title,'C2')", &[1, 3]),
        (
            "contains(indicatorValue,'evil') and not (action eq 'Block')",
            &[3],
        ),
        ("endswith(indicatorValue,'.7')", &[2]),
        ("severity eq 'high'", &[1]),
        ("severity ne 'High'", &[2, 3, 4]),
        ("rbacGroupNames/any(g: g eq 'HR')", &[1, 3]),
        ("rbacGroupNames/any(g: g eq 'Finance')", &[1]),
        ("rbacGroupIds/any(x: x eq 3)", &[3]),
        ("expirationTime eq null", &[1, 2, 3]),
        ("expirationTime gt 2026-05-01T00:00:00Z", &[4]),
        (
            "creationTimeDateTimeUtc ge 2026-03-01T12:00:00Z",
            &[1, 2, 3, 4],
        ),
        ("creationTimeDateTimeUtc lt 2026-03-01Z", &[]),
        ("generateAlert eq true", &[4]),
        (
            "createdBy eq 'app-1' and createdByDisplayName eq 'app-1 app'",
            &[1, 2, 3, 4],
        ),
        ("application eq null", &[1, 2, 3, 4]),
        ("title eq 'no such title'", &[]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            ids(store, "t", &query(filter)),
            *expected,
            "$filter={filter}"
        );
    }
    let ordered = ListQuery {
        order_by: parse_order_by("severity desc").unwrap(),
        ..query("")
    };
    assert_eq!(ids(store, "t", &ordered), vec![1, 3, 2, 4]);
    let page = ListQuery {
        top: 2,
        skip: 1,
        count: true,
        ..query("")
    };
    let listed = store.list("t", &page, &Visibility::All, t(NOW)).unwrap();
    assert_eq!(
        listed.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(listed.count, Some(4));
    assert!(listed.has_more);
    let last = ListQuery {
        top: 2,
        after_id: Some(2),
        ..query("")
    };
    let listed = store.list("t", &last, &Visibility::All, t(NOW)).unwrap();
    assert_eq!(
        listed.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(!listed.has_more);
}

pub fn counts_per_tenant_and_type(store: &dyn IndicatorStore) {
    upsert(
        store,
        "t1",
        &[
            spec("DomainName", "a.example", "Block", serde_json::json!({})),
            spec("DomainName", "b.example", "Block", serde_json::json!({})),
            spec("IpAddress", "198.51.100.1", "Block", serde_json::json!({})),
        ],
    );
    upsert(
        store,
        "t2",
        &[spec(
            "DomainName",
            "a.example",
            "Block",
            serde_json::json!({}),
        )],
    );
    let mut counts: Vec<(String, IndicatorType, u64)> = store
        .count_by_type(t(NOW))
        .unwrap()
        .into_iter()
        .map(|c| (c.tenant, c.indicator_type, c.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("t1".to_owned(), IndicatorType::IpAddress, 1),
            ("t1".to_owned(), IndicatorType::DomainName, 2),
            ("t2".to_owned(), IndicatorType::DomainName, 1),
        ]
    );
}

pub fn scan_active_visits_every_active_indicator_of_every_tenant(store: &dyn IndicatorStore) {
    upsert(
        store,
        "t1",
        &[
            spec("DomainName", "a.example", "Block", serde_json::json!({})),
            spec(
                "DomainName",
                "expired.example",
                "Block",
                serde_json::json!({"expirationTime": "2026-03-01T12:00:01Z"}),
            ),
            spec(
                "IpAddress",
                "198.51.100.1",
                "Audit",
                serde_json::json!({"generateAlert": true}),
            ),
        ],
    );
    upsert(
        store,
        "t2",
        &[spec(
            "DomainName",
            "a.example",
            "Allowed",
            serde_json::json!({}),
        )],
    );
    let gone = store
        .list(
            "t1",
            &query("indicatorValue eq 'a.example'"),
            &Visibility::All,
            t(NOW),
        )
        .unwrap()
        .items[0]
        .id;
    store
        .delete("t1", &[gone], &actor("app-1"), &context(NOW))
        .unwrap();
    let mut seen = Vec::new();
    store
        .scan_active(t("2026-03-01T12:00:01Z"), &mut |tenant, indicator| {
            seen.push((
                tenant.to_owned(),
                indicator.id,
                indicator.spec.value.to_string(),
                indicator.spec.action.as_str(),
            ))
        })
        .unwrap();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("t1".to_owned(), 3, "198.51.100.1".to_owned(), "Audit"),
            ("t2".to_owned(), 1, "a.example".to_owned(), "Allowed"),
        ]
    );
}

/// A key may come back within one batch: its first occurrence creates, each later one updates
/// what the batch wrote, and the history shows both.
pub fn a_batch_may_repeat_a_key(store: &dyn IndicatorStore) {
    let outcomes = upsert(
        store,
        "t",
        &[
            spec(
                "DomainName",
                "a.example",
                "Block",
                serde_json::json!({"title": "first"}),
            ),
            spec(
                "DomainName",
                "b.example",
                "Block",
                serde_json::json!({"rbacGroupNames": ["Kiosks"]}),
            ),
            spec(
                "DomainName",
                "a.example",
                "Block",
                serde_json::json!({"title": "second"}),
            ),
            spec("DomainName", "c.example", "Block", serde_json::json!({})),
            spec(
                "DomainName",
                "a.example",
                "Block",
                serde_json::json!({"title": "third"}),
            ),
        ],
    );
    assert_eq!(
        outcomes,
        vec![
            UpsertOutcome::Created(1),
            UpsertOutcome::Created(2),
            UpsertOutcome::Updated(1),
            UpsertOutcome::Created(3),
            UpsertOutcome::Updated(1),
        ]
    );
    let got = store
        .get("t", 1, &Visibility::All, t(NOW))
        .unwrap()
        .unwrap();
    assert_eq!(got.spec.title, "third");
    let history = store.history("t", 1, &Visibility::All).unwrap().unwrap();
    let ops: Vec<HistoryOp> = history.iter().map(|e| e.op).collect();
    assert_eq!(
        ops,
        vec![HistoryOp::Create, HistoryOp::Update, HistoryOp::Update]
    );
    assert_eq!(store.count_active("t", t(NOW)).unwrap(), 3);
    assert_eq!(
        ids(store, "t", &query("rbacGroupNames/any(g: g eq 'Kiosks')")),
        vec![2]
    );
}
