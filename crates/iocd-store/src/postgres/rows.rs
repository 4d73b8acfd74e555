//! How an indicator is laid out in a PostgreSQL row: the same columns as SQLite's (JSON lists
//! as text, times as 100-ns ticks), booleans as `BOOLEAN`; reading a row back checks every
//! value as SQLite's reader does.

use crate::StoreError;
use iocd_model::{
    Action, Category, Indicator, IndicatorSpec, IndicatorType, IndicatorValue, LookBackPeriod,
    Severity, Timestamp,
};
use postgres::Row;

pub(super) use crate::row_format::{COLUMNS, json_list, json_text};

/// A stored value that does not read back as what it should be.
fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("stored {what} {value:?} is not valid"))
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> Result<T, StoreError> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text).map_err(|_| corrupt("JSON", &text))
}

fn optional_json(row: &Row, index: usize) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = row.try_get(index)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("JSON", &t)))
        .transpose()
}

/// Reads the [`COLUMNS`] of an indicator starting at column `base` of `row`.
pub(super) fn indicator_from_row_at(row: &Row, base: usize) -> Result<Indicator, StoreError> {
    let type_text: String = row.try_get(base + 1)?;
    let indicator_type =
        IndicatorType::parse(&type_text).ok_or_else(|| corrupt("type", &type_text))?;
    let value_text: String = row.try_get(base + 2)?;
    let value = IndicatorValue::parse(indicator_type, &value_text, true)
        .map_err(|_| corrupt("indicator value", &value_text))?;
    let action_text: String = row.try_get(base + 3)?;
    let severity_text: String = row.try_get(base + 8)?;
    let category: i64 = row.try_get(base + 15)?;
    let certificate_info = optional_json(row, base + 21)?.and_then(|value| match value {
        serde_json::Value::Null => None,
        serde_json::Value::Object(map) => Some(map),
        other => Some(serde_json::Map::from_iter([("value".to_owned(), other)])),
    });
    let look_back_period =
        optional_json(row, base + 23)?.and_then(|value| LookBackPeriod::from_json(&value));
    Ok(Indicator {
        id: row.try_get(base)?,
        spec: IndicatorSpec {
            value,
            action: Action::parse(&action_text).ok_or_else(|| corrupt("action", &action_text))?,
            title: row.try_get(base + 4)?,
            description: row.try_get(base + 5)?,
            application: row.try_get(base + 6)?,
            expiration_time: row
                .try_get::<_, Option<i64>>(base + 7)?
                .map(Timestamp::from_ticks),
            severity: Severity::parse(&severity_text)
                .ok_or_else(|| corrupt("severity", &severity_text))?,
            recommended_actions: row.try_get(base + 9)?,
            rbac_group_names: json_column(row, base + 10)?,
            rbac_group_ids: json_column(row, base + 11)?,
            generate_alert: row.try_get(base + 12)?,
            educate_url: row.try_get(base + 13)?,
            external_id: row.try_get(base + 14)?,
            category: Category::from_number(category)
                .ok_or_else(|| corrupt("category", &category.to_string()))?,
            mitre_techniques: json_column(row, base + 16)?,
            bypass_duration_hours: row.try_get(base + 17)?,
            notification_id: row.try_get(base + 18)?,
            notification_body: row.try_get(base + 19)?,
            version: row.try_get(base + 20)?,
            certificate_info,
            historical_detection: row.try_get(base + 22)?,
            look_back_period,
            additional_info: row.try_get(base + 24)?,
        },
        created_by: row.try_get(base + 25)?,
        created_by_display_name: row.try_get(base + 26)?,
        created_by_source: row.try_get(base + 27)?,
        creation_time: Timestamp::from_ticks(row.try_get(base + 28)?),
        last_update_time: Timestamp::from_ticks(row.try_get(base + 29)?),
        last_updated_by: row.try_get(base + 30)?,
    })
}
