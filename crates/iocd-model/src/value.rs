//! Validation and normalisation of indicator values, one set of rules per indicator type.
//!
//! The normalised form is what iocd stores, compares for the upsert key and returns; the rules
//! are listed in `docs/normalisation.md`.

use crate::url_canon::{UrlError, canonicalise_url};
use crate::{ErrorCode, IndicatorType, ValidationError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest value accepted for any indicator type, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;

/// Validates `raw` as a value of `indicator_type` and returns its normalised form.
/// `extensions` enables iocd's additions to MDE (CIDR ranges, SHA-256 certificate thumbprints,
/// separators in thumbprints); with it off the rules are MDE's.
pub fn normalise_value(
    indicator_type: IndicatorType,
    raw: &str,
    extensions: bool,
) -> Result<String, ValidationError> {
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
    match indicator_type {
        IndicatorType::FileMd5 => normalise_hex(trimmed, &[32], "MD5", false),
        IndicatorType::FileSha1 => normalise_hex(trimmed, &[40], "SHA-1", false),
        IndicatorType::FileSha256 => normalise_hex(trimmed, &[64], "SHA-256", false),
        IndicatorType::CertificateThumbprint => {
            let lengths: &[usize] = if extensions { &[40, 64] } else { &[40] };
            normalise_hex(trimmed, lengths, "certificate thumbprint", extensions)
        }
        IndicatorType::IpAddress => parse_ip_value(trimmed, extensions).map(|ip| ip.to_string()),
        IndicatorType::DomainName => normalise_domain(trimmed),
        IndicatorType::Url => canonicalise_url(trimmed).map_err(|error| {
            ValidationError::new(
                ErrorCode::InvalidUrl,
                "indicatorValue",
                format!("URL {trimmed} is invalid: {error}."),
            )
        }),
    }
}

fn normalise_hex(
    raw: &str,
    lengths: &[usize],
    what: &str,
    allow_separators: bool,
) -> Result<String, ValidationError> {
    let cleaned: String = if allow_separators {
        raw.chars().filter(|c| *c != ':' && *c != ' ').collect()
    } else {
        raw.to_owned()
    };
    let expected = lengths
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    if !lengths.contains(&cleaned.len()) || !cleaned.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValidationError::new(
            ErrorCode::InvalidHashValue,
            "indicatorValue",
            format!("Hash value {raw} is invalid: a {what} is {expected} hexadecimal characters."),
        ));
    }
    Ok(cleaned.to_ascii_lowercase())
}

/// An IP indicator value: one address, or (extension) a CIDR network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpValue {
    pub address: IpAddr,
    /// `None` for a single address.
    pub prefix_len: Option<u8>,
}

impl std::fmt::Display for IpValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            IpAddr::V4(v4) => write!(f, "{v4}")?,
            IpAddr::V6(v6) => {
                // MDE documents IPv6 with all eight groups; iocd stores that form.
                let groups = v6.segments().map(|g| format!("{g:x}"));
                f.write_str(&groups.join(":"))?;
            }
        }
        if let Some(len) = self.prefix_len {
            write!(f, "/{len}")?;
        }
        Ok(())
    }
}

/// Parses an IP indicator value. Accepts dotted-quad IPv4 and IPv6 in any standard notation
/// (compressed or not, IPv4-mapped addresses become IPv4). With `allow_cidr`, `addr/len` is a
/// network; host bits must be zero; `/32` and `/128` mean the address itself.
pub fn parse_ip_value(raw: &str, allow_cidr: bool) -> Result<IpValue, ValidationError> {
    let invalid = |why: &str| {
        ValidationError::new(
            ErrorCode::InvalidIpAddress,
            "indicatorValue",
            format!("IP address {raw} is invalid: {why}."),
        )
    };
    let (address_text, prefix_text) = match raw.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (raw, None),
    };
    let address: IpAddr = address_text
        .parse()
        .map_err(|_| invalid("not an IPv4 or IPv6 address"))?;
    let address = match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let Some(prefix_text) = prefix_text else {
        return Ok(IpValue {
            address,
            prefix_len: None,
        });
    };
    if !allow_cidr {
        return Err(invalid("CIDR ranges are not supported in strict MDE mode"));
    }
    let max_len: u8 = if address.is_ipv4() { 32 } else { 128 };
    let prefix_len: u8 = prefix_text
        .parse()
        .ok()
        .filter(|len| *len <= max_len && prefix_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            invalid(&format!(
                "the prefix length must be a number from 0 to {max_len}"
            ))
        })?;
    if prefix_len == max_len {
        return Ok(IpValue {
            address,
            prefix_len: None,
        });
    }
    let network = mask(address, prefix_len);
    if network != address {
        return Err(invalid(&format!(
            "host bits are set; the network is {}",
            IpValue {
                address: network,
                prefix_len: Some(prefix_len)
            }
        )));
    }
    Ok(IpValue {
        address,
        prefix_len: Some(prefix_len),
    })
}

fn mask(address: IpAddr, prefix_len: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix_len))
            };
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if prefix_len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix_len))
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

const MAX_DOMAIN_LEN: usize = 253;

/// Normalises a domain name: trailing dot removed, lower-cased, internationalised names
/// converted to punycode (UTS #46), each label checked against hostname rules.
pub fn normalise_domain(raw: &str) -> Result<String, ValidationError> {
    let invalid = |why: &str| {
        ValidationError::new(
            ErrorCode::InvalidDomainName,
            "indicatorValue",
            format!("Domain name {raw} is invalid: {why}."),
        )
    };
    if raw.contains("://") || raw.contains('/') {
        return Err(invalid(
            "a domain has no scheme or path; use a Url indicator for those",
        ));
    }
    if raw.contains('*') {
        return Err(invalid(
            "wildcards are not supported; a domain indicator already covers every subdomain",
        ));
    }
    let without_dot = raw.strip_suffix('.').unwrap_or(raw);
    let ascii = idna::domain_to_ascii(without_dot)
        .map_err(|_| invalid("it is not a valid internationalised domain name"))?;
    if ascii.is_empty() {
        return Err(invalid("it is empty"));
    }
    if ascii.len() > MAX_DOMAIN_LEN {
        return Err(invalid(&format!(
            "it is longer than {MAX_DOMAIN_LEN} characters"
        )));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            "a single label would match a whole top-level domain",
        ));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(invalid("it contains an empty label"));
        }
        if label.len() > 63 {
            return Err(invalid("a label is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "labels may contain only letters, digits and hyphens",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label may not start or end with a hyphen"));
        }
    }
    let last = labels[labels.len() - 1];
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "it looks like an IP address; use an IpAddress indicator",
        ));
    }
    Ok(ascii)
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
            let got = normalise_value(*indicator_type, input, *extensions);
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
