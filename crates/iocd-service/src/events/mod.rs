//! Device events as sensors send them (MDE advanced-hunting rows or Elastic Common Schema
//! documents), reduced to the observables matching needs.

mod extract;
mod profile;

pub use extract::{extract, extract_mde_line};
pub use profile::EventProfile;

use iocd_engine::Observable;
use iocd_model::Timestamp;
use iocd_store::detections::DeviceRef;

/// One observable taken from an event, with the field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub observable: Observable,
    pub field: &'static str,
    pub value: String,
}

/// An event reduced to what matching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEvent {
    pub device: DeviceRef,
    pub time: Timestamp,
    pub seen: Vec<Seen>,
    /// Fields whose values could not be parsed, with the reason.
    pub invalid: Vec<String>,
}
