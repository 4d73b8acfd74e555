//! Domain-name indicator values: lower-case, IDN labels in punycode, checked against hostname
//! rules.

use crate::{ErrorCode, ValidationError};
use std::fmt;

const MAX_DOMAIN_LEN: usize = 253;

/// A domain name as iocd stores and matches it: lower-case ASCII without a trailing dot,
/// internationalised labels in punycode, at least two labels, each a valid hostname label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Validates and normalises a domain name: trailing dot removed, lower-cased,
    /// internationalised names converted to punycode (UTS #46), each label checked against
    /// hostname rules.
    pub fn parse(raw: &str) -> Result<DomainName, ValidationError> {
        normalise_domain(raw).map(DomainName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number of labels (`example.com` has 2).
    pub fn label_count(&self) -> usize {
        1 + self.0.bytes().filter(|&b| b == b'.').count()
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether UTS #46 leaves `name` as it is: lower-case ASCII letters, digits, hyphens and dots,
/// and no `xn--` label (whose punycode UTS #46 must check). Such names skip the IDNA mapping.
fn is_plain_ascii(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.split('.').any(|label| label.starts_with("xn--"))
}

fn normalise_domain(raw: &str) -> Result<String, ValidationError> {
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
    let ascii = if is_plain_ascii(without_dot) {
        without_dot.to_owned()
    } else {
        idna::domain_to_ascii(without_dot)
            .map_err(|_| invalid("it is not a valid internationalised domain name"))?
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Names the IDNA mapping would leave alone take the shortcut and come out as it would
    /// have them: random strings over the shortcut's alphabet, with the IDNA path's answer.
    #[test]
    fn the_plain_ascii_shortcut_agrees_with_idna() {
        let alphabet = b"ab-.0x9n";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for _ in 0..20_000 {
            let len = 1 + (next() % 14) as usize;
            let name: String = (0..len)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect();
            if !is_plain_ascii(&name) {
                continue;
            }
            checked += 1;
            match idna::domain_to_ascii(&name) {
                Ok(mapped) => assert_eq!(mapped, name, "{name:?}"),
                Err(_) => assert!(normalise_domain(&name).is_err(), "{name:?}"),
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
