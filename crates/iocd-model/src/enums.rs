//! The closed vocabularies of MDE indicators: types, actions, severities and alert categories.

use std::fmt;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact spelling MDE uses on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the MDE spelling, ignoring ASCII case.
            pub fn parse(text: &str) -> Option<Self> {
                $(if text.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }

            /// The accepted spellings joined with commas, for error messages.
            pub fn possible_values() -> String {
                [$($text),+].join(",")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// A string schema listing the spellings.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{text:?} is not one of {}",
                        $name::possible_values()
                    ))
                })
            }
        }
    };
}

string_enum!(
    /// `indicatorType`: what kind of value an indicator holds.
    IndicatorType {
        FileSha1 => "FileSha1",
        FileSha256 => "FileSha256",
        FileMd5 => "FileMd5",
        CertificateThumbprint => "CertificateThumbprint",
        IpAddress => "IpAddress",
        DomainName => "DomainName",
        Url => "Url",
    }
);

impl IndicatorType {
    /// File hashes and certificate thumbprints, enforced by the antivirus engine.
    pub fn is_file_like(self) -> bool {
        matches!(
            self,
            IndicatorType::FileSha1
                | IndicatorType::FileSha256
                | IndicatorType::FileMd5
                | IndicatorType::CertificateThumbprint
        )
    }

    /// IP addresses, domains and URLs, enforced by network protection.
    pub fn is_network(self) -> bool {
        !self.is_file_like()
    }

    /// The types MDE's portal CSV import accepts (§5 of the reference).
    pub fn mde_csv_accepts(self) -> bool {
        matches!(
            self,
            IndicatorType::FileSha1
                | IndicatorType::FileSha256
                | IndicatorType::IpAddress
                | IndicatorType::DomainName
                | IndicatorType::Url
        )
    }
}

string_enum!(
    /// `action`: what a device does when the indicator matches. Legacy `Alert` and
    /// `AlertAndBlock` are mapped on input by [`Action::parse_with_legacy`].
    Action {
        Allowed => "Allowed",
        Audit => "Audit",
        Warn => "Warn",
        Block => "Block",
        BlockAndRemediate => "BlockAndRemediate",
    }
);

/// A legacy action name as MDE's JSON API still accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAction {
    /// `Alert`: became `Audit` with `generateAlert=true`.
    Alert,
    /// `AlertAndBlock`: became `BlockAndRemediate` with `generateAlert=true`.
    AlertAndBlock,
}

impl LegacyAction {
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("Alert") {
            Some(LegacyAction::Alert)
        } else if text.eq_ignore_ascii_case("AlertAndBlock") {
            Some(LegacyAction::AlertAndBlock)
        } else {
            None
        }
    }

    /// The current action this legacy name stands for on an indicator of `indicator_type`.
    /// Network types cannot take `BlockAndRemediate`, so `AlertAndBlock` becomes `Block` there.
    pub fn modern_action(self, indicator_type: IndicatorType) -> Action {
        match self {
            LegacyAction::Alert => Action::Audit,
            LegacyAction::AlertAndBlock if indicator_type.is_network() => Action::Block,
            LegacyAction::AlertAndBlock => Action::BlockAndRemediate,
        }
    }
}

impl Action {
    /// Whether MDE allows this action on this indicator type (§3.1 of the reference).
    pub fn allowed_for(self, indicator_type: IndicatorType) -> bool {
        match indicator_type {
            IndicatorType::CertificateThumbprint => {
                matches!(self, Action::Allowed | Action::BlockAndRemediate)
            }
            IndicatorType::IpAddress | IndicatorType::DomainName | IndicatorType::Url => {
                self != Action::BlockAndRemediate
            }
            IndicatorType::FileSha1 | IndicatorType::FileSha256 | IndicatorType::FileMd5 => true,
        }
    }
}

string_enum!(
    /// `severity` of the alert an indicator raises.
    Severity {
        Informational => "Informational",
        Low => "Low",
        Medium => "Medium",
        High => "High",
    }
);

/// `category`: the alert category. MDE returns it as an integer and takes PascalCase names in
/// CSV; the number-to-name mapping is not published, so iocd's is written down in
/// `docs/decisions/0003-category-numbers.md`. Number 1 (`None`) is the default, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Category(u8);

const CATEGORY_NAMES: &[&str] = &[
    "None",
    "Collection",
    "CommandAndControl",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Execution",
    "Exfiltration",
    "Exploit",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
    "UnwantedSoftware",
    "General",
];

impl Category {
    /// The default category (`None`, number 1).
    pub const NONE: Category = Category(1);

    pub fn from_number(number: i64) -> Option<Self> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        (index < CATEGORY_NAMES.len()).then_some(Category(index as u8 + 1))
    }

    /// Parses a PascalCase category name exactly, as MDE's CSV importer does.
    pub fn from_name(name: &str) -> Option<Self> {
        CATEGORY_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Category(i as u8 + 1))
    }

    /// The category's number, 1 to 18.
    pub fn number(self) -> u8 {
        self.0
    }

    pub fn name(self) -> &'static str {
        CATEGORY_NAMES[usize::from(self.0) - 1]
    }

    pub fn possible_names() -> String {
        CATEGORY_NAMES.join(",")
    }
}

impl Default for Category {
    fn default() -> Self {
        Category::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_numbers_round_trip_through_names() {
        for number in 1..=CATEGORY_NAMES.len() as i64 {
            let category = Category::from_number(number).unwrap();
            assert_eq!(Category::from_name(category.name()), Some(category));
            assert_eq!(i64::from(category.number()), number);
        }
        assert_eq!(Category::from_number(0), None);
        assert_eq!(Category::from_number(CATEGORY_NAMES.len() as i64 + 1), None);
        assert_eq!(Category::from_name("Suspicious Activity"), None);
        assert_eq!(Category::default().name(), "None");
    }

    #[test]
    fn actions_per_type_follow_the_portal_table() {
        use Action::*;
        use IndicatorType::*;
        let table: &[(IndicatorType, &[Action])] = &[
            (FileSha1, &[Allowed, Audit, Warn, Block, BlockAndRemediate]),
            (
                FileSha256,
                &[Allowed, Audit, Warn, Block, BlockAndRemediate],
            ),
            (FileMd5, &[Allowed, Audit, Warn, Block, BlockAndRemediate]),
            (IpAddress, &[Allowed, Audit, Warn, Block]),
            (DomainName, &[Allowed, Audit, Warn, Block]),
            (Url, &[Allowed, Audit, Warn, Block]),
            (CertificateThumbprint, &[Allowed, BlockAndRemediate]),
        ];
        for (indicator_type, allowed) in table {
            for action in Action::ALL {
                assert_eq!(
                    action.allowed_for(*indicator_type),
                    allowed.contains(action),
                    "{indicator_type} {action}"
                );
            }
        }
    }

    #[test]
    fn legacy_actions_map_per_type() {
        assert_eq!(LegacyAction::parse("alert"), Some(LegacyAction::Alert));
        assert_eq!(
            LegacyAction::Alert.modern_action(IndicatorType::Url),
            Action::Audit
        );
        assert_eq!(
            LegacyAction::AlertAndBlock.modern_action(IndicatorType::FileSha256),
            Action::BlockAndRemediate
        );
        assert_eq!(
            LegacyAction::AlertAndBlock.modern_action(IndicatorType::Url),
            Action::Block
        );
    }
}
