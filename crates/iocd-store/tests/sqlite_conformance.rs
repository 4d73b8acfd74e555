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
