//! The PostgreSQL implementations of [`FeedStore`] (feeds defined through the API) and
//! [`AppRegistry`] (the token endpoint's application registrations).

use super::{PgStore, ensure_tenant, tenant_no};
use crate::StoreError;
use crate::apps::{AppRegistration, AppRegistry};
use crate::feeds::{FeedStore, StoredFeed};
use iocd_model::Timestamp;
use postgres::Row;

impl FeedStore for PgStore {
    fn create_feed(&self, feed: &StoredFeed) -> Result<bool, StoreError> {
        self.write(|tx, _| {
            let number = ensure_tenant(tx, &feed.tenant)?;
            let inserted = tx.execute(
                "INSERT INTO feeds (tenant_no, name, definition, created, created_by)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_no, name) DO NOTHING",
                &[
                    &number,
                    &feed.name,
                    &feed.definition,
                    &feed.created.ticks(),
                    &feed.created_by,
                ],
            )?;
            Ok(inserted > 0)
        })
    }

    fn stored_feeds(&self) -> Result<Vec<StoredFeed>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT t.tenant_id, f.name, f.definition, f.created, f.created_by
                 FROM feeds f JOIN tenants t ON t.tenant_no = f.tenant_no
                 ORDER BY t.tenant_id COLLATE \"C\", f.name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|row| {
                Ok(StoredFeed {
                    tenant: row.try_get(0)?,
                    name: row.try_get(1)?,
                    definition: row.try_get(2)?,
                    created: Timestamp::from_ticks(row.try_get(3)?),
                    created_by: row.try_get(4)?,
                })
            })
            .collect()
        })
    }

    fn delete_feed(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        self.write(|tx, _| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(false);
            };
            Ok(tx.execute(
                "DELETE FROM feeds WHERE tenant_no = $1 AND name = $2",
                &[&number, &name],
            )? > 0)
        })
    }
}

const APP_COLUMNS: &str =
    "client_id, tenant, name, roles, secret_hash, created, secret_changed, revoked";

fn app_from_row(row: &Row) -> Result<AppRegistration, StoreError> {
    let roles: String = row.try_get(3)?;
    Ok(AppRegistration {
        client_id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        name: row.try_get(2)?,
        roles: serde_json::from_str(&roles)
            .map_err(|e| StoreError::Corrupt(format!("app roles: {e}")))?,
        secret_hash: row.try_get(4)?,
        created: Timestamp::from_ticks(row.try_get(5)?),
        secret_changed: Timestamp::from_ticks(row.try_get(6)?),
        revoked: row.try_get::<_, Option<i64>>(7)?.map(Timestamp::from_ticks),
    })
}

impl AppRegistry for PgStore {
    fn create_app(&self, app: &AppRegistration) -> Result<(), StoreError> {
        let roles =
            serde_json::to_string(&app.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|tx, _| {
            tx.execute(
                &format!(
                    "INSERT INTO apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                &[
                    &app.client_id,
                    &app.tenant,
                    &app.name,
                    &roles,
                    &app.secret_hash,
                    &app.created.ticks(),
                    &app.secret_changed.ticks(),
                    &app.revoked.map(Timestamp::ticks),
                ],
            )?;
            Ok(())
        })
    }

    fn app(&self, client_id: &str) -> Result<Option<AppRegistration>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1"),
                &[&client_id],
            )?
            .map(|row| app_from_row(&row))
            .transpose()
        })
    }

    fn apps(&self, tenant: Option<&str>) -> Result<Vec<AppRegistration>, StoreError> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {APP_COLUMNS} FROM apps WHERE $1::text IS NULL OR tenant = $1
                     ORDER BY created, client_id COLLATE \"C\""
                ),
                &[&tenant],
            )?
            .iter()
            .map(app_from_row)
            .collect()
        })
    }

    fn revoke_app(&self, client_id: &str, at: Timestamp) -> Result<bool, StoreError> {
        self.write(|tx, _| {
            let exists = tx
                .query_opt("SELECT 1 FROM apps WHERE client_id = $1", &[&client_id])?
                .is_some();
            tx.execute(
                "UPDATE apps SET revoked = $2 WHERE client_id = $1 AND revoked IS NULL",
                &[&client_id, &at.ticks()],
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
        self.write(|tx, _| {
            let changed = tx.execute(
                "UPDATE apps SET secret_hash = $2, secret_changed = $3 WHERE client_id = $1 AND revoked IS NULL",
                &[&client_id, &secret_hash, &at.ticks()],
            )?;
            Ok(changed == 1)
        })
    }
}
