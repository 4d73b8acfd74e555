//! Runs the store conformance suite against the SQLite backend, each case on a fresh file.

use iocd_store::SqliteStore;

fn fresh_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("iocd.db")).expect("open store");
    (dir, store)
}

mod sqlite {
    use super::*;

    struct Fixture(#[allow(dead_code)] tempfile::TempDir, SqliteStore);

    impl std::ops::Deref for Fixture {
        type Target = SqliteStore;
        fn deref(&self) -> &SqliteStore {
            &self.1
        }
    }

    fn make() -> Fixture {
        let (dir, store) = fresh_store();
        Fixture(dir, store)
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
}

/// The database and the files SQLite adds beside it are readable by their owner only.
#[cfg(unix)]
#[test]
fn database_files_are_readable_by_their_owner_only() {
    use iocd_store::{IndicatorStore, Visibility, WriteContext};
    use std::os::unix::fs::PermissionsExt;
    let (dir, store) = fresh_store();
    let spec =
        iocd_store::conformance::spec("DomainName", "a.example", "Block", serde_json::json!({}));
    let context = WriteContext {
        now: iocd_model::Timestamp::parse("2026-03-01T00:00:00Z").unwrap(),
        visibility: Visibility::All,
        max_active: None,
    };
    store
        .upsert_batch("t", &iocd_store::conformance::actor("a"), &[spec], &context)
        .unwrap();
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for name in ["iocd.db", "iocd.db-wal", "iocd.db-shm"] {
        assert_eq!(mode(name), 0o600, "{name}");
    }
    // A database opened again is made private too, whatever its mode was.
    drop(store);
    std::fs::set_permissions(
        dir.path().join("iocd.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let _store = SqliteStore::open(&dir.path().join("iocd.db")).unwrap();
    assert_eq!(mode("iocd.db"), 0o600);
}

/// A database from before the device-group registry gets a registry that accounts for every
/// group its indicators name, and each indicator names its groups both by name and by id.
#[test]
fn an_older_database_gets_the_groups_its_indicators_name() {
    use iocd_store::conformance::{actor, spec};
    use iocd_store::device_groups::DeviceGroupStore;
    use iocd_store::{IndicatorReader, IndicatorStore, Visibility, WriteContext};
    use serde_json::json;
    let (dir, store) = fresh_store();
    let now = iocd_model::Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
    let context = WriteContext {
        now,
        visibility: Visibility::All,
        max_active: None,
    };
    let specs = [
        spec(
            "DomainName",
            "a.example",
            "Block",
            json!({"rbacGroupNames": ["Servers"]}),
        ),
        spec(
            "DomainName",
            "b.example",
            "Block",
            json!({"rbacGroupIds": [7]}),
        ),
        spec(
            "DomainName",
            "c.example",
            "Block",
            json!({"rbacGroupNames": ["laptops"], "rbacGroupIds": [7]}),
        ),
        spec("DomainName", "d.example", "Block", json!({})),
    ];
    store
        .upsert_batch("t", &actor("a"), &specs, &context)
        .unwrap();
    store
        .upsert_batch("u", &actor("a"), &specs[..1], &context)
        .unwrap();
    drop(store);
    // Back to the schema before the registry.
    let path = dir.path().join("iocd.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch(
            "DROP TABLE device_groups;
             ALTER TABLE alerts DROP COLUMN mitre_techniques;
             ALTER TABLE alerts DROP COLUMN comments;
             DROP TABLE bypasses;
             DROP TABLE webhooks;
             DROP TABLE webhook_deliveries;
             DROP TABLE alert_outbox;
             DROP TABLE outbox_cursors;
             DROP TABLE devices;
             DROP TABLE feeds;
             PRAGMA user_version = 3;",
        )
        .unwrap();
    drop(connection);

    let store = SqliteStore::open(&path).unwrap();
    let groups: Vec<(i64, String)> = store
        .device_groups("t")
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    assert_eq!(
        groups,
        [
            (7, "Group 7".to_owned()),
            (8, "laptops".to_owned()),
            (9, "Servers".to_owned()),
            (0, "Ungrouped devices".to_owned())
        ]
    );
    let scope = |tenant: &str, id: i64| {
        let indicator = store
            .get(tenant, id, &Visibility::All, now)
            .unwrap()
            .unwrap();
        (
            indicator.spec.rbac_group_ids,
            indicator.spec.rbac_group_names,
        )
    };
    assert_eq!(scope("t", 1), (vec![9], vec!["Servers".to_owned()]));
    assert_eq!(scope("t", 2), (vec![7], vec!["Group 7".to_owned()]));
    assert_eq!(
        scope("t", 3),
        (vec![7, 8], vec!["Group 7".to_owned(), "laptops".to_owned()])
    );
    assert_eq!(scope("t", 4), (vec![], vec![]));
    assert_eq!(scope("u", 1), (vec![1], vec!["Servers".to_owned()]));
    assert_eq!(store.device_groups("u").unwrap().len(), 2);
}
