//! The indicator store on SQLite: reads, the upsert and delete transactions with their history
//! entries, and the expiry sweep.

use super::odata_sql::{order_sql, render_filter};
use super::rows::{
    ACTIVE, COLUMNS, indicator_from_row, indicator_from_row_at, json_list, json_text,
};
use super::{
    SqliteStore, count_active_in, ensure_tenant, row_key, row_key_of, tenant_no, tenant_rows,
    value_hash,
};
use crate::odata::Entity;
use crate::{
    Actor, DeleteOutcome, HistoryEntry, HistoryOp, IndicatorReader, IndicatorStore, ListPage,
    ListQuery, StoreError, TypeCount, UpsertOutcome, Visibility, WriteContext,
};
use iocd_model::{ErrorCode, Indicator, IndicatorEntity, IndicatorSpec, IndicatorType, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};

impl IndicatorReader for SqliteStore {
    fn storage_bytes(&self) -> Option<u64> {
        let mut total = 0;
        for suffix in ["", "-wal"] {
            let mut name = self.path().as_os_str().to_owned();
            name.push(suffix);
            total += std::fs::metadata(name).map_or(0, |m| m.len());
        }
        Some(total)
    }

    fn get(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Option<Indicator>, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else { return Ok(None) };
            let Some(pk) = row_key_of(tenant_no, id) else { return Ok(None) };
            let sql = format!("SELECT {COLUMNS} FROM indicators i WHERE i.tenant_no = ?1 AND {ACTIVE} AND i.pk = ?3");
            let found = connection
                .prepare_cached(&sql)?
                .query_row(params![tenant_no, now.ticks(), pk], indicator_from_row)
                .optional()?;
            Ok(found.filter(|indicator| visibility.allows(&indicator.created_by)))
        })
    }

    fn list(
        &self,
        tenant: &str,
        query: &ListQuery,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<ListPage, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else {
                return Ok(ListPage { items: Vec::new(), count: query.count.then_some(0), has_more: false });
            };
            let (first_row, last_row) = tenant_rows(tenant_no);
            let mut where_sql = format!("i.tenant_no = ?1 AND {ACTIVE} AND i.pk BETWEEN ?3 AND ?4");
            let mut values: Vec<SqlValue> = vec![
                SqlValue::Integer(tenant_no),
                SqlValue::Integer(now.ticks()),
                SqlValue::Integer(first_row),
                SqlValue::Integer(last_row),
            ];
            if let Visibility::CreatedBy(owner) = visibility {
                values.push(SqlValue::Text(owner.clone()));
                where_sql.push_str(&format!(" AND i.created_by = ?{}", values.len()));
            }
            if let Some(filter) = &query.filter {
                where_sql.push_str(" AND (");
                render_filter(Entity::Indicator, filter, tenant_no, &mut where_sql, &mut values);
                where_sql.push(')');
            }
            let count = if query.count {
                let sql = format!("SELECT count(*) FROM indicators i WHERE {where_sql}");
                let n: i64 = connection.prepare(&sql)?.query_row(rusqlite::params_from_iter(values.iter()), |r| r.get(0))?;
                Some(n as u64)
            } else {
                None
            };
            let mut page_sql = where_sql;
            if let Some(after) = query.after_id {
                values.push(SqlValue::Integer(row_key(tenant_no, after.clamp(0, crate::MAX_ID))));
                page_sql.push_str(&format!(" AND i.pk > ?{}", values.len()));
            }
            let order = order_sql(&query.order_by);
            values.push(SqlValue::Integer(i64::from(query.top) + 1));
            let limit_index = values.len();
            values.push(SqlValue::Integer(query.skip.min(i64::MAX as u64) as i64));
            let offset_index = values.len();
            let sql = format!(
                "SELECT {COLUMNS} FROM indicators i WHERE {page_sql} ORDER BY {order} LIMIT ?{limit_index} OFFSET ?{offset_index}"
            );
            let mut statement = connection.prepare(&sql)?;
            let mut items = statement
                .query_map(rusqlite::params_from_iter(values.iter()), indicator_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let has_more = items.len() > query.top as usize;
            items.truncate(query.top as usize);
            Ok(ListPage { items, count, has_more })
        })
    }

    fn history(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
    ) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else { return Ok(None) };
            let Some(pk) = row_key_of(tenant_no, id) else { return Ok(None) };
            // Changes name the id; creates are ranges, found by the nearest range start at or
            // below the id (ranges never overlap: ids are allocated once).
            let mut statement = connection.prepare_cached(
                "SELECT sequence, op, at, actor_id, actor_name, owner, before_json FROM indicator_history
                 WHERE tenant_no = ?1 AND op IN ('update', 'delete', 'expire', 'bypass') AND indicator_id = ?2
                 UNION ALL
                 SELECT sequence, op, at, actor_id, actor_name, owner, before_json FROM (
                     SELECT * FROM indicator_history
                     WHERE tenant_no = ?1 AND op = 'create' AND indicator_id <= ?2
                     ORDER BY indicator_id DESC LIMIT 1
                 ) WHERE last_id >= ?2
                 ORDER BY sequence",
            )?;
            let rows = statement
                .query_map(params![tenant_no, id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if rows.is_empty() || !rows.iter().all(|row| visibility.allows(&row.5)) {
                return Ok(None);
            }
            // Only the state before each change is stored; the state after a change is the
            // state before the next one, or the current row for the latest change.
            let current = connection
                .prepare_cached(&format!("SELECT {COLUMNS} FROM indicators i WHERE i.pk = ?1"))?
                .query_row(params![pk], indicator_from_row)
                .optional()?;
            let mut entries = Vec::with_capacity(rows.len());
            for (sequence, op, at, actor_id, actor_name, _owner, before) in rows {
                let op = HistoryOp::parse(&op).ok_or_else(|| StoreError::Corrupt(format!("history operation {op:?}")))?;
                let before = before.map(|text| history_state(&text)).transpose()?;
                entries.push(HistoryEntry { sequence, op, at: Timestamp::from_ticks(at), actor_id, actor_name, before, after: None });
            }
            for index in 0..entries.len() {
                if matches!(entries[index].op, HistoryOp::Delete | HistoryOp::Expire) {
                    continue;
                }
                entries[index].after = match entries.get(index + 1) {
                    Some(next) => next.before.clone(),
                    None => current.clone(),
                };
            }
            Ok(Some(entries))
        })
    }

    fn count_active(&self, tenant: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.read(|connection| match tenant_no(connection, tenant)? {
            Some(number) => count_active_in(connection, number, now),
            None => Ok(0),
        })
    }

    fn scan_active(
        &self,
        now: Timestamp,
        visit: &mut dyn FnMut(&str, Indicator),
    ) -> Result<(), StoreError> {
        self.read(|connection| {
            let sql = format!(
                "SELECT t.tenant_id, {COLUMNS} FROM indicators i JOIN tenants t ON t.tenant_no = i.tenant_no
                 WHERE i.expiration_time IS NULL OR i.expiration_time > ?1 ORDER BY i.pk"
            );
            let mut statement = connection.prepare(&sql)?;
            let mut rows = statement.query([now.ticks()])?;
            while let Some(row) = rows.next()? {
                let tenant: String = row.get(0)?;
                visit(&tenant, indicator_from_row_at(row, 1)?);
            }
            Ok(())
        })
    }

    fn count_by_type(&self, now: Timestamp) -> Result<Vec<TypeCount>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT t.tenant_id, i.indicator_type, count(*) FROM indicators i JOIN tenants t ON t.tenant_no = i.tenant_no
                 WHERE i.expiration_time IS NULL OR i.expiration_time > ?1 GROUP BY t.tenant_id, i.indicator_type",
            )?;
            let rows = statement
                .query_map([now.ticks()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(tenant, type_text, count)| {
                    let indicator_type = IndicatorType::parse(&type_text)
                        .ok_or_else(|| StoreError::Corrupt(format!("indicator type {type_text:?}")))?;
                    Ok(TypeCount { tenant, indicator_type, count: count as u64 })
                })
                .collect()
        })
    }
}

impl IndicatorStore for SqliteStore {
    fn upsert_batch(
        &self,
        tenant: &str,
        actor: &Actor,
        specs: &[IndicatorSpec],
        context: &WriteContext,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        self.write(|tx| {
            let tenant_no = ensure_tenant(tx, tenant)?;
            let (mut next_id, mut active): (i64, i64) = tx
                .prepare_cached("SELECT next_id, active_count FROM tenants WHERE tenant_no = ?1")?
                .query_row([tenant_no], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let first_id = next_id;
            let mut insert = tx.prepare_cached(INSERT_INDICATOR)?;
            let find_sql = format!(
                "SELECT i.pk, {COLUMNS} FROM indicators i
                 WHERE i.tenant_no = ?1 AND i.value_hash = ?2 AND i.indicator_value = ?3
                   AND i.indicator_type = ?4 AND i.action = ?5"
            );
            let mut find = tx.prepare_cached(&find_sql)?;
            // Ids created by this batch are exactly first_id..next_id; one history entry covers
            // them, written at the first create so it precedes any update in the same batch.
            let mut create_entry: Option<i64> = None;
            let mut recounted = false;
            let now = context.now;
            let mut outcomes = Vec::with_capacity(specs.len());
            for spec in specs {
                let value_text = spec.value.to_string();
                let existing = match find_by_key(&mut find, tenant_no, spec, &value_text)? {
                    Some((pk, old)) if old.spec.expiration_time.is_some_and(|t| t <= now) => {
                        // Expired but not yet swept: expire it now; a new indicator takes its place.
                        remove_row(tx, tenant_no, pk, &old, HistoryOp::Expire, now, None)?;
                        active -= 1;
                        None
                    }
                    other => other,
                };
                if let Some((pk, old)) = existing {
                    if context.visibility.allows(&old.created_by) {
                        update_existing(tx, tenant_no, pk, &old, spec, actor, now)?;
                        outcomes.push(UpsertOutcome::Updated(old.id));
                    } else {
                        outcomes.push(UpsertOutcome::Failed {
                            code: ErrorCode::Forbidden,
                            message: format!(
                                "An indicator with this type, value and action exists and belongs to \
                                 another application (id {}).",
                                old.id
                            ),
                        });
                    }
                    continue;
                }
                let over_cap = |active: i64| context.max_active.is_some_and(|max| active as u64 >= max);
                if over_cap(active) && !recounted {
                    // The cached count includes expired indicators the sweeper has not removed.
                    active = count_active_in(tx, tenant_no, now)? as i64;
                    recounted = true;
                }
                if over_cap(active) {
                    outcomes.push(quota_failure(context));
                    continue;
                }
                insert_new(tx, &mut insert, tenant_no, next_id, spec, &value_text, actor, now)?;
                if create_entry.is_none() {
                    create_entry = Some(record_create_range(tx, tenant_no, next_id, now, actor)?);
                }
                outcomes.push(UpsertOutcome::Created(next_id));
                next_id += 1;
                active += 1;
            }
            // Keep the cached count exact relative to what this batch changed.
            tx.prepare_cached("UPDATE tenants SET next_id = ?2, active_count = ?3 WHERE tenant_no = ?1")?
                .execute(params![tenant_no, next_id, active])?;
            if let Some(sequence) = create_entry {
                extend_create_range(tx, sequence, next_id - 1)?;
            }
            debug_assert!(next_id >= first_id);
            Ok(outcomes)
        })
    }

    fn delete(
        &self,
        tenant: &str,
        ids: &[i64],
        actor: &Actor,
        context: &WriteContext,
    ) -> Result<DeleteOutcome, StoreError> {
        self.write(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else { return Ok(DeleteOutcome::NotFound(ids.to_vec())) };
            let sql = format!("SELECT i.pk, {COLUMNS} FROM indicators i WHERE i.tenant_no = ?1 AND {ACTIVE} AND i.pk = ?3");
            let mut found = Vec::with_capacity(ids.len());
            let mut missing = Vec::new();
            for &id in ids {
                if found.iter().any(|(_, existing): &(i64, Indicator)| existing.id == id) {
                    continue;
                }
                let Some(pk) = row_key_of(tenant_no, id) else {
                    missing.push(id);
                    continue;
                };
                let row = tx
                    .prepare_cached(&sql)?
                    .query_row(params![tenant_no, context.now.ticks(), pk], |row| {
                        Ok((row.get::<_, i64>(0)?, indicator_from_row_at(row, 1)?))
                    })
                    .optional()?;
                match row {
                    Some((pk, indicator)) if context.visibility.allows(&indicator.created_by) => found.push((pk, indicator)),
                    _ => missing.push(id),
                }
            }
            if !missing.is_empty() {
                return Ok(DeleteOutcome::NotFound(missing));
            }
            for (pk, indicator) in &found {
                remove_row(tx, tenant_no, *pk, indicator, HistoryOp::Delete, context.now, Some(actor))?;
            }
            Ok(DeleteOutcome::Deleted(found.len() as u64))
        })
    }

    fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.write(|tx| {
            let sql = format!(
                "SELECT i.pk, i.tenant_no, {COLUMNS} FROM indicators i
                 WHERE i.expiration_time IS NOT NULL AND i.expiration_time <= ?1 ORDER BY i.expiration_time LIMIT ?2"
            );
            let expired = tx
                .prepare_cached(&sql)?
                .query_map(params![now.ticks(), limit as i64], |row| {
                    let pk: i64 = row.get(0)?;
                    let tenant_no: i64 = row.get(1)?;
                    Ok((pk, tenant_no, indicator_from_row_at(row, 2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (pk, tenant_no, indicator) in &expired {
                let at = indicator.spec.expiration_time.unwrap_or(now);
                remove_row(tx, *tenant_no, *pk, indicator, HistoryOp::Expire, at, None)?;
            }
            Ok(expired.len())
        })
    }
}

/// Finds the indicator with the upsert key (expired or not) with its row id, through a
/// statement prepared from [`FIND_BY_KEY`].
fn find_by_key(
    find: &mut rusqlite::CachedStatement<'_>,
    tenant_no: i64,
    spec: &IndicatorSpec,
    value_text: &str,
) -> Result<Option<(i64, Indicator)>, StoreError> {
    Ok(find
        .query_row(
            params![
                tenant_no,
                value_hash(value_text),
                value_text,
                spec.indicator_type().as_str(),
                spec.action.as_str()
            ],
            |row| Ok((row.get(0)?, indicator_from_row_at(row, 1)?)),
        )
        .optional()?)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_history(
    tx: &Transaction<'_>,
    tenant_no: i64,
    indicator_id: i64,
    op: HistoryOp,
    at: Timestamp,
    actor: Option<&Actor>,
    owner: &str,
    before: Option<&Indicator>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO indicator_history (tenant_no, indicator_id, op, at, actor_id, actor_name, owner, before_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        tenant_no,
        indicator_id,
        op.as_str(),
        at.ticks(),
        actor.map(|a| a.id.as_str()),
        actor.map(|a| a.display_name.as_str()),
        owner,
        before
            .map(|indicator| json_text(&IndicatorEntity::from(indicator)))
            .transpose()?,
    ])?;
    Ok(())
}

/// Starts the one `create` history entry of a batch (ids `first_id..=last_id`, extended by
/// [`extend_create_range`] as the batch creates more); returns its sequence number.
fn record_create_range(
    tx: &Transaction<'_>,
    tenant_no: i64,
    first_id: i64,
    at: Timestamp,
    actor: &Actor,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO indicator_history (tenant_no, indicator_id, last_id, op, at, actor_id, actor_name, owner)
         VALUES (?1, ?2, ?2, 'create', ?3, ?4, ?5, ?4)",
    )?
    .execute(params![tenant_no, first_id, at.ticks(), actor.id, actor.display_name])?;
    Ok(tx.last_insert_rowid())
}

fn extend_create_range(
    tx: &Transaction<'_>,
    sequence: i64,
    last_id: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE indicator_history SET last_id = ?2 WHERE sequence = ?1")?
        .execute(params![sequence, last_id])?;
    Ok(())
}

fn replace_groups(
    tx: &Transaction<'_>,
    tenant_no: i64,
    id: i64,
    groups: &[String],
) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM indicator_groups WHERE tenant_no = ?1 AND id = ?2")?
        .execute(params![tenant_no, id])?;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO indicator_groups (tenant_no, group_name, id) VALUES (?1, ?2, ?3)",
    )?;
    for group in groups {
        insert.execute(params![tenant_no, group, id])?;
    }
    Ok(())
}

/// Removes an indicator row (and its group rows), recording why.
fn remove_row(
    tx: &Transaction<'_>,
    tenant_no: i64,
    pk: i64,
    indicator: &Indicator,
    op: HistoryOp,
    at: Timestamp,
    actor: Option<&Actor>,
) -> Result<(), StoreError> {
    record_history(
        tx,
        tenant_no,
        indicator.id,
        op,
        at,
        actor,
        &indicator.created_by,
        Some(indicator),
    )?;
    tx.prepare_cached("DELETE FROM indicator_groups WHERE tenant_no = ?1 AND id = ?2")?
        .execute(params![tenant_no, indicator.id])?;
    tx.prepare_cached("DELETE FROM indicators WHERE pk = ?1")?
        .execute([pk])?;
    tx.prepare_cached("UPDATE tenants SET active_count = active_count - 1 WHERE tenant_no = ?1")?
        .execute([tenant_no])?;
    Ok(())
}

fn quota_failure(context: &WriteContext) -> UpsertOutcome {
    UpsertOutcome::Failed {
        code: ErrorCode::QuotaExceeded,
        message: format!(
            "The tenant has reached its limit of {} active indicators.",
            context.max_active.unwrap_or(u64::MAX)
        ),
    }
}

const INSERT_INDICATOR: &str = "INSERT INTO indicators (tenant_no, id, indicator_type, indicator_value, action, title, description,
                application, expiration_time, severity, recommended_actions, rbac_group_names, rbac_group_ids,
                generate_alert, educate_url, external_id, category, mitre_techniques, bypass_duration_hours,
                notification_id, notification_body, version, certificate_info, historical_detection,
                look_back_period, additional_info, created_by, created_by_display_name, created_by_source,
                creation_time, last_update_time, last_updated_by, value_hash, pk)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?30, NULL, ?31, ?32)
";

/// Inserts a new indicator (the caller has checked that its key is free); `value_text` is
/// the spec's value as text. Its `create` history entry is written once per batch by the
/// caller (see `upsert_batch`).
#[allow(clippy::too_many_arguments)]
fn insert_new(
    tx: &Transaction<'_>,
    insert: &mut rusqlite::CachedStatement<'_>,
    tenant_no: i64,
    id: i64,
    spec: &IndicatorSpec,
    value_text: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), StoreError> {
    insert.execute(params![
        tenant_no,
        id,
        spec.indicator_type().as_str(),
        value_text,
        spec.action.as_str(),
        spec.title,
        spec.description,
        spec.application,
        spec.expiration_time.map(Timestamp::ticks),
        spec.severity.as_str(),
        spec.recommended_actions,
        json_list(&spec.rbac_group_names)?,
        json_list(&spec.rbac_group_ids)?,
        spec.generate_alert,
        spec.educate_url,
        spec.external_id,
        spec.category.number(),
        json_list(&spec.mitre_techniques)?,
        spec.bypass_duration_hours,
        spec.notification_id,
        spec.notification_body,
        spec.version,
        spec.certificate_info.as_ref().map(json_text).transpose()?,
        spec.historical_detection,
        spec.look_back_period
            .map(|period| json_text(&period))
            .transpose()?,
        spec.additional_info,
        actor.id,
        actor.display_name,
        actor.source,
        now.ticks(),
        value_hash(value_text),
        row_key(tenant_no, id),
    ])?;
    if !spec.rbac_group_names.is_empty() {
        replace_groups(tx, tenant_no, id, &spec.rbac_group_names)?;
    }
    Ok(())
}

fn update_existing(
    tx: &Transaction<'_>,
    tenant_no: i64,
    pk: i64,
    existing: &Indicator,
    spec: &IndicatorSpec,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE indicators SET title = ?2, description = ?3, expiration_time = ?4, severity = ?5,
            recommended_actions = ?6, rbac_group_names = ?7, rbac_group_ids = ?8, generate_alert = ?9,
            educate_url = ?10, external_id = ?11, category = ?12, mitre_techniques = ?13,
            bypass_duration_hours = ?14, notification_id = ?15, notification_body = ?16,
            historical_detection = ?17, look_back_period = ?18, additional_info = ?19,
            last_update_time = ?20, last_updated_by = ?21
         WHERE pk = ?1",
    )?
    .execute(params![
        pk,
        spec.title,
        spec.description,
        spec.expiration_time.map(Timestamp::ticks),
        spec.severity.as_str(),
        spec.recommended_actions,
        json_list(&spec.rbac_group_names)?,
        json_list(&spec.rbac_group_ids)?,
        spec.generate_alert,
        spec.educate_url,
        spec.external_id,
        spec.category.number(),
        json_list(&spec.mitre_techniques)?,
        spec.bypass_duration_hours,
        spec.notification_id,
        spec.notification_body,
        spec.historical_detection,
        spec.look_back_period.map(|period| json_text(&period)).transpose()?,
        spec.additional_info,
        now.ticks(),
        actor.id,
    ])?;
    if existing.spec.rbac_group_names != spec.rbac_group_names {
        replace_groups(tx, tenant_no, existing.id, &spec.rbac_group_names)?;
    }
    record_history(
        tx,
        tenant_no,
        existing.id,
        HistoryOp::Update,
        now,
        Some(actor),
        &existing.created_by,
        Some(existing),
    )?;
    Ok(())
}

/// An indicator's state as a history entry keeps it: its entity's JSON.
/// The active indicator `id` of tenant `tenant_no` at `now`, if there is one.
pub(super) fn active_indicator(
    tx: &Transaction<'_>,
    tenant_no: i64,
    id: i64,
    now: Timestamp,
) -> Result<Option<Indicator>, StoreError> {
    let Some(pk) = row_key_of(tenant_no, id) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM indicators i WHERE i.tenant_no = ?1 AND {ACTIVE} AND i.pk = ?3"
    );
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![tenant_no, now.ticks(), pk], indicator_from_row)
        .optional()?)
}

pub(crate) fn history_state(text: &str) -> Result<Indicator, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("history entry: {why}"));
    serde_json::from_str::<IndicatorEntity>(text)
        .map_err(|error| corrupt(error.to_string()))?
        .into_indicator()
        .map_err(|error| corrupt(error.message))
}
