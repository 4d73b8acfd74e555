//! The wire model: every body a documented route takes or answers, as a type that serialises
//! (or deserialises) itself and describes itself to the OpenAPI document, so the document and
//! the answers cannot drift apart (a test validates real answers against the served document).
//! Handlers build these; nothing else writes a documented body.

pub mod alerts;
pub mod device_groups;
pub mod devices;
pub mod errors;
pub mod events;
pub mod indicators;
pub mod matching;
pub mod service;
pub mod webhooks;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// `schema` with no property required, for entities reduced by `$select` (which keeps only
/// the properties it names).
pub(crate) fn none_required(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.required.clear();
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}
