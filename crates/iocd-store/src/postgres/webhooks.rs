//! The PostgreSQL implementation of [`WebhookStore`], and the queueing of an alert event that
//! the alert writes call inside their transaction. Outbox entries are numbered under the same
//! advisory lock as the change log, so a consumer's cursor never passes an entry that commits
//! later.

use super::{CHANGE_LOCK, PgStore, lock_tenant, tenant_no};
use crate::StoreError;
use crate::webhooks::{
    AlertEvent, Attempt, Delivery, DeliveryState, DueDelivery, OutboxEntry, Webhook, WebhookSpec,
    WebhookStore,
};
use iocd_model::Timestamp;
use postgres::{Row, Transaction};

fn corrupt(what: &str, text: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {text:?}"))
}

fn events_text(events: &[AlertEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_event(text: &str) -> Result<AlertEvent, StoreError> {
    AlertEvent::parse(text).ok_or_else(|| corrupt("alert event", text))
}

const WEBHOOK_COLUMNS: &str = "id, url, secret, events, created, created_by";

fn webhook_from_row(row: &Row) -> Result<Webhook, StoreError> {
    let events: String = row.try_get(3)?;
    Ok(Webhook {
        id: row.try_get(0)?,
        url: row.try_get(1)?,
        secret: row.try_get(2)?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(parse_event)
            .collect::<Result<_, _>>()?,
        created: Timestamp::from_ticks(row.try_get(4)?),
        created_by: row.try_get(5)?,
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.alert_id, d.event, d.state, d.attempts, d.created, \
    d.next_attempt, d.last_attempt, d.last_status, d.last_error, d.delivered";

fn delivery_from_row(row: &Row) -> Result<Delivery, StoreError> {
    let event: String = row.try_get(3)?;
    let state: String = row.try_get(4)?;
    let ticks = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        Ok(row.try_get::<_, Option<i64>>(i)?.map(Timestamp::from_ticks))
    };
    let attempts: i64 = row.try_get(5)?;
    let last_status: Option<i64> = row.try_get(9)?;
    Ok(Delivery {
        id: row.try_get(0)?,
        webhook_id: row.try_get(1)?,
        alert_id: row.try_get(2)?,
        event: parse_event(&event)?,
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt("delivery state", &state))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt("attempt count", &attempts.to_string()))?,
        created: Timestamp::from_ticks(row.try_get(6)?),
        next_attempt: ticks(7)?,
        last_attempt: ticks(8)?,
        last_status: last_status
            .map(|s| u16::try_from(s).map_err(|_| corrupt("HTTP status", &s.to_string())))
            .transpose()?,
        last_error: row.try_get(10)?,
        delivered: ticks(11)?,
    })
}

/// Queues `event` of alert `alert_id`: one outbox entry, and one pending delivery, due now, to
/// each of the tenant's webhooks that subscribe to it. Called inside the alert's transaction.
pub(super) fn queue_alert_event(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    alert_id: i64,
    event: AlertEvent,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGE_LOCK])?;
    tx.execute(
        "INSERT INTO alert_outbox (seq, tenant_no, alert_id, event, time)
         VALUES (nextval('outbox_numbers'), $1, $2, $3, $4)",
        &[&tenant_no, &alert_id, &event.as_str(), &now.ticks()],
    )?;
    tx.execute(
        "INSERT INTO webhook_deliveries (tenant_no, webhook_id, alert_id, event, state, created, next_attempt)
         SELECT tenant_no, id, $2, $3, 'Pending', $4, $4 FROM webhooks
         WHERE tenant_no = $1 AND $3 = ANY (string_to_array(events, ','))",
        &[&tenant_no, &alert_id, &event.as_str(), &now.ticks()],
    )?;
    Ok(())
}

fn limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

impl WebhookStore for PgStore {
    fn create_webhook(
        &self,
        tenant: &str,
        spec: &WebhookSpec,
        created_by: &str,
        now: Timestamp,
    ) -> Result<Webhook, StoreError> {
        self.write(|tx, _| {
            let number = lock_tenant(tx, tenant)?;
            let id: i64 = tx
                .query_one(
                    "SELECT coalesce(max(id), 0) + 1 FROM webhooks WHERE tenant_no = $1",
                    &[&number],
                )?
                .try_get(0)?;
            tx.execute(
                "INSERT INTO webhooks (tenant_no, id, url, secret, events, created, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &number,
                    &id,
                    &spec.url,
                    &spec.secret,
                    &events_text(&spec.events),
                    &now.ticks(),
                    &created_by,
                ],
            )?;
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
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(Vec::new());
            };
            tx.query(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_no = $1 ORDER BY id"),
                &[&number],
            )?
            .iter()
            .map(webhook_from_row)
            .collect()
        })
    }

    fn webhook(&self, tenant: &str, id: i64) -> Result<Option<Webhook>, StoreError> {
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(None);
            };
            tx.query_opt(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_no = $1 AND id = $2"),
                &[&number, &id],
            )?
            .map(|row| webhook_from_row(&row))
            .transpose()
        })
    }

    fn delete_webhook(&self, tenant: &str, id: i64) -> Result<bool, StoreError> {
        self.write(|tx, _| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE tenant_no = $1 AND webhook_id = $2",
                &[&number, &id],
            )?;
            Ok(tx.execute(
                "DELETE FROM webhooks WHERE tenant_no = $1 AND id = $2",
                &[&number, &id],
            )? > 0)
        })
    }

    fn deliveries(
        &self,
        tenant: &str,
        webhook_id: i64,
        limit_to: usize,
    ) -> Result<Option<Vec<Delivery>>, StoreError> {
        self.read(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(None);
            };
            if tx
                .query_opt(
                    "SELECT id FROM webhooks WHERE tenant_no = $1 AND id = $2",
                    &[&number, &webhook_id],
                )?
                .is_none()
            {
                return Ok(None);
            }
            let rows = tx.query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
                     WHERE d.tenant_no = $1 AND d.webhook_id = $2 ORDER BY d.id DESC LIMIT $3"
                ),
                &[&number, &webhook_id, &limit(limit_to)],
            )?;
            Ok(Some(
                rows.iter()
                    .map(delivery_from_row)
                    .collect::<Result<_, _>>()?,
            ))
        })
    }

    fn due_deliveries(
        &self,
        now: Timestamp,
        limit_to: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS}, t.tenant_id, w.url, w.secret
                     FROM webhook_deliveries d
                     JOIN webhooks w ON w.tenant_no = d.tenant_no AND w.id = d.webhook_id
                     JOIN tenants t ON t.tenant_no = d.tenant_no
                     WHERE d.state = 'Pending' AND d.next_attempt <= $1
                     ORDER BY d.next_attempt, d.id LIMIT $2"
                ),
                &[&now.ticks(), &limit(limit_to)],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(DueDelivery {
                        delivery: delivery_from_row(row)?,
                        tenant: row.try_get(12)?,
                        url: row.try_get(13)?,
                        secret: row.try_get(14)?,
                    })
                })
                .collect()
        })
    }

    fn record_attempt(&self, id: i64, now: Timestamp, attempt: &Attempt) -> Result<(), StoreError> {
        self.write(|tx, _| {
            match attempt {
                Attempt::Delivered { status } => tx.execute(
                    "UPDATE webhook_deliveries SET state = 'Delivered', attempts = attempts + 1,
                         next_attempt = NULL, last_attempt = $2, last_status = $3, last_error = NULL,
                         delivered = $2
                     WHERE id = $1 AND state = 'Pending'",
                    &[&id, &now.ticks(), &i64::from(*status)],
                )?,
                Attempt::Failed { status, error, retry_at } => tx.execute(
                    "UPDATE webhook_deliveries SET
                         state = CASE WHEN $5::bigint IS NULL THEN 'Failed' ELSE 'Pending' END,
                         attempts = attempts + 1, next_attempt = $5, last_attempt = $2,
                         last_status = $3, last_error = $4
                     WHERE id = $1 AND state = 'Pending'",
                    &[&id, &now.ticks(), &status.map(i64::from), error, &retry_at.map(Timestamp::ticks)],
                )?,
            };
            Ok(())
        })
    }

    fn outbox_after(&self, seq: i64, limit_to: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT o.seq, t.tenant_id, o.alert_id, o.event, o.time FROM alert_outbox o
                 JOIN tenants t ON t.tenant_no = o.tenant_no
                 WHERE o.seq > $1 ORDER BY o.seq LIMIT $2",
                &[&seq, &limit(limit_to)],
            )?;
            rows.iter()
                .map(|row| {
                    let event: String = row.try_get(3)?;
                    Ok(OutboxEntry {
                        seq: row.try_get(0)?,
                        tenant: row.try_get(1)?,
                        alert_id: row.try_get(2)?,
                        event: parse_event(&event)?,
                        time: Timestamp::from_ticks(row.try_get(4)?),
                    })
                })
                .collect()
        })
    }

    fn outbox_head(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            // The sequence survives the pruning of old entries.
            let row = tx.query_one(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_numbers",
                &[],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn outbox_cursor(&self, consumer: &str) -> Result<Option<i64>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT seq FROM outbox_cursors WHERE consumer = $1",
                    &[&consumer],
                )?
                .map(|row| row.try_get(0))
                .transpose()?)
        })
    }

    fn set_outbox_cursor(&self, consumer: &str, seq: i64) -> Result<(), StoreError> {
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO outbox_cursors (consumer, seq) VALUES ($1, $2)
                 ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq",
                &[&consumer, &seq],
            )?;
            Ok(())
        })
    }

    fn sweep_deliveries(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx, _| {
            let deliveries = tx.execute(
                "DELETE FROM webhook_deliveries WHERE state <> 'Pending' AND created < $1",
                &[&before.ticks()],
            )?;
            let entries = tx.execute(
                "DELETE FROM alert_outbox WHERE time < $1",
                &[&before.ticks()],
            )?;
            Ok((deliveries + entries) as usize)
        })
    }
}
