//! URL canonicalisation: the one function that turns a URL indicator (and, later, an observed
//! URL) into the form iocd stores and compares. The rules are documented in
//! `docs/normalisation.md`; each has a row in the table test below.

use url::{Host, Url};

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

/// Canonicalises an http(s) URL:
/// 1. surrounding white space trimmed, tab, CR and LF removed anywhere;
/// 2. parsed by WHATWG rules (scheme and host lower-cased, IDN hosts to punycode, numeric IPv4
///    forms to dotted quads, `.`/`..` path segments resolved, default port dropped);
/// 3. trailing dots of the host removed, user name and password removed, fragment removed,
///    an empty query (`?` alone) removed;
/// 4. percent-escapes of unreserved characters decoded, other escapes upper-cased;
/// 5. an empty path becomes `/`.
pub fn canonicalise_url(raw: &str) -> Result<String, UrlError> {
    if let Some(canonical) = canonicalise_simple(raw) {
        return Ok(canonical);
    }
    canonicalise_general(raw)
}

/// The general path: WHATWG parsing by the `url` crate plus the steps above.
fn canonicalise_general(raw: &str) -> Result<String, UrlError> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let Some((scheme, after_scheme)) = cleaned.split_once("://") else {
        return Err(UrlError::MissingScheme);
    };
    if after_scheme.starts_with('/') || after_scheme.starts_with('\\') {
        return Err(UrlError::MissingHost);
    }
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err(UrlError::MissingScheme);
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::UnsupportedScheme(scheme));
    }
    let mut url = Url::parse(&cleaned).map_err(|e| UrlError::Unparsable(e.to_string()))?;
    let host = match url.host() {
        None => return Err(UrlError::MissingHost),
        Some(Host::Domain(domain)) => {
            let trimmed = domain.trim_end_matches('.');
            if trimmed.is_empty() || trimmed.contains("..") {
                return Err(UrlError::Unparsable(format!(
                    "the host {domain} is invalid"
                )));
            }
            Some(trimmed.to_owned())
        }
        Some(_) => None,
    };
    if let Some(host) = host {
        url.set_host(Some(&host))
            .map_err(|e| UrlError::Unparsable(e.to_string()))?;
    }
    // Setting these cannot fail on an http(s) URL with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    if url.query() == Some("") {
        url.set_query(None);
    }
    let path = normalise_escapes(url.path());
    url.set_path(&path);
    if let Some(query) = url.query() {
        let query = normalise_escapes(query);
        url.set_query(Some(&query));
    }
    Ok(url.into())
}

/// The fast path for the common case: an ASCII `http(s)://host[:port]/path[?query]` with a
/// plain DNS host and nothing any rule would change except letter case, a default port, a
/// trailing dot, a fragment or an empty query. Returns `None` whenever the URL needs the
/// general path; a property test checks both paths agree.
fn canonicalise_simple(raw: &str) -> Option<String> {
    let text = raw.trim_matches(|c: char| c == ' ' || c == '\n' || c == '\r' || c == '\t');
    let bytes = text.as_bytes();
    // Characters the general path would drop, escape, decode or treat specially.
    if !bytes.iter().all(|&b| {
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'%' | b'\\' | b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'\'' | b'@' | b'^' | b'|'
            )
    }) {
        return None;
    }
    let (scheme, default_port, rest) =
        if bytes.len() > 7 && bytes[..7].eq_ignore_ascii_case(b"http://") {
            ("http", 80u16, &text[7..])
        } else if bytes.len() > 8 && bytes[..8].eq_ignore_ascii_case(b"https://") {
            ("https", 443u16, &text[8..])
        } else {
            return None;
        };
    let without_fragment = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = without_fragment
        .find(['/', '?'])
        .unwrap_or(without_fragment.len());
    let (authority, after) = without_fragment.split_at(authority_end);
    let (host, port) = match authority.split_once(':') {
        None => (authority, None),
        Some((host, port)) => {
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (
                host,
                Some(port.parse::<u32>().ok().filter(|p| *p <= 65_535)? as u16),
            )
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty()
        || host.starts_with('.')
        || host.ends_with('.')
        || host.contains("..")
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return None;
    }
    // Numeric last labels are IPv4 forms, `xn--` labels need IDNA validation: general path.
    let last_label = host.rsplit('.').next().unwrap_or(host);
    if last_label.bytes().all(|b| b.is_ascii_digit())
        || last_label.starts_with("0x")
        || last_label.starts_with("0X")
        || host
            .split('.')
            .any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--"))
    {
        return None;
    }
    let (path, query) = match after.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (after, None),
    };
    // Dot segments are resolved by the general path.
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 1);
    out.push_str(scheme);
    out.push_str("://");
    for b in host.bytes() {
        out.push(b.to_ascii_lowercase() as char);
    }
    if let Some(port) = port
        && port != default_port
    {
        out.push(':');
        out.push_str(&port.to_string());
    }
    if path.is_empty() {
        out.push('/');
    } else {
        out.push_str(path);
    }
    if let Some(query) = query
        && !query.is_empty()
    {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986 §2.3) and upper-cases the hex
/// digits of all other escapes, so equivalent spellings compare equal.
fn normalise_escapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hi = (bytes[i + 1] as char).to_digit(16);
            let lo = (bytes[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                let decoded = (hi * 16 + lo) as u8;
                if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                    out.push(decoded as char);
                } else {
                    out.push('%');
                    out.push(bytes[i + 1].to_ascii_uppercase() as char);
                    out.push(bytes[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // `text` is valid UTF-8 and only ASCII bytes are consumed above, so copy one char.
        let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases: &[(&str, Option<&str>)] = &[
            ("http://www.facebook.com", Some("http://www.facebook.com/")),
            ("HTTPS://Example.COM/Path", Some("https://example.com/Path")),
            ("https://example.com:443/a", Some("https://example.com/a")),
            ("http://example.com:80/a", Some("http://example.com/a")),
            (
                "http://example.com:8080/a",
                Some("http://example.com:8080/a"),
            ),
            ("http://example.com/a#frag", Some("http://example.com/a")),
            ("http://user:pw@example.com/a", Some("http://example.com/a")),
            ("http://example.com./a", Some("http://example.com/a")),
            (
                "http://example.com/a/./b/../c",
                Some("http://example.com/a/c"),
            ),
            (
                "http://example.com/%7Euser/%2fx",
                Some("http://example.com/~user/%2Fx"),
            ),
            ("http://example.com/a?", Some("http://example.com/a")),
            (
                "http://example.com/a?q=%2f&b=1",
                Some("http://example.com/a?q=%2F&b=1"),
            ),
            (
                "http://bücher.example/x",
                Some("http://xn--bcher-kva.example/x"),
            ),
            ("http://3279880203/", Some("http://195.127.0.11/")),
            ("http://[2001:DB8::1]/x", Some("http://[2001:db8::1]/x")),
            ("  http://exa\tmple.com/\n  ", Some("http://example.com/")),
            ("http://example.com/a b", Some("http://example.com/a%20b")),
            ("example.com/path", None),
            ("ftp://example.com/", None),
            ("http://", None),
            ("http:///path", None),
            ("http://exa mple.com/", None),
            ("http://a..b.com/", None),
            ("://example.com", None),
        ];
        for (input, expected) in cases {
            let got = canonicalise_url(input).ok();
            assert_eq!(got.as_deref(), *expected, "input {input:?}");
        }
    }

    /// The fast path must never disagree with the general one: random URLs assembled from
    /// pieces chosen to hit every special case.
    #[test]
    fn fast_path_agrees_with_the_general_path() {
        const SCHEMES: &[&str] = &[
            "http://", "https://", "HTTP://", "hTTps://", "ftp://", "http:/", "",
        ];
        const HOSTS: &[&str] = &[
            "example.com",
            "Example.COM",
            "a.b.c.example.org.",
            "example.com..",
            ".example.com",
            "xn--bcher-kva.example",
            "XN--bcher-kva.example",
            "xn--zz.example",
            "1.2.3.4",
            "999.1.1.1",
            "a.0x10",
            "3279880203",
            "a-b.example",
            "-a.example",
            "a_b.example",
            "",
            "[2001:db8::1]",
            "exa mple.com",
            "bücher.example",
            "a.123",
            "localhost",
        ];
        const PORTS: &[&str] = &[
            "", ":80", ":443", ":8080", ":080", ":", ":65535", ":65536", ":0", ":x",
        ];
        const PATHS: &[&str] = &[
            "",
            "/",
            "/a",
            "/a/b/",
            "/A/./b",
            "/a/../b",
            "/.well-known/x",
            "/a%2fb",
            "/%7e",
            "/a b",
            "/a\\b",
            "/a\"b",
            "/a<b>",
            "/a`b",
            "/{x}",
            "/a^b|c",
            "//double",
            "/é",
            "/a'b",
            "/a@b",
            "/a:b",
            "/;p=1",
            "/~user",
            "/a.b/c..d",
        ];
        const QUERIES: &[&str] = &[
            "", "?", "?a=1", "?a=1&b=2", "?a=%41", "?q='x'", "?a b", "?x?y", "?a=<b>",
        ];
        const FRAGMENTS: &[&str] = &["", "#", "#frag", "#a?b", "#x y"];
        const PADS: &[&str] = &["", " ", "\t", "\n", "  \r\n"];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut fast_hits = 0;
        for _ in 0..50_000 {
            let url = format!(
                "{}{}{}{}{}{}{}",
                PADS[pick(PADS.len())],
                SCHEMES[pick(SCHEMES.len())],
                HOSTS[pick(HOSTS.len())],
                PORTS[pick(PORTS.len())],
                PATHS[pick(PATHS.len())],
                QUERIES[pick(QUERIES.len())],
                FRAGMENTS[pick(FRAGMENTS.len())],
            ) + PADS[pick(PADS.len())];
            if let Some(fast) = canonicalise_simple(&url) {
                fast_hits += 1;
                assert_eq!(Ok(fast), canonicalise_general(&url), "input {url:?}");
            }
        }
        assert!(
            fast_hits > 1_000,
            "the fast path was taken {fast_hits} times"
        );
    }

    #[test]
    fn canonicalisation_is_idempotent() {
        for input in [
            "HTTP://A.example.COM:80/%7e/./x/../y?%61=1#f",
            "https://bücher.example./a%2f",
        ] {
            let once = canonicalise_url(input).unwrap();
            assert_eq!(canonicalise_url(&once).unwrap(), once);
        }
    }
}
