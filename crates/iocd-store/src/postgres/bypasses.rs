//! The PostgreSQL implementation of [`BypassStore`].

use super::indicators::{active_indicator, record_history};
use super::{ChangeSet, PgStore, tenant_no};
use crate::bypasses::{Bypass, BypassStore};
use crate::{Actor, HistoryOp, StoreError};
use iocd_model::Timestamp;
use postgres::Row;

fn bypass_from_row(row: &Row) -> Result<Bypass, StoreError> {
    Ok(Bypass {
        device_id: row.try_get(0)?,
        indicator_id: row.try_get(1)?,
        user: row.try_get(2)?,
        created: Timestamp::from_ticks(row.try_get(3)?),
        expires: Timestamp::from_ticks(row.try_get(4)?),
    })
}

impl BypassStore for PgStore {
    fn record_bypass(
        &self,
        tenant: &str,
        bypass: &Bypass,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        self.write(|tx, changes| {
            let Some(number) = tenant_no(tx, tenant)? else { return Ok(false) };
            let Some(indicator) = active_indicator(tx, number, bypass.indicator_id, bypass.created)? else {
                return Ok(false);
            };
            tx.execute(
                "INSERT INTO bypasses (tenant_no, device_id, indicator_id, user_name, created, expires)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_no, device_id, indicator_id) DO UPDATE SET
                     user_name = excluded.user_name, created = excluded.created, expires = excluded.expires",
                &[
                    &number,
                    &bypass.device_id,
                    &bypass.indicator_id,
                    &bypass.user,
                    &bypass.created.ticks(),
                    &bypass.expires.ticks(),
                ],
            )?;
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
            // In the change log, so the other nodes read the tenant's bypasses again.
            let mut change = ChangeSet::new(number, bypass.created);
            change.changed(bypass.indicator_id);
            changes.push(change);
            Ok(true)
        })
    }

    fn bypasses(&self, tenant: &str, now: Timestamp) -> Result<Vec<Bypass>, StoreError> {
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else { return Ok(Vec::new()) };
            tx.query(
                "SELECT device_id, indicator_id, user_name, created, expires FROM bypasses
                 WHERE tenant_no = $1 AND expires > $2 ORDER BY created, device_id COLLATE \"C\", indicator_id",
                &[&number, &now.ticks()],
            )?
            .iter()
            .map(bypass_from_row)
            .collect()
        })
    }

    fn active_bypasses(&self, now: Timestamp) -> Result<Vec<(String, Bypass)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT b.device_id, b.indicator_id, b.user_name, b.created, b.expires, t.tenant_id
                 FROM bypasses b JOIN tenants t ON t.tenant_no = b.tenant_no WHERE b.expires > $1",
                &[&now.ticks()],
            )?
            .iter()
            .map(|row| Ok((row.try_get::<_, String>(5)?, bypass_from_row(row)?)))
            .collect()
        })
    }

    fn sweep_bypasses(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx, _| {
            Ok(tx.execute("DELETE FROM bypasses WHERE expires <= $1", &[&now.ticks()])? as usize)
        })
    }
}
