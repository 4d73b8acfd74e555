//! Device groups as the service uses them: the groups each written indicator names, resolved
//! against the registry (by name and by id) before it is stored; and a directory per tenant,
//! cached until a group changes, that turns the groups a device states into the keys the
//! matcher scopes by.

use iocd_engine::{Device, group_key};
use iocd_model::{ErrorCode, IndicatorSpec, Timestamp};
use iocd_store::StoreError;
use iocd_store::device_groups::{
    DEFAULT_GROUP_ID, DeviceGroup, DeviceGroupStore, GroupReference, GroupRules, UnknownGroup,
    name_key,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A tenant's groups, by rank, with a lookup by name.
#[derive(Debug, Clone)]
pub struct TenantGroups {
    groups: Vec<DeviceGroup>,
    by_key: HashMap<String, i64>,
}

impl TenantGroups {
    fn new(groups: Vec<DeviceGroup>) -> Self {
        let by_key = groups.iter().map(|g| (name_key(&g.name), g.id)).collect();
        TenantGroups { groups, by_key }
    }

    /// The groups by rank, the default group last.
    pub fn groups(&self) -> &[DeviceGroup] {
        &self.groups
    }

    /// The id of the group named `name` (without regard to case).
    pub fn id_of(&self, name: &str) -> Option<i64> {
        self.by_key.get(&name_key(name)).copied()
    }

    /// The group a described device belongs to: the first group by rank whose rules match it,
    /// else the default group.
    pub fn classify(&self, device: &DeviceFacts<'_>) -> i64 {
        self.groups
            .iter()
            .find(|group| rules_match(&group.rules, device))
            .map_or(DEFAULT_GROUP_ID, |group| group.id)
    }

    /// The group a device that states its groups by name is placed in: the first registered
    /// one among them, else the default group.
    pub fn group_for_names<S: AsRef<str>>(&self, names: &[S]) -> i64 {
        names
            .iter()
            .find_map(|name| self.id_of(name.as_ref()))
            .unwrap_or(DEFAULT_GROUP_ID)
    }

    /// The group of a device an event or sighting names (see [`TenantGroups::device_for`]).
    pub fn group_for(&self, device: &iocd_store::detections::DeviceRef) -> i64 {
        match &device.group {
            Some(group) => self.group_for_names(std::slice::from_ref(group)),
            None => self.classify(&DeviceFacts {
                name: device.name.as_deref().or(Some(device.id.as_str())),
                ..DeviceFacts::default()
            }),
        }
    }

    /// The matcher's device for one described by its facts (see [`TenantGroups::classify`]).
    pub fn device_for_facts(&self, device: &DeviceFacts<'_>) -> Device {
        Self::device_in(self.classify(device))
    }

    /// The matcher's device for one in group `id`.
    pub fn device_in(id: i64) -> Device {
        Device::new([group_key(id)])
    }

    /// The matcher's device for a device an event or sighting names: its stated group when it
    /// has one, else the group its name places it in.
    pub fn device_for(&self, device: &iocd_store::detections::DeviceRef) -> Device {
        match &device.group {
            Some(group) => self.device_for_names(std::slice::from_ref(group)),
            None => self.device_for_facts(&DeviceFacts {
                name: device.name.as_deref().or(Some(device.id.as_str())),
                ..DeviceFacts::default()
            }),
        }
    }

    /// The matcher's device for one that states its groups by name: the registered ones among
    /// them, or the default group when it names none that is registered.
    pub fn device_for_names<S: AsRef<str>>(&self, names: &[S]) -> Device {
        let mut keys: Vec<String> = names
            .iter()
            .filter_map(|name| self.id_of(name.as_ref()))
            .map(group_key)
            .collect();
        if keys.is_empty() {
            keys.push(group_key(DEFAULT_GROUP_ID));
        }
        Device::new(keys)
    }
}

/// What a device says about itself, for the groups' membership rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceFacts<'a> {
    pub name: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub os: Option<&'a str>,
    pub tags: &'a [String],
}

impl DeviceFacts<'_> {
    /// Whether the device says anything the rules could use.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.domain.is_none() && self.os.is_none() && self.tags.is_empty()
    }
}

/// Whether `device` meets `rules`: for every kind of rule that lists values, one of them
/// matches (the name by prefix, the others exactly; all without regard to case). Rules that
/// list nothing match no device.
pub fn rules_match(rules: &GroupRules, device: &DeviceFacts<'_>) -> bool {
    if rules.is_empty() {
        return false;
    }
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let name_ok = rules.name_starts_with.is_empty()
        || device.name.is_some_and(|name| {
            let name = name.trim().as_bytes();
            rules.name_starts_with.iter().any(|prefix| {
                let prefix = prefix.trim().as_bytes();
                name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
            })
        });
    let domain_ok = rules.domain.is_empty()
        || device
            .domain
            .is_some_and(|domain| rules.domain.iter().any(|d| same(d, domain)));
    let os_ok = rules.os.is_empty()
        || device
            .os
            .is_some_and(|os| rules.os.iter().any(|o| same(o, os)));
    let tags_ok = rules.tags.is_empty()
        || device
            .tags
            .iter()
            .any(|tag| rules.tags.iter().any(|t| same(t, tag)));
    name_ok && domain_ok && os_ok && tags_ok
}

/// The cached [`TenantGroups`] of each tenant.
#[derive(Debug)]
pub(crate) struct GroupDirectory {
    store: Arc<dyn DeviceGroupStore>,
    tenants: Mutex<HashMap<String, Arc<TenantGroups>>>,
}

impl GroupDirectory {
    pub(crate) fn new(store: Arc<dyn DeviceGroupStore>) -> Self {
        GroupDirectory {
            store,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn store(&self) -> &dyn DeviceGroupStore {
        self.store.as_ref()
    }

    /// The tenant's groups if they are cached (no store read).
    pub(crate) fn cached(&self, tenant: &str) -> Option<Arc<TenantGroups>> {
        crate::lock(&self.tenants).get(tenant).cloned()
    }

    /// The tenant's groups, read from the store the first time and after each change.
    pub(crate) fn get(&self, tenant: &str) -> Result<Arc<TenantGroups>, StoreError> {
        if let Some(cached) = crate::lock(&self.tenants).get(tenant) {
            return Ok(Arc::clone(cached));
        }
        let groups = Arc::new(TenantGroups::new(self.store.device_groups(tenant)?));
        crate::lock(&self.tenants).insert(tenant.to_owned(), Arc::clone(&groups));
        Ok(groups)
    }

    /// Drops the tenant's cached groups after a change.
    pub(crate) fn forget(&self, tenant: &str) {
        crate::lock(&self.tenants).remove(tenant);
    }
}

/// A spec with its groups resolved, or why its groups could not be.
pub(crate) type Resolved = Result<IndicatorSpec, (ErrorCode, String)>;

/// Resolves the groups each spec names. Specs that name none pass unchanged; the others get
/// both their names and ids from the registry, or fail (unknown id; unknown name unless
/// `create_missing`). Returns the specs (or failures) in order.
pub(crate) fn resolve(
    directory: &GroupDirectory,
    tenant: &str,
    specs: &[IndicatorSpec],
    create_missing: bool,
    now: Timestamp,
) -> Result<Vec<Resolved>, StoreError> {
    let scoped: Vec<usize> = (0..specs.len())
        .filter(|&i| !specs[i].rbac_group_names.is_empty() || !specs[i].rbac_group_ids.is_empty())
        .collect();
    let mut resolved: Vec<Resolved> = specs.iter().cloned().map(Ok).collect();
    if scoped.is_empty() {
        return Ok(resolved);
    }
    let references: Vec<GroupReference> = scoped
        .iter()
        .map(|&i| GroupReference {
            names: specs[i].rbac_group_names.clone(),
            ids: specs[i].rbac_group_ids.clone(),
        })
        .collect();
    let known = directory.get(tenant)?;
    let creates = create_missing
        && scoped
            .iter()
            .flat_map(|&i| &specs[i].rbac_group_names)
            .any(|name| known.id_of(name).is_none());
    let answers =
        directory
            .store()
            .resolve_device_groups(tenant, &references, create_missing, now)?;
    for (&i, answer) in scoped.iter().zip(answers) {
        resolved[i] = match answer {
            Ok(pairs) => {
                let mut spec = specs[i].clone();
                spec.rbac_group_ids = pairs.iter().map(|(id, _)| *id).collect();
                spec.rbac_group_names = pairs.into_iter().map(|(_, name)| name).collect();
                Ok(spec)
            }
            Err(UnknownGroup::Id(id)) => Err((
                ErrorCode::InvalidInput,
                format!("rbacGroupIds: there is no device group with id {id}."),
            )),
            Err(UnknownGroup::Name(name)) => Err((
                ErrorCode::InvalidInput,
                format!(
                    "rbacGroupNames: there is no device group named {name}; create it first (POST /api/deviceGroups)."
                ),
            )),
        };
    }
    if creates {
        directory.forget(tenant);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: i64, rank: i64, rules: GroupRules) -> DeviceGroup {
        DeviceGroup {
            id,
            name: format!("g{id}"),
            description: String::new(),
            rank,
            rules,
            created: Timestamp::from_ticks(0),
            last_update: Timestamp::from_ticks(0),
        }
    }

    fn rules(name: &[&str], domain: &[&str], os: &[&str], tags: &[&str]) -> GroupRules {
        let list = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
        GroupRules {
            name_starts_with: list(name),
            domain: list(domain),
            os: list(os),
            tags: list(tags),
        }
    }

    /// Each row: the device (name, domain, os, tags) and the group it belongs to.
    #[test]
    fn devices_join_the_first_group_by_rank_whose_rules_match() {
        // Ranked: 3 (rank 1) before 1 (rank 2) before 2 (rank 3); listed as the store lists.
        let groups = TenantGroups::new(vec![
            group(3, 1, rules(&["kiosk-"], &[], &[], &[])),
            group(1, 2, rules(&["srv-", "db-"], &["corp.example"], &[], &[])),
            group(2, 3, rules(&[], &[], &["Windows 11", "macOS"], &["laptop"])),
            group(4, 4, GroupRules::default()),
            DeviceGroup::default_group(),
        ]);
        let tags = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Vec<String>,
            i64,
        );
        let cases: Vec<Case<'_>> = vec![
            (Some("KIOSK-7"), None, None, tags(&[]), 3),
            (Some("kiosk-7"), Some("corp.example"), None, tags(&[]), 3),
            (Some("srv-1"), Some("CORP.EXAMPLE "), None, tags(&[]), 1),
            (Some("db-9"), Some("corp.example"), None, tags(&[]), 1),
            // Every rule kind that lists values must match.
            (Some("srv-1"), Some("lab.example"), None, tags(&[]), 0),
            (Some("srv-1"), None, None, tags(&[]), 0),
            (None, None, Some("windows 11"), tags(&["Laptop", "x"]), 2),
            (None, None, Some("Windows 11"), tags(&[]), 0),
            (None, None, Some("Linux"), tags(&["laptop"]), 0),
            // A group without rules takes no device by rule.
            (Some("anything"), None, None, tags(&[]), 0),
            (None, None, None, tags(&[]), 0),
        ];
        for (name, domain, os, tags, expected) in cases {
            let facts = DeviceFacts {
                name,
                domain,
                os,
                tags: &tags,
            };
            assert_eq!(groups.classify(&facts), expected, "{facts:?}");
        }
    }
}
