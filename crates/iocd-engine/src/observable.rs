//! Observables: what a device saw (a file's hashes, an address, a host name, a URL), parsed and
//! normalised with the same rules the model crate applies to indicator values.

use iocd_model::url_canon::canonicalise_url;
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
    /// Thumbprint of the leaf certificate that signed the file (20 or 32 bytes).
    pub certificate: Option<Vec<u8>>,
}

impl FileHashes {
    pub fn is_empty(&self) -> bool {
        self.sha256.is_none()
            && self.sha1.is_none()
            && self.md5.is_none()
            && self.certificate.is_none()
    }
}

/// A URL as observed, canonicalised and split into the parts matching uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedUrl {
    canonical: String,
    host: std::ops::Range<usize>,
    path: std::ops::Range<usize>,
    query: Option<std::ops::Range<usize>>,
    port: u16,
}

impl ObservedUrl {
    /// Canonicalises `raw` with [`canonicalise_url`] and splits it.
    pub fn parse(raw: &str) -> Result<ObservedUrl, ObservableError> {
        let canonical =
            canonicalise_url(raw).map_err(|e| ObservableError::new("URL", raw, e.to_string()))?;
        split_canonical(canonical).ok_or_else(|| ObservableError::new("URL", raw, "no host"))
    }

    /// The canonical URL.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The host, lower-case, without brackets around an IPv6 address.
    pub fn host(&self) -> &str {
        self.canonical[self.host.clone()]
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// The path, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.canonical[self.path.clone()]
    }

    /// The query string without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.clone().map(|range| &self.canonical[range])
    }

    /// The port the connection goes to: the explicit one, or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The key URL indicators and sightings use: host, path without a trailing slash, then
    /// `?query` when there is one.
    pub fn match_key(&self) -> String {
        let mut key = String::with_capacity(self.canonical.len());
        key.push_str(self.host());
        key.push_str(self.path().trim_end_matches('/'));
        if let Some(query) = self.query() {
            key.push('?');
            key.push_str(query);
        }
        key
    }

    /// The port written in the URL, if any (canonical URLs omit the scheme's default port).
    pub(crate) fn explicit_port(&self) -> Option<u16> {
        let authority_end = self.path.start;
        let after_host = &self.canonical[self.host.end..authority_end];
        after_host.strip_prefix(':').and_then(|p| p.parse().ok())
    }
}

/// Splits a canonical `scheme://host[:port]/path[?query]` string.
fn split_canonical(canonical: String) -> Option<ObservedUrl> {
    let scheme_end = canonical.find("://")?;
    let authority_start = scheme_end + 3;
    let rest = &canonical[authority_start..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_len = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.rfind(':').unwrap_or(authority.len())
    };
    if host_len == 0 {
        return None;
    }
    let host = authority_start..authority_start + host_len;
    let explicit_port = authority[host_len..]
        .strip_prefix(':')
        .and_then(|p| p.parse::<u16>().ok());
    let default_port = if canonical[..scheme_end].eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let path_start = authority_start + authority_len;
    let (path, query) = match canonical[path_start..].find('?') {
        Some(q) => (
            path_start..path_start + q,
            Some(path_start + q + 1..canonical.len()),
        ),
        None => (path_start..canonical.len(), None),
    };
    Some(ObservedUrl {
        host,
        path,
        query,
        port: explicit_port.unwrap_or(default_port),
        canonical,
    })
}

/// One thing a device saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observable {
    File(FileHashes),
    Ip(IpAddr),
    /// A host name, lower-case, without a trailing dot, IDN labels in punycode.
    Domain(String),
    Url(ObservedUrl),
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
            ObservableKind::Url => return ObservedUrl::parse(raw).map(Observable::Url),
        }
        Ok(Observable::File(hashes))
    }
}

/// Decodes a hash of exactly `N` bytes written as hex.
pub fn parse_hex<const N: usize>(
    what: &'static str,
    raw: &str,
) -> Result<[u8; N], ObservableError> {
    let text = raw.trim().as_bytes();
    if text.len() != N * 2 {
        return Err(ObservableError::new(
            what,
            raw,
            format!("expected {} hexadecimal characters", N * 2),
        ));
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_chunks::<2>().0) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(hi), Some(lo)) => *byte = hi << 4 | lo,
            _ => return Err(ObservableError::new(what, raw, "not hexadecimal")),
        }
    }
    Ok(out)
}

/// Decodes a certificate thumbprint: SHA-1 (40 hex digits) or SHA-256 (64), separators
/// `:` and spaces ignored.
pub fn parse_thumbprint(raw: &str) -> Result<Vec<u8>, ObservableError> {
    let cleaned: String = raw.chars().filter(|c| *c != ':' && *c != ' ').collect();
    match cleaned.len() {
        40 => parse_hex::<20>("certificate thumbprint", &cleaned).map(|b| b.to_vec()),
        64 => parse_hex::<32>("certificate thumbprint", &cleaned).map(|b| b.to_vec()),
        _ => Err(ObservableError::new(
            "certificate thumbprint",
            raw,
            "expected 40 or 64 hexadecimal characters",
        )),
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
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
    iocd_model::normalise_value(iocd_model::IndicatorType::DomainName, trimmed, true)
        .map_err(|e| ObservableError::new("domain name", raw, e.message))
}
