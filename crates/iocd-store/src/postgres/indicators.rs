//! The indicator store on PostgreSQL: reads, the upsert and delete transactions with their
//! history and change-log entries, and the expiry sweep. The same behaviour as SQLite's
//! (the conformance suite runs on both); what differs is how writers are kept apart (the
//! tenant's row lock) and that every write is recorded in the change log.

use super::odata_sql::{Params, as_refs, bind, order_sql, render_filter};
use super::rows::{COLUMNS, indicator_from_row_at, json_list, json_text};
use super::{ChangeSet, PgStore, count_active_in, lock_tenant, tenant_no};
use crate::odata::Entity;
use crate::sqlite::{history_state, value_hash};
use crate::{
    Actor, DeleteOutcome, HistoryEntry, HistoryOp, IndicatorReader, IndicatorStore, ListPage,
    ListQuery, StoreError, TypeCount, UpsertOutcome, Visibility, WriteContext,
};
use iocd_model::{ErrorCode, Indicator, IndicatorEntity, IndicatorSpec, IndicatorType, Timestamp};
use postgres::Transaction;
use std::collections::{HashMap, HashSet};

const ACTIVE: &str = "(i.expiration_time IS NULL OR i.expiration_time > $2)";

/// Whether a caller's id can name an indicator at all.
fn valid_id(id: i64) -> bool {
    (1..=crate::MAX_ID).contains(&id)
}

impl IndicatorReader for PgStore {
    fn get(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Option<Indicator>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        self.read(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else {
                return Ok(None);
            };
            let found = active_indicator(tx, tenant_no, id, now)?;
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
        self.read(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else {
                return Ok(ListPage { items: Vec::new(), count: query.count.then_some(0), has_more: false });
            };
            let mut params: Params = vec![Box::new(tenant_no), Box::new(now.ticks())];
            let mut where_sql = format!("i.tenant_no = $1 AND {ACTIVE}");
            if let Visibility::CreatedBy(owner) = visibility {
                let owner = bind(&mut params, Box::new(owner.clone()));
                where_sql.push_str(&format!(" AND i.created_by = {owner}"));
            }
            if let Some(filter) = &query.filter {
                where_sql.push_str(" AND (");
                render_filter(Entity::Indicator, filter, tenant_no, &mut where_sql, &mut params);
                where_sql.push(')');
            }
            let count = if query.count {
                let sql = format!("SELECT count(*) FROM indicators i WHERE {where_sql}");
                let n: i64 = tx.query_one(&sql, &as_refs(&params))?.try_get(0)?;
                Some(n as u64)
            } else {
                None
            };
            let mut page_sql = where_sql;
            if let Some(after) = query.after_id {
                let after = bind(&mut params, Box::new(after));
                page_sql.push_str(&format!(" AND i.id > {after}"));
            }
            let order = order_sql(Entity::Indicator, &query.order_by);
            let limit = bind(&mut params, Box::new(i64::from(query.top) + 1));
            let offset = bind(&mut params, Box::new(query.skip.min(i64::MAX as u64) as i64));
            let sql = format!(
                "SELECT {COLUMNS} FROM indicators i WHERE {page_sql} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
            );
            let mut items = tx
                .query(&sql, &as_refs(&params))?
                .iter()
                .map(|row| indicator_from_row_at(row, 0))
                .collect::<Result<Vec<_>, _>>()?;
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
        if !valid_id(id) {
            return Ok(None);
        }
        self.read(|tx| {
            let Some(tenant_no) = tenant_no(tx, tenant)? else { return Ok(None) };
            // Changes name the id; creates are ranges, found by the nearest range start at or
            // below the id (ranges never overlap: ids are allocated once).
            let rows = tx.query(
                "SELECT sequence, op, at, actor_id, actor_name, owner, before_json FROM indicator_history
                 WHERE tenant_no = $1 AND op IN ('update', 'delete', 'expire', 'bypass') AND indicator_id = $2
                 UNION ALL
                 SELECT sequence, op, at, actor_id, actor_name, owner, before_json FROM (
                     SELECT * FROM indicator_history
                     WHERE tenant_no = $1 AND op = 'create' AND indicator_id <= $2
                     ORDER BY indicator_id DESC LIMIT 1
                 ) latest WHERE last_id >= $2
                 ORDER BY sequence",
                &[&tenant_no, &id],
            )?;
            let mut owners = Vec::with_capacity(rows.len());
            let mut entries = Vec::with_capacity(rows.len());
            for row in &rows {
                let op_text: String = row.try_get(1)?;
                let op = HistoryOp::parse(&op_text)
                    .ok_or_else(|| StoreError::Corrupt(format!("history operation {op_text:?}")))?;
                let before: Option<String> = row.try_get(6)?;
                owners.push(row.try_get::<_, String>(5)?);
                entries.push(HistoryEntry {
                    sequence: row.try_get(0)?,
                    op,
                    at: Timestamp::from_ticks(row.try_get(2)?),
                    actor_id: row.try_get(3)?,
                    actor_name: row.try_get(4)?,
                    before: before.map(|text| history_state(&text)).transpose()?,
                    after: None,
                });
            }
            if entries.is_empty() || !owners.iter().all(|owner| visibility.allows(owner)) {
                return Ok(None);
            }
            // Only the state before each change is stored; the state after a change is the
            // state before the next one, or the current row for the latest change.
            let current = tx
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM indicators i WHERE i.tenant_no = $1 AND i.id = $2"),
                    &[&tenant_no, &id],
                )?
                .map(|row| indicator_from_row_at(&row, 0))
                .transpose()?;
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
        self.read(|tx| match tenant_no(tx, tenant)? {
            Some(number) => count_active_in(tx, number, now),
            None => Ok(0),
        })
    }

    fn count_by_type(&self, now: Timestamp) -> Result<Vec<TypeCount>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT t.tenant_id, i.indicator_type, count(*) FROM indicators i JOIN tenants t ON t.tenant_no = i.tenant_no
                 WHERE i.expiration_time IS NULL OR i.expiration_time > $1 GROUP BY t.tenant_id, i.indicator_type",
                &[&now.ticks()],
            )?;
            rows.iter()
                .map(|row| {
                    let type_text: String = row.try_get(1)?;
                    let indicator_type = IndicatorType::parse(&type_text)
                        .ok_or_else(|| StoreError::Corrupt(format!("indicator type {type_text:?}")))?;
                    let count: i64 = row.try_get(2)?;
                    Ok(TypeCount { tenant: row.try_get(0)?, indicator_type, count: count as u64 })
                })
                .collect()
        })
    }

    fn scan_active(
        &self,
        now: Timestamp,
        visit: &mut dyn FnMut(&str, Indicator),
    ) -> Result<(), StoreError> {
        self.read(|tx| {
            let sql = format!(
                "SELECT t.tenant_id, {COLUMNS} FROM indicators i JOIN tenants t ON t.tenant_no = i.tenant_no
                 WHERE i.expiration_time IS NULL OR i.expiration_time > $1 ORDER BY i.tenant_no, i.id"
            );
            // A portal reads the rows in pieces: memory stays bounded however many there are.
            let statement = tx.prepare(&sql)?;
            let portal = tx.bind(&statement, &[&now.ticks()])?;
            loop {
                let rows = tx.query_portal(&portal, 10_000)?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let tenant: String = row.try_get(0)?;
                    visit(&tenant, indicator_from_row_at(row, 1)?);
                }
            }
            Ok(())
        })
    }
}

impl IndicatorStore for PgStore {
    fn upsert_batch(
        &self,
        tenant: &str,
        actor: &Actor,
        specs: &[IndicatorSpec],
        context: &WriteContext,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        self.write(|tx, changes| {
            let tenant_no = lock_tenant(tx, tenant)?;
            let mut change = ChangeSet::new(tenant_no, context.now);
            let row = tx.query_one("SELECT next_id, active_count FROM tenants WHERE tenant_no = $1", &[&tenant_no])?;
            let (mut next_id, mut active): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let values: Vec<String> = specs.iter().map(|spec| spec.value.to_string()).collect();
            // Every key of the batch looked up at once; new rows are written together by COPY.
            let mut existing = find_keys(tx, tenant_no, specs, &values)?;
            let mut pending: Vec<usize> = Vec::new();
            // Updates are written together too: the rows they replace, with their new fields.
            let mut updates: Vec<(usize, Indicator)> = Vec::new();
            let mut pending_keys: HashSet<Key> = HashSet::new();
            // Keys written by this batch, whose row the lookup above no longer describes.
            let mut stale: HashSet<Key> = HashSet::new();
            // Ids created by this batch are exactly first_id..next_id; one history entry covers
            // them, written at the first create so it precedes any update in the same batch.
            let mut create_entry: Option<i64> = None;
            let mut recounted = false;
            let now = context.now;
            let mut outcomes = Vec::with_capacity(specs.len());
            for (index, spec) in specs.iter().enumerate() {
                let key = key_of(spec, &values[index]);
                if pending_keys.contains(&key) || stale.contains(&key) {
                    // The key repeats within the batch: write what is pending, then read it again.
                    let first_new = next_id - pending.len() as i64;
                    flush(tx, tenant_no, specs, &values, &pending, first_new, &updates, actor, now)?;
                    pending.clear();
                    pending_keys.clear();
                    updates.clear();
                    match find_one(tx, tenant_no, spec, &values[index])? {
                        Some(found) => existing.insert(key.clone(), found),
                        None => existing.remove(&key),
                    };
                    stale.remove(&key);
                }
                let found = existing.get(&key).cloned();
                let found = match found {
                    Some(old) if old.spec.expiration_time.is_some_and(|t| t <= now) => {
                        // Expired but not yet swept: expire it now; a new indicator takes its place.
                        remove_row(tx, tenant_no, &old, HistoryOp::Expire, now, None)?;
                        existing.remove(&key);
                        change.changed(old.id);
                        active -= 1;
                        None
                    }
                    other => other,
                };
                if let Some(old) = found {
                    if context.visibility.allows(&old.created_by) {
                        stale.insert(key);
                        change.changed(old.id);
                        outcomes.push(UpsertOutcome::Updated(old.id));
                        updates.push((index, old));
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
                    // The cached count includes expired indicators the sweeper has not removed;
                    // rows still pending are not in the table yet.
                    active = count_active_in(tx, tenant_no, now)? as i64 + pending.len() as i64;
                    recounted = true;
                }
                if over_cap(active) {
                    outcomes.push(quota_failure(context));
                    continue;
                }
                if create_entry.is_none() {
                    create_entry = Some(record_create_range(tx, tenant_no, next_id, now, actor)?);
                }
                pending.push(index);
                pending_keys.insert(key);
                change.created(next_id);
                outcomes.push(UpsertOutcome::Created(next_id));
                next_id += 1;
                active += 1;
            }
            let first_new = next_id - pending.len() as i64;
            flush(tx, tenant_no, specs, &values, &pending, first_new, &updates, actor, now)?;
            tx.execute(
                "UPDATE tenants SET next_id = $2, active_count = $3 WHERE tenant_no = $1",
                &[&tenant_no, &next_id, &active],
            )?;
            if let Some(sequence) = create_entry {
                tx.execute("UPDATE indicator_history SET last_id = $2 WHERE sequence = $1", &[&sequence, &(next_id - 1)])?;
            }
            changes.push(change);
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
        self.write(|tx, changes| {
            if tenant_no(tx, tenant)?.is_none() {
                return Ok(DeleteOutcome::NotFound(ids.to_vec()));
            }
            let tenant_no = lock_tenant(tx, tenant)?;
            let mut found: Vec<Indicator> = Vec::with_capacity(ids.len());
            let mut missing = Vec::new();
            for &id in ids {
                if found.iter().any(|existing| existing.id == id) {
                    continue;
                }
                let row = if valid_id(id) {
                    active_indicator(tx, tenant_no, id, context.now)?
                } else {
                    None
                };
                match row {
                    Some(indicator) if context.visibility.allows(&indicator.created_by) => {
                        found.push(indicator)
                    }
                    _ => missing.push(id),
                }
            }
            if !missing.is_empty() {
                return Ok(DeleteOutcome::NotFound(missing));
            }
            let mut change = ChangeSet::new(tenant_no, context.now);
            for indicator in &found {
                remove_row(
                    tx,
                    tenant_no,
                    indicator,
                    HistoryOp::Delete,
                    context.now,
                    Some(actor),
                )?;
                change.changed(indicator.id);
            }
            changes.push(change);
            Ok(DeleteOutcome::Deleted(found.len() as u64))
        })
    }

    fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.write(|tx, changes| {
            let sql = format!(
                "SELECT i.tenant_no, {COLUMNS} FROM indicators i
                 WHERE i.expiration_time IS NOT NULL AND i.expiration_time <= $1
                 ORDER BY i.expiration_time LIMIT $2 FOR UPDATE SKIP LOCKED"
            );
            let rows = tx.query(
                &sql,
                &[&now.ticks(), &(limit.min(i64::MAX as usize) as i64)],
            )?;
            let mut expired = Vec::with_capacity(rows.len());
            for row in &rows {
                let tenant_no: i64 = row.try_get(0)?;
                expired.push((tenant_no, indicator_from_row_at(row, 1)?));
            }
            // Tenants in order, so two sweepers (or a sweeper and a writer) lock them in one order.
            expired.sort_by_key(|(tenant_no, indicator)| (*tenant_no, indicator.id));
            let mut removed = 0;
            for (tenant_no, indicator) in &expired {
                if changes
                    .last()
                    .is_none_or(|c: &ChangeSet| c.tenant_no != *tenant_no)
                {
                    tx.execute(
                        "SELECT 1 FROM tenants WHERE tenant_no = $1 FOR UPDATE",
                        &[tenant_no],
                    )?;
                    changes.push(ChangeSet::new(*tenant_no, now));
                }
                let at = indicator.spec.expiration_time.unwrap_or(now);
                remove_row(tx, *tenant_no, indicator, HistoryOp::Expire, at, None)?;
                if let Some(change) = changes.last_mut() {
                    change.changed(indicator.id);
                }
                removed += 1;
            }
            Ok(removed)
        })
    }
}

/// The active indicator `id` of tenant `tenant_no` at `now`, if there is one.
pub(super) fn active_indicator(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    id: i64,
    now: Timestamp,
) -> Result<Option<Indicator>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM indicators i WHERE i.tenant_no = $1 AND {ACTIVE} AND i.id = $3"
        ),
        &[&tenant_no, &now.ticks(), &id],
    )?
    .map(|row| indicator_from_row_at(&row, 0))
    .transpose()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_history(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    indicator_id: i64,
    op: HistoryOp,
    at: Timestamp,
    actor: Option<&Actor>,
    owner: &str,
    before: Option<&Indicator>,
) -> Result<(), StoreError> {
    let before = before
        .map(|indicator| json_text(&IndicatorEntity::from(indicator)))
        .transpose()?;
    tx.execute(
        "INSERT INTO indicator_history (tenant_no, indicator_id, op, at, actor_id, actor_name, owner, before_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &tenant_no,
            &indicator_id,
            &op.as_str(),
            &at.ticks(),
            &actor.map(|a| a.id.as_str()),
            &actor.map(|a| a.display_name.as_str()),
            &owner,
            &before,
        ],
    )?;
    Ok(())
}

/// Starts the one `create` history entry of a batch; returns its sequence number.
fn record_create_range(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    first_id: i64,
    at: Timestamp,
    actor: &Actor,
) -> Result<i64, StoreError> {
    let row = tx.query_one(
        "INSERT INTO indicator_history (tenant_no, indicator_id, last_id, op, at, actor_id, actor_name, owner)
         VALUES ($1, $2, $2, 'create', $3, $4, $5, $4) RETURNING sequence",
        &[&tenant_no, &first_id, &at.ticks(), &actor.id, &actor.display_name],
    )?;
    Ok(row.try_get(0)?)
}

/// Removes an indicator row (and its group rows), recording why.
fn remove_row(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
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
    tx.execute(
        "DELETE FROM indicator_groups WHERE tenant_no = $1 AND id = $2",
        &[&tenant_no, &indicator.id],
    )?;
    tx.execute(
        "DELETE FROM indicators WHERE tenant_no = $1 AND id = $2",
        &[&tenant_no, &indicator.id],
    )?;
    tx.execute(
        "UPDATE tenants SET active_count = active_count - 1 WHERE tenant_no = $1",
        &[&tenant_no],
    )?;
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

/// An upsert key: value, type and action.
type Key = (String, &'static str, &'static str);

fn key_of(spec: &IndicatorSpec, value: &str) -> Key {
    (
        value.to_owned(),
        spec.indicator_type().as_str(),
        spec.action.as_str(),
    )
}

/// The indicators (expired or not) with the keys of `specs`, in one query: the value hashes
/// go through the index on `(tenant_no, value_hash)` (a probe per key, never a scan of the
/// tenant), and rows whose value, type or action differ are left out here.
fn find_keys(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    specs: &[IndicatorSpec],
    values: &[String],
) -> Result<HashMap<Key, Indicator>, StoreError> {
    if specs.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: HashSet<Key> = specs
        .iter()
        .zip(values)
        .map(|(spec, value)| key_of(spec, value))
        .collect();
    let mut hashes: Vec<i64> = values.iter().map(|v| value_hash(v)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    // One probe of the value index per key, in key order, whatever the statistics say: about
    // a microsecond each at any table size. The subquery depends on the key and is fenced
    // (`OFFSET 0`), so the keys are the outer side of the join; with sequential and bitmap
    // scans off, each probe uses the value index. Left to itself, the planner (seeing
    // thousands of keys, and statistics that lag behind a bulk load, or none where autovacuum
    // is off) reads the whole tenant: into a hash table, or with the key list as a filter, or
    // once per key. That costs hundreds of milliseconds to minutes per batch and grows with
    // the table (decision 0022).
    let rows = through_indexes(tx, |tx| {
        Ok(tx.query(
            &format!(
                "SELECT i.* FROM unnest($2::bigint[]) AS k(hash),
                 LATERAL (SELECT {COLUMNS} FROM indicators i
                          WHERE i.tenant_no = $1 AND i.value_hash = k.hash OFFSET 0) AS i"
            ),
            &[&tenant_no, &hashes],
        )?)
    })?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let indicator = indicator_from_row_at(row, 0)?;
        let key = (
            indicator.spec.value.to_string(),
            indicator.spec.indicator_type().as_str(),
            indicator.spec.action.as_str(),
        );
        if wanted.contains(&key) {
            found.insert(key, indicator);
        }
    }
    Ok(found)
}

/// The indicator (expired or not) with the key of `spec`.
fn find_one(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    spec: &IndicatorSpec,
    value: &str,
) -> Result<Option<Indicator>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM indicators i
             WHERE i.tenant_no = $1 AND i.value_hash = $5 AND i.indicator_value = $2
               AND i.indicator_type = $3 AND i.action = $4"
        ),
        &[
            &tenant_no,
            &value,
            &spec.indicator_type().as_str(),
            &spec.action.as_str(),
            &value_hash(value),
        ],
    )?
    .map(|row| indicator_from_row_at(&row, 0))
    .transpose()
}

/// Runs `f` with sequential and bitmap scans off, so that its statements probe indexes
/// whatever the planner's statistics say (see [`find_keys`]; decision 0022).
fn through_indexes<T>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    tx.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")?;
    let value = f(tx)?;
    tx.batch_execute(
        "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_bitmapscan TO DEFAULT",
    )?;
    Ok(value)
}

/// Who created a row and when, and who last changed it.
struct Provenance<'a> {
    created_by: &'a str,
    created_by_display_name: &'a str,
    created_by_source: &'a str,
    creation_time: Timestamp,
    last_updated_by: Option<&'a str>,
}

/// A row to write: the spec it holds, its id and its provenance.
struct RowToWrite<'a> {
    index: usize,
    id: i64,
    provenance: Provenance<'a>,
    /// Whether its device-group rows must be written (new rows, and updates that change the
    /// group names).
    groups: bool,
    /// An update's old spec: an update keeps its `application`, `version` and
    /// `certificateInfo`, as SQLite's `UPDATE` does.
    kept: Option<&'a IndicatorSpec>,
}

/// Writes what a batch has pending: the new indicators `specs[pending[..]]`, with ids from
/// `first_id` on (the caller has checked that their keys are free), and the `updates` (spec
/// index and the row it replaces): each replaced row is deleted and written again with its id,
/// its creator and its new fields, and its history entry recorded. All rows go in one binary
/// `COPY`; an update costs PostgreSQL what an `UPDATE` would (the update time is indexed, so an
/// update is never a heap-only one) without a round trip per row.
#[allow(clippy::too_many_arguments)]
fn flush(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    specs: &[IndicatorSpec],
    values: &[String],
    pending: &[usize],
    first_id: i64,
    updates: &[(usize, Indicator)],
    actor: &Actor,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut rows: Vec<RowToWrite<'_>> = Vec::with_capacity(pending.len() + updates.len());
    if !updates.is_empty() {
        let ids: Vec<i64> = updates.iter().map(|(_, old)| old.id).collect();
        // Updates that change the group names replace the rows of the group index.
        let regrouped = |index: usize, old: &Indicator| {
            old.spec.rbac_group_names != specs[index].rbac_group_names
        };
        let regrouped_ids: Vec<i64> = updates
            .iter()
            .filter(|(index, old)| regrouped(*index, old))
            .map(|(_, old)| old.id)
            .collect();
        // Deleted through the primary key, whatever the statistics say.
        through_indexes(tx, |tx| {
            tx.execute(
                "DELETE FROM indicators WHERE tenant_no = $1 AND id = ANY($2)",
                &[&tenant_no, &ids],
            )?;
            if !regrouped_ids.is_empty() {
                tx.execute(
                    "DELETE FROM indicator_groups WHERE tenant_no = $1 AND id = ANY($2)",
                    &[&tenant_no, &regrouped_ids],
                )?;
            }
            Ok(())
        })?;
        let mut befores = Vec::with_capacity(updates.len());
        let mut owners = Vec::with_capacity(updates.len());
        for (_, old) in updates {
            befores.push(json_text(&IndicatorEntity::from(old))?);
            owners.push(old.created_by.as_str());
        }
        tx.execute(
            "INSERT INTO indicator_history (tenant_no, indicator_id, op, at, actor_id, actor_name, owner, before_json)
             SELECT $1, u.id, 'update', $2, $3, $4, u.owner, u.before
             FROM unnest($5::bigint[], $6::text[], $7::text[]) WITH ORDINALITY AS u(id, owner, before, n)
             ORDER BY u.n",
            &[&tenant_no, &now.ticks(), &actor.id, &actor.display_name, &ids, &owners, &befores],
        )?;
        for (index, old) in updates {
            rows.push(RowToWrite {
                index: *index,
                id: old.id,
                provenance: Provenance {
                    created_by: &old.created_by,
                    created_by_display_name: &old.created_by_display_name,
                    created_by_source: &old.created_by_source,
                    creation_time: old.creation_time,
                    last_updated_by: Some(&actor.id),
                },
                groups: regrouped(*index, old),
                kept: Some(&old.spec),
            });
        }
    }
    for (offset, &index) in pending.iter().enumerate() {
        rows.push(RowToWrite {
            index,
            id: first_id + offset as i64,
            provenance: Provenance {
                created_by: &actor.id,
                created_by_display_name: &actor.display_name,
                created_by_source: &actor.source,
                creation_time: now,
                last_updated_by: None,
            },
            groups: true,
            kept: None,
        });
    }
    write_rows(tx, tenant_no, specs, values, &rows, now)
}

const COPY_INDICATORS: &str =
    "COPY indicators (tenant_no, id, indicator_type, indicator_value, action, title, description,
    application, expiration_time, severity, recommended_actions, rbac_group_names, rbac_group_ids,
    generate_alert, educate_url, external_id, category, mitre_techniques, bypass_duration_hours,
    notification_id, notification_body, version, certificate_info, historical_detection,
    look_back_period, additional_info, created_by, created_by_display_name, created_by_source,
    creation_time, last_update_time, last_updated_by, value_hash) FROM STDIN (FORMAT binary)";

/// Writes `rows` by binary `COPY` (none of their ids may be in the table), updated at `now`,
/// and the device-group rows of those that ask for them.
fn write_rows(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    specs: &[IndicatorSpec],
    values: &[String],
    rows: &[RowToWrite<'_>],
    now: Timestamp,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    use postgres::types::Type;
    // The COPY's column types in order: i BIGINT, t TEXT, b BOOLEAN.
    let types: Vec<Type> = "iitttttt itttt b tt i t i tttt b ttttt ii t i"
        .chars()
        .filter_map(|kind| match kind {
            'i' => Some(Type::INT8),
            't' => Some(Type::TEXT),
            'b' => Some(Type::BOOL),
            _ => None,
        })
        .collect();
    let mut groups: Vec<(i64, &str)> = Vec::new();
    {
        let sink = tx.copy_in(COPY_INDICATORS)?;
        let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
        for row in rows {
            let spec = &specs[row.index];
            let value = &values[row.index];
            let group_names = json_list(&spec.rbac_group_names)?;
            let group_ids = json_list(&spec.rbac_group_ids)?;
            let techniques = json_list(&spec.mitre_techniques)?;
            let kept = row.kept.unwrap_or(spec);
            let certificate_info = kept.certificate_info.as_ref().map(json_text).transpose()?;
            let look_back = spec
                .look_back_period
                .map(|period| json_text(&period))
                .transpose()?;
            let provenance = &row.provenance;
            writer.write(&[
                &tenant_no,
                &row.id,
                &spec.indicator_type().as_str(),
                value,
                &spec.action.as_str(),
                &spec.title,
                &spec.description,
                &kept.application,
                &spec.expiration_time.map(Timestamp::ticks),
                &spec.severity.as_str(),
                &spec.recommended_actions,
                &group_names.as_ref(),
                &group_ids.as_ref(),
                &spec.generate_alert,
                &spec.educate_url,
                &spec.external_id,
                &i64::from(spec.category.number()),
                &techniques.as_ref(),
                &spec.bypass_duration_hours,
                &spec.notification_id,
                &spec.notification_body,
                &kept.version,
                &certificate_info,
                &spec.historical_detection,
                &look_back,
                &spec.additional_info,
                &provenance.created_by,
                &provenance.created_by_display_name,
                &provenance.created_by_source,
                &provenance.creation_time.ticks(),
                &now.ticks(),
                &provenance.last_updated_by,
                &value_hash(value),
            ])?;
            if row.groups {
                // Ids are unique within the batch: a pair can repeat only within one row.
                for (n, name) in spec.rbac_group_names.iter().enumerate() {
                    if !spec.rbac_group_names[..n].contains(name) {
                        groups.push((row.id, name.as_str()));
                    }
                }
            }
        }
        writer.finish()?;
    }
    if !groups.is_empty() {
        let ids: Vec<i64> = groups.iter().map(|(id, _)| *id).collect();
        let names: Vec<&str> = groups.iter().map(|(_, name)| *name).collect();
        tx.execute(
            "INSERT INTO indicator_groups (tenant_no, group_name, id)
             SELECT $1, g.name, g.id FROM unnest($2::text[], $3::bigint[]) AS g(name, id)
             ON CONFLICT DO NOTHING",
            &[&tenant_no, &names, &ids],
        )?;
    }
    Ok(())
}
