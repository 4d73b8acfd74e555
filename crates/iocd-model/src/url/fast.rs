//! The fast path of URL canonicalisation, for the common case: an ASCII
//! `http(s)://host[:port]/path[?query]` with a plain DNS host, found in one pass over the
//! bytes (sixteen at a time with SSSE3, in [`wide`]). Anything unusual goes to the general path.

use super::UrlParts;

#[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
mod wide;

/// Byte classes for the fast path, as bits of [`BYTE_CLASS`].
mod class {
    /// Printable ASCII except the characters the general path would escape, decode or treat
    /// specially: passed through unchanged.
    pub(super) const SIMPLE: u8 = 1;
    /// Letters, digits, `-` and `.`: the bytes of a plain DNS host.
    pub(super) const HOST: u8 = 2;
    /// `/`, `?`, `#`: the end of the authority.
    pub(super) const AUTHORITY_END: u8 = 4;
    pub(super) const QUERY: u8 = 8;
    pub(super) const FRAGMENT: u8 = 16;
    pub(super) const DOT: u8 = 32;
    pub(super) const HYPHEN: u8 = 64;
    /// `A` to `Z`: a host holding one is not already canonical.
    pub(super) const UPPER: u8 = 128;
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
pub(super) fn canonicalise_simple(raw: &str) -> Option<UrlParts> {
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
        return Some(UrlParts {
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
    Some(UrlParts {
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
