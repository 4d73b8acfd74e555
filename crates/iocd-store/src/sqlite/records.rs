//! The SQLite implementation of [`RecordStore`].

use super::SqliteStore;
use crate::StoreError;
use crate::records::{RecordKind, RecordStore, StoredRecord};
use iocd_model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

fn record_from_row(kind: RecordKind, row: &Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        kind,
        tenant: row.get(0)?,
        name: row.get(1)?,
        body: row.get(2)?,
        updated: Timestamp::from_ticks(row.get(3)?),
    })
}

impl RecordStore for SqliteStore {
    fn put_record(&self, record: &StoredRecord, keep: Option<usize>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO records (kind, tenant, name, body, updated) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, tenant, name) DO UPDATE SET body = excluded.body, updated = excluded.updated",
            )?
            .execute(params![
                record.kind.as_str(),
                record.tenant,
                record.name,
                record.body,
                record.updated.ticks()
            ])?;
            if let Some(keep) = keep {
                tx.prepare_cached(
                    "DELETE FROM records WHERE rowid IN (
                         SELECT rowid FROM records WHERE kind = ?1
                         ORDER BY updated DESC, rowid DESC LIMIT -1 OFFSET ?2)",
                )?
                .execute(params![record.kind.as_str(), keep as i64])?;
            }
            Ok(())
        })
    }

    fn record(
        &self,
        kind: RecordKind,
        tenant: &str,
        name: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT tenant, name, body, updated FROM records
                     WHERE kind = ?1 AND tenant = ?2 AND name = ?3",
                )?
                .query_row(params![kind.as_str(), tenant, name], |row| {
                    record_from_row(kind, row)
                })
                .optional()?)
        })
    }

    fn records(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT tenant, name, body, updated FROM records WHERE kind = ?1 ORDER BY tenant, name",
            )?;
            let rows = statement.query_map([kind.as_str()], |row| record_from_row(kind, row))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn take_records(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, StoreError> {
        self.write(|tx| {
            let taken = {
                let mut statement = tx.prepare_cached(
                    "SELECT tenant, name, body, updated FROM records WHERE kind = ?1 ORDER BY tenant, name",
                )?;
                let rows = statement.query_map([kind.as_str()], |row| record_from_row(kind, row))?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            tx.prepare_cached("DELETE FROM records WHERE kind = ?1")?
                .execute([kind.as_str()])?;
            Ok(taken)
        })
    }

    fn delete_record(
        &self,
        kind: RecordKind,
        tenant: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached(
                    "DELETE FROM records WHERE kind = ?1 AND tenant = ?2 AND name = ?3",
                )?
                .execute(params![kind.as_str(), tenant, name])?
                > 0)
        })
    }
}
