//! Tests of URL canonicalisation: the table of canonical forms, agreement of the fast and
//! general paths, idempotence, and match keys.

use super::fast::canonicalise_simple;
use super::general::canonicalise_general;
use super::*;

fn canonicalise_url(raw: &str) -> Result<String, UrlError> {
    CanonicalUrl::parse(raw).map(|url| url.as_str().to_owned())
}

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
        // A `%` that starts no escape is escaped itself, so no escape forms anew.
        ("http://l/%%37E", Some("http://l/%257E")),
        ("http://l/a%zz?q=%", Some("http://l/a%25zz?q=%25")),
        ("http://l/%7", Some("http://l/%257")),
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

#[test]
fn match_keys_drop_scheme_port_trailing_slashes_and_fragment() {
    // (URL, canonical URL, match key, match key without its query)
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
        let url = CanonicalUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(url.as_str(), canonical, "{raw}");
        assert_eq!(url.match_key(), key, "{raw}");
        assert_eq!(url.key_without_query(), without_query, "{raw}");
    }
}
