//! URL canonicalisation: the one function that turns a URL indicator (and, later, an observed
//! URL) into the form iocd stores and compares. The rules are documented in
//! `docs/normalisation.md`; each has a row in the table test below.

use std::ops::Range;
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
    canonicalise_url_parts(raw).map(|url| url.text)
}

/// A canonical URL and where its parts are, so users need not parse it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalUrl {
    /// `scheme://host[:port]/path[?query]`.
    pub text: String,
    /// The host, without the brackets of an IPv6 address.
    pub host: Range<usize>,
    /// The port written in the URL; canonical URLs omit the scheme's default port.
    pub explicit_port: Option<u16>,
    /// The scheme's default port (80 or 443).
    pub default_port: u16,
    /// Always starts with `/`.
    pub path: Range<usize>,
    /// Without its `?`; never empty.
    pub query: Option<Range<usize>>,
}

/// [`canonicalise_url`], returning where the parts of the result are.
pub fn canonicalise_url_parts(raw: &str) -> Result<CanonicalUrl, UrlError> {
    if let Some(canonical) = canonicalise_simple(raw) {
        return Ok(canonical);
    }
    let text = canonicalise_general(raw)?;
    split_canonical(text).ok_or(UrlError::MissingHost)
}

/// Finds the parts of a canonical `scheme://host[:port]/path[?query]` string.
fn split_canonical(text: String) -> Option<CanonicalUrl> {
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
    Some(CanonicalUrl {
        text,
        host,
        explicit_port,
        default_port,
        path,
        query,
    })
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

/// Byte classes for the fast path, as bits of [`BYTE_CLASS`].
mod class {
    /// Printable ASCII except the characters the general path would escape, decode or treat
    /// specially: passed through unchanged.
    pub const SIMPLE: u8 = 1;
    /// Letters, digits, `-` and `.`: the bytes of a plain DNS host.
    pub const HOST: u8 = 2;
    /// `/`, `?`, `#`: the end of the authority.
    pub const AUTHORITY_END: u8 = 4;
    pub const QUERY: u8 = 8;
    pub const FRAGMENT: u8 = 16;
    pub const DOT: u8 = 32;
    pub const HYPHEN: u8 = 64;
    /// `A` to `Z`: a host holding one is not already canonical.
    pub const UPPER: u8 = 128;
}

const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0x21;
    while b < 0x7F {
        let byte = b as u8;
        if !matches!(
            byte,
            b'%' | b'\\' | b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'\'' | b'@' | b'^' | b'|'
        ) {
            table[b] |= class::SIMPLE;
        }
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' {
            table[b] |= class::HOST;
        }
        if byte.is_ascii_uppercase() {
            table[b] |= class::UPPER;
        }
        table[b] |= match byte {
            b'/' => class::AUTHORITY_END,
            b'?' => class::AUTHORITY_END | class::QUERY,
            b'#' => class::AUTHORITY_END | class::FRAGMENT,
            b'.' => class::DOT,
            b'-' => class::HYPHEN,
            _ => 0,
        };
        b += 1;
    }
    table
};

#[inline]
fn class_of(b: u8) -> u8 {
    BYTE_CLASS[usize::from(b)]
}

/// Whether a host label is an IDNA `xn--` label (which needs the general path's validation).
fn is_punycode_label(label: &[u8]) -> bool {
    label.len() >= 4 && label[..4].eq_ignore_ascii_case(b"xn--")
}

/// The scheme at the start of `bytes` if it is `http://` or `https://` in any letter case
/// and something follows it: the scheme in lower case, its default port, its length, and
/// whether it was written in lower case.
#[inline]
fn http_scheme(bytes: &[u8]) -> Option<(&'static str, u16, usize, bool)> {
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let word = u64::from_le_bytes(head);
    // Setting bit 5 of a letter's byte lower-cases it (`H` and `h` both become `h`, and no
    // other byte becomes a letter); the other bytes must match exactly.
    let matches = |scheme: &[u8; 8], letters: usize| {
        let len = letters + 3;
        let mask = u64::MAX >> (64 - 8 * len);
        let fold = 0x2020_2020_2020_2020 >> (64 - 8 * letters);
        let expected = u64::from_le_bytes(*scheme) & mask;
        let matched = (word | fold) & mask == expected && bytes.len() > len;
        matched.then_some(word & mask == expected)
    };
    if let Some(lower) = matches(b"http://\0", 4) {
        Some(("http", 80, 7, lower))
    } else if let Some(lower) = matches(b"https://", 5) {
        Some(("https", 443, 8, lower))
    } else {
        None
    }
}

/// The fast path for the common case: an ASCII `http(s)://host[:port]/path[?query]` with a
/// plain DNS host and nothing any rule would change except letter case, a default port, a
/// trailing dot, a fragment or an empty query. Returns `None` whenever the URL needs the
/// general path; a property test checks both paths agree. Every observed URL goes through
/// here, so the common case is one pass over the bytes that finds each byte's class (sixteen
/// at a time with SSSE3, see [`wide`]; else one by one in a table), and one allocation.
fn canonicalise_simple(raw: &str) -> Option<CanonicalUrl> {
    let is_pad = |b: &u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t');
    let bytes = raw.as_bytes();
    let text = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if !is_pad(first) && !is_pad(last) => raw,
        _ => raw.trim_matches([' ', '\n', '\r', '\t']),
    };
    let bytes = text.as_bytes();
    let (scheme, default_port, authority_start, lower_scheme) = http_scheme(bytes)?;
    // The host: host bytes up to the first other byte. Adjacent classes are AND-ed into
    // `pairs`, so a `..` (or a leading `.`: `previous` starts as a dot) shows as DOT and a
    // `--` as HYPHEN.
    let HostBytes {
        end: mut position,
        pairs,
        classes: host_classes,
    } = scan_host(bytes, authority_start);
    let mut host = &bytes[authority_start..position];
    // Then an optional port, and the end of the authority.
    let mut port = None;
    if bytes.get(position) == Some(&b':') {
        let digits_start = position + 1;
        position = digits_start;
        let mut number = 0u32;
        while let Some(&b) = bytes.get(position) {
            if !b.is_ascii_digit() || position - digits_start == 5 {
                break;
            }
            number = number * 10 + u32::from(b - b'0');
            position += 1;
        }
        if position == digits_start {
            return None;
        }
        port = Some(u16::try_from(number).ok()?);
    }
    let tail = &bytes[position..];
    if tail
        .first()
        .is_some_and(|&b| class_of(b) & class::AUTHORITY_END == 0)
    {
        return None;
    }
    // One trailing dot goes; an empty host or label, an IPv4-like last label or a punycode
    // label needs the general path.
    let trailing_dot = host.last() == Some(&b'.');
    if trailing_dot {
        host = &host[..host.len() - 1];
    }
    let last_label = host
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(host, |dot| &host[dot + 1..]);
    if pairs & class::DOT != 0
        || last_label.is_empty()
        || last_label.iter().all(u8::is_ascii_digit)
        || last_label.starts_with(b"0x")
        || last_label.starts_with(b"0X")
        || (pairs & class::HYPHEN != 0 && host.split(|&b| b == b'.').any(is_punycode_label))
    {
        return None;
    }
    // Then the path to the first `?` or `#`, the query to the first `#`, and the fragment:
    // every byte must be simple, and no path segment may be `.` or `..`.
    let (simple, seen) = tail_classes(tail);
    if simple == 0 {
        return None;
    }
    let end = match seen & class::FRAGMENT {
        0 => tail.len(),
        _ => tail.iter().position(|&b| b == b'#').unwrap_or(tail.len()),
    };
    let query_start = match seen & class::QUERY {
        0 => None,
        _ => tail[..end].iter().position(|&b| b == b'?'),
    };
    let path_end = query_start.unwrap_or(end);
    if seen & class::DOT != 0
        && tail[..path_end]
            .split(|&b| b == b'/')
            .any(|segment| matches!(segment, b"." | b".."))
    {
        return None;
    }
    // The tail is ASCII, so these byte positions are character boundaries.
    let tail_start = position;
    let path = &text[tail_start..tail_start + path_end];
    let empty_query = query_start.is_some_and(|query_start| query_start + 1 == end);
    // Never longer than the text, but for a `/` added to an empty path.
    let mut out = String::with_capacity(text.len() + 1);
    // Most URLs are canonical already, up to their fragment: copied as they are.
    if lower_scheme
        && host_classes & class::UPPER == 0
        && !trailing_dot
        && port.is_none()
        && !path.is_empty()
        && !empty_query
    {
        out.push_str(&text[..tail_start + end]);
        return Some(CanonicalUrl {
            text: out,
            host: authority_start..tail_start,
            explicit_port: None,
            default_port,
            path: tail_start..tail_start + path_end,
            query: query_start.map(|query_start| tail_start + query_start + 1..tail_start + end),
        });
    }
    out.push_str(scheme);
    out.push_str("://");
    let host_start = out.len();
    out.push_str(&text[authority_start..authority_start + host.len()]);
    out[host_start..].make_ascii_lowercase();
    let host = host_start..out.len();
    let explicit_port = port.filter(|port| *port != default_port);
    if let Some(port) = explicit_port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path_start = out.len();
    if path.is_empty() {
        out.push('/');
    } else {
        out.push_str(path);
    }
    let path = path_start..out.len();
    let query = match query_start {
        Some(query_start) if query_start + 1 < end => {
            out.push_str(&text[tail_start + query_start..tail_start + end]);
            Some(path.end + 1..out.len())
        }
        _ => None,
    };
    Some(CanonicalUrl {
        text: out,
        host,
        explicit_port,
        default_port,
        path,
        query,
    })
}

/// What [`scan_host`] found: where the host's bytes end, the classes of adjacent pairs of
/// them AND-ed (a leading byte pairs with a `.`), so `..`, a leading `.` and `--` show as
/// `DOT` and `HYPHEN`, and all their classes OR-ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HostBytes {
    end: usize,
    pairs: u8,
    classes: u8,
}

impl HostBytes {
    /// Before the first byte, at `start`.
    fn at(start: usize) -> HostBytes {
        HostBytes {
            end: start,
            pairs: 0,
            classes: 0,
        }
    }
}

/// Scans the host bytes (letters, digits, `-`, `.`) of `bytes` from `start` on: sixteen at a
/// time where the target allows, the rest one by one.
#[inline]
fn scan_host(bytes: &[u8], start: usize) -> HostBytes {
    #[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
    let (so_far, previous) = wide::scan_host(bytes, start);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "ssse3")))]
    let (so_far, previous) = (HostBytes::at(start), class::DOT);
    scan_host_one_by_one(bytes, so_far, previous)
}

/// Goes on scanning host bytes from `so_far.end`, one at a time; `previous` is the class of
/// the byte before (`DOT` before the first).
#[inline]
fn scan_host_one_by_one(bytes: &[u8], so_far: HostBytes, mut previous: u8) -> HostBytes {
    let HostBytes {
        end: mut position,
        mut pairs,
        classes: mut host_classes,
    } = so_far;
    while let Some(&b) = bytes.get(position) {
        let class = class_of(b);
        if class & class::HOST == 0 {
            break;
        }
        pairs |= previous & class;
        host_classes |= class;
        previous = class;
        position += 1;
    }
    HostBytes {
        end: position,
        pairs,
        classes: host_classes,
    }
}

/// Whether every byte of a URL's tail (path, query, fragment) is simple (`SIMPLE`, else 0),
/// and their classes OR-ed (of which `QUERY`, `FRAGMENT` and `DOT` are used): sixteen bytes
/// at a time where the target allows.
#[inline]
fn tail_classes(tail: &[u8]) -> (u8, u8) {
    #[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
    if let Some(classes) = wide::scan_tail(tail) {
        return classes;
    }
    tail_classes_one_by_one(tail)
}

/// [`tail_classes`], eight bytes to a fold.
fn tail_classes_one_by_one(tail: &[u8]) -> (u8, u8) {
    let mut simple = class::SIMPLE;
    let mut seen = 0;
    let mut words = tail.chunks_exact(8);
    for word in &mut words {
        let classes = word.iter().fold([class::SIMPLE, 0], |[all, any], &b| {
            let class = class_of(b);
            [all & class, any | class]
        });
        simple &= classes[0];
        seen |= classes[1];
    }
    for &b in words.remainder() {
        let class = class_of(b);
        simple &= class;
        seen |= class;
    }
    (simple, seen)
}

/// The fast path's two scans sixteen bytes at a time, for builds whose target has SSSE3
/// (`.cargo/config.toml` asks for it on x86-64; decision 0013): each byte's class comes from
/// two 16-entry tables, one looked up by its low four bits and one by its high four, AND-ed
/// (`pshufb` does sixteen lookups in one instruction). The tables encode the same classes as
/// [`BYTE_CLASS`]; a test compares them for every byte. Fewer than sixteen bytes left at the
/// end are scanned one by one, as without SSSE3.
#[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
mod wide {
    use super::{HostBytes, class};
    use safe_arch::{
        bitand_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, m128i,
        move_mask_i8_m128i, set_splat_i8_m128i, shr_imm_u16_m128i, shuffle_av_i8z_all_m128i,
    };

    /// Tail bits: bits 0-4 mark the bytes that are not simple (0: controls and non-ASCII; 1:
    /// space `"` `%` `'`; 2: `<` `>` `\` `^`; 3: `@` and backtick; 4: `{` `|` `}` and DEL), 5
    /// `?`, 6 `#`, 7 `.`.
    const TAIL_NOT_SIMPLE: u8 = 0x1F;
    const TAIL_QUERY: u8 = 0x20;
    const TAIL_FRAGMENT: u8 = 0x40;
    const TAIL_DOT: u8 = 0x80;
    const TAIL_BY_LOW: [u8; 16] = [
        0x0B, 0x01, 0x03, 0x41, 0x01, 0x03, 0x01, 0x03, // 0-7
        0x01, 0x01, 0x01, 0x11, 0x15, 0x11, 0x85, 0x31, // 8-F
    ];
    const TAIL_BY_HIGH: [u8; 16] = [
        0x01, 0x01, 0xC2, 0x24, 0x08, 0x04, 0x08, 0x10, // 0-7
        0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, // 8-F
    ];

    /// Host bits: 0 `A`-`O` `a`-`o`, 1 `P`-`Z` `p`-`z`, 2 digits, 3 `-`, 4 `.`, 5 `A`-`O`,
    /// 6 `P`-`Z`.
    const HOST: u8 = 0x1F;
    const HOST_HYPHEN: u8 = 0x08;
    const HOST_DOT: u8 = 0x10;
    const HOST_UPPER: u8 = 0x60;
    const HOST_BY_LOW: [u8; 16] = [
        0x46, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, 0x67, // 0-7
        0x67, 0x67, 0x63, 0x21, 0x21, 0x29, 0x31, 0x21, // 8-F
    ];
    const HOST_BY_HIGH: [u8; 16] = [
        0x00, 0x00, 0x18, 0x04, 0x21, 0x42, 0x01, 0x02, // 0-7
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 8-F
    ];

    /// The class bits of each of sixteen bytes, by the two tables.
    #[inline(always)]
    fn classes(bytes: &[u8; 16], by_low: [u8; 16], by_high: [u8; 16]) -> m128i {
        let bytes = load_unaligned_m128i(bytes);
        let nibble = set_splat_i8_m128i(0x0F);
        let low = bitand_m128i(bytes, nibble);
        let high = bitand_m128i(shr_imm_u16_m128i::<4>(bytes), nibble);
        bitand_m128i(
            shuffle_av_i8z_all_m128i(m128i::from(by_low), low),
            shuffle_av_i8z_all_m128i(m128i::from(by_high), high),
        )
    }

    /// A bit per byte (bit `i` for byte `i`) whose class has any of `bits`.
    #[inline(always)]
    fn with_any(classes: m128i, bits: u8) -> u32 {
        let zero = set_splat_i8_m128i(0);
        let none =
            cmp_eq_mask_i8_m128i(bitand_m128i(classes, set_splat_i8_m128i(bits as i8)), zero);
        !(move_mask_i8_m128i(none) as u32) & 0xFFFF
    }

    /// The sixteen bytes of `bytes` from `at`, if there are as many.
    #[inline(always)]
    fn chunk(bytes: &[u8], at: usize) -> Option<&[u8; 16]> {
        bytes.get(at..)?.first_chunk::<16>()
    }

    /// `class` if `on`, else 0.
    #[inline(always)]
    fn bit(on: bool, class: u8) -> u8 {
        if on { class } else { 0 }
    }

    /// Scans host bytes from `start` sixteen at a time while sixteen remain: what they hold
    /// (see [`HostBytes`]), and the class bits of the last one that matter to pairs (`DOT`
    /// or `HYPHEN`; `DOT` before the first byte), for the one-by-one scan to go on from.
    #[inline]
    pub(super) fn scan_host(bytes: &[u8], start: usize) -> (HostBytes, u8) {
        let mut so_far = HostBytes::at(start);
        let (mut after_dot, mut after_hyphen) = (true, false);
        let (mut dot_pair, mut hyphen_pair, mut upper) = (false, false, false);
        while let Some(chunk) = chunk(bytes, so_far.end) {
            let classes = classes(chunk, HOST_BY_LOW, HOST_BY_HIGH);
            // Host bytes up to the first other one.
            let len = (!with_any(classes, HOST) | 0x1_0000).trailing_zeros();
            let taken = (1u32 << len) - 1;
            let dots = with_any(classes, HOST_DOT) & taken;
            let hyphens = with_any(classes, HOST_HYPHEN) & taken;
            dot_pair |= dots & (dots << 1 | u32::from(after_dot)) != 0;
            hyphen_pair |= hyphens & (hyphens << 1 | u32::from(after_hyphen)) != 0;
            upper |= with_any(classes, HOST_UPPER) & taken != 0;
            if len > 0 {
                after_dot = dots >> (len - 1) & 1 != 0;
                after_hyphen = hyphens >> (len - 1) & 1 != 0;
            }
            so_far.end += len as usize;
            if len < 16 {
                break;
            }
        }
        so_far.pairs = bit(dot_pair, class::DOT) | bit(hyphen_pair, class::HYPHEN);
        so_far.classes = bit(upper, class::UPPER);
        let previous = bit(after_dot, class::DOT) | bit(after_hyphen, class::HYPHEN);
        (so_far, previous)
    }

    /// [`super::tail_classes`] sixteen bytes at a time (the last sixteen overlapping the
    /// ones before), with `QUERY`, `FRAGMENT` and `DOT` the classes it reports as seen;
    /// `None` for a tail shorter than sixteen bytes.
    #[inline]
    pub(super) fn scan_tail(tail: &[u8]) -> Option<(u8, u8)> {
        let last = chunk(tail, tail.len().checked_sub(16)?)?;
        let mut all = classes(last, TAIL_BY_LOW, TAIL_BY_HIGH);
        for chunk in tail.chunks_exact(16) {
            if let Some(chunk) = chunk.first_chunk::<16>() {
                all = bitor_m128i(all, classes(chunk, TAIL_BY_LOW, TAIL_BY_HIGH));
            }
        }
        let simple = bit(with_any(all, TAIL_NOT_SIMPLE) == 0, class::SIMPLE);
        let seen = bit(with_any(all, TAIL_QUERY) != 0, class::QUERY)
            | bit(with_any(all, TAIL_FRAGMENT) != 0, class::FRAGMENT)
            | bit(with_any(all, TAIL_DOT) != 0, class::DOT);
        Some((simple, seen))
    }

    #[cfg(test)]
    mod tests {
        use super::super::{
            BYTE_CLASS, scan_host_one_by_one, tail_classes, tail_classes_one_by_one,
        };
        use super::*;

        /// The class of one byte by the tables, as the scans compute it.
        fn class_by_tables(byte: u8, by_low: [u8; 16], by_high: [u8; 16]) -> u8 {
            let classes: [u8; 16] = classes(&[byte; 16], by_low, by_high).into();
            classes[0]
        }

        #[test]
        fn tables_agree_with_the_byte_classes_for_every_byte() {
            for byte in 0..=255u8 {
                let expected = BYTE_CLASS[usize::from(byte)];
                let tail = class_by_tables(byte, TAIL_BY_LOW, TAIL_BY_HIGH);
                let host = class_by_tables(byte, HOST_BY_LOW, HOST_BY_HIGH);
                let cases = [
                    (
                        tail & TAIL_NOT_SIMPLE == 0,
                        expected & class::SIMPLE != 0,
                        "simple",
                    ),
                    (tail & TAIL_QUERY != 0, byte == b'?', "query"),
                    (tail & TAIL_FRAGMENT != 0, byte == b'#', "fragment"),
                    (tail & TAIL_DOT != 0, byte == b'.', "tail dot"),
                    (host & HOST != 0, expected & class::HOST != 0, "host"),
                    (host & HOST_DOT != 0, byte == b'.', "host dot"),
                    (host & HOST_HYPHEN != 0, byte == b'-', "hyphen"),
                    (
                        host & HOST_UPPER != 0,
                        expected & class::UPPER != 0,
                        "upper",
                    ),
                ];
                for (got, want, what) in cases {
                    assert_eq!(got, want, "{what} for byte {byte:#04x}");
                }
            }
        }

        /// Sixteen at a time and one by one, the scans find the same for hosts and tails
        /// of every length up to 70, drawn from bytes every class and pair test cares about.
        #[test]
        fn wide_scans_agree_with_scanning_one_by_one() {
            let alphabet = b"aZz09-.-..//?#%@`{|}~ \\^<>\"'\x7f\xc3\x00_=&\t";
            let mut state = 0x2545_F491_4F6C_DD1Du64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            for round in 0..20_000 {
                let len = (next() % 71) as usize;
                // Mostly host-like bytes, so hosts run long; sometimes anything.
                let text: Vec<u8> = (0..len)
                    .map(|_| match (next() % 10, round % 3) {
                        (0..=6, 0 | 1) => b"abcxyzABQZ0189-."[(next() % 16) as usize],
                        _ => alphabet[(next() % alphabet.len() as u64) as usize],
                    })
                    .collect();
                let start = (next() % 4) as usize;
                let start = start.min(text.len());
                let wide = super::super::scan_host(&text, start);
                let one_by_one = scan_host_one_by_one(&text, HostBytes::at(start), class::DOT);
                let text_shown = String::from_utf8_lossy(&text);
                assert_eq!(wide.end, one_by_one.end, "host end in {text_shown:?}");
                let pair_bits = class::DOT | class::HYPHEN;
                assert_eq!(
                    wide.pairs & pair_bits,
                    one_by_one.pairs & pair_bits,
                    "pairs in {text_shown:?}"
                );
                assert_eq!(
                    wide.classes & class::UPPER,
                    one_by_one.classes & class::UPPER,
                    "upper in {text_shown:?}"
                );
                let (simple, seen) = tail_classes(&text);
                let (simple_one, seen_one) = tail_classes_one_by_one(&text);
                let seen_bits = class::QUERY | class::FRAGMENT | class::DOT;
                assert_eq!(simple, simple_one, "simple in {text_shown:?}");
                assert_eq!(
                    seen & seen_bits,
                    seen_one & seen_bits,
                    "seen in {text_shown:?}"
                );
            }
        }
    }
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
            "http://",
            "https://",
            "HTTP://",
            "hTTps://",
            "ftp://",
            "http:/",
            "",
            "http\u{1a}//",
            "http:/\u{f}",
            "https\u{1a}//",
            "hxxp://",
            "httpS:/",
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
            "a--b.example",
            "EX--AMPLE.com",
            "ab.xn--p1ai",
            "a.b-",
            "Ex4mple.C0M",
            "a.1b",
            "a.",
            ".",
            "-",
            "a.-",
            "a..",
        ];
        const PORTS: &[&str] = &[
            "", ":80", ":443", ":8080", ":080", ":", ":65535", ":65536", ":0", ":x", ":00080",
            ":123456", ":99999", "::80", ":8a",
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
        for _ in 0..200_000 {
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
                let general = canonicalise_general(&url).map(split_canonical);
                assert_eq!(Ok(Some(fast)), general, "input {url:?}");
            }
        }
        assert!(
            fast_hits > 2_000,
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
