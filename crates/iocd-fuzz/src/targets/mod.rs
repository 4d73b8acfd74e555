//! The fuzz targets, one per parser of outside input, and the contract checks they share.

mod csv;
mod grammar;
mod interop;
mod json;
mod odata;
mod timestamp;
mod values;

use crate::{Target, Verdict};
use std::borrow::Cow;

/// Every target, in the order `scripts/fuzz` runs them.
pub fn all() -> &'static [Target] {
    &[
        csv::TARGET,
        odata::FILTER,
        odata::ORDER_BY,
        values::URL,
        values::INDICATOR_VALUES,
        values::OBSERVABLES,
        timestamp::TARGET,
        json::INDICATOR,
        json::EVENTS,
        interop::STIX_PATTERN,
        interop::FEED_DOCUMENT,
    ]
}

/// The input as text, the way a server sees it after decoding: invalid UTF-8 becomes U+FFFD.
fn text(input: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(input)
}

/// A refusal is correct when it says why.
fn refused(message: &str, what: &str) -> Result<Verdict, String> {
    if message.trim().is_empty() {
        Err(format!("{what} was refused with an empty message"))
    } else {
        Ok(Verdict::Refused)
    }
}
