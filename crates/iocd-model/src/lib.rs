//! The iocd vocabulary: indicator types, actions, severities, categories, timestamps, and the
//! validation and normalisation of indicator values and submissions.
//!
//! This crate does no IO, reads no clock (the caller passes `now`), and knows nothing of HTTP
//! or storage. Everything that turns outside input into a trusted [`IndicatorSpec`] lives here,
//! so the JSON API, the CSV importer and the bulk endpoint apply exactly the same rules.

pub mod csv_format;
mod enums;
mod error;
mod indicator;
mod timestamp;
pub mod url_canon;
mod value;

pub use enums::{Action, Category, IndicatorType, LegacyAction, Severity};
pub use error::{ErrorCode, ValidationError};
pub use indicator::{
    Indicator, IndicatorSpec, IndicatorSubmission, Limits, SubmissionSource, ValidationOptions,
    validate_submission,
};
pub use timestamp::Timestamp;
pub use value::{normalise_value, parse_ip_value};
