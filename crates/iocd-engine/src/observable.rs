//! Observables: what a device saw (a file's hashes, an address, a host name, a URL), parsed and
//! normalised with the same rules the model crate applies to indicator values.

use iocd_model::url_canon::{CanonicalUrl, canonicalise_url_parts};
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
///
/// The match key (host, path without trailing slashes, `?query`) is most often a part of the
/// canonical URL itself (no port, and no trailing slash before a query); otherwise it is
/// appended after it, in the same buffer. Either way parsing allocates once and every key a
/// lookup probes (the whole key, then shorter path prefixes) is a slice of one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedUrl {
    text: String,
    canonical_len: usize,
    host: std::ops::Range<usize>,
    path: std::ops::Range<usize>,
    query: Option<std::ops::Range<usize>>,
    /// The port written in the URL, if any (canonical URLs omit the scheme's default port).
    explicit_port: Option<u16>,
    default_port: u16,
    /// Where the match key is in `text`.
    key: std::ops::Range<usize>,
    /// Length of the match key's host and path part (the key without `?query`).
    key_path_len: usize,
}

impl ObservedUrl {
    /// Canonicalises `raw` with the model crate's rules and finds (or appends) the match key.
    pub fn parse(raw: &str) -> Result<ObservedUrl, ObservableError> {
        let canonical = canonicalise_url_parts(raw)
            .map_err(|e| ObservableError::new("URL", raw, e.to_string()))?;
        Ok(with_match_key(canonical))
    }

    /// The canonical URL.
    pub fn as_str(&self) -> &str {
        &self.text[..self.canonical_len]
    }

    /// The host, lower-case, without brackets around an IPv6 address.
    pub fn host(&self) -> &str {
        &self.text[self.host.clone()]
    }

    /// The path, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.text[self.path.clone()]
    }

    /// The query string without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.clone().map(|range| &self.text[range])
    }

    /// The port the connection goes to: the explicit one, or the scheme's default.
    pub fn port(&self) -> u16 {
        self.explicit_port.unwrap_or(self.default_port)
    }

    /// The key URL indicators and sightings use: host, path without a trailing slash, then
    /// `?query` when there is one.
    pub fn match_key(&self) -> &str {
        &self.text[self.key.clone()]
    }

    /// The match key without its `?query`: host and path without a trailing slash.
    pub(crate) fn key_without_query(&self) -> &str {
        &self.match_key()[..self.key_path_len]
    }

    /// The port written in the URL, if any (canonical URLs omit the scheme's default port).
    pub(crate) fn explicit_port(&self) -> Option<u16> {
        self.explicit_port
    }
}

/// Finds the match key (host, path without trailing slashes, `?query`) of a canonical URL:
/// the part of it from the host on when no port comes between host and path and no trailing
/// slash before a query, else a copy appended after it.
fn with_match_key(canonical: CanonicalUrl) -> ObservedUrl {
    let CanonicalUrl {
        mut text,
        host,
        explicit_port,
        default_port,
        path,
        query,
    } = canonical;
    let canonical_len = text.len();
    let trimmed_path_end = path.start + text[path.clone()].trim_end_matches('/').len();
    let contiguous = host.end == path.start && (query.is_none() || trimmed_path_end == path.end);
    let (key, key_path_len) = if contiguous {
        let end = match &query {
            Some(query) => query.end,
            None => trimmed_path_end,
        };
        (host.start..end, trimmed_path_end - host.start)
    } else {
        text.reserve(canonical_len);
        text.extend_from_within(host.clone());
        text.extend_from_within(path.start..trimmed_path_end);
        let key_path_len = text.len() - canonical_len;
        if let Some(query) = &query {
            text.push('?');
            text.extend_from_within(query.clone());
        }
        (canonical_len..text.len(), key_path_len)
    };
    ObservedUrl {
        text,
        canonical_len,
        host,
        path,
        query,
        explicit_port,
        default_port,
        key,
        key_path_len,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_keys_drop_scheme_port_trailing_slashes_and_fragment() {
        // (observed URL, canonical URL, match key, match key without its query)
        let cases = [
            (
                "http://a.com/x/y",
                "http://a.com/x/y",
                "a.com/x/y",
                "a.com/x/y",
            ),
            ("http://a.com/x/", "http://a.com/x/", "a.com/x", "a.com/x"),
            ("http://a.com", "http://a.com/", "a.com", "a.com"),
            (
                "https://A.com/x?q=1#f",
                "https://a.com/x?q=1",
                "a.com/x?q=1",
                "a.com/x",
            ),
            (
                "http://a.com/x/?q",
                "http://a.com/x/?q",
                "a.com/x?q",
                "a.com/x",
            ),
            ("http://a.com/?q", "http://a.com/?q", "a.com?q", "a.com"),
            (
                "http://a.com:8080/x",
                "http://a.com:8080/x",
                "a.com/x",
                "a.com/x",
            ),
            (
                "http://a.com:8080/x/?q",
                "http://a.com:8080/x/?q",
                "a.com/x?q",
                "a.com/x",
            ),
            (
                "https://a.com:443/x",
                "https://a.com/x",
                "a.com/x",
                "a.com/x",
            ),
            ("http://[::1]:81/x?", "http://[::1]:81/x", "::1/x", "::1/x"),
        ];
        for (raw, canonical, key, without_query) in cases {
            let url = ObservedUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(url.as_str(), canonical, "{raw}");
            assert_eq!(url.match_key(), key, "{raw}");
            assert_eq!(url.key_without_query(), without_query, "{raw}");
        }
    }
}
