//! The bodies of the alert routes: MDE's alert entity (plus the indicator that raised it),
//! alone or in a page, and the update an analyst sends.

use iocd_store::detections::{Alert, AlertClassification};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

/// An alert raised by a custom indicator: MDE's alert properties, then the indicator's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Alert)]
pub struct AlertEntity {
    pub id: String,
    /// Always `null`: iocd has no incidents.
    #[schema(value_type = Option<String>)]
    pub incident_id: Option<String>,
    pub assigned_to: Option<String>,
    /// The indicator's severity.
    pub severity: String,
    /// New, InProgress or Resolved.
    pub status: String,
    /// TruePositive, InformationalExpectedActivity or FalsePositive.
    pub classification: Option<String>,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub determination: Option<String>,
    /// Always CustomerTI.
    pub detection_source: String,
    /// The indicator's category name.
    pub category: String,
    pub title: String,
    pub description: String,
    pub recommended_actions: Option<String>,
    pub alert_creation_time: String,
    pub first_event_time: String,
    pub last_event_time: String,
    pub last_update_time: String,
    pub machine_id: String,
    pub computer_dns_name: Option<String>,
    pub rbac_group_name: Option<String>,
    pub indicator_id: String,
    pub indicator_value: String,
    pub indicator_type: String,
    pub action: String,
    /// Events folded into this alert (one alert per indicator, device and 24 hours).
    pub event_count: i64,
    /// Up to 10 of the observations, as JSON objects.
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
    pub machine_group: Option<String>,
    /// The indicator's MITRE ATT&CK techniques.
    pub mitre_techniques: Vec<String>,
    /// Analysts' comments, oldest first.
    pub comments: Vec<AlertCommentEntity>,
}

/// A comment on an alert, as MDE's alert entity writes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertCommentEntity {
    pub comment: String,
    pub created_by: String,
    pub created_time: String,
}

impl AlertEntity {
    /// Every property, in the order they are written.
    pub const PROPERTIES: [&'static str; 28] = [
        "id",
        "incidentId",
        "assignedTo",
        "severity",
        "status",
        "classification",
        "determination",
        "detectionSource",
        "category",
        "title",
        "description",
        "recommendedActions",
        "alertCreationTime",
        "firstEventTime",
        "lastEventTime",
        "lastUpdateTime",
        "machineId",
        "computerDnsName",
        "rbacGroupName",
        "indicatorId",
        "indicatorValue",
        "indicatorType",
        "action",
        "eventCount",
        "evidence",
        "machineGroup",
        "mitreTechniques",
        "comments",
    ];
}

impl From<&Alert> for AlertEntity {
    fn from(alert: &Alert) -> Self {
        AlertEntity {
            id: alert.id.to_string(),
            incident_id: None,
            assigned_to: alert.assigned_to.clone(),
            severity: alert.severity.clone(),
            status: alert.status.as_str().to_owned(),
            classification: alert
                .classification
                .map(|c| AlertClassification::as_str(c).to_owned()),
            determination: None,
            detection_source: alert.detection_source.clone(),
            category: alert.category.clone(),
            title: alert.title.clone(),
            description: alert.description.clone(),
            recommended_actions: alert.recommended_actions.clone(),
            alert_creation_time: alert.creation_time.to_mde_precise(),
            first_event_time: alert.first_event_time.to_mde_precise(),
            last_event_time: alert.last_event_time.to_mde_precise(),
            last_update_time: alert.last_update_time.to_mde_precise(),
            machine_id: alert.device.id.clone(),
            computer_dns_name: alert.device.name.clone(),
            rbac_group_name: alert.device.group.clone(),
            indicator_id: alert.indicator_id.to_string(),
            indicator_value: alert.indicator_value.clone(),
            indicator_type: alert.indicator_type.clone(),
            action: alert.action.clone(),
            event_count: alert.event_count,
            evidence: alert.evidence.clone(),
            machine_group: alert.device.group.clone(),
            mitre_techniques: alert.mitre_techniques.clone(),
            comments: alert
                .comments
                .iter()
                .map(|c| AlertCommentEntity {
                    comment: c.comment.clone(),
                    created_by: c.created_by.clone(),
                    created_time: c.created_time.to_mde_precise(),
                })
                .collect(),
        }
    }
}

/// One alert, as `GET` and `PATCH /api/alerts/{id}` answer it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub alert: AlertEntity,
}

/// An alert reduced to the properties `$select` names (every property without it).
#[derive(Debug)]
pub struct AlertSelection;

impl PartialSchema for AlertSelection {
    fn schema() -> RefOr<Schema> {
        super::none_required(AlertEntity::schema())
    }
}

impl ToSchema for AlertSelection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        AlertEntity::schemas(schemas);
    }
}

/// A page of `GET /api/alerts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertPage {
    #[serde(rename = "@odata.context")]
    pub context: String,
    /// Present when `$count=true`.
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[schema(value_type = Vec<AlertSelection>)]
    pub value: Vec<Map<String, Value>>,
    /// Present when more results follow.
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// `PATCH /api/alerts/{id}`: give at least one property; `null` clears classification and
/// assignedTo.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertPatch {
    /// New, InProgress or Resolved.
    #[serde(default)]
    pub status: Option<String>,
    /// TruePositive, InformationalExpectedActivity or FalsePositive, or `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub classification: Option<Option<String>>,
    /// At most 256 characters, or `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assigned_to: Option<Option<String>>,
    /// A comment to add (at most 10,000 characters); kept with its author and time.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A property that is present: `Some(None)` for an explicit `null`, unlike an absent one.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
