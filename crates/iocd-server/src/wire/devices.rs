//! The bodies of `/api/machines` (also `/api/devices`): the devices seen, shaped as MDE's
//! machine entity.

use serde::Serialize;
use utoipa::ToSchema;

/// A device that asked for a verdict or sent events: MDE's machine properties that iocd knows,
/// plus the domain it gave.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Machine)]
pub struct MachineEntity {
    pub id: String,
    /// The name the device gave.
    pub computer_dns_name: Option<String>,
    /// The domain the device gave (iocd).
    pub domain: Option<String>,
    /// The operating system the device gave.
    pub os_platform: Option<String>,
    pub machine_tags: Vec<String>,
    /// The device group it was placed in on its last request.
    pub rbac_group_id: Option<i64>,
    pub rbac_group_name: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
}

/// One device with its OData context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MachineResponse {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(flatten)]
    pub machine: MachineEntity,
}

/// A page of devices, last seen first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MachineList {
    #[serde(rename = "@odata.context")]
    pub context: String,
    /// With `$count=true`: how many devices the tenant has.
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub value: Vec<MachineEntity>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}
