//! The PostgreSQL implementation of [`DetectionStore`]: alerts and sightings. Hits of one
//! tenant are recorded under the tenant's row lock, so two nodes folding events of the same
//! device and indicator make one alert, not two.

use super::odata_sql::{Params, as_refs, bind, order_sql, render_filter};
use super::webhooks::queue_alert_event;
use super::{PgStore, lock_tenant, tenant_no};
use crate::detections::StoredComment;
use crate::detections::{
    Alert, AlertClassification, AlertComment, AlertHit, AlertPage, AlertStatus, AlertUpdate,
    DetectionStore, DeviceRef, FOLD_WINDOW_TICKS, MAX_EVIDENCE, RecordedHit, Sighting,
    SightingKind, SightingQuery,
};
use crate::odata::Entity;
use crate::webhooks::AlertEvent;
use crate::{ListQuery, StoreError};
use iocd_model::{Category, Timestamp};
use postgres::{Row, Transaction};

const ALERT_COLUMNS: &str = "a.id, a.indicator_id, a.indicator_type, a.indicator_value, a.action, a.title, \
    a.description, a.severity, a.category, a.recommended_actions, a.detection_source, a.machine_id, \
    a.computer_dns_name, a.machine_group, a.first_event_time, a.last_event_time, a.event_count, a.status, \
    a.classification, a.assigned_to, a.alert_creation_time, a.last_update_time, a.evidence, \
    a.mitre_techniques, a.comments";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected {what} {value:?} in the database"))
}

fn alert_from_row(row: &Row) -> Result<Alert, StoreError> {
    let status: String = row.try_get(17)?;
    let classification: Option<String> = row.try_get(18)?;
    let evidence: String = row.try_get(22)?;
    let techniques: String = row.try_get(23)?;
    let comments: String = row.try_get(24)?;
    let comments: Vec<StoredComment> =
        serde_json::from_str(&comments).map_err(|e| corrupt("comments", &e.to_string()))?;
    Ok(Alert {
        id: row.try_get(0)?,
        indicator_id: row.try_get(1)?,
        indicator_type: row.try_get(2)?,
        indicator_value: row.try_get(3)?,
        action: row.try_get(4)?,
        title: row.try_get(5)?,
        description: row.try_get(6)?,
        severity: row.try_get(7)?,
        category: row.try_get(8)?,
        recommended_actions: row.try_get(9)?,
        detection_source: row.try_get(10)?,
        device: DeviceRef {
            id: row.try_get(11)?,
            name: row.try_get(12)?,
            group: row.try_get(13)?,
        },
        first_event_time: Timestamp::from_ticks(row.try_get(14)?),
        last_event_time: Timestamp::from_ticks(row.try_get(15)?),
        event_count: row.try_get(16)?,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        classification: classification
            .map(|text| {
                AlertClassification::parse(&text).ok_or_else(|| corrupt("classification", &text))
            })
            .transpose()?,
        assigned_to: row.try_get(19)?,
        creation_time: Timestamp::from_ticks(row.try_get(20)?),
        last_update_time: Timestamp::from_ticks(row.try_get(21)?),
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| corrupt("evidence", &e.to_string()))?,
        mitre_techniques: serde_json::from_str(&techniques)
            .map_err(|e| corrupt("mitre_techniques", &e.to_string()))?,
        comments: comments
            .into_iter()
            .map(|c| AlertComment {
                comment: c.comment,
                created_by: c.created_by,
                created_time: Timestamp::from_ticks(c.created_time),
            })
            .collect(),
    })
}

fn sighting_from_row(row: &Row) -> Result<Sighting, StoreError> {
    let kind: String = row.try_get(0)?;
    Ok(Sighting {
        kind: SightingKind::parse(&kind).ok_or_else(|| corrupt("sighting kind", &kind))?,
        key: row.try_get(1)?,
        device: DeviceRef {
            id: row.try_get(2)?,
            name: row.try_get(4)?,
            group: row.try_get(5)?,
        },
        display: row.try_get(3)?,
        first_seen: Timestamp::from_ticks(row.try_get(6)?),
        last_seen: Timestamp::from_ticks(row.try_get(7)?),
    })
}

/// Folds one hit into an existing alert or creates one; `None` if the indicator is gone.
fn record_hit(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    hit: &AlertHit,
    now: Timestamp,
) -> Result<Option<RecordedHit>, StoreError> {
    let t = hit.event_time.ticks();
    let existing = tx.query_opt(
        "SELECT id, first_event_time, last_event_time, evidence FROM alerts
         WHERE tenant_no = $1 AND indicator_id = $2 AND machine_id = $3
           AND first_event_time > $4 AND last_event_time < $5
         ORDER BY id DESC LIMIT 1",
        &[
            &tenant_no,
            &hit.indicator_id,
            &hit.device.id,
            &(t - FOLD_WINDOW_TICKS),
            &(t + FOLD_WINDOW_TICKS),
        ],
    )?;
    if let Some(row) = existing {
        let (id, first, last, evidence): (i64, i64, i64, String) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        if last.max(t) - first.min(t) < FOLD_WINDOW_TICKS {
            let mut items: Vec<serde_json::Value> = serde_json::from_str(&evidence)
                .map_err(|error| StoreError::Corrupt(format!("alert {id} evidence: {error}")))?;
            if items.len() < MAX_EVIDENCE {
                items.push(hit.evidence.clone());
            }
            tx.execute(
                "UPDATE alerts SET first_event_time = $3, last_event_time = $4, event_count = event_count + 1,
                     last_update_time = $5, evidence = $6, computer_dns_name = coalesce($7, computer_dns_name),
                     machine_group = coalesce($8, machine_group)
                 WHERE tenant_no = $1 AND id = $2",
                &[
                    &tenant_no,
                    &id,
                    &first.min(t),
                    &last.max(t),
                    &now.ticks(),
                    &serde_json::Value::Array(items).to_string(),
                    &hit.device.name,
                    &hit.device.group,
                ],
            )?;
            return Ok(Some(RecordedHit {
                alert_id: id,
                created: false,
            }));
        }
    }
    let Some(indicator) = tx.query_opt(
        "SELECT indicator_type, indicator_value, action, title, description, severity, category,
                recommended_actions, mitre_techniques
         FROM indicators WHERE tenant_no = $1 AND id = $2",
        &[&tenant_no, &hit.indicator_id],
    )?
    else {
        return Ok(None);
    };
    let category: i64 = indicator.try_get(6)?;
    let category = Category::from_number(category).map_or("None", Category::name);
    let id: i64 = tx
        .query_one(
            "UPDATE tenants SET next_alert_id = next_alert_id + 1 WHERE tenant_no = $1 RETURNING next_alert_id - 1",
            &[&tenant_no],
        )?
        .try_get(0)?;
    let text = |i: usize| -> Result<String, StoreError> { Ok(indicator.try_get(i)?) };
    tx.execute(
        "INSERT INTO alerts (tenant_no, id, indicator_id, indicator_type, indicator_value, action, title,
             description, severity, category, recommended_actions, detection_source, machine_id,
             computer_dns_name, machine_group, first_event_time, last_event_time, event_count, status,
             classification, assigned_to, alert_creation_time, last_update_time, evidence, mitre_techniques)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'CustomerTI', $12, $13, $14, $15, $15, 1,
             'New', NULL, NULL, $16, $16, $17, $18)",
        &[
            &tenant_no,
            &id,
            &hit.indicator_id,
            &text(0)?,
            &text(1)?,
            &text(2)?,
            &text(3)?,
            &text(4)?,
            &text(5)?,
            &category,
            &indicator.try_get::<_, Option<String>>(7)?,
            &hit.device.id,
            &hit.device.name,
            &hit.device.group,
            &t,
            &now.ticks(),
            &serde_json::Value::Array(vec![hit.evidence.clone()]).to_string(),
            &text(8)?,
        ],
    )?;
    queue_alert_event(tx, tenant_no, id, AlertEvent::Created, now)?;
    Ok(Some(RecordedHit {
        alert_id: id,
        created: true,
    }))
}

fn alert_by_id(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    id: i64,
) -> Result<Option<Alert>, StoreError> {
    tx.query_opt(
        &format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.tenant_no = $1 AND a.id = $2"),
        &[&tenant_no, &id],
    )?
    .map(|row| alert_from_row(&row))
    .transpose()
}

impl DetectionStore for PgStore {
    fn record_hits(
        &self,
        tenant: &str,
        hits: &[AlertHit],
        now: Timestamp,
    ) -> Result<Vec<Option<RecordedHit>>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx, _| {
            let tenant_no = lock_tenant(tx, tenant)?;
            hits.iter()
                .map(|hit| record_hit(tx, tenant_no, hit, now))
                .collect()
        })
    }

    fn list_alerts(&self, tenant: &str, query: &ListQuery) -> Result<AlertPage, StoreError> {
        self.read(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else {
                return Ok(AlertPage { items: Vec::new(), count: query.count.then_some(0), has_more: false });
            };
            let mut params: Params = vec![Box::new(tenant_no)];
            let mut where_sql = "a.tenant_no = $1".to_owned();
            if let Some(filter) = &query.filter {
                where_sql.push_str(" AND (");
                render_filter(Entity::Alert, filter, tenant_no, &mut where_sql, &mut params);
                where_sql.push(')');
            }
            let count = if query.count {
                let sql = format!("SELECT count(*) FROM alerts a WHERE {where_sql}");
                let n: i64 = tx.query_one(&sql, &as_refs(&params))?.try_get(0)?;
                Some(n as u64)
            } else {
                None
            };
            let mut page_sql = where_sql;
            if let Some(after) = query.after_id {
                let placeholder = bind(&mut params, Box::new(after));
                page_sql.push_str(&format!(" AND a.id > {placeholder}"));
            }
            let limit = bind(&mut params, Box::new(i64::from(query.top) + 1));
            let offset = bind(&mut params, Box::new(i64::try_from(query.skip).unwrap_or(i64::MAX)));
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a WHERE {page_sql} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                order_sql(Entity::Alert, &query.order_by)
            );
            let mut items = tx
                .query(&sql, &as_refs(&params))?
                .iter()
                .map(alert_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = items.len() > query.top as usize;
            items.truncate(query.top as usize);
            Ok(AlertPage { items, count, has_more })
        })
    }

    fn get_alert(&self, tenant: &str, id: i64) -> Result<Option<Alert>, StoreError> {
        self.read(|tx| match tenant_no(tx, tenant)? {
            Some(tenant_no) => alert_by_id(tx, tenant_no, id),
            None => Ok(None),
        })
    }

    fn update_alert(
        &self,
        tenant: &str,
        id: i64,
        update: &AlertUpdate,
        now: Timestamp,
    ) -> Result<Option<Alert>, StoreError> {
        self.write(|tx, _| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else { return Ok(None) };
            // Locks the alert's row for the rest of the transaction.
            let changed = tx.execute(
                "UPDATE alerts SET last_update_time = $3 WHERE tenant_no = $1 AND id = $2",
                &[&tenant_no, &id, &now.ticks()],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            if let Some(status) = update.status {
                tx.execute(
                    "UPDATE alerts SET status = $3 WHERE tenant_no = $1 AND id = $2",
                    &[&tenant_no, &id, &status.as_str()],
                )?;
            }
            if let Some(classification) = update.classification {
                tx.execute(
                    "UPDATE alerts SET classification = $3 WHERE tenant_no = $1 AND id = $2",
                    &[&tenant_no, &id, &classification.map(AlertClassification::as_str)],
                )?;
            }
            if let Some(assigned_to) = &update.assigned_to {
                tx.execute(
                    "UPDATE alerts SET assigned_to = $3 WHERE tenant_no = $1 AND id = $2",
                    &[&tenant_no, &id, assigned_to],
                )?;
            }
            if let Some((comment, author)) = &update.comment {
                let entry = serde_json::to_string(&StoredComment {
                    comment: comment.clone(),
                    created_by: author.clone(),
                    created_time: now.ticks(),
                })
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute(
                    "UPDATE alerts SET comments = (comments::jsonb || jsonb_build_array($3::text::jsonb))::text
                     WHERE tenant_no = $1 AND id = $2",
                    &[&tenant_no, &id, &entry],
                )?;
            }
            queue_alert_event(tx, tenant_no, id, AlertEvent::Updated, now)?;
            alert_by_id(tx, tenant_no, id)
        })
    }

    fn record_sightings(&self, tenant: &str, sightings: &[Sighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        self.write(|tx, _| {
            let tenant_no = super::ensure_tenant(tx, tenant)?;
            // One statement for the whole batch; a key seen twice in it is folded first, as
            // ON CONFLICT cannot touch one row twice in a statement.
            let mut folded: std::collections::HashMap<(&str, &str, &str), Sighting> =
                std::collections::HashMap::with_capacity(sightings.len());
            for sighting in sightings {
                let key = (sighting.kind.as_str(), sighting.key.as_str(), sighting.device.id.as_str());
                folded
                    .entry(key)
                    .and_modify(|known| {
                        known.first_seen = known.first_seen.min(sighting.first_seen);
                        known.last_seen = known.last_seen.max(sighting.last_seen);
                        if sighting.device.name.is_some() {
                            known.device.name.clone_from(&sighting.device.name);
                        }
                        if sighting.device.group.is_some() {
                            known.device.group.clone_from(&sighting.device.group);
                        }
                    })
                    .or_insert_with(|| sighting.clone());
            }
            let rows: Vec<&Sighting> = folded.values().collect();
            let kinds: Vec<&str> = rows.iter().map(|s| s.kind.as_str()).collect();
            let keys: Vec<&str> = rows.iter().map(|s| s.key.as_str()).collect();
            let machines: Vec<&str> = rows.iter().map(|s| s.device.id.as_str()).collect();
            let displays: Vec<&str> = rows.iter().map(|s| s.display.as_str()).collect();
            let names: Vec<Option<&str>> = rows.iter().map(|s| s.device.name.as_deref()).collect();
            let groups: Vec<Option<&str>> = rows.iter().map(|s| s.device.group.as_deref()).collect();
            let firsts: Vec<i64> = rows.iter().map(|s| s.first_seen.ticks()).collect();
            let lasts: Vec<i64> = rows.iter().map(|s| s.last_seen.ticks()).collect();
            tx.execute(
                "INSERT INTO sightings (tenant_no, kind, key, machine_id, display, computer_dns_name, machine_group,
                     first_seen, last_seen)
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::bigint[], $9::bigint[])
                 ON CONFLICT (tenant_no, kind, key, machine_id) DO UPDATE SET
                     first_seen = least(sightings.first_seen, excluded.first_seen),
                     last_seen = greatest(sightings.last_seen, excluded.last_seen),
                     computer_dns_name = coalesce(excluded.computer_dns_name, sightings.computer_dns_name),
                     machine_group = coalesce(excluded.machine_group, sightings.machine_group)",
                &[&tenant_no, &kinds, &keys, &machines, &displays, &names, &groups, &firsts, &lasts],
            )?;
            Ok(())
        })
    }

    fn find_sightings(
        &self,
        tenant: &str,
        query: &SightingQuery,
    ) -> Result<Vec<Sighting>, StoreError> {
        self.read(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else { return Ok(Vec::new()) };
            let mut params: Params = vec![
                Box::new(tenant_no),
                Box::new(query.kind.as_str().to_owned()),
                Box::new(query.since.ticks()),
            ];
            let mut conditions = Vec::new();
            for key in &query.exact {
                conditions.push(format!("key = {}", bind(&mut params, Box::new(key.clone()))));
            }
            for (low, high) in &query.ranges {
                let low = bind(&mut params, Box::new(low.clone()));
                let high = bind(&mut params, Box::new(high.clone()));
                // Keys compare by byte, as SQLite's do.
                conditions.push(format!("(key COLLATE \"C\" >= {low} AND key COLLATE \"C\" < {high})"));
            }
            if conditions.is_empty() {
                return Ok(Vec::new());
            }
            let limit = bind(&mut params, Box::new(query.limit.min(i64::MAX as usize) as i64));
            let sql = format!(
                "SELECT kind, key, machine_id, display, computer_dns_name, machine_group, first_seen, last_seen
                 FROM sightings WHERE tenant_no = $1 AND kind = $2 AND last_seen >= $3 AND ({})
                 ORDER BY key COLLATE \"C\", machine_id COLLATE \"C\" LIMIT {limit}",
                conditions.join(" OR ")
            );
            tx.query(&sql, &as_refs(&params))?.iter().map(sighting_from_row).collect()
        })
    }

    fn sweep_sightings(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx, _| {
            Ok(tx.execute(
                "DELETE FROM sightings WHERE last_seen < $1",
                &[&before.ticks()],
            )? as usize)
        })
    }
}
