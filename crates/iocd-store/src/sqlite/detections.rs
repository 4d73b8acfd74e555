//! The SQLite implementation of [`DetectionStore`]: alerts and sightings in the same file as
//! the indicators.

use super::odata_sql::{bind, render_filter};
use super::{SqliteStore, ensure_tenant, row_key, row_key_of, tenant_no, tenant_rows};
use crate::detections::StoredComment;
use crate::detections::{
    Alert, AlertClassification, AlertHit, AlertPage, AlertStatus, AlertUpdate, DetectionStore,
    DeviceRef, FOLD_WINDOW_TICKS, MAX_EVIDENCE, RecordedHit, Sighting, SightingKind, SightingQuery,
};
use crate::odata::Entity;
use crate::odata::Field;
use crate::webhooks::AlertEvent;
use crate::{ListQuery, StoreError};
use iocd_model::{Category, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, Transaction, params};

const ALERT_COLUMNS: &str = "a.id, a.indicator_id, a.indicator_type, a.indicator_value, a.action, a.title, \
    a.description, a.severity, a.category, a.recommended_actions, a.detection_source, a.machine_id, \
    a.computer_dns_name, a.machine_group, a.first_event_time, a.last_event_time, a.event_count, a.status, \
    a.classification, a.assigned_to, a.alert_creation_time, a.last_update_time, a.evidence, \
    a.mitre_techniques, a.comments";

fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unexpected {what} {value:?} in the database").into(),
    )
}

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let status: String = row.get(17)?;
    let classification: Option<String> = row.get(18)?;
    let evidence: String = row.get(22)?;
    Ok(Alert {
        id: row.get(0)?,
        indicator_id: row.get(1)?,
        indicator_type: row.get(2)?,
        indicator_value: row.get(3)?,
        action: row.get(4)?,
        title: row.get(5)?,
        description: row.get(6)?,
        severity: row.get(7)?,
        category: row.get(8)?,
        recommended_actions: row.get(9)?,
        detection_source: row.get(10)?,
        device: DeviceRef {
            id: row.get(11)?,
            name: row.get(12)?,
            group: row.get(13)?,
        },
        first_event_time: Timestamp::from_ticks(row.get(14)?),
        last_event_time: Timestamp::from_ticks(row.get(15)?),
        event_count: row.get(16)?,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        classification: match classification {
            None => None,
            Some(text) => Some(
                AlertClassification::parse(&text)
                    .ok_or_else(|| corrupt("classification", &text))?,
            ),
        },
        assigned_to: row.get(19)?,
        creation_time: Timestamp::from_ticks(row.get(20)?),
        last_update_time: Timestamp::from_ticks(row.get(21)?),
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| corrupt("evidence", &e.to_string()))?,
        mitre_techniques: {
            let text: String = row.get(23)?;
            serde_json::from_str(&text).map_err(|e| corrupt("mitre_techniques", &e.to_string()))?
        },
        comments: {
            let text: String = row.get(24)?;
            let stored: Vec<StoredComment> =
                serde_json::from_str(&text).map_err(|e| corrupt("comments", &e.to_string()))?;
            stored
                .into_iter()
                .map(|c| crate::detections::AlertComment {
                    comment: c.comment,
                    created_by: c.created_by,
                    created_time: Timestamp::from_ticks(c.created_time),
                })
                .collect()
        },
    })
}

fn sighting_from_row(row: &Row<'_>) -> rusqlite::Result<Sighting> {
    let kind: String = row.get(0)?;
    Ok(Sighting {
        kind: SightingKind::parse(&kind).ok_or_else(|| corrupt("sighting kind", &kind))?,
        key: row.get(1)?,
        device: DeviceRef {
            id: row.get(2)?,
            name: row.get(4)?,
            group: row.get(5)?,
        },
        display: row.get(3)?,
        first_seen: Timestamp::from_ticks(row.get(6)?),
        last_seen: Timestamp::from_ticks(row.get(7)?),
    })
}

/// Folds one hit into an existing alert or creates one; `None` if the indicator is gone.
fn record_hit(
    tx: &Transaction<'_>,
    tenant_no: i64,
    hit: &AlertHit,
    now: Timestamp,
) -> Result<Option<RecordedHit>, StoreError> {
    let t = hit.event_time.ticks();
    let existing: Option<(i64, i64, i64, String)> = tx
        .prepare_cached(
            "SELECT id, first_event_time, last_event_time, evidence FROM alerts
             WHERE tenant_no = ?1 AND indicator_id = ?2 AND machine_id = ?3
               AND first_event_time > ?4 AND last_event_time < ?5
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(
            params![
                tenant_no,
                hit.indicator_id,
                hit.device.id,
                t - FOLD_WINDOW_TICKS,
                t + FOLD_WINDOW_TICKS
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    if let Some((id, first, last, evidence)) = existing
        && last.max(t) - first.min(t) < FOLD_WINDOW_TICKS
    {
        let mut items: Vec<serde_json::Value> = serde_json::from_str(&evidence)
            .map_err(|error| StoreError::Corrupt(format!("alert {id} evidence: {error}")))?;
        if items.len() < MAX_EVIDENCE {
            items.push(hit.evidence.clone());
        }
        tx.prepare_cached(
            "UPDATE alerts SET first_event_time = ?3, last_event_time = ?4, event_count = event_count + 1,
                 last_update_time = ?5, evidence = ?6, computer_dns_name = coalesce(?7, computer_dns_name),
                 machine_group = coalesce(?8, machine_group)
             WHERE tenant_no = ?1 AND id = ?2",
        )?
        .execute(params![
            tenant_no,
            id,
            first.min(t),
            last.max(t),
            now.ticks(),
            serde_json::Value::Array(items).to_string(),
            hit.device.name,
            hit.device.group
        ])?;
        return Ok(Some(RecordedHit {
            alert_id: id,
            created: false,
        }));
    }
    let (first_row, last_row) = tenant_rows(tenant_no);
    let indicator = tx
        .prepare_cached(
            "SELECT indicator_type, indicator_value, action, title, description, severity, category, recommended_actions,
                    mitre_techniques
             FROM indicators WHERE pk BETWEEN ?1 AND ?2 AND id = ?3",
        )?
        .query_row(params![first_row, last_row, hit.indicator_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })
        .optional()?;
    let Some((
        indicator_type,
        value,
        action,
        title,
        description,
        severity,
        category,
        recommended,
        mitre,
    )) = indicator
    else {
        return Ok(None);
    };
    let id: i64 = tx
        .prepare_cached(
            "UPDATE tenants SET next_alert_id = next_alert_id + 1 WHERE tenant_no = ?1 RETURNING next_alert_id - 1",
        )?
        .query_row([tenant_no], |r| r.get(0))?;
    let category = Category::from_number(category).map_or("None", Category::name);
    tx.prepare_cached(
        "INSERT INTO alerts (pk, tenant_no, id, indicator_id, indicator_type, indicator_value, action, title,
             description, severity, category, recommended_actions, detection_source, machine_id,
             computer_dns_name, machine_group, first_event_time, last_event_time, event_count, status,
             classification, assigned_to, alert_creation_time, last_update_time, evidence, mitre_techniques)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'CustomerTI', ?13, ?14, ?15, ?16, ?16, 1,
             'New', NULL, NULL, ?17, ?17, ?18, ?19)",
    )?
    .execute(params![
        row_key(tenant_no, id),
        tenant_no,
        id,
        hit.indicator_id,
        indicator_type,
        value,
        action,
        title,
        description,
        severity,
        category,
        recommended,
        hit.device.id,
        hit.device.name,
        hit.device.group,
        t,
        now.ticks(),
        serde_json::Value::Array(vec![hit.evidence.clone()]).to_string(),
        mitre
    ])?;
    super::webhooks::queue_alert_event(tx, tenant_no, id, AlertEvent::Created, now)?;
    Ok(Some(RecordedHit {
        alert_id: id,
        created: true,
    }))
}

pub(crate) fn alert_column(field: Field) -> &'static str {
    match field {
        Field::Id => "a.id",
        Field::Title => "a.title",
        Field::Description => "a.description",
        Field::Severity => "a.severity",
        Field::Status => "a.status",
        Field::Classification => "a.classification",
        Field::AssignedTo => "a.assigned_to",
        Field::DetectionSource => "a.detection_source",
        Field::AlertCategory => "a.category",
        Field::AlertCreationTime => "a.alert_creation_time",
        Field::FirstEventTime => "a.first_event_time",
        Field::LastEventTime => "a.last_event_time",
        Field::LastUpdateTime => "a.last_update_time",
        Field::MachineId => "a.machine_id",
        Field::ComputerDnsName => "a.computer_dns_name",
        Field::MachineGroup => "a.machine_group",
        Field::IndicatorId => "a.indicator_id",
        Field::IndicatorValue => "a.indicator_value",
        Field::IndicatorType => "a.indicator_type",
        Field::Action => "a.action",
        Field::EventCount => "a.event_count",
        // Not alert properties; the parser never produces them for alerts.
        _ => "NULL",
    }
}

fn alert_order_sql(keys: &[crate::odata::OrderKey]) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|key| {
            let expression = if key.field == Field::Severity {
                "CASE a.severity WHEN 'Informational' THEN 0 WHEN 'Low' THEN 1 WHEN 'Medium' THEN 2 ELSE 3 END"
                    .to_owned()
            } else if key.field == Field::Id {
                "a.pk".to_owned()
            } else {
                alert_column(key.field).to_owned()
            };
            format!("{expression} {}", if key.descending { "DESC" } else { "ASC" })
        })
        .collect();
    if !keys.iter().any(|k| k.field == Field::Id) {
        parts.push("a.pk ASC".to_owned());
    }
    parts.join(", ")
}

impl DetectionStore for SqliteStore {
    fn record_hits(
        &self,
        tenant: &str,
        hits: &[AlertHit],
        now: Timestamp,
    ) -> Result<Vec<Option<RecordedHit>>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let tenant_no = ensure_tenant(tx, tenant)?;
            hits.iter()
                .map(|hit| record_hit(tx, tenant_no, hit, now))
                .collect()
        })
    }

    fn list_alerts(&self, tenant: &str, query: &ListQuery) -> Result<AlertPage, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else {
                return Ok(AlertPage { items: Vec::new(), count: query.count.then_some(0), has_more: false });
            };
            let (first_row, last_row) = tenant_rows(tenant_no);
            let mut where_sql = "a.pk BETWEEN ?1 AND ?2".to_owned();
            let mut values = vec![SqlValue::Integer(first_row), SqlValue::Integer(last_row)];
            if let Some(filter) = &query.filter {
                where_sql.push_str(" AND (");
                render_filter(Entity::Alert, filter, tenant_no, &mut where_sql, &mut values);
                where_sql.push(')');
            }
            let count = if query.count {
                let sql = format!("SELECT count(*) FROM alerts a WHERE {where_sql}");
                let n: i64 = connection
                    .prepare(&sql)?
                    .query_row(rusqlite::params_from_iter(values.iter()), |r| r.get(0))?;
                Some(n as u64)
            } else {
                None
            };
            let mut page_sql = where_sql;
            if let Some(after) = query.after_id {
                let placeholder = bind(&mut values, SqlValue::Integer(row_key(tenant_no, after.clamp(0, crate::MAX_ID))));
                page_sql.push_str(&format!(" AND a.pk > {placeholder}"));
            }
            let limit = bind(&mut values, SqlValue::Integer(i64::from(query.top) + 1));
            let offset = bind(&mut values, SqlValue::Integer(i64::try_from(query.skip).unwrap_or(i64::MAX)));
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a WHERE {page_sql} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                alert_order_sql(&query.order_by)
            );
            let mut items = connection
                .prepare(&sql)?
                .query_map(rusqlite::params_from_iter(values.iter()), alert_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let has_more = items.len() > query.top as usize;
            items.truncate(query.top as usize);
            Ok(AlertPage { items, count, has_more })
        })
    }

    fn get_alert(&self, tenant: &str, id: i64) -> Result<Option<Alert>, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else {
                return Ok(None);
            };
            let Some(pk) = row_key_of(tenant_no, id) else {
                return Ok(None);
            };
            let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.pk = ?1");
            Ok(connection
                .prepare_cached(&sql)?
                .query_row([pk], alert_from_row)
                .optional()?)
        })
    }

    fn update_alert(
        &self,
        tenant: &str,
        id: i64,
        update: &AlertUpdate,
        now: Timestamp,
    ) -> Result<Option<Alert>, StoreError> {
        self.write(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else {
                return Ok(None);
            };
            let Some(pk) = row_key_of(tenant_no, id) else {
                return Ok(None);
            };
            if let Some(status) = update.status {
                tx.execute(
                    "UPDATE alerts SET status = ?2 WHERE pk = ?1",
                    params![pk, status.as_str()],
                )?;
            }
            if let Some(classification) = update.classification {
                tx.execute(
                    "UPDATE alerts SET classification = ?2 WHERE pk = ?1",
                    params![pk, classification.map(AlertClassification::as_str)],
                )?;
            }
            if let Some(assigned_to) = &update.assigned_to {
                tx.execute(
                    "UPDATE alerts SET assigned_to = ?2 WHERE pk = ?1",
                    params![pk, assigned_to],
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
                    "UPDATE alerts SET comments = json_insert(comments, '$[#]', json(?2)) WHERE pk = ?1",
                    params![pk, entry],
                )?;
            }
            let changed = tx.execute(
                "UPDATE alerts SET last_update_time = ?2 WHERE pk = ?1",
                params![pk, now.ticks()],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            super::webhooks::queue_alert_event(tx, tenant_no, id, AlertEvent::Updated, now)?;
            let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.pk = ?1");
            Ok(tx
                .prepare_cached(&sql)?
                .query_row([pk], alert_from_row)
                .optional()?)
        })
    }

    fn record_sightings(&self, tenant: &str, sightings: &[Sighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let tenant_no = ensure_tenant(tx, tenant)?;
            let mut statement = tx.prepare_cached(
                "INSERT INTO sightings (tenant_no, kind, key, machine_id, display, computer_dns_name, machine_group,
                     first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (tenant_no, kind, key, machine_id) DO UPDATE SET
                     first_seen = min(first_seen, excluded.first_seen),
                     last_seen = max(last_seen, excluded.last_seen),
                     computer_dns_name = coalesce(excluded.computer_dns_name, computer_dns_name),
                     machine_group = coalesce(excluded.machine_group, machine_group)",
            )?;
            for sighting in sightings {
                statement.execute(params![
                    tenant_no,
                    sighting.kind.as_str(),
                    sighting.key,
                    sighting.device.id,
                    sighting.display,
                    sighting.device.name,
                    sighting.device.group,
                    sighting.first_seen.ticks(),
                    sighting.last_seen.ticks()
                ])?;
            }
            Ok(())
        })
    }

    fn find_sightings(
        &self,
        tenant: &str,
        query: &SightingQuery,
    ) -> Result<Vec<Sighting>, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else {
                return Ok(Vec::new());
            };
            let mut values = vec![
                SqlValue::Integer(tenant_no),
                SqlValue::Text(query.kind.as_str().to_owned()),
                SqlValue::Integer(query.since.ticks()),
            ];
            let mut conditions = Vec::new();
            for key in &query.exact {
                conditions.push(format!("key = {}", bind(&mut values, SqlValue::Text(key.clone()))));
            }
            for (low, high) in &query.ranges {
                let low = bind(&mut values, SqlValue::Text(low.clone()));
                let high = bind(&mut values, SqlValue::Text(high.clone()));
                conditions.push(format!("(key >= {low} AND key < {high})"));
            }
            if conditions.is_empty() {
                return Ok(Vec::new());
            }
            let limit = bind(&mut values, SqlValue::Integer(query.limit as i64));
            let sql = format!(
                "SELECT kind, key, machine_id, display, computer_dns_name, machine_group, first_seen, last_seen
                 FROM sightings WHERE tenant_no = ?1 AND kind = ?2 AND last_seen >= ?3 AND ({})
                 ORDER BY key, machine_id LIMIT {limit}",
                conditions.join(" OR ")
            );
            Ok(connection
                .prepare(&sql)?
                .query_map(rusqlite::params_from_iter(values.iter()), sighting_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn sweep_sightings(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM sightings WHERE last_seen < ?1",
                [before.ticks()],
            )?)
        })
    }
}
