//! URL canonicalisation: the one function that turns a URL indicator, or an observed URL, into
//! the form iocd stores and compares, and finds in it the match key the engine indexes. The
//! rules are documented in `docs/normalisation.md`; each has a row in the table test.
//!
//! Two paths give the same answers (a property test checks): [`fast`] for the common already
//! simple URL, one pass over its bytes; [`general`] for everything else, WHATWG parsing by the
//! `url` crate.

mod fast;
mod general;
#[cfg(test)]
mod tests;

use std::ops::Range;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("a scheme (http:// or https://) is required")]
    MissingScheme,
    #[error("the scheme {0} is not supported; use http or https")]
    UnsupportedScheme(String),
    #[error("{0}")]
    Unparsable(String),
    #[error("the URL has no host")]
    MissingHost,
}

/// A canonical URL and where its parts are, as either path produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UrlParts {
    /// `scheme://host[:port]/path[?query]`.
    text: String,
    /// The host, without the brackets of an IPv6 address.
    host: Range<usize>,
    /// The port written in the URL; canonical URLs omit the scheme's default port.
    explicit_port: Option<u16>,
    /// The scheme's default port (80 or 443).
    default_port: u16,
    /// Always starts with `/`.
    path: Range<usize>,
    /// Without its `?`; never empty.
    query: Option<Range<usize>>,
}

/// A URL in canonical form, with its parts and the match key the engine indexes URLs by:
/// host, path without a trailing slash, then `?query` when there is one.
///
/// Canonical form (steps applied in order):
/// 1. surrounding white space trimmed, tab, CR and LF removed anywhere;
/// 2. parsed by WHATWG rules (scheme and host lower-cased, IDN hosts to punycode, numeric IPv4
///    forms to dotted quads, `.`/`..` path segments resolved, default port dropped);
/// 3. trailing dots of the host removed, user name and password removed, fragment removed,
///    an empty query (`?` alone) removed;
/// 4. percent-escapes of unreserved characters decoded, other escapes upper-cased;
/// 5. an empty path becomes `/`.
///
/// The match key is most often a part of the canonical URL itself (no port, and no trailing
/// slash before a query); otherwise it is appended after it, in the same buffer. Either way
/// parsing allocates once and every key a lookup probes (the whole key, then shorter path
/// prefixes) is a slice of one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalUrl {
    text: String,
    canonical_len: usize,
    host: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
    explicit_port: Option<u16>,
    default_port: u16,
    /// Where the match key is in `text`.
    key: Range<usize>,
    /// Length of the match key's host and path part (the key without `?query`).
    key_path_len: usize,
}

impl CanonicalUrl {
    /// Canonicalises an http(s) URL (see the type's documentation) and finds its match key.
    pub fn parse(raw: &str) -> Result<CanonicalUrl, UrlError> {
        let parts = match fast::canonicalise_simple(raw) {
            Some(parts) => parts,
            None => {
                split_canonical(general::canonicalise_general(raw)?).ok_or(UrlError::MissingHost)?
            }
        };
        Ok(CanonicalUrl::with_match_key(parts))
    }

    /// The canonical URL.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.text[..self.canonical_len]
    }

    /// The host, lower-case, without brackets around an IPv6 address.
    #[inline]
    pub fn host(&self) -> &str {
        &self.text[self.host.clone()]
    }

    /// The path, always starting with `/`.
    #[inline]
    pub fn path(&self) -> &str {
        &self.text[self.path.clone()]
    }

    /// The query string without its `?`.
    #[inline]
    pub fn query(&self) -> Option<&str> {
        self.query.clone().map(|range| &self.text[range])
    }

    /// The port written in the URL, if any (canonical URLs omit the scheme's default port).
    #[inline]
    pub fn explicit_port(&self) -> Option<u16> {
        self.explicit_port
    }

    /// The port the connection goes to: the explicit one, or the scheme's default.
    #[inline]
    pub fn port(&self) -> u16 {
        self.explicit_port.unwrap_or(self.default_port)
    }

    /// The key URL indicators and sightings use: host, path without a trailing slash, then
    /// `?query` when there is one.
    #[inline]
    pub fn match_key(&self) -> &str {
        &self.text[self.key.clone()]
    }

    /// The match key without its `?query`: host and path without a trailing slash.
    #[inline]
    pub fn key_without_query(&self) -> &str {
        &self.match_key()[..self.key_path_len]
    }

    /// Finds the match key of a canonical URL: the part of it from the host on when no port
    /// comes between host and path and no trailing slash before a query, else a copy appended
    /// after it.
    fn with_match_key(parts: UrlParts) -> CanonicalUrl {
        let UrlParts {
            mut text,
            host,
            explicit_port,
            default_port,
            path,
            query,
        } = parts;
        let canonical_len = text.len();
        let trimmed_path_end = path.start + text[path.clone()].trim_end_matches('/').len();
        let contiguous =
            host.end == path.start && (query.is_none() || trimmed_path_end == path.end);
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
        CanonicalUrl {
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
}

impl std::fmt::Display for CanonicalUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finds the parts of a canonical `scheme://host[:port]/path[?query]` string.
fn split_canonical(text: String) -> Option<UrlParts> {
    let bytes = text.as_bytes();
    let scheme_end = bytes.windows(3).position(|w| w == b"://")?;
    let authority_start = scheme_end + 3;
    let authority_len = bytes[authority_start..]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(bytes.len() - authority_start);
    let authority = &bytes[authority_start..authority_start + authority_len];
    let host_len = if authority.first() == Some(&b'[') {
        authority.iter().position(|&b| b == b']')? + 1
    } else {
        authority
            .iter()
            .rposition(|&b| b == b':')
            .unwrap_or(authority.len())
    };
    if host_len == 0 {
        return None;
    }
    let explicit_port = text[authority_start + host_len..authority_start + authority_len]
        .strip_prefix(':')
        .and_then(|p| p.parse::<u16>().ok());
    let default_port = if text[..scheme_end].eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let path_start = authority_start + authority_len;
    let (path, query) = match bytes[path_start..].iter().position(|&b| b == b'?') {
        Some(q) => (
            path_start..path_start + q,
            Some(path_start + q + 1..text.len()),
        ),
        None => (path_start..text.len(), None),
    };
    let host = if authority[0] == b'[' {
        authority_start + 1..authority_start + host_len - 1
    } else {
        authority_start..authority_start + host_len
    };
    Some(UrlParts {
        text,
        host,
        explicit_port,
        default_port,
        path,
        query,
    })
}
