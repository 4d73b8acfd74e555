//! Conformance cases of the device-group registry: names unique without regard to case, ranks,
//! the default group, renames written into indicators, deletion refused while in use, and the
//! resolution of the groups indicators name.

use super::{NOW, spec, t, upsert};
use crate::IndicatorStore;
use crate::device_groups::{
    DEFAULT_GROUP_ID, DeviceGroupStore, GroupConflict, GroupReference, GroupRules, GroupSpec,
    UnknownGroup,
};

fn group(name: &str, rank: Option<i64>) -> GroupSpec {
    GroupSpec {
        name: name.to_owned(),
        description: format!("{name} devices"),
        rank,
        rules: GroupRules {
            name_starts_with: vec![format!("{}-", name.to_lowercase())],
            ..GroupRules::default()
        },
    }
}

pub fn device_groups_are_ranked_named_once_and_the_default_comes_last<S>(store: &S)
where
    S: DeviceGroupStore,
{
    let now = t(NOW);
    let servers = store
        .create_device_group("t", &group("Servers", None), now)
        .unwrap()
        .unwrap();
    let laptops = store
        .create_device_group("t", &group("Laptops", Some(0)), now)
        .unwrap()
        .unwrap();
    assert_eq!((servers.id, servers.rank), (1, 1));
    assert_eq!((laptops.id, laptops.rank), (2, 0));
    assert_eq!(
        store
            .create_device_group("t", &group("SERVERS", None), now)
            .unwrap(),
        Err(GroupConflict::NameTaken("SERVERS".into()))
    );
    assert!(matches!(
        store
            .create_device_group("t", &group("ungrouped DEVICES", None), now)
            .unwrap(),
        Err(GroupConflict::NameTaken(_))
    ));
    // Another tenant has its own names and ids.
    let other = store
        .create_device_group("u", &group("Servers", None), now)
        .unwrap()
        .unwrap();
    assert_eq!(other.id, 1);
    let listed = store.device_groups("t").unwrap();
    let names: Vec<&str> = listed.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["Laptops", "Servers", "Ungrouped devices"]);
    assert_eq!(listed[0].rules.name_starts_with, ["laptops-"]);
    assert_eq!(listed.last().unwrap().id, DEFAULT_GROUP_ID);
    assert_eq!(store.device_groups("nobody").unwrap().len(), 1);
    assert_eq!(
        store
            .update_device_group("t", DEFAULT_GROUP_ID, &group("X", None), now)
            .unwrap(),
        Err(GroupConflict::Default)
    );
    assert_eq!(
        store.delete_device_group("t", DEFAULT_GROUP_ID).unwrap(),
        Err(GroupConflict::Default)
    );
    assert_eq!(
        store.delete_device_group("t", 99).unwrap(),
        Err(GroupConflict::NotFound)
    );
}

pub fn indicator_groups_resolve_by_name_and_id<S>(store: &S)
where
    S: DeviceGroupStore,
{
    let now = t(NOW);
    store
        .create_device_group("t", &group("Servers", None), now)
        .unwrap()
        .unwrap();
    let reference = |names: &[&str], ids: &[i64]| GroupReference {
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        ids: ids.to_vec(),
    };
    let resolved = store
        .resolve_device_groups(
            "t",
            &[
                reference(&["servers"], &[]),
                reference(&[], &[1, 0]),
                reference(&["Kiosks", "SERVERS"], &[1]),
                reference(&[], &[7]),
                reference(&["Unknown"], &[]),
            ],
            false,
            now,
        )
        .unwrap();
    assert_eq!(resolved[0], Ok(vec![(1, "Servers".to_owned())]));
    assert_eq!(
        resolved[1],
        Ok(vec![
            (1, "Servers".to_owned()),
            (0, "Ungrouped devices".to_owned())
        ])
    );
    // Without creation, an unknown name fails its indicator only.
    assert_eq!(resolved[2], Err(UnknownGroup::Name("Kiosks".into())));
    assert_eq!(resolved[3], Err(UnknownGroup::Id(7)));
    assert_eq!(resolved[4], Err(UnknownGroup::Name("Unknown".into())));
    // With creation, unknown names become groups, once.
    let created = store
        .resolve_device_groups(
            "t",
            &[
                reference(&["Kiosks", "SERVERS"], &[1]),
                reference(&["kiosks"], &[]),
            ],
            true,
            now,
        )
        .unwrap();
    assert_eq!(
        created[0],
        Ok(vec![(2, "Kiosks".to_owned()), (1, "Servers".to_owned())])
    );
    assert_eq!(created[1], Ok(vec![(2, "Kiosks".to_owned())]));
    assert_eq!(store.device_groups("t").unwrap().len(), 3);
}

pub fn renames_reach_indicators_and_used_groups_stay<S>(store: &S)
where
    S: IndicatorStore + DeviceGroupStore,
{
    let now = t(NOW);
    let servers = store
        .create_device_group("t", &group("Servers", None), now)
        .unwrap()
        .unwrap();
    let spare = store
        .create_device_group("t", &group("Spare", None), now)
        .unwrap()
        .unwrap();
    upsert(
        store,
        "t",
        &[spec(
            "DomainName",
            "a.example",
            "Block",
            serde_json::json!({"rbacGroupNames": ["Servers"], "rbacGroupIds": [servers.id]}),
        )],
    );
    assert_eq!(
        store.delete_device_group("t", servers.id).unwrap(),
        Err(GroupConflict::InUse(1))
    );
    assert_eq!(store.delete_device_group("t", spare.id).unwrap(), Ok(()));
    let renamed = store
        .update_device_group("t", servers.id, &group("Data centre", Some(5)), now)
        .unwrap()
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.rank), ("Data centre", 5));
    let found = super::ids(
        store,
        "t",
        &super::query("rbacGroupNames/any(g: g eq 'Data centre')"),
    );
    assert_eq!(found.len(), 1);
    let indicator = store
        .get("t", found[0], &crate::Visibility::All, now)
        .unwrap()
        .unwrap();
    assert_eq!(indicator.spec.rbac_group_names, ["Data centre"]);
    assert_eq!(indicator.spec.rbac_group_ids, [servers.id]);
    assert!(
        super::ids(
            store,
            "t",
            &super::query("rbacGroupNames/any(g: g eq 'Servers')")
        )
        .is_empty()
    );
    store
        .create_device_group("t", &group("Other", None), now)
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .update_device_group("t", servers.id, &group("OTHER", None), now)
            .unwrap(),
        Err(GroupConflict::NameTaken("OTHER".into()))
    );
    assert_eq!(
        store
            .update_device_group("t", 99, &group("Nine", None), now)
            .unwrap(),
        Err(GroupConflict::NotFound)
    );
}

/// Expands to one `#[test]` per device-group case, each on a store made by `$make` that
/// implements [`IndicatorStore`] and [`DeviceGroupStore`].
#[macro_export]
macro_rules! device_group_conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            device_groups_are_ranked_named_once_and_the_default_comes_last,
            indicator_groups_resolve_by_name_and_id,
            renames_reach_indicators_and_used_groups_stay,
        );
    };
}
