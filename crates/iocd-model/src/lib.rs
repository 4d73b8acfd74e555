//! The iocd vocabulary: indicator types, actions, severities, categories, timestamps, and the
//! validation and normalisation of indicator values and submissions.
//!
//! This crate does no IO, reads no clock (the caller passes `now`), and knows nothing of HTTP
//! or storage. Everything that turns outside input into a trusted [`IndicatorSpec`] lives here,
//! so the JSON API, the CSV importer and the bulk endpoint apply exactly the same rules, and
//! what comes out is parsed: an [`IndicatorValue`] per kind of value, a [`LookBackPeriod`].

pub mod csv_format;
mod entity;
mod enums;
mod error;
mod indicator;
mod look_back;
mod submission;
mod timestamp;
pub mod url;
mod validate;
mod value;

pub use entity::IndicatorEntity;
pub use enums::{Action, Category, IndicatorType, LegacyAction, Severity};
pub use error::{ErrorCode, ValidationError};
pub use indicator::{Indicator, IndicatorSpec};
pub use look_back::LookBackPeriod;
pub use submission::IndicatorSubmission;
pub use timestamp::Timestamp;
pub use url::{CanonicalUrl, UrlError};
pub use validate::{Limits, SubmissionSource, ValidationOptions, validate_submission};
pub use value::{
    DomainName, IndicatorValue, IpNetwork, MAX_VALUE_LEN, Thumbprint, decode_hex, hex_string,
    parse_ip_network,
};
