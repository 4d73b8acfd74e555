//! Indicator values, parsed: one type per kind of value, each with one normalised text form
//! (its `Display`) that iocd stores, compares for the upsert key and returns. The rules are
//! listed in `docs/normalisation.md`.

mod domain;
mod hash;
mod ip;

pub use domain::DomainName;
pub use hash::{Thumbprint, decode_hex, hex_string};
pub use ip::{IpNetwork, parse_ip_network};

use crate::url::{CanonicalUrl, UrlError};
use crate::{ErrorCode, IndicatorType, ValidationError};
use std::fmt;

/// Longest value accepted for any indicator type, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;

/// A validated, normalised indicator value. Its variant is its indicator type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndicatorValue {
    FileSha1([u8; 20]),
    FileSha256([u8; 32]),
    FileMd5([u8; 16]),
    CertificateThumbprint(Thumbprint),
    IpAddress(IpNetwork),
    DomainName(DomainName),
    Url(CanonicalUrl),
}

impl IndicatorValue {
    /// Validates `raw` as a value of `indicator_type` and normalises it. `extensions` enables
    /// iocd's additions to MDE (CIDR ranges, SHA-256 certificate thumbprints, separators in
    /// thumbprints); with it off the rules are MDE's.
    pub fn parse(
        indicator_type: IndicatorType,
        raw: &str,
        extensions: bool,
    ) -> Result<IndicatorValue, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new(
                ErrorCode::InvalidInput,
                "indicatorValue",
                "Received an empty indicator value.",
            ));
        }
        if trimmed.len() > MAX_VALUE_LEN {
            return Err(ValidationError::invalid(
                "indicatorValue",
                format!(
                    "Indicator value is {} bytes long; the maximum is {MAX_VALUE_LEN}.",
                    trimmed.len()
                ),
            ));
        }
        let bad_hash = |what: &str, expected: &str| {
            ValidationError::new(
                ErrorCode::InvalidHashValue,
                "indicatorValue",
                format!(
                    "Hash value {trimmed} is invalid: a {what} is {expected} hexadecimal characters."
                ),
            )
        };
        Ok(match indicator_type {
            IndicatorType::FileMd5 => {
                IndicatorValue::FileMd5(decode_hex(trimmed).ok_or_else(|| bad_hash("MD5", "32"))?)
            }
            IndicatorType::FileSha1 => IndicatorValue::FileSha1(
                decode_hex(trimmed).ok_or_else(|| bad_hash("SHA-1", "40"))?,
            ),
            IndicatorType::FileSha256 => IndicatorValue::FileSha256(
                decode_hex(trimmed).ok_or_else(|| bad_hash("SHA-256", "64"))?,
            ),
            IndicatorType::CertificateThumbprint => {
                let thumbprint = Thumbprint::parse(trimmed, extensions)
                    .filter(|t| extensions || matches!(t, Thumbprint::Sha1(_)));
                let expected = if extensions { "40 or 64" } else { "40" };
                IndicatorValue::CertificateThumbprint(
                    thumbprint.ok_or_else(|| bad_hash("certificate thumbprint", expected))?,
                )
            }
            IndicatorType::IpAddress => {
                IndicatorValue::IpAddress(parse_ip_network(trimmed, extensions)?)
            }
            IndicatorType::DomainName => IndicatorValue::DomainName(DomainName::parse(trimmed)?),
            IndicatorType::Url => {
                IndicatorValue::Url(CanonicalUrl::parse(trimmed).map_err(|error| {
                    ValidationError::new(
                        ErrorCode::InvalidUrl,
                        "indicatorValue",
                        format!("URL {trimmed} is invalid: {error}."),
                    )
                })?)
            }
        })
    }

    pub fn indicator_type(&self) -> IndicatorType {
        match self {
            IndicatorValue::FileSha1(_) => IndicatorType::FileSha1,
            IndicatorValue::FileSha256(_) => IndicatorType::FileSha256,
            IndicatorValue::FileMd5(_) => IndicatorType::FileMd5,
            IndicatorValue::CertificateThumbprint(_) => IndicatorType::CertificateThumbprint,
            IndicatorValue::IpAddress(_) => IndicatorType::IpAddress,
            IndicatorValue::DomainName(_) => IndicatorType::DomainName,
            IndicatorValue::Url(_) => IndicatorType::Url,
        }
    }
}

/// The normalised text: lower-case hex for hashes and thumbprints, the address (IPv6 with all
/// eight groups) and `/prefix` for networks, the domain name, the canonical URL.
impl fmt::Display for IndicatorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndicatorValue::FileSha1(bytes) => hash::write_hex(f, bytes),
            IndicatorValue::FileSha256(bytes) => hash::write_hex(f, bytes),
            IndicatorValue::FileMd5(bytes) => hash::write_hex(f, bytes),
            IndicatorValue::CertificateThumbprint(thumbprint) => thumbprint.fmt(f),
            IndicatorValue::IpAddress(network) => network.fmt(f),
            IndicatorValue::DomainName(name) => name.fmt(f),
            IndicatorValue::Url(url) => f.write_str(url.as_str()),
        }
    }
}

impl serde::Serialize for IndicatorValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<UrlError> for ValidationError {
    fn from(error: UrlError) -> Self {
        ValidationError::new(ErrorCode::InvalidUrl, "indicatorValue", error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per case: type, input, extensions on?, expected normalised value or error code.
    fn check(cases: &[(IndicatorType, &str, bool, Result<&str, ErrorCode>)]) {
        for (indicator_type, input, extensions, expected) in cases {
            let parsed = IndicatorValue::parse(*indicator_type, input, *extensions);
            if let Ok(value) = &parsed {
                // The normalised text parses back to the same value, of the same type.
                assert_eq!(value.indicator_type(), *indicator_type);
                let again = IndicatorValue::parse(*indicator_type, &value.to_string(), true);
                assert_eq!(again.as_ref(), Ok(value), "{indicator_type} {input:?}");
            }
            let got = parsed.map(|value| value.to_string());
            match (expected, &got) {
                (Ok(want), Ok(have)) => assert_eq!(have, want, "{indicator_type} {input:?}"),
                (Err(code), Err(error)) => {
                    assert_eq!(error.code, *code, "{indicator_type} {input:?}: {error}")
                }
                _ => panic!("{indicator_type} {input:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn hashes() {
        use IndicatorType::*;
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        check(&[
            (FileMd5, md5, true, Ok("d41d8cd98f00b204e9800998ecf8427e")),
            (FileMd5, &md5[1..], true, Err(ErrorCode::InvalidHashValue)),
            (FileSha1, sha1, false, Ok(sha1)),
            (FileSha1, &format!(" {sha1} "), false, Ok(sha1)),
            (FileSha1, md5, false, Err(ErrorCode::InvalidHashValue)),
            (
                FileSha256,
                sha256,
                false,
                Ok("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ),
            (
                FileSha256,
                &sha256.replace('E', "G"),
                false,
                Err(ErrorCode::InvalidHashValue),
            ),
            (FileSha256, "", false, Err(ErrorCode::InvalidInput)),
            (CertificateThumbprint, sha1, false, Ok(sha1)),
            (
                CertificateThumbprint,
                sha256,
                false,
                Err(ErrorCode::InvalidHashValue),
            ),
            (
                CertificateThumbprint,
                sha256,
                true,
                Ok("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ),
            (
                CertificateThumbprint,
                "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09",
                true,
                Ok(sha1),
            ),
            (
                CertificateThumbprint,
                "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09",
                false,
                Err(ErrorCode::InvalidHashValue),
            ),
        ]);
    }

    #[test]
    fn ip_addresses() {
        use IndicatorType::IpAddress as Ip;
        check(&[
            (Ip, "203.0.113.7", false, Ok("203.0.113.7")),
            (Ip, "10.10.10.10", false, Ok("10.10.10.10")),
            (Ip, "203.0.113.256", false, Err(ErrorCode::InvalidIpAddress)),
            (Ip, "203.0.113", false, Err(ErrorCode::InvalidIpAddress)),
            (Ip, "010.0.0.1", false, Err(ErrorCode::InvalidIpAddress)),
            (
                Ip,
                "2001:4860:4860:0:0:0:0:8888",
                false,
                Ok("2001:4860:4860:0:0:0:0:8888"),
            ),
            (
                Ip,
                "2001:4860:4860::8888",
                false,
                Ok("2001:4860:4860:0:0:0:0:8888"),
            ),
            (
                Ip,
                "2001:4860:4860:0000:0000:0000:0000:8888",
                false,
                Ok("2001:4860:4860:0:0:0:0:8888"),
            ),
            (Ip, "2001:DB8::1", false, Ok("2001:db8:0:0:0:0:0:1")),
            (Ip, "::ffff:198.51.100.1", false, Ok("198.51.100.1")),
            (Ip, "fe80::1%eth0", false, Err(ErrorCode::InvalidIpAddress)),
            (Ip, "example.com", false, Err(ErrorCode::InvalidIpAddress)),
            (Ip, "198.51.100.0/24", true, Ok("198.51.100.0/24")),
            (
                Ip,
                "198.51.100.0/24",
                false,
                Err(ErrorCode::InvalidIpAddress),
            ),
            (
                Ip,
                "198.51.100.7/24",
                true,
                Err(ErrorCode::InvalidIpAddress),
            ),
            (Ip, "198.51.100.7/32", true, Ok("198.51.100.7")),
            (
                Ip,
                "198.51.100.0/33",
                true,
                Err(ErrorCode::InvalidIpAddress),
            ),
            (
                Ip,
                "198.51.100.0/+4",
                true,
                Err(ErrorCode::InvalidIpAddress),
            ),
            (Ip, "2001:db8::/32", true, Ok("2001:db8:0:0:0:0:0:0/32")),
            (Ip, "0.0.0.0/0", true, Ok("0.0.0.0/0")),
        ]);
    }

    #[test]
    fn domains() {
        use IndicatorType::DomainName as D;
        check(&[
            (D, "example.com", false, Ok("example.com")),
            (D, "WWW.Example.COM.", false, Ok("www.example.com")),
            (D, "bücher.example", false, Ok("xn--bcher-kva.example")),
            (
                D,
                "xn--bcher-kva.example",
                false,
                Ok("xn--bcher-kva.example"),
            ),
            (D, "*.example.com", false, Err(ErrorCode::InvalidDomainName)),
            (
                D,
                "http://example.com",
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (
                D,
                "example.com/path",
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (D, "com", false, Err(ErrorCode::InvalidDomainName)),
            (
                D,
                "a..example.com",
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (
                D,
                "-bad.example.com",
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (
                D,
                "under_score.example.com",
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (
                D,
                &format!("{}.com", "a".repeat(64)),
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (
                D,
                &format!("{}com", "abcdefghi.".repeat(26)),
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
            (D, "1.2.3.4", false, Err(ErrorCode::InvalidDomainName)),
            (
                D,
                "example.com:443",
                false,
                Err(ErrorCode::InvalidDomainName),
            ),
        ]);
    }
}
