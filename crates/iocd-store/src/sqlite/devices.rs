//! The SQLite implementation of [`DeviceStore`].

use super::{SqliteStore, ensure_tenant, tenant_no};
use crate::StoreError;
use crate::devices::{DeviceStore, SeenDevice};
use iocd_model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str = "device_id, name, domain, os, tags, group_id, first_seen, last_seen";

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<SeenDevice> {
    let tags: String = row.get(4)?;
    Ok(SeenDevice {
        id: row.get(0)?,
        name: row.get(1)?,
        domain: row.get(2)?,
        os: row.get(3)?,
        tags: serde_json::from_str(&tags).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?,
        group_id: row.get(5)?,
        first_seen: Timestamp::from_ticks(row.get(6)?),
        last_seen: Timestamp::from_ticks(row.get(7)?),
    })
}

fn sql_limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

impl DeviceStore for SqliteStore {
    fn record_devices(&self, tenant: &str, devices: &[SeenDevice]) -> Result<(), StoreError> {
        if devices.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let number = ensure_tenant(tx, tenant)?;
            let mut statement = tx.prepare_cached(
                "INSERT INTO devices (tenant_no, device_id, name, domain, os, tags, group_id, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, coalesce(?6, '[]'), ?7, ?8, ?9)
                 ON CONFLICT (tenant_no, device_id) DO UPDATE SET
                     name = coalesce(excluded.name, name),
                     domain = coalesce(excluded.domain, domain),
                     os = coalesce(excluded.os, os),
                     tags = CASE WHEN ?6 IS NULL THEN tags ELSE excluded.tags END,
                     group_id = coalesce(excluded.group_id, group_id),
                     first_seen = min(first_seen, excluded.first_seen),
                     last_seen = max(last_seen, excluded.last_seen)",
            )?;
            for device in devices {
                let tags = if device.tags.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::to_string(&device.tags)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    )
                };
                statement.execute(params![
                    number,
                    device.id,
                    device.name,
                    device.domain,
                    device.os,
                    tags,
                    device.group_id,
                    device.first_seen.ticks(),
                    device.last_seen.ticks()
                ])?;
            }
            Ok(())
        })
    }

    fn devices(
        &self,
        tenant: &str,
        skip: usize,
        top: usize,
    ) -> Result<Vec<SeenDevice>, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(Vec::new());
            };
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM devices WHERE tenant_no = ?1
                 ORDER BY last_seen DESC, device_id LIMIT ?2 OFFSET ?3"
            ))?;
            let rows = statement.query_map(
                params![number, sql_limit(top), sql_limit(skip)],
                device_from_row,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn count_devices(&self, tenant: &str) -> Result<u64, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(0);
            };
            let n: i64 = connection
                .prepare_cached("SELECT count(*) FROM devices WHERE tenant_no = ?1")?
                .query_row([number], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    fn device(&self, tenant: &str, id: &str) -> Result<Option<SeenDevice>, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(None);
            };
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM devices WHERE tenant_no = ?1 AND device_id = ?2"
                ))?
                .query_row(params![number, id], device_from_row)
                .optional()?)
        })
    }
}
