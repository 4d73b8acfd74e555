//! The bodies of `POST /api/match`: a device and the observables it saw in, a verdict per
//! observable out.

use iocd_service::VerdictReport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/match`: one device and the observables it saw.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MatchRequest {
    #[serde(default)]
    pub device: DeviceContext,
    /// At most 10,000.
    pub observables: Vec<ObservableRequest>,
}

/// The device context of a match request: the device states its groups by name, or describes
/// itself (name, domain, operating system, tags) and gets the group the registry's rules give.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DeviceContext {
    pub id: Option<String>,
    /// Device-group names (compared without regard to case); when given, the description is
    /// not used for grouping.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The device's name (for `nameStartsWith` rules).
    pub name: Option<String>,
    pub domain: Option<String>,
    pub os: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One observable: `type` is File, FileSha256, FileSha1, FileMd5, CertificateThumbprint,
/// IpAddress, DomainName or Url. `File` carries any of the hash fields; the others `value`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservableRequest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_thumbprint: Option<String>,
    /// Malicious, Suspicious or Clean: asks for an `investigationVerdict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_verdict: Option<String>,
}

/// The answer of `POST /api/match`: one result per observable, in request order.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchResponse {
    /// The device id the request gave.
    pub device_id: Option<String>,
    pub value: Vec<MatchResult>,
}

/// The verdict for one observable: the observable as sent, then the verdict explained.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchResult {
    #[serde(flatten)]
    pub observable: ObservableRequest,
    /// What matched and why; nothing matched for a failed item.
    #[serde(flatten)]
    pub verdict: VerdictReport,
    /// Malicious, Suspicious, Clean or Allowed; present when the observable had a
    /// `detectorVerdict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investigation_verdict: Option<String>,
    pub is_failed: bool,
    pub failure_reason: Option<String>,
}

/// `POST /api/match/bypass`: a user shown a warning chose to continue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BypassRequest {
    pub device: BypassDevice,
    /// The `Warn` indicator the user continued past.
    pub indicator_id: String,
    /// Who continued (a user principal name), if the sensor knows.
    pub user: Option<String>,
}

/// The device of a bypass.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BypassDevice {
    pub id: String,
}

/// A bypass in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BypassEntity {
    pub device_id: String,
    pub indicator_id: String,
    pub user: Option<String>,
    pub created_date_time_utc: String,
    pub expiration_date_time_utc: String,
}

impl From<&iocd_store::bypasses::Bypass> for BypassEntity {
    fn from(bypass: &iocd_store::bypasses::Bypass) -> Self {
        BypassEntity {
            device_id: bypass.device_id.clone(),
            indicator_id: bypass.indicator_id.to_string(),
            user: bypass.user.clone(),
            created_date_time_utc: bypass.created.to_mde_seconds(),
            expiration_date_time_utc: bypass.expires.to_mde_seconds(),
        }
    }
}

/// The bypasses in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BypassList {
    pub value: Vec<BypassEntity>,
}
