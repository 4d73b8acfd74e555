//! The SQLite backend: one database file in WAL mode with `synchronous=FULL`, one writer
//! connection (writes are serialised, as SQLite requires) and a small pool of readers.
//!
//! Layout: `tenants` maps a tenant id to a small number and holds its id counter and active
//! count; `indicators` holds current state with a unique index on the upsert key;
//! `indicator_groups` indexes device-group scope for `rbacGroupNames/any(...)`;
//! `indicator_history` is append-only and survives deletion.

use crate::odata::{CompareOp, Entity, Field, Filter, Literal, StringFunction, Subject};
use crate::{
    Actor, DeleteOutcome, HistoryEntry, HistoryOp, IndicatorStore, ListPage, ListQuery, StoreError,
    TypeCount, UpsertOutcome, Visibility, WriteContext,
};
use iocd_model::{
    Action, Category, ErrorCode, Indicator, IndicatorSpec, IndicatorType, IndicatorValue,
    LookBackPeriod, Severity, Timestamp,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

mod detections;

const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_initial.sql"),
    include_str!("sqlite/0002_detections.sql"),
];
const MAX_IDLE_READERS: usize = 8;

/// Columns of `indicators` in the order [`indicator_from_row`] reads them.
const COLUMNS: &str = "i.id, i.indicator_type, i.indicator_value, i.action, i.title, i.description, \
    i.application, i.expiration_time, i.severity, i.recommended_actions, i.rbac_group_names, i.rbac_group_ids, \
    i.generate_alert, i.educate_url, i.external_id, i.category, i.mitre_techniques, i.bypass_duration_hours, \
    i.notification_id, i.notification_body, i.version, i.certificate_info, i.historical_detection, \
    i.look_back_period, i.additional_info, i.created_by, i.created_by_display_name, i.created_by_source, \
    i.creation_time, i.last_update_time, i.last_updated_by";

const ACTIVE: &str = "(i.expiration_time IS NULL OR i.expiration_time > ?2)";

/// An [`IndicatorStore`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(error))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back
    // on drop), so a poisoned lock is safe to reuse.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        let mut writer = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        writer
            .execute_batch(
                "PRAGMA page_size = 16384;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 10000;
                 PRAGMA cache_size = -262144;
                 PRAGMA temp_store = MEMORY;",
            )
            .map_err(|e| open_error(e.to_string()))?;
        migrate(&mut writer)?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.readers).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                connection
                    .execute_batch("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768;")?;
                connection
            }
        };
        let result = f(&connection);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
        result
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = lock(&self.writer);
        let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let version: usize =
        connection.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, newer than this iocd knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Bits of the row id that hold the per-tenant indicator id; the tenant number sits above them.
const ID_BITS: u32 = 40;

/// The row id of indicator `id` of tenant `tenant_no`: the table is clustered by tenant and
/// then id, so lookups by id, and listing a tenant in id order, need no separate index.
fn row_key(tenant_no: i64, id: i64) -> i64 {
    (tenant_no << ID_BITS) | (id & ((1 << ID_BITS) - 1))
}

/// The first and last row ids of a tenant.
fn tenant_rows(tenant_no: i64) -> (i64, i64) {
    (
        row_key(tenant_no, 0),
        row_key(tenant_no, (1 << ID_BITS) - 1),
    )
}

/// A stable 64-bit FNV-1a hash of a normalised value. The key index holds this hash instead
/// of the value, which makes it about five times smaller than an index on the text; lookups
/// compare the value itself too, so collisions cost a row read, never a wrong answer.
/// Persisted: never change this function without a migration that recomputes `value_hash`.
fn value_hash(value: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

fn tenant_no(connection: &Connection, tenant: &str) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT tenant_no FROM tenants WHERE tenant_id = ?1")?
        .query_row([tenant], |r| r.get(0))
        .optional()?)
}

/// A list column's JSON text; the common empty list costs no allocation.
fn json_list<T: serde::Serialize>(items: &[T]) -> std::borrow::Cow<'static, str> {
    if items.is_empty() {
        std::borrow::Cow::Borrowed("[]")
    } else {
        std::borrow::Cow::Owned(json_text(&items))
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    // Serialising vectors of strings/integers and JSON values cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("stored {what} {value:?} is not valid").into(),
    )
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|_| corrupt("JSON", &text))
}

fn optional_json(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(index)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("JSON", &t)))
        .transpose()
}

/// `certificateInfo`: an object. Rows written before it had to be one may hold another JSON
/// value, which is read as `{"value": <it>}` rather than lost.
fn certificate_info(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<serde_json::Map<String, serde_json::Value>>> {
    Ok(optional_json(row, index)?.and_then(|value| match value {
        serde_json::Value::Null => None,
        serde_json::Value::Object(map) => Some(map),
        other => Some(serde_json::Map::from_iter([("value".to_owned(), other)])),
    }))
}

/// `lookBackPeriod`, stored as the JSON of its ISO 8601 text. Rows written before it was
/// parsed at validation may hold text no reader understands; that meant (and means) the full
/// retention, as no period does.
fn look_back_period(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<LookBackPeriod>> {
    Ok(optional_json(row, index)?.and_then(|value| LookBackPeriod::from_json(&value)))
}

fn indicator_from_row(row: &Row<'_>) -> rusqlite::Result<Indicator> {
    indicator_from_row_at(row, 0)
}

/// Reads the [`COLUMNS`] of an indicator starting at column `base` of `row`.
fn indicator_from_row_at(row: &Row<'_>, base: usize) -> rusqlite::Result<Indicator> {
    let type_text: String = row.get(base + 1)?;
    let indicator_type =
        IndicatorType::parse(&type_text).ok_or_else(|| corrupt("type", &type_text))?;
    let value_text: String = row.get(base + 2)?;
    let value = IndicatorValue::parse(indicator_type, &value_text, true)
        .map_err(|_| corrupt("indicator value", &value_text))?;
    let action_text: String = row.get(base + 3)?;
    let severity_text: String = row.get(base + 8)?;
    let category: i64 = row.get(base + 15)?;
    Ok(Indicator {
        id: row.get(base)?,
        spec: IndicatorSpec {
            value,
            action: Action::parse(&action_text).ok_or_else(|| corrupt("action", &action_text))?,
            title: row.get(base + 4)?,
            description: row.get(base + 5)?,
            application: row.get(base + 6)?,
            expiration_time: row
                .get::<_, Option<i64>>(base + 7)?
                .map(Timestamp::from_ticks),
            severity: Severity::parse(&severity_text)
                .ok_or_else(|| corrupt("severity", &severity_text))?,
            recommended_actions: row.get(base + 9)?,
            rbac_group_names: json_column(row, base + 10)?,
            rbac_group_ids: json_column(row, base + 11)?,
            generate_alert: row.get(base + 12)?,
            educate_url: row.get(base + 13)?,
            external_id: row.get(base + 14)?,
            category: Category::from_number(category)
                .ok_or_else(|| corrupt("category", &category.to_string()))?,
            mitre_techniques: json_column(row, base + 16)?,
            bypass_duration_hours: row.get(base + 17)?,
            notification_id: row.get(base + 18)?,
            notification_body: row.get(base + 19)?,
            version: row.get(base + 20)?,
            certificate_info: certificate_info(row, base + 21)?,
            historical_detection: row.get(base + 22)?,
            look_back_period: look_back_period(row, base + 23)?,
            additional_info: row.get(base + 24)?,
        },
        created_by: row.get(base + 25)?,
        created_by_display_name: row.get(base + 26)?,
        created_by_source: row.get(base + 27)?,
        creation_time: Timestamp::from_ticks(row.get(base + 28)?),
        last_update_time: Timestamp::from_ticks(row.get(base + 29)?),
        last_updated_by: row.get(base + 30)?,
    })
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
fn record_history(
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
        before.map(json_text),
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

fn ensure_tenant(tx: &Transaction<'_>, tenant: &str) -> Result<i64, StoreError> {
    if let Some(number) = tenant_no(tx, tenant)? {
        return Ok(number);
    }
    tx.prepare_cached("INSERT INTO tenants (tenant_id) VALUES (?1)")?
        .execute([tenant])?;
    Ok(tx.last_insert_rowid())
}

fn count_active_in(
    connection: &Connection,
    tenant_no: i64,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let (first_row, last_row) = tenant_rows(tenant_no);
    let count: i64 = connection
        .prepare_cached(&format!(
            "SELECT count(*) FROM indicators i WHERE i.tenant_no = ?1 AND {ACTIVE} AND i.pk BETWEEN ?3 AND ?4"
        ))?
        .query_row(params![tenant_no, now.ticks(), first_row, last_row], |r| r.get(0))?;
    Ok(count as u64)
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

    fn get(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Option<Indicator>, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else { return Ok(None) };
            let sql = format!("SELECT {COLUMNS} FROM indicators i WHERE i.tenant_no = ?1 AND {ACTIVE} AND i.pk = ?3");
            let found = connection
                .prepare_cached(&sql)?
                .query_row(params![tenant_no, now.ticks(), row_key(tenant_no, id)], indicator_from_row)
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
                values.push(SqlValue::Integer(row_key(tenant_no, after.clamp(0, (1 << ID_BITS) - 1))));
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
                let row = tx
                    .prepare_cached(&sql)?
                    .query_row(params![tenant_no, context.now.ticks(), row_key(tenant_no, id)], |row| {
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

    fn history(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
    ) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        self.read(|connection| {
            let Some(tenant_no) = tenant_no(connection, tenant)? else { return Ok(None) };
            // Changes name the id; creates are ranges, found by the nearest range start at or
            // below the id (ranges never overlap: ids are allocated once).
            let mut statement = connection.prepare_cached(
                "SELECT sequence, op, at, actor_id, actor_name, owner, before_json FROM indicator_history
                 WHERE tenant_no = ?1 AND op IN ('update', 'delete', 'expire') AND indicator_id = ?2
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
                .query_row(params![row_key(tenant_no, id)], indicator_from_row)
                .optional()?
                .map(|indicator| serde_json::to_value(&indicator).unwrap_or_default());
            let mut entries = Vec::with_capacity(rows.len());
            for (sequence, op, at, actor_id, actor_name, _owner, before) in rows {
                let op = HistoryOp::parse(&op).ok_or_else(|| StoreError::Corrupt(format!("history operation {op:?}")))?;
                let before = before
                    .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("history JSON: {e}"))))
                    .transpose()?;
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
        json_list(&spec.rbac_group_names),
        json_list(&spec.rbac_group_ids),
        spec.generate_alert,
        spec.educate_url,
        spec.external_id,
        spec.category.number(),
        json_list(&spec.mitre_techniques),
        spec.bypass_duration_hours,
        spec.notification_id,
        spec.notification_body,
        spec.version,
        spec.certificate_info.as_ref().map(json_text),
        spec.historical_detection,
        spec.look_back_period.map(|period| json_text(&period)),
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
        json_list(&spec.rbac_group_names),
        json_list(&spec.rbac_group_ids),
        spec.generate_alert,
        spec.educate_url,
        spec.external_id,
        spec.category.number(),
        json_list(&spec.mitre_techniques),
        spec.bypass_duration_hours,
        spec.notification_id,
        spec.notification_body,
        spec.historical_detection,
        spec.look_back_period.map(|period| json_text(&period)),
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

fn column(field: Field) -> &'static str {
    match field {
        Field::Id => "i.id",
        Field::Application => "i.application",
        Field::CreatedByDisplayName => "i.created_by_display_name",
        Field::ExpirationTime => "i.expiration_time",
        Field::GenerateAlert => "i.generate_alert",
        Field::Title => "i.title",
        Field::Description => "i.description",
        Field::RbacGroupNames => "i.rbac_group_names",
        Field::RbacGroupIds => "i.rbac_group_ids",
        Field::IndicatorValue => "i.indicator_value",
        Field::IndicatorType => "i.indicator_type",
        Field::CreationTimeDateTimeUtc => "i.creation_time",
        Field::LastUpdateTime => "i.last_update_time",
        Field::LastUpdatedBy => "i.last_updated_by",
        Field::CreatedBy => "i.created_by",
        Field::Action => "i.action",
        Field::Severity => "i.severity",
        Field::Category => "i.category",
        Field::ExternalId => "i.external_id",
        // Alert-only properties; the parser never produces them for indicators.
        _ => "NULL",
    }
}

fn subject_column(entity: Entity, subject: Subject) -> &'static str {
    match (entity, subject) {
        (Entity::Alert, Subject::Field(field)) => detections::alert_column(field),
        (_, Subject::Field(field)) => column(field),
        (_, Subject::Element(Field::RbacGroupNames)) => "g.group_name",
        (_, Subject::Element(_)) => "e.value",
    }
}

fn bind(values: &mut Vec<SqlValue>, value: SqlValue) -> String {
    values.push(value);
    format!("?{}", values.len())
}

fn literal_value(literal: &Literal) -> SqlValue {
    match literal {
        Literal::Null => SqlValue::Null,
        Literal::Text(text) => SqlValue::Text(text.clone()),
        Literal::Integer(n) => SqlValue::Integer(*n),
        Literal::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Literal::DateTime(t) => SqlValue::Integer(t.ticks()),
    }
}

/// Renders a filter as a SQL condition over the alias `i` (indicators) or `a` (alerts),
/// binding every literal.
fn render_filter(
    entity: Entity,
    filter: &Filter,
    tenant_no: i64,
    sql: &mut String,
    values: &mut Vec<SqlValue>,
) {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            render_filter(entity, left, tenant_no, sql, values);
            sql.push_str(joiner);
            render_filter(entity, right, tenant_no, sql, values);
            sql.push(')');
        }
        Filter::Not(inner) => {
            sql.push_str("NOT (");
            render_filter(entity, inner, tenant_no, sql, values);
            sql.push(')');
        }
        Filter::Compare {
            subject: Subject::Field(Field::IndicatorValue),
            op: CompareOp::Eq,
            value: Literal::Text(text),
        } if entity == Entity::Indicator => {
            // Equality on the value goes through the hashed key index.
            let hash = bind(values, SqlValue::Integer(value_hash(text)));
            let text = bind(values, SqlValue::Text(text.clone()));
            sql.push_str(&format!(
                "(i.value_hash = {hash} AND i.indicator_value = {text})"
            ));
        }
        Filter::Compare { subject, op, value } => {
            let column = subject_column(entity, *subject);
            let operator = match (op, value) {
                (CompareOp::Eq, Literal::Null) => "IS",
                (CompareOp::Ne, _) => "IS NOT",
                _ => op.sql(),
            };
            let placeholder = bind(values, literal_value(value));
            sql.push_str(&format!("{column} {operator} {placeholder}"));
        }
        Filter::AnyOf {
            subject,
            values: options,
        } => {
            let column = subject_column(entity, *subject);
            let placeholders: Vec<String> = options
                .iter()
                .map(|o| bind(values, literal_value(o)))
                .collect();
            sql.push_str(&format!("{column} IN ({})", placeholders.join(", ")));
        }
        Filter::Function {
            function,
            subject,
            value,
        } => {
            let column = subject_column(entity, *subject);
            if value.is_empty() {
                sql.push_str(&format!("{column} IS NOT NULL"));
                return;
            }
            let length = bind(values, SqlValue::Integer(value.chars().count() as i64));
            let text = bind(values, SqlValue::Text(value.clone()));
            let condition = match function {
                StringFunction::StartsWith => format!("substr({column}, 1, {length}) = {text}"),
                StringFunction::EndsWith => format!("substr({column}, -{length}) = {text}"),
                StringFunction::Contains => format!("instr({column}, {text}) > 0 AND {length} > 0"),
            };
            sql.push_str(&condition);
        }
        Filter::Any {
            collection,
            predicate,
        } => {
            let mut inner = String::new();
            render_filter(entity, predicate, tenant_no, &mut inner, values);
            if *collection == Field::RbacGroupNames {
                let tenant = bind(values, SqlValue::Integer(tenant_no));
                sql.push_str(&format!(
                    "i.id IN (SELECT g.id FROM indicator_groups g WHERE g.tenant_no = {tenant} AND ({inner}))"
                ));
            } else {
                sql.push_str(&format!(
                    "EXISTS (SELECT 1 FROM json_each(i.rbac_group_ids) e WHERE {inner})"
                ));
            }
        }
    }
}

fn order_sql(keys: &[crate::odata::OrderKey]) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|key| {
            let expression = if key.field == Field::Severity {
                "CASE i.severity WHEN 'Informational' THEN 0 WHEN 'Low' THEN 1 WHEN 'Medium' THEN 2 ELSE 3 END".to_owned()
            } else if key.field == Field::Id {
                // Row ids follow ids within a tenant, and ordering by them needs no sort.
                "i.pk".to_owned()
            } else {
                column(key.field).to_owned()
            };
            format!("{expression} {}", if key.descending { "DESC" } else { "ASC" })
        })
        .collect();
    if !keys.iter().any(|k| k.field == Field::Id) {
        parts.push("i.pk ASC".to_owned());
    }
    parts.join(", ")
}
