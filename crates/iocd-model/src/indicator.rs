//! Validated indicators: the spec a write carries and the stored indicator with its identity
//! and bookkeeping, which serialises to MDE's entity.

use crate::{Action, Category, IndicatorType, IndicatorValue, LookBackPeriod, Severity, Timestamp};
use serde::ser::SerializeMap;

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

/// A stored indicator: the spec plus identity and bookkeeping. Serialises to MDE's entity
/// shape, every property present, in the order a real MDE response uses.
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

impl Indicator {
    /// The entity's JSON properties, in the order they are serialised (a real MDE response's
    /// order).
    pub const PROPERTIES: [&'static str; 31] = [
        "id",
        "indicatorValue",
        "indicatorType",
        "action",
        "createdBy",
        "severity",
        "category",
        "application",
        "educateUrl",
        "bypassDurationHours",
        "title",
        "description",
        "recommendedActions",
        "creationTimeDateTimeUtc",
        "expirationTime",
        "lastUpdateTime",
        "lastUpdatedBy",
        "rbacGroupNames",
        "rbacGroupIds",
        "notificationId",
        "notificationBody",
        "version",
        "mitreTechniques",
        "historicalDetection",
        "lookBackPeriod",
        "generateAlert",
        "additionalInfo",
        "createdByDisplayName",
        "externalId",
        "createdBySource",
        "certificateInfo",
    ];
}

impl serde::Serialize for Indicator {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = &self.spec;
        let mut map = serializer.serialize_map(Some(31))?;
        map.serialize_entry("id", &self.id.to_string())?;
        map.serialize_entry("indicatorValue", &s.value)?;
        map.serialize_entry("indicatorType", &s.indicator_type())?;
        map.serialize_entry("action", &s.action)?;
        map.serialize_entry("createdBy", &self.created_by)?;
        map.serialize_entry("severity", &s.severity)?;
        map.serialize_entry("category", &s.category.number())?;
        map.serialize_entry("application", &s.application)?;
        map.serialize_entry("educateUrl", &s.educate_url)?;
        map.serialize_entry("bypassDurationHours", &s.bypass_duration_hours)?;
        map.serialize_entry("title", &s.title)?;
        map.serialize_entry("description", &s.description)?;
        map.serialize_entry("recommendedActions", &s.recommended_actions)?;
        map.serialize_entry(
            "creationTimeDateTimeUtc",
            &self.creation_time.to_mde_precise(),
        )?;
        map.serialize_entry(
            "expirationTime",
            &s.expiration_time.map(Timestamp::to_mde_seconds),
        )?;
        map.serialize_entry("lastUpdateTime", &self.last_update_time.to_mde_precise())?;
        map.serialize_entry("lastUpdatedBy", &self.last_updated_by)?;
        map.serialize_entry("rbacGroupNames", &s.rbac_group_names)?;
        map.serialize_entry("rbacGroupIds", &s.rbac_group_ids)?;
        map.serialize_entry("notificationId", &s.notification_id)?;
        map.serialize_entry("notificationBody", &s.notification_body)?;
        map.serialize_entry("version", &s.version)?;
        map.serialize_entry("mitreTechniques", &s.mitre_techniques)?;
        map.serialize_entry("historicalDetection", &s.historical_detection)?;
        map.serialize_entry("lookBackPeriod", &s.look_back_period)?;
        map.serialize_entry("generateAlert", &s.generate_alert)?;
        map.serialize_entry("additionalInfo", &s.additional_info)?;
        map.serialize_entry("createdByDisplayName", &self.created_by_display_name)?;
        map.serialize_entry("externalId", &s.external_id)?;
        map.serialize_entry("createdBySource", &self.created_by_source)?;
        map.serialize_entry("certificateInfo", &s.certificate_info)?;
        map.end()
    }
}
