//! The SQLite backend: one database file in WAL mode with `synchronous=FULL`, one writer
//! connection (writes are serialised, as SQLite requires) and a small pool of readers.
//!
//! Layout: `tenants` maps a tenant id to a small number and holds its id counter and active
//! count; `indicators` holds current state with a unique index on the upsert key;
//! `indicator_groups` indexes device-group scope for `rbacGroupNames/any(...)`;
//! `indicator_history` is append-only and survives deletion; alerts and sightings live in
//! the same file ([`detections`]).
//!
//! - [`rows`]: the columns of an indicator and how a row becomes an [`Indicator`](iocd_model::Indicator);
//! - [`odata_sql`]: OData filters and orders rendered as SQL with bound parameters;
//! - [`indicators`]: the indicator store's reads and writes;
//! - [`detections`]: the detection store;
//! - [`apps`]: the application registrations of the token endpoint.

mod apps;
mod bypasses;
mod detections;
pub(crate) use detections::alert_column;
mod device_groups;
mod devices;
mod feeds;
mod indicators;
pub(crate) use indicators::history_state;
mod odata_sql;
mod records;
mod rows;
mod webhooks;

use crate::StoreError;
use iocd_model::Timestamp;
use rows::ACTIVE;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const MIGRATIONS: &[&str] = &[
    include_str!("0001_initial.sql"),
    include_str!("0002_detections.sql"),
    include_str!("0003_apps.sql"),
    include_str!("0004_device_groups.sql"),
    include_str!("0005_alert_context.sql"),
    include_str!("0006_bypasses.sql"),
    include_str!("0007_delivery_and_devices.sql"),
    include_str!("0008_indicators_by_update.sql"),
    include_str!("0009_feeds.sql"),
    include_str!("0010_indicators_by_type.sql"),
    include_str!("0011_records.sql"),
];
const MAX_IDLE_READERS: usize = 8;

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
        owner_only(path).map_err(|e| open_error(e.to_string()))?;
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

/// Makes the database file, and its WAL and shared-memory files if present, readable by
/// their owner only (0600 on Unix), creating the database file that way if it is new: SQLite
/// gives the files it creates later the main file's permissions.
fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
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
/// then id, so lookups by id, and listing a tenant in id order, need no separate index. For
/// ids the store allocated (or the bounds of a range); an id from outside goes through
/// [`row_key_of`].
fn row_key(tenant_no: i64, id: i64) -> i64 {
    (tenant_no << ID_BITS) | (id & crate::MAX_ID)
}

/// The row id of an id a caller names, or `None` if no row can have it: an id outside
/// `1..=MAX_ID` would otherwise alias the one its low bits make.
fn row_key_of(tenant_no: i64, id: i64) -> Option<i64> {
    (1..=crate::MAX_ID)
        .contains(&id)
        .then(|| row_key(tenant_no, id))
}

/// The first and last row ids of a tenant.
fn tenant_rows(tenant_no: i64) -> (i64, i64) {
    (row_key(tenant_no, 0), row_key(tenant_no, crate::MAX_ID))
}

/// A stable 64-bit FNV-1a hash of a normalised value. The key index holds this hash instead
/// of the value, which makes it about five times smaller than an index on the text; lookups
/// compare the value itself too, so collisions cost a row read, never a wrong answer.
/// Persisted: never change this function without a migration that recomputes `value_hash`.
pub(crate) fn value_hash(value: &str) -> i64 {
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
