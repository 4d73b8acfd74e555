//! The PostgreSQL backend: the same stores as SQLite on a database several iocd nodes share.
//!
//! Connections come from a small pool (the traits are synchronous and called on blocking
//! threads, so the synchronous `postgres` client fits; decision 0021). Writes to a tenant's
//! indicators lock the tenant's row first (`SELECT … FOR UPDATE`): id allocation, the upsert
//! key check and the active-indicator cap are then exact across nodes, and the unique index on
//! the key guards what a lock could miss. Reads run in `REPEATABLE READ` transactions, so a
//! page and its count, or a snapshot scan, see one state.
//!
//! Every write transaction appends to the change log ([`ChangeSet`], table `changes`) under a
//! transaction-level advisory lock, so change numbers follow commit order, and notifies
//! `iocd_changes` on commit; [`PgStore::changes_after`] reads the log.
//!
//! - [`rows`]: an indicator's columns and reading a row back;
//! - [`odata_sql`]: OData filters and orders as PostgreSQL with bound parameters;
//! - [`indicators`]: the indicator store;
//! - [`detections`]: alerts and sightings; [`webhooks`]: alert delivery and the outbox;
//! - [`device_groups`], [`bypasses`], [`devices`], [`feeds`] (with the application
//!   registrations): the other stores.

mod bypasses;
mod detections;
mod device_groups;
mod devices;
mod feeds;
mod indicators;
mod odata_sql;
mod records;
pub(crate) mod rows;
mod webhooks;

use crate::StoreError;
use iocd_model::Timestamp;
use postgres::{Client, NoTls, Transaction};
use std::sync::{Mutex, MutexGuard};

const MIGRATIONS: &[&str] = &[
    include_str!("0001_indicators.sql"),
    include_str!("0002_detections_and_registries.sql"),
    include_str!("0003_secrets.sql"),
    include_str!("0004_change_origin.sql"),
    include_str!("0005_records.sql"),
    include_str!("0006_change_log_pruning.sql"),
];
const MAX_IDLE_CONNECTIONS: usize = 8;
/// The advisory lock that orders change numbers (an arbitrary constant: "iocd" in ASCII).
pub(super) const CHANGE_LOCK: i64 = 0x696f_6364;
/// The advisory lock held while migrations run, so nodes starting together migrate once.
const MIGRATION_LOCK: i64 = 0x696f_6364_6d69;
/// The advisory lock the leader holds, for as long as its connection lives.
const LEADER_LOCK: i64 = 0x696f_6364_6c64;
/// The advisory lock held while the oldest records of a kind are trimmed, so that two trims
/// never lock the same rows in different orders.
pub(super) const RECORD_TRIM_LOCK: i64 = 0x696f_6364_7472;
/// The channel `LISTEN` wakes nodes on; the payload is the newest change number.
pub const CHANGE_CHANNEL: &str = "iocd_changes";

/// The stores on one PostgreSQL database, named by a `postgres://` URL.
pub struct PgStore {
    config: postgres::Config,
    idle: Mutex<Vec<Client>>,
    /// This process's name in the change log (`changes.origin`), random per start.
    node: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match error.code() {
            // Validation refuses NUL characters in indicators; this covers every other text
            // a caller hands over (filter literals, comments, names).
            Some(code)
                if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                    || *code == SqlState::UNTRANSLATABLE_CHARACTER =>
            {
                StoreError::Unstorable(
                    "The request holds text that cannot be stored (a NUL character, U+0000)."
                        .to_owned(),
                )
            }
            _ => StoreError::Database(Box::new(error)),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The pool holds connections only; a panic elsewhere cannot leave it inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What one write transaction did to one tenant's indicators, for the change log.
#[derive(Debug)]
pub(crate) struct ChangeSet {
    tenant_no: i64,
    at: Timestamp,
    created: Option<(i64, i64)>,
    changed: Vec<i64>,
    /// Logged even when it names no indicator: the tenant's device groups changed, and the
    /// other nodes must read them again.
    touched: bool,
}

impl ChangeSet {
    fn new(tenant_no: i64, at: Timestamp) -> Self {
        ChangeSet {
            tenant_no,
            at,
            created: None,
            changed: Vec::new(),
            touched: false,
        }
    }

    /// An entry that is logged whatever it names (see [`ChangeSet::touched`]).
    fn touched(tenant_no: i64, at: Timestamp) -> Self {
        ChangeSet {
            touched: true,
            ..ChangeSet::new(tenant_no, at)
        }
    }

    fn created(&mut self, id: i64) {
        self.created = Some(match self.created {
            Some((first, _)) => (first, id),
            None => (id, id),
        });
    }

    fn changed(&mut self, id: i64) {
        self.changed.push(id);
    }

    fn is_empty(&self) -> bool {
        self.created.is_none() && self.changed.is_empty() && !self.touched
    }
}

/// One entry of the change log: what a committed transaction did to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Commit-ordered and gap-free among committed entries only in order, not in value: a
    /// rolled-back transaction may leave a gap.
    pub seq: i64,
    pub tenant: String,
    /// Ids created, `first..=last`, if any.
    pub created: Option<(i64, i64)>,
    /// Ids updated, deleted or expired.
    pub changed: Vec<i64>,
    pub at: Timestamp,
    /// The node that wrote it ([`PgStore::node`]).
    pub origin: String,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings its
    /// schema up to date.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: redacted(url),
            reason,
        };
        let config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| open_error(e.to_string()))?;
        let store = PgStore {
            config,
            idle: Mutex::new(Vec::new()),
            node: node_name(),
        };
        let mut client =
            off_the_runtime(|| store.new_client()).map_err(|e| open_error(e.to_string()))?;
        off_the_runtime(|| migrate(&mut client))?;
        lock(&store.idle).push(client);
        Ok(store)
    }

    /// This process's name in the change log: changes it wrote carry it as their origin.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn new_client(&self) -> Result<Client, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        // The store's statements are short; compiling one costs more than it saves, and the
        // planner's estimates that trigger it are at their worst right after bulk loads
        // (decision 0022).
        client.batch_execute("SET jit = off")?;
        Ok(client)
    }

    /// Runs `f` with a pooled connection; a connection that failed is not returned to the pool.
    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        off_the_runtime(|| self.with_client_here(f))
    }

    fn with_client_here<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.idle).pop();
        let mut client = match pooled {
            Some(client) if !client.is_closed() => client,
            _ => self.new_client()?,
        };
        let result = f(&mut client);
        if !client.is_closed() {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(client);
            }
        }
        result
    }

    /// Runs `f` in a read-only `REPEATABLE READ` transaction: one consistent state.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_client(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let value = f(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// Runs `f` in a read-write transaction and commits it, with the change log entries it
    /// reports.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &mut Vec<ChangeSet>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let mut changes = Vec::new();
            let value = f(&mut tx, &mut changes)?;
            record_changes(&mut tx, &changes, &self.node)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// The change log after `seq`, oldest first, at most `limit` entries.
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT c.seq, t.tenant_id, c.created_first, c.created_last, c.changed_ids, c.at, c.origin
                 FROM changes c JOIN tenants t ON t.tenant_no = c.tenant_no
                 WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
                &[&seq, &(limit.min(i64::MAX as usize) as i64)],
            )?;
            rows.iter()
                .map(|row| {
                    let first: i64 = row.try_get(2)?;
                    let last: i64 = row.try_get(3)?;
                    Ok(Change {
                        seq: row.try_get(0)?,
                        tenant: row.try_get(1)?,
                        created: (first <= last).then_some((first, last)),
                        changed: row.try_get(4)?,
                        at: Timestamp::from_ticks(row.try_get(5)?),
                        origin: row.try_get(6)?,
                    })
                })
                .collect()
        })
    }

    /// Removes the oldest entries of the change log: every entry up to the newest one written
    /// before `before` (a prefix in commit order), and records how far it reached. Returns how
    /// many entries went.
    pub fn prune_changes(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write(|tx, _| {
            let cutoff: Option<i64> = tx
                .query_one(
                    "SELECT max(seq) FROM changes WHERE at < $1",
                    &[&before.ticks()],
                )?
                .try_get(0)?;
            let Some(cutoff) = cutoff else {
                return Ok(0);
            };
            let removed = tx.execute("DELETE FROM changes WHERE seq <= $1", &[&cutoff])?;
            tx.execute(
                "UPDATE change_log_state SET pruned_through = greatest(pruned_through, $1)",
                &[&cutoff],
            )?;
            Ok(removed)
        })
    }

    /// The newest change number the log no longer holds (0 before any pruning): a node whose
    /// watermark is older has missed entries it cannot read.
    pub fn pruned_through(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_one("SELECT pruned_through FROM change_log_state", &[])?
                .try_get(0)?)
        })
    }

    /// The secret stored under `name`, storing `candidate` first if there is none: nodes that
    /// start together agree on one (the first to commit), and every later start reads it.
    pub fn secret_or_insert(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &candidate],
            )?;
            let value: String = tx
                .query_one("SELECT value FROM secrets WHERE name = $1", &[&name])?
                .try_get(0)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// A claim to leadership: the node whose claim holds runs the jobs only one node may run
    /// (expiry sweep, pruning, feed polling, webhook and syslog delivery).
    pub fn leadership(&self) -> Leadership {
        Leadership {
            config: self.config.clone(),
            client: None,
            held: false,
        }
    }

    /// A connection that waits for change notifications ([`CHANGE_CHANNEL`]).
    pub fn listener(&self) -> Result<ChangeListener, StoreError> {
        let mut client = off_the_runtime(|| self.new_client())?;
        off_the_runtime(|| client.batch_execute(&format!("LISTEN {CHANGE_CHANNEL}")))?;
        Ok(ChangeListener { client })
    }

    /// The active indicators of the tenant a change names (its created range and its other
    /// ids); an id not among them was removed (or has expired).
    pub fn changed_indicators(
        &self,
        change: &Change,
        now: Timestamp,
    ) -> Result<Vec<iocd_model::Indicator>, StoreError> {
        let (first, last) = change.created.unwrap_or((1, 0));
        self.read(|tx| {
            let Some(tenant_no) = tenant_no(tx, &change.tenant)? else {
                return Ok(Vec::new());
            };
            let rows = tx.query(
                &format!(
                    "SELECT {} FROM indicators i WHERE i.tenant_no = $1
                       AND (i.expiration_time IS NULL OR i.expiration_time > $2)
                       AND (i.id BETWEEN $3 AND $4 OR i.id = ANY($5))
                     ORDER BY i.id",
                    rows::COLUMNS
                ),
                &[&tenant_no, &now.ticks(), &first, &last, &change.changed],
            )?;
            rows.iter()
                .map(|row| rows::indicator_from_row_at(row, 0))
                .collect()
        })
    }

    /// The newest change number (0 before the first change), pruned or not.
    pub fn last_change(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            let row = tx.query_one(
                "SELECT greatest((SELECT coalesce(max(seq), 0) FROM changes),
                                 (SELECT pruned_through FROM change_log_state))",
                &[],
            )?;
            Ok(row.try_get(0)?)
        })
    }
}

/// Runs `f`, which blocks on the database. The client drives its connection with a runtime of
/// its own, which tokio forbids inside an asynchronous task: on a worker of the server's
/// multi-threaded runtime, `f` runs in `block_in_place` (the worker's other tasks move away);
/// on blocking threads and outside a runtime it simply runs.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A name for this process in the change log: random, so two starts never share one.
fn node_name() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the OS: the process id and the time still tell starts apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A dedicated connection holding (or trying for) the leader's session-level advisory lock.
/// PostgreSQL releases the lock when the connection ends, so a node that dies (or is cut off)
/// loses it, and another node's next [`Leadership::hold`] takes it.
pub struct Leadership {
    config: postgres::Config,
    client: Option<Client>,
    held: bool,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl Leadership {
    /// Whether this node leads now: checks that a held lock's connection still lives, or tries
    /// to take the lock. Call it every second or so.
    pub fn hold(&mut self) -> Result<bool, StoreError> {
        let result = off_the_runtime(|| self.try_hold());
        if result.is_err() {
            // The connection (and with it any lock) is gone; the next call starts over.
            self.client = None;
            self.held = false;
        }
        result
    }

    fn try_hold(&mut self) -> Result<bool, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.config.connect(NoTls)?);
            self.held = false;
        }
        let Some(client) = self.client.as_mut() else {
            return Ok(false);
        };
        if self.held {
            client.batch_execute("SELECT 1")?;
        } else {
            self.held = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])?
                .try_get(0)?;
        }
        Ok(self.held)
    }
}

/// A dedicated connection `LISTEN`ing on [`CHANGE_CHANNEL`]: notifications only wake a node
/// up; what changed is read from the log.
pub struct ChangeListener {
    client: Client,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener").finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// Waits up to `timeout` for a notification; `Ok(true)` if one (or more) came. Fails when
    /// the connection is lost: make a new listener, and read the log from the watermark.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        off_the_runtime(|| {
            let woken = {
                let mut notifications = self.client.notifications();
                let mut woken = notifications.timeout_iter(timeout).next()?.is_some();
                // Drain what else has arrived: one read of the log covers them all.
                while notifications.iter().next()?.is_some() {
                    woken = true;
                }
                woken
            };
            if self.client.is_closed() {
                return Err(StoreError::Open {
                    path: CHANGE_CHANNEL.to_owned(),
                    reason: "the listening connection closed".to_owned(),
                });
            }
            Ok(woken)
        })
    }
}

/// `url` without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let user_info = &url[scheme_end + 3..at];
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let version: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, newer than this iocd knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&((index + 1) as i64)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Appends `changes` to the change log under the advisory lock that orders change numbers,
/// and notifies listeners on commit. The lock is taken last, so transactions serialise only
/// for these few statements and the commit.
fn record_changes(
    tx: &mut Transaction<'_>,
    changes: &[ChangeSet],
    origin: &str,
) -> Result<(), StoreError> {
    let changes: Vec<&ChangeSet> = changes.iter().filter(|c| !c.is_empty()).collect();
    if changes.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGE_LOCK])?;
    let mut newest = 0_i64;
    for change in changes {
        let (first, last) = change.created.unwrap_or((1, 0));
        let row = tx.query_one(
            "INSERT INTO changes (seq, tenant_no, created_first, created_last, changed_ids, at, origin)
             VALUES (nextval('change_numbers'), $1, $2, $3, $4, $5, $6) RETURNING seq",
            &[
                &change.tenant_no,
                &first,
                &last,
                &change.changed,
                &change.at.ticks(),
                &origin,
            ],
        )?;
        newest = row.try_get(0)?;
    }
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANGE_CHANNEL, &newest.to_string()],
    )?;
    Ok(())
}

fn tenant_no(tx: &mut Transaction<'_>, tenant: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT tenant_no FROM tenants WHERE tenant_id = $1",
            &[&tenant],
        )?
        .map(|row| row.try_get(0))
        .transpose()?)
}

/// The tenant's number, creating the tenant if needed (without locking it).
fn ensure_tenant(tx: &mut Transaction<'_>, tenant: &str) -> Result<i64, StoreError> {
    if let Some(number) = tenant_no(tx, tenant)? {
        return Ok(number);
    }
    tx.execute(
        "INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING",
        &[&tenant],
    )?;
    let row = tx.query_one(
        "SELECT tenant_no FROM tenants WHERE tenant_id = $1",
        &[&tenant],
    )?;
    Ok(row.try_get(0)?)
}

/// The tenant's number, creating the tenant if needed, with its row locked until the
/// transaction ends: writes to one tenant's indicators are serialised across nodes.
fn lock_tenant(tx: &mut Transaction<'_>, tenant: &str) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING",
        &[&tenant],
    )?;
    let row = tx.query_one(
        "SELECT tenant_no FROM tenants WHERE tenant_id = $1 FOR UPDATE",
        &[&tenant],
    )?;
    Ok(row.try_get(0)?)
}

fn count_active_in(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let count: i64 = tx
        .query_one(
            "SELECT count(*) FROM indicators i WHERE i.tenant_no = $1
               AND (i.expiration_time IS NULL OR i.expiration_time > $2)",
            &[&tenant_no, &now.ticks()],
        )?
        .try_get(0)?;
    Ok(count as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgres://iocd:s3cret@db.example:5432/iocd"),
            "postgres://iocd@db.example:5432/iocd"
        );
        assert_eq!(
            redacted("postgres://iocd@db.example/iocd"),
            "postgres://iocd@db.example/iocd"
        );
        assert_eq!(redacted("host=db user=iocd"), "host=db user=iocd");
    }
}
