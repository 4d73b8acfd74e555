//! The detection and retro-hunting engines: turn device events (MDE advanced-hunting or
//! Elastic Common Schema field names) into observables, match them, record sightings and raise
//! alerts; and match a newly created `historicalDetection` indicator against past sightings.

use iocd_engine::{
    Device, FileHashes, Observable, ObservableKind, Snapshot, observable::parse_hex,
    observable::parse_thumbprint,
};
use iocd_model::{IndicatorValue, Timestamp};
use iocd_store::detections::{AlertHit, DeviceRef, Sighting, SightingKind, SightingQuery};
use serde_json::{Value, json};
use std::net::IpAddr;

/// Field-name conventions of incoming events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventProfile {
    /// MDE advanced-hunting tables (`DeviceFileEvents`, `DeviceNetworkEvents`, ...).
    Mde,
    /// Elastic Common Schema (`file.hash.sha256`, `destination.ip`, ...).
    Ecs,
}

impl EventProfile {
    pub fn parse(text: &str) -> Option<EventProfile> {
        match text.to_ascii_lowercase().as_str() {
            "mde" => Some(EventProfile::Mde),
            "ecs" => Some(EventProfile::Ecs),
            _ => None,
        }
    }
}

/// One observable taken from an event, with the field it came from.
#[derive(Debug, Clone)]
pub struct Seen {
    pub observable: Observable,
    pub field: &'static str,
    pub value: String,
}

/// An event reduced to what matching needs.
#[derive(Debug, Clone)]
pub struct DeviceEvent {
    pub device: DeviceRef,
    pub time: Timestamp,
    pub seen: Vec<Seen>,
    /// Fields whose values could not be parsed, with the reason.
    pub invalid: Vec<String>,
}

/// Looks a field up by an ECS-style dotted name, in nested objects, in flat dotted keys, or in
/// any mix of the two.
fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let object = event.as_object()?;
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    let mut split = path.len();
    while let Some(dot) = path[..split].rfind('.') {
        if let Some(inner) = object.get(&path[..dot]) {
            return lookup(inner, &path[dot + 1..]);
        }
        split = dot;
    }
    None
}

fn text<'a>(event: &'a Value, path: &str) -> Option<&'a str> {
    lookup(event, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Field names of each profile.
struct Fields {
    device_id: &'static [&'static str],
    device_name: &'static [&'static str],
    device_group: &'static [&'static str],
    time: &'static [&'static str],
    /// (sha256, sha1, md5, signer certificate thumbprint) of one file each.
    files: &'static [[Option<&'static str>; 4]],
    ips: &'static [&'static str],
    urls: &'static [&'static str],
    domains: &'static [&'static str],
}

const MDE_FIELDS: Fields = Fields {
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

const ECS_FIELDS: Fields = Fields {
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

/// Reduces one event to its device, time and observables. Fails only when the event is not a
/// JSON object or names no device.
pub fn extract(
    profile: EventProfile,
    event: &Value,
    now: Timestamp,
) -> Result<DeviceEvent, String> {
    if !event.is_object() {
        return Err("an event must be a JSON object".into());
    }
    let fields = match profile {
        EventProfile::Mde => &MDE_FIELDS,
        EventProfile::Ecs => &ECS_FIELDS,
    };
    extract_fields(fields, |name| text(event, name), now)
}

/// The rules of [`extract`] over any way of reading a field by name.
fn extract_fields<'e>(
    fields: &Fields,
    text: impl Fn(&str) -> Option<&'e str>,
    now: Timestamp,
) -> Result<DeviceEvent, String> {
    let first = |names: &[&str]| names.iter().find_map(|n| text(n)).map(str::to_owned);
    let name = first(fields.device_name);
    let Some(id) = first(fields.device_id).or_else(|| name.clone()) else {
        return Err(format!(
            "the event names no device (expected {} or {})",
            fields.device_id.join("/"),
            fields.device_name.join("/")
        ));
    };
    let time = match first(fields.time) {
        Some(text) => Timestamp::parse(&text)
            .ok_or_else(|| format!("the event time {text:?} is not an ISO 8601 date-time"))?,
        None => now,
    };
    let mut out = DeviceEvent {
        device: DeviceRef {
            id,
            name,
            group: first(fields.device_group),
        },
        time,
        seen: Vec::new(),
        invalid: Vec::new(),
    };
    for file in fields.files {
        let mut hashes = FileHashes::default();
        let mut shown = Vec::new();
        for (slot, name) in file.iter().enumerate() {
            let Some(name) = name else { continue };
            let Some(value) = text(name) else {
                continue;
            };
            let parsed = match slot {
                0 => parse_hex("SHA-256", value).map(|h| hashes.sha256 = Some(h)),
                1 => parse_hex("SHA-1", value).map(|h| hashes.sha1 = Some(h)),
                2 => parse_hex("MD5", value).map(|h| hashes.md5 = Some(h)),
                _ => parse_thumbprint(value).map(|h| hashes.certificate = Some(h)),
            };
            match parsed {
                Ok(()) => shown.push(value.to_owned()),
                Err(error) => out.invalid.push(format!("{name}: {error}")),
            }
        }
        if !hashes.is_empty() {
            out.seen.push(Seen {
                observable: Observable::File(hashes),
                field: file.iter().flatten().next().copied().unwrap_or("file"),
                value: shown.join(","),
            });
        }
    }
    let add = |kind: ObservableKind, name: &'static str, value: &str, out: &mut DeviceEvent| {
        match Observable::parse(kind, value) {
            Ok(observable) => {
                if !out.seen.iter().any(|s| s.observable == observable) {
                    out.seen.push(Seen {
                        observable,
                        field: name,
                        value: value.to_owned(),
                    });
                }
            }
            Err(error) => out.invalid.push(format!("{name}: {error}")),
        }
    };
    for name in fields.ips {
        if let Some(value) = text(name) {
            add(ObservableKind::IpAddress, name, value, &mut out);
        }
    }
    for name in fields.urls {
        if let Some(value) = text(name) {
            // MDE's RemoteUrl is often a bare host name or a URL without its scheme.
            if value.contains("://") {
                add(ObservableKind::Url, name, value, &mut out);
            } else if value.contains('/') {
                add(
                    ObservableKind::Url,
                    name,
                    &format!("http://{value}"),
                    &mut out,
                );
            } else {
                add(ObservableKind::DomainName, name, value, &mut out);
            }
        }
    }
    for name in fields.domains {
        if let Some(value) = text(name) {
            add(ObservableKind::DomainName, name, value, &mut out);
        }
    }
    Ok(out)
}

/// The fields of an MDE advanced-hunting row that matching reads, borrowed from the line
/// where possible; every other field is skipped without being built.
#[derive(Debug, Default, serde::Deserialize)]
#[allow(non_snake_case)]
struct MdeRow<'a> {
    #[serde(borrow)]
    DeviceId: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    DeviceName: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    MachineGroup: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    Timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    SHA256: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    SHA1: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    MD5: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    SignerHash: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    InitiatingProcessSHA256: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    InitiatingProcessSHA1: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    InitiatingProcessMD5: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    RemoteIP: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    FileOriginIP: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    RemoteUrl: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    FileOriginUrl: Option<std::borrow::Cow<'a, str>>,
}

/// Parses one NDJSON line of MDE fields straight into the shape [`extract`] produces, without
/// building a JSON tree (the fast path of `iocd scan`). Same rules and results as
/// `extract(EventProfile::Mde, ...)`.
pub fn extract_mde_line(line: &[u8], now: Timestamp) -> Result<DeviceEvent, String> {
    let row: MdeRow<'_> = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let field = |name: &str| -> Option<&str> {
        let value = match name {
            "DeviceId" => &row.DeviceId,
            "DeviceName" => &row.DeviceName,
            "MachineGroup" => &row.MachineGroup,
            "Timestamp" => &row.Timestamp,
            "SHA256" => &row.SHA256,
            "SHA1" => &row.SHA1,
            "MD5" => &row.MD5,
            "SignerHash" => &row.SignerHash,
            "InitiatingProcessSHA256" => &row.InitiatingProcessSHA256,
            "InitiatingProcessSHA1" => &row.InitiatingProcessSHA1,
            "InitiatingProcessMD5" => &row.InitiatingProcessMD5,
            "RemoteIP" => &row.RemoteIP,
            "FileOriginIP" => &row.FileOriginIP,
            "RemoteUrl" => &row.RemoteUrl,
            "FileOriginUrl" => &row.FileOriginUrl,
            _ => return None,
        };
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    };
    extract_fields(&MDE_FIELDS, field, now)
}

fn hex(bytes: &[u8]) -> String {
    iocd_model::hex_string(bytes)
}

fn ip_key(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    format!("{:032x}", u128::from(v6))
}

fn reversed_host(host: &str) -> String {
    host.split('.').rev().collect::<Vec<_>>().join(".")
}

/// The sightings one observable leaves in the retro-hunt index.
pub fn sightings(observable: &Observable, device: &DeviceRef, time: Timestamp) -> Vec<Sighting> {
    let make = |kind, key: String, display: String| Sighting {
        kind,
        key,
        display,
        device: device.clone(),
        first_seen: time,
        last_seen: time,
    };
    let host_sighting = |host: &str| match host.parse::<IpAddr>() {
        Ok(ip) => make(SightingKind::Ip, ip_key(ip), ip.to_string()),
        Err(_) => make(SightingKind::Domain, reversed_host(host), host.to_owned()),
    };
    match observable {
        Observable::File(hashes) => {
            let mut out = Vec::new();
            if let Some(h) = &hashes.sha256 {
                out.push(make(SightingKind::Sha256, hex(h), hex(h)));
            }
            if let Some(h) = &hashes.sha1 {
                out.push(make(SightingKind::Sha1, hex(h), hex(h)));
            }
            if let Some(h) = &hashes.md5 {
                out.push(make(SightingKind::Md5, hex(h), hex(h)));
            }
            if let Some(h) = &hashes.certificate {
                let h = h.as_bytes();
                out.push(make(SightingKind::Certificate, hex(h), hex(h)));
            }
            out
        }
        Observable::Ip(ip) => vec![make(SightingKind::Ip, ip_key(*ip), ip.to_string())],
        Observable::Domain(host) => vec![host_sighting(host)],
        Observable::Url(url) => vec![
            make(
                SightingKind::Url,
                url.match_key().to_owned(),
                url.as_str().to_owned(),
            ),
            host_sighting(url.host()),
        ],
    }
}

/// The sighting query that finds everything an indicator of `value` would have matched.
pub fn retro_hunt_query(value: &IndicatorValue, since: Timestamp, limit: usize) -> SightingQuery {
    let mut query = SightingQuery {
        kind: SightingKind::Sha256,
        exact: Vec::new(),
        ranges: Vec::new(),
        since,
        limit,
    };
    match value {
        IndicatorValue::FileSha256(bytes) => query.exact.push(hex(bytes)),
        IndicatorValue::FileSha1(bytes) => {
            query.kind = SightingKind::Sha1;
            query.exact.push(hex(bytes));
        }
        IndicatorValue::FileMd5(bytes) => {
            query.kind = SightingKind::Md5;
            query.exact.push(hex(bytes));
        }
        IndicatorValue::CertificateThumbprint(thumbprint) => {
            query.kind = SightingKind::Certificate;
            query.exact.push(hex(thumbprint.as_bytes()));
        }
        IndicatorValue::IpAddress(network) => {
            query.kind = SightingKind::Ip;
            let (bits, width) = match network.address {
                IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 32u32),
                IpAddr::V6(v6) => (u128::from(v6), 128u32),
            };
            let host_bits = width - u32::from(network.prefix_len_or_full()).min(width);
            let low = if host_bits == 128 {
                0
            } else {
                bits >> host_bits << host_bits
            };
            let high = if host_bits == 128 {
                u128::MAX
            } else {
                low | ((1u128 << host_bits) - 1)
            };
            // Keys are 32 hex digits, so `key <= high` is `key < high + "0"`.
            query
                .ranges
                .push((format!("{low:032x}"), format!("{high:032x}0")));
        }
        IndicatorValue::DomainName(name) => {
            query.kind = SightingKind::Domain;
            let reversed = reversed_host(name.as_str());
            query
                .ranges
                .push((format!("{reversed}."), format!("{reversed}/")));
            query.exact.push(reversed);
        }
        IndicatorValue::Url(url) => {
            query.kind = SightingKind::Url;
            let key = url.match_key();
            if url.query().is_none() {
                query.ranges.push((format!("{key}/"), format!("{key}0")));
                query.ranges.push((format!("{key}?"), format!("{key}@")));
            }
            query.exact.push(key.to_owned());
        }
    }
    query
}

/// Turns a sighting back into the observable it recorded.
pub fn sighting_observable(sighting: &Sighting) -> Option<Observable> {
    let kind = match sighting.kind {
        SightingKind::Sha256 => ObservableKind::FileSha256,
        SightingKind::Sha1 => ObservableKind::FileSha1,
        SightingKind::Md5 => ObservableKind::FileMd5,
        SightingKind::Certificate => ObservableKind::CertificateThumbprint,
        SightingKind::Ip => ObservableKind::IpAddress,
        SightingKind::Domain => ObservableKind::DomainName,
        SightingKind::Url => ObservableKind::Url,
    };
    Observable::parse(kind, &sighting.display).ok()
}

/// The alert hits a retro-hunt for indicator `id` produces from `found`: a sighting counts
/// when, evaluated now with the current indicators, indicator `id` wins and raises an alert.
pub fn retro_hunt_hits(
    snapshot: &Snapshot,
    id: i64,
    found: &[Sighting],
    now: Timestamp,
) -> Vec<AlertHit> {
    found
        .iter()
        .filter_map(|sighting| {
            let observable = sighting_observable(sighting)?;
            let device = Device::new(sighting.device.group.as_slice());
            let verdict = snapshot.evaluate(&observable, &device, now);
            (verdict.raises_alert() && verdict.winner().is_some_and(|w| w.id == id)).then(|| {
                AlertHit {
                    indicator_id: id,
                    device: sighting.device.clone(),
                    event_time: sighting.last_seen,
                    evidence: json!({
                        "source": "retro-hunt",
                        "kind": sighting.kind.as_str(),
                        "value": sighting.display,
                        "firstSeen": sighting.first_seen.to_mde_seconds(),
                        "lastSeen": sighting.last_seen.to_mde_seconds(),
                    }),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_nested_flat_or_mixed() {
        let event = json!({"file": {"hash": {"sha256": "a"}}, "process.hash": {"md5": "b"}, "url.full": "c"});
        assert_eq!(text(&event, "file.hash.sha256"), Some("a"));
        assert_eq!(text(&event, "process.hash.md5"), Some("b"));
        assert_eq!(text(&event, "url.full"), Some("c"));
        assert_eq!(text(&event, "file.hash.md5"), None);
    }

    #[test]
    fn ip_ranges_cover_exactly_the_network() {
        let network =
            IndicatorValue::parse(iocd_model::IndicatorType::IpAddress, "10.1.0.0/16", true)
                .unwrap();
        let query = retro_hunt_query(&network, Timestamp::from_ticks(0), 10);
        let (low, high) = &query.ranges[0];
        let inside = ip_key("10.1.255.255".parse().unwrap());
        let first = ip_key("10.1.0.0".parse().unwrap());
        let outside = ip_key("10.2.0.0".parse().unwrap());
        let below = ip_key("10.0.255.255".parse().unwrap());
        for (key, expected) in [
            (inside, true),
            (first, true),
            (outside, false),
            (below, false),
        ] {
            assert_eq!(&key >= low && &key < high, expected, "{key}");
        }
    }
}
