//! The SQLite implementation of [`AppRegistry`], in the same file as the indicators.

use super::SqliteStore;
use crate::StoreError;
use crate::apps::{AppRegistration, AppRegistry};
use iocd_model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str =
    "client_id, tenant, name, roles, secret_hash, created, secret_changed, revoked";

fn app_from_row(row: &Row<'_>) -> rusqlite::Result<AppRegistration> {
    let roles: String = row.get(3)?;
    let roles: Vec<String> = serde_json::from_str(&roles).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(AppRegistration {
        client_id: row.get(0)?,
        tenant: row.get(1)?,
        name: row.get(2)?,
        roles,
        secret_hash: row.get(4)?,
        created: Timestamp::from_ticks(row.get(5)?),
        secret_changed: Timestamp::from_ticks(row.get(6)?),
        revoked: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_ticks),
    })
}

impl AppRegistry for SqliteStore {
    fn create_app(&self, app: &AppRegistration) -> Result<(), StoreError> {
        let roles =
            serde_json::to_string(&app.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|tx| {
            tx.execute(
                &format!("INSERT INTO apps ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    app.client_id,
                    app.tenant,
                    app.name,
                    roles,
                    app.secret_hash,
                    app.created.ticks(),
                    app.secret_changed.ticks(),
                    app.revoked.map(Timestamp::ticks),
                ],
            )?;
            Ok(())
        })
    }

    fn app(&self, client_id: &str) -> Result<Option<AppRegistration>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .query_row(
                    &format!("SELECT {COLUMNS} FROM apps WHERE client_id = ?1"),
                    params![client_id],
                    app_from_row,
                )
                .optional()?)
        })
    }

    fn apps(&self, tenant: Option<&str>) -> Result<Vec<AppRegistration>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {COLUMNS} FROM apps WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created, client_id"
            ))?;
            let rows = statement.query_map(params![tenant], app_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn revoke_app(&self, client_id: &str, at: Timestamp) -> Result<bool, StoreError> {
        self.write(|tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM apps WHERE client_id = ?1",
                    params![client_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            tx.execute(
                "UPDATE apps SET revoked = ?2 WHERE client_id = ?1 AND revoked IS NULL",
                params![client_id, at.ticks()],
            )?;
            Ok(exists)
        })
    }

    fn set_app_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE apps SET secret_hash = ?2, secret_changed = ?3 WHERE client_id = ?1 AND revoked IS NULL",
                params![client_id, secret_hash, at.ticks()],
            )?;
            Ok(changed == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(client_id: &str, tenant: &str, at: i64) -> AppRegistration {
        AppRegistration {
            client_id: client_id.into(),
            tenant: tenant.into(),
            name: format!("{client_id} name"),
            roles: vec!["Ti.ReadWrite.All".into()],
            secret_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            created: Timestamp::from_unix_seconds(at),
            secret_changed: Timestamp::from_unix_seconds(at),
            revoked: None,
        }
    }

    #[test]
    fn registrations_are_created_listed_rotated_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("apps.db")).unwrap();
        store.create_app(&registration("a", "t1", 10)).unwrap();
        store.create_app(&registration("b", "t2", 20)).unwrap();
        store.create_app(&registration("c", "t1", 30)).unwrap();
        assert!(store.create_app(&registration("a", "t1", 40)).is_err());
        let ids = |apps: Vec<AppRegistration>| -> Vec<String> {
            apps.into_iter().map(|a| a.client_id).collect()
        };
        assert_eq!(ids(store.apps(None).unwrap()), ["a", "b", "c"]);
        assert_eq!(ids(store.apps(Some("t1")).unwrap()), ["a", "c"]);
        assert_eq!(store.app("b").unwrap(), Some(registration("b", "t2", 20)));
        assert_eq!(store.app("z").unwrap(), None);

        let later = Timestamp::from_unix_seconds(50);
        assert!(store.set_app_secret("a", "new-hash", later).unwrap());
        let rotated = store.app("a").unwrap().unwrap();
        assert_eq!(
            (rotated.secret_hash.as_str(), rotated.secret_changed),
            ("new-hash", later)
        );
        assert!(!store.set_app_secret("z", "h", later).unwrap());

        assert!(store.revoke_app("a", later).unwrap());
        assert!(
            store
                .revoke_app("a", Timestamp::from_unix_seconds(99))
                .unwrap()
        );
        assert_eq!(store.app("a").unwrap().unwrap().revoked, Some(later));
        assert!(!store.revoke_app("z", later).unwrap());
        // A revoked registration's secret cannot be changed.
        assert!(!store.set_app_secret("a", "again", later).unwrap());
    }
}
