//! Small documents that every node must see alike: a feed's last run and cursor, a request to
//! run a feed now, the status resource of a TAXII `POST`. Each is JSON the server writes and
//! reads whole; the store only keys, replaces, lists, takes and trims them.

use crate::StoreError;
use iocd_model::Timestamp;

/// What a record is for; records of different kinds never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A feed's last run, its cursor and when it next runs (written by the leader).
    FeedRun,
    /// `POST /api/feeds/{name}/run` on any node, taken by the leader.
    FeedRunRequest,
    /// The status resource of a TAXII `POST …/objects/`, read back by `GET …/status/{id}/`.
    TaxiiStatus,
}

impl RecordKind {
    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::FeedRun => "feed-run",
            RecordKind::FeedRunRequest => "feed-run-request",
            RecordKind::TaxiiStatus => "taxii-status",
        }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub kind: RecordKind,
    pub tenant: String,
    pub name: String,
    /// The document, as JSON.
    pub body: String,
    pub updated: Timestamp,
}

/// Storage of [`StoredRecord`]s.
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// Writes `record`, replacing the one of the same kind, tenant and name; then, with
    /// `keep`, removes the oldest records of its kind (by `updated`) beyond that many.
    fn put_record(&self, record: &StoredRecord, keep: Option<usize>) -> Result<(), StoreError>;

    /// The record of that kind, tenant and name.
    fn record(
        &self,
        kind: RecordKind,
        tenant: &str,
        name: &str,
    ) -> Result<Option<StoredRecord>, StoreError>;

    /// Every record of a kind, by tenant and name.
    fn records(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, StoreError>;

    /// Removes and returns every record of a kind, by tenant and name: of callers taking at
    /// the same time, each record goes to exactly one.
    fn take_records(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, StoreError>;

    /// Removes a record; `false` if there was none.
    fn delete_record(&self, kind: RecordKind, tenant: &str, name: &str)
    -> Result<bool, StoreError>;
}
