//! The PostgreSQL implementation of [`DeviceStore`].

use super::{PgStore, ensure_tenant, tenant_no};
use crate::StoreError;
use crate::devices::{DeviceStore, SeenDevice};
use iocd_model::Timestamp;
use postgres::Row;

const COLUMNS: &str = "device_id, name, domain, os, tags, group_id, first_seen, last_seen";

fn device_from_row(row: &Row) -> Result<SeenDevice, StoreError> {
    let tags: String = row.try_get(4)?;
    Ok(SeenDevice {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        domain: row.try_get(2)?,
        os: row.try_get(3)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("device tags: {e}")))?,
        group_id: row.try_get(5)?,
        first_seen: Timestamp::from_ticks(row.try_get(6)?),
        last_seen: Timestamp::from_ticks(row.try_get(7)?),
    })
}

fn sql_limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

impl DeviceStore for PgStore {
    fn record_devices(&self, tenant: &str, devices: &[SeenDevice]) -> Result<(), StoreError> {
        if devices.is_empty() {
            return Ok(());
        }
        self.write(|tx, _| {
            let number = ensure_tenant(tx, tenant)?;
            let statement = tx.prepare(
                "INSERT INTO devices (tenant_no, device_id, name, domain, os, tags, group_id, first_seen, last_seen)
                 VALUES ($1, $2, $3, $4, $5, coalesce($6, '[]'), $7, $8, $9)
                 ON CONFLICT (tenant_no, device_id) DO UPDATE SET
                     name = coalesce(excluded.name, devices.name),
                     domain = coalesce(excluded.domain, devices.domain),
                     os = coalesce(excluded.os, devices.os),
                     tags = CASE WHEN $6::text IS NULL THEN devices.tags ELSE excluded.tags END,
                     group_id = coalesce(excluded.group_id, devices.group_id),
                     first_seen = least(devices.first_seen, excluded.first_seen),
                     last_seen = greatest(devices.last_seen, excluded.last_seen)",
            )?;
            for device in devices {
                let tags = if device.tags.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&device.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                };
                tx.execute(
                    &statement,
                    &[
                        &number,
                        &device.id,
                        &device.name,
                        &device.domain,
                        &device.os,
                        &tags,
                        &device.group_id,
                        &device.first_seen.ticks(),
                        &device.last_seen.ticks(),
                    ],
                )?;
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
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(Vec::new());
            };
            tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM devices WHERE tenant_no = $1
                     ORDER BY last_seen DESC, device_id COLLATE \"C\" LIMIT $2 OFFSET $3"
                ),
                &[&number, &sql_limit(top), &sql_limit(skip)],
            )?
            .iter()
            .map(device_from_row)
            .collect()
        })
    }

    fn count_devices(&self, tenant: &str) -> Result<u64, StoreError> {
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(0);
            };
            let n: i64 = tx
                .query_one(
                    "SELECT count(*) FROM devices WHERE tenant_no = $1",
                    &[&number],
                )?
                .try_get(0)?;
            Ok(n as u64)
        })
    }

    fn device(&self, tenant: &str, id: &str) -> Result<Option<SeenDevice>, StoreError> {
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(None);
            };
            tx.query_opt(
                &format!("SELECT {COLUMNS} FROM devices WHERE tenant_no = $1 AND device_id = $2"),
                &[&number, &id],
            )?
            .map(|row| device_from_row(&row))
            .transpose()
        })
    }
}
