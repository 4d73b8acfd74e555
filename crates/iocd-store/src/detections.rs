//! Storage for the detection engine: alerts (with folding of repeated hits) and the sightings
//! index of observables seen in events, which retro-hunting searches.

use crate::{ListQuery, StoreError};
use iocd_model::Timestamp;

/// The device an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceRef {
    pub id: String,
    pub name: Option<String>,
    pub group: Option<String>,
}

/// One match that should raise (or fold into) an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertHit {
    pub indicator_id: i64,
    pub device: DeviceRef,
    pub event_time: Timestamp,
    /// What was seen; kept (at most [`MAX_EVIDENCE`] items per alert) as the alert's evidence.
    pub evidence: serde_json::Value,
}

/// Where one hit went: the alert it raised or folded into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedHit {
    pub alert_id: i64,
    /// Whether the hit raised a new alert (rather than folding into one).
    pub created: bool,
}

/// Most evidence items one alert keeps; later hits only count.
pub const MAX_EVIDENCE: usize = 10;

/// Hits of one indicator on one device fold into one alert while its events span less than
/// this (24 hours, in ticks).
pub const FOLD_WINDOW_TICKS: i64 = 24 * 3600 * 10_000_000;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(text))
            }
        }
    };
}

wire_enum!(
    /// An alert's workflow status (MDE's values).
    AlertStatus { New, InProgress, Resolved }
);

wire_enum!(
    /// An analyst's classification of an alert (MDE's values).
    AlertClassification { TruePositive, InformationalExpectedActivity, FalsePositive }
);

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: i64,
    pub indicator_id: i64,
    pub indicator_type: String,
    pub indicator_value: String,
    pub action: String,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub category: String,
    pub recommended_actions: Option<String>,
    pub detection_source: String,
    pub device: DeviceRef,
    pub first_event_time: Timestamp,
    pub last_event_time: Timestamp,
    pub event_count: i64,
    pub status: AlertStatus,
    pub classification: Option<AlertClassification>,
    pub assigned_to: Option<String>,
    pub creation_time: Timestamp,
    pub last_update_time: Timestamp,
    pub evidence: Vec<serde_json::Value>,
    /// The indicator's MITRE ATT&CK techniques.
    pub mitre_techniques: Vec<String>,
    /// Analysts' comments, oldest first.
    pub comments: Vec<AlertComment>,
}

/// A comment on an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertComment {
    pub comment: String,
    pub created_by: String,
    pub created_time: Timestamp,
}

/// A change to an alert; `None` leaves a property alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertUpdate {
    pub status: Option<AlertStatus>,
    pub classification: Option<Option<AlertClassification>>,
    pub assigned_to: Option<Option<String>>,
    /// A comment to add, with its author.
    pub comment: Option<(String, String)>,
}

/// One page of alerts.
#[derive(Debug, Clone)]
pub struct AlertPage {
    pub items: Vec<Alert>,
    pub count: Option<u64>,
    pub has_more: bool,
}

/// What kind of value a sighting records; each kind has its own key format (see
/// [`Sighting::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SightingKind {
    Sha256,
    Sha1,
    Md5,
    Certificate,
    /// Key: the address as 32 hex digits of its IPv6 form (IPv4 mapped), so CIDR ranges are
    /// key ranges.
    Ip,
    /// Key: the host's labels in reverse order (`com.example.www`), so a domain and all its
    /// subdomains are one key range.
    Domain,
    /// Key: host, path without trailing slash, then `?query`, as the engine keys URLs.
    Url,
}

impl SightingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SightingKind::Sha256 => "sha256",
            SightingKind::Sha1 => "sha1",
            SightingKind::Md5 => "md5",
            SightingKind::Certificate => "cert",
            SightingKind::Ip => "ip",
            SightingKind::Domain => "domain",
            SightingKind::Url => "url",
        }
    }

    pub fn parse(text: &str) -> Option<SightingKind> {
        [
            SightingKind::Sha256,
            SightingKind::Sha1,
            SightingKind::Md5,
            SightingKind::Certificate,
            SightingKind::Ip,
            SightingKind::Domain,
            SightingKind::Url,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One observable seen on one device, first and last time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub kind: SightingKind,
    /// The searchable key (see [`SightingKind`]).
    pub key: String,
    /// The value as it should be shown and matched again (hex hash, address, host, URL).
    pub display: String,
    pub device: DeviceRef,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// Which sightings a retro-hunt wants: keys equal to one of `exact` or inside one of the
/// half-open `ranges`, last seen at or after `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightingQuery {
    pub kind: SightingKind,
    pub exact: Vec<String>,
    pub ranges: Vec<(String, String)>,
    pub since: Timestamp,
    pub limit: usize,
}

/// Alert and sighting storage. Like [`crate::IndicatorStore`], every method is atomic and
/// durable when it returns `Ok`.
pub trait DetectionStore: Send + Sync + std::fmt::Debug {
    /// Records hits: each folds into the alert of the same indicator and device whose events,
    /// with this one, span less than 24 hours, or creates an alert carrying the indicator's
    /// title, description, severity, category and recommended actions. Returns the alert
    /// per hit, `None` where the indicator no longer exists.
    fn record_hits(
        &self,
        tenant: &str,
        hits: &[AlertHit],
        now: Timestamp,
    ) -> Result<Vec<Option<RecordedHit>>, StoreError>;

    /// Lists alerts; the query's filter and order use alert properties
    /// ([`crate::odata::Entity::Alert`]). Default order: id ascending.
    fn list_alerts(&self, tenant: &str, query: &ListQuery) -> Result<AlertPage, StoreError>;

    fn get_alert(&self, tenant: &str, id: i64) -> Result<Option<Alert>, StoreError>;

    /// Applies `update`; `None` if the alert does not exist.
    fn update_alert(
        &self,
        tenant: &str,
        id: i64,
        update: &AlertUpdate,
        now: Timestamp,
    ) -> Result<Option<Alert>, StoreError>;

    /// Inserts sightings or widens the first/last-seen times of existing ones.
    fn record_sightings(&self, tenant: &str, sightings: &[Sighting]) -> Result<(), StoreError>;

    fn find_sightings(
        &self,
        tenant: &str,
        query: &SightingQuery,
    ) -> Result<Vec<Sighting>, StoreError>;

    /// Deletes sightings last seen before `before`; returns how many.
    fn sweep_sightings(&self, before: Timestamp) -> Result<usize, StoreError>;
}

/// An alert comment as both SQL backends keep it in the alert's `comments` JSON column.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredComment {
    pub(crate) comment: String,
    pub(crate) created_by: String,
    /// 100 ns ticks since the Unix epoch.
    pub(crate) created_time: i64,
}
