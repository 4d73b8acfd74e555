//! The formats iocd shares with the field, as pure functions over MDE-shaped indicators:
//!
//! - [`stix`]: indicators as STIX 2.1 `indicator` objects and back (bundles or single
//!   objects), with a reader of STIX patterns ([`pattern`]) that accepts what maps to
//!   indicators and names what does not;
//! - [`document`]: telling a file's format from its content, and reading it;
//! - [`misp`]: MISP events (attributes and objects, honouring `to_ids`);
//! - [`plain`]: one value per line, its type recognised;
//! - [`sensors`]: exports for sensors: Suricata datasets and iprep, the Zeek intel framework,
//!   block lists per type, MDE CSV in 500-row files.
//!
//! Readers never drop anything silently: every input object or line that does not become an
//! indicator is reported with its reason ([`ImportBatch::problems`]). Mappings and their limits:
//! `docs/interop.md`.

pub mod document;
pub mod misp;
pub mod pattern;
pub mod plain;
pub mod sensors;
pub mod stix;

use iocd_model::IndicatorType;
use serde_json::{Map, Value};

/// Where an item came from, for reports: `line 4`, `object indicator--…`, `attribute 12`.
pub type Origin = String;

/// One indicator to submit: MDE's submission JSON (`indicatorValue`, `indicatorType`,
/// `action`, …), which the server validates like any other.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportItem {
    pub origin: Origin,
    pub submission: Map<String, Value>,
}

/// An indicator the input says to remove (STIX `revoked: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub origin: Origin,
    pub indicator_type: IndicatorType,
    pub value: String,
}

/// Something in the input that did not become an indicator, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub reason: String,
}

/// What a reader made of its input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    pub items: Vec<ImportItem>,
    pub removals: Vec<Removal>,
    pub problems: Vec<Problem>,
}

impl ImportBatch {
    fn problem(&mut self, origin: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem {
            origin: origin.into(),
            reason: reason.into(),
        });
    }
}

/// What readers fill in when the input does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportDefaults {
    /// `Audit` unless told otherwise: an imported feed raises alerts but blocks nothing until
    /// someone decides it should.
    pub action: iocd_model::Action,
    pub severity: iocd_model::Severity,
    /// Device groups every imported indicator is scoped to (none: all devices).
    pub rbac_group_names: Vec<String>,
    /// Put before each title (`"MISP: "`), to show where an indicator came from.
    pub title_prefix: String,
}

impl Default for ImportDefaults {
    fn default() -> Self {
        ImportDefaults {
            action: iocd_model::Action::Audit,
            severity: iocd_model::Severity::Medium,
            rbac_group_names: Vec::new(),
            title_prefix: String::new(),
        }
    }
}

impl ImportDefaults {
    /// A submission with the defaults and the given value, type, title and description.
    fn submission(
        &self,
        indicator_type: IndicatorType,
        value: &str,
        title: &str,
        description: &str,
    ) -> Map<String, Value> {
        let mut submission = Map::new();
        submission.insert("indicatorValue".into(), Value::from(value));
        submission.insert("indicatorType".into(), Value::from(indicator_type.as_str()));
        submission.insert("action".into(), Value::from(self.action.as_str()));
        let title = format!("{}{title}", self.title_prefix);
        submission.insert("title".into(), Value::from(clip(&title, 300)));
        submission.insert("description".into(), Value::from(clip(description, 10_000)));
        submission.insert("severity".into(), Value::from(self.severity.as_str()));
        if self.action == iocd_model::Action::Audit {
            submission.insert("generateAlert".into(), Value::Bool(true));
        }
        if !self.rbac_group_names.is_empty() {
            submission.insert(
                "rbacGroupNames".into(),
                Value::from(self.rbac_group_names.clone()),
            );
        }
        submission
    }
}

/// `text` cut to at most `max` characters.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The indicator type of a bare value, as lists and feeds give them: hashes by length, IP
/// addresses and networks, URLs (with a scheme), else a domain name. `None` for what cannot be
/// any of these (spaces, empty).
pub fn recognise(value: &str) -> Option<IndicatorType> {
    let value = value.trim();
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        return None;
    }
    let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        match value.len() {
            32 => return Some(IndicatorType::FileMd5),
            40 => return Some(IndicatorType::FileSha1),
            64 => return Some(IndicatorType::FileSha256),
            _ => {}
        }
    }
    let address = value.split_once('/').map_or(value, |(address, _)| address);
    if address.parse::<std::net::IpAddr>().is_ok() {
        return Some(IndicatorType::IpAddress);
    }
    if value.contains("://") {
        return Some(IndicatorType::Url);
    }
    if value.contains('.') && !value.contains('/') {
        return Some(IndicatorType::DomainName);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_values_are_recognised_by_their_shape() {
        let cases = [
            (
                "d41d8cd98f00b204e9800998ecf8427e",
                Some(IndicatorType::FileMd5),
            ),
            (
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                Some(IndicatorType::FileSha1),
            ),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                Some(IndicatorType::FileSha256),
            ),
            ("203.0.113.9", Some(IndicatorType::IpAddress)),
            ("203.0.113.0/24", Some(IndicatorType::IpAddress)),
            ("2001:db8::1", Some(IndicatorType::IpAddress)),
            ("https://evil.example/x", Some(IndicatorType::Url)),
            ("evil.example", Some(IndicatorType::DomainName)),
            ("  evil.example  ", Some(IndicatorType::DomainName)),
            ("deadbeef", None),
            ("two words", None),
            ("", None),
            ("localhost", None),
            ("evil.example/path", None),
        ];
        for (value, expected) in cases {
            assert_eq!(recognise(value), expected, "{value:?}");
        }
    }
}
