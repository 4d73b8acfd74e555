//! The properties a query may name: the indicator's and the alert's, each with the kind of
//! literal it compares with.

/// A field of the indicator entity that may appear in `$filter` or `$orderby`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Application,
    CreatedByDisplayName,
    ExpirationTime,
    GenerateAlert,
    Title,
    Description,
    RbacGroupNames,
    RbacGroupIds,
    IndicatorValue,
    IndicatorType,
    CreationTimeDateTimeUtc,
    LastUpdateTime,
    LastUpdatedBy,
    CreatedBy,
    Action,
    Severity,
    Category,
    ExternalId,
    // Alert properties (MDE alert entity names, plus iocd's indicator link).
    Status,
    Classification,
    AssignedTo,
    DetectionSource,
    AlertCategory,
    AlertCreationTime,
    FirstEventTime,
    LastEventTime,
    MachineId,
    ComputerDnsName,
    MachineGroup,
    IndicatorId,
    EventCount,
}

/// Which entity a query ranges over; each has its own filterable properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Entity {
    #[default]
    Indicator,
    Alert,
}

/// The type of a field, which decides which literals and operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Enum,
    DateTime,
    Bool,
    Integer,
    TextCollection,
    IntegerCollection,
}

const FIELDS: &[(&str, Field, FieldKind)] = &[
    ("id", Field::Id, FieldKind::Integer),
    ("application", Field::Application, FieldKind::Text),
    (
        "createdByDisplayName",
        Field::CreatedByDisplayName,
        FieldKind::Text,
    ),
    ("expirationTime", Field::ExpirationTime, FieldKind::DateTime),
    ("generateAlert", Field::GenerateAlert, FieldKind::Bool),
    ("title", Field::Title, FieldKind::Text),
    ("description", Field::Description, FieldKind::Text),
    (
        "rbacGroupNames",
        Field::RbacGroupNames,
        FieldKind::TextCollection,
    ),
    (
        "rbacGroupIds",
        Field::RbacGroupIds,
        FieldKind::IntegerCollection,
    ),
    ("indicatorValue", Field::IndicatorValue, FieldKind::Text),
    ("indicatorType", Field::IndicatorType, FieldKind::Enum),
    (
        "creationTimeDateTimeUtc",
        Field::CreationTimeDateTimeUtc,
        FieldKind::DateTime,
    ),
    ("lastUpdateTime", Field::LastUpdateTime, FieldKind::DateTime),
    ("lastUpdatedBy", Field::LastUpdatedBy, FieldKind::Text),
    ("createdBy", Field::CreatedBy, FieldKind::Text),
    ("action", Field::Action, FieldKind::Enum),
    ("severity", Field::Severity, FieldKind::Enum),
    ("category", Field::Category, FieldKind::Integer),
    ("externalId", Field::ExternalId, FieldKind::Text),
];

const ALERT_FIELDS: &[(&str, Field, FieldKind)] = &[
    ("id", Field::Id, FieldKind::Integer),
    ("title", Field::Title, FieldKind::Text),
    ("description", Field::Description, FieldKind::Text),
    ("severity", Field::Severity, FieldKind::Enum),
    ("status", Field::Status, FieldKind::Enum),
    ("classification", Field::Classification, FieldKind::Enum),
    ("assignedTo", Field::AssignedTo, FieldKind::Text),
    ("detectionSource", Field::DetectionSource, FieldKind::Enum),
    ("category", Field::AlertCategory, FieldKind::Text),
    (
        "alertCreationTime",
        Field::AlertCreationTime,
        FieldKind::DateTime,
    ),
    ("firstEventTime", Field::FirstEventTime, FieldKind::DateTime),
    ("lastEventTime", Field::LastEventTime, FieldKind::DateTime),
    ("lastUpdateTime", Field::LastUpdateTime, FieldKind::DateTime),
    ("machineId", Field::MachineId, FieldKind::Text),
    ("computerDnsName", Field::ComputerDnsName, FieldKind::Text),
    ("machineGroup", Field::MachineGroup, FieldKind::Text),
    ("indicatorId", Field::IndicatorId, FieldKind::Integer),
    ("indicatorValue", Field::IndicatorValue, FieldKind::Text),
    ("indicatorType", Field::IndicatorType, FieldKind::Enum),
    ("action", Field::Action, FieldKind::Enum),
    ("eventCount", Field::EventCount, FieldKind::Integer),
];

impl Entity {
    fn fields(self) -> &'static [(&'static str, Field, FieldKind)] {
        match self {
            Entity::Indicator => FIELDS,
            Entity::Alert => ALERT_FIELDS,
        }
    }
}

impl Field {
    /// Looks up an indicator property by its wire name.
    pub fn parse(name: &str) -> Option<Field> {
        Field::parse_in(Entity::Indicator, name)
    }

    /// Looks up a property of `entity` by its wire name.
    pub fn parse_in(entity: Entity, name: &str) -> Option<Field> {
        entity
            .fields()
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, f, _)| *f)
    }

    pub fn name(self) -> &'static str {
        FIELDS
            .iter()
            .chain(ALERT_FIELDS)
            .find(|(_, f, _)| *f == self)
            .map_or("?", |(n, _, _)| n)
    }

    /// The field's type (a field shared by both entities has the same type in each).
    pub fn kind(self) -> FieldKind {
        FIELDS
            .iter()
            .chain(ALERT_FIELDS)
            .find(|(_, f, _)| *f == self)
            .map_or(FieldKind::Text, |(_, _, k)| *k)
    }

    pub(super) fn names(entity: Entity) -> String {
        entity
            .fields()
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
