//! Validated indicators: the spec a write carries and the stored indicator with its identity
//! and bookkeeping.

use crate::{Action, Category, IndicatorType, IndicatorValue, LookBackPeriod, Severity, Timestamp};

/// A validated, normalised indicator as it is written to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSpec {
    /// The parsed, normalised value; its variant is the indicator type (see
    /// `docs/normalisation.md`).
    pub value: IndicatorValue,
    pub action: Action,
    pub title: String,
    pub description: String,
    pub application: Option<String>,
    /// Truncated to whole seconds.
    pub expiration_time: Option<Timestamp>,
    pub severity: Severity,
    pub recommended_actions: Option<String>,
    pub rbac_group_names: Vec<String>,
    pub rbac_group_ids: Vec<i64>,
    pub generate_alert: bool,
    pub educate_url: Option<String>,
    pub external_id: Option<String>,
    pub category: Category,
    pub mitre_techniques: Vec<String>,
    pub bypass_duration_hours: Option<i64>,
    pub notification_id: Option<String>,
    pub notification_body: Option<String>,
    pub version: Option<String>,
    /// Opaque to iocd (MDE documents no schema): a JSON object, kept as given.
    pub certificate_info: Option<serde_json::Map<String, serde_json::Value>>,
    pub historical_detection: bool,
    pub look_back_period: Option<LookBackPeriod>,
    pub additional_info: Option<String>,
}

impl IndicatorSpec {
    pub fn indicator_type(&self) -> IndicatorType {
        self.value.indicator_type()
    }
}

/// A stored indicator: the spec plus identity and bookkeeping. On the wire it is an
/// [`IndicatorEntity`](crate::IndicatorEntity).
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// Sequential per tenant; rendered as a string.
    pub id: i64,
    pub spec: IndicatorSpec,
    pub created_by: String,
    pub created_by_display_name: String,
    pub created_by_source: String,
    pub creation_time: Timestamp,
    pub last_update_time: Timestamp,
    pub last_updated_by: Option<String>,
}
