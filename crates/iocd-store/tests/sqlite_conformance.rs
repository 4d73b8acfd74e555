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
