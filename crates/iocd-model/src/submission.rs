//! Indicator submissions as clients send them: every field kept as raw JSON, so validation
//! can name the field that is wrong.

use serde_json::Value;

/// One indicator as a client submits it (`POST /api/indicators`, an item of an import, a CSV
/// row, an NDJSON line). Every field is kept as raw JSON so validation can name the field that
/// is wrong instead of failing the whole body on a type mismatch. Unknown fields are ignored.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IndicatorSubmission {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator_value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator_type: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_actions: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac_group_names: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac_group_ids: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_alert: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub educate_url: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mitre_techniques: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_duration_hours: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_info: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub historical_detection: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub look_back_period: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<Value>,
}

impl IndicatorSubmission {
    /// The submitted `indicatorValue` as text, for echoing in per-item results.
    pub fn value_text(&self) -> Option<String> {
        match &self.indicator_value {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => None,
        }
    }
}
