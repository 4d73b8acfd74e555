//! Device groups as the service uses them: the groups each written indicator names, resolved
//! against the registry (by name and by id) before it is stored; and a directory per tenant,
//! cached until a group changes, that turns the groups a device states into the keys the
//! matcher scopes by.

use iocd_engine::{Device, group_key};
use iocd_model::{ErrorCode, IndicatorSpec, Timestamp};
use iocd_store::StoreError;
use iocd_store::device_groups::{
    DEFAULT_GROUP_ID, DeviceGroup, DeviceGroupStore, GroupReference, UnknownGroup, name_key,
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
