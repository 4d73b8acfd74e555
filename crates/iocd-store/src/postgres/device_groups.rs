//! The PostgreSQL implementation of [`DeviceGroupStore`]. Changes to a tenant's groups take
//! the tenant's row lock (ids and names stay unique across nodes); renaming a group rewrites
//! the indicators scoped to it, which goes into the change log like any indicator write.

use super::{ChangeSet, PgStore, lock_tenant, tenant_no};
use crate::StoreError;
use crate::device_groups::{
    DEFAULT_GROUP_ID, DeviceGroup, DeviceGroupStore, GroupConflict, GroupReference, GroupRules,
    GroupSpec, Resolution, name_key, resolve_references,
};
use iocd_model::Timestamp;
use postgres::{Row, Transaction};

const COLUMNS: &str = "id, name, description, rank, rules, created, last_update";

fn group_from_row(row: &Row) -> Result<DeviceGroup, StoreError> {
    let rules: String = row.try_get(4)?;
    Ok(DeviceGroup {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        rank: row.try_get(3)?,
        rules: serde_json::from_str(&rules)
            .map_err(|e| StoreError::Corrupt(format!("group rules: {e}")))?,
        created: Timestamp::from_ticks(row.try_get(5)?),
        last_update: Timestamp::from_ticks(row.try_get(6)?),
    })
}

fn rules_json(rules: &GroupRules) -> Result<String, StoreError> {
    serde_json::to_string(rules).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn group_by_id(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    id: i64,
) -> Result<Option<DeviceGroup>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM device_groups WHERE tenant_no = $1 AND id = $2"),
        &[&tenant_no, &id],
    )?
    .map(|row| group_from_row(&row))
    .transpose()
}

fn name_owner(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT id FROM device_groups WHERE tenant_no = $1 AND name_key = $2",
            &[&tenant_no, &name_key(name)],
        )?
        .map(|row| row.try_get(0))
        .transpose()?)
}

/// Adds a group with the next id, ranked after every other unless `rank` says otherwise.
fn insert_group(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    spec: &GroupSpec,
    now: Timestamp,
) -> Result<DeviceGroup, StoreError> {
    let row = tx.query_one(
        "SELECT COALESCE(MAX(id), 0) + 1, COALESCE(MAX(rank), 0) + 1 FROM device_groups WHERE tenant_no = $1",
        &[&tenant_no],
    )?;
    let (next_id, next_rank): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let group = DeviceGroup {
        id: next_id,
        name: spec.name.trim().to_owned(),
        description: spec.description.clone(),
        rank: spec.rank.unwrap_or(next_rank),
        rules: spec.rules.clone(),
        created: now,
        last_update: now,
    };
    tx.execute(
        &format!("INSERT INTO device_groups (tenant_no, name_key, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        &[
            &tenant_no,
            &name_key(&group.name),
            &group.id,
            &group.name,
            &group.description,
            &group.rank,
            &rules_json(&group.rules)?,
            &group.created.ticks(),
            &group.last_update.ticks(),
        ],
    )?;
    Ok(group)
}

/// The number of indicators (active or not yet swept) scoped to the group named `name`.
fn users(tx: &mut Transaction<'_>, tenant_no: i64, name: &str) -> Result<u64, StoreError> {
    let count: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM indicator_groups WHERE tenant_no = $1 AND lower(group_name) = $2",
            &[&tenant_no, &name_key(name)],
        )?
        .try_get(0)?;
    Ok(count as u64)
}

impl DeviceGroupStore for PgStore {
    fn device_groups(&self, tenant: &str) -> Result<Vec<DeviceGroup>, StoreError> {
        self.read(|tx| {
            let mut groups = match tenant_no(tx, tenant)? {
                None => Vec::new(),
                Some(number) => tx
                    .query(
                        &format!("SELECT {COLUMNS} FROM device_groups WHERE tenant_no = $1 ORDER BY rank, id"),
                        &[&number],
                    )?
                    .iter()
                    .map(group_from_row)
                    .collect::<Result<Vec<_>, _>>()?,
            };
            groups.push(DeviceGroup::default_group());
            Ok(groups)
        })
    }

    fn create_device_group(
        &self,
        tenant: &str,
        spec: &GroupSpec,
        now: Timestamp,
    ) -> Result<Result<DeviceGroup, GroupConflict>, StoreError> {
        self.write(|tx, changes| {
            let number = lock_tenant(tx, tenant)?;
            if name_key(&spec.name) == name_key(crate::device_groups::DEFAULT_GROUP_NAME)
                || name_owner(tx, number, &spec.name)?.is_some()
            {
                return Ok(Err(GroupConflict::NameTaken(spec.name.trim().to_owned())));
            }
            let group = insert_group(tx, number, spec, now)?;
            changes.push(ChangeSet::touched(number, now));
            Ok(Ok(group))
        })
    }

    fn update_device_group(
        &self,
        tenant: &str,
        id: i64,
        spec: &GroupSpec,
        now: Timestamp,
    ) -> Result<Result<DeviceGroup, GroupConflict>, StoreError> {
        if id == DEFAULT_GROUP_ID {
            return Ok(Err(GroupConflict::Default));
        }
        self.write(|tx, changes| {
            if tenant_no(tx, tenant)?.is_none() {
                return Ok(Err(GroupConflict::NotFound));
            }
            let number = lock_tenant(tx, tenant)?;
            let Some(existing) = group_by_id(tx, number, id)? else {
                return Ok(Err(GroupConflict::NotFound));
            };
            let new_name = spec.name.trim().to_owned();
            if let Some(owner) = name_owner(tx, number, &new_name)?
                && owner != id
            {
                return Ok(Err(GroupConflict::NameTaken(new_name)));
            }
            if name_key(&new_name) == name_key(crate::device_groups::DEFAULT_GROUP_NAME) {
                return Ok(Err(GroupConflict::NameTaken(new_name)));
            }
            let group = DeviceGroup {
                id,
                name: new_name,
                description: spec.description.clone(),
                rank: spec.rank.unwrap_or(existing.rank),
                rules: spec.rules.clone(),
                created: existing.created,
                last_update: now,
            };
            tx.execute(
                "UPDATE device_groups SET name = $3, name_key = $4, description = $5, rank = $6, rules = $7, last_update = $8
                 WHERE tenant_no = $1 AND id = $2",
                &[
                    &number,
                    &id,
                    &group.name,
                    &name_key(&group.name),
                    &group.description,
                    &group.rank,
                    &rules_json(&group.rules)?,
                    &now.ticks(),
                ],
            )?;
            // Logged even without a rename: the rules or the rank may have changed.
            let mut change = ChangeSet::touched(number, now);
            if group.name != existing.name {
                rename_in_indicators(tx, number, &existing.name, &group.name, &mut change)?;
            }
            changes.push(change);
            Ok(Ok(group))
        })
    }

    fn delete_device_group(
        &self,
        tenant: &str,
        id: i64,
    ) -> Result<Result<(), GroupConflict>, StoreError> {
        if id == DEFAULT_GROUP_ID {
            return Ok(Err(GroupConflict::Default));
        }
        self.write(|tx, changes| {
            if tenant_no(tx, tenant)?.is_none() {
                return Ok(Err(GroupConflict::NotFound));
            }
            let number = lock_tenant(tx, tenant)?;
            let Some(existing) = group_by_id(tx, number, id)? else {
                return Ok(Err(GroupConflict::NotFound));
            };
            let count = users(tx, number, &existing.name)?;
            if count > 0 {
                return Ok(Err(GroupConflict::InUse(count)));
            }
            tx.execute(
                "DELETE FROM device_groups WHERE tenant_no = $1 AND id = $2",
                &[&number, &id],
            )?;
            let now = Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc());
            changes.push(ChangeSet::touched(number, now));
            Ok(Ok(()))
        })
    }

    fn resolve_device_groups(
        &self,
        tenant: &str,
        references: &[GroupReference],
        create_missing: bool,
        now: Timestamp,
    ) -> Result<Vec<Resolution>, StoreError> {
        self.write(|tx, changes| {
            let number = lock_tenant(tx, tenant)?;
            let existing: Vec<(i64, String)> = tx
                .query(
                    "SELECT id, name FROM device_groups WHERE tenant_no = $1",
                    &[&number],
                )?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, StoreError>>()?;
            let mut created_any = false;
            let mut create = |name: &str| -> Result<(i64, String), StoreError> {
                let group = insert_group(tx, number, &GroupSpec::named(name), now)?;
                created_any = true;
                Ok((group.id, group.name))
            };
            let resolved = resolve_references(existing, references, create_missing, &mut create)?;
            if created_any {
                changes.push(ChangeSet::touched(number, now));
            }
            Ok(resolved)
        })
    }
}

/// Writes a group's new name into every indicator scoped to it: the name list and the group
/// index used by `rbacGroupNames/any(...)`.
fn rename_in_indicators(
    tx: &mut Transaction<'_>,
    tenant_no: i64,
    old: &str,
    new: &str,
    change: &mut ChangeSet,
) -> Result<(), StoreError> {
    let ids: Vec<i64> = tx
        .query(
            "SELECT id FROM indicator_groups WHERE tenant_no = $1 AND lower(group_name) = $2",
            &[&tenant_no, &name_key(old)],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    for id in ids {
        let names: String = tx
            .query_one(
                "SELECT rbac_group_names FROM indicators WHERE tenant_no = $1 AND id = $2",
                &[&tenant_no, &id],
            )?
            .try_get(0)?;
        let mut names: Vec<String> =
            serde_json::from_str(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for name in &mut names {
            if name_key(name) == name_key(old) {
                *name = new.to_owned();
            }
        }
        let json = serde_json::to_string(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "UPDATE indicators SET rbac_group_names = $3 WHERE tenant_no = $1 AND id = $2",
            &[&tenant_no, &id, &json],
        )?;
        change.changed(id);
    }
    tx.execute(
        "UPDATE indicator_groups SET group_name = $3 WHERE tenant_no = $1 AND lower(group_name) = $2",
        &[&tenant_no, &name_key(old), &new],
    )?;
    Ok(())
}
