//! The general path of URL canonicalisation: WHATWG parsing by the `url` crate, then iocd's
//! own steps (trailing host dots, credentials, fragment, empty query, percent-escapes).

use super::UrlError;
use url::{Host, Url};

/// The general path: WHATWG parsing by the `url` crate plus the steps above.
pub(super) fn canonicalise_general(raw: &str) -> Result<String, UrlError> {
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

/// Decodes `%XX` escapes of unreserved characters (RFC 3986 §2.3), upper-cases the hex digits
/// of all other escapes, and writes a `%` that starts no escape as `%25`, so equivalent
/// spellings compare equal and the result is its own canonical form (a stray `%` left as it
/// is would let `%%37E` become `%7E`, which canonicalises again to `~`).
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
        if bytes[i] == b'%' {
            out.push_str("%25");
            i += 1;
            continue;
        }
        // `text` is valid UTF-8 and only ASCII bytes are consumed above, so copy one char.
        let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}
