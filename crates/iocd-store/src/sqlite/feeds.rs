//! The SQLite implementation of [`FeedStore`].

use super::{SqliteStore, ensure_tenant, tenant_no};
use crate::StoreError;
use crate::feeds::{FeedStore, StoredFeed};
use iocd_model::Timestamp;
use rusqlite::params;

impl FeedStore for SqliteStore {
    fn create_feed(&self, feed: &StoredFeed) -> Result<bool, StoreError> {
        self.write(|tx| {
            let number = ensure_tenant(tx, &feed.tenant)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO feeds (tenant_no, name, definition, created, created_by)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant_no, name) DO NOTHING",
                )?
                .execute(params![
                    number,
                    feed.name,
                    feed.definition,
                    feed.created.ticks(),
                    feed.created_by
                ])?;
            Ok(inserted > 0)
        })
    }

    fn stored_feeds(&self) -> Result<Vec<StoredFeed>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT t.tenant_id, f.name, f.definition, f.created, f.created_by
                 FROM feeds f JOIN tenants t ON t.tenant_no = f.tenant_no
                 ORDER BY t.tenant_id, f.name",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(StoredFeed {
                    tenant: row.get(0)?,
                    name: row.get(1)?,
                    definition: row.get(2)?,
                    created: Timestamp::from_ticks(row.get(3)?),
                    created_by: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn delete_feed(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(false);
            };
            Ok(tx
                .prepare_cached("DELETE FROM feeds WHERE tenant_no = ?1 AND name = ?2")?
                .execute(params![number, name])?
                > 0)
        })
    }
}
