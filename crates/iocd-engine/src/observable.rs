//! Observables: what a device saw (a file's hashes, an address, a host name, a URL), parsed and
//! normalised with the same rules the model crate applies to indicator values.

use iocd_model::{CanonicalUrl, DomainName, Thumbprint, decode_hex};
use std::net::IpAddr;

/// Why an observed value could not be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {reason}")]
pub struct ObservableError {
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

impl ObservableError {
    fn new(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ObservableError {
            what,
            value: value.chars().take(200).collect(),
            reason: reason.into(),
        }
    }
}

/// The hashes of one file; any may be absent. A file observable carrying several lets the
/// strongest-hash rule apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHashes {
    pub sha256: Option<[u8; 32]>,
    pub sha1: Option<[u8; 20]>,
    pub md5: Option<[u8; 16]>,
    /// Thumbprint of the leaf certificate that signed the file.
    pub certificate: Option<Thumbprint>,
}

impl FileHashes {
    pub fn is_empty(&self) -> bool {
        self.sha256.is_none()
            && self.sha1.is_none()
            && self.md5.is_none()
            && self.certificate.is_none()
    }
}

/// One thing a device saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observable {
    File(FileHashes),
    Ip(IpAddr),
    /// A host name, lower-case, without a trailing dot, IDN labels in punycode.
    Domain(String),
    Url(CanonicalUrl),
}

/// The observable kinds the matching API accepts, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservableKind {
    FileSha256,
    FileSha1,
    FileMd5,
    CertificateThumbprint,
    IpAddress,
    DomainName,
    Url,
}

impl ObservableKind {
    /// Parses the wire name (the indicator type names), ignoring ASCII case.
    pub fn parse(name: &str) -> Option<ObservableKind> {
        const NAMES: &[(&str, ObservableKind)] = &[
            ("FileSha256", ObservableKind::FileSha256),
            ("FileSha1", ObservableKind::FileSha1),
            ("FileMd5", ObservableKind::FileMd5),
            (
                "CertificateThumbprint",
                ObservableKind::CertificateThumbprint,
            ),
            ("IpAddress", ObservableKind::IpAddress),
            ("DomainName", ObservableKind::DomainName),
            ("Url", ObservableKind::Url),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, kind)| *kind)
    }
}

impl Observable {
    /// Parses one observed value of `kind`.
    pub fn parse(kind: ObservableKind, raw: &str) -> Result<Observable, ObservableError> {
        let mut hashes = FileHashes::default();
        match kind {
            ObservableKind::FileSha256 => hashes.sha256 = Some(parse_hex("SHA-256", raw)?),
            ObservableKind::FileSha1 => hashes.sha1 = Some(parse_hex("SHA-1", raw)?),
            ObservableKind::FileMd5 => hashes.md5 = Some(parse_hex("MD5", raw)?),
            ObservableKind::CertificateThumbprint => {
                hashes.certificate = Some(parse_thumbprint(raw)?)
            }
            ObservableKind::IpAddress => return parse_ip(raw).map(Observable::Ip),
            ObservableKind::DomainName => return normalise_host(raw).map(Observable::Domain),
            ObservableKind::Url => return parse_url(raw).map(Observable::Url),
        }
        Ok(Observable::File(hashes))
    }
}

/// Decodes a hash of exactly `N` bytes written as hex (surrounding white space ignored).
pub fn parse_hex<const N: usize>(
    what: &'static str,
    raw: &str,
) -> Result<[u8; N], ObservableError> {
    decode_hex(raw.trim()).ok_or_else(|| {
        ObservableError::new(
            what,
            raw,
            format!("expected {} hexadecimal characters", N * 2),
        )
    })
}

/// Decodes a certificate thumbprint: SHA-1 (40 hex digits) or SHA-256 (64), separators
/// `:` and spaces ignored.
pub fn parse_thumbprint(raw: &str) -> Result<Thumbprint, ObservableError> {
    Thumbprint::parse(raw.trim(), true).ok_or_else(|| {
        ObservableError::new(
            "certificate thumbprint",
            raw,
            "expected 40 or 64 hexadecimal characters",
        )
    })
}

/// Canonicalises an observed URL with the model crate's rules.
pub fn parse_url(raw: &str) -> Result<CanonicalUrl, ObservableError> {
    CanonicalUrl::parse(raw).map_err(|e| ObservableError::new("URL", raw, e.to_string()))
}

/// Parses an observed IP address; IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_ip(raw: &str) -> Result<IpAddr, ObservableError> {
    let text = raw.trim().trim_start_matches('[').trim_end_matches(']');
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => Ok(v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6))),
        Ok(ip) => Ok(ip),
        Err(_) => Err(ObservableError::new(
            "IP address",
            raw,
            "not an IPv4 or IPv6 address",
        )),
    }
}

/// Normalises an observed host name: lower-case, no trailing dot, IDN labels to punycode.
pub fn normalise_host(raw: &str) -> Result<String, ObservableError> {
    let trimmed = raw.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(ObservableError::new("domain name", raw, "empty"));
    }
    if trimmed
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Ok(trimmed.to_owned());
    }
    if trimmed.is_ascii() {
        return Ok(trimmed.to_ascii_lowercase());
    }
    DomainName::parse(trimmed)
        .map(|name| name.as_str().to_owned())
        .map_err(|e| ObservableError::new("domain name", raw, e.message))
}
