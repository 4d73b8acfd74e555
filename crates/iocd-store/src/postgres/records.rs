//! The PostgreSQL implementation of [`RecordStore`].

use super::{PgStore, RECORD_TRIM_LOCK};
use crate::StoreError;
use crate::records::{RecordKind, RecordStore, StoredRecord};
use iocd_model::Timestamp;
use postgres::Row;

fn record_from_row(kind: RecordKind, row: &Row) -> Result<StoredRecord, StoreError> {
    Ok(StoredRecord {
        kind,
        tenant: row.try_get(0)?,
        name: row.try_get(1)?,
        body: row.try_get(2)?,
        updated: Timestamp::from_ticks(row.try_get(3)?),
    })
}

impl RecordStore for PgStore {
    fn put_record(&self, record: &StoredRecord, keep: Option<usize>) -> Result<(), StoreError> {
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO records (kind, tenant, name, body, updated) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (kind, tenant, name) DO UPDATE SET body = excluded.body, updated = excluded.updated",
                &[
                    &record.kind.as_str(),
                    &record.tenant,
                    &record.name,
                    &record.body,
                    &record.updated.ticks(),
                ],
            )?;
            if let Some(keep) = keep {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RECORD_TRIM_LOCK])?;
                tx.execute(
                    "DELETE FROM records r USING (
                         SELECT tenant, name FROM records WHERE kind = $1
                         ORDER BY updated DESC, tenant DESC, name DESC OFFSET $2) old
                     WHERE r.kind = $1 AND r.tenant = old.tenant AND r.name = old.name",
                    &[&record.kind.as_str(), &(keep as i64)],
                )?;
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
        self.read(|tx| {
            tx.query_opt(
                "SELECT tenant, name, body, updated FROM records
                 WHERE kind = $1 AND tenant = $2 AND name = $3",
                &[&kind.as_str(), &tenant, &name],
            )?
            .map(|row| record_from_row(kind, &row))
            .transpose()
        })
    }

    fn records(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT tenant, name, body, updated FROM records WHERE kind = $1
                 ORDER BY tenant COLLATE \"C\", name COLLATE \"C\"",
                &[&kind.as_str()],
            )?
            .iter()
            .map(|row| record_from_row(kind, row))
            .collect()
        })
    }

    fn take_records(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, StoreError> {
        // DELETE … RETURNING: a row deleted by one transaction is not returned to another.
        let mut taken = self.write(|tx, _| {
            tx.query(
                "DELETE FROM records WHERE kind = $1 RETURNING tenant, name, body, updated",
                &[&kind.as_str()],
            )?
            .iter()
            .map(|row| record_from_row(kind, row))
            .collect::<Result<Vec<_>, _>>()
        })?;
        taken.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
        Ok(taken)
    }

    fn delete_record(
        &self,
        kind: RecordKind,
        tenant: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx, _| {
            Ok(tx.execute(
                "DELETE FROM records WHERE kind = $1 AND tenant = $2 AND name = $3",
                &[&kind.as_str(), &tenant, &name],
            )? > 0)
        })
    }
}
