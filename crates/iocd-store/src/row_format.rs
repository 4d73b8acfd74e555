//! What both SQL backends share about an indicator's row: its columns in reading order and
//! the JSON text of its list and object columns.

use crate::StoreError;

/// Columns of `indicators` in the order each backend's row reader takes them.
pub(crate) const COLUMNS: &str = "i.id, i.indicator_type, i.indicator_value, i.action, i.title, i.description, \
    i.application, i.expiration_time, i.severity, i.recommended_actions, i.rbac_group_names, i.rbac_group_ids, \
    i.generate_alert, i.educate_url, i.external_id, i.category, i.mitre_techniques, i.bypass_duration_hours, \
    i.notification_id, i.notification_body, i.version, i.certificate_info, i.historical_detection, \
    i.look_back_period, i.additional_info, i.created_by, i.created_by_display_name, i.created_by_source, \
    i.creation_time, i.last_update_time, i.last_updated_by";

/// A list column's JSON text; the common empty list costs no allocation.
pub(crate) fn json_list<T: serde::Serialize>(
    items: &[T],
) -> Result<std::borrow::Cow<'static, str>, StoreError> {
    if items.is_empty() {
        Ok(std::borrow::Cow::Borrowed("[]"))
    } else {
        json_text(&items).map(std::borrow::Cow::Owned)
    }
}

/// The JSON text of a value written to a JSON column.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("a value could not be encoded: {error}")))
}
