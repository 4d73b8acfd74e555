//! The SQLite implementation of [`BypassStore`].

use super::indicators::{active_indicator, record_history};
use super::{SqliteStore, tenant_no};
use crate::bypasses::{Bypass, BypassStore};
use crate::{Actor, HistoryOp, StoreError};
use iocd_model::Timestamp;
use rusqlite::{Row, params};

fn bypass_from_row(row: &Row<'_>) -> rusqlite::Result<Bypass> {
    Ok(Bypass {
        device_id: row.get(0)?,
        indicator_id: row.get(1)?,
        user: row.get(2)?,
        created: Timestamp::from_ticks(row.get(3)?),
        expires: Timestamp::from_ticks(row.get(4)?),
    })
}

impl BypassStore for SqliteStore {
    fn record_bypass(
        &self,
        tenant: &str,
        bypass: &Bypass,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(false);
            };
            let Some(indicator) = active_indicator(tx, number, bypass.indicator_id, bypass.created)?
            else {
                return Ok(false);
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO bypasses (tenant_no, device_id, indicator_id, user_name, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                number,
                bypass.device_id,
                bypass.indicator_id,
                bypass.user,
                bypass.created.ticks(),
                bypass.expires.ticks(),
            ])?;
            let who = Actor {
                id: actor.id.clone(),
                display_name: match &bypass.user {
                    Some(user) => format!("{user} on device {}", bypass.device_id),
                    None => format!("a user on device {}", bypass.device_id),
                },
                source: actor.source.clone(),
            };
            record_history(
                tx,
                number,
                bypass.indicator_id,
                HistoryOp::Bypass,
                bypass.created,
                Some(&who),
                &indicator.created_by,
                Some(&indicator),
            )?;
            Ok(true)
        })
    }

    fn bypasses(&self, tenant: &str, now: Timestamp) -> Result<Vec<Bypass>, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(Vec::new());
            };
            let mut statement = connection.prepare_cached(
                "SELECT device_id, indicator_id, user_name, created, expires FROM bypasses
                 WHERE tenant_no = ?1 AND expires > ?2 ORDER BY created, device_id, indicator_id",
            )?;
            let rows = statement.query_map(params![number, now.ticks()], bypass_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn active_bypasses(&self, now: Timestamp) -> Result<Vec<(String, Bypass)>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT b.device_id, b.indicator_id, b.user_name, b.created, b.expires, t.tenant_id
                 FROM bypasses b JOIN tenants t ON t.tenant_no = b.tenant_no WHERE b.expires > ?1",
            )?;
            let rows = statement.query_map(params![now.ticks()], |row| {
                Ok((row.get::<_, String>(5)?, bypass_from_row(row)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn sweep_bypasses(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("DELETE FROM bypasses WHERE expires <= ?1")?
                .execute(params![now.ticks()])?)
        })
    }
}
