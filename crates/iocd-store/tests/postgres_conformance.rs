//! Runs the store conformance suite against the PostgreSQL backend, each case on a database of
//! its own (created on the server `IOCD_TEST_POSTGRES` names, by default the machine's
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped afterwards); and checks what only
//! the shared database has: the change log, numbered in commit order, and the cap across
//! writers. The application registrations are checked here too (SQLite's are a unit test).

use iocd_model::Timestamp;
use iocd_store::conformance::{actor, spec};
use iocd_store::scratch::ScratchDatabase;
use iocd_store::{IndicatorReader, IndicatorStore, PgStore, Visibility, WriteContext};
use std::sync::atomic::{AtomicU32, Ordering};

/// The administrative URL, to create and drop test databases.
fn admin_url() -> String {
    std::env::var("IOCD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database and a store on it; the database is dropped with the fixture, after the
/// store (fields drop in order).
struct Fixture {
    store: PgStore,
    _database: ScratchDatabase,
}

impl std::ops::Deref for Fixture {
    type Target = PgStore;
    fn deref(&self) -> &PgStore {
        &self.store
    }
}

fn make() -> Fixture {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = admin_url();
    let name = format!(
        "iocd_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let database = ScratchDatabase::create(&admin, &name)
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} must answer for these tests: {e}"));
    let store = PgStore::connect(database.url()).expect("connect and migrate");
    Fixture {
        store,
        _database: database,
    }
}

iocd_store::conformance_suite!(make());

mod detections {
    use super::*;
    iocd_store::detection_conformance_suite!(make());
}

mod device_groups {
    use super::*;
    iocd_store::device_group_conformance_suite!(make());
}

mod bypasses {
    use super::*;
    iocd_store::bypass_conformance_suite!(make());
}

mod delivery {
    use super::*;
    iocd_store::delivery_conformance_suite!(make());
}

fn context(now: Timestamp, max_active: Option<u64>) -> WriteContext {
    WriteContext {
        now,
        visibility: Visibility::All,
        max_active,
    }
}

/// A change as the test compares it: tenant, created range, other ids.
type LogEntry<'a> = (&'a str, Option<(i64, i64)>, Vec<i64>);

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("timestamp")
}

#[test]
fn every_write_is_in_the_change_log_in_commit_order() {
    let store = make();
    let now = at("2026-03-01T12:00:00Z");
    assert_eq!(store.last_change().expect("last change"), 0);
    let created = store
        .upsert_batch(
            "contoso",
            &actor("app-1"),
            &[
                spec("DomainName", "a.example", "Block", serde_json::json!({})),
                spec("DomainName", "b.example", "Block", serde_json::json!({})),
            ],
            &context(now, None),
        )
        .expect("create");
    let ids: Vec<i64> = created.iter().filter_map(|o| o.id()).collect();
    assert_eq!(ids, vec![1, 2]);
    store
        .upsert_batch(
            "contoso",
            &actor("app-1"),
            &[spec(
                "DomainName",
                "a.example",
                "Block",
                serde_json::json!({"title": "again"}),
            )],
            &context(now, None),
        )
        .expect("update");
    store
        .delete("contoso", &[2], &actor("app-1"), &context(now, None))
        .expect("delete");
    let expiring = spec(
        "DomainName",
        "c.example",
        "Block",
        serde_json::json!({"expirationTime": "2026-03-01T13:00:00Z"}),
    );
    store
        .upsert_batch(
            "fabrikam",
            &actor("app-2"),
            &[expiring],
            &context(now, None),
        )
        .expect("create in another tenant");
    assert_eq!(
        store
            .sweep_expired(at("2026-03-02T00:00:00Z"), 100)
            .expect("sweep"),
        1
    );

    let log = store.changes_after(0, 100).expect("changes");
    let summary: Vec<LogEntry<'_>> = log
        .iter()
        .map(|c| (c.tenant.as_str(), c.created, c.changed.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("contoso", Some((1, 2)), vec![]),
            ("contoso", None, vec![1]),
            ("contoso", None, vec![2]),
            ("fabrikam", Some((1, 1)), vec![]),
            ("fabrikam", None, vec![1]),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq), "{log:?}");
    assert_eq!(store.last_change().expect("last"), log[4].seq);
    assert_eq!(store.changes_after(log[2].seq, 100).expect("tail").len(), 2);
    // A read or a write that changes nothing leaves no entry.
    store
        .upsert_batch("contoso", &actor("app-1"), &[], &context(now, None))
        .expect("empty batch");
    assert_eq!(store.changes_after(log[4].seq, 100).expect("none").len(), 0);
}

#[test]
fn concurrent_writers_keep_ids_unique_the_cap_exact_and_the_log_in_commit_order() {
    let fixture = make();
    let store: &PgStore = &fixture;
    let now = at("2026-03-01T12:00:00Z");
    // Four writers, each its own connection, race to fill a tenant capped at 50.
    std::thread::scope(|scope| {
        for writer in 0..4 {
            scope.spawn(move || {
                for batch in 0..5 {
                    let specs: Vec<_> = (0..5)
                        .map(|n| {
                            spec(
                                "DomainName",
                                &format!("w{writer}-b{batch}-n{n}.example"),
                                "Block",
                                serde_json::json!({}),
                            )
                        })
                        .collect();
                    store
                        .upsert_batch("contoso", &actor("app-1"), &specs, &context(now, Some(50)))
                        .expect("upsert");
                }
            });
        }
    });
    assert_eq!(store.count_active("contoso", now).expect("count"), 50);
    let log = store.changes_after(0, 1000).expect("changes");
    let mut created: Vec<i64> = log
        .iter()
        .filter_map(|c| c.created)
        .flat_map(|(first, last)| first..=last)
        .collect();
    let in_log_order = created.clone();
    created.sort_unstable();
    assert_eq!(created, (1..=50).collect::<Vec<_>>(), "every id once");
    // Commit order: the ids each entry created follow the previous entry's.
    assert_eq!(in_log_order, created, "the log is not in commit order");
}

#[test]
fn application_registrations_are_created_listed_rotated_and_revoked() {
    use iocd_store::apps::{AppRegistration, AppRegistry};
    let store = make();
    let registration = |client_id: &str, tenant: &str, at: i64| AppRegistration {
        client_id: client_id.into(),
        tenant: tenant.into(),
        name: format!("{client_id} name"),
        roles: vec!["Ti.ReadWrite.All".into()],
        secret_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        created: Timestamp::from_unix_seconds(at),
        secret_changed: Timestamp::from_unix_seconds(at),
        revoked: None,
    };
    store.create_app(&registration("a", "t1", 10)).expect("a");
    store.create_app(&registration("b", "t2", 20)).expect("b");
    store.create_app(&registration("c", "t1", 30)).expect("c");
    assert!(
        store.create_app(&registration("a", "t1", 40)).is_err(),
        "a second a"
    );
    let ids = |apps: Vec<AppRegistration>| -> Vec<String> {
        apps.into_iter().map(|a| a.client_id).collect()
    };
    assert_eq!(ids(store.apps(None).expect("all")), ["a", "b", "c"]);
    assert_eq!(ids(store.apps(Some("t1")).expect("t1")), ["a", "c"]);
    assert_eq!(
        store.app("b").expect("b"),
        Some(registration("b", "t2", 20))
    );
    assert_eq!(store.app("z").expect("z"), None);
    let later = Timestamp::from_unix_seconds(50);
    assert!(
        store
            .set_app_secret("a", "new-hash", later)
            .expect("rotate")
    );
    let rotated = store.app("a").expect("a").expect("exists");
    assert_eq!(
        (rotated.secret_hash.as_str(), rotated.secret_changed),
        ("new-hash", later)
    );
    assert!(!store.set_app_secret("z", "h", later).expect("unknown"));
    assert!(store.revoke_app("a", later).expect("revoke"));
    assert!(
        store
            .revoke_app("a", Timestamp::from_unix_seconds(99))
            .expect("again")
    );
    assert_eq!(
        store.app("a").expect("a").expect("exists").revoked,
        Some(later)
    );
    assert!(!store.revoke_app("z", later).expect("unknown"));
    assert!(!store.set_app_secret("a", "again", later).expect("revoked"));
}

/// PostgreSQL refuses a NUL character in text; such input is the caller's fault (a 400 at the
/// API), not a failure of the store, and the connection stays usable.
#[test]
fn text_postgresql_cannot_hold_is_refused_as_the_callers() {
    use iocd_store::device_groups::{DeviceGroupStore, GroupRules, GroupSpec};
    use iocd_store::odata::parse_filter;
    use iocd_store::{ListQuery, StoreError};
    let store = make();
    let now = at("2026-03-01T12:00:00Z");
    let one = spec("DomainName", "a.example", "Block", serde_json::json!({}));
    store
        .upsert_batch("t", &actor("a"), &[one], &context(now, None))
        .expect("upsert");
    let query = ListQuery {
        filter: Some(parse_filter("title eq 'a\u{0}b'").expect("a filter")),
        top: 10,
        ..ListQuery::default()
    };
    let listed = store.list("t", &query, &Visibility::All, now);
    assert!(
        matches!(listed, Err(StoreError::Unstorable(_))),
        "{listed:?}"
    );
    let named = GroupSpec {
        name: "bad\u{0}name".to_owned(),
        description: String::new(),
        rank: None,
        rules: GroupRules::default(),
    };
    let created = store.create_device_group("t", &named, now);
    assert!(
        matches!(created, Err(StoreError::Unstorable(_))),
        "{created:?}"
    );
    // The same connections serve the next request.
    let fine = GroupSpec {
        name: "fine".to_owned(),
        ..named
    };
    assert!(
        store
            .create_device_group("t", &fine, now)
            .expect("store")
            .is_ok()
    );
}

/// Pruning removes a prefix of the log in commit order (up to the newest entry written before
/// the cut-off) and remembers how far it reached, so a node can tell it missed entries.
#[test]
fn the_change_log_is_pruned_as_a_prefix_and_remembers_how_far() {
    let store = make();
    let write = |value: &str, when: &str| {
        store
            .upsert_batch(
                "contoso",
                &actor("app-1"),
                &[spec("DomainName", value, "Block", serde_json::json!({}))],
                &context(at(when), None),
            )
            .expect("write");
        store.last_change().expect("last change")
    };
    let first = write("a.example", "2026-03-01T10:00:00Z");
    let second = write("b.example", "2026-03-01T11:00:00Z");
    let third = write("c.example", "2026-03-01T12:00:00Z");
    assert_eq!(store.pruned_through().expect("pruned through"), 0);
    assert_eq!(
        store
            .prune_changes(at("2026-03-01T09:00:00Z"))
            .expect("prune"),
        0,
        "nothing is that old"
    );
    assert_eq!(
        store
            .prune_changes(at("2026-03-01T11:30:00Z"))
            .expect("prune"),
        2
    );
    assert_eq!(store.pruned_through().expect("pruned through"), second);
    let left: Vec<i64> = store
        .changes_after(0, 100)
        .expect("changes")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, vec![third]);
    assert!(first < second && second < third);
    // Everything pruned: the newest number is still the newest ever written.
    store
        .prune_changes(at("2026-03-02T00:00:00Z"))
        .expect("prune");
    assert_eq!(store.pruned_through().expect("pruned through"), third);
    assert_eq!(store.last_change().expect("last change"), third);
    // An earlier cut-off never moves the mark back.
    store
        .prune_changes(at("2026-03-01T10:30:00Z"))
        .expect("prune");
    assert_eq!(store.pruned_through().expect("pruned through"), third);
}
