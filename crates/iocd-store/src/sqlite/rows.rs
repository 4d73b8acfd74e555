//! How an indicator is laid out in a row of `indicators`: the columns in reading order, the
//! JSON-encoded list and object columns, and reading a row back into a parsed [`Indicator`].

use iocd_model::{
    Action, Category, Indicator, IndicatorSpec, IndicatorType, IndicatorValue, LookBackPeriod,
    Severity, Timestamp,
};
use rusqlite::Row;

pub(super) use crate::row_format::{COLUMNS, json_list, json_text};

pub(super) const ACTIVE: &str = "(i.expiration_time IS NULL OR i.expiration_time > ?2)";

pub(super) fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("stored {what} {value:?} is not valid").into(),
    )
}

pub(super) fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|_| corrupt("JSON", &text))
}

pub(super) fn optional_json(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(index)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("JSON", &t)))
        .transpose()
}

/// `certificateInfo`: an object. Rows written before it had to be one may hold another JSON
/// value, which is read as `{"value": <it>}` rather than lost.
fn certificate_info(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<serde_json::Map<String, serde_json::Value>>> {
    Ok(optional_json(row, index)?.and_then(|value| match value {
        serde_json::Value::Null => None,
        serde_json::Value::Object(map) => Some(map),
        other => Some(serde_json::Map::from_iter([("value".to_owned(), other)])),
    }))
}

/// `lookBackPeriod`, stored as the JSON of its ISO 8601 text. Rows written before it was
/// parsed at validation may hold text no reader understands; that meant (and means) the full
/// retention, as no period does.
fn look_back_period(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<LookBackPeriod>> {
    Ok(optional_json(row, index)?.and_then(|value| LookBackPeriod::from_json(&value)))
}

pub(super) fn indicator_from_row(row: &Row<'_>) -> rusqlite::Result<Indicator> {
    indicator_from_row_at(row, 0)
}

/// Reads the [`COLUMNS`] of an indicator starting at column `base` of `row`.
pub(super) fn indicator_from_row_at(row: &Row<'_>, base: usize) -> rusqlite::Result<Indicator> {
    let type_text: String = row.get(base + 1)?;
    let indicator_type =
        IndicatorType::parse(&type_text).ok_or_else(|| corrupt("type", &type_text))?;
    let value_text: String = row.get(base + 2)?;
    let value = IndicatorValue::parse(indicator_type, &value_text, true)
        .map_err(|_| corrupt("indicator value", &value_text))?;
    let action_text: String = row.get(base + 3)?;
    let severity_text: String = row.get(base + 8)?;
    let category: i64 = row.get(base + 15)?;
    Ok(Indicator {
        id: row.get(base)?,
        spec: IndicatorSpec {
            value,
            action: Action::parse(&action_text).ok_or_else(|| corrupt("action", &action_text))?,
            title: row.get(base + 4)?,
            description: row.get(base + 5)?,
            application: row.get(base + 6)?,
            expiration_time: row
                .get::<_, Option<i64>>(base + 7)?
                .map(Timestamp::from_ticks),
            severity: Severity::parse(&severity_text)
                .ok_or_else(|| corrupt("severity", &severity_text))?,
            recommended_actions: row.get(base + 9)?,
            rbac_group_names: json_column(row, base + 10)?,
            rbac_group_ids: json_column(row, base + 11)?,
            generate_alert: row.get(base + 12)?,
            educate_url: row.get(base + 13)?,
            external_id: row.get(base + 14)?,
            category: Category::from_number(category)
                .ok_or_else(|| corrupt("category", &category.to_string()))?,
            mitre_techniques: json_column(row, base + 16)?,
            bypass_duration_hours: row.get(base + 17)?,
            notification_id: row.get(base + 18)?,
            notification_body: row.get(base + 19)?,
            version: row.get(base + 20)?,
            certificate_info: certificate_info(row, base + 21)?,
            historical_detection: row.get(base + 22)?,
            look_back_period: look_back_period(row, base + 23)?,
            additional_info: row.get(base + 24)?,
        },
        created_by: row.get(base + 25)?,
        created_by_display_name: row.get(base + 26)?,
        created_by_source: row.get(base + 27)?,
        creation_time: Timestamp::from_ticks(row.get(base + 28)?),
        last_update_time: Timestamp::from_ticks(row.get(base + 29)?),
        last_updated_by: row.get(base + 30)?,
    })
}
