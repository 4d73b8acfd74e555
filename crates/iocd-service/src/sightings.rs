//! Sightings: the observables seen in events, keyed so that everything one indicator would
//! match is one key or one key range (`docs/matching.md`), for retro-hunting.

use iocd_engine::{Observable, ObservableKind};
use iocd_model::Timestamp;
use iocd_store::detections::{DeviceRef, Sighting, SightingKind};
use std::net::IpAddr;

/// `bytes` as lower-case hexadecimal: the key of a hash or thumbprint sighting.
pub(crate) fn hex(bytes: &[u8]) -> String {
    iocd_model::hex_string(bytes)
}

/// The key of an address sighting: its IPv6 form (IPv4 mapped) as 32 hex digits, so that a
/// network is one key range.
pub(crate) fn ip_key(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    format!("{:032x}", u128::from(v6))
}

/// The key of a host sighting: its labels in reverse order (`com.example.www`), so that a
/// domain and its subdomains are one key range.
pub(crate) fn reversed_host(host: &str) -> String {
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

/// Turns a sighting back into the observable it recorded.
pub(crate) fn sighting_observable(sighting: &Sighting) -> Option<Observable> {
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
