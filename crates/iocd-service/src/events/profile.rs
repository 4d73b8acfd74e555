//! Event field profiles: which fields of a device event hold its device, time, file hashes,
//! addresses, URLs and host names, in MDE's advanced-hunting names or the Elastic Common
//! Schema's.

/// Field-name conventions of incoming events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventProfile {
    /// MDE advanced-hunting tables (`DeviceFileEvents`, `DeviceNetworkEvents`, ...).
    Mde,
    /// Elastic Common Schema (`file.hash.sha256`, `destination.ip`, ...).
    Ecs,
}

impl EventProfile {
    /// The name `parse` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            EventProfile::Mde => "mde",
            EventProfile::Ecs => "ecs",
        }
    }

    pub fn parse(text: &str) -> Option<EventProfile> {
        match text.to_ascii_lowercase().as_str() {
            "mde" => Some(EventProfile::Mde),
            "ecs" => Some(EventProfile::Ecs),
            _ => None,
        }
    }
}

impl EventProfile {
    /// The profile's field names.
    pub(crate) fn fields(self) -> &'static Fields {
        match self {
            EventProfile::Mde => &MDE_FIELDS,
            EventProfile::Ecs => &ECS_FIELDS,
        }
    }
}

/// Field names of each profile.
pub(crate) struct Fields {
    pub(crate) device_id: &'static [&'static str],
    pub(crate) device_name: &'static [&'static str],
    pub(crate) device_group: &'static [&'static str],
    pub(crate) time: &'static [&'static str],
    /// (sha256, sha1, md5, signer certificate thumbprint) of one file each.
    pub(crate) files: &'static [[Option<&'static str>; 4]],
    pub(crate) ips: &'static [&'static str],
    pub(crate) urls: &'static [&'static str],
    pub(crate) domains: &'static [&'static str],
}

pub(crate) const MDE_FIELDS: Fields = Fields {
    device_id: &["DeviceId"],
    device_name: &["DeviceName"],
    device_group: &["MachineGroup"],
    time: &["Timestamp"],
    files: &[
        [
            Some("SHA256"),
            Some("SHA1"),
            Some("MD5"),
            Some("SignerHash"),
        ],
        [
            Some("InitiatingProcessSHA256"),
            Some("InitiatingProcessSHA1"),
            Some("InitiatingProcessMD5"),
            None,
        ],
    ],
    ips: &["RemoteIP", "FileOriginIP"],
    urls: &["RemoteUrl", "FileOriginUrl"],
    domains: &[],
};

pub(crate) const ECS_FIELDS: Fields = Fields {
    device_id: &["host.id"],
    device_name: &["host.name", "host.hostname"],
    device_group: &["labels.device_group"],
    time: &["@timestamp"],
    files: &[
        [
            Some("file.hash.sha256"),
            Some("file.hash.sha1"),
            Some("file.hash.md5"),
            Some("file.code_signature.thumbprint_sha256"),
        ],
        [
            Some("process.hash.sha256"),
            Some("process.hash.sha1"),
            Some("process.hash.md5"),
            Some("process.code_signature.thumbprint_sha256"),
        ],
    ],
    ips: &["destination.ip"],
    urls: &["url.full", "url.original"],
    domains: &["destination.domain", "url.domain", "dns.question.name"],
};
