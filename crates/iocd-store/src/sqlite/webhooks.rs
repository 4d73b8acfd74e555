//! The SQLite implementation of [`WebhookStore`], and the queueing of an alert event that the
//! alert writes call inside their transaction.

use super::{SqliteStore, ensure_tenant, tenant_no};
use crate::StoreError;
use crate::webhooks::{
    AlertEvent, Attempt, Delivery, DeliveryState, DueDelivery, OutboxEntry, Webhook, WebhookSpec,
    WebhookStore,
};
use iocd_model::Timestamp;
use rusqlite::{OptionalExtension, Row, Transaction, params};

fn corrupt(what: &str, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {text:?}").into(),
    )
}

fn events_text(events: &[AlertEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_event(text: &str) -> rusqlite::Result<AlertEvent> {
    AlertEvent::parse(text).ok_or_else(|| corrupt("alert event", text))
}

const WEBHOOK_COLUMNS: &str = "id, url, secret, events, created, created_by";

fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let events: String = row.get(3)?;
    Ok(Webhook {
        id: row.get(0)?,
        url: row.get(1)?,
        secret: row.get(2)?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(parse_event)
            .collect::<rusqlite::Result<_>>()?,
        created: Timestamp::from_ticks(row.get(4)?),
        created_by: row.get(5)?,
    })
}

const DELIVERY_COLUMNS: &str =
    "id, webhook_id, alert_id, event, state, attempts, created, next_attempt,
    last_attempt, last_status, last_error, delivered";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let event: String = row.get(3)?;
    let state: String = row.get(4)?;
    let ticks = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(Timestamp::from_ticks))
    };
    Ok(Delivery {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        alert_id: row.get(2)?,
        event: parse_event(&event)?,
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt("delivery state", &state))?,
        attempts: row.get(5)?,
        created: Timestamp::from_ticks(row.get(6)?),
        next_attempt: ticks(7)?,
        last_attempt: ticks(8)?,
        last_status: row.get(9)?,
        last_error: row.get(10)?,
        delivered: ticks(11)?,
    })
}

/// Queues `event` of alert `alert_id`: one outbox entry, and one pending delivery, due now, to
/// each of the tenant's webhooks that subscribe to it. Called inside the alert's transaction.
pub(super) fn queue_alert_event(
    tx: &Transaction<'_>,
    tenant_no: i64,
    alert_id: i64,
    event: AlertEvent,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO alert_outbox (tenant_no, alert_id, event, time) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![tenant_no, alert_id, event.as_str(), now.ticks()])?;
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (tenant_no, webhook_id, alert_id, event, state, created, next_attempt)
         SELECT tenant_no, id, ?2, ?3, 'Pending', ?4, ?4 FROM webhooks
         WHERE tenant_no = ?1 AND instr(',' || events || ',', ',' || ?3 || ',') > 0",
    )?
    .execute(params![tenant_no, alert_id, event.as_str(), now.ticks()])?;
    Ok(())
}

impl WebhookStore for SqliteStore {
    fn create_webhook(
        &self,
        tenant: &str,
        spec: &WebhookSpec,
        created_by: &str,
        now: Timestamp,
    ) -> Result<Webhook, StoreError> {
        self.write(|tx| {
            let number = ensure_tenant(tx, tenant)?;
            let id: i64 = tx
                .prepare_cached(
                    "SELECT coalesce(max(id), 0) + 1 FROM webhooks WHERE tenant_no = ?1",
                )?
                .query_row([number], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO webhooks (tenant_no, id, url, secret, events, created, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                number,
                id,
                spec.url,
                spec.secret,
                events_text(&spec.events),
                now.ticks(),
                created_by
            ])?;
            Ok(Webhook {
                id,
                url: spec.url.clone(),
                secret: spec.secret.clone(),
                events: spec.events.clone(),
                created: now,
                created_by: created_by.to_owned(),
            })
        })
    }

    fn webhooks(&self, tenant: &str) -> Result<Vec<Webhook>, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(Vec::new());
            };
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_no = ?1 ORDER BY id"
            ))?;
            let rows = statement.query_map([number], webhook_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn webhook(&self, tenant: &str, id: i64) -> Result<Option<Webhook>, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(None);
            };
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_no = ?1 AND id = ?2"
                ))?
                .query_row(params![number, id], webhook_from_row)
                .optional()?)
        })
    }

    fn delete_webhook(&self, tenant: &str, id: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(false);
            };
            tx.prepare_cached(
                "DELETE FROM webhook_deliveries WHERE tenant_no = ?1 AND webhook_id = ?2",
            )?
            .execute(params![number, id])?;
            Ok(tx
                .prepare_cached("DELETE FROM webhooks WHERE tenant_no = ?1 AND id = ?2")?
                .execute(params![number, id])?
                > 0)
        })
    }

    fn deliveries(
        &self,
        tenant: &str,
        webhook_id: i64,
        limit: usize,
    ) -> Result<Option<Vec<Delivery>>, StoreError> {
        self.read(|connection| {
            let Some(number) = tenant_no(connection, tenant)? else {
                return Ok(None);
            };
            let exists: Option<i64> = connection
                .prepare_cached("SELECT id FROM webhooks WHERE tenant_no = ?1 AND id = ?2")?
                .query_row(params![number, webhook_id], |r| r.get(0))
                .optional()?;
            if exists.is_none() {
                return Ok(None);
            }
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
                 WHERE tenant_no = ?1 AND webhook_id = ?2 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = statement.query_map(
                params![number, webhook_id, limit.min(i64::MAX as usize) as i64],
                delivery_from_row,
            )?;
            Ok(Some(rows.collect::<Result<Vec<_>, _>>()?))
        })
    }

    fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDelivery>, StoreError> {
        self.read(|connection| {
            let columns = DELIVERY_COLUMNS
                .split(',')
                .map(|c| format!("d.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {columns}, t.tenant_id, w.url, w.secret
                 FROM webhook_deliveries d
                 JOIN webhooks w ON w.tenant_no = d.tenant_no AND w.id = d.webhook_id
                 JOIN tenants t ON t.tenant_no = d.tenant_no
                 WHERE d.state = 'Pending' AND d.next_attempt <= ?1
                 ORDER BY d.next_attempt, d.id LIMIT ?2"
            ))?;
            let rows = statement.query_map(
                params![now.ticks(), limit.min(i64::MAX as usize) as i64],
                |row| {
                    Ok(DueDelivery {
                        delivery: delivery_from_row(row)?,
                        tenant: row.get(12)?,
                        url: row.get(13)?,
                        secret: row.get(14)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn record_attempt(&self, id: i64, now: Timestamp, attempt: &Attempt) -> Result<(), StoreError> {
        self.write(|tx| {
            match attempt {
                Attempt::Delivered { status } => tx
                    .prepare_cached(
                        "UPDATE webhook_deliveries SET state = 'Delivered', attempts = attempts + 1,
                             next_attempt = NULL, last_attempt = ?2, last_status = ?3, last_error = NULL,
                             delivered = ?2
                         WHERE id = ?1 AND state = 'Pending'",
                    )?
                    .execute(params![id, now.ticks(), status])?,
                Attempt::Failed {
                    status,
                    error,
                    retry_at,
                } => tx
                    .prepare_cached(
                        "UPDATE webhook_deliveries SET
                             state = CASE WHEN ?5 IS NULL THEN 'Failed' ELSE 'Pending' END,
                             attempts = attempts + 1, next_attempt = ?5, last_attempt = ?2,
                             last_status = ?3, last_error = ?4
                         WHERE id = ?1 AND state = 'Pending'",
                    )?
                    .execute(params![
                        id,
                        now.ticks(),
                        status,
                        error,
                        retry_at.map(Timestamp::ticks)
                    ])?,
            };
            Ok(())
        })
    }

    fn outbox_after(&self, seq: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT o.seq, t.tenant_id, o.alert_id, o.event, o.time FROM alert_outbox o
                 JOIN tenants t ON t.tenant_no = o.tenant_no
                 WHERE o.seq > ?1 ORDER BY o.seq LIMIT ?2",
            )?;
            let rows =
                statement.query_map(params![seq, limit.min(i64::MAX as usize) as i64], |row| {
                    let event: String = row.get(3)?;
                    Ok(OutboxEntry {
                        seq: row.get(0)?,
                        tenant: row.get(1)?,
                        alert_id: row.get(2)?,
                        event: parse_event(&event)?,
                        time: Timestamp::from_ticks(row.get(4)?),
                    })
                })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn outbox_head(&self) -> Result<i64, StoreError> {
        self.read(|connection| {
            // The sequence survives the pruning of old entries.
            let from_sequence: Option<i64> = connection
                .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'alert_outbox'")?
                .query_row([], |r| r.get(0))
                .optional()?;
            Ok(from_sequence.unwrap_or(0))
        })
    }

    fn outbox_cursor(&self, consumer: &str) -> Result<Option<i64>, StoreError> {
        self.read(|connection| {
            Ok(connection
                .prepare_cached("SELECT seq FROM outbox_cursors WHERE consumer = ?1")?
                .query_row([consumer], |r| r.get(0))
                .optional()?)
        })
    }

    fn set_outbox_cursor(&self, consumer: &str, seq: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO outbox_cursors (consumer, seq) VALUES (?1, ?2)
                 ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq",
            )?
            .execute(params![consumer, seq])?;
            Ok(())
        })
    }

    fn sweep_deliveries(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx| {
            let deliveries = tx
                .prepare_cached(
                    "DELETE FROM webhook_deliveries WHERE state != 'Pending' AND created < ?1",
                )?
                .execute([before.ticks()])?;
            let entries = tx
                .prepare_cached("DELETE FROM alert_outbox WHERE time < ?1")?
                .execute([before.ticks()])?;
            Ok(deliveries + entries)
        })
    }
}
