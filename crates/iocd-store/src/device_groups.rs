//! Device groups: defined per tenant, ranked, with membership rules (device name prefixes,
//! domains, operating systems, tags). A device belongs to the first group by rank whose rules
//! match it, else to the default group. Indicators name groups by name and by id; writes
//! resolve both against the registry, and the matcher scopes by id.

use crate::StoreError;
use iocd_model::Timestamp;
use serde::{Deserialize, Serialize};

/// The implicit default group: devices no rule places elsewhere.
pub const DEFAULT_GROUP_ID: i64 = 0;
pub const DEFAULT_GROUP_NAME: &str = "Ungrouped devices";

/// Membership rules: a device matches when every rule kind that lists values has one the
/// device matches (name by prefix, the others exactly; all without regard to case). A group
/// with no rules matches no device by rule (devices join it by naming it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GroupRules {
    pub name_starts_with: Vec<String>,
    pub domain: Vec<String>,
    pub os: Vec<String>,
    pub tags: Vec<String>,
}

impl GroupRules {
    pub fn is_empty(&self) -> bool {
        self.name_starts_with.is_empty()
            && self.domain.is_empty()
            && self.os.is_empty()
            && self.tags.is_empty()
    }
}

/// A device group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGroup {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Lower ranks are tried first.
    pub rank: i64,
    pub rules: GroupRules,
    pub created: Timestamp,
    pub last_update: Timestamp,
}

impl DeviceGroup {
    /// The default group, which every tenant has.
    pub fn default_group() -> DeviceGroup {
        DeviceGroup {
            id: DEFAULT_GROUP_ID,
            name: DEFAULT_GROUP_NAME.to_owned(),
            description: "Devices that no group's rules match.".to_owned(),
            rank: i64::MAX,
            rules: GroupRules::default(),
            created: Timestamp::from_ticks(0),
            last_update: Timestamp::from_ticks(0),
        }
    }
}

/// What a client sets on a group (creating it, or replacing these fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    pub description: String,
    /// `None`: after every existing group (on create) or unchanged (on update).
    pub rank: Option<i64>,
    pub rules: GroupRules,
}

impl GroupSpec {
    /// A group made on the fly for an indicator that names it: no description or rules, ranked
    /// after every existing group.
    pub fn named(name: &str) -> GroupSpec {
        GroupSpec {
            name: name.to_owned(),
            description: String::new(),
            rank: None,
            rules: GroupRules::default(),
        }
    }
}

/// Why a group write was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupConflict {
    /// Another group of the tenant has this name (names are compared without regard to case).
    NameTaken(String),
    NotFound,
    /// Indicators are scoped to the group; their count.
    InUse(u64),
    /// The default group cannot be changed or deleted.
    Default,
}

/// One indicator's groups as named by a client: by name, by id, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupReference {
    pub names: Vec<String>,
    pub ids: Vec<i64>,
}

/// Why an indicator's groups could not be resolved (the indicator is refused, not the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownGroup {
    Name(String),
    Id(i64),
}

/// One indicator's groups as `(id, name)` pairs, or the group it names that does not exist.
pub type Resolution = Result<Vec<(i64, String)>, UnknownGroup>;

/// Resolves `references` against a tenant's `existing` groups (id and name; the default group
/// is added here), creating a group for an unknown name with `create` when `create_missing`:
/// the part of [`DeviceGroupStore::resolve_device_groups`] every backend shares.
pub(crate) fn resolve_references<E>(
    existing: Vec<(i64, String)>,
    references: &[GroupReference],
    create_missing: bool,
    create: &mut impl FnMut(&str) -> Result<(i64, String), E>,
) -> Result<Vec<Resolution>, E> {
    let mut by_key: std::collections::HashMap<String, (i64, String)> =
        std::collections::HashMap::new();
    let mut by_id: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    let default = DEFAULT_GROUP_NAME.to_owned();
    for (id, name) in existing.into_iter().chain([(DEFAULT_GROUP_ID, default)]) {
        by_key.insert(name_key(&name), (id, name.clone()));
        by_id.insert(id, name);
    }
    let mut results = Vec::with_capacity(references.len());
    'references: for reference in references {
        let mut resolved: Vec<(i64, String)> = Vec::new();
        for name in &reference.names {
            let key = name_key(name);
            let pair = match by_key.get(&key) {
                Some(pair) => pair.clone(),
                None if create_missing && !key.is_empty() => {
                    let pair = create(name.trim())?;
                    by_key.insert(key, pair.clone());
                    by_id.insert(pair.0, pair.1.clone());
                    pair
                }
                None => {
                    results.push(Err(UnknownGroup::Name(name.clone())));
                    continue 'references;
                }
            };
            if !resolved.iter().any(|(known, _)| *known == pair.0) {
                resolved.push(pair);
            }
        }
        for id in &reference.ids {
            let Some(name) = by_id.get(id) else {
                results.push(Err(UnknownGroup::Id(*id)));
                continue 'references;
            };
            if !resolved.iter().any(|(known, _)| known == id) {
                resolved.push((*id, name.clone()));
            }
        }
        results.push(Ok(resolved));
    }
    Ok(results)
}

/// Storage of device groups.
pub trait DeviceGroupStore: Send + Sync + std::fmt::Debug {
    /// A tenant's groups by rank (then id), the default group last.
    fn device_groups(&self, tenant: &str) -> Result<Vec<DeviceGroup>, StoreError>;

    fn create_device_group(
        &self,
        tenant: &str,
        spec: &GroupSpec,
        now: Timestamp,
    ) -> Result<Result<DeviceGroup, GroupConflict>, StoreError>;

    /// Replaces a group's fields; a new name is written into the indicators scoped to it.
    fn update_device_group(
        &self,
        tenant: &str,
        id: i64,
        spec: &GroupSpec,
        now: Timestamp,
    ) -> Result<Result<DeviceGroup, GroupConflict>, StoreError>;

    /// Deletes a group no indicator is scoped to.
    fn delete_device_group(
        &self,
        tenant: &str,
        id: i64,
    ) -> Result<Result<(), GroupConflict>, StoreError>;

    /// Resolves each reference to the groups' `(id, name)` pairs, creating groups for unknown
    /// names when `create_missing` (one transaction for the whole batch). The named groups
    /// come first, in order, then those of the ids not already among them; no group appears
    /// twice.
    fn resolve_device_groups(
        &self,
        tenant: &str,
        references: &[GroupReference],
        create_missing: bool,
        now: Timestamp,
    ) -> Result<Vec<Resolution>, StoreError>;
}

/// The key names are compared by: trimmed, ASCII letters in lower case (as SQLite's `lower`,
/// which the schema migration used).
pub fn name_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}
