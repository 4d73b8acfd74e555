//! Indicator storage for iocd: the [`IndicatorStore`] trait every backend implements, the OData
//! query AST the list operation takes, the SQLite and PostgreSQL backends, and a conformance
//! suite that every backend passes.
//!
//! The store knows nothing of HTTP or tokens: callers pass the tenant, the acting principal and
//! the current time. Methods are synchronous; async callers run them on a blocking thread.

pub mod apps;
pub mod bypasses;
#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod detections;
pub mod device_groups;
pub mod devices;
pub mod feeds;
pub mod odata;
mod postgres;
pub mod records;
mod row_format;
#[cfg(feature = "testsuite")]
pub mod scratch;
mod sqlite;
pub mod webhooks;

pub use postgres::{
    CHANGE_CHANNEL, Change, ChangeListener, Leadership, PgStore, redacted as redacted_url,
};
pub use sqlite::SqliteStore;

use iocd_model::{ErrorCode, Indicator, IndicatorSpec, IndicatorType, Timestamp};

/// The largest indicator or alert id a store allocates: ids run from 1 to this (2^40 - 1, a
/// trillion per tenant). An id outside that range names nothing.
pub const MAX_ID: i64 = (1 << 40) - 1;

/// Who is writing: becomes `createdBy`, `createdByDisplayName`, `createdBySource` on create and
/// `lastUpdatedBy` on update, and is recorded in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The application (client) id, or a user principal name.
    pub id: String,
    pub display_name: String,
    /// The channel, as MDE reports it: `PublicApi` for API clients.
    pub source: String,
}

/// Which indicators of a tenant the caller may see and change (MDE's `Ti.ReadWrite` sees only
/// what its own application created; the `.All` roles see everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    CreatedBy(String),
}

impl Visibility {
    pub fn allows(&self, created_by: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::CreatedBy(owner) => owner == created_by,
        }
    }
}

/// Context of a write.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub now: Timestamp,
    pub visibility: Visibility,
    /// The tenant's cap on active indicators; `None` for no cap.
    pub max_active: Option<u64>,
}

/// What happened to one item of an upsert batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created(i64),
    Updated(i64),
    Failed { code: ErrorCode, message: String },
}

impl UpsertOutcome {
    pub fn id(&self) -> Option<i64> {
        match self {
            UpsertOutcome::Created(id) | UpsertOutcome::Updated(id) => Some(*id),
            UpsertOutcome::Failed { .. } => None,
        }
    }
}

/// A list request after parsing: filter, order, page.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<odata::Filter>,
    /// Empty means `id` ascending.
    pub order_by: Vec<odata::OrderKey>,
    pub top: u32,
    pub skip: u64,
    /// Keyset paging for the default order: only ids greater than this (`$skiptoken`).
    pub after_id: Option<i64>,
    pub count: bool,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Indicator>,
    /// The number of matching indicators, when the query asked for it.
    pub count: Option<u64>,
    /// Whether more matching indicators follow this page.
    pub has_more: bool,
}

/// The result of deleting a set of ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted(u64),
    /// Nothing was deleted because these ids do not exist (or are not visible to the caller).
    NotFound(Vec<i64>),
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryOp {
    Create,
    Update,
    Delete,
    Expire,
    /// A user chose to continue past a `Warn` on one device.
    Bypass,
}

impl HistoryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryOp::Create => "create",
            HistoryOp::Update => "update",
            HistoryOp::Delete => "delete",
            HistoryOp::Expire => "expire",
            HistoryOp::Bypass => "bypass",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            HistoryOp::Create,
            HistoryOp::Update,
            HistoryOp::Delete,
            HistoryOp::Expire,
            HistoryOp::Bypass,
        ]
        .into_iter()
        .find(|op| op.as_str() == text)
    }
}

/// One change of one indicator, with the indicator as it was before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub sequence: i64,
    pub op: HistoryOp,
    pub at: Timestamp,
    /// `None` for expiry, which the system does.
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub before: Option<Indicator>,
    pub after: Option<Indicator>,
}

/// Active indicators of one tenant and type, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    pub tenant: String,
    pub indicator_type: IndicatorType,
    pub count: u64,
}

/// Why a store call failed. Backend-neutral: a backend turns its own errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the operation (the backend's own error inside).
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The caller's data cannot be stored as given (text PostgreSQL refuses, such as a NUL
    /// character); the caller's fault, not the store's.
    #[error("{0}")]
    Unstorable(String),
}

/// The reads of indicators. Every method sees one consistent state of the store.
///
/// Expired indicators (whose `expirationTime` is at or before `now`) are invisible to every
/// read and count from that instant, whether or not the sweeper has deleted them yet.
pub trait IndicatorReader: Send + Sync + std::fmt::Debug {
    fn get(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Option<Indicator>, StoreError>;

    fn list(
        &self,
        tenant: &str,
        query: &ListQuery,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<ListPage, StoreError>;

    /// The change history of one indicator, oldest first; `None` if the id never existed (or
    /// belongs to another application under [`Visibility::CreatedBy`]). Kept after deletion.
    fn history(
        &self,
        tenant: &str,
        id: i64,
        visibility: &Visibility,
    ) -> Result<Option<Vec<HistoryEntry>>, StoreError>;

    /// Active indicators of one tenant.
    fn count_active(&self, tenant: &str, now: Timestamp) -> Result<u64, StoreError>;

    /// Active indicators per tenant and type.
    fn count_by_type(&self, now: Timestamp) -> Result<Vec<TypeCount>, StoreError>;

    /// How many bytes the store takes on disk, if it knows.
    fn storage_bytes(&self) -> Option<u64> {
        None
    }

    /// Calls `visit` with every active indicator of every tenant, from one consistent
    /// snapshot, tenant by tenant in id order (used to load the matching engine at start).
    fn scan_active(
        &self,
        now: Timestamp,
        visit: &mut dyn FnMut(&str, Indicator),
    ) -> Result<(), StoreError>;
}

/// The storage operations iocd needs: the reads, and the writes. Every method is atomic: it
/// commits entirely or not at all, and a method that returned `Ok` has its effect on durable
/// storage.
pub trait IndicatorStore: IndicatorReader {
    /// Creates or updates each spec. The key is (tenant, type, normalised value, action); an
    /// existing indicator with that key is updated in place (`application`, `version` and
    /// `certificateInfo` keep their first value). Results are in input order; one item failing
    /// (quota, another application's indicator) does not fail the others.
    fn upsert_batch(
        &self,
        tenant: &str,
        actor: &Actor,
        specs: &[IndicatorSpec],
        context: &WriteContext,
    ) -> Result<Vec<UpsertOutcome>, StoreError>;

    /// Deletes all of `ids` or, if any is missing or invisible, none of them.
    fn delete(
        &self,
        tenant: &str,
        ids: &[i64],
        actor: &Actor,
        context: &WriteContext,
    ) -> Result<DeleteOutcome, StoreError>;

    /// Deletes up to `limit` indicators whose expiry is at or before `now`, recording an
    /// `expire` history entry for each; returns how many it deleted.
    fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError>;
}
