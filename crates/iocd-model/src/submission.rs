//! Indicator submissions as clients send them: every field kept as raw JSON, so validation
//! can name the field that is wrong.

use serde_json::Value;

/// One indicator as a client submits it (`POST /api/indicators`, an item of an import, a CSV
/// row, an NDJSON line). Every field is kept as raw JSON so validation can name the field that
/// is wrong instead of failing the whole body on a type mismatch. Unknown fields are ignored.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
#[schema(as = IndicatorRequest)]
pub struct IndicatorSubmission {
    /// Hash, IP address (CIDR allowed unless strict), domain, URL or certificate thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub indicator_value: Option<Value>,
    /// FileSha1, FileSha256, FileMd5, CertificateThumbprint, IpAddress, DomainName or Url.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub indicator_type: Option<Value>,
    /// Allowed, Audit, Warn, Block or BlockAndRemediate (legacy Alert and AlertAndBlock
    /// accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub action: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub title: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub description: Option<Value>,
    /// Honoured on create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub application: Option<Value>,
    /// ISO 8601; in the future; truncated to the second.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expiration_time: Option<Value>,
    /// Informational (the default), Low, Medium or High.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub severity: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub recommended_actions: Option<Value>,
    /// Device groups (an array, or one comma-separated string); empty means all devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub rbac_group_names: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<i64>>)]
    pub rbac_group_ids: Option<Value>,
    /// Must be true for Audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub generate_alert: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub educate_url: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Value>,
    /// A category number (1-18) or PascalCase name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub category: Option<Value>,
    /// ATT&CK technique ids such as T1046 or T1059.001.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub mitre_techniques: Option<Value>,
    /// 0 to 87,600.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub bypass_duration_hours: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub notification_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub notification_body: Option<Value>,
    /// Honoured on create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub version: Option<Value>,
    /// A JSON object, kept as given; honoured on create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub certificate_info: Option<Value>,
    /// Hunt past sightings when written (retro-hunting).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub historical_detection: Option<Value>,
    /// How far back to hunt: an ISO 8601 duration (P30D), a .NET time span (30.00:00:00)
    /// or a number of days.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub look_back_period: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
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
