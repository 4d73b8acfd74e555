//! The bodies of `/api/deviceGroups`: a device group in and out.

use iocd_store::device_groups::{DeviceGroup, GroupRules};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Membership rules: a device matches when, for every kind of rule that lists values, one of
/// them matches (name by prefix, the others exactly; all without regard to case).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GroupRulesBody {
    pub name_starts_with: Vec<String>,
    pub domain: Vec<String>,
    pub os: Vec<String>,
    pub tags: Vec<String>,
}

impl From<&GroupRules> for GroupRulesBody {
    fn from(rules: &GroupRules) -> Self {
        GroupRulesBody {
            name_starts_with: rules.name_starts_with.clone(),
            domain: rules.domain.clone(),
            os: rules.os.clone(),
            tags: rules.tags.clone(),
        }
    }
}

impl From<GroupRulesBody> for GroupRules {
    fn from(body: GroupRulesBody) -> Self {
        GroupRules {
            name_starts_with: body.name_starts_with,
            domain: body.domain,
            os: body.os,
            tags: body.tags,
        }
    }
}

/// A device group.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceGroupEntity {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Lower ranks are tried first; `null` for the default group, which comes last.
    pub rank: Option<i64>,
    pub rules: GroupRulesBody,
    /// Whether this is the default group of devices no rule places elsewhere.
    pub is_default: bool,
    pub created_date_time_utc: String,
    pub last_update_date_time_utc: String,
}

impl From<&DeviceGroup> for DeviceGroupEntity {
    fn from(group: &DeviceGroup) -> Self {
        let is_default = group.id == iocd_store::device_groups::DEFAULT_GROUP_ID;
        DeviceGroupEntity {
            id: group.id,
            name: group.name.clone(),
            description: group.description.clone(),
            rank: (!is_default).then_some(group.rank),
            rules: GroupRulesBody::from(&group.rules),
            is_default,
            created_date_time_utc: group.created.to_mde_precise(),
            last_update_date_time_utc: group.last_update.to_mde_precise(),
        }
    }
}

/// `POST /api/deviceGroups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceGroupRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Default: after every group.
    pub rank: Option<i64>,
    #[serde(default)]
    pub rules: GroupRulesBody,
}

/// `PATCH /api/deviceGroups/{id}`: the fields given replace the group's.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceGroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub rank: Option<i64>,
    pub rules: Option<GroupRulesBody>,
}

/// One device group with its OData context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceGroupResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub group: DeviceGroupEntity,
}

/// The list of a tenant's device groups, by rank.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceGroupList {
    #[serde(rename = "@odata.context")]
    pub context: String,
    pub value: Vec<DeviceGroupEntity>,
}
