//! The SQLite implementation of [`DeviceGroupStore`].

use super::{SqliteStore, ensure_tenant, tenant_no};
use crate::StoreError;
use crate::device_groups::{
    DEFAULT_GROUP_ID, DeviceGroup, DeviceGroupStore, GroupConflict, GroupReference, GroupRules,
    GroupSpec, Resolution, name_key, resolve_references,
};
use iocd_model::Timestamp;
use rusqlite::{OptionalExtension, Row, Transaction, params};

const COLUMNS: &str = "id, name, description, rank, rules, created, last_update";

fn group_from_row(row: &Row<'_>) -> rusqlite::Result<DeviceGroup> {
    let rules: String = row.get(4)?;
    let rules: GroupRules = serde_json::from_str(&rules).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(DeviceGroup {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        rank: row.get(3)?,
        rules,
        created: Timestamp::from_ticks(row.get(5)?),
        last_update: Timestamp::from_ticks(row.get(6)?),
    })
}

fn rules_json(rules: &GroupRules) -> Result<String, StoreError> {
    serde_json::to_string(rules).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn group_by_id(
    tx: &Transaction<'_>,
    tenant_no: i64,
    id: i64,
) -> Result<Option<DeviceGroup>, StoreError> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM device_groups WHERE tenant_no = ?1 AND id = ?2"
        ))?
        .query_row(params![tenant_no, id], group_from_row)
        .optional()?)
}

fn name_owner(tx: &Transaction<'_>, tenant_no: i64, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id FROM device_groups WHERE tenant_no = ?1 AND name_key = ?2")?
        .query_row(params![tenant_no, name_key(name)], |r| r.get(0))
        .optional()?)
}

/// Adds a group with the next id, ranked after every other unless `rank` says otherwise.
fn insert_group(
    tx: &Transaction<'_>,
    tenant_no: i64,
    spec: &GroupSpec,
    now: Timestamp,
) -> Result<DeviceGroup, StoreError> {
    let (next_id, next_rank): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(id), 0) + 1, COALESCE(MAX(rank), 0) + 1 FROM device_groups WHERE tenant_no = ?1",
        )?
        .query_row(params![tenant_no], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let group = DeviceGroup {
        id: next_id,
        name: spec.name.trim().to_owned(),
        description: spec.description.clone(),
        rank: spec.rank.unwrap_or(next_rank),
        rules: spec.rules.clone(),
        created: now,
        last_update: now,
    };
    tx.prepare_cached(&format!(
        "INSERT INTO device_groups (tenant_no, name_key, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        tenant_no,
        name_key(&group.name),
        group.id,
        group.name,
        group.description,
        group.rank,
        rules_json(&group.rules)?,
        group.created.ticks(),
        group.last_update.ticks(),
    ])?;
    Ok(group)
}

/// The number of indicators (active or not yet swept) scoped to group `id`.
fn users(tx: &Transaction<'_>, tenant_no: i64, name: &str) -> Result<u64, StoreError> {
    let count: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM indicator_groups WHERE tenant_no = ?1 AND lower(group_name) = ?2",
        )?
        .query_row(params![tenant_no, name_key(name)], |r| r.get(0))?;
    Ok(count as u64)
}

impl DeviceGroupStore for SqliteStore {
    fn device_groups(&self, tenant: &str) -> Result<Vec<DeviceGroup>, StoreError> {
        self.read(|connection| {
            let mut groups = match tenant_no(connection, tenant)? {
                None => Vec::new(),
                Some(number) => {
                    let mut statement = connection.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM device_groups WHERE tenant_no = ?1 ORDER BY rank, id"
                    ))?;
                    let rows = statement.query_map(params![number], group_from_row)?;
                    rows.collect::<Result<Vec<_>, _>>()?
                }
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
        self.write(|tx| {
            let number = ensure_tenant(tx, tenant)?;
            if name_key(&spec.name) == name_key(crate::device_groups::DEFAULT_GROUP_NAME)
                || name_owner(tx, number, &spec.name)?.is_some()
            {
                return Ok(Err(GroupConflict::NameTaken(spec.name.trim().to_owned())));
            }
            Ok(Ok(insert_group(tx, number, spec, now)?))
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
        self.write(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(Err(GroupConflict::NotFound));
            };
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
            tx.prepare_cached(
                "UPDATE device_groups SET name = ?3, name_key = ?4, description = ?5, rank = ?6, rules = ?7, last_update = ?8 \
                 WHERE tenant_no = ?1 AND id = ?2",
            )?
            .execute(params![
                number,
                id,
                group.name,
                name_key(&group.name),
                group.description,
                group.rank,
                rules_json(&group.rules)?,
                now.ticks(),
            ])?;
            if group.name != existing.name {
                rename_in_indicators(tx, number, &existing.name, &group.name)?;
            }
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
        self.write(|tx| {
            let Some(number) = tenant_no(tx, tenant)? else {
                return Ok(Err(GroupConflict::NotFound));
            };
            let Some(existing) = group_by_id(tx, number, id)? else {
                return Ok(Err(GroupConflict::NotFound));
            };
            let count = users(tx, number, &existing.name)?;
            if count > 0 {
                return Ok(Err(GroupConflict::InUse(count)));
            }
            tx.prepare_cached("DELETE FROM device_groups WHERE tenant_no = ?1 AND id = ?2")?
                .execute(params![number, id])?;
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
        self.write(|tx| {
            let number = ensure_tenant(tx, tenant)?;
            let existing: Vec<(i64, String)> = {
                let mut statement =
                    tx.prepare_cached("SELECT id, name FROM device_groups WHERE tenant_no = ?1")?;
                let rows = statement.query_map(params![number], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            let mut create = |name: &str| -> Result<(i64, String), StoreError> {
                let group = insert_group(tx, number, &GroupSpec::named(name), now)?;
                Ok((group.id, group.name))
            };
            resolve_references(existing, references, create_missing, &mut create)
        })
    }
}

/// Writes a group's new name into every indicator scoped to it: the name list and the group
/// index used by `rbacGroupNames/any(...)`.
fn rename_in_indicators(
    tx: &Transaction<'_>,
    tenant_no: i64,
    old: &str,
    new: &str,
) -> Result<(), StoreError> {
    let ids: Vec<i64> = {
        let mut statement = tx.prepare_cached(
            "SELECT id FROM indicator_groups WHERE tenant_no = ?1 AND lower(group_name) = ?2",
        )?;
        let rows = statement.query_map(params![tenant_no, name_key(old)], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for id in ids {
        let pk = super::row_key(tenant_no, id);
        let names: String = tx
            .prepare_cached("SELECT rbac_group_names FROM indicators WHERE pk = ?1")?
            .query_row(params![pk], |r| r.get(0))?;
        let mut names: Vec<String> =
            serde_json::from_str(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for name in &mut names {
            if name_key(name) == name_key(old) {
                *name = new.to_owned();
            }
        }
        let json = serde_json::to_string(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.prepare_cached("UPDATE indicators SET rbac_group_names = ?2 WHERE pk = ?1")?
            .execute(params![pk, json])?;
    }
    tx.prepare_cached(
        "UPDATE indicator_groups SET group_name = ?3 WHERE tenant_no = ?1 AND lower(group_name) = ?2",
    )?
    .execute(params![tenant_no, name_key(old), new])?;
    Ok(())
}
