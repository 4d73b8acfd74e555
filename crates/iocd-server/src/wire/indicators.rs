//! The bodies of the indicator routes: an indicator answered alone or in a page, import,
//! batch delete, bulk, convert and history. The indicator itself is the model's
//! [`IndicatorEntity`], MDE's entity.

use iocd_model::{IndicatorEntity, IndicatorSubmission};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

/// One indicator, as `GET /api/indicators/{id}` and `POST /api/indicators` answer it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IndicatorResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub indicator: IndicatorEntity,
}

/// An indicator reduced to the properties `$select` names (every property without it).
#[derive(Debug)]
pub struct IndicatorSelection;

impl PartialSchema for IndicatorSelection {
    fn schema() -> RefOr<Schema> {
        super::none_required(IndicatorEntity::schema())
    }
}

impl ToSchema for IndicatorSelection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        IndicatorEntity::schemas(schemas);
    }
}

/// A page of `GET /api/indicators`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IndicatorPage {
    #[serde(rename = "@odata.context")]
    pub context: String,
    /// Present when `$count=true`.
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[schema(value_type = Vec<IndicatorSelection>)]
    pub value: Vec<Map<String, Value>>,
    /// Present when more results follow.
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// `POST /api/indicators/import`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ImportRequest {
    /// At most 500. Each item is read on its own, so one malformed item fails alone.
    #[serde(rename = "Indicators")]
    #[schema(value_type = Vec<IndicatorSubmission>)]
    pub indicators: Vec<Value>,
}

/// What happened to one item of an import (or a bulk row, with its line).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// The indicator's id; `null` when the item failed.
    pub id: Option<String>,
    /// The submitted value.
    pub indicator: Option<String>,
    pub is_failed: bool,
    pub failure_reason: Option<String>,
}

impl ImportResult {
    pub fn new(id: Option<i64>, indicator: Option<String>, failure: Option<String>) -> Self {
        ImportResult {
            id: id.map(|id| id.to_string()),
            indicator,
            is_failed: failure.is_some(),
            failure_reason: failure,
        }
    }
}

/// The answer of `POST /api/indicators/import`: one result per item, in request order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    pub value: Vec<ImportResult>,
}

/// `POST /api/indicators/BatchDelete`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BatchDeleteRequest {
    /// At most 500 ids (strings or numbers); all are deleted or none.
    #[serde(rename = "IndicatorIds")]
    #[schema(value_type = Vec<String>)]
    pub indicator_ids: Vec<Value>,
}

/// One row of a bulk load's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkRow {
    /// Line number in the body (the CSV header is line 1).
    pub line: u64,
    #[serde(flatten)]
    pub result: ImportResult,
}

/// The answer of `POST /api/indicators/bulk`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BulkResponse {
    pub received: u64,
    pub created: u64,
    pub updated: u64,
    pub failed: u64,
    /// Failed rows (every row with `report=all`), the first 1,000 of them.
    pub value: Vec<BulkRow>,
    /// Rows that belong in `value` but were left out after the first 1,000.
    pub unlisted: u64,
}

/// One change of an indicator.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub sequence: i64,
    /// `create`, `update`, `delete` or `expire`.
    pub operation: String,
    pub time: String,
    /// The application or user that made the change; `null` for expiry.
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    /// The indicator before the change (`null` for create).
    pub before: Option<IndicatorEntity>,
    /// The indicator after the change (`null` for delete and expire).
    pub after: Option<IndicatorEntity>,
}

/// The answer of `GET /api/indicators/{id}/history`: every change, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    pub indicator_id: String,
    pub value: Vec<HistoryEntry>,
}

/// One indicator a converted document holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConvertedItem {
    /// Where in the document it came from (`line 4`, `object indicator--…`, `attribute 12`).
    pub origin: String,
    /// MDE's submission, ready for `POST /api/indicators` or a bulk line.
    #[schema(value_type = Object)]
    pub indicator: Map<String, Value>,
}

/// An indicator the document asks to remove (a revoked STIX object).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvertedRemoval {
    pub origin: String,
    pub indicator_type: String,
    pub indicator_value: String,
}

/// Something in the document that did not become an indicator, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConvertProblem {
    pub origin: String,
    pub reason: String,
}

/// The answer of `POST /api/indicators/convert`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConvertResponse {
    /// `STIX`, `MISP` or `list`.
    pub format: String,
    pub value: Vec<ConvertedItem>,
    pub removals: Vec<ConvertedRemoval>,
    pub problems: Vec<ConvertProblem>,
}
