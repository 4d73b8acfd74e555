//! MDE's indicator entity as it travels: every property present, `null` when unset, in the
//! order a real MDE response uses. The API answers with it, the history keeps it, and clients
//! (the CLI) read it back into an [`Indicator`].

use crate::{
    Action, Category, ErrorCode, Indicator, IndicatorSpec, IndicatorType, IndicatorValue,
    LookBackPeriod, Severity, Timestamp, ValidationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A stored indicator in MDE's shape. Reading one, absent lists and flags are empty and
/// false, absent optional properties `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Indicator)]
pub struct IndicatorEntity {
    /// Sequential per tenant.
    pub id: String,
    /// The normalised value (see docs/normalisation.md).
    pub indicator_value: String,
    pub indicator_type: IndicatorType,
    pub action: Action,
    /// The application (client) id that created it.
    pub created_by: String,
    pub severity: Severity,
    /// The alert category's number, 1 to 18 (decision 0003).
    #[schema(minimum = 1, maximum = 18)]
    pub category: u8,
    pub application: Option<String>,
    pub educate_url: Option<String>,
    pub bypass_duration_hours: Option<i64>,
    pub title: String,
    pub description: String,
    pub recommended_actions: Option<String>,
    /// UTC, with seven fractional digits.
    pub creation_time_date_time_utc: String,
    /// UTC, whole seconds.
    pub expiration_time: Option<String>,
    pub last_update_time: String,
    pub last_updated_by: Option<String>,
    /// Device groups; empty means all devices.
    #[serde(default)]
    pub rbac_group_names: Vec<String>,
    #[serde(default)]
    pub rbac_group_ids: Vec<i64>,
    pub notification_id: Option<String>,
    pub notification_body: Option<String>,
    pub version: Option<String>,
    #[serde(default)]
    pub mitre_techniques: Vec<String>,
    #[serde(default)]
    pub historical_detection: bool,
    /// An ISO 8601 duration such as `P30D`.
    #[serde(default, deserialize_with = "look_back_from_any")]
    #[schema(value_type = Option<String>)]
    pub look_back_period: Option<LookBackPeriod>,
    #[serde(default)]
    pub generate_alert: bool,
    pub additional_info: Option<String>,
    pub created_by_display_name: String,
    pub external_id: Option<String>,
    /// `PublicApi` for API clients.
    pub created_by_source: String,
    /// Opaque: kept as given at creation.
    #[serde(default, deserialize_with = "certificate_info_from_any")]
    #[schema(value_type = Option<Object>)]
    pub certificate_info: Option<Map<String, Value>>,
    /// (iocd) The known-good warninglists this indicator would block something on, when the
    /// server flags them (`[warninglists] mode = "flag"`); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warninglists: Vec<String>,
}

impl IndicatorEntity {
    /// The entity's JSON properties, in the order they are serialised.
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

    /// Reads the entity back into an indicator, parsing its value and times as validation
    /// would (extensions allowed: what a server returns, it accepted).
    pub fn into_indicator(self) -> Result<Indicator, ValidationError> {
        let bad = |field: &'static str, text: &str| {
            ValidationError::new(
                ErrorCode::InvalidInput,
                field,
                format!("{field} {text:?} is not valid."),
            )
        };
        let time = |field: &'static str, text: &str| {
            Timestamp::parse(text).ok_or_else(|| bad(field, text))
        };
        let id = self.id.parse::<i64>().map_err(|_| bad("id", &self.id))?;
        let value = IndicatorValue::parse(self.indicator_type, &self.indicator_value, true)?;
        let expiration_time = self
            .expiration_time
            .as_deref()
            .map(|text| time("expirationTime", text))
            .transpose()?;
        let category = Category::from_number(i64::from(self.category))
            .ok_or_else(|| bad("category", &self.category.to_string()))?;
        Ok(Indicator {
            id,
            creation_time: time("creationTimeDateTimeUtc", &self.creation_time_date_time_utc)?,
            last_update_time: time("lastUpdateTime", &self.last_update_time)?,
            created_by: self.created_by,
            created_by_display_name: self.created_by_display_name,
            created_by_source: self.created_by_source,
            last_updated_by: self.last_updated_by,
            spec: IndicatorSpec {
                value,
                action: self.action,
                title: self.title,
                description: self.description,
                application: self.application,
                expiration_time,
                severity: self.severity,
                recommended_actions: self.recommended_actions,
                rbac_group_names: self.rbac_group_names,
                rbac_group_ids: self.rbac_group_ids,
                generate_alert: self.generate_alert,
                educate_url: self.educate_url,
                external_id: self.external_id,
                category,
                mitre_techniques: self.mitre_techniques,
                bypass_duration_hours: self.bypass_duration_hours,
                notification_id: self.notification_id,
                notification_body: self.notification_body,
                version: self.version,
                certificate_info: self.certificate_info,
                historical_detection: self.historical_detection,
                look_back_period: self.look_back_period,
                additional_info: self.additional_info,
            },
        })
    }
}

impl From<&Indicator> for IndicatorEntity {
    fn from(indicator: &Indicator) -> Self {
        let s = &indicator.spec;
        IndicatorEntity {
            id: indicator.id.to_string(),
            indicator_value: s.value.to_string(),
            indicator_type: s.indicator_type(),
            action: s.action,
            created_by: indicator.created_by.clone(),
            severity: s.severity,
            category: s.category.number(),
            application: s.application.clone(),
            educate_url: s.educate_url.clone(),
            bypass_duration_hours: s.bypass_duration_hours,
            title: s.title.clone(),
            description: s.description.clone(),
            recommended_actions: s.recommended_actions.clone(),
            creation_time_date_time_utc: indicator.creation_time.to_mde_precise(),
            expiration_time: s.expiration_time.map(Timestamp::to_mde_seconds),
            last_update_time: indicator.last_update_time.to_mde_precise(),
            last_updated_by: indicator.last_updated_by.clone(),
            rbac_group_names: s.rbac_group_names.clone(),
            rbac_group_ids: s.rbac_group_ids.clone(),
            notification_id: s.notification_id.clone(),
            notification_body: s.notification_body.clone(),
            version: s.version.clone(),
            mitre_techniques: s.mitre_techniques.clone(),
            historical_detection: s.historical_detection,
            look_back_period: s.look_back_period,
            generate_alert: s.generate_alert,
            additional_info: s.additional_info.clone(),
            created_by_display_name: indicator.created_by_display_name.clone(),
            external_id: s.external_id.clone(),
            created_by_source: indicator.created_by_source.clone(),
            certificate_info: s.certificate_info.clone(),
            warninglists: Vec::new(),
        }
    }
}

/// `lookBackPeriod` from any JSON: what [`LookBackPeriod::from_json`] reads, else nothing
/// (entities kept before the period was parsed may hold text no reader understands, which
/// meant the full retention, as no period does).
fn look_back_from_any<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<LookBackPeriod>, D::Error> {
    Ok(LookBackPeriod::from_json(&Value::deserialize(
        deserializer,
    )?))
}

/// `certificateInfo` from any JSON: an object as it is; another value (kept before it had to
/// be an object) as `{"value": <it>}` rather than lost.
fn certificate_info_from_any<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Map<String, Value>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::Object(map) => Some(map),
        other => Some(Map::from_iter([("value".to_owned(), other)])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Indicator {
        let submission: crate::IndicatorSubmission = serde_json::from_value(serde_json::json!({
            "indicatorValue": "https://Evil.example/x", "indicatorType": "Url", "action": "Warn",
            "title": "t", "description": "d", "expirationTime": "2030-01-01T00:00:00Z",
            "rbacGroupNames": ["g"], "lookBackPeriod": "P2D", "certificateInfo": {"a": 1},
            "category": "Malware", "historicalDetection": true,
        }))
        .expect("submission");
        let now = Timestamp::parse("2026-01-01T00:00:00Z").expect("now");
        Indicator {
            id: 7,
            spec: crate::validate_submission(
                &submission,
                &crate::ValidationOptions::json(now, false),
            )
            .expect("valid"),
            created_by: "app".into(),
            created_by_display_name: "App".into(),
            created_by_source: "PublicApi".into(),
            creation_time: now,
            last_update_time: now.plus_seconds(5),
            last_updated_by: Some("other".into()),
        }
    }

    #[test]
    fn serialises_every_property_in_order_and_reads_back() {
        let indicator = sample();
        let json = serde_json::to_value(IndicatorEntity::from(&indicator)).expect("json");
        let keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, IndicatorEntity::PROPERTIES);
        assert_eq!(json["lookBackPeriod"], "P2D");
        assert_eq!(json["category"], 12);
        let entity: IndicatorEntity = serde_json::from_value(json).expect("entity");
        assert_eq!(entity.into_indicator().expect("indicator"), indicator);
    }

    #[test]
    fn reads_entities_kept_before_the_fields_were_parsed() {
        let mut json = serde_json::to_value(IndicatorEntity::from(&sample())).expect("json");
        json["lookBackPeriod"] = serde_json::json!("whenever");
        json["certificateInfo"] = serde_json::json!("CN=x");
        let entity: IndicatorEntity = serde_json::from_value(json).expect("entity");
        assert_eq!(entity.look_back_period, None);
        assert_eq!(
            entity.certificate_info,
            Some(Map::from_iter([("value".to_owned(), Value::from("CN=x"))]))
        );
    }
}
